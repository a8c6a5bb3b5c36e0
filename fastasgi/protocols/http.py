"""The asyncio Protocol for HTTP/1.1.

Bytes from the transport go to the connection's Http11Connection
(http11.py, no I/O), which feeds them to the parser (compiled or pure twin)
and gives back its events; each request head becomes a
RequestResponseCycle.  Requests on one connection are answered in order: a
pipelined request's app starts when the response before it is complete.
Timeouts are deadlines checked by the server's tick, not one loop timer
per request.

Where the connection stands, and its deadline, is held by that
Http11Connection too: its one `state` (NEW, IDLE, HEAD, BUSY, ...) says
which deadline is armed (pending_deadline()), whether a request may start,
and what ends the connection; it decides what each head asks for (a plain
request, a websocket or h2c upgrade), keeps which request is answered and
which wait behind it, and watches the request body's progress.
on_deadline() asks it what a passed deadline means and does what it says.
This module keeps the asyncio side: the transport, flow control, the
request tasks and their hand-off, and files.
"""
import asyncio
import logging
import sys

from .._speedups import ClientDisconnected
from .._speedups.errors import ERROR_BODIES
from ..logging import log_access
from .asyncio_loop import SharedReadBuffer, is_asyncio_loop, run_first_step
from .sendfile import SendfileUnsupported, WriteStalled, send_by_reads, sendfile_to_socket
from .tls import tls_extension
from .websocket import BufferedWebSocketProtocol, WebSocketProtocol

try:
    import cython
except ImportError:  # no Cython installed: this module runs as Python
    from types import SimpleNamespace
    cython = SimpleNamespace(compiled=False)

# This module is also compiled, unchanged, as http_c (http_c.pxd gives it
# C types, see setup.py); that twin runs the compiled cycle and reads the
# compiled server state and settings.
if cython.compiled:
    from .._speedups.parser_c import parser_for
    from .cycle_c import Connection, FileShrank, RequestResponseCycle, http_extensions
    from .http11_c import connection_for
    from .state_c import ConnectionSettings
else:
    from .._speedups.parser_py import parser_for
    from .cycle import Connection, FileShrank, RequestResponseCycle, http_extensions
    from .http11 import connection_for
    from .state import ConnectionSettings
# The states and deadline kinds are http11's (the same ints in both twins);
# their names are here too, for whoever holds a protocol rather than its connection.
from .http11 import (  # noqa: E402, F401 (DEADLINE_NAMES)
    BODY_DRAIN, BODY_IDLE, BODY_ON_TIME, CLOSE_FLUSH, CLOSING, DEADLINE_NAMES, FIRST_HELD, FULL, HEAD, KEEP_ALIVE,
    MUST_ERROR, NEW, NO_DEADLINE, OUT_BUFFER_MAX, REQUEST_HEAD, STATE_NAMES, UPGRADE_H2C, UPGRADE_WEBSOCKET,
    UPGRADING, WRITE_STALL,
)

# What scope["extensions"] of every HTTP request starts as: each request
# gets a copy of its own, made here (a dict copy, not a call into the cycle).
HTTP_EXTENSIONS = http_extensions()

logger = logging.getLogger("fastasgi.error")
access_logger = logging.getLogger("fastasgi.access")

MAX_PIPELINE = 32  # queued requests before we stop reading from the client
# A first body chunk this large is not copied into the response head's buffer.
LARGE_BODY = 16 * 1024
# Where writelines() joins its buffers (see writes_vectors), a body goes out
# in a write of its own from this size: below it, one copy costs less than
# a second send().
OWN_WRITE_BODY = 256 * 1024
# At shutdown, how long a connection accepted but still without its first
# request may wait for it: the client may have sent it already.
SHUTDOWN_FIRST_REQUEST_GRACE = 0.5
# Python 3.12+ can run a task's first step at once instead of on the next
# loop turn: most apps answer without ever suspending, so the request is
# served inside data_received with no extra loop iteration.
EAGER_TASKS = sys.version_info >= (3, 12)
# Before 3.12, asyncio names each task it makes "Task-<n>" through
# PyUnicode_FromFormat, a measurable share of a hello request
# (docs/performance.md).  A request's task is made here with a cheaper name
# of its own, the server's request count; 3.12+ formats its default name
# only when asked for it.
Task = asyncio.Task

# The flag that raises the limit behind each refusal, named in its log line:
# these limits are stricter than uvicorn's (docs/migration.md).
LIMIT_FLAGS = {
    "Request line too long": "--limit-request-line",
    "Request head too large": "--limit-request-header-size",
    "Too many header fields": "--limit-request-fields",
    "Request body too large": "--limit-request-body",
}


