"""A small easy-VQA-style VQA model, and the script that trains it on original images.

    fewbits vqa --data scenes --seed 0              # -> runs/vqa-scenes-seed0.pt

The model reads the image once and then answers by looking twice, steered by the question:
    image (B, 3, 64, 64) -> CNN -> 8×8 cells, each a feature vector (B, 64, C)   once per image
                            (128×128, CLEVR in 3D: 16×16 cells)
    question tokens (Q, L) -> embedding -> GRU -> q (Q, 128)                    once per question
    hop 1: each cell [features, x, y] -> MLP whose normalised hidden layer is scaled and shifted by
           (γ1, β1) = Linear(q) (FiLM, Perez et al. 2018) -> a score per cell
           -> attention (softmax of scores) reads the cells' features and positions: the object
              the question names, what it looks like and where it is
           -> soft count (sum of sigmoid of scores): how many cells fit the description
    hop 2: the same, with each cell's offset and distance from hop 1's object, hop 1's attention
           and what hop 1 found added: "the object left of the red square", "closest to the blue
           circle", or the second set in "are there more circles than squares?"
    answer = MLP([q, what each hop read, both counts, each hop's best score, hop 1's position])
There is deliberately no max-pooled feature map from the cells to the answer, only the best score:
with the features, the model answered "what color is the red square?" from pooled features and
never learned to point at one object, which "the object left of the red square" needs.
Positions are cell centres plus a learned nudge within the cell, so relations are not limited to
the 8-pixel grid.
FiLM lets the question choose which features survive in every cell, which is what finding,
counting and relating need; concatenating one image vector with one question vector does not do it
(on Sort-of-CLEVR a CNN+MLP stays near 63% on relational questions). Everything after the CNN is a
per-cell MLP, not a 3×3 convolution per question, which makes it cheap enough to train on a CPU.

The codec trains against one such model, frozen (checkpoints/vqa-DATA-loss.pt). A second one with
another seed (vqa-DATA-judge.pt) shares its blind spots, so it is shown for comparison only: the
judges that count are VQA models of other families (vqa/judges.py), which no codec ever trains against.
"""
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from ..data import clevr
from ..nn.question import QuestionEncoder
from . import reader3d

STRIDE = 8   # the CNN turns a 64×64 image into 8 × 8 cells, a 128×128 one into 16 × 16


class Hop(nn.Module):
    """One look at the cells: a question-conditioned (FiLM) MLP scores every cell; the scores give an
    attention map, which reads `values` (the CNN's cell features: what is there), and a soft count."""

    def __init__(self, cin, width):
        super().__init__()
        self.fc1, self.fc2, self.score = nn.Linear(cin, width), nn.Linear(width, width), nn.Linear(width, 1)
        self.norm = nn.BatchNorm1d(width, affine=False)      # FiLM supplies the affine part

    def forward(self, cells, values, gamma, beta, extra=0, here=None):
        # cells (Q, N, cin); values (Q, N, C); gamma, beta (Q, width); here (Q, N): log P(an object is here)
        h = self.fc1(cells) + extra
        h = self.norm(h.flatten(0, 1)).view(h.shape)         # batch statistics over every (question, cell)
        h = h * (1 + gamma[:, None]) + beta[:, None]
        h = F.relu(self.fc2(F.relu(h)))                    # (Q, N, width)
        score = logit = 4 * self.score(h).squeeze(2)       # (Q, N); ×4: lets the softmax get sharp early
        fits = torch.sigmoid(score)
        if here is not None:                               # look at objects only, and count objects
            score, fits = score + here, fits * here.exp()
        attn = score.softmax(1)[:, :, None]                # (Q, N, 1)
        return {"vec": (attn * values).sum(1), "attn": attn, "count": fits.sum(1, keepdim=True),
                "top": score.amax(1, keepdim=True), "logit": logit}   # how well the best cell fits; each cell


