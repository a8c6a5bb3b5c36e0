"""What idle keep-alive connections cost each server in memory.

    python bench/idle_memory.py                       # 10,000 connections
    python bench/idle_memory.py --connections 2000 --servers fastasgi,uvicorn
    python bench/idle_memory.py --protocol h2c --servers fastasgi,hypercorn,h2corn

For each server (one process, the same app as bench/run.py, keep-alive
timeout raised so nothing is closed while we measure): open the
connections from 127.0.0.1, make one request on each and read its answer,
then leave them all open and idle, and read the server's resident memory
(VmRSS of the process and its children, from /proc) before and after.
Prints MiB and KiB per connection with each server's ratio to uvicorn;
writes bench/results/idle_memory.json.  With --protocol h2c each connection
is HTTP/2 with prior knowledge (SETTINGS exchanged, one request answered
on stream 1), and the ratio is to fastasgi's own HTTP/1.1 idle connection,
measured first in the same run (the HTTP/2 issue's yardstick).
"""
import argparse
import asyncio
import json
import os
import resource
import sys
import time

import h2.config
import h2.connection
import h2.events

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from run import PORT, RESULTS, process_family, server_commands, start_server, stop_server  # noqa: E402

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
ENDS = (b"Hello, world!", b"\r\n0\r\n\r\n")
# Per server: keep-alive long enough to outlast the measurement, and room
# for every connection at once.
SERVER_FLAGS = {
    "fastasgi": ["--timeout-keep-alive", "600"],
    "fastasgi-pure": ["--timeout-keep-alive", "600"],
    "uvicorn": ["--timeout-keep-alive", "600"],
    "uvicorn-h11": ["--timeout-keep-alive", "600"],
    # no idle timeout on keep-alive by default; it serves at most
    # --backpressure (default: backlog, 1024) connections at a time
    "granian": ["--backpressure", "20000", "--backlog", "2048"],
    "hypercorn": ["--keep-alive", "600", "--backlog", "2048"],
}


def rss_mib(pid):
    """Resident memory of a process and its descendants (granian forks a worker)."""
    total_kib = 0
    for member in process_family(pid):
        try:
            with open(f"/proc/{member}/status") as file:
                for line in file:
                    if line.startswith("VmRSS:"):
                        total_kib += int(line.split()[1])
        except OSError:
            pass
    return total_kib / 1024


async def open_idle(count, batch=250):
    """`count` connections, each with one request answered, left open."""
    connections = []

    async def one():
        reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
        writer.write(REQUEST)
        data = b""
        while not data.endswith(ENDS):  # length-framed or chunked, as each server likes
            chunk = await asyncio.wait_for(reader.read(4096), 10)
            if not chunk:
                raise ConnectionError("closed before answering")
            data += chunk
        connections.append(writer)

    for start in range(0, count, batch):
        await asyncio.gather(*(one() for _ in range(min(batch, count - start))))
    return connections


async def open_idle_h2c(count, batch=250):
    """`count` HTTP/2 connections (prior knowledge), each with one request answered, left open."""
    connections = []

    async def one():
        reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        conn.initiate_connection()
        conn.send_headers(1, [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"127.0.0.1"),
                              (b":path", b"/")], end_stream=True)
        writer.write(conn.data_to_send())
        ended = False
        while not ended:
            chunk = await asyncio.wait_for(reader.read(65536), 10)
            if not chunk:
                raise ConnectionError("closed before answering")
            for event in conn.receive_data(chunk):
                if isinstance(event, h2.events.DataReceived):
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                ended = ended or isinstance(event, h2.events.StreamEnded)
            writer.write(conn.data_to_send())  # our SETTINGS ACK and WINDOW_UPDATEs
        await writer.drain()
        connections.append(writer)

    for start in range(0, count, batch):
        await asyncio.gather(*(one() for _ in range(min(batch, count - start))))
    return connections


def measure(name, commands, count, protocol="http1"):
    process = start_server(name, commands, PORT)
    loop = asyncio.new_event_loop()
    opener = open_idle_h2c if protocol == "h2c" else open_idle
    try:
        loop.run_until_complete(opener(10))  # imports and caches warmed by a first few
        time.sleep(0.5)
        before = rss_mib(process.pid)
        connections = loop.run_until_complete(opener(count))
        time.sleep(1.0)
        after = rss_mib(process.pid)
        alive = process.poll() is None
        for writer in connections:
            writer.close()
        return {"server": name, "protocol": protocol, "connections": len(connections), "alive": alive,
                "rss_before_mib": round(before, 1), "rss_after_mib": round(after, 1),
                "kib_per_connection": round((after - before) * 1024 / count, 2)}
    finally:
        loop.close()
        stop_server(process)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--servers", default="fastasgi,fastasgi-pure,uvicorn,uvicorn-h11,granian")
    parser.add_argument("--results", default=RESULTS, help="where idle_memory.json goes")
    parser.add_argument("--protocol", choices=["http1", "h2c"], default="http1",
                        help="h2c: HTTP/2 connections, compared with fastasgi's HTTP/1.1 ones")
    options = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = options.connections + 200
    if hard < needed:
        sys.exit(f"the open-files limit ({hard}) is below {needed}: raise it (ulimit -Hn)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the servers inherit it
    commands = server_commands(sys.executable, PORT)
    results = []
    for name in options.servers.split(","):
        command, env = commands[name]
        commands[name] = (command + SERVER_FLAGS.get(name, []), env)
    runs = [(name, options.protocol) for name in options.servers.split(",")]
    if options.protocol == "h2c":
        runs.insert(0, ("fastasgi", "http1"))  # the yardstick
    for name, protocol in runs:
        result = measure(name, commands, options.connections, protocol)
        results.append(result)
        print(f"{name:14} {protocol:6} {result['rss_before_mib']:7.1f} -> {result['rss_after_mib']:7.1f} MiB "
              f"({result['kib_per_connection']:.2f} KiB per connection)", file=sys.stderr, flush=True)
    if options.protocol == "h2c":
        base, base_name = results[0], "fastasgi HTTP/1.1"
    else:
        base, base_name = next((r for r in results if r["server"] == "uvicorn"), None), "uvicorn"
    lines = [f"`python bench/idle_memory.py {' '.join(sys.argv[1:])}`".replace(" `", "`"), "",
             f"| server | protocol | RSS before (MiB) | RSS with {options.connections:,} idle connections (MiB) "
             f"| KiB per connection | x {base_name} |",
             "|---|---|---:|---:|---:|---:|"]
    for result in results:
        ratio = (f"{result['kib_per_connection'] / base['kib_per_connection']:.2f}"
                 if base and base["kib_per_connection"] > 0 else "-")
        lines.append(f"| {result['server']} | {result['protocol']} | {result['rss_before_mib']:.1f} | "
                     f"{result['rss_after_mib']:.1f} | {result['kib_per_connection']:.2f} | {ratio} |")
    os.makedirs(options.results, exist_ok=True)
    with open(os.path.join(options.results, "idle_memory.json"), "w") as file:
        json.dump(results, file, indent=2)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
