"""PyPy's JIT, given room for a server's code paths.

PyPy compiles a hot path only if tracing it records fewer than
`trace_limit` operations (6000 by default); past that it gives up on the
trace and, after a few tries, on inlining into it.  One request's path
through asyncio's transports, fastasgi and the app is longer than that.
What gets compiled then depends on which requests came first, and a
server that had served keep-alive requests made new connections markedly
slower than a fresh one.  A limit of 16000 removes that (the measurements
are in docs/performance.md).

Nothing is changed on CPython, when the interpreter was started with
JIT parameters of its own (`pypy --jit ...`), or when
FASTASGI_NO_JIT_TUNING is set.
"""
import os

# PyPy refuses a trace_limit above 16384.
TRACE_LIMIT = 16000


# Interpreter options that take the next argument as their value.
OPTIONS_WITH_VALUE = {b"-W", b"-X", b"--jit", b"--check-hash-based-pycs"}


def jit_set_by_user(cmdline_path="/proc/self/cmdline"):
    """Whether the interpreter was started with `--jit`: its parameters then win.

    Only the interpreter's own options count: what follows the program
    (`-m module`, `-c code`, a script) are the program's arguments."""
    try:
        with open(cmdline_path, "rb") as file:
            arguments = file.read().split(b"\0")[1:]
    except OSError:  # not Linux: nothing to tell by
        return False
    index = 0
    while index < len(arguments):
        argument = arguments[index]
        if argument == b"--jit" or argument.startswith(b"--jit="):
            return True
        if not argument.startswith(b"-") or argument in (b"-", b"-m", b"-c"):
            return False  # the program starts here
        index += 2 if argument in OPTIONS_WITH_VALUE else 1
    return False


def tune_jit(environ=os.environ, cmdline_path="/proc/self/cmdline"):
    """Raise PyPy's trace limit for this process; True when it was raised."""
    if environ.get("FASTASGI_NO_JIT_TUNING", "") not in ("", "0"):
        return False
    try:
        import pypyjit
    except ImportError:  # CPython, or a PyPy built without its JIT
        return False
    if jit_set_by_user(cmdline_path):
        return False
    try:
        pypyjit.set_param(f"trace_limit={TRACE_LIMIT}")
    except Exception:  # noqa: BLE001 - a PyPy that refuses it runs as it was
        return False
    return True
