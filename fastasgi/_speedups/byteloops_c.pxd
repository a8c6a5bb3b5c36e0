# What the compiled modules cimport from byteloops_c.pyx, to call it as C.
cpdef bytes unmask(bytes data, Py_ssize_t start, Py_ssize_t length, Py_ssize_t mask_at)
cpdef bytes encode_frame(int opcode, payload)
