"""Header normalization and validation, compiled twin of headers_py.py.

Request side: the policy checks that both parser twins apply to a parsed
head.  Response side: validation and encoding of an application's headers.
Same names, same results and same exceptions as the pure module; the
character classes are lookup tables so the checks are plain C loops.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE

from .errors import HttpParseError

HAS_DATE = 1
HAS_SERVER = 2
CONNECTION_CLOSE = 4
CHUNKED = 8
TRANSFER_CODED = 16  # a Transfer-Encoding whose last coding is not chunked

# C copies of the flags, so the loop below does no module-dict lookups.
cdef enum:
    _HAS_DATE = 1
    _HAS_SERVER = 2
    _CONNECTION_CLOSE = 4
    _CHUNKED = 8
    _TRANSFER_CODED = 16

# RFC 9110 token characters (a header name is one token) ...
cdef bint TOKEN_CHAR[256]
# ... and the bytes a field value must never hold: CR, LF, NUL and the
# other controls except HTAB (they are how response splitting works).
cdef bint BAD_VALUE_CHAR[256]


cdef void _init_tables():
    cdef int c
    for c in range(256):
        TOKEN_CHAR[c] = (48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122)
        BAD_VALUE_CHAR[c] = (c < 0x20 and c != 0x09) or c == 0x7f
    for c in b"!#$%&'*+-.^_`|~":
        TOKEN_CHAR[c] = True


_init_tables()

# 2**64 - 1: the largest body length llhttp (the compiled parser) accepts.
cdef object _MAX_CONTENT_LENGTH = 0xFFFFFFFFFFFFFFFF


cdef inline bint _is_digits(bytes value):
    # bytes.isdigit() without the method call: non-empty, ASCII digits only.
    cdef Py_ssize_t i, n = PyBytes_GET_SIZE(value)
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(value)
    if n == 0:
        return False
    for i in range(n):
        if not 48 <= p[i] <= 57:
            return False
    return True


cdef long long short_number(bytes value):
    """int(value) where `value` is ASCII digits between optional ASCII
    whitespace (what bytes.strip() removes and int() skips), -1 where it is
    anything else or longer than 18 digits: the caller then takes the
    general path.  Content-Length headers are numbers like this: read here,
    they cost no Python-level call (strip(), isdigit() and int() were three)."""
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(value)
    cdef Py_ssize_t start = 0, end = PyBytes_GET_SIZE(value), i
    cdef long long number = 0
    while start < end and (p[start] == 32 or 9 <= p[start] <= 13):
        start += 1
    while end > start and (p[end - 1] == 32 or 9 <= p[end - 1] <= 13):
        end -= 1
    if start == end or end - start > 18:
        return -1
    for i in range(start, end):
        if not 48 <= p[i] <= 57:
            return -1
        number = number * 10 + (p[i] - 48)
    return number


cpdef tuple check_request_headers(object headers, bint http11):
    """Apply the framing and routing rules to a parsed request head.

    `headers` is the list of (lower-cased name, value) pairs.  Returns
    (keep_alive, expect_continue, upgrade, proxied) where upgrade is the
    lower-cased Upgrade token when the client asked to switch protocols,
    else None, and proxied tells whether an X-Forwarded-For or
    X-Forwarded-Proto header came (the proxy-headers policy has nothing to
    do without one).
    Raises HttpParseError for every shape that can smuggle requests.
    """
    cdef int hosts = 0
    cdef object content_length = None
    cdef object transfer_encoding = None
    cdef bint keep_alive = http11
    cdef bint expect_continue = False
    cdef object upgrade_value = None
    cdef bint connection_upgrade = False
    cdef bint proxied = False
    cdef bytes name, value, token
    cdef Py_ssize_t n
    for name, value in headers:
        # Dispatch on length first: most names are none of these, and a
        # length test is cheaper than a bytes comparison.
        n = PyBytes_GET_SIZE(name)
        if n == 4 and name == b"host":
            hosts += 1
        elif n == 14 and name == b"content-length":
            if content_length is not None:
                raise HttpParseError("Duplicate Content-Length")
            if not _is_digits(value):
                raise HttpParseError("Invalid Content-Length")
            if PyBytes_GET_SIZE(value) > 19 and int(value) > _MAX_CONTENT_LENGTH:
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
        if content_length is not None:
            raise HttpParseError("Content-Length together with Transfer-Encoding")
        if not http11:
            raise HttpParseError("Transfer-Encoding in an HTTP/1.0 request")
        if transfer_encoding != b"chunked":
            last = transfer_encoding.rpartition(b",")[2].strip(b" \t")  # no [-1]: wraparound is off
            if last != b"chunked":
                raise HttpParseError("Transfer-Encoding does not end in chunked")
            if _chunked_before_last(transfer_encoding):  # RFC 9112 7: never applied twice
                raise HttpParseError("Transfer-Encoding applies chunked twice")
            raise HttpParseError("Unsupported Transfer-Encoding", 501)
    upgrade = None
    if connection_upgrade and upgrade_value is not None:
        upgrade = upgrade_value.lower()
    return keep_alive, expect_continue, upgrade, proxied


cdef bint _chunked_before_last(bytes codings):
    return b"chunked" in [coding.strip(b" \t") for coding in codings.rpartition(b",")[0].split(b",")]


cdef inline bint _valid_name(bytes name):
    cdef Py_ssize_t i, n = PyBytes_GET_SIZE(name)
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(name)
    if n == 0:
        return False
    for i in range(n):
        if not TOKEN_CHAR[p[i]]:
            return False
    return True


cdef inline bint _valid_value(bytes value):
    cdef Py_ssize_t i, n = PyBytes_GET_SIZE(value)
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(value)
    for i in range(n):
        if BAD_VALUE_CHAR[p[i]]:
            return False
    return True


cdef inline bint _name_is(bytes name, const char* lower, Py_ssize_t size):
    # Case-insensitive compare against a lower-case literal, no lower() copy.
    cdef Py_ssize_t i
    cdef const unsigned char* p
    if PyBytes_GET_SIZE(name) != size:
        return False
    p = <const unsigned char*>PyBytes_AS_STRING(name)
    for i in range(size):
        # ASCII letters: OR-ing 0x20 lower-cases them; the other token
        # characters that could alias this way are not in our literals.
        if (p[i] | 0x20) != <unsigned char>lower[i]:
            return False
    return True


cpdef tuple encode_response_headers(object headers):
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
    cdef object content_length = -1
    cdef int flags = 0
    cdef Py_ssize_t total = 0
    cdef object name, value
    cdef bytes bname, bvalue
    # First pass: validate, collect the flags and the block's size.  The
    # block is then written once, without a temporary per header line.
    for header in headers:
        name, value = header
        if type(name) is not bytes or type(value) is not bytes:
            return _encode_converting(headers)  # rare: str/bytearray/... from the app
        bname = <bytes>name
        bvalue = <bytes>value
        content_length = _check_response_header(bname, bvalue, content_length, &flags)
        total += PyBytes_GET_SIZE(bname) + PyBytes_GET_SIZE(bvalue) + 4
    if flags & (_CHUNKED | _TRANSFER_CODED):
        _check_framing(content_length, flags)
    cdef bytes block = PyBytes_FromStringAndSize(NULL, total)
    cdef char* q = PyBytes_AS_STRING(block)
    for name, value in headers:
        q = put_bytes(q, <bytes>name)
        q[0] = 58  # ":"
        q[1] = 32  # " "
        q = put_bytes(q + 2, <bytes>value)
        q[0] = 13
        q[1] = 10
        q += 2
    return block, content_length, flags


cdef object _check_response_header(bytes bname, bytes bvalue, object content_length, int* flags):
    """Validate one header of the app's; returns the Content-Length seen so far."""
    cdef long long number
    if not _valid_name(bname):
        raise ValueError(f"Invalid HTTP header name: {bname!r}")
    if not _valid_value(bvalue):
        raise ValueError(f"Invalid HTTP header value: {bvalue!r}")
    if _name_is(bname, b"content-length", 14):
        number = short_number(bvalue)
        if content_length != -1 or (number < 0 and not bvalue.strip().isdigit()):
            raise ValueError(f"Invalid Content-Length header: {bvalue!r}")
        content_length = number if number >= 0 else int(bvalue)
    elif _name_is(bname, b"date", 4):
        flags[0] |= _HAS_DATE
    elif _name_is(bname, b"server", 6):
        flags[0] |= _HAS_SERVER
    elif _name_is(bname, b"connection", 10):
        if b"close" in bvalue.lower():
            flags[0] |= _CONNECTION_CLOSE
    elif _name_is(bname, b"transfer-encoding", 17):
        flags[0] = transfer_coding_flags(bvalue, flags[0])
    return content_length


