"""What both parsers take and make of a request head: its limits, a
RequestHead, its target split.

RequestLimits holds what a request may hold before a parser refuses it;
Config builds it once from its options (their one declaration).
RequestHead is the event a parser returns for a complete head, what the
ASGI scope is built from.  split_target takes the request target apart
(RFC 9112 3.2); an absolute-form target's host replaces the Host header
(absolute_form_host, replace_host).

This module is also compiled, unchanged, as request_c (request_c.pxd gives
it C types; see compiled.py): the compiled parser and protocol cimport
RequestHead, and the target is read as C bytes.
"""
from .errors import HttpParseError

# What the authority of an absolute-form target may hold (RFC 3986 3.2.2,
# no userinfo): unreserved, pct-encoded, sub-delims, ":" and IP-literal
# brackets.  The host goes into the scope as `host`: `a<b` must not.
AUTHORITY_CHARS = (b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                   b"-._~%!$&'()*+,;=:[]")


class RequestLimits:
    """What a request may hold before the parser refuses it; 0 means no limit
    (except for the head size, which always has one)."""

    __slots__ = ("max_head_size", "max_request_line", "max_header_count", "max_body_size")

    def __init__(self, max_head_size, max_request_line, max_header_count, max_body_size):
        self.max_head_size = max_head_size  # bytes of a head (and of a chunked body's trailers): 431
        self.max_request_line = max_request_line  # bytes of the request line, CRLF excluded: 414
        self.max_header_count = max_header_count  # field lines of a head: 431
        self.max_body_size = max_body_size  # bytes of a body: 413

    def __repr__(self):
        return (f"RequestLimits(max_head_size={self.max_head_size}, max_request_line={self.max_request_line}, "
                f"max_header_count={self.max_header_count}, max_body_size={self.max_body_size})")


class RequestHead:
    """One parsed request head: what the ASGI scope is built from."""

    __slots__ = ("method", "path", "raw_path", "query_string", "headers", "http_version",
                 "keep_alive", "expect_continue", "upgrade", "proxied")

    def __init__(self, method, path, raw_path, query_string, headers, http_version,
                 keep_alive, expect_continue, upgrade, proxied):
        self.method = method
        self.path = path
        self.raw_path = raw_path
        self.query_string = query_string
        self.headers = headers
        self.http_version = http_version
        self.keep_alive = keep_alive
        self.expect_continue = expect_continue
        self.upgrade = upgrade
        self.proxied = proxied  # X-Forwarded-For or -Proto came: see check_request_headers

    def __repr__(self):
        return f"RequestHead({self.method} {self.raw_path!r} HTTP/{self.http_version})"


def split_target(target):
    """Request target -> (path, raw_path, query_string), RFC 9112 section 3.2."""
    if len(target) == 0 or target[0] != 47:  # not "/..."
        if target == b"*":
            return "*", b"*", b""
        scheme_end = target.find(b"://")
        if scheme_end <= 0:
            raise HttpParseError("Invalid request target")
        # absolute-form (RFC 9112 3.2.2): an http(s) URI with a host and no
        # userinfo; the path starts after the authority
        if target[:scheme_end].lower() not in (b"http", b"https"):
            raise HttpParseError("Invalid request target scheme")
        slash = target.find(b"/", scheme_end + 3)
        query = target.find(b"?", scheme_end + 3)
        authority = target[scheme_end + 3:_authority_end(target, slash, query)]
        if not authority or authority.translate(None, AUTHORITY_CHARS):
            raise HttpParseError("Invalid request target authority")
        if slash < 0 or (0 <= query < slash):
            target = b"/" + (target[query:] if query >= 0 else b"")
        else:
            target = target[slash:]
    # origin-form, in one pass: the path ends at "?" (the query follows) or
    # at "#" (a fragment, dropped); "%" in it asks for percent-decoding
    p = target  # compiled: the bytes as a C array (request_c.pxd)
    n = len(target)
    path_end = n
    query_string = b""
    percent = False
    fragment = False
    for i in range(n):
        c = p[i]
        if c == 63:  # "?"
            query_string = target[i + 1:]
            if not fragment:
                path_end = i
            break
        if not fragment:
            if c == 35:  # "#"
                path_end = i
                fragment = True
            elif c == 37:  # "%"
                percent = True
    raw_path = target if path_end == n else target[:path_end]
    if percent:
        path = _percent_decode(raw_path)
    else:
        path = raw_path.decode("ascii")
    return path, raw_path, query_string


def _hex(c):
    """The value of the hex digit `c` (a byte value), or -1."""
    if 48 <= c <= 57:
        return c - 48
    c |= 0x20
    if 97 <= c <= 102:
        return c - 87
    return -1


def _percent_decode(raw):
    """urllib.parse.unquote() for an ASCII path, as one loop.

    Valid %XX escapes become bytes, anything else stays as written, and
    the result is decoded as UTF-8 with replacement characters: exactly
    what unquote() gives for ASCII input.
    """
    p = raw
    n = len(raw)
    out = bytearray(n)
    i = 0
    j = 0
    while i < n:
        if p[i] == 37 and i + 2 < n:
            hi = _hex(p[i + 1])
            lo = _hex(p[i + 2])
            if hi >= 0 and lo >= 0:
                out[j] = hi * 16 + lo
                j += 1
                i += 3
                continue
        out[j] = p[i]
        j += 1
        i += 1
    return out[:j].decode("utf-8", "replace")


def _authority_end(target, slash, query):
    end = len(target)
    if 0 <= slash < end:
        end = slash
    if 0 <= query < end:
        end = query
    return end


def absolute_form_host(target):
    """The authority of an absolute-form target (already validated), else None."""
    if target[:1] == b"/" or target == b"*":
        return None
    scheme_end = target.find(b"://")
    return target[scheme_end + 3:_authority_end(target, target.find(b"/", scheme_end + 3),
                                                target.find(b"?", scheme_end + 3))]


def replace_host(headers, host):
    """RFC 9112 3.2.2: the host of an absolute-form target wins over Host."""
    for i in range(len(headers)):
        if headers[i][0] == b"host":
            headers[i] = (b"host", host)
            return headers
    headers.append((b"host", host))
    return headers
