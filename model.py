"""The codec: a 64×64 image -> a few hundred bits -> an image, as one nn.Module.

    x (B, 3, 64, 64) in [0, 1]
      │  g_a            encoder.py     convolutions and a tanh
      ▼
    y (B, bits) in (-1, 1)
      │  binarize       quantize.py    +1 with probability (1 + y) / 2 in training, sign(y) after
      ▼
    b (B, bits) in {-1, +1}                   ("map" code: and 0 where the importance map says so)
      │  bit model      quantize.py    P(bit i = 1 | the 2 bits before it), an integer table
      │  + arithmetic coder  bitstream.py
      ▼
    strings: one payload of bytes per image (about bits / 8 bytes; "map": as many as the map sends)
      │  (the arithmetic decoder, the same table)
      ▼
    b ──── g_s          decoder.py     the GAN generator ──▶ x_hat (B, 3, size, size) in [0, 1]

Three methods, as in CompressAI's models:
    forward(x)                 the training pass: the decodes and the rate, differentiable
    compress(x, search=0)      -> {"strings": [bytes per image]}: everything needed to decode
    decompress(strings, size)  -> {"x_hat": (B, 3, size, size)}
compress(x, search=N) sends bits found by N steps of search (Codec.search) instead of the encoder's:
the same decoder and files, a better picture for the bits, N times the work of a decode.
The model owns the transforms and the probability table; bitstream.py turns bits into bytes and
back. The model never reads or writes a file: the 3-byte header and the .bin files are the
callers' (compress.py and metrics.py, with files.py's container).

The "map" code (Li et al. 2018) makes the length depend on the image. Each of the 16 cells has an
importance p in (0, 1), and sends round(L p) of its L = bits/16/4 groups of 4 bits (quantize.py,
keep_levels). What the coder sees is the map, then the bits:
    [keep bits: cell 0 groups 0…L-1, cell 1 …]  [bits: channel 0 of cells 0…15, channel 1 …]
Group g's keep bit is coded only if group g-1 is kept, and a cell's bits only if their group is
kept (bitstream.py's gates); the decoder reads the bits not sent as 0.
"""
import hashlib

import torch
import torch.nn as nn

import bitstream
import files
from decoder import Decoder
from encoder import GROUP_BITS, Encoder
from quantize import BitModel, binarize, keep_levels

SEARCH_PRICE = 1e-6   # MSE per bit in Codec.search: files 6-18% longer than the encoder's (EXPERIMENTS.md)


