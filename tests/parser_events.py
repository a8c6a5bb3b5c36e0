"""A parser twin's answer to a byte stream, in a form both twins can be compared in.

Shared by the differential tests, the hypothesis properties and the atheris
harness (bench/fuzz_parser.py), so all three compare the same thing.
"""
from fastasgi._speedups import HttpParseError
from fastasgi.config import config_defaults

# Requests the fuzzers start from (the bounded one in tests/test_parser_fuzz.py
# and bench/fuzz_parser.py): every shape the two twins once disagreed on is here.
SEEDS = [
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /p?q=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;a=\"q\\\"\";b\r\nx\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nContent-Length: 5\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\t\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked, chunked\r\n\r\n0\r\n\r\n",
    b"GET http://h:1/x HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\nGET / HTTP/1.0\r\n\r\n",
    b"GET http://a<b/x?q HTTP/1.1\r\nHost: b\r\n\r\n",
    b"GET https://[::1]:8080?q HTTP/1.1\r\nHost: b\r\n\r\n",
    b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x80",
    b"\r\nPOST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
    b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\nBad\r\n\r\n",
]
# The tokens a request is made of (the atheris harness's dictionary too).
TOKENS = [b"GET ", b"POST ", b"HEAD ", b"CONNECT ", b"PRI ", b" HTTP/1.1\r\n", b" HTTP/1.0\r\n",
          b" HTTP/2.0\r\n", b"Host: h\r\n", b"Content-Length: ", b"Transfer-Encoding: chunked\r\n",
          b"Transfer-Encoding: gzip, chunked\r\n", b"Connection: close\r\n", b"Connection: upgrade\r\n",
          b"Upgrade: websocket\r\n", b"Expect: 100-continue\r\n", b"\r\n\r\n", b"\r\n", b"0\r\n\r\n",
          b";a=\"q\"", b"http://h", b"https://", b"://", b"%2F", b"\t", b"\x00", b"\xff", b"[", b"]", b"@",
          b"#", b"<", b"\\", b"^", b"`", b"{", b"|", b"}", b"\"", b"Content-Length: 0\r\n", b"chunked\t"]


def limits(ns, **changes):
    """Twin `ns`'s RequestLimits: Config's defaults (their one declaration), with `changes`."""
    defaults = config_defaults()
    values = dict(max_head_size=defaults["limit_request_header_size"],
                  max_request_line=defaults["limit_request_line"],
                  max_header_count=defaults["limit_request_fields"],
                  max_body_size=defaults["limit_request_body"] or 0)
    values.update(changes)
    return ns.RequestLimits(**values)


def new_parser(ns, upgrade_token=None, **changes):
    """A RequestParser of twin `ns` with Config's default limits but `changes`."""
    return ns.RequestParser(limits(ns, **changes), upgrade_token)


def head_fields(head):
    return (head.method, head.path, head.raw_path, head.query_string, list(head.headers),
            head.http_version, head.keep_alive, head.expect_continue, head.upgrade, head.proxied)


def normalize(events):
    """Heads as attribute tuples; consecutive body chunks joined (splits may differ)."""
    out = []
    for event in events:
        if type(event) is bytes:
            assert event, "empty body chunk"
            if out and type(out[-1]) is bytes:
                out[-1] += event
            else:
                out.append(event)
        elif event is None:
            out.append(None)
        else:
            out.append(("head", head_fields(event)))
    return out


def parse_all(ns, pieces, answered=False, **limits):
    """Feed `pieces` to a new parser of twin `ns`.

    Returns ("ok", events, trailing), or ("error", status) for an
    HttpParseError; with `answered`, ("error", status, the whole requests
    before it): those a server still answers, which the twins must agree on too.
    """
    parser = new_parser(ns, **limits)
    events = []
    try:
        for piece in pieces:
            events.extend(parser.feed(piece))
    except HttpParseError as exc:
        events.extend(exc.events)
        end = len(events)
        while end and events[end - 1] is not None:
            end -= 1
        if not answered:
            return ("error", exc.status_code)
        return ("error", exc.status_code, normalize(events[:end]))
    return ("ok", normalize(events), parser.trailing)
