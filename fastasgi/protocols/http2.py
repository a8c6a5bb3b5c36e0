"""A sans-I/O HTTP/2 server connection on the `h2` library (--http2-engine h2).

fastasgi's own engine (http2_engine.py) is the default; this one stays
behind the switch and as the oracle of its differential tests.  The frame
codec and the RFC 9113 state machines are the `h2` library's (the engine).
This module puts fastasgi's connection object around it, with the same
interface and events (http2_events.py) as fastasgi's engine: the asyncio
adapter (http2_asyncio.py) and the tests never see h2.  What this layer
adds to the engine:

- the limits and their defaults, named in Http2Limits;
- the stream table: what each stream still has to send, held until the
  peer's stream and connection windows let it go (send(), pending());
- refusing streams past max_concurrent_streams with REFUSED_STREAM (a
  stream error, where the engine would end the whole connection);
- the abuse counters: client resets (CVE-2023-44487), frames that cost us
  work and do nothing (PING, SETTINGS, empty DATA, PRIORITY, unknown
  frames), each counted per window and answered with GOAWAY
  ENHANCE_YOUR_CALM past its limit;
- a graceful GOAWAY that lets the streams in flight finish;
- deadlines as data: stalled_streams(now) names the streams whose output
  has waited on a closed window for too long; next_deadline() and
  check_deadlines(now) run the SETTINGS ACK timeout (RFC 9113 6.5.3) and
  the optional keep-alive PING.
"""

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import h2.stream
import h2.utilities
import hpack
from hyperframe.frame import GoAwayFrame

from .http2_events import (  # noqa: F401 - re-exported: the engine-neutral names, where they were
    CANCEL, ENGINE_STREAM_LIMIT, ENHANCE_YOUR_CALM, FLOW_CONTROL_ERROR, INTERNAL_ERROR, MAX_WINDOW, NO_ERROR, PREFACE, PROTOCOL_ERROR,
    REFUSED_STREAM, SETTINGS_TIMEOUT, ConnectionClosed, DataReceived, Http2Limits, MalformedRequest, RateWindow,
    RequestReceived, State, StreamEnded, StreamReset, StreamWritable,
)


class OutboundStream:
    """What one stream of ours still has to send."""
    __slots__ = ("chunks", "size", "end", "trailers", "blocked_since")

    def __init__(self):
        self.chunks = []  # body bytes the peer's windows did not let go yet
        self.size = 0
        self.end = False  # END_STREAM follows the last chunk
        self.trailers = None  # header fields to end the stream with, after the last chunk
        self.blocked_since = 0.0  # when a closed window first held this output; 0: not held


