"""The codec: a 64×64 image -> a few hundred bits -> an image, as one nn.Module.

    x (B, 3, 64, 64) in [0, 1]
      │  g_a            encoder.py     convolutions and a tanh
      ▼
    y (B, bits) in (-1, 1)
      │  binarize       quantize.py    +1 with probability (1 + y) / 2 in training, sign(y) after
      ▼
    b (B, bits) in {-1, +1}
      │  bit model      quantize.py    P(bit i = 1 | the 2 bits before it), an integer table
      │  + arithmetic coder  bitstream.py
      ▼
    strings: one payload of bytes per image (about bits / 8 bytes)
      │  (the arithmetic decoder, the same table)
      ▼
    b ──── g_s          decoder.py     the GAN generator ──▶ x_hat (B, 3, size, size) in [0, 1]

Three methods, as in CompressAI's models:
    forward(x)                 the training pass: the decodes and the rate, differentiable
    compress(x)                -> {"strings": [bytes per image]}: everything needed to decode
    decompress(strings, size)  -> {"x_hat": (B, 3, size, size)}
The model owns the transforms and the probability table; bitstream.py turns bits into bytes and
back. The model never reads or writes a file: the 3-byte header and the .bin files are the
callers' (compress.py, metrics.py).
"""
import hashlib

import torch
import torch.nn as nn

import bitstream
import files
from decoder import Decoder
from encoder import Encoder
from quantize import BitModel, binarize


class Codec(nn.Module):
    """Encoder g_a, binarizer, bit model and decoder g_s, trained together by train.py.

    bits:    bits per image before entropy coding (a multiple of 8; of 16 for the grid code)
    width:   channels of the encoder and decoder
    context: the bit model conditions each bit on this many previous bits
    code:    "global" or "grid", how the bits are laid out over the image (encoder.py)
    """

    def __init__(self, bits=256, width=16, context=2, code="global"):
        super().__init__()
        self.args = dict(bits=bits, width=width, context=context, code=code)   # stored in checkpoints
        self.bits = bits
        self.g_a, self.g_s = Encoder(bits, width, code), Decoder(bits, width, code)
        self.bit_model = BitModel(bits, context)

    def forward(self, x, soft=False):
        """The training pass: decodes at 64 and 32 pixels, and the rate (B,) in bits under the float bit model.
        Stochastic bits in train mode. soft=True hands g_s the encoder's numbers in (-1, 1) instead of
        bits: a warm-up, so that the decoder learns to read the code before the binarizer's noise."""
        y = self.g_a(x)                                             # (B, bits) in (-1, 1)
        b = y if soft else binarize(y, stochastic=self.training)    # (B, bits) in {-1, +1}
        f = self.g_s.features(b)                                    # (B, w, 32, 32)
        return {"x_hat": self.g_s.render(f, 64), "x_hat_32": self.g_s.render(f, 32), "rate": self.bit_model.rate(b)}

    @torch.no_grad()
    def compress(self, x):
        """x (B, 3, 64, 64) in [0, 1] -> {"strings": B payloads}, coded with the integer table `freqs`."""
        b = binarize(self.g_a(x), stochastic=False)                 # the sign: what the decoder was trained on
        bits = (b > 0).to(torch.uint8).cpu().numpy()                # (B, bits) of 0/1
        return {"strings": bitstream.encode_batch(bits, self.bit_model.freqs.cpu().numpy())}

    @torch.no_grad()
    def decompress(self, strings, size=64):
        """B payloads -> {"x_hat": (B, 3, size, size) in [0, 1]}. FormatError on a payload that is not
        exactly what compress() writes."""
        bits = bitstream.decode_batch(strings, self.bits, self.bit_model.freqs.cpu().numpy())   # (B, bits)
        b = 2 * torch.from_numpy(bits).float().to(self.bit_model.freqs.device) - 1
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
