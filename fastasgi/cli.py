"""`fastasgi APP`: uvicorn's command line, flag for flag."""
import os
import platform
import sys

import click

from . import _speedups
from ._version import __version__
from .config import HTTP_CHOICES, INTERFACE_CHOICES, LIFESPAN_CHOICES, LOG_LEVELS, LOOP_CHOICES, WS_CHOICES, Config
from .logging import LOGGING_CONFIG
from .server import STARTUP_FAILURE, Server


def _loop_name():
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    return f"uvloop {uvloop.__version__}"


def version_text():
    return (
        f"Running fastasgi {__version__} ({_speedups.IMPLEMENTATION} speedups, "
        f"loop: {_loop_name()}) with {platform.python_implementation()} "
        f"{platform.python_version()} on {platform.system()}"
    )


def print_version(ctx, param, value):
    if not value or ctx.resilient_parsing:
        return
    click.echo(version_text())
    ctx.exit()


@click.command(context_settings={"auto_envvar_prefix": "FASTASGI"})
@click.argument("app", envvar="FASTASGI_APP")
@click.option("--host", type=str, default="127.0.0.1", show_default=True,
              help="Bind socket to this host. Use --host 0.0.0.0 to make the application "
                   "available on your local network. IPv6 addresses are supported, for example: --host '::'.")
@click.option("--port", type=int, default=8000, show_default=True,
              help="Bind socket to this port. If 0, an available port will be picked.")
@click.option("--uds", type=str, default=None, help="Bind to a UNIX domain socket.")
@click.option("--fd", type=int, default=None, help="Bind to socket from this file descriptor.")
@click.option("--loop", type=click.Choice(LOOP_CHOICES), default="auto", show_default=True,
              help="Event loop implementation.")
@click.option("--http", type=click.Choice(HTTP_CHOICES), default="auto", show_default=True,
              help="HTTP protocol implementation: httptools runs fastasgi's compiled parser, "
                   "h11 its pure-Python twin.")
@click.option("--ws", type=click.Choice(WS_CHOICES), default="auto", show_default=True,
              help="WebSocket protocol implementation (websockets' sans-I/O protocol); "
                   "none serves upgrade requests as plain HTTP.")
@click.option("--ws-max-size", type=int, default=16777216, show_default=True,
              help="WebSocket max size message in bytes")
@click.option("--ws-max-queue", type=int, default=32, show_default=True,
              help="The maximum length of the WebSocket message queue.")
@click.option("--ws-ping-interval", type=float, default=20.0, show_default=True,
              help="WebSocket ping interval in seconds.")
@click.option("--ws-ping-timeout", type=float, default=20.0, show_default=True,
              help="WebSocket ping timeout in seconds.")
@click.option("--ws-per-message-deflate", type=bool, default=True, show_default=True,
              help="WebSocket per-message-deflate compression")
@click.option("--lifespan", type=click.Choice(LIFESPAN_CHOICES), default="auto", show_default=True,
              help="Lifespan implementation.")
@click.option("--interface", type=click.Choice(INTERFACE_CHOICES), default="auto", show_default=True,
              help="Select ASGI3 or ASGI2 as the application interface.")
@click.option("--log-config", type=click.Path(exists=True), default=None,
              help="Logging configuration file. Supported formats: .ini, .json.")
@click.option("--log-level", type=click.Choice(list(LOG_LEVELS)), default=None,
              help="Log level. [default: info]", show_default=True)
@click.option("--access-log/--no-access-log", is_flag=True, default=True, help="Enable/Disable access log.")
@click.option("--use-colors/--no-use-colors", is_flag=True, default=None,
              help="Enable/Disable colorized logging.")
@click.option("--root-path", type=str, default="",
              help="Set the ASGI 'root_path' for applications submounted below a given URL path.")
@click.option("--backlog", type=int, default=2048, show_default=True,
              help="Maximum number of connections to hold in backlog")
@click.option("--timeout-keep-alive", type=int, default=5, show_default=True,
              help="Close Keep-Alive connections if no new data is received within this timeout.")
@click.option("--timeout-graceful-shutdown", type=int, default=None,
              help="Maximum number of seconds to wait for graceful shutdown.")
@click.option("--timeout-request-header", type=float, default=10, show_default=True,
              help="Close a connection whose request head is not complete within this many seconds "
                   "(slow-client protection; fastasgi only).")
@click.option("--server-header/--no-server-header", is_flag=True, default=True,
              help="Enable/Disable default Server header.")
@click.option("--date-header/--no-date-header", is_flag=True, default=True,
              help="Enable/Disable default Date header.")
@click.option("--header", "headers", multiple=True,
              help="Specify custom default HTTP response headers as a Name:Value pair")
@click.option("--h11-max-incomplete-event-size", type=int, default=None,
              help="For h11, the maximum number of bytes to buffer of an incomplete event. "
                   "In fastasgi this is the request head size limit on both implementations.")
@click.option("--app-dir", default="", show_default=True,
              help="Look for APP in the specified directory, by adding this to the PYTHONPATH. "
                   "Defaults to the current working directory.")
@click.option("--factory", is_flag=True, default=False,
              help="Treat APP as an application factory, i.e. a () -> <ASGI app> callable.")
@click.option("--version", is_flag=True, callback=print_version, expose_value=False, is_eager=True,
              help="Display the fastasgi version, implementation and loop, and exit.")
def main(app, log_config, **options):
    run(app, log_config=LOGGING_CONFIG if log_config is None else log_config, **options)


def run(app, **kwargs):
    """Run an ASGI app until SIGINT/SIGTERM.  Mirrors uvicorn.run."""
    kwargs.setdefault("log_config", LOGGING_CONFIG)
    config = Config(app, **kwargs)
    server = Server(config)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        if config.uds and server.started and os.path.exists(config.uds):
            os.remove(config.uds)  # the socket file is ours: leave no stale one behind
    if not server.started:
        sys.exit(STARTUP_FAILURE)


if __name__ == "__main__":
    main()
