# C types for grammar.py compiled as grammar_c (Cython's pure Python mode):
# the head is checked in one C loop over its bytes, with lookup tables for
# the character classes.  parser_c cimports check_head to call it as C.
cimport cython

from fastasgi._speedups.headers_c cimport TOKEN_CHAR

ctypedef const unsigned char *byte_array

cdef int CR, LF, SP
cdef frozenset METHODS
cdef bint VALUE_CHAR[256]

@cython.locals(p=byte_array, eol=Py_ssize_t, method_end=Py_ssize_t, major=int, minor=int)
cpdef bint check_head(bytes head) except -1
@cython.locals(p=byte_array, n=Py_ssize_t, i=Py_ssize_t, start=Py_ssize_t, eol=Py_ssize_t)
cdef Py_ssize_t _request_line_end(bytes head) except -1
cdef bint _common_method(byte_array p, Py_ssize_t n) noexcept
