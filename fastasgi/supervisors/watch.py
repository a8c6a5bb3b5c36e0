"""What --reload watches: the directories and globs to watch, and the watchers.

The filter and the two watchers (watchfiles when it is installed, polling
file modification times otherwise) honour --reload-dir, --reload-include,
--reload-exclude and wait --reload-delay seconds between checks.  Config
resolves the watch set from here without importing the reloader (which
imports the server).
"""
import fnmatch
import logging
import os
from pathlib import Path

logger = logging.getLogger("fastasgi.error")

DEFAULT_INCLUDES = ["*.py"]
DEFAULT_EXCLUDES = [".*", ".py[cod]", ".sw.*", "~*"]


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
