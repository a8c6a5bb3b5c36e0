"""fastasgi's own HTTP/2 codec (fastasgi/protocols/http2_codec.py), both twins, against its oracles.

hyperframe (the frames) and hpack (the header blocks) are what the `h2`
engine runs: both twins must read what they write to the same fields,
write what they read, and refuse the same bytes the twins' spec says to
refuse.  The hypothesis tests are bounded to a few seconds each.
"""
import random

import hpack
import pytest
from hyperframe.frame import (
    ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame, PingFrame, PriorityFrame, RstStreamFrame,
    SettingsFrame, WindowUpdateFrame,
)

from fastasgi._speedups import compiled_available
from fastasgi.protocols import http2_codec as pure

pytest.importorskip("hypothesis", reason="hypothesis is in the [test] extra")
from hypothesis import HealthCheck, assume, given, settings, strategies as st  # noqa: E402

TWINS = [pure]
if compiled_available():
    from fastasgi.protocols import http2_codec_c as compiled
    TWINS.insert(0, compiled)
else:  # the compiled twin is not built here (PyPy, a pure install): its side of the comparisons skips
    compiled = None
BOUNDED = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


@pytest.fixture(params=["compiled", "pure"])
def codec(request):
    if request.param == "compiled":
        if compiled is None:
            pytest.skip("the compiled twin is not built for this interpreter")
        return compiled
    return pure


def read_all(codec, data, split=None):
    """Every frame in `data`, fed whole or in pieces of `split` bytes."""
    reader = codec.FrameReader(16384)
    frames = []
    if split is None:
        return reader.feed(data)
    for at in range(0, len(data), split):
        frames.extend(reader.feed(data[at:at + split]))
    return frames


def sample_frames():
    data = DataFrame(1, b"hello", flags=["END_STREAM", "PADDED"])
    data.pad_length = 7
    headers = HeadersFrame(3, b"\x82\x86\x84", flags=["END_HEADERS", "PRIORITY"])
    headers.depends_on, headers.stream_weight, headers.exclusive = 1, 200, True
    return [
        data, headers, ContinuationFrame(3, b"\x41\x00", flags=["END_HEADERS"]),
        PriorityFrame(5, depends_on=3, stream_weight=16), RstStreamFrame(5, error_code=8),
        SettingsFrame(0, settings={1: 4096, 3: 100, 4: 65535, 5: 16384, 8: 1}), SettingsFrame(0, flags=["ACK"]),
        PingFrame(0, opaque_data=b"12345678"), GoAwayFrame(0, last_stream_id=7, error_code=11, additional_data=b"bye"),
        WindowUpdateFrame(0, window_increment=65535), WindowUpdateFrame(1, window_increment=1),
    ]


def test_frames_read_as_hyperframe_reads_them(codec):
    originals = sample_frames()
    data = b"".join(frame.serialize() for frame in originals)
    for split in (None, 1, 7):
        frames = read_all(codec, data, split)
        assert [(f.type, f.flags, f.stream_id) for f in frames] == [
            (o.type, o.serialize()[4], o.stream_id) for o in originals]
        body, block, cont, prio, rst, sets, ack, ping, goaway, conn_window, stream_window = frames
        assert (body.data, body.flow_length) == (b"hello", len(originals[0].serialize_body()))
        assert (block.data, block.depends_on, block.weight, block.exclusive) == (b"\x82\x86\x84", 1, 201, True)
        assert cont.data == b"\x41\x00" and (prio.depends_on, prio.weight) == (3, 17) and rst.error_code == 8
        assert dict(sets.settings) == {1: 4096, 3: 100, 4: 65535, 5: 16384, 8: 1} and ack.settings == []
        assert ping.data == b"12345678" and (goaway.last_stream_id, goaway.error_code, goaway.data) == (7, 11, b"bye")
        assert (conn_window.increment, stream_window.increment) == (65535, 1)


