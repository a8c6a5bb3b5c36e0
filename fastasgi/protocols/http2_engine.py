"""fastasgi's own HTTP/2 engine: a sans-I/O server connection (RFC 9113).

One typed source, in the twin pattern: compiled as http2_engine_c
(Cython's pure Python mode, the C types in http2_engine_c.pxd) where a
compiler exists, run as it is on PyPy.  The wire format (frames, HPACK,
request header validation) is http2_codec's; this module holds what h2's
state machines hold in the h2-library engine (http2.py), with the same
interface toward the asyncio adapter (http2_asyncio.py) and the same events
(http2_events.py):

- the connection: the client's preface, our SETTINGS and the client's ACK
  (the limits we advertised apply from the ACK), the client's SETTINGS
  (acknowledged, applied to every stream's send window), PING, GOAWAY;
- the stream table and RFC 9113 5.1's states, as a server sees them: a
  stream opens with the client's HEADERS (half-closed (remote) with
  END_STREAM), closes when both sides have ended it or either reset it;
  frames for a stream in the wrong state get the RFC's stream or
  connection error;
- flow control both ways: receive windows refilled only as the app
  consumes (consumed()), send windows from the client's
  SETTINGS_INITIAL_WINDOW_SIZE and WINDOW_UPDATE, with overflow checks;
- header blocks: HEADERS + CONTINUATION assembled, bounded in size and
  frame count, decoded in order so the HPACK table stays in step;
- the abuse counters of the h2-library engine: resets and refused or
  malformed streams, frames that only cost work (PING, SETTINGS, PRIORITY,
  empty DATA, unknown types), GOAWAY ENHANCE_YOUR_CALM past their limits;
- deadlines as data: the SETTINGS ACK timeout, the keep-alive PING, stalled
  streams.
"""
import base64

try:
    import cython
except ImportError:  # no Cython installed: this module runs as Python, its C types as int
    from types import SimpleNamespace
    cython = SimpleNamespace(compiled=False, Py_ssize_t=int, int=int)

from . import http2_codec as pure_codec

if cython.compiled:  # the compiled engine's codec, where the limits name none, is the compiled one
    from . import http2_codec_c as default_codec
else:
    default_codec = pure_codec
from .http2_events import (
    CANCEL, ENHANCE_YOUR_CALM, FLOW_CONTROL_ERROR, INTERNAL_ERROR, MAX_WINDOW, NO_ERROR, PREFACE, PROTOCOL_ERROR,
    REFUSED_STREAM, SETTINGS_TIMEOUT, ConnectionClosed, DataReceived, Http2Limits, MalformedRequest, RateWindow,
    RequestReceived, State, StreamEnded, StreamReset, StreamWritable,
)

# RFC 9113's frame types, flags, settings and error codes: the codec's.
from .http2_codec import (
    COMPRESSION_ERROR, CONTINUATION, DATA, FLAG_ACK, FLAG_END_HEADERS, FLAG_END_STREAM, FRAME_SIZE_ERROR, GOAWAY,
    HEADERS, PING, PRIORITY, PUSH_PROMISE, RST_STREAM, SETTINGS, SETTINGS_ENABLE_CONNECT_PROTOCOL, SETTINGS_ENABLE_PUSH,
    SETTINGS_HEADER_TABLE_SIZE, SETTINGS_INITIAL_WINDOW_SIZE, SETTINGS_MAX_CONCURRENT_STREAMS, SETTINGS_MAX_FRAME_SIZE,
    SETTINGS_MAX_HEADER_LIST_SIZE, WINDOW_UPDATE,
)

STREAM_CLOSED = 0x5  # the one error code the engine raises that the codec does not
DEFAULT_WINDOW = 65535
DEFAULT_FRAME_SIZE = 16384
# A header block may come in this many CONTINUATION frames at most, on top
# of one per KiB of the header list limit: more is a CONTINUATION flood.
CONTINUATION_ALLOWANCE = 16
# How many of the streams we reset are remembered (see reset_ids).
RESET_IDS_KEPT = 256
# A body slice this large is written as it is (output_parts()), not joined.
LARGE_PART = 8192


class ConnectionError_(Exception):
    """A connection error (RFC 9113 5.4.1): GOAWAY with `code`, then the end."""

    def __init__(self, code, reason):
        Exception.__init__(self, reason)
        self.code = code
        self.reason = reason


