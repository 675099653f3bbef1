"""A binary arithmetic coder written by hand.

    payload = encode(bits, freqs, gates, offsets)          # bits: n values 0/1
    bits = decode(payload, n, freqs, gates, offsets)
    payloads = encode_batch(bits, freqs, gates, offsets)   # the same coder, B messages in lockstep:
    bits = decode_batch(payloads, n, freqs, gates, offsets)   # bits (B, n)

freqs[i][ctx] is P(bit i = 1) × 2^PRECISION, an integer, where ctx is k earlier bits read as a binary
number and each row has 2^k entries: one entry per row is a factorized model, four entries a model
of two earlier bits. Which bits: offsets (k distances back), bit j of ctx being bit i - offsets[j]
(0 before the first bit). The default, 1, 2, …, k, is the previous k bits, the latest lowest; a
message that is a picture's rows can instead name the bit above (the row's length back) and the
same place in the plane before.

gates (optional, n integers) make a message's length depend on its content: bit i is coded only if
gates[i] < 0 or bit gates[i] (an earlier one, so the decoder knows it by then) is 1. A bit that is
not coded costs nothing and must be, and decodes as, a 0. The "map" code sends its importance map
first and gates each group of a cell's bits on the map bit that says the group is sent.

The coder follows Witten, Neal & Cleary (1987) in the layout of Nayuki's reference implementation:
one base class owns the interval update; the encoder and the decoder differ only in what they do
when a leading bit settles (`shift`) and when the interval straddles the middle (`underflow`).

A file is a 3-byte header and then the payload (container.py, write_container). A file cut short is
refused by the coder itself: its codes are prefix-free (see ArithmeticEncoder.finish).
"""
import itertools

import numpy as np

PRECISION = 12                  # probabilities are integers in [1, 2^12 - 1] out of 2^12
STATE_BITS = 32
FULL = 1 << STATE_BITS          # 1 0000…0000 (33 bits)
MASK = FULL - 1                 #   1111…1111
HALF = FULL >> 1                #   1000…0000
QUARTER = HALF >> 1             #   0100…0000


class FormatError(ValueError):
    """A .bin that can't be decoded: wrong magic, another model, truncated or corrupt.
    From decode_batch, `bad` maps the index of every bad payload to what is wrong with it."""

    def __init__(self, message, bad=None):
        super().__init__(message)
        self.bad = bad or {}


class ArithmeticCoder:
    """The interval [low, high] of STATE_BITS-bit integers, shrunk by each coded bit.

    Invariants, true before and after every `update`:
      0 <= low < HALF <= high <= MASK         the interval straddles the middle
      not (QUARTER <= low and high < 3 * QUARTER)   nor sits inside the middle half
    Together they keep high - low + 1 > QUARTER, so with freqs in [1, 2^PRECISION - 1] both
    sub-intervals are non-empty: range * freq >> PRECISION >= 2^(30 - 12) > 0.
    """

    def __init__(self):
        self.low, self.high = 0, MASK

    def split(self, freq1):
        """Where the interval divides: a 0 gets [low, split), a 1 gets [split, high]."""
        return self.low + (((self.high - self.low + 1) * ((1 << PRECISION) - freq1)) >> PRECISION)

    def update(self, freq1, bit):
        low, high = self.low, self.high
        assert 0 <= low < HALF <= high <= MASK and not (QUARTER <= low and high < 3 * QUARTER)
        assert 0 < freq1 < (1 << PRECISION), f"probability {freq1} out of range"
        split = self.split(freq1)
        if bit:
            low = split
        else:
            high = split - 1
        while ((low ^ high) & HALF) == 0:            # top bits agree: that bit is settled
            self.shift(low >> (STATE_BITS - 1))
            low, high = (low << 1) & MASK, ((high << 1) & MASK) | 1
        while low & ~high & QUARTER:                 # low = 01…, high = 10…: zoom into the middle
            self.underflow()
            low, high = (low << 1) ^ HALF, ((high ^ HALF) << 1) | HALF | 1
        self.low, self.high = low, high


class ArithmeticEncoder(ArithmeticCoder):
    def __init__(self):
        super().__init__()
        self.out, self.pending = [], 0               # pending: underflow bits owed after the next shift

    def shift(self, bit):
        self.out.append(bit)
        if self.pending:
            self.out.extend([bit ^ 1] * self.pending)
            self.pending = 0

    def underflow(self):
        self.pending += 1

    def finish(self):
        """Append two bits (and the pending ones) that pin a whole dyadic interval inside [low, high]:
        01 = [QUARTER, HALF) if low < QUARTER, else 10 = [HALF, 3 QUARTER); the invariants put that
        interval inside [low, high]. Whatever follows the code, it decodes the same message.
        Why not fewer bits: since every message's code names an interval inside its own final
        interval, and those don't overlap, no code is the start of another (the codes are
        prefix-free). So a file cut short is never the code of some other message, and decode()
        refuses it. Dropping the trailing zeros the decoder would supply saves a bit or two, but a
        cut file then often decodes, to another image."""
        self.pending += 1
        self.shift(int(self.low >= QUARTER))
        return self.out


