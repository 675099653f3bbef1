"""The codec variants: how the bits are laid out over the image's 4×4 cells. Each is a Codec (base.py).

    GlobalCodec(bits=256)   one code for the whole image: any bit may describe anything anywhere
    GridCodec(bits=256)     bits/16 bits for each of 4×4 cells, the same weights in every cell
    MapCodec(bits=120)      the grid with an importance map (Li et al. 2018): a busy image gets more

    codec = load_codec(path)                  # any of them, rebuilt from its checkpoint alone
    ckpt = codec_checkpoint(codec, data=...)  # what load_codec needs

The grid learns much faster on scenes of several objects: what an object looks like is bound to
where it is by construction, and what is learned in one cell holds in all (EXPERIMENTS.md).
"""
import torch
import torch.nn as nn

from .. import files
from ..nn.decoder import ConvFromCells, LinearToCells
from ..nn.encoder import MAX_BITS, FlatLinear
from ..nn.quantize import keep_levels
from .base import Codec
from .fullres import PhotoCodec
from .objects import FineObjectCodec, ObjectCodec

GROUP_BITS = 4                                      # the map code sends a cell's bits 4 at a time


class GlobalCodec(Codec):
    """A linear layer from the 4×4 features to all the bits, and back; GroupNorm in the encoder."""
    code, step = "global", 8

    def layers(self, capacity, c4):
        return FlatLinear(16 * c4, capacity), LinearToCells(capacity, 16 * c4), True


class GridCodec(Codec):
    """A 1×1 convolution gives each 4×4 cell bits/16 bits; the decoder reads them with a 3×3
    convolution, so that each cell also sees its neighbours' bits."""
    code, step = "grid", 16

    def layers(self, capacity, c4, importance=0):
        return nn.Conv2d(c4, capacity // 16 + importance, 1), ConvFromCells(capacity // 16, c4, 3, padding=1), False


class MapCodec(GridCodec):
    """The grid code whose length follows the image (Li et al. 2018). Each of the 16 cells also has an
    importance p in (0, 1), and sends round(L p) of its L groups of GROUP_BITS bits (nn/quantize.py,
    keep_levels). `bits` is the mean over the training images, held there by a price per bit in
    training; the capacity is twice that, in whole groups. What the coder sees is the map, then the bits:
        [keep bits: cell 0 groups 0…L-1, cell 1 …]  [bits: channel 0 of cells 0…15, channel 1 …]
    Group g's keep bit is coded only if group g-1 is kept, and a cell's bits only if their group is
    kept (the coder's gates); the decoder reads the bits not sent as 0."""
    code, step = "map", 16 * GROUP_BITS
    can_search = False                   # search_bits moves bits, not the map that gates them
    priced = True

    def __init__(self, bits=120, width=16, context=2, deep=0, size=64):
        super().__init__(bits, width, context, deep, size)

    def coder_layout(self):
        self.levels = self.capacity // 16 // GROUP_BITS                 # groups per cell
        return 16 * self.levels + self.capacity, map_gates(self.levels)  # the map's bits, then the code's

    def capacity_of(self, bits):
        return -(-2 * bits // self.step) * self.step                    # twice the mean, in whole groups

    def check(self, bits):
        if not 8 <= bits <= MAX_BITS // 2:
            raise ValueError(f"bits must be in 8…{MAX_BITS // 2} for the map code (its capacity is twice that), "
                             f"not {bits}")

    def layers(self, capacity, c4):
        return super().layers(capacity, c4, importance=1)                # + each cell's importance

    def split(self, x, stochastic):
        y = self.g_a(x)
        p = (1 + y[:, self.capacity:]) / 2                              # (B, 16) importance in (0, 1)
        return y[:, :self.capacity], keep_levels(p, self.levels, stochastic)   # keep (B, 16 cells, L)

    def mask(self, keep):
        """keep (B, 16 cells, L groups) -> (B, capacity), 1 where a bit is sent: channel c is in group c // 4."""
        return keep.repeat_interleave(GROUP_BITS, dim=2).transpose(1, 2).flatten(1)

    def sent(self, y, b, keep):
        mask = self.mask(keep)
        first = torch.ones_like(keep[..., :1])                          # group 0's keep bit is always coded
        active = torch.cat([torch.cat([first, keep[..., :-1]], 2).flatten(1), mask], 1)
        return b * mask, self.bit_model.expected_rate(torch.cat([2 * keep.flatten(1) - 1, y], 1), active)

    @torch.no_grad()
    def code_bits(self, x):
        y, keep = self.split(x, stochastic=False)
        bits = torch.cat([keep.flatten(1), (y >= 0) * self.mask(keep)], 1).to(torch.uint8)
        gates = torch.from_numpy(self.gates).to(x.device)
        return bits, (gates < 0) | (bits[:, gates.clamp(min=0)] == 1)

    def signs(self, bits):
        keep = bits[:, :16 * self.levels].view(-1, 16, self.levels)
        return (2 * bits[:, 16 * self.levels:] - 1) * self.mask(keep)   # the bits not sent read as 0


def map_gates(levels):
    """The coder's gates for the map code: keep bit (cell, g) is coded if (cell, g - 1) is kept,
    and bit (channel c, cell) if keep bit (cell, c // 4) is. -> (16 L + 16 L 4,) ints, -1: always."""
    keep = torch.arange(16 * levels).view(16, levels)                # index of keep bit (cell, g)
    map_part = torch.cat([torch.full((16, 1), -1), keep[:, :-1]], 1).flatten()
    channels = torch.arange(levels * GROUP_BITS)
    code_part = keep[:, channels // GROUP_BITS].T.flatten()          # (channel, cell), channel-major
    return torch.cat([map_part, code_part]).numpy()


CODECS = {cls.code: cls for cls in (GlobalCodec, GridCodec, MapCodec, ObjectCodec, FineObjectCodec, PhotoCodec)}


def codec_checkpoint(codec, **info):
    """What load_codec needs to rebuild the codec alone: its variant, arguments and weights (and `info`)."""
    return {"model_args": codec.args, "codec": codec.state_dict(), **info}


def load_codec(path, device="cpu"):
    """Rebuild a codec from its checkpoint alone, in eval mode. CheckpointError names what is wrong.
    codec.trained_on is the data it was trained on, as train.py recorded it (None if it didn't)."""
    ckpt = files.load_checkpoint(path, keys=("model_args", "codec"), device=device)
    try:
        args = dict(ckpt["model_args"])
        codec = CODECS[args.pop("code", "global")](**args)
        codec.load_state_dict(ckpt["codec"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:     # other arguments, other shapes
        raise files.CheckpointError(f"{path}: not a codec this code can rebuild ({type(e).__name__})") from None
    codec.trained_on = ckpt.get("data")
    return codec.to(device).eval()
