"""The ray caster (data/render.py) against analytic facts: a sphere's silhouette, a cube face's normal,
where a shadow falls, and the same picture every time."""
import math

import pytest
import torch

from fewbits.data import render as r


def ball(x=0.0, y=0.0, **kw):
    return {"shape": "sphere", "colour": "red", "material": "rubber", "size": "large", "x": x, "y": y,
            "angle": 0.0, **kw}


def test_a_spheres_silhouette_has_its_projected_area():
    """Seen from distance D, a sphere of radius r fills a cone of half-angle asin(r / D): near the
    middle of the image a disc of radius f tan(asin(r / D)) pixels, f = (size / 2) / tan(fov / 2)."""
    size = 256
    _, ids = r.render([ball()], size, samples=1)
    centre = torch.tensor([0.0, 0.0, r.SIZES["large"]])
    D = (r.CAMERA.position - centre).norm().item()
    f = size / 2 / r.CAMERA.tan
    radius = f * math.tan(math.asin(r.SIZES["large"] / D))
    assert (ids == 0).sum().item() == pytest.approx(math.pi * radius ** 2, rel=0.03)
    u, v, _ = r.CAMERA.project(centre, size)                 # and it is where the camera puts it
    rows, cols = torch.nonzero(ids == 0, as_tuple=True)
    assert cols.float().mean().item() + 0.5 == pytest.approx(u.item(), abs=1.0)
    assert rows.float().mean().item() + 0.5 == pytest.approx(v.item(), abs=1.5)


@pytest.mark.parametrize("angle", [0.0, 0.4, 1.3])
def test_a_cube_faces_normals_are_its_turned_axes(angle):
    h, c = 0.5, torch.tensor([1.0, -2.0, 0.5])
    down = r.hit_cube(torch.tensor([[1.0, -2.0, 5.0]]), torch.tensor([[0.0, 0.0, -1.0]]), c, h, angle)
    assert down[0].item() == pytest.approx(4.0) and torch.allclose(down[1], torch.tensor([[0.0, 0.0, 1.0]]))
    axis = torch.tensor([[math.cos(angle), math.sin(angle), 0.0]])        # the cube's own x axis
    side = r.hit_cube(c + 3 * axis, -axis, c, h, angle)
    assert side[0].item() == pytest.approx(3 - h) and torch.allclose(side[1], axis, atol=1e-6)


def test_a_shadow_falls_on_the_side_away_from_the_light():
    size = 128
    image, ids = r.render([ball()], size, samples=1)
    brightness = image.mean(0)
    ground = ids == -1
    shadow = ground & (brightness < 0.8 * brightness[ground].median())
    assert shadow.sum() > 50
    rows, cols = torch.nonzero(shadow, as_tuple=True)
    u, v, _ = r.CAMERA.project(torch.tensor([0.0, 0.0, 0.0]), size)        # where the ball stands
    away = -r.KEY[:2]                                    # the light's direction on the ground, reversed
    u_far, v_far, _ = r.CAMERA.project(torch.tensor([away[0], away[1], 0.0]), size)
    step = torch.tensor([u_far - u, v_far - v])
    offset = torch.stack([cols.float().mean() + 0.5 - u, rows.float().mean() + 0.5 - v])
    assert torch.cosine_similarity(offset, step, 0) > 0.95        # the shadow's middle lies away from the light


def test_metal_shines_and_rubber_does_not():
    """The brightest pixel of a metal ball is a white highlight; a rubber ball's stays its colour."""
    for material in ("metal", "rubber"):
        image, ids = r.render([ball(material=material)], 128, samples=1)
        on_ball = image[:, ids == 0]                                        # (3, pixels)
        top = on_ball[:, on_ball.mean(0).argmax()]
        assert (top.min() > 0.8) == (material == "metal"), (material, top)


def test_the_same_scene_renders_the_same_picture():
    scene = [ball(), ball(1.5, 1.0, shape="cube", angle=0.3, material="metal"),
             ball(-1.5, 1.0, shape="cylinder", size="small", colour="cyan")]
    a, ids_a = r.render(scene, 64)
    b, ids_b = r.render(scene, 64)
    assert torch.equal(a, b) and torch.equal(ids_a, ids_b) and set(ids_a.unique().tolist()) == {-1, 0, 1, 2}


def test_a_scene_of_nothing_is_the_ground():
    image, ids = r.render([], 32)
    assert (ids == -1).all() and image.std(dim=(1, 2)).max() < 0.05