class ArithmeticDecoder(ArithmeticCoder):
    def __init__(self, bits):
        super().__init__()
        self.read = itertools.chain(bits, itertools.repeat(0)).__next__    # zeros past the end
        self.code = 0
        for _ in range(STATE_BITS):
            self.code = (self.code << 1) | self.read()
        self.written, self.pending = 0, 0            # mirror of what the encoder wrote, to check length

    def shift(self, bit):
        self.code = ((self.code << 1) & MASK) | self.read()
        self.written += 1 + self.pending
        self.pending = 0

    def underflow(self):
        self.code = (self.code & HALF) | ((self.code << 1) & (MASK >> 1)) | self.read()
        self.pending += 1

    def next_bit(self, freq1):
        bit = int(self.code >= self.split(freq1))
        self.update(freq1, bit)
        return bit

    def expected_length(self):
        """Bits the encoder wrote for this message, including finish()'s two and the pending ones."""
        return self.written + self.pending + 2


def context_offsets(freqs, offsets):
    """The k distances back that a context is read from, for rows of 2^k entries: `offsets`, or
    the previous k bits."""
    k = (len(freqs[0]) if len(freqs) else 1).bit_length() - 1
    assert all(len(row) == 1 << k for row in freqs), "every row of freqs needs 2^k entries"
    offsets = tuple(range(1, k + 1)) if offsets is None else tuple(offsets)
    assert len(offsets) == k and min(offsets, default=1) >= 1, "k offsets of at least 1 for 2^k entries a row"
    return offsets


def contexts(bits, offsets):
    """Every bit's context at once, for messages (B, n) whose bits are all known -> (B, n) ints."""
    bits, ctx = np.asarray(bits, dtype=np.intp), np.zeros(np.shape(bits), np.intp)
    for j, back in enumerate(offsets):
        if back < bits.shape[1]:                       # else every bit's neighbour is before the start
            ctx[:, back:] |= bits[:, :bits.shape[1] - back] << j
    return ctx


def is_coded(bits, gates, i):
    return gates is None or gates[i] < 0 or bits[gates[i]] == 1


def encode(bits, freqs, gates=None, offsets=None):
    """bits: n values 0/1; freqs: n rows of 2^k integer probabilities of a 1 (see the top)."""
    enc = ArithmeticEncoder()
    ctxs = contexts([bits], context_offsets(freqs, offsets))[0].tolist()
    for i, (row, bit, ctx) in enumerate(zip(freqs, bits, ctxs, strict=True)):
        if is_coded(bits, gates, i):
            enc.update(row[ctx], bit)
        elif bit:
            raise ValueError(f"bit {i} is gated off by bit {gates[i]}, so it must be 0")
    return pack_bits(enc.finish())


def decode(data, n, freqs, gates=None, offsets=None):
    """Inverse of encode. Raises FormatError when `data` is not exactly what encode would write."""
    dec, backs = ArithmeticDecoder(unpack_bits(data)), context_offsets(freqs, offsets)
    bits = []
    for i, row in enumerate(freqs[:n]):
        ctx = sum(bits[i - back] << j for j, back in enumerate(backs) if back <= i)
        bits.append(dec.next_bit(row[ctx]) if is_coded(bits, gates, i) else 0)
    if (dec.expected_length() + 7) // 8 != len(data):
        raise FormatError(f"payload is {len(data)} bytes, the code needs {(dec.expected_length() + 7) // 8}")
    if encode(bits, freqs, gates, backs) != data:    # the one payload that codes these bits (see finish)
        raise FormatError("payload is not the code of the bits it decodes to (damaged or cut short)")
    return bits


# ---- the same coder, many messages in lockstep ---------------------------------------------------
# The loops above spend about a microsecond of Python per bit. A batch of B messages can instead step
# through bit position i together, with (B,) numpy arrays for low, high, pending and the context.
# Two changes make that work, and neither changes a single output bit:
#   - the `while` loops of `update` become counts: the settled bits are the leading bits low and
#     high agree on, k = 32 - bit_length(low ^ high); the underflow steps are the run of positions
#     below the top where low has a 1 and high a 0. Both shift in one go.
#   - the encoder doesn't write bits as it goes: it records, per step, k, the pending count and low
#     before the shift, and the bits are laid out at the end for all messages at once.
# tests/test_bitstream.py checks byte for byte that both coders write the same files.

