"""files.py's .bin container: the 3-byte header, and its CRC-8 against the catalogue and its definition."""
import random

import pytest

import files
from bitstream import FormatError


def test_container_header_is_three_bytes_and_checked():
    blob = files.write_container(b"\x12\x34", fingerprint=0x5A)
    assert len(blob) == files.HEADER_BYTES + 2 and files.read_container(blob, 0x5A) == b"\x12\x34"
    old = bytes([0xA1, 0x5A, 256 // 8]) + b"\x12\x34"                  # version 1: byte 2 held bits ÷ 8
    for bad, why in [(b"", "magic"), (b"\x00" + blob[1:], "magic"), (blob[:1] + b"\x00" + blob[2:], "another model"),
                     (bytes([blob[0] + 1]) + blob[1:], "version 3"), (old, "version 1, from before"),
                     (blob[:2] + bytes([blob[2] ^ 1]) + blob[3:], "checksum"), (blob[:-1], "checksum")]:
        with pytest.raises(FormatError, match=why):
            files.read_container(bad, 0x5A)


def test_crc8_against_the_catalogue_and_its_definition():
    """Reference: the CRC catalogue's check value of CRC-8/SMBUS (poly 0x07, init 0, no reflection):
    0xF4 for the ASCII bytes "123456789"; and the bit-at-a-time definition on random data."""
    assert files.crc8(b"123456789") == files.crc8_bitwise(b"123456789") == 0xF4
    assert files.crc8(b"") == 0
    rng = random.Random(6)
    for _ in range(500):
        data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 40)))
        assert files.crc8(data) == files.crc8_bitwise(data)
        # every single-bit error changes it (the polynomial has more than one term)
        if data:
            i = rng.randrange(8 * len(data))
            flipped = bytearray(data)
            flipped[i // 8] ^= 1 << (i % 8)
            assert files.crc8(bytes(flipped)) != files.crc8(data)
