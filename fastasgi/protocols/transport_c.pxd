# C types for transport.py compiled as transport_c (Cython's pure Python
# mode): the listener's and each connection's fields become C struct
# members, and the transport's own helpers C functions.  The methods the
# protocol and the loop call (write, close, the fd callbacks) stay Python
# methods: they are called by name.

cdef class TcpListener:
    cdef public object loop
    cdef public tuple sockets
    cdef public object protocol_factory
    cdef public object backlog
    cdef public object read_buffer
    cdef public bint closed
    cdef public dict own_addresses


cdef class SocketTransport:
    cdef public object loop
    cdef public object sock
    cdef public int fd
    cdef public object protocol
    cdef public object peername
    cdef public object sockname
    cdef public object read_buffer
    cdef public list pending
    cdef public Py_ssize_t pending_size
    cdef public bint reading
    cdef public bint writing
    cdef public bint closing
    cdef public bint lost
    cdef public bint eof_pending
    cdef public Py_ssize_t high_water
    cdef public Py_ssize_t low_water
    cdef public bint protocol_paused
    cdef public object read_ready
    cdef public bint at_eof

    cdef _eof_received(self)
    cdef _stop_reading(self)
    cdef _hold(self, rest)
    cdef _hold_rest(self, list buffers, Py_ssize_t sent)
    cdef _start_writing(self)
    cdef _stop_writing(self)
    cdef _maybe_pause_protocol(self)
    cdef _call_protocol(self, str name)
    cdef _shutdown_write(self)
    cdef _force_close(self, exc)
    cdef _schedule_lost(self, exc)
