"""One ASGI HTTP request/response exchange: the app's receive() and send().

The cycle knows the ASGI HTTP spec, not the wire format.  It talks to its
connection through the few methods of Connection, so the HTTP/1.1 protocol
today and an HTTP/2 stream later can drive the same cycle.

This module is also compiled, unchanged, as cycle_c: cycle_c.pxd gives
the fields C types (see setup.py).
"""
import builtins
import logging
import os
from collections.abc import Mapping

from .._speedups import ClientDisconnected

logger = logging.getLogger("fastasgi.error")

DISCONNECT = {"type": "http.disconnect"}
# A file sent by reading it (HTTP/2 streams) goes in pieces of this size, so
# a large file never sits in memory whole; the next piece is read once the
# transport has drained (the same size as sendfile.READ_CHUNK, HTTP/1.1's).
FILE_CHUNK = 64 * 1024


# The ASGI extensions the cycle serves, each with its settings (none).
HTTP_EXTENSIONS = {"http.response.pathsend": {}, "http.response.zerocopysend": {}, "http.response.trailers": {},
                   "http.response.early_hint": {}}


def http_extensions():
    """scope["extensions"] for an HTTP request: a copy of HTTP_EXTENSIONS, the
    request's own to add to (the empty settings are shared: a copy of the
    whole would cost every request four more dicts)."""
    return HTTP_EXTENSIONS.copy()


# The message types of the extensions, for send() to tell apart.
PATHSEND, ZEROCOPYSEND, TRAILERS, EARLY_HINT = 1, 2, 3, 4
EXTENSION_MESSAGES = {"http.response.pathsend": PATHSEND, "http.response.zerocopysend": ZEROCOPYSEND,
                      "http.response.trailers": TRAILERS, "http.response.early_hint": EARLY_HINT}

# Fields a trailer section must not carry (RFC 9110 6.5.1): framing, routing,
# request modifiers, authentication, response control and content handling
# are all decided before the body, so a recipient would act on them too late.
FORBIDDEN_TRAILERS = frozenset((
    b"content-length", b"transfer-encoding", b"trailer", b"te", b"connection", b"keep-alive", b"upgrade",
    b"host", b"authorization", b"proxy-authorization", b"proxy-authenticate", b"www-authenticate",
    b"set-cookie", b"cookie", b"cache-control", b"expect", b"max-forwards", b"pragma", b"range",
    b"if-match", b"if-none-match", b"if-modified-since", b"if-unmodified-since", b"if-range",
    b"age", b"expires", b"date", b"location", b"retry-after", b"vary", b"warning",
    b"content-encoding", b"content-type", b"content-range",
))
# Bytes that would end a field line early (response splitting) or are never allowed.
LINE_BREAKING = (b"\r", b"\n", b"\x00")
TOKEN_BYTES = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz")


class Connection:
    """What a cycle needs from the connection it answers on.

    A base class rather than a convention so that, compiled, the cycle
    calls these as C functions.  Subclasses set `loop` (for the cycle's
    waiters), `flow` (the connection's FlowControl) and either
    `write_paused` or a writes_paused() of their own."""

    __slots__ = ()

    def writes_paused(self):
        """Whether the transport paused writing (the client is behind): the
        cycle's sends then wait on flow.drain().  Here the `write_paused`
        field the connection sets; HTTP/1.1 asks its Http11Connection, the
        one place it is kept."""
        return self.write_paused

    def write_response_head(self, cycle, status, headers, body, more_body):
        """The response head and its first body chunk (more_body: more follow)."""
        raise NotImplementedError

    def write_response_body(self, cycle, body, more_body):
        raise NotImplementedError

    def flush_head_soon(self, cycle):
        """Write cycle's head, still waiting for its first body chunk, at the end of this loop turn."""
        raise NotImplementedError

    def send_continue(self):
        """The client sent Expect: 100-continue and the app reads the body."""
        raise NotImplementedError

    def send_error(self, status):
        """The app failed before its response head went out: answer `status`."""
        raise NotImplementedError

    def abort(self):
        """The response cannot be completed: close so the client notices."""
        raise NotImplementedError

    def cycle_finished(self, cycle):
        """The app of `cycle` returned."""
        raise NotImplementedError

    def take_next(self, cycle):
        """The app of `cycle` returned: the next request for its task to run, or None.

        A pipelined request whose turn came when `cycle`'s response
        completed runs in the same task, rather than in one of its own,
        if `cycle`'s app returns in the same loop turn."""
        raise NotImplementedError

    def task_finished(self, cycle):
        """The task started for `cycle` has run its last request."""
        raise NotImplementedError

    def write_trailers(self, cycle, trailers):
        """End `cycle`'s body (announced with more to come) with its trailer
        fields, lowercased and checked (a list, maybe empty): where the
        client cannot take them they are dropped, the framing kept."""
        raise NotImplementedError

    def send_early_hint(self, cycle, links):
        """A 103 Early Hints with one Link field per value of `links`
        (checked bytes), before the response head; dropped where the
        client cannot take it."""
        raise NotImplementedError

    def send_file(self, cycle, file, offset, count, more_body):
        """An awaitable that sends `count` bytes of `file` from `offset` as
        body, the head already written; with more_body False it ends the
        response.  This one reads the file into body chunks; a connection
        that can hand the file to the kernel (sendfile) does that instead."""
        return send_file_by_reads(self, cycle, file.fileno(), offset, count, more_body)