ONE = np.uint64(1)


def bit_length(x):
    """int.bit_length of each entry of a uint64 array whose values are below 2^53 (exact in a float64)."""
    return np.frexp(x.astype(np.float64))[1].astype(np.uint64)       # frexp(0) gives exponent 0


def renormalize(low, high):
    """update()'s two loops at once: -> (low, high, settled k, underflow steps u), all (B,) arrays."""
    k = STATE_BITS - bit_length(low ^ high)
    low, high = (low << k) & MASK, ((high << k) & MASK) | ((ONE << k) - ONE)
    run = (HALF - 1) & ~(low & ~high & (HALF - 1))                  # first bit below the top where the
    u = (STATE_BITS - 1) - bit_length(run)                           # pattern low 1 / high 0 stops
    low, high = (low << u) & (HALF - 1), ((high << u) & (HALF - 1)) | HALF | ((ONE << u) - ONE)
    return low, high, k, u


def coded_batch(bits, gates):
    """(B, n) bool: which bits of each message are coded (see the top)."""
    if gates is None:
        return np.ones(bits.shape, bool)
    gates = np.asarray(gates, dtype=np.intp)
    return (gates < 0) | (bits[:, gates] == 1)


def encode_batch(bits, freqs, gates=None, offsets=None):
    """encode() for many messages at once: bits (B, n) of 0/1 -> a list of B payloads, the same bytes."""
    bits = np.asarray(bits, dtype=np.intp).reshape(len(bits), -1)
    B, n = bits.shape
    coded = coded_batch(bits, gates).T                                # (n, B)
    if np.any(bits.T[~coded]):
        raise ValueError("a bit that is gated off must be 0")
    ctx = contexts(bits, context_offsets(freqs, offsets))            # the encoder knows every context up front
    freq1 = np.asarray(freqs, dtype=np.uint64).reshape(n, -1)[np.arange(n), ctx].T    # (n, B)
    one = bits.T == 1                                                 # (n, B)
    low, high, pending = np.zeros(B, np.uint64), np.full(B, MASK, np.uint64), np.zeros(B, np.uint64)
    settled, lows, pendings = (np.zeros((n + 1, B), np.uint64) for _ in range(3))
    skip = ~coded.any(1)                                              # (n,): steps no message codes
    for i in range(n):
        if skip[i]:                       # nothing moves: the interval, and so no bit settles either
            lows[i], pendings[i] = low, pending
            continue
        assert np.all((low ^ high) >= HALF), "the interval must straddle the middle"
        split = low + (((high - low + ONE) * ((1 << PRECISION) - freq1[i])) >> PRECISION)
        # a bit that is not coded leaves the interval as it is; renormalize then shifts nothing
        low, high = np.where(coded[i] & one[i], split, low), np.where(coded[i] & ~one[i], split - ONE, high)
        lows[i], pendings[i] = low, pending
        low, high, settled[i], u = renormalize(low, high)
        pending = np.where(settled[i] > 0, 0, pending) + u
    # finish(): one settled bit (0 if low < QUARTER, else 1), after one more pending bit
    settled[n], pendings[n] = 1, pending + ONE
    lows[n] = np.where(low >= QUARTER, HALF, 0)
    return lay_out(*(np.ascontiguousarray(a.T) for a in (settled, lows, pendings)))


def lay_out(settled, lows, pendings):
    """The bits each step wrote: the top bit of low, then `pending` copies of its opposite, then the
    other k - 1 settled bits of low. Done for every step of every message at once. -> B payloads.
    settled, lows, pendings: (B, steps) arrays, one column per coded bit plus one for finish()."""
    steps = np.flatnonzero(settled)                                   # message-major: each file in order
    msg = steps // settled.shape[1]
    k, p, low = (a.flat[steps].astype(np.uint32) for a in (settled, pendings, lows))
    length = (k + p).astype(np.intp)
    step_of_bit = np.repeat(np.arange(len(steps)), length)
    j = np.arange(len(step_of_bit), dtype=np.uint32) - (np.cumsum(length) - length)[step_of_bit].astype(np.uint32)
    p, low = p[step_of_bit], low[step_of_bit]                         # j: the bit's place within its step
    top = low >> (STATE_BITS - 1)
    shift = (STATE_BITS - 1) - (j - np.minimum(j, p))                 # after the pending ones: 30, 29, …
    bit = np.where((j > 0) & (j <= p), top ^ 1, (low >> shift) & 1)
    # each file's bits, zero-padded to whole bytes, one file after another
    total = np.bincount(msg, weights=length, minlength=len(settled)).astype(np.intp)
    nbytes = (total + 7) // 8
    gap = np.cumsum(8 * nbytes - total) - (8 * nbytes - total)        # padding before each file
    padded = np.zeros(8 * nbytes.sum(), np.uint8)
    padded[np.arange(len(bit)) + gap[msg[step_of_bit]]] = bit
    blob, ends = np.packbits(padded).tobytes(), np.cumsum(nbytes).tolist()
    return [blob[end - n:end] for end, n in zip(ends, nbytes.tolist())]


