"""--metrics: Prometheus metrics and health checks on a listener of their own.

The listener (--metrics-host/--metrics-port, never the app's port) serves

    GET /metrics   the Prometheus text format (version 0.0.4)
    GET /livez     200 while the server's event loop answers (503 when it is stuck)
    GET /readyz    200 "ready" while serving; 503 "starting" before, and
                   503 "draining" from the moment graceful shutdown starts

It is a small threaded HTTP server beside the event loop, so a scrape or a
probe never waits behind the app's requests, and the app's port serves
only the app.  The text format is written here directly (see
docs/operations.md for why not prometheus_client).

Where the figures come from: each serving process has a RequestObserver
(fastasgi.observer) the protocols update.  A process's *snapshot* is its
counters, its gauges (open connections, websockets, requests in flight)
and its process figures, as plain data.

- One process: the listener asks the event loop for a fresh snapshot at
  each scrape (which is also what /livez checks).
- --workers N: each worker writes its snapshot to a file of its own in a
  directory the supervisor made, once a second and when it exits; the
  supervisor runs the listener and sums the files.  The files of workers
  that exited are folded into a retired total, so a worker's counters
  survive its restart and every counter stays monotonic.  Nothing on the
  request path locks or talks to another process.
"""
import asyncio
import concurrent.futures
import json
import logging
import os
import shutil
import socket
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .observer import BUCKETS
from .protocols.websocket import WebSocketProtocol

logger = logging.getLogger("fastasgi.error")

PUBLISH_SECONDS = 1.0  # how often a worker writes its snapshot
SNAPSHOT_TIMEOUT = 2.0  # a loop that does not answer a scrape within this is not live
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Counters of a process, summed over processes (and kept for exited workers).
COUNTERS = ("body_bytes_sent", "aborted", "bytes_received", "connections_total", "app_errors",
            "websockets_total", "cpu_seconds")
LABELLED_COUNTERS = ("requests", "server_errors", "timeouts", "websocket_closes")
HISTOGRAMS = ("duration", "first_byte")
# Gauges: only the processes alive now count.
GAUGES = ("connections_open", "websockets_open", "requests_in_flight", "resident_memory_bytes", "open_fds")


# -- one process's snapshot -----------------------------------------------------
def process_figures():
    """CPU time, memory and descriptors of this process, from /proc where there is one."""
    times = os.times()
    figures = {"cpu_seconds": times.user + times.system, "resident_memory_bytes": 0, "open_fds": 0,
               "start_time_seconds": 0.0}
    try:
        with open("/proc/self/statm") as file:
            figures["resident_memory_bytes"] = int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        figures["open_fds"] = len(os.listdir("/proc/self/fd"))
        with open("/proc/self/stat") as file:  # field 22, after the command's ")": clock ticks after boot
            started = int(file.read().rpartition(")")[2].split()[19]) / os.sysconf("SC_CLK_TCK")
        with open("/proc/stat") as file:
            boot = next(int(line.split()[1]) for line in file if line.startswith("btime "))
        figures["start_time_seconds"] = boot + started
    except (OSError, ValueError, StopIteration):
        import resource

        figures["resident_memory_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return figures


def server_snapshot(server):
    """Everything `server`'s process reports: run on its event loop."""
    state = server.server_state
    observer = server.config.observer
    snapshot = observer.snapshot()
    connections = websockets = in_flight = 0
    bytes_open = 0
    for conn in list(state.connections):
        if isinstance(conn, WebSocketProtocol):
            websockets += 1
            continue
        connections += 1
        if conn.running is not None:
            in_flight += 1
        bytes_open += conn.parser.bytes_received
    snapshot["bytes_received"] = snapshot.pop("bytes_received_closed") + bytes_open
    snapshot.update(connections_open=connections, websockets_open=websockets, requests_in_flight=in_flight,
                    pid=os.getpid())
    snapshot.update(process_figures())
    return snapshot


# -- summing snapshots ------------------------------------------------------------
def empty_totals():
    totals = {name: 0 for name in COUNTERS + GAUGES}
    for name in LABELLED_COUNTERS:
        totals[name] = {}
    for name in HISTOGRAMS:
        totals[name] = {"counts": [0] * (len(BUCKETS) + 1), "sum": 0.0}
    totals["start_time_seconds"] = 0.0
    return totals


def add(totals, snapshot, counters_only=False):
    for name in COUNTERS:
        totals[name] += snapshot.get(name, 0)
    for name in LABELLED_COUNTERS:
        into = totals[name]
        for key, value in snapshot.get(name, {}).items():
            into[key] = into.get(key, 0) + value
    for name in HISTOGRAMS:
        histogram = snapshot.get(name)
        if histogram:
            into = totals[name]
            into["counts"] = [a + b for a, b in zip(into["counts"], histogram["counts"])]
            into["sum"] += histogram["sum"]
    if not counters_only:
        for name in GAUGES:
            totals[name] += snapshot.get(name, 0)
        start = snapshot.get("start_time_seconds") or 0.0
        if start and (not totals["start_time_seconds"] or start < totals["start_time_seconds"]):
            totals["start_time_seconds"] = start
    return totals


# -- the text format ----------------------------------------------------------------
def _labels(**labels):
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items()) + "}"


