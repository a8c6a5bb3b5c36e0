"""HTTP/2 end to end: a real server with --http2 on loopback, real clients.

The byte-level tests drive the `h2` library's client over a plain socket
(H2Client below); httpx, curl and nghttp are the clients users have.
Every test runs on both implementations.
"""
import asyncio
import contextvars
import gc
import json
import os
import platform
import shutil
import signal
import socket
import ssl
import subprocess
import time

import h2.config
import h2.connection
import h2.events
import h2.settings
import httpx
import pytest
from hyperframe.frame import (
    ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame, RstStreamFrame, WindowUpdateFrame,
)
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.routing import Route

from fastasgi.protocols import http2
from .apps import app as shared_app
from .conftest import IMPLEMENTATIONS, ServerProcess, require_implementation
from .process_utils import STOPPED_BY_SIGTERM, make_certificate

pytestmark = pytest.mark.timeout(30)

APP = "tests.test_http2:app"
SERVER_ARGS = ("--http2", "--timeout-write", "1", "--http2-max-concurrent-streams", "4",
               "--limit-request-body", "3000000")


# -- the app: the shared test app, and a few routes of HTTP/2's own ----------
async def app(scope, receive, send):
    if scope["type"] == "http" and scope["path"] == "/connection-headers":
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"connection", b"close"), (b"keep-alive", b"timeout=5"), (b"transfer-encoding", b"chunked"),
            (b"upgrade", b"h2c"), (b"x-kept", b"yes")]})
        await send({"type": "http.response.body", "body": b"ok"})
    elif scope["type"] == "http" and scope["path"] == "/big":
        query = dict(pair.split("=") for pair in scope["query_string"].decode().split("&") if pair)
        size = int(query.get("size", 1048576))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        chunk = b"z" * int(query.get("chunk", 65536))
        sent = 0
        while sent < size:  # the last piece ends the body: its send does not wait for the client
            piece = chunk[:size - sent]
            sent += len(piece)
            await send({"type": "http.response.body", "body": piece, "more_body": sent < size})
        if not size:
            await send({"type": "http.response.body", "body": b""})
    elif scope["type"] == "http" and scope["path"] == "/mutate-scope":
        # What an earlier request's app left in its scope must not show in this one's.
        seen = sorted(key for key in ("mutated",) if key in scope) + sorted(scope["extensions"])
        state, header_count = sorted(scope["state"]), len(scope["headers"])
        scope["mutated"] = True
        scope["extensions"]["x-added"] = {}
        scope["state"]["x-added"] = 1
        scope["headers"].append((b"x-added", b"1"))
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"X-Mixed-Case", b" trimmed "), (b"connection", b"close"),
                                (b"x-bytearray", bytearray(b"kept")), (b"x-long", b"v" * 300)]})
        await send({"type": "http.response.body", "body": json.dumps(
            {"seen": seen, "state": state, "headers": header_count}).encode()})
    elif scope["type"] == "http" and scope["path"] == "/garbage":
        # ?start: collect, then stop the automatic collector; ?count: how
        # many unreachable objects the requests since left, collector back on.
        if scope["query_string"] == b"start":
            gc.collect()
            gc.disable()
            found = 0
        else:
            found = gc.collect()
            gc.enable()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(found).encode()})
    elif scope["type"] == "http" and scope["path"] == "/count-body":
        total = 0
        while True:
            message = await receive()
            total += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(total).encode()})
    else:
        await shared_app(scope, receive, send)


# -- a Starlette app: anyio task groups (BaseHTTPMiddleware), contextvars, disconnects
REQUEST_TAG = contextvars.ContextVar("request_tag", default="unset")


class TagMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request, call_next):
        REQUEST_TAG.set(request.headers.get("x-tag", "none"))
        response = await call_next(request)  # the endpoint runs in an anyio task group
        response.headers["x-task"] = "yes" if asyncio.current_task() is not None else "no"
        return response


async def starlette_echo(request):
    body = await request.body()
    return PlainTextResponse(f"{REQUEST_TAG.get()}:{len(body)}:{body[:8].decode()}")


async def starlette_stream(request):
    async def chunks():
        for index in range(3):
            await asyncio.sleep(0)
            yield f"{REQUEST_TAG.get()}-{index};"
    return StreamingResponse(chunks())


async def starlette_wait_disconnect(request):
    while not await request.is_disconnected():
        await asyncio.sleep(0.01)
    with open(request.query_params["marker"], "w") as marker:
        marker.write("disconnected")
    return PlainTextResponse("gone")


framework_app = Starlette(routes=[Route("/echo", starlette_echo, methods=["POST"]),
                                 Route("/stream", starlette_stream)], middleware=[Middleware(TagMiddleware)])
