"""What an adversarial client found (issue 28), kept out: one test per defect.

Real servers on loopback (tests.reliability_apps) on both implementations,
raw sockets where the bytes matter, RSS read from the server's own
/proc/self/status where the defect was about memory.  Every wait is bounded
by a short configured timeout.
"""
import signal
import socket
import struct
import time

import pytest

from .conftest import IMPLEMENTATIONS, ServerProcess, read_response, recv_until_closed, require_implementation
from .process_utils import STOPPED_BY_SIGTERM, wait_until

pytestmark = pytest.mark.timeout(40)

APP = "tests.reliability_apps:app"


def get(target=b"/", headers=b""):
    return b"GET " + target + b" HTTP/1.1\r\nHost: t\r\n" + headers + b"\r\n"


def ask(server, request):
    """One request on its own connection: (status, headers as a lower-cased dict, body)."""
    with server.connect() as sock:
        sock.sendall(request)
        status, headers, body, _, _ = read_response(sock)
    return status, {k.lower(): v for k, v in headers}, body


def rss_kib(server):
    return int(ask(server, get(b"/rss"))[2])


def still_serving(server):
    assert ask(server, get())[::2] == (200, b"ok")


def no_traceback(server, since=0):
    """No traceback in `server`'s log from line `since` on (a shared server: the test's own lines)."""
    time.sleep(0.2)
    assert ask(server, get(b"/gc"))[0] == 200  # a task's unretrieved exception is logged when it is collected
    log = "\n".join(server.lines[since:])
    assert "Traceback" not in log and "never retrieved" not in log, log


@pytest.fixture(scope="module", params=IMPLEMENTATIONS)
def shared_server(request):
    """One server per implementation for the tests that need no option of
    their own, raise nothing in the app and leave it serving: a server per
    test would only add its start-up.  Those that make the app raise keep
    their own, so no traceback of theirs lands in another test's lines."""
    require_implementation(request.param)
    server = ServerProcess(APP, request.param)
    yield server
    server.stop()


def non_reading_socket(server):
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((server.host, server.port))
    return sock


# -- 1. a client that pipelines and never reads --------------------------------------------
def test_pipelining_client_that_never_reads_keeps_memory_flat(start_server, implementation):
    server = start_server(APP, implementation, "--timeout-write", "1")
    before = rss_kib(server)
    with non_reading_socket(server) as sock:
        # 200 requests for 1 MiB each, every response in one send(): 200 MiB if all were served.
        sock.sendall(get(b"/blob?size=1048576") * 200)
        time.sleep(0.5)
        grown = rss_kib(server) - before
        # At most one response's worth (plus the transport's high-water mark) is held.
        assert grown < 24 * 1024, f"RSS grew by {grown} KiB"
        # No pipelined request starts while writing is paused: only the few
        # responses the kernel's socket buffers took whole were served.
        served = server.log.count("blob started")
        assert served <= 6
        # --timeout-write: the stall (no write progress at all) aborts the connection.
        assert server.wait_for_log("read none of the response", timeout=6)
    assert server.log.count("blob started") == served
    still_serving(server)


def test_write_timeout_is_not_pushed_back_by_new_request_heads(start_server, implementation):
    server = start_server(APP, implementation, "--timeout-write", "1")
    with non_reading_socket(server) as sock:
        sock.sendall(get(b"/blob?size=4194304"))
        started = time.monotonic()
        aborted = False
        while time.monotonic() - started < 6:  # a head every 0.2 s, as the attacker's pipeline did
            try:
                sock.sendall(get(b"/"))
            except OSError:
                aborted = True
                break
            if "read none of the response" in server.log:
                aborted = True
                break
            time.sleep(0.2)
        elapsed = time.monotonic() - started
    assert aborted and server.wait_for_log("read none of the response", timeout=2)
    assert elapsed < 4, elapsed
    still_serving(server)


def test_pipelined_requests_still_served_in_order_to_a_reading_client(shared_server):
    """The other side of item 1: a client that reads gets every pipelined response."""
    server = shared_server
    with server.connect(timeout=10) as sock:
        sock.sendall(get(b"/blob?size=1048576") * 8 + get(b"/"))
        rest = b""
        for _ in range(8):
            status, _, body, _, rest = read_response(sock, timeout=10, buffer=rest)
            assert status == 200 and len(body) == 1048576
        status, _, body, _, _ = read_response(sock, buffer=rest)
        assert (status, body) == (200, b"ok")


# -- 2. websocket data before accept ---------------------------------------------------------
def ws_handshake(path):
    return (b"GET " + path + b" HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


def ws_frame(payload, opcode=0x2, mask=True):
    head = bytes([0x80 | opcode])
    size = len(payload)
    bit = 0x80 if mask else 0
    if size < 126:
        head += bytes([bit | size])
    elif size < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", size)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", size)
    if not mask:
        return head + payload
    key = b"\x00\x00\x00\x00"  # a zero mask: the payload stays as it is
    return head + key + payload


