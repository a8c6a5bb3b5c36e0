"""Every code example in the README and docs/ runs, as a reader would run it.

Each fenced block is one example, handled by its language and by the HTML
comment on the line before it, if any (invisible on the site and on GitHub):

- a block with a title (```python title="main.py"```) is a file: it is
  written into the example's working folder (Python is also compiled);
- python, bash: run, and must exit 0.  The page's earlier `run` blocks run
  first, in order, as a reader who follows the page would have run them;
- `<!-- test: serve -->`: each command of the block (each line; for
  python, the whole block) must start a server that answers GET / with
  200, then stop on SIGTERM.  Ports 8000/8080/8443 become a free loopback
  port and 0.0.0.0 becomes 127.0.0.1; these run on both implementations;
- dockerfile, and yaml with a container `command` that runs fastasgi: that
  command is served as above; yaml, json and ini must parse;
- nginx, haproxy: the configuration is checked by nginx -t / haproxy -c;
- console: each `$ command` runs, and each line of its output must begin
  with the words the example shows before its first number (versions vary);
- text: a listing, not an example;
- `<!-- test: skip REASON -->`: not run here, and REASON says why.

A block in any other language, or a skip without a reason, fails: nothing
in the docs goes untested without saying so.  `--8<-- "path"` lines (the
snippets MkDocs includes) are replaced by the file they name.
"""
import configparser
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from .conftest import ROOT
from .process_utils import free_port, get, wait_until

PAGES = sorted(
    os.path.relpath(os.path.join(folder, name), ROOT)
    for folder, _, names in os.walk(os.path.join(ROOT, "docs"))
    for name in names if name.endswith(".md")
) + ["README.md"]
FENCE = re.compile(r"^(```+|~~~+)\s*(\S*)(.*)$")
TITLE = re.compile(r'title="([^"]+)"')
DIRECTIVE = re.compile(r"^<!--\s*test:\s*(.*?)\s*-->$")
SNIPPET = re.compile(r'^--8<--\s+"([^"]+)"\s*$')
EXAMPLE_PORTS = re.compile(r"\b(8000|8080|8443)\b")
RUNNABLE = {"python", "bash", "sh", "shell"}
CONFIGS = {"nginx", "haproxy"}
START_TIMEOUT = 20


@dataclass
class Example:
    page: str
    line: int
    language: str
    code: str
    title: str = None
    directive: str = ""
    earlier: list = field(default_factory=list)  # the page's run blocks above this one
    files: dict = field(default_factory=dict)  # the page's titled blocks, by name

    @property
    def id(self):
        return f"{self.page}:{self.line}:{self.language or 'text'}"

    @property
    def kind(self):
        if self.title:
            return "file"
        for kind in ("skip", "serve", "run"):
            if self.directive.startswith(kind):
                return kind
        if self.language == "console":
            return "console"
        if self.language in RUNNABLE:
            return "run"
        if self.language in CONFIGS or self.language in {"dockerfile", "yaml", "json", "ini", "text"}:
            return self.language
        return "unknown"


def read_examples(page):
    lines = open(os.path.join(ROOT, page), encoding="utf-8").read().splitlines()
    examples, index = [], 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        fence, language, rest = match.groups()
        end = index + 1
        while end < len(lines) and not lines[end].startswith(fence):
            end += 1
        code = "\n".join(resolve_snippet(line) for line in lines[index + 1:end]) + "\n"
        before = lines[index - 1].strip() if index else ""
        directive = DIRECTIVE.match(before)
        title = TITLE.search(rest)
        examples.append(Example(page, index + 1, language.lower(), code, title and title.group(1),
                                directive.group(1) if directive else ""))
        index = end + 1
    files = {example.title: example.code for example in examples if example.title}
    for position, example in enumerate(examples):
        example.files = files
        example.earlier = [earlier for earlier in examples[:position]
                           if earlier.kind == "run" and earlier.language in RUNNABLE]
    return examples


def resolve_snippet(line):
    match = SNIPPET.match(line.strip())
    if not match:
        return line
    with open(os.path.join(ROOT, match.group(1)), encoding="utf-8") as file:
        return file.read().rstrip("\n")


