"""Server: bind, serve, tick, and shut down gracefully on SIGINT/SIGTERM."""
import asyncio
import contextvars
import logging
import os
import random
import signal
import socket
import sys
import threading
import time
from email.utils import formatdate

from .allocator import large_nursery_warning, pypy_nursery_size, tune_malloc
from .lifespan import Lifespan
from .protocols import http_module, new_server_state
from .pypy_jit import tune_jit

logger = logging.getLogger("fastasgi.error")

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)
STARTUP_FAILURE = 3
TICK_SECONDS = 0.1
# Loop turns from a socket's accept() to its protocol's connection_made:
# asyncio's accept runs a task, whose transport schedules the callback.
ACCEPT_TURNS = 3


class Server:
    def __init__(self, config):
        self.config = config
        self.server_state = new_server_state(config)
        self.started = False
        self.should_exit = False
        self.force_exit = False
        self.servers = []
        self.lifespan = None
        self._last_date = 0
        # Called every tick once serving: supervisors and gunicorn use it as a heartbeat.
        self.heartbeat = None
        self.metrics = None  # --metrics: fastasgi.metrics.ServerMetrics
        limit = config.limit_max_requests
        if limit is not None:
            # Jitter staggers the restarts of workers that started together.
            limit += random.randint(0, config.limit_max_requests_jitter or 0)
        self.limit_max_requests = limit

    def run(self, sockets=None):
        """Serve until told to stop; blocks.  Mirrors uvicorn.Server.run."""
        config = self.config
        if sys.version_info >= (3, 12):
            return asyncio.run(self.serve(sockets=sockets), loop_factory=config.loop_factory())
        config.setup_event_loop()
        return asyncio.run(self.serve(sockets=sockets))

    async def serve(self, sockets=None):
        config = self.config
        if tune_malloc():  # per process: forked and spawned workers all come through here
            logger.debug("glibc malloc tuned for serving (FASTASGI_NO_MALLOC_TUNING=1 turns this off).")
        if tune_jit():
            logger.debug("PyPy's JIT trace limit raised for serving (FASTASGI_NO_JIT_TUNING=1 turns this off).")
        if not config.loaded:
            config.load()
        if config.limit_concurrency is not None:
            from .middleware.concurrency import ConcurrencyLimitMiddleware

            app = config.loaded_app
            if isinstance(app, ConcurrencyLimitMiddleware):
                app = app.app  # a Config served again: count this server's connections
            config.loaded_app = ConcurrencyLimitMiddleware(app, config.limit_concurrency, self.server_state,
                                                           config.observer)
        try:
            config.load_ssl()
        except (ValueError, OSError) as exc:  # ssl.SSLError is an OSError
            logger.error("Invalid TLS settings: %s", exc)
            sys.exit(1)
        self.lifespan = Lifespan(config)
        restore = self._install_signal_handlers()
        try:
            logger.info("Started server process [%d]", os.getpid())
            nursery_warning = large_nursery_warning(pypy_nursery_size())  # once the app loaded: it will serve
            if nursery_warning:
                logger.warning(nursery_warning)
            await self.startup(sockets=sockets)
            if self.should_exit:
                return
            await self.main_loop()
            await self.shutdown(sockets=sockets)
            logger.info("Finished server process [%d]", os.getpid())
        finally:
            restore()

    async def startup(self, sockets=None):
        config = self.config
        loop = asyncio.get_running_loop()
        if config.metrics:
            from .metrics import start_server_metrics

            try:  # before the app starts: /readyz says "starting" meanwhile
                self.metrics = start_server_metrics(self)
            except OSError as exc:
                logger.error(exc)
                sys.exit(1)
        self._tick(loop)
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            self.should_exit = True
            return
        # The listening sockets' callbacks run in copies of this context.
        self.server_state.context = contextvars.copy_context()
        module = http_module(config.hot_paths.IMPLEMENTATION)
        create_protocol = module.ProtocolFactory(module.http_protocol_class(loop), config, self.server_state,
                                                 self.lifespan.state, loop)
        tls = config.ssl
        if config.proxy_protocol != "off":
            from .protocols.proxy_protocol import ProxyProtocolFactory

            # The header comes before any TLS bytes: the gate starts TLS after it.
            create_protocol = ProxyProtocolFactory(create_protocol, config, loop)
            tls = None
        try:
            if sockets is not None:
                for sock in sockets:
                    self.servers.append(await loop.create_server(
                        create_protocol, sock=sock, ssl=tls, backlog=config.backlog))
            elif config.fd is not None:
                # A dup, so its family and type are read from the descriptor itself.
                sock = socket.socket(fileno=os.dup(config.fd))
                self.servers.append(await loop.create_server(
                    create_protocol, sock=sock, ssl=tls, backlog=config.backlog))
            elif config.uds is not None:
                mode = 0o666
                if os.path.exists(config.uds):
                    mode = os.stat(config.uds).st_mode
                self.servers.append(await loop.create_unix_server(
                    create_protocol, path=config.uds, ssl=tls, backlog=config.backlog))
                os.chmod(config.uds, mode)
            else:
                self.servers.append(await loop.create_server(
                    create_protocol, host=config.host, port=config.port, ssl=tls, backlog=config.backlog))
        except OSError as exc:
            logger.error(exc)
            await self.lifespan.shutdown()
            sys.exit(1)
        if sockets is None:
            self._log_started()  # a supervisor that bound the sockets has said where
        self.started = True
        if self.metrics is not None:
            self.metrics.serving()

    def _log_started(self):
        config = self.config
        for server in self.servers:
            for sock in server.sockets:
                if sock.family == socket.AF_UNIX:
                    logger.info("fastasgi running on unix socket %s (Press CTRL+C to quit)", sock.getsockname() or config.uds)
                    continue
                host, port = sock.getsockname()[:2]
                if sock.family == socket.AF_INET6:
                    host = f"[{host}]"
                logger.info("fastasgi running on %s://%s:%d (Press CTRL+C to quit)",
                            "https" if config.ssl else "http", host, port)

    async def main_loop(self):
        loop = asyncio.get_running_loop()
        limit = self.limit_max_requests
        if self.heartbeat is not None:
            self.heartbeat()  # serving from now on: a loop blocked by the first request counts as hung
        while not self.should_exit:
            await asyncio.sleep(TICK_SECONDS)
            self._tick(loop)
            if self.heartbeat is not None:
                self.heartbeat()
            if limit is not None and self.server_state.total_requests >= limit:
                logger.info("Maximum request limit of %d exceeded. Terminating process.", limit)
                self.should_exit = True

    def _tick(self, loop):
        """Refresh the clock and date header; expire timed-out connections."""
        state = self.server_state
        now = state.clock = loop.time()
        wall = int(time.time())
        if wall != self._last_date:
            self._last_date = wall
            state.date_line = b"date: " + formatdate(wall, usegmt=True).encode("ascii") + b"\r\n"
        expired = [conn for conn in state.connections if conn.deadline and conn.deadline <= now]
        for conn in expired:
            conn.on_deadline()
        if self.metrics is not None:
            self.metrics.tick(now)

    async def shutdown(self, sockets=None):
        state = self.server_state
        state.shutting_down = True
        if self.metrics is not None:
            self.metrics.draining()  # /readyz: 503 from now on
        for server in self.servers:
            server.close()
        for sock in sockets or ():
            sock.close()
        # Logged once the listening sockets are closed: from this line on, a
        # new connection is refused (a test and a deploy script may rely on it).
        logger.info("Shutting down")
        for conn in list(state.connections):
            conn.shutdown()
        # Connections the listening socket already handed over may still be
        # on their way to connection_made (asyncio's accept takes a task and
        # a callback). They see shutting_down there and shut down themselves;
        # a few loop turns let them arrive before the drain counts them.
        for _ in range(ACCEPT_TURNS):
            await asyncio.sleep(0)
        try:
            await asyncio.wait_for(self._drain(), timeout=self.config.timeout_graceful_shutdown)
        except asyncio.TimeoutError:
            logger.error("Cancel %d running task(s), timeout graceful shutdown exceeded", len(state.tasks))
        if state.tasks or state.connections:
            for task in list(state.tasks):
                task.cancel()
            for conn in list(state.connections):
                conn.transport.abort()
            await asyncio.sleep(0)
        if not self.force_exit:
            await self.lifespan.shutdown()
        if self.metrics is not None:
            self.metrics.close()

    async def _drain(self):
        """Wait until every connection closed and every app task returned."""
        state = self.server_state
        loop = asyncio.get_running_loop()
        if state.connections and not self.force_exit:
            logger.info("Waiting for connections to close. (CTRL+C to force quit)")
        # The heartbeat goes on while draining: a slow drain is not a hung worker.
        while state.connections and not self.force_exit:
            await asyncio.sleep(TICK_SECONDS)
            self._tick(loop)
            if self.heartbeat is not None:
                self.heartbeat()
        if state.tasks and not self.force_exit:
            logger.info("Waiting for background tasks to complete. (CTRL+C to force quit)")
        while state.tasks and not self.force_exit:
            await asyncio.sleep(TICK_SECONDS)
            if self.heartbeat is not None:
                self.heartbeat()

    def _install_signal_handlers(self):
        if threading.current_thread() is not threading.main_thread():
            return lambda: None  # signals only reach the main thread
        loop = asyncio.get_running_loop()
        try:
            for sig in HANDLED_SIGNALS:
                loop.add_signal_handler(sig, self.handle_exit, sig, None)
        except NotImplementedError:  # Windows
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
            return lambda: [signal.signal(sig, handler) for sig, handler in previous.items()]

        def restore():
            for sig in HANDLED_SIGNALS:
                loop.remove_signal_handler(sig)
        return restore

    def handle_exit(self, sig, frame):
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        else:
            self.should_exit = True
