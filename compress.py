"""Compress images into files of a few hundred bits, and back: the command line.

    python compress.py in.jpg out.bin                 # prints the file size in bits
    python compress.py -d out.bin out.png [--size 128]
    python compress.py photos/ bins/                  # folders too; -d bins/ pngs/
    python compress.py --model checkpoints/scenes-256.pt ...
    python compress.py --search 400 in.jpg out.bin    # search for better bits: slower, a better picture
    python compress.py --benchmark 1000               # images/s each way

The codec itself is model.py's Codec (compress / decompress, as in CompressAI); this file reads
images, writes .bin files with their 3-byte header (files.py) and turns failures into one line.

Any shape of image: its long side is resized to 64 pixels and its short side in proportion, and the
64×64 square around it is filled by repeating its edge pixels. A file of an image that wasn't
square carries one more header byte, the shape, and decodes to that shape with --size as the long
side. The code is 64×64 whatever the photo's size: a thumbnail-sized impression of a 4000×3000 photo.

--search N sends the bits found by N steps of gradient descent through the decoder (Codec.search)
instead of the encoder's one guess: files a little longer that decode closer to the image, for
N decodes' work per image. The decoder and the file format are the same either way.
"""
import argparse
import functools
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

import bitstream
from files import (HEADER_BYTES, IMAGE_EXTS, MAGIC, FileError, crop_to_shape, load_square, png_bytes,
                   read_container, read_shape, write_atomic, write_container)
from model import Codec, load_codec

CKPT = Path(__file__).parent / "checkpoints"
DEFAULT_MODEL = CKPT / "photos-256.pt"
TRAINED_ON = {"photos": "photos (a 64×64 impression of the colour layout, not the details)",
              "easyvqa": "easy-VQA (one coloured shape on a light background; a photo comes back as blobs)",
              "scenes": "scenes (1-6 coloured shapes on a light background; a photo comes back as blobs)"}
SHIPPED_HELP = """shipped codecs (--model checkpoints/NAME.pt):
  photos-256 (the default)                photos: the colour layout of any picture
  photos-1472                             photos at WebP's smallest files (about 1,000 bits): use --search 400
  easyvqa-256, easyvqa-128, easyvqa-64    easy-VQA images: one coloured shape, for VQA
  scenes-256, scenes-map-120, scenes-128  scenes of 1-6 coloured shapes, for VQA
  easyvqa-256-no-adv, easyvqa-256-no-vqa  ablations: easyvqa-256 without the GAN or the VQA terms"""


@functools.lru_cache(maxsize=None)                    # a folder of foreign files asks once per fingerprint
def made_by(fingerprint, model_path):
    """The shipped checkpoint whose codec has this fingerprint (not `model_path`), or None."""
    for path in sorted(CKPT.glob("*.pt")):
        if path.resolve() == Path(model_path).resolve():
            continue
        try:
            if load_codec(path).fingerprint() == fingerprint:
                return path
        except FileError:                             # a VQA model or a judge: not a codec
            continue
    return None


def pairs(src, dst, decompress_mode):
    """(input, output) paths for a file or a folder. A folder's outputs keep each input's whole name,
    so a.jpg and a.png become a.jpg.bin and a.png.bin, and with -d a.jpg.bin becomes a.jpg.png."""
    src, dst = Path(src), Path(dst)
    if not src.exists():
        raise FileError(f"{src}: no such file or folder")
    suffix = ".png" if decompress_mode else ".bin"
    if src.is_dir():
        inputs = sorted(p for p in src.iterdir() if p.is_file() and
                        (p.suffix == ".bin" if decompress_mode else p.suffix.lower() in IMAGE_EXTS))
        if not inputs:
            raise FileError(f"{src}: no {'.bin files' if decompress_mode else 'images'} in this folder")
        if dst.exists() and not dst.is_dir():
            raise FileError(f"{dst}: is a file; give a folder for the outputs of the folder {src}")
        make_folder(dst)
        return [(p, dst / ((p.stem if decompress_mode else p.name) + suffix)) for p in inputs]
    if dst.is_dir():                                  # a file into a folder: keep its name there
        dst = dst / ((src.stem if decompress_mode else src.name) + suffix)
    if dst.exists() and dst.resolve() == src.resolve():
        raise FileError(f"{dst}: refusing to overwrite the input")
    make_folder(dst.parent)
    return [(src, dst)]


