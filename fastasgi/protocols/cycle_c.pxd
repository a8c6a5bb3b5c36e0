# C types for cycle.py compiled as cycle_c (Cython's pure Python mode):
# the fields become C struct members, the flags C ints.
cdef class RequestResponseCycle:
    cdef public object scope
    cdef public object conn
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

    cpdef feed_body(self, chunk)
    cpdef body_complete(self)
    cpdef disconnect(self)
    cpdef flush(self)
    cpdef _wake(self)
    cpdef _wait(self)
    cpdef _flush_head(self)
