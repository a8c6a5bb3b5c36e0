"""Files sent by the kernel (fastasgi/protocols/sendfile.py).

First the function itself, on a real loopback connection under uvloop and
asyncio's loop; then a server on both implementations and both loops,
whose debug log tells how many bytes os.sendfile moved, so the tests can
see the zero-copy path was the one taken.
"""
import asyncio
import hashlib
import os
import re
import shutil
import socket
import ssl
import struct
import threading
import time
from urllib.parse import quote

import pytest

try:
    import uvloop
except ImportError:  # PyPy: the server runs on asyncio's loop there
    uvloop = None

from fastasgi.protocols.sendfile import READ_CHUNK, READ_HIGH_WATER, WriteStalled, sendfile_to_socket

from .conftest import IMPLEMENTATIONS, ServerProcess, read_response, recv_until_closed, require_implementation
from .process_utils import make_certificate

APP = "tests.extension_apps:app"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("sendfile")
    # Every 4-byte word holds its own offset: a slice from the wrong place shows.
    with open(directory / "counted.bin", "wb") as file:
        for start in range(0, 20 * MIB, MIB):
            file.write(struct.pack(">%dI" % (MIB // 4), *range(start // 4, (start + MIB) // 4)))
    return directory


# -- the function, on a real connection ----------------------------------

class Holder:
    """The server side of one loopback connection: it keeps the transport."""

    def __init__(self):
        self.transport = None
        self.made = asyncio.get_running_loop().create_future()
        self.lost = None

    def __call__(self):
        return self

    def connection_made(self, transport):
        self.transport = transport
        self.made.set_result(None)

    def connection_lost(self, exc):
        self.lost = exc

    def data_received(self, data):
        pass

    def eof_received(self):
        pass

    def pause_writing(self):
        pass

    def resume_writing(self):
        pass


def run_on(loop_name, scenario):
    """Run `scenario(loop, transport, client_socket)` on a fresh loop of the named kind."""
    async def main():
        loop = asyncio.get_running_loop()
        holder = Holder()
        server = await loop.create_server(holder, "127.0.0.1", 0)
        client = socket.create_connection(server.sockets[0].getsockname()[:2])
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        try:
            await asyncio.wait_for(holder.made, 5)
            return await scenario(loop, holder.transport, client)
        finally:
            client.close()
            holder.transport.abort()
            server.close()

    if loop_name == "uvloop":
        if uvloop is None:
            pytest.skip("uvloop is not installed for this interpreter (PyPy)")
        return uvloop.run(main())
    return asyncio.run(main())


def read_in_thread(sock, size, pause=0.0):
    """Read `size` bytes from `sock` in a thread, `pause` s before each of the first reads."""
    received = []

    def read():
        sock.settimeout(10)
        got = 0
        reads = 0
        while got < size:
            if pause and reads < 20:
                time.sleep(pause)
            chunk = sock.recv(256 * 1024)
            if not chunk:
                break
            received.append(chunk)
            got += len(chunk)
            reads += 1

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread, received


LOOPS = ["uvloop", "asyncio"]


@pytest.mark.parametrize("loop_name", LOOPS)
def test_the_transports_own_bytes_go_first(loop_name, files):
    """The transport still holds bytes (more than the socket takes): the file waits for them."""
    path = files / "counted.bin"
    held = b"h" * (3 * MIB)

    async def scenario(loop, transport, client):
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32 * 1024)
        transport.write(held)
        assert transport.get_write_buffer_size() > 0  # the kernel did not take it all
        thread, received = read_in_thread(client, len(held) + 5 * MIB, pause=0.01)
        with open(path, "rb") as file:
            sent = await sendfile_to_socket(loop, transport, file.fileno(), 7 * MIB + 1, 5 * MIB, 5)
        await loop.run_in_executor(None, thread.join, 10)
        return sent, b"".join(received)

    sent, data = run_on(loop_name, scenario)
    assert sent == 5 * MIB
    with open(path, "rb") as file:
        file.seek(7 * MIB + 1)
        assert data == held + file.read(5 * MIB)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_a_client_that_reads_nothing_stalls_after_the_timeout(loop_name, files):
    async def scenario(loop, transport, client):
        started = time.monotonic()
        with open(files / "counted.bin", "rb") as file:
            with pytest.raises(WriteStalled):
                await sendfile_to_socket(loop, transport, file.fileno(), 0, 20 * MIB, 0.3)
        return time.monotonic() - started

    assert 0.3 <= run_on(loop_name, scenario) < 3


@pytest.mark.parametrize("loop_name", LOOPS)
def test_a_file_shorter_than_the_count_returns_what_it_had(loop_name, tmp_path):
    path = tmp_path / "short.bin"
    path.write_bytes(b"0123456789")

    async def scenario(loop, transport, client):
        with open(path, "rb") as file:
            sent = await sendfile_to_socket(loop, transport, file.fileno(), 4, 100, 5)
        transport.close()
        return sent, await loop.run_in_executor(None, recv_until_closed, client)

    assert run_on(loop_name, scenario) == (6, b"456789")


@pytest.mark.parametrize("loop_name", LOOPS)
def test_a_reset_in_the_middle_is_a_connection_error(loop_name, files):
    async def scenario(loop, transport, client):
        def reset_after_a_read():
            client.recv(65536)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            client.close()

        loop.call_later(0.05, reset_after_a_read)
        with open(files / "counted.bin", "rb") as file:
            try:
                sent = await sendfile_to_socket(loop, transport, file.fileno(), 0, 20 * MIB, 5)
            except ConnectionError:
                return "raised"
        # The loop saw the reset first and closed the transport: what was sent is returned.
        assert transport.is_closing() and sent < 20 * MIB
        return "closed"

    assert run_on(loop_name, scenario) in ("raised", "closed")


# -- through the server --------------------------------------------------

@pytest.fixture(scope="module", params=[(kind, loop) for kind in IMPLEMENTATIONS for loop in ("auto", "asyncio")],
                ids=lambda param: "-".join(param))
def server(request):
    kind, loop = request.param
    require_implementation(kind)
    process = ServerProcess(APP, kind, ("--loop", loop, "--log-level", "debug", "--timeout-write", "1"))
    yield process
    process.stop()


def request_bytes(path):
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: t\r\n\r\n"


def sent_by_kernel(server, since, count, timeout=5):
    """Whether the server's log, from line `since` on, says os.sendfile moved all `count` bytes of a file."""
    return wait_for_line(server, since, f"sendfile: {count} of {count} bytes", timeout)


def wait_for_line(server, since, text, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(text in logged for logged in server.lines[since:]):
            return True
        time.sleep(0.02)
    return False


def read_slowly_then_fast(sock, slow_reads, size):
    """A response whose body is `size` bytes, read 16 KiB at a time `slow_reads`
    times with a pause, then as fast as it comes: (head, body)."""
    received = bytearray()
    for _ in range(slow_reads):
        received += sock.recv(16 * 1024)
        time.sleep(0.01)
    head_end = received.index(b"\r\n\r\n") + 4
    while len(received) - head_end < size:
        chunk = sock.recv(1024 * 1024)
        assert chunk, "closed before the whole file"
        received += chunk
    return bytes(received[:head_end]), bytes(received[head_end:])


def test_offsets_and_counts_are_exact_across_pieces(server, files):
    """zerocopysend of a slice larger than one sendfile call, then the rest from the file's position."""
    path = files / "counted.bin"
    data = path.read_bytes()
    since = len(server.lines)
    offset, count, seek = 3 * MIB + 3, 6 * MIB + 5, 17 * MIB + 1
    with server.connect() as sock:
        sock.sendall(request_bytes(f"/zerocopy?file={quote(str(path))}&seek={seek}&offset={offset}&count={count}"))
        status, _, body, _, _ = read_response(sock, timeout=10)
    assert status == 200
    assert body == data[offset:offset + count] + b"|" + data[seek:]
    assert sent_by_kernel(server, since, count)
    assert sent_by_kernel(server, since, len(data) - seek)


def test_a_slow_then_fast_client_gets_every_byte(server, files):
    path = files / "counted.bin"
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    since = len(server.lines)
    sock = server.connect()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    try:
        sock.sendall(request_bytes("/pathsend?file=" + quote(str(path))))
        sock.settimeout(10)
        # slowly at first: the server waits on the socket, again and again
        head, body = read_slowly_then_fast(sock, 30, 20 * MIB)
    finally:
        sock.close()
    assert b"content-length: %d" % (20 * MIB) in head
    assert hashlib.sha256(body).hexdigest() == expected
    assert sent_by_kernel(server, since, 20 * MIB)


def test_a_stalled_client_is_aborted_and_others_are_served_meanwhile(server, files):
    path = files / "counted.bin"
    since = len(server.lines)
    stalled = server.connect()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    try:
        stalled.sendall(request_bytes("/pathsend?file=" + quote(str(path))))
        stalled.settimeout(5)
        assert stalled.recv(1024).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        with server.connect() as other:  # the loop is not blocked by the stalled send
            other.sendall(request_bytes("/extensions"))
            assert read_response(other)[0] == 200
        assert time.monotonic() - started < 0.9
        assert wait_for_line(server, since, "read none of the response for 1.0 s: aborting")
        assert recv_until_closed(stalled, timeout=5)  # what was in flight, then the close
    finally:
        stalled.close()
    assert not [line for line in server.lines[since:] if "ERROR" in line]
    with server.connect() as sock:
        sock.sendall(request_bytes("/extensions"))
        assert read_response(sock)[0] == 200


def test_a_reset_in_the_middle_of_a_file(server, files):
    path = files / "counted.bin"
    since = len(server.lines)
    sock = server.connect()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    sock.sendall(request_bytes("/pathsend?file=" + quote(str(path))))
    sock.settimeout(5)
    assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    time.sleep(0.05)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()
    assert wait_for_line(server, since, f"of {20 * MIB} bytes in")  # the send ended, short
    assert not [line for line in server.lines[since:] if "ERROR" in line]
    with server.connect() as sock:
        sock.sendall(request_bytes("/extensions"))
        assert read_response(sock)[0] == 200


def test_a_file_that_shrinks_in_the_middle(server, tmp_path):
    path = tmp_path / "shrinking.bin"
    path.write_bytes(os.urandom(MIB) * 16)
    since = len(server.lines)
    sock = server.connect()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    try:
        sock.sendall(request_bytes("/pathsend?file=" + quote(str(path))))
        sock.settimeout(5)
        received = sock.recv(65536)
        time.sleep(0.05)
        os.truncate(path, MIB)
        received += recv_until_closed(sock)
    finally:
        sock.close()
    _, _, body = received.partition(b"\r\n\r\n")
    assert MIB <= len(body) < 16 * MIB
    assert wait_for_line(server, since, "bytes short of the")
    with server.connect() as sock:
        sock.sendall(request_bytes("/extensions"))
        assert read_response(sock)[0] == 200


@pytest.mark.parametrize("loop", ["auto", "asyncio"])
def test_a_unix_socket_gets_the_file_by_the_kernel(implementation, loop, files, start_server, tmp_path):
    path = files / "counted.bin"
    uds = str(tmp_path / "fastasgi.sock")
    server = start_server(APP, implementation, "--loop", loop, "--uds", uds, "--log-level", "debug")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(uds)
        sock.sendall(request_bytes(f"/zerocopy?file={quote(str(path))}&seek={19 * MIB}&offset=5&count={MIB}"))
        status, _, body, _, _ = read_response(sock, timeout=10)
    data = path.read_bytes()
    assert status == 200 and body == data[5:5 + MIB] + b"|" + data[19 * MIB:]
    assert sent_by_kernel(server, 0, MIB)


# -- under TLS: read in pieces, a bounded few at a time -------------------

@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    return make_certificate(str(tmp_path_factory.mktemp("certs")), "server", "localhost")


@pytest.mark.parametrize("loop", ["auto", "asyncio"])
def test_a_slow_tls_client_costs_the_server_a_few_pieces(implementation, loop, files, certificate, start_server):
    """Under TLS the file is read and encrypted in the process: a client that
    reads slowly must not make the server buffer more than the read loop's
    high-water mark and one piece (the TLS transport's default is 512 KiB)."""
    path = files / "counted.bin"
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    server = start_server(APP, implementation, "--loop", loop, "--log-level", "debug", "--ssl-certfile", certificate[0],
                          "--ssl-keyfile", certificate[1])
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    raw = server.connect(timeout=10)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    with context.wrap_socket(raw) as sock:
        sock.sendall(request_bytes("/pathsend?file=" + quote(str(path))))
        # slowly at first: the kernel's buffers fill, then the transport's
        head, body = read_slowly_then_fast(sock, 20, 20 * MIB)
    assert b"content-length: %d" % (20 * MIB) in head
    assert hashlib.sha256(body).hexdigest() == expected
    pieces = 20 * MIB // READ_CHUNK
    assert wait_for_line(server, 0, f"file by reads: {20 * MIB} of {20 * MIB} bytes in {pieces} pieces")
    line = next(line for line in server.lines if "file by reads:" in line)
    buffered = int(re.search(r"at most (\d+) bytes buffered", line).group(1))
    assert READ_CHUNK < buffered <= READ_HIGH_WATER + READ_CHUNK, line
    assert not [line for line in server.lines if "sendfile:" in line]  # TLS never reaches the kernel's copy
