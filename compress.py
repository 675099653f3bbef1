"""Compress images into files of a few hundred bits, and back: the command line.

    python compress.py in.jpg out.bin                 # prints the file size in bits
    python compress.py -d out.bin out.png [--size 128]
    python compress.py photos/ bins/                  # folders too; -d bins/ pngs/
    python compress.py --model checkpoints/scenes-256.pt ...
    python compress.py --benchmark 1000               # images/s each way

The codec itself is model.py's Codec (compress / decompress, as in CompressAI); this file reads
images, writes .bin files with their 3-byte header (bitstream.py) and turns failures into one line.
"""
import argparse
import sys
import time
from pathlib import Path

import torch
from PIL import Image
from tqdm import tqdm

import bitstream
from files import IMAGE_EXTS, FileError, png_bytes, read_image, to_tensor, write_atomic
from model import Codec, load_codec

DEFAULT_MODEL = Path(__file__).parent / "checkpoints" / "easyvqa-256.pt"


def load_image(path, size=64):
    """Any image Pillow reads -> (3, size, size) in [0, 1]: upright, RGB, centre square, antialiased."""
    img = read_image(path)
    side = min(img.size)
    left, top = (img.width - side) // 2, (img.height - side) // 2
    return to_tensor(img.crop((left, top, left + side, top + side)).resize((size, size), Image.LANCZOS))


def pairs(src, dst, decompress_mode):
    """(input, output) paths for a file or a folder; outputs get .bin or .png."""
    src, dst = Path(src), Path(dst)
    if not src.exists():
        raise FileError(f"{src}: no such file or folder")
    suffix = ".png" if decompress_mode else ".bin"
    if src.is_dir():
        inputs = sorted(p for p in src.iterdir() if p.is_file() and
                        (p.suffix == ".bin" if decompress_mode else p.suffix.lower() in IMAGE_EXTS))
        if not inputs:
            raise FileError(f"{src}: no {'.bin files' if decompress_mode else 'images'} in this folder")
        dst.mkdir(parents=True, exist_ok=True)
        return [(p, dst / (p.stem + suffix)) for p in inputs]
    if dst.exists() and dst.resolve() == src.resolve():
        raise FileError(f"{dst}: refusing to overwrite the input")
    return [(src, dst)]


def decode_each(model, jobs, size):
    """Decode a batch of (src, dst, payload) at once; if one is bad, go file by file to name it."""
    try:
        x_hat = model.decompress([payload for _, _, payload in jobs], size)["x_hat"]
        return [(src, dst, x) for (src, dst, _), x in zip(jobs, x_hat)]
    except bitstream.FormatError as e:
        if len(jobs) == 1:
            print(f"error: {jobs[0][0]}: {e}", file=sys.stderr)
            return [(jobs[0][0], jobs[0][1], None)]
        return [item for job in jobs for item in decode_each(model, [job], size)]


def run(args):
    model = load_codec(args.model)
    fingerprint, failures = model.fingerprint(), 0
    jobs = pairs(args.input, args.output, args.decompress)
    bar = tqdm(jobs, unit="file", disable=len(jobs) == 1)
    for start in range(0, len(jobs), args.batch):
        batch, good = jobs[start:start + args.batch], []
        for src, dst in batch:                        # read and check every input before any coding
            try:
                if args.decompress:
                    good.append((src, dst, bitstream.read_container(src.read_bytes(), model.bits, fingerprint)))
                else:
                    good.append((src, dst, load_image(src)))
            except (FileError, bitstream.FormatError, OSError) as e:
                msg = str(e) if isinstance(e, FileError) else f"{src}: {e}"
                print(f"error: {msg}", file=sys.stderr)
                failures += 1
        if args.decompress and good:
            for src, dst, x_hat in decode_each(model, good, args.size):
                if x_hat is None:
                    failures += 1
                    continue
                write_atomic(dst, png_bytes(x_hat))
                tqdm.write(f"{src} -> {dst} ({args.size}×{args.size} pixels)")
        elif good:
            out = model.compress(torch.stack([x for _, _, x in good]))
            for (src, dst, _), payload in zip(good, out["strings"]):
                blob = bitstream.write_container(payload, model.bits, fingerprint)
                write_atomic(dst, blob)
                tqdm.write(f"{src} -> {dst}: {8 * len(blob)} bits")
        bar.update(len(batch))
    bar.close()
    return 2 if failures else 0


def benchmark(model, n=1000, batch=500):
    """Images per second each way through compress() and decompress() on random 64×64 images, and
    the share of that time the arithmetic coder takes (timed again on its own, on the same bits)."""
    torch.manual_seed(0)
    x = torch.rand(n, 3, 64, 64)
    freqs = model.bit_model.freqs.numpy()
    seconds = {"compress": 0.0, "decompress": 0.0, "decode": 0.0, "encode": 0.0}
    file_bits = 0
    for xb in x.split(batch):
        t0 = time.perf_counter()
        strings = model.compress(xb)["strings"]
        t1 = time.perf_counter()
        model.decompress(strings)
        t2 = time.perf_counter()
        bits = bitstream.decode_batch(strings, model.bits, freqs)          # the coder alone, each way
        t3 = time.perf_counter()
        bitstream.encode_batch(bits, freqs)
        t4 = time.perf_counter()
        for key, dt in zip(seconds, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            seconds[key] += dt
        file_bits += sum(8 * (bitstream.HEADER_BYTES + len(s)) for s in strings)
    print(f"{n} images of 64×64 in batches of {batch}, {torch.get_num_threads()} threads, "
          f"{model.bits} coded bits, mean file {file_bits / n:.1f} bits")
    for way, coder in (("compress", "encode"), ("decompress", "decode")):
        print(f"{way:10s} {n / seconds[way]:7.0f} images/s, arithmetic coder {100 * seconds[coder] / seconds[way]:4.1f}% of the time")


def main(argv=None):
    p = argparse.ArgumentParser(description="Compress 64×64 images into a few hundred bits, or decompress them.")
    p.add_argument("input", nargs="?", help="an image or a folder of images; with -d a .bin or a folder of them")
    p.add_argument("output", nargs="?", help="the .bin (or .png with -d), or a folder")
    p.add_argument("-d", "--decompress", action="store_true")
    p.add_argument("--model", default=str(DEFAULT_MODEL), help="codec checkpoint (default: %(default)s)")
    p.add_argument("--size", type=int, default=64, help="output resolution when decompressing")
    p.add_argument("--batch", type=int, default=500, help="images coded at once")
    p.add_argument("--benchmark", type=int, metavar="N", help="time N random images each way, print images/s")
    args = p.parse_args(argv)
    if not args.benchmark and args.output is None:
        p.error("give an input and an output (or --benchmark N)")
    if not 8 <= args.size <= 1024:
        p.error(f"--size must be in 8…1024, not {args.size}")
    try:
        if args.benchmark:
            if not Path(args.model).exists():
                print(f"{args.model} not found: timing a codec with random weights (speed doesn't depend on them)")
            return benchmark(load_codec(args.model) if Path(args.model).exists() else Codec().eval(),
                             args.benchmark, args.batch)
        return run(args)
    except (FileError, bitstream.FormatError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
