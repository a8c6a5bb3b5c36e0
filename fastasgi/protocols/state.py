"""What every connection of one server shares, whatever its wire protocol.

ServerState is the server's live state (its connections, tasks, clock);
ConnectionSettings is its config read once into the fields a connection
reads; ProtocolFactory makes a connection for each accepted socket.  The
HTTP/1.1 protocol (http.py) and the HTTP/2 one (http2_asyncio.py), which
takes over an HTTP/1.1 connection's settings, both read these, so a
setting is declared here once.

This module is also compiled, unchanged, as state_c (state_c.pxd gives it
C types, see _speedups/compiled.py): the compiled protocol reads these
fields as C struct members.
"""
import contextvars

from .asyncio_loop import new_read_buffer


class ServerState:
    """What the connections of one server share, updated by the server's tick."""

    def __init__(self):
        self.total_requests = 0
        self.connections = set()
        self.tasks = set()  # app tasks still running, awaited on shutdown
        # What each request's context starts as: the context the transports'
        # callbacks run in, where tasks are created.  Requests handed over
        # to a running task (take_next) run in a copy of it.
        self.context = contextvars.copy_context()
        self.clock = 0.0  # loop.time() at the last tick: deadlines are coarse on purpose
        self.date_line = b""
        # Output to write at the end of this loop turn, for all connections:
        # heads waiting for their first body chunk, held response bytes.
        self.pending_flushes = []
        self.read_buffer = new_read_buffer()  # for the protocols of asyncio's own loop
        # Set when shutdown starts: a connection accepted before the listening
        # socket closed but connected only after (asyncio's accept, or a TLS
        # handshake ending while the drain runs) gets its first request
        # answered, like the others.
        self.shutting_down = False

    def flush_pending(self):
        """One loop callback does every flush asked for this turn.

        The list holds request cycles (a head waiting for its first body
        chunk: most found theirs and have nothing left to do) and protocols
        (response bytes held back); each has a flush().
        """
        while self.pending_flushes:
            pending = self.pending_flushes
            self.pending_flushes = []
            for item in pending:
                item.flush()


class ConnectionSettings:
    """What every connection of one server reads from its config, read once.

    A server's connections share one (ProtocolFactory): compiled, a
    connection reads these as C struct fields instead of making ~20
    attribute lookups on the config for each accepted connection.
    """

    __slots__ = (
        "config", "app", "RequestParser", "parser_args", "ParseError", "ResponseEncoder", "FlowControl",
        "status_line", "root_path", "raw_root_path", "default_lines", "server_line", "date_header",
        "timeout_keep_alive", "timeout_request_header", "timeout_request_body", "timeout_request_body_total",
        "timeout_write", "watch_interval", "upgrade_token", "ssl_server_cert", "forwarded_policy", "access_log",
        "observer", "limit_request_body", "http2_limits", "static_fields", "local_address",
    )

    def __init__(self, config):
        if not config.loaded:
            config.load()
        self.config = config  # for the websocket protocol an upgrade starts
        self.app = config.loaded_app
        speedups = config.hot_paths
        self.RequestParser = speedups.RequestParser
        self.parser_args = config.parser_args
        self.ParseError = speedups.HttpParseError
        self.ResponseEncoder = speedups.ResponseEncoder
        self.FlowControl = speedups.FlowControl
        self.status_line = speedups.status_line
        self.root_path = config.root_path
        self.raw_root_path = config.root_path.encode("ascii")
        self.default_lines = config.encoded_headers
        self.server_line = config.server_line
        self.date_header = config.date_header
        self.timeout_keep_alive = config.timeout_keep_alive
        self.timeout_request_header = config.timeout_request_header
        self.timeout_request_body = config.timeout_request_body or 0.0  # 0: off
        self.timeout_request_body_total = config.timeout_request_body_total or 0.0  # 0: off
        self.timeout_write = config.timeout_write or 0.0  # 0: off
        # While a request runs, a connection's `deadline` is a watchdog that
        # looks at it this often: body progress, a client that stopped reading.
        self.watch_interval = config.watch_interval
        self.upgrade_token = config.upgrade_token
        self.ssl_server_cert = config.ssl_server_cert
        self.forwarded_policy = config.forwarded_policy
        # Metrics and the timed access log (fastasgi.observer), or None.  With
        # an observer that writes the access line, the line is written when
        # the response completes, not here at its head.
        self.observer = config.observer
        self.access_log = config.access_log and (self.observer is None or self.observer.access is None)
        # HTTP/2 frames its own bodies and headers, so it reads these itself:
        # the body limit, its frame and stream limits (None without --http2),
        # and the server's own header lines as the fields its encoder takes.
        self.limit_request_body = config.limit_request_body
        self.http2_limits = config.http2_limits
        self.static_fields = header_fields(self.server_line + self.default_lines)
        # Our end of every connection, (host, port), when the server listens
        # on one address (set by the server once bound): the scope's `server`
        # without asking each connection's transport, which on uvloop is a
        # getsockname() call per connection.  None: ask the transport.
        self.local_address = None


class ProtocolFactory:
    """What the listening sockets call for each accepted connection: a new
    protocol of `protocol_class`, sharing one ConnectionSettings."""

    __slots__ = ("protocol_class", "settings", "server_state", "app_state", "loop")

    def __init__(self, protocol_class, config, server_state, app_state, loop):
        self.protocol_class = protocol_class
        self.settings = ConnectionSettings(config)
        self.server_state = server_state
        self.app_state = app_state
        self.loop = loop

    def __call__(self):
        return self.protocol_class(self.settings.config, self.server_state, self.app_state, self.loop,
                                   self.settings)


def header_fields(lines):
    """b"name: value\\r\\n..." -> [(name, value), ...], names lowercased."""
    fields = []
    for line in lines.split(b"\r\n"):
        if line:
            name, _, value = line.partition(b":")
            fields.append((name.strip().lower(), value.strip()))
    return fields