class FileShrank(Exception):
    """A file sent as a response body ended before the bytes announced for it."""


async def send_file_by_reads(conn, cycle, fd, offset, count, more_body):
    """Connection.send_file as body chunks read from `fd`, flow control honoured."""
    left = count
    while left > 0:
        chunk = os.pread(fd, FILE_CHUNK if left > FILE_CHUNK else left, offset)
        if not chunk:
            conn.abort()  # the length was announced: the client cannot find the end
            raise FileShrank(f"the file ended {left} bytes short of the {count} bytes announced")
        offset += len(chunk)
        left -= len(chunk)
        conn.write_response_body(cycle, chunk, more_body or left > 0)
        if conn.writes_paused():
            await conn.flow.drain()
        if cycle.disconnected:
            raise ClientDisconnected("The client has disconnected.")
    if count == 0:
        conn.write_response_body(cycle, b"", more_body)


class RequestResponseCycle:
    __slots__ = (
        "scope", "conn", "body", "more_body", "disconnected", "expect_continue",
        "response_started", "response_complete", "start_message", "waiter",
        "status", "wire", "task", "body_delivered",
        "started", "first_byte", "sent", "response_headers", "trailers", "awaiting_trailers",
    )

    def __init__(self, scope, conn, expect_continue):
        self.scope = scope
        self.conn = conn
        self.body = []  # chunks received but not yet handed to the app
        self.more_body = True
        self.body_delivered = False  # the app got the message with more_body=False
        self.disconnected = False
        self.expect_continue = expect_continue
        self.response_started = False
        self.response_complete = False
        self.start_message = None  # a response start waiting for its first body chunk
        self.waiter = None
        self.status = 0
        self.wire = None  # the connection's own per-request data (the parsed HTTP/1.1 head)
        self.task = None  # the task running the app for this cycle
        # Kept only while an observer (metrics, a timed access log) watches:
        # when the head arrived and the response's first byte left (its
        # clock), body bytes sent, the response headers.
        self.started = 0.0
        self.first_byte = 0.0
        self.sent = 0
        self.response_headers = None
        self.trailers = None  # announced on the response start: the trailer fields sent so far
        self.awaiting_trailers = False  # the body has ended: its trailers end the response

    # -- called by the connection ----------------------------------------
    # feed_body and body_complete run for every request: _wake is called
    # only when the app is actually waiting.
    def feed_body(self, chunk):
        self.body.append(chunk)
        if self.waiter is not None:
            self._wake()

    def body_complete(self):
        self.more_body = False
        if self.waiter is not None:
            self._wake()

    def disconnect(self):
        self.disconnected = True
        self._wake()

    def flush(self):
        """End of the loop turn: a head still waiting for its first body chunk goes alone."""
        if self.start_message is not None:
            self._flush_head()

    def _wake(self):
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # -- the ASGI application --------------------------------------------
    async def run_asgi(self, app, base_context=None):
        """Run the app for this request.

        Given `base_context`, this is the coroutine of the task started for
        this request, and it goes on with each pipelined request the
        connection hands over to this task (Connection.take_next).  Those
        run in copies of `base_context`, as they would in tasks of their
        own: context variables an app sets do not leak into the next
        request.  (The task's own request is not a coroutine of its own
        awaited here: that would cost every request a coroutine frame.)
        """
        try:
            try:
                result = await app(self.scope, self.receive, self.send)
            except ClientDisconnected:
                logger.debug("Client disconnected before the response was complete.")
            except BaseException as exc:  # noqa: B902 - the app must never take the server down
                if self.disconnected and caused_by_disconnect(exc):
                    # The app let through what our send() raised once the
                    # client left (Starlette re-raises it as ClientDisconnect):
                    # normal traffic for a stream, not an application error.
                    logger.debug("Client disconnected before the response was complete: %r", exc)
                else:
                    logger.error("Exception in ASGI application\n", exc_info=exc)
                if self.disconnected:
                    pass
                elif not self.response_started or self.start_message is not None:
                    self.start_message = None  # a head never written can still become a 500
                    self.conn.send_error(500)
                elif not self.response_complete:
                    self.conn.abort()
                if not isinstance(exc, Exception):
                    raise  # CancelledError / KeyboardInterrupt keep their meaning
            else:
                if result is not None:
                    logger.error("ASGI callable should return None, but returned '%s'.", result)
                if self.start_message is not None and not self.disconnected:
                    self._flush_head()
                if not self.response_started and not self.disconnected:
                    logger.error("ASGI callable returned without starting response.")
                    self.conn.send_error(500)
                elif not self.response_complete and not self.disconnected:
                    logger.error("ASGI callable returned without completing response.")
                    self.conn.abort()
            finally:
                self.conn.cycle_finished(self)
            if base_context is not None:
                cycle = self.conn.take_next(self)
                while cycle is not None:
                    context = base_context.copy()
                    coro = cycle.run_asgi(app)
                    try:
                        # Its first step, here: most apps answer without waiting.
                        waits_on = context.run(coro.send, None)
                    except StopIteration:
                        pass
                    else:
                        await InContext(coro, context, waits_on)
                    cycle = self.conn.take_next(cycle)
        finally:
            if base_context is not None:
                self.conn.task_finished(self)

    async def receive(self):
        if self.expect_continue:
            self.expect_continue = False
            if not self.disconnected and not self.response_started:
                self.conn.send_continue()
        if self.body_delivered:
            # The whole body was delivered: the next event is the disconnect.
            while not (self.disconnected or self.response_complete):
                await self._wait()
            return DISCONNECT
        if self.more_body and not self.body and not self.disconnected and not self.response_complete:
            await self._wait()
        if self.disconnected or self.response_complete:
            return DISCONNECT
        body = self.body
        if len(body) == 1:
            chunk = body[0]
        elif body:
            chunk = b"".join(body)
        else:
            chunk = b""
        body.clear()
        if chunk:
            self.conn.flow.body_consumed(len(chunk))
        more_body = self.more_body
        if not more_body:
            self.body_delivered = True
        return {"type": "http.request", "body": chunk, "more_body": more_body}

    def _wait(self):
        waiter = self.waiter = self.conn.loop.create_future()
        return waiter

    async def send(self, message):
        # dict.get(message, ...), not message.get(...): compiled, a lookup
        # in C instead of a bound method made and called (three per hello
        # response).  ASGI messages are dicts; another mapping is copied.
        if type(message) is not dict:
            message = as_message(message)
        message_type = message["type"]
        if self.disconnected:
            raise ClientDisconnected("The client has disconnected.")
        if message_type == "http.response.body":
            if not self.response_started:
                raise RuntimeError("Expected ASGI message 'http.response.start', "
                                   "but got 'http.response.body'.")
            if self.response_complete:
                raise RuntimeError("Unexpected ASGI message 'http.response.body' "
                                   "sent, after response already completed.")
            body = dict.get(message, "body", b"")
            more_body = dict.get(message, "more_body", False)
            if self.trailers is not None and not more_body:
                self._body_ends_before_trailers()
                more_body = True  # the trailers end the response
            start = self.start_message
            if start is not None:
                self.start_message = None
                try:
                    self.conn.write_response_head(self, start[0], start[1], body, more_body)
                except (ValueError, TypeError):
                    self.response_started = False  # nothing reached the wire: a 500 still can
                    raise
            else:
                self.conn.write_response_body(self, body, more_body)
            # The last send waits too: an app that answers at once must not
            # pile response after response onto a client that reads none.
            if self.conn.writes_paused():
                await self.conn.flow.drain()
                if more_body and self.disconnected:
                    raise ClientDisconnected("The client has disconnected.")
        elif message_type == "http.response.start":
            if self.response_started:
                raise RuntimeError("Unexpected ASGI message 'http.response.start' "
                                   "sent, after response already started.")
            status = message["status"]
            if type(status) is not int:
                raise TypeError(f"ASGI response status must be an int, got {status!r}")
            if status < 200:
                # The client would read the real response as the next one's.
                raise RuntimeError(f"ASGI response status {status} is informational (1xx), "
                                   "not a final response.")
            self.response_started = True
            self.status = status
            # expect_continue stays: a client still waiting for 100 Continue
            # gets its answer on a connection that closes (see write_response_head).
            self.start_message = (status, dict.get(message, "headers", ()))
            if dict.get(message, "trailers", False):
                self.trailers = []
            # Head and first body chunk go out in one write; an app that
            # waits between them still gets its head sent on the next turn.
            self.conn.flush_head_soon(self)
        else:
            await self._send_extension(message, message_type)

    async def _send_extension(self, message, message_type):
        """The messages of the ASGI extensions, kept out of send()'s path for every response."""
        kind = dict.get(EXTENSION_MESSAGES, message_type, 0)
        if kind == PATHSEND or kind == ZEROCOPYSEND:
            await self._send_file(message, message_type, kind)
        elif kind == TRAILERS:
            self._send_trailers(message)
        elif kind == EARLY_HINT:
            if self.response_started:
                raise RuntimeError("Unexpected ASGI message 'http.response.early_hint' sent, "
                                   "after response already started.")
            self.conn.send_early_hint(self, checked_links(dict.get(message, "links", ())))
        else:
            raise RuntimeError(f"Unexpected ASGI message '{message_type}' sent, "
                               "in response to an HTTP request.")

    def _body_ends_before_trailers(self):
        if self.awaiting_trailers:
            raise RuntimeError("Unexpected ASGI message 'http.response.body' sent, "
                               "after the body already ended.")
        self.awaiting_trailers = True

    def _send_trailers(self, message):
        if self.trailers is None:
            raise RuntimeError("Unexpected ASGI message 'http.response.trailers': "
                               "the response start did not announce trailers.")
        if self.response_complete and self.awaiting_trailers:
            return  # a response without a body (HEAD, 204, 304 on HTTP/2) ended with its head
        if not self.awaiting_trailers or self.response_complete:
            raise RuntimeError("Unexpected ASGI message 'http.response.trailers' sent, "
                               "before the body ended or after the response completed.")
        self.trailers.extend(checked_trailers(dict.get(message, "headers", ())))
        if not dict.get(message, "more_trailers", False):
            self.conn.write_trailers(self, self.trailers)

    async def _send_file(self, message, message_type, kind):
        """http.response.pathsend ({"path"}) and http.response.zerocopysend
        ({"file", "offset", "count", "more_body"}): a file as the body."""
        if not self.response_started:
            raise RuntimeError(f"Expected ASGI message 'http.response.start', but got '{message_type}'.")
        if self.response_complete:
            raise RuntimeError(f"Unexpected ASGI message '{message_type}' sent, "
                               "after response already completed.")
        if kind == PATHSEND:
            # A path that cannot be opened raises here: a 500 while the head
            # is still unwritten, a closed connection after (run_asgi).
            with open(message["path"], "rb") as file:
                await self._send_open_file(file, 0, None, False)
        else:
            await self._send_open_file(message["file"], dict.get(message, "offset"),
                                       dict.get(message, "count"), dict.get(message, "more_body", False))

    async def _send_open_file(self, file, offset, count, more_body):
        fd = file.fileno()
        if offset is None:
            offset = os.lseek(fd, 0, os.SEEK_CUR)  # the file's own position
        if count is None:
            size = os.fstat(fd).st_size
            count = size - offset if size > offset else 0
        if self.trailers is not None and not more_body:
            self._body_ends_before_trailers()
            more_body = True  # the trailers end the response
        start = self.start_message
        if start is not None:
            self.start_message = None
            headers = start[1]
            if not more_body and not has_content_length(headers):
                headers = list(headers)
                headers.append((b"content-length", b"%d" % count))
            try:
                self.conn.write_response_head(self, start[0], headers, b"", True)
            except (ValueError, TypeError):
                self.response_started = False  # nothing reached the wire: a 500 still can
                raise
        if self.disconnected:
            raise ClientDisconnected("The client has disconnected.")
        await self.conn.send_file(self, file, offset, count, more_body)

    def _flush_head(self):
        start = self.start_message
        if start is not None and not self.disconnected:
            self.start_message = None
            try:
                self.conn.write_response_head(self, start[0], start[1], b"", True)
            except (ValueError, TypeError) as exc:
                logger.error("Invalid ASGI response: %s", exc)
                self.conn.abort()


