"""What a server process tells its operators about the requests it serves.

One RequestObserver per serving process, made by Config.load() when
--metrics, --access-log-format or --log-format json is given (otherwise
there is none, and the protocols' hooks are a None check).  It keeps the
process's counters and histograms (read by fastasgi.metrics) and writes
the access line of a completed response when the access log needs the
response's duration or size (written by fastasgi.access_format).

This module is also compiled, unchanged, as observer_c (observer_c.pxd
gives its fields C types; see setup.py): response_complete() runs for
every request while metrics are on.
"""
import logging
import time

try:
    import cython
except ImportError:  # no Cython installed: this module runs as Python
    from types import SimpleNamespace
    cython = SimpleNamespace(compiled=False)

access_logger = logging.getLogger("fastasgi.access")

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other")
METHOD_INDEX = {method: index for index, method in enumerate(METHODS)}
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
VERSIONS = ("1.0", "1.1", "2")
VERSION_INDEX = {version: index for index, version in enumerate(VERSIONS)}
# Upper bounds, in seconds, of the duration and time-to-first-byte buckets:
# a hello response takes tens of microseconds, a slow app seconds.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Histogram:
    """Counts per bucket (the last one is +Inf), and the sum of the values."""

    __slots__ = ("counts", "total")

    def __init__(self):
        if not cython.compiled:  # compiled, a C array of zeros (observer_c.pxd)
            self.counts = [0] * (len(BUCKETS) + 1)
        self.total = 0.0

    def observe(self, value):
        index = 0
        for bound in BUCKETS:  # a few comparisons: cheaper than bisect's call, compiled
            if value <= bound:
                break
            index += 1
        self.counts[index] += 1
        self.total += value

    def snapshot(self):
        return {"counts": [self.counts[index] for index in range(len(BUCKETS) + 1)], "sum": self.total}


class RequestObserver:
    def __init__(self, count=True, access=None):
        self.count = count  # --metrics: keep the counters
        self.access = access  # an AccessLog, or None: the access line is written elsewhere or not at all
        # Responses by (method, status class, HTTP version), as one flat
        # list (compiled, a C array of zeros: observer_c.pxd).
        if not cython.compiled:
            self.requests = [0] * (len(METHODS) * len(STATUS_CLASSES) * len(VERSIONS))
        self.duration = Histogram()
        self.first_byte = Histogram()
        self.body_bytes_sent = 0
        self.aborted = 0  # responses the server had to cut short (app failure, bad response)
        self.bytes_received_closed = 0  # bytes read on the connections closed so far
        self.connections_total = 0
        # The cold paths: keyed by what happened.
        self.server_errors = {}  # status the server answered itself (parse errors, limits, timeouts)
        self.timeouts = {}  # kind -> count
        self.app_errors = 0  # apps that raised or returned without a response
        self.websockets_total = 0
        self.websocket_closes = {}  # close code -> count

    def clock(self):
        """Seconds on the monotonic clock (time.perf_counter's, on Linux)."""
        if cython.compiled:  # the clock itself, without a Python call (names cimported by observer_c.pxd)
            now = cython.declare(timespec)  # noqa: F821
            clock_gettime(CLOCK_MONOTONIC, cython.address(now))  # noqa: F821
            return now.tv_sec + now.tv_nsec * 1e-9
        return time.perf_counter()

    # -- per request -------------------------------------------------------
    def response_complete(self, cycle):
        """The response of `cycle` went out whole (the hot path's one call)."""
        now = self.clock()
        if self.count:
            scope = cycle.scope
            # dict.get(d, ...): compiled, a lookup in C rather than a method call.
            method = dict.get(METHOD_INDEX, scope["method"], 7)
            status = cycle.status
            status_class = status // 100 - 1
            if status_class < 0 or status_class > 4:
                status_class = 4
            version = dict.get(VERSION_INDEX, scope["http_version"], 1)
            self.requests[(method * 5 + status_class) * 3 + version] += 1
            self.duration.observe(now - cycle.started)
            self.first_byte.observe(cycle.first_byte - cycle.started)
            self.body_bytes_sent += cycle.sent
        if self.access is not None:
            self.access.log(cycle, now - cycle.started)

    def response_aborted(self, cycle):
        """`cycle`'s response was started but will not be completed."""
        if self.count:
            self.aborted += 1
            self.body_bytes_sent += cycle.sent
        if self.access is not None and cycle.status:
            self.access.log(cycle, self.clock() - cycle.started)

    # -- per connection and the cold paths --------------------------------
    def connection_made(self):
        self.connections_total += 1

    def connection_closed(self, bytes_received):
        self.bytes_received_closed += bytes_received

    def app_error(self):
        self.app_errors += 1

    def server_error(self, status):
        self.server_errors[status] = self.server_errors.get(status, 0) + 1

    def timed_out(self, kind):
        self.timeouts[kind] = self.timeouts.get(kind, 0) + 1

    def websocket_opened(self):
        self.websockets_total += 1

    def websocket_closed(self, code):
        self.websocket_closes[code] = self.websocket_closes.get(code, 0) + 1

    def snapshot(self):
        """The counters as plain data (JSON-ready): fastasgi.metrics reads these."""
        requests = {}
        for index in range(len(METHODS) * len(STATUS_CLASSES) * len(VERSIONS)):
            value = self.requests[index]
            if value:
                version = index % 3
                status_class = index // 3 % 5
                method = index // 15
                requests["%s %s %s" % (METHODS[method], STATUS_CLASSES[status_class], VERSIONS[version])] = value
        return {
            "requests": requests,
            "duration": self.duration.snapshot(),
            "first_byte": self.first_byte.snapshot(),
            "body_bytes_sent": self.body_bytes_sent,
            "aborted": self.aborted,
            "bytes_received_closed": self.bytes_received_closed,
            "connections_total": self.connections_total,
            "server_errors": {str(key): value for key, value in self.server_errors.items()},
            "timeouts": dict(self.timeouts),
            "app_errors": self.app_errors,
            "websockets_total": self.websockets_total,
            "websocket_closes": {str(key): value for key, value in self.websocket_closes.items()},
        }


def new_observer(config):
    """The observer `config` asks for (of the hot paths' twin), or None."""
    timed_access_log = config.access_log and (config.access_log_format or config.log_format == "json")
    if not (config.metrics or timed_access_log):
        return None
    access = None
    if timed_access_log:
        from .access_format import AccessLog

        access = AccessLog(config.access_log_format)
    return config.hot_paths.observer.RequestObserver(count=config.metrics, access=access)
