"""--reload: serve from a child process and restart it when files change.

The supervisor binds the socket once and keeps it, so clients queue in the
kernel while the child restarts.  Changes come from watchfiles when it is
installed (fastasgi[standard]) and from polling file modification times
otherwise; both honour --reload-dir, --reload-include, --reload-exclude and
wait --reload-delay seconds between checks.  The child is spawned, not
forked, so every restart imports the app's code afresh.
"""
import fnmatch
import logging
import multiprocessing
import os
import signal
import threading
from pathlib import Path

from ..server import Server
from . import stop_if_orphaned

logger = logging.getLogger("fastasgi.error")

DEFAULT_INCLUDES = ["*.py"]
DEFAULT_EXCLUDES = [".*", ".py[cod]", ".sw.*", "~*"]
HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def resolve_watch(dirs, includes, excludes):
    """(directories to watch, include patterns, exclude patterns, excluded directories).

    A pattern that names existing directories adds them to (or removes them
    from) the watched set; nested directories collapse into their parent.
    """
    dirs = [dirs] if isinstance(dirs, (str, os.PathLike)) else list(dirs or [])
    includes = [includes] if isinstance(includes, str) else list(includes or [])
    excludes = [excludes] if isinstance(excludes, str) else list(excludes or [])
    watched = {Path(d).resolve() for d in dirs if Path(d).is_dir()}
    watched |= _dirs_matching(includes)
    excluded_dirs = sorted(_dirs_matching(excludes))
    for excluded in excluded_dirs:
        watched = {d for d in watched if d != excluded and excluded not in d.parents}
    if not watched:
        if dirs:
            logger.warning("Provided reload directories %s did not contain valid directories, "
                           "watching current working directory.", dirs)
        watched = {Path.cwd()}
    watched = sorted(d for d in watched if not any(p in watched for p in d.parents))
    # A user's include overrides a default exclude, and the other way round.
    includes, excludes = ([p for p in DEFAULT_INCLUDES if p not in excludes] + includes,
                          [p for p in DEFAULT_EXCLUDES if p not in includes] + excludes)
    logger.info("Will watch for changes in these directories: %s", [str(d) for d in watched])
    return watched, includes, excludes, excluded_dirs


def _dirs_matching(patterns):
    found = set()
    for pattern in patterns:
        if pattern == ".*":
            continue  # means hidden files, not every hidden directory
        path = Path(pattern)
        if path.is_dir():
            found.add(path.resolve())
        else:
            found |= {match.resolve() for match in Path.cwd().glob(pattern) if match.is_dir()}
    return found


def _is_glob(pattern):
    return any(c in pattern for c in "*?[")


class FileFilter:
    """Does a change to this path matter?  Globs match the file's name, its path
    below the watched directory, or (for excludes) a directory on the way."""

    def __init__(self, roots, includes, excludes, excluded_dirs=()):
        self.roots = [Path(root) for root in roots]
        self.includes = includes
        self.excludes = excludes
        self.excluded_dirs = [Path(directory) for directory in excluded_dirs]

    def __call__(self, path):
        path = Path(path)
        if any(directory in path.parents for directory in self.excluded_dirs):
            return False
        path = self._relative(path)
        if any(str(path).endswith(pattern) for pattern in self.includes if not _is_glob(pattern)):
            return True  # a file named outright (--reload-include .env) beats every exclude
        if any(self._matches(path, pattern) for pattern in self.excludes):
            return False
        if any(fnmatch.fnmatch(part, pattern) for part in path.parts[:-1] for pattern in self.excludes):
            return False  # inside an excluded directory (.git, .venv, build, ...)
        return any(self._matches(path, pattern) for pattern in self.includes)

    def _relative(self, path):
        for root in self.roots:
            try:
                return path.relative_to(root)
            except ValueError:
                continue
        return path

    @staticmethod
    def _matches(path, pattern):
        return fnmatch.fnmatch(path.name, pattern) or path.match(pattern)


class WatchFilesWatcher:
    name = "WatchFiles"

    def __init__(self, dirs, file_filter, delay, stop_event):
        import watchfiles

        self.changes = watchfiles.watch(
            *dirs, watch_filter=lambda change, path: file_filter(path), stop_event=stop_event,
            yield_on_timeout=True, rust_timeout=max(int(delay * 1000), 50), raise_interrupt=False,
        )

    def __iter__(self):
        for changes in self.changes:
            yield sorted({path for _, path in changes})


class StatWatcher:
    """Polls modification times: no dependency, fine for a development tree."""

    name = "StatReload"

    def __init__(self, dirs, file_filter, delay, stop_event):
        self.dirs = dirs
        self.filter = file_filter
        self.delay = delay
        self.stop_event = stop_event
        self.mtimes = self._scan()

    def _scan(self):
        mtimes = {}
        for directory in self.dirs:
            for root, subdirs, files in os.walk(directory):
                # Never descend into excluded directories (.git, .venv): polling must stay cheap.
                subdirs[:] = [d for d in subdirs if d != "__pycache__"
                              and not any(fnmatch.fnmatch(d, p) for p in self.filter.excludes)
                              and Path(root, d) not in self.filter.excluded_dirs]
                for name in files:
                    path = os.path.join(root, name)
                    if self.filter(path):
                        try:
                            mtimes[path] = os.stat(path).st_mtime_ns
                        except OSError:
                            pass  # removed while we looked
        return mtimes

    def __iter__(self):
        while not self.stop_event.wait(self.delay):
            mtimes = self._scan()
            changed = sorted(path for path in set(mtimes) | set(self.mtimes)
                             if mtimes.get(path) != self.mtimes.get(path))
            self.mtimes = mtimes
            yield changed


def run_child(config, sockets, supervisor_pid):
    """The spawned child: set logging up again (nothing is inherited), then
    serve until stopped, or until the reloader is gone."""
    config.configure_logging()
    server = Server(config)
    server.heartbeat = lambda: stop_if_orphaned(server, supervisor_pid)
    server.run(sockets=sockets)


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
