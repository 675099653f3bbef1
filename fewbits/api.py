"""The Python API: a codec by name, and whole .bin files in and out.

    import fewbits
    codec = fewbits.load("easyvqa-256")            # a zoo name or a checkpoint path
    blobs = codec.compress(images)                 # list[bytes]: whole .bin files, header included
    images = codec.decompress(blobs, size=256)     # PIL images, each in its own shape

`images` may be PIL images, paths, or a (B, 3, 64, 64) tensor in [0, 1]. An image of any size and
shape is resized until its long side is the codec's size (64 pixels; 128 for CLEVR) and the rest
of the square repeats its edge pixels (files.load_square); a file of an image that wasn't square
carries its shape in one more header byte and decodes to that shape, `size` pixels along its long
side.

The command line, the benchmark and the training's validation all go through FileCodec, so their
files are byte for byte the API's. Errors are exceptions with one-line messages: FileError for an
unusable image or checkpoint, FormatError for a .bin file this codec can't decode.
"""
import torch
from PIL import Image

from . import files, zoo
from .codec import load_codec
from .coding import FormatError, container


class FileCodec:
    """A codec (an nn.Module with compress and decompress, codec/base.py) wrapped in the .bin container."""

    def __init__(self, model, name=None):
        self.model, self.name = model.eval(), name
        self.fingerprint = model.fingerprint()
        self.trained_on = getattr(model, "trained_on", None)
        self.native = getattr(model, "native", False)   # a photo codec: any size in, the same out

    # ---- whole files, for people -------------------------------------------------------------------
    def compress(self, images, search=0):
        """PIL images, paths or a (B, 3, 64, 64) tensor -> one .bin file (bytes) per image. A photo
        codec (model.native) takes each image at its own size, and tensors (B, 3, H, W) of any size."""
        if torch.is_tensor(images):
            return self.encode(images, search=search)
        if self.native:
            return self.encode([files.to_tensor(img.convert("RGB"))[None] if isinstance(img, Image.Image)
                                else files.load_photo(img) for img in images])
        size = self.model.size
        squares = [files.square(img, size) if isinstance(img, Image.Image) else files.load_square(img, size)
                   for img in images]
        return self.encode(torch.stack([x for x, _ in squares]), [shape for _, shape in squares], search)

    def decompress(self, blobs, size=None):
        """.bin files (bytes) -> PIL images, each in the shape it was compressed from, `size` pixels
        along its long side: by default the codec's (64, or 128), or a photo codec's photo at its own size. FormatError
        names the first file that can't be decoded."""
        parsed = [self.parse(blob) for blob in blobs]
        x_hat = self.decode([payload for payload, _ in parsed], size)
        if self.native:
            return [files.to_image(x) for x in x_hat]
        return [files.to_image(files.crop_to_shape(x, shape)) for x, (_, shape) in zip(x_hat, parsed)]

    # ---- the steps, for the command line and the benchmark -----------------------------------------
    def encode(self, x, shapes=None, search=0):
        """x (B, 3, 64, 64) in [0, 1] -> B files; shapes: each image's shape byte (None if square)."""
        strings = self.model.compress(x, search)["strings"]
        shapes = shapes or [None] * len(strings)
        return [container.write_container(s, self.fingerprint, shape) for s, shape in zip(strings, shapes)]

    def parse(self, blob):
        """One file -> (payload, shape). FormatError if it isn't this codec's, or is damaged."""
        return container.read_container(blob, self.fingerprint), container.read_shape(blob)

    def decode(self, payloads, size=None):
        """Payloads -> x_hat (B, 3, size, size) in [0, 1], the codec's size by default; from a photo codec, a
        list of (3, H, W), each photo's own size unless `size` is given. FormatError, with .bad
        naming each bad one."""
        return self.model.decompress(payloads, size)["x_hat"]

    def method(self, search=0):
        """The benchmark's view of this codec (bench/protocol.py): encode(x, idx) -> files, decode(files) -> x_hat."""
        def decode(blobs):                  # a batch of crops of one size, from a photo codec
            x_hat = self.decode([self.parse(b)[0] for b in blobs])
            return torch.stack(x_hat) if self.native else x_hat
        return (lambda x, idx=None: self.encode(x, search=search)), decode


def load(name_or_path=zoo.DEFAULT, device="cpu"):
    """A zoo name (zoo.MODELS) or a checkpoint path -> FileCodec. CheckpointError names what is wrong."""
    path = zoo.checked_path(name_or_path)
    name = str(name_or_path) if str(name_or_path) in zoo.MODELS else None
    model = load_codec(path, device)
    if name and zoo.MODELS[name]["quality"] is not None:     # one photo codec, several named rates
        model.quality = zoo.MODELS[name]["quality"]
    return FileCodec(model, name)


__all__ = ["FileCodec", "FormatError", "load"]
