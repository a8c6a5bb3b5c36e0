"""Request parsing, compiled twin of parser_py.py: glue over httptools (llhttp).

`RequestParser.feed(data)` takes bytes off the wire and returns a list of
events, in order:

- a `RequestHead` when a request head is complete,
- `bytes`, a chunk of that request's body,
- `None`, the end of that request (its body is complete).

Bad bytes raise `HttpParseError` carrying the status to answer with.
After a head whose Upgrade token is `upgrade_token` the parser stops and
leaves every byte after that request in `trailing` for the new protocol.

llhttp does the parsing, but its callbacks carry no byte offsets, so this
glue finds the message boundaries itself and hands llhttp one piece at a
time: a complete head (its end found, and its limits checked, by
headscan.HeadScanner, as in the pure parser), then the body (counted for Content-Length,
cut after every CRLFCRLF for chunked, since a chunked body always ends
with one).  Before llhttp sees a head, grammar.check_head checks it
against the strict RFC 9112 grammar, as the pure parser does, which closes
the places where llhttp is lenient (extra spaces in the request line, stray
CR/LF before it); chunks.ChunkFraming does the same for a chunked body.

llhttp stops after the head of any Upgrade request and skips its body.
When the server does not serve that upgrade (another token, or no
websocket support), the request is a plain one, and the glue frames its
body itself (counted for Content-Length, ChunkFraming's data for chunked);
llhttp sees the next head on a fresh parser.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.string cimport memchr, memcmp

import httptools

from .errors import HttpParseError
from .grammar_c cimport check_head
from .headers_c cimport check_request_headers, short_number
from .request_c cimport RequestLimits, absolute_form_host, replace_host, split_target

cdef enum:
    CR = 13
    LF = 10
    SP = 32

cdef unsigned long long HUGE_CHUNK = 0xFFFFFFFFFFFFFFFF
cdef unsigned long long LENGTH_MAX = HUGE_CHUNK  # llhttp refuses a larger Content-Length

cdef object _HttpParserError = httptools.HttpParserError
cdef object _HttpParserUpgrade = httptools.HttpParserUpgrade
cdef object _HttpRequestParser = httptools.HttpRequestParser


cdef bytes _lower_name(const char* p, Py_ssize_t n):
    """A header name as a new bytes object, lower-cased while it is copied.

    A new object, filled here: given a source, CPython hands back its
    shared object for a one-byte string, and lowering that in place would
    change b"X" into b"x" for the whole process."""
    cdef bytes name = PyBytes_FromStringAndSize(NULL, n)
    cdef unsigned char* q = <unsigned char*>PyBytes_AS_STRING(name)
    cdef unsigned char c
    cdef Py_ssize_t i
    for i in range(n):
        c = <unsigned char>p[i]
        q[i] = c + 32 if 65 <= c <= 90 else c
    return name


cdef str _method_str(const char* p, Py_ssize_t n):
    """The method as str: the common ones without a new object each time."""
    if n == 3 and memcmp(p, b"GET", 3) == 0:
        return "GET"
    if n == 4 and memcmp(p, b"POST", 4) == 0:
        return "POST"
    if n == 4 and memcmp(p, b"HEAD", 4) == 0:
        return "HEAD"
    return p[:n].decode("ascii")


cdef object _llhttp_error(object exc):
    """Our status for an llhttp error: 505 for a version it refuses, else 400."""
    message = str(exc.args[0]) if exc.args else str(exc)
    # llhttp accepts only 0.9, 1.0, 1.1 and 2.0 and says "Invalid HTTP
    # version" for the other well-formed ones; the pure twin answers 505.
    if message == "Invalid HTTP version":
        return HttpParseError("Unsupported HTTP version", 505)
    return HttpParseError(message or "Invalid request")


cdef class RequestParser:
    # Fields and C methods are declared in parser_c.pxd.

    def __init__(self, RequestLimits limits not None, upgrade_token=None):
        self._start(limits, upgrade_token)

    cdef int _start(self, RequestLimits limits, upgrade_token) except -1:
        self.limits = limits
        self.max_body_size = limits.max_body_size
        self.bytes_received = 0
        self.upgrade_token = upgrade_token
        self.trailing = None
        self._parser = _HttpRequestParser(self)
        # Made without a Python-level call: its state fields start at zero (see HeadScanner.__init__).
        self._scanner = HeadScanner.__new__(HeadScanner)
        self._scanner.set_limits(limits.max_head_size, limits.max_request_line, limits.max_header_count)
        self._mode = HEAD
        self._partial = bytearray()
        self._headers = []
        self._url = b""
        self._method = ""
        return 0

    # llhttp callbacks -------------------------------------------------
    # There is no on_message_begin, on_url or on_header: the glue hands
    # llhttp one whole head at a time, checked against the strict grammar
    # first, so it reads the request line and the header fields off the
    # head's bytes itself (_begin).  llhttp still parses every head, and its
    # errors decide.  Each callback avoided is one Python-level call per
    # request, or per header field (httptools makes two bytes objects for
    # each field before calling on_header).
    def on_headers_complete(self):
        try:
            self._head = self._make_head()
        except HttpParseError as exc:
            self._error = exc
            raise
        self._events.append(self._head)

    def on_body(self, bytes body):
        if self.max_body_size:
            self._body_size += PyBytes_GET_SIZE(body)
            if self._body_size > self.max_body_size:
                self._error = HttpParseError("Request body too large", 413)
                raise self._error
        self._events.append(body)

    def on_message_complete(self):
        self._complete = True
        if not self._parser.should_keep_alive():
            # llhttp refuses data after a closing message, but the pure
            # twin keeps parsing: the protocol decides what to do with it.
            self._renew = True
        if not self._parser.should_upgrade():
            self._events.append(None)
        # else: _feed_llhttp decides, once llhttp says where the head ended

    cdef int _begin(self, bytes head, bint http11) except -1:
        """A new message starts with `head`: its request line and header fields.

        `head` passed grammar.check_head, which gave `http11`: its
        request line is "method SP target SP HTTP/1.x CRLF", then each field
        line is "token ':' value CRLF" with no CR inside, then CRLF.
        """
        cdef const char* p = PyBytes_AS_STRING(head)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(head)
        cdef Py_ssize_t method_end = <const char*>memchr(p, SP, n) - p
        cdef Py_ssize_t target_end = <const char*>memchr(p + method_end + 1, SP, n - method_end - 1) - p
        cdef Py_ssize_t i, colon, eol, start, end, size
        cdef long long number
        cdef bytes name, value
        self._method = _method_str(p, method_end)
        self._url = PyBytes_FromStringAndSize(p + method_end + 1, target_end - method_end - 1)
        self._http11 = http11
        self._reset_message()
        headers = self._headers
        i = <const char*>memchr(p + target_end, LF, n - target_end) - p + 1
        while p[i] != CR:  # the empty line that ends the head
            eol = <const char*>memchr(p + i, CR, n - i) - p
            colon = <const char*>memchr(p + i, 58, eol - i) - p
            size = colon - i
            name = _lower_name(p + i, size)
            start = colon + 1
            end = eol
            while start < end and (p[start] == SP or p[start] == 9):  # OWS around the value
                start += 1
            while end > start and (p[end - 1] == SP or p[end - 1] == 9):
                end -= 1
            value = PyBytes_FromStringAndSize(p + start, end - start)
            headers.append((name, value))
            if size == 14 and memcmp(PyBytes_AS_STRING(name), b"content-length", 14) == 0:
                self._has_length = True
                number = short_number(value)
                if number >= 0:
                    self._length = number
                elif value.isdigit():  # over 18 digits (leading zeros count)
                    long_number = int(value)
                    if long_number <= LENGTH_MAX:  # a larger one, and anything else, llhttp refuses
                        self._length = long_number
            elif size == 17 and memcmp(PyBytes_AS_STRING(name), b"transfer-encoding", 17) == 0:
                if memchr(p + end, 9, eol - end) != NULL:  # as the pure twin: see _TE_TRAILING_TAB
                    raise HttpParseError("Invalid Transfer-Encoding")
                self._has_chunked = True
            i = eol + 2
        return 0

    cdef void _reset_message(self):
        self._headers = []
        self._has_length = False
        self._has_chunked = False
        self._length = 0
        self._body_size = 0

    cdef RequestHead _make_head(self):
        cdef list headers = self._headers
        cdef bint http11 = self._http11
        # The target before the headers, as llhttp judges it while parsing:
        # the twins then refuse with the same status too.
        path, raw_path, query_string = split_target(self._url)
        keep_alive, expect_continue, upgrade, proxied = check_request_headers(headers, http11)
        if PyBytes_AS_STRING(self._url)[0] != 47 and self._url != b"*":  # not origin-form
            headers = replace_host(headers, absolute_form_host(self._url))
        if self.max_body_size and self._has_length and self._length > self.max_body_size:
            raise HttpParseError("Request body too large", 413)
        # Filled in directly: RequestHead(...) would parse nine arguments.
        cdef RequestHead result = RequestHead.__new__(RequestHead)
        result.method = self._method
        result.path = path
        result.raw_path = raw_path
        result.query_string = query_string
        result.headers = headers
        result.http_version = "1.1" if http11 else "1.0"
        result.keep_alive = keep_alive
        result.expect_continue = expect_continue
        result.upgrade = upgrade
        result.proxied = proxied
        return result

    # feeding ------------------------------------------------------------
    cpdef list feed(self, data):
        if type(data) is not bytes:
            data = bytes(data)
        self.bytes_received += PyBytes_GET_SIZE(data)  # every byte, as the pure twin counts
        if self.trailing is not None:
            self.trailing += data
            return []
        if self._closed:
            raise RuntimeError("RequestParser.feed() after close()")
        events = self._events = []
        try:
            self._feed(<bytes>data)
        except HttpParseError as exc:
            exc.events = events  # requests before the bad bytes are still answered
            raise
        finally:
            self._events = None
        return events

    def close(self):
        """The connection is done: let go of llhttp.  Its callbacks are bound
        methods of this object, so the two form a reference cycle that only
        the garbage collector could free: about ten objects per connection."""
        self._closed = True
        self._parser = None
        self._head = None

    cdef int _feed(self, bytes data) except -1:
        cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(data)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data), i = 0, start, end
        cdef unsigned long long take
        cdef int s
        cdef Py_ssize_t v
        cdef bytes head
        while i < n:
            if self._mode >= OWN_LENGTH:  # (the last modes) a body llhttp skipped
                i = self._feed_own(data, i, n)
                continue
            if self._mode == LENGTH:
                if self._remaining == 0:  # cannot happen: llhttp ends the message first
                    raise HttpParseError("Body framing lost")
                take = self._remaining
                if take > <unsigned long long>(n - i):
                    take = n - i
                end = i + <Py_ssize_t>take
                self._remaining -= take
                if self._feed_llhttp(data, i, end) < 0:
                    return 0
                i = end
                continue
            if self._mode == CHUNKED:
                # A chunked body always ends right after a CRLFCRLF: feed up
                # to each one and see whether llhttp finished the message.
                s = self._match
                end = i
                while end < n:
                    if p[end] == CR:
                        s = 3 if s == 2 else 1
                    elif p[end] == LF and (s == 1 or s == 3):
                        s += 1
                    else:
                        s = 0
                    end += 1
                    if s == 4:
                        break
                self._match = 2 if s == 4 else s  # the last CRLF may start the next match
                v = self._chunks.scan(data, i, end)
                if v >= 0:  # llhttp sees the bytes before it: an earlier error wins
                    if v > i and self._feed_llhttp(data, i, v) < 0:
                        return 0
                    raise self._chunks.error
                if self._feed_llhttp(data, i, end) < 0:
                    return 0
                i = end
                continue
            # HEAD: the scanner finds its end and checks the limits on the way
            end = self._scanner.scan(data, i, n)
            if self._scanner.restarted:
                self._partial.clear()
            start = self._scanner.head_start
            if end < 0:
                if start < n:
                    self._partial += data[start:]
                return 0
            i = end
            if self._partial:
                self._partial += data[start:i]
                head = bytes(self._partial)
                self._partial.clear()
            elif start == 0 and i == n:
                head = data
            else:  # a pipelined head: copied out directly, no slice object
                head = PyBytes_FromStringAndSize(PyBytes_AS_STRING(data) + start, i - start)
            self._begin(head, check_head(head))
            if self._feed_llhttp(head, 0, PyBytes_GET_SIZE(head)) < 0:
                # upgraded: the rest of this data is the new protocol's
                self.trailing += data[i:]
                return 0
            if not self._complete:
                if self._has_chunked:
                    self._mode = CHUNKED
                    self._chunks = ChunkFraming(self.limits.max_head_size)
                else:
                    self._mode = LENGTH
                    self._remaining = self._length
        return 0

    cdef Py_ssize_t _feed_own(self, bytes data, Py_ssize_t i, Py_ssize_t n) except -1:
        """Frame data[i:n], the body of an Upgrade request not served, without
        llhttp: its data become body events.  Where it stopped: n, or the end
        of the body."""
        cdef unsigned long long take
        cdef Py_ssize_t end, stop
        cdef ChunkFraming chunks
        if self._mode == OWN_LENGTH:
            take = self._remaining
            if take > <unsigned long long>(n - i):
                take = n - i
            end = i + <Py_ssize_t>take
            self._remaining -= take
            self._own_body(data[i:end] if i or end < n else data)
            if self._remaining == 0:
                self._own_body_done()
            return end
        chunks = self._chunks
        stop = chunks.scan(data, i, n)
        for piece in chunks.body:
            self._own_body(piece)
        chunks.body.clear()
        if stop >= 0:
            raise chunks.error
        if not chunks.done():
            return n
        end = chunks.end
        self._own_body_done()
        return end

    cdef int _feed_llhttp(self, bytes data, Py_ssize_t start, Py_ssize_t end) except -2:
        """Give llhttp data[start:end]; -1 when the stream was upgraded (stop)."""
        if start == 0 and end == PyBytes_GET_SIZE(data):
            piece = data
        else:
            piece = data[start:end]
        if self._renew:  # made only now: most connections end after their closing message
            self._renew = False
            self._parser = _HttpRequestParser(self)
        self._complete = False
        self._error = None
        try:
            self._parser.feed_data(piece)
        except _HttpParserUpgrade as exc:
            return self._upgraded(piece, exc.args[0])
        except _HttpParserError as exc:
            if self._error is not None:
                raise self._error from None
            raise _llhttp_error(exc) from None
        if self._complete:
            self._message_done()
        return 0

    cdef int _upgraded(self, bytes piece, Py_ssize_t offset) except -2:
        # llhttp stops after the head of an Upgrade request (with on_message_complete
        # already called, its body skipped), and says where the head ended.
        head = self._head
        rest = piece[offset:]
        if head.upgrade is not None and head.upgrade == self.upgrade_token:
            self._events.append(None)
            self.trailing = rest
            return -1
        # An upgrade we don't do: serve it as plain HTTP.  Its body is framed
        # here; the next head goes to a fresh llhttp parser.
        self._renew = True
        if self._has_chunked:
            self._mode = OWN_CHUNKED
            self._chunks = ChunkFraming(self.limits.max_head_size, [])
        elif self._has_length and self._length > 0:
            self._mode = OWN_LENGTH
            self._remaining = self._length
        else:
            self._events.append(None)
        if rest:  # none: the glue feeds llhttp a head alone
            self._feed(rest)
            if self.trailing is not None:
                return -1
        return 0

    cdef int _own_body(self, bytes piece) except -1:
        """A piece of a body framed by the glue, not llhttp: a body event, as on_body makes."""
        if self.max_body_size:
            self._body_size += PyBytes_GET_SIZE(piece)
            if self._body_size > self.max_body_size:
                raise HttpParseError("Request body too large", 413)
        self._events.append(piece)
        return 0

    cdef int _own_body_done(self) except -1:
        self._events.append(None)
        self._chunks = None
        self._message_done()
        return 0

    cdef void _message_done(self):
        self._mode = HEAD
        self._match = 0


cpdef RequestParser parser_for(RequestLimits limits, upgrade_token):
    """A new RequestParser for an accepted connection: a C allocation and
    call, where calling the class would go through Python's call protocol."""
    if limits is None:
        raise TypeError("parser_for() needs the RequestLimits")
    cdef RequestParser parser = RequestParser.__new__(RequestParser)
    parser._start(limits, upgrade_token)
    return parser
