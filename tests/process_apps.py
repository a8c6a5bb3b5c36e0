"""Apps for the process-management and CLI-parity tests (workers, TLS, WSGI...)."""
import contextvars
import json
import os
import time

REQUEST_VAR = contextvars.ContextVar("request_var", default="unset")


def scope_json(scope):
    visible = {key: value for key, value in scope.items() if key not in ("headers", "state")}
    visible["headers"] = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope.get("headers", ())]
    return json.dumps(visible, default=lambda v: v.decode("latin-1") if isinstance(v, bytes) else repr(v)).encode()


async def _respond(send, body, status=200):
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def app(scope, receive, send):
    """/pid, /scope, /sleep?s=, /block?s= (blocks the event loop), /exit (the worker dies)."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                REQUEST_VAR.set("set-in-lifespan")
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": json.dumps({"scheme": scope["scheme"],
                                                                   "client": scope["client"],
                                                                   "tls": "tls" in scope["extensions"]})})
        await send({"type": "websocket.close"})
        return
    path = scope["path"]
    query = scope["query_string"].decode()
    if path == "/pid":
        await _respond(send, str(os.getpid()).encode())
    elif path == "/scope":
        await _respond(send, scope_json(scope))
    elif path == "/sleep":
        import asyncio

        await asyncio.sleep(float(query.partition("=")[2] or 1))
        await _respond(send, b"slept " + str(os.getpid()).encode())
    elif path == "/block":
        time.sleep(float(query.partition("=")[2] or 30))
        await _respond(send, str(os.getpid()).encode())
    elif path == "/exit":
        os._exit(17)
    elif path == "/contextvar":
        await _respond(send, REQUEST_VAR.get().encode())
    elif path == "/env":
        await _respond(send, os.environ.get(query, "").encode())
    else:
        await _respond(send, b"ok")


def create_app():
    """For --factory."""
    return app


class ASGI2App:
    """The double-callable ASGI 2 interface."""

    def __init__(self, scope):
        self.scope = scope

    async def __call__(self, receive, send):
        if self.scope["type"] == "http":
            await _respond(send, b"asgi2 " + self.scope["path"].encode())


def wsgi_app(environ, start_response):
    """/echo streams wsgi.input back; /environ shows the environ; /lines reads by line."""
    path = environ["PATH_INFO"]
    if path == "/echo":
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    if path == "/count":
        # Reads in small pieces: the body is streamed, never needed whole.
        total, chunks = 0, 0
        stream = environ["wsgi.input"]
        while True:
            data = stream.read(65536)
            if not data:
                break
            total += len(data)
            chunks += 1
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"{total} bytes".encode()]
    if path == "/first":
        # Answers from the first bytes, before the client has sent the rest.
        data = environ["wsgi.input"].read(5)
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5"),
                                  ("Connection", "close")])
        return [data]
    if path == "/lines":
        lines = list(environ["wsgi.input"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [json.dumps([line.decode() for line in lines]).encode()]
    if path == "/environ":
        visible = {k: v for k, v in environ.items() if isinstance(v, (str, bool, tuple))}
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(visible).encode()]
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (f"part {i}\n".encode() for i in range(5))
    if path == "/write":
        write = start_response("201 Created", [("Content-Type", "text/plain")])
        write(b"written ")
        return [b"and returned"]
    if path == "/raise":
        raise RuntimeError("WSGI app failed")
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]
