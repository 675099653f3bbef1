"""The benchmark's figures: the rows of protocol.py, and the decodes, as PNGs a person can check.

    plot(name, rows, path)          # one dataset's bits (log) against held-out retention
    samples(name, codecs)           # originals over each method's decodes, file bits under each
    misnamed(rows, codecs)          # easy-VQA decodes whose shape the namer names wrong
    photo_sheet(codecs)             # whole held-out photos in their own shapes, at 64 and 256 px
    crop_sheet(photos, methods, points)  # photos at their own size: crops of each method's decode
"""
import math

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from .. import data as datasets
from .. import files, vqa
from ..vqa import namer
from . import baselines
from .protocol import SEARCH


COLOURS = {"ours": (200, 30, 30), "thumbnail": (90, 90, 90), "JPEG": (30, 90, 200),
           "WebP": (30, 150, 60), "scene graph": (150, 60, 170), "ours, ablated": (230, 140, 20)}


def plot(name, rows, path, width=480, height=360):
    """One dataset's bits per image (log x) against held-out retention, drawn with Pillow; the
    command line sets the datasets' plots side by side (cli/evaluate.py)."""
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    lo, hi = math.log10(16), math.log10(20000)
    left, right, top, bottom = 50, width - 15, 30, height - 40
    sx = lambda b: left + (math.log10(max(b, 16)) - lo) / (hi - lo) * (right - left)
    sy = lambda a: bottom - a * (bottom - top)
    draw.rectangle([left, top, right, bottom], outline="black")
    draw.text((left, 8), f"{name}: held-out retention vs bits per image (log)", fill="black")
    for b in (16, 64, 256, 1024, 4096, 16384):
        draw.line([sx(b), bottom, sx(b), bottom + 4], fill="black")
        draw.text((sx(b) - 10, bottom + 8), str(b), fill="black")
    for a in (0, 0.25, 0.5, 0.75, 1.0):
        draw.line([left - 4, sy(a), left, sy(a)], fill="black")
        draw.text((15, sy(a) - 6), f"{a:.2f}", fill="black")
    curves = {}                                                      # method -> [(bits, accuracy)]
    for label, r in rows:
        acc = r.held_out["overall"]
        if label.startswith(("original", "question")):
            draw.line([left, sy(acc), right, sy(acc)], fill=(160, 160, 160))
            draw.text((left + 4, sy(acc) - 12), label, fill=(100, 100, 100))
            continue
        ablated = "-no-" in label
        key = "ours, ablated" if ablated else next(k for k in COLOURS if label.startswith(k))
        curves.setdefault(key, []).append((r.bits, acc))
    for key, points in curves.items():
        points.sort()
        if key not in ("ours, ablated", "scene graph") and len(points) > 1:
            draw.line([(sx(b), sy(a)) for b, a in points], fill=COLOURS[key], width=2)
        for b, a in points:
            draw.ellipse([sx(b) - 3, sy(a) - 3, sx(b) + 3, sy(a) + 3], fill=COLOURS[key])
    for i, (key, c) in enumerate(COLOURS.items()):
        draw.text((right - 85, bottom - 14 * (i + 1)), key, fill=c)
    img.save(path)


def sheet(title, rows, cell, left):
    """A picture of labelled rows of tiles, a caption under each.
    rows: [(label, [PIL images], [caption per tile] or None)]; a number is a file's bits."""
    heights = [max(t.height for t in tiles) + 16 for _, tiles, _ in rows]
    width = left + max(len(t) for _, t, _ in rows) * cell
    img = Image.new("RGB", (width, 20 + sum(heights)), "white")
    draw = ImageDraw.Draw(img)
    draw.text((4, 4), title, fill="black")
    y = 20
    for (label, tiles, bits), h in zip(rows, heights):
        draw.text((4, y + 20), label, fill="black")
        for c, tile in enumerate(tiles):
            img.paste(tile, (left + c * cell, y))
            if bits:
                caption = f"{bits[c]} bits" if isinstance(bits[c], int) else bits[c]
                draw.text((left + c * cell, y + tile.height + 1), caption, fill="black")
        y += h
    return img


def tiles(x):
    """(B, 3, H, W) in [0, 1] -> PIL images, each framed in grey."""
    out = []
    for xi in x:
        img = files.to_image(xi)
        frame = [0, 0, img.width - 1, img.height - 1]
        ImageDraw.Draw(img).rectangle(frame, outline=(190, 190, 190))
        out.append(img)
    return out


def samples(name, codecs, count=8):
    """Originals over decodes from each method at comparable bits, the file bits under each. Under a
    map codec's decodes, its importance map: the share of each cell's bits it sends (white: all)."""
    x = datasets.load(name, "test").images(torch.arange(count))
    rows = [("original", tiles(x), None)]
    for label, codec in codecs.items():
        blobs = codec.encode(x)
        x_hat = codec.decode([codec.parse(b)[0] for b in blobs])
        rows.append((label, tiles(x_hat), [8 * len(b) for b in blobs]))
        if codec.model.code == "map":
            with torch.no_grad():
                keep = codec.model.split(x, stochastic=False)[1]       # (count, 16 cells, levels)
            sent = (keep.sum(-1) / codec.model.levels).view(-1, 1, 4, 4)
            sent = F.interpolate(sent, size=x.shape[-1]).expand(-1, 3, -1, -1)
            rows.append(("  its importance map", tiles(sent), None))
    size = x.shape[-1]
    for label, (encode, decode) in [("thumbnail 2x2", baselines.thumbnail(2, 5, size)),
                                    ("thumbnail 4x4", baselines.thumbnail(4, 5, size)),
                                    ("WebP q0", baselines.pillow("WEBP", 0)),
                                    ("JPEG q1", baselines.pillow("JPEG", 1))]:
        blobs = encode(x)
        rows.append((label, tiles(decode(blobs)), [8 * len(b) for b in blobs]))
    return sheet(f"{name} test images", rows, size + 8, 150)     # a tile and a gap (CLEVR: 128)


