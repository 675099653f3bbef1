"""The datasets behind one interface: easy-VQA, procedural scenes, photos, or any folder of images."""
from .datasets import DataError, encode_questions, load, photo_paths, tokenize

__all__ = ["DataError", "encode_questions", "load", "photo_paths", "tokenize"]
