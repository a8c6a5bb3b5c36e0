"""The one selector: the whole stack is compiled or pure, never a mix.

The stack's modules are the ones compiled.COMPILED_MODULES declares; a
compiled module that cannot be imported, for any reason, makes the whole
stack pure, with a warning that names it, and the server says at start
which implementation it runs.  The breakage tests run a copy of the
installed package with one compiled module broken, so they are about the
compiled build by nature and skip without it.
"""
import importlib.machinery
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import urllib.request

import pytest

from fastasgi import _speedups
from fastasgi._speedups.compiled import COMPILED_MODULES, flag

from .conftest import ROOT, RUNNING_ON, require_implementation

EXTENSION_SUFFIXES = tuple(importlib.machinery.EXTENSION_SUFFIXES)


def test_each_stack_holds_every_declared_module_of_its_kind(implementation):
    stack = _speedups.load(implementation)
    assert stack.IMPLEMENTATION == implementation
    column = 0 if implementation == "compiled" else 2
    for role, entry in COMPILED_MODULES.items():
        module = getattr(stack, role)
        assert module.__name__ == entry[column]
        assert module.__file__.endswith(EXTENSION_SUFFIXES) == (implementation == "compiled"), module.__file__
    # The hot-path names come from the stack's own modules, never the other twin's.
    assert stack.RequestParser.__module__ == stack.parser.__name__
    assert stack.http.RequestResponseCycle is stack.cycle.RequestResponseCycle


@pytest.mark.skipif(not os.path.exists(os.path.join(ROOT, "setup.py")),
                    reason="reads the source tree's setup.py (cibuildwheel's test step has only the tests)")
@pytest.mark.skipif(sys.implementation.name != "cpython", reason="setup.py compiles nothing off CPython")
def test_setup_py_builds_exactly_the_declared_modules():
    # setup.py's own extension list, with setup() replaced by a print of it.
    lister = ("import runpy, setuptools; setuptools.setup = lambda **options: print(*("
              "f'{e.name}={e.sources[0]}' for e in options['ext_modules'])); runpy.run_path('setup.py')")
    listing = subprocess.run([sys.executable, "-c", lister], cwd=ROOT, capture_output=True, text=True,
                             env=dict(os.environ, FASTASGI_NO_EXTENSIONS="0"), timeout=30)
    assert listing.returncode == 0, listing.stderr
    built = sorted(tuple(entry.split("=")) for entry in listing.stdout.split())
    assert built == sorted((name, source) for name, source, _ in COMPILED_MODULES.values())


@pytest.mark.parametrize("value, on", [("1", True), ("true", True), ("yes", True), ("", False),
                                       ("0", False), ("false", False), ("False", False), ("off", False),
                                       ("no", False)])
def test_the_switches_read_false_as_off(value, on):
    assert flag("FASTASGI_NO_EXTENSIONS", {"FASTASGI_NO_EXTENSIONS": value}) is on


def test_no_extensions_false_keeps_the_compiled_stack():
    require_implementation("compiled")
    result = subprocess.run([sys.executable, "-m", "fastasgi", "--version"], cwd=ROOT, capture_output=True,
                            text=True, env=dict(os.environ, FASTASGI_NO_EXTENSIONS="false"), timeout=30)
    assert "(compiled speedups, protocol fastasgi.protocols.http_c," in result.stdout, result.stdout


def test_the_start_log_names_the_implementation(start_server, implementation):
    server = start_server("tests.apps:app", implementation, "--log-level", "info")
    module = "fastasgi.protocols.http_c" if implementation == "compiled" else "fastasgi.protocols.http"
    http = "httptools" if implementation == "compiled" else "h11"
    assert f"INFO:     Running the {implementation} implementation (protocol {module}), chosen by --http {http}" \
        in server.log


# -- one compiled module broken: the whole stack falls back ---------------------------------------

def extension_file(package_dir, module_name):
    """Where the copy at package_dir holds the extension this interpreter loads for module_name."""
    loaded = sys.modules[module_name].__file__
    return os.path.join(package_dir, *module_name.split(".")[1:-1], os.path.basename(loaded))


