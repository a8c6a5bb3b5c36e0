"""--log-format json: one JSON object per line, for server, error and access records.

Stable field names (docs/operations.md lists them): every record has
`time` (UTC, ISO 8601 with milliseconds), `level`, `logger`, `message`;
an exception adds `exception` (the traceback text); an access record adds
its named fields (client, method, path, query, http_version, status,
duration_ms, response_bytes, user_agent, request_id when the request had
an X-Request-ID or X-Correlation-ID header).

Usable in a --log-config file too: {"()": "fastasgi.json_logs.JsonFormatter"}.
"""
import json
import logging
import time


def json_logging_config(base):
    """`base` (a dictConfig dict, fastasgi's default) with JSON formatters."""
    config = dict(base)
    config["formatters"] = {name: {"()": "fastasgi.json_logs.JsonFormatter"} for name in base["formatters"]}
    return config


class JsonFormatter(logging.Formatter):
    def __init__(self, fmt=None, datefmt=None, style="%", **ignored):
        # dictConfig passes the text formatters' options (use_colors...): ignored.
        super().__init__(fmt=None, datefmt=datefmt, style=style)

    def format(self, record):
        fields = {
            "time": self.timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        access = record.__dict__.get("access")
        if access:
            fields.update(access)
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            fields["exception"] = record.exc_text
        return json.dumps(fields, ensure_ascii=False, default=str)

    @staticmethod
    def timestamp(created):
        seconds = int(created)
        return "%s.%03dZ" % (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)),
                             int((created - seconds) * 1000))
