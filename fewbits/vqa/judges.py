"""The judges: VQA models of other families, trained on original images, used only to score decodes.

    fewbits judges --data easyvqa --family film        # -> runs/judge-easyvqa-film.pt
    panel, vocab = load_panel("scenes")                 # {family: model}, by their zoo names

A codec learns the blind spots of the VQA model in its loss (attention.py's model), and a judge
of that architecture with another seed shares them (EXPERIMENTS.md, "The judges"). So a codec's
headline figure is the lowest retention among judges of families it never trained against
(metrics.lowest). These families never appear in a loss; they must stay outside the training to
keep catching what the loss model lets through. Each one sees the image differently:

  film      FiLM with coordinate channels (Perez et al. 2018). The question scales and shifts every
            channel of a stack of 3×3 residual convolutions over the whole 8×8 feature map, and a
            max-pool over the map answers. No attention, no cells chosen. An easy-VQA judge; on
            scenes it fell short of a judge's bar.
  fusion    late fusion, as in easy-VQA's own baseline: the image as one vector, the question as a bag
            of words, multiplied, then an MLP. The second easy-VQA judge.
  transformer  an encoder-decoder transformer (DETR's layout): the 8×8 cells, with their places as
            Fourier waves, are the encoder's tokens, the question's words the decoder's. No hops
            built in: which cell relates to which is plain dot-product attention. The second
            scenes judge.
  namer     (easy-VQA) a CNN names the one shape and its colour, and the question's template
            answers from those names alone (namer.py): a shape that can't be named can't pass.
  symbolic  (scenes) a detector, trained on the scene graphs, finds each object's shape, colour, size
            and position; the question is then answered by running the scenes' own question programs
            (scenes.candidates) on the detected graph. No learned language at all: an image passes
            only if every object in it can be read off.
  symbolic3d  (clevr) the same in 3D, material included, the objects placed on the ground
            (reader3d.py).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import files, zoo
from ..data import scenes, tokenize
from ..nn.question import QuestionEncoder
from .attention import VQA, ObjectVQA, train
from .namer import Namer
from . import reader3d
from .reader3d import Symbolic3D, looked_up

# the held-out families that reach the bar on originals (EXPERIMENTS.md, "The judges")
PANEL = {"easyvqa": ["film", "fusion", "namer"], "scenes": ["symbolic", "transformer"],
         "clevr": ["symbolic3d", "transformer"]}


def with_coords(h):
    """(B, C, H, W) -> (B, C + 2, H, W): each position's x and y in [-1, 1] as two more channels."""
    b, _, height, width = h.shape
    y, x = torch.meshgrid(torch.linspace(-1, 1, height, device=h.device),
                          torch.linspace(-1, 1, width, device=h.device), indexing="ij")
    return torch.cat([h, torch.stack([x, y]).expand(b, 2, height, width)], 1)


def with_waves(h, waves=4):
    """(B, C, H, W) -> (B, C + 4 * waves, H, W): cos and sin of w·x and of w·y, w = kπ/2, k = 1 … waves,
    with x, y in [-1, 1] (Fourier features; DETR gives its transformer sines too). The dot product
    of two places' waves is Σ_w cos(w·Δx) + cos(w·Δy): a function of their offset alone, and with
    these w (multiples of one, not octaves) highest at Δ = 0 and nowhere else on the image. So
    attention can score "near this object" with one product, where raw (x, y) only offer "further
    left", whatever the reference."""
    b, _, height, width = h.shape
    y, x = torch.meshgrid(torch.linspace(-1, 1, height, device=h.device),
                          torch.linspace(-1, 1, width, device=h.device), indexing="ij")
    w = torch.pi / 2 * torch.arange(1, waves + 1, device=h.device)[:, None, None]        # (waves, 1, 1)
    features = torch.cat([torch.cos(w * x), torch.sin(w * x), torch.cos(w * y), torch.sin(w * y)])
    return torch.cat([h, features.expand(b, -1, height, width)], 1)