class Http2Connection:
    """One HTTP/2 server connection, without I/O.

    feed(data, now) -> events; send_headers()/send()/reset()/consumed()
    queue output; data_to_send() -> the bytes to write.  `now` is the
    caller's clock: the abuse counters and the stall deadlines read it.
    """

    def __init__(self, limits=None, upgrade_settings=None, now=0.0):
        """`upgrade_settings`: the HTTP2-Settings header of an HTTP/1.1 request
        upgraded to h2c (RFC 7540 3.2), which becomes stream 1, waiting for
        its response; ValueError if the header is not valid.  `now`: when our
        SETTINGS go out (the ACK timeout counts from there)."""
        self.limits = limits = limits or Http2Limits()
        engine = self.engine = h2.connection.H2Connection(config=ENGINE_CONFIG)
        advertised = {
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: limits.max_concurrent_streams,
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: limits.initial_window_size,
            h2.settings.SettingCodes.MAX_FRAME_SIZE: limits.max_frame_size,
            h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: limits.max_header_list_size,
            h2.settings.SettingCodes.HEADER_TABLE_SIZE: limits.header_table_size,
            h2.settings.SettingCodes.ENABLE_PUSH: 0,
        }
        if limits.enable_connect_protocol:
            advertised[h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL] = 1
        codec = limits.codec
        if codec is not None:
            engine.encoder = EngineHpackEncoder(codec)
            engine.decoder = EngineHpackDecoder(codec)
            self.header_error = codec.header_error
        else:
            self.header_error = engine_header_error
        engine.local_settings = h2.settings.Settings(client=False, initial_values=advertised)
        engine.max_inbound_frame_size = limits.max_frame_size
        engine.decoder.max_header_list_size = limits.max_header_list_size
        engine.decoder.max_allowed_table_size = limits.header_table_size
        if upgrade_settings is None:
            engine.initiate_connection()  # our SETTINGS, from `advertised`
        else:
            try:
                engine.initiate_upgrade_connection(upgrade_settings)  # our SETTINGS too
            except Exception as exc:  # bad base64, a truncated frame, an invalid value
                raise ValueError(f"Invalid HTTP2-Settings header: {exc}") from None
        # The engine would treat one stream past the advertised limit as a
        # connection error; RFC 9113 5.1.2 lets it be a stream error, which
        # feed() makes it (REFUSED_STREAM: the client may retry it).
        enforced = dict(advertised)
        enforced[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] = ENGINE_STREAM_LIMIT
        engine.local_settings = h2.settings.Settings(client=False, initial_values=enforced)
        if limits.connection_window > 65535:
            engine.increment_flow_control_window(limits.connection_window - 65535)
        compact_settings(engine)
        self.state = State.OPEN
        self.streams = {}  # stream id -> OutboundStream, for every stream we still answer
        # Streams with output held by a closed window: a WINDOW_UPDATE costs
        # work for these only, not for every stream (a flood of them is cheap).
        self.held = set()
        # Streams taken on whose work is not over (finish()): a stream the
        # client reset still counts while its app runs, so resets cannot
        # pile up work beyond max_concurrent_streams (CVE-2023-44487).
        self.working = set()
        self.last_stream_id = 0  # the highest stream we took on (GOAWAY's last stream id)
        self.resets = RateWindow(limits.reset_limit, limits.abuse_window)
        self.control_frames = RateWindow(limits.control_frame_limit, limits.abuse_window)
        # Bytes to send before what the engine holds: its output taken out
        # ahead of a feed (see _calm_down) and frames it does not make (the
        # graceful GOAWAY).
        self.out = []
        # Deadlines, on the caller's clock; 0.0: none.
        self.settings_deadline = now + limits.settings_timeout if limits.settings_timeout else 0.0
        self.ping_due = now + limits.ping_interval if limits.ping_interval else 0.0
        self.ping_deadline = 0.0  # our keep-alive PING is out: the client answers by then
        self.pings_sent = 0
        if upgrade_settings is not None:
            self.streams[1] = OutboundStream()
            self.working.add(1)
            self.last_stream_id = 1

    # -- input -----------------------------------------------------------
    def feed(self, data, now=0.0):
        """The bytes the client sent -> a list of events."""
        if self.state is State.CLOSED:
            return []
        self._take_engine_output()
        if self.ping_due:
            self.ping_due = now + self.limits.ping_interval  # the client is there: no need to ask
        try:
            engine_events = self.engine.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            error_code = int(getattr(exc, "error_code", PROTOCOL_ERROR))
            if self.engine.state_machine.state is not h2.connection.ConnectionState.CLOSED:
                # An invalid preface: the engine raised before its own GOAWAY.
                self.engine.close_connection(error_code=error_code)
            self.state = State.CLOSED
            return [ConnectionClosed(error_code, str(exc) or type(exc).__name__)]
        events = []
        for event in engine_events:
            kind = type(event)
            if kind is h2.events.DataReceived:
                if event.flow_controlled_length == 0 and event.stream_ended is None:
                    if self._counts_as_flood(now):
                        return events + [self._calm_down("empty DATA frames")]
                if event.stream_id in self.streams:
                    events.append(DataReceived(event.stream_id, event.data, event.flow_controlled_length))
                elif event.flow_controlled_length:
                    # A stream we refused or already answered: the bytes are dropped,
                    # their window goes back to the connection at once.
                    self._acknowledge(event.stream_id, event.flow_controlled_length)
            elif kind is h2.events.RequestReceived:
                stream_id = event.stream_id
                malformed = self.header_error(event.headers, False)
                if malformed is not None:
                    # RFC 9113 8.1.1: a malformed request is a stream error.
                    self._refuse(stream_id, PROTOCOL_ERROR)
                    if self.resets.add(now):
                        return events + [self._calm_down("malformed requests")]
                    events.append(MalformedRequest(stream_id, malformed))
                    continue
                if self.state is not State.OPEN or len(self.working) >= self.limits.max_concurrent_streams:
                    self._refuse(stream_id)
                    if self.resets.add(now):
                        return events + [self._calm_down("too many refused streams")]
                    continue
                self.streams[stream_id] = OutboundStream()
                self.working.add(stream_id)
                self.last_stream_id = stream_id
                events.append(RequestReceived(stream_id, event.headers, event.stream_ended is not None))
            elif kind is h2.events.StreamEnded:
                if event.stream_id in self.streams:
                    events.append(StreamEnded(event.stream_id))
            elif kind is h2.events.TrailersReceived:
                # ASGI has no request trailers: the StreamEnded that follows ends the body.
                malformed = self.header_error(event.headers, True)
                if malformed is not None and self.streams.pop(event.stream_id, None):
                    self._refuse(event.stream_id, PROTOCOL_ERROR)
                    events.append(StreamReset(event.stream_id, PROTOCOL_ERROR))
            elif kind is h2.events.StreamReset:
                self.held.discard(event.stream_id)
                if event.remote_reset and self.streams.pop(event.stream_id, None) is not None:
                    events.append(StreamReset(event.stream_id, int(event.error_code)))
                    if self.resets.add(now):
                        return events + [self._calm_down("rapid stream resets")]
            elif kind is h2.events.WindowUpdated:
                if event.stream_id == 0:
                    self._pump_held(list(self.held), events, now)
                elif event.stream_id in self.held:
                    self._pump_held((event.stream_id,), events, now)
            elif kind is h2.events.RemoteSettingsChanged:
                if self._counts_as_flood(now):
                    return events + [self._calm_down("SETTINGS flood")]
                compact_settings(self.engine)
                self._pump_held(list(self.held), events, now)  # the initial window may have grown
            elif kind is h2.events.ConnectionTerminated:
                self.state = State.CLOSED
                events.append(ConnectionClosed(int(event.error_code), "client sent GOAWAY"))
                return events
            elif kind is h2.events.SettingsAcknowledged:
                self.settings_deadline = 0.0
                compact_settings(self.engine)
            elif kind is h2.events.PingAckReceived:
                if self.ping_deadline and event.ping_data == self._ping_payload():
                    self.ping_deadline = 0.0
            elif kind in FLOOD_EVENTS:
                if self._counts_as_flood(now):
                    return events + [self._calm_down(f"{kind.__name__} flood")]
        return events

    def _counts_as_flood(self, now):
        """Count one frame that serves no request; True past the limit."""
        return self.control_frames.add(now)

    def _calm_down(self, reason):
        """Close the connection: the client abuses it.  What the engine queued
        in answer to this read (PING and SETTINGS ACKs of a flood) is dropped:
        the GOAWAY follows what was queued before it."""
        self.engine.clear_outbound_data_buffer()
        self.engine.close_connection(error_code=ENHANCE_YOUR_CALM, last_stream_id=self.last_stream_id)
        self.state = State.CLOSED
        self.streams.clear()
        self.held.clear()
        self.working.clear()
        return ConnectionClosed(ENHANCE_YOUR_CALM, reason)

    def _refuse(self, stream_id, error_code=REFUSED_STREAM):
        try:
            self.engine.reset_stream(stream_id, error_code=error_code)
        except h2.exceptions.StreamClosedError:
            pass  # the client reset it already, later in the same read

    def _acknowledge(self, stream_id, size):
        try:
            self.engine.acknowledge_received_data(size, stream_id)
        except h2.exceptions.StreamClosedError:
            pass  # the engine credits the connection window for a closed stream itself

    # -- output ----------------------------------------------------------
    def send_headers(self, stream_id, headers, end_stream, checked=False):
        """A response head (or a 1xx with end_stream False and no effect on the stream's end).

        `headers`: (name, value) bytes pairs, ":status" first.  ValueError if
        the engine refuses them (the caller has not sent anything yet).
        `checked`: a final response head the caller made valid already
        (names lowercase tokens, values without CR, LF, NUL or surrounding
        whitespace, no connection-specific field): with fastasgi's codec it
        is encoded and framed here, not by the engine."""
        stream = self.streams.get(stream_id)
        if stream is None:
            return
        if not (checked and self.limits.codec is not None and self._send_checked_headers(stream_id, headers,
                                                                                          end_stream)):
            try:
                self.engine.send_headers(stream_id, headers, end_stream=end_stream)
            except h2.exceptions.ProtocolError as exc:
                raise ValueError(f"Invalid HTTP/2 response headers: {exc}") from None
        if end_stream:
            del self.streams[stream_id]

    def _send_checked_headers(self, stream_id, headers, end_stream):
        """A final response head as HEADERS (and CONTINUATION) frames written
        here, with the stream's state steps the engine's send_headers takes;
        False where the engine must write it itself."""
        engine = self.engine
        h2_stream = engine.streams.get(stream_id) if DIRECT_DATA else None
        if (h2_stream is None or h2_stream.state_machine.state not in SENDABLE_STREAM_STATES
                or h2_stream.state_machine.headers_sent
                or engine.state_machine.state is h2.connection.ConnectionState.CLOSED):
            return False
        h2_stream.state_machine.process_input(h2.stream.StreamInputs.SEND_HEADERS)
        block = engine.encoder.encode(headers)
        if end_stream:
            h2_stream.state_machine.process_input(h2.stream.StreamInputs.SEND_END_STREAM)
        engine._data_to_send += self.limits.codec.headers_frames(stream_id, block, end_stream,
                                                                 engine.max_outbound_frame_size)
        return True

    def send(self, stream_id, data, end_stream, now=0.0):
        """Body bytes for the stream: sent as far as the windows allow, the rest held.

        Returns True when nothing is left held for this stream."""
        stream = self.streams.get(stream_id)
        if stream is None:
            return True
        if data:
            stream.chunks.append(data)
            stream.size += len(data)
        if end_stream:
            stream.end = True
        return self._pump(stream_id, stream, now)

    def send_trailers(self, stream_id, trailers, now=0.0):
        """End the stream with trailer fields, once the body held before them has gone."""
        stream = self.streams.get(stream_id)
        if stream is None:
            return True
        stream.trailers = trailers
        stream.end = True
        return self._pump(stream_id, stream, now)

    def _pump(self, stream_id, stream, now):
        """Send what the windows allow of `stream`'s held output; True when all went."""
        try:
            return self._pump_chunks(stream_id, stream, now)
        except h2.exceptions.StreamClosedError:
            # The peer reset it in the same read as the WINDOW_UPDATE that
            # pumps it: its StreamReset event comes later in this feed.
            self.held.discard(stream_id)
            return False

    def _pump_chunks(self, stream_id, stream, now):
        engine = self.engine
        chunks = stream.chunks
        ended = False
        while chunks:
            window = engine.local_flow_control_window(stream_id)
            if window <= 0:
                if not stream.blocked_since:
                    stream.blocked_since = now or 1e-9  # 0.0 means "not blocked"
                self.held.add(stream_id)
                return False
            room = min(window, engine.max_outbound_frame_size)
            chunk = chunks[0]
            if len(chunk) <= room:
                chunks.pop(0)
            else:  # split without copying the rest of a large body at every frame
                if type(chunk) is not memoryview:
                    chunk = memoryview(chunk)
                chunks[0] = chunk[room:]
                chunk = chunk[:room]
            stream.size -= len(chunk)
            ended = stream.end and not chunks and stream.trailers is None
            self._send_data(engine, stream_id, chunk, ended)
        stream.blocked_since = 0.0
        self.held.discard(stream_id)
        if stream.end:
            del self.streams[stream_id]
            if stream.trailers is not None:  # a HEADERS frame ends the stream
                engine.send_headers(stream_id, stream.trailers, end_stream=True)
            elif not ended:  # nothing was held: END_STREAM goes on an empty DATA frame
                engine.end_stream(stream_id)
        return True

    def _send_data(self, engine, stream_id, chunk, end_stream):
        """One DATA frame, within the windows.  Written here where the engine
        allows (the engine's send_data makes a frame object, steps two state
        machines and copies the data, per 16 KiB), with its window accounting
        and the stream's END_STREAM transition kept as it keeps them."""
        h2_stream = engine.streams.get(stream_id) if DIRECT_DATA else None
        if (h2_stream is None or h2_stream.state_machine.state not in SENDABLE_STREAM_STATES
                or engine.state_machine.state is h2.connection.ConnectionState.CLOSED):
            engine.send_data(stream_id, chunk, end_stream=end_stream)  # it raises what applies
            return
        size = len(chunk)
        h2_stream.outbound_flow_control_window -= size
        engine.outbound_flow_control_window -= size
        if end_stream:
            h2_stream.state_machine.process_input(h2.stream.StreamInputs.SEND_END_STREAM)
        buffer = engine._data_to_send
        buffer += size.to_bytes(3, "big") + (END_STREAM_DATA if end_stream else DATA) + stream_id.to_bytes(4, "big")
        buffer += chunk

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

    def consumed(self, stream_id, flow_length):
        """The app took `flow_length` bytes of the stream's body: the client
        may send that much more (WINDOW_UPDATE, batched by the engine)."""
        if self.state is not State.CLOSED and flow_length:
            self._acknowledge(stream_id, flow_length)

    def reset(self, stream_id, error_code):
        """Reset a stream of ours (an app error after its response began, a stall)."""
        self.held.discard(stream_id)
        if self.streams.pop(stream_id, None) is not None and self.state is not State.CLOSED:
            try:
                self.engine.reset_stream(stream_id, error_code=error_code)
            except h2.exceptions.StreamClosedError:
                pass

    def finish(self, stream_id):
        """The work for a stream is over (its app returned): it no longer counts
        against max_concurrent_streams.  A response never ended is reset (one
        ended but still held by the windows goes on)."""
        self.working.discard(stream_id)
        stream = self.streams.get(stream_id)
        if stream is not None and not stream.end:
            self.reset(stream_id, INTERNAL_ERROR)
        if not self.streams and self.state is not State.CLOSED:
            # Going idle: the engine forgets its closed streams only when it
            # counts the open ones, which it otherwise does at the next request.
            self.engine.open_inbound_streams  # noqa: B018 - read for its clean-up

    def start_shutdown(self):
        """Graceful GOAWAY: no stream above last_stream_id will be served; the
        ones in flight finish.  (The engine's own GOAWAY would end them too.)"""
        if self.state is not State.OPEN:
            return
        self.state = State.DRAINING
        frame = GoAwayFrame(0)
        frame.last_stream_id = self.last_stream_id
        frame.error_code = NO_ERROR
        self._take_engine_output()
        self.out.append(frame.serialize())

    def close(self, error_code=NO_ERROR):
        """End the connection now: GOAWAY with `error_code`, every stream dropped."""
        if self.state is State.CLOSED:
            return
        self.state = State.CLOSED
        self.streams.clear()
        self.held.clear()
        self.engine.close_connection(error_code=error_code, last_stream_id=self.last_stream_id)

    # -- deadlines -------------------------------------------------------
    def next_deadline(self):
        """When check_deadlines() has something to do (0.0: never)."""
        deadlines = [deadline for deadline in (self.settings_deadline, self.ping_deadline or self.ping_due)
                     if deadline]
        return min(deadlines) if deadlines else 0.0

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
            self.engine.ping(self._ping_payload())
            self.ping_deadline = now + (self.limits.ping_timeout or self.limits.ping_interval)
            self.ping_due = now + self.limits.ping_interval
        return None

    def _ping_payload(self):
        return self.pings_sent.to_bytes(8, "big")

    def stalled_streams(self, now, timeout):
        """The streams whose output has waited on a closed window for `timeout` seconds."""
        return [stream_id for stream_id in self.held if stream_id in self.streams
                and now - self.streams[stream_id].blocked_since >= timeout]

    def _take_engine_output(self):
        data = self.engine.data_to_send()
        if data:
            self.out.append(data)

    def output_parts(self):
        """data_to_send() as a list, for the transport's writelines()."""
        data = self.data_to_send()
        return [data] if data else []

    def data_to_send(self):
        data = self.engine.data_to_send()
        if self.out:
            self.out.append(data)
            data = b"".join(self.out)
            self.out.clear()
        return data


