"""coding/container.py: the 3-byte header, and its CRC-8 against the catalogue and its definition."""
import random

import pytest

from fewbits.coding import container
from fewbits.coding import FormatError


def test_container_header_is_three_bytes_and_checked():
    blob = container.write_container(b"\x12\x34", fingerprint=0x5A)
    assert len(blob) == container.HEADER_BYTES + 2 and container.read_container(blob, 0x5A) == b"\x12\x34"
    old = bytes([0xA1, 0x5A, 256 // 8]) + b"\x12\x34"                  # version 1: byte 2 held bits ÷ 8
    for bad, why in [(b"", "magic"), (b"\x00" + blob[1:], "magic"), (blob[:1] + b"\x00" + blob[2:], "another model"),
                     (bytes([blob[0] + 2]) + blob[1:], "version 4"), (old, "version 1, from before"),
                     (blob[:2] + bytes([blob[2] ^ 1]) + blob[3:], "checksum"), (blob[:-1], "checksum")]:
        with pytest.raises(FormatError, match=why):
            container.read_container(bad, 0x5A)


def test_shape_byte_follows_the_checksum_and_is_checked():
    """A picture that wasn't square: version 3, a 4th byte (portrait bit, ratio), covered by the CRC."""
    for shape in [(False, 85), (True, 1), (True, 126)]:
        blob = container.write_container(b"\x12\x34", 0x5A, shape)
        assert len(blob) == 4 + 2 and container.header_bytes(blob) == 4 and blob[0] & 0xF == container.SHAPED
        assert container.read_container(blob, 0x5A) == b"\x12\x34" and container.read_shape(blob) == shape
    assert container.read_shape(container.write_container(b"\x12", 0x5A)) is None
    for bad, why in [(blob[:3] + bytes([blob[3] ^ 0x80]) + blob[4:], "checksum"),       # portrait flipped
                     (container.write_container(b"\x12", 0x5A, (False, 0)), "shape byte"),
                     (container.write_container(b"\x12", 0x5A, (False, 127)), "shape byte"), (blob[:3], "checksum")]:
        with pytest.raises(FormatError, match=why):
            container.read_container(bad, 0x5A)


def test_crc8_against_the_catalogue_and_its_definition():
    """Reference: the CRC catalogue's check value of CRC-8/SMBUS (poly 0x07, init 0, no reflection):
    0xF4 for the ASCII bytes "123456789"; and the bit-at-a-time definition on random data."""
    assert container.crc8(b"123456789") == container.crc8_bitwise(b"123456789") == 0xF4
    assert container.crc8(b"") == 0
    rng = random.Random(6)
    for _ in range(500):
        data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 40)))
        assert container.crc8(data) == container.crc8_bitwise(data)
        # every single-bit error changes it (the polynomial has more than one term)
        if data:
            i = rng.randrange(8 * len(data))
            flipped = bytearray(data)
            flipped[i // 8] ^= 1 << (i % 8)
            assert container.crc8(bytes(flipped)) != container.crc8(data)
