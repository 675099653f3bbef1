"""Compress images into files of a few hundred bits, and back.

    python compress.py in.jpg out.bin                 # prints the file size in bits
    python compress.py -d out.bin out.png [--size 128]
    python compress.py photos/ bins/                  # folders too; -d bins/ pngs/
    python compress.py --model checkpoints/scenes-256.pt ...

The Python API follows CompressAI's contract: the model owns the transforms and the probability
table, and these two functions do the coding, so the model never touches bits on disk:

    out = compress(model, x)                          # {"strings": [bytes per image], "n": bits}
    x_hat = decompress(model, out["strings"], out["n"], size=64)["x_hat"]
"""
import argparse
import hashlib
import io
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from PIL import Image
from tqdm import tqdm

import bitstream
from data import IMAGE_EXTS, DataError, read_image, write_atomic
from decoder import Decoder
from encoder import Encoder
from quantize import BitModel, binarize

DEFAULT_MODEL = Path(__file__).parent / "checkpoints" / "easyvqa-256.pt"


class Codec(nn.Module):
    """Encoder g_a, binarizer, decoder g_s and the bit model, as trained together by train.py."""

    def __init__(self, bits=256, width=16, context=2, code="global"):
        super().__init__()
        self.bits = bits
        self.g_a, self.g_s = Encoder(bits, width, code), Decoder(bits, width, code)
        self.bit_model = BitModel(bits, context)

    def forward(self, x, soft=False):
        """Training pass, stochastic bits in train mode: the decode at 64 and at 32 pixels, and the rate (B,) in bits.
        soft=True hands the decoder the encoder's numbers in (-1, 1) instead of bits (a warm-up)."""
        y = self.g_a(x)
        b = y if soft else binarize(y, stochastic=self.training)  # (B, bits) in {-1, +1}
        f = self.g_s.features(b)
        return {"x_hat": self.g_s.render(f, 64), "x_hat_32": self.g_s.render(f, 32), "rate": self.bit_model.rate(b)}

    def fingerprint(self):
        """One byte that tells this model's files from another's: a hash of every weight and table."""
        h = hashlib.sha256()
        for name, t in sorted(self.state_dict().items()):
            h.update(name.encode() + t.detach().cpu().contiguous().numpy().tobytes())
        return h.digest()[0]


@torch.no_grad()
def compress(model, x):
    """x (B, 3, 64, 64) in [0, 1] -> {"strings": one payload per image, "n": bits per image}."""
    bits = (model.g_a(x) >= 0).to(torch.uint8).cpu().numpy()       # sign, 0 -> +1: as binarize in eval
    return {"strings": bitstream.encode_batch(bits, model.bit_model.freqs.cpu().numpy()), "n": model.bits}


@torch.no_grad()
def decompress(model, strings, n, size=64):
    """Payloads -> {"x_hat": (B, 3, size, size) in [0, 1]}. Raises bitstream.FormatError on a bad payload."""
    if n != model.bits:
        raise bitstream.FormatError(f"the header says {n} coded bits, this model codes {model.bits}")
    bits = bitstream.decode_batch(strings, n, model.bit_model.freqs.cpu().numpy())   # the coder likes big batches,
    b = 2 * torch.from_numpy(bits).float().to(model.bit_model.freqs.device) - 1     # the decoder's activations
    return {"x_hat": torch.cat([model.g_s(chunk, size) for chunk in b.split(64)]).clamp(0, 1)}  # fit in cache at 64


