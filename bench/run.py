"""Benchmark fastasgi against its peers, side by side in one run.

    python bench/run.py                      # every server, every scenario, 3 rounds
    python bench/run.py --duration 5 --rounds 5 --servers fastasgi,uvicorn

Each server runs as one process pinned to CPU 0, on a port of its own;
wrk runs pinned to CPU 1.  A round starts every server, then runs each
scenario on each server in turn (the order of the servers rotates from
round to round), so the servers compared in a scenario are measured
seconds apart: on a shared machine whose speed drifts over minutes, that
keeps the drift out of the ratios.  The idle servers wait in epoll and
cost CPU 0 nothing.  The medians over the rounds are reported with each
server's ratio to uvicorn (httptools + uvloop) from the same run, and the
range of its per-round ratios.  A result where wrk used >= 95% of its core is
marked "*": the load generator was the limit, so the figure is a lower
bound.  Each row also gives the server's CPU time per request and the
ratio of those times, which holds when the client is the limit.  The
websocket echo scenario uses bench/ws_load.py instead of wrk
(messages/s in the req/s column).  The h2-* scenarios are HTTP/2 over
h2c with prior knowledge, loaded by h2load (-t1 -c16 -m10, as the HTTP/2
issue measures), on the servers that speak it (H2_SERVERS; fastasgi runs
with --http2); their ratios are to hypercorn's in the same round.  A peer
that is not installed is skipped with a message.  raw-uvloop (bench/raw_server.py) answers
with canned bytes: the ceiling of any Python server on uvloop, for the
scenarios it has answers for; with --pypy, raw-asyncio-pypy is the same on
PyPy's asyncio loop, the ceiling of the PyPy rows.
The file rows serve a 1 MiB and a 100 MiB file through Starlette's
FileResponse (bench/app.py), made once in a temporary folder; the 100 MiB
row also gives the server's RSS growth during the load (sampled from
/proc), and fastasgi-tls serves it under --ssl-* with a throwaway
self-signed certificate (its ratio is to fastasgi: the cost of TLS).
h2corn runs where it is installed, and is skipped, with a message, where not.
Results go to bench/results/latest.json and latest.md, and the chart of
the ratios to latest.svg (bench/chart.py, with matplotlib installed).
"""
import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from fastasgi.allocator import MMAP_THRESHOLD, TRIM_THRESHOLD

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # its neighbours, also when loaded by path (the docs' hook)
from nginx_config import nginx_binary, nginx_command, write_nginx_config  # noqa: E402
RESULTS = os.path.join(HERE, "results")
# The first server's port; the next servers take the ports after it.
PORT = int(os.environ.get("FASTASGI_BENCH_PORT", "8765"))
SERVER_CPU = "0"
CLIENT_CPU = "1"

# PyPy's GC nursery for both PyPy servers, the size the README recommends
PYPY_NURSERY = "8MB"
# fastasgi's own glibc malloc settings, as environment variables for a peer
MALLOC_TUNING = {"MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD), "MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD)}


