"""The datasets behind one interface: easy-VQA, procedural scenes, photos, or any folder of images."""
from .datasets import encode_questions, image_size, load, tokenize
from .errors import DataError
from .photos import FullPhotos, full_photo_paths, photo_paths

__all__ = ["DataError", "FullPhotos", "encode_questions", "full_photo_paths", "image_size", "load", "photo_paths", "tokenize"]