def _escape(value):
    """A label value as the text format wants it: backslash, quote and newline escaped."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value):
    if isinstance(value, float):
        return repr(value) if value == value and value not in (float("inf"), float("-inf")) else "NaN"
    return str(value)


def render(totals, workers=None):
    """The text exposition of `totals` (and the supervisor's worker figures)."""
    lines = []

    def metric(name, kind, help_text, samples):
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for suffix, labels, value in samples:
            lines.append(f"{name}{suffix}{_labels(**labels)} {_number(value)}")

    def histogram(name, help_text, data):
        cumulative = 0
        samples = []
        for bound, count in zip(BUCKETS + (float("inf"),), data["counts"]):
            cumulative += count
            samples.append(("_bucket", {"le": "+Inf" if bound == float("inf") else repr(bound)}, cumulative))
        samples.append(("_sum", {}, float(data["sum"])))
        samples.append(("_count", {}, cumulative))
        metric(name, "histogram", help_text, samples)

    requests = []
    for key, value in sorted(totals["requests"].items()):
        method, status_class, version = key.split(" ")
        requests.append(("_total", {"method": method, "status_class": status_class, "http_version": version}, value))
    metric("fastasgi_requests", "counter", "Responses completed, by method, status class and HTTP version.",
           requests)
    histogram("fastasgi_request_duration_seconds", "From the request head to the response's last byte.",
              totals["duration"])
    histogram("fastasgi_time_to_first_byte_seconds", "From the request head to the response's first byte.",
              totals["first_byte"])
    metric("fastasgi_requests_in_flight", "gauge", "Requests whose response is not complete.",
           [("", {}, totals["requests_in_flight"])])
    metric("fastasgi_request_bytes", "counter", "Bytes received on HTTP connections (heads and bodies).",
           [("_total", {}, totals["bytes_received"])])
    metric("fastasgi_response_body_bytes", "counter", "Response body bytes sent.",
           [("_total", {}, totals["body_bytes_sent"])])
    metric("fastasgi_responses_aborted", "counter",
           "Responses started but cut short (the app failed or sent an invalid response).",
           [("_total", {}, totals["aborted"])])
    metric("fastasgi_connections", "counter", "HTTP connections accepted.",
           [("_total", {}, totals["connections_total"])])
    metric("fastasgi_connections_open", "gauge", "HTTP connections open now.",
           [("", {}, totals["connections_open"])])
    metric("fastasgi_server_errors", "counter",
           "Error responses the server produced itself (malformed requests, limits, timeouts), by status.",
           [("_total", {"status": key}, value) for key, value in sorted(totals["server_errors"].items())])
    metric("fastasgi_timeouts", "counter", "Timeouts that fired, by kind.",
           [("_total", {"kind": key}, value) for key, value in sorted(totals["timeouts"].items())])
    metric("fastasgi_app_errors", "counter", "Requests whose app raised or returned without a response (500).",
           [("_total", {}, totals["app_errors"])])
    metric("fastasgi_websockets", "counter", "WebSocket upgrades handed to the websocket protocol.",
           [("_total", {}, totals["websockets_total"])])
    metric("fastasgi_websockets_open", "gauge", "WebSocket connections open now.",
           [("", {}, totals["websockets_open"])])
    metric("fastasgi_websocket_closes", "counter", "WebSocket connections closed, by close code.",
           [("_total", {"code": key}, value)
            for key, value in sorted(totals["websocket_closes"].items(), key=lambda item: int(item[0]))])
    if workers is not None:
        metric("fastasgi_workers", "gauge", "Worker processes serving now.", [("", {}, workers["serving"])])
        metric("fastasgi_worker_restarts", "counter", "Workers that exited or hung and were replaced.",
               [("_total", {}, workers["restarts"])])
    metric("process_cpu_seconds", "counter", "CPU time of the serving processes (user and system).",
           [("_total", {}, float(totals["cpu_seconds"]))])
    metric("process_resident_memory_bytes", "gauge", "Resident memory of the serving processes.",
           [("", {}, totals["resident_memory_bytes"])])
    metric("process_open_fds", "gauge", "Open file descriptors of the serving processes.",
           [("", {}, totals["open_fds"])])
    metric("process_start_time_seconds", "gauge", "Start time of the oldest serving process, Unix time.",
           [("", {}, float(totals["start_time_seconds"]))])
    return "\n".join(lines) + "\n"


# -- the listener -----------------------------------------------------------------
class _Listener(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, handler):
        if ":" in address[0]:  # --metrics-host '::' or another IPv6 address
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)


