"""The gunicorn worker classes, under a real gunicorn arbiter."""
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from .conftest import ROOT
from .process_utils import free_port, get, wait_serving, wait_until

pytest.importorskip("gunicorn")
pytestmark = pytest.mark.timeout(45)


class Gunicorn:
    def __init__(self, worker_class, *args):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "gunicorn", "tests.process_apps:app", "-k", worker_class,
                   "-b", f"127.0.0.1:{self.port}", "--graceful-timeout", "10", *args]
        self.lines = []
        self.process = subprocess.Popen(command, cwd=ROOT, env=dict(os.environ, PYTHONUNBUFFERED="1"),
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def log(self):
        return "\n".join(self.lines)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.reader.join(2)
        return self.process.returncode


@pytest.fixture
def gunicorn():
    started = []

    def start(worker_class, *args):
        process = Gunicorn(worker_class, *args)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.process.poll() is None:
            process.process.kill()
            process.process.wait()


@pytest.mark.parametrize("worker_class", ["fastasgi.workers.FastASGIWorker", "fastasgi.workers.FastASGIH11Worker"])
def test_gunicorn_serves_with_two_workers(gunicorn, worker_class):
    server = gunicorn(worker_class, "-w", "2")
    wait_serving(server.url + "/pid")
    assert wait_until(lambda: server.log.count("Booting worker with pid") == 2)
    assert server.log.count("Application startup complete.") == 2 or wait_until(
        lambda: server.log.count("Application startup complete.") == 2)
    scope = get(server.url + "/scope").json()
    assert scope["type"] == "http" and scope["scheme"] == "http"
    results = []
    slow = threading.Thread(target=lambda: results.append(get(server.url + "/sleep?s=1")))
    slow.start()
    time.sleep(0.3)
    assert server.stop() == 0  # SIGTERM: graceful, the in-flight request is answered
    slow.join(5)
    assert results and results[0].status_code == 200


def test_gunicorn_max_requests_recycles_workers(gunicorn):
    server = gunicorn("fastasgi.workers.FastASGIWorker", "-w", "1", "--max-requests", "2")
    wait_serving(server.url + "/pid")
    pids = set()
    for _ in range(8):
        try:
            pids.add(get(server.url + "/pid").text)
        except httpx.HTTPError:
            time.sleep(0.2)
    assert len(pids) >= 2, server.log
    assert "Maximum request limit of 2 exceeded" in server.log


def test_gunicorn_access_log(gunicorn):
    server = gunicorn("fastasgi.workers.FastASGIWorker", "-w", "1", "--access-logfile", "-")
    wait_serving(server.url + "/pid")
    assert wait_until(lambda: '"GET /pid HTTP/1.1" 200' in server.log), server.log


def test_gunicorn_tls_settings_apply(gunicorn, tmp_path):
    import shutil
    import ssl

    from .process_utils import make_certificate

    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    cert, key = make_certificate(str(tmp_path))
    server = gunicorn("fastasgi.workers.FastASGIWorker", "-w", "1", "--certfile", cert, "--keyfile", key)
    url = f"https://127.0.0.1:{server.port}/scope"
    wait_serving(url, verify=ssl.create_default_context(cafile=cert))
    scope = get(url, verify=ssl.create_default_context(cafile=cert)).json()
    assert scope["scheme"] == "https"
    assert "tls" in scope["extensions"]
