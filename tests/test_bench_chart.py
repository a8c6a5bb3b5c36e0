"""bench/chart.py draws what it promises from a run's JSON: a bar per server
and scenario (the baselines are the line at 1), whiskers from the rounds'
range, the ceilings hatched and named, wrk-bound figures starred.  Read
back from the SVG it writes, with the committed run (bench/latest.json)."""
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as tree

import pytest

from .conftest import ROOT

pytest.importorskip("matplotlib", reason="the chart is bench-only: pip install -r bench/requirements.txt")

SVG = "{http://www.w3.org/2000/svg}"
CHART = os.path.join(ROOT, "bench", "chart.py")
BASELINES = {"uvicorn", "uvicorn-h11-pypy"}


@pytest.mark.timeout(60)
def test_the_chart_shows_every_row_of_the_run(tmp_path):
    run = json.loads(open(os.path.join(ROOT, "bench", "latest.json")).read())
    output = tmp_path / "chart.svg"
    subprocess.run([sys.executable, CHART, os.path.join(ROOT, "bench", "latest.json"), "--output", str(output)],
                   check=True, capture_output=True, timeout=50)
    document = tree.parse(output).getroot()
    ids = {element.get("id") for element in document.iter() if element.get("id")}
    texts = [text.strip() for element in document.iter(f"{SVG}text") for text in element.itertext() if text.strip()]

    drawn = [row for row in run["rows"] if row["server"] not in BASELINES]
    assert {f"bar:{row['scenario']}:{row['server']}" for row in drawn} <= ids
    assert not any(f"bar:{row['scenario']}:{row['server']}" in ids for row in run["rows"] if row not in drawn)
    assert {f"whiskers:{server}" for server in {row["server"] for row in drawn}} <= ids
    assert "raw-uvloop (ceiling)" in texts and "raw-asyncio-pypy (ceiling)" in texts
    assert "uvicorn = 1" in texts and "uvicorn-h11-pypy = 1" in texts
    assert "63*" in texts  # raw-uvloop's pipelined row: wrk was the limit
    assert "2.3" in texts  # fastasgi's hello ratio, as the table gives it (2.30)
