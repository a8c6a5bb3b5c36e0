"""Malformed and smuggling-shaped requests, and applications that fail."""
import os
import time

import httpx
import pytest

from .conftest import read_response, recv_until_closed

pytestmark = pytest.mark.timeout(30)

BAD_REQUEST_BODY = b"Invalid HTTP request received."


def split_response(data):
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    return lines[0], lines[1:], body


def assert_still_serving(server):
    response = httpx.get(server.url + "/", timeout=5)
    assert response.status_code == 200
    assert response.text == "Hello, world!"


def wait_for_file(path, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path) as file:
                content = file.read()
            if content:
                return content
        time.sleep(0.02)
    return None


def log_count(server, text):
    return sum(text in line for line in server.lines)


def get_until_closed(server, path):
    """GET `path` from an app that fails: its response, split, up to the close."""
    return split_response(send_bad(server, b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path))


def send_bad(server, request):
    """Send raw bytes; everything until the server closes (it must close)."""
    with server.connect() as sock:
        sock.sendall(request)
        return recv_until_closed(sock)


# -- malformed requests --------------------------------------------------------------
BAD_REQUESTS = {
    "content-length-and-transfer-encoding":
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n",
    "transfer-encoding-and-content-length":
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n",
    "two-different-content-lengths":
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    "content-length-list":
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3, 3\r\n\r\nabc",
    "negative-content-length":
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\nabc",
    "bad-chunk-size":
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    "nul-in-header-value":
        b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\x00b\r\n\r\n",
    "cr-in-header-value":
        b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n",
    "bare-lf-line-end":
        b"GET / HTTP/1.1\r\nHost: t\nX-A: 1\r\n\r\n",
    "obs-fold":
        b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\r\n  folded\r\n\r\n",
    "space-before-colon":
        b"GET / HTTP/1.1\r\nHost: t\r\nX-A : 1\r\n\r\n",
    "bad-header-name":
        b"GET / HTTP/1.1\r\nHost: t\r\nX(A): 1\r\n\r\n",
    "missing-host-on-http11":
        b"GET / HTTP/1.1\r\nX-A: 1\r\n\r\n",
    "two-hosts":
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "transfer-encoding-on-http10":
        b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    "non-ascii-in-target":
        b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: t\r\n\r\n",
    "space-in-target":
        b"GET /a b HTTP/1.1\r\nHost: t\r\n\r\n",
    "garbage-request-line":
        b"HELLO\r\n\r\n",
}


@pytest.mark.parametrize("name", list(BAD_REQUESTS))
def test_malformed_request_gets_400_and_close(server, name):
    warnings_before = log_count(server, "Invalid HTTP request received")
    data = send_bad(server, BAD_REQUESTS[name])
    status_line, lines, body = split_response(data)
    assert status_line == b"HTTP/1.1 400 Bad Request"
    assert b"connection: close" in lines
    assert b"content-length: %d" % len(BAD_REQUEST_BODY) in lines
    assert body == BAD_REQUEST_BODY  # exactly one response, nothing from the app
    assert server.wait_for_log("Invalid HTTP request received")
    deadline = time.monotonic() + 5
    while log_count(server, "Invalid HTTP request received") <= warnings_before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert log_count(server, "Invalid HTTP request received") == warnings_before + 1
    warning = [line for line in server.lines if "Invalid HTTP request received" in line][-1]
    assert "WARNING" in warning
    assert "from 127.0.0.1:" in warning  # who sent it, and why
    assert_still_serving(server)


def test_bad_chunk_after_the_app_started_gets_400_and_close(start_server, implementation):
    """The head was fine and the app is reading the body when bad chunk bytes come."""
    server = start_server("tests.apps:app", implementation)  # its own: a hang must not leak
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        time.sleep(0.2)
        sock.sendall(b"zz\r\nabc\r\n0\r\n\r\n")
        data = recv_until_closed(sock, timeout=3)
    status_line, lines, body = split_response(data)
    assert status_line == b"HTTP/1.1 400 Bad Request"
    assert b"connection: close" in lines
    assert body == BAD_REQUEST_BODY
    assert_still_serving(server)