class Codec(nn.Module):
    """Encoder g_a, binarizer, bit model and decoder g_s, trained together by train.py.

    bits:    bits per image before entropy coding (a multiple of 8; of 16 for the grid code; for the
             map code, a multiple of 64: the most it sends, before its 16 L keep bits)
    width:   channels of the encoder and decoder
    context: the bit model conditions each bit on this many previous bits
    code:    "global", "grid" or "map", how the bits are laid out over the image (encoder.py)
    deep:    channels of the 4×4 features, 0 for 4 × width (encoder.channels)
    """

    def __init__(self, bits=256, width=16, context=2, code="global", deep=0):
        super().__init__()
        self.args = dict(bits=bits, width=width, context=context, code=code, deep=deep)   # stored in checkpoints
        self.bits = bits
        self.g_a, self.g_s = Encoder(bits, width, code, deep), Decoder(bits, width, code, deep)
        self.levels = bits // 16 // GROUP_BITS if code == "map" else 0         # groups per cell
        self.positions = 16 * self.levels + bits                               # what the coder walks through:
        self.bit_model = BitModel(self.positions, context)                     # the map's bits, then the code's
        self.gates = map_gates(self.levels) if code == "map" else None
        self.can_search = code != "map"      # Codec.search moves bits, not the map that gates them

    def split(self, x, stochastic):
        """x -> y (B, bits) in (-1, 1), and the map code's keep (B, 16 cells, L) in {0, 1} (else None)."""
        y = self.g_a(x)
        if self.levels == 0:
            return y, None
        p = (1 + y[:, self.bits:]) / 2                               # (B, 16) importance in (0, 1)
        return y[:, :self.bits], keep_levels(p, self.levels, stochastic)

    def mask(self, keep):
        """keep (B, 16 cells, L groups) -> (B, bits), 1 where a bit is sent: channel c is in group c // 4."""
        return keep.repeat_interleave(GROUP_BITS, dim=2).transpose(1, 2).flatten(1)

    def forward(self, x, soft=False):
        """The training pass: decodes at 64 and 32 pixels, and the rate (B,): the expected bits under the
        float bit model (quantize.py), differentiable in y and the map. Stochastic bits in train mode.
        soft=True hands g_s the encoder's numbers in (-1, 1) instead of bits: a warm-up, so that the
        decoder learns to read the code before the binarizer's noise."""
        y, keep = self.split(x, stochastic=self.training)            # (B, bits) in (-1, 1)
        b = y if soft else binarize(y, stochastic=self.training)    # (B, bits) in {-1, +1}
        if keep is None:
            rate = self.bit_model.expected_rate(y)
        else:                                                        # the map's bits, then the code's
            mask = self.mask(keep)
            b = b * mask
            first = torch.ones_like(keep[..., :1])                   # group 0's keep bit is always coded
            active = torch.cat([torch.cat([first, keep[..., :-1]], 2).flatten(1), mask], 1)
            rate = self.bit_model.expected_rate(torch.cat([2 * keep.flatten(1) - 1, y], 1), active)
        f = self.g_s.features(b)                                    # (B, w, 32, 32)
        return {"x_hat": self.g_s.render(f, 64), "x_hat_32": self.g_s.render(f, 32), "rate": rate}

    @torch.no_grad()
    def code_bits(self, x):
        """x (B, 3, 64, 64) -> the bits the coder walks through, (B, positions) uint8 (the map's, then
        the code's; a bit not sent is 0), and which of them are coded, (B, positions) bool."""
        y, keep = self.split(x, stochastic=False)
        bits = (y >= 0).to(torch.uint8)                             # the sign: what the decoder was trained on
        if keep is None:
            return bits, torch.ones_like(bits, dtype=torch.bool)
        bits = torch.cat([keep.flatten(1).to(torch.uint8), bits * self.mask(keep).to(torch.uint8)], 1)
        gates = torch.from_numpy(self.gates).to(x.device)
        return bits, (gates < 0) | (bits[:, gates.clamp(min=0)] == 1)

    @torch.no_grad()
    def compress(self, x, search=0):
        """x (B, 3, 64, 64) in [0, 1] -> {"strings": B payloads}, coded with the integer table `freqs`:
        the encoder's bits, or with search > 0 the bits found by that many steps of Codec.search."""
        if search:                                    # in chunks: each step keeps a decode's activations
            bits = torch.cat([self.search(part, search) for part in x.split(64)])
        else:
            bits = self.code_bits(x)[0]
        return {"strings": bitstream.encode_batch(bits.cpu().numpy(), self.bit_model.freqs.cpu().numpy(), self.gates)}

    def search(self, x, steps, price=SEARCH_PRICE):
        """Encoder-side search: the bits that this decoder turns into x best, for what they cost.
        The encoder is a network trained to guess them in one pass, and a small one guesses far from
        the best (the amortisation gap, Cremer et al. 2018); with the decoder fixed, gradient descent
        on the bits themselves closes much of it, as in Campos et al. (2019) and Yang et al. (2020).

        Start from the encoder's y = tanh(z); each step decodes sign(tanh z) (the binarizer's
        straight-through backward) and moves z down the gradient of
            cost = MSE(g_s(bits), x) + price × bits of the file under the bit model (its expected rate),
        with Adam and a cosine-decayed step. Each image keeps its cheapest bits seen (their real cost:
        MSE and BitModel.rate), the encoder's included, so the search never ends worse than the encoder.
        x (B, 3, 64, 64) -> bits (B, bits) uint8, as code_bits. Only the global and grid codes."""
        if not self.can_search:
            raise ValueError("search needs the global or grid code, not the map code")
        with torch.no_grad():
            z = torch.atanh(self.g_a(x).clamp(-0.999, 0.999))             # (B, bits) logits of the bits
        z.requires_grad_(True)
        opt = torch.optim.Adam([z], lr=0.1)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        best, best_cost = torch.zeros_like(z), torch.full((len(x),), float("inf"), device=x.device)
        for step in range(steps + 1):
            with torch.enable_grad():
                b = binarize(z.tanh())                                   # (B, bits) in {-1, +1}
                mse = (self.g_s(b, 64) - x).pow(2).mean((1, 2, 3))
                with torch.no_grad():                                    # the real cost of these bits
                    cost = mse + price * self.bit_model.rate(b)
                    better = cost < best_cost
                    best = torch.where(better[:, None], b, best)
                    best_cost = torch.minimum(cost, best_cost)
                if step == steps:
                    break
                loss = (mse + price * self.bit_model.expected_rate(z.tanh())).sum()
                (z.grad,) = torch.autograd.grad(loss, [z])               # the weights get no gradient
            opt.step()
            schedule.step()
        return (best > 0).to(torch.uint8)

    @torch.no_grad()
    def fit_table(self, batches, contexts=(0, 2, 4, 6, 8)):
        """Count the coder's table on this codec's own bits for the images in `batches` (an iterable
        of (B, 3, 64, 64) tensors), with the context, among `contexts` previous bits, that codes a
        held-out tenth of them in the fewest bits. -> {context: mean bits per image on that tenth}.
        More context pays where the bits are redundant: the global code's files shrink by an eighth
        with 8 bits of it, the map code's hardly at all (EXPERIMENTS.md, "A counted table")."""
        bits, active = (torch.cat(t).cpu() for t in zip(*(self.code_bits(x) for x in batches)))
        cut, held_out = len(bits) * 9 // 10, slice(len(bits) * 9 // 10, None)

        def table(k, rows):
            model = BitModel(self.positions, k)
            model.fit(bits[rows], active[rows])
            return model

        costs = {k: table(k, slice(cut)).rate(2.0 * bits[held_out] - 1, active[held_out]).mean().item() for k in contexts}
        best = min(costs, key=costs.get)
        self.bit_model = table(best, slice(None)).to(self.bit_model.freqs.device)
        self.args["context"] = best
        return costs

    @torch.no_grad()
    def decompress(self, strings, size=64):
        """B payloads -> {"x_hat": (B, 3, size, size) in [0, 1]}. FormatError on a payload that is not
        exactly what compress() writes."""
        bits = bitstream.decode_batch(strings, self.positions, self.bit_model.freqs.cpu().numpy(), self.gates)
        bits = torch.from_numpy(bits).float().to(self.bit_model.freqs.device)
        b = 2 * bits[:, 16 * self.levels:] - 1
        if self.levels:                                              # the bits not sent read as 0
            b = b * self.mask(bits[:, :16 * self.levels].view(-1, 16, self.levels))
        # the arithmetic decoder likes big batches, the decoder network chunks of 64 images at 64×64:
        # its activations then stay in the CPU caches. At larger sizes a chunk holds as many pixels,
        # so memory stays bounded: at 1024×1024 one image at a time, about 0.3 GB.
        chunk = max(1, 64 * 64 * 64 // (size * size))
        return {"x_hat": torch.cat([self.g_s(part, size) for part in b.split(chunk)]).clamp(0, 1)}

    def fingerprint(self):
        """One byte that tells this model's files from another's: a hash of every weight and table."""
        h = hashlib.sha256()
        for name, t in sorted(self.state_dict().items()):
            h.update(name.encode() + t.detach().cpu().contiguous().numpy().tobytes())
        return h.digest()[0]


def map_gates(levels):
    """bitstream.py's gates for the map code: keep bit (cell, g) is coded if (cell, g - 1) is kept,
    and bit (channel c, cell) if keep bit (cell, c // 4) is. -> (16 L + 16 L 4,) ints, -1: always."""
    keep = torch.arange(16 * levels).view(16, levels)                # index of keep bit (cell, g)
    map_part = torch.cat([torch.full((16, 1), -1), keep[:, :-1]], 1).flatten()
    channels = torch.arange(levels * GROUP_BITS)
    code_part = keep[:, channels // GROUP_BITS].T.flatten()          # (channel, cell), channel-major
    return torch.cat([map_part, code_part]).numpy()


def codec_checkpoint(codec, **info):
    """What compress.py needs to rebuild the codec alone: its arguments and weights (and `info`)."""
    return {"model_args": codec.args, "codec": codec.state_dict(), **info}


def load_codec(path, device="cpu"):
    """Rebuild a codec from its checkpoint alone, in eval mode. CheckpointError names what is wrong.
    codec.trained_on is the data it was trained on, as train.py recorded it (None if it didn't)."""
    ckpt = files.load_checkpoint(path, keys=("model_args", "codec"), device=device)
    try:
        codec = Codec(**ckpt["model_args"])
        codec.load_state_dict(ckpt["codec"])
    except (TypeError, ValueError, RuntimeError) as e:               # other arguments, other shapes
        raise files.CheckpointError(f"{path}: not a codec this code can rebuild ({type(e).__name__})") from None
    codec.trained_on = ckpt.get("data")
    return codec.to(device).eval()
