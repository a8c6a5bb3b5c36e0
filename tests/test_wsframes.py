"""The websocket frame hot path (FrameReader, encode_frame) on both twins.

The reader must give the app exactly the payloads the client sent, however
the bytes are cut, and hand the library every other frame byte for byte:
what it reads plus what it hands over is always the whole stream.
"""
import random

import pytest

from fastasgi import _speedups

from .ws_apps import close_payload, encode_frame as client_frame

pytestmark = pytest.mark.timeout(30)

TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA
MAX_SIZE = 100_000
SIZES = [0, 1, 3, 4, 7, 8, 9, 125, 126, 127, 1000, 65535, 65536, 70_000]


@pytest.fixture
def hot(implementation):
    return _speedups.load(implementation)


def feed_in_pieces(reader, stream, rng):
    """Everything the reader gives for `stream` cut at random places."""
    items = []
    pos = 0
    while pos < len(stream):
        size = rng.choice([1, 2, 5, 100, len(stream)])
        items += reader.feed(stream[pos:pos + size])
        pos += size
    return items


def joined(items):
    """The items with adjacent bytes for the library joined: cuts may differ."""
    result = []
    for item in items:
        if isinstance(item, bytes) and result and isinstance(result[-1], bytes):
            result[-1] += item
        else:
            result.append(item)
    return result


def test_data_frames_of_every_length_are_unmasked_whole(hot):
    frames = [(TEXT if size % 2 else BINARY, bytes(random.Random(size).randbytes(size))) for size in SIZES]
    stream = b"".join(client_frame(opcode, payload) for opcode, payload in frames)
    for seed in range(5):
        reader = hot.FrameReader(MAX_SIZE)
        assert feed_in_pieces(reader, stream, random.Random(seed)) == frames
        assert not reader.passthrough and reader.take_buffer() == b""


def test_ping_and_pong_go_to_the_library_as_their_exact_bytes(hot):
    ping = client_frame(PING, b"p" * 125)
    pong = client_frame(PONG, b"")
    stream = client_frame(TEXT, b"a") + ping + client_frame(BINARY, b"b") + pong + client_frame(TEXT, b"c")
    items = hot.FrameReader(MAX_SIZE).feed(stream)
    assert items == [(TEXT, b"a"), ping, (BINARY, b"b"), pong, (TEXT, b"c")]


HANDED_OVER = {
    "close": client_frame(CLOSE, close_payload(1000)),
    "fragment": client_frame(TEXT, b"one", fin=False) + client_frame(CONT, b"two"),
    "continuation": client_frame(CONT, b"orphan"),
    "unmasked": client_frame(TEXT, b"plain", mask=False),
    "rsv1": client_frame(TEXT, b"x", rsv=4),
    "reserved-opcode": client_frame(0x3, b"x"),
    "reserved-control-opcode": client_frame(0xB, b""),
    "control-over-125": client_frame(PING, b"p" * 126),
    "fragmented-ping": client_frame(PING, b"p", fin=False),
    "over-max-size": client_frame(BINARY, b"b" * (MAX_SIZE + 1)),
}


@pytest.mark.parametrize("name", list(HANDED_OVER))
def test_from_the_first_frame_it_does_not_read_the_library_gets_everything(hot, name):
    first = client_frame(TEXT, b"before")
    after = client_frame(TEXT, b"after")
    stream = first + HANDED_OVER[name] + after
    for seed in range(5):
        reader = hot.FrameReader(MAX_SIZE)
        items = joined(feed_in_pieces(reader, stream, random.Random(seed)))
        assert items == [(TEXT, b"before"), HANDED_OVER[name] + after]
        assert reader.passthrough
        assert reader.feed(b"later") == [b"later"]


def test_no_max_size_reads_any_length(hot):
    payload = b"z" * (MAX_SIZE + 1)
    assert hot.FrameReader(None).feed(client_frame(BINARY, payload)) == [(BINARY, payload)]


def test_an_incomplete_frame_waits_and_take_buffer_hands_it_over(hot):
    frame = client_frame(BINARY, b"y" * 300)
    reader = hot.FrameReader(MAX_SIZE)
    assert reader.feed(frame[:1]) == []
    assert reader.feed(frame[1:3]) == []  # the extended length is not complete yet
    assert reader.feed(frame[3:-1]) == []
    assert reader.take_buffer() == frame[:-1]
    assert reader.passthrough and reader.feed(frame[-1:]) == [frame[-1:]]


def test_random_streams_agree_with_a_plain_decoder(hot):
    rng = random.Random(7)
    for _ in range(300):
        frames = []
        for _ in range(rng.randint(1, 6)):
            opcode = rng.choice([TEXT, BINARY, PING, PONG])
            size = rng.choice(SIZES) if opcode in (TEXT, BINARY) else rng.randint(0, 125)
            frames.append((opcode, rng.randbytes(size)))
        stream = b"".join(client_frame(opcode, payload) for opcode, payload in frames)
        items = feed_in_pieces(hot.FrameReader(MAX_SIZE), stream, rng)
        assert len(items) == len(frames)
        for item, (opcode, payload) in zip(items, frames):
            if opcode in (TEXT, BINARY):
                assert item == (opcode, payload)
            else:
                assert isinstance(item, bytes) and item[0] == 0x80 | opcode and len(item) == 6 + len(payload)


@pytest.mark.parametrize("size", SIZES)
def test_encode_frame_is_a_final_unmasked_frame(hot, size):
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    frame = hot.encode_frame(TEXT, payload)
    if size < 126:
        assert frame[:2] == bytes([0x81, size])
    elif size < 65536:
        assert frame[:4] == bytes([0x81, 126]) + size.to_bytes(2, "big")
    else:
        assert frame[:10] == bytes([0x81, 127]) + size.to_bytes(8, "big")
    assert frame.endswith(payload) and len(frame) == size + (2 if size < 126 else 4 if size < 65536 else 10)
    # any bytes-like payload gives the same frame
    assert hot.encode_frame(TEXT, bytearray(payload)) == hot.encode_frame(TEXT, memoryview(payload)) == frame


def test_twins_agree():
    if not _speedups.compiled_available():
        pytest.skip("compiled speedups not built for this interpreter")
    pure, compiled = _speedups.load("pure"), _speedups.load("compiled")
    rng = random.Random(11)
    for _ in range(200):
        stream = b"".join(rng.choice([client_frame(TEXT, rng.randbytes(rng.choice(SIZES))),
                                      client_frame(PING, b"x"), *HANDED_OVER.values()])
                          for _ in range(rng.randint(1, 5)))
        results = []
        for twin in (pure, compiled):
            reader = twin.FrameReader(MAX_SIZE)
            results.append((joined(feed_in_pieces(reader, stream, random.Random(len(stream)))),
                            reader.take_buffer()))
        assert results[0] == results[1]
    for size in SIZES:
        assert pure.encode_frame(BINARY, b"q" * size) == compiled.encode_frame(BINARY, b"q" * size)
