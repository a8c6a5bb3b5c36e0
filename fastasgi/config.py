"""Config: every server setting, validated, and the loading of the app.

The constructor mirrors uvicorn.Config so `fastasgi.Config(...)` is a
drop-in; `load()` imports the app, adapts its interface, and prepares the
pre-encoded header lines the protocol adds to every response.
"""
import asyncio
import inspect
import logging
import os
import socket
import ssl
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
INTERFACE_CHOICES = ("auto", "asgi3", "asgi2", "wsgi")
# uvicorn's names, so `--ws wsproto` keeps working: every one but "none" is
# served by fastasgi's websocket protocol.
WS_CHOICES = ("auto", "none", "websockets", "websockets-sansio", "wsproto")

SSL_PROTOCOL_VERSION = ssl.PROTOCOL_TLS_SERVER
STARTUP_FAILURE = 3
DEFAULT_FORWARDED_ALLOW_IPS = "127.0.0.1,::1"

logger = logging.getLogger("fastasgi.error")


class MissingDependency(ImportError):
    """An optional library a flag needs is not installed: a one-line error."""


def require(module, feature, package):
    try:
        return __import__(module)
    except ImportError:
        raise MissingDependency(
            f"{feature} needs the {package} package: pip install 'fastasgi[standard]'"
        ) from None


