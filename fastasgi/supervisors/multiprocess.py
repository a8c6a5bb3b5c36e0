"""--workers N: a supervisor process and N workers sharing one listening socket.

The supervisor binds the socket, forks the workers (spawns them where fork
is missing) and then only watches:

- a worker that exits is replaced; one that dies before it ever served
  means the app or its settings are broken, and the supervisor stops;
- a worker whose event loop stops ticking for --timeout-worker-healthcheck
  seconds is killed and replaced (each worker stamps a shared heartbeat
  from its server tick, so a blocked loop is noticed, not just a dead pid);
- SIGTERM / SIGINT: every worker drains gracefully, then the supervisor exits;
- SIGHUP: a rolling restart.  Each new worker must be serving before the
  old one it replaces is told to drain; the socket stays open throughout,
  so no connection is refused;
- SIGTTIN / SIGTTOU: one worker more / fewer.
"""
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time

from ..config import STARTUP_FAILURE
from ..server import Server
from . import stop_if_orphaned

logger = logging.getLogger("fastasgi.error")

POLL_SECONDS = 0.1
SUPERVISOR_SIGNALS = [getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGTTIN", "SIGTTOU")
                      if hasattr(signal, name)]


def _context():
    # Fork on Linux: workers start in milliseconds and inherit the socket
    # (and --fd) as is; the supervisor never imports the app, so each worker
    # imports it fresh.  Spawn elsewhere (macOS frameworks are not fork-safe).
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


class Worker:
    """One worker process and its heartbeat (0.0 until its server is serving)."""

    def __init__(self, config, sockets, context):
        self.heartbeat = context.Value("d", 0.0, lock=False)
        spawned = context.get_start_method() != "fork"
        self.process = context.Process(target=run_worker, daemon=False,
                                       args=(config, sockets, self.heartbeat, os.getpid(), spawned))
        self.retiring = False  # told to drain during a rolling restart / scale down
        self.started_at = None

    def start(self):
        # Block the supervisor's signals across the fork: the child unblocks
        # them once its own handlers are in place, so none is lost or misrouted.
        masked = hasattr(signal, "pthread_sigmask")
        if masked:
            signal.pthread_sigmask(signal.SIG_BLOCK, SUPERVISOR_SIGNALS)
        try:
            self.process.start()
        finally:
            if masked:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, SUPERVISOR_SIGNALS)
        self.started_at = time.monotonic()

    @property
    def pid(self):
        return self.process.pid

    @property
    def serving(self):
        return self.heartbeat.value > 0.0

    def stalled(self, timeout):
        """Serving, but its loop has not ticked for `timeout` seconds."""
        last = self.heartbeat.value
        return last > 0.0 and time.monotonic() - last > timeout

    def terminate(self):
        if self.process.exitcode is None:
            try:
                os.kill(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def kill(self):
        if self.process.exitcode is None:
            self.process.kill()


def run_worker(config, sockets, heartbeat, supervisor_pid, spawned):
    """The worker process: serve on the shared sockets, stamping the heartbeat."""
    for sig in SUPERVISOR_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)  # not the supervisor's handlers (fork copies them)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, SUPERVISOR_SIGNALS)  # blocked across the fork
    if spawned:
        config.configure_logging()  # a spawned worker starts with no logging set up
    server = Server(config)

    def beat():
        heartbeat.value = time.monotonic()
        stop_if_orphaned(server, supervisor_pid)

    server.heartbeat = beat
    server.run(sockets=sockets)
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)


