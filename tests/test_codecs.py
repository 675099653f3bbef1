"""The shipped codecs: through compress.py's API and real files, a separately trained judge still answers.

Each codec compresses the first 500 test images of its dataset into container files (header included),
the files are decoded again, and the judge (checkpoints/vqa-DATA-judge.pt, never in the codec's loss)
answers every question about them. Retention = its accuracy on the decodes ÷ on the originals.
"""
from pathlib import Path

import pytest

import data
import evaluate
import vqa
from compress import load_codec

CKPT = Path(__file__).resolve().parent.parent / "checkpoints"
# codec -> (retention overall, retention in every family): the targets of the training issue
TARGETS = {"easyvqa-256": (0.98, 0.0), "easyvqa-64": (0.95, 0.0), "scenes-256": (0.95, 0.90)}


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_shipped_codec_keeps_the_judges_answers(name):
    path = CKPT / f"{name}.pt"
    assert path.stat().st_size <= 10 * 2 ** 20
    codec = load_codec(path)
    dataset, bits = name.rsplit("-", 1)
    assert codec.bits == int(bits)
    judge, ckpt = vqa.load_vqa(CKPT / f"vqa-{dataset}-judge.pt")
    test = data.load(dataset, "test", vocab=ckpt["vocab"])
    row = evaluate.retention(codec, judge, test, limit=500)
    assert row["bits"] <= int(bits) + 8 * 3 + 8                      # header + at most a byte over the budget
    overall, each = TARGETS[name]
    assert row["retention"]["overall"] >= overall, row["retention"]
    assert min(row["retention"][f] for f in test.families) >= each, row["retention"]
