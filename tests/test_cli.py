"""The command line and the programmatic entry points, run as real processes."""
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading

import httpx
import pytest

import fastasgi
from fastasgi.config import STARTUP_FAILURE

from .conftest import ROOT, ServerProcess
from .process_utils import STOPPED_BY_SIGTERM

pytestmark = pytest.mark.timeout(30)

FASTASGI_SCRIPT = os.path.join(os.path.dirname(sys.executable), "fastasgi")

# Every uvicorn flag that fastasgi mirrors.
UVICORN_FLAGS = [
    "--host", "--port", "--uds", "--fd", "--loop", "--http", "--ws", "--ws-max-size",
    "--ws-max-queue", "--ws-ping-interval", "--ws-ping-timeout", "--ws-per-message-deflate",
    "--lifespan", "--interface", "--log-config", "--log-level", "--access-log",
    "--no-access-log", "--use-colors", "--no-use-colors", "--root-path", "--backlog",
    "--timeout-keep-alive", "--timeout-graceful-shutdown", "--server-header",
    "--no-server-header", "--date-header", "--no-date-header", "--header",
    "--h11-max-incomplete-event-size", "--app-dir", "--factory", "--version", "--help",
]


def environment(implementation):
    env = dict(os.environ)
    env.pop("FASTASGI_NO_EXTENSIONS", None)
    env["PYTHONUNBUFFERED"] = "1"
    if implementation == "pure":
        env["FASTASGI_NO_EXTENSIONS"] = "1"
    return env


def http_choice(implementation):
    return "httptools" if implementation == "compiled" else "h11"


def run_cli(args, implementation, timeout=15, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "fastasgi", *args], cwd=cwd, env=environment(implementation),
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout)


