# The parser's classes as C types, for the compiled protocol (http_c)
# to read a head's fields and call feed() without Python attribute lookups.

from fastasgi._speedups.chunks_c cimport ChunkFraming
from fastasgi._speedups.headscan_c cimport HeadScanner
# RequestHead is request_c's; named here too for the modules that cimport it from the parser
from fastasgi._speedups.request_c cimport RequestHead, RequestLimits

# What the glue is feeding llhttp right now.
cdef enum Mode:
    HEAD       # between requests, or inside an incomplete head
    LENGTH     # a Content-Length body: `_remaining` bytes still due
    CHUNKED    # a chunked body: ends right after some CRLFCRLF
    # the body of an Upgrade request not served, which llhttp skips: framed
    # by the glue alone, without llhttp (_feed_own); these two come last
    OWN_LENGTH   # a Content-Length body: `_remaining` bytes still due
    OWN_CHUNKED  # a chunked body: `_chunks` collects its data and finds its end


cdef class RequestParser:
    cdef readonly RequestLimits limits
    cdef unsigned long long max_body_size  # limits.max_body_size, read per body piece; 0: no limit
    cdef public unsigned long long bytes_received  # every byte fed: progress for timeouts
    cdef public object upgrade_token
    cdef public object trailing  # bytes after an upgrade request, for the next protocol

    cdef object _parser          # the httptools.HttpRequestParser
    cdef Mode _mode
    cdef unsigned long long _remaining  # Content-Length bytes still due
    cdef int _match              # how much of CRLFCRLF the last chunked-body bytes matched (0-3)
    cdef HeadScanner _scanner    # finds the end of each head, checking its limits
    cdef unsigned long long _body_size  # body bytes of the current message so far
    # the framing of the chunked body being read, as the pure twin follows
    # it: chunk-size lines and the trailer section bounded by limits.max_head_size
    cdef ChunkFraming _chunks
    cdef bytearray _partial      # bytes of a head not complete yet
    cdef list _events
    # the message llhttp is parsing
    cdef list _headers
    cdef bytes _url
    cdef str _method
    cdef bint _http11
    cdef bint _has_length        # framing of the body, from the head
    cdef bint _has_chunked
    cdef unsigned long long _length
    cdef RequestHead _head
    cdef bint _complete          # on_message_complete ran in the last feed
    cdef bint _renew             # llhttp wants no more data on this parser: a new one for the next
    cdef bint _closed            # close() was called
    cdef object _error           # our HttpParseError raised inside a callback

    cdef int _start(self, RequestLimits limits, upgrade_token) except -1
    cpdef list feed(self, data)
    cdef int _begin(self, bytes head, bint http11) except -1
    cdef void _reset_message(self)
    cdef RequestHead _make_head(self)
    cdef int _feed(self, bytes data) except -1
    cdef Py_ssize_t _feed_own(self, bytes data, Py_ssize_t i, Py_ssize_t n) except -1
    cdef int _feed_llhttp(self, bytes data, Py_ssize_t start, Py_ssize_t end) except -2
    cdef int _upgraded(self, bytes piece, Py_ssize_t offset) except -2
    cdef int _own_body(self, bytes piece) except -1
    cdef int _own_body_done(self) except -1
    cdef void _message_done(self)


cpdef RequestParser parser_for(RequestLimits limits, upgrade_token)