cpdef int transfer_coding_flags(bytes value, int flags) except -1:
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
        if flags & _CHUNKED:
            raise ValueError(f"Transfer-Encoding: chunked must be the final coding, got {value!r}")
        if coding == b"chunked":
            flags = (flags | _CHUNKED) & ~_TRANSFER_CODED
        else:
            flags |= _TRANSFER_CODED
    return flags


cdef inline int _check_framing(object content_length, int flags) except -1:
    if content_length != -1 and flags & (_CHUNKED | _TRANSFER_CODED):
        raise ValueError("Response has both Content-Length and Transfer-Encoding")
    return 0


cdef tuple _encode_converting(object headers):
    """encode_response_headers for headers that are not all bytes: convert
    each one, in order, so that errors come in the same order as the pure twin's."""
    cdef list lines = []
    cdef object content_length = -1
    cdef int flags = 0
    cdef object name, value
    cdef bytes bname, bvalue
    for header in headers:
        name, value = header
        bname = _as_bytes(name, "name")
        bvalue = _as_bytes(value, "value")
        content_length = _check_response_header(bname, bvalue, content_length, &flags)
        lines.append(bname + b": " + bvalue + b"\r\n")
    _check_framing(content_length, flags)
    return b"".join(lines), content_length, flags


cdef bytes _as_bytes(object item, str what):
    if isinstance(item, (bytes, bytearray, memoryview)):
        return bytes(item)
    raise TypeError(f"Response header {what} must be bytes, got {type(item).__name__}")