class HttpProtocol(Connection):
    """The asyncio protocol of one HTTP/1.1 connection, and the Connection
    its request cycles answer on.  Transports call its methods by name: a
    compiled class cannot also derive from asyncio.Protocol, so neither
    twin does."""

    # Slots, not a __dict__: an idle keep-alive connection costs less memory.
    __slots__ = (
        "access_log", "app_state", "client", "conn", "cycle", "dispatching", "encoder", "flow", "forwarded",
        "forwarded_known", "handoff", "large_body", "last_call", "loop", "parser", "response_encoder", "scheme",
        "scope_template", "server", "server_state", "settings", "starting", "tls", "transport", "write_paused",
    )

    # Set by the subclass for asyncio's own loop (see asyncio_loop.py).
    websocket_class = WebSocketProtocol
    first_step_at_once = False  # run_first_step() before 3.12's eager tasks

    def __init__(self, config, server_state, app_state, _loop=None, settings=None):
        # `settings`: what the server read from `config` once for all its
        # connections (ProtocolFactory); made here when a protocol is made alone.
        if settings is None:
            settings = ConnectionSettings(config)
        self.settings = settings
        self.loop = _loop or asyncio.get_event_loop()
        self.server_state = server_state
        self.app_state = app_state
        # settings.RequestParser, made by its twin's parser_for (compiled, a C call)
        limits, upgrade_token = self.settings.parser_args
        self.parser = parser_for(limits, upgrade_token)

        self.transport = None
        self.flow = None
        self.client = None
        self.server = None
        self.scheme = "http"
        self.access_log = False
        self.cycle = None  # the cycle whose request body is being read
        self.large_body = LARGE_BODY  # first body chunks from here up are not copied (see connection_made)
        self.forwarded = None  # the ForwardedPolicy, while the peer may be a trusted proxy
        self.forwarded_known = True  # whether the peer was asked about (see proxy_policy)
        self.encoder = None  # while a response is being written: its encoder
        # This connection's encoder, restarted for each response: a method
        # call costs less than a new object.
        self.response_encoder = self.settings.ResponseEncoder(False, True, True)
        # The connection's state, its requests (the running cycle, those
        # queued behind it) and its deadlines (http11.py).
        self.conn = connection_for(settings, self.parser)
        self.scope_template = None  # from the second request on: see _next_scope
        # Connection's field, for connections that keep it: this one never
        # sets it, writes_paused() asks the Http11Connection instead.
        self.write_paused = False
        self.starting = None  # a cycle to start once the current data is parsed
        self.last_call = False  # shutting down: answer the request on its way, then close
        self.dispatching = False  # inside _dispatch: it starts the next request itself
        # The cycle whose response just freed the next pipelined request:
        # its task runs that request if its app returns this loop turn
        # (take_next), flush() starts it in a task of its own otherwise.
        self.handoff = None

    # -- transport callbacks ---------------------------------------------
    def connection_made(self, transport):
        self.transport = transport
        self.large_body = LARGE_BODY if writes_vectors(transport) else OWN_WRITE_BODY
        self.flow = self.settings.FlowControl(transport)
        local = self.settings.local_address
        self.server = local if local is not None else get_local_addr(transport)
        self.client = get_remote_addr(transport)
        # Only a server with a TLS context (config.ssl, loaded at startup) has TLS
        # transports: the others skip the question (on uvloop a get_extra_info()
        # that falls through to its base class).
        self.scheme = "https" if self.settings.config.ssl is not None and is_ssl(transport) else "http"
        self.tls = tls_extension(transport, self.settings.ssl_server_cert) if self.scheme == "https" else None
        # Proxy headers count only from a trusted peer. The peer is asked about
        # once, on the first request that carries such headers (proxy_policy):
        # most connections never do, and the question is a Python call.
        self.forwarded = self.settings.forwarded_policy
        self.forwarded_known = self.forwarded is None
        self.access_log = self.settings.access_log and access_logger.isEnabledFor(logging.INFO)
        self.server_state.connections.add(self)
        if self.settings.observer is not None:
            self.settings.observer.connection_made()
        self.conn.accepted(self.server_state.clock)
        if self.tls is not None and self.settings.config.http2 and is_alpn_h2(transport):
            self.handle_http2(b"")
            return
        if self.server_state.shutting_down:
            self.shutdown()

    def connection_lost(self, exc):
        self.server_state.connections.discard(self)
        running = self.conn.running
        self.conn.connection_lost()  # the queued requests are dropped, writing is not paused any more
        for cycle in (running, self.cycle):
            if cycle is not None:
                cycle.disconnect()
        self.handoff = None
        if self.settings.observer is not None:
            self.settings.observer.connection_closed(self.parser.bytes_received)
        self.parser.close()
        if self.flow is not None:
            self.flow.connection_lost(exc)

    def eof_received(self):
        pass  # let the transport close: a half-closed client gets no more responses

    def pause_writing(self):
        self.flow.pause_writing()
        self.conn.pause_writing(self.server_state.clock)  # --timeout-write counts from here

    def resume_writing(self):
        """The client read: what waited for it may go on (see Http11Connection.may_start)."""
        self.flow.resume_writing()
        self.conn.resume_writing()
        if self.handoff is None and not self.dispatching and self.conn.queued and self.conn.may_start():
            self._dispatch(self._next_in_pipeline())

    def writes_paused(self):
        """Connection.writes_paused: the Http11Connection keeps whether writing is paused."""
        return self.conn.write_paused

    @property
    def running(self):
        """The cycle whose response is being written, if any."""
        return self.conn.running

    @property
    def deadline(self):
        """Loop time the server's tick calls on_deadline(); 0: never."""
        return self.conn.deadline

    def data_received(self, data):
        conn = self.conn
        events = conn.feed(data, self.server_state.clock)
        if events is None:
            self.handle_http2(data)  # the HTTP/2 preface (h2c with prior knowledge)
            return
        self._handle_events(events)
        if conn.error is not None:
            # The whole requests before the bad bytes were answered, in order, before the error.
            exc = conn.error
            conn.error = None
            self._parse_error(exc)
            return
        if self.parser.trailing is not None:
            self.handle_upgrade()

    def _handle_events(self, events):
        for event in events:
            if type(event) is bytes:
                cycle = self.cycle
                if not cycle.response_complete and not cycle.disconnected:
                    cycle.feed_body(event)
                    self.flow.body_received(len(event))
            elif event is None:
                cycle = self.cycle
                if cycle is not None:
                    cycle.body_complete()
            else:
                self._on_request_head(event)
        if self.starting is not None:
            # Started after the body bytes of this read are fed, so an app
            # that reads a small body finds it complete at once.
            cycle = self.starting
            self.starting = None
            self._dispatch(cycle)

    # -- requests --------------------------------------------------------
    def _scope(self, head, scope_type, scheme, extensions):
        root_path = self.settings.root_path
        if self.tls is not None:
            extensions["tls"] = self.tls
        scope = {
            "type": scope_type,
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": head.http_version,
            "server": self.server,
            "client": self.client,
            "scheme": scheme,
            "method": head.method,
            "root_path": root_path,
            "path": root_path + head.path if root_path else head.path,
            "raw_path": self.settings.raw_root_path + head.raw_path if root_path else head.raw_path,
            "query_string": head.query_string,
            "headers": head.headers,
            "state": self.app_state.copy(),
            "extensions": extensions,
        }
        if self.forwarded is not None and head.proxied:  # without the headers it has nothing to do
            policy = self.proxy_policy()
            if policy is not None:
                policy.apply(scope)
        return scope

    def proxy_policy(self):
        """The ForwardedPolicy if this connection's peer is a trusted proxy, else None."""
        if not self.forwarded_known:
            self.forwarded_known = True
            if not self.forwarded.trusts(self.client):
                self.forwarded = None
        return self.forwarded

    def _next_scope(self, head):
        """The scope of a request after the connection's first: a copy of the
        connection's template, with what differs from request to request set
        in it.  Copying the template costs less than building the whole dict,
        and keeps the keys in _scope's order."""
        template = self.scope_template
        if template is None:
            # The fields no request changes; None marks those set below.
            template = self.scope_template = {
                "type": "http", "asgi": None, "http_version": None, "server": self.server,
                "client": self.client, "scheme": self.scheme, "method": None,
                "root_path": self.settings.root_path, "path": None, "raw_path": None, "query_string": None,
                "headers": None, "state": None, "extensions": None,
            }
        extensions = HTTP_EXTENSIONS.copy()  # each request's own, for the app to add to
        if self.tls is not None:
            extensions["tls"] = self.tls
        scope = template.copy()
        scope["asgi"] = {"version": "3.0", "spec_version": "2.4"}
        scope["http_version"] = head.http_version
        scope["method"] = head.method
        root_path = self.settings.root_path
        if root_path:
            scope["path"] = root_path + head.path
            scope["raw_path"] = self.settings.raw_root_path + head.raw_path
        else:
            scope["path"] = head.path
            scope["raw_path"] = head.raw_path
        scope["query_string"] = head.query_string
        scope["headers"] = head.headers
        scope["state"] = self.app_state.copy()
        scope["extensions"] = extensions
        if self.forwarded is not None and head.proxied:
            policy = self.proxy_policy()
            if policy is not None:
                policy.apply(scope)
        return scope

    def _on_request_head(self, head):
        conn = self.conn
        kind = conn.request_head(head, self.server_state.clock)  # and arms the request's watchdog
        if kind == UPGRADE_H2C:
            if self.handle_http2(b"", head):
                return  # answered on HTTP/2's stream 1
            conn.serve_plain()
        self.server_state.total_requests += 1
        if kind == UPGRADE_WEBSOCKET:  # the parser stopped: the rest is the websocket's
            self.cycle = None
            return
        if conn.requests == 1:  # a connection with one request never makes a template
            scope = self._scope(head, "http", self.scheme, HTTP_EXTENSIONS.copy())
        else:
            scope = self._next_scope(head)
        cycle = RequestResponseCycle(scope, self, head.expect_continue)
        cycle.wire = head
        if self.settings.observer is not None:
            cycle.started = self.settings.observer.clock()
        self.cycle = cycle
        if conn.queue(cycle):
            self.starting = cycle
        elif len(conn.queued) >= MAX_PIPELINE:
            self.flow.pause_reading()

    def _dispatch(self, cycle):
        """Run `cycle`'s app, then each pipelined request its response frees.

        With eager tasks (3.12+, or run_first_step before) the task may run
        its apps before it is even returned, and one of them may wait after
        completing its response; looping here instead of starting the next
        request from flush() keeps the stack flat however deep the pipeline.
        """
        self.dispatching = True
        try:
            while cycle is not None:  # the running one
                coro = cycle.run_asgi(self.settings.app, self.server_state.context)
                loop = self.loop
                if loop.get_task_factory() is not None:  # the app's choice: its factory makes the task
                    task = loop.create_task(coro)
                elif EAGER_TASKS:
                    task = Task(coro, loop=loop, eager_start=True)
                else:
                    task = Task(coro, loop=loop, name=f"fastasgi-request-{self.server_state.total_requests}")
                if self.first_step_at_once:  # never set on 3.12+
                    run_first_step(loop, task)
                if not task.done():
                    cycle.task = task
                    self.server_state.tasks.add(task)
                cycle = None
                if self.conn.queued and self.conn.may_start():
                    # An app waits after its response: the next request gets a task of its own.
                    cycle = self._next_in_pipeline()
        finally:
            self.dispatching = False

    def take_next(self, cycle):
        if self.handoff is not cycle:
            return None
        if not self.conn.queued or not self.conn.may_start():
            self.handoff = None  # resume_writing() starts it, if writing is what holds it
            return None
        return self._next_in_pipeline()

    def _next_in_pipeline(self):
        """The first pipelined request, which becomes the running one."""
        self.handoff = None
        cycle = self.conn.next_request()
        if self.flow.read_paused:
            self._resume_reading_pipeline()
        return cycle

    def task_finished(self, cycle):
        self.server_state.tasks.discard(cycle.task)
        cycle.task = None

    def _resume_reading_pipeline(self):
        if len(self.conn.queued) < MAX_PIPELINE // 2:
            self.flow.resume_reading()

    def handle_upgrade(self):
        """Hand the connection to the websocket protocol, after earlier responses."""
        if self.conn.running is not None or self.conn.queued:
            self.flow.pause_reading()
            return
        self.flush()  # earlier responses, before the websocket's first bytes
        head = self.conn.upgrade_head
        self.server_state.connections.discard(self)
        self.conn.switched()
        websocket = self.websocket_class(self.settings.config, self.server_state, self.app_state, self.loop)
        self.transport.set_protocol(websocket)
        scheme = "wss" if self.scheme == "https" else "ws"
        scope = self._scope(head, "websocket", scheme, {"websocket.http.response": {}})
        del scope["method"]
        websocket.start(self.transport, self.flow, head, scope, self.parser.trailing)
        if self.settings.observer is not None:  # its bytes are counted as a closed connection's
            self.settings.observer.connection_closed(self.parser.bytes_received)
        self.parser.close()
        self.flow.resume_reading()
        if self.last_call:  # arrived during shutdown: it gets the shutdown's answer
            websocket.shutdown()

    def handle_http2(self, data, upgrade_head=None):
        """Hand the connection to the HTTP/2 protocol: its preface came (`data`,
        what was read of it), TLS chose h2, or `upgrade_head` asked for h2c
        (answered on stream 1).  False when that request cannot upgrade: it
        is served as HTTP/1.1."""
        if cython.compiled:  # its streams derive from this twin's Connection
            from .http2_asyncio_c import http2_protocol
        else:
            from .http2_asyncio import http2_protocol

        try:
            http2 = http2_protocol(self, RequestResponseCycle, upgrade_head)
        except ValueError:
            return False
        self.flush()  # earlier responses go out first
        self.server_state.connections.discard(self)
        self.conn.switched()
        self.parser.close()
        http2.start(data)
        return True

    # -- the connection side of RequestResponseCycle --------------------
    def flush_soon(self, item):
        """Flush `item` at the end of this loop turn: this protocol's held
        bytes, or a cycle's head still waiting for its first body chunk.
        One callback per turn serves every connection."""
        state = self.server_state
        if not state.pending_flushes:
            self.loop.call_soon(state.flush_pending)
        state.pending_flushes.append(item)

    # What the cycle calls after http.response.start: usually the first body
    # chunk comes first and takes the head along; this covers apps that wait.
    def flush_head_soon(self, cycle):
        self.flush_soon(cycle)

    def send_continue(self):
        if self.conn.state < CLOSING:
            self._write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.flush()  # the client waits for it

    # -- output: held back so that small writes go out together ------------
    def _write(self, data):
        """Hold `data` until the end of this loop turn (or until enough is held)."""
        conn = self.conn
        if conn.out is None and len(data) >= OUT_BUFFER_MAX:
            self._send(data)  # enough to go alone
            return
        held = conn.hold(data)
        if held == FIRST_HELD:
            self.flush_soon(self)
        elif held == FULL:
            self.flush()

    def flush(self):
        if self.handoff is not None and not self.dispatching:
            # The loop turn ends and the app that freed the next pipelined
            # request has not returned (it waits after its response, or
            # failed): that request must not wait for it.
            self.handoff = None
            if self.conn.queued and self.conn.may_start():
                self._dispatch(self._next_in_pipeline())
        out = self.conn.data_to_send()
        if out is not None:
            if len(out) == 1:
                self._send(out[0])
            elif not self.transport.is_closing():
                self.transport.writelines(out)

    def _send(self, data):
        # A transport that is closing (the client went away) takes nothing
        # more: asyncio's would log a warning for every write.
        if not self.transport.is_closing():
            self.transport.write(data)

    def _close(self):
        self.flush()
        self.transport.close()

    def _close_requests(self):
        """No more requests on this connection (the one running, if any, is the last)."""
        self.conn.close_requests()

    @property
    def state_name(self):
        return STATE_NAMES[self.conn.state]

    def write_response_head(self, cycle, status, headers, body, more_body):
        head = cycle.wire
        settings = self.settings
        encoder = self.encoder = self.response_encoder
        # A client still waiting for 100 Continue may or may not send the
        # body it announced: the next bytes cannot be known to be a request.
        encoder.start(head.method == "HEAD", head.http_version == "1.1",
                      head.keep_alive and self.conn.state < CLOSING and not self.last_call
                      and not (cycle.expect_continue and cycle.more_body))
        date_line = self.server_state.date_line if settings.date_header else b""
        if len(body) < self.large_body:
            data = encoder.encode_head(status, headers, body, more_body, settings.default_lines, date_line,
                                       settings.server_line)
        else:  # written beside its head (one writev), not copied into it
            self._write(encoder.frame_head(status, headers, body, more_body, settings.default_lines, date_line,
                                           settings.server_line))
            if self.large_body == OWN_WRITE_BODY:  # writelines() joins on this transport:
                self.flush()  # the head goes alone, so the body is not copied
            data = encoder.encode_body(body, more_body)
        if self.access_log:
            log_access(access_logger, client_addr_for_log(cycle.scope), head.method,
                       _path_with_query(cycle.scope), head.http_version, status)
        if settings.observer is not None:
            cycle.status = status
            cycle.first_byte = settings.observer.clock()
            cycle.sent = len(body)
            cycle.response_headers = headers
        if encoder.complete:
            self._response_complete(cycle, data)
        else:
            self._write(data)

    def write_response_body(self, cycle, body, more_body):
        encoder = self.encoder
        data = encoder.encode_body(body, more_body)
        if self.settings.observer is not None:
            cycle.sent += len(body)
        if encoder.complete:
            self._response_complete(cycle, data)
        elif data:
            self._write(data)

    def write_trailers(self, cycle, trailers):
        """The last chunk and its trailer section (RFC 9112 7.1.2), for a
        client that said it takes one (TE: trailers); the last chunk alone otherwise."""
        encoder = self.encoder
        data = encoder.encode_body(b"", False)
        if trailers and encoder.chunked and takes_trailers(cycle.scope["headers"]):
            parts = [b"0\r\n"]
            for name, value in trailers:
                parts.append(name + b": " + value + b"\r\n")
            parts.append(b"\r\n")
            data = b"".join(parts)
        self._response_complete(cycle, data)

    def send_early_hint(self, cycle, links):
        """103 Early Hints, to HTTP/1.1 clients: an HTTP/1.0 one would take it for the response."""
        if not links or self.conn.state >= CLOSING or cycle.wire.http_version != "1.1":
            return
        parts = [b"HTTP/1.1 103 Early Hints\r\n"]
        for link in links:
            parts.append(b"link: " + link + b"\r\n")
        parts.append(b"\r\n")
        self._write(b"".join(parts))
        self.flush()  # the client acts on it while the app still works

    def send_file(self, cycle, file, offset, count, more_body):
        """Connection.send_file: the file's bytes go out as they are, framed
        around by the encoder, with sendfile where the loop and the
        transport can (not under TLS, whose bytes must be encrypted here)."""
        encoder = self.encoder
        if encoder.no_body:
            count = 0  # a HEAD response: the head alone
        prefix, suffix = encoder.frame_file(count, more_body)
        if self.settings.observer is not None:
            cycle.sent += count
        return self._stream_file(cycle, file, offset, count, prefix, suffix, encoder.complete)

    async def _stream_file(self, cycle, file, offset, count, prefix, suffix, complete):
        if prefix:
            self._write(prefix)
        self.flush()  # the head first; sendfile writes past the transport's buffer
        sent = 0
        if count:
            try:
                sent = await self._sendfile(cycle, file, offset, count)
            except ConnectionError:  # the client went away in the middle
                if not cycle.disconnected:
                    self.transport.abort()
                raise ClientDisconnected("The client has disconnected.") from None
        if cycle.disconnected or self.transport.is_closing():
            raise ClientDisconnected("The client has disconnected.")
        if sent < count:
            self.abort()  # the length was announced: the client cannot find the end
            raise FileShrank(f"the file ended {count - sent} bytes short of the {count} bytes announced")
        if complete:
            self._response_complete(cycle, suffix)
        elif suffix:
            self._write(suffix)

    async def _sendfile(self, cycle, file, offset, count):
        """Bytes of `file` sent: by the kernel on a plain socket (sendfile.py), else a read loop."""
        transport = self.transport
        if self.tls is None:
            try:
                return await sendfile_to_socket(self.loop, transport, file.fileno(), offset, count,
                                                self.settings.timeout_write)
            except SendfileUnsupported:
                pass  # nothing sent: read it
            except WriteStalled:
                self._timed_out("write")
                logger.info("Client %s read none of the response for %s s: aborting.",
                            _format_addr(self.client), self.settings.timeout_write)
                self._close_requests()
                transport.abort()
                raise ClientDisconnected("The client stopped reading.") from None
        return await send_by_reads(transport, self.flow, cycle, file.fileno(), offset, count)

    def _response_complete(self, cycle, data):
        """`data`, the last bytes of `cycle`'s response, go out; then what's next."""
        cycle.response_complete = True
        if self.settings.observer is not None:
            self.settings.observer.response_complete(cycle)
        if cycle.waiter is not None:
            cycle._wake()
        keep_alive = self.encoder.keep_alive
        self.encoder = None
        conn = self.conn
        conn.response_done()
        # The last bytes go out now, unless more responses follow at once (a
        # pipelined batch): then they wait to leave with the next one.
        hold = keep_alive and conn.queued and conn.state < CLOSING
        if conn.out is None and not hold:
            if data:
                self._send(data)
        else:
            held = conn.hold(data)
            if held == FIRST_HELD:
                self.flush_soon(self)  # also gives the next request a task if this app does not return
            elif not hold or held == FULL:
                self.flush()
        if not keep_alive or conn.state >= CLOSING:
            self._close_requests()
            self._close()
            return
        if conn.queued:
            self.handoff = cycle  # see take_next() and flush()
        elif conn.state == UPGRADING:
            self.handle_upgrade()
        elif conn.state == MUST_ERROR:
            self._send_error_and_close(conn.pending_error.status_code, conn.pending_error.reason)
        elif self.cycle is cycle or self.cycle is None:
            conn.idle(self.server_state.clock)

    def cycle_finished(self, cycle):
        """The app of `cycle` returned: forget the body it never read."""
        if cycle.body:
            unread = 0  # a loop, not sum() of a generator: http_c's cpdef methods hold no closures
            for chunk in cycle.body:
                unread += len(chunk)
            self.flow.body_consumed(unread)
            cycle.body.clear()
        if cycle is self.cycle and cycle.more_body:
            # The rest of the body will be parsed and dropped; reading must go on.
            self.flow.resume_reading()
        elif cycle is self.cycle and cycle.response_complete:
            self.cycle = None  # done with: an idle connection keeps no request alive

    def send_error(self, status):
        """Answer `status` for the running request and close (the app failed)."""
        cycle = self.conn.running
        if cycle is None or self.conn.state >= CLOSING and self.transport.is_closing():
            return
        self._close_requests()
        if self.settings.observer is not None:
            self.settings.observer.app_error()
        body = ERROR_BODIES.get(status, b"")
        cycle.response_started = True
        self.write_response_head(cycle, status, [(b"content-type", b"text/plain; charset=utf-8"),
                                                 (b"connection", b"close")], body, False)

    def abort(self):
        """The response can't be finished correctly: close, so the client notices."""
        self._close_requests()
        if self.settings.observer is not None and self.conn.running is not None:
            self.settings.observer.response_aborted(self.conn.running)
        self.conn.response_done()
        self.encoder = None
        if self.transport is not None and not self.transport.is_closing():
            self._close()  # earlier, complete responses still go out

    # -- errors, timeouts, shutdown --------------------------------------
    def _parse_error(self, exc):
        flag = LIMIT_FLAGS.get(exc.reason)
        logger.warning("Invalid HTTP request received from %s: %s (%d)%s", _format_addr(self.client),
                       exc.reason, exc.status_code, f"; {flag} raises the limit" if flag else "")
        cycle = self.cycle
        if cycle is not None and cycle.more_body:
            # The bad bytes are in the body of a request already handed to
            # the app: that request is the one that failed.  Its app sees a
            # disconnect; the client gets the error now if nothing was sent.
            self.cycle = None
            if cycle is self.conn.running:
                self._close_requests()
                if not cycle.response_started:
                    self._send_error_and_close(exc.status_code, exc.reason)
                cycle.disconnect()
                self.abort()
                return
            if cycle not in self.conn.queued:
                # Its response is out and the rest of its body was being
                # dropped: a 400 now would read as the next request's answer.
                cycle.disconnect()
                self.abort()
                return
            self.conn.queued.remove(cycle)
        if self.conn.running is None and not self.conn.queued:
            self._send_error_and_close(exc.status_code, exc.reason)
        else:
            # Earlier requests are still being answered: answer this one after them.
            self.conn.must_error(exc)
            self.flow.pause_reading()

    def _send_error_and_close(self, status, reason):
        settings = self.settings
        self._close_requests()
        if settings.observer is not None:
            settings.observer.server_error(status)
        body = ERROR_BODIES.get(status, b"")
        if status != 400 and reason:
            body = reason.encode("ascii", "replace")
        self._write(b"".join((
            settings.status_line(status),
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n",
            self.server_state.date_line if settings.date_header else b"",
            settings.server_line,
            b"\r\n",
            body,
        )))
        self._close()

    def pending_deadline(self):
        """Which deadline `deadline` is (NO_DEADLINE, KEEP_ALIVE, ...): what
        on_deadline will do when it passes."""
        return self.conn.pending_deadline(self.transport.is_closing(), self._draining(), self.conn.running is not None)

    def _draining(self):
        """Whether the body being read belongs to a request already answered."""
        cycle = self.cycle
        return cycle is not None and cycle.more_body and cycle.response_complete

    def on_deadline(self):
        """Called by the server's tick when `deadline` has passed: the
        connection (http11.py) says what it means, this does it.

        Between requests it is the keep-alive or the request-head timeout;
        while a request runs it is a watchdog, re-armed every watch_interval,
        for --timeout-request-body and its total; once we closed the
        transport it bounds the flush to a client that does not read.  In
        every state, writing paused for --timeout-write (no progress: the
        client read nothing) aborts the connection.
        """
        transport = self.transport
        conn = self.conn
        now = self.server_state.clock
        kind = conn.on_deadline(now, transport.is_closing(), self._draining(), conn.running is not None)
        if kind == NO_DEADLINE:
            return  # re-armed: nothing to do yet
        if kind == CLOSE_FLUSH:
            self._timed_out("write")
            logger.info("Client %s did not read the end of the response within %s s: aborting.",
                        _format_addr(self.client), self.settings.timeout_write)
            transport.abort()
        elif kind == WRITE_STALL:
            self._timed_out("write")
            logger.info("Client %s read none of the response for %s s: aborting.",
                        _format_addr(self.client), self.settings.timeout_write)
            transport.abort()
        elif kind == BODY_DRAIN:
            # A 408 now would read as the answer to a request never sent.
            self._timed_out("request_body")
            logger.info("Request body from %s not complete in time: closing.", _format_addr(self.client))
            self._close_requests()
            self._close()
            conn.set_deadline(now + self.settings.watch_interval)
        elif kind == REQUEST_HEAD:
            self._timed_out("request_header")
            logger.info("Request head from %s not complete within %s s: 408.",
                        _format_addr(self.client), self.settings.timeout_request_header)
            self._send_error_and_close(408, "")
            conn.set_deadline(now + self.settings.watch_interval)
        elif kind == KEEP_ALIVE:
            self._close_requests()
            self._close()  # idle keep-alive connection
            conn.set_deadline(now + self.settings.watch_interval)
        else:
            self._watch(now)

    def _watch(self, now):
        """The watchdog of a running request: slow request bodies.

        A body may go quiet for --timeout-request-body at most, and take
        --timeout-request-body-total in all, counting only the time the
        server waits on the client (not while the app is behind and reading
        is paused, nor while the client waits for 100 Continue)."""
        settings = self.settings
        cycle = self.cycle
        waiting = (cycle is not None and cycle.more_body and not cycle.disconnected and not self.flow.read_paused
                   and not cycle.expect_continue)  # a client waiting for 100 Continue is not late
        late = self.conn.watch_body(now, waiting)
        if late == BODY_IDLE:
            self._body_timed_out(cycle, "sent nothing for %s s" % settings.timeout_request_body)
        elif late != BODY_ON_TIME:
            self._body_timed_out(cycle, "not complete within %s s" % settings.timeout_request_body_total)

    def _timed_out(self, kind):
        if self.settings.observer is not None:
            self.settings.observer.timed_out(kind)

    def _body_timed_out(self, cycle, why):
        self._timed_out("request_body")
        logger.info("Request body from %s %s: %s.", _format_addr(self.client), why,
                    "408" if not cycle.response_started else "closing")
        self.cycle = None
        self._close_requests()
        if cycle is self.conn.running and not cycle.response_started:
            self._send_error_and_close(408, "")
        cycle.disconnect()
        self.abort()
        self.conn.set_deadline(self.server_state.clock + self.settings.watch_interval)  # bound the flush

    def shutdown(self):
        """Server shutdown: finish the running response, then close."""
        conn = self.conn
        conn.queued.clear()
        if conn.running is None and (conn.state == NEW or conn.state == HEAD):
            # Accepted, but its first request is not (all) here yet: closing
            # now would reset a request the client may have sent already.
            # Answer that one request, then close.
            self.last_call = True
            if conn.state == NEW:
                conn.set_deadline(self.server_state.clock + SHUTDOWN_FIRST_REQUEST_GRACE)
            return
        self._close_requests()
        if conn.running is None:
            self._close()
        elif self.encoder is not None:
            self.encoder.keep_alive = False


