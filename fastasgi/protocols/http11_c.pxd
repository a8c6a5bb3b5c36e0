# C types for http11.py compiled as http11_c (Cython's pure Python mode): the
# connection's state and deadlines become C struct members, and the calls
# the compiled protocol (http_c) makes on every request are C calls.  The
# source stays http11.py.
cimport cython

from fastasgi._speedups.parser_c cimport RequestHead, RequestParser
from fastasgi.protocols.state_c cimport ConnectionSettings

# The connection states and the deadline kinds: C constants here, ints in the pure twin.
cdef int NEW, IDLE, HEAD, BUSY, UPGRADING, MUST_ERROR, CLOSING, SWITCHED, CLOSED
cdef Py_ssize_t OUT_BUFFER_MAX
cdef int HELD, FIRST_HELD, FULL
cdef int NO_DEADLINE, KEEP_ALIVE, REQUEST_HEAD, BODY_DRAIN, WATCHDOG, WRITE_STALL, CLOSE_FLUSH
cdef int PLAIN, UPGRADE_WEBSOCKET, UPGRADE_H2C
cdef int BODY_ON_TIME, BODY_IDLE, BODY_TOTAL


# Final: nothing derives from it, so the protocol's calls are direct C calls.
@cython.final
cdef class Http11Connection:
    cdef public int state
    cdef public Py_ssize_t requests
    cdef public object pending_error, upgrade_head
    cdef public double deadline, due, write_paused_at, closed_at
    cdef public bint write_paused
    cdef public double timeout_keep_alive, timeout_request_header, timeout_write, watch_interval
    cdef public double timeout_request_body, timeout_request_body_total
    cdef public object upgrade_token
    cdef public object running
    cdef public list queued
    cdef public unsigned long long watch_mark
    cdef public double watch_since, watched_at, body_waited
    cdef public RequestParser parser
    cdef public object parse_error, error
    cdef public bint http2
    cdef public list out
    cdef public Py_ssize_t out_size

    cdef _start(self, RequestParser parser, parse_error, double timeout_keep_alive, double timeout_request_header,
                double timeout_write, double watch_interval, bint http2, upgrade_token, double timeout_request_body,
                double timeout_request_body_total)
    @cython.locals(end=Py_ssize_t)
    cpdef list feed(self, data, double now)
    @cython.locals(out=list)
    cpdef int hold(self, data)
    @cython.locals(out=list)
    cpdef list data_to_send(self)
    cpdef set_deadline(self, double when)
    cpdef accepted(self, double now)
    cpdef request_started(self, double now)
    @cython.locals(upgrade=object)
    cpdef int request_head(self, RequestHead head, double now)
    cpdef void serve_plain(self) noexcept
    cpdef upgrading(self, head)
    cpdef must_error(self, exc)
    cpdef close_requests(self)
    cpdef idle(self, double now)
    cpdef bint may_start(self) noexcept
    cpdef bint queue(self, request)
    cpdef object next_request(self)
    cpdef void response_done(self) noexcept
    cpdef switched(self)
    cpdef connection_lost(self)
    cpdef pause_writing(self, double now)
    cpdef resume_writing(self)
    @cython.locals(waited=double, received=cython.ulonglong)
    cpdef int watch_body(self, double now, bint waiting)
    cpdef int pending_deadline(self, bint closing, bint draining, bint busy)
    cpdef int state_deadline(self, bint closing, bint draining, bint busy)
    cpdef int on_deadline(self, double now, bint closing, bint draining, bint busy)


@cython.locals(conn=Http11Connection)
cpdef Http11Connection connection_for(ConnectionSettings settings, RequestParser parser)