def stem(cin, width, downs):
    """A CNN that halves the image `downs` times: (B, cin, 64, 64) -> (B, width, 64 / 2^downs, ...)."""
    layers, c = [], cin
    for k in range(downs):
        out = 32 if k < downs - 1 else width
        layers += [nn.Conv2d(c, out, 3, stride=2, padding=1), nn.BatchNorm2d(out), nn.ReLU()]
        c = out
    return nn.Sequential(*layers)


# ---- FiLM ----------------------------------------------------------------------------------------

class FiLMBlock(nn.Module):
    """Perez et al.'s residual block: 1×1 conv, 3×3 conv, BatchNorm without affine, then the
    question's (γ, β) per channel, ReLU, and the 1×1 output added back."""

    def __init__(self, width):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(width + 2, width, 1), nn.Conv2d(width, width, 3, padding=1)
        self.norm = nn.BatchNorm2d(width, affine=False)

    def forward(self, h, gamma, beta):                  # h (Q, C, 8, 8); gamma, beta (Q, C)
        a = F.relu(self.conv1(with_coords(h)))
        b = self.norm(self.conv2(a)) * (1 + gamma[:, :, None, None]) + beta[:, :, None, None]
        return a + F.relu(b)


class FiLM(nn.Module):
    def __init__(self, vocab_size, num_answers, width=64, blocks=4, qdim=128):
        super().__init__()
        self.args = dict(vocab_size=vocab_size, num_answers=num_answers, width=width, blocks=blocks, qdim=qdim)
        self.cnn = stem(3, width, 3)                                          # 64 -> 8, once per image
        self.question = QuestionEncoder(vocab_size, qdim)
        self.film = nn.Linear(qdim, 2 * width * blocks)                       # (γ, β) for every block
        self.blocks = nn.ModuleList(FiLMBlock(width) for _ in range(blocks))
        self.head = nn.Conv2d(width + 2, 256, 1)
        self.mlp = nn.Sequential(nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, num_answers))

    def forward(self, x, qi, tokens):                   # x (B, 3, 64, 64); qi (Q,) image of each question
        h = self.cnn(x - 0.5)[qi]                       # (Q, C, 8, 8): one copy per question
        films = self.film(self.question(tokens)).chunk(2 * len(self.blocks), dim=1)
        for k, block in enumerate(self.blocks):
            h = block(h, films[2 * k], films[2 * k + 1])
        return self.mlp(F.relu(self.head(with_coords(h))).amax(dim=(2, 3)))


# ---- late fusion ---------------------------------------------------------------------------------

class Fusion(nn.Module):
    """Late fusion, the model easy-VQA's author trained on it: the whole image becomes one vector
    (a CNN to 4×4, flattened), the question a bag of words (word order unseen), and the two are
    multiplied element by element before an MLP answers. No cells, no attention, no conditioning of
    the convolutions: the image is read once, the same way whatever the question."""

    def __init__(self, vocab_size, num_answers, width=32, dim=256):
        super().__init__()
        self.args = dict(vocab_size=vocab_size, num_answers=num_answers, width=width, dim=dim)
        self.cnn = nn.Sequential(stem(3, width, 4), nn.Flatten(), nn.Linear(16 * width, dim), nn.ReLU())
        self.words = nn.EmbeddingBag(vocab_size, dim, mode="sum", padding_idx=0)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, num_answers))

    def forward(self, x, qi, tokens):                   # -> (Q, answers)
        image = self.cnn(x - 0.5)[qi]                   # (Q, dim), the CNN once per image
        return self.mlp(image * torch.tanh(self.words(tokens)))


# ---- transformer ---------------------------------------------------------------------------------

