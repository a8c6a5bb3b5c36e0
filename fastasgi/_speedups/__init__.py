"""The one selector: compiled or pure, decided here, handed back as a whole stack.

A stack is every hot path of one implementation, taken together: the
modules of compiled.COMPILED_MODULES (the parser, the encoders, flow
control, websocket frames, the request cycle and the HTTP protocol), each
reachable by its role (`stack.http` is the protocol module), plus the
hot-path names (`stack.RequestParser`, ...) and `stack.IMPLEMENTATION`.

The compiled stack is all or nothing: if any compiled module fails to
import, for any reason (not built, a partial install, a .so built against
another .pxd), none is used, and unless the package simply has no compiled
modules a warning says which one failed and why.  The choice is made once,
at import time (`active`); `load()` gives one implementation by name, and
`select()` the one that `--http` asks for; `start_message()` is the
server's start log line naming it.

The protocol modules import the shared exceptions from this package while
it is still being imported, so those are bound before the selection runs.
"""
import importlib
import importlib.util
import logging
import sys
import warnings
from types import SimpleNamespace

from .errors import ClientDisconnected, HttpParseError  # noqa: I001 -- bound first (see above)
from .compiled import COMPILED_MODULES, NO_EXTENSIONS, flag

NAMES = ("RequestParser", "RequestLimits", "RequestHead", "split_target",
         "check_request_headers", "encode_response_headers",
         "ResponseEncoder", "status_line", "FlowControl", "FrameReader", "encode_frame")
IMPLEMENTATIONS = ("compiled", "pure")


class CompiledUnavailable(ImportError):
    """The compiled stack cannot be used; the message says why."""


def _stack(kind, modules):
    """The namespace of one implementation: each module by its role, then the hot-path names."""
    found = dict(modules)
    for name in NAMES:
        for module in modules.values():
            if hasattr(module, name):
                found[name] = getattr(module, name)
                break
        else:
            raise CompiledUnavailable(f"no {kind} module defines {name}")
    found.update(IMPLEMENTATION=kind, HttpParseError=HttpParseError)
    return SimpleNamespace(**found)


def _import_all(kind):
    """Every module of one implementation, by role; the first that fails stops it all."""
    column = 0 if kind == "compiled" else 2
    modules = {}
    for role, entry in COMPILED_MODULES.items():
        name = entry[column]
        try:
            modules[role] = importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 -- any failure of one module drops the whole stack
            raise CompiledUnavailable(f"{name}: {type(exc).__name__}: {exc}") from exc
    return modules


def _none_built():
    """True when the package holds no compiled module at all (a pure install)."""
    for name, _, _ in COMPILED_MODULES.values():
        try:
            if importlib.util.find_spec(name) is not None:
                return False
        except Exception:  # noqa: BLE001 -- a broken package is not a pure one
            return False
    return True


_loaded = {}  # implementation -> its stack, or the CompiledUnavailable that stopped it


def load(kind):
    """The whole stack of 'compiled' or 'pure'; CompiledUnavailable says why not."""
    if kind not in IMPLEMENTATIONS:
        raise ValueError(f"Unknown implementation {kind!r}: expected 'compiled' or 'pure'")
    if kind not in _loaded:
        try:
            _loaded[kind] = _stack(kind, _import_all(kind))
        except CompiledUnavailable as exc:
            if kind == "pure":
                raise ImportError(f"the pure-Python stack does not import: {exc}") from exc
            _loaded[kind] = exc
    result = _loaded[kind]
    if isinstance(result, CompiledUnavailable):
        raise result
    return result


def compiled_available():
    """True when every compiled module imports on this interpreter."""
    try:
        load("compiled")
    except CompiledUnavailable:
        return False
    return True


def select(http="auto"):
    """The stack `--http` asks for: h11 runs the pure twins, httptools the compiled ones."""
    if http == "h11":
        return load("pure")
    if http == "httptools":
        try:
            return load("compiled")
        except CompiledUnavailable as exc:
            raise ValueError(f"--http httptools needs fastasgi's compiled speedups, which cannot "
                             f"be used here ({exc})") from exc
    return active


def start_message(stack, http="auto"):
    """The server's start log line, as (level, text): the implementation, its
    protocol module and why; a warning when CPython runs the pure twins
    though nobody asked for them (the compiled ones failed or were not built)."""
    text = f"Running the {stack.IMPLEMENTATION} implementation (protocol {stack.http.__name__})"
    if http in ("h11", "httptools"):
        return logging.INFO, f"{text}, chosen by --http {http}"
    if REASON is None:
        return logging.INFO, text
    return (logging.WARNING if DEGRADED else logging.INFO), f"{text}: {REASON}"


def _choose():
    """The default stack; why it is not the compiled one (None when it is);
    and whether that is a degradation nobody asked for."""
    if flag(NO_EXTENSIONS):
        return load("pure"), f"{NO_EXTENSIONS} is set", False
    if sys.implementation.name != "cpython":
        return load("pure"), f"{sys.implementation.name} runs the pure-Python twins", False
    try:
        return load("compiled"), None, False
    except CompiledUnavailable as exc:
        if _none_built():
            return load("pure"), ("the compiled speedups are not built for this interpreter "
                                  "(installed from the pure wheel, or built without a compiler)"), True
        warnings.warn(f"fastasgi's compiled speedups failed to import ({exc}); running the "
                      "pure-Python implementation instead, which is correct but slower. "
                      "Reinstall fastasgi to restore them.", RuntimeWarning, stacklevel=2)
        return load("pure"), f"the compiled speedups failed to import ({exc})", True


active, REASON, DEGRADED = _choose()
IMPLEMENTATION = active.IMPLEMENTATION
RequestParser = active.RequestParser
RequestHead = active.RequestHead
split_target = active.split_target
RequestLimits = active.RequestLimits
check_request_headers = active.check_request_headers
encode_response_headers = active.encode_response_headers
ResponseEncoder = active.ResponseEncoder
status_line = active.status_line
FlowControl = active.FlowControl
FrameReader = active.FrameReader
encode_frame = active.encode_frame

__all__ = ["IMPLEMENTATION", "IMPLEMENTATIONS", "HttpParseError", "ClientDisconnected", "CompiledUnavailable",
           "COMPILED_MODULES", "REASON", "DEGRADED", "load", "select", "start_message", "compiled_available", "active", *NAMES]
