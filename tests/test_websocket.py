"""WebSockets against a real server with the real `websockets` client (and raw sockets)."""
import asyncio
import json
import os
import signal
import socket
import struct
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from .conftest import IMPLEMENTATIONS, ServerProcess, read_response, recv_until_closed, require_implementation
from .process_utils import wait_until
from .ws_apps import RawWebSocket, encode_frame, handshake_request, read_head, wait_for_json

pytestmark = pytest.mark.timeout(30)

APP = "tests.ws_apps:app"


def ws_url(server, path):
    return f"ws://{server.host}:{server.port}{path}"


async def echo_once(server, text="still alive"):
    async with connect(ws_url(server, "/echo"), open_timeout=5) as ws:
        await ws.send(text)
        return await asyncio.wait_for(ws.recv(), 5)


def assert_still_serving(server):
    assert asyncio.run(echo_once(server)) == "still alive"


@pytest.fixture(scope="module", params=IMPLEMENTATIONS)
def ws_server(request):
    """One server per implementation, for the tests that need no option of
    their own and leave it serving: a server per test would only add its
    start-up.  Such a test reads the log from its own first line on."""
    require_implementation(request.param)
    server = ServerProcess(APP, request.param)
    yield server
    server.stop()


def logged_since(server, since):
    return "\n".join(server.lines[since:])


# -- scope ---------------------------------------------------------------------
def test_scope(start_server, implementation):
    server = start_server(APP, implementation, "--root-path", "/api")

    async def main():
        async with connect(ws_url(server, "/scope?a=1&b=%20x"), subprotocols=["chat", "superchat"],
                           additional_headers={"X-Custom-Header": "Some Value"}) as ws:
            return json.loads(await asyncio.wait_for(ws.recv(), 5)), ws.local_address

    scope, local = asyncio.run(main())
    assert scope["type"] == "websocket"
    assert scope["asgi"]["version"] == "3.0"
    assert scope["asgi"]["spec_version"] in ("2.3", "2.4")
    assert scope["http_version"] == "1.1"
    assert scope["scheme"] == "ws"
    assert scope["root_path"] == "/api"
    assert scope["path"] == "/api/scope"
    assert scope["raw_path"] == "/api/scope"
    assert scope["query_string"] == "a=1&b=%20x"
    assert "method" not in scope
    headers = scope["headers"]
    assert all(name == name.lower() for name, _ in headers)
    assert ["x-custom-header", "Some Value"] in headers
    assert ["upgrade", "websocket"] in headers
    assert scope["subprotocols"] == ["chat", "superchat"]
    assert scope["client"] == [local[0], local[1]]
    assert scope["server"] == [server.host, server.port]
    assert scope["state"] == {"started_by": "lifespan"}
    assert "websocket.http.response" in scope["extensions"]


def test_scope_without_subprotocols_or_root_path(ws_server):
    server = ws_server

    async def main():
        async with connect(ws_url(server, "/scope")) as ws:
            return json.loads(await asyncio.wait_for(ws.recv(), 5))

    scope = asyncio.run(main())
    assert scope["subprotocols"] == []
    assert scope["path"] == "/scope"
    assert scope["raw_path"] == "/scope"
    assert scope["root_path"] == ""
    assert scope["query_string"] == ""


# -- accept, messages, close codes ------------------------------------------------
def test_accept_with_subprotocol_and_headers(ws_server):
    server = ws_server

    async def main():
        async with connect(ws_url(server, "/subprotocol?choose=superchat"),
                           subprotocols=["chat", "superchat"]) as ws:
            await ws.send("hi")
            return ws.subprotocol, ws.response.headers, await asyncio.wait_for(ws.recv(), 5)

    chosen, headers, echoed = asyncio.run(main())
    assert chosen == "superchat"
    assert headers["Sec-WebSocket-Protocol"] == "superchat"
    assert headers["x-extra"] == "extra-value"
    assert headers["set-cookie"] == "session=abc"
    assert echoed == "hi"


