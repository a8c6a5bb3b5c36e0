"""--interface wsgi: run a WSGI (PEP 3333) app in a thread pool.

The request body is streamed: `wsgi.input` pulls chunks from the ASGI
receive() on demand, so a large upload is never buffered whole and an app
that reads slowly slows the client down.  The response goes out chunk by
chunk through send(), which waits while the client's socket is full.
"""
import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor

DEFAULT_THREADS = 10


class ClientDisconnected(OSError):
    """The client went away while the WSGI app was reading the body."""


class WSGIMiddleware:
    def __init__(self, app, workers=DEFAULT_THREADS):
        self.app = app
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fastasgi-wsgi")

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise RuntimeError(f"A WSGI app cannot serve a {scope['type']!r} connection.")
        loop = asyncio.get_running_loop()
        exchange = WSGIExchange(self.app, scope, receive, send, loop)
        await loop.run_in_executor(self.executor, exchange.run)

    async def _lifespan(self, receive, send):
        """WSGI has no lifespan: acknowledge it, and stop the threads at shutdown."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.executor.shutdown(wait=False)
                await send({"type": "lifespan.shutdown.complete"})
                return


class WSGIInput:
    """`wsgi.input`: a read-only file over the request body, filled on demand."""

    def __init__(self, exchange):
        self.exchange = exchange
        self.buffer = bytearray()
        self.more_body = True

    def _fill(self):
        """Block this (worker) thread until the next body chunk arrives."""
        message = self.exchange.call(self.exchange.receive())
        if message["type"] == "http.disconnect":
            self.more_body = False
            raise ClientDisconnected("The client disconnected while sending the request body.")
        self.buffer += message.get("body", b"")
        self.more_body = message.get("more_body", False)

    def read(self, size=-1):
        if size is None or size < 0:
            while self.more_body:
                self._fill()
            size = len(self.buffer)
        else:
            while len(self.buffer) < size and self.more_body:
                self._fill()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def readline(self, size=-1):
        limit = size if size is not None and size >= 0 else None
        while b"\n" not in self.buffer and self.more_body and (limit is None or len(self.buffer) < limit):
            self._fill()
        end = self.buffer.find(b"\n") + 1 or len(self.buffer)
        if limit is not None:
            end = min(end, limit)
        data = bytes(self.buffer[:end])
        del self.buffer[:end]
        return data

    def readlines(self, hint=-1):
        lines, total = [], 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self):
        while True:
            line = self.readline()
            if not line:
                return
            yield line


class WSGIExchange:
    """One request: runs in a worker thread, talks to the event loop."""

    def __init__(self, app, scope, receive, send, loop):
        self.app = app
        self.scope = scope
        self.receive = receive
        self.send = send
        self.loop = loop
        self.status = None
        self.headers = None
        self.head_sent = False

    def call(self, coroutine):
        """Run a coroutine on the event loop and wait for its result here."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def start_response(self, status, response_headers, exc_info=None):
        if exc_info is not None:
            try:
                if self.head_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # no reference cycle through the traceback
        elif self.status is not None:
            raise RuntimeError("start_response() called twice without exc_info.")
        self.status = int(status.split(" ", 1)[0])
        self.headers = [
            (name.strip().lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in response_headers
        ]
        return self.write

    def write(self, data):
        """The legacy write() callable, and each chunk of the response iterable."""
        if self.status is None:
            raise RuntimeError("The WSGI app wrote a body before calling start_response().")
        if not self.head_sent:
            self.head_sent = True
            self.call(self.send({"type": "http.response.start", "status": self.status,
                                 "headers": self.headers}))
        if data:
            self.call(self.send({"type": "http.response.body", "body": bytes(data), "more_body": True}))

    def run(self):
        result = self.app(self.environ(), self.start_response)
        try:
            for chunk in result:
                if chunk:
                    self.write(chunk)
            if self.status is None:
                raise RuntimeError("The WSGI app returned without calling start_response().")
            if not self.head_sent:
                self.write(b"")
            self.call(self.send({"type": "http.response.body", "body": b"", "more_body": False}))
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()

    def environ(self):
        scope = self.scope
        # PEP 3333: strings are "bytes in latin-1 clothing".
        script_name = scope.get("root_path", "").encode("utf-8").decode("latin-1")
        path_info = scope["path"].encode("utf-8").decode("latin-1")
        if script_name and path_info.startswith(script_name):
            path_info = path_info[len(script_name):]
        server = scope.get("server") or ("localhost", 80)
        environ = {
            "REQUEST_METHOD": scope["method"],
            "SCRIPT_NAME": script_name,
            "PATH_INFO": path_info,
            "QUERY_STRING": scope["query_string"].decode("latin-1"),
            "SERVER_NAME": str(server[0]),
            "SERVER_PORT": str(server[1]),
            "SERVER_PROTOCOL": f"HTTP/{scope['http_version']}",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": scope.get("scheme", "http"),
            "wsgi.input": WSGIInput(self),
            "wsgi.input_terminated": True,  # read() ends at the end of the body
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        client = scope.get("client")
        if client is not None:
            environ["REMOTE_ADDR"] = client[0]
            environ["REMOTE_PORT"] = str(client[1])
        for name, value in scope["headers"]:
            name = name.decode("latin-1")
            if name == "content-type":
                key = "CONTENT_TYPE"
            elif name == "content-length":
                key = "CONTENT_LENGTH"
            else:
                key = "HTTP_" + name.upper().replace("-", "_")
            value = value.decode("latin-1")
            if key in environ:
                value = environ[key] + "," + value
            environ[key] = value
        return environ
