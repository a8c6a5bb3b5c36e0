"""On PyPy the serving process raises the JIT's trace limit (fastasgi/pypy_jit.py),
unless the user set JIT parameters or FASTASGI_NO_JIT_TUNING; elsewhere nothing changes."""
import subprocess
import sys
import textwrap

import pytest

from fastasgi.pypy_jit import jit_set_by_user, tune_jit

from .conftest import ROOT

pytestmark = pytest.mark.timeout(60)

ON_PYPY = sys.implementation.name == "pypy"
needs_pypy = pytest.mark.skipif(not ON_PYPY, reason="PyPy's JIT only")

# A loop around one straight-line function whose trace is longer than
# PyPy's default limit (6000 operations) and shorter than fastasgi's:
# prints whether tune_jit() applied, then the reasons the JIT gave up.
LONG_TRACE = textwrap.dedent("""
    import sys
    import pypyjit
    from fastasgi.pypy_jit import tune_jit
    tuned = tune_jit() if sys.argv[1] == "tune" else False
    aborts = set()
    pypyjit.set_abort_hook(lambda driver, greenkey, reason, *rest: aborts.add(reason))
    lines = ["def step(x):"] + ["    x = (x * 3 + %d) & 0xffff" % i for i in range(150)] + ["    return x"]
    namespace = {}
    exec("\\n".join(lines), namespace)
    step = namespace["step"]
    x = 1
    for _ in range(20000):
        x = step(x)
    print(tuned, "ABORT_TOO_LONG" in aborts)
""")


def run_long_trace(mode, *interpreter_options, **environ):
    result = subprocess.run([sys.executable, *interpreter_options, "-c", LONG_TRACE, mode], capture_output=True,
                            text=True, timeout=40, env={"PATH": "/usr/bin:/bin", **environ}, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    tuned, too_long = result.stdout.split()
    return tuned == "True", too_long == "True"


@needs_pypy
def test_a_tuned_process_compiles_a_path_the_default_limit_gives_up_on():
    assert run_long_trace("leave") == (False, True)
    assert run_long_trace("tune") == (True, False)


@needs_pypy
def test_the_users_own_jit_parameters_win():
    assert run_long_trace("tune", "--jit", "trace_limit=6000") == (False, True)
    assert run_long_trace("tune", FASTASGI_NO_JIT_TUNING="1") == (False, True)


@pytest.mark.skipif(ON_PYPY, reason="CPython has no JIT to tune")
def test_cpython_is_left_alone():
    assert not tune_jit({})


def test_jit_options_on_the_command_line_are_seen(tmp_path):
    cmdline = tmp_path / "cmdline"
    cmdline.write_bytes(b"pypy3\0--jit\0trace_limit=7000\0-m\0fastasgi\0app:app\0")
    assert jit_set_by_user(str(cmdline))
    cmdline.write_bytes(b"pypy3\0-X\0faulthandler\0--jit\0off\0serve.py\0")
    assert jit_set_by_user(str(cmdline))
    cmdline.write_bytes(b"pypy3\0-m\0fastasgi\0app:app\0--port\08000\0")
    assert not jit_set_by_user(str(cmdline))
    # the program's own arguments are not the interpreter's
    cmdline.write_bytes(b"pypy3\0serve.py\0--jit\0fast\0")
    assert not jit_set_by_user(str(cmdline))
    cmdline.write_bytes(b"pypy3\0-W\0--jit\0-m\0fastasgi\0")  # a warning filter, not the option
    assert not jit_set_by_user(str(cmdline))
    assert not jit_set_by_user(str(tmp_path / "missing"))  # no /proc: nothing to tell by
    assert not tune_jit({"FASTASGI_NO_JIT_TUNING": "1"})


@pytest.mark.parametrize("env, tuned", [({}, ON_PYPY), ({"FASTASGI_NO_JIT_TUNING": "1"}, False)])
def test_the_server_tunes_its_own_process(start_server, implementation, env, tuned):
    server = start_server("tests.apps:app", implementation, "--log-level", "debug", env=env)
    assert server.wait_for_log("Application startup complete.")
    assert ("PyPy's JIT trace limit raised" in server.log) is tuned, server.log
