"""fastasgi's command line against uvicorn's own click command, so parity cannot drift."""
import os
import subprocess
import sys

import click
import httpx
import pytest

from fastasgi.cli import main as fastasgi_main
from fastasgi.config import STARTUP_FAILURE

from .conftest import ROOT
from .process_utils import STOPPED_BY_SIGTERM

uvicorn_main = pytest.importorskip("uvicorn.main").main

pytestmark = pytest.mark.timeout(30)

# Options fastasgi has and uvicorn does not, each on purpose.
FASTASGI_ONLY = {
    "--worker-healthcheck-timeout",  # an alias of --timeout-worker-healthcheck
    # Limits and timeouts against slow or abusive clients, which uvicorn lacks.
    "--timeout-request-header",
    "--timeout-request-body",
    "--timeout-request-body-total",
    "--timeout-write",
    "--limit-request-line",
    "--limit-request-fields",
    "--limit-request-header-size",
    "--limit-request-body",
    # Operations (issue 30): PROXY protocol, log formats, metrics and health.
    "--proxy-protocol",
    "--access-log-format",
    "--log-format",
    "--metrics",
    "--no-metrics",
    "--metrics-host",
    "--metrics-port",
    # HTTP/2's settings and limits, which uvicorn does not expose.
    "--http2-max-concurrent-streams",
    "--http2-initial-window-size",
    "--http2-connection-window",
    "--http2-max-frame-size",
    "--http2-max-header-list-size",
    "--http2-settings-timeout",
    "--http2-ping-interval",
    "--http2-ping-timeout",
    "--http2-engine",
}
# Settings whose defaults differ from uvicorn's, with the reason.
DIFFERENT_DEFAULTS = {}
# uvicorn accepts import strings here; fastasgi offers a fixed list (its own implementations).
FREE_FORM_IN_UVICORN = {"loop", "http", "ws"}
UVICORN_WS_NAMES = ["auto", "none", "websockets", "websockets-sansio", "wsproto"]
# fastasgi mirrors current uvicorn; on Python 3.9 (CPython or PyPy) pip can only
# install uvicorn 0.39 or older, whose flags and defaults are older too.
needs_current_uvicorn = pytest.mark.skipif(
    sys.version_info < (3, 10),
    reason="the uvicorn releases for Python 3.9 predate flags and defaults fastasgi mirrors")


def options(command):
    return {param.name: param for param in command.params if isinstance(param, click.Option)}


def flags(command):
    return {flag for param in options(command).values() for flag in (*param.opts, *param.secondary_opts)}


def test_every_uvicorn_flag_exists():
    missing = flags(uvicorn_main) - flags(fastasgi_main)
    assert not missing, f"uvicorn flags fastasgi lacks: {sorted(missing)}"


@needs_current_uvicorn
def test_no_unexplained_extra_flags():
    extra = flags(fastasgi_main) - flags(uvicorn_main)
    assert extra <= FASTASGI_ONLY, f"flags only fastasgi has (add them to FASTASGI_ONLY with a reason): {extra}"


@needs_current_uvicorn
def test_defaults_and_kinds_match():
    ours = options(fastasgi_main)
    for name, theirs in options(uvicorn_main).items():
        mine = ours[name]
        assert mine.is_flag == theirs.is_flag, name
        assert mine.multiple == theirs.multiple, name
        if name in DIFFERENT_DEFAULTS:
            continue
        assert mine.default == theirs.default, f"--{name}: {mine.default!r} != uvicorn's {theirs.default!r}"
        if name not in FREE_FORM_IN_UVICORN and isinstance(theirs.type, click.Choice):
            assert set(theirs.type.choices) <= set(mine.type.choices), name


def test_uvicorn_ws_names_are_accepted():
    ws = options(fastasgi_main)["ws"]
    assert set(UVICORN_WS_NAMES) <= set(ws.type.choices)


def test_same_argument_and_environment_prefix():
    assert [p.name for p in fastasgi_main.params if isinstance(p, click.Argument)] == ["app"]
    assert fastasgi_main.context_settings["auto_envvar_prefix"] == "FASTASGI"


def test_help_lists_every_option_with_text():
    result = subprocess.run([sys.executable, "-m", "fastasgi", "--help"], cwd=ROOT, capture_output=True,
                            text=True, timeout=20)
    assert result.returncode == 0
    for flag in flags(fastasgi_main):
        assert flag in result.stdout, flag
    for param in options(fastasgi_main).values():
        assert param.help, f"--{param.name} has no help text"


