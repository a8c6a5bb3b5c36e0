"""Requests and responses over a real socket: framing, keep-alive, scope."""

import httpx
import pytest

from .conftest import read_response

pytestmark = pytest.mark.timeout(30)


def test_hello_with_httpx(server):
    response = httpx.get(server.url + "/")
    assert response.status_code == 200
    assert response.text == "Hello, world!"
    assert response.headers["server"] == "fastasgi"
    assert response.headers["content-length"] == "13"
    assert "date" in response.headers


def test_send_returns_a_coroutine_that_tasks_and_threads_accept(server):
    with server.connect() as sock:
        for _ in range(3):  # the same connection keeps serving after it
            sock.sendall(b"GET /send-wrapped HTTP/1.1\r\nHost: t\r\n\r\n")
            status, headers, body, _, rest = read_response(sock)
            assert (status, body, rest) == (200, b"abcd", b"")


def test_keep_alive_serves_many_requests_on_one_connection(server):
    with server.connect() as sock:
        for index in range(20):
            sock.sendall(b"GET /echo?i=%d HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc" % index)
            status, headers, body, _, rest = read_response(sock)
            assert (status, body, rest) == (200, b"abc", b"")


def test_pipelined_requests_are_answered_in_order(server):
    requests = b"".join(
        b"GET /sleep?s=%s HTTP/1.1\r\nHost: t\r\n\r\n" % delay for delay in (b"0.2", b"0", b"0.1")
    ) + b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nlast"
    with server.connect() as sock:
        sock.sendall(requests)
        bodies = []
        rest = b""
        for _ in range(4):
            status, headers, body, _, rest = read_response(sock, buffer=rest)
            bodies.append(body)
    assert bodies == [b"slept", b"slept", b"slept", b"last"]
