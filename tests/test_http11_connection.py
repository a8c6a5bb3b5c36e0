"""The HTTP/1.1 connection (fastasgi/protocols/http.py) driven without sockets.

Each test feeds request bytes to a real HttpProtocol of one twin (compiled
http_c or pure http, by name), on a real event loop, through a transport
that keeps in memory what the server writes.  Time is the server state's
clock, which the test moves itself: a deadline passes when the test says
so, as the server's tick would find it, with no sleeping.  The connection's
state (NEW, IDLE, HEAD, BUSY, ...) is asserted along the way.
"""
import asyncio
import importlib

import pytest

from fastasgi.config import Config
from tests.conftest import IMPLEMENTATIONS, require_implementation

pytestmark = pytest.mark.timeout(20)

DATE = b"date: Thu, 01 Jan 2026 00:00:00 GMT\r\n"
GET = b"GET /%s HTTP/1.1\r\nHost: example.com\r\n\r\n"


def twin_modules(implementation):
    """(http, state) modules of one twin, imported by name."""
    suffix = "_c" if implementation == "compiled" else ""
    return (importlib.import_module("fastasgi.protocols.http" + suffix),
            importlib.import_module("fastasgi.protocols.state" + suffix))


class MemoryTransport:
    """The transport methods HttpProtocol calls, writing to memory."""

    def __init__(self):
        self.data = bytearray()
        self.closed = False
        self.aborted = False
        self.reading = True
        self.protocol = None
        self.extra = {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}

    def get_extra_info(self, name, default=None):
        return self.extra.get(name, default)

    def write(self, data):
        assert not self.closed, "written after close"
        self.data += data

    def writelines(self, buffers):
        for data in buffers:
            self.write(data)

    def is_closing(self):
        return self.closed

    def close(self):
        self.closed = True

    def abort(self):
        self.closed = self.aborted = True

    def pause_reading(self):
        self.reading = False

    def resume_reading(self):
        self.reading = True

    def set_write_buffer_limits(self, high=None, low=None):
        pass

    def get_write_buffer_size(self):
        return 0

    def set_protocol(self, protocol):
        self.protocol = protocol


async def app(scope, receive, send):
    """/echo answers the body, /wait waits for /release's request, the rest says the path."""
    if scope["type"] != "http":
        return
    path = scope["path"]
    SCOPES.append(scope)
    if path == "/wait":
        await RELEASE[0].wait()
    if path == "/release":
        RELEASE[0].set()
    body = b""
    if path == "/echo":
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
    else:
        body = path.encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


RELEASE = [None]
SCOPES = []  # the scope of every request, in order


async def new_event():
    return asyncio.Event()


class Connection:
    """One connection of one twin, with the server's clock in the test's hands."""

    def __init__(self, implementation, **options):
        http, state = twin_modules(implementation)
        self.http = http
        options.setdefault("timeout_keep_alive", 5)
        options.setdefault("timeout_request_header", 10)
        config = Config(app, http="httptools" if implementation == "compiled" else "h11", lifespan="off",
                        access_log=False, log_level="warning", **options)
        config.load()
        self.loop = asyncio.new_event_loop()
        RELEASE[0] = self.loop.run_until_complete(new_event())  # of this loop (Python 3.9 binds it when made)
        SCOPES.clear()
        self.server_state = state.ServerState()
        self.server_state.date_line = DATE
        self.server_state.clock = 100.0
        self.protocol = state.ProtocolFactory(http.HttpProtocol, config, self.server_state, {}, self.loop)()
        self.transport = MemoryTransport()
        self.protocol.connection_made(self.transport)

    def close(self):
        if not self.transport.protocol:
            self.protocol.connection_lost(None)
        RELEASE[0].set()  # an app still waiting returns (its client went away)
        self.settle()
        assert not asyncio.all_tasks(self.loop), "an app did not return"
        self.loop.close()

    @property
    def state(self):
        return self.protocol.state_name

    @property
    def pending(self):
        """The kind of the pending deadline: what happens when it passes."""
        return self.http.DEADLINE_NAMES[self.protocol.pending_deadline()]

    def settle(self):
        """Run the loop until the apps and the end-of-turn flushes are done."""
        for _ in range(10):
            self.loop.run_until_complete(asyncio.sleep(0))

    def feed(self, data):
        self.protocol.data_received(data)
        self.settle()

    def sent(self):
        """What the server wrote since the last call."""
        data = bytes(self.transport.data)
        self.transport.data.clear()
        return data

    def advance(self, seconds):
        """Move the clock on, as the server's tick does, calling on_deadline if it passed."""
        self.server_state.clock += seconds
        protocol = self.protocol
        if protocol.deadline and protocol.deadline <= self.server_state.clock:
            protocol.on_deadline()
        self.settle()


