"""WebSockets over HTTP/2 (RFC 8441): extended CONNECT on a real server.

The client is the `h2` library's connection on a raw socket for the
stream, and websockets' sans-I/O ClientProtocol, started open, for the
frames inside its DATA.  The apps are the websocket tests' (ws_apps.py).
Every test runs on both implementations.
"""
import json
import time

import h2.events
import pytest
from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from .conftest import IMPLEMENTATIONS, ServerProcess, require_implementation
from .test_http2 import H2Client

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module", params=IMPLEMENTATIONS)
def h2server(request):
    require_implementation(request.param)
    process = ServerProcess("tests.ws_apps:app", request.param, ("--http2",))
    yield process
    process.stop()


class WebSocketOverH2(H2Client):
    """One h2 connection; each websocket is a stream with its own frame codec."""

    def __init__(self, server):
        super().__init__(server)
        self.wait_for(lambda e: isinstance(e, h2.events.RemoteSettingsChanged))
        self.server_settings = self.conn.remote_settings

    def connect(self, path, headers=(), version=b"13"):
        """An extended CONNECT -> (stream id, its response headers as a dict)."""
        stream_id = self.conn.get_next_available_stream_id()
        fields = [(b":method", b"CONNECT"), (b":protocol", b"websocket"), (b":scheme", b"http"),
                  (b":path", path), (b":authority", self.authority)]
        if version is not None:
            fields.append((b"sec-websocket-version", version))
        self.conn.send_headers(stream_id, fields + list(headers))
        self.flush()
        response = self.wait_for(lambda e: isinstance(e, h2.events.ResponseReceived) and e.stream_id == stream_id)
        return stream_id, dict(response.headers)

    def body(self, stream_id):
        return b"".join(e.data for e in self.events if isinstance(e, h2.events.DataReceived)
                        and e.stream_id == stream_id)

    def ended(self, stream_id, timeout=5):
        return self.wait_for(lambda e: isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset))
                             and e.stream_id == stream_id, timeout)


class Frames:
    """websockets' client frame codec on one stream (no handshake: RFC 8441 has none)."""

    def __init__(self, client, stream_id):
        self.client = client
        self.stream_id = stream_id
        self.codec = ClientProtocol(parse_uri("ws://127.0.0.1/"), state=State.OPEN)
        self.seen = 0
        self.frames = []

    def send(self):
        view = memoryview(b"".join(self.codec.data_to_send()))
        conn = self.client.conn
        while view:  # as the server's windows allow, reading its WINDOW_UPDATEs meanwhile
            room = min(conn.local_flow_control_window(self.stream_id), conn.max_outbound_frame_size)
            if room <= 0:
                self.client.flush()
                self.client.read_once(5)
                continue
            conn.send_data(self.stream_id, bytes(view[:room]))
            view = view[room:]
        self.client.flush()

    def text(self, text):
        self.codec.send_text(text.encode())
        self.send()

    def receive(self, timeout=5):
        """The next frame the server sent on the stream."""
        deadline = time.monotonic() + timeout
        while not self.frames:
            events = [e for e in self.client.events if isinstance(e, h2.events.DataReceived)
                      and e.stream_id == self.stream_id]
            for event in events[self.seen:]:
                self.codec.receive_data(event.data)
            self.seen = len(events)
            self.frames.extend(self.codec.events_received())
            self.send()  # the codec's answers: a pong, its side of the close handshake
            if not self.frames:
                if time.monotonic() > deadline or self.client.closed:
                    raise AssertionError("no frame")
                self.client.read_once(max(0.05, deadline - time.monotonic()))
        return self.frames.pop(0)


def test_the_server_advertises_extended_connect(h2server):
    client = WebSocketOverH2(h2server)
    assert client.server_settings.enable_connect_protocol == 1


def test_accept_echo_and_close(h2server):
    client = WebSocketOverH2(h2server)
    stream_id, headers = client.connect(b"/echo")
    assert headers[b":status"] == b"200" and headers[b"server"] == b"fastasgi"
    frames = Frames(client, stream_id)
    for text in ("hello", "ü" * 70000):  # the second beyond a DATA frame and the stream window's first chunk
        frames.text(text)
        frame = frames.receive()
        assert (frame.opcode, frame.data.decode()) == (Opcode.TEXT, text)
    frames.codec.send_binary(b"\x00\x01")
    frames.send()
    assert frames.receive().data == b"\x00\x01"
    frames.codec.send_close(1000, "bye")
    frames.send()
    close = frames.receive()
    assert close.opcode is Opcode.CLOSE and close.data[:2] == b"\x03\xe8"
    assert isinstance(client.ended(stream_id), h2.events.StreamEnded)  # END_STREAM, not a reset


def test_the_scope_is_a_websocket_over_http_2(h2server):
    client = WebSocketOverH2(h2server)
    stream_id, _ = client.connect(b"/scope?x=1", headers=[(b"sec-websocket-protocol", b"chat, json")])
    scope = json.loads(Frames(client, stream_id).receive().data)
    assert scope["type"] == "websocket" and scope["http_version"] == "2" and scope["scheme"] == "ws"
    assert scope["path"] == "/scope" and scope["query_string"] == "x=1" and "method" not in scope
    assert scope["subprotocols"] == ["chat", "json"]
    headers = {name: value for name, value in scope["headers"]}
    assert headers["host"] == client.authority.decode()


