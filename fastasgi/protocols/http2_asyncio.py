"""The asyncio side of HTTP/2: one protocol per connection, one stream per request.

The HTTP/1.1 protocol hands a connection over (http.py: the h2c preface
on a fresh connection, or ALPN "h2" under TLS).  Bytes go through the
sans-I/O Http2Connection (http2.py); each request becomes a stream that
implements the request cycle's Connection interface, so the ASGI side is
the same RequestResponseCycle as HTTP/1.1.

This module is also compiled, unchanged, as http2_asyncio_c
(http2_asyncio_c.pxd gives it C types): that twin's streams derive from
the compiled cycle's Connection, and the compiled HTTP/1.1 protocol hands
its connections to it; the pure HTTP/1.1 protocol hands them to this one.
"""
import asyncio
import logging
import re
import sys
from urllib.parse import unquote

from .._speedups.errors import ERROR_BODIES
from ..logging import log_access
from .asyncio_loop import SharedReadBuffer
from .http2_websocket import WebSocketStream
from .websocket import WebSocketProtocol
from .http2 import (
    CANCEL, INTERNAL_ERROR, NO_ERROR, ConnectionClosed, DataReceived, Http2Connection, MalformedRequest,
    RequestReceived, State, StreamEnded, StreamReset, StreamWritable,
)

try:
    import cython
except ImportError:  # no Cython installed: this module runs as Python
    from types import SimpleNamespace
    cython = SimpleNamespace(compiled=False)

if cython.compiled:
    from .cycle_c import Connection, http_extensions
else:
    from .cycle import Connection, http_extensions

logger = logging.getLogger("fastasgi.error")
access_logger = logging.getLogger("fastasgi.access")

EAGER_TASKS = sys.version_info >= (3, 12)
# Response headers that describe an HTTP/1.1 connection, not a message:
# RFC 9113 8.2.2 forbids them in HTTP/2, so an app's are dropped.
CONNECTION_SPECIFIC = frozenset((b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding",
                                 b"upgrade"))
# Responses that never have a body (RFC 9110 6.4.1), besides those to HEAD.
NO_BODY_STATUSES = frozenset((204, 304))
# A lowercased response header name RFC 9113 8.2.1 allows: no control octet,
# space, uppercase, DEL, non-ASCII octet, nor colon.
VALID_NAME = re.compile(rb"[^\x00-\x20A-Z\x7f-\xff:]+\Z").match
# Response header names found valid, shared by the process's connections
# (an app sends the same few names on every response), up to a bound.
VALID_NAMES = set()
VALID_NAMES_MAX = 1024


# An app's response header (name, value) pairs as they go on the wire
# (lowercased, trimmed, checked), shared by the process's connections: an
# app sends the same few pairs on every response, so each is checked once.
# Bounded in count and in the size of a pair (a cookie is not worth keeping).
WIRE_FIELDS = {}
WIRE_FIELDS_MAX = 1024
WIRE_FIELD_MAX_SIZE = 256


def cacheable(pair):
    """Whether a response header pair can be a key of WIRE_FIELDS: bytes, short."""
    return (type(pair) is tuple and len(pair) == 2 and type(pair[0]) is bytes and type(pair[1]) is bytes
            and len(pair[0]) + len(pair[1]) <= WIRE_FIELD_MAX_SIZE)


def valid_name(name):
    """Whether a lowercased response header name is valid; a valid one is remembered."""
    if VALID_NAME(name) is None:
        return False
    if len(VALID_NAMES) < VALID_NAMES_MAX:
        VALID_NAMES.add(name)
    return True


def engine(limits):
    """The Http2Connection class the limits choose (--http2-engine): fastasgi's own or the h2 library's."""
    return limits.engine if limits.engine is not None else Http2Connection