# Not behind BaseHTTPMiddleware: Starlette's request.is_disconnected() sees no
# disconnect through its wrapped receive (over HTTP/1.1 as well).
disconnect_app = Starlette(routes=[Route("/wait-disconnect", starlette_wait_disconnect, methods=["POST"])])


async def starlette_app(scope, receive, send):
    target = disconnect_app if scope.get("path") == "/wait-disconnect" else framework_app
    await target(scope, receive, send)


# -- a byte-level client ------------------------------------------------------
class H2Client:
    """h2's client connection over a socket: requests out, events in."""

    def __init__(self, server, initial_window_size=None, preface=True):
        self.sock = server.connect()
        self.authority = f"127.0.0.1:{server.port}".encode()
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        self.events = []
        self.closed = False
        if preface:
            self.conn.initiate_connection()
            if initial_window_size is not None:
                self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: initial_window_size})
            self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, path, method=b"GET", body=None, headers=(), end=True):
        stream_id = self.conn.get_next_available_stream_id()
        self.conn.send_headers(stream_id, [(b":method", method), (b":scheme", b"http"),
                                           (b":authority", self.authority), (b":path", path), *headers],
                               end_stream=end and body is None)
        if body is not None:
            self.send_body(stream_id, body, end)
        self.flush()
        return stream_id

    def send_body(self, stream_id, body, end=True):
        """Send as the windows allow, reading the server's WINDOW_UPDATEs meanwhile."""
        view = memoryview(body)
        while view:
            room = min(self.conn.local_flow_control_window(stream_id), self.conn.max_outbound_frame_size)
            if room <= 0:
                self.flush()
                self.read_once()
                continue
            self.conn.send_data(stream_id, bytes(view[:room]))
            view = view[room:]
        if end:
            self.conn.end_stream(stream_id)
        self.flush()

    def read_once(self, timeout=5):
        self.sock.settimeout(timeout)
        data = self.sock.recv(65536)
        if not data:
            self.closed = True
            return []
        events = self.conn.receive_data(data)
        for event in events:
            if isinstance(event, h2.events.DataReceived) and event.flow_controlled_length:
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        self.flush()
        self.events.extend(events)
        return events

    def wait_for(self, predicate, timeout=5):
        deadline = time.monotonic() + timeout
        while not any(predicate(event) for event in self.events):
            if self.closed or time.monotonic() > deadline:
                raise AssertionError(f"not seen; events: {self.events!r}")
            self.read_once(max(0.05, deadline - time.monotonic()))
        return [event for event in self.events if predicate(event)][0]

    def response(self, stream_id, timeout=5):
        """(status, headers, body, how it ended: 'end' or the reset's error code)."""
        end = self.wait_for(lambda e: getattr(e, "stream_id", None) == stream_id and isinstance(
            e, (h2.events.StreamEnded, h2.events.StreamReset)), timeout)
        status, headers, body = None, [], b""
        for event in self.events:
            if getattr(event, "stream_id", None) != stream_id:
                continue
            if isinstance(event, h2.events.ResponseReceived):
                headers = event.headers
                status = int(dict(headers)[b":status"])
            elif isinstance(event, h2.events.DataReceived):
                body += event.data
        return status, headers, body, "end" if isinstance(end, h2.events.StreamEnded) else end.error_code

    def goaway(self, timeout=5):
        return self.wait_for(lambda e: isinstance(e, h2.events.ConnectionTerminated), timeout)

    def close(self):
        self.sock.close()


@pytest.fixture(scope="module", params=IMPLEMENTATIONS)
def h2server(request):
    require_implementation(request.param)
    process = ServerProcess(APP, request.param, SERVER_ARGS)
    yield process
    process.stop()


def reset_and_read_marker(client, stream_id, marker):
    """Reset the stream as a client would, then what its app wrote in `marker` on seeing it."""
    client.conn.reset_stream(stream_id, error_code=http2.CANCEL)
    client.flush()
    deadline = time.monotonic() + 5
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return marker.read_text()


def get(server, path, **kwargs):
    client = H2Client(server)
    try:
        return client.response(client.request(path, **kwargs))
    finally:
        client.close()


# -- ASGI over streams ----------------------------------------------------------
def test_hello_and_the_scope(h2server):
    status, headers, body, ended = get(h2server, b"/")
    assert (status, body, ended) == (200, b"Hello, world!", "end")
    assert dict(headers)[b"server"] == b"fastasgi" and b"date" in dict(headers)
    status, _, body, _ = get(h2server, b"/scope/a%20b?x=1", headers=[(b"cookie", b"a=1"), (b"cookie", b"b=2")])
    scope = json.loads(body)
    assert scope["http_version"] == "2" and scope["scheme"] == "http" and scope["method"] == "GET"
    assert scope["path"] == "/scope/a b" and scope["raw_path"] == "/scope/a%20b" and scope["query_string"] == "x=1"
    headers = scope["headers"]
    assert headers[0] == ["host", f"127.0.0.1:{h2server.port}"]
    assert ["cookie", "a=1; b=2"] in headers
    assert not any(name.startswith(":") for name, _ in headers)
    assert scope["client"][0] == "127.0.0.1"