def test_frames_written_as_hyperframe_writes_them(codec):
    assert codec.data_frame(1, b"abc", True) == DataFrame(1, b"abc", flags=["END_STREAM"]).serialize()
    assert codec.settings_frame([(3, 100), (4, 1 << 20)]) == SettingsFrame(0, settings={3: 100, 4: 1 << 20}).serialize()
    assert codec.SETTINGS_ACK == SettingsFrame(0, flags=["ACK"]).serialize()
    assert codec.ping_frame(b"abcdefgh", True) == PingFrame(0, opaque_data=b"abcdefgh", flags=["ACK"]).serialize()
    assert codec.rst_stream_frame(9, 2) == RstStreamFrame(9, error_code=2).serialize()
    assert codec.goaway_frame(9, 11, b"x") == GoAwayFrame(0, last_stream_id=9, error_code=11,
                                                          additional_data=b"x").serialize()
    assert codec.window_update_frame(3, 1000) == WindowUpdateFrame(3, window_increment=1000).serialize()
    assert codec.headers_frames(1, b"\x88", True) == HeadersFrame(1, b"\x88", flags=["END_STREAM",
                                                                                      "END_HEADERS"]).serialize()
    big = bytes(range(256)) * 130  # a block past the frame size: HEADERS then CONTINUATIONs
    frames = read_all(codec, codec.headers_frames(1, big, False, 16384))
    assert [(f.type, f.flags) for f in frames] == [(1, 0), (9, 0), (9, 4)]
    assert b"".join(f.data for f in frames) == big


def raw(kind, flags, stream_id, payload):
    return len(payload).to_bytes(3, "big") + bytes((kind, flags)) + stream_id.to_bytes(4, "big") + payload


# Frames the RFC has refused, with the error code (RFC 9113 sections 4.2 and 6).
REFUSED = [
    (raw(0, 0, 0, b"x"), 0x1),  # DATA on stream 0
    (raw(0, 0x8, 1, b"\x05abc"), 0x1),  # padding past the payload
    (raw(1, 0, 0, b"\x82"), 0x1),  # HEADERS on stream 0
    (raw(1, 0x20, 1, b"\x00\x00"), 0x6),  # HEADERS too short for its priority
    (raw(1, 0x20, 1, b"\x00\x00\x00\x01\x10"), 0x1),  # a stream depending on itself
    (raw(2, 0, 1, b"\x00" * 4), 0x6),  # PRIORITY of 4 bytes
    (raw(3, 0, 1, b"\x00" * 3), 0x6),  # RST_STREAM of 3 bytes
    (raw(3, 0, 0, b"\x00" * 4), 0x1),  # RST_STREAM on stream 0
    (raw(4, 0, 1, b""), 0x1),  # SETTINGS on a stream
    (raw(4, 1, 0, b"\x00" * 6), 0x6),  # SETTINGS ACK with a payload
    (raw(4, 0, 0, b"\x00" * 5), 0x6),  # SETTINGS not a multiple of 6
    (raw(4, 0, 0, b"\x00\x02\x00\x00\x00\x02"), 0x1),  # ENABLE_PUSH 2
    (raw(4, 0, 0, b"\x00\x04\x80\x00\x00\x00"), 0x3),  # an initial window past 2**31-1
    (raw(4, 0, 0, b"\x00\x05\x00\x00\x00\x10"), 0x1),  # a max frame size of 16
    (raw(6, 0, 0, b"\x00" * 7), 0x6),  # PING of 7 bytes
    (raw(6, 0, 1, b"\x00" * 8), 0x1),  # PING on a stream
    (raw(7, 0, 0, b"\x00" * 7), 0x6),  # GOAWAY of 7 bytes
    (raw(8, 0, 0, b"\x00" * 3), 0x6),  # WINDOW_UPDATE of 3 bytes
    (raw(8, 0, 1, b"\x00" * 4), 0x1),  # WINDOW_UPDATE of 0
    (raw(9, 4, 0, b"\x82"), 0x1),  # CONTINUATION on stream 0
    (raw(0, 0, 1, b"x" * 16385), 0x6),  # past the max frame size
]


@pytest.mark.parametrize("data,code", REFUSED)
def test_malformed_frames_are_refused_with_the_rfc_code(codec, data, code):
    with pytest.raises(codec.CodecError) as caught:
        read_all(codec, data)
    assert caught.value.code == code


