"""Build fastasgi: every compiled module of fastasgi/_speedups/compiled.py, or none.

- FASTASGI_NO_EXTENSIONS=1, or an interpreter other than CPython: no
  extensions; the wheel is the pure py3-none-any one.
- Any compiled module failing (no compiler, no Python headers, no Cython, a
  Cython error): a warning, every extension already built is removed, and
  the wheel is the pure py3-none-any one, never a platform tag on a pure
  wheel nor a mix of compiled and pure modules.  FASTASGI_REQUIRE_EXTENSIONS=1
  turns the failure into an error (the release builds and the test script).
- Cython runs at build time only (the sdist ships no generated C), and the
  extensions are built without debug info.
"""
import os
import runpy
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1 (pyproject.toml asks for 77): setup.py run by hand
    bdist_wheel = None

HERE = os.path.dirname(os.path.abspath(__file__))
# Read as a file: fastasgi's own imports need its dependencies, absent at build time.
DECLARED = runpy.run_path(os.path.join(HERE, "fastasgi", "_speedups", "compiled.py"))
flag = DECLARED["flag"]

COMPILER_DIRECTIVES = {
    "language_level": "3",
    "boundscheck": False,
    "wraparound": False,
    "cdivision": True,
    "embedsignature": True,
}


class AllOrNothingBuildExt(build_ext):
    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:  # the modules compile side by side
            self.parallel = True

    def run(self):
        if not self.extensions:
            return super().run()
        try:
            from Cython.Build import cythonize

            generated = cythonize(self.extensions, compiler_directives=COMPILER_DIRECTIVES)
            for extension, cythonized in zip(self.extensions, generated):
                extension.sources = cythonized.sources
            super().run()
        except Exception as exc:  # noqa: BLE001 -- whatever failed, the package goes pure
            self._fall_back(exc)

    failed_module = None

    def build_extension(self, ext):
        # All or nothing: once one module failed, the others are not worth compiling.
        if self.failed_module is None:
            try:
                super().build_extension(ext)
            except Exception:
                self.failed_module = ext.name
                raise

    def build_extensions(self):
        if self.compiler.compiler_type != "msvc":  # MSVC's release builds carry no debug info
            for extension in self.extensions:
                extension.extra_compile_args = [*extension.extra_compile_args, "-g0"]
        super().build_extensions()

    def _fall_back(self, exc):
        if flag(DECLARED["REQUIRE_EXTENSIONS"]):
            raise
        for extension in self.extensions:
            for path in (self.get_ext_fullpath(extension.name),
                         os.path.join(self.build_lib, self.get_ext_filename(extension.name))):
                if os.path.exists(path):
                    os.remove(path)
        del self.extensions[:]  # the distribution's list too: the wheel is now pure
        where = f"{self.failed_module}: " if self.failed_module else ""
        sys.stderr.write(
            "\nWARNING: fastasgi's compiled speedups could not be built "
            f"({where}{type(exc).__name__}: {exc}).\n"
            "Building the pure-Python package (py3-none-any) instead; it is correct but slower, "
            "and the server says so when it starts.\n"
            f"Set {DECLARED['REQUIRE_EXTENSIONS']}=1 to make this an error.\n\n"
        )


class Wheel(bdist_wheel or object):
    """The wheel's tag follows what was built: pure when no extension was."""

    # bdist_wheel decides purity before building; a failed build empties
    # ext_modules, so the answer is read when the tag is made.
    @property
    def root_is_pure(self):
        return not self.distribution.has_ext_modules()

    @root_is_pure.setter
    def root_is_pure(self, value):
        pass


def extensions():
    if flag(DECLARED["NO_EXTENSIONS"]) or sys.implementation.name != "cpython":
        sys.stderr.write("fastasgi: building the pure-Python package (no extensions).\n")
        return []
    modules = []
    for name, source, _ in DECLARED["COMPILED_MODULES"].values():
        module = Extension(name, [source])
        module.sources = [source]  # setuptools renames .pyx to .c when Cython is absent (an sdist build)
        modules.append(module)
    return modules


commands = {"build_ext": AllOrNothingBuildExt}
if bdist_wheel is not None:
    commands["bdist_wheel"] = Wheel
setup(ext_modules=extensions(), cmdclass=commands)