def test_streams_of_one_connection_get_scopes_and_heads_of_their_own(h2server):
    """The scope is a copy of the connection's template and response header
    pairs are checked once per process: neither carries one stream's into the next."""
    client = H2Client(h2server)
    try:
        answers = []
        for _ in range(3):
            status, headers, body, _ = client.response(client.request(b"/mutate-scope"))
            assert status == 200
            assert [(name, value) for name, value in headers if name.startswith((b"x-", b"connection"))] == [
                (b"x-mixed-case", b"trimmed"), (b"x-bytearray", b"kept"), (b"x-long", b"v" * 300)]
            answers.append(json.loads(body))
        assert answers[0] == answers[1] == answers[2]
        assert "mutated" not in answers[0]["seen"] and "x-added" not in answers[0]["seen"]
        assert "x-added" not in answers[0]["state"]
    finally:
        client.close()


@pytest.mark.skipif(platform.python_implementation() == "PyPy", reason="PyPy frees nothing by reference counting")
def test_a_finished_stream_leaves_no_cyclic_garbage(h2server):
    """A stream and its cycle are freed by reference counting when the app
    returns: per request, the cyclic collector would cost every request."""
    client = H2Client(h2server)
    try:
        assert client.response(client.request(b"/garbage?start"))[2] == b"0"
        for _ in range(20):
            assert client.response(client.request(b"/"))[0] == 200
            assert client.response(client.request(b"/echo", method=b"POST", body=b"x" * 100))[0] == 200
        assert int(client.response(client.request(b"/garbage?count"))[2]) < 20
    finally:
        client.close()


def test_starlette_over_concurrent_streams(start_server, implementation, tmp_path):
    """anyio's task groups, each stream's own context and RST_STREAM as a
    disconnect work for a framework app, with streams answered in one batch."""
    server = start_server("tests.test_http2:starlette_app", implementation, "--http2")
    client = H2Client(server)
    try:
        marker = tmp_path / "marker"
        waiting = client.request(f"/wait-disconnect?marker={marker}".encode(), method=b"POST", body=b"")
        streams = {tag: client.request(b"/echo", method=b"POST", body=tag.encode() * 5000,
                                       headers=[(b"x-tag", tag.encode())]) for tag in ("a", "b", "c")}
        streamed = client.request(b"/stream", headers=[(b"x-tag", b"s")])
        for tag, stream_id in streams.items():
            status, headers, body, ended = client.response(stream_id)
            assert (status, body, ended) == (200, f"{tag}:5000:{tag * 8}".encode(), "end")
            assert dict(headers)[b"x-task"] == b"yes"
        assert client.response(streamed)[2] == b"s-0;s-1;s-2;"
        assert reset_and_read_marker(client, waiting, marker) == "disconnected"
        assert client.response(client.request(b"/echo", method=b"POST", body=b"x"))[2] == b"none:1:x"
    finally:
        client.close()


def test_http11_still_served_on_the_same_port(h2server):
    response = httpx.get(h2server.url + "/")
    assert response.http_version == "HTTP/1.1" and response.text == "Hello, world!"


