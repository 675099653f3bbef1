"""The object code: the bits name the objects a detector finds in a CLEVR image, and the ray caster
that made the scenes draws them again.

    x (B, 3, 128, 128) in [0, 1]
      │  g_a      a CNN: 128 -> 16 in three strides, then 3×3 layers at the grid's scale
      ▼
    logits (B, 28, 16, 16): per cell of 8×8 pixels, is an object's centre here, and each field
      │  choose   an object where its logit is > the threshold, unless a surer neighbour's centre is
      │           within MERGE pixels (the same object seen twice); each field its likeliest value
      ▼
    the code (B, 256 cells × 14 bits), cell by cell: 1 bit "an object here", then, only where there
      │  is one, its fields in binary: shape 2, turn 2, size 1, colour 3, material 1, and the centre's
      │  place in the cell, 2 + 2 (in quarters of a cell)
      │  bit model + arithmetic coder; the gates code a cell's fields only if its first bit is 1
      ▼
    one-hot fields (B, 28, 16, 16), all 0 where there is no object
      │  g_s      the ray caster (codec/cast.py): the objects the fields name, drawn at any size
      ▼
    x_hat (B, 3, size, size)

(The sizes are ObjectCodec's layout. FineObjectCodec's has a cube's turn in 8 steps and the centre
in eighths of a cell: 40 channels, 17 bits a cell.)

Why a code of objects: a code trained on distortion spends its bits where colour is, and a probe of
the grid code's bits found size and some colour but no material or shape (EXPERIMENTS.md, "CLEVR in
3D"). Here each bit means one thing by construction, so the decode loses only what the detector
misses. A scene of n objects costs about 13 bits an object plus the object map, which the bit model
learns to code cheaply: objects stand in the middle rows.

The object map is an importance map in the sense of Li et al. (2018), with two levels: at each of
the 256 positions it decides whether that position's field bits are sent (13, or 16 in the fine
layout) or none, and the coder's gates skip the rest. Unlike theirs it is learned from the scene
graphs, not from the rate: a position is worth bits when an object stands there.

Training (train.py): the encoder learns from the training split's scene graphs (label_loss) and
the bit model from the rate. The caster has no weights, so a training step casts nothing. Learned
decoders were tried and lost to the caster (EXPERIMENTS.md, "The cubes get their corners").
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import metrics
from ..data import clevr
from ..nn.quantize import BitModel
from .base import Codec
from .cast import CastDecoder

CELLS, GRID, CELL = clevr.GRID ** 2, clevr.GRID, clevr.CELL
ATTRS = {"shape": clevr.SHAPES, "size": clevr.SIZES, "color": clevr.COLORS, "material": clevr.MATERIALS}
MERGE = 5.0                                 # pixels: two centres this close are one object seen twice


class Layout:
    """What the code says of each object, in how many steps, and how that is laid out in bits.

    fields: each field's number of values. "turn" is a cube's rotation about the vertical within a
    quarter turn, in `turns` steps (a sphere or a cylinder looks the same at any turn: 0); du, dv
    the centre's place in its cell, in `places` steps.
    ids: (B, 1 + fields, 16, 16) ints, 1 where an object is, then each field's value there."""

    def __init__(self, turns=4, places=4):
        self.turns, self.places = turns, places
        self.fields = {"shape": len(clevr.SHAPES), "turn": turns, "size": len(clevr.SIZES), "color": len(clevr.COLORS),
                       "material": len(clevr.MATERIALS), "du": places, "dv": places}
        self.widths = [(n - 1).bit_length() for n in self.fields.values()]    # bits of each field
        self.per_cell = 1 + sum(self.widths)                                 # 14 for 4 turns and quarters
        self.channels = 1 + sum(self.fields.values())    # logits, and the decoder's one-hot input

    def targets(self, graphs):
        """Scene graphs -> what the encoder should find, ids: 1 where an object's centre is, then each
        field's value there (0 elsewhere). Where two centres share a cell, the later one is kept, as in
        the detectors' labels (vqa/reader3d.py)."""
        t = torch.zeros(len(graphs), 1 + len(self.fields), GRID, GRID, dtype=torch.long)
        for b, g in enumerate(graphs):
            for o in g["objects"]:
                cu, cv = clevr.cell_of(o)
                turn = int(o["angle"] % (math.pi / 2) / (math.pi / 2) * self.turns) if o["shape"] == "cube" else 0
                du, dv = (min(max(int((o[k] / CELL - c) * self.places), 0), self.places - 1)
                          for k, c in (("u", cu), ("v", cv)))
                values = [clevr.SHAPES.index(o["shape"]), min(turn, self.turns - 1), clevr.SIZES.index(o["size"]),
                          clevr.COLORS.index(o["color"]), clevr.MATERIALS.index(o["material"]), du, dv]
                t[b, :, cv, cu] = torch.tensor([1, *values])
        return t

    def centres(self, ids):
        """ids -> each cell's centre (u, v) in pixels, (B, 16, 16) each: the middle of its du, dv step."""
        cols = torch.arange(GRID, device=ids.device)
        return ((cols.view(1, 1, -1) + (ids[:, -2] + 0.5) / self.places) * CELL,
                (cols.view(1, -1, 1) + (ids[:, -1] + 0.5) / self.places) * CELL)

    def choose(self, logits, threshold=0.0):
        """The encoder's logits (B, channels, 16, 16) -> the objects it sends, ids: one wherever the object
        logit is > threshold, unless a surer neighbour is the same object."""
        parts = logits.split([1, *self.fields.values()], 1)
        score, ids = parts[0][:, 0], torch.stack([p.argmax(1) for p in parts[1:]], 1)   # (B, G, G), (B, F, G, G)
        u, v = self.centres(ids)                        # (du, dv are the last two fields either way)
        here = score > threshold
        pad = lambda t, fill: F.pad(t, (1, 1, 1, 1), value=fill)                         # noqa: E731
        s_pad, u_pad, v_pad, h_pad = pad(score, -math.inf), pad(u, 1e6), pad(v, 1e6), pad(here, False)
        keep = here.clone()
        for dy in (-1, 0, 1):                   # two centres within MERGE pixels lie in neighbouring cells
            for dx in (-1, 0, 1):
                if dx or dy:
                    at = (slice(None), slice(1 + dy, 1 + dy + GRID), slice(1 + dx, 1 + dx + GRID))
                    near = (u - u_pad[at]) ** 2 + (v - v_pad[at]) ** 2 < MERGE ** 2
                    keep &= ~(h_pad[at] & near & (s_pad[at] > score))
        return torch.cat([keep[:, None].long(), ids * keep[:, None]], 1)

    def to_bits(self, ids):
        """ids -> the code (B, CELLS × per_cell) in {0, 1}, cell by cell, each field's value in binary,
        most significant bit first."""
        columns = [ids[:, :1]]
        for k, width in enumerate(self.widths, 1):
            columns += [(ids[:, k:k + 1] >> j) & 1 for j in reversed(range(width))]
        return torch.cat(columns, 1).flatten(2).transpose(1, 2).flatten(1)

    def from_bits(self, bits):
        """The code (B, CELLS × per_cell) in {0, 1} -> ids; a value no field has (a shape of 3) reads as
        the field's last."""
        b = bits.long().view(-1, CELLS, self.per_cell).transpose(1, 2)        # (B, per_cell, CELLS)
        out, at = [b[:, 0]], 1
        for width, n in zip(self.widths, self.fields.values()):
            value = sum(b[:, at + j] << (width - 1 - j) for j in range(width))
            out.append(value.clamp(max=n - 1) * b[:, 0])
            at += width
        return torch.stack(out, 1).view(-1, 1 + len(self.fields), GRID, GRID)

    def graphs_of(self, ids):
        """ids -> the scene graphs they say: [{"objects": [{shape, ..., u, v, angle}]}], each centre in
        the middle of its step of a cell, a cube's angle the middle of its turn's step."""
        graphs, (u, v) = [], self.centres(ids)
        for b, image in enumerate(ids):
            found = []
            for cv, cu in (image[0] == 1).nonzero().tolist():
                values = dict(zip(self.fields, image[1:, cv, cu].tolist()))
                o = {k: ATTRS[k][i] for k, i in values.items() if k in ATTRS}
                found.append({**o, "u": u[b, cv, cu].item(), "v": v[b, cv, cu].item(),
                              "angle": (values["turn"] + 0.5) / self.turns * math.pi / 2})
            graphs.append({"objects": found})
        return graphs

    def from_one_hot(self, code):
        """The decoder's input (B, channels, 16, 16) -> ids: one_hot's inverse."""
        parts = code.split([1, *self.fields.values()], 1)
        return torch.cat([parts[0].round().long(), *(p.argmax(1, keepdim=True) for p in parts[1:])], 1)

    def one_hot(self, ids):
        """ids -> the decoder's input (B, channels, 16, 16): 0 where no object."""
        here = ids[:, :1].float()
        hots = [F.one_hot(ids[:, k], n).permute(0, 3, 1, 2).float() * here
                for k, n in enumerate(self.fields.values(), 1)]
        return torch.cat([here, *hots], 1)