def server_commands(python, port, pypy=None, pypy_jit=None, tls=("", "")):
    common_flags = ["--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning",
                    "--http2"]
    # uvicorn's own flags: it refuses --http2 without --http zttp.
    uvicorn_flags = common_flags[:-1]
    logging_flags = ["--host", "127.0.0.1", "--port", str(port), "--log-level", "info"]
    commands = {
        "fastasgi": ([python, "-m", "fastasgi", "app:app", "--http", "httptools", *common_flags], {}),
        "fastasgi-pure": ([python, "-m", "fastasgi", "app:app", "--http", "h11", *common_flags],
                          {"FASTASGI_NO_EXTENSIONS": "1"}),
        "uvicorn": ([python, "-m", "uvicorn", "app:app", "--http", "httptools", "--loop", "uvloop", *uvicorn_flags], {}),
        "uvicorn-h11": ([python, "-m", "uvicorn", "app:app", "--http", "h11", "--loop", "uvloop", *uvicorn_flags], {}),
        # uvicorn with the glibc malloc settings fastasgi applies to itself
        # (fastasgi/allocator.py): not in the default list, for a fair look at echo.
        "uvicorn-malloc": ([python, "-m", "uvicorn", "app:app", "--http", "httptools", "--loop", "uvloop",
                            *uvicorn_flags], MALLOC_TUNING),
        # Access log on, as uvicorn's default is (to /dev/null): optional, each
        # against the other.
        "fastasgi-accesslog": ([python, "-m", "fastasgi", "app:app", *logging_flags], {}),
        "uvicorn-accesslog": ([python, "-m", "uvicorn", "app:app", "--http", "httptools", "--loop", "uvloop",
                               *logging_flags], {}),
        "granian": ([python, "-m", "granian", "--interface", "asgi", "--workers", "1", "--loop", "uvloop",
                     "--http", "auto", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
                     "app:app"], {}),
        # HTTP/2 peers, for the h2-* scenarios only.
        "hypercorn": ([python, "-m", "hypercorn", "--worker-class", "uvloop", "--workers", "1", "--bind",
                       f"127.0.0.1:{port}", "--log-level", "warning", "app:app"], {}),
        "h2corn": ([os.path.join(os.path.dirname(python), "h2corn"), "--workers", "1", "--host", "127.0.0.1",
                    "--port", str(port), "--no-access-log", "app:app"], {}),
        "uvicorn-zttp": ([python, "-m", "uvicorn", "app:app", "--http", "zttp", "--http2", "--loop", "uvloop",
                          *uvicorn_flags], {}),
        # Files under TLS, whose bytes are encrypted in the process: the
        # ratio to fastasgi on plain TCP is what the TLS copy costs.
        "fastasgi-tls": ([python, "-m", "fastasgi", "app:app", "--http", "httptools", *common_flags,
                          "--ssl-certfile", tls[0], "--ssl-keyfile", tls[1]], {}),
        # fastasgi's own transport (fastasgi/protocols/transport.py) forced on uvloop,
        # against the default (uvloop's transport).
        "fastasgi-own-transport": ([python, "-m", "fastasgi", "app:app", "--http", "httptools", *common_flags],
                                   {"FASTASGI_TRANSPORT": "own"}),
        # asyncio's own loop (what --loop asyncio and PyPy run): its default
        # (fastasgi's own transport), then with the loop's selector transport.
        "fastasgi-asyncio": ([python, "-m", "fastasgi", "app:app", "--http", "httptools", "--loop", "asyncio",
                              *common_flags], {}),
        "fastasgi-asyncio-loop-transport": ([python, "-m", "fastasgi", "app:app", "--http", "httptools",
                                             "--loop", "asyncio", *common_flags], {"FASTASGI_TRANSPORT": "loop"}),
        "raw-uvloop": ([python, "raw_server.py", str(port)], {}),
    }
    if pypy:  # the pure twin where PyPy users run it, against uvicorn's pure-Python path
        # Both with the nursery the README recommends: PyPy's own size comes
        # from the CPU cache the machine reports (1 MiB on one of this
        # project's machines, 150 MB on another), which would make runs on
        # different machines incomparable (see fastasgi/allocator.py).
        pypy_env = {"PYPY_GC_NURSERY": PYPY_NURSERY}
        # The same JIT parameters, if any, for every PyPy server, as the nursery.
        pypy_command = [pypy, "--jit", pypy_jit] if pypy_jit else [pypy]
        commands["fastasgi-pypy"] = ([*pypy_command, "-m", "fastasgi", "app:app", *common_flags], pypy_env)
        # On the loop's selector transport instead of fastasgi's own (not in the default list).
        commands["fastasgi-loop-transport-pypy"] = ([*pypy_command, "-m", "fastasgi", "app:app", *common_flags],
                                                    dict(pypy_env, FASTASGI_TRANSPORT="loop"))
        commands["uvicorn-h11-pypy"] = ([*pypy_command, "-m", "uvicorn", "app:app", "--http", "h11",
                                         "--loop", "asyncio", *uvicorn_flags], pypy_env)
        commands["raw-asyncio-pypy"] = ([*pypy_command, "raw_server.py", str(port), "--loop", "asyncio"], pypy_env)
    return commands


# The server each one's ratio is taken against: uvicorn (httptools + uvloop),
# except on PyPy, where the peer is uvicorn's h11 path on the same PyPy, and
# with the access log on, where it is uvicorn with its access log on.
BASELINE = {"fastasgi-pypy": "uvicorn-h11-pypy", "uvicorn-h11-pypy": "uvicorn-h11-pypy",
            "fastasgi-loop-transport-pypy": "uvicorn-h11-pypy",
            "raw-asyncio-pypy": "uvicorn-h11-pypy",
            "fastasgi-accesslog": "uvicorn-accesslog", "uvicorn-accesslog": "uvicorn-accesslog",
            "fastasgi-tls": "fastasgi"}
