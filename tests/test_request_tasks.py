"""The task each request's app runs in: a plain asyncio task, made by the
loop's task factory when the app installed one."""
import json
import sys

import pytest

from .conftest import read_response

pytestmark = pytest.mark.timeout(30)

LOOPS = ["auto", "asyncio"]  # auto: uvloop where installed


def get_json(sock, path):
    sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: t\r\n\r\n")
    status, _, body, _, _ = read_response(sock)
    assert status == 200
    return json.loads(body) if body.startswith(b"{") else body


@pytest.mark.parametrize("loop", LOOPS)
def test_a_request_task_has_a_name_and_the_app_task_factory_makes_it(start_server, implementation, loop):
    server = start_server("tests.apps:app", implementation, "--loop", loop)
    with server.connect() as sock:
        first = get_json(sock, b"/task")
        second = get_json(sock, b"/task")
        assert not first["by_factory"]
        if sys.version_info >= (3, 12):
            assert first["name"].startswith("Task-")  # asyncio's own name
        else:  # fastasgi names it, with the server's request count
            assert first["name"] == "fastasgi-request-1"
            assert second["name"] == "fastasgi-request-2"
        # A task factory the app installs (as tracing libraries do) makes
        # the tasks of the requests after it.
        assert get_json(sock, b"/install-task-factory") == b"installed"
        assert get_json(sock, b"/task")["by_factory"] is True
    with server.connect() as sock:  # and on another connection
        assert get_json(sock, b"/task")["by_factory"] is True
