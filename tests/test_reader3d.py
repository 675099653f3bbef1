"""vqa/reader3d.py, the CLEVR judge's executor and its reading of the grid, against the generator:
the true scene graphs answer every question, and a grid that says exactly what the graphs hold is
read back into the same graphs, on the ground where the objects stand."""
import random

import pytest
import torch

from fewbits.data import clevr, encode_questions
from fewbits.data.datasets import VQAData, build_vocab
from fewbits.vqa import reader3d
from fewbits.vqa.reader3d import CELL, GRID, Symbolic3D, read


@pytest.fixture(scope="module")
def split():
    images, graphs, questions = clevr.generate(24, "test", seed=5)
    vocab = build_vocab(clevr.vocabulary())
    tokens = encode_questions([text for _, text, _, _ in questions], vocab)
    answers = torch.tensor([clevr.ANSWERS.index(a) for _, _, a, _ in questions])
    qi = torch.tensor([i for i, *_ in questions])
    x = torch.as_tensor(images).permute(0, 3, 1, 2).float() / 255
    return x, graphs, qi, tokens, answers, Symbolic3D(vocab, clevr.ANSWERS).eval()


def perfect_heads(model, graphs, shift=(0.0, 0.0)):
    """The heads a perfect detector would give: confident logits at the graphs' labels, and their
    offsets moved by `shift` pixels."""
    target, offset = reader3d.grid_targets(graphs, clevr.ATTRS, CELL, reader3d.GRID)
    heads = {"object": 20.0 * target["object"] - 10, "offset": offset + torch.tensor(shift)[:, None, None] / CELL}
    for k, values in clevr.ATTRS.items():
        heads[k] = 10.0 * torch.nn.functional.one_hot(target[k], len(values)).permute(0, 3, 1, 2)
    return heads


def test_the_true_graphs_answer_every_question(split):
    x, graphs, qi, tokens, answers, model = split
    model.detect = lambda x: graphs
    assert torch.equal(model(x, qi, tokens).argmax(1), answers)


def test_a_perfect_grid_reads_back_the_graphs_on_the_ground(split):
    x, graphs, _, _, _, model = split
    for true, found in zip(graphs, read(perfect_heads(model, graphs))):
        key = lambda o: (round(o["u"]), round(o["v"]))                       # noqa: E731
        assert len(found["objects"]) == len(true["objects"])
        for t, f in zip(sorted(true["objects"], key=key), sorted(found["objects"], key=key)):
            assert all(f[k] == t[k] for k in clevr.ATTRS)
            assert abs(f["x"] - t["x"]) < 0.01 and abs(f["y"] - t["y"]) < 0.01, (t, f)


def test_one_object_seen_in_two_cells_is_read_once():
    """The detector often lights a cell next to an object's own, pointing at the same centre: a cell
    whose centre is within MERGE pixels of a surer one's is dropped, one a little further is not
    (true centres are at least 6 px apart in the validation scenes), and a faint cell over
    THRESHOLD is kept."""
    def heads(cells):                                  # [(cv, cu, objectness, du, dv)] on an empty grid
        h = {"object": torch.full((1, GRID, GRID), -10.0), "offset": torch.zeros(1, 2, GRID, GRID)}
        h.update({k: torch.zeros(1, len(v), GRID, GRID) for k, v in clevr.ATTRS.items()})
        for cv, cu, logit, du, dv in cells:
            h["object"][0, cv, cu], h["offset"][0, :, cv, cu] = logit, torch.tensor([du, dv])
        return h
    twice = read(heads([(5, 5, 3.0, 0.9, 0.5), (5, 6, 1.0, 0.1, 0.5)]))[0]["objects"]     # 1.6 px apart
    assert len(twice) == 1 and abs(twice[0]["u"] - 5.9 * CELL) < 1e-4                     # the surer cell's
    apart = read(heads([(5, 5, 3.0, 0.2, 0.5), (5, 6, 1.0, 0.0, 0.5)]))[0]["objects"]     # 6.4 px apart
    assert len(apart) == 2
    faint = read(heads([(5, 5, reader3d.THRESHOLD + 0.1, 0.5, 0.5)]))[0]["objects"]
    assert len(faint) == 1 and reader3d.MERGE > 1.6 and reader3d.MERGE < 6.0


@pytest.mark.parametrize("shift", [(1.0, 0.0), (0.0, 1.0), (-0.7, -0.7)])
def test_centres_a_pixel_off_keep_every_answer(split, shift):
    """CLEVR's placement keeps every pair 0.4 apart along both ground directions; a pixel is at most
    0.15 of that on the ground at this camera, so a centre read a pixel off changes no answer."""
    x, graphs, qi, tokens, answers, model = split
    moved = read(perfect_heads(model, graphs, shift))
    model.detect = lambda x: moved
    assert torch.equal(model(x, qi, tokens).argmax(1), answers)


def test_a_missing_object_leaves_its_questions_unanswered(split):
    x, graphs, qi, tokens, answers, model = split
    rng = random.Random(0)
    fewer = [{"objects": [o for o in g["objects"] if rng.random() > 0.3]} for g in graphs]
    model.detect = lambda x: fewer
    logits = model(x, qi, tokens)
    assert (logits.sum(1) == 0).any()                       # a question whose object is gone: no answer
    assert (logits.argmax(1) != answers).any()


