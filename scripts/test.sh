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

# The real peers the tests run against, from Debian: wrk and h2load
# (nghttp2-client) for the benchmark and HTTP/2 smoke tests, curl and nghttp
# as HTTP/2 clients, nginx and HAProxy in front of the server, openssl for
# test certificates, Chromium for the docs check.  A test whose tool could
# not be installed skips with its reason.
PEERS=(wrk:wrk h2load:nghttp2-client nghttp:nghttp2-client curl:curl nginx:nginx haproxy:haproxy
       openssl:openssl chromium:chromium)
missing=()
for peer in "${PEERS[@]}"; do
    command -v "${peer%%:*}" >/dev/null || missing+=("${peer#*:}")
done
if [ ${#missing[@]} -gt 0 ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    packages=$(printf '%s\n' "${missing[@]}" | sort -u)
    # shellcheck disable=SC2086 -- one word per package
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $packages; } \
        >/dev/null || echo "could not install: $packages (their tests will skip)" >&2
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
