"""Config: every server setting, validated, and the loading of the app.

The constructor mirrors uvicorn.Config so `fastasgi.Config(...)` is a
drop-in; `load()` imports the app, adapts its interface, and prepares the
pre-encoded header lines the protocol adds to every response.

Each option's default is declared once, in the constructor's signature:
the command line reads it from there (config_defaults()).
"""
import asyncio
import inspect
import logging
import os
import socket
import ssl
import sys

from . import _speedups
from .importer import ImportFromStringError, MissingDependency, import_from_string, require  # noqa: F401
from .logging import LOGGING_CONFIG, TRACE_LOG_LEVEL, alias_uvicorn_loggers
from .middleware.asgi2 import ASGI2Middleware

LOG_LEVELS = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": TRACE_LOG_LEVEL,
}
# --loop also takes "module:attribute", a loop factory (as uvicorn does).
# "none" leaves the choice to asyncio.
LOOP_CHOICES = ("none", "auto", "asyncio", "uvloop")
# --http also takes "module:attribute", an asyncio protocol class.
HTTP_CHOICES = ("auto", "h11", "httptools")
# uvicorn's values fastasgi does not serve, with what to use instead.
UNSERVED_CHOICES = {
    ("loop", "zuvloop"): "fastasgi does not run on zuvloop: use --loop uvloop (the default where "
                         "uvloop is installed) or --loop asyncio.",
    ("http", "zttp"): "fastasgi does not use zttp: its own HTTP/1.1 parser is compiled; use --http auto "
                      "(or httptools for the compiled parser, h11 for the pure-Python one).",
}
LIFESPAN_CHOICES = ("auto", "on", "off")
INTERFACE_CHOICES = ("auto", "asgi3", "asgi2", "wsgi")
# uvicorn's names, so `--ws wsproto` keeps working: every one but "none" is
# served by fastasgi's websocket protocol.
WS_CHOICES = ("auto", "none", "websockets", "websockets-sansio", "wsproto")
PROXY_PROTOCOL_CHOICES = ("off", "v1", "v2")
LOG_FORMAT_CHOICES = ("text", "json")

SSL_PROTOCOL_VERSION = ssl.PROTOCOL_TLS_SERVER
# The exit status of a server that could not start (bad app, bind, TLS,
# lifespan): uvicorn's, which scripts test for.
STARTUP_FAILURE = 3
DEFAULT_FORWARDED_ALLOW_IPS = "127.0.0.1,::1"

logger = logging.getLogger("fastasgi.error")


def create_ssl_context(certfile, keyfile, password, ssl_version, cert_reqs, ca_certs, ciphers):
    context = ssl.SSLContext(ssl_version)
    context.load_cert_chain(certfile, keyfile, (lambda: password) if password else None)
    context.verify_mode = ssl.VerifyMode(cert_reqs)
    if ca_certs:
        context.load_verify_locations(ca_certs)
    if ciphers:
        context.set_ciphers(ciphers)
    return context


