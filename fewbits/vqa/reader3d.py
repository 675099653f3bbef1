"""The CLEVR judge that has to read the scene: a detector finds every object, and CLEVR's question
programs (clevr.candidates) answer on the graph it found.

    reader = Symbolic3D(vocab, answer_names)
    train(reader, data, epochs, loss_of=lambda idx: reader.loss_on(data, idx))
    reader.detect(x)                        # the scene graphs read off images (B, 3, 128, 128)
    reader(x, qi, tokens)                   # one-hot logits (Q, answers), as any VQA model gives

The detector is the scenes judge's (judges.Symbolic) in 3D: per cell of a 16×16 grid over the
128×128 image, is an object's centre here, its shape, colour, material and size, and where in the
cell. The centre is where the object's middle (at height r) projects. The camera is fixed, so the
pixel and the size give the place on the ground (render.Camera.unproject), and "left of" and
"behind" are measured there as the generator measures them. No learned language: an image passes
only if every object in it can be read off, material and size included.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data import clevr, render, tokenize

SIZE, CELL, GRID = clevr.IMAGE_SIZE, clevr.CELL, clevr.GRID    # where two centres share a cell, the later one is kept
CHANNELS = [1, *(len(v) for v in clevr.ATTRS.values()), 2]       # objectness, attributes, (du, dv)
# Reading the grid: in half the scenes two centres fall in neighbouring cells, and the detector
# then often sees one object in two cells, or a true cell only faintly. So a cell counts from a
# low objectness logit on, and one whose centre is within MERGE pixels of a surer cell's is that
# object again; both chosen on the validation scenes (EXPERIMENTS.md, "CLEVR in 3D").
THRESHOLD, MERGE = -1.5, 5.0


def answer_table(graph):
    """{question's words: answer} for every question clevr.py would ask about `graph`. The generator
    asks "is the A the same color as the B?" with A before B in its list of objects; a detector lists
    them in another order, so each such question is also entered with A and B swapped."""
    table = {}
    for family, templates in clevr.candidates(graph).items():
        for text, answer in (pair for options in templates.values() for pair in options):
            words = tokenize(text)
            table[tuple(words)] = answer
            if family == "compare_attribute":          # is the A the same ATTR as the B
                same = words.index("same")
                a, attr, b = words[2:same - 1], words[same + 1], words[same + 4:]
                table[("is", "the", *b, "the", "same", attr, "as", "the", *a)] = answer
    return table


def grid_targets(graphs, attrs, cell, grid, place=("u", "v")):
    """A detector's labels from scene graphs: class ids {"object": (B, G, G), attribute: (B, G, G)}
    and each centre's place in its cell, offsets (B, 2, G, G) in [0, 1]. The centre is at pixel
    (o[place[0]], o[place[1]]); where two share a cell, the later one is kept."""
    target = {k: torch.zeros(len(graphs), grid, grid, dtype=torch.long) for k in ("object", *attrs)}
    offset = torch.zeros(len(graphs), 2, grid, grid)
    for b, g in enumerate(graphs):
        for o in g["objects"]:
            u, v = o[place[0]] / cell, o[place[1]] / cell
            cu, cv = clevr.cell_of(o, cell, grid, place)
            target["object"][b, cv, cu] = 1
            for k, values in attrs.items():
                target[k][b, cv, cu] = values.index(o[k])
            offset[b, :, cv, cu] = torch.tensor([u - cu, v - cv])
    return target, offset


def grid_loss(h, target, offset):
    """Binary cross-entropy on objectness everywhere; cross-entropy on each attribute and L2 on the
    offset where an object is (the offset weighted 10: it is in cells, the others in nats)."""
    here = target["object"].bool()
    loss = F.binary_cross_entropy_with_logits(h["object"], target["object"].float())
    for k in target:
        if k != "object":
            loss = loss + F.cross_entropy(h[k].permute(0, 2, 3, 1)[here], target[k][here])
    return loss + 10 * ((h["offset"] - offset) ** 2).sum(1)[here].mean()


def grid_objects(h, attrs, cell, place=("u", "v"), threshold=0.0, merge=0.0):
    """The detector's heads -> per image, its objects: one wherever objectness > threshold, each
    attribute its most likely value, and its centre in pixels at o[place[0]], o[place[1]]. A cell
    whose centre is within `merge` pixels of a surer cell's is the same object seen twice."""
    images = []
    for b in range(len(h["object"])):
        cells = sorted((h["object"][b] > threshold).nonzero().tolist(), key=lambda c: -h["object"][b, c[0], c[1]])
        objects = []
        for cv, cu in cells:
            du, dv = h["offset"][b, :, cv, cu].tolist()
            u, v = (cu + du) * cell, (cv + dv) * cell
            if any((u - o[place[0]]) ** 2 + (v - o[place[1]]) ** 2 < merge ** 2 for o in objects):
                continue
            o = {k: values[h[k][b, :, cv, cu].argmax()] for k, values in attrs.items()}
            objects.append({**o, place[0]: u, place[1]: v})
        images.append(objects)
    return images


def split_heads(out):
    """A detector's output (B, sum(CHANNELS), 16, 16) -> its heads, as Symbolic3D.heads gives them."""
    out = out.split(CHANNELS, dim=1)
    return {"object": out[0][:, 0], **dict(zip(clevr.ATTRS, out[1:-1])), "offset": torch.sigmoid(out[-1])}


def graph_loss(out, graphs):
    """A detector's output (B, sum(CHANNELS), 16, 16) -> its loss against the images' scene graphs."""
    return grid_loss(split_heads(out), *grid_targets(graphs, clevr.ATTRS, CELL, GRID))


def read(h):
    """The 3D detector's heads -> scene graphs, each object with the place on the ground below its
    centre."""
    graphs = []
    for objects in grid_objects(h, clevr.ATTRS, CELL, threshold=THRESHOLD, merge=MERGE):
        for o in objects:
            wx, wy = render.CAMERA.unproject(o["u"], o["v"], SIZE, render.SIZES[o["size"]])
            o.update(x=wx.item(), y=wy.item())
        graphs.append({"objects": objects})
    return graphs


class Symbolic3D(nn.Module):
    def __init__(self, vocab, answer_names, width=64):
        super().__init__()
        self.args = dict(vocab=list(vocab), answer_names=list(answer_names), width=width)

        def conv(cin, cout, stride=1):
            return [nn.Conv2d(cin, cout, 3, stride, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]
        # 128 -> 16 in three strides, then three 3×3 layers at the grid's scale: a large sphere near
        # the camera spans 5 cells
        self.cnn = nn.Sequential(*conv(3, 32, 2), *conv(32, 32, 2), *conv(32, width, 2),
                                 *conv(width, width), *conv(width, width), *conv(width, width),
                                 nn.Conv2d(width, sum(CHANNELS), 1))

    def heads(self, x):
        """(B, 3, 128, 128) -> {"object": (B, 16, 16) logits, "size": (B, 2, 16, 16) logits, ...,
        "offset": (B, 2, 16, 16) in [0, 1]}"""
        return split_heads(self.cnn(x - 0.5))

    def loss_on(self, data, idx):
        """The loss on training images idx, read off their scene graphs."""
        return self.loss(data.images(idx), [data.scenes[i] for i in idx.tolist()])

    def loss(self, x, graphs):
        """The detector's loss on images x (B, 3, 128, 128) against their scene graphs."""
        return graph_loss(self.cnn(x - 0.5), graphs)

    @torch.no_grad()
    def detect(self, x):
        """The scene graphs read off images x: [{"objects": [{shape, color, material, size, u, v, x, y}]}]."""
        return read(self.heads(x))

    def forward(self, x, qi, tokens):
        """Logits (Q, A): 1 at the answer the question's program gives on the detected graph; all zeros
        where the question is not well posed there (the object it names is missing or not unique)."""
        return looked_up([answer_table(g) for g in self.detect(x)], qi, tokens, self.args)


def looked_up(tables, qi, tokens, args):
    """Each question's answer in its image's table -> one-hot logits (Q, A) over args["answer_names"];
    all zeros for a question the table doesn't hold, or whose answer no question has (a count of 7)."""
    vocab, answers = args["vocab"], {a: i for i, a in enumerate(args["answer_names"])}
    logits = torch.zeros(len(qi), len(answers), device=tokens.device)
    for q, (i, row) in enumerate(zip(qi.tolist(), tokens.tolist())):
        answer = tables[i].get(tuple(vocab[t] for t in row if t > 0))
        if answer in answers:
            logits[q, answers[answer]] = 1.0
    return logits
