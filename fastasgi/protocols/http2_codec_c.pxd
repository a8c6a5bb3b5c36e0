# C types for http2_codec.py compiled as http2_codec_c (Cython's pure Python
# mode): frames and the HPACK tables become C structs.  The source stays
# http2_codec.py; its pure twin is that file run as Python.

cdef class Frame:
    cdef public int type, flags
    cdef public Py_ssize_t stream_id, flow_length, error_code, last_stream_id, increment, depends_on, weight
    cdef public object payload, data, settings
    cdef public bint exclusive


cdef class FrameReader:
    cdef public Py_ssize_t max_frame_size
    cdef public bytes buffer


cdef class HpackDecoder:
    cdef public Py_ssize_t max_allowed_table_size, max_table_size, max_header_list_size, table_size
    cdef public list entries
    cpdef tuple _field(self, Py_ssize_t index)
    cpdef _add(self, name, value)
    cpdef _evict(self)


cdef class HpackEncoder:
    cdef public dict cache
    cpdef bytes _encode_field(self, name, value)


cpdef decode_payload(Frame frame)
cpdef bytes huffman_decode(data)
cpdef header_error(headers, bint trailers)
