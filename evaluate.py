"""The benchmark: bits per image against how many answers VQA judges of other families still give.

    python evaluate.py                       # shipped codecs + baselines on all three test sets -> results/
    python evaluate.py --data photos         # one of them: easyvqa, scenes or photos
    python evaluate.py --limit 100 --out /tmp/bench --codec runs/easyvqa-256/codec.pt

Every row is measured on real files: each image is written as bytes (our container with its 3-byte
header, a JPEG or WebP file from Pillow, or a packed thumbnail), the file size is counted, and the
file is decoded again. The judges (judges.py) are VQA models of families the codecs never trained
against; a codec can learn to fool the model in its loss, and a judge of that same family with
another seed shares its blind spots (its column is shown, in italics, for comparison only).

Rows: our codecs; a k×k thumbnail with b bits per channel (the honest naive baseline); JPEG and
WebP at their smallest files and a few larger ones; the scene graph itself, coded compactly and
drawn again (scenes only: what the questions can ask about, in bits); the original images (the
ceiling) and a question-only model (the floor).
Columns: bits per file; retention = a judge's accuracy on the decodes ÷ its accuracy on originals,
per judge, and the headline, the lowest among the held-out judges (also per question family); PSNR,
SSIM, a realism score FD (the Fréchet distance between the attention judge CNN's features on
originals and on decodes: 0 is indistinguishable), encode / decode images/s. On scenes, one more
table: what the symbolic judge's detector reads wrong per 100 objects (missed, extra, wrong shape,
colour or size, and how far off the centres are), the reason behind a lost answer.
The ablations easyvqa-256-no-adv and -no-vqa are codecs trained as easyvqa-256 but without the
adversarial term or without the VQA-consistency terms, for the same minutes.
Photos have no questions: their rows are bits, PSNR, SSIM and FD on scikit-image's photos, which no
codec trained on, and photos.png shows whole photos decoded in their own shape at 64 and 256 pixels.
"""
import argparse
import math
import platform
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import PIL
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

import baselines
import data as datasets
import files
import judges
import metrics
import vqa
from model import load_codec

CKPT = Path(__file__).parent / "checkpoints"
SHIPPED = {"easyvqa": ["easyvqa-64", "easyvqa-128", "easyvqa-256", "easyvqa-256-no-adv", "easyvqa-256-no-vqa"],  # -no-*: ablations
           "scenes": ["scenes-128", "scenes-map-120", "scenes-256"],
           "photos": ["photos-256", "photos-1472"]}
SEARCH = 400          # photos: also each codec with the bits 400 steps of Codec.search find (compress.py --search)


def codec_name(path):
    """checkpoints/scenes-256.pt -> scenes-256; runs/scenes-256/codec.pt -> scenes-256 (the run's folder)."""
    path = Path(path)
    return path.parent.name if path.stem == "codec" else path.stem


def benchmark(name, codec_paths, limit):
    """Every row for one dataset -> (rows: list of (method name, row), families)."""
    panel, vocab = judges.load_panel(name)
    test = datasets.load(name, "test", vocab=vocab)
    methods = [(f"ours, {codec_name(p)}", lambda p=p: metrics.codec_files(load_codec(p))) for p in codec_paths]
    methods += [(f"thumbnail {k}×{k}, {b} bit", lambda k=k, b=b: baselines.thumbnail(k, b)) for k, b in ((2, 5), (3, 4), (4, 5), (8, 4))]
    methods += [(f"JPEG q{q}", lambda q=q: baselines.pillow("JPEG", q)) for q in (1, 10, 50)]
    methods += [(f"WebP q{q}", lambda q=q: baselines.pillow("WEBP", q)) for q in (0, 10, 50)]
    if name == "scenes":
        methods.append(("scene graph (reference)", lambda: baselines.scene_graph(test.scenes)))
    features = panel["attention"]     # FD from the attention judge's CNN: a feature network that knows these images

    def run(method):                  # measure(); on scenes also what the symbolic judge's detector reads wrong
        misread, scenes = Counter(), name == "scenes"
        detect = lambda idx, x_hat: misread.update(metrics.misread(panel["symbolic"].detect(x_hat), [test.scenes[i] for i in idx.tolist()]))
        row = metrics.measure(method, panel, test, limit, features=features, each=detect if scenes else None)
        return {**row, "misread": misread} if scenes else row
    rows = [("original (ceiling)", run(metrics.originals()))]
    rows[0][1].update(psnr=float("inf"), ssim=1.0, encode_per_s=float("nan"), decode_per_s=float("nan"))
    for label, make in methods:
        rows.append((label, run(make())))
        print(f"  {name}: {label}: {rows[-1][1]['bits']:.0f} bits", flush=True)
    blind = vqa.Blind(len(test.vocab), len(test.answer_names))
    vqa.train(blind, datasets.load(name, "train", vocab=vocab), 1, desc="question only")
    floor = metrics.measure(metrics.originals(), {"question only": blind}, test, limit)
    floor.update(acc={judge: floor["acc"]["question only"] for judge in panel},   # the same answers for every column
                 psnr=float("nan"), ssim=float("nan"), encode_per_s=float("nan"), decode_per_s=float("nan"))
    rows.append(("question only (floor)", floor))
    for _, row in rows:
        row["retention"] = {judge: metrics.retention(row["acc"][judge], rows[0][1]["acc"][judge]) for judge in panel}
        row["held_out"] = metrics.lowest(row["retention"], judges.PANEL[name])
    if name == "scenes":                             # what a scene costs, by how much is in it
        objects = torch.tensor([len(s["objects"]) for s in test.scenes])[:len(rows[0][1]["bits_each"])]
        for _, row in rows:
            bits = torch.tensor(row["bits_each"], dtype=torch.float64)
            row["bits_by_objects"] = {int(k): bits[objects == k].mean().item() for k in objects.unique()}
    return rows, test.families