def test_the_detector_learns_a_batch(split):
    """A few steps on 24 scenes lower the detector's loss: the targets and the heads line up."""
    x, graphs, _, _, _, _ = split
    torch.manual_seed(0)
    model = Symbolic3D(["<pad>"], clevr.ANSWERS, width=16).train()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = model.loss(x, graphs)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize("argv", [["--data", "clevr", "--family", "fusion"], ["--data", "scenes", "--family", "symbolic3d"]])
def test_a_judge_that_cant_read_the_data_is_refused_in_one_line(argv, capsys):
    from fewbits.cli.vqa import judges_main
    assert judges_main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: the ")


@pytest.mark.parametrize("family", ["attention", "objects", "transformer"])
def test_a_clevr_vqa_model_learns_the_graph_beside_the_answers(family, tmp_path, monkeypatch):
    """WithGraphs adds the detector's loss on a VQA model's own cells: a few steps on 12 scenes
    lower it, and what is saved is the VQA model alone, which answers as before."""
    from fewbits.data import datasets
    from fewbits.vqa import FAMILIES, WithGraphs
    kind = {"size": 128} if family == "attention" else {}
    VQA = lambda v, a: FAMILIES[family](v, a, **kind)      # noqa: E731
    monkeypatch.setattr(datasets, "CACHE", tmp_path / "cache")
    monkeypatch.setitem(datasets.SPLIT_SIZES, "clevr", {"train": 12, "val": 8, "test": 8})
    data = datasets.load("clevr", "train")
    torch.manual_seed(0)
    model = VQA(len(data.vocab), len(data.answer_names))
    both = WithGraphs(model).train()
    opt = torch.optim.Adam(both.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        loss = both.loss_on(data, torch.arange(12))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
    assert set(model.state_dict()) == set(VQA(len(data.vocab), len(data.answer_names)).state_dict())
    assert model.eval()(data.images(torch.arange(2)), torch.tensor([0, 1]), data.questions_of(torch.arange(2))[1][:2]).shape[0] == 2


def test_the_objects_model_looks_only_where_its_graph_head_sees_an_object():
    """ObjectVQA's hops attend over the cells its graph head says hold an object, and count those:
    with the head's objectness set to 'here' in two cells and 'not here' elsewhere, each hop's
    attention is on those two cells and its count is at most 2. A checkpoint rebuilds the class."""
    from fewbits.vqa import ObjectVQA, attention, judges
    torch.manual_seed(0)
    model = ObjectVQA(20, 5).eval()
    with torch.no_grad():
        model.graph.bias[0] = -30.0                        # objectness: nowhere...
        model.graph.weight[0] = 0.0
    feats = torch.randn(1, 256, 64)
    feats[0, :, 0] = 0.0
    feats[0, [17, 200], 0] = 1.0                           # ...but where feature 0 is 1
    with torch.no_grad():
        model.graph.weight[0, 0] = 60.0
    seen = []
    hop = attention.Hop.forward
    def spy(self, *args, **kwargs):
        out = hop(self, *args, **kwargs)
        seen.append(out)
        return out
    attention.Hop.forward = spy
    try:
        model.answer(feats, torch.tensor([0, 0]), torch.randint(1, 20, (2, 6)))
    finally:
        attention.Hop.forward = hop
    for out in seen:
        assert out["attn"][:, [17, 200]].sum(1).min() > 0.99
        assert out["count"].max() <= 2.0 + 1e-4
    ckpt = attention.vqa_checkpoint(model, type("D", (), {"vocab": [], "answer_names": [], "families": []})())
    assert ckpt["family"] == "objects" and judges.FAMILIES[ckpt["family"]] is ObjectVQA


def test_hops_are_taught_to_look_at_the_programs_objects():
    """hop_targets marks the cells grid_targets puts objects in; hop_loss is near 0 for hops that look
    exactly there and fit only those objects, and large for hops that look at the wrong object."""
    from fewbits.vqa.attention import hop_loss, hop_targets
    images, scenes, questions = clevr.generate(4, "test", seed=1, size=128, workers=1)
    data = VQAData(images.transpose(0, 3, 1, 2), *zip(*[(i, t, a, f) for i, t, a, f in questions]),
                   clevr.ANSWERS, list(clevr.FAMILIES), build_vocab(clevr.vocabulary()))
    data.scenes = scenes
    idx = torch.arange(4)
    qi, rows = data.rows_of(idx)
    target, asked_for, objects = hop_targets(data, idx, qi, rows)
    labels = reader3d.grid_targets(scenes, clevr.ATTRS, reader3d.CELL, reader3d.GRID)[0]["object"].flatten(1)
    assert torch.equal(objects, labels[qi].bool())
    assert asked_for[0].all() and asked_for[1].sum() > 0

    def hops(t):
        attn = t / t.sum(2, keepdim=True).clamp_min(1)
        return [{"attn": a[..., None], "logit": 20 * (2 * h - 1)} for a, h in zip(attn, t)]
    assert hop_loss(hops(target), target, asked_for, objects) < 1e-3
    wrong = objects & (target == 0)
    assert hop_loss(hops(wrong.float()), target, asked_for, objects) > 5
