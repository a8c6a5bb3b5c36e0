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
(messages/s in the req/s column).  raw-uvloop (bench/raw_server.py) answers
with canned bytes: the ceiling of any Python server on uvloop, for the
scenarios it has answers for; with --pypy, raw-asyncio-pypy is the same on
PyPy's asyncio loop, the ceiling of the PyPy rows.
Results go to bench/results/latest.json and latest.md, and the chart of
the ratios to latest.svg (bench/chart.py, with matplotlib installed).
"""
import argparse
import importlib.util
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
import time

from fastasgi.allocator import MMAP_THRESHOLD, TRIM_THRESHOLD

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
# The first server's port; the next servers take the ports after it.
PORT = int(os.environ.get("FASTASGI_BENCH_PORT", "8765"))
SERVER_CPU = "0"
CLIENT_CPU = "1"

# PyPy's GC nursery for both PyPy servers, the size the README recommends
PYPY_NURSERY = "8MB"
# fastasgi's own glibc malloc settings, as environment variables for a peer
MALLOC_TUNING = {"MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD), "MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD)}


def server_commands(python, port, pypy=None, pypy_jit=None):
    common_flags = ["--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning"]
    logging_flags = ["--host", "127.0.0.1", "--port", str(port), "--log-level", "info"]
    commands = {
        "fastasgi": ([python, "-m", "fastasgi", "app:app", "--http", "httptools", *common_flags], {}),
        "fastasgi-pure": ([python, "-m", "fastasgi", "app:app", "--http", "h11", *common_flags],
                          {"FASTASGI_NO_EXTENSIONS": "1"}),
        "uvicorn": ([python, "-m", "uvicorn", "app:app", "--http", "httptools", "--loop", "uvloop", *common_flags], {}),
        "uvicorn-h11": ([python, "-m", "uvicorn", "app:app", "--http", "h11", "--loop", "uvloop", *common_flags], {}),
        # uvicorn with the glibc malloc settings fastasgi applies to itself
        # (fastasgi/allocator.py): not in the default list, for a fair look at echo.
        "uvicorn-malloc": ([python, "-m", "uvicorn", "app:app", "--http", "httptools", "--loop", "uvloop",
                            *common_flags], MALLOC_TUNING),
        # Access log on, as uvicorn's default is (to /dev/null): optional, each
        # against the other.
        "fastasgi-accesslog": ([python, "-m", "fastasgi", "app:app", *logging_flags], {}),
        "uvicorn-accesslog": ([python, "-m", "uvicorn", "app:app", "--http", "httptools", "--loop", "uvloop",
                               *logging_flags], {}),
        "granian": ([python, "-m", "granian", "--interface", "asgi", "--workers", "1", "--loop", "uvloop",
                     "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "app:app"], {}),
        # Rust, HTTP/1.1 and HTTP/2 (`pip install h2corn`): one worker on uvloop, as the others.
        "h2corn": ([python, "-m", "h2corn", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                    "--loop", "uvloop", "--no-access-log", "app:app"], {}),
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
                                         "--loop", "asyncio", *common_flags], pypy_env)
        commands["raw-asyncio-pypy"] = ([*pypy_command, "raw_server.py", str(port), "--loop", "asyncio"], pypy_env)
    return commands


# The server each one's ratio is taken against: uvicorn (httptools + uvloop),
# except on PyPy, where the peer is uvicorn's h11 path on the same PyPy, and
# with the access log on, where it is uvicorn with its access log on.
BASELINE = {"fastasgi-pypy": "uvicorn-h11-pypy", "uvicorn-h11-pypy": "uvicorn-h11-pypy",
            "fastasgi-loop-transport-pypy": "uvicorn-h11-pypy",
            "raw-asyncio-pypy": "uvicorn-h11-pypy",
            "fastasgi-accesslog": "uvicorn-accesslog", "uvicorn-accesslog": "uvicorn-accesslog"}
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
# The scenarios with nginx in front: what goes in its upstream block and its location.
NGINX_SCENARIOS = {
    "nginx-default": ("", ""),
    "nginx-keepalive": ("keepalive 64;", 'proxy_http_version 1.1;\n            proxy_set_header Connection "";'),
}


def nginx_binary():
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


class Nginx:
    """Debian's nginx in front of a server on `upstream_port`, for one load:
    one worker pinned to the load generator's core, loopback only, its
    config and logs in a temp dir removed on stop()."""

    def __init__(self, scenario, upstream_port):
        upstream_extra, location_extra = NGINX_SCENARIOS[scenario]
        self.directory = tempfile.mkdtemp(prefix="bench-nginx-")
        self.port = free_port()
        # As root its worker would switch to a user that cannot use the temp dir.
        user = "user root;" if os.geteuid() == 0 else ""
        config = os.path.join(self.directory, "nginx.conf")
        with open(config, "w") as file:
            file.write(NGINX_CONFIG.format(user=user, directory=self.directory, port=self.port,
                                           upstream_port=upstream_port, upstream_extra=upstream_extra,
                                           location_extra=location_extra))
        self.process = subprocess.Popen(["taskset", "-c", CLIENT_CPU, nginx_binary(), "-c", config,
                                         "-p", self.directory, "-e", os.path.join(self.directory, "error.log")],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        if not wait_for_port(self.port, timeout=10) or self.process.poll() is not None:
            log = self.error_log()
            self.stop()
            raise RuntimeError(f"nginx did not start: {log}")

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


NGINX_CONFIG = """\
{user}
daemon off;
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;

