"""Header normalization and validation, pure-Python twin of headers_c.pyx.

Request side: the policy checks that both parser twins apply to a parsed
head, so the compiled (llhttp) and pure (h11) parsers accept and reject
exactly the same requests.  Response side: validation and encoding of the
headers an application hands us.
"""
import re

from .errors import HttpParseError

# RFC 9110 token characters; a header name is one token.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Field values may hold visible ASCII, obs-text, space and tab: never CR, LF,
# NUL or other control characters (they are how response splitting works).
_BAD_VALUE_CHAR = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
# 2**64 - 1: the largest body length llhttp (the compiled parser) accepts.
_MAX_CONTENT_LENGTH = 0xFFFFFFFFFFFFFFFF


def check_request_headers(headers, http11):
    """Apply the framing and routing rules to a parsed request head.

    `headers` is the list of (lower-cased name, value) pairs.  Returns
    (keep_alive, expect_continue, upgrade, proxied) where upgrade is the
    lower-cased Upgrade token when the client asked to switch protocols,
    else None, and proxied tells whether an X-Forwarded-For or
    X-Forwarded-Proto header came (the proxy-headers policy has nothing to
    do without one).
    Raises HttpParseError for every shape that can smuggle requests.
    """
    hosts = 0
    content_length = None
    transfer_encoding = None
    keep_alive = http11
    expect_continue = False
    upgrade_value = None
    connection_upgrade = False
    proxied = False
    for name, value in headers:
        if name == b"host":
            hosts += 1
        elif name == b"content-length":
            if content_length is not None:
                raise HttpParseError("Duplicate Content-Length")
            if not value.isdigit():
                raise HttpParseError("Invalid Content-Length")
            if len(value) > 19 and int(value) > _MAX_CONTENT_LENGTH:
                raise HttpParseError("Content-Length too large")
            content_length = value
        elif name == b"transfer-encoding":
            if transfer_encoding is not None:
                raise HttpParseError("Duplicate Transfer-Encoding")
            transfer_encoding = value.lower()
        elif name == b"connection":
            for token in value.lower().split(b","):
                token = token.strip(b" \t")
                if token == b"close":
                    keep_alive = False
                elif token == b"upgrade":
                    connection_upgrade = True
        elif name == b"expect":
            if http11 and value.lower() == b"100-continue":
                expect_continue = True
        elif name == b"upgrade":
            upgrade_value = value
        elif name == b"x-forwarded-for" or name == b"x-forwarded-proto":
            proxied = True
    if http11:
        if hosts != 1:
            raise HttpParseError("HTTP/1.1 request needs exactly one Host header")
    elif hosts > 1:
        raise HttpParseError("Duplicate Host header")
    if transfer_encoding is not None:
        if content_length is not None:
            raise HttpParseError("Content-Length together with Transfer-Encoding")
        if not http11:
            raise HttpParseError("Transfer-Encoding in an HTTP/1.0 request")
        if transfer_encoding != b"chunked":
            last = transfer_encoding.rsplit(b",", 1)[-1].strip(b" \t")
            if last != b"chunked":
                raise HttpParseError("Transfer-Encoding does not end in chunked")
            if b"chunked" in [coding.strip(b" \t") for coding in transfer_encoding.rsplit(b",", 1)[0].split(b",")]:
                raise HttpParseError("Transfer-Encoding applies chunked twice")  # RFC 9112 7
            raise HttpParseError("Unsupported Transfer-Encoding", 501)
    upgrade = None
    if connection_upgrade and upgrade_value is not None:
        upgrade = upgrade_value.lower()
    return keep_alive, expect_continue, upgrade, proxied


def encode_response_headers(headers):
    """Validate the app's response headers and encode them as one block.

    Returns (block, content_length, flags) where block is the
    b"name: value\\r\\n" lines, content_length is the declared length or -1,
    and flags is a bitmask of HAS_DATE, HAS_SERVER, CONNECTION_CLOSE,
    CHUNKED and TRANSFER_CODED telling the response encoder what the app
    already set.  Headers that contradict each other's framing (both
    Content-Length and Transfer-Encoding, chunked not last) are a ValueError.
    """
    lines = []
    content_length = -1
    flags = 0
    for header in headers:
        name, value = header
        if type(name) is not bytes or type(value) is not bytes:
            name = _as_bytes(name, "name")
            value = _as_bytes(value, "value")
        if _TOKEN.fullmatch(name) is None:
            raise ValueError(f"Invalid HTTP header name: {name!r}")
        if _BAD_VALUE_CHAR.search(value) is not None:
            raise ValueError(f"Invalid HTTP header value: {value!r}")
        lower = name.lower()
        if lower == b"content-length":
            if content_length != -1 or not value.strip().isdigit():
                raise ValueError(f"Invalid Content-Length header: {value!r}")
            content_length = int(value)
        elif lower == b"date":
            flags |= HAS_DATE
        elif lower == b"server":
            flags |= HAS_SERVER
        elif lower == b"connection":
            if b"close" in value.lower():
                flags |= CONNECTION_CLOSE
        elif lower == b"transfer-encoding":
            flags = transfer_coding_flags(value, flags)
        lines.append(name + b": " + value + b"\r\n")
    if content_length != -1 and flags & (CHUNKED | TRANSFER_CODED):
        raise ValueError("Response has both Content-Length and Transfer-Encoding")
    return b"".join(lines), content_length, flags


def transfer_coding_flags(value, flags):
    """`flags` after one Transfer-Encoding header of a response (RFC 9112 6.1).

    The codings of all its Transfer-Encoding lines, in order, are one list:
    CHUNKED when chunked is the last, TRANSFER_CODED when another is (the
    body then ends when the connection closes).  Chunked anywhere but last,
    or no coding at all, cannot be framed: ValueError.
    """
    codings = [coding.strip(b" \t").lower() for coding in value.split(b",")]
    codings = [coding for coding in codings if coding]
    if not codings:
        raise ValueError(f"Invalid Transfer-Encoding header: {value!r}")
    for coding in codings:
        if flags & CHUNKED:
            raise ValueError(f"Transfer-Encoding: chunked must be the final coding, got {value!r}")
        if coding == b"chunked":
            flags = (flags | CHUNKED) & ~TRANSFER_CODED
        else:
            flags |= TRANSFER_CODED
    return flags


def _as_bytes(item, what):
    if isinstance(item, (bytes, bytearray, memoryview)):
        return bytes(item)
    raise TypeError(f"Response header {what} must be bytes, got {type(item).__name__}")


HAS_DATE = 1
HAS_SERVER = 2
CONNECTION_CLOSE = 4
CHUNKED = 8
TRANSFER_CODED = 16  # a Transfer-Encoding whose last coding is not chunked
