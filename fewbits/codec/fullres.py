"""The photo codec: a photograph at its own resolution, content-weighted (Li et al. 2018).

    x (1, 3, H, W) in [0, 1], any H and W, padded to multiples of 16 with its edge pixels
      │  g_a           nn/photo.py     four stride-2 convolutions, in stripes
      ▼
    y (1, C, h, w) in (-1, 1), h = H/16          importance p (1, 1, h, w) in (0, 1)
      │  binarize                      │  keep_levels: round(L p) of the L groups of 4 channels, at least 1
      ▼                                ▼
    b (1, C, h, w) in {-1, +1}, 0 where the map keeps nothing
      │  cut into tiles of TILE × TILE positions; each tile one message for the arithmetic coder,
      │  many tiles of a shape coded in lockstep (arithmetic.encode_batch), a few one by one
      ▼
    payload: W - 1 and H - 1 (2 bytes each), the byte length of every tile but the last, the tiles
      │
      ▼  g_s           nn/photo.py     in stripes; at half size for a small `size`
    x_hat (1, 3, H, W), cropped back

A tile's message is its map, then its bits, each in raster order within the tile:
    [keep bits: level 0 of every position, level 1 of every position, …]  (L levels)
    [code bits: channel 0 of every position, channel 1 of every position, …]  (C channels)
Keep bit (g, pos) is coded only if (g - 1, pos) is kept, code bit (c, pos) only if (c // 4, pos) is
(the coder's gates). A bit's context is its neighbours (NEIGHBOURS): above and to the left in its
own level or channel, and at the same place two and one planes before; the table has one row of 2^k
probabilities per level and per channel, the same for every position (PhotoCodec.fit_table).
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..coding import FormatError, arithmetic
from ..files import FileError
from ..nn.photo import DECODER_MARGIN, ENCODER_MARGIN, STRIDE, PhotoDecoder, PhotoEncoder, in_stripes
from ..nn.quantize import binarize, keep_levels
from .base import Codec

GROUP = 4                # channels per level of the map
TILE = 16                # positions per side of a tile: one message of the coder
MAX_SIDE = 1 << 16       # the payload holds each side in 2 bytes
STRIPE_PIXELS = 1 << 20  # pixels per stripe of the networks: memory stays that of about a megapixel
QUALITY_MIN = 0.25       # the lowest quality training draws (PhotoCodec)
NEIGHBOURS = ("above", "left", "two planes before", "above left", "one plane before", "two left",
              "above right", "three left")   # a bit's context, best first (EXPERIMENTS.md); k of them
LOCKSTEP_TILES = 32      # from this many tiles of a shape the lockstep coder is faster than the plain
                         # loop: its numpy costs per step, the loop's per bit coded (EXPERIMENTS.md)


class PhotoCodec(nn.Module):
    """bits: the mean bits per 256×256 pixels that the price holds in training (train.py), so
    bits / 65536 is the bpp before the coder's context; width: the networks' channels; context: the
    coder's bits of context; deep: the code's channels C.

    quality, in [QUALITY_MIN, 1], sets the rate at encode time: the importance map is scaled by it
    before its levels are counted, so a lower quality sends fewer groups where they matter least.
    Training draws a quality per crop (log-uniform), so one decoder reads every rate. The decoder
    needs no quality: the map is in the file."""
    code = "photo"
    can_search = False
    priced = True            # train.py holds the mean rate of the training crops at `bits`
    native = True            # any size in, the same size out: FileCodec keeps the photo as it is
    quality_min = QUALITY_MIN

    def __init__(self, bits=6554, width=32, context=8, deep=64):
        super().__init__()
        self.quality = 1.0
        deep = deep or 64                                  # train.py's 0: the default
        if deep % GROUP or not GROUP <= deep <= 256:
            raise ValueError(f"deep (the code's channels) must be a multiple of {GROUP} in {GROUP}…256, not {deep}")
        self.args = dict(code=self.code, bits=bits, width=width, context=context, deep=deep)
        self.bits, self.channels, self.levels = bits, deep, deep // GROUP
        self.g_a, self.g_s = PhotoEncoder(deep, width), PhotoDecoder(deep, width)
        rows = self.levels + self.channels                 # one row per level, one per channel
        self.register_buffer("freqs", torch.full((rows, 2 ** context), 1 << (arithmetic.PRECISION - 1),
                                                 dtype=torch.int32))

    def adopt(self, state):
        """A photo codec's weights with fewer code channels, made to fit this one (train.py's --init
        with a larger --deep). Its channels come first and its map stays the map. The decoder's new
        inputs start at zero, so the new channels change nothing until training finds what they
        are worth; the encoder's new rows keep their random start, since at zero they would send
        sign(0) = 0 and those inputs would never get a gradient."""
        head = state.get("g_a.head.weight")                # (C + 1, 4 width, 1, 1)
        if head is None or head.shape[1:] != self.g_a.head.weight.shape[1:] or len(head) > self.channels:
            return state                                    # not a narrower photo codec of this width
        old = len(head) - 1
        mine, state = self.state_dict(), dict(state)
        for key in ("g_a.head.weight", "g_a.head.bias"):
            t = mine[key].clone()
            t[:old], t[-1] = state[key][:old], state[key][-1]
            state[key] = t
        t = torch.zeros_like(mine["g_s.head.0.weight"])
        t[:, :old] = state["g_s.head.0.weight"]
        state["g_s.head.0.weight"] = t
        return state

    # ---- the code ---------------------------------------------------------------------------------
    def mask(self, keep):
        """keep (B, L, h, w) -> (B, C, h, w): channel c is sent where level c // 4 is kept."""
        return keep.repeat_interleave(GROUP, dim=1)

    def split(self, x, stochastic):
        """x (B, 3, H, W), H and W multiples of 16 -> y (B, C, h, w), keep (B, L, h, w). Training
        (stochastic) draws each crop's quality; otherwise it is self.quality."""
        y, p = self.g_a(x)
        B, _, h, w = p.shape
        quality = QUALITY_MIN ** torch.rand(B, 1, device=x.device) if stochastic else self.quality
        keep = keep_levels(p.flatten(1) * quality, self.levels, stochastic)          # (B, h w, L)
        # level 0 everywhere: a position that sends nothing leaves its colour to the decoder's guess,
        # and at low qualities whole smooth backgrounds came back in the wrong colour (EXPERIMENTS.md)
        keep = torch.cat([torch.ones_like(keep[..., :1]), keep[..., 1:]], -1)
        return y, keep.transpose(1, 2).reshape(B, self.levels, h, w)

    def forward(self, x, soft=False):
        """The training pass on crops (B, 3, H, W): decodes at full and half size, and the rate (B,)
        per 256×256 pixels, whatever the crop's size: the bits the map sends, 4 per kept group,
        and the map's own, one per kept level and one more per position (its unary code's stop).
        The coder's context makes the files smaller still.

        The bits are sign(y) in training too, as Li et al. binarize (the backward is the same
        straight-through proxy), not the 64×64 codecs' coin flips: half of a photo's |y| sat under
        0.84, so the flips made noise that the decode at sign(y) never sees (EXPERIMENTS.md)."""
        y, keep = self.split(x, stochastic=self.training)
        b = y if soft else binarize(y, stochastic=False)
        x_hat, x_hat_half = self.g_s.both(b * self.mask(keep))
        rate = (GROUP + 1) * keep.sum((1, 2, 3)) + keep[0, 0].numel()
        return {"x_hat": x_hat, "x_hat_half": x_hat_half, "rate": rate * 65536 / x[0, 0].numel()}

    @torch.no_grad()
    def code_grid(self, x):
        """One photo x (1, 3, H, W), any size -> keep (L, h, w) and bits (C, h, w), uint8, in stripes."""
        H, W = x.shape[2:]
        x = F.pad(x, (0, -W % STRIDE, 0, -H % STRIDE), mode="replicate")
        rows = max(STRIDE, STRIPE_PIXELS // x.shape[3] // STRIDE * STRIDE)
        y, keep = in_stripes(lambda s: self.split(s, stochastic=False), x, rows, ENCODER_MARGIN, 1 / STRIDE)
        return keep[0].to(torch.uint8), ((y[0] >= 0) * self.mask(keep)[0]).to(torch.uint8)

    def layout(self, th, tw):
        """A tile of th × tw positions -> (its message's n, each bit's row of the table (n,),
        gates (n,), the context's offsets: how far back in the message each neighbour is)."""
        P, L = th * tw, self.levels
        pos = np.arange(P)
        map_gates = np.concatenate([np.full(P, -1)] + [(g - 1) * P + pos for g in range(1, L)])
        code_gates = np.concatenate([(c // GROUP) * P + pos for c in range(self.channels)])
        rows = np.arange(L + self.channels).repeat(P)
        gates = np.concatenate([map_gates, code_gates])
        return (L + self.channels) * P, rows, gates, neighbours(th, tw)[:self.context]

    @property
    def context(self):
        return self.freqs.shape[1].bit_length() - 1            # k: the table has 2^k entries a row

    def encode_tiles(self, messages, shape):
        """messages (N, n) of tiles of one shape -> N payloads."""
        n, rows, gates, offsets = self.layout(*shape)
        if len(messages) >= LOCKSTEP_TILES:
            return arithmetic.encode_batch(messages, self.freqs.cpu().numpy()[rows], gates, offsets)
        freqs, gates = self.rows_of(rows), gates.tolist()
        return [arithmetic.encode(m, freqs, gates, offsets) for m in messages.tolist()]

    def decode_tiles(self, payloads, shape):
        """N payloads of tiles of one shape -> messages (N, n). FormatError if one can't be."""
        n, rows, gates, offsets = self.layout(*shape)
        if len(payloads) >= LOCKSTEP_TILES:
            return arithmetic.decode_batch(payloads, n, self.freqs.cpu().numpy()[rows], gates, offsets)
        freqs, gates = self.rows_of(rows), gates.tolist()
        return np.array([arithmetic.decode(p, n, freqs, gates, offsets) for p in payloads], np.uint8).reshape(-1, n)

    def rows_of(self, rows):
        """The table as the plain coder reads it: a list of n rows, each a list shared by the bits
        of one level or channel (so not n copies of 2^k numbers)."""
        table = self.freqs.cpu().tolist()
        return [table[r] for r in rows.tolist()]

    def tiles(self, h, w):
        """The tiles of an h × w grid in raster order: [(top, left, th, tw)]."""
        return [(t, l, min(TILE, h - t), min(TILE, w - l)) for t in range(0, h, TILE) for l in range(0, w, TILE)]

    # ---- the CompressAI contract -------------------------------------------------------------------
    @torch.no_grad()
    def compress(self, x, search=0):
        """Photos (B, 3, H, W) in [0, 1] (or a list of (1, 3, H, W) of any sizes) -> {"strings"},
        at self.quality."""
        if not QUALITY_MIN <= self.quality <= 1:
            raise ValueError(f"quality must be in {QUALITY_MIN}…1, not {self.quality}")
        strings = []
        for photo in (x.split(1) if torch.is_tensor(x) else x):
            H, W = photo.shape[2:]
            if not 1 <= max(H, W) <= MAX_SIDE:
                raise FileError(f"the photo codec takes sides up to {MAX_SIDE} pixels, not {W}×{H}")
            keep, bits = self.code_grid(photo)
            strings.append(self.pack(H, W, keep.cpu().numpy(), bits.cpu().numpy()))
        return {"strings": strings}

    def pack(self, H, W, keep, bits):
        """The payload of one photo from its keep (L, h, w) and bits (C, h, w)."""
        tiles = self.tiles(*keep.shape[1:])
        payloads = [None] * len(tiles)
        for shape, which in group_by_shape(tiles).items():
            messages = np.stack([np.concatenate([keep[:, t:t + th, l:l + tw].reshape(-1),
                                                 bits[:, t:t + th, l:l + tw].reshape(-1)])
                                 for t, l, th, tw in (tiles[i] for i in which)])
            for i, payload in zip(which, self.encode_tiles(messages, shape)):
                payloads[i] = payload
        head = (W - 1).to_bytes(2, "big") + (H - 1).to_bytes(2, "big")
        return head + b"".join(varint(len(p)) for p in payloads[:-1]) + b"".join(payloads)

    def unpack(self, payload):
        """One payload -> (H, W, keep (L, h, w), bits (C, h, w)). FormatError if it can't be."""
        if len(payload) < 4:
            raise FormatError("damaged or cut short (no photo size)")
        W, H = int.from_bytes(payload[:2], "big") + 1, int.from_bytes(payload[2:4], "big") + 1
        h, w = -(-H // STRIDE), -(-W // STRIDE)
        tiles, at, lengths = self.tiles(h, w), 4, []
        for _ in tiles[:-1]:
            length, at = read_varint(payload, at)
            lengths.append(length)
        ends = np.cumsum([at, *lengths]).tolist()
        if ends[-1] >= len(payload):
            raise FormatError("damaged or cut short (tile lengths past the end)")
        parts = [payload[a:b] for a, b in zip(ends, ends[1:])] + [payload[ends[-1]:]]
        keep, bits = np.zeros((self.levels, h, w), np.uint8), np.zeros((self.channels, h, w), np.uint8)
        for shape, which in group_by_shape(tiles).items():
            decoded = self.decode_tiles([parts[i] for i in which], shape)
            for i, message in zip(which, decoded):
                t, l, th, tw = tiles[i]
                keep[:, t:t + th, l:l + tw] = message[:self.levels * th * tw].reshape(-1, th, tw)
                bits[:, t:t + th, l:l + tw] = message[self.levels * th * tw:].reshape(-1, th, tw)
        return H, W, keep, bits

    @torch.no_grad()
    def decompress(self, strings, size=None):
        """Payloads -> {"x_hat": a list of (3, H', W') in [0, 1]}, each photo at its own size, or
        `size` pixels along its long side. A size at most half the photo's decodes at half size."""
        device, x_hat = self.freqs.device, []
        for i, payload in enumerate(strings):
            try:
                H, W, keep, bits = self.unpack(payload)
            except FormatError as e:
                raise FormatError(str(e), {i: str(e)}) from None
            keep, bits = (torch.from_numpy(a).to(device)[None].float() for a in (keep, bits))
            b = (2 * bits - 1) * self.mask(keep)                             # (1, C, h, w); not sent: 0
            half = size is not None and 2 * size <= max(H, W)
            scale = STRIDE // 2 if half else STRIDE
            rows = max(1, STRIPE_PIXELS // (b.shape[3] * scale * scale))
            out = in_stripes(lambda s: self.g_s(s, half), b, rows, DECODER_MARGIN, scale)
            out = out[:, :, :-(-H * scale // STRIDE), :-(-W * scale // STRIDE)]
            if size is not None:
                long = max(H, W)
                shape = (max(1, round(H * size / long)), max(1, round(W * size / long)))
                out = F.interpolate(out, size=shape, mode="bilinear", antialias=True, align_corners=False)
            x_hat.append(out[0].clamp_(0, 1))                           # in place: a photo can be large
        return {"x_hat": x_hat}

    # ---- the coder's table, and the fingerprint in every file -------------------------------------
    def update_table(self):
        """Nothing: the table is counted on the codec's own bits at the end (fit_table); until then
        it is flat, and a file holds about one bit per bit sent."""

    @torch.no_grad()
    def fit_table(self, batches, contexts=(0, 2, 4, 6, 8)):
        """Count the coder's table on this codec's own tiles of the crops in `batches` ((B, 3, H, W)
        tensors), coded at qualities 1, 1/2 and 1/4 in turn, with the context, the first k of the
        NEIGHBOURS for k among `contexts`, that codes a held-out tenth of them in the fewest bits.
        -> {context: mean bits per crop on that tenth}."""
        by_shape, crops, quality = {}, 0, self.quality
        for x in batches:
            for photo in x.split(1):                 # at qualities across the range, one per crop in turn
                self.quality = QUALITY_MIN ** (crops % 3 / 2)
                keep, bits = (a.cpu().numpy() for a in self.code_grid(photo))
                for t, l, th, tw in self.tiles(*keep.shape[1:]):
                    by_shape.setdefault((th, tw), []).append(np.concatenate(
                        [keep[:, t:t + th, l:l + tw].reshape(-1), bits[:, t:t + th, l:l + tw].reshape(-1)]))
                crops += 1
        counted = {k: {} for k in contexts}          # {k: {shape: (ones, seen) per (row, context)}}
        for (th, tw), messages in by_shape.items():
            messages = np.stack(messages)
            cut = len(messages) * 9 // 10
            for k in contexts:
                counted[k][th, tw] = (self.count(messages[:cut], (th, tw), k), self.count(messages, (th, tw), k),
                                      messages[cut:])
        costs = {}
        for k in contexts:
            fit = sum(c[0] for c in counted[k].values())            # (2, rows, 2^k): ones, seen
            costs[k] = sum(self.cost(held_out, shape, k, fit) for shape, (_, _, held_out)
                           in counted[k].items()) / max(1, crops - crops * 9 // 10)
        self.quality, best = quality, min(costs, key=costs.get)
        ones, seen = sum(c[1] for c in counted[best].values())
        p1 = (ones + 0.5) / (seen + 1.0)
        self.freqs = torch.from_numpy(np.clip(np.round(p1 * (1 << arithmetic.PRECISION)), 1,
                                              (1 << arithmetic.PRECISION) - 1).astype(np.int32)).to(self.freqs.device)
        self.args["context"] = best
        return costs

    def count(self, messages, shape, k):
        """(2, rows, 2^k): how many coded bits were 1, and were coded, per row and context."""
        row, ctx, coded = self.coded_contexts(messages, shape, k)
        where = (row * 2 ** k + ctx)[coded]
        size = (self.levels + self.channels) * 2 ** k
        return np.stack([np.bincount(where, weights=messages[coded], minlength=size),
                         np.bincount(where, minlength=size)]).reshape(2, -1, 2 ** k)

    def cost(self, messages, shape, k, fit):
        """Bits to code `messages` with the table counted as `fit` (ones, seen)."""
        if not len(messages):
            return 0.0
        row, ctx, coded = self.coded_contexts(messages, shape, k)
        p1 = (fit[0] + 0.5) / (fit[1] + 1.0)
        p = p1[row[None].repeat(len(messages), 0), ctx]
        return float(-np.log2(np.where(messages == 1, p, 1 - p))[coded].sum())

    def coded_contexts(self, messages, shape, k):
        """For messages (N, n) of tiles of shape (th, tw): each bit's table row (n,), its context
        (N, n), its first k neighbours as the coder reads them, and whether it is coded (N, n)."""
        _, rows, gates, _ = self.layout(*shape)
        ctx = arithmetic.contexts(messages, neighbours(*shape)[:k])
        return rows, ctx, arithmetic.coded_batch(messages, gates)

    fingerprint = Codec.fingerprint


def neighbours(th, tw):
    """How far back in a tile's message each of the NEIGHBOURS is: one row of tw positions is tw
    bits, one plane th tw. At a row's start "left" is the row above's end, and a tile one position
    wide has no "above right", so there it is "above" again."""
    P = th * tw
    return (tw, 1, 2 * P, tw + 1, P, 2, tw - 1 if tw > 1 else tw, 3)


def group_by_shape(tiles):
    """{(th, tw): [indices of the tiles of that shape]}: each shape is one batch for the coder."""
    groups = {}
    for i, (_, _, th, tw) in enumerate(tiles):
        groups.setdefault((th, tw), []).append(i)
    return groups


def varint(n):
    """n >= 0 in 7-bit groups, least significant first, the top bit set on all but the last byte."""
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def read_varint(data, at):
    """-> (the number at byte `at`, the byte after it). FormatError past the end or over 4 bytes."""
    n = 0
    for shift in range(0, 28, 7):
        if at >= len(data):
            break
        byte, at = data[at], at + 1
        n |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return n, at
    raise FormatError("damaged or cut short (a tile length)")
