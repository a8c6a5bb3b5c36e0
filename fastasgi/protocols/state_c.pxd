# C types for state.py compiled as state_c (Cython's pure Python mode): the
# server state and the connection settings become C structs whose fields
# the compiled protocols read without a lookup.  The source stays state.py.
from fastasgi.observer_c cimport RequestObserver


cdef class ServerState:
    cdef public Py_ssize_t total_requests
    cdef public set connections, tasks
    cdef public object context, read_buffer
    cdef public double clock
    cdef public bytes date_line
    cdef public list pending_flushes
    cdef public bint shutting_down
    # Attributes of their own, as on uvicorn's plain ServerState: code that
    # hangs its state on the server's keeps working under the compiled protocol.
    cdef dict __dict__
    # flush_pending stays a Python method: the protocols hand it to
    # loop.call_soon as a bound method, never call it as C.


cdef class ConnectionSettings:
    cdef public object config, app, RequestParser, parser_args, ParseError, ResponseEncoder, FlowControl
    cdef public object status_line, root_path, raw_root_path, default_lines, server_line
    cdef public bint date_header, access_log
    cdef public object timeout_keep_alive, timeout_request_header
    cdef public double timeout_request_body, timeout_request_body_total, timeout_write, watch_interval
    cdef public object upgrade_token, ssl_server_cert, forwarded_policy
    cdef public RequestObserver observer
    cdef public object limit_request_body, http2_limits
    cdef public list static_fields
    cdef public object local_address


cdef class ProtocolFactory:
    cdef public object protocol_class, server_state, app_state, loop
    cdef public ConnectionSettings settings