class BufferedHttpProtocol(HttpProtocol, SharedReadBuffer):
    """HttpProtocol for asyncio's own event loop: see asyncio_loop.py.

    HttpProtocol comes first: asyncio.BaseProtocol, behind SharedReadBuffer,
    has do-nothing connection_made() and friends that must not win."""

    __slots__ = ()
    websocket_class = BufferedWebSocketProtocol
    first_step_at_once = not EAGER_TASKS


def http_protocol_class(loop):
    """The HTTP protocol to serve `loop`'s connections with."""
    return BufferedHttpProtocol if is_asyncio_loop(loop) else HttpProtocol


def takes_trailers(headers):
    """Whether the request's TE field lists "trailers" (RFC 9110 10.1.4)."""
    for name, value in headers:
        if name == b"te" and b"trailers" in bytes(value).lower():
            return True
    return False


def writes_vectors(transport):
    """Whether transport.writelines() hands its buffers to the kernel as they are.

    uvloop's and asyncio's own on 3.12+ do (one writev).  The fallback in
    asyncio.WriteTransport, which PyPy 3.9 and asyncio before 3.12 use for
    sockets, joins them into a new bytes object: for a 1 MiB body that is
    a copy per response, and on PyPy the allocator churn of those copies
    slows large responses badly (docs/performance.md).
    """
    return type(transport).writelines is not asyncio.WriteTransport.writelines