def test_text_binary_and_fragmented_echo(ws_server):
    server = ws_server

    async def main():
        results = []
        async with connect(ws_url(server, "/echo")) as ws:
            await ws.send("héllo wörld ✓")
            results.append(await asyncio.wait_for(ws.recv(), 5))
            await ws.send(b"\x00\x01binary\xff")
            results.append(await asyncio.wait_for(ws.recv(), 5))
            await ws.send(["frag-one ", "frag-two ", "frag-three"])
            results.append(await asyncio.wait_for(ws.recv(), 5))
            await ws.send([b"\x00" * 1000, b"\x01" * 1000, b"\x02"])
            results.append(await asyncio.wait_for(ws.recv(), 5))
            await ws.send("")
            results.append(await asyncio.wait_for(ws.recv(), 5))
        return results

    assert asyncio.run(main()) == [
        "héllo wörld ✓", b"\x00\x01binary\xff", "frag-one frag-two frag-three",
        b"\x00" * 1000 + b"\x01" * 1000 + b"\x02", "",
    ]


def test_two_mebibyte_binary_echo(ws_server):
    server = ws_server
    payload = os.urandom(2 * 1024 * 1024)

    async def main():
        async with connect(ws_url(server, "/echo"), max_size=None) as ws:
            await ws.send(payload)
            return await asyncio.wait_for(ws.recv(), 15)

    assert asyncio.run(main()) == payload


def test_client_close_code_and_reason_reach_the_app(ws_server, tmp_path):
    server = ws_server
    marker = str(tmp_path / "record.json")

    async def main():
        async with connect(ws_url(server, f"/record?marker={marker}")) as ws:
            await ws.send("first")
            await ws.close(4321, "client reason")
            return ws.close_code, ws.close_reason

    assert asyncio.run(main()) == (4321, "client reason")
    received = wait_for_json(marker)["received"]
    assert received[0] == {"type": "websocket.connect"}
    assert received[1] == {"type": "websocket.receive", "text": "first"}
    assert received[-1] == {"type": "websocket.disconnect", "code": 4321, "reason": "client reason"}
    assert len(received) == 3


def test_app_close_code_and_reason_reach_the_client(ws_server, tmp_path):
    server = ws_server
    marker = str(tmp_path / "after-close.json")

    async def main():
        async with connect(ws_url(server, f"/close-4000?marker={marker}")) as ws:
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 5)
            return info.value

    closed = asyncio.run(main())
    assert closed.rcvd is not None
    assert (closed.rcvd.code, closed.rcvd.reason) == (4000, "server bye")
    # after its close the app's next receive() is the disconnect
    assert wait_for_json(marker)["type"] == "websocket.disconnect"


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_tcp_drop_without_close_is_1006(ws_server, tmp_path, how):
    server = ws_server
    marker = str(tmp_path / "record.json")
    raw = RawWebSocket(server.host, server.port, f"/record?marker={marker}".encode())
    assert raw.status == 101
    raw.send_frame(0x1, b"ping-app")
    assert raw.read_frame() == (True, 0x1, b"pong-app")
    if how == "rst":
        raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    raw.close()
    received = wait_for_json(marker)["received"]
    assert received[-1] == {"type": "websocket.disconnect", "code": 1006, "reason": ""}
    assert_still_serving(server)


# -- rejection, denial, bad handshakes ---------------------------------------------
def test_close_before_accept_is_403(ws_server):
    server = ws_server

    async def main():
        with pytest.raises(InvalidStatus) as info:
            async with connect(ws_url(server, "/reject")):
                pass
        return info.value.response

    response = asyncio.run(main())
    assert response.status_code == 403
    assert_still_serving(server)


def test_http_response_denial(ws_server):
    server = ws_server

    async def main():
        with pytest.raises(InvalidStatus) as info:
            async with connect(ws_url(server, "/deny")):
                pass
        return info.value.response

    response = asyncio.run(main())
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.body == b"denied: no token"


def test_denial_on_raw_socket_is_plain_http(ws_server):
    server = ws_server
    with server.connect() as sock:
        sock.sendall(handshake_request(b"/deny"))
        status, headers, body, head, rest = read_response(sock)
        assert status == 401
        assert body == b"denied: no token"
        assert recv_until_closed(sock) == b""