class CommandProcess(ServerProcess):
    """Any command (a script, a pre-bound fd) with ServerProcess's log reading."""

    def __init__(self, command, implementation, pass_fds=(), cwd=ROOT):
        self.implementation = implementation
        self.lines = []
        self.port = None
        self.host = "127.0.0.1"
        self._ready = threading.Event()
        self.process = subprocess.Popen(
            command, cwd=cwd, env=environment(implementation), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, pass_fds=pass_fds,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.wait_ready()


@pytest.fixture
def processes():
    started = []
    yield started
    for process in started:
        process.stop(signal.SIGKILL)


@pytest.fixture
def short_tmp():
    """A short directory path: Unix socket paths are limited to ~100 bytes."""
    path = tempfile.mkdtemp(prefix="fa-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


# -- --version / --help -------------------------------------------------------------
def test_version(implementation):
    result = run_cli(["--version"], implementation)
    assert result.returncode == 0
    output = result.stdout.strip()
    match = re.fullmatch(
        r"Running fastasgi (\S+) \((compiled|pure) speedups, protocol fastasgi\.protocols\.http(?:_c)?, "
        r"loop: (asyncio|uvloop \S+)\) "
        r"with (\S+) (\S+) on (\S+)", output)
    assert match, output
    assert match.group(1) == fastasgi.__version__
    assert match.group(2) == implementation
    try:
        import uvloop
    except ImportError:
        assert match.group(3) == "asyncio"
    else:
        assert match.group(3) == f"uvloop {uvloop.__version__}"
    assert match.group(4) == platform.python_implementation()
    assert match.group(5) == platform.python_version()


def test_version_of_the_console_script(implementation):
    assert os.path.exists(FASTASGI_SCRIPT)
    result = subprocess.run([FASTASGI_SCRIPT, "--version"], env=environment(implementation),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=15)
    assert result.returncode == 0
    assert result.stdout.startswith(f"Running fastasgi {fastasgi.__version__} ({implementation} speedups, ")


def test_help_lists_every_uvicorn_flag(implementation):
    result = subprocess.run([FASTASGI_SCRIPT, "--help"], env=environment(implementation),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=15)
    assert result.returncode == 0
    listed = set(re.findall(r"(?<![\w-])(--[a-z0-9][a-z0-9-]*)", result.stdout))
    missing = [flag for flag in UVICORN_FLAGS if flag not in listed]
    assert missing == []
    assert result.stdout.startswith("Usage: fastasgi [OPTIONS] APP")


# -- app loading errors -----------------------------------------------------------------
@pytest.mark.parametrize("app,expected", [
    ("nonexistent_module:app", 'Could not import module "nonexistent_module".'),
    ("tests.apps:missing", 'Attribute "missing" not found in module "tests.apps".'),
    ("tests.apps", 'Import string "tests.apps" must be in format "<module>:<attribute>".'),
    ("tests.app_broken_import:app", "fastasgi_test_no_such_package"),
])
def test_bad_app_string_is_a_one_line_error(implementation, app, expected):
    result = run_cli([app, "--http", http_choice(implementation), "--port", "0"], implementation)
    assert result.returncode == STARTUP_FAILURE
    output = result.stdout
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert "Error loading ASGI app." in lines[0]
    assert expected in lines[0]


def test_broken_import_names_the_module_and_the_missing_package(implementation):
    result = run_cli(["tests.app_broken_import:app", "--port", "0"], implementation)
    assert result.returncode == STARTUP_FAILURE
    assert 'Could not import module "tests.app_broken_import"' in result.stdout
    assert "No module named 'fastasgi_test_no_such_package'" in result.stdout
    assert "Traceback" not in result.stdout


def test_app_that_is_not_callable_is_a_one_line_error(implementation):
    result = run_cli(["tests.apps:ROUTES", "--port", "0"], implementation)
    assert result.returncode == STARTUP_FAILURE
    assert "Traceback" not in result.stdout
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1 and "not callable" in lines[0], result.stdout


# -- app interfaces -----------------------------------------------------------------------
def test_factory(start_server, implementation):
    server = start_server("tests.apps:factory", implementation, "--factory")
    response = httpx.get(server.url + "/")
    assert (response.status_code, response.text) == (200, "from factory")


@pytest.mark.parametrize("interface", ["asgi2", "auto"])
def test_asgi2_interface(start_server, implementation, interface):
    server = start_server("tests.apps:ASGI2App", implementation, "--interface", interface)
    response = httpx.get(server.url + "/")
    assert (response.status_code, response.text) == (200, "asgi2 http")


def test_explicit_asgi3_interface(start_server, implementation):
    server = start_server("tests.apps:app", implementation, "--interface", "asgi3")
    assert httpx.get(server.url + "/").text == "Hello, world!"


# -- sockets ------------------------------------------------------------------------------
def test_unix_socket(start_server, implementation, short_tmp):
    path = os.path.join(short_tmp, "s.sock")
    server = start_server("tests.apps:app", implementation, "--uds", path)
    assert os.path.exists(path)
    with httpx.Client(transport=httpx.HTTPTransport(uds=path)) as client:
        response = client.get("http://localhost/")
        assert (response.status_code, response.text) == (200, "Hello, world!")
        scope = client.get("http://localhost/scope").json()
        assert scope["path"] == "/scope"
        assert scope["server"] == [path, None]  # uvicorn's (path, None) for a Unix socket
    assert server.stop() == STOPPED_BY_SIGTERM
    assert not os.path.exists(path)  # removed even though the re-raised SIGTERM ends the process


def test_fd(processes, implementation, short_tmp):
    path = os.path.join(short_tmp, "fd.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.set_inheritable(True)
    try:
        command = [sys.executable, "-m", "fastasgi", "tests.apps:app", "--http", http_choice(implementation),
                   "--fd", str(sock.fileno())]
        server = CommandProcess(command, implementation, pass_fds=(sock.fileno(),))
        processes.append(server)
        assert "running on unix socket" in server.log
        with httpx.Client(transport=httpx.HTTPTransport(uds=path)) as client:
            response = client.get("http://localhost/")
            assert (response.status_code, response.text) == (200, "Hello, world!")
        assert server.stop() == STOPPED_BY_SIGTERM
    finally:
        sock.close()


def test_app_dir(start_server, implementation, tmp_path):
    (tmp_path / "fa_app_dir_module.py").write_text(textwrap.dedent("""
        async def app(scope, receive, send):
            if scope["type"] != "http":
                return
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"from app-dir"})
    """))
    server = start_server("fa_app_dir_module:app", implementation, "--app-dir", str(tmp_path))
    response = httpx.get(server.url + "/")
    assert (response.status_code, response.text) == (200, "from app-dir")


def test_app_dir_missing_module_without_it(implementation, tmp_path):
    (tmp_path / "fa_app_dir_other.py").write_text("async def app(scope, receive, send):\n    pass\n")
    result = run_cli(["fa_app_dir_other:app", "--port", "0"], implementation)
    assert result.returncode == STARTUP_FAILURE
    assert 'Could not import module "fa_app_dir_other".' in result.stdout


# -- programmatic entry points ----------------------------------------------------------
SCRIPT_APP = '''
import sys

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": BODY})
'''


def test_fastasgi_run_from_a_script(processes, implementation, tmp_path):
    script = tmp_path / "serve_run.py"
    script.write_text(SCRIPT_APP.replace("BODY", "b'from run()'") + textwrap.dedent("""
        import fastasgi
        fastasgi.run(app, host="127.0.0.1", port=0, http=sys.argv[1], lifespan="off")
        print("run() returned")
    """))
    server = CommandProcess([sys.executable, str(script), http_choice(implementation)], implementation)
    processes.append(server)
    response = httpx.get(server.url + "/")
    assert (response.status_code, response.text) == (200, "from run()")
    assert server.stop(signal.SIGINT) == 0  # Ctrl-C: run() returns, as uvicorn.run does
    assert "run() returned" in server.log


def test_config_and_server_serve_from_a_script(processes, implementation, tmp_path):
    script = tmp_path / "serve_config.py"
    script.write_text(SCRIPT_APP.replace("BODY", "b'from serve()'") + textwrap.dedent("""
        import asyncio
        import fastasgi

        async def main():
            config = fastasgi.Config(app, host="127.0.0.1", port=0, http=sys.argv[1])
            server = fastasgi.Server(config)
            await server.serve()
            print("serve() returned", server.started)

        asyncio.run(main())
    """))
    server = CommandProcess([sys.executable, str(script), http_choice(implementation)], implementation)
    processes.append(server)
    response = httpx.get(server.url + "/")
    assert (response.status_code, response.text) == (200, "from serve()")
    # serve() drains, then raises the SIGTERM again: the script ends as it would without a server.
    assert server.stop() == STOPPED_BY_SIGTERM
    assert "Finished server process" in server.log
    assert "serve() returned" not in server.log
