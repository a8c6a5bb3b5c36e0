"""Response serialization.

One ResponseEncoder frames a connection's responses in turn: for each, it
validates the app's headers, adds the server defaults the app did not set,
picks the framing (Content-Length, chunked, or close-delimited) and returns
the bytes to write.  The status line, headers and first body chunk come
back as one buffer so the protocol writes them in one transport.write.

This module is also compiled, unchanged, as response_c (response_c.pxd
gives it C types; see compiled.py): the compiled protocol calls the
encoder's methods as C functions.
"""
from http import HTTPStatus

try:
    import cython
except ImportError:  # no Cython installed: this module runs as Python
    from types import SimpleNamespace
    cython = SimpleNamespace(compiled=False)

if cython.compiled:  # headers_c's flags are cimported as C constants (response_c.pxd)
    from .byteloops_c import concat, content_length_line
    from .headers_c import encode_response_headers
else:
    from .byteloops import concat, content_length_line
    from .headers import CHUNKED, CONNECTION_CLOSE, HAS_DATE, HAS_SERVER, TRANSFER_CODED, encode_response_headers

CHUNK_END = b"0\r\n\r\n"
# How the body bytes a response is given go out (ResponseEncoder._count).
DROP = 0  # not at all: the response has no body
AS_IS = 1  # as they are: framed by Content-Length or by closing the connection
CHUNK = 2  # as one chunk of a chunked body

_STATUS_LINES = {}


def status_line(status):
    """b"HTTP/1.1 200 OK\\r\\n" for a status code, cached."""
    line = _STATUS_LINES.get(status)
    if line is None:
        if type(status) is not int or not 100 <= status <= 999:
            raise ValueError(f"Invalid HTTP status code: {status!r}")
        try:
            phrase = HTTPStatus(status).phrase.encode("ascii")
        except ValueError:
            phrase = b""
        line = b"HTTP/1.1 %d %s\r\n" % (status, phrase)
        _STATUS_LINES[status] = line
    return line


def _without_transfer_encoding(block):
    """The header block minus its Transfer-Encoding lines."""
    return b"".join(line + b"\r\n" for line in block.split(b"\r\n")
                    if line and line[:18].lower() != b"transfer-encoding:")


class ResponseEncoder:
    """Frames one HTTP/1.1 response at a time; raises ValueError on an app's mistake.

    After a ValueError the response is broken: the protocol must close the
    connection, since the client can no longer find where it ends.
    """

    __slots__ = ("head_request", "http11", "keep_alive", "chunked", "remaining", "no_body", "started", "complete")

    def __init__(self, head_request, http11, keep_alive):
        self.start(head_request, http11, keep_alive)

    def start(self, head_request, http11, keep_alive):
        """Begin a new response: a connection's one encoder frames its responses in turn."""
        self.head_request = head_request
        self.http11 = http11
        self.keep_alive = keep_alive
        self.chunked = False
        self.remaining = -1  # bytes still owed under Content-Length; -1 when not length-framed
        self.no_body = False
        self.started = False
        self.complete = False

    def encode_head(self, status, headers, body, more_body, default_lines, date_line, server_line):
        """Bytes for the status line, headers and the first body chunk.

        default_lines: pre-encoded --header lines; date_line and server_line
        are added only when the app did not set its own date/server header.
        """
        parts = self._head_parts(status, headers, body, more_body, default_lines, date_line, server_line)
        parts.append(self.encode_body(body, more_body))
        return concat(parts)

    def frame_head(self, status, headers, body, more_body, default_lines, date_line, server_line):
        """The status line and headers alone, framed for `body`, which encode_body
        must then be given: a large body is written beside its head, not copied into it."""
        return concat(self._head_parts(status, headers, body, more_body, default_lines, date_line, server_line))

    def _head_parts(self, status, headers, body, more_body, default_lines, date_line, server_line):
        block, content_length, flags = encode_response_headers(headers)
        if flags & (CHUNKED | TRANSFER_CODED) and not self.http11:
            # HTTP/1.0 has no transfer codings (RFC 9112 6.1): the app's
            # Transfer-Encoding goes, the body is framed as for 1.0 below.
            block = _without_transfer_encoding(block)
            flags &= ~(CHUNKED | TRANSFER_CODED)
        # uvicorn's order: date, server, the --header lines, then the app's.
        parts = [status_line(status)]
        code = status  # an int: status_line checked it
        if not flags & HAS_DATE:
            parts.append(date_line)
        if not flags & HAS_SERVER:
            parts.append(server_line)
        parts.append(default_lines)
        parts.append(block)
        if flags & CONNECTION_CLOSE:
            self.keep_alive = False
        self.started = True
        if self.head_request or code < 200 or code == 204 or code == 304:
            self.no_body = True
        elif content_length >= 0:
            self.remaining = content_length
        elif flags & CHUNKED:
            self.chunked = True
        elif flags & TRANSFER_CODED:
            # A coding other than chunked last (RFC 9112 6.1): the body, as
            # the app coded it, ends when the connection closes.
            self.keep_alive = False
        elif not more_body:
            # The whole body is here: frame it by length, cheaper than chunks.
            size = len(body)
            self.remaining = size
            parts.append(content_length_line(size))
        elif self.http11:
            self.chunked = True
            parts.append(b"transfer-encoding: chunked\r\n")
        else:
            self.keep_alive = False  # HTTP/1.0: the body ends when we close
        if not self.keep_alive and not flags & CONNECTION_CLOSE:
            parts.append(b"connection: close\r\n")
        parts.append(b"\r\n")
        return parts

    def _count(self, size, more_body):
        """Count `size` body bytes against the framing, mark the end of the
        body when `more_body` is false, and say how the bytes go out: DROP,
        AS_IS or CHUNK.  Both encode_body and frame_file frame through here."""
        if self.complete:
            raise ValueError("Response already complete")
        if self.no_body:
            if not more_body:
                self.complete = True
            return DROP
        if self.remaining >= 0:
            self.remaining -= size
            if self.remaining < 0:
                raise ValueError("Response content longer than Content-Length")
            if not more_body:
                if self.remaining:
                    raise ValueError("Response content shorter than Content-Length")
                self.complete = True
            return AS_IS
        if not more_body:
            self.complete = True
        return CHUNK if self.chunked else AS_IS

    def encode_body(self, body, more_body):
        """Frame one body chunk; at the end of the body mark the response complete."""
        size = 0 if self.no_body else len(body)
        framing = self._count(size, more_body)
        if framing == AS_IS:
            return body if type(body) is bytes else bytes(body)
        if framing == DROP:
            return b""
        if not more_body:
            if size:
                return b"%x\r\n%b\r\n0\r\n\r\n" % (size, body)
            return CHUNK_END
        if size:
            return b"%x\r\n%b\r\n" % (size, body)
        return b""

    def frame_file(self, size, more_body):
        """(prefix, suffix) to write around `size` body bytes that go out
        as they are (a file handed to sendfile); like encode_body, it
        counts them and marks the end of the body.  With no_body set, the
        caller sends no bytes at all."""
        if self._count(size, more_body) != CHUNK:
            return b"", b""
        if not more_body:
            if size:
                return b"%x\r\n" % size, b"\r\n0\r\n\r\n"
            return b"", CHUNK_END
        if size:
            return b"%x\r\n" % size, b"\r\n"
        return b"", b""
