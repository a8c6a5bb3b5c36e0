# C types for observer.py compiled as observer_c (Cython's pure Python
# mode): the counters the hot path touches become C fields, and the
# protocols call response_complete() as a C function.
cimport cython
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec

from fastasgi.protocols.cycle_c cimport RequestResponseCycle


@cython.final
cdef class Histogram:
    cdef long long counts[15]  # len(BUCKETS) + 1
    cdef public double total

    @cython.locals(index=Py_ssize_t, bound=double)
    cpdef observe(self, double value)
    @cython.locals(index=Py_ssize_t)
    cpdef dict snapshot(self)


@cython.final
cdef class RequestObserver:
    cdef public bint count
    cdef public object access
    cdef long long requests[120]  # len(METHODS) * len(STATUS_CLASSES) * len(VERSIONS)
    cdef public Histogram duration, first_byte
    cdef public long long body_bytes_sent, aborted, bytes_received_closed, connections_total
    cdef public dict server_errors, timeouts, websocket_closes
    cdef public long long app_errors, websockets_total

    cpdef double clock(self)
    @cython.locals(now=double, method=Py_ssize_t, status=Py_ssize_t, status_class=Py_ssize_t,
                   version=Py_ssize_t, scope=dict)
    cpdef response_complete(self, RequestResponseCycle cycle)
    cpdef response_aborted(self, RequestResponseCycle cycle)
    cpdef connection_made(self)
    cpdef connection_closed(self, long long bytes_received)
    @cython.locals(index=Py_ssize_t, value=cython.longlong)
    cpdef dict snapshot(self)
