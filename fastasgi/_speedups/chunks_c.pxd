# C types for chunks.py compiled as chunks_c (Cython's pure Python mode):
# the framing walk is a C loop over the bytes, with C constants for the
# states and byte classes.  parser_c cimports ChunkFraming to call scan()
# as a C method.
cimport cython

ctypedef const unsigned char *byte_array

cdef int SIZE_LINE, DATA, DATA_END, TRAILERS, DONE
cdef unsigned long long MAX_CHUNK_SIZE
cdef int C_OTHER, C_HEX, C_TOKEN, C_SEMI, C_EQ, C_QUOTE, C_BSLASH, C_CR, C_LF, C_SP, C_COLON, C_VCHAR, C_OBS
cdef int S_START, S_SIZE, S_SEMI, S_NAME, S_VALUE, S_QUOTED, S_ESCAPE, S_QUOTED_END, S_LF
cdef int T_START, T_NAME, T_VALUE, T_LF, T_END_LF
cdef bytes CLASSES

@cython.locals(classes=list)
cdef bytes _byte_classes()
cdef int _hex_value(int c) noexcept
cdef bint _is_name(int kind) noexcept
cdef bint _is_field_value(int kind) noexcept
cdef bint _is_qdtext(int kind) noexcept


@cython.final
cdef class ChunkFraming:
    cdef public Py_ssize_t limit
    cdef public int state
    cdef public int line
    cdef public Py_ssize_t count
    cdef public unsigned long long remaining
    cdef public unsigned long long size
    cdef public object error
    cdef public object name
    cdef public bint coding
    cdef public list body
    cdef public Py_ssize_t end

    cpdef bint done(self)
    @cython.locals(classes=byte_array, p=byte_array, i=Py_ssize_t, limit=Py_ssize_t, state=int, take=cython.ulonglong, stop=Py_ssize_t,
                   line=int, count=Py_ssize_t, trailers=bint, c=int, kind=int)
    cpdef Py_ssize_t scan(self, bytes data, Py_ssize_t start, Py_ssize_t end) except -2
    cdef Py_ssize_t _bad(self, Py_ssize_t offset, str reason) except -2
