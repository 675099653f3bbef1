"""The local web page: `fewbits demo` (server.py serves page.html)."""
from .server import serve, start

__all__ = ["serve", "start"]