def test_streamed_bodies_both_ways_beyond_every_window(h2server):
    client = H2Client(h2server, initial_window_size=16384)
    body = os.urandom(3 * 1024 * 1024 // 2)  # past the 256 KiB stream and 1 MiB connection windows
    stream_id = client.request(b"/echo", method=b"POST", body=body)
    status, _, echoed, ended = client.response(stream_id, timeout=20)
    assert (status, ended) == (200, "end") and echoed == body
    status, _, big, ended = client.response(client.request(b"/big?size=2000000"), timeout=20)
    assert (status, len(big), ended) == (200, 2000000, "end")
    client.close()


def test_request_body_window_goes_back_only_as_the_app_reads(h2server):
    """/read-slowly reads one message, then waits 1 s: the client must be held back meanwhile."""
    client = H2Client(h2server)
    stream_id = client.request(b"/read-slowly?s=1", method=b"POST", end=False)
    client.send_body(stream_id, b"x" * 1000, end=False)
    time.sleep(0.2)  # the app has read its first message and sleeps
    started = time.monotonic()
    client.send_body(stream_id, b"y" * 600000)  # past the 256 KiB stream window
    held = time.monotonic() - started
    status, _, body, _ = client.response(stream_id, timeout=10)
    assert status == 200 and body == b"601000"
    assert held > 0.5  # no WINDOW_UPDATE came until the app read again
    client.close()


def test_expect_100_continue(h2server):
    client = H2Client(h2server)
    stream_id = client.request(b"/echo", method=b"POST", headers=[(b"expect", b"100-continue")], end=False)
    informational = client.wait_for(lambda e: isinstance(e, h2.events.InformationalResponseReceived))
    assert dict(informational.headers)[b":status"] == b"100"
    client.send_body(stream_id, b"after continue")
    assert client.response(stream_id)[::2] == (200, b"after continue")
    client.close()


def test_connection_specific_response_headers_are_dropped(h2server):
    status, headers, body, _ = get(h2server, b"/connection-headers")
    names = [name for name, _ in headers]
    assert status == 200 and body == b"ok" and b"x-kept" in names
    for name in (b"connection", b"keep-alive", b"transfer-encoding", b"upgrade"):
        assert name not in names


def test_head_204_and_304_send_no_data(h2server):
    client = H2Client(h2server)
    head = client.request(b"/head-length", method=b"HEAD")
    no_content = client.request(b"/status?code=204")
    not_modified = client.request(b"/status?code=304")
    status, headers, body, _ = client.response(head)
    assert (status, body, dict(headers)[b"content-length"]) == (200, b"", b"12")
    for stream_id, code in ((no_content, 204), (not_modified, 304)):
        assert client.response(stream_id)[:3:2] == (code, b"")
    assert not [e for e in client.events if isinstance(e, h2.events.DataReceived)]
    client.close()


def test_app_errors_stay_on_their_stream(h2server):
    client = H2Client(h2server)
    before = client.request(b"/raise")
    after = client.request(b"/raise-after-start")
    fine = client.request(b"/")
    status, _, body, ended = client.response(before)
    assert (status, body, ended) == (500, b"Internal Server Error", "end")
    status, _, body, ended = client.response(after)
    assert status == 200 and ended == http2.INTERNAL_ERROR
    assert client.response(fine)[::2] == (200, b"Hello, world!")
    client.close()
    assert h2server.wait_for_log("boom after start")


def test_an_invalid_response_header_is_a_500_on_its_stream(h2server):
    client = H2Client(h2server)
    bad = client.request(b"/bad-header")
    assert client.response(bad)[::2] == (500, b"Internal Server Error")
    assert client.response(client.request(b"/"))[0] == 200
    client.close()


def test_client_reset_is_http_disconnect(h2server, tmp_path):
    marker = tmp_path / "marker"
    client = H2Client(h2server)
    stream_id = client.request(f"/wait-disconnect?marker={marker}".encode(), method=b"POST", body=b"abc")
    time.sleep(0.2)
    assert reset_and_read_marker(client, stream_id, marker) == "http.disconnect"
    assert client.response(client.request(b"/"))[0] == 200  # the connection goes on
    client.close()


def test_connection_loss_is_http_disconnect(h2server, tmp_path):
    marker = tmp_path / "marker"
    client = H2Client(h2server)
    client.request(f"/wait-disconnect?marker={marker}".encode(), method=b"POST", body=b"abc")
    time.sleep(0.2)
    client.close()
    deadline = time.monotonic() + 5
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert marker.read_text() == "http.disconnect"


def test_request_body_limit_answers_413(h2server):
    client = H2Client(h2server)
    declared = client.request(b"/echo", method=b"POST", headers=[(b"content-length", b"4000000")], end=False)
    assert client.response(declared)[0] == 413
    counted = client.request(b"/count-body", method=b"POST", end=False)
    client.send_body(counted, b"q" * 3100000)
    assert client.response(counted)[0] == 413
    assert client.response(client.request(b"/"))[0] == 200
    client.close()


def test_access_log_says_http_2(h2server):
    get(h2server, b"/?logged=yes")
    assert h2server.wait_for_log('"GET /?logged=yes HTTP/2" 200')


# -- settings, limits and attacks -------------------------------------------------
def test_streams_past_the_limit_are_refused_not_the_connection(h2server):
    client = H2Client(h2server)
    client.read_once()  # the server's SETTINGS: max 4 streams
    encoder = client.conn.encoder
    request = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"x"), (b":path", b"/sleep?s=0.5")]
    frames = b"".join(HeadersFrame(stream_id, data=encoder.encode(request), flags=["END_STREAM", "END_HEADERS"])
                      .serialize() for stream_id in (1, 3, 5, 7, 9, 11))
    client.sock.sendall(frames)
    # Frames h2's client did not send itself: its state machine cannot follow, count raw frames.
    refused = []
    answered = []
    deadline = time.monotonic() + 5
    data = b""
    while len(refused) + len(answered) < 6 and time.monotonic() < deadline:
        client.sock.settimeout(5)
        chunk = client.sock.recv(65536)
        if not chunk:
            break
        data += chunk
        refused, answered = _rst_and_ended(data)
    assert sorted(refused) == [9, 11] and sorted(answered) == [1, 3, 5, 7]
    client.close()