class VQA(nn.Module):
    family = "attention"           # its name in judges.FAMILIES, which load_vqa rebuilds it by

    def __init__(self, vocab_size, num_answers, width=64, hidden=64, qdim=128, size=64):
        super().__init__()
        self.args = dict(vocab_size=vocab_size, num_answers=num_answers, width=width, hidden=hidden, qdim=qdim)
        if size != 64:                                     # (the checkpoints of 64×64 models don't say)
            self.args["size"] = size
        self.cells = size // STRIDE
        def down(cin, cout):
            return [nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]
        self.cnn = nn.Sequential(*down(3, 32), *down(32, 64), *down(64, width),
                                 nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU())  # 64 -> 8
        self.question = QuestionEncoder(vocab_size, qdim)
        self.film = nn.Linear(qdim, 4 * hidden)            # (γ1, β1, γ2, β2)
        self.hop1 = Hop(width + 2, hidden)                 # cell features + (x, y)
        self.hop2 = Hop(width + 6, hidden)                 # + offset and distance to hop 1's object, its attention
        self.carry = nn.Linear(width, hidden)              # hop 1's object vector, into hop 2
        self.nudge = nn.Linear(width, 2)                   # where in its cell the cell's object sits
        self.mlp = nn.Sequential(nn.Linear(qdim + 2 * width + 6, 256), nn.ReLU(), nn.Linear(256, num_answers))
        y, x = torch.meshgrid(torch.linspace(-1, 1, self.cells), torch.linspace(-1, 1, self.cells), indexing="ij")
        self.register_buffer("xy", torch.stack([x, y], -1).view(self.cells ** 2, 2))

    def image_features(self, x):                           # (B, 3, 64, 64) in [0, 1] -> (B, 64 cells, C)
        # (a model of size 128 takes (B, 3, 128, 128) and gives 256 cells)
        return self.cnn(x - 0.5).flatten(2).transpose(1, 2)

    def answer(self, feats, qi, tokens):
        """Logits (Q, A) for questions `tokens` about images `qi` (indices into feats)."""
        q = self.question(tokens)
        g1, b1, g2, b2 = self.film(q).chunk(4, dim=1)
        cells = feats[qi]                                                # (Q, N, C)
        xy = self.xy + torch.tanh(self.nudge(cells)) / (self.cells - 1)  # (Q, N, 2) positions, finer than a cell
        one = self.hop1(torch.cat([cells, xy], 2), cells, g1, b1)
        where = (one["attn"] * xy).sum(1)                                # (Q, 2) hop 1's object position
        offset = xy - where[:, None]                                     # (Q, N, 2)
        two = self.hop2(torch.cat([cells, xy, offset, offset.norm(dim=2, keepdim=True), one["attn"]], 2), cells,
                        g2, b2, self.carry(one["vec"])[:, None])
        return self.mlp(torch.cat([q, one["vec"], two["vec"], one["count"], two["count"], one["top"], two["top"], where], 1))

    def forward(self, x, qi, tokens):
        return self.answer(self.image_features(x), qi, tokens)


class ObjectVQA(VQA):
    """The attention model for CLEVR in 3D (128×128, 16×16 cells), whose cells also say what object
    they hold: a 1×1 head reads reader3d's scene-graph channels off each cell (is an object's centre
    here, its shape, colour, material, size, and where in the cell), trained on the graphs beside
    the answers (WithGraphs). The hops then look at objects, not cells:
        attention = softmax(score + log P(object here))   only cells that hold an object compete
        count     = sum of P(object here) · sigmoid(score)   a number of objects, not of cells
        each cell's input and what a hop reads include its graph (P(object), attribute probabilities),
        and its position is the cell plus the head's offset: where the centre is, not the cell's middle
    and the answer also sees |what hop 1 read - what hop 2 read| and count 1 - count 2, which
    "is the A the same colour as the B?" and "are there more A than B?" ask for. Each hop is steered
    by the question and by the words it picks (an attention over the GRU's states at every word, as
    MAC's control unit does, Hudson & Manning 2018): hop 1 can read "the gray object" and hop 2 "the
    brown object" of one question. With one question vector for both hops, those two families
    stayed at chance (EXPERIMENTS.md)."""
    family = "objects"

    def __init__(self, vocab_size, num_answers, width=64, hidden=64, qdim=128, size=128):
        super().__init__(vocab_size, num_answers, width, hidden, qdim, size)
        said = sum(reader3d.CHANNELS) - 2                  # P(object) and the attributes' probabilities
        self.graph = nn.Linear(width, sum(reader3d.CHANNELS))
        self.hop1 = Hop(width + said + 2, hidden)
        self.hop2 = Hop(width + said + 6, hidden)
        self.mlp = nn.Sequential(nn.Linear(qdim + 3 * (width + said) + 7, 256), nn.ReLU(), nn.Linear(256, num_answers))
        self.pick = nn.Linear(qdim, 2 * qdim)              # per hop, which words to read: a query from q
        self.film = nn.Linear(3 * qdim, 4 * hidden)        # (γ, β) of each hop from q and the words it read
        del self.nudge                                     # the head's offset places the centre
        self.register_buffer("corner", self.xy - 1 / (self.cells - 1))   # each cell's top-left, in [-1, 1]

    def described(self, cells):
        """Cells (B, N, C) -> log P(object) (B, N), what the graph says of each (B, N, said), its centre (B, N, 2)."""
        out = self.graph(cells).split(reader3d.CHANNELS, dim=2)
        said = torch.cat([torch.sigmoid(out[0])] + [o.softmax(2) for o in out[1:-1]], 2)
        xy = self.corner + torch.sigmoid(out[-1]) * 2 / (self.cells - 1)
        return F.logsigmoid(out[0]).squeeze(2), said, xy

    def steer(self, tokens):
        """-> q (Q, qdim) and the FiLM parameters γ1, β1, γ2, β2 (Q, hidden) of the two hops."""
        q, states = self.question.words(tokens)                          # (Q, qdim), (Q, L, qdim)
        scores = torch.einsum("qhd,qld->qhl", self.pick(q).unflatten(1, (2, -1)), states)   # (Q, 2 hops, L)
        read = scores.masked_fill((tokens == 0)[:, None], float("-inf")).softmax(2) @ states    # (Q, 2, qdim)
        return q, self.film(torch.cat([q, read.flatten(1)], 1)).chunk(4, dim=1)

    def answer(self, feats, qi, tokens):
        return self.look(feats, qi, tokens)[0]

    def look(self, feats, qi, tokens):
        """-> logits (Q, answers), and what each hop did (Hop.forward's dicts)."""
        q, (g1, b1, g2, b2) = self.steer(tokens)
        here, said, xy = self.described(feats)                          # once per image, not per question
        cells, here, xy = torch.cat([feats, said], 2)[qi], here[qi], xy[qi]   # (Q, N, C + said), (Q, N), (Q, N, 2)
        one = self.hop1(torch.cat([cells, xy], 2), cells, g1, b1, here=here)
        where = (one["attn"] * xy).sum(1)                                # (Q, 2) hop 1's object position
        offset = xy - where[:, None]
        two = self.hop2(torch.cat([cells, xy, offset, offset.norm(dim=2, keepdim=True), one["attn"]], 2), cells,
                        g2, b2, self.carry(one["vec"][:, :feats.shape[2]])[:, None], here=here)
        return self.mlp(torch.cat([q, one["vec"], two["vec"], (one["vec"] - two["vec"]).abs(), one["count"],
                                   two["count"], one["count"] - two["count"], one["top"], two["top"], where], 1)), (one, two)


