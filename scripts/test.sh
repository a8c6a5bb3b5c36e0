#!/usr/bin/env bash
# Install what the tests need into .venv, build the compiled speedups, and
# run the whole suite: every behaviour test runs on both implementations
# (compiled and pure-Python).  Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
. "$VENV/bin/activate"
python -m pip install -q --upgrade pip
# The compiled build is required here: a silent fallback to pure would
# leave half of the suite skipped.
FASTASGI_REQUIRE_EXTENSIONS=1 python -m pip install -q -e ".[test]"
python -m fastasgi --version
exec python -m pytest -p no:cacheprovider "$@"
