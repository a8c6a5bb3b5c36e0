"""--metrics: the Prometheus text format and the health checks, on a listener
of their own, read by prometheus_client's parser (the oracle) during load."""
import asyncio
import os
import signal
import socket
import tempfile
import threading
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from .conftest import recv_until_closed
from .process_utils import STOPPED_BY_SIGTERM, free_port, started_pids, wait_until

pytestmark = pytest.mark.timeout(40)

APP = "tests.apps:app"


def start_with_metrics(start_server, implementation, *args, app=APP):
    port = free_port()
    server = start_server(app, implementation, "--metrics", "--metrics-port", str(port), *args)
    server.metrics_url = f"http://127.0.0.1:{port}"
    assert server.wait_for_log("Metrics and health served on"), server.log
    return server


def scrape(server):
    response = httpx.get(server.metrics_url + "/metrics", timeout=5)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0)


def total(samples, name, **labels):
    """The sum over every label set that has `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, sample_labels), v in samples.items() if n == name and wanted <= set(sample_labels))


def test_request_counters_and_histograms(start_server, implementation):
    server = start_with_metrics(start_server, implementation)
    with httpx.Client(base_url=server.url) as client:
        for _ in range(5):
            assert client.get("/").status_code == 200
        assert client.post("/echo", content=b"x" * 1000).status_code == 200
        assert client.get("/status?code=404").status_code == 404
        assert client.get("/raise").status_code == 500
    with server.connect() as sock:  # malformed: the server's own 400
        sock.sendall(b"GET / HTTP/1.1\r\nbad header line\r\n\r\n")
        assert recv_until_closed(sock).startswith(b"HTTP/1.1 400")
    with server.connect() as sock:  # a head over --limit-request-line: 414
        sock.sendall(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nhost: x\r\n\r\n")
        assert recv_until_closed(sock).startswith(b"HTTP/1.1 414")
    samples = scrape(server)
    assert value(samples, "fastasgi_requests_total", method="GET", status_class="2xx", http_version="1.1") == 5
    assert value(samples, "fastasgi_requests_total", method="POST", status_class="2xx", http_version="1.1") == 1
    assert value(samples, "fastasgi_requests_total", method="GET", status_class="4xx", http_version="1.1") == 1
    assert value(samples, "fastasgi_requests_total", method="GET", status_class="5xx", http_version="1.1") == 1
    assert value(samples, "fastasgi_request_duration_seconds_count") == 8
    assert value(samples, "fastasgi_request_duration_seconds_bucket", le="+Inf") == 8
    assert 0 < value(samples, "fastasgi_request_duration_seconds_sum") < 8
    assert value(samples, "fastasgi_time_to_first_byte_seconds_count") == 8
    assert value(samples, "fastasgi_server_errors_total", status="400") == 1
    assert value(samples, "fastasgi_server_errors_total", status="414") == 1
    assert value(samples, "fastasgi_app_errors_total") == 1
    assert value(samples, "fastasgi_response_body_bytes_total") >= 5 * 13 + 1000
    assert value(samples, "fastasgi_request_bytes_total") >= 1000
    assert value(samples, "fastasgi_connections_total") == 3
    assert value(samples, "fastasgi_connections_open") == 0
    assert value(samples, "fastasgi_requests_in_flight") == 0
    assert value(samples, "process_cpu_seconds_total") > 0
    assert value(samples, "process_resident_memory_bytes") > 1_000_000
    assert value(samples, "process_open_fds") > 0


def test_timeouts_and_in_flight(start_server, implementation):
    server = start_with_metrics(start_server, implementation, "--timeout-request-header", "0.3")
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n")  # never finished
        assert recv_until_closed(sock).startswith(b"HTTP/1.1 408")
    with server.connect() as sock:
        sock.sendall(b"GET /sleep?s=2 HTTP/1.1\r\nhost: x\r\n\r\n")
        assert wait_until(lambda: value(scrape(server), "fastasgi_requests_in_flight") == 1, timeout=5)
        assert value(scrape(server), "fastasgi_connections_open") == 1
    samples = scrape(server)
    assert value(samples, "fastasgi_timeouts_total", kind="request_header") == 1
    assert value(samples, "fastasgi_server_errors_total", status="408") == 1


def test_websockets_by_close_code(start_server, implementation):
    server = start_with_metrics(start_server, implementation, app="tests.ws_apps:app")

    async def talk():
        async with connect(f"ws://127.0.0.1:{server.port}/echo") as ws:
            await ws.send("hi")
            assert await ws.recv() == "hi"
            assert value(scrape(server), "fastasgi_websockets_open") == 1
            await ws.close(code=4001)

    asyncio.run(talk())
    assert wait_until(lambda: value(scrape(server), "fastasgi_websocket_closes_total", code="4001") == 1)
    samples = scrape(server)
    assert value(samples, "fastasgi_websockets_total") == 1
    assert value(samples, "fastasgi_websockets_open") == 0


def test_scrapes_during_load_are_monotonic(start_server, implementation):
    server = start_with_metrics(start_server, implementation)
    stop = threading.Event()
    sent = []

    def load():
        with httpx.Client(base_url=server.url) as client:
            while not stop.is_set():
                client.get("/")
                sent.append(1)

    threads = [threading.Thread(target=load) for _ in range(2)]
    for thread in threads:
        thread.start()
    seen = []
    try:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            samples = scrape(server)
            seen.append((value(samples, "fastasgi_requests_total", method="GET", status_class="2xx",
                               http_version="1.1"),
                         value(samples, "fastasgi_request_duration_seconds_count")))
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert len(seen) >= 3 and seen[-1][0] > 0
    assert seen == sorted(seen)  # counters never go back
    final = scrape(server)
    assert value(final, "fastasgi_requests_total", method="GET", status_class="2xx", http_version="1.1") == len(sent)


def test_health_ready_then_draining(start_server, implementation):
    server = start_with_metrics(start_server, implementation, "--timeout-graceful-shutdown", "5")
    assert httpx.get(server.metrics_url + "/livez").status_code == 200
    ready = httpx.get(server.metrics_url + "/readyz")
    assert (ready.status_code, ready.text) == (200, "ready\n")
    assert httpx.get(server.metrics_url + "/nothing").status_code == 404
    with server.connect() as sock:
        sock.sendall(b"GET /sleep?s=1.5 HTTP/1.1\r\nhost: x\r\n\r\n")
        assert wait_until(lambda: value(scrape(server), "fastasgi_requests_in_flight") == 1, timeout=5)
        server.send_signal(signal.SIGTERM)
        assert server.wait_for_log("Shutting down")
        draining = httpx.get(server.metrics_url + "/readyz")
        assert (draining.status_code, draining.text) == (503, "draining\n")
        assert httpx.get(server.metrics_url + "/livez").status_code == 200  # still alive while it drains
        assert recv_until_closed(sock).startswith(b"HTTP/1.1 200")  # the request in flight completes
    assert server.process.wait(10) == STOPPED_BY_SIGTERM


def test_metrics_port_in_use_fails_clearly(start_server, implementation):
    taken = start_with_metrics(start_server, implementation)
    port = taken.metrics_url.rsplit(":", 1)[1]
    clash = start_server(APP, implementation, "--metrics", "--metrics-port", port, wait=False)
    assert clash.process.wait(10) == 1
    clash._reader.join(2)
    assert f"--metrics-port {port}" in clash.log


def test_workers_summed_and_monotonic_across_restarts(start_server, implementation):
    # Each worker exits after a few requests (--limit-max-requests) and is
    # replaced; what it counted stays in the totals.
    server = start_with_metrics(start_server, implementation, "--workers", "2", "--limit-max-requests", "6")
    assert len(metrics_dirs(server)) == 1  # where the workers write their figures
    assert wait_until(lambda: httpx.get(server.metrics_url + "/readyz").status_code == 200, timeout=15)
    served = 0
    for _ in range(30):
        try:
            with httpx.Client(base_url=server.url, timeout=5) as client:  # a new connection: any worker
                served += client.get("/").status_code == 200
        except httpx.HTTPError:
            pass  # a worker exiting at its limit as we connect
    assert wait_until(lambda: len(started_pids(server)) >= 4, timeout=15), server.log

    def counted():
        samples = scrape(server)
        return value(samples, "fastasgi_requests_total", method="GET", status_class="2xx", http_version="1.1")

    # Workers publish once a second and when they exit.
    assert wait_until(lambda: counted() == served, timeout=5), (counted(), served)
    samples = scrape(server)
    assert value(samples, "fastasgi_worker_restarts_total") >= 2
    # A worker that reached its limit right after the last request is being
    # replaced for a moment: the gauge counts the live ones.
    assert wait_until(lambda: value(scrape(server), "fastasgi_workers") == 2, timeout=5)
    assert value(samples, "fastasgi_request_duration_seconds_count") == served
    assert value(samples, "process_cpu_seconds_total") > 0
    with server.connect() as sock:  # in flight while the supervisor drains its workers
        sock.sendall(b"GET /sleep?s=1.5 HTTP/1.1\r\nhost: x\r\n\r\n")
        time.sleep(0.2)
        server.send_signal(signal.SIGTERM)
        assert wait_until(lambda: httpx.get(server.metrics_url + "/readyz").status_code == 503, timeout=5)
        assert httpx.get(server.metrics_url + "/readyz").text == "draining\n"
        assert recv_until_closed(sock).startswith(b"HTTP/1.1 200")
    assert server.process.wait(15) == 0
    assert metrics_dirs(server) == []  # removed by the supervisor as it exits


def metrics_dirs(server):
    """The snapshot directories of `server`'s supervisor."""
    prefix = f"fastasgi-metrics-{server.process.pid}-"
    return [name for name in os.listdir(tempfile.gettempdir()) if name.startswith(prefix)]


