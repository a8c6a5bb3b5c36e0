# C types for request.py compiled as request_c (Cython's pure Python mode):
# RequestLimits and RequestHead are C types, whose fields the compiled
# parser and protocol read and fill without attribute lookups; the target
# is split in one C loop over its bytes.
cimport cython

ctypedef const unsigned char *byte_array


cdef class RequestLimits:
    cdef public Py_ssize_t max_head_size
    cdef public Py_ssize_t max_request_line
    cdef public Py_ssize_t max_header_count
    cdef public unsigned long long max_body_size


cdef class RequestHead:
    cdef public str method
    cdef public str path
    cdef public bytes raw_path
    cdef public bytes query_string
    cdef public list headers
    cdef public str http_version
    cdef public bint keep_alive
    cdef public bint expect_continue
    cdef public object upgrade
    cdef public bint proxied  # X-Forwarded-For or -Proto came: see check_request_headers


@cython.locals(p=byte_array, n=Py_ssize_t, i=Py_ssize_t, path_end=Py_ssize_t, c=int, percent=bint, fragment=bint,
               scheme_end=Py_ssize_t, slash=Py_ssize_t, query=Py_ssize_t, raw_path=bytes, query_string=bytes)
cpdef tuple split_target(bytes target)
cdef int _hex(int c) noexcept
@cython.locals(p=byte_array, n=Py_ssize_t, i=Py_ssize_t, j=Py_ssize_t, hi=int, lo=int, out=bytearray)
cdef str _percent_decode(bytes raw)
cdef Py_ssize_t _authority_end(bytes target, Py_ssize_t slash, Py_ssize_t query)
@cython.locals(scheme_end=Py_ssize_t)
cpdef object absolute_form_host(bytes target)
@cython.locals(i=Py_ssize_t)
cpdef list replace_host(list headers, bytes host)