@pytest.fixture(params=IMPLEMENTATIONS)
def connect(request):
    require_implementation(request.param)
    made = []

    def connect(**options):
        made.append(Connection(request.param, **options))
        return made[-1]

    yield connect
    for connection in made:
        connection.close()


def responses(data):
    """(status line, body) of each response in `data`, framed by content-length."""
    found = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        found.append((lines[0], rest[:length]))
        data = rest[length:]
    return found


# -- framing, pipelining, keep-alive ----------------------------------------
def test_a_request_in_pieces_is_answered_and_the_connection_waits_for_the_next(connect):
    conn = connect()
    assert (conn.state, conn.pending) == ("NEW", "keep-alive")
    assert conn.protocol.deadline == 105.0  # from the accept
    conn.feed(b"GET /a HTTP/1.1\r\nHost: exa")
    assert (conn.state, conn.pending) == ("HEAD", "request-head")
    assert conn.protocol.deadline == 110.0
    assert conn.sent() == b""
    conn.feed(b"mple.com\r\n\r\n")
    data = conn.sent()
    assert data.startswith(b"HTTP/1.1 200 OK\r\n") and DATE in data
    assert responses(data) == [(b"HTTP/1.1 200 OK", b"/a")]
    assert (conn.state, conn.pending) == ("IDLE", "keep-alive")
    assert conn.protocol.deadline == 105.0
    assert not conn.transport.closed