class Transformer(nn.Module):
    """An encoder-decoder transformer (Vaswani et al. 2017; the layout of DETR): the 8×8 cells of a
    small CNN, with their place as waves (with_waves), are the encoder's 64 tokens, which attend to
    each other once per image; the question's words, each with its position, are the decoder's
    tokens, which attend to each other and to the cells. The first word's output answers. No
    recurrence, no hand-made hops: which cells relate to which is learned by plain dot-product
    attention."""

    def __init__(self, vocab_size, num_answers, width=64, dim=64, layers=3, max_words=32):
        super().__init__()
        self.args = dict(vocab_size=vocab_size, num_answers=num_answers, width=width, dim=dim, layers=layers,
                         max_words=max_words)
        self.cnn = stem(3, width, 3)                                          # 64 -> 8
        self.cells = nn.Linear(width + 16, dim)                               # + with_waves' 4 × 4 channels
        self.words = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.ask = nn.Parameter(torch.zeros(1, 1, dim))                       # the answer token, before the words
        self.places = nn.Embedding(max_words + 1, dim)
        kind = dict(d_model=dim, nhead=4, dim_feedforward=2 * dim, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(**kind), layers, nn.LayerNorm(dim),
                                             enable_nested_tensor=False)
        self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(**kind), layers, nn.LayerNorm(dim))
        self.head = nn.Linear(dim, num_answers)

    def image_features(self, x):                        # (B, 3, 64, 64) -> the encoder's cells (B, 64, dim)
        return self.encoder(self.cells(with_waves(self.cnn(x - 0.5)).flatten(2).transpose(1, 2)))

    def answer(self, feats, qi, tokens):                # -> (Q, answers)
        memory = feats[qi]                                                # (Q, 64, dim)
        h = torch.cat([self.ask.expand(len(tokens), 1, -1), self.words(tokens)], 1)       # (Q, 1 + L, dim)
        h = h + self.places(torch.arange(h.shape[1], device=tokens.device))
        padding = torch.cat([torch.zeros_like(tokens[:, :1]), tokens], 1) == 0
        padding[:, 0] = False                                                 # the answer token is never padding
        return self.head(self.decoder(h, memory, tgt_key_padding_mask=padding)[:, 0])

    def forward(self, x, qi, tokens):                   # -> (Q, answers)
        return self.answer(self.image_features(x), qi, tokens)


# ---- detector + program executor -----------------------------------------------------------------

ATTRS = {"shape": list(scenes.SHAPES), "color": list(scenes.COLORS), "size": list(scenes.SIZES)}
CELL = 8            # pixels per cell of the 8×8 grid. Object centres are > 12.7 px apart (scenes.py),
                    # more than a cell's diagonal (11.3 px), so a cell holds at most one centre.


def answer_table(graph, margin):
    """{question's words: answer} for every question scenes.py would ask about `graph`, its relations
    holding by `margin` pixels."""
    return {tuple(tokenize(text)): answer for family in scenes.candidates(graph, margin).values()
            for options in family.values() for text, answer in options}