def test_subprotocol_and_the_apps_headers_on_the_200(h2server):
    client = WebSocketOverH2(h2server)
    _, headers = client.connect(b"/subprotocol", headers=[(b"sec-websocket-protocol", b"chat")])
    assert headers[b":status"] == b"200" and headers[b"sec-websocket-protocol"] == b"chat"
    assert headers[b"x-extra"] == b"extra-value"


def test_a_close_code_from_the_app_reaches_the_client(h2server, tmp_path):
    client = WebSocketOverH2(h2server)
    marker = tmp_path / "disconnect"
    stream_id, _ = client.connect(b"/close-4000?marker=" + str(marker).encode())
    frames = Frames(client, stream_id)
    close = frames.receive()
    assert close.opcode is Opcode.CLOSE and close.data == b"\x0f\xa0server bye"
    client.ended(stream_id)
    deadline = time.monotonic() + 5
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert json.loads(marker.read_text())["code"] == 4000


def test_an_app_crash_after_accept_closes_1011(h2server):
    client = WebSocketOverH2(h2server)
    stream_id, _ = client.connect(b"/crash")
    close = Frames(client, stream_id).receive()
    assert close.opcode is Opcode.CLOSE and close.data[:2] == (1011).to_bytes(2, "big")
    h2server.wait_for_log("boom after accept")


def test_denial_is_a_plain_response_on_the_stream(h2server):
    client = WebSocketOverH2(h2server)
    stream_id, headers = client.connect(b"/deny")
    assert headers[b":status"] == b"401" and headers[b"www-authenticate"] == b"Bearer"
    assert isinstance(client.ended(stream_id), h2.events.StreamEnded)
    assert client.body(stream_id) == b"denied: no token"
    stream_id, headers = client.connect(b"/reject")  # websocket.close before accept
    assert headers[b":status"] == b"403"
    client.ended(stream_id)
    # The connection serves on: another websocket on it.
    stream_id, headers = client.connect(b"/echo")
    assert headers[b":status"] == b"200"


def test_a_wrong_websocket_version_is_400_on_its_stream(h2server):
    client = WebSocketOverH2(h2server)
    _, headers = client.connect(b"/echo", version=b"8")
    assert headers[b":status"] == b"400"
    _, headers = client.connect(b"/echo", version=None)
    assert headers[b":status"] == b"400"
    h2server.wait_for_log("Sec-WebSocket-Version")


def test_other_extended_connect_protocols_are_400(h2server):
    client = WebSocketOverH2(h2server)
    stream_id = client.conn.get_next_available_stream_id()
    client.conn.send_headers(stream_id, [(b":method", b"CONNECT"), (b":protocol", b"webtransport"),
                                         (b":scheme", b"http"), (b":path", b"/echo"),
                                         (b":authority", client.authority)])
    client.flush()
    response = client.wait_for(lambda e: isinstance(e, h2.events.ResponseReceived))
    assert dict(response.headers)[b":status"] == b"400"


def test_a_client_reset_is_a_disconnect_and_other_streams_go_on(h2server, tmp_path):
    client = WebSocketOverH2(h2server)
    marker = tmp_path / "record"
    stream_id, _ = client.connect(b"/record?marker=" + str(marker).encode())
    frames = Frames(client, stream_id)
    frames.text("ping-app")
    assert frames.receive().data == b"pong-app"
    client.conn.reset_stream(stream_id, error_code=0x8)  # CANCEL
    client.flush()
    deadline = time.monotonic() + 5
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    received = json.loads(marker.read_text())["received"]
    assert received[-1] == {"type": "websocket.disconnect", "code": 1006, "reason": ""}
    echo_id, _ = client.connect(b"/echo")
    echo = Frames(client, echo_id)
    echo.text("still here")
    assert echo.receive().data == b"still here"


def test_without_websockets_extended_connect_is_not_advertised(start_server, implementation):
    server = start_server("tests.ws_apps:app", implementation, "--http2", "--ws", "none")
    client = WebSocketOverH2(server)
    assert client.server_settings.enable_connect_protocol == 0
    _, headers = client.connect(b"/echo")
    assert headers[b":status"] == b"400"


def test_permessage_deflate_is_agreed_on_the_200(h2server):
    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
    from websockets.headers import parse_extension

    client = WebSocketOverH2(h2server)
    factory = ClientPerMessageDeflateFactory()
    stream_id, headers = client.connect(b"/echo", headers=[(b"sec-websocket-extensions", b"permessage-deflate")])
    agreed = headers[b"sec-websocket-extensions"].decode()
    assert agreed.startswith("permessage-deflate")
    (name, params), = parse_extension(agreed)
    frames = Frames(client, stream_id)
    frames.codec.extensions = [factory.process_response_params(params, [])]
    text = "compressible " * 500
    frames.text(text)
    frame = frames.receive()
    assert frame.data.decode() == text  # the codec inflated it: it was compressed on the wire
    assert sum(len(e.data) for e in client.events if isinstance(e, h2.events.DataReceived)
               and e.stream_id == stream_id) < len(text) // 4
