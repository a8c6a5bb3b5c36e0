"""fastasgi: a fast, strict ASGI server with uvicorn's interface."""
from ._version import __version__
from .config import Config
from .server import Server


def run(app, **kwargs):
    """Run `app` (an ASGI app or "module:attribute") until SIGINT/SIGTERM."""
    from .cli import run as _run

    _run(app, **kwargs)


__all__ = ["__version__", "Config", "Server", "run"]