class Blind(nn.Module):
    """The question-only baseline: the same question encoder, no image. Shows what priors alone give."""

    def __init__(self, vocab_size, num_answers, qdim=128):
        super().__init__()
        self.question = QuestionEncoder(vocab_size, qdim)
        self.mlp = nn.Sequential(nn.Linear(qdim, 256), nn.ReLU(), nn.Linear(256, num_answers))

    def forward(self, x, qi, tokens):
        return self.mlp(self.question(tokens))


class WithGraphs(nn.Module):
    """For training on CLEVR: a VQA model with image_features and answer (this one, or the
    transformer judge), and a 1×1 head on its 16×16 cells that reads the scene graph there
    (reader3d's detector targets: is an object's centre in this cell, its shape, colour, material
    and size, where in the cell). The graph's loss is added to the answers', so the cells learn
    what each object is from the first step, while the hops are still learning what to ask for;
    answers alone give the hops little to learn from until the cells say it. Only `vqa` is saved:
    the head is scaffolding, and the model answers as before (ObjectVQA's head is its own, and it
    answers from what the head reads)."""

    def __init__(self, vqa, seed=0):
        super().__init__()
        self.vqa = vqa
        self.head = getattr(vqa, "graph", None) or nn.Linear(vqa.args.get("dim", vqa.args["width"]),
                                                             sum(reader3d.CHANNELS))   # ObjectVQA has its own
        self.generator = torch.Generator().manual_seed(seed)           # which questions each step trains on

    def loss_on(self, data, idx, questions=4):
        """Answers' cross-entropy on `questions` per image, plus the graph's loss, on training images idx;
        for a model that can say where its hops looked (ObjectVQA.look), also hop_loss."""
        feats = self.vqa.image_features(data.images(idx))                # (B, 256, C), once for both
        qi, rows = asked(data, idx, questions, self.generator)
        tokens, answers = data.q_tokens[rows], data.q_answer[rows]
        if hasattr(self.vqa, "look"):
            logits, hops = self.vqa.look(feats, qi, tokens)
            loss = F.cross_entropy(logits, answers) + hop_loss(hops, *hop_targets(data, idx, qi, rows))
        else:
            loss = F.cross_entropy(self.vqa.answer(feats, qi, tokens), answers)
        grid = self.head(feats).transpose(1, 2).unflatten(2, (reader3d.GRID, reader3d.GRID))  # (B, channels, 16, 16)
        return loss + reader3d.graph_loss(grid, [data.scenes[i] for i in idx.tolist()])