# PyPy's JIT needs a longer warm-up before its figures mean anything; its
# websocket path takes longest (a fresh fastasgi-pypy echoed 94k, 118k, then
# 129k messages/s in three 5 s loads in a row).
PYPY_WARMUP = 5
PYPY_WS_WARMUP = 15
# bench/ws_load.py loads the server this long before it starts counting.
WS_WARMUP = 0.5


SCENARIOS = {
    # name: the load generator's arguments (every server runs each; the raw ceilings only RAW_SCENARIOS)
    "hello": ["-c", "64", "http://127.0.0.1:{port}/"],
    "pipelined-16": ["-c", "64", "-s", os.path.join(HERE, "lua", "pipeline.lua"), "http://127.0.0.1:{port}/", "--", "16"],
    "new-connection": ["-c", "64", "-H", "Connection: close", "http://127.0.0.1:{port}/"],
    "echo-16KiB": ["-c", "64", "-s", os.path.join(HERE, "lua", "echo.lua"), "http://127.0.0.1:{port}/echo"],
    "1MiB-response": ["-c", "16", "http://127.0.0.1:{port}/big"],
    "stream-100x1KiB": ["-c", "64", "http://127.0.0.1:{port}/stream"],
    # Starlette's FileResponse (bench/app.py); a 100 MiB response takes
    # longer than wrk's default 2 s timeout under TLS.
    "file-1MiB": ["-c", "16", "{scheme}://127.0.0.1:{port}/file"],
    "file-100MiB": ["-c", "16", "--timeout", "20s", "{scheme}://127.0.0.1:{port}/file-100MiB"],
    # not wrk: bench/ws_load.py, 64 connections each with one message in flight
    "ws-echo-32B": ["--connections", "64"],
    # wrk -> nginx (on wrk's core) -> the server: nginx's default proxy settings
    # (HTTP/1.0, a new upstream connection per request), then HTTP/1.1 with
    # upstream keep-alive.  wrk keeps its connections to nginx alive in both.
    "nginx-default": ["-c", "64", "http://127.0.0.1:{port}/"],
    "nginx-keepalive": ["-c", "64", "http://127.0.0.1:{port}/"],
}
# The canned ceilings (bench/raw_server.py) and the scenarios they answer.
RAW_SERVERS = {"raw-uvloop", "raw-asyncio-pypy"}
RAW_SCENARIOS = {"hello", "pipelined-16", "new-connection", "1MiB-response", "ws-echo-32B", "nginx-default",
                 "nginx-keepalive"}
WS_SCENARIOS = {"ws-echo-32B"}
# The TLS server and the scenarios it runs; the scenarios that sample the
# server's memory while loaded.
TLS_SERVERS = {"fastasgi-tls"}
TLS_SCENARIOS = {"file-100MiB"}
MEMORY_SCENARIOS = {"file-100MiB"}
# Scenarios whose few, long requests make req/s too coarse: their ratios divide MiB/s.
THROUGHPUT_SCENARIOS = {"file-100MiB"}
FILE_SCENARIOS = {"file-1MiB", "file-100MiB"}
# How often the server's RSS is read during a memory scenario's load.
RSS_INTERVAL = 0.1
# HTTP/2 over h2c (prior knowledge): h2load's arguments.  {body16k} is a
# file of 16 KiB that h2load posts.  The 1 MiB row keeps one response in
# flight per connection, as the HTTP/1.1 row with 16 connections does.
H2_SCENARIOS = {
    "h2-hello": ["-c", "16", "-m", "10", "http://127.0.0.1:{port}/"],
    "h2-echo-16KiB": ["-c", "16", "-m", "10", "-d", "{body16k}", "http://127.0.0.1:{port}/echo"],
    "h2-1MiB-response": ["-c", "16", "-m", "1", "http://127.0.0.1:{port}/big"],
}
SCENARIOS.update(H2_SCENARIOS)
# The servers that speak h2c, and those that speak nothing else (they skip the HTTP/1.1 rows).
H2_SERVERS = {"fastasgi", "fastasgi-pure", "fastasgi-pypy", "granian", "hypercorn", "h2corn", "uvicorn-zttp"}
H2_ONLY_SERVERS = {"hypercorn", "uvicorn-zttp"}
H2_BASELINE = "hypercorn"
# The scenarios with nginx in front: what goes in its upstream block and its
# location, and the HTTP version nginx then speaks to the server.
NGINX_SCENARIOS = {
    "nginx-default": ("", "", "1.0"),
    "nginx-keepalive": ("keepalive 64;", 'proxy_http_version 1.1;\n            proxy_set_header Connection "";', "1.1"),
}