def _rst_and_ended(data):
    """Stream ids reset with REFUSED_STREAM, and stream ids ended by the server, in raw frames."""
    refused, ended = [], []
    for frame in parse_frames(data):
        if isinstance(frame, RstStreamFrame) and frame.error_code == http2.REFUSED_STREAM:
            refused.append(frame.stream_id)
        elif isinstance(frame, (DataFrame, HeadersFrame)) and "END_STREAM" in frame.flags:
            ended.append(frame.stream_id)
    return refused, ended


def test_rapid_reset_gets_goaway_and_others_are_served(h2server):
    client = H2Client(h2server)
    try:
        for _ in range(1500):
            stream_id = client.request(b"/sleep?s=1", end=True)
            client.conn.reset_stream(stream_id, error_code=http2.CANCEL)
        client.flush()
    except (BrokenPipeError, ConnectionResetError):
        pass
    goaway = client.goaway()
    assert goaway.error_code == http2.ENHANCE_YOUR_CALM
    client.close()
    assert get(h2server, b"/")[0] == 200
    assert h2server.wait_for_log("(error code 0xb)")  # one line says why


def test_ping_flood_gets_goaway(h2server):
    client = H2Client(h2server)
    try:
        for index in range(1200):
            client.conn.ping(b"%08d" % index)
        client.flush()
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert client.goaway().error_code == http2.ENHANCE_YOUR_CALM
    client.close()
    assert get(h2server, b"/")[0] == 200


def test_continuation_flood_and_huge_header_lists_end_only_their_connection(h2server):
    client = H2Client(h2server)
    block = client.conn.encoder.encode([(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"x"),
                                        (b":path", b"/")])
    flood = HeadersFrame(1, data=block).serialize() + ContinuationFrame(1, data=b"").serialize() * 5000
    try:
        client.sock.sendall(flood)
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert [f.error_code for f in read_frames(client.sock) if isinstance(f, GoAwayFrame)] != []
    client.close()
    client = H2Client(h2server)
    stream_id = client.request(b"/", headers=[(b"x-big", b"v" * 70000)])  # past the 64 KiB default
    assert client.goaway().error_code != http2.NO_ERROR
    assert stream_id == 1
    client.close()
    assert get(h2server, b"/")[0] == 200


@pytest.mark.skipif(shutil.which("h2load") is None, reason="needs h2load (the Debian package nghttp2-client)")
def test_h2load_with_100_streams_per_connection_is_not_an_attack(start_server, implementation):
    server = start_server(APP, implementation, "--http2", "--no-access-log")
    result = subprocess.run(["h2load", "-t1", "-c2", "-m100", "-n", "1000", server.url + "/"],
                            capture_output=True, text=True, timeout=60)
    assert "1000 succeeded, 0 failed, 0 errored" in result.stdout, result.stdout
    assert "error code" not in server.log


def test_a_malformed_request_is_reset_and_the_connection_goes_on(h2server):
    client = H2Client(h2server)
    request = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"x"), (b":path", b"/")]
    frames = b"".join(HeadersFrame(stream_id, data=client.conn.encoder.encode(request + extra),
                                   flags=["END_STREAM", "END_HEADERS"]).serialize()
                      for stream_id, extra in ((1, [(b"X-Upper", b"1")]), (3, [])))
    client.sock.sendall(frames)
    data = b""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        data += client.sock.recv(65536)
        frames = parse_frames(data)
        resets = [(f.stream_id, f.error_code) for f in frames if isinstance(f, RstStreamFrame)]
        answered = [f.stream_id for f in frames if isinstance(f, DataFrame) and "END_STREAM" in f.flags]
        if resets and answered:
            break
    assert resets == [(1, http2.PROTOCOL_ERROR)] and answered == [3]
    client.close()
    assert h2server.wait_for_log("Invalid HTTP/2 request from 127.0.0.1")


def test_invalid_preface_is_refused_and_logged(h2server):
    sock = h2server.connect()
    sock.sendall(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + b"\x00" * 9)
    frames = read_frames(sock)  # until the server closes
    sock.close()
    assert [type(frame) for frame in frames][-1] is GoAwayFrame
    assert frames[-1].error_code == http2.PROTOCOL_ERROR
    assert h2server.wait_for_log("HTTP/2 connection from 127.0.0.1")
    assert get(h2server, b"/")[0] == 200


def test_zero_window_stall_is_bounded_by_timeout_write(h2server):
    client = H2Client(h2server, initial_window_size=0)
    stream_id = client.request(b"/big?size=100000")
    started = time.monotonic()
    status, _, body, ended = client.response(stream_id, timeout=10)
    assert status == 200 and body == b"" and ended == http2.CANCEL
    assert 0.8 < time.monotonic() - started < 5
    client.close()
    assert h2server.wait_for_log("opened no window on stream")


