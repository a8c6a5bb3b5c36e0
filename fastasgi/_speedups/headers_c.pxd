# C types for headers.py compiled as headers_c (Cython's pure Python mode):
# each byte check is a C loop over a lookup table, and the flags are C
# constants.  parser_c cimports TOKEN_CHAR, short_number and
# check_request_headers to call them as C.
cimport cython

from fastasgi._speedups.byteloops_c cimport header_lines

ctypedef const unsigned char *byte_array

cdef int HAS_DATE, HAS_SERVER, CONNECTION_CLOSE, CHUNKED, TRANSFER_CODED, IS_CONTENT_LENGTH
cdef bint TOKEN_CHAR[256]
cdef bint BAD_VALUE_CHAR[256]
cdef object MAX_CONTENT_LENGTH

@cython.locals(p=byte_array, n=Py_ssize_t, i=Py_ssize_t)
cdef bint _is_digits(bytes value)
@cython.locals(p=byte_array, start=Py_ssize_t, end=Py_ssize_t, i=Py_ssize_t, number=cython.longlong)
cdef long long short_number(bytes value)
@cython.locals(hosts=int, keep_alive=bint, expect_continue=bint, connection_upgrade=bint, proxied=bint,
               name=bytes, value=bytes, token=bytes, n=Py_ssize_t)
cpdef tuple check_request_headers(object headers, bint http11)
cdef _check_request_codings(bytes codings, bint has_length, bint http11)
@cython.locals(p=byte_array, q=byte_array, n=Py_ssize_t, i=Py_ssize_t)
cdef bint _name_is(bytes name, bytes lower)
@cython.locals(flags=int, size=Py_ssize_t)
cpdef tuple encode_response_headers(object headers)
@cython.locals(converted=list, flags=int, size=Py_ssize_t)
cdef tuple _encode_converting(object headers)
@cython.locals(p=byte_array, n=Py_ssize_t, i=Py_ssize_t, valid=bint)
cdef int _header_flags(bytes name, bytes value, int flags) except -1
@cython.locals(number=cython.longlong)
cdef object _content_length(bytes value, object seen)
cpdef int transfer_coding_flags(bytes value, int flags) except -1
cdef _check_framing(object content_length, int flags)
cdef bytes _as_bytes(object item, str what)
