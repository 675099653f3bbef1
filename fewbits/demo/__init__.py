"""The local web page: `fewbits demo` (server.py serves page.html)."""
from .server import serve

__all__ = ["serve"]
