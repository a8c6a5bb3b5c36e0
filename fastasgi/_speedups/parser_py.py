"""Request parsing, pure-Python twin of parser_c.pyx: glue over h11.

`RequestParser.feed(data)` takes bytes off the wire and returns a list of
events, in order:

- a `RequestHead` when a request head is complete,
- `bytes`, a chunk of that request's body,
- `None`, the end of that request (its body is complete).

Bad bytes raise `HttpParseError` carrying the status to answer with.
After a head whose Upgrade token is `upgrade_token` the parser stops and
leaves every byte after that request in `trailing` for the new protocol.

h11 is more lenient than llhttp in a few places, so the head is checked
here first against the strict RFC 9112 grammar; both twins then apply the
same policy (`check_request_headers`) and give the same events.
"""
import re
from urllib.parse import unquote

import h11

from .errors import HttpParseError
from .headers_py import check_request_headers

DEFAULT_MAX_HEAD_SIZE = 64 * 1024

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
# Strict head grammar: CRLF line ends only, no obs-fold, no whitespace
# before the colon, no control characters in values.
_HEAD = re.compile(
    rb"(" + _TOKEN + rb") ([\x21-\x7e]+) HTTP/([0-9])\.([0-9])\r\n"
    rb"(?:" + _TOKEN + rb":[\t\x20-\x7e\x80-\xff]*\r\n)*\r\n"
)
_LEADING_EMPTY_LINES = re.compile(rb"(?:\r\n)+")
# A LF without its CR: llhttp (the compiled twin) rejects it at once, so an
# incomplete head holding one is rejected here too instead of waiting.
_BARE_LF = re.compile(rb"(?<!\r)\n")
# The request methods llhttp knows (CONNECT is refused below, PRI is the
# HTTP/2 preface): any other token is a 400 on both twins.
_METHODS = frozenset(
    b"DELETE GET HEAD POST PUT CONNECT OPTIONS TRACE COPY LOCK MKCOL MOVE PROPFIND "
    b"PROPPATCH SEARCH UNLOCK BIND REBIND UNBIND ACL REPORT MKACTIVITY CHECKOUT MERGE "
    b"M-SEARCH NOTIFY SUBSCRIBE UNSUBSCRIBE PATCH PURGE MKCALENDAR LINK UNLINK SOURCE "
    b"QUERY".split()
)


class RequestHead:
    """One parsed request head: what the ASGI scope is built from."""

    __slots__ = ("method", "path", "raw_path", "query_string", "headers", "http_version",
                 "keep_alive", "expect_continue", "upgrade")

    def __init__(self, method, path, raw_path, query_string, headers, http_version,
                 keep_alive, expect_continue, upgrade):
        self.method = method
        self.path = path
        self.raw_path = raw_path
        self.query_string = query_string
        self.headers = headers
        self.http_version = http_version
        self.keep_alive = keep_alive
        self.expect_continue = expect_continue
        self.upgrade = upgrade

    def __repr__(self):
        return f"RequestHead({self.method} {self.raw_path!r} HTTP/{self.http_version})"


def split_target(target):
    """Request target -> (path, raw_path, query_string), RFC 9112 section 3.2."""
    if target[:1] != b"/":
        if target == b"*":
            return "*", b"*", b""
        scheme_end = target.find(b"://")
        if scheme_end <= 0:
            raise HttpParseError("Invalid request target")
        # absolute-form: the path starts after the authority
        slash = target.find(b"/", scheme_end + 3)
        query = target.find(b"?", scheme_end + 3)
        if slash < 0 or (0 <= query < slash):
            target = b"/" + (target[query:] if query >= 0 else b"")
        else:
            target = target[slash:]
    query = target.find(b"?")
    if query >= 0:
        raw_path = target[:query]
        query_string = target[query + 1:]
    else:
        raw_path = target
        query_string = b""
    fragment = raw_path.find(b"#")
    if fragment >= 0:
        raw_path = raw_path[:fragment]
    if b"%" in raw_path:
        path = unquote(raw_path.decode("ascii"))
    else:
        path = raw_path.decode("ascii")
    return path, raw_path, query_string


