"""The ASGI lifespan protocol against a real server process."""
import signal

import httpx
import pytest

from .process_utils import STOPPED_BY_SIGTERM

pytestmark = pytest.mark.timeout(30)


def wait_exit(server, timeout=10):
    code = server.process.wait(timeout)
    server._reader.join(2)
    return code


def test_startup_failure_exits_with_code_3(start_server, implementation):
    server = start_server("tests.apps:lifespan_fails", implementation, "--lifespan", "on", wait=False)
    assert wait_exit(server) == 3
    log = server.log
    assert "database unreachable" in log
    assert "Application startup failed" in log
    assert "running on" not in log  # never started listening


def test_startup_failure_also_stops_in_auto_mode(start_server, implementation):
    server = start_server("tests.apps:lifespan_fails", implementation, "--lifespan", "auto", wait=False)
    assert wait_exit(server) == 3
    assert "database unreachable" in server.log
    assert "Application startup failed" in server.log


def test_auto_mode_serves_an_app_without_lifespan(start_server, implementation):
    server = start_server("tests.apps:lifespan_unsupported", implementation, "--lifespan", "auto")
    response = httpx.get(server.url + "/")
    assert response.status_code == 200
    assert response.text == "no lifespan"
    assert "Traceback" not in server.log
    assert server.stop() == STOPPED_BY_SIGTERM


def test_on_mode_with_an_app_without_lifespan_exits(start_server, implementation):
    server = start_server("tests.apps:lifespan_unsupported", implementation, "--lifespan", "on", wait=False)
    assert wait_exit(server) == 3
    assert "only http here" in server.log
    assert "Application startup failed" in server.log


def test_shutdown_runs_on_sigterm(start_server, implementation, tmp_path):
    marker = tmp_path / "shutdown"
    server = start_server("tests.apps:app", implementation,
                          env={"FASTASGI_TEST_SHUTDOWN_MARKER": str(marker)})
    assert httpx.get(server.url + "/state").json() == {"started_by": "lifespan"}
    assert not marker.exists()
    server.send_signal(signal.SIGTERM)
    assert wait_exit(server) == STOPPED_BY_SIGTERM
    assert marker.read_text() == "shutdown ran"
    assert "Application startup complete." in server.log
    assert "Application shutdown complete." in server.log


def test_lifespan_off_leaves_state_empty(start_server, implementation, tmp_path):
    marker = tmp_path / "shutdown"
    server = start_server("tests.apps:app", implementation, "--lifespan", "off",
                          env={"FASTASGI_TEST_SHUTDOWN_MARKER": str(marker)})
    assert httpx.get(server.url + "/state").json() == {}
    response = httpx.get(server.url + "/scope")
    assert response.json()["state"] == {}
    assert server.stop() == STOPPED_BY_SIGTERM
    assert not marker.exists()  # shutdown is not sent either
    assert "Waiting for application startup." not in server.log

