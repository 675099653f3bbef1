"""The object code with a decoder that draws the geometry and learns the light.

codec/objects.py's decoder learns everything from one-hot fields at 16×16: where an object's edges
run, and how it is lit. It learns the second well and the first badly: its cubes come back as
rounded lumps, because 16×16 cells and two up-blocks are too coarse a place to learn a corner. Yet
the code names each object's shape, size, turn and place on the ground, and the camera is fixed,
so where each pixel's ray meets which surface is geometry, not something to learn. This decoder
does that part with the project's ray caster (data/render.py) and learns the rest:

    the code's objects (shape, size, turn, place in the image, colour, material)
      │  unproject each centre to the ground; a cube turns by the middle of its turn's step
      ▼
    G-buffer (B, 26, size, size): per pixel, what the ray through its centre meets (render.surfaces):
      │  the object's shape, size, colour and material one-hot (all 0 on the ground), the surface
      │  normal, whether the key light reaches it (one shadow ray), the normal's cosines with the
      │  lights and their halfway vectors (where a highlight can be), and the pixel's place
      │  near: a 3×3 layer at the output size (edges)
      │  far: on the G-buffer at 128×128 whatever the output size, a stride-2 layer and dilated 3×3
      │  layers (receptive field 63 pixels: shadows' extent, what metal reflects), resized
      │  a per-pixel MLP over both
      ▼
    x_hat (B, 3, size, size)

So the circles are round and the cubes have corners by construction, at any size asked for: the
rays are cast at that size. What stays learned: shading, highlights, the shadows' shapes, the metal's
reflections, the soft edges. The file and the encoder are the object code's, unchanged; only g_s
differs. The decoder has no gradient to the code (it is discrete), as in codec/objects.py.

This uses the fact that the scenes come from a known camera and known shapes; a code of named
objects needs a decoder that knows what the names look like, and here it can know exactly.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data import clevr, render
from ..nn.decoder import pixel_mlp
from .objects import FineObjectCodec, ObjectCodec

SEEN = ("shape", "size", "color", "material")     # the fields a pixel of an object carries
INPUTS = 1 + sum(len(clevr.ATTRS[k]) for k in SEEN) + 3 + 1 + 4 + 2   # object, fields, normal, lit, cosines, u, v


class CastDecoder(nn.Module):
    """The one-hot fields (B, channels, 16, 16) -> the ray caster's own picture of the objects they
    name (data/render.py, with its shadows, highlights and reflections), at any size. No weights:
    the decoder that knows the renderer the scenes came from, the reference for DrawnDecoder."""

    def __init__(self, layout):
        super().__init__()
        self.layout = layout
        starts = dict(zip(layout.fields, torch.tensor([0, *layout.fields.values()]).cumsum(0).add(1).tolist()))
        self.seen = [0] + [c for k in SEEN for c in range(starts[k], starts[k] + layout.fields[k])]

    def scenes(self, code):
        """(B, channels, 16, 16) -> per image, (objects as render.py takes them, their fields (n, 16))."""
        parts = code.split([1, *self.layout.fields.values()], 1)
        ids = torch.cat([parts[0].round().long(), *(p.argmax(1, keepdim=True) for p in parts[1:])], 1)
        u, v = self.layout.centres(ids)
        scenes = []
        for b in range(len(code)):
            objects, fields = [], []
            for cv, cu in (ids[b, 0] == 1).nonzero().tolist():
                f = dict(zip(self.layout.fields, ids[b, 1:, cv, cu].tolist()))
                size = clevr.SIZES[f["size"]]
                x, y = render.CAMERA.unproject(u[b, cv, cu].cpu(), v[b, cv, cu].cpu(), clevr.IMAGE_SIZE,
                                               render.SIZES[size])
                objects.append({"shape": clevr.SHAPES[f["shape"]], "size": size, "x": x.item(), "y": y.item(),
                                "angle": (f["turn"] + 0.5) / self.layout.turns * math.pi / 2,
                                "colour": clevr.COLORS[f["color"]], "material": clevr.MATERIALS[f["material"]]})
                fields.append(code[b, self.seen, cv, cu].cpu())
            scenes.append((objects, torch.stack([torch.zeros(len(self.seen)), *fields])))   # row 0: the ground
        return scenes

    def features(self, code):
        return self.scenes(code), code.device

    def render(self, f, size):
        scenes, device = f
        return torch.stack([render.render(objects, size)[0] for objects, _ in scenes]).to(device)

    def forward(self, code, size=128):
        return self.render(self.features(code), size)


class DrawnDecoder(CastDecoder):
    """The one-hot fields (B, channels, 16, 16) -> an image at any size, through a G-buffer cast
    at that size. `features` reads the objects off the code and computes what every size shares,
    `render` casts the rays at the size asked for and shades them."""

    def __init__(self, layout, width=32):
        super().__init__(layout)
        self.near = nn.Sequential(nn.Conv2d(INPUTS, width, 3, padding=1), nn.SiLU())
        far = [nn.Conv2d(INPUTS, width, 3, stride=2, padding=1), nn.SiLU()]
        for dilation in (1, 2, 4, 8):
            far += [nn.Conv2d(width, width, 3, padding=dilation, dilation=dilation), nn.GroupNorm(8, width), nn.SiLU()]
        self.far = nn.Sequential(*far)
        self.to_rgb = pixel_mlp(2 * width)

    def features(self, code):
        """(B, channels, 16, 16) -> what every output size shares: the objects, and the far features
        (B, w, 64, 64) of the G-buffer cast at 128×128, so that shadows and reflections reach as far
        across the scene at every size."""
        scenes = self.scenes(code)
        g = self.gbuffer(scenes, clevr.IMAGE_SIZE).to(code.device)
        return scenes, g, self.far(g)

    def gbuffer(self, scenes, size):
        """-> (B, INPUTS, size, size), the decoder's input."""
        s = (torch.arange(size) + 0.5) / size * 2 - 1
        place = torch.stack(torch.meshgrid(s, s, indexing="xy"))                # (2, size, size): u, v
        out = []
        for objects, fields in scenes:
            index, normal, lit, cosines = render.surfaces(objects, size)
            attrs = fields[index.clamp(min=-1) + 1].permute(2, 0, 1)            # (16, size, size)
            out.append(torch.cat([attrs, normal, lit[None], cosines, place]))
        return torch.stack(out)

    def render(self, f, size):
        scenes, g, far = f
        if size != g.shape[-1]:
            g = self.gbuffer(scenes, size).to(far.device)
        far = F.interpolate(far, size=(size, size), mode="bilinear", align_corners=False, antialias=size < far.shape[-1])
        return torch.sigmoid(self.to_rgb(torch.cat([self.near(g), far], 1)))

    def forward(self, code, size=128):
        return self.render(self.features(code), size)


class DrawnObjectCodec(ObjectCodec):
    """ObjectCodec's code (14 bits an object's cell) with the drawing decoder."""
    code = "objects-drawn"

    def decoder(self, width):
        return DrawnDecoder(self.layout, width)


class FineDrawnObjectCodec(DrawnObjectCodec):
    """FineObjectCodec's code (17 bits: a cube's turn in 8 steps, the centre in eighths of a cell)
    with the drawing decoder."""
    code = "objects-fine-drawn"
    layout = FineObjectCodec.layout


class CastObjectCodec(ObjectCodec):
    """ObjectCodec's code drawn by the ray caster itself (CastDecoder): nothing in g_s to train."""
    code = "objects-cast"

    def decoder(self, width):
        return CastDecoder(self.layout)


class FineCastObjectCodec(CastObjectCodec):
    """FineObjectCodec's code drawn by the ray caster itself."""
    code = "objects-fine-cast"
    layout = FineObjectCodec.layout
