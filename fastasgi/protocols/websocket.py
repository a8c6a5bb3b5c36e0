"""WebSockets on the websockets library's sans-I/O ServerProtocol.

The HTTP/1.1 protocol parses the upgrade request and hands the transport
over (`start`).  The handshake is checked before the app runs; the app's
websocket.accept becomes the 101 response, its websocket.close before
accept a 403, and websocket.http.response.* its own HTTP response.  Frames,
masking, ping/pong, the close handshake and the size limit are the
library's; reassembly of fragmented messages, flow control and timers are
ours.  While the connection is open with no extension, whole text and
binary frames are read and written by the hot path's FrameReader and
encode_frame (see _speedups/wsframes.py); every other frame still goes
through the library.
"""
import asyncio
import logging
from collections import deque
from http import HTTPStatus

from websockets.datastructures import Headers
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.frames import Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from .asyncio_loop import SharedReadBuffer
from .._speedups import ClientDisconnected

logger = logging.getLogger("fastasgi.error")

CONNECT = {"type": "websocket.connect"}
TEXT = 0x1
BINARY = 0x2
# After our close frame, how long the peer gets to close its side (seconds).
CLOSE_TIMEOUT = 5.0
# Bytes a client may send before the app accepts (it should wait for our
# answer) before we stop reading from it.
EARLY_DATA_MAX = 64 * 1024
# What the library's refusal of a handshake request means for the client.
HANDSHAKE_REFUSALS = {
    "RequestLineTooLong": (414, "Request line too long"),
    "HeaderLineTooLong": (431, "Header line too long"),
    "TooManyHeaders": (431, "Too many header fields"),
    "SecurityError": (431, "Request head too large"),  # the cause, before websockets 16
}


def deflate_extensions(config):
    """permessage-deflate as uvicorn offers it: 4 KiB windows and memLevel 5
    keep each connection's zlib state small."""
    if not config.ws_per_message_deflate:
        return []
    return [ServerPerMessageDeflateFactory(server_max_window_bits=12, client_max_window_bits=12,
                                           compress_settings={"memLevel": 5})]