def test_unsupported_version_is_426(ws_server):
    server = ws_server
    with server.connect() as sock:
        sock.sendall(handshake_request(b"/echo", version=b"8"))
        data = recv_until_closed(sock)
    assert data.startswith(b"HTTP/1.1 426")
    head = data.split(b"\r\n\r\n")[0].lower()
    assert b"\r\nsec-websocket-version: 13" in head
    assert_still_serving(server)


def test_missing_key_is_400(ws_server):
    server = ws_server
    with server.connect() as sock:
        sock.sendall(handshake_request(b"/echo", key=None))
        data = recv_until_closed(sock)
    assert data.startswith(b"HTTP/1.1 400")
    assert_still_serving(server)


def test_app_crash_after_accept_is_1011(ws_server):
    server = ws_server
    since = len(server.lines)  # the server is shared: this test's lines only

    async def main():
        async with connect(ws_url(server, "/crash")) as ws:
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 5)
            return info.value

    closed = asyncio.run(main())
    assert closed.rcvd is not None and closed.rcvd.code == 1011
    assert wait_until(lambda: "Exception in ASGI application" in logged_since(server, since), 5)
    assert_still_serving(server)
    assert logged_since(server, since).count("Exception in ASGI application") == 1
    assert "RuntimeError: boom after accept" in logged_since(server, since)


@pytest.mark.parametrize("who", ["client", "app"])
def test_send_after_close_raises_oserror(ws_server, tmp_path, who):
    server = ws_server
    since = len(server.lines)  # the server is shared: this test's lines only
    marker = str(tmp_path / "outcome.json")

    async def main():
        async with connect(ws_url(server, f"/send-after-close?who={who}&marker={marker}")) as ws:
            if who == "client":
                await ws.close(1000, "bye")
            else:
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 5)
            return ws.close_code

    assert asyncio.run(main()) == 1000
    outcome = wait_for_json(marker)
    assert outcome["raised"] is not None, "send after close did not raise"
    assert outcome["oserror"], f"send after close raised {outcome['raised']}, not an OSError"
    assert_still_serving(server)
    assert "Exception in ASGI application" not in logged_since(server, since)


# -- options -------------------------------------------------------------------
def test_max_size_closes_with_1009(start_server, implementation):
    server = start_server(APP, implementation, "--ws-max-size", "1000")

    async def main(message):
        async with connect(ws_url(server, "/echo")) as ws:
            await ws.send("x" * 500)
            assert await asyncio.wait_for(ws.recv(), 5) == "x" * 500
            await ws.send(message)
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 5)
            return info.value

    closed = asyncio.run(main(os.urandom(2000)))
    assert closed.rcvd is not None and closed.rcvd.code == 1009
    # a fragmented message over the limit, each fragment under it
    closed = asyncio.run(main([os.urandom(600), os.urandom(600), os.urandom(600)]))
    assert closed.rcvd is not None and closed.rcvd.code == 1009
    assert_still_serving(server)


def test_ws_none_serves_upgrade_as_plain_http(start_server, implementation):
    server = start_server(APP, implementation, "--ws", "none")
    with server.connect() as sock:
        sock.sendall(handshake_request(b"/echo"))
        status, headers, body, head, rest = read_response(sock)
    assert status == 200
    assert json.loads(body) == {"branch": "http", "path": "/echo", "upgrade": "websocket"}


def test_unanswered_pings_close_the_connection(start_server, implementation):
    server = start_server(APP, implementation, "--ws-ping-interval", "0.3", "--ws-ping-timeout", "0.3")
    started = time.monotonic()
    with RawWebSocket(server.host, server.port, b"/echo") as raw:
        assert raw.status == 101
        frames = raw.read_to_eof()
    elapsed = time.monotonic() - started
    assert elapsed < 2.0, f"closed only after {elapsed:.2f}s"
    opcodes = [opcode for _, opcode, _ in frames]
    assert 0x9 in opcodes, f"no ping before the close: {frames!r}"
    closes = [payload for _, opcode, payload in frames if opcode == 0x8]
    if closes:
        assert struct.unpack("!H", closes[0][:2])[0] == 1011


