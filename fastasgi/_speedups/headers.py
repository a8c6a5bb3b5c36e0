"""Header policy and encoding, for requests and responses.

Request side: check_request_headers applies the framing and routing rules
to a parsed head, the same for both parsers, so the compiled (llhttp) and
pure (h11) stacks accept and reject exactly the same requests.  Response
side: encode_response_headers validates the headers an application hands
us and encodes them as one block.

This module is also compiled, unchanged, as headers_c (headers_c.pxd gives
it C types; see compiled.py): compiled, each byte check is a C loop over a
lookup table; as Python, the same checks are made with re and bytes
methods, which the differential tests hold to the loops.  The
flag constants are C constants there, so the compiled module does not
export them: read them here.
"""
try:
    import cython
except ImportError:  # no Cython installed: this module runs as Python
    from types import SimpleNamespace
    cython = SimpleNamespace(compiled=False)

if cython.compiled:
    from .byteloops_c import header_lines
else:
    from .byteloops import header_lines

from .errors import HttpParseError

# What encode_response_headers tells the encoder the app already set.
HAS_DATE = 1
HAS_SERVER = 2
CONNECTION_CLOSE = 4
CHUNKED = 8
TRANSFER_CODED = 16  # a Transfer-Encoding whose last coding is not chunked
# Not a flag of the result: the header just checked was Content-Length.
IS_CONTENT_LENGTH = 32

_TOKEN_SYMBOLS = b"!#$%&'*+-.^_`|~"
# RFC 9110 token characters (a header name is one token), by byte value.
TOKEN_CHAR = [(48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122) or c in _TOKEN_SYMBOLS
              for c in range(256)]
# The bytes a field value must never hold: CR, LF, NUL and the other
# controls except HTAB (they are how response splitting works).
BAD_VALUE_CHAR = [(c < 0x20 and c != 0x09) or c == 0x7F for c in range(256)]

# As Python, the byte loops below would run byte by byte in the interpreter:
# there the same checks go through re and bytes methods instead (the
# differential tests hold the two forms to the same answers).
if not cython.compiled:
    import re

    _TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # TOKEN_CHAR's bytes
    _BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # BAD_VALUE_CHAR's bytes

# 2**64 - 1: the largest body length llhttp (the compiled parser) accepts.
MAX_CONTENT_LENGTH = 0xFFFFFFFFFFFFFFFF


def _is_digits(value):
    """bytes.isdigit() without the method call: non-empty, ASCII digits only."""
    if not cython.compiled:
        return value.isdigit()
    p = value  # compiled: the bytes as a C array (headers_c.pxd)
    n = len(value)
    if n == 0:
        return False
    for i in range(n):
        if not 48 <= p[i] <= 57:
            return False
    return True


def short_number(value):
    """int(value) where `value` is ASCII digits between optional ASCII
    whitespace (what bytes.strip() removes and int() skips), -1 where it is
    anything else or longer than 18 digits: the caller then takes the
    general path.  Content-Length headers are numbers like this: read here,
    they cost no Python-level call (strip(), isdigit() and int() were three)."""
    if not cython.compiled:  # the same number at the speed of bytes methods
        value = value.strip()
        return int(value) if 0 < len(value) <= 18 and value.isdigit() else -1
    p = value
    start = 0
    end = len(value)
    while start < end and (p[start] == 32 or 9 <= p[start] <= 13):
        start += 1
    while end > start and (p[end - 1] == 32 or 9 <= p[end - 1] <= 13):
        end -= 1
    if start == end or end - start > 18:
        return -1
    number = 0
    for i in range(start, end):
        if not 48 <= p[i] <= 57:
            return -1
        number = number * 10 + (p[i] - 48)
    return number


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
        # Dispatch on length first: most names are none of these, and a
        # length test is cheaper than a bytes comparison.
        n = len(name)
        if n == 4 and name == b"host":
            hosts += 1
        elif n == 14 and name == b"content-length":
            if content_length is not None:
                raise HttpParseError("Duplicate Content-Length")
            if not _is_digits(value):
                raise HttpParseError("Invalid Content-Length")
            if len(value) > 19 and int(value) > MAX_CONTENT_LENGTH:
                raise HttpParseError("Content-Length too large")
            content_length = value
        elif n == 17 and name == b"transfer-encoding":
            if transfer_encoding is not None:
                raise HttpParseError("Duplicate Transfer-Encoding")
            transfer_encoding = value.lower()
        elif n == 10 and name == b"connection":
            for token in value.lower().split(b","):
                token = token.strip(b" \t")
                if token == b"close":
                    keep_alive = False
                elif token == b"upgrade":
                    connection_upgrade = True
        elif n == 6 and name == b"expect":
            if http11 and value.lower() == b"100-continue":
                expect_continue = True
        elif n == 7 and name == b"upgrade":
            upgrade_value = value
        elif (n == 15 and name == b"x-forwarded-for") or (n == 17 and name == b"x-forwarded-proto"):
            proxied = True
    if http11:
        if hosts != 1:
            raise HttpParseError("HTTP/1.1 request needs exactly one Host header")
    elif hosts > 1:
        raise HttpParseError("Duplicate Host header")
    if transfer_encoding is not None:
        _check_request_codings(transfer_encoding, content_length is not None, http11)
    upgrade = None
    if connection_upgrade and upgrade_value is not None:
        upgrade = upgrade_value.lower()
    return keep_alive, expect_continue, upgrade, proxied


