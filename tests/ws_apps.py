"""WebSocket ASGI apps the tests serve, and pytest-free raw-socket helpers.

`app` routes on the path (below root_path) to one behaviour each; an
"http" scope (for example an upgrade request under --ws none) gets a
plain HTTP answer.  Apps that need to tell the test what they saw write
it to the file named by the `marker` query parameter.
"""
import asyncio
import json
import os
import socket
import struct
import time
from urllib.parse import parse_qs

from .apps import scope_as_json


# -- the apps ---------------------------------------------------------------
async def lifespan(scope, receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            scope["state"]["started_by"] = "lifespan"
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        return await lifespan(scope, receive, send)
    path = scope["path"]
    root_path = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        path = path[len(root_path):]
    query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
    if scope["type"] == "http":
        return await plain_http(scope, receive, send, path)
    route = ROUTES.get(path)
    if route is None:
        await send({"type": "websocket.close"})
        return
    await route(scope, receive, send, query)


def record(query, data):
    marker = query.get("marker")
    if marker:
        with open(marker + ".tmp", "w") as file:
            json.dump(data, file)
        os.replace(marker + ".tmp", marker)


async def plain_http(scope, receive, send, path):
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    answer = json.dumps({"branch": "http", "path": path,
                         "upgrade": dict(scope["headers"]).get(b"upgrade", b"").decode()}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": answer})


async def echo_loop(receive, send):
    """Echo every message; return the websocket.disconnect message."""
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return message
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


async def echo(scope, receive, send, query):
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    await echo_loop(receive, send)


async def scope_report(scope, receive, send, query):
    await receive()
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": scope_as_json(scope).decode()})
    await echo_loop(receive, send)


async def subprotocol(scope, receive, send, query):
    await receive()
    chosen = query.get("choose") or (scope["subprotocols"][0] if scope["subprotocols"] else None)
    await send({"type": "websocket.accept", "subprotocol": chosen,
                "headers": [(b"x-extra", b"extra-value"), (b"set-cookie", b"session=abc")]})
    await echo_loop(receive, send)


async def reject(scope, receive, send, query):
    await receive()
    await send({"type": "websocket.close"})


async def deny(scope, receive, send, query):
    await receive()
    await send({"type": "websocket.http.response.start", "status": 401,
                "headers": [(b"content-type", b"text/plain"), (b"www-authenticate", b"Bearer")]})
    await send({"type": "websocket.http.response.body", "body": b"denied: ", "more_body": True})
    await send({"type": "websocket.http.response.body", "body": b"no token"})


async def crash(scope, receive, send, query):
    await receive()
    await send({"type": "websocket.accept"})
    raise RuntimeError("boom after accept")


async def close_4000(scope, receive, send, query):
    await receive()
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": 4000, "reason": "server bye"})
    message = await receive()
    record(query, message)


async def recorder(scope, receive, send, query):
    """Records every message it receives, the disconnect last."""
    received = [await receive()]
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        received.append(message)
        if message["type"] == "websocket.disconnect":
            break
        if message.get("text") == "ping-app":
            await send({"type": "websocket.send", "text": "pong-app"})
    record(query, {"received": [{k: (v.decode("latin-1") if isinstance(v, bytes) else v)
                                 for k, v in m.items()} for m in received]})


async def send_after_close(scope, receive, send, query):
    """Sends after the connection closed: send() must raise an OSError subclass."""
    await receive()
    await send({"type": "websocket.accept"})
    if query.get("who") == "app":
        await send({"type": "websocket.close", "code": 1000})
    else:
        while (await receive())["type"] != "websocket.disconnect":
            pass
    try:
        await send({"type": "websocket.send", "text": "too late"})
        outcome = {"raised": None, "oserror": False}
    except Exception as exc:  # noqa: BLE001 - what was raised is the point
        outcome = {"raised": type(exc).__name__, "oserror": isinstance(exc, OSError)}
    record(query, outcome)


async def slow_consumer(scope, receive, send, query):
    """Sleeps before each receive; checks binary messages arrive in order, complete."""
    delay = float(query.get("s", "0.005"))
    await receive()
    await send({"type": "websocket.accept"})
    count = total = 0
    in_order = True
    while True:
        await asyncio.sleep(delay)
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") == "done":
            await send({"type": "websocket.send",
                        "text": json.dumps({"count": count, "total": total, "in_order": in_order})})
            continue
        data = message["bytes"]
        (sequence,) = struct.unpack("!I", data[:4])
        in_order = in_order and sequence == count
        count += 1
        total += len(data)


async def wait_forever(scope, receive, send, query):
    """Accepts, then waits for the disconnect and records it (shutdown test)."""
    await receive()
    await send({"type": "websocket.accept"})
    message = await echo_loop(receive, send)
    record(query, message)


ROUTES = {
    "/echo": echo,
    "/scope": scope_report,
    "/subprotocol": subprotocol,
    "/reject": reject,
    "/deny": deny,
    "/crash": crash,
    "/close-4000": close_4000,
    "/record": recorder,
    "/send-after-close": send_after_close,
    "/slow": slow_consumer,
    "/wait": wait_forever,
}


# -- helpers for the tests (no pytest here) -----------------------------------
def wait_for_json(path, timeout=5):
    """The JSON an app recorded to `path`, waiting for it to appear."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path) as file:
                return json.load(file)
        time.sleep(0.02)
    raise AssertionError(f"the app recorded nothing to {path} within {timeout}s")


KEY = b"dGhlIHNhbXBsZSBub25jZQ=="


def handshake_request(path=b"/echo", key=KEY, version=b"13", extra=b""):
    lines = [b"GET " + path + b" HTTP/1.1", b"Host: test", b"Upgrade: websocket",
             b"Connection: Upgrade"]
    if key is not None:
        lines.append(b"Sec-WebSocket-Key: " + key)
    if version is not None:
        lines.append(b"Sec-WebSocket-Version: " + version)
    return b"\r\n".join(lines) + b"\r\n" + extra + b"\r\n"


def read_head(sock, buffer=b""):
    """(status, {lower-cased name: value}, head, rest) of one response head."""
    while b"\r\n\r\n" not in buffer:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError(f"closed before a full head: {buffer!r}")
        buffer += data
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, head, rest


def encode_frame(opcode, payload=b"", fin=True, mask=True, rsv=0):
    """One WebSocket frame as a client would send it (masked unless told)."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    mask_bit = 0x80 if mask else 0
    length = len(payload)
    if length < 126:
        header = bytes([first, mask_bit | length])
    elif length < 65536:
        header = bytes([first, mask_bit | 126]) + struct.pack("!H", length)
    else:
        header = bytes([first, mask_bit | 127]) + struct.pack("!Q", length)
    if mask:
        key = os.urandom(4)
        header += key
        payload = bytes(byte ^ key[index % 4] for index, byte in enumerate(payload))
    return header + payload


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


class RawWebSocket:
    """A hand-rolled client: handshake, then frames byte for byte."""

    def __init__(self, host, port, path=b"/echo", timeout=5):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(handshake_request(path))
        self.status, self.headers, _, self.buffer = read_head(self.sock)

    def send(self, data):
        self.sock.sendall(data)

    def send_frame(self, opcode, payload=b"", **kwargs):
        self.sock.sendall(encode_frame(opcode, payload, **kwargs))

    def _fill(self, size):
        while len(self.buffer) < size:
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                return False
            self.buffer += data
        return True

    def read_frame(self):
        """(fin, opcode, payload) of the server's next frame, or None at EOF."""
        if not self._fill(2):
            return None
        first, second = self.buffer[0], self.buffer[1]
        assert not second & 0x80, "the server masked a frame"
        length = second & 0x7F
        offset = 2
        if length == 126:
            if not self._fill(4):
                return None
            (length,) = struct.unpack("!H", self.buffer[2:4])
            offset = 4
        elif length == 127:
            if not self._fill(10):
                return None
            (length,) = struct.unpack("!Q", self.buffer[2:10])
            offset = 10
        if not self._fill(offset + length):
            return None
        payload = self.buffer[offset:offset + length]
        self.buffer = self.buffer[offset + length:]
        return bool(first & 0x80), first & 0x0F, payload

    def read_until_close(self):
        """Frames up to and including the server's close frame (or EOF): (frames, close code)."""
        frames = []
        while True:
            frame = self.read_frame()
            if frame is None:
                return frames, None
            frames.append(frame)
            if frame[1] == 0x8:
                payload = frame[2]
                return frames, struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005

    def read_to_eof(self):
        """Frames until the server closes TCP."""
        frames = []
        while True:
            frame = self.read_frame()
            if frame is None:
                return frames
            frames.append(frame)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
