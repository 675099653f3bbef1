"""fewbits evaluate: the benchmark, bits per image against the answers held-out judges still give.

    fewbits evaluate                 # shipped codecs + baselines on their test sets -> results/
    fewbits evaluate --data photos   # one of them: easyvqa, scenes, clevr or photos
    fewbits evaluate --limit 100 --out /tmp/bench --codec runs/easyvqa-256/codec.pt
    fewbits evaluate --split val --data easyvqa --codec runs/a/codec.pt --codec runs/b/codec.pt
                                     # choosing between runs: the validation split, no pictures
    fewbits evaluate --data photos-full   # photos at their own size against JPEG … JPEG 2000

Every row is measured on real files (bench/protocol.py) and written up by bench/report.py (the
tables) and bench/figures.py (the pictures): results/benchmark.md, rate_accuracy.png and
samples.png (each stacked from a part per dataset, rate_accuracy-NAME.png and samples-NAME.png, so
that a run on one dataset keeps the others'), photos.png; for photos at their own size
(bench/fullres.py) rate_distortion.png, photo_crops.png (our middle rate) and photo_crops_low.png
(our lowest).
"""
import argparse
import itertools
import sys
import time
from pathlib import Path

from PIL import Image

from .. import data as datasets
from .. import files, zoo
from ..api import load
from ..bench import figures, fullres, protocol, report

DATASETS = ("easyvqa", "scenes", "clevr", "photos", "photos-full")


def codec_name(path):
    """A zoo name as it is; runs/scenes-256/codec.pt -> scenes-256 (its folder); a/b.pt -> b."""
    if str(path) in zoo.MODELS:
        return str(path)
    path = Path(path)
    return path.parent.name if path.stem == "codec" else path.stem


def codecs_by_data(names):
    """{dataset: {name: FileCodec}} for the codecs named (zoo names or paths), checked up front."""
    by_data = {}
    for name in names:
        codec = load(name)
        if codec.trained_on not in DATASETS:
            data = codec.trained_on or "unrecorded data"
            raise files.CheckpointError(f"{name}: trained on {data}; the benchmark has test sets "
                                        f"for {', '.join(DATASETS)} only")
        by_data.setdefault(codec.trained_on, {})[codec_name(name)] = codec
    return by_data


def run(names, only, limit, split="test"):
    """-> (results {dataset: (rows, families)}, pictures {file name: PIL image}). The pictures are
    of the test split's images, so there are none for split "val"."""
    chosen = codecs_by_data(names)
    results, pictures = {}, {}
    for name in only or [d for d in DATASETS if d in chosen]:
        codecs = chosen.get(name, {})
        if name == "photos-full":
            points, photos, methods, large = fullres.benchmark(codecs, limit, split, progress)
            results[name] = points, large
            pictures["rate_distortion.png"] = fullres.rd_plot(points)
            lowest = min((p.bpp for p in points if p.method.startswith("ours")), default=None)
            if split == "test":
                pictures["photo_crops.png"] = figures.crop_sheet(photos, methods, points)
            if split == "test" and lowest:                    # the extreme end, beside the middle
                low = figures.crop_sheet(photos, methods, points, lowest)
                pictures["photo_crops_low.png"] = low
            continue
        if name == "photos":
            results[name] = protocol.photo_benchmark(codecs, limit, split), []
            pictures["photos.png"] = figures.photo_sheet(codecs)
            continue
        results[name] = protocol.benchmark(name, codecs, limit, split)
        if split != "test":
            continue
        pictures[f"samples-{name}.png"] = figures.samples(name, codecs)
        evidence = figures.misnamed(results[name][0], codecs) if name == "easyvqa" else None
        if evidence is not None:
            pictures["misnamed.png"] = evidence
    return results, pictures


def stacked(out, picture, across=False):
    """`picture`.png from each dataset's picture-NAME.png in `out`, one under another (or beside),
    so that a run on some datasets keeps the others' parts, as the report keeps their sections."""
    paths = [out / f"{picture}-{d}.png" for d in DATASETS]
    parts = [Image.open(path) for path in paths if path.is_file()]
    edges = [0] + list(itertools.accumulate(p.width if across else p.height for p in parts))
    tallest, widest = max(p.height for p in parts), max(p.width for p in parts)
    sheet = Image.new("RGB", (edges[-1], tallest) if across else (widest, edges[-1]), "white")
    for edge, p in zip(edges, parts):
        sheet.paste(p, (edge, 0) if across else (0, edge))
    return sheet


def progress(point):
    print(f"  {point.method}, {point.setting}: {point.bpp:.4f} bpp, PSNR {point.psnr:.2f} dB, "
          f"MS-SSIM {point.ms_ssim:.4f}, FD {point.fd:.2f}", file=sys.stderr)


def write(out, results, pictures, argv):
    """The report and its pictures under `out` -> the names written."""
    path = out / "benchmark.md"
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    files.write_atomic(path, report.merged(report.markdown(results, argv), old).encode())
    with_questions = [name for name in results if not name.startswith("photos")]
    for name in with_questions:
        figures.plot(name, results[name][0], out / f"rate_accuracy-{name}.png")
    for name, picture in pictures.items():
        picture.save(out / name)
    written = ["benchmark.md", *pictures]
    if with_questions:
        stacked(out, "rate_accuracy", across=True).save(out / "rate_accuracy.png")
        written += ["rate_accuracy.png", *(f"rate_accuracy-{name}.png" for name in with_questions)]
    if any(name.startswith("samples-") for name in pictures):
        stacked(out, "samples").save(out / "samples.png")
        written.append("samples.png")
    return written


def main(argv=None, prog="fewbits evaluate"):
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    p.add_argument("--codec", action="append", help="a codec to benchmark, not the shipped ones")
    p.add_argument("--data", action="append", choices=DATASETS,
                   help="default: each that a codec to benchmark was trained on")
    p.add_argument("--limit", type=int, default=None, help="only the first N test images (N >= 1)")
    p.add_argument("--split", choices=("test", "val"), default="test",
                   help="val: the validation split carved from the training data, to choose on")
    p.add_argument("--out", default="results")
    args = p.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        print(f"error: --limit must be at least 1, not {args.limit}", file=sys.stderr)
        return 2
    start, out = time.time(), Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)       # fail now, not after minutes of work
        results, pictures = run(args.codec or zoo.CODECS, args.data, args.limit, args.split)
    except OSError as e:
        print(f"error: {out}: can't write the report here ({e.strerror})", file=sys.stderr)
        return 2
    except (datasets.DataError, files.FileError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    written = write(out, results, pictures, sys.argv[1:] if argv is None else list(argv))
    print((out / "benchmark.md").read_text())
    minutes = (time.time() - start) / 60
    print(f"wrote {', '.join(f'{out}/{name}' for name in written)} in {minutes:.1f} minutes")
    return 0