# ---- photos: no questions, so bits against PSNR, SSIM and realism ---------------------------------

def photo_benchmark(codec_paths, limit):
    """Every row for the held-out photos (scikit-image's, data.py): 70 fixed 64×64 squares of 14 photos.
    FD uses the CNN of the scenes attention judge: it was never trained on photos, so it is a feature
    network that no codec saw, not one that knows photos as Inception would."""
    test = datasets.load("photos", "test")
    features = judges.load_panel("scenes")[0]["attention"]
    methods = [(f"ours, {codec_name(p)}", lambda p=p: metrics.codec_files(load_codec(p))) for p in codec_paths]
    methods += [(f"ours, {codec_name(p)}, search {SEARCH}", lambda p=p: metrics.codec_files(load_codec(p), SEARCH))
                for p in codec_paths if load_codec(p).can_search]
    methods += [(f"thumbnail {k}×{k}, {b} bit", lambda k=k, b=b: baselines.thumbnail(k, b))
                for k, b in ((2, 5), (3, 4), (4, 4), (4, 5), (6, 4), (8, 4))]
    methods += [("JPEG q1", lambda: baselines.pillow("JPEG", 1))]
    methods += [(f"WebP q{q}", lambda q=q: baselines.pillow("WEBP", q)) for q in (0, 10)]
    methods += [("AVIF q0", lambda: baselines.pillow("AVIF", 0))] if baselines.has_avif() else []
    rows = [("original (ceiling)", metrics.measure(metrics.originals(), {}, test, limit, features=features))]
    rows[0][1].update(psnr=float("inf"), ssim=1.0, encode_per_s=float("nan"), decode_per_s=float("nan"))
    for label, make in methods:
        rows.append((label, metrics.measure(make(), {}, test, limit, features=features)))
        print(f"  photos: {label}: {rows[-1][1]['bits']:.0f} bits", flush=True)
    return rows, []


