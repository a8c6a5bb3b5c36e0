"""An Upgrade request the server does not serve is a plain request, body and all.

llhttp stops after the head of every Upgrade request and skips its body,
so the compiled parser frames that body itself (Content-Length counted,
chunked through ChunkFraming); h11 frames it in the pure one.  Both twins
must give the same events, whole and a byte at a time, keep serving the
requests pipelined after it, and refuse a bad chunk with 400.  Checked on
the parsers, then on a real server: an unknown token, and a websocket
upgrade with --ws none.
"""
import pytest

from fastasgi import _speedups

from .conftest import read_response, recv_until_closed, require_implementation
from .parser_events import parse_all

pytestmark = pytest.mark.timeout(30)

H = b"Host: a\r\n"
NEXT = b"GET /next HTTP/1.1\r\n" + H + b"\r\n"
# (the Upgrade token asked for, the token the server serves)
UNSERVED = {
    "unknown token": (b"foo/2", b"websocket"),
    "websocket with --ws none": (b"websocket", None),
}
# (framing headers, body on the wire, the body the app gets)
BODIES = {
    "content-length": (b"Content-Length: 5\r\n", b"hello", b"hello"),
    "chunked": (b"Transfer-Encoding: chunked\r\n",
                b"3;ext=\"q\"\r\nabc\r\n6\r\n\r\n\r\n\r\n\r\n0\r\nX-Trailer: v\r\n\r\n", b"abc\r\n\r\n\r\n"),
    "empty": (b"Content-Length: 0\r\n", b"", b""),
}
# Chunked bodies after an unserved upgrade that must be refused with 400.
BAD_CHUNKS = {
    "bad chunk size": b"zz\r\nabc\r\n0\r\n\r\n",
    "data longer than its size": b"3\r\nabcd\r\n0\r\n\r\n",
    "Content-Length trailer": b"1\r\nx\r\n0\r\nContent-Length: 5\r\n\r\n",
    "bare LF after the size": b"3\nabc\r\n0\r\n\r\n",
}


def upgrade_request(token, framing, body, path=b"/"):
    return (b"POST " + path + b" HTTP/1.1\r\n" + H + b"Connection: Upgrade\r\nUpgrade: " + token + b"\r\n"
            + framing + b"\r\n" + body)


def head_of(events, index):
    kind, fields = events[index]
    assert kind == "head"
    return fields


@pytest.fixture
def twin(implementation):
    return _speedups.load(implementation)


@pytest.mark.parametrize("body_kind", BODIES)
@pytest.mark.parametrize("unserved", UNSERVED)
def test_body_then_pipelined_request(twin, unserved, body_kind):
    token, served = UNSERVED[unserved]
    framing, wire, expected = BODIES[body_kind]
    data = upgrade_request(token, framing, wire) + NEXT
    whole = parse_all(twin, [data], upgrade_token=served)
    status, events, trailing = whole
    assert status == "ok" and trailing is None  # never handed to another protocol
    assert head_of(events, 0)[8] == token.lower()  # the head says what was asked for
    assert events[1:-2] == ([expected, None] if expected else [None])
    assert head_of(events, -2)[1] == "/next" and events[-1] is None
    assert parse_all(twin, [data[i:i + 1] for i in range(len(data))], upgrade_token=served) == whole


@pytest.mark.parametrize("name", BAD_CHUNKS)
def test_bad_chunk_is_400(twin, name):
    token, served = UNSERVED["unknown token"]
    first = b"GET /first HTTP/1.1\r\n" + H + b"\r\n"
    data = first + upgrade_request(token, b"Transfer-Encoding: chunked\r\n", BAD_CHUNKS[name]) + NEXT
    status, code, answered = parse_all(twin, [data], answered=True, upgrade_token=served)
    assert (status, code) == ("error", 400)
    assert [event[1][1] if event else event for event in answered] == ["/first", None]  # answered before the 400
    assert parse_all(twin, [data[i:i + 1] for i in range(len(data))], answered=True,
                     upgrade_token=served) == (status, code, answered)


def test_body_limit_counts_a_chunked_body(twin):
    data = upgrade_request(b"foo", b"Transfer-Encoding: chunked\r\n", b"3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n")
    assert parse_all(twin, [data], max_body_size=5) == ("error", 413)
    assert parse_all(twin, [data], max_body_size=6)[0] == "ok"


def test_twins_give_the_same_answers():
    require_implementation("compiled")
    pure, compiled = _speedups.load("pure"), _speedups.load("compiled")
    for token, served in UNSERVED.values():
        streams = [upgrade_request(token, framing, wire) + NEXT for framing, wire, _ in BODIES.values()]
        streams += [upgrade_request(token, b"Transfer-Encoding: chunked\r\n", bad) + NEXT
                    for bad in BAD_CHUNKS.values()]
        for data in streams:
            for pieces in ([data], [data[:len(data) // 2], data[len(data) // 2:]]):
                assert (parse_all(pure, pieces, answered=True, upgrade_token=served)
                        == parse_all(compiled, pieces, answered=True, upgrade_token=served)), data


@pytest.mark.parametrize("unserved", UNSERVED)
def test_server_answers_the_upgrade_and_the_request_after_it(start_server, implementation, unserved):
    token, served = UNSERVED[unserved]
    args = ("--ws", "none") if served is None else ()
    server = start_server("tests.apps:app", implementation, *args)
    length = upgrade_request(token, b"Content-Length: 5\r\n", b"hello", b"/echo")
    chunked = upgrade_request(token, b"Transfer-Encoding: chunked\r\n", b"2\r\nhi\r\n1\r\n!\r\n0\r\n\r\n", b"/echo")
    with server.connect() as sock:
        sock.sendall(length + chunked + b"GET /echo HTTP/1.1\r\n" + H + b"\r\n")
        rest = b""
        bodies = []
        for _ in range(3):
            status, _, body, _, rest = read_response(sock, buffer=rest)
            assert status == 200
            bodies.append(body)
    assert bodies == [b"hello", b"hi!", b""]


def test_server_answers_a_bad_chunk_after_an_upgrade_with_400(start_server, implementation):
    server = start_server("tests.apps:app", implementation)
    data = upgrade_request(b"foo", b"Transfer-Encoding: chunked\r\n", b"2\r\nhiX\r\n0\r\n\r\n", b"/echo")
    with server.connect() as sock:
        sock.sendall(data)
        reply = recv_until_closed(sock)
    assert reply.startswith(b"HTTP/1.1 400 ") and b"connection: close" in reply
    assert server.wait_for_log("Invalid HTTP request received")
    with server.connect() as sock:  # and it serves the next client
        sock.sendall(b"GET /echo HTTP/1.1\r\n" + H + b"\r\n")
        assert read_response(sock)[0] == 200


def test_chunk_framing_collects_the_data_and_finds_the_end(twin):
    """ChunkFraming alone, as the compiled parser uses it there: split anywhere, the same data and end."""
    _, wire, expected = BODIES["chunked"]
    data = wire + NEXT
    for cut in range(len(wire) + 1):
        chunks = twin.chunks.ChunkFraming(64, [])
        assert chunks.scan(data[:cut], 0, cut) == -1
        if not chunks.done():
            assert chunks.scan(data, cut, len(data)) == -1
        assert chunks.done() and chunks.end == len(wire)  # NEXT is left for the next head
        assert b"".join(chunks.body) == expected
    bad = twin.chunks.ChunkFraming(64, [])
    assert bad.scan(b"2\r\nhiX", 0, 6) == 5 and bad.error.status_code == 400
