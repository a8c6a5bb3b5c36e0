"""Where an HTTP/1.1 connection stands, and its deadlines: no I/O here.

Http11Connection holds the connection's one `state` (NEW, IDLE, HEAD,
BUSY, ... below), the request parser it feeds (feed(bytes) -> the parser's
events), what each head asks for (request_head(): a plain request, or the
websocket or h2c upgrade), the requests being answered (`running`, and
those pipelined behind it in `queued`), the response bytes held to go out
together (data_to_send()), the request it holds back (an upgrade or a parse
error waiting for the responses before it), the request count, whether
writing is paused, and the connection's deadline with the request body's
watchdog (watch_body()).  It is told what happened (a request was parsed,
a response completed, writing paused) with the loop time as an argument,
and answers what a passed deadline means (on_deadline() returns its kind);
it never reads a clock, a transport or a task.  HttpProtocol (http.py) is
the asyncio side: it does what the answers say (runs the request's task,
writes the 408, closes, aborts) and logs why.

Tests drive this object directly, without a loop or a transport
(tests/test_http11_connection.py).
"""
try:
    import cython
except ImportError:  # no Cython installed: this module runs as Python
    from types import SimpleNamespace
    cython = SimpleNamespace(compiled=False)

# The connection's state: where it is between two requests, which deadline
# is pending, and whether more requests may come.  The order matters:
# NEW and IDLE wait for a request (the keep-alive deadline), HEAD reads one
# (the request-head deadline), BUSY to MUST_ERROR run one (the request
# watchdog), and from CLOSING on no request is read any more.
NEW = 0  # accepted, no request yet (an HTTP/2 preface may still come)
IDLE = 1  # between requests, keep-alive
HEAD = 2  # a request head is arriving
BUSY = 3  # a request was parsed and is being answered (others may be pipelined)
UPGRADING = 4  # a websocket upgrade waits for the responses before it (upgrade_head)
MUST_ERROR = 5  # a parse error is answered once the responses before it are out (pending_error)
CLOSING = 6  # no more requests: the response running, if any, is the last
SWITCHED = 7  # handed to the websocket or HTTP/2 protocol
CLOSED = 8  # the transport is gone
STATE_NAMES = ("NEW", "IDLE", "HEAD", "BUSY", "UPGRADING", "MUST_ERROR", "CLOSING", "SWITCHED", "CLOSED")

# What a connection's `deadline` is for, that is what on_deadline() says to
# do when it passes.
NO_DEADLINE = 0  # nothing: the deadline was moved on (on_deadline) or none is armed
KEEP_ALIVE = 1  # NEW or IDLE: close the connection
REQUEST_HEAD = 2  # HEAD: answer 408 and close
BODY_DRAIN = 3  # HEAD, still reading the body of a request already answered: close
WATCHDOG = 4  # a request runs: check its body's progress (--timeout-request-body*), look again later
WRITE_STALL = 5  # before the state's: the client has read nothing for --timeout-write: abort
CLOSE_FLUSH = 6  # the transport is closing and the client read none of the rest in --timeout-write: abort
DEADLINE_NAMES = ("none", "keep-alive", "request-head", "request-body", "watchdog", "write", "flush")

# What request_head() says a parsed head is.
PLAIN = 0  # a request to answer on this connection
UPGRADE_WEBSOCKET = 1  # the websocket upgrade served: held (upgrade_head) for the responses before it
UPGRADE_H2C = 2  # h2c, with HTTP/2 on and no response running: hand the connection to HTTP/2 (or serve_plain())
REQUEST_KIND_NAMES = ("plain", "websocket", "h2c")

# What watch_body() finds.
BODY_ON_TIME = 0  # nothing late: the watchdog is armed again
BODY_IDLE = 1  # the client sent none of the body for --timeout-request-body
BODY_TOTAL = 2  # the body took longer than --timeout-request-body-total
BODY_NAMES = ("on time", "idle", "total")

# Response bytes held back to be written together (a streamed body's chunks,
# pipelined responses) before they are written anyway.
OUT_BUFFER_MAX = 64 * 1024
# What hold() says the caller must see to.
HELD = 0  # nothing: more bytes may come before they go out
FIRST_HELD = 1  # the first bytes held: have data_to_send() written by the end of this loop turn
FULL = 2  # enough is held: have data_to_send() written now
HOLD_NAMES = ("held", "first", "full")
# OUT_BUFFER_MAX, for Python code (compiled, the constant is C's alone).
OUT_BUFFER_SIZE = OUT_BUFFER_MAX


