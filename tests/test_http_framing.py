"""Message framing on the wire (RFC 9112): request bodies in, responses out."""
import json
import socket
import time

import httpx
import pytest

from .conftest import read_response, recv_until_closed

pytestmark = pytest.mark.timeout(30)


def header_dict(headers):
    """Lower-cased name -> list of values, from read_response's header pairs."""
    found = {}
    for name, value in headers:
        found.setdefault(name.lower(), []).append(value)
    return found


def recv_head(sock, timeout=5):
    """Bytes up to and including the blank line, and whatever came after it."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a full head: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", rest


def recv_exactly(sock, size, buffer=b"", timeout=5):
    sock.settimeout(timeout)
    while len(buffer) < size:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buffer += chunk
    return buffer


def assert_usable(sock):
    """The connection still serves a request after the previous response."""
    sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    status, headers, body, head, rest = read_response(sock)
    assert (status, body, rest) == (200, b"Hello, world!", b"")


# -- request bodies ----------------------------------------------------------------
def test_content_length_request_body(server):
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world")
        status, headers, body, head, rest = read_response(sock)
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert (status, body, rest) == (200, b"hello world", b"")
        assert header_dict(headers)[b"content-length"] == [b"11"]
        # A zero-length body on the same connection.
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
        status, headers, body, head, rest = read_response(sock)
        assert (status, body, rest) == (200, b"", b"")
        assert header_dict(headers)[b"content-length"] == [b"0"]


def test_chunked_request_body_with_extensions_and_trailers(server):
    request = (
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n"
        b"6;a=b;quoted=\"x y\"\r\n world\r\n"
        b"a\r\n0123456789\r\n"
        b"0;last=1\r\nX-Trailer: yes\r\nX-Other: 2\r\n\r\n"
    )
    with server.connect() as sock:
        sock.sendall(request)
        status, headers, body, head, rest = read_response(sock)
        assert (status, body, rest) == (200, b"hello world0123456789", b"")
        # The trailers were consumed as part of the request: the next one parses.
        assert_usable(sock)


def test_body_streamed_to_the_app_in_several_messages(server):
    with server.connect() as sock:
        sock.sendall(b"POST /echo-chunks HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        time.sleep(0.2)
        sock.sendall(b"3\r\nabc\r\n")
        time.sleep(0.2)
        sock.sendall(b"4\r\ndefg\r\n")
        time.sleep(0.2)
        sock.sendall(b"0\r\n\r\n")
        status, headers, body, head, rest = read_response(sock)
        assert status == 200
        assert json.loads(body) == [3, 4, 0]


def test_body_in_one_piece_arrives_as_one_message(server):
    with server.connect() as sock:
        sock.sendall(b"POST /echo-chunks HTTP/1.1\r\nHost: t\r\nContent-Length: 7\r\n\r\nabcdefg")
        status, headers, body, head, rest = read_response(sock)
        assert status == 200
        assert json.loads(body) == [7]


def test_large_upload_to_a_slow_reader_completes(server):
    size = 4 * 1024 * 1024
    with server.connect(timeout=20) as sock:
        sock.sendall(b"POST /read-slowly?s=1 HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % size)
        sock.sendall(b"z" * size)
        status, headers, body, head, rest = read_response(sock, timeout=20)
        assert (status, body, rest) == (200, str(size).encode(), b"")
        assert_usable(sock)


# -- Expect: 100-continue ----------------------------------------------------------
def test_100_continue_sent_when_the_app_reads(server):
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        interim = recv_exactly(sock, len(b"HTTP/1.1 100 Continue\r\n\r\n"))
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"12345")
        status, headers, body, head, rest = read_response(sock)
        assert (status, body, rest) == (200, b"12345", b"")
        assert_usable(sock)


def test_no_100_continue_when_the_app_does_not_read(server):
    with server.connect() as sock:
        sock.sendall(b"POST /no-read HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        status, headers, body, head, rest = read_response(sock)
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert (status, body, rest) == (200, b"did not read", b"")
        # Nothing more comes (no late 100 Continue).
        sock.settimeout(0.3)
        try:
            late = sock.recv(65536)
        except socket.timeout:
            late = None
        assert late in (None, b"")


# -- response framing --------------------------------------------------------------
def test_app_content_length_is_used_as_is(server):
    with server.connect() as sock:
        sock.sendall(b"GET /head-length HTTP/1.1\r\nHost: t\r\n\r\n")
        status, headers, body, head, rest = read_response(sock)
        names = header_dict(headers)
        assert (status, body, rest) == (200, b"twelve bytes", b"")
        assert names[b"content-length"] == [b"12"]
        assert b"transfer-encoding" not in names


def test_whole_body_in_one_message_gets_content_length(server):
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        status, headers, body, head, rest = read_response(sock)
        names = header_dict(headers)
        assert (status, body, rest) == (200, b"Hello, world!", b"")
        assert names[b"content-length"] == [b"13"]
        assert b"transfer-encoding" not in names
        assert b"connection" not in names


def test_streamed_response_is_chunked_on_http11(server):
    with server.connect() as sock:
        sock.sendall(b"GET /stream?n=3&size=5 HTTP/1.1\r\nHost: t\r\n\r\n")
        head, rest = recv_head(sock)
        expected = b"5\r\nxxxxx\r\n5\r\nxxxxx\r\n5\r\nxxxxx\r\n0\r\n\r\n"
        body = recv_exactly(sock, len(expected), rest)
        assert body == expected
        lines = head.split(b"\r\n")
        assert lines[0] == b"HTTP/1.1 200 OK"
        names = [line.split(b":")[0].lower() for line in lines[1:] if line]
        assert names.count(b"transfer-encoding") == 1
        assert b"transfer-encoding: chunked" in lines
        assert b"content-length" not in names
        assert b"connection" not in names
        assert_usable(sock)


def test_streamed_response_on_http10_is_close_delimited(server):
    with server.connect() as sock:
        sock.sendall(b"GET /stream?n=3&size=5 HTTP/1.0\r\n\r\n")
        data = recv_until_closed(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK"
    names = [line.split(b":")[0].lower() for line in lines[1:]]
    assert b"transfer-encoding" not in names
    assert b"content-length" not in names
    assert b"connection: close" in lines
    assert body == b"x" * 15


def test_head_response_has_headers_but_no_body(server):
    with server.connect() as sock:
        sock.sendall(b"HEAD /head-length HTTP/1.1\r\nHost: t\r\n\r\n"
                     b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        head, rest = recv_head(sock)
        lines = head.split(b"\r\n")
        assert lines[0] == b"HTTP/1.1 200 OK"
        assert b"content-length: 12" in lines
        # The very next bytes are the second response: no body after the HEAD head.
        rest = recv_exactly(sock, len(b"HTTP/1.1 200 OK"), rest)
        assert rest.startswith(b"HTTP/1.1 200 OK\r\n")
        status, headers, body, _, rest = read_response(sock, buffer=rest)
        assert (status, body, rest) == (200, b"Hello, world!", b"")


@pytest.mark.parametrize("code", [204, 304])
def test_no_body_statuses(server, code):
    with server.connect() as sock:
        sock.sendall(b"GET /status?code=%d HTTP/1.1\r\nHost: t\r\n\r\n" % code
                     + b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        head, rest = recv_head(sock)
        lines = head.split(b"\r\n")
        assert lines[0].startswith(b"HTTP/1.1 %d " % code)
        names = [line.split(b":")[0].lower() for line in lines[1:] if line]
        assert b"transfer-encoding" not in names
        if code == 204:
            assert b"content-length" not in names
        rest = recv_exactly(sock, len(b"HTTP/1.1 200 OK"), rest)
        assert rest.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"should not be sent" not in rest
        status, headers, body, _, rest = read_response(sock, buffer=rest)
        assert (status, body, rest) == (200, b"Hello, world!", b"")


# -- connection management ---------------------------------------------------------
def test_idle_keep_alive_connection_closes_after_timeout(start_server, implementation):
    server = start_server("tests.apps:app", implementation, "--timeout-keep-alive", "1")
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        status, headers, body, head, rest = read_response(sock)
        assert (status, body) == (200, b"Hello, world!")
        assert b"connection" not in header_dict(headers)
        started = time.monotonic()
        assert recv_until_closed(sock, timeout=5) == b""
        elapsed = time.monotonic() - started
    assert 0.7 <= elapsed <= 2.5


def test_connection_close_request(server):
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        data = recv_until_closed(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert b"connection: close" in lines
    assert b"content-length: 13" in lines
    assert body == b"Hello, world!"


def test_http10_request_is_closed_after_the_response(server):
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = recv_until_closed(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert b"connection: close" in lines
    assert b"content-length: 13" in lines
    assert body == b"Hello, world!"


def test_head_is_sent_before_a_late_body(server):
    with server.connect() as sock:
        sock.sendall(b"GET /start-then-wait?s=1 HTTP/1.1\r\nHost: t\r\n\r\n")
        started = time.monotonic()
        head, rest = recv_head(sock, timeout=0.5)
        assert time.monotonic() - started < 0.5
        assert rest == b""
        lines = head.split(b"\r\n")
        assert lines[0] == b"HTTP/1.1 200 OK"
        assert b"transfer-encoding: chunked" in lines
        expected = b"9\r\nlate body\r\n0\r\n\r\n"
        body = recv_exactly(sock, len(expected))
        assert body == expected
        assert time.monotonic() - started >= 0.8


def test_small_response_arrives_in_one_recv(server):
    # Head and body go out in one transport write: on loopback one recv gets both.
    with server.connect() as sock:
        for _ in range(5):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            sock.settimeout(5)
            data = sock.recv(65536)
            assert data.startswith(b"HTTP/1.1 200 OK\r\n")
            assert data.endswith(b"\r\n\r\nHello, world!")
            assert b"content-length: 13\r\n" in data


def test_httpx_round_trip_of_a_large_body(server):
    payload = bytes(range(256)) * 4096  # 1 MiB
    response = httpx.post(server.url + "/echo", content=payload, timeout=10)
    assert response.status_code == 200
    assert response.content == payload
    assert response.headers["content-length"] == str(len(payload))
