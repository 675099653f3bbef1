"""The baselines every codec is measured against, each a method: images into files and back.

    encode, decode = thumbnail(4, 5)                 # 4×4 pixels, 5 bits per channel: 240 bits
    encode, decode = pillow("WEBP", 0)               # Pillow's WebP (or JPEG, AVIF) at quality 0
    encode, decode = scene_graph(test.scenes)        # scenes: the scene itself, coded compactly
    methods("scenes", test)                          # [(label, make)]: the rows of a table
    blobs = encode(x)                                # x (B, 3, 64, 64) in [0, 1] -> B files (bytes)
    x_hat = decode(blobs)                            # -> (B, 3, 64, 64)

bench/protocol.py says what a method is; its bits are the length of these files, never an estimate.
"""
import io

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, features

from .. import files
from ..coding import arithmetic
from ..data import scenes

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


def thumbnail(k, b):
    """Average to k×k, keep b bits per channel, pack them: k·k·3·b bits (rounded up to a byte)."""
    def encode(x, idx=None):
        levels = (F.interpolate(x, size=(k, k), mode="area") * (2 ** b - 1)).round().byte().numpy()
        fields = np.unpackbits(levels.reshape(len(x), -1, 1), axis=2)[:, :, 8 - b:]   # b bits each
        return [np.packbits(f.ravel()).tobytes() for f in fields]

    def decode(blobs):
        bits = np.stack([np.unpackbits(np.frombuffer(f, np.uint8))[:k * k * 3 * b] for f in blobs])
        values = np.packbits(np.concatenate([np.zeros((len(blobs), 3 * k * k, 8 - b), np.uint8),
                                             bits.reshape(len(blobs), -1, b)], 2), axis=2)
        small = torch.from_numpy(values.reshape(len(blobs), 3, k, k)).float() / (2 ** b - 1)
        return F.interpolate(small, size=(64, 64), mode="bilinear", align_corners=False)
    return encode, decode


def scene_graph(graphs):
    """The scene itself, coded compactly and drawn again: 3 bits for the number of objects, then per
    object 2 bits of shape, 3 of colour, 1 of size and 4 + 4 of position (a 4-pixel grid)."""
    shapes, colors, sizes = list(scenes.SHAPES), list(scenes.COLORS), list(scenes.SIZES)

    def encode(x, idx):
        blobs = []
        for g in (graphs[i] for i in idx.tolist()):
            fields = [(len(g["objects"]), 3)]
            for o in g["objects"]:
                fields += [(shapes.index(o["shape"]), 2), (colors.index(o["color"]), 3),
                           (sizes.index(o["size"]), 1),
                           (min(int(o["x"] // 4), 15), 4), (min(int(o["y"] // 4), 15), 4)]
            bits = [int(c) for v, n in fields for c in format(v, f"0{n}b")]
            blobs.append(arithmetic.pack_bits(bits))
        return blobs

    def decode(blobs):
        out = []
        for f in blobs:
            bits = "".join(map(str, arithmetic.unpack_bits(f)))
            take = lambda at, n: (int(bits[at:at + n], 2), at + n)
            count, at = take(0, 3)
            objects = []
            for _ in range(count):
                s, at = take(at, 2)
                c, at = take(at, 3)
                z, at = take(at, 1)
                gx, at = take(at, 4)
                gy, at = take(at, 4)
                objects.append({"shape": shapes[s], "color": colors[c], "size": sizes[z],
                                "x": 4 * gx + 2.0, "y": 4 * gy + 2.0})
            out.append(scenes.render({"background": (230, 230, 230), "objects": objects}))
        return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float() / 255
    return encode, decode


def methods(name, test):
    """[(label, make)] for the baselines on `name`'s test split; make() -> a method. Photos get
    the thumbnails near our photo codecs' bits and AVIF; scenes the scene graph itself."""
    if name == "photos":
        thumbs, jpeg, webp = ((2, 5), (3, 4), (4, 4), (4, 5), (6, 4), (8, 4)), (1,), (0, 10)
    else:
        thumbs, jpeg, webp = ((2, 5), (3, 4), (4, 5), (8, 4)), (1, 10, 50), (0, 10, 50)
    rows = [(f"thumbnail {k}×{k}, {b} bit", lambda k=k, b=b: thumbnail(k, b)) for k, b in thumbs]
    rows += [(f"JPEG q{q}", lambda q=q: pillow("JPEG", q)) for q in jpeg]
    rows += [(f"WebP q{q}", lambda q=q: pillow("WEBP", q)) for q in webp]
    if name == "photos" and has_avif():
        rows.append(("AVIF q0", lambda: pillow("AVIF", 0)))
    if name == "scenes":
        rows.append(("scene graph (reference)", lambda: scene_graph(test.scenes)))
    return rows