def _check_request_codings(codings, has_length, http11):
    """Raise for a request's lower-cased Transfer-Encoding unless it is just chunked."""
    if has_length:
        raise HttpParseError("Content-Length together with Transfer-Encoding")
    if not http11:
        raise HttpParseError("Transfer-Encoding in an HTTP/1.0 request")
    if codings != b"chunked":
        before, _, last = codings.rpartition(b",")
        if last.strip(b" \t") != b"chunked":
            raise HttpParseError("Transfer-Encoding does not end in chunked")
        if b"chunked" in [coding.strip(b" \t") for coding in before.split(b",")]:
            raise HttpParseError("Transfer-Encoding applies chunked twice")  # RFC 9112 7
        raise HttpParseError("Unsupported Transfer-Encoding", 501)


def _name_is(name, lower):
    """Whether `name` is the lower-case literal `lower`, ignoring ASCII case, without a lower() copy."""
    if not cython.compiled:  # the same answer at the speed of bytes methods
        return name.lower() == lower
    n = len(lower)
    if len(name) != n:
        return False
    p = name
    q = lower
    for i in range(n):
        # ASCII letters: OR-ing 0x20 lower-cases them; the other token
        # characters that could alias this way are not in our literals.
        if (p[i] | 0x20) != q[i]:
            return False
    return True


def encode_response_headers(headers):
    """Validate the app's response headers and encode them as one block.

    Returns (block, content_length, flags) where block is the
    b"name: value\\r\\n" lines, content_length is the declared length or -1,
    and flags is a bitmask of HAS_DATE, HAS_SERVER, CONNECTION_CLOSE,
    CHUNKED and TRANSFER_CODED telling the response encoder what the app
    already set.  Headers that contradict each other's framing (both
    Content-Length and Transfer-Encoding, chunked not last) are a ValueError.
    """
    if type(headers) is not list and type(headers) is not tuple:
        headers = list(headers)  # walked twice below
    content_length = -1
    flags = 0
    size = 0
    # First pass: validate, collect the flags and the block's size.  The
    # block is then written once, without a temporary per header line.
    for header in headers:
        name, value = header
        if type(name) is not bytes or type(value) is not bytes:
            return _encode_converting(headers)  # rare: str/bytearray/... from the app
        flags = _header_flags(name, value, flags)
        if flags & IS_CONTENT_LENGTH:
            flags &= ~IS_CONTENT_LENGTH
            content_length = _content_length(value, content_length)
        size += len(name) + len(value) + 4
    if flags & (CHUNKED | TRANSFER_CODED):
        _check_framing(content_length, flags)
    return header_lines(headers, size), content_length, flags


def _encode_converting(headers):
    """encode_response_headers for headers that are not all bytes: each is
    converted, in order, so that errors come in the order of the headers."""
    converted = []
    content_length = -1
    flags = 0
    size = 0
    for header in headers:
        name, value = header
        name = _as_bytes(name, "name")
        value = _as_bytes(value, "value")
        flags = _header_flags(name, value, flags)
        if flags & IS_CONTENT_LENGTH:
            flags &= ~IS_CONTENT_LENGTH
            content_length = _content_length(value, content_length)
        converted.append((name, value))
        size += len(name) + len(value) + 4
    _check_framing(content_length, flags)
    return header_lines(converted, size), content_length, flags


def _header_flags(name, value, flags):
    """`flags` after one header of the app's, which is validated; with
    IS_CONTENT_LENGTH added when it is Content-Length (the caller reads it)."""
    n = len(name)
    if cython.compiled:
        p = name  # the bytes as a C array (headers_c.pxd)
        valid = n > 0
        for i in range(n):
            if not TOKEN_CHAR[p[i]]:
                valid = False
                break
        if valid:
            p = value
            for i in range(len(value)):
                if BAD_VALUE_CHAR[p[i]]:
                    raise ValueError(f"Invalid HTTP header value: {value!r}")
    else:  # the same checks at the speed of re (see _TOKEN)
        valid = _TOKEN.fullmatch(name) is not None
        if valid and _BAD_VALUE.search(value) is not None:
            raise ValueError(f"Invalid HTTP header value: {value!r}")
    if not valid:
        raise ValueError(f"Invalid HTTP header name: {name!r}")
    # Dispatch on length first: most names are none of these.
    if n == 14 and _name_is(name, b"content-length"):
        return flags | IS_CONTENT_LENGTH
    if n == 4 and _name_is(name, b"date"):
        return flags | HAS_DATE
    if n == 6 and _name_is(name, b"server"):
        return flags | HAS_SERVER
    if n == 10 and _name_is(name, b"connection"):
        if b"close" in value.lower():
            return flags | CONNECTION_CLOSE
    elif n == 17 and _name_is(name, b"transfer-encoding"):
        return transfer_coding_flags(value, flags)
    return flags


def _content_length(value, seen):
    """The length a Content-Length header of the app's declares; `seen` is the one before it, or -1."""
    number = short_number(value)
    if seen != -1 or (number < 0 and not value.strip().isdigit()):
        raise ValueError(f"Invalid Content-Length header: {value!r}")
    return number if number >= 0 else int(value)


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


def _check_framing(content_length, flags):
    if content_length != -1 and flags & (CHUNKED | TRANSFER_CODED):
        raise ValueError("Response has both Content-Length and Transfer-Encoding")


def _as_bytes(item, what):
    if isinstance(item, (bytes, bytearray, memoryview)):
        return bytes(item)
    raise TypeError(f"Response header {what} must be bytes, got {type(item).__name__}")
