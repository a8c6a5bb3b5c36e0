"""Protocol violations on raw sockets after a valid handshake: the right close code, server unharmed."""
import pytest

from .ws_apps import RawWebSocket, close_payload, encode_frame

pytestmark = pytest.mark.timeout(30)

APP = "tests.ws_apps:app"
TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA

VIOLATIONS = {
    # name: (bytes sent after the handshake, expected close code)
    "unmasked-frame": (encode_frame(TEXT, b"hello", mask=False), 1002),
    "reserved-opcode-3": (encode_frame(0x3, b"x"), 1002),
    "reserved-control-opcode-11": (encode_frame(0xB, b""), 1002),
    "rsv1-without-extension": (encode_frame(TEXT, b"x", rsv=4), 1002),
    "invalid-utf8-text": (encode_frame(TEXT, b"bad \xff\xfe utf-8"), 1007),
    # the valid frame after it, in the same packet, must not reach the app
    "invalid-utf8-then-valid-text": (encode_frame(TEXT, b"\xff") + encode_frame(TEXT, b"after"), 1007),
    "invalid-utf8-fragmented-text": (
        encode_frame(TEXT, b"ok \xe2", fin=False) + encode_frame(CONT, b"\x28\xa1"), 1007),
    "close-code-1005": (encode_frame(CLOSE, close_payload(1005)), 1002),
    "close-code-999": (encode_frame(CLOSE, close_payload(999)), 1002),
    "close-one-byte-payload": (encode_frame(CLOSE, b"\x03"), 1002),
    "close-reason-invalid-utf8": (encode_frame(CLOSE, close_payload(1000, b"\xff")), 1007),
    "control-payload-126": (encode_frame(PING, b"p" * 126), 1002),
    "fragmented-control": (encode_frame(PING, b"p", fin=False), 1002),
    "continuation-without-start": (encode_frame(CONT, b"orphan"), 1002),
    "new-message-inside-fragmented": (
        encode_frame(TEXT, b"start", fin=False) + encode_frame(TEXT, b"again"), 1002),
}


def assert_fresh_connection_works(server):
    with RawWebSocket(server.host, server.port, b"/echo") as raw:
        assert raw.status == 101
        raw.send_frame(TEXT, b"fresh")
        assert raw.read_frame() == (True, TEXT, b"fresh")
        raw.send_frame(CLOSE, close_payload(1000))
        frames, code = raw.read_until_close()
        assert code == 1000


@pytest.fixture
def echo_server(start_server, implementation):
    return start_server(APP, implementation)


@pytest.mark.parametrize("name", list(VIOLATIONS))
def test_violation_gets_close_code(echo_server, name):
    data, expected = VIOLATIONS[name]
    with RawWebSocket(echo_server.host, echo_server.port, b"/echo") as raw:
        assert raw.status == 101
        # a valid message first: the connection really is open
        raw.send_frame(TEXT, b"valid")
        assert raw.read_frame() == (True, TEXT, b"valid")
        raw.send(data)
        frames, code = raw.read_until_close()
        assert code == expected, f"{name}: got close {code}, frames {frames!r}"
        assert [frame for frame in frames if frame[1] != CLOSE] == [], "nothing is echoed after a violation"
        # after its close frame the server closes TCP
        assert raw.read_to_eof() == []
    assert_fresh_connection_works(echo_server)


def test_violations_do_not_reach_other_connections(echo_server):
    """One connection breaking the protocol leaves an open neighbour untouched."""
    with RawWebSocket(echo_server.host, echo_server.port, b"/echo") as good:
        with RawWebSocket(echo_server.host, echo_server.port, b"/echo") as bad:
            bad.send(encode_frame(0x3, b"x"))
            assert bad.read_until_close()[1] == 1002
        good.send_frame(TEXT, b"neighbour")
        assert good.read_frame() == (True, TEXT, b"neighbour")


def test_valid_control_frames_interleaved_in_fragmented_message(echo_server):
    with RawWebSocket(echo_server.host, echo_server.port, b"/echo") as raw:
        raw.send(encode_frame(TEXT, b"one ", fin=False) + encode_frame(PING, b"p" * 125)
                 + encode_frame(CONT, b"two ", fin=False) + encode_frame(PONG, b"unsolicited")
                 + encode_frame(CONT, b"three"))
        assert raw.read_frame() == (True, PONG, b"p" * 125)
        assert raw.read_frame() == (True, TEXT, b"one two three")


def test_control_frames_between_messages_in_one_packet(echo_server):
    """Pings and pongs between whole messages: each ping answered, every message echoed in order."""
    with RawWebSocket(echo_server.host, echo_server.port, b"/echo") as raw:
        raw.send(encode_frame(TEXT, b"a") + encode_frame(PING, b"1") + encode_frame(BINARY, b"b")
                 + encode_frame(PONG, b"unsolicited") + encode_frame(PING, b"2") + encode_frame(TEXT, b"c"))
        frames = [raw.read_frame() for _ in range(5)]
        assert [frame for frame in frames if frame[1] == PONG] == [(True, PONG, b"1"), (True, PONG, b"2")]
        assert [frame for frame in frames if frame[1] != PONG] == [
            (True, TEXT, b"a"), (True, BINARY, b"b"), (True, TEXT, b"c")]


def test_messages_after_a_fragmented_one_still_echo(echo_server):
    with RawWebSocket(echo_server.host, echo_server.port, b"/echo") as raw:
        raw.send_frame(TEXT, b"whole")
        assert raw.read_frame() == (True, TEXT, b"whole")
        raw.send(encode_frame(BINARY, b"frag", fin=False) + encode_frame(CONT, b"ment")
                 + encode_frame(TEXT, b"next"))
        assert raw.read_frame() == (True, BINARY, b"fragment")
        assert raw.read_frame() == (True, TEXT, b"next")
        raw.send_frame(PING, b"still")
        assert raw.read_frame() == (True, PONG, b"still")
        raw.send_frame(TEXT, b"later")
        assert raw.read_frame() == (True, TEXT, b"later")
        raw.send_frame(CLOSE, close_payload(1000))
        assert raw.read_until_close()[1] == 1000


def test_frames_cut_anywhere(echo_server):
    """Messages of every length class, sent a few bytes at a time."""
    payloads = [b"", b"x", b"y" * 125, b"z" * 126, b"w" * 70_000]
    stream = b"".join(encode_frame(BINARY, payload) for payload in payloads)
    with RawWebSocket(echo_server.host, echo_server.port, b"/echo") as raw:
        for start in range(0, 300, 3):  # the small frames: three bytes per packet
            raw.send(stream[start:start + 3])
        raw.send(stream[300:])
        assert [raw.read_frame() for _ in payloads] == [(True, BINARY, payload) for payload in payloads]
