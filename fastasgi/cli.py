"""`fastasgi APP`: uvicorn's command line, flag for flag."""
import logging
import os
import platform
import sys

import click

from . import _speedups
from ._version import __version__
from .config import (
    HTTP_CHOICES,
    INTERFACE_CHOICES,
    LIFESPAN_CHOICES,
    LOG_LEVELS,
    LOOP_CHOICES,
    LOG_FORMAT_CHOICES,
    PROXY_PROTOCOL_CHOICES,
    STARTUP_FAILURE,
    WS_CHOICES,
    Config,
    config_defaults,
)
from .importer import MissingDependency
from .logging import LOGGING_CONFIG
from .server import Server

logger = logging.getLogger("fastasgi.error")

# Each option's default, from Config: declared there once, read here.
DEFAULTS = config_defaults()


def _loop_name():
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    return f"uvloop {uvloop.__version__}"


def version_text():
    return (
        f"Running fastasgi {__version__} ({_speedups.IMPLEMENTATION} speedups, "
        f"protocol {_speedups.active.http.__name__}, "
        f"loop: {_loop_name()}) with {platform.python_implementation()} "
        f"{platform.python_version()} on {platform.system()}"
    )


def print_version(ctx, param, value):
    if not value or ctx.resilient_parsing:
        return
    click.echo(version_text())
    ctx.exit()


