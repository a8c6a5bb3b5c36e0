"""The head-end scanner (headscan.HeadScanner) both parsers stand on, and
the RequestLimits both take, driven directly on each twin.

The parsers' own tests (test_parser_agreement, test_parser_fuzz) check the
scanner through them; these pin what the parsers rely on: where the head
ends and starts in each piece, and which byte raises, however the stream
was split.
"""
import pytest

from fastasgi import _speedups
from fastasgi._speedups import HttpParseError
from fastasgi.config import Config, config_defaults

pytestmark = pytest.mark.timeout(30)

HEAD = b"GET /x HTTP/1.1\r\nHost: a\r\nAccept: b\r\n\r\n"


@pytest.fixture
def ns(implementation):
    """The hot-path stack of one twin (the compiled one skipped where it is not built)."""
    return _speedups.load(implementation)


def scanner(ns, max_head_size=1024, max_request_line=0, max_header_count=0):
    return ns.headscan.HeadScanner(max_head_size, max_request_line, max_header_count)


def scan_pieces(ns, stream, cuts, **limits):
    """Feed `stream` cut at `cuts`; what the parsers keep: the heads, as bytes, and the bytes after the last."""
    scan = scanner(ns, **limits)
    heads = []
    kept = bytearray()
    points = [0, *cuts, len(stream)]
    for a, b in zip(points, points[1:]):
        piece = stream[a:b]
        i = 0
        while i < len(piece):
            end = scan.scan(piece, i, len(piece))
            if scan.restarted:
                kept.clear()
            if end < 0:
                kept += piece[scan.head_start:]
                break
            heads.append(bytes(kept) + piece[scan.head_start:end])
            kept.clear()
            i = end
    return heads, bytes(kept)


def test_every_split_finds_the_same_heads(ns):
    stream = b"\r\n\r\n" + HEAD + b"\r\n" + HEAD + b"GET /"
    whole = scan_pieces(ns, stream, [])
    assert whole == ([HEAD, HEAD], b"GET /")  # the empty lines before a head are not part of it
    for cut in range(1, len(stream)):
        assert scan_pieces(ns, stream, [cut]) == whole, cut
    assert scan_pieces(ns, stream, list(range(1, len(stream)))) == whole  # one byte at a time


def test_a_lone_cr_waits_for_the_next_byte(ns):
    # A CR at the end of a piece: an empty line's (dropped) or the head's first byte (kept).
    assert scan_pieces(ns, b"\r\n" + HEAD, [1]) == ([HEAD], b"")
    assert scan_pieces(ns, b"\rGET", [1]) == ([], b"\rGET")
    scan = scanner(ns)
    assert scan.scan(b"\r", 0, 1) == -1 and scan.head_start == 0  # the caller keeps the CR ...
    assert scan.scan(b"\n" + HEAD, 0, len(HEAD) + 1) == len(HEAD) + 1
    assert scan.restarted and scan.head_start == 1  # ... and drops it: it was an empty line


@pytest.mark.parametrize("stream, limits, status, reason", [
    (HEAD, dict(max_head_size=len(HEAD) - 1), 431, "Request head too large"),
    (HEAD, dict(max_request_line=len(b"GET /x HTTP/1.1") - 1), 414, "Request line too long"),
    (HEAD, dict(max_header_count=1), 431, "Too many header fields"),
    (b"GET / HTTP/1.1\nHost: a\r\n\r\n", {}, 400, "Invalid line ending in request head"),
    (b"\n" + HEAD, {}, 400, "Invalid line ending in request head"),
])
def test_a_limit_raises_at_its_byte_in_any_split(ns, stream, limits, status, reason):
    for cuts in ([], [1], [len(stream) // 2], list(range(1, len(stream)))):
        with pytest.raises(HttpParseError) as caught:
            scan_pieces(ns, stream, cuts, **limits)
        assert (caught.value.status_code, str(caught.value)) == (status, reason)


def test_limits_at_the_edge_pass(ns):
    line = len(b"GET /x HTTP/1.1")
    assert scan_pieces(ns, HEAD, [], max_head_size=len(HEAD), max_request_line=line,
                       max_header_count=2) == ([HEAD], b"")


def test_config_builds_the_parsers_limits_from_its_options(implementation):
    http = "httptools" if implementation == "compiled" else "h11"
    config = Config("tests.process_apps:app", http=http, lifespan="off", limit_request_line=100,
                    limit_request_fields=7, limit_request_body=5000)
    config.load()
    limits, upgrade_token = config.parser_args
    assert isinstance(limits, _speedups.load(implementation).RequestLimits)
    assert (limits.max_head_size, limits.max_request_line, limits.max_header_count, limits.max_body_size) == (
        config_defaults()["limit_request_header_size"], 100, 7, 5000)
    assert upgrade_token == b"websocket"
    parser = config.hot_paths.RequestParser(*config.parser_args)
    assert parser.limits is limits
    with pytest.raises(HttpParseError) as caught:
        parser.feed(b"GET /" + b"a" * 100 + b" HTTP/1.1\r\n")
    assert caught.value.status_code == 414
