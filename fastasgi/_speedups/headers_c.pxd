from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.string cimport memcpy

# Shared with parser_c.pyx (cimport), so the parser calls the policy check
# as a C function instead of through a Python attribute lookup.
cdef bint TOKEN_CHAR[256]
cdef long long short_number(bytes value)
cpdef tuple check_request_headers(object headers, bint http11)
cpdef tuple encode_response_headers(object headers)


# Writes `data` at `q` and returns the end: both modules build their
# output in one preallocated bytes object with it.
cdef inline char* put_bytes(char* q, bytes data):
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
    memcpy(q, PyBytes_AS_STRING(data), n)
    return q + n
