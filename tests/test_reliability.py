"""Limits, strictness gaps, slow clients and faults, on both implementations.

Real servers on loopback (tests.reliability_apps), raw sockets where the
bytes matter.  Smuggling shapes already covered by test_http_errors.py and
the parser corpus in test_speedups_differential.py are not repeated here.
"""
import json
import signal
import socket
import threading
import time

import pytest

from .conftest import needs_proc, read_response, recv_until_closed

pytestmark = pytest.mark.timeout(40)

APP = "tests.reliability_apps:app"


def status_of(data):
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else None


def exchange(server, request, timeout=5):
    """Send raw bytes, read until the server closes; the status and the raw reply."""
    with server.connect(timeout=timeout) as sock:
        sock.sendall(request)
        data = recv_until_closed(sock, timeout=timeout)
    return status_of(data), data


def ask(server, request):
    """One request on its own connection: (status, headers, body)."""
    with server.connect() as sock:
        sock.sendall(request)
        status, headers, body, _, _ = read_response(sock)
    return status, dict((k.lower(), v) for k, v in headers), body


def still_serving(server):
    assert ask(server, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")[::2] == (200, b"ok")


def get(target=b"/", headers=b"", version=b"HTTP/1.1"):
    return b"GET " + target + b" " + version + b"\r\nHost: t\r\n" + headers + b"\r\n"


# -- limits -----------------------------------------------------------------------------
@pytest.fixture
def limited(start_server, implementation):
    return start_server(APP, implementation, "--limit-request-line", "100", "--limit-request-fields", "5",
                        "--limit-request-header-size", "2048", "--limit-request-body", "10")


def test_request_line_limit_414(limited):
    line_of = lambda n: b"/" + b"a" * (n - len(b"GET / HTTP/1.1") ) # noqa: E731 - a target making an n-byte line
    assert ask(limited, get(line_of(100)))[0] == 404  # exactly at the limit: served
    status, data = exchange(limited, get(line_of(101)))
    assert status == 414 and b"connection: close" in data
    # an endless request line is refused without waiting for its end
    status, data = exchange(limited, b"GET /" + b"a" * 300)
    assert status == 414
    assert limited.wait_for_log("Request line too long")
    line = [line for line in limited.lines if "Request line too long" in line][-1]
    assert "WARNING" in line and "127.0.0.1" in line
    still_serving(limited)


def test_header_count_limit_431(limited):
    four = b"".join(b"X-%d: v\r\n" % i for i in range(4))  # with Host: 5 fields
    assert ask(limited, get(b"/", four))[0] == 200
    status, data = exchange(limited, get(b"/", four + b"X-5: v\r\n"))
    assert status == 431 and b"connection: close" in data
    assert limited.wait_for_log("Too many header fields")
    still_serving(limited)


def test_header_bytes_limit_431(limited):
    assert ask(limited, get(b"/", b"X-Fill: " + b"a" * 1900 + b"\r\n"))[0] == 200
    status, _ = exchange(limited, get(b"/", b"X-Fill: " + b"a" * 2100 + b"\r\n"))
    assert status == 431
    assert limited.wait_for_log("Request head too large")


def test_body_limit_413_by_content_length(limited):
    post = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n"
    assert ask(limited, post % 10 + b"0123456789")[::2] == (200, b"0123456789")
    # refused from the head alone: the body is never read, the app never runs
    status, data = exchange(limited, post % 11)
    assert status == 413 and b"connection: close" in data
    assert limited.wait_for_log("Request body too large")
    still_serving(limited)


def test_body_limit_413_by_counting_chunks(limited):
    post = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert ask(limited, post + b"5\r\nabcde\r\n5\r\nfghij\r\n0\r\n\r\n")[::2] == (200, b"abcdefghij")
    status, data = exchange(limited, post + b"5\r\nabcde\r\n6\r\nfghijk\r\n0\r\n\r\n")
    assert status == 413 and b"connection: close" in data
    # the app was already reading: it gets the 413 as soon as the count passes
    with limited.connect() as sock:
        sock.sendall(post + b"8\r\nabcdefgh\r\n")
        time.sleep(0.2)
        sock.sendall(b"8\r\nabcdefgh\r\n")
        data = recv_until_closed(sock)
    assert status_of(data) == 413
    still_serving(limited)


def test_default_limits(start_server, implementation):
    server = start_server(APP, implementation)
    target = b"/" + b"a" * (8190 - len(b"GET / HTTP/1.1"))
    assert ask(server, get(target))[0] == 404  # an 8190-byte request line is served
    assert exchange(server, get(target + b"a"))[0] == 414
    many = b"".join(b"X-%d: v\r\n" % i for i in range(99))
    assert ask(server, get(b"/", many))[0] == 200  # 100 fields with Host
    assert exchange(server, get(b"/", many + b"X-100: v\r\n"))[0] == 431
    # no body limit by default
    body = b"b" * (3 * 1024 * 1024)
    status, _, reply = ask(server, b"POST /size HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    assert (status, reply) == (200, b"%d" % len(body))


# -- strictness gaps -------------------------------------------------------------------------
def test_absolute_form_target_host_wins(start_server, implementation):
    """RFC 9112 3.2.2: the authority of an absolute-form target replaces Host."""
    server = start_server(APP, implementation)
    status, _, body = ask(server, b"GET http://real.example:8080/headers?q=1 HTTP/1.1\r\n"
                                  b"Host: other.example\r\nX-A: 1\r\n\r\n")
    seen = json.loads(body)
    assert status == 200
    assert seen["path"] == "/headers" and seen["query"] == "q=1"
    assert ["host", "real.example:8080"] in seen["headers"]
    assert not any(value == "other.example" for _, value in seen["headers"])
    for target in (b"ftp://real.example/headers", b"http://user@real.example/headers", b"http:///headers",
                   b"http://?x"):
        status, data = exchange(server, get(target))
        assert status == 400, target
    still_serving(server)


def test_header_values_are_trimmed(start_server, implementation):
    server = start_server(APP, implementation)
    status, _, body = ask(server, get(b"/headers", b"X-A: \t  spaced value \t \r\nX-B:\t\r\nX-C:x\r\n"))
    headers = json.loads(body)["headers"]
    assert ["x-a", "spaced value"] in headers and ["x-b", ""] in headers and ["x-c", "x"] in headers


def test_http10_never_gets_chunked_framing_from_the_server(start_server, implementation):
    server = start_server(APP, implementation)
    with server.connect() as sock:
        sock.sendall(b"GET /big?n=3&chunk=5 HTTP/1.0\r\n\r\n")
        data = recv_until_closed(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"transfer-encoding" not in head.lower() and body == b"x" * 15


def test_http10_never_gets_chunked_even_when_the_app_asks(start_server, implementation):
    server = start_server(APP, implementation)
    with server.connect() as sock:
        sock.sendall(b"GET /te-chunked HTTP/1.0\r\n\r\n")
        data = recv_until_closed(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"transfer-encoding" not in head.lower() and body == b"abcdef"


# -- slow clients ----------------------------------------------------------------------------
def test_slowloris_trickling_head_gets_408(start_server, implementation):
    server = start_server(APP, implementation, "--timeout-request-header", "1")
    request = get(b"/", b"X-Slow: " + b"s" * 200 + b"\r\n")
    with server.connect() as sock:
        started = time.monotonic()
        data = b""
        for byte in request[:-4]:  # never completes the head
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            sock.settimeout(0.05)
            try:
                data += sock.recv(4096)
            except socket.timeout:
                pass
            if data or time.monotonic() - started > 4:
                break
        data += recv_until_closed(sock, timeout=3)
        elapsed = time.monotonic() - started
    assert status_of(data) == 408 and 0.8 < elapsed < 3
    assert server.wait_for_log("not complete within")


def test_stalled_body_gets_408(start_server, implementation):
    server = start_server(APP, implementation, "--timeout-request-body", "0.5")
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
        started = time.monotonic()
        data = recv_until_closed(sock, timeout=5)
        elapsed = time.monotonic() - started
    assert status_of(data) == 408 and b"connection: close" in data
    assert 0.4 < elapsed < 3
    assert server.wait_for_log("sent nothing for")
    still_serving(server)


def test_trickling_body_within_the_idle_timeout_completes(start_server, implementation):
    server = start_server(APP, implementation, "--timeout-request-body", "0.6")
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\n")
        for byte in b"abcdef":  # 0.9 s in all, never idle for 0.6 s
            time.sleep(0.15)
            sock.sendall(bytes([byte]))
        status, _, body, _, _ = read_response(sock)
    assert (status, body) == (200, b"abcdef")


def test_client_waiting_for_100_continue_is_not_timed_out(start_server, implementation):
    server = start_server(APP, implementation, "--timeout-request-body", "0.5")
    with server.connect() as sock:
        sock.sendall(b"POST /late-reader?t=1 HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                     b"Content-Length: 4\r\n\r\n")
        status, _, _, _, rest = read_response(sock)
        assert status == 100
        sock.sendall(b"body")
        status, _, body, _, _ = read_response(sock, buffer=rest)
    assert (status, body) == (200, b"body")


@needs_proc  # the app reports its memory from /proc
def test_client_that_stops_reading_is_aborted(start_server, implementation):
    server = start_server(APP, implementation, "--timeout-write", "1")
    # RSS before, as the baseline: PyPy's own is about 200 MiB already.
    rss_before = int(ask(server, b"GET /rss HTTP/1.1\r\nHost: t\r\n\r\n")[2])
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((server.host, server.port))
    with sock:
        sock.sendall(b"GET /big?n=2000 HTTP/1.1\r\nHost: t\r\n\r\n")  # 125 MiB, never read
        assert server.wait_for_log("read none of the response", timeout=8)
        rss = int(ask(server, b"GET /rss HTTP/1.1\r\nHost: t\r\n\r\n")[2])
        assert rss - rss_before < 64 * 1024  # KiB: the response was never buffered whole
        sock.settimeout(5)
        with pytest.raises((ConnectionResetError, AssertionError)):
            while sock.recv(1 << 20):
                pass
            raise AssertionError("closed cleanly")  # an abort is fine too: either way it ended
    still_serving(server)


def test_closed_connection_that_never_drains_is_aborted(start_server, implementation):
    """HTTP/1.0 + a large body: the server closes after writing, the client never reads."""
    server = start_server(APP, implementation, "--timeout-write", "1")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((server.host, server.port))
    with sock:
        sock.sendall(b"GET /big?n=400 HTTP/1.0\r\n\r\n")
        assert server.wait_for_log("Client 127.0.0.1", timeout=8)
    still_serving(server)


# -- faults ------------------------------------------------------------------------------------
def test_disconnect_mid_request_and_mid_response(start_server, implementation):
    server = start_server(APP, implementation)
    for _ in range(5):
        with server.connect() as sock:  # mid-head
            sock.sendall(b"GET / HTTP/1.1\r\nHo")
        with server.connect() as sock:  # mid-body, the app waiting for it
            sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc")
            time.sleep(0.05)
        with server.connect() as sock:  # mid-response
            sock.sendall(b"GET /big?n=200 HTTP/1.1\r\nHost: t\r\n\r\n")
            assert sock.recv(65536)
        sock = server.connect()  # reset instead of FIN, mid-response
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.sendall(b"GET /big?n=200 HTTP/1.1\r\nHost: t\r\n\r\n")
        sock.recv(65536)
        sock.close()
    still_serving(server)
    time.sleep(0.3)
    assert "Traceback" not in server.log


def test_app_that_raises_hangs_or_leaks_a_task(start_server, implementation):
    server = start_server(APP, implementation, "--timeout-graceful-shutdown", "1")
    for _ in range(3):
        assert exchange(server, get(b"/raise"))[0] == 500
        assert ask(server, get(b"/leak"))[0] == 200
    hanging = [server.connect() for _ in range(3)]
    for sock in hanging:
        sock.sendall(get(b"/hang"))
    time.sleep(0.2)
    hanging[0].close()  # a client gives up on a hung app
    still_serving(server)
    assert server.log.count("Exception in ASGI application") == 3
    started = time.monotonic()
    assert server.stop(signal.SIGTERM) == -signal.SIGTERM  # hung apps cancelled after the grace; SIGTERM re-raised
    assert time.monotonic() - started < 6
    for sock in hanging[1:]:
        sock.close()


def test_sigterm_under_load_loses_no_started_request(start_server, implementation):
    server = start_server(APP, implementation, "--timeout-graceful-shutdown", "10")
    count = 40
    results = [None] * count
    socks = [server.connect(timeout=10) for _ in range(count)]

    def client(i):
        try:
            results[i] = read_response(socks[i], timeout=10)[:3:2]
        except OSError as exc:
            results[i] = exc

    for sock in socks:
        sock.sendall(b"GET /slow?t=0.5 HTTP/1.1\r\nHost: t\r\n\r\n")
    threads = [threading.Thread(target=client, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while server.log.count("slow request started") < count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.log.count("slow request started") == count
    server.send_signal(signal.SIGTERM)
    for thread in threads:
        thread.join(15)
    for sock in socks:
        sock.close()
    assert results == [(200, b"slow done")] * count
    # It exits by itself: a second SIGTERM (server.stop) could land after its
    # handlers are gone and read as a crash.
    assert server.process.wait(15) == -signal.SIGTERM  # drained, then the SIGTERM re-raised (as uvicorn)