class MetricsListener:
    """The threaded HTTP server of /metrics, /livez and /readyz.

    `source` gives (text of /metrics, live?) or raises; `readiness` gives
    "starting", "ready" or "draining".
    """

    def __init__(self, host, port, source, readiness):
        self.source = source
        self.readiness = readiness
        listener = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "fastasgi-metrics"

            def do_GET(self):  # noqa: N802 - http.server's name
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    try:
                        text = listener.source()
                    except Exception as exc:  # noqa: BLE001 - a scrape must not take the listener down
                        logger.warning("Metrics scrape failed: %s", exc)
                        return self._answer(503, f"metrics unavailable: {exc}\n")
                    return self._answer(200, text, CONTENT_TYPE)
                if path in ("/livez", "/healthz"):
                    try:
                        listener.source()
                    except Exception as exc:  # noqa: BLE001
                        return self._answer(503, f"not live: {exc}\n")
                    return self._answer(200, "ok\n")
                if path == "/readyz":
                    state = listener.readiness()
                    return self._answer(200 if state == "ready" else 503, state + "\n")
                return self._answer(404, "not found: /metrics, /livez, /readyz\n")

            def _answer(self, status, text, content_type="text/plain; charset=utf-8"):
                body = text.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args):  # noqa: A002 - probes every few seconds: not logged
                pass

        self.httpd = _Listener((host, port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="fastasgi-metrics", daemon=True)

    @property
    def address(self):
        host, port = self.httpd.server_address[:2]
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    def start(self):
        self.thread.start()
        logger.info("Metrics and health served on %s (/metrics, /livez, /readyz)", self.address)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _listen(config, source, readiness):
    try:
        listener = MetricsListener(config.metrics_host, config.metrics_port, source, readiness)
    except OSError as exc:
        raise OSError(f"--metrics-port {config.metrics_port}: {exc.strerror or exc}") from None
    listener.start()
    return listener


# -- one serving process ------------------------------------------------------------
class ServerMetrics:
    """The metrics side of one Server: its listener when it serves alone, its
    snapshot file when it is a worker.  server.py calls tick() from its tick."""

    def __init__(self, server, loop):
        self.server = server
        self.loop = loop
        self.state = "starting"
        self.directory = getattr(server.config, "metrics_dir", None)  # set by the supervisor for its workers
        self.path = None if self.directory is None else os.path.join(self.directory, f"{os.getpid()}.json")
        self.next_publish = 0.0
        self.listener = None
        if self.directory is None:
            self.listener = _listen(server.config, self.scrape, lambda: self.state)

    def scrape(self):
        """The exposition, from a snapshot the event loop takes now (listener thread)."""
        future = concurrent.futures.Future()

        def take():
            try:
                future.set_result(server_snapshot(self.server))
            except BaseException as exc:  # noqa: B902 - handed to the scraping thread
                future.set_exception(exc)

        try:
            self.loop.call_soon_threadsafe(take)
        except RuntimeError:  # the loop is closed: the server is gone
            raise RuntimeError("the server's event loop has stopped") from None
        try:
            snapshot = future.result(SNAPSHOT_TIMEOUT)
        except concurrent.futures.TimeoutError:
            raise RuntimeError(f"the event loop did not answer within {SNAPSHOT_TIMEOUT} s") from None
        return render(add(empty_totals(), snapshot))

    def serving(self):
        self.state = "ready"
        self.publish()

    def draining(self):
        self.state = "draining"

    def tick(self, now):
        if self.path is not None and now >= self.next_publish:
            self.next_publish = now + PUBLISH_SECONDS
            self.publish()

    def publish(self):
        if self.path is None:
            return
        try:
            write_snapshot(self.path, server_snapshot(self.server))
        except OSError as exc:
            logger.warning("Could not write the metrics snapshot %s: %s", self.path, exc)

    def close(self):
        self.publish()
        if self.listener is not None:
            self.listener.close()


def write_snapshot(path, snapshot):
    """Replace the file at `path` whole (a reader never sees half of it)."""
    temporary = f"{path}.tmp"
    with open(temporary, "w") as file:
        json.dump(snapshot, file)
    os.replace(temporary, path)


# -- the supervisor of --workers N --------------------------------------------------
class SupervisorMetrics:
    """The listener of a --workers supervisor: it sums its workers' snapshot files."""

    def __init__(self, supervisor):
        self.supervisor = supervisor
        self.directory = tempfile.mkdtemp(prefix=f"fastasgi-metrics-{os.getpid()}-")
        supervisor.config.metrics_dir = self.directory  # read by the workers it starts
        self.retired = empty_totals()
        self.restarts = 0
        self.lock = threading.Lock()  # two scrapes at once must not retire a file twice
        self.listener = _listen(supervisor.config, self.scrape, self.readiness)

    def worker_replaced(self):
        self.restarts += 1

    def readiness(self):
        if self.supervisor.should_exit.is_set():
            return "draining"
        serving = [worker for worker in list(self.supervisor.workers) if worker.serving]
        return "ready" if serving else "starting"

    def scrape(self):
        with self.lock:
            # Workers leave the list once reaped (within a supervisor poll of exiting);
            # asking their processes from this thread would race the supervisor's waitpid.
            live = {worker.pid for worker in list(self.supervisor.workers)}
            totals = empty_totals()
            for name in sorted(os.listdir(self.directory)):
                if not name.endswith(".json"):
                    continue
                path = os.path.join(self.directory, name)
                try:
                    with open(path) as file:
                        snapshot = json.load(file)
                except (OSError, ValueError):
                    continue  # being replaced this instant: the next scrape reads it
                if int(name[:-5]) in live:
                    add(totals, snapshot)
                else:  # the worker exited: its counters live on in the retired total
                    add(self.retired, snapshot, counters_only=True)
                    os.remove(path)
            add(totals, self.retired, counters_only=True)
            serving = sum(1 for worker in list(self.supervisor.workers) if worker.serving)
            return render(totals, workers={"serving": serving, "restarts": self.restarts})

    def close(self):
        self.listener.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def start_server_metrics(server):
    """server.py: the metrics of a Server that was given --metrics (None without)."""
    if not server.config.metrics:
        return None
    return ServerMetrics(server, asyncio.get_running_loop())
