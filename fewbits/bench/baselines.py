"""The baselines every codec is measured against, each a method: images into files and back.

    encode, decode = thumbnail(4, 5)                 # 4×4 pixels, 5 bits per channel: 240 bits
    encode, decode = pillow("WEBP", 0)               # Pillow's WebP (or JPEG, AVIF) at quality 0
    encode, decode = scene_graph(test.scenes)        # scenes: the scene itself, coded compactly
    scene_graph(test.scenes, CLEVR_GRAPH, redraw)    # CLEVR's, drawn again by its renderer
    methods("scenes", test)                          # [(label, make)]: the rows of a table
    blobs = encode(x)                                # x (B, 3, 64, 64) in [0, 1] -> B files (bytes)
    x_hat = decode(blobs)                            # -> (B, 3, 64, 64)

bench/protocol.py says what a method is; its bits are the length of these files, never an estimate.
"""
import io
import math
from collections import namedtuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, features

from .. import files
from ..coding import arithmetic
from ..data import clevr, scenes

# encode(x (B, 3, 64, 64), idx) -> list of file bytes; decode(files) -> x_hat. idx says which test
# images x are: only the scene-graph reference needs it.


def has_avif():
    """Whether this Pillow writes AVIF files (Pillow 11.2 and newer, built with libavif)."""
    try:
        return features.check_module("avif")
    except ValueError:                            # an older Pillow doesn't know the name
        return False


def pillow(fmt, quality):
    """A format Pillow writes (JPEG, WEBP, AVIF) at one quality setting."""
    def encode(x, idx=None):
        blobs = []
        for xi in x:
            buf = io.BytesIO()
            files.to_image(xi).save(buf, format=fmt, quality=quality)
            blobs.append(buf.getvalue())
        return blobs

    def decode(blobs):
        images = [Image.open(io.BytesIO(b)).convert("RGB") for b in blobs]
        return torch.stack([files.to_tensor(img) for img in images])
    return encode, decode


def thumbnail(k, b, size=64):
    """Average to k×k, keep b bits per channel, pack them: k·k·3·b bits (rounded up to a byte).
    Decodes to size×size."""
    def encode(x, idx=None):
        levels = (F.interpolate(x, size=(k, k), mode="area") * (2 ** b - 1)).round().byte().numpy()
        fields = np.unpackbits(levels.reshape(len(x), -1, 1), axis=2)[:, :, 8 - b:]   # b bits each
        return [np.packbits(f.ravel()).tobytes() for f in fields]

    def decode(blobs):
        bits = np.stack([np.unpackbits(np.frombuffer(f, np.uint8))[:k * k * 3 * b] for f in blobs])
        values = np.packbits(np.concatenate([np.zeros((len(blobs), 3 * k * k, 8 - b), np.uint8),
                                             bits.reshape(len(blobs), -1, b)], 2), axis=2)
        small = torch.from_numpy(values.reshape(len(blobs), 3, k, k)).float() / (2 ** b - 1)
        return F.interpolate(small, size=(size, size), mode="bilinear", align_corners=False)
    return encode, decode


# What the scene-graph reference codes, per object: a choice among values, or a number on a Grid:
# [lo, hi) in 2^bits steps, drawn again at each step's middle (a turn: wrapped into [lo, hi) first).
# The count comes first.
Grid = namedtuple("Grid", "lo hi bits wraps", defaults=(False,))
SCENES_GRAPH = {"count": (0, 3), "shape": scenes.SHAPES, "color": list(scenes.COLORS),
                "size": list(scenes.SIZES), "x": Grid(0, 64, 4), "y": Grid(0, 64, 4)}   # 4 pixels
GROUND = Grid(-clevr.EXTENT, clevr.EXTENT, 5)    # 0.19 world units a step: under half of MARGIN
CLEVR_GRAPH = {"count": (3, 3), "shape": clevr.SHAPES, "color": clevr.COLORS,
               "material": clevr.MATERIALS, "size": clevr.SIZES, "x": GROUND, "y": GROUND,
               "angle": Grid(0, math.pi / 2, 3, wraps=True)}   # a cube turned a quarter: the same