def test_a_request_body_that_stops_coming_gets_408(start_server, implementation):
    server = start_server(APP, implementation, "--http2", "--timeout-request-body", "1")
    client = H2Client(server)
    stream_id = client.request(b"/echo", method=b"POST", body=b"part", end=False)
    fine = client.request(b"/")
    started = time.monotonic()
    assert client.response(stream_id, timeout=10)[0] == 408
    assert 0.8 < time.monotonic() - started < 5
    assert client.response(fine)[0] == 200
    client.close()


# -- real clients ---------------------------------------------------------------------
def test_httpx_http2(h2server):
    with httpx.Client(http1=False, http2=True, base_url=h2server.url) as client:
        responses = [client.get("/"), client.post("/echo", content=b"x" * 100000), client.get("/stream?n=5")]
    assert [r.http_version for r in responses] == ["HTTP/2"] * 3
    assert responses[0].text == "Hello, world!" and responses[1].content == b"x" * 100000
    assert responses[2].content == b"x" * 25


def test_httpx_many_concurrent_streams(h2server):
    async def run():
        async with httpx.AsyncClient(http1=False, http2=True, base_url=h2server.url) as client:
            return await asyncio.gather(*(client.get(f"/scope?i={i}") for i in range(40)))
    responses = asyncio.run(run())
    assert [json.loads(r.content)["query_string"] for r in responses] == [f"i={i}" for i in range(40)]


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_curl_prior_knowledge(h2server):
    result = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-w", " %{http_version}",
                             h2server.url + "/"], capture_output=True, text=True, timeout=10)
    assert result.stdout == "Hello, world! 2"


def test_upgrade_h2c_answers_on_stream_1(h2server):
    client = H2Client(h2server, preface=False)
    settings_header = client.conn.initiate_upgrade_connection()
    client.sock.sendall(b"GET /scope?up=1 HTTP/1.1\r\nHost: example.com\r\nX-Kept: 1\r\n"
                        b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                        b"HTTP2-Settings: " + settings_header + b"\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += client.sock.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 ") and b"upgrade: h2c" in head.lower()
    client.flush()  # the client's preface and SETTINGS
    client.events.extend(client.conn.receive_data(rest))
    status, _, body, ended = client.response(1)
    scope = json.loads(body)
    assert (status, ended, scope["http_version"], scope["query_string"]) == (200, "end", "2", "up=1")
    assert ["host", "example.com"] in scope["headers"] and ["x-kept", "1"] in scope["headers"]
    assert not any(name in ("upgrade", "http2-settings", "connection") for name, _ in scope["headers"])
    assert client.response(client.request(b"/"))[2] == b"Hello, world!"  # the connection goes on in HTTP/2
    client.close()


def test_upgrade_h2c_that_cannot_happen_is_served_as_http11(h2server):
    asks = b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
    for request in (asks + b"HTTP2-Settings: !!not base64!!\r\n\r\n",  # no valid settings
                    asks + b"HTTP2-Settings: AAMAAABkAAQAAP__\r\nContent-Length: 3\r\n\r\nabc"):  # a body
        sock = h2server.connect()
        sock.sendall(request)
        sock.settimeout(5)
        data = sock.recv(65536)
        assert data.startswith(b"HTTP/1.1 200 "), data
        sock.close()


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_curl_upgrades_to_h2c(h2server):
    result = subprocess.run(["curl", "-s", "--http2", "-w", " %{http_version}", h2server.url + "/"],
                            capture_output=True, text=True, timeout=10)
    assert result.stdout == "Hello, world! 2"
    # curl offers the upgrade with a body too: that request stays on HTTP/1.1.
    result = subprocess.run(["curl", "-s", "--http2", "-d", "abc", "-w", " %{http_version}", h2server.url + "/echo"],
                            capture_output=True, text=True, timeout=10)
    assert result.stdout == "abc 1.1"


@pytest.mark.skipif(shutil.which("nghttp") is None,
                    reason="needs nghttp (the Debian package nghttp2-client)")
def test_nghttp(h2server):
    # As many requests at once as this server's --http2-max-concurrent-streams.
    result = subprocess.run(["nghttp", "-n", "-s", "-m", "4", h2server.url + "/"],
                            capture_output=True, text=True, timeout=10)
    assert result.returncode == 0 and not result.stderr, result.stderr
    assert result.stdout.count("  200  ") == 4  # one statistics line per request
    result = subprocess.run(["nghttp", h2server.url + "/"], capture_output=True, text=True, timeout=10)
    assert result.stdout == "Hello, world!"


# -- TLS (ALPN), shutdown, and --http2 off -----------------------------------------------------
@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    return make_certificate(str(tmp_path_factory.mktemp("certs")), "server", "localhost")


