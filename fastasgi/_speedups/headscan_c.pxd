# C types for headscan.py compiled as headscan_c (Cython's pure Python
# mode): the scan is a C loop over the bytes, skipping runs between line
# ends with memchr (byteloops_c.line_break, inlined); parser_c cimports
# HeadScanner to call scan() as a C method.
cimport cython

from fastasgi._speedups.byteloops_c cimport line_break

ctypedef const unsigned char *byte_array

cdef int CR, LF
cdef Py_ssize_t NO_LIMIT


@cython.final
cdef class HeadScanner:
    cdef public Py_ssize_t max_head_size
    cdef public Py_ssize_t max_request_line
    cdef public Py_ssize_t max_header_count
    cdef public Py_ssize_t head_start
    cdef public bint restarted
    cdef int _match
    cdef Py_ssize_t _size
    cdef bint _line_done
    cdef Py_ssize_t _lines
    cdef bint _pending_cr

    cpdef void set_limits(self, Py_ssize_t max_head_size, Py_ssize_t max_request_line, Py_ssize_t max_header_count)
    @cython.locals(p=byte_array, i=Py_ssize_t, s=int, size=Py_ssize_t, line_done=bint, lines=Py_ssize_t,
                   max_head=Py_ssize_t, max_line=Py_ssize_t, max_fields=Py_ssize_t, c=int, run=Py_ssize_t)
    cpdef Py_ssize_t scan(self, bytes data, Py_ssize_t start, Py_ssize_t end) except -2
