"""The encoder g_a: a 64×64 image -> `bits` values in (-1, 1), one per bit of the code.

A global code suits a budget of a few hundred bits: four stride-2 convolutions shrink the image to
4×4, and one linear layer maps everything to `bits` numbers. (A spatial grid of code channels, as
in Toderici et al. or Li et al., spends thousands of bits on a 64×64 image.) The tanh keeps every
value in (-1, 1), which the binarizer reads as the probability of a +1.
"""
import torch.nn as nn


class Encoder(nn.Module):
    def __init__(self, bits=256, width=16):
        super().__init__()
        if not 16 <= bits <= 1024:
            raise ValueError(f"bits must be in 16…1024, not {bits}")
        c = [3, width, 2 * width, 4 * width, 4 * width]
        layers = []
        for cin, cout in zip(c, c[1:]):                 # 64 -> 32 -> 16 -> 8 -> 4
            layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.GroupNorm(8, cout), nn.SiLU()]
        self.convs = nn.Sequential(*layers)
        self.fc = nn.Linear(4 * width * 4 * 4, bits)

    def forward(self, x):                                # (B, 3, 64, 64) in [0, 1] -> (B, bits) in (-1, 1)
        return self.fc(self.convs(x - 0.5).flatten(1)).tanh()
