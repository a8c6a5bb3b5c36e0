# Shared with parser_c.pyx (cimport), so the parser calls the policy check
# as a C function instead of through a Python attribute lookup.
cdef bint TOKEN_CHAR[256]
cpdef tuple check_request_headers(object headers, bint http11)
cpdef tuple encode_response_headers(object headers)
