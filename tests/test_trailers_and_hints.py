"""http.response.trailers and http.response.early_hint, on the wire, both implementations.

HTTP/1.1: a chunked trailer section only for a client that sent TE:
trailers, 103 Early Hints only to HTTP/1.1 clients.  HTTP/2: trailers as a
last HEADERS frame with END_STREAM, hints as informational HEADERS blocks.
"""
import time

import h2.events
import pytest

from .conftest import IMPLEMENTATIONS, ServerProcess, recv_until, recv_until_closed, require_implementation
from .test_http2 import H2Client

APP = "tests.extension_apps:app"


@pytest.fixture(scope="module", params=IMPLEMENTATIONS)
def server(request):
    require_implementation(request.param)
    process = ServerProcess(APP, request.param, ("--http2",))
    yield process
    process.stop()


def raw(server, request, ending):
    """What the server sends for `request` until `ending` (or until it closes)."""
    with server.connect() as sock:
        sock.sendall(request)
        return recv_until(sock, ending)


def logged_after(server, logged, text, timeout=5):
    """Whether the server logs `text` after its first `logged` lines (within `timeout`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(text in line for line in server.lines[logged:]):
            return True
        time.sleep(0.02)
    return False


def test_trailer_section_for_a_client_that_takes_trailers(server):
    data = raw(server, b"GET /trailers HTTP/1.1\r\nHost: t\r\nTE: trailers\r\n\r\n", b"grpc-status: 0\r\n\r\n")
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head
    assert body == b"6\r\nhello \r\n5\r\nworld\r\n0\r\nx-checksum: abc\r\ngrpc-status: 0\r\n\r\n"


def test_trailers_dropped_with_the_framing_intact(server):
    # No TE: trailers: the last chunk alone, and the connection serves the next request.
    request = b"GET /trailers HTTP/1.1\r\nHost: t\r\n\r\n"
    data = raw(server, request + request, b"0\r\n\r\n")
    first, _, rest = data.partition(b"\r\n\r\n")
    assert rest.startswith(b"6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\nHTTP/1.1 200 OK")
    assert data.count(b"HTTP/1.1 200 OK") == 2 and b"grpc-status" not in data


@pytest.mark.parametrize("field", ["content-length", "transfer-encoding", "host", "authorization"])
def test_forbidden_trailer_fields_are_refused(server, field):
    logged = len(server.lines)
    with server.connect() as sock:
        sock.sendall(b"GET /trailers?bad=" + field.encode() + b" HTTP/1.1\r\nHost: t\r\nTE: trailers\r\n\r\n")
        data = recv_until_closed(sock)  # the response cannot end correctly: the connection closes
    assert field.encode() + b":" not in data.partition(b"\r\n\r\n")[2]
    assert not data.endswith(b"0\r\n\r\n")
    assert logged_after(server, logged, f"Trailer field '{field}' is not allowed in trailers")
    assert raw(server, b"GET /trailers HTTP/1.1\r\nHost: t\r\n\r\n", b"0\r\n\r\n").startswith(b"HTTP/1.1 200")


def test_early_hints_come_before_the_response(server):
    data = raw(server, b"GET /hints HTTP/1.1\r\nHost: t\r\n\r\n", b"page")
    assert data.startswith(
        b"HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload; as=style\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nlink: </app.js>; rel=preload; as=script\r\n"
        b"link: </font.woff2>; rel=preload; as=font\r\n\r\n"
        b"HTTP/1.1 200 OK\r\n")


def test_no_early_hints_for_http10(server):
    data = raw(server, b"GET /hints HTTP/1.0\r\n\r\n", b"page")
    assert data.startswith(b"HTTP/1.1 200 OK\r\n") and b"103" not in data


def test_http2_trailers_and_early_hints(server):
    client = H2Client(server, initial_window_size=4)  # the trailers wait behind held DATA
    try:
        stream_id = client.request(b"/trailers", headers=[(b"te", b"trailers")])
        status, _, body, end = client.response(stream_id)
        assert (status, body, end) == (200, b"hello world", "end")
        trailers = client.wait_for(lambda e: isinstance(e, h2.events.TrailersReceived))
        assert trailers.headers == [(b"x-checksum", b"abc"), (b"grpc-status", b"0")]
        assert trailers.stream_ended is not None

        stream_id = client.request(b"/hints")
        status, _, body, end = client.response(stream_id)
        assert (status, body) == (200, b"page")
        hints = [e for e in client.events if isinstance(e, h2.events.InformationalResponseReceived)
                 and e.stream_id == stream_id]
        assert [dict(h.headers)[b":status"] for h in hints] == [b"103", b"103"]
        assert [v for h in hints for n, v in h.headers if n == b"link"] == [
            b"</style.css>; rel=preload; as=style", b"</app.js>; rel=preload; as=script",
            b"</font.woff2>; rel=preload; as=font"]
    finally:
        client.close()