def test_concurrency_limit_503_counted(start_server, implementation):
    server = start_with_metrics(start_server, implementation, "--limit-concurrency", "1")
    with server.connect() as busy:
        busy.sendall(b"GET /sleep?s=1 HTTP/1.1\r\nhost: x\r\n\r\n")
        assert wait_until(lambda: value(scrape(server), "fastasgi_requests_in_flight") == 1, timeout=5)
        assert httpx.get(server.url + "/").status_code == 503
    samples = scrape(server)
    assert value(samples, "fastasgi_server_errors_total", status="503") == 1
    assert value(samples, "fastasgi_requests_total", method="GET", status_class="5xx", http_version="1.1") == 1


def test_observer_twins_count_alike(implementation):
    """The compiled observer (C arrays) and the pure one (lists) agree, bucket for bucket."""
    from fastasgi import observer as pure
    from fastasgi.observer import BUCKETS, METHODS, STATUS_CLASSES, VERSIONS

    if implementation == "compiled":
        from fastasgi import observer_c as module
    else:
        module = pure
    observer = module.RequestObserver(count=True)
    reference = pure.RequestObserver(count=True)
    if implementation == "compiled":
        from fastasgi.protocols.cycle_c import RequestResponseCycle as Cycle
    else:
        from fastasgi.protocols.cycle import RequestResponseCycle as Cycle
    cases = [("GET", 200, "1.1", 0.0), ("POST", 201, "1.0", 0.002), ("BREW", 418, "1.1", 0.3),
             ("DELETE", 599, "2", 12.0), ("HEAD", 99, "0.9", 0.0005)]
    for method, status, version, duration in cases:
        for target in (observer, reference):
            cycle = Cycle({"method": method, "http_version": version}, None, False)
            start = target.clock() - duration
            cycle.status, cycle.started, cycle.first_byte, cycle.sent = status, start, start + duration / 2, 10
            target.response_complete(cycle)
    snapshot, expected = observer.snapshot(), reference.snapshot()
    assert snapshot["requests"] == expected["requests"] == {
        "GET 2xx 1.1": 1, "POST 2xx 1.0": 1, "other 4xx 1.1": 1, "DELETE 5xx 2": 1, "HEAD 5xx 1.1": 1}
    assert snapshot["duration"]["counts"] == expected["duration"]["counts"]
    assert len(snapshot["duration"]["counts"]) == len(BUCKETS) + 1 and sum(snapshot["duration"]["counts"]) == 5
    assert snapshot["body_bytes_sent"] == 50
    assert len(METHODS) * len(STATUS_CLASSES) * len(VERSIONS) == 120  # observer_c.pxd's array size


def test_ipv6_metrics_host(start_server, implementation):
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    port = free_port()
    server = start_server(APP, implementation, "--metrics", "--metrics-host", "::1", "--metrics-port", str(port))
    assert server.wait_for_log(f"Metrics and health served on http://[::1]:{port}"), server.log
    assert httpx.get(f"http://[::1]:{port}/readyz").status_code == 200
