# C types for cycle.py compiled as cycle_c (Cython's pure Python mode):
# the fields become C struct members, the flags C ints, and the cycle calls
# its Connection's methods as C functions.
cdef class RequestResponseCycle


cdef class Connection:
    cdef public object loop
    cdef public object flow
    cdef public bint write_paused  # what writes_paused() reads, for connections that set it

    cpdef bint writes_paused(self) noexcept
    cpdef write_response_head(self, RequestResponseCycle cycle, status, headers, body, more_body)
    cpdef write_response_body(self, RequestResponseCycle cycle, body, more_body)
    cpdef flush_head_soon(self, RequestResponseCycle cycle)
    cpdef send_continue(self)
    cpdef send_error(self, status)
    cpdef abort(self)
    cpdef cycle_finished(self, RequestResponseCycle cycle)
    cpdef take_next(self, RequestResponseCycle cycle)
    cpdef task_finished(self, RequestResponseCycle cycle)
    cpdef write_trailers(self, RequestResponseCycle cycle, list trailers)
    cpdef send_early_hint(self, RequestResponseCycle cycle, list links)
    cpdef send_file(self, RequestResponseCycle cycle, file, offset, count, more_body)


cdef class RequestResponseCycle:
    cdef public object scope
    cdef public Connection conn
    cdef public list body
    cdef public bint more_body
    cdef public bint body_delivered
    cdef public bint disconnected
    cdef public bint expect_continue
    cdef public bint response_started
    cdef public bint response_complete
    cdef public object start_message
    cdef public object waiter
    cdef public object status
    cdef public object wire
    cdef public object task
    cdef public double started, first_byte
    cdef public Py_ssize_t sent
    cdef public object response_headers
    cdef public list trailers
    cdef public bint awaiting_trailers

    cpdef feed_body(self, chunk)
    cpdef body_complete(self)
    cpdef disconnect(self)
    cpdef flush(self)
    cpdef _wake(self)
    cpdef _wait(self)
    cpdef _flush_head(self)
    cpdef _body_ends_before_trailers(self)
    cpdef _send_trailers(self, dict message)


cdef class InContext:
    cdef object coro
    cdef object context
    cdef object waits_on
    cdef bint started


cdef dict HTTP_EXTENSIONS, EXTENSION_MESSAGES
cpdef dict http_extensions()
