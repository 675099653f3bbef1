"""fewbits compress | decompress: images into files of a few hundred bits, and back.

    fewbits compress in.jpg out.bin                  # prints the file size in bits
    fewbits decompress out.bin out.png --size 256
    fewbits compress photos/ bins/                   # folders too: photos/a.jpg -> bins/a.jpg.bin
    fewbits compress --model scenes-256 ...          # a zoo name or a checkpoint path
    fewbits compress --search 400 in.jpg out.bin     # search for better bits: slower, a better picture
    fewbits compress --model photo --quality 0.5 big.jpg out.bin   # the photo codec, at its own size
    fewbits compress --benchmark 1000                # images/s each way

Files go through api.FileCodec, as the Python API's do; this module reads and writes them and turns
each failure into one line. An existing output is refused unless --force is given.
"""
import argparse
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from .. import zoo
from ..api import load
from ..coding import FormatError, arithmetic, container
from ..files import IMAGE_EXTS, FileError, crop_to_shape, load_photo, load_square, png_bytes, write_atomic


def pairs(src, dst, decompress, force):
    """(input, output) paths for a file or a folder. A folder's outputs keep each input's whole name,
    so a.jpg and a.png become a.jpg.bin and a.png.bin, and a.jpg.bin decompresses to a.jpg.png."""
    src, dst = Path(src), Path(dst)
    if not src.exists():
        raise FileError(f"{src}: no such file or folder")
    suffix, name = (".png", lambda p: p.stem) if decompress else (".bin", lambda p: p.name)
    if src.is_dir():
        inputs = sorted(p for p in src.iterdir() if p.is_file() and
                        (p.suffix == ".bin" if decompress else p.suffix.lower() in IMAGE_EXTS))
        if not inputs:
            raise FileError(f"{src}: no {'.bin files' if decompress else 'images'} in this folder")
        if dst.exists() and not dst.is_dir():
            raise FileError(f"{dst}: is a file; give a folder for the outputs of the folder {src}")
        jobs = [(p, dst / (name(p) + suffix)) for p in inputs]
    else:
        jobs = [(src, dst / (name(src) + suffix) if dst.is_dir() else dst)]
    for p, out in jobs:
        if out.exists() and out.resolve() == p.resolve():
            raise FileError(f"{out}: refusing to overwrite the input")
    existing = [out for _, out in jobs if out.exists()]
    if existing and not force:
        more = f" (and {len(existing) - 1} more outputs)" if len(existing) > 1 else ""
        raise FileError(f"{existing[0]}: already exists{more}; add --force to overwrite")
    make_folder(jobs[0][1].parent)
    return jobs


