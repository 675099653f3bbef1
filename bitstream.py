"""A binary arithmetic coder written by hand, and the tiny container around its output.

    payload = encode(bits, freqs)          # bits: n values 0/1
    bits = decode(payload, n, freqs)

freqs[i][ctx] is P(bit i = 1) × 2^PRECISION, an integer, where ctx is the previous k bits read as a
binary number (the latest bit lowest, bits before the first one taken as 0) and each row has 2^k
entries: one entry per row is a factorized model, four entries a model of the two previous bits.

The coder follows Witten, Neal & Cleary (1987) in the layout of Nayuki's reference implementation:
one base class owns the interval update; the encoder and the decoder differ only in what they do
when a leading bit settles (`shift`) and when the interval straddles the middle (`underflow`).

The file is a 3-byte header, then the payload:
    byte 0   magic (high 4 bits: 1010) and container version (low 4 bits)
    byte 1   fingerprint of the model whose probabilities coded the payload
    byte 2   number of coded bits ÷ 8
At 256 bits each header byte costs 3% of the file, so it is kept to the minimum that lets a decoder
refuse a file that isn't ours, isn't for this model, or has been cut short.
"""
import itertools

PRECISION = 12                  # probabilities are integers in [1, 2^12 - 1] out of 2^12
STATE_BITS = 32
FULL = 1 << STATE_BITS          # 1 0000…0000 (33 bits)
MASK = FULL - 1                 #   1111…1111
HALF = FULL >> 1                #   1000…0000
QUARTER = HALF >> 1             #   0100…0000
MAGIC, VERSION = 0xA, 1


class FormatError(ValueError):
    """A .bin that can't be decoded: wrong magic, another model, truncated or corrupt."""


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


class Encoder(ArithmeticCoder):
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
        """Append the fewest bits that pin a value inside [low, high], given that the decoder reads
        zeros past the end: none if low is 0 with nothing pending, else one 1 (value HALF; the
        pending bits would be zeros, which the decoder supplies)."""
        if self.low != 0 or self.pending:
            self.out.append(1)
        return self.out


class Decoder(ArithmeticCoder):
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
        """Bits the encoder wrote for this message, including finish()."""
        return self.written + (self.low != 0 or self.pending > 0)


def context_mask(freqs):
    k = (len(freqs[0]) if len(freqs) else 1).bit_length() - 1
    assert all(len(row) == 1 << k for row in freqs), "every row of freqs needs 2^k entries"
    return (1 << k) - 1


def encode(bits, freqs):
    """bits: n values 0/1; freqs: n rows of 2^k integer probabilities of a 1 (see the top)."""
    enc, ctx, mask = Encoder(), 0, context_mask(freqs)
    for row, bit in zip(freqs, bits, strict=True):
        enc.update(row[ctx], bit)
        ctx = ((ctx << 1) | bit) & mask
    return pack_bits(enc.finish())


def decode(data, n, freqs):
    """Inverse of encode. Raises FormatError when `data` is not exactly what encode would write."""
    dec, ctx, mask = Decoder(unpack_bits(data)), 0, context_mask(freqs)
    bits = []
    for row in freqs[:n]:
        bits.append(dec.next_bit(row[ctx]))
        ctx = ((ctx << 1) | bits[-1]) & mask
    if (dec.expected_length() + 7) // 8 != len(data):
        raise FormatError(f"payload is {len(data)} bytes, the code needs {(dec.expected_length() + 7) // 8}")
    return bits


def pack_bits(bits):
    """[1, 0, 1] -> b'\xa0': most significant bit first, zero-padded to a whole byte."""
    if not bits:
        return b""
    nbytes = (len(bits) + 7) // 8
    return (int("".join(map(str, bits)), 2) << (8 * nbytes - len(bits))).to_bytes(nbytes, "big")


def unpack_bits(data):
    return [int(c) for c in format(int.from_bytes(data, "big"), f"0{8 * len(data)}b")] if data else []


# ---- the container -----------------------------------------------------------------------------

def write_container(payload, n, fingerprint):
    if n % 8 or not 0 < n // 8 < 256:
        raise ValueError(f"the container holds 8 to 2040 coded bits in steps of 8, not {n}")
    return bytes([(MAGIC << 4) | VERSION, fingerprint & 0xFF, n // 8]) + payload


def read_container(blob, fingerprint):
    """-> (payload, n). FormatError names what is wrong with a file that isn't ours."""
    if len(blob) < 3 or blob[0] >> 4 != MAGIC:
        raise FormatError("not a compressed image (bad magic)")
    if blob[0] & 0xF != VERSION:
        raise FormatError(f"container version {blob[0] & 0xF}, this program reads version {VERSION}")
    if blob[1] != fingerprint & 0xFF:
        raise FormatError(f"made by another model (fingerprint {blob[1]:02x}, this model is {fingerprint & 0xFF:02x})")
    if blob[2] == 0:
        raise FormatError("header says zero coded bits")
    return blob[3:], 8 * blob[2]
