"""Soak test: many concurrent keep-alive connections, every response checked, RSS tracked.

    python bench/soak.py                                   # 2,000 connections, 60 s
    python bench/soak.py --duration 600 --requests 1000000 # until a million requests (or 600 s)
    python bench/soak.py --implementation pure --connections 500 --duration 20
    pypy3 bench/soak.py --implementation pure              # PyPy: server and client

Starts `python -m fastasgi bench.soak:app` on a loopback port (no access
log), opens --connections keep-alive connections from one asyncio client
process and keeps one request in flight on each until --duration seconds or
--requests requests.  One request in eight is a POST whose body the app
echoes; every response's status, framing and body are checked against what
that request asked for.  The server's RSS (from /proc) is sampled every
--sample seconds and printed with the request count, so a leak shows as RSS
growing with requests after warm-up.  Ends with SIGTERM: the server must
exit 0.  Loopback only, bounded in time and count; not a CI test.
"""
import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


async def app(scope, receive, send):
    """The served app: GET /n/<i> -> b"<i>", POST /echo/<i> -> b"<i>:" + body."""
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        return
    path = scope["path"]
    token = path.rsplit("/", 1)[1].encode()
    body = b""
    if scope["method"] == "POST":
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        body = token + b":" + body
    else:
        body = token
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


class Stats:
    def __init__(self):
        self.requests = 0
        self.errors = 0
        self.mismatches = 0
        self.connections_lost = 0
        self.stop = False
        self.first_error = None


class Client(asyncio.Protocol):
    """One keep-alive connection: send, read one response, check it, repeat."""

    def __init__(self, stats, number, closed):
        self.stats = stats
        self.number = number
        self.counter = 0
        self.buffer = b""
        self.expected = b""
        self.transport = None
        self.closed = closed

    def connection_made(self, transport):
        self.transport = transport
        self.send_next()

    def send_next(self):
        if self.stats.stop:
            self.transport.close()
            return
        self.counter += 1
        token = b"%d-%d" % (self.number, self.counter)
        if self.counter % 8 == 0:
            payload = b"p" * (self.counter % 97) + token
            self.expected = token + b":" + payload
            self.transport.write(b"POST /echo/%s HTTP/1.1\r\nHost: soak\r\nContent-Length: %d\r\n\r\n%s"
                                 % (token, len(payload), payload))
        else:
            self.expected = token
            self.transport.write(b"GET /n/%s HTTP/1.1\r\nHost: soak\r\n\r\n" % token)

    def data_received(self, data):
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end].lower()
        length_at = head.find(b"content-length: ")
        if length_at < 0:
            return self.fail("no content-length: %r" % head)
        length = int(head[length_at + 16:head.index(b"\r\n", length_at) if b"\r\n" in head[length_at:] else None])
        if len(self.buffer) < end + 4 + length:
            return
        body = self.buffer[end + 4:end + 4 + length]
        rest = self.buffer[end + 4 + length:]
        self.buffer = rest
        if not head.startswith(b"http/1.1 200 ") or body != self.expected or rest:
            return self.fail("bad response %r %r (expected %r)" % (head[:40], body[:60], self.expected))
        self.stats.requests += 1
        self.send_next()

    def fail(self, why):
        self.stats.mismatches += 1
        if self.stats.first_error is None:
            self.stats.first_error = why
        self.transport.close()

    def connection_lost(self, exc):
        if not self.stats.stop:
            self.stats.connections_lost += 1
            if self.stats.first_error is None:
                self.stats.first_error = f"connection {self.number} lost: {exc!r}"
        self.closed.set_result(None) if not self.closed.done() else None


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return 0
    return 0


async def soak(args, port, server_pid):
    loop = asyncio.get_running_loop()
    stats = Stats()
    closed = []
    started = time.monotonic()
    batch = 200  # open connections in batches: the backlog stays reasonable
    for first in range(0, args.connections, batch):
        futures = []
        for number in range(first, min(first + batch, args.connections)):
            done = loop.create_future()
            closed.append(done)
            futures.append(loop.create_connection(lambda n=number, d=done: Client(stats, n, d),
                                                  "127.0.0.1", port))
        for result in await asyncio.gather(*futures, return_exceptions=True):
            if isinstance(result, BaseException):
                stats.errors += 1
                stats.first_error = stats.first_error or f"connect: {result!r}"
    print(f"{args.connections - stats.errors} connections open after {time.monotonic() - started:.1f} s",
          flush=True)
    samples = []
    begin = time.monotonic()
    last_requests = 0
    while True:
        await asyncio.sleep(args.sample)
        elapsed = time.monotonic() - begin
        rss = rss_kib(server_pid)
        samples.append((stats.requests, rss))
        rate = (stats.requests - last_requests) / args.sample
        last_requests = stats.requests
        print(f"t={elapsed:6.1f}s requests={stats.requests:>9} rate={rate:8.0f}/s server_rss={rss / 1024:7.1f} MiB "
              f"errors={stats.errors + stats.mismatches + stats.connections_lost}", flush=True)
        if elapsed >= args.duration or stats.requests >= args.requests:
            break
    stats.stop = True
    elapsed = time.monotonic() - begin
    await asyncio.wait_for(asyncio.gather(*closed, return_exceptions=True), 30)
    return stats, samples, elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (an upper bound)")
    parser.add_argument("--requests", type=int, default=10**9, help="stop after this many requests")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between RSS samples")
    parser.add_argument("--implementation", choices=("compiled", "pure"), default="compiled")
    parser.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto",
                        help="the server's event loop (asyncio's own takes the buffered protocols)")
    args = parser.parse_args()

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if args.implementation == "pure":
        env["FASTASGI_NO_EXTENSIONS"] = "1"
    command = [sys.executable, "-m", "fastasgi", "bench.soak:app", "--port", "0", "--no-access-log",
               "--backlog", "4096", "--timeout-keep-alive", "60",
               "--http", "httptools" if args.implementation == "compiled" else "h11", "--loop", args.loop]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    port = None
    for line in server.stdout:
        if "running on http://" in line:
            port = int(line.split("running on http://", 1)[1].split()[0].rsplit(":", 1)[1])
            break
    if port is None:
        sys.exit("server did not start")
    try:
        import uvloop
        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    try:
        stats, samples, elapsed = runner(soak(args, port, server.pid))
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            code = "killed after 30 s"
    log = server.stdout.read()
    tracebacks = log.count("Traceback")
    warm = next(((n, r) for n, r in samples if n >= stats.requests * 0.1), samples[0])
    end = samples[-1]
    growth = (end[1] - warm[1]) / 1024
    per_million = growth / max(1, end[0] - warm[0]) * 1e6
    print(f"\n{args.implementation}: {stats.requests} requests checked on {args.connections} keep-alive "
          f"connections in {elapsed:.1f} s ({stats.requests / elapsed:.0f}/s)")
    print(f"errors: connect={stats.errors} bad-responses={stats.mismatches} "
          f"connections-lost={stats.connections_lost}  first: {stats.first_error}")
    print(f"server RSS: {warm[1] / 1024:.1f} MiB at {warm[0]} requests -> {end[1] / 1024:.1f} MiB at {end[0]} "
          f"requests ({growth:+.1f} MiB, {per_million:+.1f} MiB per million requests)")
    print(f"server exit on SIGTERM: {code}; tracebacks in its log: {tracebacks}")
    ok = not (stats.errors or stats.mismatches or stats.connections_lost or tracebacks) and code == 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