class NotComparable(Exception):
    """The server cannot serve this scenario at all: its row says why instead of counting errors."""


class Nginx:
    """Debian's nginx in front of a server on `upstream_port`, for one load:
    one worker pinned to the load generator's core, loopback only, its
    config and logs in a temp dir removed on stop()."""

    def __init__(self, scenario, upstream_port):
        upstream_extra, location_extra, self.upstream_http = NGINX_SCENARIOS[scenario]
        self.directory = tempfile.mkdtemp(prefix="bench-nginx-")
        self.port = free_port()
        config = write_nginx_config(self.directory, self.port, upstream_port, upstream_extra=upstream_extra,
                                    location_extra=location_extra, worker_connections=4096, error_log_level="warn")
        self.process = subprocess.Popen(["taskset", "-c", CLIENT_CPU,
                                         *nginx_command(nginx_binary(), config, self.directory)],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        if not wait_for_port(self.port, timeout=10) or self.process.poll() is not None:
            log = self.error_log()
            self.stop()
            raise RuntimeError(f"nginx did not start: {log}")

    def check_upstream(self):
        """One request through nginx before the load: a server that refuses
        nginx's upstream requests (h2corn answers HTTP/1.0 with 400) would
        only count errors, so its row is NotComparable."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            head = b""
            while b"\r\n" not in head:
                data = sock.recv(4096)
                if not data:
                    break
                head += data
        status = head.split(b" ", 2)[1].decode() if head.count(b" ") >= 2 else "nothing"
        if status != "200":
            raise NotComparable(f"answers HTTP/{self.upstream_http} with {status}")

    def error_log(self):
        try:
            with open(os.path.join(self.directory, "error.log")) as file:
                return file.read()[-2000:]
        except OSError:
            return ""

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()  # nginx's fast shutdown
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def process_family(pid):
    """`pid` and all its descendants (granian forks workers), from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as file:
                    parent = int(file.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(parent, []).append(int(entry))
    family, pending = [], [pid]
    while pending:
        member = pending.pop()
        family.append(member)
        pending.extend(children.get(member, []))
    return family


def cpu_seconds(pid):
    """utime + stime of a process and its descendants."""
    total = 0
    for member in process_family(pid):
        try:
            with open(f"/proc/{member}/stat") as file:
                fields = file.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def rss_bytes(pids):
    """The resident memory of `pids`, from /proc."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as file:
                for line in file:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return total


class RssSampler:
    """The highest RSS of a server's processes while a load runs (a thread)."""

    def __init__(self, pid):
        self.pids = process_family(pid)
        self.start = rss_bytes(self.pids)
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self):
        while not self._stop.wait(RSS_INTERVAL):
            self.peak = max(self.peak, rss_bytes(self.pids))

    def growth_mib(self):
        self._stop.set()
        self._thread.join()
        return (self.peak - self.start) / 2**20


def parse_wrk(output):
    def number(pattern, scale=None):
        match = re.search(pattern, output)
        if not match:
            return None
        value = float(match.group(1))
        return value * scale[match.group(2)] if scale else value

    size = {"B": 1 / 2**20, "KB": 1 / 1024, "MB": 1, "GB": 1024}
    latency = {"us": 0.001, "ms": 1, "s": 1000}
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": number(r"Requests/sec:\s+([\d.]+)"),
        "mib_s": number(r"Transfer/sec:\s+([\d.]+)(B|KB|MB|GB)", size),
        "p50_ms": number(r"\s50%\s+([\d.]+)(us|ms|s)\b", latency),
        "p99_ms": number(r"\s99%\s+([\d.]+)(us|ms|s)\b", latency),
        "errors": (sum(int(x) for x in errors.groups()) if errors else 0) + (int(non2xx.group(1)) if non2xx else 0),
    }


