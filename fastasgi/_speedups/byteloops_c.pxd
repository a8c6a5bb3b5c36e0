# What the compiled modules cimport from byteloops_c.pyx, to call it as C.
cpdef bytes unmask(bytes data, Py_ssize_t start, Py_ssize_t length, Py_ssize_t mask_at)
cpdef bytes encode_frame(int opcode, payload)
cpdef bytes concat(list parts)
cpdef bytes header_lines(object headers, Py_ssize_t size)
cpdef bytes content_length_line(Py_ssize_t size)
