# C types for http2_engine.py compiled as http2_engine_c (Cython's pure
# Python mode): the stream table and the connection become C structs, the
# frame handlers C calls.  The source stays http2_engine.py; its pure twin
# is that file run as Python.

cdef class Stream:
    cdef public Py_ssize_t stream_id, send_window, receive_window, unacknowledged, expected_length
    cdef public Py_ssize_t received_length, size
    cdef public bint remote_ended, local_ended, headers_sent, end
    cdef public object chunks, trailers
    cdef public double blocked_since


cdef class Http2Connection:
    cdef public object limits, codec, decoder, encoder, header_error, state, resets, control_frames, block_parts
    cdef public dict streams, reset_ids
    cdef public set held, working
    cdef public list out
    cdef public bytes buffer
    cdef public Py_ssize_t last_stream_id, block_stream, block_flags, block_frames, connection_receive_window
    cdef public Py_ssize_t connection_unacknowledged, send_initial, connection_send_window, max_outbound_frame_size
    cdef public Py_ssize_t stream_receive_initial, pings_sent, encoder_table_size, table_size_update
    cdef public bint preface_pending, settings_pending, settings_acknowledged, out_large
    cdef public double settings_deadline, ping_due, ping_deadline

    cdef _feed(self, data, list events, double now)
    cdef _frame(self, frame, list events, double now)
    cdef _count_control_frame(self, double now, reason)
    cdef _count_reset(self, double now, reason)
    cdef bint _idle(self, Py_ssize_t stream_id)
    cdef _data(self, frame, list events, double now)
    cdef _headers(self, frame, list events, double now)
    cdef _continuation(self, frame, list events, double now)
    cdef _check_block_size(self)
    cdef list _decode(self, block)
    cdef _header_block(self, Py_ssize_t stream_id, Py_ssize_t flags, block, list events, double now)
    cdef Py_ssize_t _content_length(self, list headers)
    cdef _window_update(self, frame, list events, double now)
    cdef _rst_stream(self, frame, list events, double now)
    cdef _settings(self, frame, list events, double now)
    cdef _stream_error(self, Py_ssize_t stream_id, Py_ssize_t code, list events)
    cdef _note_reset(self, Py_ssize_t stream_id)
    cdef _forget(self, Py_ssize_t stream_id)
    cdef _end(self, code)
    cdef _give_back_connection(self, Py_ssize_t size)
    cdef bytes _header_block_out(self, list headers)
    cdef _local_end(self, Py_ssize_t stream_id, Stream stream)
    cdef bint _pump(self, Py_ssize_t stream_id, Stream stream, double now)
    cdef _pump_held(self, stream_ids, list events, double now)


cpdef bytes data_frame_header(Py_ssize_t length, bint end_stream, Py_ssize_t stream_id)
