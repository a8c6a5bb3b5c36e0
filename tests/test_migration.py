"""What a uvicorn user moving to fastasgi relies on (issue 29), with real
server processes on both implementations; docs/migration.md lists what
still differs."""
import asyncio
import os
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import time

import httpx
import pytest
from websockets.asyncio.client import connect

from fastasgi.config import STARTUP_FAILURE

from .conftest import ROOT, read_response, recv_until_closed
from .process_utils import STOPPED_BY_SIGTERM, free_port, make_certificate, wait_serving, wait_until

pytestmark = pytest.mark.timeout(60)

APP = "tests.migration_apps:app"


def environment(implementation, **extra):
    env = dict(os.environ, PYTHONUNBUFFERED="1", **extra)
    env.pop("FASTASGI_NO_EXTENSIONS", None)
    if implementation == "pure":
        env["FASTASGI_NO_EXTENSIONS"] = "1"
    return env


def http_flag(implementation):
    return "httptools" if implementation == "compiled" else "h11"


def run_cli(args, implementation, timeout=20, **extra_env):
    return subprocess.run([sys.executable, "-m", "fastasgi", *args], cwd=ROOT,
                          env=environment(implementation, **extra_env), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)


# -- 1. a client leaving a stream is not an application error ---------------------------
def _leave_a_stream(server, path):
    sock = server.connect()
    sock.sendall(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path)
    sock.settimeout(5)
    assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
    sock.close()


def test_a_client_leaving_a_stream_logs_no_error(start_server, implementation):
    server = start_server(APP, implementation, "--log-level", "debug")
    _leave_a_stream(server, b"/stream")
    assert server.wait_for_log("Client disconnected before the response was complete")
    assert httpx.get(server.url + "/").text == "ok"  # still serving
    assert "Exception in ASGI application" not in server.log
    assert "Traceback" not in server.log


def test_an_app_bug_after_a_disconnect_is_still_logged_in_full(start_server, implementation):
    server = start_server(APP, implementation)
    _leave_a_stream(server, b"/stream-then-bug")
    assert server.wait_for_log("KeyError: 'cleanup-bug'")
    assert "Exception in ASGI application" in server.log
    assert "Traceback" in server.log


# -- 2. code that configures uvicorn's loggers ------------------------------------------
def test_uvicorn_loggers_configured_in_code_act_on_fastasgi_s(start_server, implementation, tmp_path):
    error_log = tmp_path / "error.log"
    server = start_server(APP, implementation, env={"MIGRATION_ERROR_LOG": str(error_log)})
    for path in ("/health", "/log", "/other"):
        assert httpx.get(server.url + path).status_code == 200
    assert server.wait_for_log('"GET /other HTTP/1.1" 200')
    log = server.log
    assert '"GET /log HTTP/1.1" 200' in log
    assert "/health" not in log  # the filter on uvicorn.access dropped it
    assert "app message through uvicorn.error" in log  # the app's line, through fastasgi's handlers
    # The handler set on uvicorn.error gets the server's own messages too.
    assert wait_until(lambda: "app message through uvicorn.error" in error_log.read_text(), 5)
    assert "INFO Application startup complete." in error_log.read_text()


def test_a_log_level_set_on_uvicorn_error_applies(start_server, implementation, tmp_path):
    module = tmp_path / "quiet_app.py"
    module.write_text(textwrap.dedent("""
        import logging
        logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
        from tests.migration_apps import app
    """))
    port = free_port()
    server = start_server("quiet_app:app", implementation, "--app-dir", str(tmp_path), "--port", str(port),
                          wait=False)
    wait_serving(f"http://127.0.0.1:{port}/")  # "running on" is an INFO line: not logged
    assert wait_until(lambda: '"GET / HTTP/1.1" 200' in server.log, 5)  # uvicorn.access keeps its level
    assert "Application startup complete" not in server.log
    assert "running on" not in server.log


# -- 3. signals are raised again after serve() -----------------------------------------
SERVE_BESIDE_OTHER_WORK = """
import asyncio, sys
import fastasgi
from tests.migration_apps import app

async def other_work():
    while True:
        await asyncio.sleep(0.05)

async def main():
    config = fastasgi.Config(app, host="127.0.0.1", port=0, http=sys.argv[1])
    await asyncio.gather(fastasgi.Server(config).serve(), other_work())

try:
    asyncio.run(main())
except KeyboardInterrupt:
    print("KeyboardInterrupt reached the program", flush=True)
"""