class Stream:
    """One stream, both directions (RFC 9113 5.1, as a server sees it)."""

    __slots__ = (
        "stream_id", "remote_ended", "local_ended", "headers_sent", "send_window", "receive_window",
        "unacknowledged", "expected_length", "received_length", "chunks", "size", "end", "trailers",
        "blocked_since",
    )

    def __init__(self, stream_id, send_window, receive_window):
        self.stream_id = stream_id
        self.remote_ended = False  # the client's END_STREAM came: half-closed (remote)
        self.local_ended = False  # our END_STREAM went out: half-closed (local)
        self.headers_sent = False  # our final response head went out
        self.send_window = send_window  # what the client lets us send on it
        self.receive_window = receive_window  # what the client may still send on it
        self.unacknowledged = 0  # consumed by the app, not yet given back by WINDOW_UPDATE
        self.expected_length = -1  # the request's content-length (-1: none)
        self.received_length = 0
        self.chunks = None  # response body the windows did not let go yet (a list once needed)
        self.size = 0
        self.end = False  # END_STREAM follows the last chunk
        self.trailers = None  # header fields to end the stream with, after the last chunk
        self.blocked_since = 0.0  # when a closed window first held this output; 0: not held


class Http2Connection:
    """One HTTP/2 server connection, without I/O (the h2-library engine's interface).

    feed(data, now) -> events; send_headers()/send()/reset()/consumed()
    queue output; data_to_send() -> the bytes to write.
    """

    __slots__ = (
        "limits", "codec", "decoder", "encoder", "header_error", "state", "streams", "held", "working",
        "last_stream_id", "resets", "control_frames", "out", "reset_ids", "out_large", "buffer", "preface_pending",
        "settings_pending",
        "block_stream", "block_flags", "block_parts", "block_frames", "settings_acknowledged",
        "stream_receive_initial", "connection_receive_window", "connection_unacknowledged", "send_initial",
        "connection_send_window", "max_outbound_frame_size", "encoder_table_size", "table_size_update",
        "settings_deadline", "ping_due", "ping_deadline", "pings_sent",
    )

    def __init__(self, limits=None, upgrade_settings=None, now=0.0):
        """`upgrade_settings`: the HTTP2-Settings header of an HTTP/1.1 request
        upgraded to h2c (RFC 7540 3.2); ValueError if it is not valid."""
        self.limits = limits = limits if limits is not None else Http2Limits()
        codec = self.codec = limits.codec if limits.codec is not None else default_codec
        self.decoder = codec.HpackDecoder(limits.header_table_size, limits.max_header_list_size)
        self.encoder = codec.HpackEncoder()
        self.header_error = codec.header_error
        self.state = State.OPEN
        self.streams = {}  # stream id -> Stream, until both sides ended it or it was reset
        self.held = set()  # streams whose output waits on a window
        self.working = set()  # streams whose app runs (finish() not called): the concurrency count
        self.last_stream_id = 0  # the highest stream the client opened (GOAWAY's last stream id)
        self.resets = RateWindow(limits.reset_limit, limits.abuse_window)
        self.control_frames = RateWindow(limits.control_frame_limit, limits.abuse_window)
        self.out = []  # bytes to send, in order
        # The streams we reset lately (refused, malformed, reset): what the
        # client sent on them before it saw our RST_STREAM is dropped, not an error.
        self.reset_ids = {}
        self.out_large = False  # `out` holds a large slice of a body: worth writing without a join
        self.buffer = b""  # received bytes not yet a whole frame
        self.preface_pending = True
        self.settings_pending = False  # the preface came: its SETTINGS frame is next
        # Header block in progress (HEADERS without END_HEADERS): its stream,
        # flags, fragments and frame count.
        self.block_stream = 0
        self.block_flags = 0
        self.block_parts = None
        self.block_frames = 0
        # Flow control.  Ours toward the client apply once it acknowledged our
        # SETTINGS; until then RFC 9113's defaults hold for what it sends.
        self.settings_acknowledged = False
        self.stream_receive_initial = DEFAULT_WINDOW
        self.connection_receive_window = limits.connection_window
        self.connection_unacknowledged = 0
        self.send_initial = DEFAULT_WINDOW  # the client's SETTINGS_INITIAL_WINDOW_SIZE
        self.connection_send_window = DEFAULT_WINDOW
        self.max_outbound_frame_size = DEFAULT_FRAME_SIZE
        self.encoder_table_size = 4096  # the client's SETTINGS_HEADER_TABLE_SIZE
        self.table_size_update = -1  # a size update our next header block owes the client (-1: none)
        self.settings_deadline = now + limits.settings_timeout if limits.settings_timeout else 0.0
        self.ping_due = now + limits.ping_interval if limits.ping_interval else 0.0
        self.ping_deadline = 0.0
        self.pings_sent = 0
        advertised = [
            (SETTINGS_HEADER_TABLE_SIZE, limits.header_table_size),
            (SETTINGS_ENABLE_PUSH, 0),
            (SETTINGS_MAX_CONCURRENT_STREAMS, limits.max_concurrent_streams),
            (SETTINGS_INITIAL_WINDOW_SIZE, limits.initial_window_size),
            (SETTINGS_MAX_FRAME_SIZE, limits.max_frame_size),
            (SETTINGS_MAX_HEADER_LIST_SIZE, limits.max_header_list_size),
        ]
        if limits.enable_connect_protocol:
            advertised.append((SETTINGS_ENABLE_CONNECT_PROTOCOL, 1))
        self.out.append(codec.settings_frame(advertised))
        if limits.connection_window > DEFAULT_WINDOW:
            self.out.append(codec.window_update_frame(0, limits.connection_window - DEFAULT_WINDOW))
        if upgrade_settings is not None:
            self._apply_upgrade_settings(upgrade_settings)
            stream = Stream(1, self.send_initial, 0)
            stream.remote_ended = True  # the HTTP/1.1 request was the whole of it
            self.streams[1] = stream
            self.working.add(1)
            self.last_stream_id = 1

    def _apply_upgrade_settings(self, header):
        try:
            if isinstance(header, str):
                header = header.encode("ascii")
            payload = base64.urlsafe_b64decode(header + b"=" * (-len(header) % 4))
            if len(payload) % 6:
                raise ValueError("not a whole number of settings")
            self._apply_settings(self.codec._settings(payload))
        except ConnectionError_ as exc:
            raise ValueError(f"Invalid HTTP2-Settings header: {exc.reason}") from None
        except Exception as exc:  # bad base64, a bad value
            raise ValueError(f"Invalid HTTP2-Settings header: {exc}") from None

    # -- input -----------------------------------------------------------
    def feed(self, data, now=0.0):
        """The bytes the client sent -> a list of events."""
        if self.state is State.CLOSED:
            return []
        if self.ping_due:
            self.ping_due = now + self.limits.ping_interval  # the client is there: no need to ask
        events = []
        mark = len(self.out)  # a flood's answers queued from here on are dropped with it
        try:
            self._feed(data, events, now)
        except ConnectionError_ as exc:
            if exc.code == ENHANCE_YOUR_CALM:
                del self.out[mark:]
            self._end(exc.code)
            events.append(ConnectionClosed(exc.code, exc.reason))
        return events

    def _feed(self, data, events, now):
        buffer: bytes = self.buffer + data if self.buffer else bytes(data)
        position: cython.Py_ssize_t = 0
        if self.preface_pending:
            if len(buffer) < 24:
                if not PREFACE.startswith(buffer):
                    raise ConnectionError_(PROTOCOL_ERROR, "invalid connection preface")
                self.buffer = buffer
                return
            if buffer[:24] != PREFACE:
                raise ConnectionError_(PROTOCOL_ERROR, "invalid connection preface")
            self.preface_pending = False
            self.settings_pending = True
            position = 24
        size: cython.Py_ssize_t = len(buffer)
        length: cython.Py_ssize_t
        limit: cython.Py_ssize_t = self.limits.max_frame_size
        codec = self.codec
        while size - position >= 9:
            length = (buffer[position] << 16) | (buffer[position + 1] << 8) | buffer[position + 2]
            if length > limit:
                raise ConnectionError_(FRAME_SIZE_ERROR, f"a frame of {length} bytes (the limit is {limit})")
            if size - position - 9 < length:
                break
            stream_id = (((buffer[position + 5] & 0x7F) << 24) | (buffer[position + 6] << 16)
                         | (buffer[position + 7] << 8) | buffer[position + 8])
            frame = codec.Frame(buffer[position + 3], buffer[position + 4], stream_id,
                                buffer[position + 9:position + 9 + length])
            position += 9 + length
            try:
                codec.decode_payload(frame)
            except codec.CodecError as exc:
                # A stream error (RFC 9113 5.4.2) where the frame changes no
                # connection state; HEADERS always does (its HPACK block).
                if exc.stream_id and frame.type != HEADERS and self.block_parts is None:
                    self._stream_error(exc.stream_id, exc.code, events)
                    continue
                raise ConnectionError_(exc.code, str(exc)) from None
            self._frame(frame, events, now)
            if self.state is State.CLOSED:
                self.buffer = b""
                return
        self.buffer = buffer[position:] if position < size else b""

    def _frame(self, frame, events, now):
        kind: cython.int = frame.type
        if self.settings_pending:
            # RFC 9113 3.4: the preface's SETTINGS frame comes first.
            if kind != SETTINGS or frame.flags & FLAG_ACK:
                raise ConnectionError_(PROTOCOL_ERROR, "the preface without its SETTINGS frame")
            self.settings_pending = False
        if self.block_parts is not None:
            if kind != CONTINUATION or frame.stream_id != self.block_stream:
                raise ConnectionError_(PROTOCOL_ERROR, "a header block interrupted by another frame")
            self._continuation(frame, events, now)
        elif kind == DATA:
            self._data(frame, events, now)
        elif kind == HEADERS:
            self._headers(frame, events, now)
        elif kind == WINDOW_UPDATE:
            self._window_update(frame, events, now)
        elif kind == RST_STREAM:
            self._rst_stream(frame, events, now)
        elif kind == SETTINGS:
            self._settings(frame, events, now)
        elif kind == PING:
            if frame.flags & FLAG_ACK:
                if self.ping_deadline and frame.data == self._ping_payload():
                    self.ping_deadline = 0.0
            else:
                self._count_control_frame(now, "PingReceived flood")
                self.out.append(self.codec.ping_frame(frame.data, True))
        elif kind == GOAWAY:
            self._end(None)
            events.append(ConnectionClosed(frame.error_code, "client sent GOAWAY"))
        elif kind == PRIORITY:  # allowed on any stream, idle ones too (RFC 9113 5.1)
            self._count_control_frame(now, "PriorityUpdated flood")  # parsed, and otherwise ignored
        elif kind == CONTINUATION:
            raise ConnectionError_(PROTOCOL_ERROR, "CONTINUATION without HEADERS")
        elif kind == PUSH_PROMISE:
            raise ConnectionError_(PROTOCOL_ERROR, "PUSH_PROMISE from a client")
        else:  # RFC 9113 5.5: unknown frame types are ignored
            self._count_control_frame(now, "UnknownFrameReceived flood")

    def _count_control_frame(self, now, reason):
        if self.control_frames.add(now):
            raise ConnectionError_(ENHANCE_YOUR_CALM, reason)

    def _count_reset(self, now, reason):
        if self.resets.add(now):
            raise ConnectionError_(ENHANCE_YOUR_CALM, reason)

    def _idle(self, stream_id):
        """True when the stream was never opened (RFC 9113 5.1 "idle"): one the
        client has not opened yet, or an even one (ours, and we never push)."""
        return stream_id > self.last_stream_id or stream_id % 2 == 0

    # -- DATA ------------------------------------------------------------
    def _data(self, frame, events, now):
        stream_id = frame.stream_id
        flow_length: cython.Py_ssize_t = frame.flow_length
        if flow_length > self.connection_receive_window:
            raise ConnectionError_(FLOW_CONTROL_ERROR, "DATA past the connection's window")
        self.connection_receive_window -= flow_length
        stream = self.streams.get(stream_id)
        end_stream = frame.flags & FLAG_END_STREAM
        if stream is None:
            if self._idle(stream_id):
                raise ConnectionError_(PROTOCOL_ERROR, f"DATA on idle stream {stream_id}")
            # A stream we refused, reset or answered: dropped, its window
            # given back to the connection at once.
            self._give_back_connection(flow_length)
            return
        if stream.remote_ended:
            self._give_back_connection(flow_length)
            self._stream_error(stream_id, STREAM_CLOSED, events)
            return
        if flow_length > stream.receive_window:
            self._give_back_connection(flow_length)
            self._stream_error(stream_id, FLOW_CONTROL_ERROR, events)
            return
        stream.receive_window -= flow_length
        data = frame.data
        if stream.expected_length >= 0:
            stream.received_length += len(data)
            if (stream.received_length > stream.expected_length
                    or (end_stream and stream.received_length != stream.expected_length)):
                self._give_back_connection(flow_length)
                self._stream_error(stream_id, PROTOCOL_ERROR, events)  # RFC 9113 8.1.1: malformed
                return
        if flow_length:
            events.append(DataReceived(stream_id, data, flow_length))
        elif not end_stream:
            self._count_control_frame(now, "empty DATA frames")
        if end_stream:
            stream.remote_ended = True
            events.append(StreamEnded(stream_id))
            if stream.local_ended:
                self._forget(stream_id)

    # -- header blocks ---------------------------------------------------
    def _headers(self, frame, events, now):
        stream_id = frame.stream_id
        if stream_id % 2 == 0:
            raise ConnectionError_(PROTOCOL_ERROR, f"HEADERS on even stream {stream_id}")
        if frame.flags & FLAG_END_HEADERS:
            self._header_block(stream_id, frame.flags, frame.data, events, now)
            return
        self.block_stream = stream_id
        self.block_flags = frame.flags
        self.block_parts = [frame.data]
        self.block_frames = 0
        self._check_block_size()

    def _continuation(self, frame, events, now):
        self.block_parts.append(frame.data)
        self.block_frames += 1
        if self.block_frames > CONTINUATION_ALLOWANCE + self.limits.max_header_list_size // 1024:
            raise ConnectionError_(ENHANCE_YOUR_CALM, "CONTINUATION flood")
        self._check_block_size()
        if frame.flags & FLAG_END_HEADERS:
            block = b"".join(self.block_parts)
            self.block_parts = None
            self._header_block(self.block_stream, self.block_flags, block, events, now)

    def _check_block_size(self):
        # A compressed block can be at most a little larger than the list it
        # decodes to: twice the limit is past any valid one.
        if sum([len(part) for part in self.block_parts]) > 2 * self.limits.max_header_list_size:
            raise ConnectionError_(ENHANCE_YOUR_CALM, "a header block past the header list limit")

    def _decode(self, block):
        try:
            return self.decoder.decode(block)
        except self.codec.HeaderListTooLarge as exc:
            raise ConnectionError_(ENHANCE_YOUR_CALM, str(exc)) from None
        except self.codec.HpackError as exc:
            raise ConnectionError_(COMPRESSION_ERROR, f"Error decoding header block: {exc}") from None

    def _header_block(self, stream_id, flags, block, events, now):
        # Decoded first, whatever becomes of the stream: the HPACK table must stay in step.
        headers = self._decode(block)
        end_stream = flags & FLAG_END_STREAM
        stream = self.streams.get(stream_id)
        if stream is not None:  # trailers
            if stream.remote_ended:
                self._stream_error(stream_id, STREAM_CLOSED, events)
                return
            if not end_stream or self.header_error(headers, True) is not None:
                self._stream_error(stream_id, PROTOCOL_ERROR, events)  # RFC 9113 8.1: malformed
                return
            if stream.expected_length >= 0 and stream.received_length != stream.expected_length:
                self._stream_error(stream_id, PROTOCOL_ERROR, events)
                return
            stream.remote_ended = True
            events.append(StreamEnded(stream_id))
            if stream.local_ended:
                self._forget(stream_id)
            return
        if not self._idle(stream_id):
            if stream_id in self.reset_ids:
                return  # sent before our RST_STREAM reached the client: dropped
            # RFC 9113 5.1.1: a new stream's id must be above every one before.
            raise ConnectionError_(PROTOCOL_ERROR, f"HEADERS on closed stream {stream_id}")
        self.last_stream_id = stream_id
        malformed = self.header_error(headers, False)
        if malformed is None:
            expected = self._content_length(headers)
            if expected == -2 or (end_stream and expected > 0):
                malformed = "an invalid content-length"
        if malformed is not None:
            self._note_reset(stream_id)
            self.out.append(self.codec.rst_stream_frame(stream_id, PROTOCOL_ERROR))
            self._count_reset(now, "malformed requests")
            events.append(MalformedRequest(stream_id, malformed))
            return
        limit = self.limits.max_concurrent_streams
        if self.state is not State.OPEN or len(self.working) >= limit or len(self.streams) >= limit:
            self._note_reset(stream_id)
            self.out.append(self.codec.rst_stream_frame(stream_id, REFUSED_STREAM))
            self._count_reset(now, "too many refused streams")
            return
        stream = Stream(stream_id, self.send_initial, self.stream_receive_initial)
        stream.expected_length = expected
        self.streams[stream_id] = stream
        self.working.add(stream_id)
        events.append(RequestReceived(stream_id, headers, bool(end_stream)))
        if end_stream:
            stream.remote_ended = True

    def _content_length(self, headers):
        """The request's content-length; -1 without one, -2 when it is not a number."""
        for name, value in headers:
            if name == b"content-length":
                if not value.isdigit() or len(value) > 18:  # (past 10**18 bytes: no body is that long)
                    return -2
                return int(value)
        return -1

    # -- the other frames ------------------------------------------------
    def _window_update(self, frame, events, now):
        stream_id = frame.stream_id
        increment = frame.increment
        if stream_id == 0:
            self.connection_send_window += increment
            if self.connection_send_window > MAX_WINDOW:
                raise ConnectionError_(FLOW_CONTROL_ERROR, "the connection's send window past 2^31-1")
            if self.held:
                self._pump_held(list(self.held), events, now)
            return
        stream = self.streams.get(stream_id)
        if stream is None:
            if self._idle(stream_id):
                raise ConnectionError_(PROTOCOL_ERROR, f"WINDOW_UPDATE on idle stream {stream_id}")
            return
        stream.send_window += increment
        if stream.send_window > MAX_WINDOW:
            self._stream_error(stream_id, FLOW_CONTROL_ERROR, events)
            return
        if stream_id in self.held:
            self._pump_held((stream_id,), events, now)

    def _rst_stream(self, frame, events, now):
        stream_id = frame.stream_id
        if self._idle(stream_id):
            raise ConnectionError_(PROTOCOL_ERROR, f"RST_STREAM on idle stream {stream_id}")
        self.held.discard(stream_id)
        stream = self.streams.pop(stream_id, None)
        if stream is not None:
            events.append(StreamReset(stream_id, frame.error_code))
            self._count_reset(now, "rapid stream resets")

    def _settings(self, frame, events, now):
        if frame.flags & FLAG_ACK:
            if not self.settings_acknowledged:
                self.settings_acknowledged = True
                self.settings_deadline = 0.0
                # Our advertised stream window applies from here.
                delta = self.limits.initial_window_size - self.stream_receive_initial
                self.stream_receive_initial = self.limits.initial_window_size
                for stream in self.streams.values():
                    stream.receive_window += delta
            return
        self._count_control_frame(now, "SETTINGS flood")
        self._apply_settings(frame.settings)
        self.out.append(self.codec.SETTINGS_ACK)
        if self.held:
            self._pump_held(list(self.held), events, now)  # the initial window may have grown

    def _apply_settings(self, pairs):
        for identifier, value in pairs:
            if identifier == SETTINGS_INITIAL_WINDOW_SIZE:
                delta = value - self.send_initial
                self.send_initial = value
                for stream in self.streams.values():
                    stream.send_window += delta
                    if stream.send_window > MAX_WINDOW:
                        raise ConnectionError_(FLOW_CONTROL_ERROR, "a stream's send window past 2^31-1")
            elif identifier == SETTINGS_MAX_FRAME_SIZE:
                self.max_outbound_frame_size = value
            elif identifier == SETTINGS_HEADER_TABLE_SIZE:
                # Our encoder never indexes, so any size will do, but RFC 7541
                # 4.2: a smaller table is acknowledged by a size update at
                # the start of our next header block (nghttp2 insists).
                if value < self.encoder_table_size:
                    self.table_size_update = value
                self.encoder_table_size = value
            # The others need nothing of us: we never push, and we open no streams.

    def _stream_error(self, stream_id, code, events):
        """RST_STREAM `code`: the stream is over; its app hears of it as a reset."""
        self._note_reset(stream_id)
        self.out.append(self.codec.rst_stream_frame(stream_id, code))
        self.held.discard(stream_id)
        stream = self.streams.pop(stream_id, None)
        if stream is not None:
            events.append(StreamReset(stream_id, code))

    def _note_reset(self, stream_id):
        reset_ids = self.reset_ids
        reset_ids[stream_id] = None
        if len(reset_ids) > RESET_IDS_KEPT:
            del reset_ids[next(iter(reset_ids))]  # the oldest

    def _forget(self, stream_id):
        """Both sides ended the stream: it is closed."""
        del self.streams[stream_id]
        self.held.discard(stream_id)

    def _end(self, code):
        """The connection is over: our GOAWAY with `code` (None: none of ours) and nothing more."""
        if code is not None:
            self.out.append(self.codec.goaway_frame(self.last_stream_id, code))
        self.state = State.CLOSED
        self.streams.clear()
        self.held.clear()
        if code == ENHANCE_YOUR_CALM:
            self.working.clear()
        self.block_parts = None
        self.buffer = b""

    # -- receive windows given back --------------------------------------
    def consumed(self, stream_id, flow_length):
        """The app took `flow_length` bytes of the stream's body: the client
        may send that much more (WINDOW_UPDATE, batched)."""
        if self.state is State.CLOSED or not flow_length:
            return
        stream = self.streams.get(stream_id)
        if stream is not None and not stream.remote_ended:
            stream.unacknowledged += flow_length
            if stream.unacknowledged * 2 >= self.stream_receive_initial or stream.receive_window <= 0:
                self.out.append(self.codec.window_update_frame(stream_id, stream.unacknowledged))
                stream.receive_window += stream.unacknowledged
                stream.unacknowledged = 0
        self._give_back_connection(flow_length)

    def _give_back_connection(self, size):
        if not size:
            return
        self.connection_unacknowledged += size
        if self.connection_unacknowledged * 2 >= self.limits.connection_window:
            self.out.append(self.codec.window_update_frame(0, self.connection_unacknowledged))
            self.connection_receive_window += self.connection_unacknowledged
            self.connection_unacknowledged = 0

    # -- output ----------------------------------------------------------
    def send_headers(self, stream_id, headers, end_stream, checked=False):
        """A response head (or a 1xx with end_stream False and no effect on the stream's end).

        ValueError if the fields are not valid in HTTP/2 (`checked`: the
        caller made them valid already)."""
        stream = self.streams.get(stream_id)
        if stream is None or stream.local_ended:
            return
        if not checked:
            problem = response_header_error(headers)
            if problem is not None:
                raise ValueError(f"Invalid HTTP/2 response headers: {problem}")
        informational = len(headers[0][1]) == 3 and headers[0][1][:1] == b"1" and headers[0][0] == b":status"
        if stream.headers_sent or (informational and end_stream):
            raise ValueError("Invalid HTTP/2 response headers: a second response head")
        if not informational:
            stream.headers_sent = True
        block = self._header_block_out(headers)
        self.out.append(self.codec.headers_frames(stream_id, block, end_stream, self.max_outbound_frame_size))
        if end_stream:
            self._local_end(stream_id, stream)

    def _header_block_out(self, headers):
        block = self.encoder.encode(headers)
        if self.table_size_update >= 0:
            block = self.codec.encode_integer(self.table_size_update, 5, 0x20) + block
            self.table_size_update = -1
        return block

    def _local_end(self, stream_id, stream):
        """Our END_STREAM went out: closed, or half-closed (local) until the
        client ends its request (what it still sends is read and given back;
        such streams count against max_concurrent_streams)."""
        stream.local_ended = True
        self.held.discard(stream_id)
        if stream.remote_ended:
            del self.streams[stream_id]

    def send(self, stream_id, data, end_stream, now=0.0):
        """Body bytes for the stream: sent as far as the windows allow, the rest held.

        Returns True when nothing is left held for this stream."""
        stream = self.streams.get(stream_id)
        if stream is None or stream.local_ended:
            return True
        if data:
            if stream.chunks is None:
                stream.chunks = [data]
            else:
                stream.chunks.append(data)
            stream.size += len(data)
        if end_stream:
            stream.end = True
        return self._pump(stream_id, stream, now)

    def send_trailers(self, stream_id, trailers, now=0.0):
        """End the stream with trailer fields, once the body held before them has gone."""
        stream = self.streams.get(stream_id)
        if stream is None or stream.local_ended:
            return True
        stream.trailers = trailers
        stream.end = True
        return self._pump(stream_id, stream, now)

    def _pump(self, stream_id, stream, now):
        """Send what the windows allow of `stream`'s held output; True when all went.

        The body goes out as DATA frames of a header and a slice of the
        app's bytes, appended to the output: one join per data_to_send(),
        no copy per frame."""
        chunks = stream.chunks
        out = self.out
        frame_size: cython.Py_ssize_t = self.max_outbound_frame_size
        window: cython.Py_ssize_t
        room: cython.Py_ssize_t
        length: cython.Py_ssize_t
        ended = False
        if chunks:
            window = min(stream.send_window, self.connection_send_window)
            sent: cython.Py_ssize_t = 0
            while chunks:
                room = min(window - sent, frame_size)
                if room <= 0:
                    break
                chunk = chunks[0]
                length = len(chunk)
                if length <= room:
                    chunks.pop(0)
                else:  # split without copying the rest of a large body at every frame
                    if type(chunk) is not memoryview:
                        chunk = memoryview(chunk)
                    chunks[0] = chunk[room:]
                    chunk = chunk[:room]
                    length = room
                sent += length
                if length >= LARGE_PART:
                    self.out_large = True
                ended = stream.end and not chunks and stream.trailers is None
                out.append(data_frame_header(length, ended, stream_id))
                out.append(chunk)
            stream.send_window -= sent
            self.connection_send_window -= sent
            stream.size -= sent
            if chunks:
                if not stream.blocked_since:
                    stream.blocked_since = now if now else 1e-9  # 0.0 means "not blocked"
                self.held.add(stream_id)
                return False
        stream.blocked_since = 0.0
        self.held.discard(stream_id)
        if stream.end:
            if stream.trailers is not None:  # a HEADERS frame ends the stream
                block = self._header_block_out(stream.trailers)
                out.append(self.codec.headers_frames(stream_id, block, True, frame_size))
            elif not ended:  # nothing was held: END_STREAM goes on an empty DATA frame
                out.append(data_frame_header(0, True, stream_id))
            self._local_end(stream_id, stream)
        return True

    def _pump_held(self, stream_ids, events, now):
        """A window opened: send what it lets go of these streams' held output."""
        for stream_id in stream_ids:
            stream = self.streams.get(stream_id)
            if stream is None:
                self.held.discard(stream_id)
            elif self._pump(stream_id, stream, now):
                events.append(StreamWritable(stream_id))

    def pending(self, stream_id):
        """Bytes held for the stream until the peer's windows open."""
        stream = self.streams.get(stream_id)
        return stream.size if stream is not None else 0

    def reset(self, stream_id, error_code):
        """Reset a stream of ours (an app error after its response began, a stall)."""
        self.held.discard(stream_id)
        stream = self.streams.pop(stream_id, None)
        if stream is not None and self.state is not State.CLOSED:
            self._note_reset(stream_id)
            self.out.append(self.codec.rst_stream_frame(stream_id, error_code))

    def finish(self, stream_id):
        """The work for a stream is over (its app returned): it no longer counts
        against max_concurrent_streams.  A response never ended is reset (one
        ended but still held by the windows goes on)."""
        self.working.discard(stream_id)
        stream = self.streams.get(stream_id)
        if stream is not None and not stream.end and not stream.local_ended:
            self.reset(stream_id, INTERNAL_ERROR)

    def start_shutdown(self):
        """Graceful GOAWAY: no stream above last_stream_id will be served; the
        ones in flight finish."""
        if self.state is not State.OPEN:
            return
        self.state = State.DRAINING
        self.out.append(self.codec.goaway_frame(self.last_stream_id, NO_ERROR))

    def close(self, error_code=NO_ERROR):
        """End the connection now: GOAWAY with `error_code`, every stream dropped."""
        if self.state is not State.CLOSED:
            self._end(error_code)

    # -- deadlines -------------------------------------------------------
    def next_deadline(self):
        """When check_deadlines() has something to do (0.0: never)."""
        ping = self.ping_deadline or self.ping_due
        if self.settings_deadline and ping:
            return min(self.settings_deadline, ping)
        return self.settings_deadline or ping

    def check_deadlines(self, now):
        """Act on the deadlines that passed: a ConnectionClosed (and our GOAWAY
        queued) when the client missed one, else None (a keep-alive PING may
        be queued)."""
        if self.state is State.CLOSED:
            return None
        if self.settings_deadline and now >= self.settings_deadline:
            self.close(SETTINGS_TIMEOUT)
            return ConnectionClosed(SETTINGS_TIMEOUT, "the client never acknowledged our SETTINGS")
        if self.ping_deadline:
            if now >= self.ping_deadline:
                self.close(NO_ERROR)
                return ConnectionClosed(NO_ERROR, "the client did not answer a keep-alive PING")
        elif self.ping_due and now >= self.ping_due:
            self.pings_sent += 1
            self.out.append(self.codec.ping_frame(self._ping_payload(), False))
            self.ping_deadline = now + (self.limits.ping_timeout or self.limits.ping_interval)
            self.ping_due = now + self.limits.ping_interval
        return None

    def _ping_payload(self):
        return self.pings_sent.to_bytes(8, "big")

    def stalled_streams(self, now, timeout):
        """The streams whose output has waited on a closed window for `timeout` seconds."""
        return [stream_id for stream_id in self.held if stream_id in self.streams
                and now - self.streams[stream_id].blocked_since >= timeout]

    def data_to_send(self):
        out = self.out
        if not out:
            return b""
        data = b"".join(out) if len(out) > 1 else bytes(out[0])
        out.clear()
        self.out_large = False
        return data

    def output_parts(self):
        """The bytes to send as a list for the transport's writelines(): a
        large body's slices as they are (the transport writes them with one
        writev, no copy), else everything joined into one."""
        out = self.out
        if not out:
            return []
        if self.out_large:
            self.out = []
            self.out_large = False
            return out
        data = b"".join(out) if len(out) > 1 else bytes(out[0])
        out.clear()
        return [data]


