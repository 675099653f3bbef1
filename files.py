"""Files in and out, in one place: images, checkpoints, and writes that never leave half a file.

    img = read_image(path)            # any image Pillow reads -> an upright RGB PIL image
    x = to_tensor(img)                # PIL image -> (3, H, W) float in [0, 1]
    x, shape = load_square(path)      # any image -> (3, 64, 64), its long side filling the square
    x_hat = crop_to_shape(x_hat, shape)    # a square decode -> the image's own shape
    img = to_image(x)                 # (3, H, W) in [0, 1] -> PIL image
    write_atomic(path, blob)          # a temp file beside `path`, then a rename
    save_checkpoint(obj, path)        # torch.save, atomically
    ckpt = load_checkpoint(path)      # torch.load with weights_only=True: a checkpoint can't run code
    blob = write_container(payload, fingerprint)    # a .bin file: the 3-byte header, then the payload
    payload = read_container(blob, fingerprint)
    shape = read_shape(blob)          # (portrait, ratio) of an image that wasn't square, else None

The .bin file is a HEADER_BYTES = 3 byte header, then the coder's payload (bitstream.py):
    byte 0   magic (high 4 bits: 1010) and container version (low 4 bits): 2, or 3 if byte 3 follows
    byte 1   fingerprint of the model whose probabilities coded the payload
    byte 2   CRC-8 of the other header bytes and the payload
    byte 3   (version 3 only) the shape of an image that wasn't square: bit 7 set if it was taller
             than wide; bits 0-6 its short side ÷ long side × 127, rounded (1…126)
At 256 bits each header byte costs 3% of the file, so it is kept to the minimum that lets a decoder
refuse a file that isn't ours, isn't for this model, or has been damaged (FormatError). A square
image, every VQA image among them, costs no shape byte.

What can go wrong with a file the user handed us raises FileError (or CheckpointError), whose
message names the file and the problem. The scripts print it as one line and exit with code 2.
"""
import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from bitstream import FormatError

MAGIC, VERSION, SHAPED = 0xA, 2, 3
HEADER_BYTES = 3                  # 4 with the shape byte
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm"}


class FileError(Exception):
    """A file that can't be used; the message names it and says why."""


class CheckpointError(FileError):
    """A checkpoint that is missing, damaged, or of another kind than the one asked for."""


def read_image(path):
    """Any image Pillow reads, as RGB, upright by its EXIF tag. FileError naming the file if unreadable."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)   # over MAX_IMAGE_PIXELS: refuse
            img = Image.open(path)
        with img:
            img = ImageOps.exif_transpose(img)
            if img.mode.startswith("I"):                      # 16- or 32-bit grayscale: scale to 8 bits
                img = Image.fromarray((np.asarray(img, dtype=np.float32) / 257).clip(0, 255).astype(np.uint8))
            return img.convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise FileError(f"{path}: not a readable image ({type(e).__name__}: {e})") from None


def load_square(path, size=64):
    """Any image Pillow reads -> (3, size, size) in [0, 1], and its shape for the file header: None if
    square, else (portrait, ratio = round(127 × short ÷ long side)). Upright, RGB, antialiased; the
    long side fills the square, the rest repeats the image's edge pixels."""
    img = read_image(path)
    portrait, ratio = img.height > img.width, max(1, round(127 * min(img.size) / max(img.size)))
    short = content_side(size, ratio)
    if short == size:
        return to_tensor(img.resize((size, size), Image.LANCZOS)), None
    x = to_tensor(img.resize((short, size) if portrait else (size, short), Image.LANCZOS))
    before = (size - short) // 2
    pad = (before, size - short - before, 0, 0) if portrait else (0, 0, before, size - short - before)
    return F.pad(x[None], pad, mode="replicate")[0], (portrait, ratio)


def content_side(size, ratio):
    """The short side, in pixels of a size × size square, of an image whose shape byte says `ratio`."""
    return min(size, max(1, round(size * ratio / 127)))


def crop_to_shape(x_hat, shape):
    """A (3, size, size) decode -> the image's own shape inside it: (3, size, short) or (3, short, size)."""
    if shape is None:
        return x_hat
    portrait, ratio = shape
    size = x_hat.shape[-1]
    short = content_side(size, ratio)
    before = (size - short) // 2
    return x_hat[:, :, before:before + short] if portrait else x_hat[:, before:before + short, :]


def to_tensor(img):
    """PIL RGB image (W × H) -> (3, H, W) float32 in [0, 1]."""
    return torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).float() / 255


def to_image(x):
    """(3, H, W) in [0, 1] -> PIL RGB image, each value rounded to the nearest of 256 levels."""
    return Image.fromarray((x.detach().cpu().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy())


def png_bytes(x):
    """(3, H, W) in [0, 1] -> the bytes of a PNG file."""
    buf = io.BytesIO()
    to_image(x).save(buf, format="PNG")
    return buf.getvalue()


def write_atomic(path, blob):
    """Write bytes to a temp file beside `path`, then rename: a crash never leaves half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(blob)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_checkpoint(obj, path):
    """torch.save, written atomically: a crash never leaves half a checkpoint."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    write_atomic(path, buf.getvalue())


def load_checkpoint(path, keys=(), device="cpu"):
    """torch.load(weights_only=True), refusing in one line a missing, damaged or foreign file.

    `keys` are the entries the caller needs; a dict without them is a checkpoint of another kind.
    The message never passes on torch's own advice to retry with weights_only=False: that would
    let the file run code.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(e).__name__})") from None
    missing = [k for k in keys if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        raise CheckpointError(f"{path}: not the checkpoint expected here (it has no {', '.join(missing)})")
    return ckpt


# ---- the .bin container -----------------------------------------------------------------------------
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
