# C types for http2_asyncio.py compiled as http2_asyncio_c (Cython's pure
# Python mode): the stream and the protocol become C structs whose fields
# the adapter reads without a lookup, and the stream's side of the cycle's
# Connection interface is C calls.  The source stays http2_asyncio.py.
cimport cython

from fastasgi.protocols.cycle_c cimport Connection, RequestResponseCycle as Cycle
from fastasgi.protocols.state_c cimport ConnectionSettings, ServerState


cdef class Http2Stream(Connection):
    cdef public Http2Protocol protocol
    cdef public Py_ssize_t stream_id, received, watch_mark
    cdef public Cycle cycle
    cdef public bint no_body, done
    cdef public object drain_waiter
    cdef public double watch_since

    cpdef bint blocked(self)
    cpdef wake_writer(self)
    cpdef body_consumed(self, Py_ssize_t size)
    @cython.locals(protocol=Http2Protocol, fields=list, own=set, key=bint)
    cpdef write_response_head(self, Cycle cycle, status, headers, body, more_body)
    @cython.locals(protocol=Http2Protocol)
    cpdef write_response_body(self, Cycle cycle, body, more_body)
    @cython.locals(protocol=Http2Protocol)
    cpdef write_trailers(self, Cycle cycle, list trailers)
    cpdef send_early_hint(self, Cycle cycle, list links)
    cdef _response_complete(self, Cycle cycle)
    cpdef flush_head_soon(self, Cycle cycle)
    cpdef send_continue(self)
    @cython.locals(cycle=Cycle)
    cpdef send_error(self, status)
    cpdef abort(self)
    @cython.locals(protocol=Http2Protocol)
    cpdef reset(self, error_code)
    cpdef disconnect(self)
    @cython.locals(protocol=Http2Protocol, unread=Py_ssize_t)
    cpdef cycle_finished(self, Cycle cycle)
    cpdef take_next(self, Cycle cycle)
    cpdef task_finished(self, Cycle cycle)


cdef Py_ssize_t WIRE_FIELDS_MAX, WIRE_FIELD_MAX_SIZE
cdef bint cacheable(pair)


cdef class Http2Protocol:
    cdef public object conn, transport, loop, client, server, scheme, tls, forwarded
    cdef public ConnectionSettings settings
    cdef public ServerState server_state
    cdef public dict app_state, streams, scope_template
    cdef public bint access_log, write_paused, flush_queued
    cdef public double deadline, write_paused_at, closed_at, idle_at
    cdef public object cycle_class, upgrade_request
    cdef public tuple server_fields
    cdef public object server_fields_date

    # A stream in the table may be a WebSocketStream: those stay untyped.
    cpdef data_received(self, data)
    @cython.locals(stream=Http2Stream, cycle=Cycle, watch_at=double)
    cdef _on_request(self, event)
    @cython.locals(cycle=Cycle)
    cdef _on_data(self, event)
    @cython.locals(template=dict, scope=dict, fields=list, cookies=list)
    cdef tuple _scope(self, headers)
    cpdef stream_finished(self, stream)
    cdef _idle(self)
    cdef _arm(self, double deadline)
    cpdef tuple default_headers(self)
    @cython.locals(state=ServerState)
    cpdef flush_soon(self, item)
    cpdef flush(self)
