"""vqa/judges.py: the held-out VQA families reach their targets on originals, and the symbolic judge's
executor agrees with the scene generator itself."""
import math
import random

import pytest
import torch

from fewbits import data, zoo
from fewbits.bench.protocol import measure, originals
from fewbits.data import scenes
from fewbits.vqa import judges, namer

TARGETS = {"easyvqa": 0.99, "scenes": 0.95, "clevr": 0.85}   # a judge that can't answer on the originals is no judge
LIMIT = {"clevr": 200}


def test_the_executor_answers_every_question_from_the_true_graphs():
    """The symbolic judge with its detector replaced by the true scene graphs: every answer right."""
    test = data.load("scenes", "test")
    model = judges.Symbolic(test.vocab, test.answer_names).eval()
    idx = torch.arange(200)
    model.detect = lambda x: [test.scenes[i] for i in idx.tolist()]
    qi, tokens, answers = test.questions_of(idx)
    assert torch.equal(model(test.images(idx), qi, tokens).argmax(1), answers)


def test_centres_moved_less_than_the_margin_keep_every_answer():
    """Every object of the true graphs moved 1.9 px in a random direction, under a quarter of the
    generator's 8 px margin, so no asked relation can change: every answer still right. The generator's
    own reading, with the margin, loses some relate questions to the same moves."""
    test = data.load("scenes", "test")
    model = judges.Symbolic(test.vocab, test.answer_names).eval()
    idx, rng = torch.arange(200), random.Random(0)
    moved = []
    for i in idx.tolist():
        angles = [rng.uniform(0, 2 * math.pi) for _ in test.scenes[i]["objects"]]
        moved.append({"objects": [{**o, "x": o["x"] + 1.9 * math.cos(a), "y": o["y"] + 1.9 * math.sin(a)}
                                  for o, a in zip(test.scenes[i]["objects"], angles)]})
    model.detect = lambda x: moved
    qi, tokens, answers = test.questions_of(idx)
    assert torch.equal(model(test.images(idx), qi, tokens).argmax(1), answers)
    families = test.family_of(idx)
    relate = [q for q in range(len(qi)) if test.families[families[q]] == "relate"]
    with_margin = [judges.answer_table(g, scenes.MARGIN) for g in moved]
    words = [tuple(test.vocab[t] for t in row if t > 0) for row in tokens.tolist()]
    kept = sum(with_margin[qi[q]].get(words[q]) == test.answer_names[answers[q]] for q in relate)
    assert kept < len(relate), "no relation near the margin in 200 scenes: the test shows nothing"


def test_a_missing_object_gets_no_answer():
    test = data.load("scenes", "test")
    model = judges.Symbolic(test.vocab, test.answer_names).eval()
    model.detect = lambda x: [{"objects": []}]
    qi, tokens, _ = test.questions_of(torch.arange(1))
    logits = model(test.images(torch.arange(1)), qi, tokens)
    families = [test.families[f] for f in test.family_of(torch.arange(1))]
    for row, family in zip(logits, families):        # exist, count, compare are still well posed in an empty scene
        assert row.sum() == (0 if family in ("query", "relate") else 1)


def test_seven_detected_objects_count_as_no_answer():
    """The generator never draws 7 objects, so "7" is no answer a question has: no crash, no answer."""
    test = data.load("scenes", "test")
    model = judges.Symbolic(test.vocab, test.answer_names).eval()
    model.detect = lambda x: [{"objects": [{"shape": "circle", "color": "red", "size": "small", "x": 8.0 * k + 4,
                                            "y": 8.0 * k + 4} for k in range(7)]}]
    tokens = data.encode_questions(["how many objects are there?", "how many red circles are there?",
                                    "how many blue objects are there?"], test.vocab)
    logits = model(torch.zeros(1, 3, 64, 64), torch.zeros(3, dtype=torch.long), tokens)
    assert logits[:2].sum() == 0 and logits[2].argmax() == test.answer_names.index("0")


@pytest.mark.parametrize("family", ["film", "fusion", "transformer"])
def test_features_once_per_image_equal_one_image_per_question(family):
    torch.manual_seed(0)
    d = data.load("easyvqa", "test")
    model = judges.FAMILIES[family](len(d.vocab), len(d.answer_names)).eval()
    idx = torch.arange(6)
    qi, tokens, _ = d.questions_of(idx)
    x = d.images(idx)
    with torch.no_grad():
        assert torch.allclose(model(x, qi, tokens), model(x[qi], torch.arange(len(qi)), tokens), atol=1e-5)


