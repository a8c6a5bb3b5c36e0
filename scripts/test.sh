#!/usr/bin/env bash
# Install what the tests need into .venv, build the compiled speedups, and
# run the whole suite: every behaviour test runs on both implementations
# (compiled and pure-Python).  Extra arguments go to pytest.
#
#   PYTHON=python3.13 VENV=.venv-py313 bash scripts/test.sh   # another CPython
#   PYTHON=pypy3 VENV=.venv-pypy FASTASGI_NO_EXTENSIONS=1 bash scripts/test.sh
#       # the pure package only (PyPy, or CPython without extensions): the
#       # compiled half of the suite is skipped, with the reason
set -euo pipefail
cd "$(dirname "$0")/.."

# wrk, from Debian, drives the benchmark's smoke test (tests/test_bench.py),
# which skips with its reason where wrk cannot be installed.
if ! command -v wrk >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk; } \
        >/dev/null || echo "wrk could not be installed: the benchmark smoke test will skip" >&2
fi

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
. "$VENV/bin/activate"
# setuptools and Cython as the build backend asks for them, so that a rebuild
# with --no-build-isolation (after editing a compiled source) works too.
python -m pip install -q --upgrade pip "setuptools>=77"
if [ -z "${FASTASGI_NO_EXTENSIONS:-}" ] && python -c 'import sys; sys.exit(sys.implementation.name != "cpython")'; then
    python -m pip install -q "$(python -c 'import runpy; print(runpy.run_path("scripts/build_backend.py")["CYTHON"])')"
fi
if [ -n "${FASTASGI_NO_EXTENSIONS:-}" ]; then
    python -m pip install -q -e ".[test]"
    unset FASTASGI_NO_EXTENSIONS  # the tests choose the implementation per server
else
    # The compiled build is required here: a silent fallback to pure would
    # leave half of the suite skipped.
    FASTASGI_REQUIRE_EXTENSIONS=1 python -m pip install -q -e ".[test]"
fi
python -m fastasgi --version
exec python -m pytest -p no:cacheprovider "$@"