def test_http2_version_gets_505(server):
    data = send_bad(server, b"GET / HTTP/2.0\r\nHost: t\r\n\r\n")
    status_line, lines, body = split_response(data)
    assert status_line == b"HTTP/1.1 505 HTTP Version Not Supported"
    assert b"connection: close" in lines
    assert b"content-length: %d" % len(body) in lines
    assert_still_serving(server)


def test_unsupported_transfer_coding_gets_501(server):
    data = send_bad(server, b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                            b"0\r\n\r\n")
    status_line, lines, body = split_response(data)
    assert status_line == b"HTTP/1.1 501 Not Implemented"
    assert b"connection: close" in lines
    assert b"content-length: %d" % len(body) in lines
    assert_still_serving(server)


def test_transfer_coding_not_ending_in_chunked_gets_400(server):
    data = send_bad(server, b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"
                            b"0\r\n\r\n")
    status_line, lines, body = split_response(data)
    assert status_line == b"HTTP/1.1 400 Bad Request"
    assert b"connection: close" in lines
    assert_still_serving(server)


def test_head_over_the_size_limit_gets_431(start_server, implementation):
    server = start_server("tests.apps:app", implementation, "--h11-max-incomplete-event-size", "1024")
    # Just under the limit is fine.
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-Fill: " + b"a" * 900 + b"\r\n\r\n")
        status, headers, body, head, rest = read_response(sock)
        assert (status, body) == (200, b"Hello, world!")
    # A complete head over the limit.
    data = send_bad(server, b"GET / HTTP/1.1\r\nHost: t\r\nX-Fill: " + b"a" * 2000 + b"\r\n\r\n")
    status_line, lines, body = split_response(data)
    assert status_line == b"HTTP/1.1 431 Request Header Fields Too Large"
    assert b"connection: close" in lines
    # An incomplete head that already passed the limit: no need to wait for its end.
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-Fill: " + b"a" * 2000)
        data = recv_until_closed(sock)
    status_line, lines, body = split_response(data)
    assert status_line == b"HTTP/1.1 431 Request Header Fields Too Large"
    assert b"connection: close" in lines
    assert server.wait_for_log("Invalid HTTP request received")
    response = httpx.get(server.url + "/", timeout=5)
    assert response.text == "Hello, world!"


def test_incomplete_head_times_out_with_408(start_server, implementation):
    server = start_server("tests.apps:app", implementation, "--timeout-request-header", "0.5")
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")
        started = time.monotonic()
        data = recv_until_closed(sock)
        elapsed = time.monotonic() - started
    status_line, lines, body = split_response(data)
    assert status_line == b"HTTP/1.1 408 Request Timeout"
    assert b"connection: close" in lines
    assert elapsed < 2.5


# -- applications that fail ------------------------------------------------------------
def test_exception_before_start_gives_500_and_one_traceback(server):
    before = log_count(server, "Exception in ASGI application")
    status_line, lines, body = get_until_closed(server, b"/raise")
    assert status_line == b"HTTP/1.1 500 Internal Server Error"
    assert b"connection: close" in lines
    assert body == b"Internal Server Error"
    assert b"content-length: %d" % len(body) in lines
    assert server.wait_for_log("RuntimeError: boom before start")
    time.sleep(0.2)
    assert log_count(server, "Exception in ASGI application") == before + 1
    assert_still_serving(server)


def test_messages_may_be_any_mapping(server):
    with server.connect() as sock:
        for _ in range(2):
            sock.sendall(b"GET /mapping-messages HTTP/1.1\r\nHost: t\r\n\r\n")
            status, headers, body, _, rest = read_response(sock)
            assert (status, body, rest) == (200, b"from mappings", b"")


def test_message_that_is_not_a_mapping_gives_500_and_says_why(server):
    status_line, lines, body = get_until_closed(server, b"/list-message")
    assert status_line == b"HTTP/1.1 500 Internal Server Error"
    assert server.wait_for_log("TypeError: ASGI message must be a dict, got list")
    assert_still_serving(server)