def test_two_places_waves_agree_by_their_offset_alone():
    """with_waves' claim, checked against the formula itself: the dot product of two cells' waves is
    Σ_k cos(kπ/2 · Δx) + cos(kπ/2 · Δy), so it depends only on the offset, and a cell agrees with
    itself more than with any other cell."""
    waves = judges.with_waves(torch.zeros(1, 0, 8, 8))[0].flatten(1).T.double()      # (64 cells, 16)
    grid = torch.linspace(-1, 1, 8, dtype=torch.float64)
    x, y = grid.repeat(8), grid.repeat_interleave(8)                                 # cell i at (x[i], y[i])
    k = torch.arange(1, 5, dtype=torch.float64) * torch.pi / 2
    dx, dy = x[:, None, None] - x[None, :, None], y[:, None, None] - y[None, :, None]
    expected = torch.cos(k * dx).sum(2) + torch.cos(k * dy).sum(2)                  # (64, 64)
    agreement = waves @ waves.T
    assert torch.allclose(agreement, expected, atol=1e-5)
    off_diagonal = agreement - 100 * torch.eye(64, dtype=torch.float64)
    assert (agreement.diagonal()[:, None] > off_diagonal + 0.5).all()


def test_fusion_reads_a_bag_of_words():
    """Word order is what the late-fusion judge never sees: reversing a question changes nothing."""
    torch.manual_seed(0)
    d = data.load("easyvqa", "test")
    model = judges.Fusion(len(d.vocab), len(d.answer_names)).eval()
    qi, tokens, _ = d.questions_of(torch.arange(4))
    lengths = (tokens > 0).sum(1)
    reversed_tokens = torch.zeros_like(tokens)
    for q, n in enumerate(lengths.tolist()):
        reversed_tokens[q, :n] = tokens[q, :n].flip(0)
    x = d.images(torch.arange(4))
    with torch.no_grad():
        assert torch.allclose(model(x, qi, tokens), model(x, qi, reversed_tokens), atol=1e-5)


def test_the_transformer_never_reads_padding():
    """Padding is masked out of the attention: more zeros after the words change no answer, though
    each zero would get its own position embedding if it were read."""
    torch.manual_seed(0)
    d = data.load("easyvqa", "test")
    model = judges.Transformer(len(d.vocab), len(d.answer_names)).eval()
    qi, tokens, _ = d.questions_of(torch.arange(4))
    longer = torch.cat([tokens, torch.zeros(len(tokens), 5, dtype=tokens.dtype)], 1)
    x = d.images(torch.arange(4))
    with torch.no_grad():
        assert torch.allclose(model(x, qi, tokens), model(x, qi, longer), atol=1e-5)


@pytest.mark.parametrize("name", sorted(judges.PANEL))
def test_shipped_judges_answer_on_originals(name):
    """On the whole test split, as the bar is stated (a 500-image subset moves a scenes judge by half
    a point), but for CLEVR's first 200 scenes (3,000 questions: the detector's programs take a
    minute per 500 scenes); every judge of the panel, and each family a different class."""
    panel, vocab = judges.load_panel(name)
    assert list(panel) == judges.PANEL[name] + ["attention"] * (f"vqa-{name}-judge" in zoo.MODELS)
    assert len({type(model) for model in panel.values()}) == len(panel)
    test = data.load(name, "test", vocab=vocab)
    acc = measure(originals(), {f: panel[f] for f in judges.PANEL[name]}, test, limit=LIMIT.get(name)).acc
    for family in judges.PANEL[name]:
        assert acc[family]["overall"] >= TARGETS[name], (family, acc[family])


def test_the_namers_executor_answers_every_question_from_the_true_names():
    """The namer with its CNN replaced by the truth (read off the questions): every question of an image
    whose shape and colour its questions tell is answered right, all 24 templates, negations too."""
    test = data.load("easyvqa", "test")
    shape, color = namer.labels_of(test)
    known = ((shape >= 0) & (color >= 0)).nonzero().flatten()[:300]
    model = namer.Namer(test.vocab, test.answer_names).eval()
    heads = lambda x: (torch.nn.functional.one_hot(shape[known], 3).float(), torch.nn.functional.one_hot(color[known], 8).float())
    model.heads = heads
    qi, tokens, answers = test.questions_of(known)
    assert len(answers) > 2000 and torch.equal(model(test.images(known), qi, tokens).argmax(1), answers)
    assert namer.parse("is no circle present".split()) == ("yes/no", "circle", True)
    assert namer.parse("what is the red shape".split()) == ("shape", None, False)
