"""--limit-concurrency: answer 503 once too many connections or tasks are open.

Reads the live counts of the server it serves, so a keep-alive connection
gets served again as soon as the load drops.
"""
import logging

logger = logging.getLogger("fastasgi.error")

BODY = b"Service Unavailable"
HEADERS = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"19"),
           (b"connection", b"close")]


class ConcurrencyLimitMiddleware:
    def __init__(self, app, limit, server_state, observer=None):
        self.app = app
        self.limit = limit
        self.server_state = server_state
        self.observer = observer  # --metrics counts the 503s
        self.running = 0  # app calls in progress (a response sent but a background task running counts)

    def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return self.app(scope, receive, send)
        # The request's own connection is already counted: allow `limit` of them.
        if len(self.server_state.connections) > self.limit or self.running >= self.limit:
            logger.warning("Exceeded concurrency limit.")
            if self.observer is not None:
                self.observer.server_error(503)
            return self._unavailable(scope, send)
        return self._run(scope, receive, send)

    async def _run(self, scope, receive, send):
        self.running += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.running -= 1

    async def _unavailable(self, scope, send):
        # A websocket handshake is refused with an HTTP response (the denial extension).
        prefix = "websocket.http.response" if scope["type"] == "websocket" else "http.response"
        await send({"type": prefix + ".start", "status": 503, "headers": HEADERS})
        await send({"type": prefix + ".body", "body": BODY})