def run_wrk(args, duration, port, scheme="http"):
    command = ["taskset", "-c", CLIENT_CPU, "wrk", "-t", "1", "-d", f"{max(1, round(duration))}s", "--latency"]
    command += [arg.format(port=port, scheme=scheme) for arg in args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    output = subprocess.run(command, capture_output=True, text=True, timeout=duration + 30).stdout
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = parse_wrk(output)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result["client_cpu"] = used / elapsed
    return result


def parse_h2load(output):
    def number(pattern):
        match = re.search(pattern, output)
        return float(match.group(1)) if match else None

    megabytes = re.search(r"finished in [\d.]+s, [\d.]+ req/s, ([\d.]+)(B|KB|MB|GB)/s", output)
    scale = {"B": 1 / 2**20, "KB": 1 / 1024, "MB": 1, "GB": 1024}
    failed = number(r"(\d+) failed") or 0
    errored = number(r"(\d+) errored") or 0
    non2xx = sum(int(count) for count in re.findall(r"status codes: \d+ 2xx, \d+ 3xx, (\d+) 4xx, (\d+) 5xx",
                                                       output)[0]) if "status codes" in output else 0
    return {
        "rps": number(r"finished in [\d.]+s, ([\d.]+) req/s"),
        "mib_s": float(megabytes.group(1)) * scale[megabytes.group(2)] if megabytes else None,
        "p50_ms": None,  # h2load gives mean and spread, not percentiles
        "p99_ms": None,
        "errors": int(failed + errored) + non2xx,
    }


def run_h2load(args, duration, port, scheme="http"):
    if not shutil.which("h2load"):
        raise RuntimeError("h2load is not installed (Debian: apt-get install nghttp2-client)")
    with tempfile.NamedTemporaryFile(prefix="h2-body-", suffix=".bin") as body:
        body.write(b"x" * 16384)
        body.flush()
        command = ["taskset", "-c", CLIENT_CPU, "h2load", "-t", "1", "-D", str(max(1, round(duration)))]
        command += [arg.format(port=port, body16k=body.name) for arg in args]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        output = subprocess.run(command, capture_output=True, text=True, timeout=duration + 30).stdout
        elapsed = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = parse_h2load(output)
    if result["rps"] is None:
        raise RuntimeError(f"h2load printed no result: {output[-1500:]}")
    result["client_cpu"] = ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) / elapsed
    return result


def run_ws_load(args, duration, port, scheme="http"):
    command = ["taskset", "-c", CLIENT_CPU, sys.executable, os.path.join(HERE, "ws_load.py"),
               "--port", str(port), "--duration", str(duration), "--warmup", str(WS_WARMUP), *args]
    output = subprocess.run(command, capture_output=True, text=True, timeout=duration + 30)
    if output.returncode != 0:
        raise RuntimeError(f"ws_load failed: {output.stderr[-2000:]}")
    return json.loads(output.stdout)


def start_server(name, commands, port):
    command, extra_env = commands[name]
    env = dict(os.environ, **extra_env)
    if "FASTASGI_NO_EXTENSIONS" not in extra_env:
        env.pop("FASTASGI_NO_EXTENSIONS", None)
    # The server's log goes to a file: a pipe nobody reads would block a
    # server that logs a lot once its buffer is full.
    log = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen(["taskset", "-c", SERVER_CPU, *command], cwd=HERE, env=env,
                               stdout=subprocess.DEVNULL, stderr=log, text=True)
    process.log = log
    # Another process on the port would answer for a server that failed to
    # bind and exited: the server must still be running once the port is up.
    if not wait_for_port(port) or process.poll() is not None:
        process.kill()
        raise RuntimeError(f"{name} did not start: {server_log(process)}")
    return process


def server_log(process, tail=2000):
    process.log.seek(0)
    return process.log.read()[-tail:]


def stop_server(process):
    process.send_signal(signal.SIGINT)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    process.log.close()


def not_installed(name, command):
    """Why server `name` cannot run here (None when it can): its program or its module is missing."""
    program = command[0]
    if not (shutil.which(program) or os.path.exists(program)):
        return f"it is not installed (pip install {name})"
    if "-m" in command:
        module = command[command.index("-m") + 1]
        modules = f"{module}, zttp" if name == "uvicorn-zttp" else module
        if subprocess.run([program, "-c", f"import {modules}"], capture_output=True).returncode != 0:
            return f"{modules} not installed for {program} (pip install -r bench/requirements.txt)"
    return None


def linux_tools_missing():
    """Why this machine cannot run the benchmark (None when it can): the
    servers and the load are pinned with taskset, CPU time is read from /proc."""
    if not os.path.isdir("/proc/self"):
        return "the benchmark reads CPU time and memory from /proc (Linux only)"
    if shutil.which("taskset") is None:
        return "the benchmark pins servers and load to cores with taskset (util-linux, Linux only)"
    return None


