"""Log formatting with uvicorn's formats under fastasgi's logger names.

Loggers: "fastasgi" (parent), "fastasgi.error" (server and app errors),
"fastasgi.access" (one line per response), "fastasgi.asgi" (--log-level
trace's ASGI messages).  uvicorn's names are the same loggers: code
written for uvicorn that adds a filter to "uvicorn.access", sets handlers
or a level on "uvicorn.error", or logs through it, acts on the logger
fastasgi logs through (alias_uvicorn_loggers).
"""
import asyncio
import http
import logging
import sys

TRACE_LOG_LEVEL = 5

logging.addLevelName(TRACE_LOG_LEVEL, "TRACE")

# uvicorn's logger name -> fastasgi's: one Logger object answers to both.
UVICORN_ALIASES = {
    "uvicorn": "fastasgi",
    "uvicorn.error": "fastasgi.error",
    "uvicorn.access": "fastasgi.access",
    "uvicorn.asgi": "fastasgi.asgi",
}


def alias_uvicorn_loggers():
    """Make logging.getLogger("uvicorn.error") return the "fastasgi.error"
    logger (and so on for each name in UVICORN_ALIASES).

    A uvicorn logger that code made before this ran hands its handlers,
    filters and level over to fastasgi's, so nothing set on it is lost.
    Records keep fastasgi's logger names.  Safe to call again.
    """
    manager = logging.Logger.manager
    for uvicorn_name, name in UVICORN_ALIASES.items():
        ours = logging.getLogger(name)
        existing = manager.loggerDict.get(uvicorn_name)
        if existing is ours:
            continue
        if isinstance(existing, logging.Logger):
            for handler in existing.handlers:
                if handler not in ours.handlers:
                    ours.addHandler(handler)
            for log_filter in existing.filters:
                ours.addFilter(log_filter)
            if existing.level != logging.NOTSET:
                ours.setLevel(existing.level)
            children = [logger for logger in manager.loggerDict.values()
                        if isinstance(logger, logging.Logger) and logger.parent is existing]
        elif isinstance(existing, logging.PlaceHolder):
            children = list(existing.loggerMap)
        else:
            children = []
        manager.loggerDict[uvicorn_name] = ours
        for child in children:
            # Loggers below a uvicorn name ("uvicorn.error.db") now hang below fastasgi's.
            if child.name not in UVICORN_ALIASES:
                child.parent = ours
    logging.Logger.manager._clear_cache()


def detach_uvicorn_aliases():
    """Undo alias_uvicorn_loggers for a moment: logging.config would
    otherwise take the uvicorn names for loggers of their own and disable
    fastasgi's (disable_existing_loggers) or configure them twice."""
    manager = logging.Logger.manager
    for uvicorn_name, name in UVICORN_ALIASES.items():
        if manager.loggerDict.get(uvicorn_name) is manager.loggerDict.get(name):
            del manager.loggerDict[uvicorn_name]


alias_uvicorn_loggers()


# The access line's message, as uvicorn logs it: a log config that formats
# %(message)s or reads record.args gets what it got from uvicorn.
ACCESS_MESSAGE = '%s - "%s %s HTTP/%s" %d'


def log_access(logger, client_addr, method, full_path, http_version, status_code):
    """logger.info(ACCESS_MESSAGE, ...) without its caller lookup.

    Logger.info() walks the stack for the caller's file and line on every
    call; for an access line the caller is always this server, and the walk
    was a sixth of the cost of logging a request.  The caller has checked
    that the logger takes INFO; handlers and filters see the same record.
    """
    record = logger.makeRecord(logger.name, logging.INFO, __file__, 0, ACCESS_MESSAGE,
                               (client_addr, method, full_path, http_version, status_code), None,
                               func="log_access")
    logger.handle(record)


def copy_record(record):
    """A shallow copy of a LogRecord to add fields to, unseen by other handlers.

    copy.copy() goes through __reduce_ex__ and costs several times more.
    """
    duplicate = record.__class__.__new__(record.__class__)
    duplicate.__dict__.update(record.__dict__)
    return duplicate


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
        self._level_prefixes = {}  # (levelno, levelname) -> %(levelprefix)s
        super().__init__(fmt=fmt, datefmt=datefmt, style=style)

    def color_level_name(self, level_name, level_no):
        color = self.level_name_colors.get(level_no)
        return f"{color}{level_name}\033[0m" if color else level_name

    def level_prefix(self, record):
        key = (record.levelno, record.levelname)
        prefix = self._level_prefixes.get(key)
        if prefix is None:
            level_name = record.levelname
            padding = " " * (8 - len(level_name))
            if self.use_colors:
                level_name = self.color_level_name(level_name, record.levelno)
            prefix = self._level_prefixes[key] = level_name + ":" + padding
        return prefix

    def formatMessage(self, record):
        record_copy = copy_record(record)
        if self.use_colors and "color_message" in record_copy.__dict__:
            record_copy.msg = record_copy.__dict__["color_message"]
            record_copy.__dict__["message"] = record_copy.getMessage()
        record_copy.__dict__["levelprefix"] = self.level_prefix(record_copy)
        return super().formatMessage(record_copy)


