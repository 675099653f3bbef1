"""Files in and out: images, checkpoints, and writes that never leave half a file.

    img = read_image(path)            # any image Pillow reads -> an upright RGB PIL image
    x = to_tensor(img)                # PIL image -> (3, H, W) float in [0, 1]
    x, shape = load_square(path)      # any image -> (3, 64, 64), its long side filling the square
    x, shape = square(img)            # the same from a PIL image
    x_hat = crop_to_shape(x_hat, shape)    # a square decode -> the image's own shape
    img = to_image(x)                 # (3, H, W) in [0, 1] -> PIL image
    write_atomic(path, blob)          # a temp file beside `path`, then a rename
    save_checkpoint(obj, path)        # torch.save, atomically
    ckpt = load_checkpoint(path)      # torch.load with weights_only=True: a checkpoint can't run code

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


def load_photo(path):
    """Any image Pillow reads -> (1, 3, H, W) in [0, 1] at its own size, for the photo codecs."""
    return to_tensor(read_image(path))[None]


def load_square(path, size=64):
    """Any image Pillow reads -> square(its upright RGB image). FileError naming the file if unreadable."""
    return square(read_image(path), size)


def square(img, size=64):
    """A PIL image -> (3, size, size) in [0, 1], and its shape for the file header: None if square,
    else (portrait, ratio = round(127 × short ÷ long side)). Antialiased; the long side fills the
    square, the rest repeats the image's edge pixels."""
    img = img.convert("RGB")
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
    return Image.fromarray(x.detach().cpu().clamp(0, 1).mul_(255).round_().byte().permute(1, 2, 0).numpy())


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


