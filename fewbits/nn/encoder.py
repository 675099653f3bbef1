"""The encoder g_a: a 64×64 image -> `bits` values in (-1, 1), one per bit of the code.

Four stride-2 convolutions shrink the image to a 4×4 map of features (a 128×128 image: one more,
of `width` channels, in front); the last layer, `fc`, turns
the map into the code. Each codec variant (codec/variants.py) chooses that layer and whether the
convolutions are normalised:

    global   a linear layer from all 4×4 cells to all the bits (FlatLinear). Any bit may describe
             anything anywhere, so the network has to learn, for each cell apart, what to send about it.
    grid     a 1×1 convolution gives each of the 4×4 cells bits/16 bits of its own, with the same
             weights in every cell: what an object looks like is bound to where it is by construction.
    map      the grid, with one more output per cell: its importance (Li et al. 2018).

A grid as in Toderici et al. or Li et al. has 16×16 cells or more, thousands of bits for a 64×64
image; 4×4 cells fit a few hundred. The global code has a GroupNorm after each convolution, the grid
codes have none: normalising each image's channels over the whole picture removes its mean colour
(the background's tint) and the contrast of a lone object, which the decoder then has to guess. On
easy-VQA it pays all the same; on scenes it made no difference worth the name (EXPERIMENTS.md,
"Where the bits live"). The tanh keeps every value in (-1, 1), which the binarizer reads as the
probability of a +1.
"""
import torch.nn as nn

MAX_BITS = 2048          # twice WebP's smallest file of a 64×64 photo square


def channels(width, deep=0):
    """Channels at 32, 16, 8 and 4 pixels: [w, 2w, 4w, 4w], or, with deep (the 4×4 features'
    channels), [w, 2w, deep/2, deep]. The low resolutions are where channels are cheap: a channel
    of the 4×4 map costs 1/64 of one at 32×32, so a codec gets more capacity where the code is read
    and written without widening the costly layers near the pixels."""
    if deep % 16 or deep < 0:                         # deep / 2 channels in GroupNorm's groups of 8
        raise ValueError(f"deep must be 0 or a positive multiple of 16, not {deep}")
    return [width, 2 * width, deep // 2, deep] if deep else [width, 2 * width, 4 * width, 4 * width]


def extra_stages(size):
    """How many more ×2 stages than a 64×64 image's an image of `size` pixels needs: 0 for 64, 1 for 128.
    ValueError, in one line, for a size that isn't 64 times a power of two."""
    if size < 64 or size & (size - 1):
        raise ValueError(f"the image size must be 64, 128, 256 …, not {size}")
    return size.bit_length() - 7


class FlatLinear(nn.Linear):
    """A linear layer over a whole feature map: (B, C, 4, 4) -> (B, out)."""

    def forward(self, f):
        return super().forward(f.flatten(1))


class Encoder(nn.Module):
    """(B, 3, size, size) in [0, 1] -> (B, n) in (-1, 1), n the outputs of `fc` (channel-major for a map)."""

    def __init__(self, fc, width=16, deep=0, norm=False, size=64):
        super().__init__()
        c = [3, *[width] * extra_stages(size), *channels(width, deep)]
        layers = []
        for cin, cout in zip(c, c[1:]):                 # (128 ->) 64 -> 32 -> 16 -> 8 -> 4
            layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1), *([nn.GroupNorm(8, cout)] * norm), nn.SiLU()]
        self.convs = nn.Sequential(*layers)
        self.fc = fc                                     # (B, c4, 4, 4) -> (B, n) or (B, n / 16, 4, 4)

    def forward(self, x):
        return self.fc(self.convs(x - 0.5)).flatten(1).tanh()
