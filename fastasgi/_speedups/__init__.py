"""The switch between the compiled hot paths and their pure-Python twins.

The choice is made once, here, at import time: the compiled modules when
they were built and FASTASGI_NO_EXTENSIONS is not set, else the pure ones.
The rest of fastasgi imports hot-path names only from this module (or asks
`load()` for one implementation by name, as `--http h11` and the tests do).
"""
import os
import sys
from types import SimpleNamespace

from .errors import ClientDisconnected, HttpParseError

NAMES = ("RequestParser", "RequestHead", "split_target", "DEFAULT_MAX_HEAD_SIZE",
         "check_request_headers", "encode_response_headers",
         "ResponseEncoder", "status_line", "FlowControl", "FrameReader", "encode_frame")


def _namespace(kind, *modules):
    found = {}
    for name in NAMES:
        for module in modules:
            if hasattr(module, name):
                found[name] = getattr(module, name)
                break
    found["HttpParseError"] = HttpParseError
    found["IMPLEMENTATION"] = kind
    return SimpleNamespace(**found)


def _load_pure():
    from . import flow_py, headers_py, parser_py, response_py, wsframes_py
    return _namespace("pure", parser_py, headers_py, response_py, flow_py, wsframes_py)


def _load_compiled():
    from . import flow_c, headers_c, parser_c, response_c, wsframes_c
    return _namespace("compiled", parser_c, headers_c, response_c, flow_c, wsframes_c)


def compiled_available():
    """True when the extension modules were built for this interpreter."""
    try:
        _load_compiled()
    except ImportError:
        return False
    return True


def load(kind):
    """The hot-path namespace for 'compiled' or 'pure'."""
    if kind == "pure":
        return _load_pure()
    if kind == "compiled":
        return _load_compiled()
    raise ValueError(f"Unknown implementation {kind!r}: expected 'compiled' or 'pure'")


def _choose():
    if os.environ.get("FASTASGI_NO_EXTENSIONS", "") not in ("", "0") or sys.implementation.name != "cpython":
        return _load_pure()
    try:
        return _load_compiled()
    except ImportError:
        return _load_pure()


_active = _choose()
IMPLEMENTATION = _active.IMPLEMENTATION
RequestParser = _active.RequestParser
RequestHead = _active.RequestHead
split_target = _active.split_target
DEFAULT_MAX_HEAD_SIZE = _active.DEFAULT_MAX_HEAD_SIZE
check_request_headers = _active.check_request_headers
encode_response_headers = _active.encode_response_headers
ResponseEncoder = _active.ResponseEncoder
status_line = _active.status_line
FlowControl = _active.FlowControl
FrameReader = _active.FrameReader
encode_frame = _active.encode_frame
active = _active

__all__ = ["IMPLEMENTATION", "HttpParseError", "ClientDisconnected", "load", "compiled_available", "active", *NAMES]