def checked_trailers(headers):
    """An app's trailer fields as lowercased (name, value) bytes; ValueError
    for a malformed one or one a trailer section must not carry."""
    fields = []
    for name, value in headers:
        name = bytes(name).lower()
        value = bytes(value)
        if not name or not all(byte in TOKEN_BYTES for byte in name) or any(c in value for c in LINE_BREAKING):
            raise ValueError(f"Invalid trailer field {name!r}: {value!r}")
        if name in FORBIDDEN_TRAILERS:
            raise ValueError(f"Trailer field {name.decode()!r} is not allowed in trailers (RFC 9110 6.5.1)")
        fields.append((name, value))
    return fields


def checked_links(links):
    """The values of an early hint's Link fields, as bytes; ValueError for one that would break the line."""
    values = []
    for link in links:
        link = link.encode("latin-1") if isinstance(link, str) else bytes(link)
        if not link or any(c in link for c in LINE_BREAKING):
            raise ValueError(f"Invalid early hint link {link!r}")
        values.append(link)
    return values


def has_content_length(headers):
    for name, _ in headers:
        if len(name) == 14 and bytes(name).lower() == b"content-length":
            return True
    return False


EXCEPTION_GROUP = getattr(builtins, "BaseExceptionGroup", ())  # Python 3.11+; () matches nothing