def create_ssl_context(certfile, keyfile, password, ssl_version, cert_reqs, ca_certs, ciphers):
    context = ssl.SSLContext(ssl_version)
    context.load_cert_chain(certfile, keyfile, (lambda: password) if password else None)
    context.verify_mode = ssl.VerifyMode(cert_reqs)
    if ca_certs:
        context.load_verify_locations(ca_certs)
    if ciphers:
        context.set_ciphers(ciphers)
    return context


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
        *,
        limit_request_line=8190,
        limit_request_fields=100,
        limit_request_header_size=65536,
        limit_request_body=None,
        timeout_request_body=60.0,
        timeout_write=60.0,
        reload=False,
        reload_dirs=None,
        reload_includes=None,
        reload_excludes=None,
        reload_delay=0.25,
        workers=None,
        env_file=None,
        proxy_headers=True,
        forwarded_allow_ips=None,
        limit_concurrency=None,
        limit_max_requests=None,
        limit_max_requests_jitter=0,
        timeout_worker_healthcheck=5,
        ssl_keyfile=None,
        ssl_certfile=None,
        ssl_keyfile_password=None,
        ssl_version=SSL_PROTOCOL_VERSION,
        ssl_cert_reqs=ssl.CERT_NONE,
        ssl_ca_certs=None,
        ssl_ciphers=None,
        http2=False,
        http2_max_concurrent_streams=100,
        http2_initial_window_size=256 * 1024,
        http2_connection_window=1024 * 1024,
        http2_max_frame_size=16384,
        http2_max_header_list_size=65536,
        reset_contextvars=False,
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
        # Request limits and slow-client timeouts (issue 6; see SECURITY.md).
        self.limit_request_line = limit_request_line
        self.limit_request_fields = limit_request_fields
        self.limit_request_header_size = limit_request_header_size
        self.limit_request_body = limit_request_body
        self.timeout_request_body = timeout_request_body
        self.timeout_write = timeout_write
        self.reload = reload
        self.reload_delay = reload_delay
        self.workers = workers or 1
        self.proxy_headers = proxy_headers
        self.limit_concurrency = limit_concurrency
        self.limit_max_requests = limit_max_requests
        self.limit_max_requests_jitter = limit_max_requests_jitter
        self.timeout_worker_healthcheck = timeout_worker_healthcheck
        self.ssl_keyfile = ssl_keyfile
        self.ssl_certfile = ssl_certfile
        self.ssl_keyfile_password = ssl_keyfile_password
        self.ssl_version = ssl_version
        self.ssl_cert_reqs = ssl_cert_reqs
        self.ssl_ca_certs = ssl_ca_certs
        self.ssl_ciphers = ssl_ciphers
        self.ssl = None
        self.ssl_server_cert = None
        self.http2 = http2
        # HTTP/2's settings and limits (protocols/http2.py's Http2Limits checks them).
        self.http2_max_concurrent_streams = http2_max_concurrent_streams
        self.http2_initial_window_size = http2_initial_window_size
        self.http2_connection_window = http2_connection_window
        self.http2_max_frame_size = http2_max_frame_size
        self.http2_max_header_list_size = http2_max_header_list_size
        self.http2_limits = None  # set by load() under --http2
        self.reset_contextvars = reset_contextvars
        self.loaded = False
        self.forwarded_policy = None  # set by load() under --proxy-headers
        self.configure_logging()

        if env_file is not None:
            dotenv = require("dotenv", "--env-file", "python-dotenv")
            logger.info("Loading environment from '%s'", env_file)
            dotenv.load_dotenv(dotenv_path=env_file)
        # Read after the env file: it may set them.
        if workers is None and "WEB_CONCURRENCY" in os.environ:
            self.workers = int(os.environ["WEB_CONCURRENCY"])
        if forwarded_allow_ips is None:
            forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", DEFAULT_FORWARDED_ALLOW_IPS)
        self.forwarded_allow_ips = forwarded_allow_ips

        self.reload_dirs, self.reload_includes, self.reload_excludes, self.reload_dirs_excludes = [], [], [], []
        if (reload_dirs or reload_includes or reload_excludes) and not self.should_reload:
            logger.warning("Current configuration will not reload as not all conditions are met, "
                           "please refer to documentation.")
        if self.should_reload:
            from .supervisors.reload import resolve_watch

            (self.reload_dirs, self.reload_includes, self.reload_excludes,
             self.reload_dirs_excludes) = resolve_watch(reload_dirs, reload_includes, reload_excludes)
        if self.reload and self.workers > 1:
            logger.warning('"workers" flag is ignored when reloading is enabled.')

    @property
    def should_reload(self):
        return isinstance(self.app, str) and self.reload

    @property
    def use_subprocess(self):
        return bool(self.reload or self.workers > 1)

    @property
    def is_ssl(self):
        return bool(self.ssl_keyfile or self.ssl_certfile)

    @property
    def asgi_version(self):
        return "2.0" if self.interface == "asgi2" else "3.0"

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
            from .log_config import apply_log_config

            apply_log_config(self.log_config, self.use_colors)
        if self.log_level is not None:
            level = LOG_LEVELS[self.log_level.lower()] if isinstance(self.log_level, str) else self.log_level
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
        if self.interface == "wsgi":
            from .middleware.wsgi import WSGIMiddleware

            self.loaded_app = WSGIMiddleware(self.loaded_app)
            self.upgrade_token = None  # WSGI has no websockets: an upgrade is a plain request
        elif self.interface == "asgi2":
            self.loaded_app = ASGI2Middleware(self.loaded_app)
        if self.reset_contextvars:
            from .middleware.contextvars import ResetContextVarsMiddleware

            self.loaded_app = ResetContextVarsMiddleware(self.loaded_app)
        if logging.getLogger("fastasgi.asgi").isEnabledFor(TRACE_LOG_LEVEL):
            from .middleware.message_logger import MessageLoggerMiddleware

            self.loaded_app = MessageLoggerMiddleware(self.loaded_app)
        # Proxy headers are applied by the protocols as they build each scope
        # (trust is decided once per connection), not by a wrapping middleware.
        self.forwarded_policy = None
        if self.proxy_headers:
            from .middleware.proxy_headers import ForwardedPolicy

            self.forwarded_policy = ForwardedPolicy(self.forwarded_allow_ips, self.uds)
        # Every connection makes its parser and watchdog from these: worked
        # out once here, not per connection.
        max_head_size = (self.h11_max_incomplete_event_size or self.limit_request_header_size
                         or _speedups.DEFAULT_MAX_HEAD_SIZE)
        self.parser_args = (max_head_size, self.upgrade_token, self.limit_request_line or 0,
                            self.limit_request_fields or 0, self.limit_request_body or 0)
        # How often the watchdog of a running request looks at its connection
        # (body progress, a client that stopped reading): a quarter of the
        # shortest of --timeout-request-body and --timeout-write, 0.1 to 1 s.
        self.watch_interval = max(0.1, min([1.0] + [timeout / 4 for timeout in (
            self.timeout_request_body, self.timeout_write) if timeout and timeout > 0]))
        if self.http2:  # bad HTTP/2 settings fail at startup, not at the first connection
            from .protocols.http2 import Http2Limits

            self.http2_limits = Http2Limits.from_config(self)
        self.loaded = True

    def load_ssl(self):
        """The server's SSLContext from the --ssl-* settings (None without TLS)."""
        if not self.is_ssl:
            self.ssl = None
            return None
        if not self.ssl_certfile:
            raise ValueError("--ssl-keyfile needs --ssl-certfile.")
        self.ssl = create_ssl_context(
            certfile=self.ssl_certfile, keyfile=self.ssl_keyfile, password=self.ssl_keyfile_password,
            ssl_version=self.ssl_version, cert_reqs=self.ssl_cert_reqs, ca_certs=self.ssl_ca_certs,
            ciphers=self.ssl_ciphers,
        )
        if self.http2:
            self.ssl.set_alpn_protocols(["h2", "http/1.1"])  # a client without h2 gets HTTP/1.1
        with open(self.ssl_certfile) as file:  # for the ASGI tls extension's server_cert
            self.ssl_server_cert = file.read()
        return self.ssl

    def bind_socket(self):
        """The listening socket a supervisor binds once and shares with its workers."""
        if self.uds is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            _remove_stale_socket(self.uds)
            sock.bind(self.uds)
            os.chmod(self.uds, 0o666)
            where, args = "unix socket %s", (self.uds,)
        elif self.fd is not None:
            sock = socket.socket(fileno=self.fd)  # family and type come from the fd
            where, args = "socket %s", (sock.getsockname(),)
        else:
            family = socket.AF_INET6 if self.host and ":" in self.host else socket.AF_INET
            sock = socket.socket(family=family)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            host = f"[{self.host}]" if family == socket.AF_INET6 else self.host
            where = "%s://%s:%d"
            args = ("https" if self.is_ssl else "http", host, sock.getsockname()[1])
        # Listen now, so clients queue in the kernel while the workers start.
        sock.listen(self.backlog)
        sock.set_inheritable(True)
        logger.info("fastasgi running on " + where + " (Press CTRL+C to quit)", *args)
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


def _remove_stale_socket(path):
    """Remove a Unix socket file nobody listens on any more (left by a crash)."""
    if not os.path.exists(path):
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        os.remove(path)
    except OSError:
        pass  # not a socket, or not ours to judge: bind() will say what is wrong
    finally:
        probe.close()


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
