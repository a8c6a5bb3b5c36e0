# C types for flow.py compiled as flow_c (Cython's pure Python mode): the
# counters and flags become C fields, and _wake a C method.
# The water marks: C constants here, compared per body chunk without a lookup.
cdef Py_ssize_t READ_HIGH_WATER, READ_LOW_WATER


cdef class FlowControl:
    cdef public object transport
    cdef public bint read_paused
    cdef public bint write_paused
    cdef public Py_ssize_t buffered
    cdef public object _drain_waiter

    cpdef body_received(self, Py_ssize_t size)
    cpdef body_consumed(self, Py_ssize_t size)
    cpdef pause_reading(self)
    cpdef resume_reading(self)
    cpdef pause_writing(self)
    cpdef resume_writing(self)
    cpdef connection_lost(self, exc)
    cdef _wake(self, exc)
