"""The exceptions the twins share, so either one's can be caught by class.

HttpParseError: what both parser twins raise for bad request bytes.  It
carries the HTTP status to answer with, so the protocol never has to guess
which error a malformed request deserves.
ClientDisconnected: what both cycle twins' send() raise once the client is
gone; the websocket protocol raises it too.
"""


class HttpParseError(Exception):
    """The request cannot be served: answer `status_code` and close."""

    def __init__(self, reason: str, status_code: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code


class ClientDisconnected(OSError):
    """Raised from send() once the client has gone (ASGI HTTP spec 2.4)."""
