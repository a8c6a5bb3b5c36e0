"""The exceptions the twins share, so either one's can be caught by class.

HttpParseError: what both parser twins raise for bad request bytes.  It
carries the HTTP status to answer with, so the protocol never has to guess
which error a malformed request deserves, and the events the parser made
from the same feed() before the bad byte (earlier pipelined requests that
must still be answered, in order, before the error).
ClientDisconnected: what both cycle twins' send() raise once the client is
gone; the websocket protocol raises it too.
ERROR_BODIES: the body of each error the server answers itself, on every
wire protocol.
"""

# The body of each error response the server makes itself (HTTP/1.1 and HTTP/2).
ERROR_BODIES = {
    400: b"Invalid HTTP request received.",
    408: b"Request Timeout",
    413: b"Request Entity Too Large",
    414: b"URI Too Long",
    431: b"Request Header Fields Too Large",
    500: b"Internal Server Error",
    501: b"Not Implemented",
    503: b"Service Unavailable",
    505: b"HTTP Version Not Supported",
}


class HttpParseError(Exception):
    """The request cannot be served: answer `status_code` and close."""

    events = ()  # set by RequestParser.feed(): what it parsed before the error

    def __init__(self, reason: str, status_code: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code


class ClientDisconnected(OSError):
    """Raised from send() once the client has gone (ASGI HTTP spec 2.4)."""
