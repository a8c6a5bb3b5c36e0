"""The strict grammar of a request head (RFC 9112), checked once for both parsers.

llhttp and h11 are each lenient somewhere (extra spaces in the request
line, stray CR or LF, obs-fold, unknown methods), and differently, so both
parsers check a complete head here before their library sees it:

    request-line = method SP 1*VCHAR SP "HTTP/" DIGIT "." DIGIT CRLF
    then *( token ":" *(HTAB / SP / VCHAR / obs-text) CRLF ) CRLF

where the method is one llhttp knows (CONNECT is refused, PRI is the
HTTP/2 preface) and the version is 1.0 or 1.1 (0.9 is a 400: not an HTTP/1
request line; any other a 505).

This module is also compiled, unchanged, as grammar_c (grammar_c.pxd gives
it C types; see compiled.py): the compiled parser cimports check_head.
"""
try:
    import cython
except ImportError:  # no Cython installed: this module runs as Python
    from types import SimpleNamespace
    cython = SimpleNamespace(compiled=False)

if not cython.compiled:  # compiled: cimported from headers_c (grammar_c.pxd)
    from .headers import TOKEN_CHAR

from .errors import HttpParseError  # noqa: I001

CR = 13
LF = 10
SP = 32
# The request methods llhttp knows: any other token is a 400 on both stacks.
METHODS = frozenset(
    b"DELETE GET HEAD POST PUT CONNECT OPTIONS TRACE COPY LOCK MKCOL MOVE PROPFIND "
    b"PROPPATCH SEARCH UNLOCK BIND REBIND UNBIND ACL REPORT MKACTIVITY CHECKOUT MERGE "
    b"M-SEARCH NOTIFY SUBSCRIBE UNSUBSCRIBE PATCH PURGE MKCALENDAR LINK UNLINK SOURCE "
    b"QUERY".split()
)
# Field value bytes: HTAB, SP, visible ASCII and obs-text.
VALUE_CHAR = [c == 9 or 0x20 <= c <= 0x7E or c >= 0x80 for c in range(256)]

# As Python, _request_line_end's loop would run byte by byte in the
# interpreter: there a head the grammar accepts is recognised by this
# regex of the same grammar first (the differential tests hold the two to
# the same answers), and the loop runs only to say where a bad head breaks.
if not cython.compiled:
    import re

    _TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
    _HEAD = re.compile(rb"(?:" + _TOKEN + rb") [\x21-\x7e]+ HTTP/[0-9]\.[0-9]\r\n"
                       rb"(?:" + _TOKEN + rb":[\t\x20-\x7e\x80-\xff]*\r\n)*\r\n")


def check_head(head):
    """Check a complete request head, `head` ending with its first CRLFCRLF.

    Returns True for HTTP/1.1, False for HTTP/1.0; raises HttpParseError,
    with the status to answer, for anything else.  The grammar comes first,
    then the method, then the version, then CONNECT.
    """
    if not cython.compiled and _HEAD.fullmatch(head) is not None:
        eol = head.index(b"\r")
    else:
        eol = _request_line_end(head)
    p = head  # compiled: the bytes as a C array (grammar_c.pxd)
    method_end = 0
    while p[method_end] != SP:
        method_end += 1
    if not _common_method(p, method_end) and head[:method_end] not in METHODS:
        raise HttpParseError("Invalid method")
    major = p[eol - 3]  # the request line ends in "HTTP/" DIGIT "." DIGIT
    minor = p[eol - 1]
    if major != 49 or (minor != 48 and minor != 49):  # not 1.0 or 1.1
        if major == 48 and minor == 57:
            raise HttpParseError("Invalid HTTP version")  # 0.9: not an HTTP/1 request line
        raise HttpParseError("Unsupported HTTP version", 505)
    if method_end == 7 and head[:7] == b"CONNECT":
        raise HttpParseError("CONNECT is not supported")
    return minor == 49


def _request_line_end(head):
    """Walk the grammar over `head`, byte by byte: the offset of the CR that
    ends the request line, or HttpParseError where the grammar breaks."""
    p = head
    n = len(head)
    i = 0
    while i < n and TOKEN_CHAR[p[i]]:
        i += 1
    if i == 0 or i >= n or p[i] != SP:
        raise HttpParseError("Invalid request line")
    i += 1
    start = i
    while i < n and 0x21 <= p[i] <= 0x7E:
        i += 1
    if i == start or i >= n or p[i] != SP:
        raise HttpParseError("Invalid request line")
    i += 1
    if (n - i < 10 or p[i] != 72 or p[i + 1] != 84 or p[i + 2] != 84 or p[i + 3] != 80  # "HTTP"
            or p[i + 4] != 47 or not 48 <= p[i + 5] <= 57 or p[i + 6] != 46 or not 48 <= p[i + 7] <= 57
            or p[i + 8] != CR or p[i + 9] != LF):
        raise HttpParseError("Invalid request line")
    eol = i + 8
    i += 10
    while True:
        if i < n and p[i] == CR:  # the empty line that ends the head
            if i + 2 != n or p[i + 1] != LF:
                raise HttpParseError("Invalid header line")
            return eol
        start = i
        while i < n and TOKEN_CHAR[p[i]]:
            i += 1
        if i == start or i >= n or p[i] != 58:  # no whitespace before the colon
            raise HttpParseError("Invalid header line")
        i += 1
        while i < n and VALUE_CHAR[p[i]]:
            i += 1
        if i + 1 >= n or p[i] != CR or p[i + 1] != LF:  # also refuses obs-fold
            raise HttpParseError("Invalid header line")
        i += 2


def _common_method(p, n):
    """Whether the method p[:n] is GET, HEAD or POST: known without a set lookup."""
    if n == 3:
        return p[0] == 71 and p[1] == 69 and p[2] == 84  # GET
    if n == 4:
        if p[0] == 72:
            return p[1] == 69 and p[2] == 65 and p[3] == 68  # HEAD
        return p[0] == 80 and p[1] == 79 and p[2] == 83 and p[3] == 84  # POST
    return False
