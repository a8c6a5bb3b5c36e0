"""Request parsing, pure-Python twin of parser_c.pyx: glue over h11.

`RequestParser.feed(data)` takes bytes off the wire and returns a list of
events, in order:

- a `RequestHead` when a request head is complete,
- `bytes`, a chunk of that request's body,
- `None`, the end of that request (its body is complete).

Bad bytes raise `HttpParseError` carrying the status to answer with.
After a head whose Upgrade token is `upgrade_token` the parser stops and
leaves every byte after that request in `trailing` for the new protocol.

headscan.HeadScanner finds where each head ends and checks its limits.
h11 is more lenient than llhttp in a few places, so the head is then
checked here against the strict RFC 9112 grammar (grammar.check_head) and
a chunked body's framing followed by chunks.ChunkFraming, as the compiled
parser does with the same modules; both then apply the same policy
(`check_request_headers`) and give the same events.
"""
import h11

from .chunks import ChunkFraming
from .errors import HttpParseError
from .grammar import check_head
from .headscan import HeadScanner
from .headers import check_request_headers
from .request import RequestHead, absolute_form_host, replace_host, split_target

class RequestParser:
    __slots__ = ("limits", "max_body_size", "bytes_received", "upgrade_token", "trailing", "_buffer", "_body",
                 "_body_size", "_chunks", "_length", "_scanner", "_scanned")

    def __init__(self, limits, upgrade_token=None):
        self.limits = limits  # a RequestLimits
        self.max_body_size = limits.max_body_size  # read per body piece; 0: no limit
        self.bytes_received = 0  # every byte fed: progress for the body timeout
        self.upgrade_token = upgrade_token
        self.trailing = None  # bytes after an upgrade request, for the next protocol
        self._buffer = bytearray()
        self._body = None  # the h11 connection framing a chunked body
        self._length = -1  # body bytes still due of a Content-Length request; -1: none
        self._body_size = 0
        self._chunks = None  # the ChunkFraming of a chunked body being read
        self._scanner = HeadScanner(limits.max_head_size, limits.max_request_line, limits.max_header_count)
        self._scanned = 0  # bytes at the front of the buffer the scanner has seen

    def feed(self, data):
        self.bytes_received += len(data)
        events = []
        if self.trailing is not None:
            self.trailing += data
            return events
        buffer = self._buffer
        if buffer is None:
            raise RuntimeError("RequestParser.feed() after close()")
        buffer += data
        try:
            self._parse(buffer, events)
        except HttpParseError as exc:
            exc.events = events  # requests before the bad bytes are still answered
            raise
        return events

    def _parse(self, buffer, events):
        while buffer:
            if self._body is None and self._length < 0:
                head = self._take_head(buffer)
                if head is None:
                    break
                events.append(head)
                if head.upgrade is not None and head.upgrade == self.upgrade_token:
                    # The rest of the stream belongs to the upgraded protocol.
                    events.append(None)
                    self.trailing = bytes(buffer)
                    buffer.clear()
                    return
            if self._body is not None:
                if not self._read_chunked(buffer, events):
                    break
            elif not self._read_length(buffer, events):
                break

    def close(self):
        """The connection is done: let go of the buffered state.  (The
        compiled twin breaks a reference cycle here; this one has none.)"""
        self._buffer = None
        self._body = None
        self._chunks = None

    def _take_head(self, buffer):
        """The next request head off the front of `buffer`, or None until it is complete.

        buffer[:self._scanned] went through the scanner already: the start
        of this head (or a lone CR that may start it)."""
        scanned = self._scanned
        if scanned == len(buffer):
            return None
        scanner = self._scanner
        end = scanner.scan(buffer, scanned, len(buffer))
        skipped = scanner.head_start if scanned == 0 or scanner.restarted else 0
        if skipped:  # empty lines before the head
            del buffer[:skipped]
        if end < 0:
            self._scanned = len(buffer)
            return None
        end -= skipped
        self._scanned = 0
        head = bytes(buffer[:end])
        http11 = check_head(head)
        method, target, _ = head[:head.index(b"\r\n")].split(b" ")  # check_head: exactly two spaces
        # The policy sees the header lines as sent: h11 merges repeated
        # Content-Length fields ("3, 3" and duplicates), which must be 400s.
        headers = []
        for line in head.split(b"\r\n")[1:-2]:
            name, _, value = line.partition(b":")
            name = name.lower()
            stripped = value.strip(b" \t")
            if name == b"transfer-encoding" and stripped and b"\t" in value[len(value.rstrip(b" \t")):]:
                # A tab after the last coding: llhttp refuses it ("chunked\t"),
                # and a proxy may read the coding differently: both twins refuse.
                raise HttpParseError("Invalid Transfer-Encoding")
            headers.append((name, stripped))
        # The target before the headers, as llhttp (the compiled twin) judges
        # it while parsing: the twins then refuse with the same status too.
        path, raw_path, query_string = split_target(target)
        keep_alive, expect_continue, upgrade, proxied = check_request_headers(headers, http11)
        if target[:1] != b"/" and target != b"*":
            headers = replace_host(headers, absolute_form_host(target))
        chunks = None
        length = 0
        for name, value in headers:
            if name == b"transfer-encoding":  # checked above: it ends in chunked
                chunks = ChunkFraming(self.limits.max_head_size)
            elif name == b"content-length":  # checked above: digits only
                length = int(value)
                if self.max_body_size and length > self.max_body_size:
                    raise HttpParseError("Request body too large", 413)
        self._body_size = 0
        if chunks is not None:
            # Only a chunked body goes through h11 (a new connection per
            # request is its largest cost).  ChunkFraming bounds chunk lines
            # and trailers (split-independent, unlike h11's buffer check,
            # which this size never reaches).
            body = h11.Connection(h11.SERVER, max_incomplete_event_size=self.limits.max_head_size + 64)
            body.receive_data(head)
            try:
                body.next_event()
            except h11.RemoteProtocolError as exc:
                raise HttpParseError(str(exc)) from None
            self._body = body
            self._chunks = chunks
        else:  # no body or a Content-Length one: counting bytes is all it takes
            self._length = length
        del buffer[:end]
        return RequestHead(method.decode("ascii"), path, raw_path, query_string, headers,
                           "1.1" if http11 else "1.0", keep_alive, expect_continue, upgrade, proxied)

    def _read_length(self, buffer, events):
        """Move Content-Length body bytes from the buffer; True once the request ended."""
        due = self._length
        if due and buffer:
            if len(buffer) <= due:
                data = bytes(buffer)
                buffer.clear()
            else:
                data = bytes(buffer[:due])
                del buffer[:due]
            due -= len(data)
            self._length = due
            events.append(data)
        if due:
            return False
        events.append(None)
        self._length = -1
        return True

    def _read_chunked(self, buffer, events):
        """Move chunked body bytes from the buffer through h11; True once the request ended."""
        body = self._body
        violation = None
        if buffer:
            data = bytes(buffer)
            buffer.clear()
            chunks = self._chunks
            if chunks is not None:
                at = chunks.scan(data, 0, len(data))
                if at >= 0:  # h11 sees the bytes before it: an earlier error wins
                    violation = chunks.error
                    data = data[:at]
            if data:  # b"" would tell h11 the peer closed
                body.receive_data(data)
        try:
            while True:
                event = body.next_event()
                event_type = type(event)
                if event_type is h11.Data:
                    if self.max_body_size:
                        self._body_size += len(event.data)
                        if self._body_size > self.max_body_size:
                            raise HttpParseError("Request body too large", 413)
                    events.append(bytes(event.data))
                elif violation is not None:
                    raise violation
                elif event_type is h11.EndOfMessage:
                    events.append(None)
                    self._body = None
                    buffer += body.trailing_data[0]
                    return True
                else:  # NEED_DATA
                    return False
        except h11.RemoteProtocolError as exc:
            raise HttpParseError(str(exc)) from None


def parser_for(limits, upgrade_token):
    """A new RequestParser for an accepted connection (the compiled twin's is a C call)."""
    return RequestParser(limits, upgrade_token)