# -- transport facts for the scope (here, not in a module of their own, so
# that compiled they are C functions: they run for every connection) --------
def get_remote_addr(transport):
    return _address(transport, "peername", "getpeername")


def get_local_addr(transport):
    return _address(transport, "sockname", "getsockname")


def _address(transport, name, method):
    """(host, port) of one end of the connection; (path, None) for our end of
    a Unix socket, None for the peer's.

    The transport's own copy first: uvloop and asyncio fetch both names once
    when they accept, while get_extra_info("socket") builds a socket object
    (three more getsockname() calls on uvloop) for one more syscall.
    """
    info = transport.get_extra_info(name)
    if info is None:  # a transport that does not keep them
        sock = transport.get_extra_info("socket")
        if sock is None:
            return None
        try:
            info = getattr(sock, method)()
        except OSError:
            return None
    if isinstance(info, (list, tuple)) and len(info) >= 2:
        return (str(info[0]), int(info[1]))
    if isinstance(info, str) and name == "sockname":
        return (info, None)  # our end of a Unix socket: its path, as uvicorn gives it
    return None


def is_ssl(transport):
    return bool(transport.get_extra_info("sslcontext"))


def is_alpn_h2(transport):
    """Whether the TLS handshake chose HTTP/2 (ALPN "h2")."""
    ssl_object = transport.get_extra_info("ssl_object")
    return ssl_object is not None and ssl_object.selected_alpn_protocol() == "h2"


def client_addr_for_log(scope):
    client = scope.get("client")
    if not client:
        return ""
    return f"{client[0]}:{client[1]}"


def _path_with_query(scope):
    path = scope["path"]
    query = scope["query_string"]
    return f"{path}?{query.decode('ascii', 'replace')}" if query else path


def _format_addr(addr):
    if not addr:
        return "unknown"
    return f"{addr[0]}:{addr[1]}"
