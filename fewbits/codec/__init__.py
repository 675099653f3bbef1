"""The codec variants, one class each, sharing Codec's interface (forward, compress, decompress)."""
from .base import Codec
from .fullres import PhotoCodec
from .objects import ObjectCodec
from .search import search_bits
from .variants import CODECS, GlobalCodec, GridCodec, MapCodec, codec_checkpoint, load_codec

__all__ = ["Codec", "GlobalCodec", "GridCodec", "MapCodec", "ObjectCodec", "PhotoCodec", "CODECS", "codec_checkpoint", "load_codec", "search_bits"]
