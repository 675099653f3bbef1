"""codec/objects.py, the object code, against the scene graphs it stands for: logits that say exactly
what a graph holds are chosen, coded and read back into that graph's objects; a cell's fields are
coded only where an object is; an object seen twice in neighbouring cells is sent once."""
import math

import pytest
import torch
import torch.nn.functional as F

from fewbits.codec import ObjectCodec, load_codec, codec_checkpoint
from fewbits.codec.objects import FineObjectCodec
from fewbits.codec import objects
from fewbits.data import clevr
from fewbits import files, metrics

LAYOUT = ObjectCodec.layout                      # the shipped clevr-cast's layout


@pytest.fixture(scope="module")
def split():
    images, graphs, _ = clevr.generate(12, "test", seed=7)
    return torch.as_tensor(images).permute(0, 3, 1, 2).float() / 255, graphs


def perfect_logits(t, layout=LAYOUT):
    """The logits an encoder that is sure of targets t (B, 1 + fields, 16, 16) would give."""
    hots = [10.0 * F.one_hot(t[:, k], n).permute(0, 3, 1, 2) for k, n in enumerate(layout.fields.values(), 1)]
    return torch.cat([20.0 * t[:, :1] - 10, *hots], 1)


def test_targets_hold_each_object_of_the_graph_in_its_cell(split):
    _, graphs = split
    t = LAYOUT.targets(graphs)
    for b, g in enumerate(graphs):
        cells = {clevr.cell_of(o) for o in g["objects"]}
        assert t[b, 0].sum() == len(cells)
        for o in g["objects"]:
            cu, cv = clevr.cell_of(o)
            assert clevr.SHAPES[t[b, 1, cv, cu]] == o["shape"] and clevr.COLORS[t[b, 4, cv, cu]] == o["color"]
            # the centre read back from (cell, quarter) is within an eighth of a cell of the truth
            u = (cu + (t[b, -2, cv, cu] + 0.5) / 4) * objects.CELL
            assert abs(u - o["u"]) <= objects.CELL / 8 + 1e-6
            if o["shape"] != "cube":
                assert t[b, 2, cv, cu] == 0            # a turn says nothing of a sphere or a cylinder


@pytest.mark.parametrize("layout, per_cell", [(LAYOUT, 14), (FineObjectCodec.layout, 17)])
def test_sure_logits_are_chosen_coded_and_read_back_as_the_graph(layout, per_cell, split):
    """Each centre comes back within half a step of the truth each way: an eighth of a cell for the
    4-step code, a sixteenth for the fine one."""
    _, graphs = split
    t = layout.targets(graphs)
    ids = layout.choose(perfect_logits(t, layout))
    assert torch.equal(ids, t)
    bits = layout.to_bits(ids)
    assert layout.per_cell == per_cell and bits.shape == (len(graphs), objects.CELLS * per_cell)
    assert torch.equal(layout.from_bits(bits), t)
    half_step = objects.CELL / (2 * layout.places) * math.sqrt(2) + 1e-6
    said = metrics.misread(layout.graphs_of(t), graphs, radius=half_step, attrs=tuple(objects.ATTRS), place=("u", "v"))
    shared = sum(len(g["objects"]) - len({clevr.cell_of(o) for o in g["objects"]}) for g in graphs)
    assert said["missed"] == shared and said["extra"] == 0
    assert all(said[k] == 0 for k in objects.ATTRS)


def test_an_object_seen_twice_is_sent_once_and_two_objects_twice():
    t = torch.zeros(1, 1 + len(LAYOUT.fields), 16, 16, dtype=torch.long)
    t[0, 0, 5, 5] = t[0, 0, 5, 6] = 1
    t[0, -2, 5, 5], t[0, -2, 5, 6] = 3, 0          # centres 2 pixels apart, across the cell border
    logits = perfect_logits(t)
    logits[0, 0, 5, 6] = 3.0                       # the less sure of the two
    assert LAYOUT.choose(logits)[0, 0].sum() == 1 and LAYOUT.choose(logits)[0, 0, 5, 5] == 1
    t[0, -2, 5, 5] = 0                             # now 8 pixels apart: two objects
    assert LAYOUT.choose(perfect_logits(t))[0, 0].sum() == 2


