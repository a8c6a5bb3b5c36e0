"""Build the Cython speedups in fastasgi/_speedups/.

- FASTASGI_NO_EXTENSIONS=1 (or a non-CPython interpreter): no extensions,
  a pure-Python package.
- A compile failure (no compiler, no headers): a warning, then the pure
  package, unless FASTASGI_REQUIRE_EXTENSIONS=1 asks for a hard failure
  (what the wheel builds use, so a platform wheel is never silently pure).
"""
import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

SPEEDUPS = ("parser_c", "headers_c", "response_c", "flow_c", "wsframes_c")
# The per-request shell: pure Python modules compiled as they are, under a
# name of their own, with the C types from <name>.pxd (pure Python mode).
# The pure modules stay what PyPy and FASTASGI_NO_EXTENSIONS run.
SHELL = {"fastasgi.protocols.cycle_c": "fastasgi/protocols/cycle.py",
         "fastasgi.protocols.http_c": "fastasgi/protocols/http.py",
         "fastasgi.observer_c": "fastasgi/observer.py"}


def flag(name):
    return os.environ.get(name, "") not in ("", "0")


class OptionalBuildExt(build_ext):
    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:  # the modules compile side by side
            self.parallel = True

    def run(self):
        try:
            super().run()
        except Exception as exc:  # the compiler itself could not be run
            self._fall_back(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._fall_back(exc)

    def _fall_back(self, exc):
        if flag("FASTASGI_REQUIRE_EXTENSIONS"):
            raise
        sys.stderr.write(
            "\nWARNING: fastasgi's Cython speedups could not be compiled "
            f"({type(exc).__name__}: {exc}).\n"
            "Installing the pure-Python implementation instead; it is correct but slower.\n\n"
        )


def extensions():
    if flag("FASTASGI_NO_EXTENSIONS") or sys.implementation.name != "cpython":
        sys.stderr.write("fastasgi: building the pure-Python package (no extensions).\n")
        return []
    from Cython.Build import cythonize

    modules = [Extension(f"fastasgi._speedups.{name}", [f"fastasgi/_speedups/{name}.pyx"])
               for name in SPEEDUPS]
    modules += [Extension(name, [source]) for name, source in SHELL.items()]
    return cythonize(
        modules,
        compiler_directives={
            "language_level": "3",
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "embedsignature": True,
        },
    )


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
