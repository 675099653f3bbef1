"""The object code's decoder: the ray caster that made the scenes, casting the objects the code names.

The code names each object's shape, size, turn, place, colour and material, and the camera and the
lights are fixed. So the decoder reads the objects off the code and draws them with the ray caster
that made the scenes (data/render.py):

    the code's objects: shape, size, a cube's turn, the centre in the image, colour, material
      │  each centre's ray met at the object's centre height (Camera.unproject): its place on the
      │  ground; a cube turns by the middle of its turn's step
      ▼
    objects as render.py takes them
      │  render.render at the size asked for: shading, shadows, highlights, metal's reflections
      ▼
    x_hat (B, 3, size, size)

Circles are round and cubes have corners by construction, at any size: the rays are cast at the
size asked for. What a decode gets wrong is what the code gets wrong: an object the encoder missed
or misread, a centre up to half a step of the code off, a cube's turn up to half a turn step off.
It has no weights, so training has nothing to decode.

This works because the scenes come from a known camera and known shapes: a code of named objects
needs a decoder that knows what the names look like, and here it can know exactly. Learned
decoders drew cubes as rounded lumps (16×16 cells and two up-blocks are too coarse a place to learn
a corner), and one that learned only the light on top of the cast geometry lost to the caster on
the validation split (EXPERIMENTS.md, "The cubes get their corners").
"""
import torch
import torch.nn as nn

from ..data import clevr, render


class CastDecoder(nn.Module):
    """The one-hot fields (B, channels, 16, 16) -> the ray caster's picture of the objects they name,
    (B, 3, size, size) at any size. `features` reads the objects (what every size shares), `render`
    casts the rays."""

    def __init__(self, layout):
        super().__init__()
        self.layout = layout

    def features(self, code):
        """(B, channels, 16, 16) -> per image, its objects as render.py takes them; and the device."""
        scenes = []
        for graph in self.layout.graphs_of(self.layout.from_one_hot(code)):
            objects = []
            for o in graph["objects"]:                   # a centre is r above the ground
                x, y = render.CAMERA.unproject(o["u"], o["v"], clevr.IMAGE_SIZE, render.SIZES[o["size"]])
                objects.append({**o, "x": x.item(), "y": y.item(), "colour": o["color"]})
            scenes.append(objects)
        return scenes, code.device

    def render(self, f, size):
        scenes, device = f
        return torch.stack([render.render(objects, size)[0] for objects in scenes]).to(device)

    def forward(self, code, size=128):
        return self.render(self.features(code), size)