class WebSocketProtocol(asyncio.Protocol):
    def __init__(self, config, server_state, app_state, loop):
        self.config = config
        self.app = config.loaded_app
        self.loop = loop
        self.server_state = server_state
        self.app_state = app_state
        self.transport = None
        self.flow = None
        self.protocol = None
        self.frames = None  # the hot path's FrameReader, while it reads the frames
        self.encode_frame = None  # the hot path's, once open with no extension
        self.request = None
        self.scope = None
        self.head = None
        self.messages = deque()  # events for the app's receive()
        self.waiter = None
        self.read_paused = False
        self.fragments = []  # frames of a fragmented message being reassembled
        self.fragment_opcode = None
        self.handshake_complete = False  # accepted or answered over HTTP
        self.accepted = False
        self.closed = False  # the connection is gone or closing: no more app sends
        self.close_sent = False
        self.http_response = None  # an encoder for websocket.http.response.*
        self.http_start = None  # (status, headers) of that response, until its first body
        self.early_data = []  # what a client sent before we accepted ...
        self.early_size = 0  # ... and its size: past EARLY_DATA_MAX reading pauses
        self.disconnect_queued = False
        self.subprotocol = None
        self.task = None
        self.deadline = 0.0
        self.awaiting_pong = False
        self.half_closed = False  # our side is shut: waiting for the peer's EOF
        self.max_queue = config.ws_max_queue
        self.ping_interval = config.ws_ping_interval
        self.ping_timeout = config.ws_ping_timeout
        self.stream = None  # the HTTP/2 stream this websocket runs on (RFC 8441), else None

    # -- hand-over from the HTTP/2 protocol (RFC 8441) ----------------------
    def start_on_stream(self, stream, scope):
        """Serve an extended CONNECT: `stream` (http2_websocket.WebSocketStream)
        is the transport and the flow.  There is no HTTP/1.1 handshake: the
        library starts open, and accept answers 200 on the stream."""
        self.transport = self.flow = self.stream = stream
        self.server_state.connections.add(self)
        if self.config.observer is not None:
            self.config.observer.websocket_opened()
        self.protocol = ServerProtocol(extensions=deflate_extensions(self.config), state=State.OPEN,
                                       max_size=self.config.ws_max_size)
        self.request = Headers((name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"])
        versions = self.request.get_all("Sec-WebSocket-Version")
        if versions != ["13"]:
            self._refuse(scope, 400, f"unsupported Sec-WebSocket-Version {versions!r}")
            return
        subprotocols = []
        for value in self.request.get_all("Sec-WebSocket-Protocol"):
            subprotocols.extend(token.strip() for token in value.split(",") if token.strip())
        scope["subprotocols"] = subprotocols
        self.scope = scope
        self.messages.append(CONNECT)
        self.task = self.loop.create_task(self.run_asgi())
        self.server_state.tasks.add(self.task)

    # -- hand-over from the HTTP/1.1 protocol -----------------------------
    def start(self, transport, flow, head, scope, trailing):
        self.transport = transport
        self.flow = flow
        self.head = head
        self.server_state.connections.add(self)
        if self.config.observer is not None:
            self.config.observer.websocket_opened()
        extensions = deflate_extensions(self.config)
        self.protocol = ServerProtocol(
            extensions=extensions,
            # websockets binds this to its protocol object, so a plain function:
            select_subprotocol=lambda protocol, offered: self.subprotocol,
            max_size=self.config.ws_max_size,
        )
        # The library reads frames only after it has parsed the handshake
        # itself: give it the request head again, as bytes.
        target = head.raw_path + (b"?" + head.query_string if head.query_string else b"")
        self.protocol.receive_data(b"".join(
            [b"GET ", target, b" HTTP/1.1\r\n"]
            + [name + b": " + value + b"\r\n" for name, value in head.headers]
            + [b"\r\n"]
        ))
        events = self.protocol.events_received()
        if not events:  # the library refused the request: a too long line, a body, ...
            exc = self.protocol.handshake_exc
            cause = exc.__cause__ if exc is not None and exc.__cause__ is not None else exc
            status, reason = HANDSHAKE_REFUSALS.get(
                type(exc).__name__, HANDSHAKE_REFUSALS.get(type(cause).__name__, (400, None)))
            self._refuse(scope, status, reason or str(cause))
            return
        self.request = events[0]
        headers = self.request.headers
        # Check the handshake before the app sees it: a broken one is the
        # client's error (400, or 426 for an unsupported version).
        versions = headers.get_all("Sec-WebSocket-Version")
        if len(versions) > 1:
            self._refuse(scope, 400, "more than one Sec-WebSocket-Version header")
            return
        if versions != ["13"]:
            logger.warning("Unsupported WebSocket version from %s: %r", scope["client"],
                           versions[0] if versions else None)
            self.transport.write(b"HTTP/1.1 426 Upgrade Required\r\nsec-websocket-version: 13\r\n"
                                 b"content-length: 0\r\nconnection: close\r\n\r\n")
            self.transport.close()
            return
        check = ServerProtocol(extensions=extensions, select_subprotocol=lambda *_: None).accept(self.request)
        if check.status_code != 101:
            logger.warning("Invalid WebSocket handshake from %s: %s", scope["client"], check.body.decode(errors="replace").strip())
            self._write_http_response(check)
            return
        subprotocols = []
        for value in headers.get_all("Sec-WebSocket-Protocol"):
            subprotocols.extend(token.strip() for token in value.split(",") if token.strip())
        scope["subprotocols"] = subprotocols
        self.scope = scope
        self.messages.append(CONNECT)
        self.task = self.loop.create_task(self.run_asgi())
        self.server_state.tasks.add(self.task)
        if trailing:
            self.data_received(trailing)

    def _refuse(self, scope, status, reason):
        """Answer a handshake request we cannot serve with `status`, one log line, and close."""
        logger.warning("Invalid WebSocket handshake from %s: %s (%d)", scope["client"], reason, status)
        self.handshake_complete = True
        self.closed = True
        body = reason.encode("ascii", "replace")
        if self.stream is not None:
            self.stream.respond(status, [(b"content-type", b"text/plain; charset=utf-8")], body)
            return
        self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
                             b"content-length: %d\r\nconnection: close\r\n\r\n%b"
                             % (status, HTTPStatus(status).phrase.encode("ascii"), len(body), body))
        self.transport.close()

    # -- transport callbacks ---------------------------------------------
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        protocol = self.protocol
        if protocol is None or not self.accepted:
            # Before accept the client must wait for our answer; keep what it
            # sent, a little of it: past that, TCP pushes back on the client.
            self.early_data.append(data)
            self.early_size += len(data)
            if self.early_size > EARLY_DATA_MAX and not self.read_paused and not self.transport.is_closing():
                self.read_paused = True
                self.transport.pause_reading()
            return
        frames = self.frames
        if frames is None:
            protocol.receive_data(data)
            self._handle_events()
            return
        if protocol.state is not State.OPEN:
            # Our close (or a failure) ends the hot path: from a frame
            # boundary on, the library reads it all, as it would have.
            self.frames = None
            protocol.receive_data(frames.take_buffer() + data)
            self._handle_events()
            return
        for item in frames.feed(data):
            if item.__class__ is bytes:  # a ping or pong, or all the rest: the library's
                protocol.receive_data(item)
                self._handle_events()
            elif protocol.state is State.OPEN:
                self._message(item[0] == TEXT, item[1])
            # else the library failed the connection (invalid UTF-8 just
            # now): it discards what follows, and so do we.
        if frames.passthrough:
            self.frames = None
        if protocol.state is not State.OPEN:
            self._flush()  # the close frame of a failure in _message

    def eof_received(self):
        if self.protocol is not None and self.accepted:
            self.protocol.receive_eof()
            self._handle_events()

    def connection_lost(self, exc):
        if self.accepted:
            logger.info("connection closed")
        self.server_state.connections.discard(self)
        self.closed = True
        self.deadline = 0.0
        if self.flow is not None:
            self.flow.connection_lost(exc)
        code, reason = self._close_code()
        if self.config.observer is not None:
            self.config.observer.websocket_closed(code)
        self._disconnected(code, reason)

    def pause_writing(self):
        self.flow.pause_writing()

    def resume_writing(self):
        self.flow.resume_writing()

    # -- frames -> ASGI events ---------------------------------------------
    def _handle_events(self):
        for frame in self.protocol.events_received():
            opcode = frame.opcode
            if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
                if frame.fin:
                    self._message(opcode is Opcode.TEXT, frame.data)
                else:
                    self.fragment_opcode = opcode
                    self.fragments = [frame.data]
            elif opcode is Opcode.CONT:
                self.fragments.append(frame.data)
                if frame.fin:
                    data = b"".join(self.fragments)
                    self.fragments = []
                    self._message(self.fragment_opcode is Opcode.TEXT, data)
            elif opcode is Opcode.PONG:
                self.awaiting_pong = False
                if self.ping_interval:
                    self.deadline = self.server_state.clock + self.ping_interval
            elif opcode is Opcode.CLOSE:
                self._disconnected(*self._close_code())
        if self.protocol.parser_exc is not None:  # the library failed the connection
            self._disconnected(*self._close_code())
        self._flush()

    def _close_code(self):
        """(code, reason) for websocket.disconnect: the peer's close, else the one we sent."""
        protocol = self.protocol
        if protocol is not None:
            close = protocol.close_rcvd or protocol.close_sent
            if close is not None:
                return int(close.code), close.reason
        return 1006, ""

    def _message(self, is_text, data):
        if is_text:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                self.protocol.fail(1007, "invalid UTF-8 in a text message")
                self._disconnected(1007, "")
                return
            message = {"type": "websocket.receive", "text": text}
        else:
            message = {"type": "websocket.receive", "bytes": bytes(data)}
        self._queue(message)
        if len(self.messages) >= self.max_queue and not self.read_paused:
            self.read_paused = True  # the app is behind: let TCP push back on the client
            self.transport.pause_reading()

    def _disconnected(self, code, reason):
        self.closed = True
        if self.disconnect_queued:
            return
        self.disconnect_queued = True
        self._queue({"type": "websocket.disconnect", "code": code, "reason": reason})

    def _queue(self, message):
        self.messages.append(message)
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _flush(self):
        """Write what the library has for the peer; b"" from it means: close."""
        for data in self.protocol.data_to_send():
            if data:
                self.transport.write(data)
            else:
                self._close_transport()
                break

    def _close_transport(self):
        """End TCP without losing our close frame.

        Closing a socket that still has unread bytes makes the kernel send
        a RST, and a RST can overtake the close frame in the peer's stack.
        So when the peer may still be sending (it has not closed yet), shut
        only our side and read until it closes, bounded by CLOSE_TIMEOUT.
        """
        transport = self.transport
        if transport.is_closing() or self.half_closed:
            return
        peer_done = self.protocol is not None and self.protocol.close_rcvd is not None
        if peer_done or not transport.can_write_eof():
            transport.close()
            return
        self.half_closed = True
        transport.write_eof()
        if self.read_paused:
            self.read_paused = False
            transport.resume_reading()
        self.deadline = self.server_state.clock + CLOSE_TIMEOUT

    # -- the ASGI app --------------------------------------------------------
    async def run_asgi(self):
        try:
            result = await self.app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            logger.debug("WebSocket client disconnected.")
        except BaseException as exc:  # noqa: B902 - never let the app take the server down
            logger.error("Exception in ASGI application\n", exc_info=exc)
            if not self.handshake_complete:
                self._send_http_error(500)
            elif self.accepted:
                self._close(1011, "")
            if not isinstance(exc, Exception):
                raise
        else:
            if result is not None:
                logger.error("ASGI callable should return None, but returned '%s'.", result)
            if not self.handshake_complete:
                logger.error("ASGI callable returned without sending handshake.")
                self._send_http_error(500)
            elif self.http_response is not None and not self.http_response.complete:
                logger.error("ASGI callable returned without completing response.")
                self.transport.close()
            elif self.accepted and not self.close_sent:
                self._close(1000, "")
        finally:
            self.server_state.tasks.discard(self.task)

    async def receive(self):
        while not self.messages:
            waiter = self.waiter = self.loop.create_future()
            await waiter
        message = self.messages.popleft()
        if (self.read_paused and self.accepted and len(self.messages) < self.max_queue // 2
                and not self.transport.is_closing()):
            self.read_paused = False
            self.transport.resume_reading()
        return message

    async def send(self, message):
        message_type = message["type"]
        if not self.handshake_complete:
            # uvicorn's handshake log lines, on its error logger.
            if message_type == "websocket.accept":
                logger.info('%s - "WebSocket %s" [accepted]', *self._log_fields())
                self._accept(message)
                if self.accepted:
                    logger.info("connection open")
            elif message_type == "websocket.close":
                logger.info('%s - "WebSocket %s" 403', *self._log_fields())
                self._send_http_error(403)
                logger.info("connection rejected (403 Forbidden)")
            elif message_type == "websocket.http.response.start":
                logger.info('%s - "WebSocket %s" %s', *self._log_fields(), message.get("status"))
                self._start_http_response(message)
            else:
                raise RuntimeError(f"Expected ASGI message 'websocket.accept', 'websocket.close' or "
                                   f"'websocket.http.response.start', but got '{message_type}'.")
            return
        if self.http_response is not None:
            if message_type != "websocket.http.response.body":
                raise RuntimeError(f"Expected ASGI message 'websocket.http.response.body', but got '{message_type}'.")
            self._http_response_body(message)
            return
        if self.closed or self.close_sent:
            raise ClientDisconnected("The WebSocket is closed.")
        if message_type == "websocket.send":
            data = message.get("bytes")
            if data is not None:
                opcode = BINARY
            else:
                text = message.get("text")
                if text is None:
                    raise RuntimeError("websocket.send needs 'bytes' or 'text'.")
                opcode = TEXT
                data = text.encode("utf-8")
            if self.encode_frame is not None and self.protocol.state is State.OPEN:
                self.transport.write(self.encode_frame(opcode, data))
            else:
                if opcode == BINARY:
                    self.protocol.send_binary(data)
                else:
                    self.protocol.send_text(data)
                self._flush()
            if self.flow.write_paused:
                await self.flow.drain()
        elif message_type == "websocket.close":
            self._close(message.get("code", 1000), message.get("reason") or "")
        else:
            raise RuntimeError(f"Unexpected ASGI message '{message_type}' after the WebSocket handshake.")

    def _accept(self, message):
        self.subprotocol = message.get("subprotocol")
        if self.stream is not None:
            self._accept_on_stream(message)
        else:
            response = self.protocol.accept(self.request)
            # The default headers every response gets (server, --header), then the app's.
            for line in (self.config.server_line + self.config.encoded_headers).split(b"\r\n"):
                if line:
                    name, _, value = line.decode("latin-1").partition(": ")
                    response.headers[name] = value
            for name, value in message.get("headers") or ():
                response.headers[name.decode("latin-1")] = value.decode("latin-1")
            self.protocol.send_response(response)
            self.handshake_complete = True
            self.accepted = self.protocol.state is State.OPEN
            self._flush()
        if self.accepted and not self.protocol.extensions:
            hot_paths = self.config.hot_paths
            self.frames = hot_paths.FrameReader(self.config.ws_max_size)
            self.encode_frame = hot_paths.encode_frame
        if self.ping_interval:
            self.deadline = self.server_state.clock + self.ping_interval
        early = self.early_data
        if early:
            self.early_data = []
            self.early_size = 0
            self.data_received(b"".join(early))
        if self.read_paused and len(self.messages) < self.max_queue and not self.transport.is_closing():
            self.read_paused = False  # paused for the early data, which the app may now have
            self.transport.resume_reading()

    def _accept_on_stream(self, message):
        """RFC 8441's accept: 200 on the stream (the server's headers added there),
        with the subprotocol and the extensions agreed."""
        headers = []
        if self.subprotocol:
            headers.append((b"sec-websocket-protocol", self.subprotocol.encode("latin-1")))
        extensions_header, self.protocol.extensions = self.protocol.process_extensions(self.request)
        if extensions_header:
            headers.append((b"sec-websocket-extensions", extensions_header.encode("latin-1")))
        headers.extend(message.get("headers") or ())
        self.stream.respond(200, headers, b"", True)
        self.handshake_complete = True
        self.accepted = not self.stream.is_closing()

    def _close(self, code, reason):
        if self.close_sent or self.transport.is_closing():
            return
        if self.protocol.state is not State.OPEN:
            # The library closed already (it failed the connection after a
            # protocol violation, or answered the peer's close).
            self.close_sent = True
            return
        self.close_sent = True
        self.protocol.send_close(code, reason)
        self._flush()

    # -- answers over plain HTTP (rejection, errors, denial responses) -----
    def _send_http_error(self, status):
        self.handshake_complete = True
        self.closed = True
        if self.stream is not None:
            self.stream.respond(status, [(b"content-type", b"text/plain; charset=utf-8")])
            return
        encoder = self._encoder()
        self.transport.write(encoder.encode_head(status, [(b"content-type", b"text/plain; charset=utf-8")],
                                                 b"", False, self.config.encoded_headers,
                                                 self.server_state.date_line, self.config.server_line))
        self.transport.close()

    def _start_http_response(self, message):
        self.handshake_complete = True
        self.closed = True
        self.http_response = self.stream or self._encoder()
        self.http_start = (message["status"], message.get("headers", ()))

    def _http_response_body(self, message):
        body = message.get("body", b"")
        more_body = message.get("more_body", False)
        start = self.http_start
        if self.stream is not None:  # HEADERS, then DATA
            self.http_start = None
            if start is not None:
                self.stream.respond(start[0], start[1], body, more_body)
            else:
                self.stream.respond_body(body, more_body)
            return
        if start is not None:
            self.http_start = None
            data = self.http_response.encode_head(start[0], start[1], body, more_body,
                                                  self.config.encoded_headers,
                                                  self.server_state.date_line, self.config.server_line)
        else:
            data = self.http_response.encode_body(body, more_body)
        self.transport.write(data)
        if self.http_response.complete:
            self.transport.close()

    def _write_http_response(self, response):
        lines = [b"HTTP/1.1 %d %s\r\n" % (response.status_code, response.reason_phrase.encode())]
        for name, value in response.headers.raw_items():
            lines.append(f"{name}: {value}\r\n".encode("latin-1"))
        if "Content-Length" not in response.headers:
            lines.append(b"content-length: %d\r\n" % len(response.body))
        if "Connection" not in response.headers:
            lines.append(b"connection: close\r\n")
        lines.append(b"\r\n")
        lines.append(response.body)
        self.transport.write(b"".join(lines))
        self.transport.close()

    def _log_fields(self):
        """(client, path?query) for the handshake's log line, as uvicorn formats them."""
        scope = self.scope
        client = scope.get("client")
        path = scope["raw_path"].decode("latin-1") if scope.get("raw_path") else scope["path"]
        if scope["query_string"]:
            path += "?" + scope["query_string"].decode("latin-1")
        return ("%s:%d" % tuple(client) if client else ""), path.replace('"', "%22")

    def _encoder(self):
        return self.config.hot_paths.ResponseEncoder(False, True, False)

    # -- timers and shutdown ----------------------------------------------
    def on_deadline(self):
        """Server tick: time to ping, or the peer did not answer the last ping."""
        self.deadline = 0.0
        if self.half_closed:  # the peer never closed its side
            self.transport.close()
            return
        if self.closed or not self.accepted or self.transport.is_closing():
            return
        if self.awaiting_pong:
            logger.info("WebSocket peer %s did not answer a ping in time: closing.", self.scope["client"])
            self.protocol.fail(1011, "keepalive ping timeout")
            self._flush()
            self.transport.close()
            return
        self.awaiting_pong = True
        self.protocol.send_ping(b"")
        self._flush()
        self.deadline = self.server_state.clock + (self.ping_timeout or self.ping_interval)

    def shutdown(self):
        """Server shutdown: close 1012 (service restart); the app gets its disconnect."""
        if self.accepted and not self.close_sent and not self.transport.is_closing():
            self._close(1012, "")
            self._disconnected(1012, "")
        elif not self.handshake_complete:
            self._send_http_error(503)


class BufferedWebSocketProtocol(SharedReadBuffer, WebSocketProtocol):
    """WebSocketProtocol for asyncio's own event loop: see asyncio_loop.py."""
