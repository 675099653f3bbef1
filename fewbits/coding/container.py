"""The .bin file around the coder's payload: a header, a one-byte model fingerprint and a CRC-8.

    blob = write_container(payload, fingerprint)         # the 3-byte header, then the payload
    blob = write_container(payload, fingerprint, shape)  # a 4th byte: the shape of an image that wasn't square
    payload = read_container(blob, fingerprint)          # FormatError names what is wrong
    shape = read_shape(blob)                             # (portrait, ratio), or None if square

The file is a HEADER_BYTES = 3 byte header, then the coder's payload (arithmetic.py):
    byte 0   magic (high 4 bits: 1010) and container version (low 4 bits): 2, or 3 if byte 3 follows
    byte 1   fingerprint of the model whose probabilities coded the payload
    byte 2   CRC-8 of the other header bytes and the payload
    byte 3   (version 3 only) the shape of an image that wasn't square: bit 7 set if it was taller
             than wide; bits 0-6 its short side ÷ long side × 127, rounded (1…126)
At 256 bits each header byte costs 3% of the file, so it is kept to the minimum that lets a decoder
refuse a file that isn't ours, isn't for this model, or has been damaged. A square image, every VQA
image among them, costs no shape byte.
"""
from .arithmetic import FormatError

MAGIC, VERSION, SHAPED = 0xA, 2, 3
HEADER_BYTES = 3                  # 4 with the shape byte

# ---- the checksum ----------------------------------------------------------------------------------
# CRC-8 with the polynomial x^8 + x^2 + x + 1 (0x07, "CRC-8/SMBUS"): the remainder of the message,
# read as a polynomial over GF(2) times x^8, divided by it. Any polynomial of two terms or more
# changes the remainder for every single-bit error, and this one also for every burst of up to 8
# bits; a random change slips through with probability 1/256.

CRC8_POLY = 0x07


def crc8_bitwise(data):
    """The definition, one bit at a time: shift the message through an 8-bit register, and subtract
    (xor) the polynomial whenever a 1 falls out of the top."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ CRC8_POLY) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


CRC8_TABLE = [crc8_bitwise([i]) for i in range(256)]     # the register after one byte, for each byte


def crc8(data):
    """The same CRC, a byte at a time through the table: crc8(b"123456789") == 0xF4."""
    crc = 0
    for byte in data:
        crc = CRC8_TABLE[crc ^ byte]
    return crc


def write_container(payload, fingerprint, shape=None):
    """The header (magic and version, fingerprint, CRC-8 of the rest), then the payload: a .bin file.
    shape: (portrait, ratio) for an image that wasn't square, ratio = round(127 × short ÷ long side)."""
    head = bytes([(MAGIC << 4) | (VERSION if shape is None else SHAPED), fingerprint & 0xFF])
    tail = b"" if shape is None else bytes([(0x80 if shape[0] else 0) | shape[1]])
    return head + bytes([crc8(head + tail + payload)]) + tail + payload


def header_bytes(blob):
    return HEADER_BYTES + (len(blob) > 0 and blob[0] & 0xF == SHAPED)


def fingerprint_of(blob):
    """The fingerprint byte of what looks like a fewbits file (its magic), or None: which model to
    ask, before read_container checks the rest."""
    return blob[1] if len(blob) > 1 and blob[0] >> 4 == MAGIC else None


def read_container(blob, fingerprint):
    """The payload of an undamaged file made by the model with this fingerprint. FormatError names
    what is wrong with a file that isn't ours, isn't that model's, or was damaged or cut short."""
    if len(blob) < HEADER_BYTES or blob[0] >> 4 != MAGIC:
        raise FormatError("not a compressed image (bad magic)")
    if blob[0] & 0xF == 1:
        raise FormatError("container version 1, from before files had a checksum; compress the image again")
    if blob[0] & 0xF not in (VERSION, SHAPED):
        raise FormatError(f"container version {blob[0] & 0xF}, this program reads versions {VERSION} and {SHAPED}")
    if blob[1] != fingerprint & 0xFF:
        raise FormatError(f"made by another model (fingerprint {blob[1]:02x}, this model is {fingerprint & 0xFF:02x})")
    n = header_bytes(blob)
    if len(blob) < n or crc8(blob[:2] + blob[HEADER_BYTES:]) != blob[2]:
        raise FormatError("damaged or cut short (checksum mismatch)")
    if n > HEADER_BYTES and not 1 <= blob[3] & 0x7F <= 126:
        raise FormatError(f"damaged (shape byte {blob[3]:02x})")
    return blob[n:]


def read_shape(blob):
    """(portrait, ratio) from the shape byte of a file read_container accepted; None if square."""
    return (bool(blob[3] & 0x80), blob[3] & 0x7F) if header_bytes(blob) > HEADER_BYTES else None
