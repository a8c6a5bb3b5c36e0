"""glibc malloc settings for a serving process.

Request and response bodies from a few KiB up are allocated and freed by
the thousand every second.  With glibc's defaults, whenever 128 KiB are
free at the top of the heap they are handed back to the kernel, and the
next burst of requests takes them again: a brk() call, then a page fault
for every page touched.  Under a 16 KiB POST echo load that churn cost a
third of the throughput (47k -> 61k req/s once it stopped, for about
1 MiB more RSS).  glibc only raises its trim threshold by itself after it
has freed an mmap()ed block, which a server of small bodies never does.

So a serving process keeps up to TRIM_THRESHOLD of free heap, and takes
blocks from MMAP_THRESHOLD up from mmap() (handed back as soon as they are
freed).  Setting either turns glibc's own adjustment off, which is why
both are set.  Nothing is changed when the user tuned malloc already
(MALLOC_*_ variables or GLIBC_TUNABLES), when FASTASGI_NO_MALLOC_TUNING is
set, or when the C library is not glibc.
"""
import os

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
