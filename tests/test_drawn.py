"""codec/drawn.py, the object code drawn by the ray caster, against the scene graphs the code stands
for: each object comes back as its shape, where the graph has it, covering the graph's own pixels,
and the decoder's input carries each pixel's object's fields."""
import math

import pytest
import torch

from fewbits.codec import objects
from fewbits.codec.drawn import SEEN, DrawnDecoder, DrawnObjectCodec, FineDrawnObjectCodec
from fewbits.data import clevr, render


@pytest.fixture(scope="module")
def graphs():
    return clevr.generate(8, "test", seed=3)[1]


def drawn(graphs, layout):
    """The objects the decoder reads from the code of exactly these graphs."""
    ids = layout.targets(graphs)
    return DrawnDecoder(layout, width=8).scenes(layout.one_hot(ids)), ids


@pytest.mark.parametrize("kind", [DrawnObjectCodec, FineDrawnObjectCodec])
def test_each_object_is_drawn_as_its_shape_where_the_graph_has_it(kind, graphs):
    """Its centre projects to within half a step of the code's grid of the truth, each way; a cube is
    turned to within half a turn step (modulo a quarter turn, which leaves a cube as it was)."""
    layout = kind.layout
    scenes, _ = drawn(graphs, layout)
    half_step = objects.CELL / (2 * layout.places) + 1e-3
    for g, (found, _) in zip(graphs, scenes):
        shared = len(g["objects"]) - len({clevr.cell_of(o) for o in g["objects"]})
        assert len(found) == len(g["objects"]) - shared
        for o in found:
            r = render.SIZES[o["size"]]
            u, v, _ = render.CAMERA.project(torch.tensor([o["x"], o["y"], r]), clevr.IMAGE_SIZE)
            true = min(g["objects"], key=lambda t: (t["u"] - u) ** 2 + (t["v"] - v) ** 2)
            assert abs(true["u"] - u) <= half_step and abs(true["v"] - v) <= half_step
            assert (o["shape"], o["size"]) == (true["shape"], true["size"])
            if o["shape"] == "cube":
                turn = (o["angle"] - true["angle"]) % (math.pi / 2)
                assert min(turn, math.pi / 2 - turn) <= math.pi / 4 / layout.turns + 1e-6


def test_the_drawn_objects_cover_the_graphs_own_pixels(graphs):
    """Where the renderer puts the truth's objects and where the fine code's objects are cast agree
    on almost every object pixel: the shapes are the graph's, corners and all."""
    scenes, _ = drawn(graphs, FineDrawnObjectCodec.layout)
    checked = 0
    for g, (found, _) in zip(graphs, scenes):
        if len({clevr.cell_of(o) for o in g["objects"]}) < len(g["objects"]):
            continue                                   # two centres in one cell: one is not sent
        checked += 1
        truth = render.surfaces(g["objects"], 128)[0] >= 0
        cast = render.surfaces(found, 128)[0] >= 0
        assert (truth & cast).sum() / (truth | cast).sum() > 0.9
    assert checked >= 4


def test_each_pixel_carries_its_objects_fields(graphs):
    layout = FineDrawnObjectCodec.layout
    decoder = DrawnDecoder(layout, width=8)
    scenes, ids = drawn(graphs, layout)
    g = decoder.gbuffer(scenes[:1], 64)[0]                 # (INPUTS, 64, 64)
    index = render.surfaces(scenes[0][0], 64)[0]
    colour = 1 + len(clevr.SHAPES) + len(clevr.SIZES)      # the first colour channel: after shape and size
    assert SEEN[2] == "color" and torch.equal(g[0] == 1, index >= 0)
    for i, o in enumerate(scenes[0][0]):
        cu, cv = [(c, r) for r, c in (ids[0, 0] == 1).nonzero().tolist()][i]
        want = clevr.COLORS[ids[0, 1 + list(layout.fields).index("color"), cv, cu]]
        said = g[colour:colour + len(clevr.COLORS), index == i].argmax(0)
        assert (said == clevr.COLORS.index(want)).all()