class EngineHpackEncoder:
    """fastasgi's HPACK encoder (http2_codec) where the engine expects hpack's Encoder."""
    __slots__ = ("encoder",)

    def __init__(self, codec):
        self.encoder = codec.HpackEncoder()

    def encode(self, headers, huffman=True):
        return self.encoder.encode(headers)

    @property
    def header_table_size(self):
        return 0  # the encoder never indexes: any table the peer allows is large enough

    @header_table_size.setter
    def header_table_size(self, value):
        pass


class CompressionError(h2.exceptions.ProtocolError):
    """A header block that does not decode: RFC 9113 4.3's COMPRESSION_ERROR
    (the engine would answer hpack's own errors with PROTOCOL_ERROR)."""
    error_code = h2.errors.ErrorCodes.COMPRESSION_ERROR


class EngineHpackDecoder:
    """fastasgi's HPACK decoder (http2_codec) where the engine expects hpack's
    Decoder: a block past the header list limit becomes the hpack error the
    engine answers with ENHANCE_YOUR_CALM, any other refusal a COMPRESSION_ERROR."""
    __slots__ = ("decoder", "codec")

    def __init__(self, codec):
        self.codec = codec
        self.decoder = codec.HpackDecoder()

    def decode(self, data, raw=False):
        try:
            return self.decoder.decode(data)
        except self.codec.HeaderListTooLarge as exc:
            raise hpack.OversizedHeaderListError(str(exc)) from None
        except self.codec.HpackError as exc:
            raise CompressionError(f"Error decoding header block: {exc}") from None

    @property
    def max_header_list_size(self):
        return self.decoder.max_header_list_size

    @max_header_list_size.setter
    def max_header_list_size(self, value):
        self.decoder.max_header_list_size = value

    @property
    def max_allowed_table_size(self):
        return self.decoder.max_allowed_table_size

    @max_allowed_table_size.setter
    def max_allowed_table_size(self, value):
        self.decoder.max_allowed_table_size = value

    @property
    def header_table_size(self):
        return self.decoder.max_table_size

    @header_table_size.setter
    def header_table_size(self, value):
        self.decoder.max_table_size = value


