"""Graceful shutdown on SIGTERM / SIGINT with requests in flight."""
import signal
import socket
import time

import pytest

from .conftest import read_response, recv_until_closed
from .process_utils import STOPPED_BY_SIGTERM

pytestmark = pytest.mark.timeout(30)


def wait_exit(server, timeout=10):
    code = server.process.wait(timeout)
    server._reader.join(2)
    return code


def exit_status_after(sig):
    """As uvicorn: SIGTERM is raised again once drained; SIGINT ends with status 0."""
    return STOPPED_BY_SIGTERM if sig == signal.SIGTERM else 0


def start_in_flight(server, path):
    sock = server.connect()
    sock.sendall(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path)
    time.sleep(0.3)  # the app is running now
    return sock


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_in_flight_response_is_delivered(start_server, implementation, sig):
    server = start_server("tests.apps:app", implementation)
    sock = start_in_flight(server, b"/sleep?s=1")
    with sock:
        server.send_signal(sig)
        data = recv_until_closed(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert b"content-length: 5" in lines
    assert b"connection: close" in lines  # no more requests on this connection
    assert body == b"slept"
    assert wait_exit(server) == exit_status_after(sig)
    assert "Shutting down" in server.log
    assert "Finished server process" in server.log


def test_request_sent_just_after_shutdown_starts_on_an_accepted_connection_is_answered(
        start_server, implementation):
    # The connection was accepted before the signal; its request arrives
    # after: closing it unanswered would reset a request the client sent.
    server = start_server("tests.apps:app", implementation)
    with server.connect() as sock:
        time.sleep(0.2)  # accepted by the server now
        server.send_signal(signal.SIGTERM)
        time.sleep(0.2)  # shutdown has begun
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        data = recv_until_closed(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == b"HTTP/1.1 200 OK"
    assert b"connection: close" in head.split(b"\r\n")
    assert body == b"Hello, world!"
    assert wait_exit(server) == STOPPED_BY_SIGTERM


def test_idle_keep_alive_connections_are_closed(start_server, implementation):
    server = start_server("tests.apps:app", implementation)
    idle = []
    for _ in range(3):
        sock = server.connect()
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        status, headers, body, head, rest = read_response(sock)
        assert (status, body) == (200, b"Hello, world!")
        idle.append(sock)
    never_used = server.connect()
    idle.append(never_used)
    started = time.monotonic()
    server.send_signal(signal.SIGTERM)
    for sock in idle:
        with sock:
            assert recv_until_closed(sock, timeout=5) == b""
    assert time.monotonic() - started < 2
    assert wait_exit(server) == STOPPED_BY_SIGTERM


def test_graceful_shutdown_timeout_cancels_the_app(start_server, implementation):
    server = start_server("tests.apps:app", implementation, "--timeout-graceful-shutdown", "1")
    sock = start_in_flight(server, b"/sleep?s=10")
    with sock:
        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        code = wait_exit(server, timeout=10)
        elapsed = time.monotonic() - started
        leftover = recv_until_closed(sock)
    assert elapsed < 3
    assert code == STOPPED_BY_SIGTERM
    assert "Cancel 1 running task(s), timeout graceful shutdown exceeded" in server.log
    assert b"slept" not in leftover


def test_new_connections_are_refused_once_shutdown_starts(start_server, implementation):
    server = start_server("tests.apps:app", implementation)
    sock = start_in_flight(server, b"/sleep?s=1")
    with sock:
        server.send_signal(signal.SIGTERM)
        assert server.wait_for_log("Shutting down", timeout=2)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((server.host, server.port), timeout=2).close()
        # The request in flight is still answered.
        data = recv_until_closed(sock)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert data.endswith(b"\r\n\r\nslept")
    assert wait_exit(server) == STOPPED_BY_SIGTERM


def test_pipelined_requests_not_started_are_dropped(start_server, implementation):
    server = start_server("tests.apps:app", implementation)
    sock = server.connect()
    with sock:
        sock.sendall(b"GET /sleep?s=1 HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.3)
        server.send_signal(signal.SIGTERM)
        data = recv_until_closed(sock)
    # The running response completes and closes the connection; the queued one never runs.
    assert data.count(b"HTTP/1.1 ") == 1
    assert data.endswith(b"\r\n\r\nslept")
    assert b"connection: close" in data
    assert wait_exit(server) == STOPPED_BY_SIGTERM


def test_second_sigint_forces_exit(start_server, implementation):
    server = start_server("tests.apps:app", implementation)
    sock = start_in_flight(server, b"/sleep?s=10")
    with sock:
        started = time.monotonic()
        server.send_signal(signal.SIGINT)
        assert server.wait_for_log("Shutting down", timeout=2)
        server.send_signal(signal.SIGINT)
        wait_exit(server, timeout=10)
        assert time.monotonic() - started < 3
