"""Log formatting with uvicorn's formats under fastasgi's logger names.

Loggers: "fastasgi" (parent), "fastasgi.error" (server and app errors),
"fastasgi.access" (one line per response).  A dictConfig written for
uvicorn works once its logger names are changed.
"""
import http
import logging
import sys
from copy import copy

TRACE_LOG_LEVEL = 5

logging.addLevelName(TRACE_LOG_LEVEL, "TRACE")


class ColourizedFormatter(logging.Formatter):
    """Adds %(levelprefix)s: the level name, padded, coloured on a terminal."""

    level_name_colors = {
        TRACE_LOG_LEVEL: "\033[34m",
        logging.DEBUG: "\033[36m",
        logging.INFO: "\033[32m",
        logging.WARNING: "\033[33m",
        logging.ERROR: "\033[31m",
        logging.CRITICAL: "\033[91m",
    }

    def __init__(self, fmt=None, datefmt=None, style="%", use_colors=None):
        if use_colors in (True, False):
            self.use_colors = use_colors
        else:
            self.use_colors = sys.stdout.isatty()
        super().__init__(fmt=fmt, datefmt=datefmt, style=style)

    def color_level_name(self, level_name, level_no):
        color = self.level_name_colors.get(level_no)
        return f"{color}{level_name}\033[0m" if color else level_name

    def formatMessage(self, record):
        record_copy = copy(record)
        level_name = record_copy.levelname
        padding = " " * (8 - len(level_name))
        if self.use_colors:
            level_name = self.color_level_name(level_name, record_copy.levelno)
            if "color_message" in record_copy.__dict__:
                record_copy.msg = record_copy.__dict__["color_message"]
                record_copy.__dict__["message"] = record_copy.getMessage()
        record_copy.__dict__["levelprefix"] = level_name + ":" + padding
        return super().formatMessage(record_copy)


class DefaultFormatter(ColourizedFormatter):
    def __init__(self, fmt=None, datefmt=None, style="%", use_colors=None):
        if use_colors is None:
            use_colors = sys.stderr.isatty()
        super().__init__(fmt, datefmt, style, use_colors)


class AccessFormatter(ColourizedFormatter):
    """Formats the access record: client address, request line, status."""

    status_code_colours = {1: "\033[37m", 2: "\033[32m", 3: "\033[33m", 4: "\033[31m", 5: "\033[91m"}

    def get_status_code(self, status_code):
        try:
            phrase = http.HTTPStatus(status_code).phrase
        except ValueError:
            phrase = ""
        status_and_phrase = f"{status_code} {phrase}"
        if self.use_colors:
            colour = self.status_code_colours.get(status_code // 100, "")
            return f"{colour}{status_and_phrase}\033[0m"
        return status_and_phrase

    def formatMessage(self, record):
        record_copy = copy(record)
        client_addr, method, full_path, http_version, status_code = record_copy.args
        request_line = f"{method} {full_path} HTTP/{http_version}"
        if self.use_colors:
            request_line = f"\033[1m{request_line}\033[0m"
        record_copy.__dict__.update(
            client_addr=client_addr,
            request_line=request_line,
            status_code=self.get_status_code(int(status_code)),
        )
        return super().formatMessage(record_copy)


LOGGING_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "default": {
            "()": "fastasgi.logging.DefaultFormatter",
            "fmt": "%(levelprefix)s %(message)s",
            "use_colors": None,
        },
        "access": {
            "()": "fastasgi.logging.AccessFormatter",
            "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
        },
    },
    "handlers": {
        "default": {"formatter": "default", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
        "access": {"formatter": "access", "class": "logging.StreamHandler", "stream": "ext://sys.stdout"},
    },
    "loggers": {
        "fastasgi": {"handlers": ["default"], "level": "INFO", "propagate": False},
        "fastasgi.error": {"level": "INFO"},
        "fastasgi.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
    },
}
