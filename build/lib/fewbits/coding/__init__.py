"""Bits to bytes and back: the hand-written arithmetic coder, and the .bin container around its payload."""
from .arithmetic import FormatError

__all__ = ["FormatError"]
