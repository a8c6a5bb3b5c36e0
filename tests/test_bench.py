"""The benchmark tools themselves run: short runs of bench/run.py and
bench/idle_memory.py against real servers, results in a temporary folder.

Nothing here judges speed (that is the benchmark's job); it checks that
the harness starts its servers, loads them and reports every row, so a
change to the harness cannot quietly break the figures the README quotes.
"""
import importlib.util
import json
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import threading

import pytest

from .conftest import needs_proc, needs_taskset, read_response, recv_until_closed
from .process_utils import free_port

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")

pytestmark = pytest.mark.skipif(platform.python_implementation() != "CPython",
                                reason="the benchmark's servers run on CPython with uvloop and httptools")


def free_ports_below_ephemeral(count=4):
    """The first of `count` consecutive free ports, below the kernel's range
    of ephemeral ports: bench/run.py gives its servers consecutive ports, and
    one in that range may meanwhile become a client's source port."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as file:
            ephemeral_low = int(file.read().split()[0])
    except (OSError, ValueError, IndexError):
        return free_port()
    for _ in range(100):
        base = random.randrange(10000, ephemeral_low - count)
        probes = []
        try:
            for port in range(base, base + count):
                probe = socket.socket()
                probes.append(probe)
                probe.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
    return free_port()


def run_bench_script(script, *args, timeout):
    # Free ports, not the bench's default: another run on the machine may hold that.
    env = dict(os.environ, FASTASGI_BENCH_PORT=str(free_ports_below_ephemeral()))
    result = subprocess.run([sys.executable, os.path.join(BENCH, script), *args], cwd=BENCH,
                            capture_output=True, text=True, timeout=timeout, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def has_nginx():
    return shutil.which("nginx") is not None or os.path.exists("/usr/sbin/nginx")


@pytest.mark.timeout(150)
@needs_proc
@needs_taskset
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (Debian: apt-get install wrk)")
def test_benchmark_runs_each_scenario_on_each_server_every_round(tmp_path):
    result = run_bench_script("run.py", "--servers", "fastasgi,uvicorn", "--scenarios",
                              "hello,ws-echo-32B,nginx-default,nginx-keepalive",
                              "--rounds", "2", "--duration", "1", "--warmup", "0", "--results", str(tmp_path),
                              timeout=140)
    rows = json.loads((tmp_path / "latest.json").read_text())["rows"]
    scenarios = ["hello", "ws-echo-32B"] + (["nginx-default", "nginx-keepalive"] if has_nginx() else [])
    assert [(row["scenario"], row["server"]) for row in rows] == [
        (scenario, server) for scenario in scenarios for server in ("fastasgi", "uvicorn")]
    if not has_nginx():
        assert "skipping the nginx scenarios: nginx is not installed" in result.stderr
    for row in rows:
        assert row["rps"] > 0 and row["errors"] == 0, row
        assert len(row["round_ratios"]) == 2, row  # each round paired with the baseline's same round
        assert 0 < row["server_cpu"] <= 1.25, row  # one process on one core, ws warm-up included
        assert row["cpu_us"] > 0 and row["cpu_ratio_to_uvicorn"] > 0, row
    assert all(ratio == 1 for row in rows if row["server"] == "uvicorn" for ratio in row["round_ratios"])
    assert all(row["cpu_ratio_to_uvicorn"] == 1 for row in rows if row["server"] == "uvicorn")
    table = (tmp_path / "latest.md").read_text()
    assert "| hello | fastasgi |" in table and "per round" in table and "CPU µs/req" in table
    assert result.stderr.count("round ") == 2 * 2 * len(scenarios)


@pytest.mark.timeout(60)
@needs_proc
@needs_taskset
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (Debian: apt-get install wrk)")
def test_h2corn_is_a_peer_or_skipped_with_a_reason(tmp_path):
    scenarios = "new-connection,nginx-default" if has_nginx() else "new-connection"
    result = run_bench_script("run.py", "--servers", "h2corn,uvicorn", "--scenarios", scenarios,
                              "--rounds", "1", "--duration", "1", "--warmup", "0", "--results", str(tmp_path),
                              timeout=50)
    results = json.loads((tmp_path / "latest.json").read_text())
    rows = [row for row in results["rows"] if row["scenario"] == "new-connection"]
    if importlib.util.find_spec("h2corn") is None:
        assert "skipping h2corn: it is not installed (pip install h2corn)" in result.stderr
        assert [row["server"] for row in rows] == ["uvicorn"]
    else:
        assert [row["server"] for row in rows] == ["h2corn", "uvicorn"]
        assert all(row["rps"] > 0 and row["errors"] == 0 for row in rows), rows
        if has_nginx():  # h2corn answers nginx's HTTP/1.0 upstream requests with 400: no figures, a reason
            assert results["not_comparable"] == [{"scenario": "nginx-default", "server": "h2corn",
                                                  "not_comparable": "answers HTTP/1.0 with 400"}]
            assert "| nginx-default | h2corn | not comparable: answers HTTP/1.0 with 400 |" in (
                tmp_path / "latest.md").read_text()


def load_bench_run():
    spec = importlib.util.spec_from_file_location("bench_run", os.path.join(BENCH, "run.py"))
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    return run


@pytest.mark.timeout(30)
@needs_taskset
@pytest.mark.skipif(not has_nginx(), reason="nginx is not installed (Debian: apt-get install nginx)")
def test_a_server_that_refuses_nginxs_upstream_requests_is_not_comparable(tmp_path):
    """h2corn answers nginx's default upstream (HTTP/1.0) with 400: the row
    says so instead of counting the 400s as errors.  The server here does
    what h2corn does, on a raw socket."""
    run = load_bench_run()
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def answer():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # the listener closed: the test is over
            with conn:
                request = b""
                while b"\r\n\r\n" not in request:
                    data = conn.recv(4096)
                    if not data:
                        break
                    request += data
                status = b"400 Bad Request" if b" HTTP/1.0\r\n" in request else b"200 OK"
                conn.sendall(b"HTTP/1.1 " + status + b"\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")

    threading.Thread(target=answer, daemon=True).start()
    try:
        nginx = run.Nginx("nginx-default", port)
        try:
            with pytest.raises(run.NotComparable, match="answers HTTP/1.0 with 400"):
                nginx.check_upstream()
        finally:
            nginx.stop()
        nginx = run.Nginx("nginx-keepalive", port)
        try:
            nginx.check_upstream()  # HTTP/1.1 upstream: served, comparable
        finally:
            nginx.stop()
    finally:
        listener.close()
    table = run.markdown_table({"command": "run.py", "rounds": 1, "duration_s": 1, "python": "3"}, [],
                               [{"scenario": "nginx-default", "server": "h2corn",
                                 "not_comparable": "answers HTTP/1.0 with 400"}])
    row = table.splitlines()[-1]
    assert row.startswith("| nginx-default | h2corn | not comparable: answers HTTP/1.0 with 400 |")
    assert row.count("|") == table.splitlines()[-2].count("|")  # as many columns as the header


@pytest.mark.timeout(60)
@needs_proc
@needs_taskset
@pytest.mark.skipif(shutil.which("h2load") is None, reason="h2load is not installed (Debian: nghttp2-client)")
def test_the_http2_rows_run_on_h2load(tmp_path):
    result = run_bench_script("run.py", "--servers", "fastasgi,uvicorn", "--scenarios", "h2-hello,h2-echo-16KiB",
                              "--rounds", "1", "--duration", "1", "--warmup", "0", "--results", str(tmp_path),
                              timeout=50)
    rows = json.loads((tmp_path / "latest.json").read_text())["rows"]
    # uvicorn without zttp speaks no HTTP/2: it sits the h2 rows out.
    assert [(row["scenario"], row["server"]) for row in rows] == [("h2-hello", "fastasgi"),
                                                                  ("h2-echo-16KiB", "fastasgi")]
    for row in rows:
        assert row["rps"] > 0 and row["errors"] == 0 and row["cpu_us"] > 0, row
    assert row["mib_s"] > 0  # the echo row moved its 16 KiB bodies
    assert "| h2-hello | fastasgi |" in (tmp_path / "latest.md").read_text()


@pytest.mark.timeout(90)
@needs_proc
def test_idle_memory_script_reports_each_server(tmp_path):
    result = run_bench_script("idle_memory.py", "--servers", "fastasgi,uvicorn", "--connections", "200",
                              "--results", str(tmp_path), timeout=80)
    results = json.loads((tmp_path / "idle_memory.json").read_text())
    assert [r["server"] for r in results] == ["fastasgi", "uvicorn"]
    assert all(r["rss_before_mib"] > 0 and r["rss_after_mib"] > 0 for r in results)
    assert "| fastasgi |" in result.stdout


@pytest.mark.timeout(60)
@needs_proc
def test_the_http2_attacks_are_ended_and_others_served(tmp_path):
    run_bench_script("h2_floods.py", "--servers", "fastasgi", "--attacks", "rapid-reset,ping-flood,zero-window",
                     "--results", str(tmp_path), timeout=50)
    rows = {row["attack"]: row for row in json.loads((tmp_path / "h2_floods.json").read_text())["fastasgi"]}
    assert rows["rapid-reset"]["outcome"].startswith("GOAWAY ENHANCE_YOUR_CALM")
    assert rows["ping-flood"]["outcome"].startswith("GOAWAY ENHANCE_YOUR_CALM")
    assert "100 responses" in rows["zero-window"]["outcome"]  # headers answered; the bodies wait on the window
    assert all(row["ordinary_get_ms"] is not None for row in rows.values())


@pytest.mark.timeout(30)
@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])  # raw-uvloop, and raw-asyncio-pypy's loop
def test_the_raw_ceiling_answers_what_the_scenarios_ask(loop):
    # The ceiling must do what its rows claim: close when asked to (wrk only
    # reconnects when the response says so) and send the whole 1 MiB body.
    port = free_port()
    server = subprocess.Popen([sys.executable, os.path.join(BENCH, "raw_server.py"), str(port), "--loop", loop],
                              cwd=BENCH, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "running on" in server.stdout.readline()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            response = recv_until_closed(client)  # times out, failing, if the server keeps it open
        assert b"\r\nconnection: close\r\n" in response and response.endswith(b"Hello, world!")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 2)
            status, _, body, _, rest = read_response(client)
            assert (status, body) == (200, b"Hello, world!")
            status, _, body, _, rest = read_response(client, buffer=rest)
            assert (status, body, rest) == (200, b"Hello, world!", b"")
            client.settimeout(1)
            with pytest.raises(socket.timeout):  # still open: kept alive
                client.recv(1)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            client.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            status, headers, body, _, rest = read_response(client)
        assert (b"content-length", b"1048576") in headers and body == b"x" * (1024 * 1024) and rest == b""
    finally:
        server.terminate()
        server.wait(10)


@pytest.mark.timeout(90)
@needs_proc
@needs_taskset
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (Debian: apt-get install wrk)")
@pytest.mark.skipif(shutil.which("openssl") is None, reason="the TLS row's certificate is made with openssl")
def test_the_file_rows_serve_files_and_sample_memory(tmp_path):
    result = run_bench_script("run.py", "--servers", "fastasgi,fastasgi-tls", "--scenarios", "file-1MiB,file-100MiB",
                              "--rounds", "1", "--duration", "1", "--warmup", "0", "--results", str(tmp_path),
                              timeout=80)
    rows = json.loads((tmp_path / "latest.json").read_text())["rows"]
    # The TLS server runs the 100 MiB row only, its ratio taken to fastasgi's.
    assert [(row["scenario"], row["server"]) for row in rows] == [
        ("file-1MiB", "fastasgi"), ("file-100MiB", "fastasgi"), ("file-100MiB", "fastasgi-tls")]
    for row in rows:  # (a 1 s load may end before any 100 MiB response does: MiB/s counts)
        assert row["mib_s"] > 0 and row["errors"] == 0, row
    assert rows[0]["rps"] > 0 and rows[0]["rss_growth_mib"] is None
    assert all(row["rss_growth_mib"] is not None for row in rows[1:])
    assert rows[2]["ratio_to_uvicorn"] > 0  # x fastasgi (no uvicorn ran: the others have none)
    assert "| file-100MiB | fastasgi-tls |" in result.stdout
