"""Property tests (hypothesis) for both RequestParser twins.

For generated and mutated request streams, with generated limits:

- nothing but HttpParseError ever escapes feed();
- a stream fed in any pieces gives exactly what it gives in one piece;
- the compiled (llhttp) and pure (h11) twins give the same events, the
  same `trailing` and the same error status.

Twins must also agree on which whole requests come before an error (a
server answers them).  Bounded for CI: a fixed number of examples per
hypothesis test, no example database, and one mutation fuzzer that runs
for FASTASGI_FUZZ_SECONDS (default 5) from a fixed seed; well under a
minute in all.  bench/fuzz_parser.py runs the same checks under atheris
for as long as you like.
"""
import os
import random
import time

import pytest

pytest.importorskip("hypothesis", reason="hypothesis is in the [test] extra")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fastasgi import _speedups  # noqa: E402

from .parser_events import SEEDS, TOKENS, parse_all  # noqa: E402

pytestmark = pytest.mark.timeout(60)

PURE = _speedups.load("pure")
TWINS = [PURE]
if _speedups.compiled_available():
    COMPILED = _speedups.load("compiled")
    TWINS.append(COMPILED)
else:
    COMPILED = None

FUZZ = settings(max_examples=250, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

METHODS = [b"GET", b"POST", b"PUT", b"HEAD", b"DELETE", b"OPTIONS", b"PATCH", b"CONNECT", b"PRI",
           b"FOO", b"get", b"M-SEARCH", b""]
TARGETS = [b"/", b"*", b"/a?b=c", b"/p#f", b"http://h/x", b"HTTP://h", b"http://u@h/", b"ftp://h/",
           b"http:///x", b"/%zz%C3%A9", b"//x", b"http://h?q", b"x", b"/a b", b"/\x80",
           b"http://a<b/x", b"http://a\"b/", b"http://a#b/x", b"http://[::1]:80/", b"http://a%41/",
           b"https://a.b:443?q", b"http://a{b}/", b"http://a|b/", b"http://a\\b/", b"http://a^b`/"]
VERSIONS = [b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/0.9", b"HTTP/1.x", b"http/1.1"]
NAMES = [b"Host", b"Content-Length", b"Transfer-Encoding", b"Connection", b"Upgrade", b"Expect",
         b"X-A", b"host", b"X A", b"X:", b""]
VALUES = [b"h", b"chunked", b"Chunked", b"gzip, chunked", b"chunked, gzip", b"3", b"0", b" 5 ", b"3, 3",
          b"-1", b"close", b"keep-alive", b"upgrade", b"websocket", b"h2c", b"100-continue", b"",
          b" \t ", b"a\x00b", b"caf\xe9", b"18446744073709551616",
          b"chunked\t", b"chunked \t", b"\tchunked", b"gzip\t, chunked", b"chunked,\tchunked"]
EOLS = [b"\r\n"] * 12 + [b"\n", b"\r", b"\r\r\n", b"\r\n "]


@st.composite
def chunked_body(draw):
    parts = []
    for data in draw(st.lists(st.binary(min_size=1, max_size=20), max_size=3)):
        ext = draw(st.sampled_from([b"", b"", b";a=b", b";a=\"q\"", b" ", b";a=b c", b";" + b"e" * 70]))
        parts.append(b"%x%s\r\n%s\r\n" % (len(data), ext, data))
    parts.append(b"0\r\n")
    parts.append(draw(st.sampled_from([b"", b"", b"T: v\r\n", b"T: v\r\n w\r\n", b"T: " + b"t" * 70 + b"\r\n",
                                       b"T: v\r\n" * 12, b"Content-Length: 5\r\n", b"content-length: 0\r\n",
                                       b"Transfer-Encoding: chunked\r\n", b"Transfer-Encoding: gzip\r\n",
                                       b"Host: x\r\n", b"X-Content-Length: 1\r\n"])))
    parts.append(b"\r\n")
    return b"".join(parts)


@st.composite
def absolute_form(draw):
    """An absolute-form target whose authority holds any visible ASCII."""
    authority = bytes(draw(st.lists(st.integers(0x21, 0x7e), max_size=6)))
    return (draw(st.sampled_from([b"http://", b"https://", b"HTTP://"])) + authority
            + draw(st.sampled_from([b"", b"/x", b"?q", b"/p?q#f"])))


@st.composite
def request(draw):
    eol = draw(st.sampled_from(EOLS))
    line = b" ".join((draw(st.sampled_from(METHODS)),
                      draw(st.one_of(st.sampled_from(TARGETS), st.binary(max_size=10).map(lambda b: b"/" + b),
                                     absolute_form())),
                      draw(st.sampled_from(VERSIONS))))
    lines = [line]
    if draw(st.integers(0, 9)):
        lines.append(b"Host: " + draw(st.sampled_from([b"h", b"example.com", b""])))
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.one_of(st.sampled_from(NAMES), st.binary(max_size=6)))
        value = draw(st.one_of(st.sampled_from(VALUES), st.binary(max_size=8)))
        sep = draw(st.sampled_from([b": ", b":", b":\t", b" : "]))
        lines.append(name + sep + value)
    body = draw(st.one_of(st.just(b""), st.binary(max_size=24), chunked_body()))
    if body and draw(st.booleans()):
        if body.endswith(b"0\r\n\r\n") or b"\r\n" in body[:6]:
            lines.append(b"Transfer-Encoding: chunked")
        else:
            lines.append(b"Content-Length: %d" % draw(st.integers(0, len(body) + 2)))
    return eol.join(lines) + eol + b"\r\n" + body


@st.composite
def stream(draw):
    data = draw(st.sampled_from([b"", b"", b"\r\n", b"\r\n\r\n", b"\n"]))
    data += b"".join(draw(st.lists(request(), min_size=1, max_size=3)))
    for _ in range(draw(st.integers(0, 3))):  # byte-level mutations
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        byte = draw(st.sampled_from([b"\r", b"\n", b"\x00", b" ", b":", b"\t", b"\x7f", b"\xff", b"0"]))
        action = draw(st.integers(0, 2))
        if action == 0:
            data = data[:pos] + byte + data[pos:]
        elif action == 1:
            data = data[:pos] + byte + data[pos + 1:]
        else:
            data = data[:pos] + data[pos + 1:]
    return data


ANY_BYTES = st.one_of(stream(), st.binary(max_size=200))


@st.composite
def limits(draw):
    return dict(
        max_head_size=draw(st.sampled_from([16, 64, 100, 4096, 4096, 4096])),
        max_request_line=draw(st.sampled_from([0, 5, 14, 20, 8190, 8190, 8190])),
        max_header_count=draw(st.sampled_from([0, 1, 2, 100, 100, 100])),
        max_body_size=draw(st.sampled_from([0, 0, 1, 5, 20])),
        upgrade_token=draw(st.sampled_from([b"websocket", None])),
    )


def run(ns, pieces, limits):
    """(outcome, events, trailing) or ("error", status, requests before it); every status is an HTTP error."""
    outcome = parse_all(ns, pieces, answered=True, **limits)
    if outcome[0] == "error":
        assert isinstance(outcome[1], int) and 400 <= outcome[1] <= 505
    return outcome


def cut(data, points):
    points = sorted({p % (len(data) + 1) for p in points}) if data else []
    pieces, last = [], 0
    for point in points:
        pieces.append(data[last:point])
        last = point
    pieces.append(data[last:])
    return pieces


@FUZZ
@given(data=ANY_BYTES, limits=limits())
@pytest.mark.parametrize("ns", TWINS, ids=lambda ns: ns.IMPLEMENTATION)
def test_only_parse_errors_escape(ns, data, limits):
    run(ns, [data], limits)


@FUZZ
@given(data=ANY_BYTES, limits=limits(), points=st.lists(st.integers(0, 400), max_size=6))
@pytest.mark.parametrize("ns", TWINS, ids=lambda ns: ns.IMPLEMENTATION)
def test_any_split_equals_one_piece(ns, data, limits, points):
    assert run(ns, cut(data, points), limits) == run(ns, [data], limits)


@pytest.mark.skipif(COMPILED is None, reason="compiled speedups not built")
@FUZZ
@given(data=ANY_BYTES, limits=limits(), points=st.lists(st.integers(0, 400), max_size=4))
def test_twins_agree(data, limits, points):
    pure = run(PURE, [data], limits)
    compiled = run(COMPILED, cut(data, points), limits)
    assert compiled == pure


@FUZZ
@given(data=stream())
@pytest.mark.parametrize("ns", TWINS, ids=lambda ns: ns.IMPLEMENTATION)
def test_byte_at_a_time_equals_one_piece(ns, data):
    limits = dict(max_head_size=4096, upgrade_token=b"websocket")
    assert run(ns, [data[i:i + 1] for i in range(len(data))], limits) == run(ns, [data], limits)


CHUNKED_HEAD = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize("body, expected", [
    (b"1;" + b"e" * 1000 + b"\r\nx\r\n0\r\n\r\n", "ok"),
    (b"1;" + b"e" * 1021 + b"\r\nx\r\n0\r\n\r\n", "ok"),  # 1024 bytes with the CR: at the limit
    (b"1;" + b"e" * 1022 + b"\r\nx\r\n0\r\n\r\n", ("error", 400)),
    (b"1;" + b"e" * 5000, ("error", 400)),  # endless extension: refused before its end
    (b"1\r\nx\r\n0\r\n" + b"T: v\r\n" * 170 + b"\r\n", "ok"),
    (b"1\r\nx\r\n0\r\n" + b"T: v\r\n" * 171 + b"\r\n", ("error", 431)),  # 1028 bytes of trailers
    (b"1\r\nx\r\n0\r\nT: " + b"t" * 5000, ("error", 431)),
    (b"400\r\n" + b"\n" * 1024 + b"\r\n0\r\n\r\n", "ok"),  # data is not framing, whatever it holds
])
@pytest.mark.parametrize("ns", TWINS, ids=lambda ns: ns.IMPLEMENTATION)
def test_chunk_framing_is_bounded(ns, body, expected):
    """Chunk-size lines and trailer sections are bounded by max_head_size, however split."""
    data = CHUNKED_HEAD + body
    limits = dict(max_head_size=1024)
    whole = run(ns, [data], limits)
    assert (whole[0] if expected == "ok" else whole[:2]) == expected
    for size in (1, 7, 100, 1000):
        assert run(ns, [data[i:i + size] for i in range(0, len(data), size)], limits) == whole


# -- the bounded mutation fuzzer ---------------------------------------------------------
FUZZ_SECONDS = float(os.environ.get("FASTASGI_FUZZ_SECONDS", "5"))
FUZZ_SEED = int(os.environ.get("FASTASGI_FUZZ_SEED", "28"))
FUZZ_LIMITS = [dict(max_head_size=4096, upgrade_token=b"websocket"),
               dict(max_head_size=128, max_request_line=30, max_header_count=3, max_body_size=8,
                    upgrade_token=None)]
INTERESTING = [b"\r", b"\n", b"\x00", b" ", b":", b"\t", b"\x7f", b"\xff", b"0", b",", b";", b"/", b"?"]


def mutate(rng, data):
    """1 to 4 edits of `data`: a token in, a byte changed, a span cut, doubled, or another seed spliced on."""
    for _ in range(rng.randint(1, 4)):
        pos = rng.randint(0, len(data))
        action = rng.randrange(5)
        if action == 0:
            data = data[:pos] + rng.choice(TOKENS) + data[pos:]
        elif action == 1 and data:
            pos = min(pos, len(data) - 1)
            data = data[:pos] + rng.choice(INTERESTING) + data[pos + 1:]
        elif action == 2:
            data = data[:pos] + data[pos + rng.randint(1, 8):]
        elif action == 3:
            data = data[:pos] + data[pos:pos + rng.randint(1, 16)] + data[pos:]
        else:
            data = data + rng.choice(SEEDS)
    return data


@pytest.mark.skipif(COMPILED is None, reason="compiled speedups not built")
@pytest.mark.timeout(FUZZ_SECONDS + 60)
def test_twins_accept_and_refuse_alike_for_a_bounded_time():
    """Mutated seeds, both twins, split at random: any accept/refuse difference fails.

    The seeds hold every shape the twins once disagreed on (trailers that
    frame, tabs after chunked, absolute-form hosts); a fixed seed makes a
    run repeatable, FASTASGI_FUZZ_SECONDS makes it longer.
    """
    rng = random.Random(FUZZ_SEED)
    deadline = time.monotonic() + FUZZ_SECONDS
    runs = 0
    while time.monotonic() < deadline:
        data = mutate(rng, rng.choice(SEEDS))
        limits = rng.choice(FUZZ_LIMITS)
        pieces = cut(data, [rng.randint(0, len(data)) for _ in range(rng.randint(0, 3))])
        pure = run(PURE, [data], limits)
        compiled = run(COMPILED, pieces, limits)
        if (pure[0] == "ok") != (compiled[0] == "ok"):
            pytest.fail(f"one twin accepts what the other refuses: {data!r} {limits}\n"
                        f"pure: {pure}\ncompiled: {compiled}")
        # And beyond that: the same events, or the same status and the same
        # requests answered before it.
        assert compiled == pure, (data, limits)
        runs += 1
    assert runs >= 100, f"only {runs} inputs in {FUZZ_SECONDS} s"