class Http2Stream(Connection):
    """An HTTP/2 stream as the request cycle's Connection (and its flow control).

    The stream is its own `flow`: the cycle asks it whether to wait before
    sending more (write_paused, drain()) and tells it what the app read
    (body_consumed()).
    """

    __slots__ = ("protocol", "stream_id", "cycle", "no_body", "received", "drain_waiter", "done", "watch_mark",
                 "watch_since", "loop", "flow", "write_paused")

    def __init__(self, protocol, stream_id, no_body):
        self.protocol = protocol
        self.stream_id = stream_id
        self.loop = protocol.loop
        self.flow = self
        self.cycle = None
        self.no_body = no_body  # HEAD: the response goes without DATA
        self.received = 0  # request body bytes, against --limit-request-body
        self.drain_waiter = None
        self.done = False  # the stream is finished on our side: reset, refused or answered in full
        self.watch_mark = 0  # `received` when the watchdog last saw the body progress ...
        self.watch_since = protocol.server_state.clock  # ... and when
        self.write_paused = False

    # -- flow control, as the cycle sees it --------------------------------
    # `write_paused` is a field of the cycle's Connection that the compiled
    # cycle reads in C, past any Python property: each write sets it.
    def blocked(self):
        """Whether the app must wait before sending more on this stream."""
        return not self.done and (self.protocol.write_paused or self.protocol.conn.pending(self.stream_id) > 0)

    async def drain(self):
        while self.blocked():
            waiter = self.drain_waiter
            if waiter is None:
                waiter = self.drain_waiter = self.loop.create_future()
            await waiter

    def wake_writer(self):
        waiter = self.drain_waiter
        if waiter is not None:
            self.drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def body_consumed(self, size):
        """The app read `size` body bytes: the client may send as much again."""
        protocol = self.protocol
        protocol.conn.consumed(self.stream_id, size)
        protocol.flush_soon(protocol)

    # -- the cycle's Connection interface ------------------------------------
    def write_response_head(self, cycle, status, headers, body, more_body):
        protocol = self.protocol
        if self.done:
            return
        fields = [(b":status", b"%d" % status)]
        own = set()
        for pair in headers:
            key = cacheable(pair)
            field = WIRE_FIELDS.get(pair) if key else None
            if field is not None:
                own.add(field[0])
                fields.append(field)
                continue
            name, value = pair
            name = bytes(name).lower()
            value = bytes(value).strip(b" \t")  # RFC 9113 8.2.1: no surrounding whitespace
            if name in CONNECTION_SPECIFIC:
                continue
            if ((name not in VALID_NAMES and not valid_name(name))
                    or b"\r" in value or b"\n" in value or b"\x00" in value):
                raise ValueError(f"Invalid response header {name!r}: {value!r}")
            if name == b"te" and value.lower() != b"trailers":
                continue  # RFC 9113 8.2.2
            field = (name, value)
            if key and len(WIRE_FIELDS) < WIRE_FIELDS_MAX:
                WIRE_FIELDS[pair] = field
            own.add(name)
            fields.append(field)
        for name, value in protocol.default_headers():
            if name not in own:
                fields.append((name, value))
        no_body = self.no_body or status in NO_BODY_STATUSES or status < 200
        end_now = no_body or (not body and not more_body)
        protocol.conn.send_headers(self.stream_id, fields, end_now, status >= 200)
        if protocol.access_log:
            scope = cycle.scope
            query = scope["query_string"]
            path = scope["path"] + ("?" + query.decode("ascii", "replace") if query else "")
            log_access(access_logger, _client_for_log(scope), scope["method"], path, "2", status)
        if end_now:
            self._response_complete(cycle)
        else:
            self.write_response_body(cycle, body, more_body)
        protocol.flush_soon(protocol)

    def write_response_body(self, cycle, body, more_body):
        if self.done:
            if not more_body and not cycle.response_complete:
                self._response_complete(cycle)  # a HEAD response's body, dropped
            return
        protocol = self.protocol
        protocol.conn.send(self.stream_id, body, not more_body, protocol.server_state.clock)
        if not more_body:
            self._response_complete(cycle)
        self.write_paused = self.blocked()
        protocol.flush_soon(protocol)

    def write_trailers(self, cycle, trailers):
        """The trailer fields as a last HEADERS frame with END_STREAM (none: an empty DATA frame ends it)."""
        if self.done:
            if not cycle.response_complete:
                self._response_complete(cycle)
            return
        protocol = self.protocol
        if trailers:
            protocol.conn.send_trailers(self.stream_id, trailers, protocol.server_state.clock)
        else:
            protocol.conn.send(self.stream_id, b"", True, protocol.server_state.clock)
        self._response_complete(cycle)
        self.write_paused = self.blocked()
        protocol.flush_soon(protocol)

    def send_early_hint(self, cycle, links):
        """103 as an informational HEADERS block on the stream, before the response's own."""
        if self.done or not links:
            return
        fields = [(b":status", b"103")]
        for link in links:
            fields.append((b"link", link))
        self.protocol.conn.send_headers(self.stream_id, fields, False)
        self.protocol.flush()  # the client acts on it while the app still works

    def _response_complete(self, cycle):
        self.done = True
        cycle.response_complete = True
        if cycle.waiter is not None:
            cycle._wake()

    def flush_head_soon(self, cycle):
        self.protocol.flush_soon(cycle)

    def send_continue(self):
        if not self.done:
            self.protocol.conn.send_headers(self.stream_id, [(b":status", b"100")], False)
            self.protocol.flush()  # the client waits for it

    def send_error(self, status):
        """The app failed before its response began: answer `status` on this stream."""
        cycle = self.cycle
        if self.done or cycle is None:
            return
        cycle.response_started = True
        try:
            self.write_response_head(cycle, status, [(b"content-type", b"text/plain; charset=utf-8")],
                                     ERROR_BODIES.get(status, b""), False)
        except ValueError:  # the engine took the app's head before refusing it: the stream cannot answer
            self.reset(INTERNAL_ERROR)

    def abort(self):
        """The response cannot be completed: RST_STREAM INTERNAL_ERROR, other streams go on."""
        self.reset(INTERNAL_ERROR)

    def reset(self, error_code):
        protocol = self.protocol
        if not self.done:
            self.done = True
            protocol.conn.reset(self.stream_id, error_code)
            protocol.flush_soon(protocol)
        self.disconnect()

    def disconnect(self):
        """The client reset the stream, or the connection went: the app hears http.disconnect."""
        self.done = True
        if self.cycle is not None and not self.cycle.disconnected:
            self.cycle.disconnect()
        self.wake_writer()

    def cycle_finished(self, cycle):
        """The app returned: give back the window of the body it never read, forget the stream."""
        protocol = self.protocol
        if cycle.body:
            unread = 0
            for chunk in cycle.body:
                unread += len(chunk)
            cycle.body.clear()
            protocol.conn.consumed(self.stream_id, unread)
        if not self.done:
            self.reset(INTERNAL_ERROR)
        if cycle.task is not None:
            protocol.server_state.tasks.discard(cycle.task)
            cycle.task = None
        protocol.stream_finished(self)
        # Out of the table, the stream is done with its cycle: dropping the
        # references back (cycle -> stream -> cycle, stream.flow -> stream)
        # lets reference counting free the request's objects at once,
        # instead of leaving every request to the cyclic garbage collector.
        self.cycle = None
        self.flow = None

    def take_next(self, cycle):
        return None  # one request per stream

    def task_finished(self, cycle):
        self.protocol.server_state.tasks.discard(cycle.task)
        cycle.task = None


