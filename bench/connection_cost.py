"""Instructions a server process spends per new connection, accept to close.

bench/micro_http.py --new-connections drives the protocol in-process, so it
leaves out what the issue of connection setup is about: the accept, the
transport, the loop's callbacks, the close.  This runs a real server under
`valgrind --tool=callgrind` and a client (outside valgrind) that makes
connections one after another, each with one `Connection: close` request;
the server's instruction counts after N1 and N2 connections give the cost
of one: (I(N2) - I(N1)) / (N2 - N1).  User-space instructions only: system
calls are counted with --syscalls (strace -c -f, where installed).

    python bench/connection_cost.py                          # fastasgi, uvloop
    python bench/connection_cost.py --loop asyncio
    python bench/connection_cost.py --env FASTASGI_TRANSPORT=loop
    python bench/connection_cost.py --server raw             # bench/raw_server.py
    python bench/connection_cost.py --host 0.0.0.0           # bound to every address
"""
import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: bench\r\nConnection: close\r\n\r\n"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_command(options, port):
    if options.server == "raw":
        command = [sys.executable, os.path.join(HERE, "raw_server.py"), str(port)]
        return command + (["--loop", "asyncio"] if options.loop == "asyncio" else [])
    return [sys.executable, "-m", "fastasgi", "app:app", "--http", "httptools", "--loop", options.loop,
            "--host", options.host, "--port", str(port), "--no-access-log", "--log-level", "warning"]


def connections(port, count):
    """`count` connections in turn, each one request answered and closed by the server."""
    for _ in range(count):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(REQUEST)
            response = b""
            while True:
                chunk = client.recv(65536)
                if not chunk:
                    break
                response += chunk
            if not response.startswith(b"HTTP/1.1 200 "):
                raise RuntimeError(f"unexpected response: {response[:200]!r}")


def wait_for_port(port, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the server did not start")


def traced_pid(pid):
    """The process strace started (its first child)."""
    with open(f"/proc/{pid}/task/{pid}/children") as file:
        return int(file.read().split()[0])


def measure(options, count, tool):
    """Run the server under `tool` ("callgrind" or "strace"), load it with `count` connections."""
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="connection-cost-")
    env = dict(os.environ, PYTHONHASHSEED="0", **dict(item.split("=", 1) for item in options.env))
    if tool == "callgrind":
        out = os.path.join(workdir, "callgrind.out")
        prefix = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
    else:
        out = os.path.join(workdir, "strace.out")
        prefix = ["strace", "-f", "-c", "-o", out]
    process = subprocess.Popen(prefix + server_command(options, port), cwd=HERE, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, timeout=120)
        connections(port, count)
    finally:
        # SIGINT to the server (strace's child; valgrind runs in its place):
        # it shuts down, and the tool writes its counts.
        os.kill(traced_pid(process.pid) if tool == "strace" else process.pid, 2)
        process.wait(120)
    with open(out) as file:
        text = file.read()
    shutil.rmtree(workdir)
    if tool == "callgrind":
        return int(re.search(r"^summary:\s+(\d+)", text, re.M).group(1))
    return int(re.search(r"^-+ -+ -+ -+ -+ -+\n100\.00\s+[\d.]+\s+\d+\s+(\d+)", text, re.M).group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", choices=("fastasgi", "raw"), default="fastasgi")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for the server (repeatable)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="the address fastasgi binds (0.0.0.0: every connection's own address is asked for)")
    parser.add_argument("-n", type=int, nargs=2, default=(200, 1000), metavar=("N1", "N2"))
    parser.add_argument("--syscalls", action="store_true", help="also count system calls (strace -c -f)")
    options = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")
    first, second = options.n
    per_connection = (measure(options, second, "callgrind") - measure(options, first, "callgrind")) / (second - first)
    line = f"{options.server} on {options.loop} {' '.join(options.env)}: {per_connection:,.0f} instructions"
    if options.syscalls and shutil.which("strace"):
        calls = (measure(options, second, "strace") - measure(options, first, "strace")) / (second - first)
        line += f", {calls:.1f} system calls"
    print(line + " per connection")


if __name__ == "__main__":
    main()