def test_alpn_h2_and_http11_fallback(start_server, implementation, certificate):
    cert, key = certificate
    server = start_server(APP, implementation, "--http2", "--ssl-certfile", cert, "--ssl-keyfile", key)
    url = f"https://127.0.0.1:{server.port}/scope"
    context = ssl.create_default_context(cafile=cert)
    with httpx.Client(http2=True, verify=context) as client:
        response = client.get(url)
    assert response.http_version == "HTTP/2"
    scope = response.json()
    assert scope["scheme"] == "https" and scope["http_version"] == "2" and "tls" in scope["extensions"]
    with httpx.Client(verify=context) as client:  # no h2 in its ALPN offer
        assert client.get(url).http_version == "HTTP/1.1"
    if shutil.which("curl"):
        result = subprocess.run(["curl", "-s", "-k", "--http2", "-w", " %{http_version}",
                                 f"https://127.0.0.1:{server.port}/"], capture_output=True, text=True, timeout=10)
        assert result.stdout == "Hello, world! 2"


def test_without_http2_the_preface_is_an_http11_error(start_server, implementation):
    server = start_server(APP, implementation)
    sock = server.connect()
    sock.sendall(http2.PREFACE)
    sock.settimeout(5)
    assert sock.recv(65536).startswith(b"HTTP/1.1 ")
    sock.close()
    with httpx.Client(verify=False) as client:
        assert client.get(server.url + "/").http_version == "HTTP/1.1"


def test_graceful_shutdown_sends_goaway_and_finishes_streams(start_server, implementation):
    server = start_server(APP, implementation, "--http2")
    client = H2Client(server)
    stream_id = client.request(b"/sleep?s=1")
    time.sleep(0.3)
    server.send_signal(signal.SIGTERM)
    # Raw frames from here: h2's client state machine stops at a GOAWAY.
    frames = read_frames(client.sock)
    goaway = [frame for frame in frames if isinstance(frame, GoAwayFrame)]
    assert [(frame.error_code, frame.last_stream_id) for frame in goaway][:1] == [(http2.NO_ERROR, stream_id)]
    data = [frame for frame in frames if isinstance(frame, DataFrame) and frame.stream_id == stream_id]
    assert b"".join(frame.data for frame in data) == b"slept" and "END_STREAM" in data[-1].flags
    assert frames.index(goaway[0]) < frames.index(data[0])  # GOAWAY first, then the answer
    assert server.process.wait(10) == STOPPED_BY_SIGTERM
    client.close()


def test_graceful_shutdown_is_bounded_by_its_timeout(start_server, implementation):
    server = start_server(APP, implementation, "--http2", "--timeout-graceful-shutdown", "1")
    client = H2Client(server)
    client.request(b"/sleep?s=20")
    time.sleep(0.3)
    started = time.monotonic()
    server.send_signal(signal.SIGTERM)
    frames = read_frames(client.sock, timeout=10)  # GOAWAY, then the close when the timeout cut the stream
    assert any(isinstance(frame, GoAwayFrame) for frame in frames)
    server.process.wait(10)
    assert time.monotonic() - started < 5
    client.close()


@pytest.mark.parametrize("ending", ["keep-alive timeout", "SIGTERM"])
def test_bytes_held_after_the_app_returned_reach_a_slow_reader(start_server, implementation, ending):
    """The app returns while its last bytes still wait on the client's window:
    neither the keep-alive timeout nor a graceful shutdown may drop them."""
    server = start_server(APP, implementation, "--http2", "--timeout-keep-alive", "1")
    client = H2Client(server, initial_window_size=16384)  # one frame in flight: none waits in our socket
    stream_id = client.request(b"/big?size=131072&chunk=131072")  # the app returns at once, 112 KiB held
    # Raw frames from here: h2's client state machine stops at a GOAWAY.
    client.sock.settimeout(5)
    data, body, ended = b"", b"", False
    while not ended:
        received = client.sock.recv(65536)
        assert received, f"closed after {len(body)} of 131072 bytes"
        data += received
        while len(data) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(data[:9]))
            if len(data) < 9 + length:
                break
            frame.parse_body(memoryview(data[9:9 + length]))
            data = data[9 + length:]
            if isinstance(frame, DataFrame) and frame.stream_id == stream_id:
                body += frame.data
                ended = "END_STREAM" in frame.flags
                if ended:
                    break
                if ending == "SIGTERM" and len(body) == len(frame.data):
                    server.send_signal(signal.SIGTERM)
                time.sleep(0.5)  # a slow reader: its window goes back slowly
                client.sock.sendall(WindowUpdateFrame(0, window_increment=length).serialize()
                                    + WindowUpdateFrame(stream_id, window_increment=length).serialize())
    assert body == b"z" * 131072
    if ending == "SIGTERM":
        assert server.process.wait(10) == STOPPED_BY_SIGTERM
    client.close()


def read_frames(sock, timeout=5):
    """Every frame the server sends until it closes the connection."""
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return parse_frames(data)


