"""--interface wsgi: a WSGI app in a thread pool, with a streamed wsgi.input."""
import json
import socket

import httpx
import pytest

from .conftest import read_response

pytestmark = pytest.mark.timeout(30)

APP = "tests.process_apps:wsgi_app"


@pytest.fixture
def wsgi_server(start_server, implementation):
    return start_server(APP, implementation, "--interface", "wsgi", "--root-path", "/mount")


def test_echo_streamed_body(wsgi_server):
    payload = bytes(range(256)) * 8192  # 2 MiB

    def chunks():
        for start in range(0, len(payload), 100_000):
            yield payload[start:start + 100_000]

    response = httpx.post(wsgi_server.url + "/echo", content=chunks(), timeout=20)
    assert response.status_code == 200
    assert response.content == payload


def test_app_reads_before_the_body_is_complete(wsgi_server):
    with socket.create_connection(("127.0.0.1", wsgi_server.port), timeout=5) as sock:
        sock.sendall(b"POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nhello")
        status, _, body, _, _ = read_response(sock)
    assert (status, body) == (200, b"hello")


def test_environ(wsgi_server):
    response = httpx.get(wsgi_server.url + "/environ?a=1&b=%20", headers={"X-Custom": "yes",
                                                                                "Content-Type": "text/x"})
    environ = response.json()
    assert environ["REQUEST_METHOD"] == "GET"
    assert environ["SCRIPT_NAME"] == "/mount"
    assert environ["PATH_INFO"] == "/environ"
    assert environ["QUERY_STRING"] == "a=1&b=%20"
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert environ["SERVER_NAME"] == "127.0.0.1"
    assert environ["SERVER_PORT"] == str(wsgi_server.port)
    assert environ["REMOTE_ADDR"] == "127.0.0.1"
    assert environ["HTTP_X_CUSTOM"] == "yes"
    assert environ["CONTENT_TYPE"] == "text/x"
    assert environ["wsgi.url_scheme"] == "http"
    assert environ["wsgi.version"] == [1, 0]
    assert environ["wsgi.multithread"] is True


def test_readline_iteration(wsgi_server):
    response = httpx.post(wsgi_server.url + "/lines", content=b"one\ntwo\nthree")
    assert json.loads(response.content) == ["one\n", "two\n", "three"]


def test_iterable_and_write_callable(wsgi_server):
    streamed = httpx.get(wsgi_server.url + "/stream")
    assert streamed.text == "".join(f"part {i}\n" for i in range(5))
    assert streamed.headers["transfer-encoding"] == "chunked"
    written = httpx.get(wsgi_server.url + "/write")
    assert (written.status_code, written.text) == (201, "written and returned")


def test_app_error_is_a_500_and_the_server_goes_on(wsgi_server):
    response = httpx.get(wsgi_server.url + "/raise")
    assert response.status_code == 500
    assert wsgi_server.wait_for_log("RuntimeError: WSGI app failed")
    assert httpx.get(wsgi_server.url + "/nothing").status_code == 404


def test_websocket_upgrade_is_plain_http(wsgi_server):
    with socket.create_connection(("127.0.0.1", wsgi_server.port), timeout=5) as sock:
        sock.sendall(b"GET /environ HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        status, _, body, _, _ = read_response(sock)
    assert status == 200
    assert json.loads(body)["HTTP_UPGRADE"] == "websocket"