def load_codec(path):
    """Rebuild the codec from its checkpoint alone (weights_only: a checkpoint can't run code)."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        model = Codec(**ckpt["model_args"])
        model.load_state_dict(ckpt["codec"])
    except FileNotFoundError:
        raise DataError(f"{path}: no such checkpoint (train one with: python train.py --bits 256)") from None
    except Exception as e:
        raise DataError(f"{path}: not a codec checkpoint ({type(e).__name__})") from None
    return model.eval()


def load_image(path, size=64):
    """Any image Pillow reads -> (3, size, size) in [0, 1]: upright, RGB, centre square, antialiased."""
    img = read_image(path)
    side = min(img.size)
    left, top = (img.width - side) // 2, (img.height - side) // 2
    img = img.crop((left, top, left + side, top + side)).resize((size, size), Image.LANCZOS)
    return torch.from_numpy(np.array(img)).permute(2, 0, 1).float() / 255


def png_bytes(x):
    """(3, H, W) in [0, 1] -> PNG file bytes."""
    buf = io.BytesIO()
    Image.fromarray((x.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def pairs(src, dst, decompress_mode):
    """(input, output) paths for a file or a folder; outputs get .bin or .png."""
    src, dst = Path(src), Path(dst)
    if not src.exists():
        raise DataError(f"{src}: no such file or folder")
    suffix = ".png" if decompress_mode else ".bin"
    if src.is_dir():
        files = sorted(p for p in src.iterdir() if p.is_file() and
                       (p.suffix == ".bin" if decompress_mode else p.suffix.lower() in IMAGE_EXTS))
        if not files:
            raise DataError(f"{src}: no {'.bin files' if decompress_mode else 'images'} in this folder")
        dst.mkdir(parents=True, exist_ok=True)
        return [(p, dst / (p.stem + suffix)) for p in files]
    if dst.exists() and dst.resolve() == src.resolve():
        raise DataError(f"{dst}: refusing to overwrite the input")
    return [(src, dst)]


def decode_each(model, jobs, size):
    """Decode a batch of (src, dst, (payload, n)) at once; if one is bad, go file by file to name it."""
    try:
        x_hat = decompress(model, [p for _, _, (p, _) in jobs], jobs[0][2][1], size)["x_hat"]
        return [(src, dst, x) for (src, dst, _), x in zip(jobs, x_hat)]
    except bitstream.FormatError:
        if len(jobs) == 1:
            src, dst, (payload, n) = jobs[0]
            try:
                decompress(model, [payload], n, size)
            except bitstream.FormatError as e:
                print(f"error: {src}: {e}", file=sys.stderr)
            return [(src, dst, None)]
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
                    good.append((src, dst, bitstream.read_container(src.read_bytes(), fingerprint)))
                else:
                    good.append((src, dst, load_image(src)))
            except (DataError, bitstream.FormatError, OSError) as e:
                msg = str(e) if isinstance(e, DataError) else f"{src}: {e}"
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
            out = compress(model, torch.stack([x for _, _, x in good]))
            for (src, dst, _), payload in zip(good, out["strings"]):
                blob = bitstream.write_container(payload, out["n"], fingerprint)
                write_atomic(dst, blob)
                tqdm.write(f"{src} -> {dst}: {8 * len(blob)} bits")
        bar.update(len(batch))
    bar.close()
    return 2 if failures else 0


def benchmark(model, n=1000, batch=500):
    """Images per second each way through compress() and decompress() on random 64×64 images, and
    the share of that time the arithmetic coder takes (timed again on its own, on the same bits)."""
    import time
    torch.manual_seed(0)
    x = torch.rand(n, 3, 64, 64)
    freqs = model.bit_model.freqs.numpy()
    seconds = {"compress": 0.0, "decompress": 0.0, "encode": 0.0, "decode": 0.0}
    file_bits = 0
    for xb in x.split(batch):
        t0 = time.perf_counter()
        out = compress(model, xb)
        t1 = time.perf_counter()
        decompress(model, out["strings"], out["n"])
        t2 = time.perf_counter()
        with torch.no_grad():
            bits = (model.g_a(xb) >= 0).to(torch.uint8).numpy()
        t3 = time.perf_counter()
        bitstream.encode_batch(bits, freqs)
        t4 = time.perf_counter()
        bitstream.decode_batch(out["strings"], out["n"], freqs)
        t5 = time.perf_counter()
        for key, dt in zip(seconds, (t1 - t0, t2 - t1, t4 - t3, t5 - t4)):
            seconds[key] += dt
        file_bits += sum(8 * (3 + len(s)) for s in out["strings"])
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
    if args.benchmark:
        if not Path(args.model).exists():
            print(f"{args.model} not found: timing a codec with random weights (speed doesn't depend on them)")
        return benchmark(load_codec(args.model) if Path(args.model).exists() else Codec().eval(), args.benchmark, args.batch)
    if args.output is None:
        p.error("give an input and an output (or --benchmark N)")
    if not 8 <= args.size <= 1024:
        p.error(f"--size must be in 8…1024, not {args.size}")
    try:
        return run(args)
    except (DataError, bitstream.FormatError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