def _valid_access_log_format(ctx, param, value):
    if value is not None:
        from .access_format import validate

        try:
            validate(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return value


@click.command(context_settings={"auto_envvar_prefix": "FASTASGI"})
@click.argument("app", envvar="FASTASGI_APP")
@click.option("--host", type=str, default=DEFAULTS["host"], show_default=True,
              help="Bind socket to this host. Use --host 0.0.0.0 to make the application "
                   "available on your local network. IPv6 addresses are supported, for example: --host '::'.")
@click.option("--port", type=int, default=DEFAULTS["port"], show_default=True,
              help="Bind socket to this port. If 0, an available port will be picked.")
@click.option("--uds", type=str, default=DEFAULTS["uds"], help="Bind to a UNIX domain socket.")
@click.option("--fd", type=int, default=DEFAULTS["fd"], help="Bind to socket from this file descriptor.")
@click.option("--reload", is_flag=True, default=DEFAULTS["reload"], help="Enable auto-reload.")
@click.option("--reload-dir", "reload_dirs", multiple=True, type=click.Path(exists=True),
              help="Set reload directories explicitly, instead of using the current working directory.")
@click.option("--reload-include", "reload_includes", multiple=True,
              help="Set glob patterns to include while watching for files. Includes '*.py' by default; "
                   "these defaults can be overridden with `--reload-exclude`.")
@click.option("--reload-exclude", "reload_excludes", multiple=True,
              help="Set glob patterns to exclude while watching for files. Includes '.*, .py[cod], .sw.*, ~*' "
                   "by default; these defaults can be overridden with `--reload-include`.")
@click.option("--reload-delay", type=float, default=DEFAULTS["reload_delay"], show_default=True,
              help="Delay between previous and next check if application needs to be. Defaults to 0.25s.")
@click.option("--workers", type=int, default=DEFAULTS["workers"],
              help="Number of worker processes. Defaults to the $WEB_CONCURRENCY environment variable "
                   "if available, or 1. Not valid with --reload.")
@click.option("--loop", type=str, metavar=f"[{'|'.join(LOOP_CHOICES)}|module:factory]", default=DEFAULTS["loop"],
              show_default=True, help="Event loop factory implementation.")
@click.option("--http", type=str, metavar=f"[{'|'.join(HTTP_CHOICES)}|module:Protocol]", default=DEFAULTS["http"],
              show_default=True,
              help="HTTP protocol implementation: httptools runs fastasgi's compiled parser, "
                   "h11 its pure-Python twin.")
@click.option("--http2", is_flag=True, default=DEFAULTS["http2"], show_default=True,
              help="Enable HTTP/2: h2c (prior knowledge or Upgrade: h2c) on the HTTP/1.1 port, ALPN h2 under --ssl-*.")
@click.option("--http2-max-concurrent-streams", type=click.IntRange(1, 2**31 - 1),
              default=DEFAULTS["http2_max_concurrent_streams"], show_default=True,
              help="HTTP/2 streams one connection may have open; more are refused (REFUSED_STREAM).")
@click.option("--http2-initial-window-size", type=click.IntRange(1, 2**31 - 1), default=DEFAULTS["http2_initial_window_size"],
              show_default=True, help="HTTP/2 request body bytes a client may send on a stream before the app reads.")
@click.option("--http2-connection-window", type=click.IntRange(65535, 2**31 - 1), default=DEFAULTS["http2_connection_window"],
              show_default=True, help="HTTP/2 request body bytes a client may send on all its streams before "
                                      "the apps read.")
@click.option("--http2-max-frame-size", type=click.IntRange(16384, 16777215), default=DEFAULTS["http2_max_frame_size"], show_default=True,
              help="Largest HTTP/2 frame payload a client may send.")
@click.option("--http2-max-header-list-size", type=click.IntRange(1024, 2**31 - 1), default=DEFAULTS["http2_max_header_list_size"],
              show_default=True, help="Largest HTTP/2 request header list (decoded, RFC 9113 6.5.2).")
@click.option("--http2-settings-timeout", type=click.FloatRange(0), default=DEFAULTS["http2_settings_timeout"],
              show_default=True, help="Seconds a client has to acknowledge the server's HTTP/2 SETTINGS "
                                      "(GOAWAY SETTINGS_TIMEOUT after); 0 waits forever.")
@click.option("--http2-ping-interval", type=click.FloatRange(0), default=DEFAULTS["http2_ping_interval"],
              help="Send an HTTP/2 keep-alive PING after this many seconds without a frame from the client "
                   "[default: off].")
@click.option("--http2-ping-timeout", type=click.FloatRange(0), default=DEFAULTS["http2_ping_timeout"],
              show_default=True, help="Seconds a client has to answer the keep-alive PING before the "
                                      "connection is closed.")
@click.option("--http2-engine", type=click.Choice(["fastasgi", "h2", "h2-hpack"]), default=DEFAULTS["http2_engine"],
              show_default=True, help="The HTTP/2 engine: fastasgi's own (compiled, or its pure twin), the h2 "
                                      "library's with fastasgi's HPACK codec, or the h2 library's with hpack.")
@click.option("--ws", type=click.Choice(WS_CHOICES), default=DEFAULTS["ws"], show_default=True,
              help="WebSocket protocol implementation (websockets' sans-I/O protocol); "
                   "none serves upgrade requests as plain HTTP.")
@click.option("--ws-max-size", type=int, default=DEFAULTS["ws_max_size"], show_default=True,
              help="WebSocket max size message in bytes")
@click.option("--ws-max-queue", type=int, default=DEFAULTS["ws_max_queue"], show_default=True,
              help="The maximum length of the WebSocket message queue.")
@click.option("--ws-ping-interval", type=float, default=DEFAULTS["ws_ping_interval"], show_default=True,
              help="WebSocket ping interval in seconds.")
@click.option("--ws-ping-timeout", type=float, default=DEFAULTS["ws_ping_timeout"], show_default=True,
              help="WebSocket ping timeout in seconds.")
@click.option("--ws-per-message-deflate", type=bool, default=DEFAULTS["ws_per_message_deflate"], show_default=True,
              help="WebSocket per-message-deflate compression")
@click.option("--lifespan", type=click.Choice(LIFESPAN_CHOICES), default=DEFAULTS["lifespan"], show_default=True,
              help="Lifespan implementation.")
@click.option("--interface", type=click.Choice(INTERFACE_CHOICES), default=DEFAULTS["interface"], show_default=True,
              help="Select ASGI3, ASGI2, or WSGI as the application interface.")
@click.option("--env-file", type=click.Path(exists=True), default=DEFAULTS["env_file"],
              help="Environment configuration file (needs python-dotenv).")
# None here: main() passes Config's default (LOGGING_CONFIG, a dict no flag can spell).
@click.option("--log-config", type=click.Path(exists=True), default=None,
              help="Logging configuration file. Supported formats: .ini, .json, .yaml.")
@click.option("--log-level", type=click.Choice(list(LOG_LEVELS)), default=DEFAULTS["log_level"],
              help="Log level. [default: info]", show_default=True)
@click.option("--access-log/--no-access-log", is_flag=True, default=DEFAULTS["access_log"],
              help="Enable/Disable access log.")
@click.option("--use-colors/--no-use-colors", is_flag=True, default=DEFAULTS["use_colors"],
              help="Enable/Disable colorized logging.")
@click.option("--proxy-headers/--no-proxy-headers", is_flag=True, default=DEFAULTS["proxy_headers"],
              help="Enable/Disable X-Forwarded-Proto, X-Forwarded-For to populate url scheme and "
                   "remote address info.")
@click.option("--forwarded-allow-ips", type=str, default=DEFAULTS["forwarded_allow_ips"],
              help="Comma separated list of IP Addresses, IP Networks, or literals (e.g. UNIX Socket path) "
                   "to trust with proxy headers. Defaults to the $FORWARDED_ALLOW_IPS environment variable "
                   "if available, or '127.0.0.1,::1'. The literal '*' means trust everything.")
@click.option("--root-path", type=str, default=DEFAULTS["root_path"],
              help="Set the ASGI 'root_path' for applications submounted below a given URL path.")
@click.option("--limit-concurrency", type=int, default=DEFAULTS["limit_concurrency"],
              help="Maximum number of concurrent connections or tasks to allow, before issuing "
                   "HTTP 503 responses.")
@click.option("--backlog", type=int, default=DEFAULTS["backlog"], show_default=True,
              help="Maximum number of connections to hold in backlog")
@click.option("--limit-max-requests", type=int, default=DEFAULTS["limit_max_requests"],
              help="Maximum number of requests to service before terminating the process.")
@click.option("--limit-max-requests-jitter", type=click.IntRange(min=0), default=DEFAULTS["limit_max_requests_jitter"],
              show_default=True,
              help="Maximum jitter to add to limit_max_requests. Staggers worker restarts to avoid "
                   "all workers restarting simultaneously.")
@click.option("--timeout-keep-alive", type=int, default=DEFAULTS["timeout_keep_alive"], show_default=True,
              help="Close Keep-Alive connections if no new data is received within this timeout.")
@click.option("--timeout-graceful-shutdown", type=int, default=DEFAULTS["timeout_graceful_shutdown"],
              help="Maximum number of seconds to wait for graceful shutdown.")
@click.option("--timeout-worker-healthcheck", "--worker-healthcheck-timeout", "timeout_worker_healthcheck",
              type=int, default=DEFAULTS["timeout_worker_healthcheck"], show_default=True,
              help="Maximum number of seconds to wait for a worker to respond to a healthcheck.")
@click.option("--ssl-keyfile", type=str, default=DEFAULTS["ssl_keyfile"], help="SSL key file")
@click.option("--ssl-certfile", type=str, default=DEFAULTS["ssl_certfile"], help="SSL certificate file")
@click.option("--ssl-keyfile-password", type=str, default=DEFAULTS["ssl_keyfile_password"], help="SSL keyfile password")
@click.option("--ssl-version", type=int, default=int(DEFAULTS["ssl_version"]), show_default=True,
              help="SSL version to use (see stdlib ssl module's)")
@click.option("--ssl-cert-reqs", type=int, default=int(DEFAULTS["ssl_cert_reqs"]), show_default=True,
              help="Whether client certificate is required (see stdlib ssl module's)")
@click.option("--ssl-ca-certs", type=str, default=DEFAULTS["ssl_ca_certs"], help="CA certificates file")
@click.option("--ssl-ciphers", type=str, default=DEFAULTS["ssl_ciphers"],
              help="Ciphers to use (see stdlib ssl module's). Defaults to OpenSSL's safe defaults.")
@click.option("--timeout-request-header", type=float, default=DEFAULTS["timeout_request_header"], show_default=True,
              help="Close a connection whose request head is not complete within this many seconds "
                   "(slow-client protection; fastasgi only).")
@click.option("--timeout-request-body", type=float, default=DEFAULTS["timeout_request_body"], show_default=True,
              help="Close a connection whose request body sends no bytes for this many seconds while "
                   "the app waits for it (answered 408 if no response started; 0 disables; fastasgi only).")
@click.option("--timeout-request-body-total", type=float, default=DEFAULTS["timeout_request_body_total"],
              help="Close a connection whose request body is not complete within this many seconds of "
                   "waiting on the client, however steadily it trickles (answered 408 if no response "
                   "started). Off by default; fastasgi only.")
@click.option("--timeout-write", type=float, default=DEFAULTS["timeout_write"], show_default=True,
              help="Abort a connection whose client reads none of the response for this many seconds "
                   "while the server has bytes to send (0 disables; fastasgi only).")
@click.option("--limit-request-line", type=int, default=DEFAULTS["limit_request_line"], show_default=True,
              help="Maximum size of the request line in bytes; longer lines get 414. 0 for no limit.")
@click.option("--limit-request-fields", type=int, default=DEFAULTS["limit_request_fields"], show_default=True,
              help="Maximum number of header fields in a request; more get 431. 0 for no limit.")
@click.option("--limit-request-header-size", type=int, default=DEFAULTS["limit_request_header_size"], show_default=True,
              help="Maximum size of the request head (request line and headers) in bytes; larger "
                   "heads get 431. --h11-max-incomplete-event-size overrides it when given.")
@click.option("--limit-request-body", type=int, default=DEFAULTS["limit_request_body"],
              help="Maximum size of a request body in bytes; larger bodies get 413 (by Content-Length "
                   "up front, by counting for chunked bodies). No limit by default.")
@click.option("--server-header/--no-server-header", is_flag=True, default=DEFAULTS["server_header"],
              help="Enable/Disable default Server header.")
@click.option("--date-header/--no-date-header", is_flag=True, default=DEFAULTS["date_header"],
              help="Enable/Disable default Date header.")
@click.option("--header", "headers", multiple=True,
              help="Specify custom default HTTP response headers as a Name:Value pair")
@click.option("--h11-max-incomplete-event-size", type=int, default=DEFAULTS["h11_max_incomplete_event_size"],
              help="For h11, the maximum number of bytes to buffer of an incomplete event. "
                   "In fastasgi this is the request head size limit on both implementations.")
# "", not Config's None: from the command line the working directory goes on sys.path, as with uvicorn.
@click.option("--app-dir", default="", show_default=True,
              help="Look for APP in the specified directory, by adding this to the PYTHONPATH. "
                   "Defaults to the current working directory.")
@click.option("--reset-contextvars", is_flag=True, default=DEFAULTS["reset_contextvars"], show_default=True,
              help="Run each ASGI request in a fresh contextvars.Context. Hides context set in the lifespan.")
@click.option("--proxy-protocol", type=click.Choice(PROXY_PROTOCOL_CHOICES), default=DEFAULTS["proxy_protocol"], show_default=True,
              help="Read a PROXY protocol header (HAProxy, AWS NLB) at the start of each connection, from "
                   "peers in --forwarded-allow-ips only; the client address comes from it (fastasgi only).")
@click.option("--access-log-format", type=str, default=DEFAULTS["access_log_format"], callback=_valid_access_log_format,
              help="Access log line in gunicorn's atoms, e.g. '%(h)s \"%(r)s\" %(s)s %(b)s %(D)s' "
                   "(fastasgi only; the default is uvicorn's line).")
@click.option("--log-format", type=click.Choice(LOG_FORMAT_CHOICES), default=DEFAULTS["log_format"], show_default=True,
              help="json: one JSON object per line for server, error and access records (fastasgi only).")
@click.option("--metrics/--no-metrics", is_flag=True, default=DEFAULTS["metrics"],
              help="Serve Prometheus metrics and health checks on a listener of their own (fastasgi only).")
@click.option("--metrics-host", type=str, default=DEFAULTS["metrics_host"], show_default=True,
              help="Bind the metrics and health listener to this host.")
@click.option("--metrics-port", type=int, default=DEFAULTS["metrics_port"], show_default=True,
              help="Bind the metrics and health listener to this port.")
@click.option("--factory", is_flag=True, default=DEFAULTS["factory"],
              help="Treat APP as an application factory, i.e. a () -> <ASGI app> callable.")
@click.option("--version", is_flag=True, callback=print_version, expose_value=False, is_eager=True,
              help="Display the fastasgi version, implementation and loop, and exit.")
def main(app, log_config, reload_dirs, reload_includes, reload_excludes, **options):
    run(app, log_config=LOGGING_CONFIG if log_config is None else log_config,
        reload_dirs=reload_dirs or None, reload_includes=reload_includes or None,
        reload_excludes=reload_excludes or None, **options)


def run(app, **kwargs):
    """Run an ASGI app until SIGINT/SIGTERM.  Mirrors uvicorn.run.

    One process by default; a supervisor with --reload (a child restarted on
    changes) or --workers N (N children sharing the socket the supervisor binds).
    A server that cannot start exits with STARTUP_FAILURE (3).  As uvicorn's,
    a single server re-raises the SIGTERM that stopped it once it has drained
    (exit status 143 in a shell); SIGINT ends it with status 0.
    """
    kwargs.setdefault("log_config", LOGGING_CONFIG)
    try:
        config = Config(app, **kwargs)
    except (MissingDependency, ValueError) as exc:
        logger.error("%s", exc)
        sys.exit(STARTUP_FAILURE)
    if config.use_subprocess and not isinstance(app, str):
        logger.warning("You must pass the application as an import string to enable 'reload' or 'workers'.")
        sys.exit(STARTUP_FAILURE)
    server = Server(config)
    exit_code = 0
    try:
        if config.should_reload or config.workers > 1:
            exit_code = _supervise(config)
        else:
            server.run()
    except KeyboardInterrupt:
        pass
    except MissingDependency as exc:  # --loop uvloop without uvloop
        logger.error("%s", exc)
        sys.exit(STARTUP_FAILURE)
    finally:
        if config.uds and (server.started or config.use_subprocess) and os.path.exists(config.uds):
            os.remove(config.uds)  # the socket file is ours: leave no stale one behind
    if exit_code:
        sys.exit(exit_code)
    if not server.started and not config.use_subprocess:
        sys.exit(STARTUP_FAILURE)


def _supervise(config):
    try:
        sock = config.bind_socket()
    except OSError as exc:
        logger.error(exc)
        sys.exit(STARTUP_FAILURE)
    try:
        if config.should_reload:
            from .supervisors.reload import ChangeReload

            ChangeReload(config, sockets=[sock]).run()
            return 0
        from .supervisors.multiprocess import Multiprocess

        return Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()


if __name__ == "__main__":
    main()