class DefaultFormatter(ColourizedFormatter):
    def __init__(self, fmt=None, datefmt=None, style="%", use_colors=None):
        if use_colors is None:
            use_colors = sys.stderr.isatty()
        super().__init__(fmt, datefmt, style, use_colors)


class AccessFormatter(ColourizedFormatter):
    """Formats the access record: client address, request line, status."""

    status_code_colours = {1: "\033[37m", 2: "\033[32m", 3: "\033[33m", 4: "\033[31m", 5: "\033[91m"}

    def __init__(self, fmt=None, datefmt=None, style="%", use_colors=None):
        super().__init__(fmt, datefmt, style, use_colors)
        self._status_codes = {}  # status -> "200 OK", coloured on a terminal

    def get_status_code(self, status_code):
        text = self._status_codes.get(status_code)
        if text is None:
            try:
                phrase = http.HTTPStatus(status_code).phrase
            except ValueError:
                phrase = ""
            text = f"{status_code} {phrase}"
            if self.use_colors:
                colour = self.status_code_colours.get(status_code // 100, "")
                text = f"{colour}{text}\033[0m"
            if len(self._status_codes) < 1000:  # statuses are 100-999; bound it anyway
                self._status_codes[status_code] = text
        return text

    def formatMessage(self, record):
        record_copy = copy_record(record)
        client_addr, method, full_path, http_version, status_code = record_copy.args
        request_line = f"{method} {full_path} HTTP/{http_version}"
        if self.use_colors:
            request_line = f"\033[1m{request_line}\033[0m"
        fields = record_copy.__dict__
        fields["client_addr"] = client_addr
        fields["request_line"] = request_line
        fields["status_code"] = self.get_status_code(int(status_code))
        fields["levelprefix"] = self.level_prefix(record_copy)
        return logging.Formatter.formatMessage(self, record_copy)


class BatchingStreamHandler(logging.StreamHandler):
    """A StreamHandler that writes the lines of one event-loop turn together.

    The default handler of the access log.  A plain StreamHandler writes and
    flushes every record: one write() per request, and under
    PYTHONUNBUFFERED (usual in containers) the stream adds none of its own
    buffering.  Here the lines logged during a loop turn are joined and
    written once at its end, so they still appear at once; a record logged
    outside a running loop (a thread of the app's, startup) is written on
    the spot.  flush() and close() write what is pending, so
    logging.shutdown() at exit loses nothing.
    """

    def __init__(self, stream=None):
        super().__init__(stream)
        self.pending = []

    def emit(self, record):
        # Handler.handle() holds self.lock around emit(): appends and
        # flushes from loops in other threads cannot interleave.
        try:
            line = self.format(record) + self.terminator
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop here: write it now, after what waits
                self.pending.append(line)
                self.flush()
                return
            if not self.pending:
                loop.call_soon(self._end_of_turn)
            self.pending.append(line)
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - as StreamHandler.emit
            self.handleError(record)

    def _end_of_turn(self):
        try:
            self.flush()
        except Exception:  # noqa: BLE001 - a broken stream must not take the server down
            self.handleError(logging.makeLogRecord({"msg": "access log lines of one loop turn"}))

    def flush(self):
        # Errors reach the caller, as from StreamHandler.flush (logging.shutdown ignores them).
        with self.lock:
            lines = self.pending
            if lines:
                self.pending = []
                self.stream.write("".join(lines))
            super().flush()

    def close(self):
        try:
            self.flush()
        finally:
            super().close()


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
        "access": {"formatter": "access", "class": "fastasgi.logging.BatchingStreamHandler",
                   "stream": "ext://sys.stdout"},
    },
    "loggers": {
        "fastasgi": {"handlers": ["default"], "level": "INFO", "propagate": False},
        "fastasgi.error": {"level": "INFO"},
        "fastasgi.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
    },
}