def make_folder(folder):
    """Create a missing output folder (and its parents), or say in one line why it can't be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FileError(f"{folder}: can't create this folder ({e.strerror})") from None


def error(message):
    """One line on stderr, written above the progress bar instead of into it."""
    tqdm.write(f"error: {message}", file=sys.stderr)


def write(dst, blob):
    """write_atomic, with a failure (a read-only folder, a full disk) as one line. -> True if written."""
    try:
        write_atomic(dst, blob)
        return True
    except OSError as e:
        error(f"{dst}: can't write this file ({e.strerror})")
        return False


def refusal(src, e, blob, codec):
    """The one line for an input that can't be used; another codec's file names the codec that made it."""
    message = str(e) if isinstance(e, FileError) else f"{src}: {e}"
    maker = container.fingerprint_of(blob)
    if maker is not None and maker != codec.fingerprint:
        makers = [name for name in zoo.made_by(maker) if name != codec.name]
        message += f"; made by {makers[0]}: add --model {makers[0]}" if makers else ""
    return message


def read_inputs(batch, codec, decompress):
    """Read and check every input of a batch before any coding -> (good jobs, failures)."""
    good, failures = [], 0
    for src, dst in batch:
        blob = b""
        try:
            if decompress:
                blob = src.read_bytes()
                good.append((src, dst, *codec.parse(blob)))           # (payload, shape)
            elif codec.native:                                        # a photo at its own size
                good.append((src, dst, load_photo(src), None))
            else:
                good.append((src, dst, *load_square(src, codec.model.size)))   # (x, shape)
        except (FileError, FormatError, OSError) as e:
            error(refusal(src, e, blob, codec))
            failures += 1
    return good, failures


def decode_each(codec, jobs, size):
    """Decode (src, dst, payload, shape) jobs at once -> (job, x_hat or None if refused). The coder
    names every bad payload at once; those are refused and the others decoded again."""
    try:
        return list(zip(jobs, codec.decode([job[2] for job in jobs], size)))
    except FormatError as e:
        for i, why in e.bad.items():
            error(f"{jobs[i][0]}: {why}")
        good = [job for i, job in enumerate(jobs) if i not in e.bad]
        return [(job, None) for i, job in enumerate(jobs) if i in e.bad] + (decode_each(codec, good, size) if good else [])


def code_batch(codec, good, args):
    """Compress or decompress the good jobs of one batch and write their outputs -> failures."""
    failures = 0
    if args.decompress:
        for (src, dst, _, shape), x_hat in decode_each(codec, good, args.size):
            x_hat = None if x_hat is None else crop_to_shape(x_hat, shape)                 # (3, H, W)
            if x_hat is None or not write(dst, png_bytes(x_hat)):
                failures += 1
            else:
                tqdm.write(f"{src} -> {dst} ({x_hat.shape[2]}×{x_hat.shape[1]} pixels)")
        return failures
    if codec.native:                                  # one photo at a time (run's step)
        try:
            blobs = codec.encode([x for _, _, x, _ in good])
        except FileError as e:                        # a photo this codec can't take; the folder goes on
            error(f"{good[0][0]}: {e}")
            return len(good)
    else:
        blobs = codec.encode(torch.stack([x for _, _, x, _ in good]), [shape for *_, shape in good], args.search)
    for (src, dst, _, _), blob in zip(good, blobs):
        if not write(dst, blob):
            failures += 1
        else:
            tqdm.write(f"{src} -> {dst}: {8 * len(blob)} bits")
    return failures


def run(args):
    codec = load(args.model)
    rate = "photos at their own size" if codec.native else f"{codec.model.bits} bits"
    print(f"codec {args.model}: {rate}, trained on {zoo.describe(codec.trained_on)}")
    if args.search and not args.decompress and not codec.model.can_search:
        error(f"--search needs a code that sends every bit; {args.model} has the {codec.model.code} code")
        return 2
    if args.quality is not None:
        if not hasattr(codec.model, "quality"):
            error(f"--quality is for the photo codecs; {args.model} has a fixed rate")
            return 2
        if not codec.model.quality_min <= args.quality <= 1:
            error(f"--quality must be in {codec.model.quality_min}…1, not {args.quality}")
            return 2
        codec.model.quality = args.quality
    args.size = args.size or (None if codec.native else codec.model.size)
    jobs, failures = pairs(args.input, args.output, args.decompress, args.force), 0
    # files per step: --batch, or fewer when decoding large images, so that the bar moves and
    # a step's pictures fit in memory (Codec.decompress decodes in chunks of as many pixels)
    # a photo codec takes one photo at a time: memory stays that of the largest photo, not the folder's
    step = 1 if codec.native else args.batch if not args.decompress else \
        max(1, min(args.batch, 500 * 64 * 64 // args.size ** 2))
    bar = tqdm(total=len(jobs), unit="file", disable=True if len(jobs) == 1 else None)   # quiet in a log
    for start in range(0, len(jobs), step):
        good, failed = read_inputs(jobs[start:start + step], codec, args.decompress)
        failures += failed + (code_batch(codec, good, args) if good else 0)
        bar.update(len(jobs[start:start + step]))
    bar.close()
    return 2 if failures else 0


def benchmark(model, n=1000, batch=500):
    """Images per second each way through compress() and decompress() on random 64×64 images, and
    the share of that time the arithmetic coder takes (timed again on its own, on the same bits)."""
    torch.manual_seed(0)
    freqs = model.bit_model.freqs.numpy()
    seconds = dict.fromkeys(("compress", "decompress", "decode", "encode"), 0.0)
    file_bits = 0
    for x in torch.rand(n, 3, 64, 64).split(batch):
        t = [time.perf_counter()]
        strings = model.compress(x)["strings"]
        t.append(time.perf_counter())
        model.decompress(strings)
        t.append(time.perf_counter())
        bits = arithmetic.decode_batch(strings, model.positions, freqs, model.gates)     # the coder alone, each way
        t.append(time.perf_counter())
        arithmetic.encode_batch(bits, freqs, model.gates)
        t.append(time.perf_counter())
        for key, t0, t1 in zip(seconds, t, t[1:]):
            seconds[key] += t1 - t0
        file_bits += sum(8 * (container.HEADER_BYTES + len(s)) for s in strings)
    print(f"{n} images of 64×64 in batches of {batch}, {torch.get_num_threads()} threads, "
          f"{model.capacity} coded bits, mean file {file_bits / n:.1f} bits")
    for way, coder in (("compress", "encode"), ("decompress", "decode")):
        print(f"{way:10s} {n / seconds[way]:7.0f} images/s, arithmetic coder {100 * seconds[coder] / seconds[way]:4.1f}% of the time")
    return 0


def parser(prog, decompress):
    shipped = "\n".join(f"  {name:22s}{m['description']}" for name, m in zoo.MODELS.items() if m["kind"] == "codec")
    p = argparse.ArgumentParser(prog=prog, formatter_class=argparse.RawDescriptionHelpFormatter,
                                description=("Decompress .bin files into images." if decompress else
                                             "Compress images into files of a few hundred bits."),
                                epilog=f"shipped codecs (--model NAME):\n{shipped}")
    p.add_argument("input", nargs="?", help="a .bin file or a folder of them" if decompress else "an image or a folder of images")
    p.add_argument("output", nargs="?", help="the output file or folder; missing folders are made")
    p.add_argument("--model", default=zoo.DEFAULT, help="a zoo name or a codec checkpoint (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--batch", type=int, default=500, help="images coded at once, at least 1")
    if decompress:
        p.add_argument("--size", type=int, help="the long side in pixels, 8…1024 (default: the codec's, 64 or 128; a "
                                                 "photo codec's photo at its own size)")
    else:
        p.add_argument("--search", type=int, default=0, metavar="N",
                       help="N steps of search for bits that decode closer to the image (0: the encoder's bits)")
        p.add_argument("--quality", type=float, metavar="Q",
                       help="a photo codec's rate, 0.25…1: lower sends fewer bits (default: the model's)")
        p.add_argument("--benchmark", type=int, metavar="N", help="time N random images each way, print images/s")
    p.set_defaults(decompress=decompress, size=None, search=0, quality=None, benchmark=None)
    return p


def mistake(args):
    """The first mistake in the arguments, in words, or None."""
    checks = [(args.benchmark is None and args.output is None, "give an input and an output (or --benchmark N)"),
              (args.size is not None and not 8 <= args.size <= 1024, f"--size must be in 8…1024, not {args.size}"),
              (args.batch < 1, f"--batch must be at least 1, not {args.batch}"),
              (args.search < 0, f"--search must be 0 or more, not {args.search}"),
              (args.benchmark is not None and args.benchmark < 1, f"--benchmark must be at least 1, not {args.benchmark}")]
    return next((message for bad, message in checks if bad), None)


def main(argv=None, decompress=False, prog="fewbits compress"):
    args = parser(prog, decompress).parse_args(argv)
    message = mistake(args)
    if message:
        print(f"error: {message}", file=sys.stderr)
        return 2
    try:
        if args.benchmark:
            codec = load(args.model)
            if codec.native:
                print(f"error: --benchmark times the 64×64 codecs; for {args.model}, `fewbits evaluate "
                      "--data photos-full --codec ...` gives seconds per megapixel", file=sys.stderr)
                return 2
            return benchmark(codec.model, args.benchmark, args.batch)
        return run(args)
    except (FileError, FormatError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:                              # a path the system refuses: too long, no permission
        print(f"error: {e.filename}: {e.strerror}", file=sys.stderr)
        return 2