def test_exception_after_start_closes_without_terminating_the_body(server):
    status_line, lines, body = get_until_closed(server, b"/raise-after-start")
    assert status_line == b"HTTP/1.1 200 OK"
    assert b"transfer-encoding: chunked" in lines
    assert body == b"7\r\npartial\r\n"  # never the terminating 0-chunk
    assert server.wait_for_log("RuntimeError: boom after start")
    assert_still_serving(server)


def test_app_returning_without_response_gives_500(server):
    status_line, lines, body = get_until_closed(server, b"/no-response")
    assert status_line == b"HTTP/1.1 500 Internal Server Error"
    assert body == b"Internal Server Error"
    assert server.wait_for_log("ASGI callable returned without starting response.")
    assert_still_serving(server)


def test_app_returning_with_incomplete_response_closes(server):
    status_line, lines, body = get_until_closed(server, b"/incomplete")
    assert status_line == b"HTTP/1.1 200 OK"
    assert b"transfer-encoding: chunked" in lines
    assert body == b"4\r\npart\r\n"
    assert server.wait_for_log("ASGI callable returned without completing response.")
    assert_still_serving(server)


@pytest.mark.parametrize("declared,actual", [(10, 5), (5, 10)])
def test_content_length_mismatch_never_looks_complete(server, declared, actual):
    with server.connect() as sock:
        sock.sendall(b"GET /length-mismatch?declared=%d&actual=%d HTTP/1.1\r\nHost: t\r\n\r\n"
                     % (declared, actual))
        data = recv_until_closed(sock)  # the server closes the connection
    status_line, lines, body = split_response(data)
    if status_line == b"HTTP/1.1 500 Internal Server Error":
        # Nothing of the app's response reached the wire: a clean 500 instead.
        assert body == b"Internal Server Error"
        assert b"connection: close" in lines
    else:
        # The head went out: the body is cut short, so the client sees an error.
        assert status_line == b"HTTP/1.1 200 OK"
        assert b"content-length: %d" % declared in lines
        assert len(body) < declared
    assert b"y" * (min(declared, actual) + 1) not in data
    assert_still_serving(server)


def test_bad_response_header_gives_500_and_is_never_sent(server):
    data = send_bad(server, b"GET /bad-header HTTP/1.1\r\nHost: t\r\n\r\n")
    status_line, lines, body = split_response(data)
    assert status_line == b"HTTP/1.1 500 Internal Server Error"
    assert b"set-cookie" not in data.lower()
    assert b"x-evil" not in data.lower()
    assert body == b"Internal Server Error"
    assert_still_serving(server)


def test_send_after_disconnect_raises_oserror(server, tmp_path):
    marker = tmp_path / "marker"
    before = log_count(server, "Exception in ASGI application")
    with server.connect() as sock:
        sock.sendall(b"GET /send-after-disconnect?marker=%s HTTP/1.1\r\nHost: t\r\n\r\n"
                     % str(marker).encode())
        time.sleep(0.2)
    content = wait_for_file(marker)
    # The route writes "<message type> <exception class>" only when send raised
    # an OSError (subclass); "no error" when send silently succeeded.
    assert content is not None
    message_type, _, outcome = content.partition(" ")
    assert message_type == "http.disconnect"
    assert outcome not in ("", "no error")
    assert outcome.isidentifier()
    time.sleep(0.2)
    assert log_count(server, "Exception in ASGI application") == before
    assert_still_serving(server)


def test_disconnect_is_delivered_to_a_waiting_app(server, tmp_path):
    marker = tmp_path / "marker"
    with server.connect() as sock:
        sock.sendall(b"POST /wait-disconnect?marker=%s HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi"
                     % str(marker).encode())
        time.sleep(0.2)
    assert wait_for_file(marker) == "http.disconnect"
    assert_still_serving(server)


def test_disconnect_during_body_upload(server, tmp_path):
    """The client goes away mid-body: read_body's receive() gets http.disconnect."""
    before = log_count(server, "client went away")
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly part")
        time.sleep(0.2)
    # /echo's read_body raises OSError("client went away") on http.disconnect;
    # the app's exception is logged, no response can be sent.
    assert server.wait_for_log("client went away")
    assert log_count(server, "client went away") >= before + 1
    assert_still_serving(server)
