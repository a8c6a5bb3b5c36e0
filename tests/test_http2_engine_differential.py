"""fastasgi's own HTTP/2 engine against the h2 library's, on the same client bytes.

Each case is a byte stream a client could send: an h2 client's valid
traffic, then frames mutated or made up at random.  Both engines read the
same bytes; they must report the same events (requests with the same
headers, body bytes, ends, resets, malformed requests) and end the
connection at the same point.  Error codes may differ only where the h2
library answers another code than RFC 9113 (DEVIATIONS, listed in
docs/http2.md).  Bounded: a fixed seed and a few hundred cases.
"""
import random

import h2.config
import h2.connection
import pytest

from fastasgi.protocols import http2, http2_engine
from fastasgi.protocols.http2_events import (
    ConnectionClosed, DataReceived, Http2Limits, MalformedRequest, RequestReceived, StreamEnded, StreamReset,
)

REQUEST = [(b":method", b"POST"), (b":scheme", b"http"), (b":authority", b"example.com"), (b":path", b"/p")]
# h2's codes that RFC 9113 names otherwise: (h2's, the RFC's).
DEVIATIONS = {
    (0x1, 0x6),  # a SETTINGS ACK with a payload: FRAME_SIZE_ERROR (RFC 9113 6.5)
    (0x1, 0x5),  # frames on a closed stream: STREAM_CLOSED (RFC 9113 5.1)
    (0x5, 0x1),
    (0x6, 0x1),  # a frame with two faults (PING of 4 bytes on a stream): each code is right, h2 reports the other
}


def engines():
    classes = [http2_engine.Http2Connection]
    from fastasgi import _speedups
    if _speedups.compiled_available():
        from fastasgi.protocols import http2_engine_c
        classes.append(http2_engine_c.Http2Connection)
    return classes


def summary(events):
    """What the app would see of the events (ConnectionClosed: its code, separately)."""
    seen = []
    ended_requests = set()
    for event in events:
        kind = type(event)
        if kind is RequestReceived:
            seen.append(("request", event.stream_id, tuple(event.headers), event.end_stream))
            ended_requests.add(("request", event.stream_id, event.end_stream))
        elif kind is DataReceived:
            if event.flow_length:  # h2's engine also reports empty DATA frames; ours only counts them
                seen.append(("data", event.stream_id, bytes(event.data)))
        elif kind is StreamEnded:
            # h2's engine repeats a request's END_STREAM as its own event; ours says it once.
            if ("request", event.stream_id, True) not in ended_requests:
                seen.append(("end", event.stream_id))
        elif kind is StreamReset:
            seen.append(("reset", event.stream_id))
        elif kind is MalformedRequest:
            seen.append(("malformed", event.stream_id))
        elif kind is ConnectionClosed:
            seen.append(("closed",))
    return seen


def without_resets_after_end(seen):
    """Frames on a stream the client had ended are a stream error (STREAM_CLOSED):
    our engine tells the app its stream is over, h2's answers the client alone."""
    ended = set()
    kept = []
    for item in seen:
        if item[0] == "end" or (item[0] == "request" and item[3]):
            ended.add(item[1])
        elif item[0] == "reset" and item[1] in ended:
            continue
        kept.append(item)
    return kept


def closed_code(events):
    codes = [event.error_code for event in events if type(event) is ConnectionClosed]
    return codes[0] if codes else None


def raw(frame_type, flags, stream_id, payload):
    return len(payload).to_bytes(3, "big") + bytes([frame_type, flags]) + stream_id.to_bytes(4, "big") + payload


def valid_start(rng):
    """An h2 client's preface, SETTINGS and a few requests, some with bodies."""
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
    client.initiate_connection()
    chunks = [client.data_to_send()]
    chunks.append(raw(0x4, 0x1, 0, b""))  # the ACK of our SETTINGS
    for _ in range(rng.randint(1, 3)):
        stream_id = client.get_next_available_stream_id()
        with_body = rng.random() < 0.5
        client.send_headers(stream_id, REQUEST + [(b"x-n", b"%d" % rng.randrange(100))], end_stream=not with_body)
        if with_body:
            client.send_data(stream_id, bytes(rng.randrange(256) for _ in range(rng.randint(0, 50))),
                             end_stream=rng.random() < 0.7)
        chunks.append(client.data_to_send())
    return client, b"".join(chunks)


