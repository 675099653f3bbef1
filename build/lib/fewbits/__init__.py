"""fewbits: extreme image compression that keeps what a VQA model can read, in a few hundred bits.

    import fewbits
    codec = fewbits.load("easyvqa-256")            # a zoo name (fewbits.zoo.MODELS) or a checkpoint path
    blobs = codec.compress(images)                 # list[bytes]: whole .bin files, header included
    images = codec.decompress(blobs, size=256)     # PIL images, each in its own shape
    codec.model                                    # the nn.Module: forward, compress, decompress

The package's folders are its architecture; each imports only from the layers below it:
    cli, bench      the command line and the benchmark
    train           train(TrainConfig(...)): the one training loop
    api             load() and FileCodec: whole files
    codec, vqa      the codec variants; the VQA model in the loss and the judges
    nn, data, metrics, zoo    networks and their parts; datasets; scores; the model manifest
    files, coding   images and checkpoints on disk; the arithmetic coder and the container
"""
from .api import FileCodec, FormatError, load
from .files import CheckpointError, FileError

__version__ = "0.1.0"
__all__ = ["FileCodec", "FormatError", "load", "CheckpointError", "FileError", "__version__"]
