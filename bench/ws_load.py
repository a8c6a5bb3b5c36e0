"""WebSocket echo load: many connections from one uvloop process.

    python bench/ws_load.py --port 8765 --connections 64 --duration 5

Each connection does the opening handshake on /ws, then keeps exactly one
32-byte text message in flight: send a masked frame, wait for the echo,
send the next.  Frames are prebuilt bytes and replies are only counted
(header and length), so the client costs far less per message than any
server; `bench/run.py` measures its ceiling against raw_server.py's
canned echo and marks results where the client saturated its core.
Prints one JSON object: messages/s, latency percentiles, client CPU.
"""
import argparse
import asyncio
import json
import os
import resource
import time

import uvloop

PAYLOAD = b"x" * 32
MASK = os.urandom(4)
FRAME = bytes([0x81, 0x80 | len(PAYLOAD)]) + MASK + bytes(b ^ MASK[i % 4] for i, b in enumerate(PAYLOAD))
ECHO_SIZE = 2 + len(PAYLOAD)  # an unmasked server frame
HANDSHAKE = (b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


class EchoClient(asyncio.Protocol):
    def __init__(self, stats, ready):
        self.stats = stats
        self.ready = ready
        self.buffer = bytearray()
        self.upgraded = False
        self.sent_at = 0.0
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        transport.write(HANDSHAKE)

    def data_received(self, data):
        if self.upgraded and not self.buffer and len(data) == ECHO_SIZE and data[1] == len(PAYLOAD):
            self._replied(1)  # the usual case: exactly one unmasked echo frame
            return
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                raise RuntimeError(f"handshake refused: {bytes(buffer[:80])!r}")
            del buffer[:end + 4]
            self.upgraded = True
            if not self.ready.done():
                self.ready.set_result(None)
            self._send()
        replies = 0
        while len(buffer) >= 2:
            length = buffer[1] & 0x7F
            if length >= 126:
                raise RuntimeError("unexpected long frame in echo")
            size = 2 + (4 if buffer[1] & 0x80 else 0) + length
            if len(buffer) < size:
                break
            del buffer[:size]
            replies += 1
        if replies:
            self._replied(replies)

    def _replied(self, replies):
        stats = self.stats
        if stats["measuring"]:
            stats["messages"] += replies
            if stats["messages"] & 15 == 0:
                stats["latencies"].append(time.perf_counter() - self.sent_at)
        self._send()

    def _send(self):
        if self.stats["running"]:
            self.sent_at = time.perf_counter()
            self.transport.write(FRAME)

    def connection_lost(self, exc):
        self.stats["lost"] += 1


async def run(host, port, connections, duration, warmup):
    loop = asyncio.get_running_loop()
    stats = {"messages": 0, "latencies": [], "measuring": False, "running": True, "lost": 0}
    ready = []
    transports = []
    for _ in range(connections):
        waiter = loop.create_future()
        transport, _ = await loop.create_connection(lambda w=waiter: EchoClient(stats, w), host, port)
        transports.append(transport)
        ready.append(waiter)
    await asyncio.wait_for(asyncio.gather(*ready), 10)
    await asyncio.sleep(warmup)
    stats["measuring"] = True
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    await asyncio.sleep(duration)
    stats["measuring"] = False
    elapsed = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    stats["running"] = False
    lost = stats["lost"]  # connections the server dropped during the run
    for transport in transports:
        transport.close()
    latencies = sorted(stats["latencies"]) or [0.0]
    used = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return {
        "rps": stats["messages"] / elapsed,
        "mib_s": stats["messages"] * len(PAYLOAD) / elapsed / 2**20,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "errors": lost,
        "client_cpu": used / elapsed,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--warmup", type=float, default=1)
    args = parser.parse_args()
    result = uvloop.run(run(args.host, args.port, args.connections, args.duration, args.warmup))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