def hop_targets(data, idx, qi, rows):
    """Where each hop should look, from the question's program (clevr.referents): the cells that hold
    the objects of its set, (2 hops, Q, cells) in {0, 1}; which hops a question has a set for (2, Q);
    and the cells that hold any object (Q, cells)."""
    target, asked_for = torch.zeros(2, len(rows), reader3d.GRID ** 2), torch.zeros(2, len(rows), dtype=torch.bool)
    objects = torch.zeros(len(rows), reader3d.GRID ** 2, dtype=torch.bool)
    images = idx.tolist()
    for k, (b, row) in enumerate(zip(qi.tolist(), rows.tolist())):
        scene = data.scenes[images[b]]
        cells = [cv * reader3d.GRID + cu for cu, cv in map(clevr.cell_of, scene["objects"])]   # row-major
        objects[k, cells] = True
        for hop, found in enumerate(clevr.referents(data.texts[row], scene)):
            if found is not None:
                asked_for[hop, k] = True
                target[hop, k, [cells[j] for j in found]] = 1
    return target, asked_for, objects


def hop_loss(hops, target, asked_for, objects):
    """Teaches each hop where to look, as the program does: on every cell that holds an object, does it
    fit the hop's set (binary cross-entropy of the hop's score), and how much of the hop's attention
    falls on the set, as -log of it. Answers alone left the first hop idle on comparisons."""
    loss = 0
    for hop, t, on in zip(hops, target, asked_for):
        judged = objects & on[:, None]
        if judged.any():
            loss = loss + F.binary_cross_entropy_with_logits(hop["logit"][judged], t[judged])
        some = on & (t.sum(1) > 0)
        if some.any():
            loss = loss - (hop["attn"][..., 0][some] * t[some]).sum(1).clamp_min(1e-6).log().mean()
    return loss


# ---- training and checkpoints ------------------------------------------------------------------

def some_questions(qi, k, generator):
    """Which of the questions about images qi (Q,), grouped by image in ascending order, to keep:
    at most k per image, drawn at random -> (Q,) bool."""
    keys = qi.double() + torch.rand(len(qi), generator=generator, dtype=torch.double)
    rank = torch.empty_like(qi)
    rank[keys.argsort()] = torch.arange(len(qi))
    return rank - torch.searchsorted(qi, qi) < k


def asked(data, idx, questions, generator):
    """The questions about images idx to train on: all of them, or `questions` per image drawn with
    `generator` (CLEVR: 4 of an image's 15 make a step 4× faster; the hops run per question)
    -> the position in idx of each one's image (Q,), and its row in data (Q,)."""
    qi, rows = data.rows_of(idx)
    if questions:
        keep = some_questions(qi, questions, generator)
        qi, rows = qi[keep], rows[keep]
    return qi, rows


def answer_loss(answer, data, idx, questions, generator):
    """The answers' cross-entropy on images idx (asked); answer(qi, tokens) -> logits (Q, answers)."""
    qi, rows = asked(data, idx, questions, generator)
    return F.cross_entropy(answer(qi, data.q_tokens[rows]), data.q_answer[rows])


def train(model, data, epochs, batch_size=64, lr=2e-3, seed=0, minutes=None, desc="train", loss_of=None,
          questions=0):
    """AdamW with a one-cycle schedule over `epochs` passes of the images (each batch brings all of
    its images' questions, or `questions` of them per image, drawn afresh each time); stops early
    after `minutes`. Returns the minutes taken.
    loss_of(idx) -> loss replaces the answers' cross-entropy (judges.py's detector learns scene graphs)."""
    loss_of = loss_of or (lambda idx: answer_loss(lambda qi, tokens: model(data.images(idx), qi, tokens),
                                                  data, idx, questions, g))
    g = torch.Generator().manual_seed(seed)
    steps = epochs * -(-len(data) // batch_size)                    # batches per epoch, rounded up
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    start, out_of_time = time.time(), False
    bar = tqdm(total=steps, desc=desc, dynamic_ncols=True, disable=None)   # quiet in a log
    for epoch in range(epochs):
        model.train()
        for idx in torch.randperm(len(data), generator=g).split(batch_size):
            loss = loss_of(idx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update()
            bar.set_postfix(epoch=epoch, loss=f"{loss.item():.3f}")
            out_of_time = bool(minutes) and time.time() - start > 60 * minutes
            if out_of_time:
                break
        if bar.disable:                                             # a log: one line per pass instead
            print(f"{desc}: pass {epoch + 1}/{epochs}, loss {loss.item():.3f}, "
                  f"{(time.time() - start) / 60:.1f} minutes", flush=True)
        if out_of_time:
            break
    bar.close()
    model.eval()
    return (time.time() - start) / 60


def vqa_checkpoint(model, dataset, **info):
    """Everything needed to rebuild and use the model alone: its arguments, weights, words and answers."""
    info = {"family": model.family, **info} if hasattr(model, "family") else info
    return {"model_args": model.args, "model": model.state_dict(), "vocab": dataset.vocab,
            "answers": dataset.answer_names, "families": dataset.families, **info}
