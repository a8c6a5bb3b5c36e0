"""Config: every server setting, validated, and the loading of the app.

The constructor mirrors uvicorn.Config so `fastasgi.Config(...)` is a
drop-in; `load()` imports the app, adapts its interface, and prepares the
pre-encoded header lines the protocol adds to every response.
"""
import asyncio
import inspect
import logging
import logging.config
import os
import socket
import sys

from . import _speedups
from .importer import ImportFromStringError, import_from_string
from .logging import LOGGING_CONFIG, TRACE_LOG_LEVEL
from .middleware.asgi2 import ASGI2Middleware

LOG_LEVELS = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": TRACE_LOG_LEVEL,
}
LOOP_CHOICES = ("auto", "asyncio", "uvloop")
HTTP_CHOICES = ("auto", "h11", "httptools")
LIFESPAN_CHOICES = ("auto", "on", "off")
INTERFACE_CHOICES = ("auto", "asgi3", "asgi2")
WS_CHOICES = ("auto", "none", "websockets", "websockets-sansio")

logger = logging.getLogger("fastasgi.error")


class Config:
    def __init__(
        self,
        app,
        host="127.0.0.1",
        port=8000,
        uds=None,
        fd=None,
        loop="auto",
        http="auto",
        ws="auto",
        ws_max_size=16 * 1024 * 1024,
        ws_max_queue=32,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        ws_per_message_deflate=True,
        lifespan="auto",
        log_config=LOGGING_CONFIG,
        log_level=None,
        access_log=True,
        use_colors=None,
        interface="auto",
        root_path="",
        backlog=2048,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=None,
        timeout_request_header=10,
        server_header=True,
        date_header=True,
        headers=None,
        factory=False,
        app_dir=None,
        h11_max_incomplete_event_size=None,
    ):
        self.app = app
        self.host = host
        self.port = port
        self.uds = uds
        self.fd = fd
        self.loop = _choice("loop", loop, LOOP_CHOICES)
        self.http = _choice("http", http, HTTP_CHOICES)
        self.ws = _choice("ws", ws, WS_CHOICES)
        self.ws_max_size = ws_max_size
        self.ws_max_queue = ws_max_queue
        self.ws_ping_interval = ws_ping_interval
        self.ws_ping_timeout = ws_ping_timeout
        self.ws_per_message_deflate = ws_per_message_deflate
        self.lifespan = _choice("lifespan", lifespan, LIFESPAN_CHOICES)
        self.log_config = log_config
        self.log_level = log_level
        self.access_log = access_log
        self.use_colors = use_colors
        self.interface = _choice("interface", interface, INTERFACE_CHOICES)
        self.root_path = root_path.rstrip("/")
        self.backlog = backlog
        self.timeout_keep_alive = timeout_keep_alive
        self.timeout_graceful_shutdown = timeout_graceful_shutdown
        self.timeout_request_header = timeout_request_header
        self.server_header = server_header
        self.date_header = date_header
        self.headers = list(headers or [])
        self.factory = factory
        self.app_dir = app_dir
        self.h11_max_incomplete_event_size = h11_max_incomplete_event_size
        self.loaded = False
        self.configure_logging()

    # -- settings derived once, at load time ------------------------------
    @property
    def max_head_size(self):
        return self.h11_max_incomplete_event_size or _speedups.DEFAULT_MAX_HEAD_SIZE

    def speedups(self):
        """The hot-path implementation this server runs: --http picks the twin."""
        if self.http == "h11":
            return _speedups.load("pure")
        if self.http == "httptools":
            if not _speedups.compiled_available():
                raise ValueError("--http httptools needs fastasgi's compiled speedups, "
                                 "which are not built for this interpreter.")
            return _speedups.load("compiled")
        return _speedups.active

    def configure_logging(self):
        logging.addLevelName(TRACE_LOG_LEVEL, "TRACE")
        if self.log_config:
            if isinstance(self.log_config, dict):
                if self.use_colors in (True, False):
                    self.log_config["formatters"]["default"]["use_colors"] = self.use_colors
                    self.log_config["formatters"]["access"]["use_colors"] = self.use_colors
                logging.config.dictConfig(self.log_config)
            elif self.log_config.endswith(".json"):
                import json

                with open(self.log_config) as file:
                    logging.config.dictConfig(json.load(file))
            else:
                logging.config.fileConfig(self.log_config, disable_existing_loggers=False)
        if self.log_level is not None:
            level = LOG_LEVELS[self.log_level] if isinstance(self.log_level, str) else self.log_level
            logging.getLogger("fastasgi.error").setLevel(level)
            logging.getLogger("fastasgi.access").setLevel(level)
            logging.getLogger("fastasgi").setLevel(level)
        if self.access_log is False:
            logging.getLogger("fastasgi.access").handlers = []
            logging.getLogger("fastasgi.access").propagate = False

    def load(self):
        """Import and adapt the app; build the default header lines."""
        assert not self.loaded
        self.encoded_headers = b"".join(_encode_header_line(h) for h in self.headers)
        self.server_line = b"server: fastasgi\r\n" if self.server_header else b""
        self.hot_paths = self.speedups()
        # The parser stops at a websocket upgrade only when websockets are served;
        # with --ws none an upgrade request is an ordinary HTTP request.
        self.upgrade_token = None if self.ws == "none" else b"websocket"
        if self.app_dir is not None:
            sys.path.insert(0, self.app_dir)
        try:
            self.loaded_app = import_from_string(self.app)
        except ImportFromStringError as exc:
            logger.error("Error loading ASGI app. %s", exc)
            sys.exit(1)
        if self.factory:
            try:
                self.loaded_app = self.loaded_app()
            except TypeError as exc:
                logger.error("Error loading ASGI app factory: %s", exc)
                sys.exit(1)
        if not callable(self.loaded_app):
            logger.error("Error loading ASGI app. %r is not callable.", self.loaded_app)
            sys.exit(1)
        if self.interface == "auto":
            self.interface = "asgi3" if _looks_like_asgi3(self.loaded_app) else "asgi2"
        if self.interface == "asgi2":
            self.loaded_app = ASGI2Middleware(self.loaded_app)
        self.loaded = True

    def bind_socket(self):
        """A listening TCP socket for host:port (for callers that pre-bind)."""
        family = socket.AF_INET6 if self.host and ":" in self.host else socket.AF_INET
        sock = socket.socket(family=family)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.set_inheritable(True)
        return sock

    def setup_event_loop(self):
        """Install uvloop's policy when asked for or when 'auto' finds it."""
        if self.loop == "asyncio":
            return
        try:
            import uvloop
        except ImportError:
            if self.loop == "uvloop":
                raise
            return
        if sys.version_info < (3, 12):
            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

    def loop_factory(self):
        """The event loop factory for asyncio.Runner / asyncio.run."""
        if self.loop == "asyncio":
            return asyncio.new_event_loop
        try:
            import uvloop
        except ImportError:
            if self.loop == "uvloop":
                raise
            return asyncio.new_event_loop
        return uvloop.new_event_loop


def _choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"Invalid {name} {value!r}: expected one of {', '.join(choices)}")
    return value


def _encode_header_line(header):
    if isinstance(header, str):
        name, _, value = header.partition(":")
    else:
        name, value = header
    name = name.strip().lower()
    value = value.strip()
    line = f"{name}: {value}\r\n".encode("latin-1")
    if not name or any(c in line[:-2] for c in b"\r\n\x00"):
        raise ValueError(f"Invalid --header {header!r}")
    return line


def _looks_like_asgi3(app):
    if inspect.isclass(app):
        return hasattr(app, "__await__")
    if inspect.isfunction(app):
        return asyncio.iscoroutinefunction(app)
    call = getattr(app, "__call__", None)
    return asyncio.iscoroutinefunction(call)
