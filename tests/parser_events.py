"""A parser twin's answer to a byte stream, in a form both twins can be compared in.

Shared by the differential tests, the hypothesis properties and the atheris
harness (bench/fuzz_parser.py), so all three compare the same thing.
"""
from fastasgi._speedups import HttpParseError


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


def parse_all(ns, pieces, **limits):
    """Feed `pieces` to a new parser of twin `ns`.

    Returns ("ok", events, trailing) or ("error", status) for an HttpParseError.
    """
    parser = ns.RequestParser(**limits)
    events = []
    try:
        for piece in pieces:
            events.extend(parser.feed(piece))
    except HttpParseError as exc:
        return ("error", exc.status_code)
    return ("ok", normalize(events), parser.trailing)
