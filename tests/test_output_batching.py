"""Small writes go out together, never late.

The protocol holds response bytes back so that a streamed body's chunks, or
the responses to a pipelined batch, leave in one write; these tests pin the
other half of that bargain: nothing waits for an app that is waiting.
"""
import sys
import time

import pytest

from .conftest import read_response

pytestmark = pytest.mark.timeout(30)


def get(path, extra=b""):
    return b"GET " + path + b" HTTP/1.1\r\nHost: t\r\n" + extra + b"\r\n"


def post_echo(body):
    return b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def assert_answered_in_order(server, requests, bodies):
    """Send `requests` in one write: each gets a 200 with its body from `bodies`, in order."""
    with server.connect() as sock:
        sock.sendall(b"".join(requests))
        rest = b""
        for body_expected in bodies:
            status, _, body, _, rest = read_response(sock, buffer=rest)
            assert (status, body) == (200, body_expected)


def test_a_chunk_is_sent_while_the_app_waits(start_server, implementation):
    server = start_server("tests.apps:app", implementation)
    with server.connect() as sock:
        started = time.monotonic()
        sock.sendall(get(b"/chunk-then-wait?s=2"))
        sock.settimeout(1.5)
        data = b""
        while b"first" not in data:
            data += sock.recv(65536)
        assert time.monotonic() - started < 1.5  # long before the app's last chunk
        status, headers, body, head, rest = read_response(sock, buffer=data)
    assert (status, body) == (200, b"firstlast")


def test_a_pipelined_response_does_not_wait_for_a_slow_one_after_it(start_server, implementation):
    server = start_server("tests.apps:app", implementation)
    with server.connect() as sock:
        started = time.monotonic()
        sock.sendall(get(b"/") + get(b"/sleep?s=1.5") + get(b"/"))
        status, _, body, _, rest = read_response(sock)
        first_at = time.monotonic() - started
        assert (status, body) == (200, b"Hello, world!")
        assert first_at < 1.0  # not held until the slow app answered
        status, _, body, _, rest = read_response(sock, buffer=rest)
        assert (status, body) == (200, b"slept")
        status, _, body, _, rest = read_response(sock, buffer=rest)
        assert (status, body) == (200, b"Hello, world!")


def test_a_pipelined_batch_is_answered_in_order(start_server, implementation):
    server = start_server("tests.apps:app", implementation)
    requests = []
    expected = []
    for index in range(24):
        if index % 3 == 0:
            requests.append(get(b"/"))
            expected.append(b"Hello, world!")
        elif index % 3 == 1:
            requests.append(get(b"/stream?n=4&size=%d" % (index + 1)))
            expected.append(b"x" * 4 * (index + 1))
        else:
            body = b"body %d" % index
            requests.append(post_echo(body))
            expected.append(body)
    assert_answered_in_order(server, requests, expected)


def test_a_long_stream_arrives_whole_and_in_order(start_server, implementation):
    # More than the bytes held back at once: written in several pieces.
    server = start_server("tests.apps:app", implementation)
    with server.connect() as sock:
        sock.sendall(get(b"/stream?n=300&size=1000") + get(b"/"))
        status, headers, body, _, rest = read_response(sock)
        assert (status, body) == (200, b"x" * 300_000)
        status, _, body, _, _ = read_response(sock, buffer=rest)
        assert (status, body) == (200, b"Hello, world!")


@pytest.mark.parametrize("loop", ["auto", "asyncio"])  # auto: uvloop where installed
def test_large_bodies_leave_beside_their_heads_on_either_loop(start_server, implementation, loop):
    # A body from LARGE_BODY up is written next to its head, not copied into
    # it: as one writev on uvloop; where the transport's writelines() would
    # join them (asyncio before 3.12, PyPy), as a write of its own from
    # OWN_WRITE_BODY up.
    server = start_server("tests.apps:app", implementation, "--loop", loop)
    sizes = (300_000, 16 * 1024, 70_000, 256 * 1024, 600_000)
    bodies = [bytes([65 + index]) * size for index, size in enumerate(sizes)]
    requests = []
    expected = []
    for body in bodies:
        requests += [post_echo(body), get(b"/")]
        expected += [body, b"Hello, world!"]
    assert_answered_in_order(server, requests, expected)


def test_writes_vectors_tells_joining_transports_apart():
    import asyncio

    from fastasgi.protocols.http import writes_vectors

    async def transports():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        try:
            return writes_vectors(transport), type(transport)
        finally:
            transport.close()
            server.close()

    # asyncio's socket transport has its own writelines() (sendmsg) from 3.12 on
    joins = sys.implementation.name != "cpython" or sys.version_info < (3, 12)
    assert asyncio.run(transports())[0] is not joins
    if sys.implementation.name == "cpython":
        import uvloop
        assert uvloop.run(transports())[0] is True


def test_asyncio_transports_read_at_most_read_size():
    """The read size stays small on asyncio's transports, and nothing is lost by it."""
    import asyncio

    from fastasgi.protocols.utils import READ_SIZE, limit_read_size

    payload = bytes(range(256)) * (4 * READ_SIZE // 256 + 7)

    class Collect(asyncio.Protocol):
        def __init__(self):
            self.chunks = []
            self.done = asyncio.get_running_loop().create_future()

        def connection_made(self, transport):
            limit_read_size(transport)

        def data_received(self, data):
            self.chunks.append(data)

        def eof_received(self):
            self.done.set_result(None)

    async def receive():
        loop = asyncio.get_running_loop()
        collector = Collect()
        server = await loop.create_server(lambda: collector, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(payload)
            writer.write_eof()
            await asyncio.wait_for(collector.done, 10)
            writer.close()
            return collector.chunks
        finally:
            server.close()

    chunks = asyncio.run(receive())
    assert b"".join(chunks) == payload
    assert max(map(len, chunks)) <= READ_SIZE
    if sys.implementation.name == "cpython":
        import uvloop  # reads into a buffer of its own: limit_read_size leaves it be
        assert b"".join(uvloop.run(receive())) == payload
