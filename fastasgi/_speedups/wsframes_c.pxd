# C types for wsframes.py compiled as wsframes_c (Cython's pure Python
# mode): a frame's header is read from the chunk as C bytes and its length
# as a C integer; the payload is unmasked by byteloops_c's C loop.
cimport cython
from libc.stdint cimport uint64_t

from fastasgi._speedups.byteloops_c cimport encode_frame, unmask

cdef int TEXT, BINARY, PING, PONG
cdef uint64_t MAX_CONTROL_PAYLOAD, MAX_READ_LENGTH

ctypedef const unsigned char *byte_array


@cython.final
cdef class FrameReader:
    cdef public object max_size
    cdef public bint passthrough
    cdef bytearray buffer
    cdef Py_ssize_t wanted
    cdef uint64_t limit  # the longest payload read here

    @cython.locals(chunk=bytes)
    cpdef list feed(self, data)
    @cython.locals(items=list, data=byte_array, pos=Py_ssize_t, end=Py_ssize_t, head=Py_ssize_t, frame_end=Py_ssize_t,
                   k=Py_ssize_t, first=int, second=int, opcode=int, length=uint64_t)
    cdef list _split(self, bytes chunk)
    cpdef bytes take_buffer(self)

