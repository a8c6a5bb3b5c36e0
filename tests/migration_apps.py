"""Apps written as a uvicorn user writes them, for the migration tests.

Importing this module does what such an app's code does at import time:
it configures uvicorn's loggers in code (a health-check filter on
uvicorn.access, a handler on uvicorn.error) and logs through uvicorn.error.
"""
import asyncio
import logging
import os

# A health check that would flood the access log: dropped by a filter on uvicorn's logger.
logging.getLogger("uvicorn.access").addFilter(lambda record: "/health" not in record.getMessage())
# Server messages copied to a file by a handler set on uvicorn's error logger.
if os.environ.get("MIGRATION_ERROR_LOG"):
    _handler = logging.FileHandler(os.environ["MIGRATION_ERROR_LOG"])
    _handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logging.getLogger("uvicorn.error").addHandler(_handler)
app_logger = logging.getLogger("uvicorn.error")


class ClientDisconnect(Exception):
    """Starlette's: what its StreamingResponse raises when send() fails (ASGI spec 2.4)."""


async def _respond(send, body, status=200):
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _stream_until_gone(send):
    """Starlette's StreamingResponse under spec 2.4: an OSError from send()
    means the client left, and is re-raised as ClientDisconnect."""
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    try:
        while True:
            await send({"type": "http.response.body", "body": b"token ", "more_body": True})
            await asyncio.sleep(0.01)
    except OSError:
        raise ClientDisconnect()


async def app(scope, receive, send):
    """/stream (tokens until the client leaves), /stream-then-bug (an app bug
    once the client left), /log (the app logs through uvicorn.error),
    /loop (the running loop's class), anything else: ok."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    if scope["type"] == "websocket":
        await receive()
        if scope["path"] == "/ws-refused":
            await send({"type": "websocket.close"})
            return
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "hello"})
        await receive()
        return
    path = scope["path"]
    if path == "/stream":
        await _stream_until_gone(send)
    elif path == "/stream-then-bug":
        try:
            await _stream_until_gone(send)
        except ClientDisconnect:
            # A real bug in the app's cleanup, not caused by the disconnect itself.
            raise KeyError("cleanup-bug")
    elif path == "/log":
        app_logger.info("app message through uvicorn.error")
        await _respond(send, b"logged")
    elif path == "/loop":
        await _respond(send, type(asyncio.get_running_loop()).__name__.encode())
    else:
        await _respond(send, b"ok")


class CustomLoop(asyncio.SelectorEventLoop):
    """The loop a --loop import string's factory makes."""


def custom_loop_factory():
    return CustomLoop()


class FixedAnswerProtocol(asyncio.Protocol):
    """An --http import string's protocol class, called as uvicorn calls its own."""

    def __init__(self, config, server_state, app_state, _loop=None):
        self.config = config
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        if b"\r\n\r\n" in data:
            body = b"from a custom protocol"
            self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s"
                                 % (len(body), body))
            self.transport.close()
