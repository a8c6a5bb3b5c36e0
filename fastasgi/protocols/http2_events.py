"""What every HTTP/2 engine shares: the limits, the error codes, the events
feed() returns, the connection states and the abuse counter.

The adapter (http2_asyncio.py) and the tests see only these and an engine's
Http2Connection: the h2-library engine (http2.py) or fastasgi's own
(http2_engine.py).  This module imports nothing of either.
"""
import enum

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Error codes (RFC 9113 section 7), named for the adapter and the tests.
NO_ERROR = 0x0
PROTOCOL_ERROR = 0x1
INTERNAL_ERROR = 0x2
FLOW_CONTROL_ERROR = 0x3
SETTINGS_TIMEOUT = 0x4
REFUSED_STREAM = 0x7
CANCEL = 0x8
ENHANCE_YOUR_CALM = 0xB

# The largest stream id, and so the largest stream limit.
ENGINE_STREAM_LIMIT = 2**31 - 1
# The largest window RFC 9113 allows.
MAX_WINDOW = 2**31 - 1


class Http2Limits:
    """The settings this server advertises and the limits it enforces.

    Defaults are generous for real clients (browsers open up to 100
    streams; `h2load -m100` keeps 100 in flight without a single reset)
    and tight enough that one connection cannot pin much memory: at most
    `connection_window` bytes of request body are ever buffered for it.
    """

    __slots__ = (
        "max_concurrent_streams", "initial_window_size", "connection_window", "max_frame_size",
        "max_header_list_size", "header_table_size", "reset_limit", "control_frame_limit",
        "abuse_window", "enable_connect_protocol", "settings_timeout", "ping_interval", "ping_timeout", "codec",
        "engine",
    )

    def __init__(self, max_concurrent_streams=100, initial_window_size=256 * 1024,
                 connection_window=1024 * 1024, max_frame_size=16384, max_header_list_size=65536,
                 header_table_size=4096, reset_limit=1000, control_frame_limit=1000, abuse_window=10.0,
                 enable_connect_protocol=True, settings_timeout=10.0, ping_interval=None, ping_timeout=20.0,
                 codec=None, engine=None):
        if not 1 <= max_concurrent_streams <= ENGINE_STREAM_LIMIT:
            raise ValueError("HTTP/2 max concurrent streams must be at least 1.")
        if not 1 <= initial_window_size <= MAX_WINDOW:
            raise ValueError(f"HTTP/2 initial window size must be between 1 and {MAX_WINDOW}.")
        if not 65535 <= connection_window <= MAX_WINDOW:
            raise ValueError(f"HTTP/2 connection window must be between 65535 and {MAX_WINDOW}.")
        if not 16384 <= max_frame_size <= 16777215:
            raise ValueError("HTTP/2 max frame size must be between 16384 and 16777215 (RFC 9113 6.5.2).")
        if max_header_list_size < 1024:
            raise ValueError("HTTP/2 max header list size must be at least 1024.")
        for name, value in (("SETTINGS timeout", settings_timeout), ("ping interval", ping_interval),
                            ("ping timeout", ping_timeout)):
            if value is not None and value < 0:
                raise ValueError(f"HTTP/2 {name} must not be negative.")
        self.max_concurrent_streams = max_concurrent_streams
        self.initial_window_size = initial_window_size  # per stream, for request bodies
        self.connection_window = connection_window  # all streams' request bodies together
        self.max_frame_size = max_frame_size
        self.max_header_list_size = max_header_list_size  # decoded, RFC 9113 6.5.2's measure
        self.header_table_size = header_table_size  # the HPACK table the client may use
        # Streams the client resets (or we refuse) per abuse_window seconds
        # before the connection is closed with ENHANCE_YOUR_CALM.
        self.reset_limit = reset_limit
        # PING, SETTINGS, PRIORITY, empty DATA and unknown frames per abuse_window.
        self.control_frame_limit = control_frame_limit
        self.abuse_window = abuse_window
        # RFC 8441: websockets over extended CONNECT (off when the server serves no websockets).
        self.enable_connect_protocol = enable_connect_protocol
        # Seconds the client has to acknowledge our SETTINGS (0 or None: forever).
        self.settings_timeout = settings_timeout
        # Keep-alive: a PING after this many seconds without a frame from the
        # client (None or 0: never), which it must answer within ping_timeout.
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        # The http2_codec module (compiled or pure) the engine uses; None:
        # fastasgi's engine takes the twin built like itself, the h2 engine
        # hpack and h2's header validation (--http2-engine h2-hpack).
        self.codec = codec
        # The Http2Connection class that serves a connection: fastasgi's own
        # engine (http2_engine, compiled or pure) or the h2 library's
        # (http2.py); None: the h2 library's.
        self.engine = engine

    @classmethod
    def from_config(cls, config):
        """The limits of a Config's --http2-* settings (ValueError if one is out of range)."""
        return cls(max_concurrent_streams=config.http2_max_concurrent_streams,
                   initial_window_size=config.http2_initial_window_size,
                   connection_window=config.http2_connection_window,
                   max_frame_size=config.http2_max_frame_size,
                   max_header_list_size=config.http2_max_header_list_size,
                   enable_connect_protocol=config.ws != "none",
                   settings_timeout=config.http2_settings_timeout,
                   ping_interval=config.http2_ping_interval,
                   ping_timeout=config.http2_ping_timeout,
                   codec=config.hot_paths.http2_codec if config.http2_engine != "h2-hpack" else None,
                   engine=config.hot_paths.http2_engine.Http2Connection if config.http2_engine == "fastasgi"
                   else None)