def test_websocket_data_before_accept_is_bounded(start_server, implementation):
    server = start_server(APP, implementation)
    before = rss_kib(server)
    frame = ws_frame(b"m" * (1 << 20))
    with server.connect() as sock:
        sock.sendall(ws_handshake(b"/ws-late-accept?t=1.2"))
        sock.settimeout(0.05)
        sent = 0
        started = time.monotonic()
        latencies = []
        while time.monotonic() - started < 0.9:  # stream while the app has not accepted yet
            try:
                sent += sock.send(frame)
            except socket.timeout:
                pass
            if len(latencies) < 3 and time.monotonic() - started > 0.3 * (len(latencies) + 1):
                asked = time.monotonic()
                still_serving(server)  # another client is served meanwhile, promptly
                latencies.append(time.monotonic() - asked)
        grown = rss_kib(server) - before
        assert grown < 16 * 1024, f"RSS grew by {grown} KiB while {sent} bytes were sent"
        assert max(latencies) < 1.0, latencies
        # After accept, what was held back is read, in order: one 1 MiB message per frame.
        sock.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        assert data.startswith(b"HTTP/1.1 101")
        rest = data.partition(b"\r\n\r\n")[2]
        while len(rest) < 2 + len(b"1048576"):
            rest += sock.recv(65536)
        assert rest[:2] == b"\x81\x07" and rest[2:9] == b"1048576"
    no_traceback(server)


# -- 3. response framing ----------------------------------------------------------------------
def framing(server, query, version=b"HTTP/1.1"):
    """(status, lower-cased head, body as framed on the wire) of /framing?query, on a closing connection."""
    with server.connect() as sock:
        sock.sendall(b"GET /framing?" + query + b" " + version + b"\r\nHost: t\r\nConnection: close\r\n\r\n")
        data = recv_until_closed(sock, timeout=5)
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), head.lower(), body


@pytest.mark.parametrize("query", [b"te=chunked&cl=5", b"te=gzip&cl=5", b"te=chunked,gzip",
                                   b"te=chunked&te2=gzip", b"te=chunked,chunked", b"te=,"])
def test_response_framing_that_cannot_be_honoured_is_a_500(start_server, implementation, query):
    server = start_server(APP, implementation)
    status, head, body = framing(server, query)
    assert status == 500 and b"connection: close" in head and body == b"Internal Server Error"
    assert server.wait_for_log("Exception in ASGI application")
    still_serving(server)


def test_response_framing_follows_the_apps_last_coding(shared_server):
    server = shared_server
    since = len(server.lines)  # the server is shared: this test's lines only
    # chunked last: the server chunks; the header and the bytes agree
    status, head, body = framing(server, b"te=gzip,chunked")
    assert status == 200 and b"transfer-encoding: gzip,chunked" in head and b"content-length" not in head
    assert body == b"5\r\nhello\r\n0\r\n\r\n"
    status, head, body = framing(server, b"te=gzip&te2=chunked")
    assert status == 200 and b"content-length" not in head and body == b"5\r\nhello\r\n0\r\n\r\n"
    # another coding last (RFC 9112 6.1): the body as the app coded it, ended by the close
    status, head, body = framing(server, b"te=gzip")
    assert status == 200 and b"content-length" not in head and b"connection: close" in head
    assert body == b"hello"
    # HTTP/1.0 knows no transfer codings: the header goes, the length frames it
    for query in (b"te=gzip", b"te=chunked"):
        status, head, body = framing(server, query, b"HTTP/1.0")
        assert status == 200 and b"transfer-encoding" not in head and body == b"hello"
        assert b"content-length: 5" in head or b"connection: close" in head
    no_traceback(server, since)


