"""--reload: serve from a child process and restart it when files change.

The supervisor binds the socket once and keeps it, so clients queue in the
kernel while the child restarts.  What it watches, and how, is in watch.py.
The child is spawned, not forked, so every restart imports the app's code
afresh.
"""
import logging
import multiprocessing
import os
import signal
import threading

from ..server import Server
from . import stop_if_orphaned
from .watch import FileFilter, StatWatcher, WatchFilesWatcher

logger = logging.getLogger("fastasgi.error")

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run_child(config, sockets, supervisor_pid):
    """The spawned child: set logging up again (nothing is inherited), then
    serve until stopped, or until the reloader is gone."""
    config.configure_logging()
    server = Server(config)
    server.heartbeat = lambda: stop_if_orphaned(server, supervisor_pid)
    try:
        server.run(sockets=sockets)
    except KeyboardInterrupt:
        pass  # Ctrl-C reached the whole group: the reloader stops too, no traceback needed


class ChangeReload:
    def __init__(self, config, sockets):
        self.config = config
        self.sockets = sockets
        self.should_exit = threading.Event()
        self.context = multiprocessing.get_context("spawn")
        self.process = None
        file_filter = FileFilter(config.reload_dirs, config.reload_includes, config.reload_excludes,
                                 config.reload_dirs_excludes)
        try:
            self.watcher = WatchFilesWatcher(config.reload_dirs, file_filter, config.reload_delay, self.should_exit)
        except ImportError:
            self.watcher = StatWatcher(config.reload_dirs, file_filter, config.reload_delay, self.should_exit)

    def _on_signal(self, sig, frame):
        self.should_exit.set()

    def run(self):
        logger.info("Started reloader process [%d] using %s", os.getpid(), self.watcher.name)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in HANDLED_SIGNALS}
        try:
            self._start()
            for changed in self.watcher:
                if self.should_exit.is_set():
                    break
                if changed:
                    shown = ", ".join(f"'{os.path.relpath(path)}'" for path in changed)
                    logger.warning("%s detected changes in %s. Reloading...", self.watcher.name, shown)
                    self._stop()
                    self._start()
            self._stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        logger.info("Stopping reloader process [%d]", os.getpid())

    def _start(self):
        self.process = self.context.Process(target=run_child, args=(self.config, self.sockets, os.getpid()))
        self.process.start()

    def _stop(self):
        if self.process is not None and self.process.is_alive():
            os.kill(self.process.pid, signal.SIGTERM)
        if self.process is not None:
            self.process.join()
