"""codec/cast.py, the object code drawn by the ray caster, against the scene graphs the code stands
for: each object comes back as its shape, where the graph has it, over the graph's own pixels, and
a file decodes at any size to the caster's picture at that size."""
import math

import pytest
import torch

from fewbits.codec import objects
from fewbits.codec.cast import CastDecoder
from fewbits.codec.objects import FineObjectCodec, ObjectCodec
from fewbits.data import clevr, render


@pytest.fixture(scope="module")
def split():
    images, graphs, _ = clevr.generate(8, "test", seed=3)
    return torch.as_tensor(images).permute(0, 3, 1, 2).float() / 255, graphs


def cast(graphs, layout):
    """The objects the decoder reads from the code of exactly these graphs."""
    return CastDecoder(layout).features(layout.one_hot(layout.targets(graphs)))[0]


def alone(g):
    """Whether no two of a graph's centres share a cell (then the code holds every object)."""
    return len({clevr.cell_of(o) for o in g["objects"]}) == len(g["objects"])


@pytest.mark.parametrize("kind", [ObjectCodec, FineObjectCodec])
def test_each_object_is_cast_as_itself_where_the_graph_has_it(kind, split):
    """Its centre projects to within half a step of the code's grid of the truth, each way; a cube
    is turned to within half a turn step (modulo a quarter turn, which leaves a cube as it was)."""
    layout, (_, graphs) = kind.layout, split
    half_step = objects.CELL / (2 * layout.places) + 1e-3
    for g, found in zip(graphs, cast(graphs, layout)):
        assert len(found) == len({clevr.cell_of(o) for o in g["objects"]})
        for o in found:
            u, v, _ = render.CAMERA.project(torch.tensor([o["x"], o["y"], render.SIZES[o["size"]]]), clevr.IMAGE_SIZE)
            true = min(g["objects"], key=lambda t: (t["u"] - u) ** 2 + (t["v"] - v) ** 2)
            assert abs(true["u"] - u) <= half_step and abs(true["v"] - v) <= half_step
            assert [o[k] for k in ("shape", "size", "colour", "material")] == \
                   [true[k] for k in ("shape", "size", "color", "material")]
            if o["shape"] == "cube":
                turn = (o["angle"] - true["angle"]) % (math.pi / 2)
                assert min(turn, math.pi / 2 - turn) <= math.pi / 4 / layout.turns + 1e-6


def test_the_cast_objects_cover_the_graphs_own_pixels(split):
    """Where the renderer puts the truth's objects and where it puts the fine code's agree on almost
    every object pixel, and the pictures on almost every pixel: the shapes are the graph's, corners
    and all."""
    x, graphs = split
    checked = 0
    for image, g, found in zip(x, graphs, cast(graphs, FineObjectCodec.layout)):
        if alone(g):
            truth = render.render([{**o, "colour": o["color"]} for o in g["objects"]], 128)[1] >= 0
            picture, ids = render.render(found, 128)
            assert (truth & (ids >= 0)).sum() / (truth | (ids >= 0)).sum() > 0.9
            assert (picture - image).abs().amax(0).gt(0.1).float().mean() < 0.02     # 2% of pixels
            checked += 1
    assert checked >= 4


def test_a_file_decodes_at_any_size_to_the_casters_picture_at_that_size(split):
    x, _ = split
    model = FineObjectCodec().eval()
    model.fit_table([x])
    strings = model.compress(x[:2])["strings"]
    objects_read = model.g_s.features(model.signs(model.code_bits(x[:2])[0].float()))[0]
    for size in (64, 96, 200):
        x_hat = model.decompress(strings, size=size)["x_hat"]
        assert x_hat.shape == (2, 3, size, size)
        assert torch.allclose(x_hat[1], render.render(objects_read[1], size)[0])


def test_the_training_pass_casts_nothing_and_the_eval_pass_decodes_as_a_file_does(split):
    """In training the caster has no weights to learn from decodes: forward gives the rate and the
    encoder's logits, and the label loss reaches the encoder. In eval it gives the file's decodes."""
    x, graphs = split
    model = ObjectCodec().train()
    out = model(x[:4])
    assert set(out) == {"rate", "logits"} and out["rate"].shape == (4,)
    model.label_loss(out["logits"], graphs[:4]).backward()
    assert model.g_a[0].weight.grad.abs().sum() > 0
    model.eval().fit_table([x])
    x_hat = model.decompress(model.compress(x[:2])["strings"])["x_hat"]
    assert torch.allclose(model(x[:2])["x_hat"], x_hat) and model(x[:2])["x_hat_half"].shape == (2, 3, 64, 64)
