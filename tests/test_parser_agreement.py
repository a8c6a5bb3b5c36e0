"""Requests the two parser twins once answered differently (issue 28, item 6): both refuse them now.

The compiled twin (llhttp) refused them and the pure one (h11) served them
(or refused them with another status); the fix is the stricter answer on both.  Checked on the parsers, fed whole
and a byte at a time, and on a real server, whose app must never see them.
"""
import pytest

from fastasgi import _speedups

from .conftest import recv_until_closed, require_implementation
from .parser_events import parse_all

pytestmark = pytest.mark.timeout(30)

CHUNKED = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
REFUSED = {
    "Content-Length trailer": CHUNKED + b"1\r\nx\r\n0\r\nContent-Length: 5\r\n\r\n",
    "content-length trailer, no value": CHUNKED + b"0\r\ncontent-length:\r\n\r\n",
    "Transfer-Encoding trailer": CHUNKED + b"1\r\nx\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n",
    "chunked<HTAB>": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\t\r\n\r\n0\r\n\r\n",
    "chunked<SP><HTAB>": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked \t\r\n\r\n0\r\n\r\n",
    "chunked twice": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\tchunked\r\n\r\n0\r\n\r\n",
    "bad host and a 501 coding": (b"GET http://a<b/x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n"
                                  b"Host: a\r\n\r\n"),
    **{f"absolute-form host with {chr(c)!r}": b"GET http://a" + bytes([c]) + b"b/x HTTP/1.1\r\nHost: a\r\n\r\n"
       for c in b'"#<>\\^`{|}'},
}
ACCEPTED = {
    "other trailer": CHUNKED + b"1\r\nx\r\n0\r\nX-Content-Length: 5\r\nHost: b\r\n\r\n",
    "<HTAB>chunked": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n",
    "chunked<SP>": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked \r\n\r\n0\r\n\r\n",
    "absolute-form host": b"GET http://a-b.c_d~e:80/x HTTP/1.1\r\nHost: a\r\n\r\n",
    "absolute-form IP literal": b"GET https://[::1]:8443?q HTTP/1.1\r\nHost: a\r\n\r\n",
    "absolute-form sub-delims": b"GET http://a!$&'()*+,;=%41/ HTTP/1.1\r\nHost: a\r\n\r\n",
}


@pytest.fixture
def twin(implementation):
    return _speedups.load(implementation)


@pytest.mark.parametrize("name", REFUSED)
def test_both_twins_refuse(twin, name):
    data = REFUSED[name]
    assert parse_all(twin, [data]) == ("error", 400)
    assert parse_all(twin, [data[i:i + 1] for i in range(len(data))]) == ("error", 400)


@pytest.mark.parametrize("name", ACCEPTED)
def test_both_twins_accept(twin, name):
    data = ACCEPTED[name]
    whole = parse_all(twin, [data])
    assert whole[0] == "ok" and whole[1][-1] is None
    assert parse_all(twin, [data[i:i + 1] for i in range(len(data))]) == whole


def test_twins_give_the_same_answers():
    require_implementation("compiled")
    pure, compiled = _speedups.load("pure"), _speedups.load("compiled")
    for data in (*REFUSED.values(), *ACCEPTED.values()):
        assert parse_all(pure, [data]) == parse_all(compiled, [data]), data


@pytest.mark.parametrize("name", ["Content-Length trailer", "chunked<HTAB>", "absolute-form host with '<'"])
def test_server_answers_400_and_the_app_never_sees_it(start_server, implementation, name):
    server = start_server("tests.reliability_apps:app", implementation)
    data = REFUSED[name].replace(b" / HTTP", b" /headers HTTP").replace(b"/x HTTP", b"/headers HTTP")
    with server.connect() as sock:
        sock.sendall(data)
        reply = recv_until_closed(sock)
    assert reply.startswith(b"HTTP/1.1 400 ") and b"connection: close" in reply
    assert b"a<b" not in reply and "/headers" not in server.log
    assert server.wait_for_log("Invalid HTTP request received")


def test_parser_for_makes_the_parser_the_class_makes(twin):
    """parser_for(), as HttpProtocol makes its parser (compiled, a C call), gives the class's parser."""
    from .parser_events import limits

    upgrade = b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x80"
    made = twin.parser.parser_for(limits(twin, max_body_size=5), b"websocket")
    called = twin.RequestParser(limits(twin, max_body_size=5), b"websocket")
    assert type(made) is type(called) is twin.RequestParser
    for parser in (made, called):
        assert (parser.limits.max_body_size, parser.upgrade_token, parser.bytes_received) == (5, b"websocket", 0)
        assert [event.path if event is not None else None for event in parser.feed(upgrade)] == ["/ws", None]
        assert parser.trailing == b"\x81\x80"