def test_request_bodies_by_length_and_chunked(connect):
    conn = connect()
    conn.feed(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello")
    assert conn.state == "BUSY"
    conn.feed(b" world")
    assert responses(conn.sent()) == [(b"HTTP/1.1 200 OK", b"hello world")]
    conn.feed(b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
    assert responses(conn.sent()) == [(b"HTTP/1.1 200 OK", b"abcde")]
    assert conn.state == "IDLE"


def test_pipelined_requests_are_answered_in_order(connect):
    conn = connect()
    conn.feed(GET % b"wait" + GET % b"b" + GET % b"release")
    # /wait holds the line: nothing after it may be answered before it.
    assert conn.sent() == b""
    assert conn.state == "BUSY"
    assert [line for line, _ in responses(conn.sent())] == []
    RELEASE[0].set()
    conn.settle()
    assert [body for _, body in responses(conn.sent())] == [b"/wait", b"/b", b"/release"]
    assert conn.state == "IDLE"


@pytest.mark.parametrize("request_bytes", [
    b"GET /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"GET /a HTTP/1.0\r\n\r\n",
])
def test_a_request_that_does_not_keep_alive_closes_after_its_response(connect, request_bytes):
    conn = connect()
    conn.feed(request_bytes)
    data = conn.sent()
    assert responses(data)[0][1] == b"/a"
    assert b"connection: close" in data.lower()
    assert conn.transport.closed and conn.state == "CLOSING"


def test_every_request_on_a_connection_gets_a_whole_scope_of_its_own(connect):
    conn = connect(root_path="/root")
    conn.feed(GET % b"a?x=1")
    conn.feed(GET % b"b" + b"POST /c HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")
    first, second, third = SCOPES
    assert list(first) == list(second) == list(third)  # the same keys, in the same order
    assert (second["method"], second["path"], second["raw_path"], second["query_string"]) == (
        "GET", "/root/b", b"/root/b", b"")
    assert (third["method"], third["http_version"], third["path"]) == ("POST", "1.1", "/root/c")
    assert first["query_string"] == b"x=1" and first["root_path"] == second["root_path"] == "/root"
    assert second["client"] == ("127.0.0.1", 50000) and second["server"] == ("127.0.0.1", 8000)
    assert second["extensions"] == first["extensions"] and "http.response.trailers" in second["extensions"]
    # Whatever an app does to its scope stays in its own request's.
    for key in ("extensions", "state", "asgi"):
        assert second[key] is not first[key] and second[key] is not third[key]
    second["extensions"]["mine"] = {}
    conn.feed(GET % b"d")
    assert "mine" not in SCOPES[3]["extensions"] and SCOPES[3]["type"] == "http"


# -- errors --------------------------------------------------------------------
@pytest.mark.parametrize("request_bytes, options, status", [
    (b"GET / HTTP/1.1\r\nHost a\r\n\r\n", {}, b"400"),
    (b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: a\r\n\r\n", {"limit_request_line": 100}, b"414"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"b" * 2000 + b"\r\n\r\n",
     {"limit_request_header_size": 1024}, b"431"),
    (b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n", {"limit_request_body": 10}, b"413"),
])
def test_bad_requests_get_their_status_and_a_closed_connection(connect, request_bytes, options, status):
    conn = connect(**options)
    conn.feed(request_bytes)
    data = conn.sent()
    assert data.startswith(b"HTTP/1.1 " + status + b" "), data[:60]
    assert b"connection: close" in data
    assert conn.transport.closed and conn.state == "CLOSING"


def test_a_parse_error_after_pipelined_requests_is_answered_after_them(connect):
    conn = connect()
    conn.feed(GET % b"wait" + GET % b"b" + b"NOT HTTP AT ALL\r\n\r\n")
    assert conn.state == "MUST_ERROR"
    assert conn.sent() == b"" and not conn.transport.reading
    RELEASE[0].set()
    conn.settle()
    found = responses(conn.sent())
    assert [line[:12] for line, _ in found] == [b"HTTP/1.1 200", b"HTTP/1.1 200", b"HTTP/1.1 400"]
    assert [body for _, body in found[:2]] == [b"/wait", b"/b"]
    assert conn.transport.closed and conn.state == "CLOSING"


def test_a_parse_error_on_a_closing_connection_gets_no_answer_after_the_last_response(connect):
    conn = connect()
    conn.feed(GET % b"wait")
    conn.protocol.shutdown()  # the running request is the last
    conn.feed(b"NOT HTTP AT ALL\r\n\r\n")
    assert conn.state == "CLOSING"
    RELEASE[0].set()
    conn.settle()
    data = conn.sent()
    assert responses(data) == [(b"HTTP/1.1 200 OK", b"/wait")] and b"connection: close" in data
    assert conn.transport.closed


def test_expect_100_continue_is_sent_when_the_app_reads_the_body(connect):
    conn = connect()
    conn.feed(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
    assert conn.sent() == b"HTTP/1.1 100 Continue\r\n\r\n"
    conn.feed(b"data")
    assert responses(conn.sent()) == [(b"HTTP/1.1 200 OK", b"data")]
    assert conn.state == "IDLE"


def test_expect_100_continue_without_reading_closes_after_the_response(connect):
    conn = connect()
    conn.feed(b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
    data = conn.sent()
    assert b"100 Continue" not in data  # the app never asked for the body
    assert responses(data) == [(b"HTTP/1.1 200 OK", b"/a")]
    assert conn.transport.closed  # the body may or may not come: the next bytes are not a request


# -- upgrade -------------------------------------------------------------------
UPGRADE = (b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


def test_a_websocket_upgrade_hands_the_transport_over(connect):
    conn = connect()
    conn.feed(UPGRADE)
    assert conn.state == "SWITCHED"
    assert conn.transport.protocol is not None and conn.transport.protocol is not conn.protocol
    assert conn.protocol.deadline == 0.0  # the websocket's deadlines are its own
    assert conn.protocol not in conn.server_state.connections


def test_an_upgrade_waits_for_the_pipelined_response_before_it(connect):
    conn = connect()
    conn.feed(GET % b"wait" + UPGRADE)
    assert conn.state == "UPGRADING"
    assert conn.transport.protocol is None and not conn.transport.reading
    RELEASE[0].set()
    conn.settle()
    assert responses(conn.sent())[0] == (b"HTTP/1.1 200 OK", b"/wait")
    assert conn.state == "SWITCHED" and conn.transport.protocol is not None


def test_an_http2_preface_on_a_new_connection_hands_it_to_http2(connect):
    conn = connect(http2=True)
    conn.feed(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    assert conn.state == "SWITCHED" and conn.pending == "none"
    assert conn.sent()[3:4] == b"\x04"  # the server's first frame: its SETTINGS
    assert conn.protocol not in conn.server_state.connections


# -- deadlines -----------------------------------------------------------------
def test_keep_alive_deadline_closes_an_idle_connection(connect):
    conn = connect(timeout_keep_alive=5)
    conn.feed(GET % b"a")
    conn.sent()
    conn.advance(4.9)
    assert not conn.transport.closed and conn.state == "IDLE"
    conn.advance(0.1)
    assert conn.transport.closed and conn.state == "CLOSING"
    assert conn.sent() == b""  # closed without a word: nothing was asked
    assert conn.pending == "flush"  # what is left in the transport's buffer must go within --timeout-write


def test_request_head_deadline_answers_408(connect):
    conn = connect(timeout_request_header=2)
    conn.feed(b"GET / HTTP/1.1\r\n")
    conn.advance(1.9)
    assert conn.state == "HEAD" and not conn.transport.closed
    conn.advance(0.1)
    assert conn.sent().startswith(b"HTTP/1.1 408 ")
    assert conn.transport.closed and conn.state == "CLOSING"


def test_request_body_deadline_answers_408_to_a_client_that_stops_sending(connect):
    conn = connect(timeout_request_body=1.0)
    conn.feed(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
    assert (conn.state, conn.pending) == ("BUSY", "watchdog")
    interval = conn.protocol.settings.watch_interval
    waited = 0.0
    while not conn.transport.closed and waited < 3.0:
        conn.advance(interval)
        waited += interval
        if waited < 1.0:
            assert not conn.transport.closed
    assert conn.sent().startswith(b"HTTP/1.1 408 ")
    assert 1.0 <= waited <= 1.0 + 2 * interval
    assert conn.state == "CLOSING"


def test_write_deadline_aborts_a_client_that_reads_nothing(connect):
    conn = connect(timeout_write=1.0)
    conn.feed(b"GET /wait HTTP/1.1\r\nHost: a\r\n\r\n")
    conn.protocol.pause_writing()  # the transport's buffer is full: the client reads nothing
    interval = conn.protocol.settings.watch_interval
    waited = 0.0
    while not conn.transport.aborted and waited < 3.0:
        conn.advance(interval)
        waited += interval
        if waited < 1.0:
            assert not conn.transport.aborted
    assert conn.transport.aborted and conn.state == "CLOSING"
    assert 1.0 <= waited <= 1.0 + 2 * interval


def test_a_stalled_write_comes_before_the_keep_alive_deadline(connect):
    conn = connect(timeout_write=1.0, timeout_keep_alive=5)
    conn.feed(GET % b"a")
    conn.protocol.pause_writing()  # the response is still in the transport's buffer
    assert (conn.state, conn.pending, conn.protocol.deadline) == ("IDLE", "write", 101.0)
    conn.protocol.resume_writing()
    conn.protocol.pause_writing()
    conn.advance(0.9)
    assert not conn.transport.closed
    conn.advance(0.1)
    assert conn.transport.aborted and conn.state == "CLOSING"


def test_paused_writing_is_kept_once_and_holds_the_app_and_the_next_request(connect):
    conn = connect()
    protocol = conn.protocol
    conn.feed(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nh")  # its app reads the body
    protocol.pause_writing()  # the transport's buffer is full
    # The cycle asks the protocol, which asks its Http11Connection: one place.
    assert protocol.writes_paused() and protocol.conn.write_paused
    conn.feed(b"i" + GET % b"b")
    assert [body for _, body in responses(conn.sent())] == [b"hi"]  # /b waits for the client to read
    assert asyncio.all_tasks(conn.loop)  # /echo's app waits in its last send
    protocol.resume_writing()
    conn.settle()
    assert not protocol.writes_paused() and not protocol.conn.write_paused
    assert [body for _, body in responses(conn.sent())] == [b"/b"]
    assert not asyncio.all_tasks(conn.loop)


def test_draining_an_answered_body_has_the_request_head_deadline_and_closes_silently(connect):
    conn = connect(timeout_request_header=2)
    conn.feed(b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n")
    assert responses(conn.sent()) == [(b"HTTP/1.1 200 OK", b"/a")]  # answered without reading the body
    conn.feed(b"abc")
    assert (conn.state, conn.pending) == ("HEAD", "request-body")
    conn.advance(2)
    assert conn.sent() == b""  # a 408 would read as the answer to a request never sent
    assert conn.transport.closed and conn.state == "CLOSING"


def test_shutdown_answers_a_request_on_its_way_then_closes(connect):
    conn = connect()
    conn.feed(b"GET /a HTTP/1.1\r\n")
    conn.protocol.shutdown()
    assert conn.state == "HEAD" and not conn.transport.closed
    conn.feed(b"Host: a\r\n\r\n")
    data = conn.sent()
    assert responses(data) == [(b"HTTP/1.1 200 OK", b"/a")] and b"connection: close" in data
    assert conn.transport.closed and conn.state == "CLOSING"


# -- the connection object alone (http11.py): no loop, no transport ---------------
# Times are plain numbers: the connection never reads a clock, it is told.
class Twin:
    """One twin's http11 module, and a real request parser of the same twin."""

    def __init__(self, implementation):
        suffix = "_c" if implementation == "compiled" else ""
        self.module = importlib.import_module("fastasgi.protocols.http11" + suffix)
        self.DEADLINE_NAMES = self.module.DEADLINE_NAMES
        config = Config(app, http="httptools" if implementation == "compiled" else "h11", lifespan="off",
                        http2=True)
        config.load()
        self.settings = importlib.import_module("fastasgi.protocols.state" + suffix).ConnectionSettings(config)

    def new_parser(self):
        return self.settings.RequestParser(*self.settings.parser_args)


@pytest.fixture(params=IMPLEMENTATIONS)
def http11(request):
    require_implementation(request.param)
    return Twin(request.param)


def new_connection(http11, timeout_write=0.0):
    # keep-alive 5 s, request head 10 s, watchdog every 1 s, HTTP/2's preface taken
    conn = http11.module.Http11Connection(http11.new_parser(), http11.settings.ParseError, 5.0, 10.0,
                                          timeout_write, 1.0, True)
    conn.accepted(100.0)
    return conn


def on_deadline(http11, conn, now, closing, draining, busy):
    """The name of what the connection says to do when its deadline passes at `now`
    (compiled, the kinds are C constants: their names are what both twins export)."""
    return http11.DEADLINE_NAMES[conn.on_deadline(now, closing, draining, busy)]


def where(http11, conn, closing=False, draining=False, busy=False):
    """(state name, pending deadline's name, deadline)."""
    return (conn.state_name, http11.DEADLINE_NAMES[conn.pending_deadline(closing, draining, busy)], conn.deadline)


def test_a_connection_alone_goes_through_one_request_and_keep_alive(http11):
    conn = new_connection(http11)
    assert where(http11, conn) == ("NEW", "keep-alive", 105.0)
    assert conn.feed(b"GET / HTTP/1.1\r\nHost: a", 101.0) == []
    assert where(http11, conn) == ("HEAD", "request-head", 111.0)
    head, end = conn.feed(b"\r\n\r\n", 102.0)  # the rest of the same head: the deadline stays
    assert (head.method, head.path, end) == ("GET", "/", None)
    assert where(http11, conn) == ("HEAD", "request-head", 111.0)
    conn.request_started(103.0)
    assert where(http11, conn, busy=True) == ("BUSY", "watchdog", 104.0)
    conn.idle(103.5)
    assert where(http11, conn) == ("IDLE", "keep-alive", 108.5)
    assert on_deadline(http11, conn, 108.5, False, False, False) == "keep-alive"
    assert conn.deadline == 0.0  # the caller closes and arms what comes next


def test_a_connection_alone_answers_a_head_that_is_late_with_the_request_head_kind(http11):
    conn = new_connection(http11)
    conn.feed(b"GET / HTTP/1.1\r\n", 100.0)
    assert on_deadline(http11, conn, 110.0, False, False, False) == "request-head"
    # A body still arriving for a request already answered is drained, not answered.
    conn = new_connection(http11)
    conn.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nabc", 100.0)
    assert on_deadline(http11, conn, 110.0, False, True, False) == "request-body"


def test_a_connection_alone_holds_an_upgrade_and_an_error_for_the_responses_before_them(http11):
    conn = new_connection(http11)
    conn.feed(b"GET / HTTP/1.1\r\nHost: a\r\n", 100.0)
    conn.request_started(100.0)
    head = object()
    conn.upgrading(head)
    assert (conn.state_name, conn.upgrade_head) == ("UPGRADING", head)
    conn.switched()  # the websocket's deadlines are its own
    assert (conn.state_name, conn.upgrade_head, conn.deadline) == ("SWITCHED", None, 0.0)

    conn = new_connection(http11)
    conn.request_started(100.0)
    error = Exception("a parse error")  # (the protocol reads its status and reason)
    conn.must_error(error)
    assert (conn.state_name, conn.pending_error) == ("MUST_ERROR", error)
    conn.close_requests()
    assert conn.state_name == "CLOSING"
    conn.must_error(error)  # closing already: it stays closing
    assert conn.state_name == "CLOSING"
    assert http11.DEADLINE_NAMES[conn.state_deadline(False, False, False)] == "keep-alive"
    assert http11.DEADLINE_NAMES[conn.state_deadline(False, False, True)] == "watchdog"


def test_a_stalled_write_comes_before_the_state_deadline_and_aborts(http11):
    conn = new_connection(http11, timeout_write=1.0)
    conn.idle(100.0)
    conn.pause_writing(100.0)
    assert where(http11, conn) == ("IDLE", "write", 101.0)  # before keep-alive's 105
    assert on_deadline(http11, conn, 101.0, False, False, False) == "write"
    assert conn.state_name == "CLOSING"

    # The client read in time: the state's deadline is armed again.
    conn = new_connection(http11, timeout_write=1.0)
    conn.idle(100.0)
    conn.pause_writing(100.0)
    conn.resume_writing()
    assert on_deadline(http11, conn, 101.0, False, False, False) == "none"
    assert where(http11, conn) == ("IDLE", "keep-alive", 105.0)


def test_a_closing_transport_gets_the_write_timeout_to_take_the_rest(http11):
    conn = new_connection(http11, timeout_write=2.0)
    conn.close_requests()
    assert on_deadline(http11, conn, 105.0, True, False, False) == "none"  # first seen closing
    assert conn.deadline == 106.0
    assert http11.DEADLINE_NAMES[conn.pending_deadline(True, False, False)] == "flush"
    assert on_deadline(http11, conn, 106.0, True, False, False) == "none"
    assert on_deadline(http11, conn, 107.0, True, False, False) == "flush"
    conn.connection_lost()
    assert (conn.state_name, conn.deadline) == ("CLOSED", 0.0)


def test_a_connection_alone_parses_pipelined_requests_and_their_bodies(http11):
    conn = new_connection(http11)
    events = conn.feed(b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
                       b"GET /b HTTP/1.1\r\nHost: a\r\n\r\n", 100.0)
    assert [event.path if hasattr(event, "path") else event for event in events] == ["/a", b"abc", None, "/b", None]
    assert (conn.state_name, conn.error) == ("HEAD", None)


def test_a_connection_alone_gives_the_requests_before_bad_bytes_then_the_error(http11):
    conn = new_connection(http11)
    events = conn.feed(b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nBad Field: x\r\n\r\n", 100.0)
    assert [event.path for event in events[::2]] == ["/a"] and events[1:] == [None]
    assert (conn.error.status_code, conn.state_name) == (400, "HEAD")


def test_a_connection_alone_leaves_http2s_preface_to_its_caller(http11):
    conn = new_connection(http11)
    assert conn.feed(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 100.0) is None
    assert conn.state_name == "NEW"  # nothing was parsed: the HTTP/2 protocol takes the bytes


def test_a_connection_alone_holds_response_bytes_until_they_are_taken(http11):
    conn = new_connection(http11)
    assert conn.data_to_send() is None
    held = [conn.hold(b"HTTP/1.1 200 OK\r\n\r\n"), conn.hold(b"a" * 1000)]
    assert [http11.module.HOLD_NAMES[what] for what in held] == ["first", "held"]
    assert conn.data_to_send() == [b"HTTP/1.1 200 OK\r\n\r\n", b"a" * 1000]
    assert conn.data_to_send() is None  # taken: the next bytes start a batch again
    conn.hold(b"b")
    assert http11.module.HOLD_NAMES[conn.hold(b"c" * http11.module.OUT_BUFFER_SIZE)] == "full"
    assert b"".join(conn.data_to_send()) == b"b" + b"c" * http11.module.OUT_BUFFER_SIZE


def parsed_head(http11, request):
    """The RequestHead of one whole request, from a parser of the twin."""
    return http11.new_parser().feed(request)[0]


UPGRADE_TO = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n"


def test_a_connection_alone_decides_what_each_head_asks_for(http11):
    module = http11.module
    kind = module.REQUEST_KIND_NAMES
    conn = new_connection(http11)  # HTTP/2 on, websocket served
    conn.upgrade_token = b"websocket"
    assert kind[conn.request_head(parsed_head(http11, GET % b"a"), 101.0)] == "plain"
    assert (conn.requests, conn.state_name, conn.deadline) == (1, "BUSY", 102.0)  # the watchdog is armed
    # h2c with nothing running: handed over, not counted here ...
    assert kind[conn.request_head(parsed_head(http11, UPGRADE_TO % b"h2c"), 101.0)] == "h2c"
    assert conn.requests == 1
    conn.serve_plain()  # ... unless HTTP/2 cannot take it: then it is a plain request
    assert conn.requests == 2
    # ... and behind a running response it is a plain request.
    conn.queue("the running request")
    assert kind[conn.request_head(parsed_head(http11, UPGRADE_TO % b"h2c"), 101.0)] == "plain"
    assert kind[conn.request_head(parsed_head(http11, UPGRADE_TO % b"foo"), 101.0)] == "plain"  # not served
    websocket = parsed_head(http11, UPGRADE_TO % b"WebSocket")
    assert kind[conn.request_head(websocket, 101.0)] == "websocket"
    assert (conn.requests, conn.state_name, conn.upgrade_head) == (4, "UPGRADING", websocket)

    conn = new_connection(http11)
    conn.upgrade_token = None  # --ws none
    conn.http2 = False
    assert kind[conn.request_head(parsed_head(http11, UPGRADE_TO % b"websocket"), 101.0)] == "plain"
    assert kind[conn.request_head(parsed_head(http11, UPGRADE_TO % b"h2c"), 101.0)] == "plain"
    assert (conn.requests, conn.upgrade_head) == (2, None)


def test_a_connection_alone_keeps_the_running_request_and_those_queued_behind_it(http11):
    conn = new_connection(http11)
    assert conn.may_start() and conn.queue("first")  # nothing runs: it starts
    assert not conn.queue("second") and not conn.queue("third")  # they wait, in order
    assert (conn.running, conn.queued, conn.may_start()) == ("first", ["second", "third"], False)
    conn.response_done()
    assert conn.may_start() and conn.next_request() == "second"
    assert (conn.running, conn.queued) == ("second", ["third"])
    conn.response_done()
    conn.pause_writing(102.0)  # a client that reads nothing gets no next response
    assert not conn.may_start()
    conn.resume_writing()
    assert conn.may_start()
    conn.close_requests()  # and none after the last
    assert not conn.may_start() and not conn.queue("fourth")
    conn.connection_lost()
    assert conn.queued == []


def test_a_connection_alone_watches_the_request_body(http11):
    names = http11.module.BODY_NAMES
    # --timeout-request-body 2 s (idle), --timeout-request-body-total 5 s
    conn = new_connection(http11)
    conn.timeout_request_body, conn.timeout_request_body_total = 2.0, 5.0
    conn.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n", 100.0)
    conn.request_started(100.0)
    assert names[conn.watch_body(101.0, True)] == "on time"  # bytes came since the last look
    assert conn.deadline == 102.0  # armed again, watch_interval on
    assert names[conn.watch_body(102.0, True)] == "on time"  # quiet for 1 s
    assert names[conn.watch_body(103.0, True)] == "idle"  # quiet for 2 s

    # Time the server does not wait on the client (the app is behind, or the
    # client waits for 100 Continue) counts for neither timeout.
    conn = new_connection(http11)
    conn.timeout_request_body, conn.timeout_request_body_total = 2.0, 5.0
    conn.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n", 100.0)
    conn.request_started(100.0)
    for now in (101.0, 102.0, 103.0, 110.0):
        assert names[conn.watch_body(now, False)] == "on time"
    assert names[conn.watch_body(111.0, True)] == "on time"  # first byte counted ...
    conn.feed(b"x", 111.5)
    assert names[conn.watch_body(112.0, True)] == "on time"
    conn.feed(b"x", 112.5)
    assert names[conn.watch_body(113.0, True)] == "on time"
    conn.feed(b"x", 113.5)
    assert names[conn.watch_body(114.0, True)] == "on time"
    conn.feed(b"x", 114.5)
    assert names[conn.watch_body(115.0, True)] == "total"  # 5 s of waiting in all, though never idle