def runs(name, scenario):
    """Whether server `name` runs `scenario`: the ceilings and the TLS server run a few,
    the HTTP/2 rows only the servers that speak h2c, which some peers speak alone."""
    if name in RAW_SERVERS:
        return scenario in RAW_SCENARIOS
    if name in TLS_SERVERS:
        return scenario in TLS_SCENARIOS
    if scenario in H2_SCENARIOS:
        return name in H2_SERVERS
    return name not in H2_ONLY_SERVERS


def make_bench_files(directory, scenarios, servers):
    """The files the file scenarios serve, and a throwaway certificate for the TLS server: (cert, key)."""
    from app import FILE_SIZES, bench_file
    if FILE_SCENARIOS & set(scenarios):
        for size in FILE_SIZES.values():
            bench_file(size, directory)
    if not TLS_SERVERS & set(servers):
        return "", ""
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    return cert, key


def main():
    missing = linux_tools_missing()
    if missing:
        sys.exit(f"bench/run.py cannot run here: {missing}")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", default="fastasgi,fastasgi-pure,uvicorn,uvicorn-h11,granian,raw-uvloop,"
                                             "fastasgi-tls,hypercorn,h2corn,uvicorn-zttp")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--results", default=RESULTS, help="where latest.json and latest.md go")
    parser.add_argument("--pypy", metavar="PYTHON",
                        help="a PyPy with fastasgi and uvicorn installed (e.g. .venv-pypy/bin/python): "
                             "adds the servers fastasgi-pypy and uvicorn-h11-pypy, and raw-asyncio-pypy "
                             "when raw-uvloop runs")
    parser.add_argument("--pypy-jit", metavar="PARAMS",
                        help="JIT parameters for every PyPy server, as pypy's --jit takes them "
                             "(e.g. trace_limit=16000)")
    options = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    python = sys.executable
    if options.pypy:
        options.pypy = os.path.abspath(options.pypy)  # the servers run from bench/
    servers = options.servers.split(",")
    if options.pypy:
        pypy_servers = ["fastasgi-pypy", "uvicorn-h11-pypy"]
        if "raw-uvloop" in servers:
            pypy_servers.append("raw-asyncio-pypy")
        servers += [name for name in pypy_servers if name not in servers]
    ports = {name: PORT + index for index, name in enumerate(servers)}
    scenarios = options.scenarios.split(",")
    if nginx_binary() is None and any(scenario in NGINX_SCENARIOS for scenario in scenarios):
        print("skipping the nginx scenarios: nginx is not installed (Debian: apt-get install nginx)",
              file=sys.stderr, flush=True)
        scenarios = [scenario for scenario in scenarios if scenario not in NGINX_SCENARIOS]
    files = tempfile.mkdtemp(prefix="fastasgi-bench-files-")
    os.environ["FASTASGI_BENCH_FILES"] = files  # every server serves the same files
    try:
        tls = make_bench_files(files, scenarios, servers)
        commands = {name: server_commands(python, ports[name], options.pypy, options.pypy_jit, tls)[name]
                    for name in servers}
        for name in list(servers):  # a peer that is not installed is left out, with a message
            missing = not_installed(name, commands[name][0])
            if missing:
                print(f"skipping {name}: {missing}", file=sys.stderr, flush=True)
                servers.remove(name)
        samples, not_comparable = run_rounds(servers, scenarios, ports, commands, options)
    finally:
        shutil.rmtree(files, ignore_errors=True)
    report(samples, not_comparable, servers, scenarios, options)


def run_rounds(servers, scenarios, ports, commands, options):
    """(samples, not_comparable): (scenario, server) -> its results, each
    with its round; (scenario, server) -> why it has none."""
    samples = {}
    not_comparable = {}
    for round_number in range(options.rounds):
        shift = round_number % len(servers)
        order = servers[shift:] + servers[:shift]
        processes = {}
        try:
            for name in order:
                processes[name] = start_server(name, commands, ports[name])
            for scenario in scenarios:
                for name in order:
                    if not runs(name, scenario) or (scenario, name) in not_comparable:
                        continue
                    result = measure(name, scenario, processes, commands, ports[name], options)
                    if result is None:
                        continue
                    if "not_comparable" in result:
                        not_comparable[(scenario, name)] = result["not_comparable"]
                        continue
                    result["round"] = round_number
                    samples.setdefault((scenario, name), []).append(result)
                    print(f"round {round_number + 1} {scenario:16} {name:14} {result['rps'] or 0:>10.0f} req/s"
                          f"  p99 {result['p99_ms'] or 0:.2f} ms", file=sys.stderr, flush=True)
        finally:
            for process in processes.values():
                stop_server(process)
    return samples, not_comparable


