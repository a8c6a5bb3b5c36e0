"""gunicorn worker classes: gunicorn manages the processes, fastasgi serves.

    gunicorn app:app -k fastasgi.workers.FastASGIWorker -w 4

FastASGIWorker runs the compiled speedups on uvloop where they are
available; FastASGIH11Worker runs the pure-Python twin on asyncio, for
PyPy and for installs without a compiler.
"""
import asyncio
import logging
import os
import signal
import sys
import time

from gunicorn.arbiter import Arbiter
from gunicorn.workers.base import Worker

from .config import Config
from .server import Server, asyncio_run

NOTIFY_SECONDS = 1.0  # gunicorn only needs a sign of life well within --timeout


class FastASGIWorker(Worker):
    CONFIG_KWARGS = {"loop": "auto", "http": "auto"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Log through gunicorn's handlers and levels (--error-logfile, --access-logfile).
        for name, source in (("fastasgi.error", self.log.error_log), ("fastasgi.access", self.log.access_log)):
            logger = logging.getLogger(name)
            logger.handlers = source.handlers
            logger.setLevel(source.level)
            logger.propagate = False
        cfg = self.cfg
        options = {
            "app": None,  # gunicorn loads it: self.wsgi, set in run()
            "log_config": None,
            "timeout_keep_alive": cfg.keepalive,
            "limit_max_requests": self.max_requests if cfg.max_requests > 0 else None,
            "forwarded_allow_ips": cfg.forwarded_allow_ips,
        }
        if cfg.settings["backlog"].value:
            options["backlog"] = cfg.settings["backlog"].value
        if cfg.is_ssl:
            ssl_options = cfg.ssl_options
            options.update(
                ssl_keyfile=ssl_options.get("keyfile"),
                ssl_certfile=ssl_options.get("certfile"),
                ssl_cert_reqs=ssl_options.get("cert_reqs"),
                ssl_ca_certs=ssl_options.get("ca_certs"),
                ssl_ciphers=ssl_options.get("ciphers"),
            )
            if ssl_options.get("ssl_version") is not None:
                options["ssl_version"] = ssl_options["ssl_version"]
        options.update(self.CONFIG_KWARGS)
        self.config = Config(**options)
        self._last_notify = 0.0

    def init_signals(self):
        # The server captures SIGINT/SIGTERM while it serves; leave the rest
        # at their defaults so gunicorn sees real exit statuses.
        for sig in self.SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        # Before serving, and when the server raises again the signal that
        # stopped it: a clean exit, which gunicorn's arbiter reads as a
        # worker that stopped as asked (death by SIGTERM it logs as an error).
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._exit_cleanly)
        signal.signal(signal.SIGUSR1, self.handle_usr1)
        signal.siginterrupt(signal.SIGUSR1, False)  # reopening logs must not break a syscall

    def run(self):
        self.config.app = self.wsgi
        server = Server(self.config)
        server.heartbeat = lambda: self._heartbeat(server)
        sockets = [listener.sock for listener in self.sockets]
        asyncio_run(self._serve(server, sockets), self.config.get_loop_factory())
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)

    async def _serve(self, server, sockets):
        # gunicorn's SIGQUIT means quick shutdown: stop without waiting for requests.
        asyncio.get_running_loop().add_signal_handler(signal.SIGQUIT, self._quit, server)
        await server.serve(sockets=sockets)

    @staticmethod
    def _exit_cleanly(sig, frame):
        sys.exit(0)

    @staticmethod
    def _quit(server):
        server.should_exit = True
        server.force_exit = True

    def _heartbeat(self, server):
        now = time.monotonic()
        if now - self._last_notify >= NOTIFY_SECONDS:
            self._last_notify = now
            self.notify()  # tells the arbiter this worker is alive
        if os.getppid() != self.ppid:
            self.log.info("Parent changed, shutting down: %s", self)
            server.should_exit = True


class FastASGIH11Worker(FastASGIWorker):
    """The pure-Python twin on asyncio: runs where the compiled speedups cannot."""

    CONFIG_KWARGS = {"loop": "asyncio", "http": "h11"}
