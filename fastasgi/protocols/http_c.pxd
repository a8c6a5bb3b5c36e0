# C types for http.py compiled as http_c (Cython's pure Python mode): the
# connection's fields become C struct members, and the methods only the
# protocol itself calls become C functions.  The source stays http.py.
cimport cython

from fastasgi._speedups.parser_c cimport RequestHead, RequestParser
from fastasgi._speedups.response_c cimport ResponseEncoder
from fastasgi.protocols.cycle_c cimport Connection, RequestResponseCycle as Cycle
from fastasgi.protocols.state_c cimport ConnectionSettings, ServerState

# The connection states (see http.py): C constants here, ints in the pure twin.
cdef dict HTTP_EXTENSIONS
cdef int NEW, IDLE, HEAD, BUSY, UPGRADING, MUST_ERROR, CLOSING, SWITCHED, CLOSED
cdef int NO_DEADLINE, KEEP_ALIVE, REQUEST_HEAD, BODY_DRAIN, WATCHDOG, WRITE_STALL, CLOSE_FLUSH


cdef class HttpProtocol(Connection):
    cdef public ConnectionSettings settings
    cdef public dict app_state
    cdef public ServerState server_state
    cdef public RequestParser parser
    cdef public object transport, client, server, scheme, tls
    cdef public bint access_log
    cdef public Cycle cycle, running, starting, handoff
    cdef public list pipeline
    cdef public list out
    cdef public Py_ssize_t out_size, large_body
    cdef public ResponseEncoder encoder, response_encoder
    cdef public object forwarded, pending_error, upgrade_head
    cdef public int state
    cdef public Py_ssize_t requests
    cdef public dict scope_template
    cdef public bint last_call, dispatching
    cdef public double deadline, due, watch_since, watched_at, body_waited, write_paused_at, closed_at
    cdef public object watch_mark

    cpdef data_received(self, data)
    @cython.locals(cycle=Cycle)
    cdef _handle_events(self, list events)
    cdef bint _may_start(self)
    cdef _set_deadline(self, double when)
    cdef dict _scope(self, RequestHead head, scope_type, scheme, dict extensions)
    @cython.locals(template=dict, scope=dict, extensions=dict)
    cdef dict _next_scope(self, RequestHead head)
    @cython.locals(cycle=Cycle)
    cdef _on_request_head(self, RequestHead head)
    cdef _dispatch(self, Cycle cycle)
    cdef _resume_reading_pipeline(self)
    cdef Cycle _next_in_pipeline(self)
    @cython.locals(state=ServerState)
    cpdef flush_soon(self, item)
    cdef _write(self, data)
    @cython.locals(out=list)
    cpdef flush(self)
    cdef _send(self, data)
    cdef _close(self)
    cdef inline void _close_requests(self)
    @cython.locals(head=RequestHead, encoder=ResponseEncoder, settings=ConnectionSettings)
    cpdef write_response_head(self, Cycle cycle, status, headers, body, more_body)
    @cython.locals(encoder=ResponseEncoder)
    cpdef write_response_body(self, Cycle cycle, body, more_body)
    @cython.locals(encoder=ResponseEncoder, parts=list)
    cpdef write_trailers(self, Cycle cycle, list trailers)
    @cython.locals(parts=list)
    cpdef send_early_hint(self, Cycle cycle, list links)
    @cython.locals(encoder=ResponseEncoder)
    cpdef send_file(self, Cycle cycle, file, offset, count, more_body)
    @cython.locals(out=list)
    cdef _response_complete(self, Cycle cycle, data)
    cpdef flush_head_soon(self, Cycle cycle)
    cpdef send_continue(self)
    cpdef cycle_finished(self, Cycle cycle)
    cpdef take_next(self, Cycle cycle)
    cpdef task_finished(self, Cycle cycle)
    @cython.locals(cycle=Cycle)
    cpdef send_error(self, status)
    cpdef abort(self)
    @cython.locals(cycle=Cycle)
    cdef _parse_error(self, exc)
    @cython.locals(settings=ConnectionSettings)
    cdef _send_error_and_close(self, status, reason)
    @cython.locals(cycle=Cycle, settings=ConnectionSettings)
    cdef _watch(self, now)
    cdef _body_timed_out(self, Cycle cycle, why)
    cpdef int pending_deadline(self)
    @cython.locals(cycle=Cycle)
    cdef int _state_deadline(self)
    cdef _timed_out(self, kind)


cpdef bint writes_vectors(transport)
cdef bint takes_trailers(headers)
cdef object get_remote_addr(transport)
cdef object get_local_addr(transport)
cdef object _address(transport, str name, str method)
cdef bint is_ssl(transport)
cdef bint is_alpn_h2(transport)
cdef str client_addr_for_log(scope)
