"""The VQA model: shared image features give the same answers, and the shipped models reach their targets."""
from pathlib import Path

import pytest
import torch

import data
import vqa

CKPT = Path(__file__).resolve().parent.parent / "checkpoints"
TARGETS = {"easyvqa": (0.98, 0.0), "scenes": (0.90, 0.80)}     # (overall, every family)


def test_features_once_per_image_equals_one_image_per_question():
    torch.manual_seed(0)
    d = data.load("scenes", "test")
    model = vqa.VQA(len(d.vocab), len(d.answers)).eval()
    idx = torch.arange(6)
    qi, tokens, _ = d.questions_of(idx)
    x = d.images(idx)
    with torch.no_grad():
        shared = model(x, qi, tokens)
        separate = model(x[qi], torch.arange(len(qi)), tokens)
    assert torch.allclose(shared, separate, atol=1e-5)