# -- 4 and 5. websocket handshakes and violations --------------------------------------------
@pytest.mark.parametrize("extra, status", [
    (b"Cookie: " + b"c" * 9000 + b"\r\n", 431),
    (b"Content-Length: 3\r\n", 400),
    (b"Transfer-Encoding: chunked\r\n", 400),
    (b"Sec-WebSocket-Version: 13\r\n", 400),  # a second one
    (b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", 400),
], ids=["9KB-cookie", "content-length-body", "chunked-body", "two-versions", "two-keys"])
def test_bad_websocket_handshake_gets_an_http_answer(shared_server, extra, status):
    server = shared_server
    since = len(server.lines)  # the server is shared: this test's lines only
    request = ws_handshake(b"/echo").replace(b"\r\n\r\n", b"\r\n" + extra + b"\r\n")
    body = b"abc" if b"Content-Length" in extra else b"0\r\n\r\n" if b"chunked" in extra else b""
    with server.connect() as sock:
        sock.sendall(request + body)
        data = recv_until_closed(sock)
    assert data.startswith(b"HTTP/1.1 %d " % status) and b"connection: close" in data.lower()
    assert wait_until(lambda: any("Invalid WebSocket handshake" in line for line in server.lines[since:]), 5)
    warnings = [line for line in server.lines[since:] if "Invalid WebSocket handshake" in line]
    assert len(warnings) == 1 and "WARNING" in warnings[0]
    no_traceback(server, since)
    still_serving(server)


def test_websocket_protocol_violation_leaves_no_traceback(shared_server):
    server = shared_server
    since = len(server.lines)  # the server is shared: this test's lines only
    for violation in (ws_frame(b"unmasked", mask=False), ws_frame(b"\xff\xfe", opcode=0x1),
                      b"\x8f\x80\x00\x00\x00\x00"):  # an unmasked frame, bad UTF-8, a reserved opcode
        with server.connect() as sock:
            sock.sendall(ws_handshake(b"/echo"))
            data = b""
            while b"\r\n\r\n" not in data:
                data += sock.recv(65536)
            assert data.startswith(b"HTTP/1.1 101")
            sock.sendall(ws_frame(b"fine"))
            data = data.partition(b"\r\n\r\n")[2]
            while len(data) < 6:
                data += sock.recv(65536)
            assert data == b"\x82\x04fine"  # the app echoes ...
            sock.sendall(violation)
            data = recv_until_closed(sock)
        assert data[:1] == b"\x88"  # ... until the violation: the library's close frame, then the end
    no_traceback(server, since)
    still_serving(server)


# -- 6 is in test_parser_agreement.py --------------------------------------------------------
# -- 7. a 1xx status as the final response ---------------------------------------------------
@pytest.mark.parametrize("code", [100, 101, 103])
def test_informational_status_as_final_response_is_a_500(start_server, implementation, code):
    server = start_server(APP, implementation)
    with server.connect() as sock:
        sock.sendall(get(b"/status?code=%d" % code) + get())
        status, headers, body, _, rest = read_response(sock)
        assert status == 500 and body == b"Internal Server Error"
        assert (b"connection", b"close") in [(k.lower(), v) for k, v in headers]
        assert rest + recv_until_closed(sock) == b""  # nothing the client could take for the next answer
    assert server.wait_for_log("informational (1xx)")
    assert "Exception in ASGI application" in server.log
    still_serving(server)


# -- 8. valid pipelined requests before a malformed one ---------------------------------------
@pytest.mark.parametrize("bad", [b"GET / HTTP/1.1\r\nHost: t\r\nBad header\r\n\r\n",
                                 b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                                 b"GET /\x01 HTTP/1.1\r\n\r\n"])
def test_valid_pipelined_requests_are_answered_before_the_400(shared_server, bad):
    server = shared_server
    with server.connect() as sock:
        sock.sendall(get(b"/?1") + b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
                     + get(b"/?3") + bad)  # one segment
        answers = []
        rest = b""
        for _ in range(4):
            status, _, body, _, rest = read_response(sock, buffer=rest)
            answers.append((status, body))
        assert rest + recv_until_closed(sock) == b""
    assert answers[:3] == [(200, b"ok"), (200, b"abc"), (200, b"ok")]
    assert answers[3][0] == 400
    still_serving(server)


# -- also: graceful shutdown, Expect: 100-continue, the total body timeout ------------------
def test_request_cut_by_graceful_shutdown_timeout_gets_a_500(start_server, implementation):
    server = start_server(APP, implementation, "--timeout-graceful-shutdown", "1")
    with server.connect() as sock:
        sock.sendall(get(b"/slow?t=30"))
        assert server.wait_for_log("slow request started")
        server.send_signal(signal.SIGTERM)
        status, headers, body, _, _ = read_response(sock, timeout=5)
    assert status == 500 and (b"connection", b"close") in [(k.lower(), v) for k, v in headers]
    assert server.process.wait(10) == STOPPED_BY_SIGTERM  # drained, then SIGTERM re-raised (as uvicorn)


def test_expect_100_continue_answered_without_reading_closes(shared_server):
    server = shared_server
    with server.connect() as sock:
        # The app answers without reading; the client never got its 100 and
        # sends its next request, not the 5 body bytes it announced.
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        status, headers, body, _, rest = read_response(sock)
        assert (status, body) == (200, b"ok")
        assert (b"connection", b"close") in [(k.lower(), v) for k, v in headers]
        try:
            sock.sendall(get(b"/headers"))
        except OSError:
            pass
        assert rest + recv_until_closed(sock) == b""  # never served as a body, nor as a request
    # A client that read its 100 and sent the body keeps its connection.
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        status, _, _, _, rest = read_response(sock)
        assert status == 100
        sock.sendall(b"hello" + get())
        status, headers, body, _, rest = read_response(sock, buffer=rest)
        assert (status, body) == (200, b"hello")
        assert read_response(sock, buffer=rest)[:3:2] == (200, b"ok")


def test_total_request_body_timeout_stops_a_trickling_client(start_server, implementation):
    server = start_server(APP, implementation, "--timeout-request-body", "5",
                          "--timeout-request-body-total", "1")
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n")
        started = time.monotonic()
        data = b""
        sock.settimeout(0.3)
        while time.monotonic() - started < 5:  # a byte every 0.3 s: never idle for 5 s
            try:
                sock.sendall(b"x")
                data += sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                break
            if not data or b"\r\n\r\n" in data:
                break
        data += recv_until_closed(sock, timeout=3)
        elapsed = time.monotonic() - started
    assert data.startswith(b"HTTP/1.1 408 ") and b"connection: close" in data
    assert 0.9 < elapsed < 3, elapsed
    assert server.wait_for_log("not complete within 1.0 s")
    still_serving(server)
