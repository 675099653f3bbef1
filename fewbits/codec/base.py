"""The codec: a 64×64 image (or 128×128) -> a few hundred bits -> an image, as one nn.Module.

    x (B, 3, 64, 64) in [0, 1]                (B, 3, size, size) for a codec of another `size`
      │  g_a            nn/encoder.py     convolutions and a tanh
      ▼
    y (B, capacity) in (-1, 1)
      │  binarize       nn/quantize.py    +1 with probability (1 + y) / 2 in training, sign(y) after
      ▼
    b (B, capacity) in {-1, +1}               (the map code: and 0 where the importance map says so)
      │  bit model      nn/quantize.py    P(bit i = 1 | the bits before it), an integer table
      │  + arithmetic coder  coding/arithmetic.py
      ▼
    strings: one payload of bytes per image
      │  (the arithmetic decoder, the same table)
      ▼
    b ──── g_s          nn/decoder.py     the GAN generator ──▶ x_hat (B, 3, size, size) in [0, 1]

Three methods, as in CompressAI's models:
    forward(x)                 the training pass: the decodes and the rate, differentiable
    compress(x, search=0)      -> {"strings": [bytes per image]}: everything needed to decode
    decompress(strings, size)  -> {"x_hat": (B, 3, size, size)}
The model owns the transforms and the probability table; the coder turns bits into bytes and back.
The model never reads or writes a file: the header and the .bin files are api.py's.

Codec is the interface; the variants (codec/variants.py) say how the bits are laid out over the
image. Each fills in `layers`, and the map code also the hooks `coder_layout`, `split`, `sent`,
`code_bits` and `signs`, which here are those of a code that sends every bit.
"""
import hashlib

import torch
import torch.nn as nn

from ..coding import arithmetic
from ..nn.decoder import Decoder
from ..nn.encoder import MAX_BITS, Encoder, channels
from ..nn.quantize import BitModel, binarize
from .search import search_bits


