"""Files in and out, in one place: images, checkpoints, and writes that never leave half a file.

    img = read_image(path)            # any image Pillow reads -> an upright RGB PIL image
    x = to_tensor(img)                # PIL image -> (3, H, W) float in [0, 1]
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