# -- events: what feed() returns ----------------------------------------------
class RequestReceived:
    """A request head: `headers` are (name, value) bytes pairs, pseudo-headers first."""
    __slots__ = ("stream_id", "headers", "end_stream")

    def __init__(self, stream_id, headers, end_stream):
        self.stream_id = stream_id
        self.headers = headers
        self.end_stream = end_stream


class DataReceived:
    """Request body bytes.  The peer's window shrank by `flow_length` (data and
    padding): hand that to consumed() once the app has taken the data."""
    __slots__ = ("stream_id", "data", "flow_length")

    def __init__(self, stream_id, data, flow_length):
        self.stream_id = stream_id
        self.data = data
        self.flow_length = flow_length


class StreamEnded:
    """The request body is complete (END_STREAM; trailers end it too)."""
    __slots__ = ("stream_id",)

    def __init__(self, stream_id):
        self.stream_id = stream_id


class StreamReset:
    """The client reset the stream, or we refused it: nothing more goes out on it."""
    __slots__ = ("stream_id", "error_code")

    def __init__(self, stream_id, error_code):
        self.stream_id = stream_id
        self.error_code = error_code


class MalformedRequest:
    """A request refused as malformed (RST_STREAM PROTOCOL_ERROR went out); `reason` says why."""
    __slots__ = ("stream_id", "reason")

    def __init__(self, stream_id, reason):
        self.stream_id = stream_id
        self.reason = reason


class StreamWritable:
    """All the output held for the stream went out: a waiting writer may go on."""
    __slots__ = ("stream_id",)

    def __init__(self, stream_id):
        self.stream_id = stream_id


class ConnectionClosed:
    """The connection is over: the client sent GOAWAY, broke the protocol, or
    abused it.  data_to_send() holds our last bytes (a GOAWAY, if ours)."""
    __slots__ = ("error_code", "reason")

    def __init__(self, error_code, reason):
        self.error_code = error_code
        self.reason = reason


class State(enum.Enum):
    OPEN = 1  # serving
    DRAINING = 2  # our graceful GOAWAY is out: the streams in flight finish, no new ones
    CLOSED = 3  # over: nothing more is read


class RateWindow:
    """Counts events per fixed window of `seconds`; exceeded() past `limit`."""
    __slots__ = ("limit", "seconds", "count", "started")

    def __init__(self, limit, seconds):
        self.limit = limit
        self.seconds = seconds
        self.count = 0
        self.started = 0.0

    def add(self, now):
        """Count one; True when this one is over the limit."""
        if now - self.started >= self.seconds:
            self.started = now
            self.count = 0
        self.count += 1
        return self.count > self.limit