@pytest.mark.parametrize("sig,status", [(signal.SIGINT, 0), (signal.SIGTERM, STOPPED_BY_SIGTERM)])
def test_a_program_serving_beside_other_work_stops_on_a_signal(implementation, tmp_path, sig, status):
    script = tmp_path / "beside.py"
    script.write_text(SERVE_BESIDE_OTHER_WORK)
    process = subprocess.Popen([sys.executable, str(script), http_flag(implementation)], cwd=ROOT,
                               env=environment(implementation, PYTHONPATH=ROOT), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            if "running on" in line:
                break
        process.send_signal(sig)
        output, _ = process.communicate(timeout=15)
    finally:
        process.kill()
    output = "".join(lines) + output
    assert process.returncode == status, output
    assert "Finished server process" in output  # drained first
    assert ("KeyboardInterrupt reached the program" in output) == (sig == signal.SIGINT)


def test_capture_signals_restores_the_handler_and_raises_the_signal_again():
    from fastasgi import Config, Server

    received = []
    previous = signal.signal(signal.SIGTERM, lambda sig, frame: received.append(sig))
    try:
        server = Server(Config(APP, log_config=None))
        with server.capture_signals():
            os.kill(os.getpid(), signal.SIGTERM)
            assert wait_until(lambda: server.should_exit, 2)
            assert received == []  # the server's handler took it
        assert received == [signal.SIGTERM]  # then the program's own, once serve() is over
    finally:
        signal.signal(signal.SIGTERM, previous)


ON_TICK_SUBCLASS = """
import asyncio, sys
import fastasgi
from tests.migration_apps import app

notified = []

async def notify():
    notified.append(1)

class StopsAfterFiveTicks(fastasgi.Server):
    async def on_tick(self, counter):
        return await super().on_tick(counter) or counter >= 5

config = fastasgi.Config(app, host="127.0.0.1", port=0, http=sys.argv[1], callback_notify=notify, timeout_notify=0)
asyncio.run(StopsAfterFiveTicks(config).serve())
print("stopped by on_tick, notified", len(notified), flush=True)
"""


def test_a_server_subclass_stops_itself_from_on_tick(implementation, tmp_path):
    script = tmp_path / "on_tick.py"
    script.write_text(ON_TICK_SUBCLASS)
    result = subprocess.run([sys.executable, str(script), http_flag(implementation)], cwd=ROOT,
                            env=environment(implementation, PYTHONPATH=ROOT), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=20)
    assert result.returncode == 0, result.stdout
    assert "Finished server process" in result.stdout
    notified = int(result.stdout.split("stopped by on_tick, notified ")[1].split()[0])
    assert notified >= 5  # callback_notify awaited on every tick with timeout_notify=0


def test_workers_exit_0_on_sigterm_as_uvicorn_s_supervisor(start_server, implementation):
    server = start_server(APP, implementation, "--workers", "2")
    assert httpx.get(server.url + "/").text == "ok"
    assert server.stop() == 0


# -- 4. startup failures exit 3 ---------------------------------------------------------
def test_port_in_use_exits_3(implementation):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        for extra in ([], ["--workers", "2"]):
            result = run_cli([APP, "--http", http_flag(implementation), "--port", str(port), *extra],
                             implementation)
            assert result.returncode == STARTUP_FAILURE, result.stdout
            assert "address already in use" in result.stdout.lower()


def test_a_host_not_on_this_machine_exits_3(implementation):
    # 192.0.2.1 is TEST-NET-1 (RFC 5737): no interface has it, so bind() fails at once.
    result = run_cli([APP, "--http", http_flag(implementation), "--host", "192.0.2.1", "--port", "0"],
                     implementation)
    assert result.returncode == STARTUP_FAILURE, result.stdout
    assert "192.0.2.1" in result.stdout and "Traceback" not in result.stdout


# -- 5. an import error shows its traceback from --log-level debug ----------------------
def test_an_import_error_shows_its_traceback_at_debug(implementation, tmp_path):
    (tmp_path / "raising_app.py").write_text("x = 1\nresult = x / 0\n")
    args = ["raising_app:app", "--app-dir", str(tmp_path), "--port", "0"]
    quiet = run_cli(args, implementation)
    assert quiet.returncode == STARTUP_FAILURE
    assert "Traceback" not in quiet.stdout
    summary = 'Error loading ASGI app. Error importing module "raising_app": ZeroDivisionError'
    assert summary in quiet.stdout
    debug = run_cli([*args, "--log-level", "debug"], implementation)
    assert debug.returncode == STARTUP_FAILURE
    assert summary in debug.stdout  # the one line is kept
    assert "Traceback (most recent call last)" in debug.stdout
    assert 'raising_app.py", line 2' in debug.stdout


# -- 6 and 9. websocket log lines and handshake headers --------------------------------
def test_websocket_log_lines_and_handshake_headers(start_server, implementation):
    server = start_server(APP, implementation)

    async def talk():
        async with connect(f"ws://127.0.0.1:{server.port}/ws?room=1") as ws:
            assert await asyncio.wait_for(ws.recv(), 5) == "hello"
            return ws.response.headers

    headers = asyncio.run(talk())
    assert headers["server"] == "fastasgi"
    assert headers["sec-websocket-extensions"] == (
        "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12")
    assert server.wait_for_log("connection closed")
    log = server.log
    assert '"WebSocket /ws?room=1" [accepted]' in log
    assert "connection open" in log

    async def refused():
        with pytest.raises(Exception) as info:
            async with connect(f"ws://127.0.0.1:{server.port}/ws-refused"):
                pass
        return info.value

    assert "403" in str(asyncio.run(refused()))
    assert server.wait_for_log("connection rejected (403 Forbidden)")
    assert '"WebSocket /ws-refused" 403' in server.log


# -- 7. --loop and --http import strings; uvicorn's Zig variants refused --------------
def test_loop_import_string_is_the_loop_factory(start_server, implementation):
    server = start_server(APP, implementation, "--loop", "tests.migration_apps:custom_loop_factory")
    assert httpx.get(server.url + "/loop").text == "CustomLoop"


def test_http_import_string_is_the_protocol_class(start_server, implementation):
    server = start_server(APP, implementation, "--http", "tests.migration_apps:FixedAnswerProtocol")
    assert httpx.get(server.url + "/").text == "from a custom protocol"


@pytest.mark.parametrize("flag,value,advice", [
    ("--loop", "zuvloop", "use --loop uvloop"),
    ("--http", "zttp", "use --http auto"),
    ("--loop", "no_such_module:factory", "Error loading custom loop setup function."),
    ("--http", "no_such_module:Protocol", "Error loading the --http protocol class."),
])
def test_unserved_loop_and_http_values_are_refused_with_advice(implementation, flag, value, advice):
    args = [APP, "--port", "0", flag, value]
    if flag == "--loop":
        args += ["--http", http_flag(implementation)]
    result = run_cli(args, implementation)
    assert result.returncode == STARTUP_FAILURE, result.stdout
    assert advice in result.stdout
    assert "Traceback" not in result.stdout


def test_get_loop_factory_as_uvicorn_s():
    from fastasgi import Config
    from fastasgi.importer import MissingDependency
    from tests.migration_apps import custom_loop_factory

    assert Config(APP, loop="none", log_config=None).get_loop_factory() is None
    assert Config(APP, loop="asyncio", log_config=None).get_loop_factory() is asyncio.new_event_loop
    try:
        import uvloop
    except ImportError:  # PyPy: uvloop is CPython's only
        with pytest.raises(MissingDependency):
            Config(APP, loop="uvloop", log_config=None).get_loop_factory()
        assert Config(APP, loop="auto", log_config=None).get_loop_factory() is asyncio.new_event_loop
    else:
        assert Config(APP, loop="uvloop", log_config=None).get_loop_factory() is uvloop.new_event_loop
        assert Config(APP, loop="auto", log_config=None).get_loop_factory() is uvloop.new_event_loop
    factory = Config(APP, loop="tests.migration_apps:custom_loop_factory", log_config=None).get_loop_factory()
    assert factory is custom_loop_factory


def test_an_app_factory_is_detected_without_the_flag(start_server, implementation):
    server = start_server("tests.process_apps:create_app", implementation)
    assert httpx.get(server.url + "/").text == "ok"
    assert "ASGI app factory detected. Using it, but please consider setting the --factory flag" in server.log


def test_load_app_as_uvicorn_s():
    from fastasgi import Config
    from tests import migration_apps

    assert Config(APP, log_config=None).load_app() is migration_apps.app
    with pytest.raises(SystemExit) as info:
        Config("tests.migration_apps:missing", log_config=None).load_app()
    assert info.value.code == STARTUP_FAILURE


TLS_FROM_A_FACTORY = """
import sys
import fastasgi
from tests.migration_apps import app

def ssl_context_factory(config, default_factory):
    context = default_factory()  # from the ssl_* settings, as uvicorn's
    context.set_alpn_protocols(["http/1.1"])
    return context

fastasgi.run(app, host="127.0.0.1", port=0, http=sys.argv[1], ssl_certfile=sys.argv[2], ssl_keyfile=sys.argv[3],
             ssl_context_factory=ssl_context_factory)
"""


def test_ssl_context_factory_builds_the_context(implementation, tmp_path):
    cert, key = make_certificate(str(tmp_path))
    script = tmp_path / "tls_factory.py"
    script.write_text(TLS_FROM_A_FACTORY)
    process = subprocess.Popen([sys.executable, str(script), http_flag(implementation), cert, key], cwd=ROOT,
                               env=environment(implementation, PYTHONPATH=ROOT), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        port = None
        for line in process.stdout:
            if "running on https://" in line:
                port = int(line.split("https://127.0.0.1:")[1].split()[0])
                break
        assert port, "the server did not start"
        client = ssl.create_default_context(cafile=cert)
        client.set_alpn_protocols(["http/1.1"])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with client.wrap_socket(raw, server_hostname="localhost") as tls:
                assert tls.selected_alpn_protocol() == "http/1.1"  # set by the factory
                tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
                assert read_response(tls)[2] == b"ok"
    finally:
        process.kill()
        process.communicate(timeout=10)


# -- 9. --limit-max-requests-jitter takes uvicorn's range -------------------------------
def test_negative_jitter_is_refused(implementation):
    result = run_cli([APP, "--limit-max-requests-jitter", "-1"], implementation)
    assert result.returncode == 2
    assert "x>=0" in result.stdout
    from fastasgi import Config

    with pytest.raises(ValueError):
        Config(APP, limit_max_requests_jitter=-1, log_config=None)


# -- 10. --limit-concurrency N serves N requests (a documented difference) ------------
def test_limit_concurrency_serves_n_slow_requests(start_server, implementation):
    """uvicorn counts the request's own connection, so N=2 answers three slow
    requests 200, 503, 503; fastasgi answers 200, 200, 503 (docs/migration.md)."""
    server = start_server("tests.process_apps:app", implementation, "--limit-concurrency", "2")
    socks = []
    for _ in range(3):
        sock = server.connect()
        sock.sendall(b"GET /sleep?s=0.6 HTTP/1.1\r\nHost: t\r\n\r\n")
        socks.append(sock)
        time.sleep(0.15)  # each request is running before the next connects
    statuses = [read_response(sock)[0] for sock in socks]
    for sock in socks:
        sock.close()
    assert statuses == [200, 200, 503]


# -- 11. each refusal names the flag that raises its limit ------------------------------
@pytest.mark.parametrize("request_bytes,status,flag", [
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414, "--limit-request-line"),
    (b"GET / HTTP/1.1\r\nHost: t\r\n" + b"".join(b"x-%d: 1\r\n" % i for i in range(120)) + b"\r\n", 431,
     "--limit-request-fields"),
    (b"GET / HTTP/1.1\r\nHost: t\r\n" + b"x-big: " + b"b" * 70000 + b"\r\n\r\n", 431,
     "--limit-request-header-size"),
    (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n" + b"c" * 100, 413, "--limit-request-body"),
])
def test_each_refusal_names_its_flag(start_server, implementation, request_bytes, status, flag):
    server = start_server(APP, implementation, "--limit-request-body", "10")
    with server.connect() as sock:
        sock.sendall(request_bytes)
        assert read_response(sock)[0] == status
        recv_until_closed(sock)
    assert server.wait_for_log(f"; {flag} raises the limit"), server.log


def test_default_headers_come_first_in_uvicorn_s_order(start_server, implementation):
    # uvicorn writes date, server and the --header lines before the app's
    # headers; tests and proxies that compare raw heads see the same order.
    server = start_server("tests.apps:app", implementation, "--header", "x-team:edge")
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        status, headers, body, _, _ = read_response(sock)
    names = [name.lower() for name, _ in headers]
    assert status == 200 and body
    assert names[:4] == [b"date", b"server", b"x-team", b"content-type"], names