def test_answered_pings_keep_the_connection(start_server, implementation):
    server = start_server(APP, implementation, "--ws-ping-interval", "0.15", "--ws-ping-timeout", "0.2")

    async def main():
        async with connect(ws_url(server, "/echo"), ping_interval=None) as ws:
            await asyncio.sleep(0.8)  # a few pings, each answered by the client library
            await ws.send("after 0.8s")
            return await asyncio.wait_for(ws.recv(), 5)

    assert asyncio.run(main()) == "after 0.8s"


def test_raw_client_answering_pings_stays_open(start_server, implementation):
    server = start_server(APP, implementation, "--ws-ping-interval", "0.1", "--ws-ping-timeout", "0.3")
    with RawWebSocket(server.host, server.port, b"/echo") as raw:
        deadline = time.monotonic() + 0.6
        pings = 0
        while time.monotonic() < deadline:
            frame = raw.read_frame()
            assert frame is not None, f"closed after {pings} answered pings"
            fin, opcode, payload = frame
            assert opcode == 0x9
            pings += 1
            raw.send_frame(0xA, payload)
        assert pings >= 3
        raw.send_frame(0x1, b"still here")
        frame = raw.read_frame()
        while frame[1] == 0x9:
            frame = raw.read_frame()
        assert frame == (True, 0x1, b"still here")


@pytest.mark.parametrize("deflate", ["true", "false"])
def test_per_message_deflate(start_server, implementation, deflate):
    server = start_server(APP, implementation, "--ws-per-message-deflate", deflate)
    text = "compress me please " * 500

    async def main():
        async with connect(ws_url(server, "/echo")) as ws:
            extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
            await ws.send(text)
            first = await asyncio.wait_for(ws.recv(), 5)
            await ws.send([b"abc" * 100, b"def" * 100])
            second = await asyncio.wait_for(ws.recv(), 5)
            return extensions, first, second

    extensions, first, second = asyncio.run(main())
    if deflate == "true":
        assert "permessage-deflate" in extensions
    else:
        assert "permessage-deflate" not in extensions
    assert first == text
    assert second == b"abc" * 100 + b"def" * 100


def test_slow_consumer_backpressure_loses_nothing(start_server, implementation):
    server = start_server(APP, implementation, "--ws-max-queue", "4")
    count, size = 200, 64 * 1024

    async def main():
        # the app needs ~2 s (10 ms per message): with reading paused at 4 queued
        # messages the client's sends wait on TCP; without, 12.5 MiB go out at once
        async with connect(ws_url(server, "/slow?s=0.01"), compression=None, max_size=None) as ws:
            started = time.monotonic()
            for index in range(count):
                await ws.send(struct.pack("!I", index) + b"\x00" * (size - 4))
            sending = time.monotonic() - started
            await ws.send("done")
            return sending, json.loads(await asyncio.wait_for(ws.recv(), 20))

    sending, result = asyncio.run(main())
    assert result == {"count": count, "total": count * size, "in_order": True}
    assert sending > 0.5, f"all {count} messages were taken in {sending:.2f}s: reading was not paused"
    assert_still_serving(server)


def test_handshake_and_first_frame_in_one_packet(ws_server):
    server = ws_server
    with server.connect() as sock:
        sock.sendall(handshake_request(b"/echo") + encode_frame(0x1, b"early bird"))
        status, headers, head, rest = read_head(sock)
        assert status == 101
        raw = RawWebSocket.__new__(RawWebSocket)
        raw.sock, raw.buffer = sock, rest
        assert raw.read_frame() == (True, 0x1, b"early bird")


def test_sigterm_closes_open_websockets_with_1012(start_server, implementation, tmp_path):
    server = start_server(APP, implementation)
    marker = str(tmp_path / "disconnect.json")

    async def main():
        async with connect(ws_url(server, f"/wait?marker={marker}")) as ws:
            await ws.send("hello")
            assert await asyncio.wait_for(ws.recv(), 5) == "hello"
            server.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 5)
            return info.value

    closed = asyncio.run(main())
    assert closed.rcvd is not None and closed.rcvd.code == 1012
    # It exits by itself: stop() would send a second SIGTERM, which kills a
    # server that has already finished shutting down and is exiting.
    assert server.process.wait(10) == -signal.SIGTERM, server.log  # re-raised once drained (as uvicorn)
    assert wait_for_json(marker) == {"type": "websocket.disconnect", "code": 1012, "reason": ""}
