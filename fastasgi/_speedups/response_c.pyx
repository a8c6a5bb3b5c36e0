"""Response serialization, compiled twin of response_py.py.

One ResponseEncoder frames one response: it validates the app's headers,
adds the server defaults the app did not set, picks the framing
(Content-Length, chunked, or close-delimited) and returns the bytes to
write, status line + headers + first body chunk in one buffer.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.string cimport memcpy

from http import HTTPStatus

from .headers_c cimport encode_response_headers, put_bytes

cdef enum:
    # Same bits as headers_c.HAS_DATE etc., as C constants.
    _HAS_DATE = 1
    _HAS_SERVER = 2
    _CONNECTION_CLOSE = 4
    _CHUNKED = 8
    _TRANSFER_CODED = 16

cdef dict _STATUS_LINES = {}
CHUNK_END = b"0\r\n\r\n"
cdef bytes _CHUNK_END = CHUNK_END


cpdef bytes status_line(object status):
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
    return <bytes>line


cdef bytes _concat(list parts):
    """b"".join(parts) for a list of bytes, without the buffer protocol per item."""
    cdef Py_ssize_t total = 0
    cdef bytes part
    for part in parts:
        if part is None:  # as join() would: a typed bytes argument may be None
            raise TypeError("expected bytes, got None")
        total += PyBytes_GET_SIZE(part)
    cdef bytes result = PyBytes_FromStringAndSize(NULL, total)
    cdef char* q = PyBytes_AS_STRING(result)
    for part in parts:
        q = put_bytes(q, part)
    return result


cdef bytes _content_length_line(Py_ssize_t size):
    # Written from the end, by hand: snprintf's format parsing costs more
    # than the rest of the line.
    cdef char line[48]
    cdef char* end = line + 48
    cdef char* p = end - 2
    cdef size_t value = <size_t>size
    p[0] = 13  # CR
    p[1] = 10  # LF
    while True:
        p -= 1
        p[0] = <char>(48 + value % 10)
        value //= 10
        if value == 0:
            break
    p -= 16
    memcpy(p, b"content-length: ", 16)
    return PyBytes_FromStringAndSize(p, end - p)


cdef bytes _without_transfer_encoding(bytes block):
    """The header block minus its Transfer-Encoding lines."""
    return b"".join(line + b"\r\n" for line in block.split(b"\r\n")
                    if line and line[:18].lower() != b"transfer-encoding:")


cdef class ResponseEncoder:
    """Frames one HTTP/1.1 response; raises ValueError on an app's mistake.

    After a ValueError the response is broken: the protocol must close the
    connection, since the client can no longer find where it ends.
    """

    # Fields and methods are declared in response_c.pxd.

    def __init__(self, head_request, http11, keep_alive):
        self.start(head_request, http11, keep_alive)

    cpdef start(self, bint head_request, bint http11, bint keep_alive):
        """Begin a new response: a connection's one encoder frames its responses in turn."""
        self.head_request = head_request
        self.http11 = http11
        self.keep_alive = keep_alive
        self.chunked = False
        self.remaining = -1
        self.no_body = False
        self.started = False
        self.complete = False

    cpdef bytes encode_head(self, object status, object headers, object body, bint more_body,
                            bytes default_lines, bytes date_line, bytes server_line):
        """Bytes for the status line, headers and the first body chunk.

        default_lines: pre-encoded --header lines; date_line and server_line
        are added only when the app did not set its own date/server header.
        """
        cdef list parts = self._head_parts(status, headers, body, more_body, default_lines, date_line,
                                           server_line)
        parts.append(self.encode_body(body, more_body))
        return _concat(parts)

    cpdef bytes frame_head(self, object status, object headers, object body, bint more_body,
                           bytes default_lines, bytes date_line, bytes server_line):
        """The status line and headers alone, framed for `body`, which encode_body
        must then be given: a large body is written beside its head, not copied into it."""
        return _concat(self._head_parts(status, headers, body, more_body, default_lines, date_line,
                                        server_line))

    cdef list _head_parts(self, object status, object headers, object body, bint more_body,
                          bytes default_lines, bytes date_line, bytes server_line):
        cdef bytes block
        cdef int flags
        cdef int code
        cdef Py_ssize_t size
        block, content_length, flags = encode_response_headers(headers)
        if flags & (_CHUNKED | _TRANSFER_CODED) and not self.http11:
            # HTTP/1.0 has no transfer codings (RFC 9112 6.1): the app's
            # Transfer-Encoding goes, the body is framed as for 1.0 below.
            block = _without_transfer_encoding(block)
            flags &= ~(_CHUNKED | _TRANSFER_CODED)
        # uvicorn's order: date, server, the --header lines, then the app's.
        cdef list parts = [status_line(status)]
        code = status
        if not flags & _HAS_DATE:
            parts.append(date_line)
        if not flags & _HAS_SERVER:
            parts.append(server_line)
        parts.append(default_lines)
        parts.append(block)
        if flags & _CONNECTION_CLOSE:
            self.keep_alive = False
        self.started = True
        if self.head_request or code < 200 or code == 204 or code == 304:
            self.no_body = True
        elif content_length >= 0:
            self.remaining = content_length
        elif flags & _CHUNKED:
            self.chunked = True
        elif flags & _TRANSFER_CODED:
            # A coding other than chunked last (RFC 9112 6.1): the body, as
            # the app coded it, ends when the connection closes.
            self.keep_alive = False
        elif not more_body:
            # The whole body is here: frame it by length, cheaper than chunks.
            size = len(body)
            self.remaining = size
            parts.append(_content_length_line(size))
        elif self.http11:
            self.chunked = True
            parts.append(b"transfer-encoding: chunked\r\n")
        else:
            self.keep_alive = False  # HTTP/1.0: the body ends when we close
        if not self.keep_alive and not flags & _CONNECTION_CLOSE:
            parts.append(b"connection: close\r\n")
        parts.append(b"\r\n")
        return parts

    cpdef bytes encode_body(self, object body, bint more_body):
        """Frame one body chunk; at the end of the body mark the response complete."""
        cdef Py_ssize_t size
        if self.complete:
            raise ValueError("Response already complete")
        if self.no_body:
            if not more_body:
                self.complete = True
            return b""
        size = len(body)
        if self.remaining >= 0:
            self.remaining -= size
            if self.remaining < 0:
                raise ValueError("Response content longer than Content-Length")
            if not more_body:
                if self.remaining:
                    raise ValueError("Response content shorter than Content-Length")
                self.complete = True
            return body if type(body) is bytes else bytes(body)
        if self.chunked:
            if not more_body:
                self.complete = True
                if size:
                    return b"%x\r\n%b\r\n0\r\n\r\n" % (size, body)
                return _CHUNK_END
            if size:
                return b"%x\r\n%b\r\n" % (size, body)
            return b""
        if not more_body:
            self.complete = True
        return body if type(body) is bytes else bytes(body)

    cpdef tuple frame_file(self, Py_ssize_t size, bint more_body):
        """(prefix, suffix) to write around `size` body bytes that go out
        as they are (a file handed to sendfile); like encode_body, it
        counts them and marks the end of the body.  With no_body set, the
        caller sends no bytes at all."""
        if self.complete:
            raise ValueError("Response already complete")
        if self.no_body:
            if not more_body:
                self.complete = True
            return b"", b""
        if self.remaining >= 0:
            self.remaining -= size
            if self.remaining < 0:
                raise ValueError("Response content longer than Content-Length")
            if not more_body:
                if self.remaining:
                    raise ValueError("Response content shorter than Content-Length")
                self.complete = True
            return b"", b""
        if self.chunked:
            if not more_body:
                self.complete = True
                if size:
                    return b"%x\r\n" % size, b"\r\n0\r\n\r\n"
                return b"", _CHUNK_END
            if size:
                return b"%x\r\n" % size, b"\r\n"
            return b"", b""
        if not more_body:
            self.complete = True
        return b"", b""
