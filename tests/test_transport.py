"""fastasgi's own accept path and transport (fastasgi/protocols/transport.py).

The first tests drive a TcpListener of each twin (transport_c compiled,
transport pure) on a real loopback socket, on uvloop and on asyncio's
loop, with a recording protocol and real client sockets: what asyncio's
transports promise (connection_lost exactly once, close after pending
output, abort dropping it, half-close, flow control both ways) must hold
here too.  The last ones start real fastasgi servers (both
twins) on the own transport and on the loop's.
"""
import asyncio
import socket

import pytest

from fastasgi.protocols.sendfile import sendfile_to_socket
from fastasgi import _speedups
from fastasgi.protocols.transport import bind_tcp, own_transport_enabled

from .conftest import read_response, recv_until_closed

LOOPS = ["uvloop", "asyncio"]
BIG = 8 * 1024 * 1024  # more than the kernel's socket buffers hold: writes go partial


def new_loop(kind):
    if kind == "uvloop":
        uvloop = pytest.importorskip("uvloop", reason="uvloop is not installed for this interpreter (PyPy)")
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def run(kind, coro_function):
    loop = new_loop(kind)
    try:
        return loop.run_until_complete(asyncio.wait_for(coro_function(loop), 10))
    finally:
        loop.close()


class Recorder:
    """A protocol that records every callback; `behaviour` changes what it does."""

    def __init__(self, loop, keep_open_on_eof=False, echo=False):
        self.loop = loop
        self.keep_open_on_eof = keep_open_on_eof
        self.echo = echo
        self.transport = None
        self.calls = []
        self.received = bytearray()
        self.made = loop.create_future()
        self.lost = loop.create_future()
        self.got_data = asyncio.Event()
        self.got_eof = asyncio.Event()
        self.resumed = asyncio.Event()

    def connection_made(self, transport):
        self.calls.append("made")
        self.transport = transport
        self.made.set_result(transport)

    def data_received(self, data):
        assert type(data) is bytes
        self.calls.append("data")
        self.received += data
        self.got_data.set()
        if self.echo:
            self.transport.write(data)

    def eof_received(self):
        self.calls.append("eof")
        self.got_eof.set()
        return self.keep_open_on_eof

    def pause_writing(self):
        self.calls.append("pause_writing")

    def resume_writing(self):
        self.calls.append("resume_writing")
        self.resumed.set()

    def connection_lost(self, exc):
        self.calls.append("lost")
        self.lost.set_result(exc)


async def serve(implementation, loop, **protocol_options):
    """A listener of `implementation`'s twin of the transport module on a loopback port."""
    protocols = []

    def factory():
        protocol = Recorder(loop, **protocol_options)
        protocols.append(protocol)
        return protocol

    listener_class = _speedups.load(implementation).transport.TcpListener
    listener = listener_class(loop, bind_tcp("127.0.0.1", 0, 100), factory, 100)
    listener.start()
    return listener, listener.sockets[0].getsockname()[1], protocols


async def connect(loop, port):
    client = socket.socket()
    client.setblocking(False)
    await loop.sock_connect(client, ("127.0.0.1", port))
    return client


async def accepted(protocols):
    while not protocols:
        await asyncio.sleep(0.005)
    return await protocols[0].made


async def read_exactly(loop, client, size):
    data = bytearray()
    while len(data) < size:
        chunk = await loop.sock_recv(client, 1 << 20)
        if not chunk:
            break
        data += chunk
    return bytes(data)


async def read_to_end(loop, client):
    data = bytearray()
    while True:
        try:
            chunk = await loop.sock_recv(client, 1 << 20)
        except ConnectionResetError:
            return bytes(data), True
        if not chunk:
            return bytes(data), False
        data += chunk


async def until_lost(protocol):
    exc = await protocol.lost
    await asyncio.sleep(0.01)  # a second connection_lost would show in calls by now
    assert protocol.calls.count("lost") == 1, protocol.calls
    return exc


@pytest.mark.parametrize("kind", LOOPS)
def test_echo_and_the_connections_addresses(kind, implementation):
    async def scenario(loop):
        listener, port, protocols = await serve(implementation, loop, echo=True)
        client = await connect(loop, port)
        transport = await accepted(protocols)
        assert transport.get_extra_info("peername") == client.getsockname()
        assert transport.get_extra_info("sockname") == ("127.0.0.1", port)
        assert transport.get_extra_info("socket").fileno() >= 0
        assert transport.get_extra_info("sslcontext") is None
        await loop.sock_sendall(client, b"ping")
        assert await read_exactly(loop, client, 4) == b"ping"
        transport.writelines([b"a", b"bc", memoryview(b"def")])
        assert await read_exactly(loop, client, 6) == b"abcdef"
        client.close()  # an orderly close: eof, then the transport closes itself
        assert await until_lost(protocols[0]) is None
        assert protocols[0].calls[0] == "made" and protocols[0].calls[-2:] == ["eof", "lost"]
        listener.close()

    run(kind, scenario)