class Http11Connection:
    """One HTTP/1.1 connection without its I/O (see the module docstring).

    What the protocol knows and this object does not (whether the
    transport is closing, whether a request is running or its body is
    being drained) comes in as arguments of the calls that need it."""

    __slots__ = (
        "body_waited", "closed_at", "deadline", "due", "error", "http2", "out", "out_size", "parse_error", "parser",
        "pending_error", "queued", "requests", "running", "state", "timeout_keep_alive", "timeout_request_body",
        "timeout_request_body_total", "timeout_request_header", "timeout_write", "upgrade_head", "upgrade_token",
        "watch_interval", "watch_mark", "watch_since", "watched_at", "write_paused", "write_paused_at",
    )

    def __init__(self, parser, parse_error, timeout_keep_alive, timeout_request_header, timeout_write,
                 watch_interval, http2=False, upgrade_token=None, timeout_request_body=0.0,
                 timeout_request_body_total=0.0):
        self._start(parser, parse_error, timeout_keep_alive, timeout_request_header, timeout_write,
                    watch_interval, http2, upgrade_token, timeout_request_body, timeout_request_body_total)

    def _start(self, parser, parse_error, timeout_keep_alive, timeout_request_header, timeout_write,
               watch_interval, http2, upgrade_token, timeout_request_body, timeout_request_body_total):
        self.parser = parser  # the request parser (either twin's): feed() -> events
        self.parse_error = parse_error  # the exception class it raises for bad bytes
        self.error = None  # the parse error of the last feed(), for the caller to answer
        self.http2 = http2  # HTTP/2 is on: a preface may open the connection, h2c may upgrade it
        self.upgrade_token = upgrade_token  # the Upgrade token served (b"websocket"), or None
        self.out = None  # response bytes held back, a list until data_to_send() takes it
        self.out_size = 0
        self.timeout_keep_alive = timeout_keep_alive
        self.timeout_request_header = timeout_request_header
        self.timeout_write = timeout_write  # 0: a client that reads nothing is not timed out
        self.watch_interval = watch_interval  # how often a running request's watchdog looks
        self.timeout_request_body = timeout_request_body  # 0: off
        self.timeout_request_body_total = timeout_request_body_total  # 0: off
        self.state = NEW
        self.requests = 0  # HTTP requests read on this connection (not upgrades)
        self.pending_error = None  # a parse error to answer once earlier responses are out
        self.upgrade_head = None  # a websocket upgrade waiting for earlier responses
        self.running = None  # the request whose response is being written (the caller's object)
        self.queued = []  # requests parsed, waiting for the response before them (a few at most)
        self.watch_mark = 0  # parser.bytes_received when the watchdog last saw progress ...
        self.watch_since = 0.0  # ... and the loop time it saw it
        self.watched_at = 0.0  # loop time of the watchdog's last look ...
        self.body_waited = 0.0  # ... and the seconds it has waited on the client for this request's body
        self.deadline = 0.0  # loop time the server's tick calls on_deadline(); 0: never
        self.due = 0.0  # the deadline of the connection's state, which a stalled write may come before
        self.write_paused = False  # the transport paused writing: the client is behind ...
        self.write_paused_at = 0.0  # ... since this loop time
        self.closed_at = 0.0  # loop time a deadline first found the transport closing

    # -- bytes in -------------------------------------------------------------
    def feed(self, data, now):
        """Bytes from the client, at loop time `now`: the parser's events in
        order (a RequestHead per head, body bytes, None where a body ends).

        None instead when they open a new connection with HTTP/2's preface
        (and `http2` is on): the caller hands the connection over.  Bad
        bytes set `error` and give the events of the whole requests before
        them: the caller answers those first, then the error."""
        if self.state <= IDLE:
            if self.state == NEW and data[:4] == b"PRI " and self.http2:
                return None
            # A new head starts: it must be complete within the request-head timeout.
            self.state = HEAD
            self.set_deadline(now + self.timeout_request_header)
        try:
            return self.parser.feed(data)
        except self.parse_error as exc:
            parsed = exc.events
            end = len(parsed)
            while end and parsed[end - 1] is not None:  # up to the end of the last whole request
                end -= 1
            self.error = exc
            return list(parsed[:end])

    # -- bytes out ------------------------------------------------------------
    def hold(self, data):
        """Hold response bytes, to go out with what follows: HELD, FIRST_HELD or FULL (above)."""
        out = self.out
        if out is None:
            self.out = [data]
            self.out_size = len(data)
            return FIRST_HELD
        out.append(data)
        self.out_size += len(data)
        return FULL if self.out_size >= OUT_BUFFER_MAX else HELD

    def data_to_send(self):
        """The response bytes held, in order (a list), and none held any more; None when none are."""
        out = self.out
        self.out = None
        return out

    # -- what happened ------------------------------------------------------
    def set_deadline(self, when):
        """Arm the deadline at `when`; while writing is paused, the
        --timeout-write of the stall may come first (on_deadline sorts it out)."""
        self.due = when
        if self.write_paused and self.timeout_write:
            stalled = self.write_paused_at + self.timeout_write
            if stalled < when:
                when = stalled
        self.deadline = when

    def accepted(self, now):
        """The transport is there: the first request has the keep-alive timeout to come."""
        self.set_deadline(now + self.timeout_keep_alive)

    def request_started(self, now):
        """A request head was parsed: the request's watchdog is armed, never
        later than a deadline already armed (heads a client keeps sending
        must not push back a stalled write's)."""
        if self.state < BUSY:
            self.state = BUSY
        self.watched_at = now
        self.body_waited = 0.0
        watch = now + self.watch_interval
        self.set_deadline(watch if not self.deadline or watch < self.due else self.due)

    def request_head(self, head, now):
        """A request head was parsed at `now`: what it is (PLAIN, UPGRADE_WEBSOCKET, UPGRADE_H2C).

        The request's watchdog is armed; a websocket upgrade is held
        (upgrade_head) for the responses before it; a plain request is counted."""
        self.request_started(now)
        upgrade = head.upgrade
        if upgrade is not None:
            # h2c answers the request on HTTP/2's stream 1: not behind others.
            if self.http2 and upgrade == b"h2c" and self.running is None:
                return UPGRADE_H2C
            if upgrade == self.upgrade_token:
                self.upgrading(head)
                return UPGRADE_WEBSOCKET
        self.requests += 1
        return PLAIN

    def serve_plain(self):
        """The h2c upgrade request_head() found cannot be made: the request is served here."""
        self.requests += 1

    def upgrading(self, head):
        """`head` asks for a websocket: it waits for the responses before it."""
        self.upgrade_head = head
        if self.state < UPGRADING:
            self.state = UPGRADING

    def must_error(self, exc):
        """A parse error, to answer after the responses before it."""
        self.pending_error = exc
        if self.state < CLOSING:  # a connection already closing closes after its response anyway
            self.state = MUST_ERROR

    def close_requests(self):
        """No more requests on this connection (the one running, if any, is the last)."""
        if self.state < CLOSING:
            self.state = CLOSING

    def idle(self, now):
        """The last response is out and the connection stays open: keep-alive."""
        self.state = IDLE
        self.set_deadline(now + self.timeout_keep_alive)

    # -- the requests being answered ------------------------------------------
    def may_start(self):
        """Whether the next request may start now: nothing running, more
        requests may come, and the client reads what it was sent (a client
        that pipelines and never reads would otherwise have the server
        buffer every response)."""
        return self.running is None and self.state < CLOSING and not self.write_paused

    def queue(self, request):
        """A parsed request to answer: True when it may start now (it is
        `running`); otherwise it waits in `queued`."""
        if self.may_start():
            self.running = request
            return True
        self.queued.append(request)
        return False

    def next_request(self):
        """The first queued request, now the running one (the caller saw may_start())."""
        request = self.queued.pop(0)
        self.running = request
        return request

    def response_done(self):
        """The running request's response is complete (or given up)."""
        self.running = None

    def switched(self):
        """Handed to another protocol, whose deadlines are its own."""
        self.state = SWITCHED
        self.upgrade_head = None
        self.deadline = self.due = 0.0

    def connection_lost(self):
        self.state = CLOSED
        self.queued.clear()
        self.write_paused = False
        self.deadline = 0.0

    def pause_writing(self, now):
        """The client stopped reading: --timeout-write counts from `now`."""
        self.write_paused = True
        self.write_paused_at = now
        self.set_deadline(self.due if self.deadline else now + self.watch_interval)

    def resume_writing(self):
        self.write_paused = False

    # -- deadlines as data ----------------------------------------------------
    def watch_body(self, now, waiting):
        """The watchdog's look at `now`, while a request runs: BODY_ON_TIME
        (the watchdog is armed again), BODY_IDLE or BODY_TOTAL (late).

        `waiting`: the server waits on the client for the request's body
        (it is being read, reading is not paused behind the app, and the
        client does not wait for 100 Continue).  Only that time counts."""
        waited = now - self.watched_at
        self.watched_at = now
        if waiting:
            self.body_waited += waited
            received = self.parser.bytes_received
            if received != self.watch_mark:
                self.watch_mark = received
                self.watch_since = now
            elif self.timeout_request_body and now - self.watch_since >= self.timeout_request_body:
                return BODY_IDLE
            if self.timeout_request_body_total and self.body_waited >= self.timeout_request_body_total:
                return BODY_TOTAL
        else:
            self.watch_since = now  # not waiting on the client: the idle clock restarts
        self.set_deadline(now + self.watch_interval)
        return BODY_ON_TIME

    def pending_deadline(self, closing, draining, busy):
        """Which deadline `deadline` is (NO_DEADLINE, KEEP_ALIVE, ...).

        `closing`: the transport is closing; `draining`: the body being read
        belongs to a request already answered; `busy`: a response is being
        written."""
        if not self.deadline:
            return NO_DEADLINE
        if self.write_paused and self.timeout_write and self.deadline < self.due and not closing:
            return WRITE_STALL
        return self.state_deadline(closing, draining, busy)

    def state_deadline(self, closing, draining, busy):
        """The deadline of the connection's state (a stalled write's may come first)."""
        if closing:
            return CLOSE_FLUSH
        state = self.state
        if state == HEAD:
            return BODY_DRAIN if draining else REQUEST_HEAD
        if state <= IDLE or state == CLOSING and not busy:
            return KEEP_ALIVE
        return WATCHDOG

    def on_deadline(self, now, closing, draining, busy):
        """The deadline passed at `now`: what to do (a kind above).

        NO_DEADLINE: nothing yet, the deadline moved on (a closing
        transport still flushing, or a stalled write's check that found
        the stall not run out or over, while the state's own deadline is
        further off).
        CLOSE_FLUSH and WRITE_STALL: abort the transport.  Otherwise the
        state's deadline; the caller acts on it and arms what comes next.
        """
        self.deadline = 0.0
        if closing:
            if not self.closed_at:
                self.closed_at = now
            elif self.timeout_write and now - self.closed_at >= self.timeout_write:
                return CLOSE_FLUSH
            self.deadline = now + self.watch_interval
            return NO_DEADLINE
        if self.write_paused and self.timeout_write and now - self.write_paused_at >= self.timeout_write:
            self.close_requests()
            return WRITE_STALL
        if self.due > now:
            # The deadline was a stalled write's check, earlier than the
            # state's; the stall has not run out or the client read since:
            # the state's deadline is still ahead.
            self.set_deadline(self.due)
            return NO_DEADLINE
        return self.state_deadline(closing, draining, busy)

    @property
    def state_name(self):
        return STATE_NAMES[self.state]


def connection_for(settings, parser):
    """A new connection (NEW) feeding `parser`, with the timeouts of `settings` (a ConnectionSettings).

    Made without a call to __init__: compiled, that is a C allocation and
    a C call, where calling the class would go through Python's call
    protocol on every accepted connection."""
    conn = Http11Connection.__new__(Http11Connection)
    # http2_limits: set by Config.load() when --http2 is on, None otherwise
    # (a C comparison here, where config.http2 would be a Python lookup).
    conn._start(parser, settings.ParseError, settings.timeout_keep_alive, settings.timeout_request_header,
                settings.timeout_write, settings.watch_interval, settings.http2_limits is not None,
                settings.upgrade_token, settings.timeout_request_body, settings.timeout_request_body_total)
    return conn