EXAMPLES = [example for page in PAGES for example in read_examples(page)]


def served_command_of(example):
    """The fastasgi command a Dockerfile's CMD or a manifest's container runs."""
    if example.kind == "dockerfile":
        commands = [line for line in example.code.splitlines() if line.startswith("CMD [")]
        return shlex.join(json.loads(commands[-1][len("CMD "):])) if commands else None
    if example.kind == "yaml":
        import yaml

        for document in yaml.safe_load_all(example.code):
            for command in find_commands(document):
                if command and command[0] == "fastasgi":
                    return shlex.join(command)
    return None


def find_commands(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "command" and isinstance(value, list):
                yield value
            else:
                yield from find_commands(value)
    elif isinstance(node, list):
        for item in node:
            yield from find_commands(item)


SERVING = [example for example in EXAMPLES
           if example.kind == "serve" or example.kind in {"dockerfile", "yaml"} and served_command_of(example)]
CHECKED = [example for example in EXAMPLES if example not in SERVING]


def test_the_docs_have_examples_of_each_kind():
    kinds = {example.kind for example in EXAMPLES}
    assert {"file", "run", "serve", "dockerfile", "yaml", "nginx", "haproxy", "console"} <= kinds, kinds
    assert any(example.page == "README.md" for example in SERVING)


# -- the working folder -------------------------------------------------------

def workdir_for(example, tmp_path):
    """A folder with the page's files, and the repository's bench/ and examples/."""
    for name, code in example.files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code)
    for name in ("bench", "examples"):
        (tmp_path / name).symlink_to(os.path.join(ROOT, name))
    (tmp_path / "docs" / "img").mkdir(parents=True)
    return tmp_path


def environment(implementation=None, **extra):
    env = dict(os.environ)
    env.pop("FASTASGI_NO_EXTENSIONS", None)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    if implementation == "pure":
        env["FASTASGI_NO_EXTENSIONS"] = "1"
    env.update(extra)
    return env


def run_code(example, cwd, env, timeout=60):
    if example.language == "python":
        command = [sys.executable, "-c", example.code]
    else:
        command = ["bash", "-euo", "pipefail", "-c", example.code]
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"{example.id} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


def run_earlier(example, cwd, env):
    for earlier in example.earlier:
        if skip_reason(earlier) is None:
            run_code(earlier, cwd, env)


def skip_reason(example):
    """Why a `run` example cannot run here, or None."""
    if "compiled implementation" in example.directive:
        from fastasgi import _speedups

        if not _speedups.compiled_available():
            return "the compiled implementation is not built for this interpreter"
    if "matplotlib" in example.directive and importlib.util.find_spec("matplotlib") is None:
        return "matplotlib is a bench-only dependency: pip install -r bench/requirements.txt"
    return None


# -- examples that run or are checked ----------------------------------------

@pytest.mark.timeout(120)
@pytest.mark.parametrize("example", CHECKED, ids=lambda example: example.id)
def test_example(example, tmp_path):
    kind = example.kind
    if kind == "unknown":
        pytest.fail(f"{example.id}: no way to test a {example.language!r} block; "
                    "give it a <!-- test: ... --> comment (see this module's docstring)")
    if kind == "skip":
        reason = example.directive[len("skip"):].strip()
        assert len(reason) > 10, f"{example.id}: a skipped example must say why"
        pytest.skip(f"{example.id}: {reason}")
    if kind == "text":
        return  # a listing (a folder tree, a sample), not an example
    cwd = workdir_for(example, tmp_path)
    env = environment()
    if kind == "file":
        if example.language == "python":
            compile(example.code, example.title, "exec")
        return
    if kind == "yaml":
        import yaml

        assert list(yaml.safe_load_all(example.code)), example.id
        return
    if kind == "json":
        json.loads(example.code)
        return
    if kind == "ini":
        configparser.ConfigParser(interpolation=None).read_string(example.code)
        return
    if kind in CONFIGS:
        check_config(example, cwd)
        return
    reason = skip_reason(example)
    if reason:
        pytest.skip(reason)
    run_earlier(example, cwd, env)
    if kind == "console":
        check_console(example, cwd, env)
    else:
        run_code(example, cwd, env)