# DATA frames written by Http2Connection._send_data: the engine's pieces it
# relies on (its output buffer, its streams' windows and state machines),
# checked once; without them the engine's send_data writes every frame.
SENDABLE_STREAM_STATES = frozenset((h2.stream.StreamState.OPEN, h2.stream.StreamState.HALF_CLOSED_REMOTE))


def _engine_allows_direct_data():
    probe = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    return (isinstance(getattr(probe, "_data_to_send", None), bytearray)
            and isinstance(getattr(probe, "streams", None), dict)
            and hasattr(probe, "outbound_flow_control_window"))


DIRECT_DATA = _engine_allows_direct_data()
DATA = b"\x00\x00"  # DATA's type and flags
END_STREAM_DATA = b"\x00\x01"


# The engine's configuration, the same for every connection (the engine only reads it).
# Request headers are validated by Http2Connection, not by the engine, which
# would end the whole connection for one malformed request (see feed()).
ENGINE_CONFIG = h2.config.H2Configuration(client_side=False, header_encoding=None,
                                          validate_inbound_headers=False, normalize_inbound_headers=True)


class SettingValues(list):
    """A setting's values, current first, as the engine keeps them, in a
    list: the engine's deque costs about 600 bytes each, a dozen of them per
    idle connection."""
    __slots__ = ()

    def popleft(self):
        return self.pop(0)


