"""How a serving process's memory is allocated: glibc malloc's settings,
and a check of PyPy's GC nursery (at the end of this module).

Request and response bodies from a few KiB up are allocated and freed by
the thousand every second.  With glibc's defaults, whenever 128 KiB are
free at the top of the heap they are handed back to the kernel, and the
next burst of requests takes them again: a brk() call, then a page fault
for every page touched (docs/performance.md has what that churn costs).
glibc only raises its trim threshold by itself after it
has freed an mmap()ed block, which a server of small bodies never does.

So a serving process keeps up to TRIM_THRESHOLD of free heap, and takes
blocks from MMAP_THRESHOLD up from mmap() (handed back as soon as they are
freed).  Setting either turns glibc's own adjustment off, which is why
both are set.  Nothing is changed when the user tuned malloc already
(MALLOC_*_ variables or GLIBC_TUNABLES), when FASTASGI_NO_MALLOC_TUNING is
set, or when the C library is not glibc.
"""
import os
import re
import sys

M_TRIM_THRESHOLD = -1  # mallopt() parameters, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
TRIM_THRESHOLD = 8 * 1024 * 1024
MMAP_THRESHOLD = 1024 * 1024
USER_SETTINGS = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_MMAP_MAX_")


def is_glibc():
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (AttributeError, ValueError, OSError, TypeError):  # not a GNU system
        return False


def user_tuned(environ):
    return any(name in environ for name in USER_SETTINGS) or "glibc.malloc" in environ.get("GLIBC_TUNABLES", "")


def tune_malloc(environ=os.environ):
    """Apply the settings above to this process; True when they were applied."""
    if environ.get("FASTASGI_NO_MALLOC_TUNING", "") not in ("", "0") or user_tuned(environ) or not is_glibc():
        return False
    import ctypes  # only here: a process that skips the tuning never loads it

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt() answers 1 on success
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1


# -- PyPy's garbage collector ----------------------------------------------
# PyPy sizes its nursery (the young generation) at half the last-level CPU
# cache, and makes no major collection before the old generation reaches 8
# times the nursery.  A virtual machine that reports its host's whole L3
# gets a nursery of a large part of it, and a server under load then grows
# by gigabytes before its first major collection (docs/performance.md).
# PyPy reads its settings once, at start, so all a running server can do
# is say so.
LARGE_NURSERY = 64 * 1024 * 1024
PYPY_GC_SETTINGS = ("PYPY_GC_NURSERY", "PYPY_GC_MIN")
SIZE_UNITS = {"B": 1, "kB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}


def pypy_nursery_size():
    """The nursery's size in bytes on PyPy; None on other interpreters."""
    if sys.implementation.name != "pypy":
        return None
    import gc

    return parse_size(gc.get_stats().nursery_size)  # PyPy formats it: "150.0MB"


def parse_size(text):
    """'150.0MB' -> bytes, as PyPy's GC statistics write sizes; None if unreadable."""
    match = re.fullmatch(r"\s*([\d.]+)\s*(B|kB|MB|GB)\s*", str(text))
    return int(float(match.group(1)) * SIZE_UNITS[match.group(2)]) if match else None


def large_nursery_warning(nursery, environ=os.environ):
    """What to tell the user when PyPy's own nursery size will cost them
    RSS; None when it will not, or when they chose the GC's settings."""
    if nursery is None or nursery < LARGE_NURSERY or any(name in environ for name in PYPY_GC_SETTINGS):
        return None
    mib = nursery / 1024 ** 2
    return (f"PyPy sized its GC nursery at {mib:.0f} MiB from this CPU's cache: under load this process will "
            f"grow to about {9 * mib:.0f} MiB before its first major collection. Set PYPY_GC_NURSERY=8MB "
            "in the environment to keep it small (PyPy reads it at start).")
