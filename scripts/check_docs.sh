#!/usr/bin/env bash
# Build the documentation site and check it as a reader would:
#   1. `mkdocs build --strict`: a broken link between pages, a missing page or
#      anchor, or a page outside the nav fails the build;
#   2. the benchmark chart is drawn again from the committed run
#      (bench/latest.json) and read back (tests/test_bench_chart.py): matplotlib
#      is bench-only, so the main suite skips that test where it is missing;
#   3. the site is served on loopback and every page is opened in headless
#      Chromium (Debian's chromium): a page that does not render, a script
#      error, a missing resource or image, or a broken link or anchor fails.
# The code examples in the pages are run by tests/test_docs_examples.py.
#
#   bash scripts/check_docs.sh          # VENV=... to choose the virtualenv
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; } \
        >/dev/null
fi

VENV=${VENV:-.venv-docs}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
. "$VENV/bin/activate"
python -m pip install -q --upgrade pip
# The site's tools, the chart's matplotlib (pinned once, in bench/requirements.txt),
# pytest for the chart's test, and fastasgi itself, which the settings page and
# the API reference read (the pure package: nothing to compile for the docs).
python -m pip install -q -r docs/requirements.txt "$(grep -E '^matplotlib' bench/requirements.txt)" \
    pytest pytest-timeout
FASTASGI_NO_EXTENSIONS=1 python -m pip install -q -e .

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
NO_MKDOCS_2_WARNING=1 mkdocs build --strict --site-dir "$out/site"
python -m pytest -q -p no:cacheprovider tests/test_bench_chart.py
python scripts/check_docs.py "$out/site"