def photo_sheet(codec_paths, count=7, cell=260):
    """Whole held-out photos, in their own shapes: originals, then our decodes (of the first two
    codecs, with and without search; one file at 256 and at 64 pixels), then the baselines' (each
    from its own 64×64 square), the file bits under each."""
    x, shapes, originals = [], [], []
    for path in datasets.photo_paths("test")[:count]:
        square, shape = files.load_square(path)
        x.append(square)
        shapes.append(shape)
        originals.append(files.read_image(path))
    x = torch.stack(x)
    rows = [("original", [img.resize((256, 256 * img.height // img.width) if img.width >= img.height
                                     else (256 * img.width // img.height, 256), Image.LANCZOS) for img in originals], None)]
    for i, path in enumerate(codec_paths[:2]):       # each file decoded at 256 (the first also at 64)
        codec = load_codec(path)
        for search in (0, SEARCH) if codec.can_search else (0,):
            strings = codec.compress(x, search)["strings"]
            blobs = [files.write_container(s, codec.fingerprint(), shape) for s, shape in zip(strings, shapes)]
            for size in (256, 64) if i == 0 and search else (256,):
                x_hat = codec.decompress([files.read_container(b, codec.fingerprint()) for b in blobs], size)["x_hat"]
                label = f"{codec_name(path)}\n{f'search {search}, ' if search else ''}at {size} pixels"
                rows.append((label, [files.to_image(files.crop_to_shape(xi, s)) for xi, s in zip(x_hat, shapes)],
                             [8 * len(b) for b in blobs]))
    for label, (encode, decode) in [("thumbnail 4×4, 5 bit", baselines.thumbnail(4, 5)), ("WebP q0", baselines.pillow("WEBP", 0))]:
        blobs = encode(x)
        rows.append((f"{label}\nat 64 pixels", [files.to_image(files.crop_to_shape(xi, s)) for xi, s in zip(decode(blobs), shapes)],
                     [8 * len(b) for b in blobs]))
    img = Image.new("RGB", (130 + count * cell, 20 + sum(max(t.height for t in tiles) + 16 for _, tiles, _ in rows)), "white")
    draw = ImageDraw.Draw(img)
    draw.text((4, 4), "held-out photos (scikit-image's): originals, and decodes in the photo's own shape", fill="black")
    y = 20
    for label, tiles, bits in rows:
        draw.text((4, y + 20), label, fill="black")
        for c, tile in enumerate(tiles):
            img.paste(tile, (130 + c * cell, y))
            if bits:
                draw.text((130 + c * cell, y + tile.height + 1), f"{bits[c]} bits", fill="black")
        y += max(t.height for t in tiles) + 16
    return img


# ---- the report: markdown and pictures ------------------------------------------------------------

def number(v, fmt):
    return "—" if math.isnan(v) else "∞" if math.isinf(v) else format(v, fmt)


def speed(v):                                        # images/s: whole numbers, or two digits under 10
    return number(v, ".0f" if math.isnan(v) or v >= 10 else ".2g")


def markdown(results, argv):
    lines = [f"Machine: {platform.machine()}, {platform.system()}, {torch.get_num_threads()} threads; Python "
             f"{platform.python_version()}, torch {torch.__version__}, Pillow {PIL.__version__}, numpy {np.__version__}.",
             f"Command: `{' '.join(['python evaluate.py'] + argv)}`.",
             "Retention = a judge's accuracy on the decodes ÷ its accuracy on the originals. **Held out** is the "
             "lowest retention among the judges of families no codec trains against (judges.py); *attention* is "
             "the loss model's family with another seed, shown for comparison only.", ""]
    for name, (rows, families) in results.items():
        if name == "photos":
            lines += ["### photos", "", "The held-out photos: 70 squares of 64×64 from scikit-image's 14 photos "
                      "(each one's centre square and four corner squares of half its short side). No questions: "
                      "FD uses the scenes attention judge's CNN, which never saw a photo.", "",
                      "| method | bits / image | PSNR dB | SSIM | FD | encode img/s | decode img/s |", "|---" * 7 + "|"]
            lines += [f"| {label} | {r['bits']:.0f} | {number(r['psnr'], '.2f')} | {number(r['ssim'], '.3f')} | "
                      f"{number(r['fd'], '.2f')} | {speed(r['encode_per_s'])} | {speed(r['decode_per_s'])} |"
                      for label, r in rows]
            lines.append("")
            continue
        held_out = judges.PANEL[name]
        lines += [f"### {name}", "", "| method | bits / image | **held out** | " + " | ".join(held_out)
                  + " | *attention* | PSNR dB | SSIM | FD | encode img/s | decode img/s |", "|---" * (9 + len(held_out)) + "|"]
        for label, r in rows:
            lines.append(f"| {label} | {r['bits']:.0f} | **{100 * r['held_out']['overall']:.1f}%** | "
                         + " | ".join(f"{100 * r['retention'][j]['overall']:.1f}%" for j in held_out)
                         + f" | *{100 * r['retention']['attention']['overall']:.1f}%*"
                         + f" | {number(r['psnr'], '.2f')} | {number(r['ssim'], '.3f')} | {number(r['fd'], '.2f')}"
                         + f" | {speed(r['encode_per_s'])} | {speed(r['decode_per_s'])} |")
        lines += ["", f"Held-out retention per question family ({name}; the lowest among {', '.join(held_out)}), "
                  "and each judge's accuracy on the originals:", "",
                  "| method | " + " | ".join(families) + " |", "|---" * (1 + len(families)) + "|"]
        lines += [f"| {label} | " + " | ".join(f"{100 * r['held_out'][f]:.1f}%" for f in families) + " |" for label, r in rows]
        lines += [f"| accuracy of {j} on originals | " + " | ".join(f"{100 * rows[0][1]['acc'][j][f]:.1f}%" for f in families)
                  + " |" for j in rows[0][1]["acc"]]
        if "bits_by_objects" in rows[0][1]:
            counts = sorted(rows[0][1]["bits_by_objects"])
            lines += ["", f"Mean bits per file by the number of objects in the scene ({name}):", "",
                      "| method | " + " | ".join(f"{k} object{'s' * (k > 1)}" for k in counts) + " |", "|---" * (1 + len(counts)) + "|"]
            lines += [f"| {label} | " + " | ".join(f"{r['bits_by_objects'][k]:.0f}" for k in counts) + " |"
                      for label, r in rows if not label.startswith(("original", "question"))]
        if "misread" in rows[0][1]:
            lines += ["", f"Objects the symbolic judge's detector reads wrong ({name}), per 100 objects of the scenes "
                      "(metrics.misread). One object missed, added or misread can leave every question that names "
                      "it, or that needs a unique reference, without an answer:", "",
                      "| method | missed | extra | shape | color | size | mean offset, px |", "|---" * 7 + "|"]
            for label, m in ((label, r["misread"]) for label, r in rows if "misread" in r):
                rates = " | ".join(f"{100 * m[k] / m['objects']:.1f}" for k in ("missed", "extra", "shape", "color", "size"))
                lines.append(f"| {label} | {rates} | {m['offset'] / max(1, m['objects'] - m['missed']):.2f} |")
        lines.append("")
    return "\n".join(lines)


def plot(results, path, width=480, height=360):
    """Bits per image (log x) against held-out retention, one panel per dataset, drawn with Pillow."""
    img = Image.new("RGB", (width * len(results), height), "white")
    draw = ImageDraw.Draw(img)
    colours = {"ours": (200, 30, 30), "thumbnail": (90, 90, 90), "JPEG": (30, 90, 200), "WebP": (30, 150, 60),
               "scene graph": (150, 60, 170), "ours, ablated": (230, 140, 20)}
    lo, hi = math.log10(16), math.log10(20000)
    for p, (name, (rows, _)) in enumerate(results.items()):
        ox, left, right, top, bottom = p * width, p * width + 50, p * width + width - 15, 30, height - 40
        sx = lambda b: left + (math.log10(max(b, 16)) - lo) / (hi - lo) * (right - left)
        sy = lambda a: bottom - a * (bottom - top)
        draw.rectangle([left, top, right, bottom], outline="black")
        draw.text((left, 8), f"{name}: held-out retention vs bits per image (log)", fill="black")
        for b in (16, 64, 256, 1024, 4096, 16384):
            draw.line([sx(b), bottom, sx(b), bottom + 4], fill="black")
            draw.text((sx(b) - 10, bottom + 8), str(b), fill="black")
        for a in (0, 0.25, 0.5, 0.75, 1.0):
            draw.line([left - 4, sy(a), left, sy(a)], fill="black")
            draw.text((ox + 15, sy(a) - 6), f"{a:.2f}", fill="black")
        curves = {}                                                      # method -> [(bits, accuracy)]
        for label, r in rows:
            acc = r["held_out"]["overall"]
            if label.startswith(("original", "question")):
                draw.line([left, sy(acc), right, sy(acc)], fill=(160, 160, 160))
                draw.text((left + 4, sy(acc) - 12), label, fill=(100, 100, 100))
                continue
            key = "ours, ablated" if "-no-" in label else next(k for k in colours if label.startswith(k))
            curves.setdefault(key, []).append((r["bits"], acc))
        for key, points in curves.items():
            points.sort()
            if key not in ("ours, ablated", "scene graph") and len(points) > 1:
                draw.line([(sx(b), sy(a)) for b, a in points], fill=colours[key], width=2)
            for b, a in points:
                draw.ellipse([sx(b) - 3, sy(a) - 3, sx(b) + 3, sy(a) + 3], fill=colours[key])
        for i, (key, c) in enumerate(colours.items()):
            draw.text((right - 85, bottom - 14 * (i + 1)), key, fill=c)
    img.save(path)


def samples(name, codec_paths, count=8):
    """A picture: originals over decodes from each method at comparable bits, the file bits under each.
    Under a map codec's decodes, its importance map: the share of each cell's bits it sends (white: all)."""
    test = datasets.load(name, "test")
    x = test.images(torch.arange(count))
    rows = [("original", x, None)]
    for path in codec_paths:
        codec = load_codec(path)
        encode, decode = metrics.codec_files(codec)
        blobs = encode(x)
        rows.append((codec_name(path), decode(blobs), [8 * len(b) for b in blobs]))
        if codec.levels:
            with torch.no_grad():
                keep = codec.split(x, stochastic=False)[1]                      # (count, 16 cells, levels)
            sent = (keep.sum(-1) / codec.levels).view(-1, 1, 4, 4)
            rows.append(("  its importance map", F.interpolate(sent, size=64).expand(-1, 3, -1, -1), None))
    for label, (encode, decode) in [("thumbnail 2x2", baselines.thumbnail(2, 5)), ("thumbnail 4x4", baselines.thumbnail(4, 5)),
                                    ("WebP q0", baselines.pillow("WEBP", 0)), ("JPEG q1", baselines.pillow("JPEG", 1))]:
        blobs = encode(x)
        rows.append((label, decode(blobs), [8 * len(b) for b in blobs]))
    cell = 72
    img = Image.new("RGB", (150 + count * cell, 20 + len(rows) * (cell + 12)), "white")
    draw = ImageDraw.Draw(img)
    draw.text((4, 4), f"{name} test images", fill="black")
    for r, (label, x_hat, bits) in enumerate(rows):
        y = 20 + r * (cell + 12)
        draw.text((4, y + 28), label, fill="black")
        for c in range(count):
            img.paste(files.to_image(x_hat[c]), (150 + c * cell, y + 2))
            draw.rectangle([149 + c * cell, y + 1, 214 + c * cell, y + 66], outline=(190, 190, 190))
            if bits:
                draw.text((150 + c * cell, y + 66), f"{bits[c]} bits", fill="black")
    return img


def codecs_by_data(paths):
    """{dataset: [checkpoint paths]} for the --codec paths, each checked before any work starts."""
    by_data = {}
    for path in paths:
        data = load_codec(path).trained_on
        if data not in SHIPPED:
            raise files.CheckpointError(f"{path}: trained on {data or 'unrecorded data'}; the benchmark has "
                                        f"test sets for {', '.join(SHIPPED)} only")
        by_data.setdefault(data, []).append(path)
    return by_data


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--codec", action="append", help="codec checkpoint(s) to benchmark instead of the shipped ones")
    p.add_argument("--data", action="append", choices=list(SHIPPED), help="default: all three")
    p.add_argument("--limit", type=int, default=None, help="only the first N test images, at least 1")
    p.add_argument("--out", default="results")
    args = p.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        print(f"error: --limit must be at least 1, not {args.limit}", file=sys.stderr)
        return 2
    start = time.time()
    out = Path(args.out)
    results, pictures, photos = {}, [], None
    try:
        out.mkdir(parents=True, exist_ok=True)       # fail now, not after minutes of work
    except OSError as e:
        print(f"error: {out}: can't write the report here ({e.strerror})", file=sys.stderr)
        return 2
    try:
        chosen = codecs_by_data(args.codec) if args.codec else \
            {name: [CKPT / f"{stem}.pt" for stem in stems] for name, stems in SHIPPED.items()}
        for name in args.data or list(chosen):
            if name == "photos":
                results[name] = photo_benchmark(chosen.get(name, []), args.limit)
                photos = photo_sheet(chosen.get(name, []))
            else:
                results[name] = benchmark(name, chosen.get(name, []), args.limit)
                pictures.append(samples(name, chosen.get(name, [])))
    except (datasets.DataError, files.FileError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    report = markdown(results, sys.argv[1:] if argv is None else list(argv))
    files.write_atomic(out / "benchmark.md", report.encode())
    with_questions = {name: result for name, result in results.items() if name != "photos"}
    if with_questions:
        plot(with_questions, out / "rate_accuracy.png")
    if pictures:                                     # the VQA datasets' sheets, one under the other
        sheet = Image.new("RGB", (max(p.width for p in pictures), sum(p.height for p in pictures)), "white")
        for i, p in enumerate(pictures):
            sheet.paste(p, (0, sum(q.height for q in pictures[:i])))
        sheet.save(out / "samples.png")
    if photos is not None:
        photos.save(out / "photos.png")
    print(report)
    written = ["benchmark.md"] + ["rate_accuracy.png", "samples.png"] * bool(with_questions) + ["photos.png"] * (photos is not None)
    print(f"wrote {', '.join(f'{out}/{name}' for name in written)} in {(time.time() - start) / 60:.1f} minutes")


if __name__ == "__main__":
    sys.exit(main())
