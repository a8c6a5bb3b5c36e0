"""--workers N: a supervisor forks real workers that share one listening socket."""
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from .conftest import ROOT
from .process_utils import alive, get, started_pids, wait_serving, wait_until

pytestmark = pytest.mark.timeout(45)

APP = "tests.process_apps:app"


def test_workers_share_the_socket(start_server, implementation):
    server = start_server(APP, implementation, "--workers", "2")
    wait_serving(server.url + "/pid")
    assert wait_until(lambda: len(started_pids(server)) == 2)
    # While one worker's loop is blocked, the other must accept and answer.
    results = []
    first = threading.Thread(target=lambda: results.append(get(server.url + "/block?s=1.5").text))
    first.start()
    time.sleep(0.4)
    second = get(server.url + "/pid", timeout=1.5).text
    first.join()
    assert {int(results[0]), int(second)} == set(started_pids(server))
    assert "Started parent process" in server.log
    assert server.log.count("running on http://") == 1  # said once, by the supervisor


def test_web_concurrency_sets_the_default(start_server, implementation):
    server = start_server(APP, implementation, env={"WEB_CONCURRENCY": "2"})
    assert wait_until(lambda: len(started_pids(server)) == 2)
    assert server.stop() == 0


def test_dead_worker_is_replaced(start_server, implementation):
    server = start_server(APP, implementation, "--workers", "2")
    assert wait_until(lambda: server.log.count("Application startup complete") == 2)
    victim = started_pids(server)[0]
    os.kill(victim, signal.SIGKILL)
    assert server.wait_for_log(f"Child process [{victim}] died")
    assert wait_until(lambda: len(started_pids(server)) == 3)
    wait_serving(server.url + "/pid")
    for _ in range(4):
        assert int(get(server.url + "/pid").text) != victim


def test_workers_stop_when_the_supervisor_is_killed(start_server, implementation):
    server = start_server(APP, implementation, "--workers", "2")
    assert wait_until(lambda: len(started_pids(server)) == 2)
    workers = started_pids(server)
    server.process.kill()  # no chance to stop its workers
    server.process.wait()
    assert wait_until(lambda: not any(alive(pid) for pid in workers)), server.log
    assert server.log.count(f"Supervisor process [{server.process.pid}] is gone: shutting down.") == 2


def test_worker_exit_from_the_app_is_replaced(start_server, implementation):
    server = start_server(APP, implementation, "--workers", "2")
    wait_serving(server.url + "/pid")
    with pytest.raises(httpx.HTTPError):
        get(server.url + "/exit")
    assert server.wait_for_log("died")
    wait_serving(server.url + "/pid")
    assert server.process.poll() is None


def test_hung_worker_fails_the_healthcheck(start_server, implementation):
    server = start_server(APP, implementation, "--workers", "2", "--timeout-worker-healthcheck", "1")
    wait_serving(server.url + "/pid")
    assert wait_until(lambda: len(started_pids(server)) == 2)
    blocked = threading.Thread(target=lambda: _ignore_errors(lambda: get(server.url + "/block?s=20", timeout=20)),
                               daemon=True)
    blocked.start()
    assert server.wait_for_log("did not respond for 1 seconds: killing it", timeout=8), server.log
    assert wait_until(lambda: len(started_pids(server)) == 3)
    wait_serving(server.url + "/pid")


def _ignore_errors(call):
    try:
        call()
    except httpx.HTTPError:
        pass


def test_sigterm_drains_in_flight_requests(start_server, implementation):
    server = start_server(APP, implementation, "--workers", "2")
    wait_serving(server.url + "/pid")
    results = []
    request = threading.Thread(target=lambda: results.append(get(server.url + "/sleep?s=1")))
    request.start()
    time.sleep(0.3)
    server.send_signal(signal.SIGTERM)
    request.join(10)
    assert results and results[0].status_code == 200
    assert server.process.wait(10) == 0
    assert "Received SIGTERM, exiting." in server.log
    assert not any(alive(pid) for pid in started_pids(server))


def test_sighup_restarts_workers_without_dropping_requests(start_server, implementation):
    server = start_server(APP, implementation, "--workers", "2")
    wait_serving(server.url + "/pid")
    assert wait_until(lambda: len(started_pids(server)) == 2)
    old = set(started_pids(server))
    in_flight = []
    slow = threading.Thread(target=lambda: in_flight.append(get(server.url + "/sleep?s=1.5")))
    slow.start()
    time.sleep(0.2)
    server.send_signal(signal.SIGHUP)
    failures, answers = [], 0
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        try:
            assert get(server.url + "/pid").status_code == 200
            answers += 1
        except httpx.HTTPError as exc:
            failures.append(exc)
        if len(started_pids(server)) == 4 and not any(alive(pid) for pid in old):
            break
    slow.join(10)
    assert not failures, failures
    assert answers > 0
    assert in_flight and in_flight[0].status_code == 200
    new = set(started_pids(server)) - old
    assert len(new) == 2 and all(alive(pid) for pid in new)
    assert not any(alive(pid) for pid in old)
    assert "Received SIGHUP, restarting processes." in server.log