def decode_batch(payloads, n, freqs, gates=None, offsets=None):
    """decode() for many payloads at once -> (B, n) uint8 array. Raises FormatError if a payload isn't
    exactly what encode would write; its `bad` names every such payload."""
    B = len(payloads)
    table = np.asarray(freqs, dtype=np.uint64)[:n].reshape(n, -1)
    backs = np.array(context_offsets(freqs, offsets), np.intp)
    shifts = np.arange(len(backs))
    # every 56-bit window of each payload that starts on a byte: reading t bits at bit position pos
    # takes window pos // 8, which holds them while (pos % 8) + t <= 56, so for any t <= 49. Past the
    # end the payload reads as zeros, as in ArithmeticDecoder. The first read takes 32 bits. Each later
    # one takes the k settled and u underflow bits of one step, and k + u <= PRECISION + 2 = 14: the
    # interval is wider than QUARTER before a step (the invariants), so the part kept is at least
    # QUARTER >> PRECISION = 2^18 wide, and each shifted-out bit doubles it, up to at most 2^32.
    width = max(map(len, payloads), default=0) + 8
    raw = np.zeros((B, width + 7), np.uint8)
    for b, data in enumerate(payloads):
        raw[b, :len(data)] = np.frombuffer(data, np.uint8)
    windows = np.zeros((B, width), np.uint64)
    for j in range(7):
        windows = (windows << 8) | raw[:, j:j + width]
    rows = np.arange(B)

    def read(pos, t):                                                 # the next t <= 49 bits at pos
        q, r = np.minimum(pos >> 3, width - 1), pos & 7
        return (windows[rows, q] >> (56 - r - t)) & ((ONE << t) - ONE)

    low, high = np.zeros(B, np.uint64), np.full(B, MASK, np.uint64)
    code, pos = read(np.zeros(B, np.uint64), np.uint64(STATE_BITS)), np.full(B, STATE_BITS, np.uint64)
    pending, written = np.zeros(B, np.uint64), np.zeros(B, np.uint64)
    bits = np.zeros((B, n), np.uint8)
    for i in range(n):
        coded = True if gates is None or gates[i] < 0 else bits[:, gates[i]] == 1
        if coded is not True and not coded.any():     # no message codes it
            continue
        near = backs <= i
        ctx = (bits[:, i - backs[near]].astype(np.intp) << shifts[near]).sum(1)
        assert np.all((low ^ high) >= HALF), "the interval must straddle the middle"
        split = low + (((high - low + ONE) * ((1 << PRECISION) - table[i, ctx])) >> PRECISION)
        one = coded & (code >= split)
        low, high = np.where(one, split, low), np.where(coded & ~one, split - ONE, high)
        bits[:, i] = one
        low, high, k, u = renormalize(low, high)
        assert np.all(k + u <= PRECISION + 2), "a step shifts at most PRECISION + 2 bits (see read)"
        written += np.where(k > 0, k + pending, 0)                    # what the encoder wrote here
        pending = np.where(k > 0, 0, pending) + u
        w = read(pos, k + u)                                          # k settled bits, then u underflow bits
        pos += k + u
        code = ((code << k) & MASK) | (w >> u)
        code = (code & HALF) | ((code << u) & (HALF - 1)) | (w & ((ONE << u) - ONE))
    expected = (written + pending + 2 + 7) // 8
    bad = {}
    for b, (data, again) in enumerate(zip(payloads, encode_batch(bits, freqs, gates, offsets))):
        if expected[b] != len(data):
            bad[b] = f"payload is {len(data)} bytes, the code needs {expected[b]}"
        elif data != again:                                           # see ArithmeticEncoder.finish
            bad[b] = "payload is not the code of the bits it decodes to (damaged or cut short)"
    if bad:
        raise FormatError(next(iter(bad.values())), bad)
    return bits


def pack_bits(bits):
    """[1, 0, 1] -> b'\xa0': most significant bit first, zero-padded to a whole byte."""
    if not bits:
        return b""
    nbytes = (len(bits) + 7) // 8
    return (int("".join(map(str, bits)), 2) << (8 * nbytes - len(bits))).to_bytes(nbytes, "big")


def unpack_bits(data):
    return [int(c) for c in format(int.from_bytes(data, "big"), f"0{8 * len(data)}b")] if data else []
