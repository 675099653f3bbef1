"""The benchmark's report: the rows of protocol.py as markdown tables and pictures.

    text = markdown(results, argv)  # {dataset: (rows, families)} -> the text of benchmark.md
    plot(name, rows, path)          # one dataset's bits (log) against held-out retention
    samples(name, codecs)           # originals over each method's decodes, file bits under each
    photo_sheet(codecs)             # whole held-out photos in their own shapes, at 64 and 256 px
    crop_sheet(photos, methods, points)  # photos at their own size: crops of each method's decode
"""
import math
import platform

import numpy as np
import PIL
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from .. import data as datasets
from .. import files, vqa
from ..vqa import namer
from . import baselines, fullres
from .protocol import SEARCH


def number(v, fmt):
    return "—" if math.isnan(v) else "∞" if math.isinf(v) else format(v, fmt)


def speed(v):                                 # images/s: whole numbers, or two digits under 10
    return number(v, ".0f" if math.isnan(v) or v >= 10 else ".2g")


def table(header, lines):
    """A markdown table: a header row, its rule, and the rows (each a list of cells)."""
    row = lambda cells: "| " + " | ".join(cells) + " |"
    return [row(header), "|---" * len(header) + "|"] + [row(cells) for cells in lines]


def quality(r):
    return [number(r.psnr, ".2f"), number(r.ssim, ".3f"), number(r.fd, ".2f"),
            speed(r.encode_per_s), speed(r.decode_per_s)]


def photo_tables(rows):
    header = ["method", "bits / image", "PSNR dB", "SSIM", "FD", "encode img/s", "decode img/s"]
    return ["### photos", "", "The held-out photos: 70 squares of 64×64 from scikit-image's 14 "
            "photos (each one's centre square and four corner squares of half its short side). No "
            "questions: FD uses the scenes attention judge's CNN, which never saw a photo.", "",
            *table(header, [[label, f"{r.bits:.0f}", *quality(r)] for label, r in rows]), ""]


def vqa_tables(name, rows, families):
    held_out, pct = vqa.PANEL[name], lambda v: f"{100 * v:.1f}%"
    header = ["method", "bits / image", "**held out**", *held_out, "all right", "*attention*",
              "PSNR dB", "SSIM", "FD", "encode img/s", "decode img/s"]
    overall = lambda r, j: pct(r.retention[j]["overall"]) if j in r.retention else "—"
    lines = [f"### {name}", "", *table(header, [
        [label, f"{r.bits:.0f}", f"**{pct(r.held_out['overall'])}**",
         *(overall(r, j) for j in held_out), pct(r.all_right), f"*{overall(r, 'attention')}*",
         *quality(r)]
        for label, r in rows])]
    lines += ["", f"Held-out retention per question family ({name}; the lowest among "
              f"{', '.join(held_out)}), and each judge's accuracy on the originals:", ""]
    by_family = [[label, *(pct(r.held_out[f]) for f in families)] for label, r in rows]
    by_family += [[f"accuracy of {j} on originals", *(pct(acc[f]) for f in families)]
                  for j, acc in rows[0][1].acc.items()]
    lines += table(["method", *families], by_family)
    return lines + scenes_tables(name, rows) + shape_table(name, rows) + [""]


def scenes_tables(name, rows):
    """On scenes and CLEVR: bits by the number of objects, and what the detector reads wrong."""
    if rows[0][1].bits_by_objects is None:
        return []
    counts = sorted(rows[0][1].bits_by_objects)
    coded = [(label, r) for label, r in rows if not label.startswith(("original", "question"))]
    lines = ["", f"Mean bits per file by the number of objects in the scene ({name}):", ""]
    lines += table(["method", *(f"{k} object{'s' * (k > 1)}" for k in counts)],
                   [[label, *(f"{r.bits_by_objects[k]:.0f}" for k in counts)]
                    for label, r in coded])
    lines += ["", f"Objects the symbolic judge's detector reads wrong ({name}), per 100 objects of "
              "the scenes (metrics.misread). One object missed, added or misread can leave every "
              "question that names it, or that needs a unique reference, without an answer:", ""]
    kinds = [k for k in rows[0][1].misread if k not in ("objects", "offset")]   # missed, extra, …
    return lines + table(["method", *kinds, "mean offset, px"], [
        [label, *(f"{100 * m[k] / m['objects']:.1f}" for k in kinds),
         f"{m['offset'] / max(1, m['objects'] - m['missed']):.2f}"]
        for label, m in ((label, r.misread) for label, r in rows if r.misread is not None)])