def test_run_accepts_uvicorn_run_keywords():
    import inspect

    import uvicorn

    from fastasgi.config import Config

    theirs = set(inspect.signature(uvicorn.Config).parameters)
    ours = set(inspect.signature(Config).parameters)
    # Hooks for uvicorn's internals (protocol classes, notify callbacks, SSL factories) aside.
    internal = {"timeout_notify", "callback_notify", "ssl_context_factory"}
    assert theirs - ours <= internal, sorted(theirs - ours - internal)


def test_env_file(start_server, tmp_path, implementation):
    env_file = tmp_path / "settings.env"
    env_file.write_text("FASTASGI_TEST_SETTING=from-the-env-file\nWEB_CONCURRENCY=1\n")
    server = start_server("tests.process_apps:app", implementation, "--env-file", str(env_file))
    assert httpx.get(server.url + "/env?FASTASGI_TEST_SETTING").text == "from-the-env-file"
    assert f"Loading environment from '{env_file}'" in server.log


def test_env_file_without_python_dotenv_is_a_one_line_error(tmp_path):
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "dotenv.py").write_text("raise ImportError('hidden from this test')\n")
    env_file = tmp_path / "settings.env"
    env_file.write_text("A=1\n")
    env = dict(os.environ, PYTHONPATH=str(shim))
    result = subprocess.run([sys.executable, "-m", "fastasgi", "tests.process_apps:app", "--env-file",
                             str(env_file)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=20)
    assert result.returncode == STARTUP_FAILURE
    assert "--env-file needs the python-dotenv package: pip install 'fastasgi[standard]'" in result.stderr
    assert "Traceback" not in result.stderr




def test_reset_contextvars(start_server, tmp_path, implementation):
    module = tmp_path / "ctxapp.py"
    module.write_text(
        "import contextvars\n"
        "VAR = contextvars.ContextVar('v', default='unset')\n"
        "VAR.set('set-at-import')\n"
        "async def app(scope, receive, send):\n"
        "    if scope['type'] != 'http':\n"
        "        return\n"
        "    await send({'type': 'http.response.start', 'status': 200, 'headers': []})\n"
        "    await send({'type': 'http.response.body', 'body': VAR.get().encode()})\n")
    shared = start_server("ctxapp:app", implementation, "--app-dir", str(tmp_path), "--lifespan", "off")
    fresh = start_server("ctxapp:app", implementation, "--app-dir", str(tmp_path), "--lifespan", "off",
                         "--reset-contextvars")
    assert httpx.get(shared.url).text == "set-at-import"
    assert httpx.get(fresh.url).text == "unset"


def test_fd_of_a_tcp_socket_gives_real_addresses():
    import signal
    import socket

    from .process_utils import wait_serving

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "fastasgi", "tests.process_apps:app", "--fd", str(listener.fileno())],
        cwd=ROOT, pass_fds=[listener.fileno()], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    listener.close()
    try:
        wait_serving(f"http://127.0.0.1:{port}/pid")
        scope = httpx.get(f"http://127.0.0.1:{port}/scope").json()
        assert scope["server"] == ["127.0.0.1", port]
        assert scope["client"][0] == "127.0.0.1"
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=15)
    assert process.returncode == STOPPED_BY_SIGTERM


def test_every_cli_default_is_config_s():
    """One declaration per option (issue 25): the CLI reads each default from
    Config's signature, so the two cannot disagree.  The exceptions, each
    for a reason, are listed here."""
    from fastasgi.config import config_defaults

    defaults = config_defaults()
    cli_only = {
        "app_dir": "",  # the working directory goes on sys.path, as with uvicorn's CLI
        "log_config": None,  # main() passes Config's LOGGING_CONFIG, a dict no flag can spell
    }
    not_options = {"app", "version"}
    # Callables and their settings: uvicorn has no flags for them either.
    python_only = {"ssl_context_factory", "callback_notify", "timeout_notify"}
    params = {param.name: param for param in fastasgi_main.params}
    assert set(params) - not_options == set(defaults) - python_only  # every other option has its flag
    for name, param in params.items():
        if name in not_options:
            continue
        if name in cli_only:
            assert param.default == cli_only[name], name
        elif param.multiple:
            assert defaults[name] is None, name  # a repeatable flag never given: none of them
        else:
            assert param.default == defaults[name], name
