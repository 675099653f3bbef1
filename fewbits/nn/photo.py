"""The photo codec's networks: fully convolutional, so a photo of any size goes in and comes out.

    PhotoEncoder   x (B, 3, H, W) in [0, 1], H and W multiples of STRIDE
                   -> y (B, C, H/16, W/16) in (-1, 1), and importance p (B, 1, H/16, W/16) in (0, 1)
    PhotoDecoder   b (B, C, h, w) in {-1, 0, +1} -> x_hat (B, 3, 16h, 16w), and at half that size

Four stride-2 convolutions take the encoder down to one position per 16×16 pixels; the decoder goes
back up through four ×2 stages (a convolution to four times the channels, then PixelShuffle), with
two residual blocks at the lowest resolution first, where a channel costs 1/256 of one at the
pixels. Its half-size picture, from the third stage, is what a small `--size` decodes, at a quarter
of the last stage's cost.

in_stripes(f, x, rows, margin, scale) runs either network over horizontal stripes of its input with
`margin` more rows on each side, and keeps each stripe's middle. Where the margin covers the
network's receptive field the stripes join into exactly f(x): no seams, and the memory of one
stripe, whatever the photo's height.
"""
import torch
import torch.nn as nn

STRIDE = 16              # pixels per code position, each way
ENCODER_MARGIN = 64      # pixel rows of context each side of a stripe: the encoder sees 30 (4 convs of 5)
DECODER_MARGIN = 8       # positions of context: the decoder sees 7 (5 convs of 3 at 1/16, then 1 at 1/8 …)


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(c, c, 3, padding=1))

    def forward(self, f):
        return f + self.body(f)


class PhotoEncoder(nn.Module):
    def __init__(self, channels=64, width=32):
        super().__init__()
        c = [3, width, 2 * width, 3 * width, 4 * width]
        layers = []
        for cin, cout in zip(c, c[1:]):                     # H -> H/2 -> H/4 -> H/8 -> H/16
            layers += [nn.Conv2d(cin, cout, 5, stride=2, padding=2), nn.LeakyReLU(0.2)]
        self.convs = nn.Sequential(*layers)
        self.head = nn.Conv2d(4 * width, channels + 1, 1)    # the code's channels, and the importance

    def forward(self, x):
        y = self.head(self.convs(x - 0.5)).tanh()            # (B, C + 1, h, w)
        return y[:, :-1], (1 + y[:, -1:]) / 2


class Up(nn.Sequential):
    """(B, cin, h, w) -> (B, cout, 2h, 2w): a 3×3 convolution to 4 cout channels, then PixelShuffle."""

    def __init__(self, cin, cout):
        super().__init__(nn.Conv2d(cin, 4 * cout, 3, padding=1), nn.PixelShuffle(2),
                         nn.LeakyReLU(0.2, inplace=True))          # in place: the shuffle's copy is its own


class PhotoDecoder(nn.Module):
    def __init__(self, channels=64, width=32):
        super().__init__()
        c = [4 * width, 3 * width, 2 * width, width, width]
        self.head = nn.Sequential(nn.Conv2d(channels, c[0], 3, padding=1), nn.LeakyReLU(0.2),
                                  ResBlock(c[0]), ResBlock(c[0]))
        self.ups = nn.ModuleList(Up(cin, cout) for cin, cout in zip(c, c[1:]))
        self.to_rgb = nn.Conv2d(width, 3, 3, padding=1)
        self.to_rgb_half = nn.Conv2d(width, 3, 1)

    def forward(self, b, half=False):
        """-> x_hat (B, 3, 16h, 16w) in [0, 1], or with half=True the picture at 8h × 8w only."""
        f = self.head(b)
        for up in self.ups[:3]:
            f = up(f)
        if half:
            return torch.sigmoid(self.to_rgb_half(f))
        return torch.sigmoid(self.to_rgb(self.ups[3](f)))

    def both(self, b):
        """The training pass: (x_hat, x_hat at half size), from one run of the shared stages."""
        f = self.head(b)
        for up in self.ups[:3]:
            f = up(f)
        return torch.sigmoid(self.to_rgb(self.ups[3](f))), torch.sigmoid(self.to_rgb_half(f))


def in_stripes(f, x, rows, margin, scale):
    """f over horizontal stripes of x (B, C, H, W): `rows` rows at a time, each with up to `margin`
    more rows on either side, each output cropped back to its own rows and the crops joined.
    f maps r rows to r × scale rows. f may return a tuple; each part is joined."""
    H, joined = x.shape[2], None
    for top in range(0, H, rows):
        lo, hi, end = max(0, top - margin), min(H, top + rows + margin), min(H, top + rows)
        out = f(x[:, :, lo:hi])
        out = out if isinstance(out, tuple) else (out,)
        if joined is None:                       # filled in place: no second copy of the whole
            joined = tuple(o.new_empty(*o.shape[:2], round(H * scale), o.shape[3]) for o in out)
        for whole, o in zip(joined, out):
            whole[:, :, round(top * scale):round(end * scale)] = \
                o[:, :, round((top - lo) * scale):round((end - lo) * scale)]
    return joined if len(joined) > 1 else joined[0]