def scene_graph(graphs, fields=SCENES_GRAPH, draw=None):
    """The scene itself, coded compactly and drawn again: the number of objects (its lowest value
    and bits in fields["count"]), then each object's fields (SCENES_GRAPH: 2 bits of shape, 3 of
    colour, 1 of size and 4 + 4 of position). draw(graph) -> (H, W, 3) uint8, scenes.py's by
    default."""
    draw = draw or (lambda g: scenes.render({"background": (230, 230, 230), **g}))
    low, count_bits = fields["count"]
    attrs = {k: v for k, v in fields.items() if k != "count"}

    def width(spec):                               # bits of one field
        return spec.bits if isinstance(spec, Grid) else (len(spec) - 1).bit_length()

    def field(spec, value):                        # -> (the field's value, its bits)
        if not isinstance(spec, Grid):
            return list(spec).index(value), width(spec)
        lo, hi, n, wraps = spec
        value = lo + (value - lo) % (hi - lo) if wraps else value
        return min(max(int((value - lo) / (hi - lo) * 2 ** n), 0), 2 ** n - 1), n

    def encode(x, idx):
        blobs = []
        for g in (graphs[i] for i in idx.tolist()):
            values = [(len(g["objects"]) - low, count_bits)]
            values += [field(spec, o[k]) for o in g["objects"] for k, spec in attrs.items()]
            bits = [int(c) for v, n in values for c in format(v, f"0{n}b")]
            blobs.append(arithmetic.pack_bits(bits))
        return blobs

    def decode(blobs):
        out = []
        for f in blobs:
            bits = "".join(map(str, arithmetic.unpack_bits(f)))
            at = 0

            def take(n):
                nonlocal at
                at += n
                return int(bits[at - n:at], 2)
            objects = [{} for _ in range(take(count_bits) + low)]
            for o in objects:
                for k, spec in attrs.items():
                    v = take(width(spec))
                    if isinstance(spec, Grid):
                        o[k] = spec.lo + (v + 0.5) * (spec.hi - spec.lo) / 2 ** spec.bits
                    else:
                        o[k] = list(spec)[v]
            out.append(draw({"objects": objects}))
        return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float() / 255
    return encode, decode


def methods(name, test):
    """[(label, make)] for the baselines on `name`'s test split; make() -> a method. Photos get
    the thumbnails near our photo codecs' bits and AVIF; scenes the scene graph itself."""
    if name == "photos":
        thumbs, jpeg, webp = ((2, 5), (3, 4), (4, 4), (4, 5), (6, 4), (8, 4)), (1,), (0, 10)
    else:
        thumbs, jpeg, webp = ((2, 5), (3, 4), (4, 5), (8, 4)), (1, 10, 50), (0, 10, 50)
    size = test.images(torch.arange(1)).shape[-1]    # 64, or CLEVR's 128
    rows = [(f"thumbnail {k}×{k}, {b} bit", lambda k=k, b=b: thumbnail(k, b, size))
            for k, b in thumbs]
    rows += [(f"JPEG q{q}", lambda q=q: pillow("JPEG", q)) for q in jpeg]
    rows += [(f"WebP q{q}", lambda q=q: pillow("WEBP", q)) for q in webp]
    if name == "photos" and has_avif():
        rows.append(("AVIF q0", lambda: pillow("AVIF", 0)))
    if name == "scenes":
        rows.append(("scene graph (reference)", lambda: scene_graph(test.scenes)))
    if name == "clevr":
        redraw = lambda g: clevr.draw(g)[0]           # noqa: E731
        graphs = lambda: scene_graph(test.scenes, CLEVR_GRAPH, redraw)   # noqa: E731
        rows.append(("scene graph (reference)", graphs))
    return rows