def test_unknown_frame_types_are_passed_over(codec):
    frames = read_all(codec, raw(0xFA, 0xFF, 3, b"whatever") + raw(6, 0, 0, b"\x00" * 8))
    assert [f.type for f in frames] == [0xFA, 6]


# -- HPACK ----------------------------------------------------------------------
def test_decoding_hpacks_blocks_with_the_dynamic_table_and_huffman(codec):
    encoder = hpack.Encoder()
    decoder = codec.HpackDecoder(4096, 65536)
    rng = random.Random(26)
    names = [b":path", b"user-agent", b"x-custom", b"cookie", b"accept", b"x-" + bytes(range(97, 123))]
    for block_number in range(200):
        headers = [(b":method", rng.choice([b"GET", b"POST", b"PATCH"])), (b":scheme", b"https")]
        for _ in range(rng.randint(0, 8)):
            headers.append((rng.choice(names), bytes(rng.randrange(32, 127) for _ in range(rng.randint(0, 60)))))
        if block_number == 100:
            encoder.header_table_size = 256  # a size update at the start of the next block
        block = encoder.encode(headers, huffman=block_number % 3 != 0)
        assert decoder.decode(block) == headers
    assert decoder.max_table_size == 256 and decoder.table_size <= 256


def test_our_encoding_decodes_in_hpack(codec):
    encoder = codec.HpackEncoder()
    oracle = hpack.Decoder()
    headers = [(b":status", b"200"), (b":status", b"418"), (b"content-type", b"text/plain"), (b"server", b"fastasgi"),
               (b"x-long", b"v" * 300), (b"accept-encoding", b"gzip, deflate"), (b"x-bin", bytes(range(256)))]
    for _ in range(3):  # the second and third from the cache
        assert oracle.decode(encoder.encode(headers), raw=True) == headers
    assert encoder.encode([(b":status", b"200")]) == b"\x88"  # the static table's one-byte form


def test_the_header_list_limit(codec):
    block = hpack.Encoder().encode([(b"x-big", b"v" * 2000)], huffman=False)
    with pytest.raises(codec.HeaderListTooLarge):
        codec.HpackDecoder(4096, 1024).decode(block)
    assert codec.HpackDecoder(4096, 4096).decode(block) == [(b"x-big", b"v" * 2000)]


@pytest.mark.parametrize("block", [
    b"\x80",  # index 0
    b"\xbe",  # index 62 with an empty dynamic table
    b"\x82\x3f\xe1\x1f",  # a size update after a field
    b"\x3f\xe2\x1f",  # a size update past the 4096 we advertised
    b"\x40\x85\xff\xff\xff\xff\xff\x00",  # a Huffman name holding EOS
    b"\x00\x81\x00\x00",  # Huffman padding of zeros
    b"\x00\x7f",  # a truncated length
    b"\x00\x05abc",  # a string past the block
    b"\xff\xff\xff\xff\xff\xff\x01",  # an integer past 2**31
])
def test_invalid_blocks_are_refused_like_hpack_refuses_them(codec, block):
    with pytest.raises(hpack.HPACKError):
        hpack.Decoder().decode(block, raw=True)
    with pytest.raises(codec.HpackError):
        codec.HpackDecoder().decode(block)


def outcome(decode, block):
    try:
        return [tuple(field) for field in decode(block)]
    except Exception as exc:  # noqa: BLE001 - refusing is the outcome compared
        return "refused" if isinstance(exc, (hpack.HPACKError, pure.HpackError) + (
            (compiled.HpackError,) if compiled is not None else ())) else repr(exc)


@BOUNDED
@given(st.binary(max_size=64))
def test_random_blocks_twins_and_hpack_agree(block):
    expected = outcome(lambda b: hpack.Decoder().decode(b, raw=True), block)
    for twin in TWINS:
        assert outcome(twin.HpackDecoder().decode, block) == expected


@BOUNDED
@given(st.lists(st.tuples(st.sampled_from([b"a", b"content-type", b":path", b"x-y"]), st.binary(max_size=20)),
                max_size=6), st.integers(0, 63), st.integers(0, 255))