class Symbolic(nn.Module):
    """Per cell of an 8×8 grid: is an object's centre here, its shape, colour and size, and where in
    the cell (YOLO-style). forward() reads the scene graph off the image and answers each question by
    looking it up among the questions the scene generator would ask about that graph."""

    def __init__(self, vocab, answer_names, width=64):
        super().__init__()
        self.args = dict(vocab=list(vocab), answer_names=list(answer_names), width=width)
        self.channels = [1, *(len(v) for v in ATTRS.values()), 2]             # objectness, shape, colour, size, (dx, dy)
        self.cnn = nn.Sequential(stem(3, width, 3), nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width),
                                 nn.ReLU(), nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                                 nn.Conv2d(width, sum(self.channels), 1))

    def heads(self, x):
        """(B, 3, 64, 64) -> {"object": (B, 8, 8) logits, "shape": (B, 3, 8, 8) logits, ..., "offset": (B, 2, 8, 8)}"""
        out = self.cnn(x - 0.5).split(self.channels, dim=1)
        return {"object": out[0][:, 0], **dict(zip(ATTRS, out[1:4])), "offset": torch.sigmoid(out[4])}

    def loss_on(self, data, idx):
        """The loss on training images idx, read off their scene graphs."""
        return self.loss(data.images(idx), [data.scenes[i] for i in idx.tolist()])

    def loss(self, x, graphs):
        """The detector's loss on images x (B, 3, 64, 64) against their scene graphs."""
        return reader3d.grid_loss(self.heads(x), *reader3d.grid_targets(graphs, ATTRS, CELL, 8, ("x", "y")))

    @torch.no_grad()
    def detect(self, x):
        """The scene graphs read off images x: a list of {"objects": [{"shape", "color", "size", "x", "y"}]}."""
        return [{"objects": objects} for objects in reader3d.grid_objects(self.heads(x), ATTRS, CELL, ("x", "y"))]

    def forward(self, x, qi, tokens):
        """Logits (Q, A): 1 at the answer the question's program gives on the detected graph. A question
        that is not well posed there (its object is missing or not unique) gets no answer: all zeros.
        Relations are read without the generator's margin: every question asked holds by 8 px, so a
        detected centre a pixel off must not make "left of" ill posed (with the margin it did, for a
        tenth of the relate questions of scenes drawn again from their coded graphs)."""
        return looked_up([answer_table(g, margin=0) for g in self.detect(x)], qi, tokens, self.args)


def train_reader(model, data, epochs, batch_size=64, lr=2e-3, seed=0, minutes=None):
    """attention.train's schedule, with a reader's own loss (model.loss_on: what the image holds,
    not the answers) in place of the answers' cross-entropy: the detector's, the namer's."""
    return train(model, data, epochs, batch_size, lr, seed, minutes, desc=type(model).__name__.lower(),
                 loss_of=lambda idx: model.loss_on(data, idx))


FAMILIES = {"attention": VQA, "objects": ObjectVQA, "film": FiLM, "fusion": Fusion, "transformer": Transformer, "symbolic": Symbolic,
            "namer": Namer, "symbolic3d": Symbolic3D}


# ---- the panel -----------------------------------------------------------------------------------

def load_vqa(path, device="cpu"):
    """Any VQA checkpoint, a path or a zoo name -> (model in eval mode, checkpoint). A checkpoint
    without a "family" is attention.py's model."""
    path = zoo.checked_path(path)
    ckpt = files.load_checkpoint(path, keys=("model_args", "model", "vocab", "answers"), device=device)
    try:
        model = FAMILIES[ckpt.get("family", "attention")](**ckpt["model_args"])
        model.load_state_dict(ckpt["model"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise files.CheckpointError(f"{path}: not a VQA model this code can rebuild ({type(e).__name__})") from None
    return model.to(device).eval(), ckpt


def load_panel(name):
    """{label: model} for dataset `name`, from the zoo: the held-out families, then "attention"
    where the zoo has one (attention.py's model with another seed than the loss model's: the same
    family, shown for comparison only). -> (panel, the words they read). CheckpointError where none is shipped."""
    if name not in PANEL:
        raise files.CheckpointError(f"{name}: no panel of judges is shipped for it yet "
                                    f"(`fewbits judges --data {name}` trains them)")
    panel, first = {}, None
    same_family = [("attention", f"vqa-{name}-judge")] if f"vqa-{name}-judge" in zoo.MODELS else []
    for family, model_name in [(f, f"judge-{name}-{f}") for f in PANEL[name]] + same_family:
        model, ckpt = load_vqa(model_name)
        if first is not None and (ckpt["vocab"], ckpt["answers"]) != (first["vocab"], first["answers"]):
            raise files.CheckpointError(f"{model_name}: trained on other words or answers than the rest of the panel")
        first = first or ckpt
        panel[family] = model
    return panel, first["vocab"]
