"""The object code drawn by the ray caster: the decoder casts the rays of the objects the code names.

codec/objects.py's decoder g_s learns to draw from one-hot fields at 16×16, and learns the light
well and the shapes badly: its cubes come back as rounded lumps, because 16×16 cells and two
up-blocks are too coarse a place to learn a corner. Yet the code names each object's shape, size,
turn, place, colour and material, and the camera and the lights are fixed. So this decoder reads
the objects off the code and draws them with the ray caster that made the scenes (data/render.py):

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
The file and the encoder are the object code's; only g_s differs, and it has no weights. So a
training step has nothing to decode: the encoder learns from the scene graphs alone.

This works because the scenes come from a known camera and known shapes: a code of named objects
needs a decoder that knows what the names look like, and here it can know exactly. A decoder that
learned the light on top of the cast geometry lost to this one on the validation split
(EXPERIMENTS.md, "The cubes get their corners").
"""
import torch
import torch.nn as nn

from ..data import clevr, render
from .objects import FineObjectCodec, ObjectCodec


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


class CastObjectCodec(ObjectCodec):
    """ObjectCodec's code (14 bits an object's cell), drawn by the ray caster. Its encoder is an
    ObjectCodec's, trained from the scene graphs: `fewbits train --code objects-cast`, or `--init`
    from an ObjectCodec with `--steps 0`."""
    code = "objects-cast"

    def decoder(self, width):
        return CastDecoder(self.layout)

    def forward(self, x, soft=False):
        """ObjectCodec's pass; in training, without the decodes: the caster has no weights to learn
        from them, the encoder learns from the scene graphs, and casting a batch twice would take
        most of a step. train.py then trains on the label loss and the rate alone."""
        if not self.training:
            return super().forward(x)
        _, rate, logits = self.sends(x)
        return {"rate": rate, "logits": logits}


class FineCastObjectCodec(CastObjectCodec):
    """FineObjectCodec's code (17 bits: a cube's turn in 8 steps, the centre in eighths of a cell),
    drawn by the ray caster."""
    code = "objects-fine-cast"
    layout = FineObjectCodec.layout