def compact_settings(engine):
    """Swap the engine's settings deques for SettingValues (the engine only
    indexes, appends to and pops the left of them)."""
    for settings in (engine.local_settings, engine.remote_settings):
        values = getattr(settings, "_settings", None)
        if values is None:
            return  # an engine whose settings are kept otherwise: nothing to compact
        for key, items in values.items():
            if type(items) is not SettingValues:
                values[key] = SettingValues(items)


# How the engine's header validation (RFC 9113 8.2, 8.3) is told what it checks.
REQUEST_HEADERS = h2.utilities.HeaderValidationFlags(
    is_client=False, is_trailer=False, is_response_header=False, is_push_promise=False)
TRAILERS = REQUEST_HEADERS._replace(is_trailer=True)


def engine_header_error(headers, trailers):
    """Why a received header list (or its trailers) is malformed by the
    engine's rules, or None when it is well-formed: names lowercase tokens,
    pseudo-headers known, once each and first, no connection-specific
    fields, `te` only "trailers", :method/:scheme/:path present, :path not
    empty.  (http2_codec.header_error is fastasgi's own, with --http2-engine h2.)"""
    try:
        for _ in h2.utilities.validate_headers(headers, TRAILERS if trailers else REQUEST_HEADERS):
            pass
    except h2.exceptions.ProtocolError as exc:
        return str(exc)
    return None


# Frames that cost the server work (an ACK, a table update) and serve no request.
FLOOD_EVENTS = frozenset((
    h2.events.PingReceived,
    h2.events.PriorityUpdated,
    h2.events.UnknownFrameReceived,
))