def test_sighup_answers_every_connection_an_old_worker_accepted(start_server, implementation):
    """A worker told to stop may have accepted connections whose protocol is
    not made yet (asyncio's accept goes through a task and a callback): each
    must still get its answer, not a reset or a silent close."""
    server = start_server(APP, implementation, "--workers", "2", "--loop", "asyncio")
    wait_serving(server.url + "/pid")
    failures, answers = [], []
    stop = threading.Event()

    def hammer():  # a new connection per request, as fast as it answers
        while not stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
                    sock.sendall(b"GET /pid HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
                    response = b""
                    while chunk := sock.recv(4096):
                        response += chunk
            except OSError as exc:
                failures.append(repr(exc))
                continue
            if response.startswith(b"HTTP/1.1 200 "):
                answers.append(1)
            else:
                failures.append(response[:80])

    clients = [threading.Thread(target=hammer) for _ in range(3)]
    for client in clients:
        client.start()
    try:
        for generation in (2, 3, 4):  # rolling restarts under load
            time.sleep(0.5)
            server.send_signal(signal.SIGHUP)
            assert wait_until(lambda: len(started_pids(server)) == 2 * generation, timeout=15)
            assert wait_until(lambda: sum(alive(pid) for pid in started_pids(server)) == 2, timeout=15)
        time.sleep(0.5)
    finally:
        stop.set()
        for client in clients:
            client.join(10)
    assert not failures, failures[:5]
    assert len(answers) > 100


def test_limit_max_requests_replaces_the_worker(start_server, implementation):
    server = start_server(APP, implementation, "--workers", "2", "--limit-max-requests", "2")
    wait_serving(server.url + "/pid")
    for _ in range(10):
        try:
            get(server.url + "/pid")
        except httpx.HTTPError:
            pass  # a connection a retiring worker had accepted but closed
    assert server.wait_for_log("Maximum request limit of 2 exceeded. Terminating process.")
    assert wait_until(lambda: len(started_pids(server)) > 2)
    wait_serving(server.url + "/pid")


def test_limit_max_requests_with_jitter_single_process(start_server, implementation):
    server = start_server(APP, implementation, "--limit-max-requests", "2", "--limit-max-requests-jitter", "1")
    for _ in range(3):
        try:
            get(server.url + "/pid")
        except httpx.HTTPError:
            break
    assert server.process.wait(10) == 0
    assert "Maximum request limit of" in server.log


def test_broken_app_stops_the_supervisor(start_server, implementation):
    server = start_server("tests.process_apps:missing", implementation, "--workers", "2")
    assert server.process.wait(15) == 3
    assert "failed to start, stopping the parent process" in server.log


def test_app_object_with_workers_is_refused():
    code = "import fastasgi; from tests.process_apps import app; fastasgi.run(app, workers=2, port=0)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=20)
    assert result.returncode == 3
    assert "import string" in result.stderr


def test_uds_with_workers(start_server, tmp_path, implementation):
    path = str(tmp_path / "fastasgi.sock")
    server = start_server(APP, implementation, "--workers", "2", "--uds", path)
    transport = httpx.HTTPTransport(uds=path)
    wait_serving("http://localhost/pid", transport=transport)
    assert server.stop() == 0
    assert not os.path.exists(path)


def test_fd_with_workers(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "fastasgi", APP, "--fd", str(listener.fileno()), "--workers", "2"],
        cwd=ROOT, env=env, pass_fds=[listener.fileno()], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    listener.close()
    try:
        wait_serving(f"http://127.0.0.1:{port}/pid")
        pids = {get(f"http://127.0.0.1:{port}/pid").text for _ in range(3)}
        assert pids
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=15)[0]
    assert process.returncode == 0, output
    assert output.count("Started server process") == 2


def test_a_draining_worker_is_not_taken_for_a_hung_one(start_server, implementation):
    # The worker stops after one request and drains it for longer than the healthcheck timeout.
    server = start_server(APP, implementation, "--workers", "2", "--limit-max-requests", "1",
                          "--timeout-worker-healthcheck", "1")
    assert wait_until(lambda: server.log.count("Application startup complete") == 2)
    response = get(server.url + "/sleep?s=2.5")
    assert response.status_code == 200
    assert "did not respond" not in server.log


def test_sigttin_and_sigttou_scale_the_workers(start_server, implementation):
    server = start_server(APP, implementation, "--workers", "2")
    assert wait_until(lambda: len(started_pids(server)) == 2)
    server.send_signal(signal.SIGTTIN)
    assert wait_until(lambda: len(started_pids(server)) == 3)
    server.send_signal(signal.SIGTTOU)
    assert server.wait_for_log("Received SIGTTOU, decreasing number of processes.")
    assert wait_until(lambda: sum(alive(pid) for pid in started_pids(server)) == 2)
    wait_serving(server.url + "/pid")
