"""The encoder g_a: a 64×64 image -> `bits` values in (-1, 1), one per bit of the code.

Four stride-2 convolutions shrink the image to a 4×4 map of features; the last layer turns the map
into `bits` numbers, laid out in one of two ways (the model argument `code`):

    "global": one linear layer from all 4×4 cells to all the bits. Any bit may describe anything
              anywhere, so the network has to learn, for each cell apart, what to send about it.
    "grid":   a 1×1 convolution gives each of the 4×4 cells bits/16 bits of its own (16 at 256 bits),
              with the same weights in every cell: what an object looks like is bound to where it
              is by construction, and what is learned in one cell holds in all. On scenes (1-6
              objects) it learns much faster (EXPERIMENTS.md).

    "map":    the grid code with an importance map, after Li et al. (2018): 16 more values, one per
              cell, say how many of the cell's bits/16 bits are worth sending, in groups of GROUP_BITS
              (model.py masks and codes them). An empty cell can send none.

A grid as in Toderici et al. or Li et al. has 16×16 cells or more, thousands of bits for a 64×64
image; 4×4 cells fit a few hundred. The two codes also differ in one more way: "global" has a
GroupNorm after each convolution, "grid" and "map" have none. Normalising each image's channels over the whole
picture removes its mean colour (the background's tint) and the contrast of a lone object, which
the decoder then has to guess. On easy-VQA it is worth it all the same: the four global codecs,
retrained without it, kept 0.5 to 6.5 points fewer answers under the held-out judges, most of them
on shape. On scenes it made no difference worth the name (1.6 points, one run each), and the grid
is 8 points ahead either way (EXPERIMENTS.md, "Where the bits live"). The tanh keeps every value
in (-1, 1), which the binarizer reads as the probability of a +1.
"""
import torch.nn as nn

CODES = ("global", "grid", "map")
GROUP_BITS = 4                                      # the map code sends a cell's bits 4 at a time


def check_code(bits, code, deep=0):
    """Raise ValueError, in one line, for a code this encoder or the file header can't hold."""
    if deep % 16 or deep < 0:                         # deep / 2 channels in GroupNorm's groups of 8
        raise ValueError(f"deep must be 0 or a positive multiple of 16, not {deep}")
    if code not in CODES:
        raise ValueError(f"code must be one of {', '.join(CODES)}, not {code!r}")
    if not 16 <= bits <= 2048:                       # 2048: twice WebP's smallest file of a photo square
        raise ValueError(f"bits must be in 16…2048, not {bits}")
    step = {"global": 8, "grid": 16, "map": 16 * GROUP_BITS}[code]    # whole bytes; 4×4 cells; whole groups
    if bits % step:
        raise ValueError(f"bits must be a multiple of {step} for the {code} code, not {bits}")


def channels(width, deep=0):
    """Channels at 32, 16, 8 and 4 pixels: [w, 2w, 4w, 4w], or, with deep (the 4×4 features'
    channels), [w, 2w, deep/2, deep]. The low resolutions are where channels are cheap: a channel
    of the 4×4 map costs 1/64 of one at 32×32, so a codec gets more capacity where the code is read
    and written without widening the costly layers near the pixels. On photos at 1,472 bits, deep=256
    took FD from 3.33 to 2.76 with 7% fewer bits, for 1.7× the training minutes (EXPERIMENTS.md)."""
    return [width, 2 * width, deep // 2, deep] if deep else [width, 2 * width, 4 * width, 4 * width]


class Encoder(nn.Module):
    def __init__(self, bits=256, width=16, code="global", deep=0):
        super().__init__()
        check_code(bits, code, deep)
        self.code = code
        c = [3, *channels(width, deep)]
        layers = []
        for cin, cout in zip(c, c[1:]):                 # 64 -> 32 -> 16 -> 8 -> 4
            norm = [nn.GroupNorm(8, cout)] if code == "global" else []
            layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1), *norm, nn.SiLU()]
        self.convs = nn.Sequential(*layers)
        if code == "global":
            self.fc = nn.Linear(c[-1] * 4 * 4, bits)
        else:                                            # a 1×1 convolution: one linear layer per cell
            self.fc = nn.Conv2d(c[-1], bits // 16 + (code == "map"), 1)   # + the cell's importance

    def forward(self, x):
        """(B, 3, 64, 64) in [0, 1] -> (B, bits) in (-1, 1); the map code appends its 16 importances."""
        f = self.convs(x - 0.5)                          # (B, 4w or deep, 4, 4)
        if self.code == "global":
            return self.fc(f.flatten(1)).tanh()
        return self.fc(f).flatten(1).tanh()              # (B, bits/16 (+1), 4, 4) -> channel-major
