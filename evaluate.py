"""How much of the answers survive compression: the judge's accuracy on decoded test images.

    python evaluate.py                                   # every shipped codec on its test split
    python evaluate.py --codec runs/easyvqa-256/codec.pt --limit 200

Every number comes from real files: each image goes through compress() to bytes, the 3-byte header
is added, and the file is decoded again by decompress(). Bits per image are the mean file size.
The judge is the VQA model trained separately from the one the codec was trained against
(checkpoints/vqa-DATA-judge.pt): a codec can learn to fool the model in its loss, not the judge.

Retention = the judge's accuracy on decoded images ÷ its accuracy on the originals.
"""
import argparse
import sys
from pathlib import Path

import torch

import bitstream
import data as datasets
import vqa
from compress import compress, decompress, load_codec

CKPT = Path(__file__).parent / "checkpoints"
SHIPPED = {"easyvqa": (64, 256), "scenes": (128, 256)}


def psnr(x_hat, x):
    """Mean over images of 10 log10(1 / MSE), for images in [0, 1]. (B, 3, H, W) each."""
    mse = ((x_hat - x) ** 2).mean(dim=(1, 2, 3)).clamp(min=1e-10)
    return (10 * torch.log10(1 / mse)).mean().item()


def through_codec(codec):
    """x (B, 3, 64, 64) -> (x_hat, file bits per image), through real files."""
    fingerprint = codec.fingerprint()

    def transform(x):
        coded = compress(codec, x)
        files = [bitstream.write_container(s, coded["n"], fingerprint) for s in coded["strings"]]
        strings = [bitstream.read_container(f, fingerprint)[0] for f in files]
        x_hat = decompress(codec, strings, coded["n"])["x_hat"]
        return x_hat, torch.tensor([8.0 * len(f) for f in files])
    return transform


@torch.no_grad()
def measure(transform, judge, test, limit=None, batch_size=250):
    """Judge accuracy per family on transformed images, plus bits per image and PSNR."""
    judge.eval()
    right, total = torch.zeros(len(test.families)), torch.zeros(len(test.families))
    bits, psnrs = [], []
    for idx in vqa.image_batches(limit or len(test), batch_size):
        x = test.images(idx)
        x_hat, b = transform(x)
        qi, tokens, answers = test.questions_of(idx)
        hit = (judge(x_hat, qi, tokens).argmax(1) == answers).float()
        fam = test.family_of(idx)
        right += torch.zeros_like(right).index_add_(0, fam, hit)
        total += torch.bincount(fam, minlength=len(total)).float()
        bits.append(b)
        psnrs.append(psnr(x_hat, x) * len(idx))
    acc = {f: (right[k] / total[k]).item() for k, f in enumerate(test.families) if total[k] > 0}
    acc["overall"] = (right.sum() / total.sum()).item()
    n = limit or len(test)
    return {"acc": acc, "bits": torch.cat(bits).mean().item(), "psnr": sum(psnrs) / n}


def retention(codec, judge, test, limit=None):
    """The codec's row: judge accuracy on decodes and on originals, their ratio, bits and PSNR."""
    coded = measure(through_codec(codec), judge, test, limit)
    original = measure(lambda x: (x, torch.full((len(x),), float("nan"))), judge, test, limit)
    coded["retention"] = {f: coded["acc"][f] / original["acc"][f] for f in coded["acc"]}
    coded["original"] = original["acc"]
    return coded


def print_row(name, row, families):
    cells = "".join(f"{100 * row['retention'][f]:7.1f}%" for f in families + ["overall"])
    print(f"{name:28s} {row['bits']:7.1f} {row['psnr']:6.2f} {cells}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--codec", action="append", help="a codec checkpoint (repeatable); default: the shipped ones")
    p.add_argument("--limit", type=int, default=None, help="only the first N test images")
    args = p.parse_args(argv)
    paths = [Path(c) for c in args.codec] if args.codec else \
        [CKPT / f"{name}-{bits}.pt" for name, budgets in SHIPPED.items() for bits in budgets]
    try:
        for path in paths:
            codec = load_codec(path)
            name = torch.load(path, map_location="cpu", weights_only=True).get("data", "easyvqa")
            judge, ckpt = vqa.load_vqa(CKPT / f"vqa-{name}-judge.pt")
            test = datasets.load(name, "test", vocab=ckpt["vocab"])
            row = retention(codec, judge, test, args.limit)
            print(f"\n{path}: {name}, judge {CKPT / f'vqa-{name}-judge.pt'}, {args.limit or len(test)} test images")
            print(f"{'':28s} {'bits':>7s} {'PSNR':>6s} " + "".join(f"{f[:7]:>8s}" for f in test.families + ["overall"]))
            print(f"{'judge on originals':28s} {'':7s} {'':6s} " + "".join(f"{100 * row['original'][f]:7.1f}%" for f in test.families + ["overall"]))
            print_row("retention on decodes", row, test.families)
    except (datasets.DataError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
