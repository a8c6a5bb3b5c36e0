"""The compiled (llhttp) and pure (h11) hot paths must behave identically.

Every request in the corpus goes through both RequestParser twins in one
piece, split in two at every byte, and one byte at a time; the events (body
bytes joined, since they may be cut differently), `trailing` and the error
status must match.  The other three modules are checked on both twins with
the same assertions.
"""
import asyncio
import gc

import pytest

from fastasgi import _speedups
from fastasgi._speedups import HttpParseError
from fastasgi.middleware.proxy_headers import ForwardedPolicy

from .parser_events import head_fields, new_parser, parse_all

pytestmark = pytest.mark.timeout(30)

if not _speedups.compiled_available():
    pytest.skip("compiled speedups not built (python setup.py build_ext --inplace)",
                allow_module_level=True)

PURE = _speedups.load("pure")
COMPILED = _speedups.load("compiled")
TWINS = [pytest.param(PURE, id="pure"), pytest.param(COMPILED, id="compiled")]

H = b"Host: example.com\r\n"
OK = "ok"

# (id, bytes, expected: OK or the error status)
VALID = [
    ("get", b"GET / HTTP/1.1\r\n" + H + b"\r\n", OK),
    ("head", b"HEAD /x HTTP/1.1\r\n" + H + b"Accept: */*\r\n\r\n", OK),
    ("post-length", b"POST /submit HTTP/1.1\r\n" + H + b"Content-Length: 11\r\n\r\nhello world", OK),
    ("post-length-zero", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 0\r\n\r\n", OK),
    ("post-length-partial", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 20\r\n\r\nonly part", OK),
    ("chunked", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
     b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", OK),
    ("chunked-ext-trailers", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
     b"3;name=value;q=\"x\"\r\nabc\r\nA\r\n0123456789\r\n0;last\r\nX-Trailer: yes\r\nY: z\r\n\r\n", OK),
    ("chunked-crlfcrlf-in-data", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
     b"6\r\n\r\n\r\n\r\n\r\n4\r\n\r\n\r\n\r\n0\r\n\r\nGET /next HTTP/1.1\r\n" + H + b"\r\n", OK),
    ("chunked-uppercase-te", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: Chunked\r\n\r\n"
     b"1\r\na\r\n0\r\n\r\n", OK),
    ("pipelined", (b"GET /1 HTTP/1.1\r\n" + H + b"\r\n"
                   b"POST /2 HTTP/1.1\r\n" + H + b"Content-Length: 3\r\n\r\nabc"
                   b"POST /3 HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n"
                   b"GET /4?q=1 HTTP/1.1\r\n" + H + b"\r\n"), OK),
    ("percent-utf8", b"GET /caf%C3%A9/a%20b%2Fc HTTP/1.1\r\n" + H + b"\r\n", OK),
    ("percent-odd", b"GET /%zz/%4/%ff/%e9%/x%2 HTTP/1.1\r\n" + H + b"\r\n", OK),
    ("query", b"GET /search?q=a+b&x=%20#frag HTTP/1.1\r\n" + H + b"\r\n", OK),
    ("fragment", b"GET /p#frag HTTP/1.1\r\n" + H + b"\r\n", OK),
    ("odd-target-chars", b"GET /a\"<>{}|\\^`~ HTTP/1.1\r\n" + H + b"\r\n", OK),
    ("absolute-form", b"GET http://example.com/a/b?c=d HTTP/1.1\r\n" + H + b"\r\n", OK),
    ("absolute-form-no-path", b"GET http://example.com HTTP/1.1\r\n" + H + b"\r\n", OK),
    ("absolute-form-query-only", b"GET http://example.com?x=1 HTTP/1.1\r\n" + H + b"\r\n", OK),
    ("options-star", b"OPTIONS * HTTP/1.1\r\n" + H + b"\r\n", OK),
    ("other-methods", b"DELETE /a HTTP/1.1\r\n" + H + b"\r\nPATCH /b HTTP/1.1\r\n" + H
     + b"Content-Length: 1\r\n\r\nxM-SEARCH * HTTP/1.1\r\n" + H + b"\r\n", OK),
    ("http10", b"GET / HTTP/1.0\r\n\r\n", OK),
    ("http10-keep-alive-then-more", b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
     b"GET /2 HTTP/1.0\r\n\r\nGET /3 HTTP/1.1\r\n" + H + b"\r\n", OK),
    ("http10-body", b"POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi", OK),
    ("connection-close-then-more", b"GET / HTTP/1.1\r\n" + H + b"Connection: keep-alive, Close\r\n\r\n"
     b"GET /after HTTP/1.1\r\n" + H + b"\r\n", OK),
    # llhttp is replaced after a closing message, only once more bytes come
    ("connection-close-then-bodies", b"GET / HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n"
     b"POST /a HTTP/1.1\r\n" + H + b"Content-Length: 3\r\nConnection: close\r\n\r\nabc"
     b"POST /b HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", OK),
    ("expect-continue", b"POST / HTTP/1.1\r\n" + H + b"Expect: 100-Continue\r\n"
     b"Content-Length: 4\r\n\r\nbody", OK),
    ("expect-on-http10", b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nb", OK),
    ("upgrade-websocket", b"GET /ws HTTP/1.1\r\n" + H + b"Connection: Upgrade\r\nUpgrade: WebSocket\r\n"
     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
     b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58GET / HTTP/1.1\r\n", OK),
    ("upgrade-websocket-no-trailing", b"GET /ws HTTP/1.1\r\n" + H + b"Connection: upgrade\r\n"
     b"Upgrade: websocket\r\n\r\n", OK),
    ("upgrade-h2c-served-as-http", b"GET / HTTP/1.1\r\n" + H + b"Connection: Upgrade, HTTP2-Settings\r\n"
     b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
     b"GET /next HTTP/1.1\r\n" + H + b"\r\n", OK),
    ("upgrade-h2c-with-length-body", b"POST / HTTP/1.1\r\n" + H + b"Connection: Upgrade\r\n"
     b"Upgrade: h2c\r\nContent-Length: 5\r\n\r\nhelloGET /next HTTP/1.1\r\n" + H + b"\r\n", OK),
    ("upgrade-h2c-with-chunked-body", b"POST / HTTP/1.1\r\n" + H + b"Connection: Upgrade\r\n"
     b"Upgrade: h2c\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
     b"GET /next HTTP/1.1\r\n" + H + b"\r\n", OK),
    ("upgrade-header-without-connection", b"GET / HTTP/1.1\r\n" + H + b"Upgrade: websocket\r\n\r\n"
     b"GET /2 HTTP/1.1\r\n" + H + b"\r\n", OK),
    ("leading-empty-lines", b"\r\n\r\n\r\nGET / HTTP/1.1\r\n" + H + b"\r\n\r\n"
     b"GET /2 HTTP/1.1\r\n" + H + b"\r\n", OK),
    ("value-whitespace", b"GET / HTTP/1.1\r\n" + H + b"X-A:   spaced   \r\nX-B:\t\ttabbed\t \r\n"
     b"X-C:\r\nX-D: \t \r\nX-E:in  side\r\n\r\n", OK),
    ("obs-text", b"GET / HTTP/1.1\r\n" + H + b"X-Latin: caf\xe9 \x80\xff\r\n\r\n", OK),
    ("mixed-case-names", b"GET / HTTP/1.1\r\nHOST: a\r\nX-Mixed-CASE: V\r\ncontent-LENGTH: 2\r\n\r\nok", OK),
    ("content-length-ows", b"POST / HTTP/1.1\r\n" + H + b"Content-Length:  3 \t\r\n\r\nabc", OK),
    ("content-length-leading-zeros", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 003\r\n\r\nabc", OK),
    ("content-length-max", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 18446744073709551615\r\n\r\nab", OK),
    ("te-chunked-token-list", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", OK),
    ("many-headers", b"GET / HTTP/1.1\r\n" + H + b"".join(b"X-%d: %d\r\n" % (i, i) for i in range(40))
     + b"\r\n", OK),
    ("incomplete-head", b"GET / HTTP/1.1\r\n" + H + b"X-Partial: ye", OK),
    ("version-1-0-host-twice-ok", b"GET / HTTP/1.0\r\n\r\n", OK),
]

INVALID = [
    ("cl-and-te", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    ("te-and-cl", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400),
    ("duplicate-cl", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400),
    ("cl-list", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 3, 3\r\n\r\nabc", 400),
    ("cl-plus", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: +3\r\n\r\nabc", 400),
    ("cl-negative", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n", 400),
    ("cl-empty", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: \r\n\r\n", 400),
    ("cl-overflow", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 18446744073709551616\r\n\r\n", 400),
    ("bad-chunk-size", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400),
    ("chunk-data-too-long", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n", 400),
    ("te-gzip", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\n\r\n", 400),
    ("te-chunked-gzip", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked, gzip\r\n\r\n", 400),
    ("te-gzip-chunked", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
    ("te-duplicate", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    ("te-http10", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("value-nul", b"GET / HTTP/1.1\r\n" + H + b"X: a\x00b\r\n\r\n", 400),
    ("value-cr", b"GET / HTTP/1.1\r\n" + H + b"X: a\rb\r\n\r\n", 400),
    ("value-lf", b"GET / HTTP/1.1\r\n" + H + b"X: a\nb\r\n\r\n", 400),
    ("value-del", b"GET / HTTP/1.1\r\n" + H + b"X: a\x7fb\r\n\r\n", 400),
    ("value-ctl", b"GET / HTTP/1.1\r\n" + H + b"X: a\x01b\x1f\r\n\r\n", 400),
    ("value-esc", b"GET / HTTP/1.1\r\n" + H + b"X: \x1b[31m\r\n\r\n", 400),
    ("name-space", b"GET / HTTP/1.1\r\n" + H + b"Bad Name: v\r\n\r\n", 400),
    ("name-quote", b"GET / HTTP/1.1\r\n" + H + b"X\"y: v\r\n\r\n", 400),
    ("name-empty", b"GET / HTTP/1.1\r\n" + H + b": v\r\n\r\n", 400),
    ("name-non-ascii", b"GET / HTTP/1.1\r\n" + H + b"X\xe9: v\r\n\r\n", 400),
    ("no-colon", b"GET / HTTP/1.1\r\n" + H + b"NoColon\r\n\r\n", 400),
    ("space-before-colon", b"GET / HTTP/1.1\r\n" + H + b"X : v\r\n\r\n", 400),
    ("tab-before-colon", b"GET / HTTP/1.1\r\n" + H + b"X\t: v\r\n\r\n", 400),
    ("obs-fold", b"GET / HTTP/1.1\r\n" + H + b"X: a\r\n b\r\n\r\n", 400),
    ("obs-fold-tab", b"GET / HTTP/1.1\r\n" + H + b"X: a\r\n\tb\r\n\r\n", 400),
    ("leading-space-header", b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
    ("missing-host", b"GET / HTTP/1.1\r\nX: y\r\n\r\n", 400),
    ("two-hosts", b"GET / HTTP/1.1\r\n" + H + H + b"\r\n", 400),
    ("two-hosts-http10", b"GET / HTTP/1.0\r\n" + H + H + b"\r\n", 400),
    ("http20", b"GET / HTTP/2.0\r\n" + H + b"\r\n", 505),
    ("http12", b"GET / HTTP/1.2\r\n" + H + b"\r\n", 505),
    ("http30", b"GET / HTTP/3.0\r\n" + H + b"\r\n", 505),
    ("http09", b"GET / HTTP/0.9\r\n" + H + b"\r\n", 400),
    ("http-lowercase", b"GET / http/1.1\r\n" + H + b"\r\n", 400),
    ("http-two-digit", b"GET / HTTP/1.10\r\n" + H + b"\r\n", 400),
    ("http-letter", b"GET / HTTP/1.x\r\n" + H + b"\r\n", 400),
    ("space-in-target", b"GET /a b HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("double-space-request-line", b"GET  / HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("trailing-space-request-line", b"GET / HTTP/1.1 \r\n" + H + b"\r\n", 400),
    ("tab-in-target", b"GET /a\tb HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("non-ascii-target", b"GET /caf\xc3\xa9 HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("relative-target", b"GET foo HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("connect", b"CONNECT example.com:443 HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("unknown-method", b"FOO / HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("lowercase-method", b"get / HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("pri-preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),
    ("lone-lf-head", b"GET / HTTP/1.1\nHost: a\n\n", 400),
    ("lone-lf-one-line", b"GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", 400),
    ("lone-lf-before-request", b"\nGET / HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("lone-cr-before-request", b"\rGET / HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("lf-then-crlf-end", b"GET / HTTP/1.1\r\n" + H + b"\n\r\n", 400),
    ("garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
    ("valid-then-invalid", b"GET / HTTP/1.1\r\n" + H + b"\r\nGET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400),
    ("body-then-invalid", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 2\r\n\r\nokNOPE\r\n\r\n", 400),
]

MAX_HEAD = 4096
TOO_LARGE = [
    ("head-over-limit", b"GET / HTTP/1.1\r\n" + H + b"X-Big: " + b"a" * MAX_HEAD + b"\r\n\r\n", 431),
    ("endless-head", b"GET / HTTP/1.1\r\n" + H + b"X-Big: " + b"a" * (MAX_HEAD + 10), 431),
    ("second-head-over-limit", b"GET / HTTP/1.1\r\n" + H + b"\r\nGET / HTTP/1.1\r\n" + H
     + b"X-Big: " + b"a" * MAX_HEAD, 431),
]

CORPUS = VALID + INVALID
SMALL = [entry for entry in CORPUS if len(entry[1]) <= 400]


def run(ns, pieces, max_head_size=MAX_HEAD, upgrade_token=b"websocket", **limits):
    return parse_all(ns, pieces, max_head_size=max_head_size, upgrade_token=upgrade_token, **limits)


def splits(data):
    yield [data]
    for cut in range(1, len(data)):
        yield [data[:cut], data[cut:]]
    yield [data[i:i + 1] for i in range(len(data))]


def assert_same(data, expected, **kwargs):
    reference = run(PURE, [data], **kwargs)
    assert reference[0] == "ok" if expected == OK else reference == ("error", expected), reference
    for pieces in splits(data):
        assert run(COMPILED, pieces, **kwargs) == reference, pieces
        assert run(PURE, pieces, **kwargs) == reference, pieces


@pytest.mark.parametrize("data, expected", [pytest.param(d, e, id=i) for i, d, e in CORPUS])
def test_parsers_agree(data, expected):
    assert_same(data, expected)


@pytest.mark.parametrize("data, expected", [pytest.param(d, e, id=i) for i, d, e in TOO_LARGE])
def test_head_limit_agrees(data, expected):
    reference = run(PURE, [data])
    assert reference == ("error", expected)
    assert run(COMPILED, [data]) == reference
    assert run(COMPILED, [data[:100], data[100:]]) == reference
    chunks = [data[i:i + 7] for i in range(0, len(data), 7)]
    assert run(COMPILED, chunks) == reference
    assert run(PURE, chunks) == reference


@pytest.mark.parametrize("ns", TWINS)
def test_head_limit_is_inclusive(ns):
    """A head of S bytes (final CRLFCRLF included) is accepted iff S <= max_head_size."""
    head = b"GET / HTTP/1.1\r\n" + H + b"X-Pad: " + b"p" * 100 + b"\r\n\r\n"
    size = len(head)
    blank = b"\r\n\r\n"  # empty lines before a request do not count
    for pieces in ([blank + head], [blank + head[:50], head[50:]], [bytes([b]) for b in blank + head]):
        assert run(ns, pieces, max_head_size=size)[0] == "ok"
        assert run(ns, pieces, max_head_size=size - 1) == ("error", 431)
    # the limit applies to each head of a pipeline on its own
    assert run(ns, [head * 3], max_head_size=size)[0] == "ok"
    # an incomplete head is refused as soon as it holds more than the limit
    assert run(ns, [head[:-1]], max_head_size=size - 2) == ("error", 431)
    assert run(ns, [head[:-1]], max_head_size=size - 1)[0] == "ok"


@pytest.mark.parametrize("ns", TWINS)
def test_request_line_limit_is_inclusive(ns):
    """A request line of L bytes (CRLF excluded) is accepted iff L <= max_request_line,
    however the stream is split: the compiled twin skips runs of plain bytes
    at once, and must stop at the same byte as one that looks at each."""
    line = b"GET /" + b"p" * 40 + b" HTTP/1.1"
    head = line + b"\r\n" + H + b"X-Pad: " + b"v" * 60 + b"\r\n\r\n"
    for pieces in ([head], [head[:20], head[20:]], [head[:len(line)], head[len(line):]],
                   [bytes([b]) for b in head]):
        assert run(ns, pieces, max_request_line=len(line))[0] == "ok"
        assert run(ns, pieces, max_request_line=len(line) - 1) == ("error", 414)
        # the head limit inside a header line, before its CR
        assert run(ns, pieces, max_head_size=len(head) - 10) == ("error", 431)
    # an incomplete request line is refused once it is longer than the limit
    assert run(ns, [line[:30]], max_request_line=29) == ("error", 414)
    assert run(ns, [line[:30]], max_request_line=30)[0] == "ok"


def test_corpus_chunked_across_both_twins_small_pieces():
    """Random-ish piece sizes over the whole corpus glued into one stream per entry."""
    for _, data, _ in SMALL:
        for size in (2, 3, 5, 13):
            pieces = [data[i:i + size] for i in range(0, len(data), size)]
            assert run(COMPILED, pieces) == run(PURE, pieces), (data, size)


def test_upgrade_trailing_and_later_feeds():
    data = (b"GET /ws HTTP/1.1\r\n" + H + b"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\nABC")
    for ns in (PURE, COMPILED):
        parser = new_parser(ns, b"websocket", max_head_size=MAX_HEAD)
        events = parser.feed(data)
        assert [type(e).__name__ for e in events] == ["RequestHead", "NoneType"]
        assert events[0].upgrade == b"websocket"
        assert parser.trailing == b"ABC"
        assert parser.feed(b"DEF") == []
        assert parser.trailing == b"ABCDEF"
        # with no upgrade token configured the same request is plain HTTP
        parser = new_parser(ns, None, max_head_size=MAX_HEAD)
        events = parser.feed(data[:-3] + b"GET / HTTP/1.1\r\n" + H + b"\r\n")
        assert [type(e).__name__ for e in events] == ["RequestHead", "NoneType"] * 2
        assert parser.trailing is None


def test_head_types():
    data = b"GET /a%20b?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"
    for ns in (PURE, COMPILED):
        head = new_parser(ns).feed(data)[0]
        assert isinstance(head, ns.RequestHead)
        assert head_fields(head) == ("GET", "/a b", b"/a%20b", b"x=1", [(b"host", b"h")], "1.1",
                                     True, False, None, False)
        assert type(head.keep_alive) is bool and repr(head) == "RequestHead(GET b'/a%20b' HTTP/1.1)"


@pytest.mark.parametrize("header, proxied", [
    *((name.title() + b": x", True) for name in ForwardedPolicy.HEADERS),  # every header the policy reads
    (b"x-forwarded-proto: https", True),
    (b"X-Forwarded-Host: example.com", False),  # not one the proxy-headers policy reads
    (b"Forwarded: for=10.0.0.1", False),
    (b"X-Forwarded-Fo: 10.0.0.1", False),
])
def test_head_tells_whether_forwarding_headers_came(header, proxied):
    # The protocol skips the proxy-headers policy for a head without them.
    data = b"GET / HTTP/1.1\r\nHost: h\r\n" + header + b"\r\n\r\n"
    for ns in (PURE, COMPILED):
        head = new_parser(ns).feed(data)[0]
        assert head.proxied is proxied


def test_one_letter_header_names_leave_the_interpreters_bytes_alone():
    """CPython shares one bytes object per single byte: lower-casing a
    one-letter header name must make a new object, not change that one."""
    letters = bytes(range(65, 91))
    data = b"GET / HTTP/1.1\r\n" + H + b"".join(bytes([c]) + b": v\r\n" for c in letters) + b"\r\n"
    for ns in (PURE, COMPILED):
        head = new_parser(ns).feed(data)[0]
        assert [name for name, _ in head.headers[1:]] == [bytes([c + 32]) for c in letters]
        assert [bytes([c]) for c in letters] == [letters[i:i + 1] for i in range(26)]
        assert b"".join(bytes([c]) for c in letters) == letters


@pytest.mark.parametrize("target", [b"/", b"*", b"/a/b?c=d&e", b"/%C3%A9%2F?q", b"/%zz%4%", b"/%ff%fe",
                                    b"http://h", b"http://h/p?q", b"http://h?q", b"https://h:1/x#f",
                                    b"/p#f?x", b"/?", b"//double"])
def test_split_target_agrees(target):
    assert COMPILED.split_target(target) == PURE.split_target(target)


@pytest.mark.parametrize("target", [b"foo", b"://x", b""])
def test_split_target_rejects(target):
    for ns in (PURE, COMPILED):
        with pytest.raises(HttpParseError) as info:
            ns.split_target(target)
        assert info.value.status_code == 400


@pytest.mark.parametrize("headers, http11", [
    ([(b"host", b"a")], True),
    ([(b"host", b"a"), (b"connection", b"Keep-Alive, CLOSE")], True),
    ([(b"host", b"a"), (b"connection", b"upgrade"), (b"upgrade", b"WebSocket")], True),
    ([(b"host", b"a"), (b"upgrade", b"websocket")], True),
    ([(b"expect", b"100-continue")], False),
    ([(b"host", b"a"), (b"expect", b"100-Continue")], True),
    ([(b"host", b"a"), (b"transfer-encoding", b"gzip, chunked")], True),
    ([(b"host", b"a"), (b"transfer-encoding", b"gzip")], True),
    ([(b"host", b"a"), (b"content-length", b"99999999999999999999")], True),
    ([(b"host", b"a"), (b"content-length", b"00000000000000000000001")], True),
    ([(b"host", b"a"), (b"content-length", b"1"), (b"content-length", b"1")], True),
    ([], True),
    ([], False),
])
def test_check_request_headers_agrees(headers, http11):
    def outcome(ns):
        try:
            return ns.check_request_headers(headers, http11)
        except HttpParseError as exc:
            return ("error", exc.status_code)
    assert outcome(COMPILED) == outcome(PURE)


# -- chunked framing where h11 alone is laxer than llhttp ---------------------
# chunks.ChunkFraming, run by both parsers, holds chunk lines and trailers to llhttp's rules.
LAX_CHUNKED = [
    ("chunk-size-trailing-space", b"3 \r\nabc\r\n0\r\n\r\n"),
    ("chunk-lines-bare-lf", b"3\nabc\n0\n\n"),
    ("chunk-size-over-2-64", b"10000000000000000\r\nabc\r\n0\r\n\r\n"),
    ("chunk-ext-value-with-space", b"3;a=b c\r\nabc\r\n0\r\n\r\n"),
    ("chunk-trailer-obs-fold", b"3\r\nabc\r\n0\r\nX: y\r\n z\r\n\r\n"),
]


@pytest.mark.parametrize("body", [pytest.param(b, id=i) for i, b in LAX_CHUNKED])
def test_lax_chunked_framing_agrees(body):
    data = b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n" + body
    assert run(PURE, [data]) == run(COMPILED, [data])


@pytest.mark.parametrize("body", [pytest.param(b, id=i) for i, b in LAX_CHUNKED])
def test_lax_chunked_framing_rejected_by_compiled(body):
    data = b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n" + body
    assert run(COMPILED, [data]) == ("error", 400)


def _scan_bytewise(framing, data):
    """Where ChunkFraming finds the first bad byte, given `data` one byte at a time."""
    for offset in range(len(data)):
        if framing.scan(data, offset, offset + 1) >= 0:
            return offset
    return -1


CHUNKED_BODIES = [pytest.param(b, id=i) for i, b in LAX_CHUNKED] + [
    pytest.param(b"3\r\nabc\r\n0\r\n\r\n", id="plain"),
    pytest.param(b"3;a=b;c=\"d\\\"e\"\r\nabc\r\n0\r\nX-T: v\r\n\r\n", id="extensions-trailers"),
    pytest.param(b"3\r\nabc\r\n0\r\nContent-Length: 3\r\n\r\n", id="content-length-trailer"),
    pytest.param(b"3\r\nabc\r\n0\r\nTransfer-Encoding: x\r\n\r\n", id="transfer-encoding-trailer"),
    pytest.param(b"f" * 40 + b"\r\n", id="size-line-over-limit"),
    pytest.param(b"1\r\na\r\n0\r\n" + b"X: " + b"y" * 40 + b"\r\n\r\n", id="trailers-over-limit"),
]


@pytest.mark.parametrize("ns", TWINS)
@pytest.mark.parametrize("body", CHUNKED_BODIES)
def test_chunk_framing_is_split_independent(ns, body):
    """One ChunkFraming source, compiled and pure: the first bad byte and the
    reason are the same whether the body comes whole or byte by byte."""
    framing = ns.chunks.ChunkFraming
    whole, bytewise = framing(32), framing(32)
    at = whole.scan(body, 0, len(body))
    assert _scan_bytewise(bytewise, body) == at
    assert (whole.done(), str(whole.error), getattr(whole.error, "status_code", None)) == \
        (bytewise.done(), str(bytewise.error), getattr(bytewise.error, "status_code", None))
    pure = PURE.chunks.ChunkFraming(32)
    assert pure.scan(body, 0, len(body)) == at and str(pure.error) == str(whole.error)


# -- response side ------------------------------------------------------------
DATE = b"date: Thu, 01 Jan 2025 00:00:00 GMT\r\n"
SERVER = b"server: fastasgi\r\n"


@pytest.mark.parametrize("ns", TWINS)
def test_encode_response_headers(ns):
    block, length, flags = ns.encode_response_headers(
        [(b"Content-Type", b"text/plain"), (b"Content-Length", b" 12 "), (b"Date", b"x"),
         (b"SERVER", b"y"), (b"Connection", b"Close"),
         (bytearray(b"x-b"), memoryview(b"v\tw \x80"))])
    assert block == (b"Content-Type: text/plain\r\nContent-Length:  12 \r\nDate: x\r\nSERVER: y\r\n"
                     b"Connection: Close\r\nx-b: v\tw \x80\r\n")
    assert length == 12
    from fastasgi._speedups import headers as hd  # the one source of both twins (headers_c's flags are C constants)
    assert flags == hd.HAS_DATE | hd.HAS_SERVER | hd.CONNECTION_CLOSE
    block, length, flags = ns.encode_response_headers([(b"Transfer-Encoding", b"Chunked")])
    assert (block, length, flags) == (b"Transfer-Encoding: Chunked\r\n", -1, hd.CHUNKED)
    assert ns.encode_response_headers([]) == (b"", -1, 0)
    assert ns.encode_response_headers([(b"a", b"")]) == (b"a: \r\n", -1, 0)


@pytest.mark.parametrize("ns", TWINS)
@pytest.mark.parametrize("header", [
    (b"x", b"a\rb"), (b"x", b"a\nb"), (b"x", b"a\x00b"), (b"x", b"\x7f"), (b"x", b"\x1b"),
    (b"", b"v"), (b"bad name", b"v"), (b"x:y", b"v"), (b"x\xe9", b"v"), (b"x\r\n", b"v"),
    (b"content-length", b"abc"), (b"content-length", b"-1"), (b"content-length", b""),
])
def test_encode_response_headers_rejects(ns, header):
    with pytest.raises(ValueError):
        ns.encode_response_headers([header])


CHUNKED, CODED = _speedups.headers.CHUNKED, _speedups.headers.TRANSFER_CODED


@pytest.mark.parametrize("ns", TWINS)
@pytest.mark.parametrize("headers, expected", [
    # RFC 9112 6.1: chunked must be the final coding; the list runs across header lines.
    ([b"chunked"], CHUNKED), ([b"Chunked"], CHUNKED), ([b"gzip, chunked"], CHUNKED),
    ([b"gzip", b"chunked"], CHUNKED), ([b" gzip ,\tchunked "], CHUNKED),
    ([b"gzip"], CODED), ([b"gzip, deflate"], CODED),
    ([b"chunked, gzip"], ValueError), ([b"chunked", b"gzip"], ValueError), ([b"chunked, chunked"], ValueError),
    ([b"chunked", b"chunked"], ValueError), ([b""], ValueError), ([b" , "], ValueError),
])
def test_response_transfer_codings(ns, headers, expected):
    """Both twins make one framing decision from the app's Transfer-Encoding lines."""
    pairs = [(b"transfer-encoding", value) for value in headers]
    if expected is ValueError:
        with pytest.raises(ValueError):
            ns.encode_response_headers(pairs)
    else:
        assert ns.encode_response_headers(pairs)[2] == expected
    # never both framings: a Content-Length beside any Transfer-Encoding cannot be honoured
    for first in (True, False):
        both = [(b"content-length", b"5"), *pairs] if first else [*pairs, (b"content-length", b"5")]
        with pytest.raises(ValueError):
            ns.encode_response_headers(both)
        with pytest.raises(ValueError):  # the converting path (not all bytes) decides the same
            ns.encode_response_headers([(bytearray(name), value) for name, value in both])


@pytest.mark.parametrize("ns", TWINS)
@pytest.mark.parametrize("http11", [True, False])
def test_response_encoder_frames_as_its_headers_say(ns, http11):
    def frame(headers, body=b"hello", more_body=False):
        encoder = ns.ResponseEncoder(False, http11, True)
        data = encoder.encode_head(200, headers, body, more_body, b"", b"", b"")
        return data, encoder.keep_alive
    data, keep_alive = frame([(b"transfer-encoding", b"gzip, chunked")])
    if http11:  # chunked last: chunked by the server, kept alive
        assert data.endswith(b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n") and keep_alive
    else:  # HTTP/1.0: no transfer codings at all; framed by length
        assert b"transfer-encoding" not in data and b"content-length: 5" in data and keep_alive
    data, keep_alive = frame([(b"transfer-encoding", b"gzip")], more_body=True)
    head = data.partition(b"\r\n\r\n")[0]
    assert not keep_alive and b"content-length" not in head and data.endswith(b"\r\n\r\nhello")
    assert (b"transfer-encoding: gzip" in head) == http11


@pytest.mark.parametrize("value", [
    b"0", b"13", b"007", b" 13 ", b"\t7\t", b"9" * 18, b"9" * 19, b"9" * 25, b"1_3", b"+3", b"1 3",
    b"3.0", b"\xd9\xa3",
])
def test_response_content_length_values_agree(value):
    # The compiled twin reads short plain numbers itself and leaves the rest
    # to Python's int(): both twins give the same length or the same error.
    def outcome(ns):
        try:
            return ns.encode_response_headers([(b"content-length", value)])[1]
        except ValueError:
            return "rejected"
    pure, compiled = outcome(PURE), outcome(COMPILED)
    assert pure == compiled
    assert pure == (int(value) if value.strip().isdigit() else "rejected")


@pytest.mark.parametrize("ns", TWINS)
def test_encode_response_headers_types(ns):
    with pytest.raises(TypeError):
        ns.encode_response_headers([("x", b"v")])
    with pytest.raises(ValueError):
        ns.encode_response_headers([(b"content-length", b"1"), (b"Content-Length", b"1")])


@pytest.mark.parametrize("ns", TWINS)
def test_encode_response_headers_order_and_iterables(ns):
    # Any iterable of pairs, and the first bad header decides the error
    # whatever types come after it.
    pairs = [(b"a", b"1"), [b"b", b"2"]]
    assert ns.encode_response_headers(iter(pairs)) == (b"a: 1\r\nb: 2\r\n", -1, 0)
    assert ns.encode_response_headers(tuple(pairs)) == (b"a: 1\r\nb: 2\r\n", -1, 0)
    with pytest.raises(ValueError):
        ns.encode_response_headers([(bytearray(b"x"), b"bad\n"), (1, b"v")])
    with pytest.raises(ValueError):
        ns.encode_response_headers([(b"x", b"bad\n"), ("str", b"v")])
    with pytest.raises(TypeError):
        ns.encode_response_headers([(b"x", b"ok"), (1, b"bad\n")])


@pytest.mark.parametrize("ns", TWINS)
def test_a_closed_parser_is_freed_without_the_garbage_collector(ns):
    # A connection's parser must not be part of a reference cycle once
    # closed: else every connection leaves work for the cyclic GC.
    requests = (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
                b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
    while gc.collect():  # earlier tests' garbage (and what its finalizers leave) out of the count
        pass
    gc.disable()
    try:
        for _ in range(20):
            parser = new_parser(ns, b"websocket", max_head_size=65536)
            assert parser.feed(requests)
            parser.close()
            del parser
        assert gc.collect() == 0
    finally:
        gc.enable()


@pytest.mark.parametrize("ns", TWINS)
def test_bytes_received_counts_every_byte_fed(ns):
    parser = new_parser(ns, b"websocket", max_head_size=65536)
    upgrade = b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    parser.feed(upgrade + b"frame")
    parser.feed(bytearray(b"more"))  # after the upgrade: the next protocol's, still counted
    assert parser.trailing == b"framemore"
    assert parser.bytes_received == len(upgrade) + 9


@pytest.mark.parametrize("ns", TWINS)
def test_feed_after_close_is_an_error(ns):
    parser = new_parser(ns, b"websocket", max_head_size=65536)
    parser.close()
    with pytest.raises(RuntimeError):
        parser.feed(b"GET / HTTP/1.1\r\n")


def test_chunk_end_is_exported_by_both():
    from fastasgi._speedups import response, response_c
    assert response_c.CHUNK_END == response.CHUNK_END == b"0\r\n\r\n"


@pytest.mark.parametrize("ns", TWINS)
def test_status_line(ns):
    assert ns.status_line(200) == b"HTTP/1.1 200 OK\r\n"
    assert ns.status_line(404) == b"HTTP/1.1 404 Not Found\r\n"
    assert ns.status_line(599) == b"HTTP/1.1 599 \r\n"
    assert ns.status_line(101) == b"HTTP/1.1 101 Switching Protocols\r\n"
    for bad in (99, 1000, "200", None):
        with pytest.raises(ValueError):
            ns.status_line(bad)


def encode(ns, status=200, headers=(), body=b"", more_body=False, head_request=False,
           http11=True, keep_alive=True):
    encoder = ns.ResponseEncoder(head_request, http11, keep_alive)
    data = encoder.encode_head(status, list(headers), body, more_body, b"x-default: 1\r\n", DATE, SERVER)
    return encoder, data


def state(encoder):
    return (encoder.head_request, encoder.http11, encoder.keep_alive, encoder.chunked,
            encoder.remaining, encoder.no_body, encoder.started, encoder.complete)


FRAMING_CASES = [
    # (status, headers, body, more_body, head_request, http11)
    (200, [], b"x" * 20000, False, False, True),
    (200, [], b"x" * 20000, True, False, True),
    (200, [], b"x" * 20000, True, False, False),
    (200, [(b"content-length", b"20000")], b"x" * 20000, False, False, True),
    (200, [(b"transfer-encoding", b"chunked")], b"abc", True, False, False),
    (200, [], b"abc", False, True, True),
    (204, [], b"", False, False, True),
]


@pytest.mark.parametrize("ns", TWINS)
@pytest.mark.parametrize("case", FRAMING_CASES)
def test_frame_head_then_body_is_encode_head(ns, case):
    # The protocol writes a large first chunk beside its head: the bytes and
    # the encoder's state must be the same as from encode_head.
    status, headers, body, more_body, head_request, http11 = case
    whole = ns.ResponseEncoder(head_request, http11, True)
    expected = whole.encode_head(status, list(headers), body, more_body, b"", DATE, SERVER)
    split = ns.ResponseEncoder(head_request, http11, True)
    head = split.frame_head(status, list(headers), body, more_body, b"", DATE, SERVER)
    assert head.endswith(b"\r\n\r\n")
    assert head + split.encode_body(body, more_body) == expected
    assert state(split) == state(whole)


@pytest.mark.parametrize("ns", TWINS)
def test_a_restarted_encoder_frames_like_a_new_one(ns):
    """A connection's encoder is reused, start() per response: whatever the
    response before left behind (chunked, HEAD, broken, close), the next one
    must be framed as by a new encoder."""
    reused = ns.ResponseEncoder(False, True, True)
    for case in FRAMING_CASES + [(200, [(b"connection", b"close")], b"bye", False, False, True)]:
        status, headers, body, more_body, head_request, http11 = case
        reused.start(head_request, http11, True)
        fresh = ns.ResponseEncoder(head_request, http11, True)
        expected = fresh.encode_head(status, list(headers), body, more_body, b"", DATE, SERVER)
        assert reused.encode_head(status, list(headers), body, more_body, b"", DATE, SERVER) == expected
        assert state(reused) == state(fresh)
        if more_body:
            assert reused.encode_body(b"end", False) == fresh.encode_body(b"end", False)
            assert state(reused) == state(fresh)
    broken = ns.ResponseEncoder(False, True, True)
    broken.encode_head(200, [(b"content-length", b"2")], b"a", True, b"", DATE, SERVER)
    with pytest.raises(ValueError):
        broken.encode_body(b"bcd", False)
    broken.start(False, True, True)
    assert state(broken) == state(ns.ResponseEncoder(False, True, True))


@pytest.mark.parametrize("ns", TWINS)
def test_response_whole_body_gets_content_length(ns):
    encoder, data = encode(ns, body=b"hello", headers=[(b"content-type", b"text/plain")])
    # uvicorn's order: date, server, the --header lines, then the app's headers.
    assert data == (b"HTTP/1.1 200 OK\r\n" + DATE + SERVER + b"x-default: 1\r\ncontent-type: text/plain\r\n"
                    + b"content-length: 5\r\n\r\nhello")
    assert state(encoder) == (False, True, True, False, 0, False, True, True)
    with pytest.raises(ValueError):
        encoder.encode_body(b"", False)


@pytest.mark.parametrize("ns", TWINS)
def test_response_declared_length(ns):
    encoder, data = encode(ns, headers=[(b"Content-Length", b"6")], body=b"abc", more_body=True)
    assert data.endswith(DATE + SERVER + b"x-default: 1\r\nContent-Length: 6\r\n\r\nabc")
    assert not encoder.complete and encoder.remaining == 3
    assert encoder.encode_body(memoryview(b"de"), True) == b"de"
    assert encoder.encode_body(bytearray(b"f"), False) == b"f"
    assert encoder.complete
    # longer and shorter than declared
    encoder, _ = encode(ns, headers=[(b"content-length", b"2")], body=b"a", more_body=True)
    with pytest.raises(ValueError, match="longer"):
        encoder.encode_body(b"bc", True)
    encoder, _ = encode(ns, headers=[(b"content-length", b"2")], body=b"a", more_body=True)
    with pytest.raises(ValueError, match="shorter"):
        encoder.encode_body(b"", False)
    with pytest.raises(ValueError, match="longer"):
        encode(ns, headers=[(b"content-length", b"1")], body=b"ab")


@pytest.mark.parametrize("ns", TWINS)
def test_response_chunked_streaming(ns):
    encoder, data = encode(ns, body=b"hello", more_body=True)
    assert data.endswith(b"x-default: 1\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n")
    assert encoder.chunked and encoder.keep_alive and not encoder.complete
    assert encoder.encode_body(b"", True) == b""
    assert encoder.encode_body(b"x" * 26, True) == b"1a\r\n" + b"x" * 26 + b"\r\n"
    assert encoder.encode_body(b"!", False) == b"1\r\n!\r\n0\r\n\r\n"
    assert encoder.complete
    encoder, _ = encode(ns, more_body=True)
    assert encoder.encode_body(b"", False) == b"0\r\n\r\n"
    # the app's own chunked header: no second one is added
    encoder, data = encode(ns, headers=[(b"transfer-encoding", b"chunked")], body=b"ab", more_body=True)
    assert data.count(b"ransfer-encoding") == 1 and data.endswith(b"\r\n\r\n2\r\nab\r\n")


@pytest.mark.parametrize("ns", TWINS)
@pytest.mark.parametrize("status, head_request", [(204, False), (304, False), (200, True), (101, False),
                                                  (199, False)])
def test_response_without_body(ns, status, head_request):
    encoder, data = encode(ns, status=status, head_request=head_request, body=b"ignored",
                           headers=[(b"content-length", b"7")] if head_request else [])
    assert data.endswith(b"\r\n\r\n") and b"ignored" not in data
    assert b"transfer-encoding" not in data and b"content-length: " not in data.lower().replace(
        b"content-length: 7", b"")
    assert encoder.no_body and encoder.complete
    encoder, data = encode(ns, status=status, head_request=head_request, body=b"x", more_body=True)
    assert not encoder.complete and encoder.encode_body(b"more", False) == b""
    assert encoder.complete


@pytest.mark.parametrize("ns", TWINS)
def test_response_http10_streaming_closes(ns):
    encoder, data = encode(ns, http11=False, body=b"part", more_body=True)
    assert encoder.keep_alive is False and not encoder.chunked
    assert data.endswith(b"x-default: 1\r\nconnection: close\r\n\r\npart")
    assert encoder.encode_body(b"rest", False) == b"rest" and encoder.complete
    # HTTP/1.0 with the whole body: length-framed, keep-alive left alone
    encoder, data = encode(ns, http11=False, body=b"all")
    assert encoder.keep_alive is True and data.endswith(b"content-length: 3\r\n\r\nall")


@pytest.mark.parametrize("ns", TWINS)
def test_response_connection_close(ns):
    encoder, data = encode(ns, headers=[(b"Connection", b"close")], body=b"x")
    assert encoder.keep_alive is False and data.count(b"onnection") == 1
    encoder, data = encode(ns, keep_alive=False, body=b"x")
    assert data.endswith(b"content-length: 1\r\nconnection: close\r\n\r\nx")
    encoder.keep_alive = True  # the protocol writes this attribute
    assert encoder.keep_alive is True


@pytest.mark.parametrize("ns", TWINS)
def test_response_date_server_only_when_missing(ns):
    _, data = encode(ns, headers=[(b"Date", b"mine"), (b"server", b"me")])
    assert DATE not in data and SERVER not in data
    assert b"Date: mine\r\n" in data and b"server: me\r\n" in data
    _, data = encode(ns, headers=[(b"DATE", b"mine")])
    assert DATE not in data and SERVER in data
    _, data = encode(ns, headers=[(b"Server", b"me")])
    assert DATE in data and SERVER not in data


@pytest.mark.parametrize("ns", TWINS)
def test_response_errors(ns):
    with pytest.raises(ValueError):
        encode(ns, headers=[(b"x", b"a\r\nSet-Cookie: evil")])
    with pytest.raises(ValueError):
        encode(ns, status=42)


@pytest.mark.parametrize("case", range(6))
def test_response_twins_byte_identical(case):
    cases = [
        dict(status=200, headers=[(b"a", b"b")], body=b"xyz"),
        dict(status=201, headers=[(b"content-length", b"3")], body=b"xyz"),
        dict(status=500, body=b"x", more_body=True),
        dict(status=404, body=b"x", more_body=True, http11=False),
        dict(status=204, body=b""),
        dict(status=200, body=b"", head_request=True, keep_alive=False),
    ]
    pure_encoder, pure_data = encode(PURE, **cases[case])
    compiled_encoder, compiled_data = encode(COMPILED, **cases[case])
    assert compiled_data == pure_data
    assert state(compiled_encoder) == state(pure_encoder)


# -- flow control ---------------------------------------------------------------
class FakeTransport:
    def __init__(self):
        self.calls = []
        self.closing = False

    def pause_reading(self):
        self.calls.append("pause")

    def resume_reading(self):
        self.calls.append("resume")

    def is_closing(self):
        return self.closing


@pytest.mark.parametrize("ns", TWINS)
def test_flow_read_water_marks(ns):
    from fastasgi._speedups import flow  # the one source of both twins (flow_c's are C constants)
    high, low = flow.READ_HIGH_WATER, flow.READ_LOW_WATER
    transport = FakeTransport()
    flow = ns.FlowControl(transport)
    flow.body_received(high)
    assert transport.calls == [] and flow.buffered == high and not flow.read_paused
    flow.body_received(1)
    assert transport.calls == ["pause"] and flow.read_paused
    flow.body_received(10)
    assert transport.calls == ["pause"]
    flow.body_consumed(high + 11 - low - 1)
    assert transport.calls == ["pause"] and flow.read_paused
    flow.body_consumed(1)
    assert transport.calls == ["pause", "resume"] and not flow.read_paused and flow.buffered == low
    # explicit pause/resume are idempotent; no resume on a closing transport
    flow.pause_reading()
    flow.pause_reading()
    transport.closing = True
    flow.resume_reading()
    flow.resume_reading()
    assert transport.calls == ["pause", "resume", "pause"] and not flow.read_paused


@pytest.mark.parametrize("ns", TWINS)
def test_flow_drain(ns):
    async def main():
        flow = ns.FlowControl(FakeTransport())
        await flow.drain()  # not paused: returns at once
        flow.pause_writing()
        assert flow.write_paused
        waiters = [asyncio.ensure_future(flow.drain()) for _ in range(2)]
        await asyncio.sleep(0)
        assert not any(w.done() for w in waiters)
        flow.resume_writing()
        await asyncio.wait_for(asyncio.gather(*waiters), 1)
        assert not flow.write_paused
        flow.pause_writing()
        waiter = asyncio.ensure_future(flow.drain())
        await asyncio.sleep(0)
        flow.connection_lost(None)
        await asyncio.wait_for(waiter, 1)
        assert not flow.write_paused
        flow.resume_writing()  # nothing waiting: no error
    asyncio.run(main())


# (headers, more_body of the first piece) for each framing: length, chunked, close-delimited, no body
FRAMINGS = [
    pytest.param([(b"content-length", b"6")], True, {}, id="length"),
    pytest.param([], True, {}, id="chunked"),
    pytest.param([], True, {"http11": False}, id="close-delimited"),
    pytest.param([], True, {"head_request": True}, id="no-body"),
]


@pytest.mark.parametrize("ns", TWINS)
@pytest.mark.parametrize("headers, more_body, options", FRAMINGS)
def test_frame_file_frames_as_encode_body_does(ns, headers, more_body, options):
    """A body sent as a file (frame_file's prefix and suffix around its bytes)
    reaches the wire as the same bytes as through encode_body."""
    pieces = [(b"ab", True), (b"", True), (b"cdef", False)]
    as_body, _ = encode(ns, headers=headers, body=b"", more_body=more_body, **options)
    as_file, _ = encode(ns, headers=headers, body=b"", more_body=more_body, **options)
    for piece, more in pieces:
        prefix, suffix = as_file.frame_file(len(piece), more)
        sent = prefix + (b"" if as_file.no_body else piece) + suffix
        assert sent == as_body.encode_body(piece, more)
        assert (as_file.complete, as_file.remaining) == (as_body.complete, as_body.remaining)
    assert as_file.complete
    with pytest.raises(ValueError, match="already complete"):
        as_file.frame_file(1, False)


@pytest.mark.parametrize("ns", TWINS)
def test_frame_file_counts_against_content_length(ns):
    encoder, _ = encode(ns, headers=[(b"content-length", b"4")], body=b"", more_body=True)
    with pytest.raises(ValueError, match="longer"):
        encoder.frame_file(5, True)
    encoder, _ = encode(ns, headers=[(b"content-length", b"4")], body=b"", more_body=True)
    assert encoder.frame_file(3, True) == (b"", b"")
    with pytest.raises(ValueError, match="shorter"):
        encoder.frame_file(0, False)


@pytest.mark.parametrize("ns", TWINS)
def test_byteloops_joins(ns):
    loops = ns.byteloops
    assert loops.concat([b"ab", b"", b"c"]) == b"abc" and loops.concat([]) == b""
    with pytest.raises(TypeError):
        loops.concat([b"a", None])
    headers = [(b"a", b"1"), (b"Content-Type", b"")]
    assert loops.header_lines(headers, 22) == b"a: 1\r\nContent-Type: \r\n"
    assert loops.header_lines((), 0) == b""
    for wrong in (21, 23, 0):
        with pytest.raises(ValueError):
            loops.header_lines(headers, wrong)
    for size in (0, 7, 10, 2**40, 2**63 - 1):
        assert loops.content_length_line(size) == b"content-length: %d\r\n" % size


# -- the head grammar, one source for both parsers ------------------------------
HEADS = [
    (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", True),
    (b"POST /x?y HTTP/1.0\r\n\r\n", False),
    (b"HEAD * HTTP/1.1\r\nA:\r\nB: \t\x80v\r\n\r\n", True),
    (b"M-SEARCH * HTTP/1.1\r\n\r\n", True),
    (b"GET  / HTTP/1.1\r\n\r\n", ("Invalid request line", 400)),
    (b"GET / HTTP/1.1 \r\n\r\n", ("Invalid request line", 400)),
    (b"GET / HTTP/11\r\n\r\n", ("Invalid request line", 400)),
    (b"GET / HTTP/1.1\r\nA : b\r\n\r\n", ("Invalid header line", 400)),
    (b"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", ("Invalid header line", 400)),  # obs-fold
    (b"GET / HTTP/1.1\r\nA: b\x00\r\n\r\n", ("Invalid header line", 400)),
    (b"GET / HTTP/1.1\r\n\rA: b\r\n\r\n", ("Invalid header line", 400)),
    # the grammar, then the method, then the version, then CONNECT
    (b"BREW / HTTP/1.1\r\nA : b\r\n\r\n", ("Invalid header line", 400)),
    (b"BREW / HTTP/2.0\r\n\r\n", ("Invalid method", 400)),
    (b"PRI * HTTP/2.0\r\n\r\n", ("Invalid method", 400)),
    (b"GET / HTTP/0.9\r\n\r\n", ("Invalid HTTP version", 400)),
    (b"GET / HTTP/1.2\r\n\r\n", ("Unsupported HTTP version", 505)),
    (b"CONNECT a:443 HTTP/2.0\r\n\r\n", ("Unsupported HTTP version", 505)),
    (b"CONNECT a:443 HTTP/1.1\r\n\r\n", ("CONNECT is not supported", 400)),
]


@pytest.mark.parametrize("ns", TWINS)
@pytest.mark.parametrize("head, expected", HEADS)
def test_check_head(ns, head, expected):
    try:
        result = ns.grammar.check_head(head)
    except HttpParseError as exc:
        result = (exc.reason, exc.status_code)
    assert result == expected