def shape_table(name, rows):
    """On easy-VQA: the shapes the namer names in each method's decodes, against the true ones."""
    if rows[0][1].shapes is None:
        return []
    pairs = [(t, n) for t in range(3) for n in range(3) if t != n]
    lines = ["", f"Shapes the namer names in the decodes ({name}): the share named right, and how "
             "many images of each true shape it names as another (true → named), of the images "
             "whose questions tell their shape:", ""]
    shapes = namer.SHAPES
    header = ["method", "named right", *(f"{shapes[t]} → {shapes[n]}" for t, n in pairs)]
    return lines + table(header, [
        [label, f"{100 * sum(r.shapes[(t, t)] for t in range(3)) / sum(r.shapes.values()):.1f}%",
         *(str(r.shapes[pair]) for pair in pairs)]
        for label, r in rows if r.shapes is not None and sum(r.shapes.values())])


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


def markdown(results, argv):
    lines = [f"Machine: {platform.machine()}, {platform.system()}, {torch.get_num_threads()} "
             f"threads; Python {platform.python_version()}, torch {torch.__version__}, "
             f"Pillow {PIL.__version__}, numpy {np.__version__}.",
             f"Command: `{' '.join(['fewbits evaluate'] + argv)}`.",
             "Retention = a judge's accuracy on the decodes ÷ its accuracy on the originals. "
             "**Held out** is the lowest retention among the judges of families no codec trains "
             "against (vqa/judges.py); *all right* is the share of questions that every one of "
             "them answers right; *attention* is the loss model's family with another seed, shown "
             "for comparison only.", ""]
    for name, (rows, families) in results.items():
        if name == "photos-full":
            lines += fullres_tables(rows, families)           # families: here the large photos
            continue
        lines += photo_tables(rows) if name == "photos" else vqa_tables(name, rows, families)
    return "\n".join(lines)


def merged(new, old):
    """The text of benchmark.md after a run that measured some of the datasets: the new report's
    header and sections ("### " headings), with each of the old report's sections that it did not
    measure kept as it was, in the old order, and named in the header. Only whole test-split
    reports are merged (no --limit or --split val in either command); else the new one stands."""
    def parts(text):
        head, *sections = text.split("\n### ")
        return head, {s.split("\n", 1)[0]: "### " + s for s in sections}

    def whole(text):
        command = next((line for line in text.splitlines() if line.startswith("Command: ")), "")
        command = command.replace("=", " ")                                # --split=val too
        return command and "--limit" not in command and "--split val" not in command
    if not (old and whole(old) and whole(new)):
        return new
    (head, sections), (_, before) = parts(new), parts(old)
    kept = [name for name in before if name not in sections]
    if not kept:
        return new
    note = f"Kept from the report this one replaced, not measured again: {', '.join(kept)}."
    order = [*before, *(name for name in sections if name not in before)]
    body = [(sections.get(name) or before[name]).rstrip("\n") + "\n" for name in order]
    return "\n".join([head.rstrip("\n"), note, "", *body])


def fullres_tables(points, large):
    return ["### photos at their own size", "", "The held-out photos, each coded whole at its own "
            "resolution; bpp from the files, header included; means over the photos. FD: 64×64 "
            "patches of the decodes against the originals', in the features of the scenes "
            "attention judge's CNN. Plot: rate_distortion.png; crops near our middle rate: "
            "photo_crops.png, and near our lowest: photo_crops_low.png.", "",
            fullres.rd_table(points), "",
            "Each point of ours against the classical codecs at its bpp (MS-SSIM dB and PSNR "
            "interpolated on their curves in log bpp; — where a curve doesn't reach).", "",
            *fullres.comparison(points), "",
            f"One photo of {fullres.LARGE_MEGAPIXELS:g} megapixels (3:2, smooth), coded in a fresh "
            "process: its time each way, and the process's peak memory (Python, torch and the "
            "model included).", "",
            *table(["codec", "encode s", "decode s", "peak memory MB"],
                   [[name, f"{enc:.1f}", f"{dec:.1f}", f"{mb:.0f}"]
                    for name, (enc, dec, mb) in large.items()]), ""]


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
    """The centre side × side pixels of the first `count` photos, at their own scale: the originals,
    then each method at its setting nearest in bpp to `target` (by default our middle point's;
    0.1 bpp without ours)."""
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