def test_mutated_blocks_twins_and_hpack_agree(headers, position, octet):
    """One octet of a valid (huffman-coded, indexing) block changed: decoders agree on the result."""
    block = bytearray(hpack.Encoder().encode(headers, huffman=True))
    if block:
        block[position % len(block)] = octet
    block = bytes(block)
    expected = outcome(lambda b: hpack.Decoder().decode(b, raw=True), block)
    for twin in TWINS:
        assert outcome(twin.HpackDecoder().decode, block) == expected


@BOUNDED
@given(st.binary(max_size=80))
def test_random_frame_bytes_twins_agree(data):
    def frames_or_error(codec):
        try:
            return [(f.type, f.flags, f.stream_id, bytes(f.data), f.settings, f.increment, f.error_code)
                    for f in read_all(codec, data)]
        except codec.CodecError as exc:
            return ("refused", exc.code, exc.stream_id)
    results = [frames_or_error(twin) for twin in TWINS]
    assert all(result == results[0] for result in results)
    # What a twin takes, hyperframe parses to the same frames (layout only: stream rules are h2's).
    if isinstance(results[0], list):
        view = data
        for kind, flags, stream_id, *_ in results[0]:
            frame, length = Frame.parse_frame_header(memoryview(view[:9]))
            frame.parse_body(memoryview(view[9:9 + length]))
            assert (frame.type, frame.stream_id) == (kind, stream_id)
            view = view[9 + length:]


# -- request header validation, against h2's ------------------------------------
def engine_refuses(headers, trailers):
    from fastasgi.protocols.http2 import engine_header_error
    return engine_header_error(headers, trailers) is not None


def oracle_knows(headers):
    """Whether this h2 checks the list by RFC 9113's rules: before 4.4 (what
    Python 3.9 and PyPy get) it read CONNECT by RFC 7540's, without RFC 8441,
    and let a second host header pass."""
    import h2
    old = tuple(int(part) for part in h2.__version__.split(".")[:2]) < (4, 4)
    return not (old and (any(name == b":method" and value == b"CONNECT" for name, value in headers)
                         or sum(name == b"host" for name, _ in headers) > 1))


NAMES = [b":method", b":scheme", b":path", b":authority", b":protocol", b":status", b":other", b"host", b"te",
         b"connection", b"x-ok", b"X-Up", b"", b"a:b", b"sp ace", b"\x7f", b"user-agent"]
VALUES = [b"GET", b"CONNECT", b"http", b"/", b"", b"websocket", b"trailers", b"gzip", b"h", b"other-host",
          b" lead", b"trail\t", b"nul\x00", b"c\rr", b"ok value"]
REQUEST = [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b":authority", b"h")]


@pytest.mark.parametrize("headers,trailers", [
    (REQUEST, False), (REQUEST + [(b"host", b"h")], False), (REQUEST + [(b"host", b"x")], False),
    (REQUEST + [(b"te", b"trailers")], False), (REQUEST + [(b"te", b"gzip")], False),
    ([(b":method", b"CONNECT"), (b":authority", b"h")], False),
    ([(b":method", b"CONNECT"), (b":protocol", b"websocket"), (b":scheme", b"http"), (b":path", b"/"),
      (b":authority", b"h")], False),
    (REQUEST + [(b":protocol", b"websocket")], False), (REQUEST[:2] + REQUEST[3:], False),
    ([(b"x-trailer", b"1")], True), ([(b":path", b"/")], True), (REQUEST + [(b"Upper", b"1")], False),
])
def test_header_validation_agrees_with_h2(codec, headers, trailers):
    if not oracle_knows(headers):
        pytest.skip("this h2 predates RFC 9113's CONNECT rules")
    assert (codec.header_error(headers, trailers) is not None) == engine_refuses(headers, trailers)


@BOUNDED
@given(st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(VALUES)), max_size=7), st.booleans(),
       st.booleans())
def test_random_header_lists_twins_and_h2_agree(extra, trailers, with_request):
    headers = (REQUEST if with_request and not trailers else []) + extra
    assume(oracle_knows(headers))
    expected = engine_refuses(headers, trailers)
    for twin in TWINS:
        assert (twin.header_error(headers, trailers) is not None) == expected, (headers, trailers)