def config_defaults():
    """{option: default} as Config's constructor declares them."""
    parameters = inspect.signature(Config.__init__).parameters.values()
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}


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
        timeout_request_body_total=None,
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
        http2_settings_timeout=10.0,
        http2_ping_interval=None,
        http2_ping_timeout=20.0,
        http2_engine="fastasgi",
        reset_contextvars=False,
        ssl_context_factory=None,
        callback_notify=None,
        timeout_notify=30,
        proxy_protocol="off",
        access_log_format=None,
        log_format="text",
        metrics=False,
        metrics_host="127.0.0.1",
        metrics_port=9090,
    ):
        self.app = app
        self.host = host
        self.port = port
        self.uds = uds
        self.fd = fd
        self.loop = _choice("loop", loop, LOOP_CHOICES, import_string=True)
        self.http = http if isinstance(http, type) else _choice("http", http, HTTP_CHOICES, import_string=True)
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
        self.timeout_request_body_total = timeout_request_body_total  # None: off
        self.timeout_write = timeout_write
        self.reload = reload
        self.reload_delay = reload_delay
        self.workers = workers or 1
        self.proxy_headers = proxy_headers
        self.limit_concurrency = limit_concurrency
        self.limit_max_requests = limit_max_requests
        if limit_max_requests_jitter < 0:
            raise ValueError("limit_max_requests_jitter must be 0 or more.")
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
        self.http2_settings_timeout = http2_settings_timeout
        self.http2_ping_interval = http2_ping_interval  # None: no keep-alive PING, as uvicorn
        self.http2_ping_timeout = http2_ping_timeout
        # "fastasgi": fastasgi's own engine (http2_engine); "h2": the h2 library's
        # with fastasgi's codec (http2_codec); "h2-hpack": the h2 library's with hpack.
        self.http2_engine = http2_engine
        self.http2_limits = None  # set by load() under --http2
        self.reset_contextvars = reset_contextvars
        # (config, default_factory) -> SSLContext, as uvicorn's: from Python only, no flag.
        self.ssl_context_factory = ssl_context_factory
        # An async callable the server awaits every timeout_notify seconds, as
        # uvicorn's (old gunicorn workers used it as a heartbeat); Python only.
        self.callback_notify = callback_notify
        self.timeout_notify = timeout_notify
        # Operations (issue 30): docs/operations.md.
        self.proxy_protocol = _choice("proxy_protocol", proxy_protocol, PROXY_PROTOCOL_CHOICES)
        self.access_log_format = access_log_format
        self.log_format = _choice("log_format", log_format, LOG_FORMAT_CHOICES)
        self.metrics = metrics
        self.metrics_host = metrics_host
        self.metrics_port = metrics_port
        self.loaded = False
        self.forwarded_policy = None  # set by load() under --proxy-headers
        self.observer = None  # set by load() for --metrics, --access-log-format, --log-format json
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
            from .supervisors.watch import resolve_watch

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
        return bool(self.ssl_keyfile or self.ssl_certfile or self.ssl_context_factory)

    @property
    def custom_http_protocol(self):
        """--http names a protocol class of the user's ("module:Class", or the class)."""
        return self.http not in HTTP_CHOICES

    @property
    def asgi_version(self):
        return "2.0" if self.interface == "asgi2" else "3.0"

    def speedups(self):
        """The hot-path stack this server runs: --http picks the twin (see
        _speedups.select); a custom protocol class runs on the default stack."""
        if self.custom_http_protocol:
            return _speedups.active
        return _speedups.select(self.http)

    def configure_logging(self):
        logging.addLevelName(TRACE_LOG_LEVEL, "TRACE")
        alias_uvicorn_loggers()
        if self.log_config:
            from .log_config import apply_log_config

            log_config = self.log_config
            if log_config is LOGGING_CONFIG:  # fastasgi's default, with the formats asked for
                if self.access_log_format:
                    from .access_format import validate, with_access_format

                    validate(self.access_log_format)
                    log_config = with_access_format(log_config)
                if self.log_format == "json":
                    from .json_logs import json_logging_config

                    log_config = json_logging_config(log_config)
            apply_log_config(log_config, self.use_colors)
        if self.log_level is not None:
            level = LOG_LEVELS[self.log_level.lower()] if isinstance(self.log_level, str) else self.log_level
            logging.getLogger("fastasgi.error").setLevel(level)
            logging.getLogger("fastasgi.access").setLevel(level)
            logging.getLogger("fastasgi.asgi").setLevel(level)
            logging.getLogger("fastasgi").setLevel(level)
        if self.access_log is False:
            logging.getLogger("fastasgi.access").handlers = []
            logging.getLogger("fastasgi.access").propagate = False

    def load_app(self):
        """The object --app names, imported; exits with STARTUP_FAILURE if it cannot be."""
        try:
            return import_from_string(self.app)
        except ImportFromStringError as exc:
            # The one-line summary always; the traceback from --log-level debug on.
            logger.error("Error loading ASGI app. %s", exc)
            if exc.__cause__ is not None and logger.isEnabledFor(logging.DEBUG):
                logger.debug("The import failed with:", exc_info=exc.__cause__)
            sys.exit(STARTUP_FAILURE)

    def load(self):
        """Import and adapt the app; build the default header lines."""
        assert not self.loaded
        self.http_protocol_class = None  # fastasgi's own, chosen by the server from hot_paths
        if self.custom_http_protocol:
            try:
                self.http_protocol_class = import_from_string(self.http)
            except ImportFromStringError as exc:
                logger.error("Error loading the --http protocol class. %s", exc)
                sys.exit(STARTUP_FAILURE)
        self.encoded_headers = b"".join(_encode_header_line(h) for h in self.headers)
        self.server_line = b"server: fastasgi\r\n" if self.server_header else b""
        self.hot_paths = self.speedups()
        # The parser stops at a websocket upgrade only when websockets are served;
        # with --ws none an upgrade request is an ordinary HTTP request.
        self.upgrade_token = None if self.ws == "none" else b"websocket"
        if self.app_dir is not None:
            sys.path.insert(0, self.app_dir)
        self.loaded_app = self.load_app()
        # As uvicorn: an object that can be called with no arguments is an
        # app factory, with or without --factory (without it, a warning).
        try:
            app = self.loaded_app()
        except TypeError as exc:
            if self.factory:
                logger.error("Error loading ASGI app factory: %s", exc)
                sys.exit(STARTUP_FAILURE)
        else:
            if not self.factory:
                logger.warning("ASGI app factory detected. Using it, but please consider setting the "
                               "--factory flag explicitly.")
            self.loaded_app = app
        if not callable(self.loaded_app):
            logger.error("Error loading ASGI app. %r is not callable.", self.loaded_app)
            sys.exit(STARTUP_FAILURE)
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
        from .observer import new_observer

        self.observer = new_observer(self)
        # Every connection makes its parser and watchdog from these: worked
        # out once here, not per connection.
        self.request_limits = self.hot_paths.RequestLimits(
            max_head_size=(self.h11_max_incomplete_event_size or self.limit_request_header_size
                           or config_defaults()["limit_request_header_size"]),
            max_request_line=self.limit_request_line or 0, max_header_count=self.limit_request_fields or 0,
            max_body_size=self.limit_request_body or 0)
        self.parser_args = (self.request_limits, self.upgrade_token)
        # How often the watchdog of a running request looks at its connection
        # (body progress, a client that stopped reading): a quarter of the
        # shortest of --timeout-request-body and --timeout-write, 0.1 to 1 s.
        self.watch_interval = max(0.1, min([1.0] + [timeout / 4 for timeout in (
            self.timeout_request_body, self.timeout_request_body_total, self.timeout_write)
            if timeout and timeout > 0]))
        if self.http2:  # bad HTTP/2 settings fail at startup, not at the first connection
            from .protocols.http2 import Http2Limits

            self.http2_limits = Http2Limits.from_config(self)
        logging.getLogger("fastasgi.error").log(*_speedups.start_message(self.hot_paths, self.http))
        self.loaded = True

    def load_ssl(self):
        """The server's SSLContext from the --ssl-* settings, or from
        ssl_context_factory (None without TLS)."""
        if not self.is_ssl:
            self.ssl = None
            return None
        if self.ssl_context_factory is not None:
            context = self.ssl_context_factory(self, self._default_ssl_context)
            if not isinstance(context, ssl.SSLContext):
                raise TypeError(f"ssl_context_factory must return an ssl.SSLContext, got {type(context).__name__}")
            self.ssl = context
        else:
            self.ssl = self._default_ssl_context()
        if self.http2:
            self.ssl.set_alpn_protocols(["h2", "http/1.1"])  # a client without h2 gets HTTP/1.1
        if self.ssl_certfile:
            with open(self.ssl_certfile) as file:  # for the ASGI tls extension's server_cert
                self.ssl_server_cert = file.read()
        return self.ssl

    def _default_ssl_context(self):
        """The SSLContext the --ssl-* settings describe (what ssl_context_factory gets to start from)."""
        if not self.ssl_certfile:
            raise ValueError("--ssl-keyfile needs --ssl-certfile." if self.ssl_keyfile else
                             "The default SSL context needs ssl_certfile.")
        return create_ssl_context(
            certfile=self.ssl_certfile, keyfile=self.ssl_keyfile, password=self.ssl_keyfile_password,
            ssl_version=self.ssl_version, cert_reqs=self.ssl_cert_reqs, ca_certs=self.ssl_ca_certs,
            ciphers=self.ssl_ciphers,
        )

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

    def get_loop_factory(self):
        """The event loop factory for asyncio.Runner (None: asyncio's default).

        As uvicorn's: --loop names a loop, or "module:attribute" is the factory.
        """
        if self.loop == "none":
            return None
        if self.loop == "asyncio":
            return asyncio.new_event_loop
        if self.loop in ("auto", "uvloop"):
            try:
                import uvloop
            except ImportError:
                if self.loop == "uvloop":
                    raise MissingDependency("--loop uvloop needs the uvloop package: "
                                            "pip install 'fastasgi[standard]'") from None
                return asyncio.new_event_loop
            return uvloop.new_event_loop
        try:
            return import_from_string(self.loop)
        except ImportFromStringError as exc:
            logger.error("Error loading custom loop setup function. %s", exc)
            sys.exit(STARTUP_FAILURE)


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


def _choice(name, value, choices, import_string=False):
    """`value` if it is one of `choices` (or, where allowed, an import string)."""
    instead = UNSERVED_CHOICES.get((name, value))
    if instead:
        raise ValueError(f"--{name} {value}: {instead}")
    if value in choices or (import_string and isinstance(value, str) and ":" in value):
        return value
    more = " or a \"module:attribute\" import string" if import_string else ""
    raise ValueError(f"Invalid {name} {value!r}: expected one of {', '.join(choices)}{more}")


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
