"""The serving process keeps freed heap instead of trimming it after every burst (glibc only),
and says when PyPy sized its GC nursery so that it will grow large."""
import subprocess
import sys
import textwrap

import pytest

from fastasgi.allocator import (
    is_glibc, large_nursery_warning, parse_size, pypy_nursery_size, tune_malloc, user_tuned,
)

from .conftest import ROOT

pytestmark = pytest.mark.timeout(30)

needs_glibc = pytest.mark.skipif(not is_glibc(), reason="malloc tuning is for glibc only")

# Allocates 4 MiB in 16 KiB blocks (below both the mmap threshold and the
# default one, so from the heap), frees them, and prints how far the
# program break came back down: glibc's default trims it at once.
HEAP_SHRINK = textwrap.dedent("""
    import ctypes, sys
    from fastasgi.allocator import tune_malloc
    tuned = tune_malloc() if sys.argv[1] == "tune" else False
    libc = ctypes.CDLL(None)
    libc.sbrk.restype = ctypes.c_void_p
    libc.sbrk.argtypes = (ctypes.c_ssize_t,)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = (ctypes.c_size_t,)
    libc.free.argtypes = (ctypes.c_void_p,)
    libc.memset.argtypes = (ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t)
    blocks = [0] * 256  # made first: a list growing from malloc would pin the heap top
    for index in range(256):
        blocks[index] = libc.malloc(16 * 1024)
        libc.memset(blocks[index], 1, 16 * 1024)
    top = libc.sbrk(0)
    for block in reversed(blocks):
        libc.free(block)
    print(tuned, top - libc.sbrk(0))
""")


def heap_given_back(mode, **environ):
    # A clean environment: no MALLOC_* setting of the caller's may decide
    result = subprocess.run([sys.executable, "-c", HEAP_SHRINK, mode], capture_output=True, text=True,
                            timeout=20, env={"PATH": "/usr/bin:/bin", **environ}, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    tuned, shrunk = result.stdout.split()
    return tuned == "True", int(shrunk)


@needs_glibc
@pytest.mark.skipif(sys.implementation.name != "cpython", reason="PyPy's own GC heap moves the break too")
def test_a_tuned_process_keeps_its_freed_heap():
    tuned, shrunk = heap_given_back("tune")
    assert tuned
    assert shrunk == 0
    # The measurement sees trimming: with glibc's default threshold of
    # 128 KiB pinned (left alone, glibc raises it after the interpreter's
    # startup frees an mmap()ed block, by how much depends on that startup:
    # 3.13 gave back 288 KiB in one run and nothing in another).
    tuned, shrunk = heap_given_back("tune", MALLOC_TRIM_THRESHOLD_="131072")
    assert not tuned  # the user's setting wins
    assert shrunk > 2 * 1024 * 1024


def test_the_user_and_the_environment_win():
    assert not tune_malloc({"FASTASGI_NO_MALLOC_TUNING": "1"})
    assert not tune_malloc({"MALLOC_TRIM_THRESHOLD_": "65536"})
    assert not tune_malloc({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=65536"})
    assert user_tuned({"MALLOC_TOP_PAD_": "0"})
    assert not user_tuned({"GLIBC_TUNABLES": "glibc.rtld.optional_static_tls=512", "PATH": "/bin"})


@needs_glibc
@pytest.mark.parametrize("env, tuned", [({}, True), ({"FASTASGI_NO_MALLOC_TUNING": "1"}, False)])
def test_the_server_tunes_its_own_process(start_server, implementation, env, tuned):
    server = start_server("tests.apps:app", implementation, "--log-level", "debug", env=env)
    assert server.wait_for_log("Application startup complete.")
    assert ("glibc malloc tuned for serving" in server.log) is tuned, server.log


# -- PyPy's nursery ----------------------------------------------------------
def test_pypy_nursery_size_is_read_on_pypy_only():
    script = "from fastasgi.allocator import pypy_nursery_size; print(pypy_nursery_size())"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=20,
                            env={"PATH": "/usr/bin:/bin", "PYPY_GC_NURSERY": "3MB"}, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    expected = str(3 * 1024 * 1024) if sys.implementation.name == "pypy" else "None"
    assert result.stdout.strip() == expected


def test_sizes_read_as_pypy_writes_them():
    assert parse_size("150.0MB") == 150 * 1024 * 1024
    assert parse_size("512.0kB") == 512 * 1024
    assert parse_size("2.0GB") == 2 * 1024 ** 3
    assert parse_size("a lot") is None


def test_only_a_large_nursery_the_user_did_not_choose_is_reported():
    warning = large_nursery_warning(150 * 1024 * 1024, {})
    assert "150 MiB" in warning and "1350 MiB" in warning and "PYPY_GC_NURSERY=8MB" in warning
    assert large_nursery_warning(8 * 1024 * 1024, {}) is None  # small enough
    assert large_nursery_warning(None, {}) is None  # not PyPy
    assert large_nursery_warning(150 * 1024 * 1024, {"PYPY_GC_NURSERY": "150MB"}) is None  # chosen
    assert large_nursery_warning(150 * 1024 * 1024, {"PYPY_GC_MIN": "200MB"}) is None


def test_the_server_reports_a_large_nursery_when_this_machine_gives_one(start_server, implementation):
    # PyPy picks its nursery from this machine's cache (150 MB on a VM that
    # reports 300 MiB of L3, 1 MiB on another): the server, started with
    # this interpreter and environment, must say what the check says here.
    expected = large_nursery_warning(pypy_nursery_size())
    server = start_server("tests.apps:app", implementation)
    assert server.wait_for_log("Application startup complete.")
    assert ("PyPy sized its GC nursery" in server.log) is (expected is not None), server.log
    if expected is not None:
        assert expected in server.log
