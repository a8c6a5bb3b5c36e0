# C types for http.py compiled as http_c (Cython's pure Python mode): the
# connection's fields become C struct members, and the methods only the
# protocol itself calls become C functions.  The source stays http.py.
cimport cython

from fastasgi._speedups.parser_c cimport RequestHead, RequestParser, parser_for
from fastasgi._speedups.response_c cimport ResponseEncoder
from fastasgi.protocols.cycle_c cimport Connection, RequestResponseCycle as Cycle
from fastasgi.protocols.http11_c cimport Http11Connection, connection_for
from fastasgi.protocols.state_c cimport ConnectionSettings, ServerState

cdef dict HTTP_EXTENSIONS
# The connection states and deadline kinds http.py reads (http11.py's): C
# constants here, ints in the pure twin.
cdef int NEW, HEAD, UPGRADING, MUST_ERROR, CLOSING, FIRST_HELD, FULL, UPGRADE_H2C, UPGRADE_WEBSOCKET
cdef Py_ssize_t OUT_BUFFER_MAX
cdef int NO_DEADLINE, KEEP_ALIVE, REQUEST_HEAD, BODY_DRAIN, WRITE_STALL, CLOSE_FLUSH, BODY_ON_TIME, BODY_IDLE


cdef class HttpProtocol(Connection):
    cdef public ConnectionSettings settings
    cdef public dict app_state
    cdef public ServerState server_state
    cdef public RequestParser parser
    cdef public object transport, client, server, scheme, tls
    cdef public bint access_log
    cdef public Cycle cycle, starting, handoff
    cdef public Py_ssize_t large_body
    cdef public ResponseEncoder encoder, response_encoder
    cdef public object forwarded
    cdef public bint forwarded_known
    cdef public Http11Connection conn
    cdef public dict scope_template
    cdef public bint last_call, dispatching

    @cython.locals(conn=Http11Connection)
    cpdef data_received(self, data)
    cpdef bint writes_paused(self) noexcept
    @cython.locals(cycle=Cycle)
    cdef _handle_events(self, list events)
    cdef dict _scope(self, RequestHead head, scope_type, scheme, dict extensions)
    @cython.locals(template=dict, scope=dict, extensions=dict)
    cdef dict _next_scope(self, RequestHead head)
    @cython.locals(cycle=Cycle, conn=Http11Connection, kind=int)
    cdef _on_request_head(self, RequestHead head)
    cdef _dispatch(self, Cycle cycle)
    cdef _resume_reading_pipeline(self)
    cdef Cycle _next_in_pipeline(self)
    @cython.locals(state=ServerState)
    cpdef flush_soon(self, item)
    cpdef proxy_policy(self)
    @cython.locals(conn=Http11Connection)
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
    @cython.locals(out=list, conn=Http11Connection)
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
    @cython.locals(cycle=Cycle, settings=ConnectionSettings, waiting=bint, late=int)
    cdef _watch(self, double now)
    cdef _body_timed_out(self, Cycle cycle, why)
    cpdef int pending_deadline(self)
    @cython.locals(cycle=Cycle)
    cdef bint _draining(self)
    cdef _timed_out(self, kind)


cpdef bint writes_vectors(transport)
cdef bint takes_trailers(headers)
cdef object get_remote_addr(transport)
cdef object get_local_addr(transport)
cdef object _address(transport, str name, str method)
cdef bint is_ssl(transport)
cdef bint is_alpn_h2(transport)
cdef str client_addr_for_log(scope)