events {{ worker_connections 4096; }}

http {{
    access_log off;
    client_body_temp_path {directory}/client_body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;

    upstream app {{
        server 127.0.0.1:{upstream_port};
        {upstream_extra}
    }}

    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://app;
            {location_extra}
        }}
    }}
}}
"""


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


def run_wrk(args, duration, port):
    command = ["taskset", "-c", CLIENT_CPU, "wrk", "-t", "1", "-d", f"{max(1, round(duration))}s", "--latency"]
    command += [arg.format(port=port) for arg in args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    output = subprocess.run(command, capture_output=True, text=True, timeout=duration + 30).stdout
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = parse_wrk(output)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result["client_cpu"] = used / elapsed
    return result


def run_ws_load(args, duration, port):
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


# Peers installed separately (bench/requirements.txt): a run without one skips it.
PEER_MODULES = {"granian": "granian", "h2corn": "h2corn"}


def installed(name):
    module = PEER_MODULES.get(name)
    if module is None or importlib.util.find_spec(module) is not None:
        return True
    print(f"skipping {name}: it is not installed (pip install {module})", file=sys.stderr, flush=True)
    return False


def linux_tools_missing():
    """Why this machine cannot run the benchmark (None when it can): the
    servers and the load are pinned with taskset, CPU time is read from /proc."""
    if not os.path.isdir("/proc/self"):
        return "the benchmark reads CPU time and memory from /proc (Linux only)"
    if shutil.which("taskset") is None:
        return "the benchmark pins servers and load to cores with taskset (util-linux, Linux only)"
    return None


def main():
    missing = linux_tools_missing()
    if missing:
        sys.exit(f"bench/run.py cannot run here: {missing}")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", default="fastasgi,fastasgi-pure,uvicorn,uvicorn-h11,granian,h2corn,raw-uvloop")
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
    servers = [name for name in options.servers.split(",") if installed(name)]
    if options.pypy:
        pypy_servers = ["fastasgi-pypy", "uvicorn-h11-pypy"]
        if "raw-uvloop" in servers:
            pypy_servers.append("raw-asyncio-pypy")
        servers += [name for name in pypy_servers if name not in servers]
    ports = {name: PORT + index for index, name in enumerate(servers)}
    commands = {name: server_commands(python, ports[name], options.pypy, options.pypy_jit)[name] for name in servers}
    scenarios = options.scenarios.split(",")
    if nginx_binary() is None and any(scenario in NGINX_SCENARIOS for scenario in scenarios):
        print("skipping the nginx scenarios: nginx is not installed (Debian: apt-get install nginx)",
              file=sys.stderr, flush=True)
        scenarios = [scenario for scenario in scenarios if scenario not in NGINX_SCENARIOS]
    samples = {}  # (scenario, server) -> list of results, each with its round
    for round_number in range(options.rounds):
        shift = round_number % len(servers)
        order = servers[shift:] + servers[:shift]
        processes = {}
        try:
            for name in order:
                processes[name] = start_server(name, commands, ports[name])
            for scenario in scenarios:
                for name in order:
                    if name in RAW_SERVERS and scenario not in RAW_SCENARIOS:
                        continue
                    result = measure(name, scenario, processes, commands, ports[name], options)
                    if result is None:
                        continue
                    result["round"] = round_number
                    samples.setdefault((scenario, name), []).append(result)
                    print(f"round {round_number + 1} {scenario:16} {name:14} {result['rps'] or 0:>10.0f} req/s"
                          f"  p99 {result['p99_ms'] or 0:.2f} ms", file=sys.stderr, flush=True)
        finally:
            for process in processes.values():
                stop_server(process)
    report(samples, servers, scenarios, options)


def measure(name, scenario, processes, commands, port, options):
    """One warm-up and one measured load of `scenario` on server `name`.
    A failure is reported and the server replaced, so one bad scenario
    does not lose the rest of the run; it then returns None."""
    process = processes[name]
    args = SCENARIOS[scenario]
    load = run_ws_load if scenario in WS_SCENARIOS else run_wrk
    nginx = None
    try:
        target = port
        if scenario in NGINX_SCENARIOS:
            nginx = Nginx(scenario, port)
            target = nginx.port  # the load goes to nginx; the server's CPU is still the one counted
        if name.endswith("-pypy"):
            warmup = PYPY_WS_WARMUP if scenario in WS_SCENARIOS else PYPY_WARMUP
        else:
            warmup = options.warmup
        load(args, warmup, target)
        cpu_before = cpu_seconds(process.pid)
        result = load(args, options.duration, target)
        server_cpu = cpu_seconds(process.pid) - cpu_before
    except Exception as exc:  # noqa: BLE001 - one failure must not lose the run
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
    return result


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def round_ratios(results, base_results):
    """Each round's req/s over the baseline's in the same round: how far
    the ratio moved between rounds (the table's ratio divides medians)."""
    base_by_round = {r["round"]: r["rps"] for r in base_results if r["rps"]}
    return [r["rps"] / base_by_round[r["round"]] for r in results if r["rps"] and r["round"] in base_by_round]


def latency(ms):
    """A latency for the table; wrk prints 0 where it timed nothing (most pipelined rows)."""
    return f"{ms:.2f}" if ms else "-"


def report(samples, servers, scenarios, options):
    rows = []
    for scenario in scenarios:
        for name in servers:
            base_results = samples.get((scenario, BASELINE.get(name, "uvicorn")), [])
            base = median([r["rps"] for r in base_results])
            results = samples.get((scenario, name))
            if not results:
                continue
            rps = median([r["rps"] for r in results])
            cpu_us = median([r.get("cpu_us") for r in results])
            base_cpu_us = median([r.get("cpu_us") for r in base_results])
            ratios = round_ratios(results, base_results)
            rows.append({
                "scenario": scenario, "server": name, "rps": rps,
                "mib_s": median([r["mib_s"] for r in results]),
                "p50_ms": median([r["p50_ms"] for r in results]),
                "p99_ms": median([r["p99_ms"] for r in results]),
                "server_cpu": median([r["server_cpu"] for r in results]),
                "client_cpu": median([r["client_cpu"] for r in results]),
                "errors": sum(r["errors"] for r in results),
                "ratio_to_uvicorn": (rps / base) if rps and base else None,
                "cpu_us": cpu_us,
                "cpu_ratio_to_uvicorn": (base_cpu_us / cpu_us) if cpu_us and base_cpu_us else None,
                "round_ratios": ratios,
                "client_bound": median([r["client_cpu"] for r in results]) >= 0.95,
            })
    os.makedirs(options.results, exist_ok=True)
    meta = {"rounds": options.rounds, "duration_s": options.duration, "python": sys.version.split()[0],
            "command": "python bench/run.py " + " ".join(sys.argv[1:]), "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    with open(os.path.join(options.results, "latest.json"), "w") as file:
        json.dump({"meta": meta, "rows": rows}, file, indent=2)
    table = markdown_table(meta, rows)
    with open(os.path.join(options.results, "latest.md"), "w") as file:
        file.write(table + "\n")
    print(table)
    try:
        from chart import write_chart
        write_chart({"meta": meta, "rows": rows}, os.path.join(options.results, "latest.svg"))
    except ImportError as exc:  # matplotlib is optional: the table is the result
        print(f"no chart ({exc}): pip install -r bench/requirements.txt", file=sys.stderr)


def markdown_table(meta, rows):
    """The run as a Markdown table with its caption (latest.md; the docs'
    performance page draws the published run, bench/latest.json, with it)."""
    lines = [f"`{meta['command']}` ({meta['rounds']} rounds x {meta['duration_s']:g} s, Python {meta['python']}, "
             "server on CPU 0, wrk on CPU 1; medians; * = wrk saturated its core, a lower bound; "
             "per round: the lowest and highest of the rounds' own ratios; CPU µs/req: the server's CPU time per "
             "request, and x by CPU: the baseline's over this server's, the ratio that does not depend on the client)",
             "",
             "| scenario | server | req/s | MiB/s | p50 ms | p99 ms | server CPU | x uvicorn (PyPy rows: x uvicorn-h11-pypy; "
             "accesslog rows: x uvicorn-accesslog) | per round | CPU µs/req | x by CPU | errors |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        star = "*" if row["client_bound"] else ""
        ratio = f"{row['ratio_to_uvicorn']:.2f}" if row["ratio_to_uvicorn"] else "-"
        spread = f"{min(row['round_ratios']):.2f}–{max(row['round_ratios']):.2f}" if row["round_ratios"] else "-"
        cpu_us = f"{row['cpu_us']:.1f}" if row["cpu_us"] else "-"
        cpu_ratio = f"{row['cpu_ratio_to_uvicorn']:.2f}" if row["cpu_ratio_to_uvicorn"] else "-"
        lines.append(f"| {row['scenario']} | {row['server']} | {row['rps']:.0f}{star} | {row['mib_s'] or 0:.1f} | "
                     f"{latency(row['p50_ms'])} | {latency(row['p99_ms'])} | {row['server_cpu']:.0%} | {ratio} | "
                     f"{spread} | {cpu_us} | {cpu_ratio} | {row['errors']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