def measure(name, scenario, processes, commands, port, options):
    """One warm-up and one measured load of `scenario` on server `name`.
    A failure is reported and the server replaced, so one bad scenario
    does not lose the rest of the run; it then returns None.  A server that
    cannot serve the scenario at all gives {"not_comparable": why}."""
    process = processes[name]
    args = SCENARIOS[scenario]
    load = run_ws_load if scenario in WS_SCENARIOS else run_h2load if scenario in H2_SCENARIOS else run_wrk
    scheme = "https" if name in TLS_SERVERS else "http"
    sampler = None
    nginx = None
    try:
        target = port
        if scenario in NGINX_SCENARIOS:
            nginx = Nginx(scenario, port)
            nginx.check_upstream()
            target = nginx.port  # the load goes to nginx; the server's CPU is still the one counted
        if name.endswith("-pypy"):
            warmup = PYPY_WS_WARMUP if scenario in WS_SCENARIOS else PYPY_WARMUP
        else:
            warmup = options.warmup
        if scenario in MEMORY_SCENARIOS:  # from before the first load of it: the warm-up counts too
            sampler = RssSampler(process.pid)
        if warmup:  # --warmup 0: straight to the measured load (the smoke tests)
            load(args, warmup, target, scheme)
        cpu_before = cpu_seconds(process.pid)
        result = load(args, options.duration, target, scheme)
        server_cpu = cpu_seconds(process.pid) - cpu_before  # before nginx stops
    except NotComparable as exc:
        print(f"{scenario:16} {name:14} not comparable: {exc}", file=sys.stderr, flush=True)
        return {"not_comparable": str(exc)}
    except Exception as exc:  # noqa: BLE001 - one failure must not lose the run
        if sampler is not None:
            sampler.growth_mib()
        print(f"{scenario:16} {name:14} FAILED: {exc}\n{server_log(process)}", file=sys.stderr, flush=True)
        stop_server(process)
        processes[name] = start_server(name, commands, port)  # a fresh one for the next scenario
        return None
    finally:
        if nginx is not None:
            nginx.stop()
    loaded = options.duration + (WS_WARMUP if scenario in WS_SCENARIOS else 0)
    result["server_cpu"] = server_cpu / loaded
    # The server's CPU time per request: unlike req/s, it does not depend on
    # whether the client kept up (the 1 MiB response saturates wrk first).
    result["cpu_us"] = result["server_cpu"] * 1e6 / result["rps"] if result["rps"] else None
    result["rss_growth_mib"] = sampler.growth_mib() if sampler is not None else None
    return result


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def round_ratios(results, base_results, key="rps"):
    """Each round's req/s (or `key`) over the baseline's in the same round: how
    far the ratio moved between rounds (the table's ratio divides medians)."""
    base_by_round = {r["round"]: r[key] for r in base_results if r[key]}
    return [r[key] / base_by_round[r["round"]] for r in results if r[key] and r["round"] in base_by_round]


def latency(ms):
    """A latency for the table; wrk prints 0 where it timed nothing (most pipelined rows)."""
    return f"{ms:.2f}" if ms else "-"


