# The encoder as a C type, for the compiled protocol (http_c) to call
# its methods as C functions.

cdef class ResponseEncoder:
    cdef public bint head_request
    cdef public bint http11
    cdef public bint keep_alive
    cdef public bint chunked
    # bytes still owed under Content-Length, -1 when not length-framed; a
    # Python int like the pure twin's, so any declared length behaves alike
    cdef public object remaining
    cdef public bint no_body
    cdef public bint started
    cdef public bint complete

    cpdef start(self, bint head_request, bint http11, bint keep_alive)
    cpdef bytes encode_head(self, object status, object headers, object body, bint more_body,
                            bytes default_lines, bytes date_line, bytes server_line)
    cpdef bytes frame_head(self, object status, object headers, object body, bint more_body,
                           bytes default_lines, bytes date_line, bytes server_line)
    cdef list _head_parts(self, object status, object headers, object body, bint more_body,
                          bytes default_lines, bytes date_line, bytes server_line)
    cpdef bytes encode_body(self, object body, bint more_body)
    cpdef tuple frame_file(self, Py_ssize_t size, bint more_body)