def data_frame_header(length: cython.Py_ssize_t, end_stream, stream_id):
    """The 9 bytes before a DATA frame's payload."""
    return bytes((length >> 16, (length >> 8) & 0xFF, length & 0xFF, DATA, FLAG_END_STREAM if end_stream else 0,
                  (stream_id >> 24) & 0x7F, (stream_id >> 16) & 0xFF, (stream_id >> 8) & 0xFF, stream_id & 0xFF))


CONNECTION_SPECIFIC = frozenset((b"connection", b"proxy-connection", b"keep-alive", b"transfer-encoding",
                                 b"upgrade"))


def response_header_error(headers):
    """Why response fields are not valid in HTTP/2 (RFC 9113 8.2), or None."""
    if not headers or headers[0][0] != b":status":
        return "no :status first"
    octet: cython.Py_ssize_t
    for index, (name, value) in enumerate(headers):
        if not name:
            return "an empty header name"
        if name[0] == 0x3A and (index or name != b":status"):
            return f"pseudo-header {name!r} in a response"
        for octet in name[1:] if name[0] == 0x3A else name:
            if 0x41 <= octet <= 0x5A or octet <= 0x20 or octet >= 0x7F or octet == 0x3A:
                return f"invalid header name {name!r}"
        if b"\r" in value or b"\n" in value or b"\x00" in value:
            return f"invalid header value {value!r}"
        if name in CONNECTION_SPECIFIC or (name == b"te" and value != b"trailers"):
            return f"connection-specific field {name!r}"
    return None