def caused_by_disconnect(exc):
    """Did the client leaving raise `exc`: ClientDisconnected itself, an
    exception raised directly while handling it (Starlette's ClientDisconnect),
    or a group (anyio's task groups) of only such exceptions?  An app bug met
    further on, in code that handles the disconnect, is none of these."""
    if isinstance(exc, EXCEPTION_GROUP):
        return all(caused_by_disconnect(member) for member in exc.exceptions)
    return (isinstance(exc, ClientDisconnected) or isinstance(exc.__cause__, ClientDisconnected)
            or isinstance(exc.__context__, ClientDisconnected))


def as_message(message):
    """An app's ASGI message as a dict: a dict subclass or other mapping is copied."""
    if isinstance(message, Mapping):
        return dict(message)
    raise TypeError(f"ASGI message must be a dict, got {type(message).__name__}")


class InContext:
    """Awaiting it runs the rest of coroutine `coro` step by step in `context`.

    What a task of its own would do for `coro`, inside the task that awaits
    it: the task waits on the futures `coro` waits on, and throws its
    cancellation into it.  `coro` has run its first step, which yielded
    `waits_on`: the awaiting task gets that first.
    """

    __slots__ = ("coro", "context", "waits_on", "started")

    def __init__(self, coro, context, waits_on):
        self.coro = coro
        self.context = context
        self.waits_on = waits_on
        self.started = False

    def __await__(self):
        return self

    def __iter__(self):
        return self

    def __next__(self):
        if not self.started:
            self.started = True
            waits_on = self.waits_on
            self.waits_on = None
            return waits_on
        return self.context.run(self.coro.send, None)

    def send(self, value):
        return self.context.run(self.coro.send, value)

    def throw(self, *exc_info):
        return self.context.run(self.coro.throw, *exc_info)

    def close(self):
        return self.context.run(self.coro.close)
