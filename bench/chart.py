"""The benchmark as a picture: an SVG of one run's ratios to uvicorn.

    python bench/chart.py bench/results/latest.json --output docs/img/benchmark.svg

bench/run.py calls write_chart() after each run, beside latest.json and
latest.md.  Each scenario is a group of bars, one per server: its median
req/s over its baseline's (uvicorn; uvicorn-h11-pypy for the PyPy rows),
with a whisker from the lowest to the highest of the rounds' own ratios.
The canned ceilings (bench/raw_server.py) are hatched, and a bar whose
load generator saturated its core carries "*" (a lower bound).  CPython
and PyPy rows have different baselines, so they get a panel each.
matplotlib is a bench-only dependency (bench/requirements.txt).
"""
import argparse
import json
import os
import sys

# The baselines are the line at 1.0, not bars of their own.
BASELINES = {"uvicorn", "uvicorn-h11-pypy", "uvicorn-accesslog"}
CEILINGS = {"raw-uvloop", "raw-asyncio-pypy"}
COLORS = {
    "fastasgi": "#1f6fb4", "fastasgi-pure": "#6baed6", "fastasgi-accesslog": "#1f6fb4",
    "fastasgi-pypy": "#1f6fb4", "granian": "#e6842a", "uvicorn-h11": "#9e9e9e",
    "uvicorn-malloc": "#7b7b7b", "raw-uvloop": "#ffffff", "raw-asyncio-pypy": "#ffffff",
}
OTHER_COLOR = "#8c6bb1"


def panels(rows):
    """The rows split by baseline: [(title, baseline, rows)], each non-empty."""
    pypy = [row for row in rows if row["server"].endswith("-pypy")]
    cpython = [row for row in rows if not row["server"].endswith("-pypy")]
    result = []
    if cpython:
        result.append(("CPython: ratio to uvicorn (httptools + uvloop)", "uvicorn", cpython))
    if pypy:
        result.append(("PyPy: ratio to uvicorn's h11 path on PyPy", "uvicorn-h11-pypy", pypy))
    return result


def bar_rows(rows):
    """The rows drawn as bars: every server but the baselines, with a ratio."""
    return [row for row in rows if row["server"] not in BASELINES and row.get("ratio_to_uvicorn")]


def write_chart(data, path):
    """Draw `data` (bench/run.py's latest.json, as a dict) into the SVG at `path`."""
    import matplotlib

    matplotlib.use("svg")
    matplotlib.rcParams["svg.hashsalt"] = "fastasgi-bench"  # the same data gives the same file
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: smaller, and searchable
    import matplotlib.pyplot as plt

    groups = panels(data["rows"])
    if not groups:
        raise ValueError("no rows to draw")
    figure, axes = plt.subplots(len(groups), 1, figsize=(11, 4.2 * len(groups)), squeeze=False)
    for axis, (title, baseline, rows) in zip(axes[:, 0], groups):
        draw_panel(axis, title, baseline, rows)
    meta = data.get("meta", {})
    figure.text(0.01, 0.005, f"{meta.get('command', 'bench/run.py')}: {meta.get('rounds', '?')} rounds, "
                f"Python {meta.get('python', '?')}, {meta.get('when', '')}.\nWhiskers: the rounds' lowest and "
                "highest ratios; hatched: a canned ceiling; *: the load generator was the limit (a lower bound).",
                fontsize=7.5, color="#555555")
    figure.tight_layout(rect=(0, 0.035, 1, 1))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, format="svg", metadata={"Date": None})
    plt.close(figure)


def draw_panel(axis, title, baseline, rows):
    scenarios = list(dict.fromkeys(row["scenario"] for row in rows))
    servers = list(dict.fromkeys(row["server"] for row in bar_rows(rows)))
    width = 0.8 / max(len(servers), 1)
    by_key = {(row["scenario"], row["server"]): row for row in bar_rows(rows)}
    for index, server in enumerate(servers):
        ceiling = server in CEILINGS
        xs, heights, lows, highs, stars, names = [], [], [], [], [], []
        for position, scenario in enumerate(scenarios):
            row = by_key.get((scenario, server))
            if row is None:
                continue
            names.append(f"bar:{scenario}:{server}")
            ratio = row["ratio_to_uvicorn"]
            spread = row.get("round_ratios") or [ratio]
            xs.append(position - 0.4 + width * (index + 0.5))
            heights.append(ratio)
            lows.append(max(ratio - min(spread), 0))
            highs.append(max(max(spread) - ratio, 0))
            stars.append(row.get("client_bound", False))
        bars = axis.bar(xs, heights, width * 0.9, yerr=[lows, highs], capsize=2,
                        label=server + (" (ceiling)" if ceiling else ""),
                        color=COLORS.get(server, OTHER_COLOR), edgecolor="#333333" if ceiling else "none",
                        hatch="///" if ceiling else None, linewidth=0.6,
                        error_kw={"elinewidth": 0.8, "ecolor": "#333333"})
        for patch, name in zip(bars.patches, names):
            patch.set_gid(name)  # the SVG element's id: what each bar shows, for readers of the file
        for whisker in bars.errorbar.lines[2]:
            whisker.set_gid(f"whiskers:{server}")
        for x, height, high, star in zip(xs, heights, highs, stars):
            label = f"{height:.1f}" if height < 10 else f"{height:.0f}"
            axis.annotate(label + ("*" if star else ""), (x, height + high), textcoords="offset points",
                          xytext=(0, 1), ha="center", va="bottom", fontsize=6)
    axis.axhline(1.0, color="#c0392b", linewidth=1, linestyle="--", label=f"{baseline} = 1")
    axis.set_yscale("log")
    axis.set_ylim(0.1, max([row["ratio_to_uvicorn"] * 1.0 for row in bar_rows(rows)] + [2]) * 6)
    axis.set_xticks(range(len(scenarios)), scenarios)
    axis.set_xlim(-0.5, len(scenarios) - 0.5)
    axis.set_ylabel("x " + baseline + " (log)")
    axis.set_title(title, fontsize=11, loc="left")
    axis.grid(axis="y", which="major", color="#dddddd", linewidth=0.6)
    axis.set_axisbelow(True)
    axis.legend(fontsize=8, ncol=min(len(servers) + 1, 4), loc="upper left", frameon=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", help="a latest.json written by bench/run.py (or bench/latest.json)")
    parser.add_argument("--output", "-o", help="the SVG to write (default: beside the JSON, as latest.svg)")
    options = parser.parse_args()
    with open(options.results) as file:
        data = json.load(file)
    output = options.output or os.path.join(os.path.dirname(options.results), "latest.svg")
    write_chart(data, output)
    print(output, file=sys.stderr)


if __name__ == "__main__":
    main()