@pytest.mark.parametrize("kind", LOOPS)
def test_a_client_that_does_not_read_pauses_writing_then_gets_every_byte_in_order(kind, implementation):
    async def scenario(loop):
        listener, port, protocols = await serve(implementation, loop)
        client = await connect(loop, port)
        transport = await accepted(protocols)
        payload = bytes(range(256)) * (BIG // 256)
        transport.write(payload[:1000])
        transport.writelines([payload[1000:BIG // 2], payload[BIG // 2:]])
        # The kernel took part of it; the rest waits in the transport.
        assert 0 < transport.get_write_buffer_size() < BIG
        assert protocols[0].calls == ["made", "pause_writing"]
        transport.write(b"tail")  # queued after the rest, not before
        assert await read_exactly(loop, client, BIG + 4) == payload + b"tail"
        await protocols[0].resumed.wait()
        assert transport.get_write_buffer_size() == 0
        transport.close()
        assert await read_to_end(loop, client) == (b"", False)
        assert await until_lost(protocols[0]) is None
        client.close()
        listener.close()

    run(kind, scenario)


@pytest.mark.parametrize("kind", LOOPS)
def test_close_sends_pending_output_before_the_connection_ends(kind, implementation):
    async def scenario(loop):
        listener, port, protocols = await serve(implementation, loop)
        client = await connect(loop, port)
        transport = await accepted(protocols)
        transport.write(b"x" * BIG)
        transport.close()
        assert transport.is_closing()
        transport.write(b"ignored")  # after close(): nothing more goes out
        assert not protocols[0].lost.done()  # still flushing
        data, reset = await read_to_end(loop, client)
        assert (len(data), reset) == (BIG, False)
        assert await until_lost(protocols[0]) is None
        client.close()
        listener.close()

    run(kind, scenario)


@pytest.mark.parametrize("kind", LOOPS)
def test_abort_drops_pending_output_and_calls_connection_lost_once(kind, implementation):
    async def scenario(loop):
        listener, port, protocols = await serve(implementation, loop)
        client = await connect(loop, port)
        transport = await accepted(protocols)
        transport.write(b"x" * BIG)
        transport.abort()
        transport.abort()
        transport.close()
        assert transport.is_closing() and transport.get_write_buffer_size() == 0
        assert await until_lost(protocols[0]) is None
        data, _ = await read_to_end(loop, client)
        assert len(data) < BIG
        client.close()
        listener.close()

    run(kind, scenario)


@pytest.mark.parametrize("kind", LOOPS)
def test_pause_reading_holds_the_data_until_resume(kind, implementation):
    async def scenario(loop):
        listener, port, protocols = await serve(implementation, loop)
        client = await connect(loop, port)
        transport = await accepted(protocols)
        transport.pause_reading()
        assert not transport.is_reading()
        await loop.sock_sendall(client, b"held")
        await asyncio.sleep(0.05)
        assert "data" not in protocols[0].calls
        transport.resume_reading()
        assert transport.is_reading()
        await protocols[0].got_data.wait()
        assert protocols[0].received == b"held"
        client.close()
        await until_lost(protocols[0])
        listener.close()

    run(kind, scenario)


@pytest.mark.parametrize("kind", LOOPS)
def test_a_half_closed_client_still_gets_the_answer_when_the_protocol_keeps_it_open(kind, implementation):
    async def scenario(loop):
        listener, port, protocols = await serve(implementation, loop, keep_open_on_eof=True)
        client = await connect(loop, port)
        transport = await accepted(protocols)
        await loop.sock_sendall(client, b"question")
        client.shutdown(socket.SHUT_WR)
        await protocols[0].got_eof.wait()
        assert protocols[0].received == b"question" and not transport.is_closing()
        transport.resume_reading()  # nothing more to read after the peer's eof: no second eof_received
        await asyncio.sleep(0.02)
        assert protocols[0].calls.count("eof") == 1
        transport.write(b"answer")
        transport.write_eof()
        assert await read_to_end(loop, client) == (b"answer", False)
        transport.close()
        assert await until_lost(protocols[0]) is None
        client.close()
        listener.close()

    run(kind, scenario)


@pytest.mark.parametrize("kind", LOOPS)
def test_a_peer_reset_ends_the_connection_once(kind, implementation):
    async def scenario(loop):
        listener, port, protocols = await serve(implementation, loop)
        client = await connect(loop, port)
        transport = await accepted(protocols)
        transport.write(b"x" * BIG)  # pending output when the reset comes
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        client.close()  # linger 0: an RST, not a FIN
        exc = await until_lost(protocols[0])
        assert exc is None or isinstance(exc, ConnectionError), exc
        assert transport.is_closing()
        transport.write(b"more")  # a late write is dropped, not raised
        listener.close()

    run(kind, scenario)


@pytest.mark.parametrize("kind", LOOPS)
def test_sendfile_goes_after_pending_output_and_waits_for_a_slow_reader(kind, implementation, tmp_path):
    # The server sends files with sendfile.py on every transport: on this one
    # it must wait for the transport's pending output and see its socket.
    path = tmp_path / "file.bin"
    content = bytes(range(256)) * (BIG // 256)
    path.write_bytes(content)

    async def scenario(loop):
        listener, port, protocols = await serve(implementation, loop)
        client = await connect(loop, port)
        transport = await accepted(protocols)
        transport.write(b"head" * (BIG // 4))  # more than the kernel takes: pending when sendfile starts
        assert transport.get_write_buffer_size() > 0
        with open(path, "rb") as file:
            sending = asyncio.ensure_future(sendfile_to_socket(loop, transport, file.fileno(), 10, BIG, 5))  # runs past the end: BIG - 10 sent
            received = await read_exactly(loop, client, BIG + BIG - 10)
            assert await sending == BIG - 10
        assert received == b"head" * (BIG // 4) + content[10:]
        transport.close()
        assert await read_to_end(loop, client) == (b"", False)
        await until_lost(protocols[0])
        client.close()
        listener.close()

    run(kind, scenario)


@pytest.mark.parametrize("kind", LOOPS)
def test_sendfile_to_a_client_that_left_stops_short(kind, implementation, tmp_path):
    path = tmp_path / "file.bin"
    path.write_bytes(b"x" * BIG)

    async def scenario(loop):
        listener, port, protocols = await serve(implementation, loop)
        client = await connect(loop, port)
        transport = await accepted(protocols)
        with open(path, "rb") as file:
            sending = asyncio.ensure_future(sendfile_to_socket(loop, transport, file.fileno(), 0, BIG, 5))
            await asyncio.sleep(0.05)  # the kernel's buffers are full: it waits
            assert not sending.done()
            client.close()
            # The transport notices the peer first (it closes) or the kernel
            # refuses the next piece: either way the file stops short.
            try:
                sent = await sending
            except ConnectionError:
                sent = None
            assert sent is None or sent < BIG
        await until_lost(protocols[0])
        listener.close()

    run(kind, scenario)


@pytest.mark.parametrize("kind", LOOPS)
def test_write_buffer_limits(kind, implementation):
    async def scenario(loop):
        listener, port, protocols = await serve(implementation, loop)
        client = await connect(loop, port)
        transport = await accepted(protocols)
        assert transport.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
        transport.set_write_buffer_limits(high=1024)
        assert transport.get_write_buffer_limits() == (256, 1024)
        with pytest.raises(ValueError):
            transport.set_write_buffer_limits(high=1, low=2)
        client.close()
        await until_lost(protocols[0])
        listener.close()

    run(kind, scenario)


@pytest.mark.parametrize("kind", LOOPS)
def test_a_closed_listener_refuses_new_connections_and_keeps_the_established(kind, implementation):
    async def scenario(loop):
        listener, port, protocols = await serve(implementation, loop, echo=True)
        client = await connect(loop, port)
        await accepted(protocols)
        listener.close()
        with pytest.raises(ConnectionRefusedError):
            await connect(loop, port)
        await loop.sock_sendall(client, b"still here")
        assert await read_exactly(loop, client, 10) == b"still here"
        client.close()
        await until_lost(protocols[0])

    run(kind, scenario)


def test_the_switch(monkeypatch):
    uvloop_loop, asyncio_loop = new_loop("uvloop"), new_loop("asyncio")  # noqa: F841 - both closed below
    try:
        monkeypatch.delenv("FASTASGI_TRANSPORT", raising=False)
        assert own_transport_enabled(asyncio_loop) and not own_transport_enabled(uvloop_loop)
        monkeypatch.setenv("FASTASGI_TRANSPORT", "own")
        assert own_transport_enabled(asyncio_loop) and own_transport_enabled(uvloop_loop)
        monkeypatch.setenv("FASTASGI_TRANSPORT", "loop")
        assert not own_transport_enabled(asyncio_loop) and not own_transport_enabled(uvloop_loop)
    finally:
        uvloop_loop.close()
        asyncio_loop.close()


# -- a real server on the own transport, both twins --------------------------------
SERVER_SETUPS = {
    "uvloop-own": (["--loop", "uvloop"], {"FASTASGI_TRANSPORT": "own"}),
    "asyncio-default": (["--loop", "asyncio"], {}),
    "asyncio-loop-transport": (["--loop", "asyncio"], {"FASTASGI_TRANSPORT": "loop"}),
}


@pytest.mark.parametrize("setup", SERVER_SETUPS)
def test_a_server_answers_keep_alive_pipelined_and_closing_requests(start_server, implementation, setup):
    args, env = SERVER_SETUPS[setup]
    if "uvloop" in args:
        pytest.importorskip("uvloop", reason="uvloop is not installed for this interpreter (PyPy)")
    server = start_server("tests.apps:app", implementation, *args, env=env)
    with server.connect() as client:
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 3)
        rest = b""
        for _ in range(3):
            status, _, _, _, rest = read_response(client, buffer=rest)
            assert status == 200
    for _ in range(20):  # new connections, as the new-connection row makes them
        with server.connect() as client:
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            response = recv_until_closed(client)
        assert response.startswith(b"HTTP/1.1 200 ") and b"\r\nconnection: close\r\n" in response
    assert "Traceback" not in server.log
