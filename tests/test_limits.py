"""--limit-concurrency (503 for HTTP and websockets) and --backlog, on real servers."""
import socket
import threading
import time

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from .conftest import read_response
from .process_utils import get

pytestmark = pytest.mark.timeout(30)

APP = "tests.process_apps:app"


def hold_one_request(server, seconds=0.8):
    results = []
    thread = threading.Thread(target=lambda: results.append(get(server.url + f"/sleep?s={seconds}")))
    thread.start()
    time.sleep(0.3)
    return thread, results


def test_limit_concurrency_answers_503_then_recovers(start_server, implementation):
    server = start_server(APP, implementation, "--limit-concurrency", "1")
    thread, results = hold_one_request(server)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET /pid HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, body, _, _ = read_response(sock)
    assert (status, body) == (503, b"Service Unavailable")
    assert (b"connection", b"close") in [(n.lower(), v) for n, v in headers]
    thread.join(5)
    assert results[0].status_code == 200
    assert get(server.url + "/pid").status_code == 200  # the load is gone: served again
    assert "Exceeded concurrency limit." in server.log


def test_limit_concurrency_refuses_websockets_with_503(start_server, implementation):
    server = start_server(APP, implementation, "--limit-concurrency", "1")
    thread, _ = hold_one_request(server)
    with pytest.raises(InvalidStatus) as refused:
        with connect(f"ws://127.0.0.1:{server.port}/ws", open_timeout=5):
            pass
    assert refused.value.response.status_code == 503
    thread.join(5)
    with connect(f"ws://127.0.0.1:{server.port}/ws", open_timeout=5) as websocket:
        assert websocket.recv(timeout=5)


def test_limit_concurrency_allows_up_to_the_limit(start_server, implementation):
    server = start_server(APP, implementation, "--limit-concurrency", "3")
    held = [hold_one_request(server, 1.0) for _ in range(2)]
    assert get(server.url + "/pid").status_code == 200  # the third concurrent one is still served
    for thread, results in held:
        thread.join(5)
        assert results[0].status_code == 200


def test_backlog_is_passed_to_listen(start_server, implementation):
    server = start_server(APP, implementation, "--backlog", "7")
    assert httpx.get(server.url + "/pid").status_code == 200
    # Linux shows a listener's backlog as the send-queue of `ss -ltn`.
    try:
        import subprocess

        output = subprocess.run(["ss", "-ltnH", f"sport = :{server.port}"], capture_output=True, text=True,
                                timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip("ss is not available")
    if not output.strip():
        pytest.skip("ss shows no listeners here")
    assert output.split()[2] == "7"