def conv_bn(cin, cout, stride=1):
    return [nn.Conv2d(cin, cout, 3, stride, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]


class ObjectCodec(Codec):
    """The object code for CLEVR's 128×128 images, drawn by the ray caster. `bits` is only the scale
    of the rate in training's log: a file's length follows its scene. (width and deep: unused, kept
    for the interface.) The code's name says how it is drawn: "objects" and "objects-fine" were the
    learned decoders' (EXPERIMENTS.md, "The encoder alone")."""
    code, can_search = "objects-cast", False
    layout = Layout(turns=4, places=4)

    def __init__(self, bits=256, width=32, context=2, deep=0, size=128):
        nn.Module.__init__(self)
        if size != clevr.IMAGE_SIZE:
            raise ValueError(f"the object code is for CLEVR's {clevr.IMAGE_SIZE}×{clevr.IMAGE_SIZE} images, not {size}×{size}")
        self.args = dict(code=self.code, bits=bits, width=width, context=context, deep=deep, size=size)
        self.bits, self.size = bits, size
        per_cell, channels = self.layout.per_cell, self.layout.channels
        self.capacity, self.positions = CELLS * per_cell, CELLS * per_cell
        self.g_a = nn.Sequential(*conv_bn(3, 32, 2), *conv_bn(32, 64, 2), *conv_bn(64, 96, 2),
                                 *[layer for _ in range(4) for layer in conv_bn(96, 96)], nn.Conv2d(96, channels, 1))
        self.g_s = CastDecoder(self.layout)
        first = torch.arange(CELLS).repeat_interleave(per_cell) * per_cell      # each position's cell's first bit
        self.gates = torch.where(torch.arange(self.positions) % per_cell == 0, -1, first).numpy()
        self.bit_model = BitModel(self.positions, context)
        self.register_buffer("threshold", torch.zeros(()))     # the object logit's, chosen on validation

    def coded(self, bits):
        """(B, positions) in {0, 1} -> which positions the coder codes: the object bits, and the fields
        of the cells whose object bit is 1."""
        gates = torch.from_numpy(self.gates).to(bits.device)
        return (gates < 0) | (bits[:, gates.clamp(min=0)] == 1)

    def label_loss(self, logits, graphs):
        """The encoder's loss against the images' scene graphs: binary cross-entropy on the object map,
        cross-entropy on each field where an object is."""
        t = self.layout.targets(graphs).to(logits.device)
        parts, here = logits.split([1, *self.layout.fields.values()], 1), t[:, 0].bool()
        loss = F.binary_cross_entropy_with_logits(parts[0][:, 0], t[:, 0].float())
        for k, part in enumerate(parts[1:], 1):
            loss = loss + F.cross_entropy(part.permute(0, 2, 3, 1)[here], t[:, k][here])
        return loss

    @torch.no_grad()
    def calibrate(self, batches, graphs, thresholds=(-3, -2.5, -2, -1.5, -1, -0.5, 0, 0.5)):
        """Set the object logit's threshold to the one with the fewest objects missed or added on these
        images, with their scene graphs (the validation split's: a choice). The object map is a rare
        positive in 256 cells, so the encoder's logits come out low. -> {threshold: missed + extra}."""
        logits = torch.cat([self.g_a(x - 0.5) for x in batches])
        costs = {}
        for th in thresholds:
            found = self.layout.graphs_of(self.layout.choose(logits, th))
            c = metrics.misread(found, graphs, radius=CELL * 0.75, attrs=(), place=("u", "v"))
            costs[th] = c["missed"] + c["extra"]
        self.threshold.fill_(min(costs, key=costs.get))
        return costs

    def forward(self, x, soft=False):
        """The training pass: the rate of the code the encoder sends and the encoder's logits for
        label_loss; no decodes, as the caster has nothing to learn from them and casting a batch
        would take most of a step. In eval mode also the decodes at `size` and half that. (soft: no
        use here, kept for the interface.)"""
        logits = self.g_a(x - 0.5)
        ids = self.layout.choose(logits.detach(), self.threshold)
        bits = self.layout.to_bits(ids)
        active = self.coded(bits)
        rate = self.bit_model.rate((2.0 * bits - 1) * active, active.float())
        if self.training:
            return {"rate": rate, "logits": logits}
        f = self.g_s.features(self.layout.one_hot(ids))
        return {"x_hat": self.g_s.render(f, self.size), "x_hat_half": self.g_s.render(f, self.size // 2),
                "rate": rate, "logits": logits}

    @torch.no_grad()
    def code_bits(self, x):
        ids = self.layout.choose(self.g_a(x - 0.5), self.threshold)
        bits = self.layout.to_bits(ids).to(torch.uint8)
        return bits, self.coded(bits)

    def signs(self, bits):
        return self.layout.one_hot(self.layout.from_bits(bits))


class FineObjectCodec(ObjectCodec):
    """The object code at a higher rate: a cube's turn in 8 steps of 11.25° and each centre in eighths
    of a cell (1 pixel), 3 more bits an object, where a cube's corners and an object's place are
    what the 4-step code gets most wrong."""
    code = "objects-fine-cast"
    layout = Layout(turns=8, places=8)

