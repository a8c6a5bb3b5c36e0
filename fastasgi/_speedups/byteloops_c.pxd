# What the compiled modules cimport from byteloops_c.pyx, to call it as C.
from libc.string cimport memchr

cpdef bytes unmask(bytes data, Py_ssize_t start, Py_ssize_t length, Py_ssize_t mask_at)
cpdef bytes encode_frame(int opcode, payload)
cpdef bytes concat(list parts)
cpdef bytes header_lines(object headers, Py_ssize_t size)
cpdef bytes content_length_line(Py_ssize_t size)


cdef inline Py_ssize_t line_break(const unsigned char* p, Py_ssize_t start, Py_ssize_t end) noexcept:
    """The offset of the first CR or LF in p[start:end], or `end` (byteloops.line_break)."""
    cdef Py_ssize_t stop = end
    cdef const unsigned char* found = <const unsigned char*>memchr(p + start, 13, end - start)
    if found != NULL:
        stop = found - p
    found = <const unsigned char*>memchr(p + start, 10, stop - start)
    if found != NULL:
        stop = found - p
    return stop
