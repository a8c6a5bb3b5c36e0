"""Python-level cost of one HTTP request in fastasgi, without sockets.

Drives a real HttpProtocol on a real event loop through a transport that
only records what is written, so what is measured is fastasgi's own work
per request (parse, scope, task, app, encode): the part the hot path can
change.  Deterministic under `valgrind --tool=callgrind`, so instruction
counts can be compared across changes on a noisy machine:

    python bench/micro_http.py --impl compiled -n 50000
    python bench/micro_http.py --new-connections     # setup and teardown per request too
    FASTASGI_NO_EXTENSIONS=1 python bench/micro_http.py --impl pure
    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \
        python bench/micro_http.py -n 2000
"""
import argparse
import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fastasgi.config import Config  # noqa: E402
from fastasgi.protocols import http_module, state_module  # noqa: E402

REQUEST = b"GET / HTTP/1.1\r\nHost: localhost:8000\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n"
CLOSE_REQUEST = REQUEST.replace(b"Accept:", b"Connection: close\r\nAccept:")


async def hello(scope, receive, send):
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"13")]})
    await send({"type": "http.response.body", "body": b"Hello, world!"})


class RecordingTransport:
    """Just enough of an asyncio transport: counts the responses written."""

    def __init__(self):
        self.writes = 0
        self.closed = False
        self.waiter = None
        # Both addresses, as uvloop's and asyncio's transports keep them.
        self.extra = {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}

    def get_extra_info(self, name, default=None):
        return self.extra.get(name, default)

    def write(self, data):
        # Responses, not calls: a pipelined batch's responses share a write.
        self.writes += data.count(b"HTTP/1.1 ")
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def writelines(self, buffers):
        self.write(b"".join(buffers))

    def is_closing(self):
        return self.closed

    def close(self):
        self.closed = True

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass

    def set_write_buffer_limits(self, high=None, low=None):
        pass

    def get_write_buffer_size(self):
        return 0


async def drive(protocol, transport, count, pipeline):
    loop = asyncio.get_running_loop()
    batch = REQUEST * pipeline
    for _ in range(count // pipeline):
        target = transport.writes + pipeline
        protocol.data_received(batch)
        while transport.writes < target:
            transport.waiter = loop.create_future()
            await transport.waiter


async def drive_connections(new_protocol, count):
    """Each request on a connection of its own: the protocol's setup and teardown counted too."""
    loop = asyncio.get_running_loop()
    for _ in range(count):
        protocol = new_protocol()
        transport = RecordingTransport()
        protocol.connection_made(transport)
        protocol.data_received(CLOSE_REQUEST)
        while not transport.writes:
            transport.waiter = loop.create_future()
            await transport.waiter
        protocol.connection_lost(None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", choices=("compiled", "pure"), default="compiled")
    parser.add_argument("-n", type=int, default=50000, help="requests")
    parser.add_argument("--pipeline", type=int, default=1)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--new-connections", action="store_true",
                        help="each request on a new connection (Connection: close), as wrk's new-connection scenario")
    parser.add_argument("--metrics", action="store_true", help="with --metrics' counters on (no listener)")
    args = parser.parse_args()

    config = Config(hello, http="httptools" if args.impl == "compiled" else "h11",
                    lifespan="off", access_log=False, log_level="warning", metrics=args.metrics)
    config.load()
    if args.loop == "uvloop":
        import uvloop
        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    implementation = config.hot_paths.IMPLEMENTATION
    shared = state_module(implementation)
    state = shared.ServerState()
    state.date_line = b"date: Thu, 01 Jan 2026 00:00:00 GMT\r\n"
    # What a server's listening socket calls for each connection it accepts.
    create_protocol = shared.ProtocolFactory(http_module(implementation).HttpProtocol, config, state, {}, loop)
    if args.new_connections:
        def run(count):
            loop.run_until_complete(drive_connections(create_protocol, count))
        shape = "a new connection each"
    else:
        protocol = create_protocol()
        transport = RecordingTransport()
        protocol.connection_made(transport)

        def run(count):
            loop.run_until_complete(drive(protocol, transport, count, args.pipeline))
        shape = f"pipeline {args.pipeline}"
    run(2000)  # warm up
    started = time.perf_counter()
    run(args.n)
    elapsed = time.perf_counter() - started
    print(f"{config.hot_paths.IMPLEMENTATION}: {args.n / elapsed:,.0f} requests/s "
          f"({elapsed / args.n * 1e6:.2f} us per request, {shape}, {args.loop})")


if __name__ == "__main__":
    main()
