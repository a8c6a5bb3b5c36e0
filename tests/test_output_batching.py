"""Small writes go out together, never late.

The protocol holds response bytes back so that a streamed body's chunks, or
the responses to a pipelined batch, leave in one write; these tests pin the
other half of that bargain: nothing waits for an app that is waiting.
"""
import sys
import time

import pytest

from fastasgi.protocols.asyncio_loop import READ_SIZE, SharedReadBuffer
from fastasgi.protocols.state import ServerState

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
        sock.sendall(get(b"/chunk-then-wait?s=1"))
        sock.settimeout(0.8)
        data = b""
        while b"first" not in data:
            data += sock.recv(65536)
        assert time.monotonic() - started < 0.8  # long before the app's last chunk
        status, headers, body, head, rest = read_response(sock, buffer=data)
    assert (status, body) == (200, b"firstlast")


def test_a_pipelined_response_does_not_wait_for_a_slow_one_after_it(start_server, implementation):
    server = start_server("tests.apps:app", implementation)
    with server.connect() as sock:
        started = time.monotonic()
        sock.sendall(get(b"/") + get(b"/sleep?s=1") + get(b"/"))
        status, _, body, _, rest = read_response(sock)
        first_at = time.monotonic() - started
        assert (status, body) == (200, b"Hello, world!")
        assert first_at < 0.6  # not held until the slow app answered
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


def test_each_implementation_runs_its_own_shell(implementation):
    # The compiled hot paths come with the compiled shell (http.py and
    # cycle.py built as http_c and cycle_c), the pure ones with the source.
    from fastasgi.protocols import http_module

    module = http_module(implementation)
    suffix = "_c" if implementation == "compiled" else ""
    assert module.__name__ == f"fastasgi.protocols.http{suffix}"
    assert module.RequestResponseCycle.__module__ == f"fastasgi.protocols.cycle{suffix}"
    assert module.HttpProtocol.__module__ == module.__name__
    # both cycles raise the one ClientDisconnected the websocket protocol raises too
    from fastasgi import _speedups
    from fastasgi.protocols import websocket
    cycle_module = sys.modules[module.RequestResponseCycle.__module__]
    assert cycle_module.ClientDisconnected is _speedups.ClientDisconnected is websocket.ClientDisconnected


def test_server_state_is_of_its_protocols_module(implementation):
    # The compiled protocol reads its server's state as a C struct: a server
    # running it must make its state from state_c, or every connection fails.
    from fastasgi.config import Config
    from fastasgi.protocols import state_module
    from fastasgi.server import Server

    config = Config("tests.apps:app", http="httptools" if implementation == "compiled" else "h11")
    state = Server(config).server_state
    assert type(state) is state_module(implementation).ServerState
    assert (state.total_requests, state.connections, state.tasks, state.pending_flushes) == (0, set(), set(), [])
    state.started_by = "a tool of the user's"  # a plain class on uvicorn: attributes of one's own work
    assert state.started_by == "a tool of the user's"


def test_asyncio_loops_get_the_buffered_protocols(implementation):
    import asyncio

    from fastasgi.protocols import http_module
    from fastasgi.protocols.websocket import BufferedWebSocketProtocol

    module = http_module(implementation)
    BufferedHttpProtocol, HttpProtocol = module.BufferedHttpProtocol, module.HttpProtocol
    http_protocol_class = module.http_protocol_class

    def protocol_class(new_loop):
        loop = new_loop()
        try:
            return http_protocol_class(loop)
        finally:
            loop.close()

    assert protocol_class(asyncio.new_event_loop) is BufferedHttpProtocol
    assert issubclass(BufferedHttpProtocol, asyncio.BufferedProtocol)
    # asyncio.BaseProtocol's do-nothing callbacks must not hide the protocol's
    assert BufferedHttpProtocol.connection_made is HttpProtocol.connection_made
    assert BufferedHttpProtocol.websocket_class is BufferedWebSocketProtocol
    assert issubclass(BufferedWebSocketProtocol, asyncio.BufferedProtocol)
    if sys.implementation.name == "cpython":
        import uvloop  # reads into a buffer of its own and hands over bytes
        assert protocol_class(uvloop.new_event_loop) is HttpProtocol


class ReadRecorder(SharedReadBuffer):
    """A SharedReadBuffer protocol that keeps what it is handed."""

    def __init__(self, server_state):
        self.server_state = server_state
        self.received = []
        self.done = None  # a future for all of it, at EOF, when set

    def data_received(self, data):
        assert type(data) is bytes
        self.received.append(data)

    def eof_received(self):
        if self.done is not None:
            self.done.set_result(b"".join(self.received))


def test_shared_read_buffer_hands_over_every_byte():
    """Two connections' reads, larger than the buffer, arrive whole and apart."""
    import asyncio

    payloads = [bytes(range(256)) * (4 * READ_SIZE // 256 + 7), b"second " * 50_000]
    server_state = ServerState()

    async def receive():
        loop = asyncio.get_running_loop()
        recorders = []

        def factory():
            recorders.append(ReadRecorder(server_state))
            recorders[-1].done = loop.create_future()
            return recorders[-1]

        server = await loop.create_server(factory, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            streams = [await asyncio.open_connection("127.0.0.1", port) for _ in payloads]
            for (_, writer), payload in zip(streams, payloads):
                writer.write(payload)
            for _, writer in streams:
                writer.write_eof()
            while len(recorders) < len(payloads):
                await asyncio.sleep(0.01)
            received = await asyncio.wait_for(asyncio.gather(*(r.done for r in recorders)), 20)
            for _, writer in streams:
                writer.close()
            return received
        finally:
            server.close()

    assert asyncio.run(receive()) == payloads


def test_each_server_reads_into_a_buffer_of_its_own():
    """A server in another thread may recv_into() between this one's read and
    its copy (recv_into() lets go of the GIL): that read must not land here."""
    here, there = ReadRecorder(ServerState()), ReadRecorder(ServerState())
    here.get_buffer(-1)[:5] = b"here!"  # this server's read lands ...
    there.get_buffer(-1)[:6] = b"there!"  # ... the other thread reads meanwhile ...
    there.buffer_updated(6)
    here.buffer_updated(5)  # ... and only then is this one's copied out
    assert (here.received, there.received) == ([b"here!"], [b"there!"])


def test_first_step_runs_at_once_outside_a_task():
    import asyncio

    from fastasgi.protocols.asyncio_loop import run_first_step

    seen = []

    async def step():
        seen.append(asyncio.current_task())
        await asyncio.sleep(0)
        seen.append("second step")

    async def main():
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def callback():  # a transport callback: no task is running
            task = loop.create_task(step())
            assert run_first_step(loop, task) is True
            assert seen == [task]  # ran inside this call, as the current task
            done.set_result(task)

        loop.call_soon(callback)
        task = await done
        await task
        assert seen == [task, "second step"]
        # inside a task (this one) a step can't nest: it stays queued
        seen.clear()
        inner = loop.create_task(step())
        assert run_first_step(loop, inner) is False
        assert seen == []
        await inner
        assert seen == [inner, "second step"]

    asyncio.run(main())