class RequestParser:
    __slots__ = ("max_head_size", "upgrade_token", "trailing", "_buffer", "_body")

    def __init__(self, max_head_size=DEFAULT_MAX_HEAD_SIZE, upgrade_token=None):
        self.max_head_size = max_head_size
        self.upgrade_token = upgrade_token
        self.trailing = None  # bytes after an upgrade request, for the next protocol
        self._buffer = bytearray()
        self._body = None  # the h11 connection framing the current body

    def feed(self, data):
        events = []
        if self.trailing is not None:
            self.trailing += data
            return events
        buffer = self._buffer
        buffer += data
        while buffer:
            if self._body is None:
                head = self._take_head(buffer)
                if head is None:
                    break
                events.append(head)
                if head.upgrade is not None and head.upgrade == self.upgrade_token:
                    # The rest of the stream belongs to the upgraded protocol.
                    events.append(None)
                    self.trailing = bytes(buffer)
                    buffer.clear()
                    return events
            if not self._read_body(buffer, events):
                break
        return events

    def _take_head(self, buffer):
        if buffer[:2] == b"\r\n":  # RFC 9112 2.2: ignore empty lines before a request
            del buffer[:_LEADING_EMPTY_LINES.match(buffer).end()]
            if not buffer:
                return None
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > self.max_head_size:
                raise HttpParseError("Request head too large", 431)
            if _BARE_LF.search(buffer) is not None:
                raise HttpParseError("Invalid line ending in request head")
            return None
        end += 4
        if end > self.max_head_size:
            raise HttpParseError("Request head too large", 431)
        head = bytes(buffer[:end])
        match = _HEAD.fullmatch(head)
        if match is None:
            raise HttpParseError(_describe_bad_head(head))
        method = match.group(1)
        if method not in _METHODS:
            raise HttpParseError("Invalid method")
        major, minor = match.group(3), match.group(4)
        if major != b"1" or minor not in (b"0", b"1"):
            if major == b"0" and minor == b"9":
                raise HttpParseError("Invalid HTTP version")  # not an HTTP/1 request line
            raise HttpParseError("Unsupported HTTP version", 505)
        if method == b"CONNECT":
            raise HttpParseError("CONNECT is not supported")
        # The policy sees the header lines as sent: h11 merges repeated
        # Content-Length fields ("3, 3" and duplicates), which must be 400s.
        headers = []
        for line in head.split(b"\r\n")[1:-2]:
            name, _, value = line.partition(b":")
            headers.append((name.lower(), value.strip(b" \t")))
        http11 = minor == b"1"
        keep_alive, expect_continue, upgrade = check_request_headers(headers, http11)
        path, raw_path, query_string = split_target(match.group(2))
        body = h11.Connection(h11.SERVER, max_incomplete_event_size=self.max_head_size + 1)
        body.receive_data(head)
        try:
            body.next_event()
        except h11.RemoteProtocolError as exc:
            raise HttpParseError(str(exc)) from None
        del buffer[:end]
        self._body = body
        return RequestHead(method.decode("ascii"), path, raw_path, query_string, headers,
                           "1.1" if http11 else "1.0", keep_alive, expect_continue, upgrade)

    def _read_body(self, buffer, events):
        """Move body bytes from the buffer through h11; True once the request ended."""
        body = self._body
        if buffer:
            body.receive_data(bytes(buffer))
            buffer.clear()
        try:
            while True:
                event = body.next_event()
                event_type = type(event)
                if event_type is h11.Data:
                    events.append(bytes(event.data))
                elif event_type is h11.EndOfMessage:
                    events.append(None)
                    self._body = None
                    buffer += body.trailing_data[0]
                    return True
                else:  # NEED_DATA
                    return False
        except h11.RemoteProtocolError as exc:
            raise HttpParseError(str(exc)) from None


def _describe_bad_head(head):
    """Name the first line that broke the grammar, for the error log."""
    lines = head.split(b"\r\n")
    if re.fullmatch(_TOKEN + rb" [\x21-\x7e]+ HTTP/[0-9]\.[0-9]", lines[0]) is None:
        return "Invalid request line"
    for line in lines[1:-2]:
        if re.fullmatch(_TOKEN + rb":[\t\x20-\x7e\x80-\xff]*", line) is None:
            return "Invalid header line"
    return "Invalid request head"
