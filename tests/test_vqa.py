"""The VQA model: shared image features give the same answers, and the shipped models reach their targets."""

import pytest
import torch

from fewbits import data, vqa
from fewbits.bench.protocol import measure, originals
from fewbits.vqa.attention import some_questions

TARGETS = {"easyvqa": (0.98, 0.0), "scenes": (0.90, 0.80), "clevr": (0.95, 0.80)}   # (overall, every family)


def test_features_once_per_image_equals_one_image_per_question():
    torch.manual_seed(0)
    d = data.load("scenes", "test")
    model = vqa.VQA(len(d.vocab), len(d.answer_names)).eval()
    idx = torch.arange(6)
    qi, tokens, _ = d.questions_of(idx)
    x = d.images(idx)
    with torch.no_grad():
        shared = model(x, qi, tokens)
        separate = model(x[qi], torch.arange(len(qi)), tokens)
    assert torch.allclose(shared, separate, atol=1e-5)


def test_some_questions_keeps_k_of_each_images_at_random():
    """Against a plain count per image: min(k, its questions) kept, and other draws keep others."""
    qi = torch.tensor([0] * 15 + [1] * 3 + [2] * 9 + [4] * 15)
    g = torch.Generator().manual_seed(0)
    draws = [some_questions(qi, 4, g) for _ in range(2)]
    for keep in draws:
        for image in qi.unique().tolist():
            assert keep[qi == image].sum() == min(4, (qi == image).sum())
    assert not torch.equal(*draws)
    assert some_questions(qi, 15, g).all()


@pytest.fixture(scope="module", params=["easyvqa", "scenes"])
def shipped(request):
    name = request.param
    return name, data.load(name, "test"), {role: vqa.load_vqa(f"vqa-{name}-{role}") for role in ("loss", "judge")}


def test_shipped_models_reach_their_targets(shipped):
    """On the first 500 test images (about 5,000 easy-VQA or 6,000 scenes questions)."""
    name, test, models = shipped
    overall, each = TARGETS[name]
    for role, (model, ckpt) in models.items():
        assert ckpt["data"] == name and ckpt["answers"] == test.answer_names
        acc = measure(originals(), {role: model}, data.load(name, "test", vocab=ckpt["vocab"]), limit=500).acc[role]
        assert acc["overall"] >= overall, (role, acc)
        assert min(acc[f] for f in test.families) >= each, (role, acc)


def test_judge_was_trained_separately(shipped):
    _, _, models = shipped
    (loss, loss_ckpt), (judge, judge_ckpt) = models["loss"], models["judge"]
    assert loss_ckpt["seed"] != judge_ckpt["seed"]
    w_judge = dict(judge.named_parameters())           # parameters, not buffers such as the fixed cell grid
    assert all(not torch.equal(w, w_judge[k]) for k, w in loss.named_parameters() if w.numel() > 1)


def test_the_clevr_loss_model_reaches_its_target():
    """CLEVR has no same-family judge yet: the loss model alone, on the first 300 test scenes (4,500 questions)."""
    model, ckpt = vqa.load_vqa("vqa-clevr-loss")
    test = data.load("clevr", "test", vocab=ckpt["vocab"])
    assert ckpt["data"] == "clevr" and ckpt["answers"] == test.answer_names
    acc = measure(originals(), {"loss": model}, test, limit=300).acc["loss"]
    overall, each = TARGETS["clevr"]
    assert acc["overall"] >= overall and min(acc[f] for f in test.families) >= each, acc