def check_console(example, cwd, env):
    commands = []  # [command, [expected lines]]
    for line in example.code.splitlines():
        if line.startswith("$ "):
            commands.append([line[2:], []])
        elif commands and line.strip():
            commands[-1][1].append(line)
    assert commands, f"{example.id}: a console block shows `$ command` lines"
    for command, expected in commands:
        result = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 0, result.stderr
        actual = result.stdout.splitlines()
        assert len(actual) >= len(expected), (command, result.stdout)
        for shown, got in zip(expected, actual):
            words = re.split(r"\s\S*\d", shown, maxsplit=1)[0]
            assert got.startswith(words), f"{example.id}: `{command}` printed {got!r}, the docs show {shown!r}"


def check_config(example, cwd):
    program = "nginx" if example.language == "nginx" else "haproxy"
    path = shutil.which(program) or shutil.which(program, path="/usr/sbin:/sbin")
    if path is None:
        pytest.skip(f"{program} is not installed (Debian: apt-get install {program})")
    if program == "nginx":
        (cwd / "logs").mkdir()
        (cwd / "nginx.conf").write_text(
            f"pid {cwd}/nginx.pid;\nerror_log {cwd}/logs/error.log;\nevents {{}}\n"
            f"http {{\naccess_log off;\n{example.code}\n}}\n")
        command = [path, "-t", "-p", str(cwd), "-c", str(cwd / "nginx.conf")]
    else:
        (cwd / "haproxy.cfg").write_text(example.code)
        command = [path, "-c", "-f", str(cwd / "haproxy.cfg")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, f"{example.id}: {program} refuses it:\n{result.stdout}{result.stderr}"


# -- examples that serve --------------------------------------------------------

def serving_commands(example):
    """(argv, what it is) for each server the example starts."""
    if example.kind in {"dockerfile", "yaml"}:
        return [(["bash", "-c", "exec " + served_command_of(example)], served_command_of(example))]
    if example.language == "python":
        return [([sys.executable, "example.py"], "the python example")]
    commands = []
    for line in example.code.replace("\\\n", " ").splitlines():  # one command a line, continuations joined
        words = shlex.split(line, comments=True)
        if words:
            commands.append((["bash", "-c", shlex.join(words)], line.strip()))  # bash execs a lone command
    return commands


def on_loopback(text, port):
    return EXAMPLE_PORTS.sub(str(port), text).replace("0.0.0.0", "127.0.0.1")


@pytest.mark.timeout(180)
@pytest.mark.parametrize("example", SERVING, ids=lambda example: example.id)
def test_example_serves(example, implementation, tmp_path):
    cwd = workdir_for(example, tmp_path)
    run_earlier(example, cwd, environment(implementation))
    for argv, shown in serving_commands(example):
        port = free_port()
        argv = [on_loopback(arg, port) for arg in argv]
        if example.language == "python" and example.kind == "serve":
            (cwd / "example.py").write_text(on_loopback(example.code, port))
        env = environment(implementation, FASTASGI_PORT=str(port))
        serve_once(example, shown, argv, cwd, env, port, tls="--ssl-certfile" in shown)


def serve_once(example, shown, argv, cwd, env, port, tls):
    log = open(cwd / "server.log", "w+")
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/"
    try:
        def answered():
            if process.poll() is not None:
                return "exited"
            try:
                return get(url, timeout=5, verify=False)
            except Exception:  # noqa: BLE001 - not listening yet
                return None

        response = wait_until(answered, timeout=START_TIMEOUT, interval=0.1)
        assert response not in (None, "exited"), f"{example.id}: `{shown}` did not serve:\n{read_log(log)}"
        assert response.status_code == 200, f"{example.id}: `{shown}`: {response.status_code}\n{read_log(log)}"
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(15)
        # 0, or the signal re-raised as uvicorn does (by itself, or as a shell reports it)
        assert returncode in (0, -signal.SIGTERM, 128 + signal.SIGTERM), \
            f"{example.id}: `{shown}` exited {returncode} on SIGTERM:\n{read_log(log)}"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def read_log(log):
    log.seek(0)
    return log.read()[-3000:]
