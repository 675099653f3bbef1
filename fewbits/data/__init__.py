"""The datasets behind one interface: easy-VQA, procedural scenes, photos, or any folder of images."""
from .datasets import FLIPPABLE, encode_questions, image_size, load, mirror, tokenize
from .errors import DataError
from .photos import FullPhotos, full_photo_paths, photo_paths

__all__ = ["FLIPPABLE", "DataError", "FullPhotos", "encode_questions", "full_photo_paths", "image_size", "load", "mirror", "photo_paths", "tokenize"]