class Http2Protocol:
    """The asyncio protocol of one HTTP/2 connection."""

    __slots__ = (
        "conn", "transport", "loop", "settings", "server_state", "app_state", "streams", "client", "server",
        "scheme", "tls", "forwarded", "access_log", "deadline", "write_paused", "write_paused_at",
        "flush_queued", "cycle_class", "closed_at", "upgrade_request", "idle_at",
        "scope_template", "server_fields", "server_fields_date",
    )

    def __init__(self, http, cycle_class, upgrade_head=None):
        """Take over the connection of HTTP/1.1 protocol `http`, whose cycle
        class is `cycle_class`.  `upgrade_head`: an HTTP/1.1 request asking
        for h2c; ValueError if it cannot have it."""
        settings = self.settings = http.settings
        self.upgrade_request = None
        connection_class = engine(settings.http2_limits)
        if upgrade_head is not None:
            self.upgrade_request, settings_header = h2c_request(upgrade_head, http.tls)
            self.conn = connection_class(settings.http2_limits, settings_header, http.server_state.clock)
        else:
            self.conn = connection_class(settings.http2_limits, None, http.server_state.clock)
        self.transport = http.transport
        self.loop = http.loop
        self.server_state = http.server_state
        self.app_state = http.app_state
        self.client = http.client
        self.server = http.server
        self.scheme = http.scheme
        self.tls = http.tls
        self.forwarded = http.proxy_policy()
        self.access_log = http.access_log
        self.streams = {}  # stream id -> stream, while its app runs or its response goes out
        self.deadline = 0.0
        self.idle_at = 0.0  # when an idle connection has waited --timeout-keep-alive
        self.write_paused = False
        self.write_paused_at = 0.0
        self.closed_at = 0.0
        self.flush_queued = False
        self.cycle_class = cycle_class
        self.scope_template = None  # the scope fields no request changes, made with the first scope
        self.server_fields = None  # default_headers() while the date line is server_fields_date
        self.server_fields_date = None

    def start(self, data):
        """Serve the connection from here on; `data`: what was read of it so far."""
        self.transport.set_protocol(self)
        self.server_state.connections.add(self)
        self._idle()
        if self.upgrade_request is not None:
            self.transport.write(SWITCHING_TO_H2C)
            self.flush()  # our SETTINGS, the first HTTP/2 frame
            request = self.upgrade_request
            self.upgrade_request = None
            self._on_request(request)
        if data:
            self.data_received(data)
        else:
            self.flush()  # our SETTINGS go first
        if self.server_state.shutting_down:
            self.shutdown()

    # -- transport callbacks ---------------------------------------------
    def data_received(self, data):
        conn = self.conn
        for event in conn.feed(data, self.server_state.clock):
            kind = type(event)
            if kind is DataReceived:
                self._on_data(event)
            elif kind is RequestReceived:
                self._on_request(event)
            elif kind is StreamEnded:
                stream = self.streams.get(event.stream_id)
                if stream is not None and stream.cycle is not None:
                    stream.cycle.body_complete()
                elif type(stream) is WebSocketStream:
                    stream.ended()
            elif kind is StreamWritable:
                stream = self.streams.get(event.stream_id)
                if stream is not None:
                    stream.wake_writer()
            elif kind is StreamReset:
                stream = self.streams.get(event.stream_id)
                if stream is not None:
                    stream.disconnect()
            elif kind is MalformedRequest:
                logger.warning("Invalid HTTP/2 request from %s on stream %d: %s (stream reset).",
                               _format_addr(self.client), event.stream_id, event.reason)
            elif kind is ConnectionClosed:
                self._connection_closed(event)
                return
        self.flush()

    def _on_request(self, event):
        stream = Http2Stream(self, event.stream_id, False)
        self.streams[event.stream_id] = stream
        self.server_state.total_requests += 1
        self.idle_at = 0.0
        watch_at = self.server_state.clock + self.settings.watch_interval  # the streams' watchdog
        if not 0.0 < self.deadline <= watch_at:  # not armed as soon already (by an earlier stream)
            self._arm(watch_at)
        try:
            scope, expect_continue, content_length = self._scope(event.headers)
        except ValueError as exc:
            logger.warning("Invalid HTTP/2 request from %s: %s", _format_addr(self.client), exc)
            self._answer_without_app(stream, 400)
            return
        if scope["type"] == "websocket":
            self._on_websocket(stream, scope)
            return
        stream.no_body = scope["method"] == "HEAD"
        cycle = stream.cycle = self.cycle_class(scope, stream, expect_continue)
        limit = self.settings.limit_request_body
        if limit is not None and content_length is not None and content_length > limit:
            self._answer_without_app(stream, 413)
            return
        if event.end_stream:
            cycle.body_complete()
        coro = cycle.run_asgi(self.settings.app)
        loop = self.loop
        if loop.get_task_factory() is not None:
            task = loop.create_task(coro)
        elif EAGER_TASKS:
            task = asyncio.Task(coro, loop=loop, eager_start=True)
        else:
            task = asyncio.Task(coro, loop=loop)
        if not task.done():
            # Leaves the server's tasks when its app returns (cycle_finished),
            # as HTTP/1.1's does (task_finished): no done callback to schedule.
            cycle.task = task
            self.server_state.tasks.add(task)

    def _on_websocket(self, http_stream, scope):
        """RFC 8441: an extended CONNECT for a websocket, served by the websocket layer on this stream."""
        stream = WebSocketStream(self, http_stream.stream_id)
        self.streams[stream.stream_id] = stream
        config = self.settings.config
        websocket = stream.websocket = WebSocketProtocol(config, self.server_state, self.app_state, self.loop)
        websocket.start_on_stream(stream, scope)
        if self.server_state.shutting_down:
            websocket.shutdown()

    def _answer_without_app(self, stream, status):
        """An error answer for a request its app never sees."""
        body = ERROR_BODIES.get(status, b"")
        self.conn.send_headers(stream.stream_id, [
            (b":status", b"%d" % status), (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", b"%d" % len(body))], False)
        self.conn.send(stream.stream_id, body, True, self.server_state.clock)
        stream.done = True
        self.stream_finished(stream)

    def _scope(self, headers):
        """The ASGI scope of a request's header list; ValueError when it cannot be served."""
        method = path = authority = tunnel = None
        scheme = self.scheme
        fields = []
        cookies = []
        has_host = False
        expect_continue = False
        content_length = None
        proxied = False
        for name, value in headers:
            if name[:1] == b":":
                if name == b":method":
                    method = value
                elif name == b":path":
                    path = value
                elif name == b":authority":
                    authority = value
                elif name == b":protocol":
                    tunnel = value  # RFC 8441's extended CONNECT
                continue  # :scheme is what the client says, the transport is what counts
            if name == b"cookie":
                cookies.append(value)  # RFC 9113 8.2.3: one header again for the app
                continue
            if name == b"host":
                has_host = True
            elif name == b"expect":
                expect_continue = value.lower() == b"100-continue"
            elif name == b"content-length":
                content_length = int(value)  # the engine checked it is a number
            elif name in FORWARDED_HEADERS:
                proxied = True
            fields.append((name, value))
        if cookies:
            fields.append((b"cookie", b"; ".join(cookies)))
        if authority is not None and not has_host:
            fields.insert(0, (b"host", authority))
        if method == b"CONNECT" and (tunnel != b"websocket" or self.settings.config.ws == "none"):
            raise ValueError("CONNECT requests are not served" if tunnel is None else
                             f"no {tunnel.decode('latin-1')!r} over extended CONNECT")
        if method is None or path is None:
            raise ValueError("no :path")
        raw_path, _, query_string = path.partition(b"?")
        raw_path = raw_path.partition(b"#")[0]
        if raw_path[:1] != b"/" and raw_path != b"*":
            raise ValueError("the :path is not an absolute path")
        try:
            text_path = raw_path.decode("ascii")
        except UnicodeDecodeError:
            raise ValueError("the :path is not ASCII") from None
        if "%" in text_path:
            text_path = unquote(text_path)
        root_path = self.settings.root_path
        extensions = http_extensions()
        if self.tls is not None:
            extensions["tls"] = self.tls
        template = self.scope_template
        if template is None:
            # The fields no request on this connection changes; None marks
            # those set below.  A copy costs less than a new dict, keys in order.
            template = self.scope_template = {
                "type": "http", "asgi": None, "http_version": "2", "server": self.server,
                "client": self.client, "scheme": scheme, "method": None, "root_path": root_path,
                "path": None, "raw_path": None, "query_string": None, "headers": None, "state": None,
                "extensions": None,
            }
        scope = template.copy()
        scope["asgi"] = {"version": "3.0", "spec_version": "2.4"}
        scope["method"] = method.decode("ascii")
        scope["path"] = root_path + text_path if root_path else text_path
        scope["raw_path"] = self.settings.raw_root_path + raw_path if root_path else raw_path
        scope["query_string"] = query_string
        scope["headers"] = fields
        scope["state"] = self.app_state.copy()
        scope["extensions"] = extensions
        if tunnel is not None:  # a websocket: method and body are HTTP/2's business, not the app's
            del scope["method"]
            scope["type"] = "websocket"
            scope["scheme"] = "wss" if scheme == "https" else "ws"
            scope["extensions"] = {"websocket.http.response": {}}
            if self.tls is not None:
                scope["extensions"]["tls"] = self.tls
        if self.forwarded is not None and proxied:
            self.forwarded.apply(scope)
        return scope, expect_continue, content_length

    def _on_data(self, event):
        stream = self.streams.get(event.stream_id)
        data = event.data
        padding = event.flow_length - len(data)
        if padding:
            self.conn.consumed(event.stream_id, padding)  # padding is never the app's to read
        if type(stream) is WebSocketStream:
            stream.data_received(data, len(data))
            return
        cycle = stream.cycle if stream is not None else None
        if cycle is None or cycle.response_complete or cycle.disconnected:
            self.conn.consumed(event.stream_id, len(data))  # nobody will read it
            return
        stream.received += len(data)
        limit = self.settings.limit_request_body
        if limit is not None and stream.received > limit:
            logger.info("Request body from %s larger than %d bytes: %s.", _format_addr(self.client), limit,
                        "413" if not cycle.response_started else "stream reset")
            self.conn.consumed(event.stream_id, len(data))
            if not cycle.response_started:
                cycle.response_started = True
                stream.write_response_head(cycle, 413, [(b"content-type", b"text/plain; charset=utf-8")],
                                           b"Request Entity Too Large", False)
            stream.reset(CANCEL)
            return
        cycle.feed_body(data)

    def _connection_closed(self, event):
        if event.error_code != NO_ERROR:
            logger.warning("HTTP/2 connection from %s closed: %s (error code 0x%x).",
                           _format_addr(self.client), event.reason, event.error_code)
        self.flush()
        for stream in list(self.streams.values()):
            stream.disconnect()
        self.transport.close()
        self.deadline = self.server_state.clock + self.settings.watch_interval  # bounds the last flush

    def eof_received(self):
        pass

    def connection_lost(self, exc):
        self.server_state.connections.discard(self)
        self.deadline = 0.0
        for stream in list(self.streams.values()):
            stream.disconnect()
        self.write_paused = False

    def pause_writing(self):
        self.write_paused = True
        self.write_paused_at = self.server_state.clock

    def resume_writing(self):
        self.write_paused = False
        self.write_paused_at = 0.0
        for stream in list(self.streams.values()):
            stream.wake_writer()

    # -- streams ---------------------------------------------------------
    def stream_finished(self, stream):
        """A stream's app returned (or never ran): it leaves the table."""
        self.streams.pop(stream.stream_id, None)
        self.conn.finish(stream.stream_id)
        if not self.streams:
            # conn.held: responses whose apps returned but whose bytes still
            # wait on the client's windows; the connection ends only after them.
            if self.conn.state is State.DRAINING and not self.conn.held:
                self.flush()
                self.conn.close(NO_ERROR)
                self.flush()
                self.transport.close()
            else:
                self._idle()

    def _idle(self):
        self.idle_at = self.server_state.clock + self.settings.timeout_keep_alive
        self._arm(self.idle_at)

    def _arm(self, deadline):
        """Wake at `deadline`, or sooner for the connection's own (SETTINGS ACK, keep-alive PING)."""
        own = self.conn.next_deadline()
        self.deadline = own if own and own < deadline else deadline

    def default_headers(self):
        """The server's own response headers: server, --header ones, and date.

        Made again only when the server's tick renews the date line: the
        caller reads the tuple, never changes it."""
        date_line = self.server_state.date_line  # b"date: ...\r\n", renewed by the server's tick
        if self.server_fields is None or date_line is not self.server_fields_date:
            fields = list(self.settings.static_fields)
            if self.settings.date_header:
                fields.append((b"date", date_line[6:len(date_line) - 2]))
            self.server_fields = tuple(fields)
            self.server_fields_date = date_line
        return self.server_fields

    # -- output ----------------------------------------------------------
    def flush_soon(self, item):
        """Flush `item` (this protocol's frames, or a cycle's waiting head) at the end of this loop turn."""
        if item is self:
            if self.flush_queued:
                return
            self.flush_queued = True
        state = self.server_state
        if not state.pending_flushes:
            self.loop.call_soon(state.flush_pending)
        state.pending_flushes.append(item)

    def flush(self):
        self.flush_queued = False
        parts = self.conn.output_parts()
        if parts and not self.transport.is_closing():
            if len(parts) == 1:
                self.transport.write(parts[0])
            else:
                self.transport.writelines(parts)

    # -- deadlines and shutdown ------------------------------------------
    def on_deadline(self):
        """The server's tick: idle timeout, stalled windows, a client that reads nothing."""
        self.deadline = 0.0
        now = self.server_state.clock
        settings = self.settings
        transport = self.transport
        if transport.is_closing():
            if not self.closed_at:
                self.closed_at = now
            elif settings.timeout_write and now - self.closed_at >= settings.timeout_write:
                transport.abort()
                return
            self.deadline = now + settings.watch_interval
            return
        missed = self.conn.check_deadlines(now)
        if missed is not None:
            if missed.error_code == NO_ERROR:  # else _connection_closed logs it as an error
                logger.info("HTTP/2 connection from %s closed: %s.", _format_addr(self.client), missed.reason)
            self._connection_closed(missed)
            return
        if not self.streams and not self.conn.held:
            if self.conn.state is State.DRAINING:  # shutting down, and everything is delivered
                self.conn.close(NO_ERROR)
                self.flush()
                transport.close()
                return
            if now < self.idle_at:  # the connection's own deadline woke us: a keep-alive PING went out
                self.flush()
                self._arm(self.idle_at)
                return
            self.conn.close(NO_ERROR)  # idle past --timeout-keep-alive
            self.flush()
            transport.close()
            self.deadline = now + settings.watch_interval
            return
        if settings.timeout_request_body:
            for stream in list(self.streams.values()):
                self._watch_body(stream, now)
        if settings.timeout_write:
            if self.write_paused and self.write_paused_at and now - self.write_paused_at >= settings.timeout_write:
                logger.info("HTTP/2 client %s read none of the responses for %s s: aborting.",
                            _format_addr(self.client), settings.timeout_write)
                transport.abort()
                return
            for stream_id in self.conn.stalled_streams(now, settings.timeout_write):
                logger.info("HTTP/2 client %s opened no window on stream %d for %s s: resetting it.",
                            _format_addr(self.client), stream_id, settings.timeout_write)
                stream = self.streams.get(stream_id)
                if stream is not None:
                    stream.reset(CANCEL)
                else:
                    self.conn.reset(stream_id, CANCEL)
        if not self.streams:  # only held output left: idle counts from when it is all sent
            self.idle_at = now + settings.timeout_keep_alive
        self.flush()
        self._arm(now + settings.watch_interval)

    def _watch_body(self, stream, now):
        """--timeout-request-body for one stream: a body that stopped coming."""
        cycle = stream.cycle
        if (cycle is None or not cycle.more_body or cycle.disconnected or cycle.expect_continue
                or cycle.body):  # body bytes the app has not read yet: waiting on the app, not the client
            stream.watch_since = now
            return
        if stream.received != stream.watch_mark:
            stream.watch_mark = stream.received
            stream.watch_since = now
        elif now - stream.watch_since >= self.settings.timeout_request_body:
            logger.info("Request body from %s sent nothing on stream %d for %s s: %s.", _format_addr(self.client),
                        stream.stream_id, self.settings.timeout_request_body,
                        "408" if not cycle.response_started else "resetting it")
            if not cycle.response_started:
                cycle.response_started = True
                stream.write_response_head(cycle, 408, [(b"content-type", b"text/plain; charset=utf-8")],
                                           ERROR_BODIES[408], False)
            stream.reset(CANCEL)

    def shutdown(self):
        """Server shutdown: GOAWAY, the streams in flight finish, then close."""
        self.conn.start_shutdown()
        if not self.streams and not self.conn.held:
            self.conn.close(NO_ERROR)
            self.flush()
            self.transport.close()
        else:
            self.flush()


class BufferedHttp2Protocol(Http2Protocol, SharedReadBuffer):
    """Http2Protocol for asyncio's own event loop: reads into the server's
    shared buffer, as the HTTP/1.1 protocol does there (see asyncio_loop.py)."""

    __slots__ = ()


def http2_protocol(http, cycle_class, upgrade_head=None):
    """The HTTP/2 protocol to take over HTTP/1.1 protocol `http`'s connection:
    buffered where `http` is (asyncio's own loop)."""
    cls = BufferedHttp2Protocol if isinstance(http, SharedReadBuffer) else Http2Protocol
    return cls(http, cycle_class, upgrade_head)


FORWARDED_HEADERS = (b"x-forwarded-for", b"x-forwarded-proto")
SWITCHING_TO_H2C = b"HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: h2c\r\n\r\n"
# What an h2c upgrade request's HTTP/1.1 head says about its connection, not its message.
NOT_FOR_STREAM_1 = frozenset((b"host", b"connection", b"upgrade", b"http2-settings", b"keep-alive",
                              b"proxy-connection", b"te", b"transfer-encoding"))


def h2c_request(head, tls):
    """An HTTP/1.1 request asking for h2c -> (its stream 1 RequestReceived, its HTTP2-Settings).

    ValueError when it cannot upgrade, and is served as HTTP/1.1: over TLS
    (h2c is cleartext only), without exactly one HTTP2-Settings header, or
    with a body (RFC 7540 3.2 would have it read before the switch)."""
    if tls is not None:
        raise ValueError("h2c over TLS")
    settings = [value for name, value in head.headers if name.lower() == b"http2-settings"]
    if len(settings) != 1:
        raise ValueError("no single HTTP2-Settings header")
    authority = b""
    fields = []
    for name, value in head.headers:
        name = name.lower()
        if name == b"host":
            authority = value
        elif name == b"content-length" and value != b"0" or name == b"transfer-encoding":
            raise ValueError("a request body")
        if name not in NOT_FOR_STREAM_1:
            fields.append((name, value))
    target = head.raw_path + (b"?" + head.query_string if head.query_string else b"")
    pseudo = [(b":method", head.method.encode("ascii")), (b":scheme", b"http"), (b":authority", authority),
              (b":path", target)]
    return RequestReceived(1, pseudo + fields, True), settings[0]


def _client_for_log(scope):
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else ""


def _format_addr(addr):
    return f"{addr[0]}:{addr[1]}" if addr else "unknown"
