"""--access-log-format: the access line in gunicorn's atoms, written when the
response completes (so it can say how long the response took and how big
it was).

    %(h)s remote address          %(l)s '-'             %(u)s user ('-': no auth info)
    %(t)s [start time]            %(r)s request line    %(m)s method
    %(U)s path                    %(q)s query string    %(H)s protocol (HTTP/1.1)
    %(s)s status                  %(B)s body bytes      %(b)s body bytes, '-' for none
    %(f)s referer                 %(a)s user agent
    %(T)s seconds (int)           %(M)s milliseconds    %(D)s microseconds
    %(L)s seconds (decimal)       %(p)s process id
    %({name}i)s request header    %({name}o)s response header    %({name}e)s environment

An atom not in the list, or a header the request did not have, is '-', as
in gunicorn.  The same record carries named fields for --log-format json.
"""
import logging
import os
import time

from .logging import ACCESS_MESSAGE

access_logger = logging.getLogger("fastasgi.access")

# The gunicorn default, for reference in the docs and the tests.
GUNICORN_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'
REQUEST_ID_HEADERS = (b"x-request-id", b"x-correlation-id")


def with_access_format(config):
    """`config` (a dictConfig dict, fastasgi's default) writing the formatted line as it is."""
    config = dict(config)
    config["formatters"] = dict(config["formatters"], access={"format": "%(message)s"})
    return config


def validate(fmt):
    """Raise ValueError if `fmt` is not a %-format with named atoms only."""
    try:
        fmt % _Probe()
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"Invalid --access-log-format {fmt!r}: {exc}") from None


class _Probe:
    def __getitem__(self, key):
        return "-"

    def __str__(self):  # a bare %s would format the atoms object itself
        raise ValueError("every field must name its atom, as %(h)s")


def _header(headers, name):
    """The value of header `name` (lowercase bytes) in an ASGI header list, or None."""
    for key, value in headers or ():
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class Atoms:
    """gunicorn's atoms for one request, worked out when the format asks."""

    __slots__ = ("scope", "status", "response_headers", "sent", "duration", "started")

    def __init__(self, scope, status, response_headers, sent, duration, started):
        self.scope = scope
        self.status = status
        self.response_headers = response_headers
        self.sent = sent
        self.duration = duration
        self.started = started  # wall clock, for %(t)s

    def __getitem__(self, key):
        value = self._value(key)
        return "-" if value is None or value == "" else value

    def _value(self, key):
        scope = self.scope
        if key.startswith("{") and len(key) > 2 and key[-2] == "}":
            name, kind = key[1:-2].lower(), key[-1]
            if kind == "i":
                return _header(scope.get("headers"), name.encode("latin-1"))
            if kind == "o":
                return _header(self.response_headers, name.encode("latin-1"))
            if kind == "e":
                return os.environ.get(key[1:-2])
            return None
        if key == "h":
            client = scope.get("client")
            return client[0] if client else None
        if key == "r":
            return f"{scope.get('method', 'GET')} {_target(scope)} HTTP/{scope['http_version']}"
        if key == "s":
            return str(self.status)
        if key == "b":
            return str(self.sent) if self.sent else "-"
        if key == "B":
            return str(self.sent)
        if key == "m":
            return scope.get("method", "GET")
        if key == "U":
            return scope["path"]
        if key == "q":
            return scope["query_string"].decode("latin-1")
        if key == "H":
            return f"HTTP/{scope['http_version']}"
        if key == "f":
            return _header(scope.get("headers"), b"referer")
        if key == "a":
            return _header(scope.get("headers"), b"user-agent")
        if key == "t":
            return time.strftime("[%d/%b/%Y:%H:%M:%S %z]", time.localtime(self.started))
        if key == "T":
            return str(int(self.duration))
        if key == "M":
            return str(int(self.duration * 1000))
        if key == "D":
            return str(int(self.duration * 1_000_000))
        if key == "L":
            return "%.6f" % self.duration
        if key == "p":
            return f"<{os.getpid()}>"
        return None  # 'l', 'u', and atoms gunicorn has and an ASGI server cannot know


def _target(scope):
    path = scope.get("raw_path") or scope["path"].encode("utf-8")
    if isinstance(path, bytes):
        path = path.decode("latin-1")
    query = scope["query_string"]
    return f"{path}?{query.decode('latin-1')}" if query else path


def access_fields(scope, status, response_headers, sent, duration):
    """The named fields of an access record (--log-format json reads them)."""
    client = scope.get("client")
    headers = scope.get("headers")
    fields = {
        "client": f"{client[0]}:{client[1]}" if client else None,
        "method": scope.get("method", "GET"),
        "path": scope["path"],
        "query": scope["query_string"].decode("latin-1"),
        "http_version": scope["http_version"],
        "status": status,
        "duration_ms": round(duration * 1000, 3),
        "response_bytes": sent,
        "user_agent": _header(headers, b"user-agent"),
    }
    for name in REQUEST_ID_HEADERS:
        request_id = _header(headers, name)
        if request_id is not None:
            fields["request_id"] = request_id
            break
    return fields


class AccessLog:
    """Writes a completed response's access record (RequestObserver calls it).

    With a format, the record's message is the formatted line; without, it
    is uvicorn's message and arguments, so text handlers format it as they
    always did.  Every record carries `access`, the named fields.
    """

    def __init__(self, fmt=None):
        if fmt is not None:
            validate(fmt)
        self.format = fmt

    def log(self, cycle, duration):
        if not access_logger.isEnabledFor(logging.INFO):
            return
        scope = cycle.scope
        status = cycle.status
        if self.format is not None:
            atoms = Atoms(scope, status, cycle.response_headers, cycle.sent, duration, time.time() - duration)
            message, args = self.format % atoms, None
        else:
            client = scope.get("client")
            path = scope["path"]
            if scope["query_string"]:
                path = f"{path}?{scope['query_string'].decode('ascii', 'replace')}"
            message = ACCESS_MESSAGE
            args = (f"{client[0]}:{client[1]}" if client else "", scope.get("method", "GET"), path,
                    scope["http_version"], status)
        record = access_logger.makeRecord(access_logger.name, logging.INFO, __file__, 0, message, args, None,
                                          func="log", extra={"access": access_fields(
                                              scope, status, cycle.response_headers, cycle.sent, duration)})
        access_logger.handle(record)