def random_frames(rng, client):
    """Frames of every type, with plausible and implausible lengths, flags and streams."""
    frames = []
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice([0x0, 0x2, 0x3, 0x4, 0x6, 0x8, 0x8, 0x3, 0xF0])  # 0xF0: a type no one knows
        stream_id = rng.choice([0, 1, 3, 5, 7, 9, 2])
        if kind in (0x3, 0x8) and (stream_id > client.highest_outbound_stream_id or stream_id % 2 == 0 < stream_id):
            # (Not on idle streams: h2 lets RST_STREAM and WINDOW_UPDATE on an
            # idle stream pass, a PROTOCOL_ERROR by RFC 9113 5.1;
            # test_frames_on_idle_streams_are_protocol_errors.)
            stream_id = 1
        if kind == 0x3:
            payload = rng.choice([b"\x00\x00\x00\x08", b"\x00\x00\x00"])
        elif kind == 0x8:
            # (An overflowing increment only on the connection: on a stream it is
            # a stream error by RFC 9113 6.9.1, h2 ends the connection.)
            payload = rng.choice([b"\x00\x00\x10\x00", b"\x7f\xff\xff\xff" if stream_id == 0 else b"\x00\x01"])
            if stream_id == 0 and rng.random() < 0.3:
                # (An increment of 0 on a stream is a stream error by RFC 9113
                # 6.9, h2 ends the connection: test_a_zero_window_update_on_a_stream_is_a_stream_error.)
                payload = b"\x00\x00\x00\x00"
        elif kind == 0x6:
            stream_id = rng.choice([0, 0, 1])
            payload = rng.choice([b"12345678", b"1234"])
        elif kind == 0x4:
            stream_id = rng.choice([0, 0, 1])
            payload = rng.choice([b"", b"\x00\x04\x00\x01\x00\x00", b"\x00\x02\x00\x00\x00\x02", b"\x00\x01"])
        elif kind == 0x2:
            # (Only 5 bytes: h2 ends the connection for another length, a
            # stream error by RFC 9113 6.3; test_a_short_priority_is_a_stream_error.)
            payload = b"\x00\x00\x00\x00\x10"
        else:
            payload = bytes(rng.randrange(256) for _ in range(rng.randint(0, 12)))
        flags = rng.choice([0, 0, 0x1])
        frames.append(raw(kind, flags, stream_id, payload))
    return b"".join(frames)


def split_frames(data):
    """The preface, then each frame: fed one at a time, so that a refusal
    costs h2's engine (which drops the rest of a read it refuses) no event
    of the frames before it."""
    pieces = [data[:24]]
    at = 24
    while at < len(data):
        length = int.from_bytes(data[at:at + 3], "big")
        pieces.append(data[at:at + 9 + length])
        at += 9 + length
    return pieces


def run(connection_class, pieces):
    """Events of a fresh connection fed `pieces` one by one."""
    server = connection_class(Http2Limits(reset_limit=10**6, control_frame_limit=10**6))
    events = []
    for piece in pieces:
        events += server.feed(piece)
        server.data_to_send()
    return events


@pytest.mark.parametrize("connection_class", engines(), ids=lambda cls: cls.__module__.rsplit(".", 1)[-1])
def test_both_engines_report_the_same_events_for_the_same_bytes(connection_class):
    rng = random.Random(9113)
    for case in range(300):
        client, data = valid_start(rng)
        data += random_frames(rng, client)
        frames = split_frames(data)
        oracle = run(http2.Http2Connection, frames)
        ours = run(connection_class, frames)
        oracle_code, our_code = closed_code(oracle), closed_code(ours)
        assert without_resets_after_end(summary(ours)) == without_resets_after_end(summary(oracle)), (case, data.hex())
        assert our_code == oracle_code or (oracle_code, our_code) in DEVIATIONS, (case, oracle_code, our_code,
                                                                                data.hex())
        # Our engine reads the same events from the bytes cut anywhere.
        chunk = rng.choice([1, 7, 100])
        assert summary(run(connection_class, [data[at:at + chunk] for at in range(0, len(data), chunk)])) == \
            summary(ours), case


@pytest.mark.parametrize("connection_class", engines(), ids=lambda cls: cls.__module__.rsplit(".", 1)[-1])
def test_a_short_priority_is_a_stream_error(connection_class):
    """RFC 9113 6.3: RST_STREAM FRAME_SIZE_ERROR, and the connection goes on (h2 ends it)."""
    _, data = valid_start(random.Random(1))
    server = connection_class()
    events = server.feed(data + raw(0x2, 0x0, 9, b"\x00\x00"))
    assert not [event for event in events if type(event) is ConnectionClosed]
    assert server.data_to_send().endswith(raw(0x3, 0x0, 9, b"\x00\x00\x00\x06"))


@pytest.mark.parametrize("connection_class", engines(), ids=lambda cls: cls.__module__.rsplit(".", 1)[-1])
def test_frames_on_idle_streams_are_protocol_errors(connection_class):
    """RFC 9113 5.1: RST_STREAM, WINDOW_UPDATE or DATA on a stream never opened (h2 lets the first two pass)."""
    for frame in (raw(0x3, 0x0, 99, b"\x00\x00\x00\x08"), raw(0x8, 0x0, 99, b"\x00\x00\x10\x00"),
                  raw(0x0, 0x0, 99, b"x")):
        _, data = valid_start(random.Random(1))
        server = connection_class()
        assert closed_code(server.feed(data + frame)) == 0x1


@pytest.mark.parametrize("connection_class", engines(), ids=lambda cls: cls.__module__.rsplit(".", 1)[-1])
def test_window_update_errors_on_a_stream_are_stream_errors(connection_class):
    """RFC 9113 6.9 and 6.9.1: an increment of 0 (PROTOCOL_ERROR) or one past
    2^31-1 (FLOW_CONTROL_ERROR) on a stream resets that stream; the
    connection goes on (h2 ends it)."""
    for increment, code in ((b"\x00\x00\x00\x00", b"\x00\x00\x00\x01"), (b"\x7f\xff\xff\xff", b"\x00\x00\x00\x03")):
        client, data = valid_start(random.Random(1))
        server = connection_class()
        events = server.feed(data + raw(0x8, 0x0, 1, increment))
        assert closed_code(events) is None
        assert server.data_to_send().endswith(raw(0x3, 0x0, 1, code))