def report(samples, not_comparable, servers, scenarios, options):
    rows = []
    # Rows without figures: the table says why, the chart has nothing to draw.
    skipped = [{"scenario": scenario, "server": name, "not_comparable": not_comparable[(scenario, name)]}
               for scenario in scenarios for name in servers if (scenario, name) in not_comparable]
    for scenario in scenarios:
        for name in servers:
            baseline = H2_BASELINE if scenario in H2_SCENARIOS else BASELINE.get(name, "uvicorn")
            base_results = samples.get((scenario, baseline), [])
            key = "mib_s" if scenario in THROUGHPUT_SCENARIOS else "rps"
            base = median([r[key] for r in base_results])
            results = samples.get((scenario, name))
            if not results:
                continue
            rps = median([r["rps"] for r in results])
            measured = median([r[key] for r in results])
            cpu_us = median([r.get("cpu_us") for r in results])
            base_cpu_us = median([r.get("cpu_us") for r in base_results])
            ratios = round_ratios(results, base_results, key)
            rows.append({
                "scenario": scenario, "server": name, "rps": rps,
                "mib_s": median([r["mib_s"] for r in results]),
                "p50_ms": median([r["p50_ms"] for r in results]),
                "p99_ms": median([r["p99_ms"] for r in results]),
                "server_cpu": median([r["server_cpu"] for r in results]),
                "client_cpu": median([r["client_cpu"] for r in results]),
                "errors": sum(r["errors"] for r in results),
                "ratio_to_uvicorn": (measured / base) if measured and base else None,
                "cpu_us": cpu_us,
                "cpu_ratio_to_uvicorn": (base_cpu_us / cpu_us) if cpu_us and base_cpu_us else None,
                "round_ratios": ratios,
                "client_bound": median([r["client_cpu"] for r in results]) >= 0.95,
                # The worst round: the figure a memory limit must allow for.
                "rss_growth_mib": max((r["rss_growth_mib"] for r in results if r.get("rss_growth_mib") is not None),
                                      default=None),
            })
    os.makedirs(options.results, exist_ok=True)
    meta = {"rounds": options.rounds, "duration_s": options.duration, "python": sys.version.split()[0],
            "command": "python bench/run.py " + " ".join(sys.argv[1:]), "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    with open(os.path.join(options.results, "latest.json"), "w") as file:
        json.dump({"meta": meta, "rows": rows, "not_comparable": skipped}, file, indent=2)
    table = markdown_table(meta, rows, skipped)
    with open(os.path.join(options.results, "latest.md"), "w") as file:
        file.write(table + "\n")
    print(table)
    try:
        from chart import write_chart
        write_chart({"meta": meta, "rows": rows}, os.path.join(options.results, "latest.svg"))
    except ImportError as exc:  # matplotlib is optional: the table is the result
        print(f"no chart ({exc}): pip install -r bench/requirements.txt", file=sys.stderr)


def markdown_table(meta, rows, not_comparable=()):
    """The run as a Markdown table with its caption (latest.md; the docs'
    performance page draws the published run, bench/latest.json, with it)."""
    lines = [f"`{meta['command']}` ({meta['rounds']} rounds x {meta['duration_s']:g} s, Python {meta['python']}, "
             "server on CPU 0, wrk on CPU 1; medians; * = wrk saturated its core, a lower bound; "
             "per round: the lowest and highest of the rounds' own ratios; CPU µs/req: the server's CPU time per "
             "request, and x by CPU: the baseline's over this server's, the ratio that does not depend on the client; "
             "RSS +MiB: the server's resident memory growth during the load, the highest of the rounds; "
             "fastasgi-tls: x fastasgi, the cost of TLS; file-100MiB: ratios of MiB/s)",
             "",
             "| scenario | server | req/s | MiB/s | p50 ms | p99 ms | server CPU | x uvicorn (PyPy rows: x uvicorn-h11-pypy; "
             "accesslog rows: x uvicorn-accesslog; h2 rows: x hypercorn) | per round | CPU µs/req | x by CPU | RSS +MiB | errors |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        star = "*" if row["client_bound"] else ""
        ratio = f"{row['ratio_to_uvicorn']:.2f}" if row["ratio_to_uvicorn"] else "-"
        spread = f"{min(row['round_ratios']):.2f}–{max(row['round_ratios']):.2f}" if row["round_ratios"] else "-"
        cpu_us = f"{row['cpu_us']:.1f}" if row["cpu_us"] else "-"
        cpu_ratio = f"{row['cpu_ratio_to_uvicorn']:.2f}" if row["cpu_ratio_to_uvicorn"] else "-"
        rss = f"{row['rss_growth_mib']:.1f}" if row.get("rss_growth_mib") is not None else "-"
        lines.append(f"| {row['scenario']} | {row['server']} | {row['rps']:.0f}{star} | {row['mib_s'] or 0:.1f} | "
                     f"{latency(row['p50_ms'])} | {latency(row['p99_ms'])} | {row['server_cpu']:.0%} | {ratio} | "
                     f"{spread} | {cpu_us} | {cpu_ratio} | {rss} | {row['errors']} |")
    for row in not_comparable:
        lines.append(f"| {row['scenario']} | {row['server']} | not comparable: {row['not_comparable']} |"
                     + " |" * 10)
    return "\n".join(lines)


if __name__ == "__main__":
    main()
