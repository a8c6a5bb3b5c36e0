"""The exceptions the twins share, so either one's can be caught by class.

HttpParseError: what both parser twins raise for bad request bytes.  It
carries the HTTP status to answer with, so the protocol never has to guess
which error a malformed request deserves, and the events the parser made
from the same feed() before the bad byte (earlier pipelined requests that
must still be answered, in order, before the error).
ClientDisconnected: what both cycle twins' send() raise once the client is
gone; the websocket protocol raises it too.
"""


class HttpParseError(Exception):
    """The request cannot be served: answer `status_code` and close."""

    events = ()  # set by RequestParser.feed(): what it parsed before the error

    def __init__(self, reason: str, status_code: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code


class ClientDisconnected(OSError):
    """Raised from send() once the client has gone (ASGI HTTP spec 2.4)."""
