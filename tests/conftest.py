"""Fixtures that start real fastasgi servers on loopback, one per implementation.

Every behaviour test takes the `implementation` parameter, so it runs once
on the compiled speedups and once on the pure-Python twins; the compiled
run is skipped (with the reason) where the extensions are not built.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from fastasgi import _speedups

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMPLEMENTATIONS = ("compiled", "pure")

# The suite's Linux-only parts skip elsewhere (the macOS wheels' test step), with the reason.
needs_proc = pytest.mark.skipif(
    not os.path.isdir("/proc/self"), reason="reads process accounting from /proc, which only Linux has")
needs_taskset = pytest.mark.skipif(
    shutil.which("taskset") is None, reason="pins processes to cores with taskset (util-linux, Linux only)")
RUNNING_ON = re.compile(r"running on (?:http|https)://(\S+):(\d+) ")


def _backport_pypy_join_fix():
    """Debian's PyPy 7.3.11 races in Thread.join() when two threads join one
    thread, as the websockets sync client does on close (pypy/pypy#5079, fixed
    upstream by pypy/pypy#5080): RuntimeError('cannot release un-acquired
    lock') or a failed assert, in the test client, never in fastasgi.  The
    same fix, for the test process only."""
    original_stop = threading.Thread._stop

    def _wait_for_tstate_lock(self, block=True, timeout=-1):
        lock = self._tstate_lock
        if lock is None:
            return
        try:
            if lock.acquire(block, timeout):
                try:
                    lock.release()
                except RuntimeError:  # another joiner released it first
                    pass
                self._stop()
        except BaseException:
            if lock.locked():
                try:
                    lock.release()
                except RuntimeError:
                    pass
                self._stop()
            raise

    def _stop(self):
        try:
            original_stop(self)
        except AssertionError:  # another joiner holds the ended thread's lock for a moment
            self._is_stopped = True
            self._tstate_lock = None

    threading.Thread._wait_for_tstate_lock = _wait_for_tstate_lock
    threading.Thread._stop = _stop


if sys.implementation.name == "pypy" and sys.pypy_version_info[:3] < (7, 3, 18):
    _backport_pypy_join_fix()


def require_implementation(kind):
    if kind == "compiled" and not _speedups.compiled_available():
        pytest.skip("fastasgi's compiled speedups are not built for this interpreter "
                    "(pure-Python install, PyPy, or FASTASGI_NO_EXTENSIONS build)")


@pytest.fixture(params=IMPLEMENTATIONS)
def implementation(request):
    require_implementation(request.param)
    return request.param


class ServerProcess:
    """`python -m fastasgi APP ...` in a subprocess, its log captured."""

    def __init__(self, app, implementation, args=(), env=None, cwd=ROOT, wait=True):
        self.implementation = implementation
        environment = dict(os.environ)
        environment.pop("FASTASGI_NO_EXTENSIONS", None)
        environment["PYTHONUNBUFFERED"] = "1"
        environment["PYTHONFAULTHANDLER"] = "1"  # a crashed server leaves its traceback in the log
        if implementation == "pure":
            environment["FASTASGI_NO_EXTENSIONS"] = "1"
        environment.update(env or {})
        http = "httptools" if implementation == "compiled" else "h11"
        command = [sys.executable, "-m", "fastasgi", app, "--http", http, *args]
        if "--port" not in args and "--uds" not in args and "--fd" not in args:
            command += ["--port", "0"]
        self.lines = []
        self.port = None
        self.host = "127.0.0.1"
        self._ready = threading.Event()
        self.process = subprocess.Popen(
            command, cwd=cwd, env=environment, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if wait:
            self.wait_ready()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            match = RUNNING_ON.search(line)
            if match and self.port is None:
                self.host = match.group(1).strip("[]")
                self.port = int(match.group(2))
                self._ready.set()
            elif "running on unix socket" in line:
                self._ready.set()
        self._ready.set()

    def wait_ready(self, timeout=15):
        if not self._ready.wait(timeout) or self.process.poll() is not None and self.port is None:
            self.stop()
            raise RuntimeError("server did not start:\n" + self.log)

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    @property
    def log(self):
        return "\n".join(self.lines)

    def wait_for_log(self, text, timeout=5):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log:
                return True
            time.sleep(0.02)
        return False

    def connect(self, timeout=5):
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def send_signal(self, sig):
        self.process.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(2)
        return self.process.returncode


@pytest.fixture
def start_server():
    """Start servers for one test; all are stopped after it."""
    servers = []

    def start(app="tests.apps:app", implementation="compiled", *args, **kwargs):
        require_implementation(implementation)
        server = ServerProcess(app, implementation, args, **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop(signal.SIGKILL)


@pytest.fixture(scope="module", params=IMPLEMENTATIONS)
def server(request):
    """The shared test app, one server per implementation per test module."""
    require_implementation(request.param)
    process = ServerProcess("tests.apps:app", request.param)
    yield process
    process.stop()


def recv_until_closed(sock, timeout=5):
    """Everything the server sends until it closes the connection."""
    sock.settimeout(timeout)
    chunks = []
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def recv_until(sock, ending, timeout=5):
    """What the server sends until it has sent `ending` (or closed)."""
    sock.settimeout(timeout)
    data = b""
    while not data.endswith(ending):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def read_response(sock, timeout=5, buffer=b""):
    """One HTTP/1.1 response from a raw socket.

    Returns (status, headers, body, head, rest): pass `rest` back as
    `buffer` to read the next pipelined response.
    """
    sock.settimeout(timeout)
    while b"\r\n\r\n" not in buffer:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError(f"closed before a full head: {buffer!r}")
        buffer += data
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    headers = [tuple(line.split(b": ", 1)) for line in lines[1:]]
    names = {name.lower(): value for name, value in headers}
    if status in (204, 304) or 100 <= status < 200:
        return status, headers, b"", head, rest
    if b"content-length" in names:
        size = int(names[b"content-length"])
        while len(rest) < size:
            data = sock.recv(65536)
            if not data:
                break
            rest += data
        return status, headers, rest[:size], head, rest[size:]
    if names.get(b"transfer-encoding") == b"chunked":
        body = b""
        while True:
            while b"\r\n" not in rest:
                rest += sock.recv(65536)
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            while len(rest) < size + 2:
                rest += sock.recv(65536)
            body += rest[:size]
            rest = rest[size + 2:]
            if size == 0:
                return status, headers, body, head, rest
    return status, headers, rest + recv_until_closed(sock), head, b""