def test_fields_are_coded_only_where_an_object_is(split):
    _, graphs = split
    model = ObjectCodec().eval()
    bits = LAYOUT.to_bits(LAYOUT.targets(graphs))
    coded = model.coded(bits)
    per_cell = coded.view(len(graphs), objects.CELLS, LAYOUT.per_cell)
    assert per_cell[..., 0].all()                                   # every object bit
    assert torch.equal(per_cell[..., 1:].any(2), bits.view_as(per_cell)[..., 0].bool())
    assert coded.sum(1).tolist() == [objects.CELLS + len({clevr.cell_of(o) for o in g["objects"]}) * (LAYOUT.per_cell - 1)
                                     for g in graphs]


@pytest.mark.parametrize("kind", [ObjectCodec, FineObjectCodec])
def test_files_round_trip_to_the_drawing_of_what_the_encoder_chose(kind, split, tmp_path):
    x, _ = split
    torch.manual_seed(0)
    model = kind(width=8).eval()
    model.fit_table([x])
    strings = model.compress(x)["strings"]
    with torch.no_grad():
        expected = model.g_s(kind.layout.one_hot(kind.layout.choose(model.g_a(x - 0.5))))
        assert torch.allclose(model.decompress(strings)["x_hat"], expected.clamp(0, 1), atol=1e-6)
        assert model.decompress(strings, size=64)["x_hat"].shape == (len(x), 3, 64, 64)
    files.save_checkpoint(codec_checkpoint(model, data="clevr"), tmp_path / "codec.pt")
    again = load_codec(tmp_path / "codec.pt")
    assert type(again) is kind and again.compress(x)["strings"] == strings and again.fingerprint() == model.fingerprint()


class Sure(torch.nn.Module):
    """An encoder that finds exactly the graphs' objects."""

    def __init__(self, graphs):
        super().__init__()
        self.logits = perfect_logits(LAYOUT.targets(graphs))

    def forward(self, x):
        return self.logits


def test_a_file_grows_with_the_objects_in_it(split):
    x, graphs = split
    model = ObjectCodec(width=8).eval()
    model.g_a = Sure(graphs)
    model.fit_table([x], contexts=(0,))
    lengths = torch.tensor([8.0 * len(s) for s in model.compress(x)["strings"]])
    n = torch.tensor([float(len({clevr.cell_of(o) for o in g["objects"]})) for g in graphs])
    slope = ((n - n.mean()) * (lengths - lengths.mean())).sum() / ((n - n.mean()) ** 2).sum()
    # each object: its map bit and its fields, which cost less than their 13 bits under a table
    # counted on these same 12 images
    assert 4 < slope < LAYOUT.per_cell + 8, slope


def test_label_loss_is_near_zero_only_for_logits_that_say_the_graph(split):
    _, graphs = split
    model, t = ObjectCodec(), LAYOUT.targets(graphs)
    assert model.label_loss(perfect_logits(t), graphs) < 1e-3
    wrong = t.clone()
    wrong[:, 4] = (wrong[:, 4] + 1) % len(clevr.COLORS)            # every colour one off
    assert model.label_loss(perfect_logits(wrong), graphs) > 5


def test_only_clevrs_size_is_accepted():
    with pytest.raises(ValueError, match="128"):
        ObjectCodec(size=64)
    assert math.isclose(objects.CELL * 16, clevr.IMAGE_SIZE)


def test_calibrate_lowers_the_threshold_of_an_unsure_encoder_until_every_object_is_found(split):
    x, graphs = split
    model = ObjectCodec(width=8).eval()
    model.g_a = Sure(graphs)
    model.g_a.logits[:, 0] -= 11.0                 # objects at logit -1, empty cells at -21
    assert model.code_bits(x)[0].view(len(x), objects.CELLS, -1)[..., 0].sum() == 0
    costs = model.calibrate([x], graphs)
    assert model.threshold < -1 and costs[model.threshold.item()] == 0 and costs[0] > 0
    assert LAYOUT.graphs_of(LAYOUT.choose(model.g_a(x), model.threshold))[0]["objects"][0]["shape"] in clevr.SHAPES
    found = model.code_bits(x)[0].view(len(x), objects.CELLS, -1)[..., 0].sum((1,))
    assert found.tolist() == [len({clevr.cell_of(o) for o in g["objects"]}) for g in graphs]