def make_folder(folder):
    """Create a missing output folder (and its parents), or say in one line why it can't be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FileError(f"{folder}: can't create this folder ({e.strerror})") from None


def error(message):
    """One line on stderr, written above the progress bar instead of into it."""
    tqdm.write(f"error: {message}", file=sys.stderr)


def decode_each(model, jobs, size):
    """Decode a batch of (src, dst, payload) at once -> (src, dst, x_hat or None if refused). The
    coder names every bad payload at once; those are refused and the others decoded again."""
    try:
        x_hat = model.decompress([payload for _, _, payload in jobs], size)["x_hat"]
        return [(src, dst, x) for (src, dst, _), x in zip(jobs, x_hat)]
    except bitstream.FormatError as e:
        for i, why in e.bad.items():
            error(f"{jobs[i][0]}: {why}")
        good = [job for i, job in enumerate(jobs) if i not in e.bad]
        return [(src, dst, None) for i, (src, dst, _) in enumerate(jobs) if i in e.bad] + \
            (decode_each(model, good, size) if good else [])


def write(dst, blob):
    """write_atomic, with a failure (a read-only folder, a full disk) as one line. -> True if written."""
    try:
        write_atomic(dst, blob)
        return True
    except OSError as e:
        error(f"{dst}: can't write this file ({e.strerror})")
        return False


def run(args):
    model = load_codec(args.model)
    print(f"codec {args.model}: {model.bits} bits, trained on {describe(model.trained_on)}")
    if args.search and not args.decompress and not model.can_search:
        error(f"--search needs a global or grid codec; {args.model} has the map code")
        return 2
    fingerprint, failures = model.fingerprint(), 0
    jobs = pairs(args.input, args.output, args.decompress)
    # files per step: --batch, or fewer when decoding large images, so that the bar moves and
    # a step's pictures fit in memory (Codec.decompress decodes in chunks of as many pixels)
    step = args.batch if not args.decompress else max(1, min(args.batch, 500 * 64 * 64 // args.size ** 2))
    bar = tqdm(total=len(jobs), unit="file", disable=len(jobs) == 1)
    for start in range(0, len(jobs), step):
        batch, good = jobs[start:start + step], []
        for src, dst in batch:                        # read and check every input before any coding
            blob = b""
            try:
                if args.decompress:
                    blob = src.read_bytes()
                    good.append((src, dst, read_container(blob, fingerprint), read_shape(blob)))
                else:
                    good.append((src, dst, *load_square(src)))
            except (FileError, bitstream.FormatError, OSError) as e:
                message = str(e) if isinstance(e, FileError) else f"{src}: {e}"
                if len(blob) > 1 and blob[0] >> 4 == MAGIC and blob[1] != fingerprint:   # another codec's file
                    maker = made_by(blob[1], args.model)
                    message += f"; made by {maker}: add --model {maker}" if maker else ""
                error(message)
                failures += 1
        if args.decompress and good:
            shapes = {src: shape for src, _, _, shape in good}
            for src, dst, x_hat in decode_each(model, [job[:3] for job in good], args.size):
                x_hat = None if x_hat is None else crop_to_shape(x_hat, shapes[src])      # (3, H, W)
                if x_hat is None or not write(dst, png_bytes(x_hat)):
                    failures += 1
                    continue
                tqdm.write(f"{src} -> {dst} ({x_hat.shape[2]}×{x_hat.shape[1]} pixels)")
        elif good:
            out = model.compress(torch.stack([x for _, _, x, _ in good]), search=args.search)
            for (src, dst, _, shape), payload in zip(good, out["strings"]):
                blob = write_container(payload, fingerprint, shape)
                if not write(dst, blob):
                    failures += 1
                    continue
                tqdm.write(f"{src} -> {dst}: {8 * len(blob)} bits")
        bar.update(len(batch))
    bar.close()
    return 2 if failures else 0


def describe(data):
    """What a codec was trained on, in words, for the line compress.py prints first."""
    return TRAINED_ON.get(data, f"the images in {data} (no questions)" if data else "unrecorded data")


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
        bits = bitstream.decode_batch(strings, model.positions, freqs, model.gates)          # the coder alone, each way
        t3 = time.perf_counter()
        bitstream.encode_batch(bits, freqs, model.gates)
        t4 = time.perf_counter()
        for key, dt in zip(seconds, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            seconds[key] += dt
        file_bits += sum(8 * (HEADER_BYTES + len(s)) for s in strings)
    print(f"{n} images of 64×64 in batches of {batch}, {torch.get_num_threads()} threads, "
          f"{model.bits} coded bits, mean file {file_bits / n:.1f} bits")
    for way, coder in (("compress", "encode"), ("decompress", "decode")):
        print(f"{way:10s} {n / seconds[way]:7.0f} images/s, arithmetic coder {100 * seconds[coder] / seconds[way]:4.1f}% of the time")


def main(argv=None):
    p = argparse.ArgumentParser(description="Compress 64×64 images into a few hundred bits, or decompress them.",
                                epilog=SHIPPED_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", nargs="?", help="an image or a folder of images; with -d a .bin or a folder of them")
    p.add_argument("output", nargs="?", help="the .bin (or .png with -d), or a folder; missing folders are made")
    p.add_argument("-d", "--decompress", action="store_true")
    p.add_argument("--model", default=str(DEFAULT_MODEL), help="codec checkpoint (default: %(default)s)")
    p.add_argument("--size", type=int, default=64, help="the long side in pixels when decompressing, 8…1024")
    p.add_argument("--batch", type=int, default=500, help="images coded at once, at least 1")
    p.add_argument("--search", type=int, default=0, metavar="N",
                   help="N steps of search for bits that decode closer to the image (0: the encoder's bits)")
    p.add_argument("--benchmark", type=int, metavar="N", help="time N random images each way, print images/s")
    args = p.parse_args(argv)
    checks = [(args.benchmark is None and args.output is None, "give an input and an output (or --benchmark N)"),
              (not 8 <= args.size <= 1024, f"--size must be in 8…1024, not {args.size}"),
              (args.batch < 1, f"--batch must be at least 1, not {args.batch}"),
              (args.search < 0, f"--search must be 0 or more, not {args.search}"),
              (args.benchmark is not None and args.benchmark < 1, f"--benchmark must be at least 1, not {args.benchmark}")]
    for bad, message in checks:
        if bad:
            print(f"error: {message}", file=sys.stderr)
            return 2
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
    except OSError as e:                              # a path the system refuses: too long, no permission
        print(f"error: {e.filename}: {e.strerror}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