class Codec(nn.Module):
    """Encoder g_a, binarizer, bit model and decoder g_s, trained together by train.py.

    bits:    bits per image before entropy coding (for the map code, the mean over the images)
    width:   channels of the encoder and decoder
    context: the bit model conditions each bit on this many previous bits
    deep:    channels of the 4×4 features, 0 for 4 × width (nn/encoder.channels)
    size:    the images' side in pixels, 64 or 128 (CLEVR's): one more ×2 stage each way per doubling
    """
    code = ""                # the variant's name in checkpoints
    step = 8                 # bits must be a multiple of this: whole bytes, or whole cells
    can_search = True        # search_bits moves the code's bits
    priced = False           # train.py holds the rate at `bits` with a price (a Lagrange multiplier)

    def __init__(self, bits=256, width=16, context=2, deep=0, size=64):
        super().__init__()
        self.args = dict(code=self.code, bits=bits, width=width, context=context, deep=deep)  # for checkpoints
        if size != 64:                                    # a 64×64 codec's checkpoint stays as it was
            self.args["size"] = size
        self.bits, self.capacity, self.size = bits, self.capacity_of(bits), size
        self.check(bits)
        enc_fc, dec_fc, norm = self.layers(self.capacity, channels(width, deep)[-1])
        self.g_a, self.g_s = Encoder(enc_fc, width, deep, norm, size), Decoder(dec_fc, width, deep, size)
        self.positions, self.gates = self.coder_layout()    # what the coder walks through, and its gates
        self.bit_model = BitModel(self.positions, context)

    def capacity_of(self, bits):
        """How many bits the encoder outputs for a budget of `bits`."""
        return bits

    def check(self, bits):
        """ValueError, in one line, for a budget this code or the coder can't hold."""
        if not 16 <= self.capacity <= MAX_BITS:
            raise ValueError(f"bits must be in 16…{MAX_BITS}, not {bits}")
        if self.capacity % self.step:
            raise ValueError(f"bits must be a multiple of {self.step} for the {self.code} code, not {bits}")

    def layers(self, capacity, c4):
        """-> (the encoder's last layer, the decoder's first, whether the encoder normalises)."""
        raise NotImplementedError

    # ---- the hooks a variant may change ------------------------------------------------------------
    def coder_layout(self):
        """-> (positions the coder walks through, its gates): here the code's bits, every one coded."""
        return self.capacity, None

    def split(self, x, stochastic):
        """x -> y (B, capacity) in (-1, 1), and the map code's keep (None here)."""
        return self.g_a(x), None

    def sent(self, y, b, keep):
        """The bits g_s reads, and the rate (B,): the expected code length under the float bit model."""
        return b, self.bit_model.expected_rate(y)

    @torch.no_grad()
    def code_bits(self, x):
        """x (B, 3, size, size) -> the bits the coder walks through, (B, positions) uint8, and which of
        them are coded, (B, positions) bool."""
        bits = (self.split(x, stochastic=False)[0] >= 0).to(torch.uint8)   # the sign: what g_s learned
        return bits, torch.ones_like(bits, dtype=torch.bool)

    def signs(self, bits):
        """The decoded positions (B, positions) in {0, 1} -> what g_s reads, (B, capacity)."""
        return 2 * bits - 1

    # ---- the CompressAI contract -------------------------------------------------------------------
    def forward(self, x, soft=False):
        """The training pass: decodes at `size` and half that, and the rate (B,), differentiable in y.
        Stochastic bits in train mode. soft=True hands g_s the encoder's numbers in (-1, 1) instead
        of bits: a warm-up, so that the decoder learns to read the code before the binarizer's noise."""
        y, keep = self.split(x, stochastic=self.training)           # (B, capacity) in (-1, 1)
        b = y if soft else binarize(y, stochastic=self.training)    # (B, capacity) in {-1, +1}
        b, rate = self.sent(y, b, keep)
        f = self.g_s.features(b)                                    # (B, w, size / 2, size / 2)
        return {"x_hat": self.g_s.render(f, self.size), "x_hat_half": self.g_s.render(f, self.size // 2), "rate": rate}

    @torch.no_grad()
    def compress(self, x, search=0):
        """x (B, 3, size, size) in [0, 1] -> {"strings": B payloads}, coded with the integer table `freqs`:
        the encoder's bits, or with search > 0 the bits that many steps of search_bits find."""
        if search:                                    # in chunks: each step keeps a decode's activations
            bits = torch.cat([search_bits(self, part, search) for part in x.split(64)])
        else:
            bits = self.code_bits(x)[0]
        freqs = self.bit_model.freqs.cpu().numpy()
        return {"strings": arithmetic.encode_batch(bits.cpu().numpy(), freqs, self.gates)}

    @torch.no_grad()
    def decompress(self, strings, size=None):
        """B payloads -> {"x_hat": (B, 3, size, size) in [0, 1]}, by default at the codec's own size.
        FormatError on a payload that is not exactly what compress() writes."""
        size = size or self.size
        bits = arithmetic.decode_batch(strings, self.positions, self.bit_model.freqs.cpu().numpy(), self.gates)
        b = self.signs(torch.from_numpy(bits).float().to(self.bit_model.freqs.device))
        # the arithmetic decoder likes big batches, the decoder network chunks of 64 images at 64×64:
        # its activations then stay in the CPU caches. At larger sizes a chunk holds as many pixels,
        # so memory stays bounded: at 1024×1024 one image at a time, about 0.3 GB.
        chunk = max(1, 64 * 64 * 64 // (size * size))
        return {"x_hat": torch.cat([self.g_s(part, size) for part in b.split(chunk)]).clamp(0, 1)}

    # ---- the coder's table, and the fingerprint in every file -------------------------------------
    def update_table(self):
        """The integer table from the bit model the rate term trains: what the files are coded with."""
        self.bit_model.update()

    @torch.no_grad()
    def fit_table(self, batches, contexts=(0, 2, 4, 6, 8)):
        """Count the coder's table on this codec's own bits for the images in `batches` (an iterable
        of (B, 3, 64, 64) tensors), with the context, among `contexts` previous bits, that codes a
        held-out tenth of them in the fewest bits. -> {context: mean bits per image on that tenth}.
        More context pays where the bits are redundant, as the global code's are."""
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

    def calibrate(self, batches, graphs):
        """Choices a variant makes after training on validation images (an iterable of (B, 3, H, W)
        tensors) and their scene graphs; none here. -> {choice: cost}, what it chose among."""
        return {}

    def fingerprint(self):
        """One byte that tells this model's files from another's: a hash of every weight and table."""
        h = hashlib.sha256()
        for name, t in sorted(self.state_dict().items()):
            h.update(name.encode() + t.detach().cpu().contiguous().numpy().tobytes())
        return h.digest()[0]
