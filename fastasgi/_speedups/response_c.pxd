# C types for response.py compiled as response_c (Cython's pure Python
# mode): the encoder is a C type, so the compiled protocol (http_c) calls
# its methods as C functions; headers_c's flags are C constants here.
cimport cython

from fastasgi._speedups.byteloops_c cimport concat, content_length_line
from fastasgi._speedups.headers_c cimport (CHUNKED, CONNECTION_CLOSE, HAS_DATE, HAS_SERVER, TRANSFER_CODED,
                                           encode_response_headers)

cdef int DROP, AS_IS, CHUNK
cdef dict _STATUS_LINES

cpdef bytes status_line(object status)
cdef bytes _without_transfer_encoding(bytes block)


cdef class ResponseEncoder:
    cdef public bint head_request
    cdef public bint http11
    cdef public bint keep_alive
    cdef public bint chunked
    # bytes still owed under Content-Length, -1 when not length-framed; a
    # Python int, so any declared length behaves alike compiled and pure
    cdef public object remaining
    cdef public bint no_body
    cdef public bint started
    cdef public bint complete

    cpdef start(self, bint head_request, bint http11, bint keep_alive)
    @cython.locals(parts=list)
    cpdef bytes encode_head(self, object status, object headers, object body, bint more_body,
                            bytes default_lines, bytes date_line, bytes server_line)
    cpdef bytes frame_head(self, object status, object headers, object body, bint more_body,
                           bytes default_lines, bytes date_line, bytes server_line)
    @cython.locals(block=bytes, flags=int, code=int, size=Py_ssize_t, parts=list)
    cdef list _head_parts(self, object status, object headers, object body, bint more_body,
                          bytes default_lines, bytes date_line, bytes server_line)
    cdef int _count(self, Py_ssize_t size, bint more_body) except -1
    @cython.locals(size=Py_ssize_t, framing=int)
    cpdef bytes encode_body(self, object body, bint more_body)
    cpdef tuple frame_file(self, Py_ssize_t size, bint more_body)