def photo_sheet(codecs, count=7):
    """Whole held-out photos, in their own shapes: originals, then our decodes (of the first two
    codecs, with and without search; one file at 256 and at 64 pixels), then the baselines' (each
    from its own 64×64 square), the file bits under each."""
    originals = [files.read_image(p) for p in datasets.photo_paths("test")[:count]]
    rows = [("original", [img.resize((256, 256 * img.height // img.width) if img.width >= img.height
                                     else (256 * img.width // img.height, 256), Image.LANCZOS)
                          for img in originals], None)]
    for i, (name, codec) in enumerate(list(codecs.items())[:2]):   # at 256 (the first also at 64)
        for search in (0, SEARCH) if codec.model.can_search else (0,):
            blobs = codec.compress(originals, search)
            for size in (256, 64) if i == 0 and search else (256,):
                label = f"{name}\n{f'search {search}, ' if search else ''}at {size} pixels"
                rows.append((label, codec.decompress(blobs, size), [8 * len(b) for b in blobs]))
    squares = [files.square(img) for img in originals]
    x, shapes = torch.stack([s for s, _ in squares]), [shape for _, shape in squares]
    for label, (encode, decode) in [("thumbnail 4×4, 5 bit", baselines.thumbnail(4, 5)),
                                    ("WebP q0", baselines.pillow("WEBP", 0))]:
        blobs = encode(x)
        decodes = [files.to_image(files.crop_to_shape(xi, shape))
                   for xi, shape in zip(decode(blobs), shapes)]
        rows.append((f"{label}\nat 64 pixels", decodes, [8 * len(b) for b in blobs]))
    title = "held-out photos (scikit-image's): originals, and decodes in the photo's own shape"
    return sheet(title, rows, 260, 130)


def crop_sheet(photos, methods, points, target=None, count=4, side=160):
    """The centre side × side pixels of the first `count` photos, at their own scale: the
    originals, then each method at its setting nearest in bpp to `target` (by default our middle
    point's; 0.1 bpp without ours)."""
    ours = sorted(p.bpp for p in points if p.method.startswith("ours"))
    target = target or (ours[len(ours) // 2] if ours else 0.1)
    chosen = {}
    for p in points:                                   # each method's setting nearest the target
        best = chosen.get(p.method)
        if best is None or abs(math.log(p.bpp / target)) < abs(math.log(best.bpp / target)):
            chosen[p.method] = p
    crop = lambda x: x[..., (x.shape[2] - side) // 2:, (x.shape[3] - side) // 2:][..., :side, :side]
    xs = [photos.image(i) for i in range(min(count, len(photos)))]
    rows = [("original", tiles(torch.cat([crop(x) for x in xs])), None)]
    for method, setting, encode, decode in methods:
        p = chosen[method]
        if p.setting != setting:
            continue
        blobs = [encode(x) for x in xs]
        decodes = torch.cat([crop(decode(b)) for b in blobs])
        bpp = [f"{8 * len(b) / (x.shape[2] * x.shape[3]):.3f} bpp" for b, x in zip(blobs, xs)]
        rows.append((f"{method}\n{setting}", tiles(decodes), bpp))
    title = f"held-out photos at their own size: centre crops, each method near {target:.3f} bpp"
    return sheet(title, rows, side + 8, 170)


def misnamed(rows, codecs, count=8):
    """The decodes whose shape the namer names wrong, per codec, beside their originals: the
    evidence a person can check. None if no codec had any."""
    test = datasets.load("easyvqa", "test")
    true_shapes, judge = namer.labels_of(test)[0], vqa.load_panel("easyvqa")[0]["namer"]
    out = []
    for label, r in rows:
        codec = codecs.get(label.removeprefix("ours, "))
        if codec is None or not r.misnamed:
            continue
        idx = torch.tensor(r.misnamed[:count])
        x_hat = codec.decode([codec.parse(b)[0] for b in codec.encode(test.images(idx))])
        with torch.no_grad():
            named = judge.heads(x_hat)[0].argmax(1).tolist()
        out.append((f"{label}:\noriginals", tiles(test.images(idx)), None))
        captions = [f"{namer.SHAPES[true_shapes[i]][:4]}→{namer.SHAPES[n][:4]}"
                    for i, n in zip(idx.tolist(), named)]
        out.append((f"  {len(r.misnamed)} misnamed", tiles(x_hat), captions))
    title = "easy-VQA decodes whose shape the namer names wrong, under their originals"
    return sheet(title, out, 72, 150) if out else None
