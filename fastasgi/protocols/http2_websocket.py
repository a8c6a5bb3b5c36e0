"""A WebSocket on an HTTP/2 stream (RFC 8441 extended CONNECT).

The websocket layer (websocket.py) is the same as on HTTP/1.1; only what
it writes to and reads from changes.  WebSocketStream is three things at
once:

- to the Http2Protocol, one of its streams (DATA in, reset, window opened);
- to the websocket layer, its transport: frames go out as DATA, closing
  the transport ends the stream (END_STREAM), aborting resets it, and
  pausing reading holds back the stream's window instead of the socket;
- to the websocket layer, its flow: writing waits while the peer's
  windows hold this stream's output.

The handshake is HTTP/2's: the 200 (or the app's denial response) is a
HEADERS frame on the stream, see respond().
"""
import logging

from .http2 import CANCEL

logger = logging.getLogger("fastasgi.error")


class WebSocketStream:
    __slots__ = ("protocol", "stream_id", "websocket", "cycle", "done", "lost", "read_paused", "unread",
                 "drain_waiter", "head_sent", "complete")

    def __init__(self, protocol, stream_id):
        self.protocol = protocol
        self.stream_id = stream_id
        self.websocket = None  # the WebSocketProtocol reading and writing this stream
        self.cycle = None  # no HTTP request cycle: the Http2Protocol's watchdogs skip this stream
        self.done = False  # our side of the stream is over (ended or reset)
        self.lost = False  # the websocket layer has heard connection_lost
        self.read_paused = False
        self.unread = 0  # window held back while reading is paused
        self.drain_waiter = None
        self.head_sent = False
        self.complete = False  # a denial response went out in full

    # -- the Http2Protocol's side: one of its streams ------------------------
    def data_received(self, data, flow_length):
        if self.read_paused:
            self.unread += flow_length  # the client's window opens again on resume_reading()
        else:
            self.protocol.conn.consumed(self.stream_id, flow_length)
            self.protocol.flush_soon(self.protocol)
        if data and not self.lost:
            self.websocket.data_received(data)

    def ended(self):
        """The client ended its side (END_STREAM): the websocket's EOF."""
        if not self.lost:
            self.websocket.eof_received()

    def disconnect(self):
        """The client reset the stream, or the connection went."""
        self.done = True
        self.wake_writer()
        if not self.lost:
            self.lost = True
            self.websocket.connection_lost(None)
            self.protocol.stream_finished(self)

    def reset(self, error_code):
        if not self.done:
            self.done = True
            self.protocol.conn.reset(self.stream_id, error_code)
            self.protocol.flush_soon(self.protocol)
        self.disconnect()

    def wake_writer(self):
        waiter = self.drain_waiter
        if waiter is not None:
            self.drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # -- the websocket layer's side: its transport ----------------------------
    def respond(self, status, headers, body=b"", more_body=False):
        """The handshake's answer as HEADERS (and DATA): 200 with more_body accepts, the rest denies."""
        if self.done:
            return
        protocol = self.protocol
        fields = [(b":status", b"%d" % status)]
        own = set()
        for name, value in headers:
            name = bytes(name).lower()
            own.add(name)
            fields.append((name, bytes(value)))
        for name, value in protocol.default_headers():
            if name not in own:
                fields.append((name, value))
        self.head_sent = True
        end = not body and not more_body
        protocol.conn.send_headers(self.stream_id, fields, end)
        if end:
            self._ended()
        elif body:
            self.respond_body(body, more_body)
        protocol.flush_soon(protocol)

    def respond_body(self, body, more_body):
        """More of a denial response's body; the last one ends the stream."""
        if self.done:
            return
        self.protocol.conn.send(self.stream_id, body, not more_body, self.protocol.server_state.clock)
        self.protocol.flush_soon(self.protocol)
        if not more_body:
            self._ended()

    def write(self, data):
        if not self.done:
            protocol = self.protocol
            protocol.conn.send(self.stream_id, data, False, protocol.server_state.clock)
            protocol.flush_soon(protocol)

    def close(self):
        """End our side of the stream (END_STREAM), after what is held for it."""
        if not self.done:
            protocol = self.protocol
            protocol.conn.send(self.stream_id, b"", True, protocol.server_state.clock)
            protocol.flush_soon(protocol)
            self._ended()

    def _ended(self):
        self.done = True
        self.complete = True
        self.protocol.loop.call_soon(self.disconnect)  # as a socket's close reports connection_lost later

    def abort(self):
        self.reset(CANCEL)

    def is_closing(self):
        return self.done

    def can_write_eof(self):
        return False  # close() is already a half-close: the client may still send its close frame

    def pause_reading(self):
        self.read_paused = True

    def resume_reading(self):
        self.read_paused = False
        if self.unread and not self.done:
            self.protocol.conn.consumed(self.stream_id, self.unread)
            self.protocol.flush_soon(self.protocol)
        self.unread = 0

    def get_extra_info(self, name, default=None):
        return self.protocol.transport.get_extra_info(name, default)

    # -- the websocket layer's side: its flow ---------------------------------
    @property
    def write_paused(self):
        """Whether a writer must wait: the socket is full, or the peer's windows hold our output."""
        return not self.done and (self.protocol.write_paused or self.protocol.conn.pending(self.stream_id) > 0)

    async def drain(self):
        while self.write_paused:
            waiter = self.drain_waiter
            if waiter is None:
                waiter = self.drain_waiter = self.protocol.loop.create_future()
            await waiter

    def connection_lost(self, exc):
        self.wake_writer()

    def pause_writing(self):
        pass  # the Http2Protocol tracks the socket's writability for all its streams

    def resume_writing(self):
        pass