def parse_frames(data):
    frames = []
    while len(data) >= 9:
        frame, length = Frame.parse_frame_header(memoryview(data[:9]))
        if len(data) < 9 + length:
            break
        frame.parse_body(memoryview(data[9:9 + length]))
        frames.append(frame)
        data = data[9 + length:]
    return frames


def test_an_idle_connection_gets_goaway_after_the_keep_alive_timeout(start_server, implementation):
    server = start_server(APP, implementation, "--http2", "--timeout-keep-alive", "1")
    client = H2Client(server)
    assert client.response(client.request(b"/"))[0] == 200
    started = time.monotonic()
    frames = read_frames(client.sock, timeout=5)
    assert [frame.error_code for frame in frames if isinstance(frame, GoAwayFrame)] == [http2.NO_ERROR]
    assert 0.5 < time.monotonic() - started < 4
    client.close()


def test_root_path_and_proxy_headers_apply(start_server, implementation):
    server = start_server(APP, implementation, "--http2", "--root-path", "/api")
    status, _, body, _ = get(server, b"/scope/x%20y?x=1", headers=[(b"x-forwarded-for", b"10.1.2.3"),
                                                                   (b"x-forwarded-proto", b"https")])
    scope = json.loads(body)
    assert status == 200 and scope["root_path"] == "/api" and scope["path"] == "/api/scope/x y"
    assert scope["raw_path"] == "/api/scope/x%20y"
    assert scope["client"][0] == "10.1.2.3" and scope["scheme"] == "https"


def test_limit_concurrency_answers_503_per_stream(start_server, implementation):
    server = start_server(APP, implementation, "--http2", "--limit-concurrency", "1")
    client = H2Client(server)
    slow = client.request(b"/sleep?s=0.5")
    time.sleep(0.1)
    over = client.request(b"/")
    assert client.response(over)[::2] == (503, b"Service Unavailable")
    assert client.response(slow)[::2] == (200, b"slept")
    assert client.response(client.request(b"/"))[0] == 200  # the connection goes on
    client.close()


def test_bad_http2_settings_fail_at_startup(start_server, implementation):
    server = start_server(APP, implementation, "--http2", "--http2-max-frame-size", "100", wait=False)
    assert server.process.wait(15) != 0
    server.stop()
    assert "--http2-max-frame-size" in server.log


def test_a_client_that_never_acknowledges_settings_gets_goaway(start_server, implementation):
    server = start_server(APP, implementation, "--http2", "--http2-settings-timeout", "0.3")
    sock = server.connect()
    sock.sendall(http2.PREFACE + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")  # our SETTINGS, never an ACK
    started = time.monotonic()
    frames = read_frames(sock, timeout=5)
    assert [frame.error_code for frame in frames if isinstance(frame, GoAwayFrame)] == [http2.SETTINGS_TIMEOUT]
    assert 0.2 < time.monotonic() - started < 3
    sock.close()
    server.wait_for_log("never acknowledged our SETTINGS")


def test_keep_alive_ping_closes_a_client_that_does_not_answer(start_server, implementation):
    server = start_server(APP, implementation, "--http2", "--http2-ping-interval", "0.3",
                          "--http2-ping-timeout", "0.3", "--timeout-keep-alive", "30")
    answering = H2Client(server)  # h2 answers PINGs: this one stays
    assert answering.response(answering.request(b"/"))[0] == 200
    silent = server.connect()
    silent.sendall(http2.PREFACE + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00" + b"\x00\x00\x00\x04\x01\x00\x00\x00\x00")
    silent.settimeout(0.05)
    received = b""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the silent one reads, and answers nothing; the other answers
        try:
            chunk = silent.recv(65536)
        except OSError:  # a timeout (socket.timeout before Python 3.10), or the server's reset
            chunk = None
        if chunk == b"":
            break
        received += chunk or b""
        try:
            answering.read_once(0.05)
        except socket.timeout:
            pass
    frames = parse_frames(received)
    assert any(frame.type == 0x6 and "ACK" not in frame.flags for frame in frames)
    assert [frame.error_code for frame in frames if isinstance(frame, GoAwayFrame)] == [http2.NO_ERROR]
    server.wait_for_log("did not answer a keep-alive PING")
    assert any(isinstance(event, h2.events.PingReceived) for event in answering.events)
    assert answering.response(answering.request(b"/"))[0] == 200  # the one that answered is still served
    answering.close()


@pytest.mark.parametrize("engine", ["h2", "h2-hpack"])
def test_the_h2_library_engine_is_still_there_behind_its_switch(start_server, implementation, engine):
    server = start_server(APP, implementation, "--http2", "--http2-engine", engine)
    status, headers, body, ended = get(server, b"/")
    assert (status, body, ended) == (200, b"Hello, world!", "end") and dict(headers)[b"server"] == b"fastasgi"