class Multiprocess:
    def __init__(self, config, sockets):
        self.config = config
        self.sockets = sockets
        self.context = _context()
        self.workers_wanted = config.workers
        self.workers = []
        self.should_exit = threading.Event()
        self.exit_code = 0
        self.signals = []
        self.restart_queue = []  # old workers still to be replaced by a rolling restart
        self.replacement = None  # (new worker, old worker) while a restart step is running
        self.metrics = None  # --metrics: the listener summing the workers' figures

    # -- signals: handlers only queue; the loop acts ----------------------
    def _on_signal(self, sig, frame):
        self.signals.append(sig)
        if sig in (signal.SIGINT, signal.SIGTERM):
            self.should_exit.set()  # wake the loop now

    def _handle_signals(self):
        while self.signals:
            sig = self.signals.pop(0)
            if sig in (signal.SIGINT, signal.SIGTERM):
                logger.info("Received %s, exiting.", signal.Signals(sig).name)
            elif sig == getattr(signal, "SIGHUP", None):
                logger.info("Received SIGHUP, restarting processes.")
                self.restart_queue = [w for w in self.workers if not w.retiring]
            elif sig == getattr(signal, "SIGTTIN", None):
                logger.info("Received SIGTTIN, increasing the number of processes.")
                self.workers_wanted += 1
            elif sig == getattr(signal, "SIGTTOU", None):
                if self.workers_wanted <= 1:
                    logger.info("Already reached one process, cannot decrease the number of processes anymore.")
                else:
                    logger.info("Received SIGTTOU, decreasing number of processes.")
                    self.workers_wanted -= 1

    # -- the supervisor loop ----------------------------------------------
    def run(self):
        logger.info("Started parent process [%d]", os.getpid())
        previous = {sig: signal.signal(sig, self._on_signal) for sig in SUPERVISOR_SIGNALS}
        if self.config.metrics:
            from ..metrics import SupervisorMetrics

            try:  # before the first worker starts: they read where to write their figures
                self.metrics = SupervisorMetrics(self)
            except OSError as exc:
                logger.error(exc)
                return 1
        try:
            while not self.should_exit.is_set():
                self._handle_signals()
                self._reap()
                self._scale()
                self._rolling_restart()
                self.should_exit.wait(POLL_SECONDS)
            self._handle_signals()
            self._stop_all()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if self.metrics is not None:
                self.metrics.close()
        logger.info("Stopping parent process [%d]", os.getpid())
        return self.exit_code

    def _spawn(self):
        worker = Worker(self.config, self.sockets, self.context)
        worker.start()
        return worker

    def _reap(self):
        """Replace dead and hung workers; stop if a worker cannot start at all."""
        timeout = self.config.timeout_worker_healthcheck
        for worker in list(self.workers):
            if worker.process.is_alive() and not worker.stalled(timeout):
                continue
            if worker.process.is_alive():
                logger.error("Child process [%d] did not respond for %s seconds: killing it.", worker.pid, timeout)
                worker.kill()
            worker.process.join()
            self.workers.remove(worker)
            if worker in self.restart_queue:
                self.restart_queue.remove(worker)
            if worker.retiring:
                continue  # it drained and left, as asked
            if not worker.serving and worker.process.exitcode > 0:
                # It exited on its own before serving (bad app, TLS or socket):
                # every replacement would fail the same way.
                logger.error("Child process [%d] failed to start, stopping the parent process.", worker.pid)
                self.exit_code = STARTUP_FAILURE
                self.should_exit.set()
                return
            logger.info("Child process [%d] died", worker.pid)
            if self.metrics is not None:
                self.metrics.worker_replaced()

    def _active(self):
        return [w for w in self.workers if not w.retiring]

    def _scale(self):
        if self.should_exit.is_set():
            return
        active = self._active()
        for _ in range(self.workers_wanted - len(active)):
            self.workers.append(self._spawn())
        for worker in active[self.workers_wanted:]:
            self._retire(worker)

    def _retire(self, worker):
        worker.retiring = True
        worker.terminate()
        logger.info("Terminated child process [%d]", worker.pid)

    def _rolling_restart(self):
        """One step at a time: a new worker serving first, then the old one drains."""
        if self.replacement is not None:
            new, old = self.replacement
            if new.serving:
                self.replacement = None
                new.retiring = False
                self._retire(old)
            elif not new.process.is_alive() or time.monotonic() - new.started_at > self.config.timeout_worker_healthcheck:
                self.replacement = None
                new.retiring = True
                new.kill()
                logger.error("New child process [%d] was not ready in time; keeping worker [%d] "
                             "and aborting the restart.", new.pid, old.pid)
                self.restart_queue = []
            return
        while self.restart_queue and not self.should_exit.is_set():
            old = self.restart_queue.pop(0)
            if old in self.workers and not old.retiring:
                new = Worker(self.config, self.sockets, self.context)
                # Count the new worker as retiring until it takes over, so _scale keeps N.
                new.retiring = True
                new.start()
                self.workers.append(new)
                self.replacement = (new, old)
                return

    def _stop_all(self):
        """Every worker drains (SIGTERM); a second SIGINT/SIGTERM kills them."""
        for worker in self.workers:
            worker.terminate()
        for worker in self.workers:
            logger.info("Waiting for child process [%d]", worker.pid)
        while any(worker.process.is_alive() for worker in self.workers):
            if any(sig in (signal.SIGINT, signal.SIGTERM) for sig in self.signals):
                self.signals.clear()
                logger.info("Forced exit: killing child processes.")
                for worker in self.workers:
                    worker.kill()
            time.sleep(POLL_SECONDS)
        for worker in self.workers:
            worker.process.join()
