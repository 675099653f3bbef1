"""The decoder g_s, the GAN generator: bits (B, n) in {-1, +1} -> an image in [0, 1] at any size.

    bits -> fc -> (c4, 4, 4) -> three ×2 up-blocks -> features (w, 32, 32)   (a 128×128 codec: one more, (w, 64, 64))
         -> resize the features to the output size -> a per-pixel MLP (1×1 convs) -> RGB

The last step makes one bitstream decode at several resolutions (32, 64, 128 …): the features are a
continuous map, and the per-pixel MLP turns each interpolated feature vector into a colour, so edges
stay sharp where a plain upsampling of a 64×64 picture would blur them. Training sees 64 and 32.

`fc` reads the code as the encoder laid it out, and each codec variant (codec/variants.py) gives its
own: the global code a linear layer from all bits to all 4×4 cells (LinearToCells); the grid codes
a 3×3 convolution over the (bits/16, 4, 4) map (ConvFromCells), so that each cell also reads its
neighbours' bits (an object on a cell border is described by both).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .encoder import channels, extra_stages


class LinearToCells(nn.Linear):
    """(B, bits) -> (B, c4, 4, 4) through one linear layer."""

    def forward(self, b):
        return super().forward(b).view(len(b), -1, 4, 4)


class ConvFromCells(nn.Conv2d):
    """(B, bits) laid out channel-major over the 4×4 cells -> (B, c4, 4, 4) through a convolution."""

    def forward(self, b):
        return super().forward(b.view(len(b), -1, 4, 4))


class UpBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1)
        self.norm1, self.norm2 = nn.GroupNorm(8, cout), nn.GroupNorm(8, cout)

    def forward(self, f):                                # (B, cin, H, W) -> (B, cout, 2H, 2W)
        f = F.interpolate(f, scale_factor=2, mode="nearest")
        h = F.silu(self.norm1(self.conv1(f)))
        return F.silu(self.norm2(self.conv2(h)) + self.skip(f))


def pixel_mlp(width):
    """The per-pixel MLP: w features -> RGB logits, at every pixel alike."""
    return nn.Sequential(nn.Conv2d(width, 2 * width, 1), nn.SiLU(), nn.Conv2d(2 * width, 3, 1))


class Renderer(nn.Module):
    """The last step of both decoders (this one and codec/objects.py's): features (B, w, h, h) ->
    resized to the output size -> self.to_rgb, a pixel_mlp -> (B, 3, size, size) in [0, 1]."""

    def render(self, f, size):
        if size != f.shape[-1]:
            f = F.interpolate(f, size=(size, size), mode="bilinear", align_corners=False, antialias=size < f.shape[-1])
        return torch.sigmoid(self.to_rgb(f))


class Decoder(Renderer):
    def __init__(self, fc, width=16, deep=0, size=64):
        super().__init__()
        c32, c16, c8, c4 = channels(width, deep)          # the encoder's channels, walked back up
        self.fc, self.size = fc, size                     # (B, bits) -> (B, c4, 4, 4); the images' side
        ups = [UpBlock(c4, c8), UpBlock(c8, c16), UpBlock(c16, c32)]                   # 4 -> 8 -> 16 -> 32
        self.ups = nn.Sequential(*ups, *(UpBlock(width, width) for _ in range(extra_stages(size))))  # (-> 64)
        self.to_rgb = pixel_mlp(width)              # registered last: old checkpoints' optimiser states follow this order

    def features(self, b):                               # (B, bits) -> (B, w, size / 2, size / 2)
        f = F.silu(self.fc(b))
        # channels-last memory: the 1×1 convs and the bilinear resize run 2-5× faster on a CPU this way
        return self.ups(f.contiguous(memory_format=torch.channels_last))

    def forward(self, b, size=None):                     # -> (B, 3, size, size), by default the images' size
        return self.render(self.features(b), size or self.size)
