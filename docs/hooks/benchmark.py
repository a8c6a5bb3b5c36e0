"""MkDocs hook: the performance page's table, drawn from the published run.

bench/latest.json is the run the chart (docs/img/benchmark.svg) shows; the
marker in docs/performance.md becomes its table, formatted by bench/run.py
as the run itself printed it.  Publishing a run is then one file and one
redrawn chart, and the table cannot disagree with the chart.
"""
import importlib.util
import json
import os
import re

MARKER = "<!-- bench: the published run's table -->"
BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "bench")


def on_page_markdown(markdown, page, config, files):
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, published_table())


def published_table():
    spec = importlib.util.spec_from_file_location("bench_run", os.path.join(BENCH, "run.py"))
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    with open(os.path.join(BENCH, "latest.json"), encoding="utf-8") as file:
        data = json.load(file)
    table = run.markdown_table(data["meta"], data["rows"], data.get("not_comparable", ()))
    return re.sub(r"(\d)\*", r"\1\\*", table)  # "1212897*" (wrk-bound) is a mark, not emphasis
