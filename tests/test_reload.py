"""--reload: real files are changed and the served app follows."""
import os
import textwrap
import time

import pytest

from .process_utils import alive, get, started_pids, wait_until

pytestmark = pytest.mark.timeout(45)

APP_SOURCE = textwrap.dedent("""
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body = {body!r}
        await send({{"type": "http.response.start", "status": 200, "headers": []}})
        await send({{"type": "http.response.body", "body": body}})
""")


@pytest.fixture(params=["watchfiles", "stat"])
def watcher(request, tmp_path):
    """The environment that picks the watcher: watchfiles, or the polling fallback."""
    if request.param == "watchfiles":
        pytest.importorskip("watchfiles")
        return request.param, {}
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "watchfiles.py").write_text("raise ImportError('hidden from this test')\n")
    return request.param, {"PYTHONPATH": str(shim)}


def write_app(directory, body):
    path = directory / "reloadapp.py"
    path.write_text(APP_SOURCE.format(body=body))
    return path


def body_is(server, expected):
    def check():
        try:
            return get(server.url, timeout=2).content == expected
        except Exception:
            return False
    return wait_until(check, timeout=15, interval=0.1)


def test_reload_on_change(start_server, tmp_path, watcher, implementation):
    kind, env = watcher
    project = tmp_path / "project"
    project.mkdir()
    write_app(project, b"first")
    server = start_server("reloadapp:app", implementation, "--reload", "--reload-dir", str(project),
                          "--reload-delay", "0.1", cwd=str(project), env=env)
    assert body_is(server, b"first")
    expected_name = "WatchFiles" if kind == "watchfiles" else "StatReload"
    assert f"Started reloader process [{server.process.pid}] using {expected_name}" in server.log
    time.sleep(0.3)  # a distinct mtime for the polling watcher
    write_app(project, b"second")
    assert body_is(server, b"second"), server.log
    assert server.wait_for_log(f"{expected_name} detected changes in 'reloadapp.py'. Reloading...")
    assert server.stop() == 0
    assert "Stopping reloader process" in server.log


def test_excluded_and_included_patterns(start_server, tmp_path, watcher, implementation):
    kind, env = watcher
    project = tmp_path / "project"
    project.mkdir()
    write_app(project, b"v1")
    (project / "ignored.py").write_text("x = 1\n")
    (project / "page.html").write_text("<p>1</p>\n")
    server = start_server("reloadapp:app", implementation, "--reload", "--reload-dir", str(project),
                          "--reload-delay", "0.1", "--reload-exclude", "ignored.py",
                          "--reload-include", "*.html", cwd=str(project), env=env)
    assert body_is(server, b"v1")
    time.sleep(0.3)
    (project / "ignored.py").write_text("x = 2\n")
    time.sleep(1.0)
    assert "Reloading" not in server.log
    (project / "page.html").write_text("<p>2</p>\n")
    assert server.wait_for_log("detected changes in 'page.html'. Reloading...", timeout=10), server.log


def test_reload_ignores_workers_with_a_warning(start_server, tmp_path, implementation):
    project = tmp_path / "project"
    project.mkdir()
    write_app(project, b"only one")
    server = start_server("reloadapp:app", implementation, "--reload", "--workers", "2",
                          "--reload-dir", str(project), cwd=str(project))
    assert body_is(server, b"only one")
    assert '"workers" flag is ignored when reloading is enabled.' in server.log
    assert "Started parent process" not in server.log


def test_child_stops_when_the_reloader_is_killed(start_server, tmp_path, implementation):
    project = tmp_path / "project"
    project.mkdir()
    write_app(project, b"orphan?")
    server = start_server("reloadapp:app", implementation, "--reload", "--reload-dir", str(project), cwd=str(project))
    assert body_is(server, b"orphan?")
    child = started_pids(server)[0]
    server.process.kill()  # no chance to stop its child
    server.process.wait()
    assert wait_until(lambda: not alive(child)), server.log
    assert f"Supervisor process [{server.process.pid}] is gone: shutting down." in server.log


def test_reload_dir_that_is_not_watched_warns(start_server, tmp_path, implementation):
    project = tmp_path / "project"
    project.mkdir()
    write_app(project, b"x")
    server = start_server("reloadapp:app", implementation, "--reload-dir", str(project), cwd=str(project))
    assert body_is(server, b"x")
    assert "Current configuration will not reload" in server.log
    assert os.path.exists(project / "reloadapp.py")


def test_broken_code_waits_for_the_fix(start_server, tmp_path, implementation):
    project = tmp_path / "project"
    project.mkdir()
    write_app(project, b"good")
    server = start_server("reloadapp:app", implementation, "--reload", "--reload-dir", str(project),
                          "--reload-delay", "0.1", cwd=str(project))
    assert body_is(server, b"good")
    time.sleep(0.3)
    (project / "reloadapp.py").write_text("this is not python\n")
    assert server.wait_for_log("Error loading ASGI app", timeout=10), server.log
    assert server.process.poll() is None  # the reloader waits for the next change
    time.sleep(0.3)
    write_app(project, b"fixed")
    assert body_is(server, b"fixed"), server.log


def test_watch_patterns(tmp_path, monkeypatch):
    from fastasgi.supervisors.watch import FileFilter, resolve_watch

    (tmp_path / "src" / "generated").mkdir(parents=True)
    (tmp_path / ".venv").mkdir()
    monkeypatch.chdir(tmp_path)
    dirs, includes, excludes, excluded_dirs = resolve_watch(
        [str(tmp_path), str(tmp_path / "src")], ["*.html", ".env"], ["src/generated", "*_test.py"])
    assert dirs == [tmp_path.resolve()]  # nested directories collapse into the parent
    check = FileFilter(dirs, includes, excludes, excluded_dirs)
    root = tmp_path.resolve()
    assert check(root / "app.py")
    assert check(root / "src" / "page.html")
    assert check(root / ".env")  # an explicit include beats the default '.*' exclude
    assert not check(root / "src" / "generated" / "models.py")  # an excluded directory
    assert not check(root / "app_test.py")
    assert not check(root / ".venv" / "lib" / "site.py")  # inside a hidden directory
    assert not check(root / "notes.txt")
    assert not check(root / "module.pyc")
