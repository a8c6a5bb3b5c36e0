"""Coverage-guided fuzzing of both RequestParser twins with atheris (not run in CI).

    pip install atheris
    python bench/fuzz_parser.py                 # 60 s
    python bench/fuzz_parser.py --seconds 600   # longer
    python bench/fuzz_parser.py --seconds 60 -- -jobs=2 -workers=2   # extra libFuzzer flags

Each input picks parser limits and split points from its first bytes and
feeds the rest as the request stream.  It checks the same properties as
tests/test_parser_fuzz.py (the short, bounded pass that runs in CI):

- nothing but HttpParseError escapes feed();
- for each twin, the stream fed in pieces gives what it gives in one piece;
- the compiled (llhttp) and pure (h11) twins give the same events,
  `trailing` and error status, and answer the same requests before an error.

The pure twin and h11 are instrumented for coverage; the compiled twin is a
C extension, checked by the same properties without coverage feedback.
A failure prints the input and writes it (crash-*) to the working directory.
Prints executions, distinct outcomes and the time spent when it ends.
"""
import argparse
import collections
import os
import sys
import tempfile
import time

import atheris

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import h11  # noqa: E402,F401 - instrumented below
from fastasgi import _speedups  # noqa: E402
from fastasgi._speedups import headers, parser_py  # noqa: E402,F401
from tests import parser_events  # noqa: E402
from tests.parser_events import parse_all  # noqa: E402

atheris.instrument_all()  # coverage feedback from every Python function loaded so far

PURE = _speedups.load("pure")
COMPILED = _speedups.load("compiled") if _speedups.compiled_available() else None
STATS = collections.Counter()
STARTED = time.monotonic()
REPORT = {"every": 15.0, "next": 15.0, "end": 60.0, "done": False}

# Seeds and dictionary are the bounded CI fuzzer's (tests/parser_events.py).
SEEDS = parser_events.SEEDS
DICTIONARY = parser_events.TOKENS
LIMITS = {
    "max_head_size": [4096, 64, 128, 1024],
    "max_request_line": [8190, 0, 10, 30],
    "max_header_count": [100, 0, 1, 3],
    "max_body_size": [0, 1, 8, 64],
    "upgrade_token": [b"websocket", None],
}


def test_one_input(raw):
    elapsed = time.monotonic() - STARTED
    if elapsed >= REPORT["next"] or (elapsed >= REPORT["end"] - 1 and not REPORT["done"]):
        REPORT["next"] = elapsed + REPORT["every"]
        REPORT["done"] = elapsed >= REPORT["end"] - 1
        report()  # libFuzzer ends the process with _exit: no atexit
    fdp = atheris.FuzzedDataProvider(raw)
    limits = {name: values[fdp.ConsumeIntInRange(0, len(values) - 1)] for name, values in LIMITS.items()}
    cuts = sorted(fdp.ConsumeIntInRange(0, 512) for _ in range(fdp.ConsumeIntInRange(0, 4)))
    data = fdp.ConsumeBytes(fdp.remaining_bytes())
    pieces, last = [], 0
    for cut in cuts:
        cut = min(cut, len(data))
        pieces.append(data[last:cut])
        last = cut
    pieces.append(data[last:])
    pure = parse_all(PURE, [data], answered=True, **limits)
    STATS[pure[0] if pure[0] == "ok" else pure] += 1
    assert parse_all(PURE, pieces, answered=True, **limits) == pure, (
        "pure: pieces differ from one piece", pieces, limits)
    if COMPILED is not None:
        compiled = parse_all(COMPILED, [data], answered=True, **limits)
        assert parse_all(COMPILED, pieces, answered=True, **limits) == compiled, (
            "compiled: pieces differ", pieces, limits)
        if compiled != pure:
            raise AssertionError(("twins differ", data, limits, pure, compiled))


def report():
    total = sum(STATS.values())
    print(f"\nfuzz_parser: {total} inputs in {time.monotonic() - STARTED:.0f} s "
          f"({'both twins' if COMPILED else 'pure twin only'})", flush=True)
    for outcome, count in STATS.most_common():
        print(f"  {outcome}: {count}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("libfuzzer", nargs="*", help="extra libFuzzer flags, after --")
    args = parser.parse_args()
    corpus = tempfile.mkdtemp(prefix="fastasgi-fuzz-")
    for i, seed in enumerate(SEEDS):
        with open(os.path.join(corpus, f"seed{i}"), "wb") as file:
            file.write(b"\x00" * 8 + seed)  # zero prefix: default limits, no cuts
    REPORT["end"] = args.seconds
    dictionary = os.path.join(corpus, "http.dict")
    with open(dictionary, "w") as file:
        for token in DICTIONARY:
            file.write('"' + "".join(f"\\x{b:02x}" for b in token) + '"\n')
    seeds = os.path.join(corpus, "seeds")
    os.mkdir(seeds)
    for name in os.listdir(corpus):
        if name.startswith("seed") and name != "seeds":
            os.rename(os.path.join(corpus, name), os.path.join(seeds, name))
    atheris.Setup([sys.argv[0], f"-max_total_time={args.seconds}", "-max_len=2048", f"-dict={dictionary}",
                   *args.libfuzzer, seeds], test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
