"""Server: bind, serve, tick, and shut down gracefully on SIGINT/SIGTERM.

As uvicorn's Server: serve() captures SIGINT and SIGTERM while it runs
(capture_signals) and raises them again once it has shut down, so a
program that serves beside other work stops as it would without the
server, and a process stopped by SIGTERM reports it in its exit status.
"""
import asyncio
import contextlib
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
from .config import STARTUP_FAILURE
from .lifespan import Lifespan
from .protocols import http_module, new_server_state, state_module
from .protocols.transport import bind_tcp, own_transport_enabled, takes_socket
from .pypy_jit import tune_jit

logger = logging.getLogger("fastasgi.error")

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)
TICK_SECONDS = 0.1
TICKS_PER_DAY = 864000  # on_tick's counter wraps here, as uvicorn's
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
        self.listener_class = None  # fastasgi's own accept path (protocols/transport.py), when it serves
        self.lifespan = None
        self._last_date = 0
        # Called every tick once serving: supervisors and gunicorn use it as a heartbeat.
        self.heartbeat = None
        self._captured_signals = []  # what stopped serve(), to raise again after it
        self._last_notified = 0.0  # for Config.callback_notify
        self.metrics = None  # --metrics: fastasgi.metrics.ServerMetrics
        limit = config.limit_max_requests
        if limit is not None:
            # Jitter staggers the restarts of workers that started together.
            limit += random.randint(0, config.limit_max_requests_jitter or 0)
        self.limit_max_requests = limit

    def run(self, sockets=None):
        """Serve until told to stop; blocks.  Mirrors uvicorn.Server.run."""
        return asyncio_run(self.serve(sockets=sockets), self.config.get_loop_factory())

    async def serve(self, sockets=None):
        """Serve until SIGINT/SIGTERM (or should_exit); then raise the signal again."""
        with self.capture_signals():
            await self._serve(sockets)

    async def _serve(self, sockets=None):
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
        except (ValueError, TypeError, OSError) as exc:  # ssl.SSLError is an OSError
            logger.error("Invalid TLS settings: %s", exc)
            sys.exit(STARTUP_FAILURE)
        self.lifespan = Lifespan(config)
        logger.info("Started server process [%d]", os.getpid())
        nursery_warning = large_nursery_warning(pypy_nursery_size())  # once the app loaded: it will serve
        if nursery_warning:
            logger.warning(nursery_warning)
        await self.startup(sockets=sockets)
        if not self.should_exit:
            await self.main_loop()
        if self.started:
            await self.shutdown(sockets=sockets)
            logger.info("Finished server process [%d]", os.getpid())

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
            sys.exit(STARTUP_FAILURE)  # as uvicorn: serve() raises SystemExit(3)
        # The listening sockets' callbacks run in copies of this context.
        self.server_state.context = contextvars.copy_context()
        if config.http_protocol_class is not None:
            create_protocol = self._custom_protocol_factory(loop)
        else:
            implementation = config.hot_paths.IMPLEMENTATION
            protocol_class = http_module(implementation).http_protocol_class(loop)
            create_protocol = state_module(implementation).ProtocolFactory(protocol_class, config, self.server_state,
                                                                           self.lifespan.state, loop)
        tls = config.ssl
        if config.proxy_protocol != "off":
            from .protocols.proxy_protocol import ProxyProtocolFactory

            # The header comes before any TLS bytes: the gate starts TLS after it.
            create_protocol = ProxyProtocolFactory(create_protocol, config, loop)
            tls = None
        # Plain TCP on asyncio's loops goes through fastasgi's own accept path and transport
        # (protocols/transport.py); TLS (PROXY protocol's too), Unix sockets, a custom --http class
        # keep the loop's, and so does uvloop unless FASTASGI_TRANSPORT says otherwise.
        own = config.ssl is None and config.http_protocol_class is None and own_transport_enabled(loop)
        # The listener (and its transports) of the same stack as the protocol: compiled or pure.
        self.listener_class = config.hot_paths.transport.TcpListener if own else None
        try:
            if sockets is not None:
                for sock in sockets:
                    await self._listen(loop, create_protocol, own, tls, sock=sock)
            elif config.fd is not None:
                # A dup, so its family and type are read from the descriptor itself.
                sock = socket.socket(fileno=os.dup(config.fd))
                await self._listen(loop, create_protocol, own, tls, sock=sock)
            elif config.uds is not None:
                mode = 0o666
                if os.path.exists(config.uds):
                    mode = os.stat(config.uds).st_mode
                self.servers.append(await loop.create_unix_server(
                    create_protocol, path=config.uds, ssl=tls, backlog=config.backlog))
                os.chmod(config.uds, mode)
            elif own:
                listener = self.listener_class(loop, bind_tcp(config.host, config.port, config.backlog),
                                               create_protocol, config.backlog)
                listener.start()
                self.servers.append(listener)
            else:
                self.servers.append(await loop.create_server(
                    create_protocol, host=config.host, port=config.port, ssl=tls, backlog=config.backlog))
        except OSError as exc:
            logger.error(exc)
            await self.lifespan.shutdown()
            sys.exit(STARTUP_FAILURE)
        self._share_local_address(create_protocol)
        if sockets is None:
            self._log_started()  # a supervisor that bound the sockets has said where
        self.started = True
        if self.metrics is not None:
            self.metrics.serving()

    async def _listen(self, loop, create_protocol, own, tls, sock):
        """Serve connections accepted on the bound socket `sock`."""
        if own and takes_socket(sock):
            listener = self.listener_class(loop, [sock], create_protocol, self.config.backlog)
            listener.start()
            self.servers.append(listener)
        else:
            self.servers.append(await loop.create_server(create_protocol, sock=sock, ssl=tls,
                                                         backlog=self.config.backlog))

    def _share_local_address(self, create_protocol):
        """A server on one TCP address tells its connections that address
        once (ConnectionSettings.local_address), instead of each asking its
        transport.  Not behind the PROXY protocol: its header names our end."""
        settings = getattr(create_protocol, "settings", None)
        listening = [sock for server in self.servers for sock in server.sockets]
        if settings is None or len(listening) != 1 or not takes_socket(listening[0]):
            return
        address = listening[0].getsockname()
        if address[0] not in ("0.0.0.0", "::"):  # bound to every address: each connection's own differs
            settings.local_address = (str(address[0]), int(address[1]))

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
        # The first tick's heartbeat says: serving from now on (a loop blocked
        # by the first request counts as hung).
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % TICKS_PER_DAY
            await asyncio.sleep(TICK_SECONDS)

    async def on_tick(self, counter):
        """Every TICK_SECONDS while serving; True once the server should stop.

        As uvicorn's: a subclass may override it (calling this one) to stop
        the server on a condition of its own.
        """
        config = self.config
        self._tick(asyncio.get_running_loop())
        if self.heartbeat is not None:
            self.heartbeat()
        if config.callback_notify is not None:
            now = time.monotonic()
            if now - self._last_notified > config.timeout_notify:
                self._last_notified = now
                await config.callback_notify()
        if self.should_exit:
            return True
        limit = self.limit_max_requests
        if limit is not None and self.server_state.total_requests >= limit:
            logger.info("Maximum request limit of %d exceeded. Terminating process.", limit)
            self.should_exit = True
            return True
        return False

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
        if sockets is None and self.config.uds:
            # The socket file is ours: leave no stale one behind, even when
            # a re-raised SIGTERM ends the process before run() returns.
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.config.uds)
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
            await asyncio.sleep(0)  # a cancelled app not yet answering sends its 500 before the abort
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

    def _custom_protocol_factory(self, loop):
        """--http module:Protocol: the class is called as uvicorn calls its
        protocol classes, with fastasgi's Config and server state."""
        protocol_class = self.config.http_protocol_class
        config, server_state, app_state = self.config, self.server_state, self.lifespan.state

        def create_protocol():
            return protocol_class(config=config, server_state=server_state, app_state=app_state, _loop=loop)
        return create_protocol

    @contextlib.contextmanager
    def capture_signals(self):
        """Handle SIGINT/SIGTERM as a graceful exit while serving, then restore
        the handlers there were and raise each captured signal again through
        them (last first, as uvicorn does)."""
        if threading.current_thread() is not threading.main_thread():
            yield  # signals only reach the main thread
            return
        # signal.signal, not loop.add_signal_handler: the handlers there were
        # can be put back exactly.
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self._captured_signals:
            _flush_logs()  # a re-raised SIGTERM ends the process on the spot
        for captured in reversed(self._captured_signals):
            signal.raise_signal(captured)

    def handle_exit(self, sig, frame):
        self._captured_signals.append(sig)
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        else:
            self.should_exit = True


def _flush_logs():
    """Write what logging handlers hold (the access log batches a loop turn's lines)."""
    loggers = [logging.getLogger()] + [logger for logger in logging.Logger.manager.loggerDict.values()
                                       if isinstance(logger, logging.Logger)]
    for logger in loggers:
        for handler in logger.handlers:
            try:
                handler.flush()
            except Exception:  # noqa: BLE001 - a broken stream must not keep the signal from ending us
                pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - as above
            pass


def asyncio_run(main, loop_factory):
    """asyncio.run(main) on a loop from `loop_factory` (None: asyncio's default)."""
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(main)
    loop = (loop_factory or asyncio.new_event_loop)()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(main)
    finally:
        try:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