def missing(package_dir, hooks):
    os.remove(extension_file(package_dir, COMPILED_MODULES["http"][0]))


def foreign(package_dir, hooks):
    # Another module's extension under cycle_c's name: it exports no PyInit_cycle_c.
    shutil.copy(extension_file(package_dir, COMPILED_MODULES["flow"][0]),
                extension_file(package_dir, COMPILED_MODULES["cycle"][0]))


def raises(package_dir, hooks):
    # As a .so built against another .pxd does ("... has the wrong signature"):
    # the import raises something other than ImportError.
    with open(os.path.join(hooks, "sitecustomize.py"), "w") as file:
        file.write(textwrap.dedent("""\
            import sys

            class Broken:
                def find_spec(self, name, path=None, target=None):
                    if name == "fastasgi._speedups.response_c":
                        raise TypeError("C function fastasgi._speedups.headers_c.short_number "
                                        "has wrong signature")

            sys.meta_path.insert(0, Broken())
            """))


BREAKAGES = {
    missing: "fastasgi.protocols.http_c: ModuleNotFoundError",
    foreign: "fastasgi.protocols.cycle_c: ImportError: dynamic module does not define module export function",
    raises: "fastasgi._speedups.response_c: TypeError: C function",
}


@pytest.fixture(params=list(BREAKAGES), ids=lambda breakage: breakage.__name__)
def broken_install(request, tmp_path):
    """A copy of the installed package with one compiled module broken, and the example app."""
    require_implementation("compiled")
    site, hooks = tmp_path / "site", tmp_path / "hooks"
    hooks.mkdir()
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(_speedups.__file__)))
    shutil.copytree(package_dir, site / "fastasgi", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(os.path.join(ROOT, "examples"), site / "examples")
    request.param(str(site / "fastasgi"), str(hooks))
    env = dict(os.environ, PYTHONPATH=str(hooks), PYTHONUNBUFFERED="1")
    env.pop("FASTASGI_NO_EXTENSIONS", None)
    return site, env, BREAKAGES[request.param]


def test_a_broken_compiled_module_makes_the_whole_stack_pure(broken_install):
    site, env, reason = broken_install
    script = ("import fastasgi._speedups as s; print(s.__file__); print(s.IMPLEMENTATION); "
              "print(*(getattr(s.active, role).__name__ for role in s.COMPILED_MODULES)); "
              "print(s.compiled_available())")
    result = subprocess.run([sys.executable, "-c", script], cwd=site, env=env, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    where, implementation, modules, available = result.stdout.splitlines()
    assert where.startswith(str(site))
    assert (implementation, available) == ("pure", "False")
    assert modules.split() == [pure for _, _, pure in COMPILED_MODULES.values()]
    assert "RuntimeWarning: fastasgi's compiled speedups failed to import" in result.stderr
    assert reason in result.stderr, result.stderr

    version = subprocess.run([sys.executable, "-m", "fastasgi", "--version"], cwd=site, env=env,
                             capture_output=True, text=True, timeout=30)
    assert "(pure speedups, protocol fastasgi.protocols.http," in version.stdout, version.stdout


def test_a_broken_install_serves_and_warns_at_start(broken_install):
    site, env, reason = broken_install
    process = subprocess.Popen([sys.executable, "-m", "fastasgi", "examples.hello:app", "--port", "0",
                                "--log-level", "info"], cwd=site, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            running = RUNNING_ON.search(line)
            if running:
                break
        assert running, "".join(lines)
        with urllib.request.urlopen(f"http://127.0.0.1:{running.group(2)}/", timeout=5) as response:
            assert response.read() == b"Hello, world!\n"
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=10)
    log = "".join(lines)
    start = re.search(r"WARNING:  Running the pure implementation \(protocol fastasgi\.protocols\.http\): "
                      r"the compiled speedups failed to import \((.*)\)", log)
    assert start and reason in start.group(1), log
    assert process.returncode == -signal.SIGTERM  # drained, then SIGTERM re-raised (as uvicorn)
