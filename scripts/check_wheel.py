"""Fail unless the installed fastasgi runs the stack its wheel promises.

Run against an installed wheel (cibuildwheel's test-command, the local wheel
checks).  A platform wheel must run its whole compiled stack: one that falls
back to the pure twins, or runs any module of compiled.COMPILED_MODULES as
Python, is a broken build.  With --pure (the py3-none-any wheel), the package
must hold no extension module at all and run the pure stack.
"""
import importlib.machinery
import os
import sys

from fastasgi import _speedups
from fastasgi._speedups.compiled import COMPILED_MODULES

SUFFIXES = tuple(importlib.machinery.EXTENSION_SUFFIXES)


def check_compiled():
    if _speedups.IMPLEMENTATION != "compiled":
        sys.exit(f"fastasgi imported from {_speedups.__file__} runs the {_speedups.IMPLEMENTATION} "
                 f"implementation ({_speedups.REASON}); the wheel should run the compiled one.")
    for role, (name, _source, _pure) in COMPILED_MODULES.items():
        module = getattr(_speedups.active, role)
        if module.__name__ != name or not module.__file__.endswith(SUFFIXES):
            sys.exit(f"the compiled stack's {role} module is {module.__name__} from {module.__file__}, "
                     f"not the extension module {name}")
    print(f"fastasgi compiled stack active: {len(COMPILED_MODULES)} extension modules "
          f"({_speedups.__file__})")


def check_pure():
    package = os.path.dirname(os.path.dirname(os.path.abspath(_speedups.__file__)))
    extensions = [os.path.join(folder, name) for folder, _, names in os.walk(package)
                  for name in names if name.endswith(SUFFIXES)]
    if extensions:
        sys.exit(f"the pure wheel installed extension modules: {extensions}")
    if _speedups.IMPLEMENTATION != "pure":
        sys.exit(f"fastasgi from {package} runs the {_speedups.IMPLEMENTATION} implementation, not the pure one")
    print(f"fastasgi pure stack active, no extension module installed ({_speedups.REASON})")


if __name__ == "__main__":
    check_pure() if sys.argv[1:] == ["--pure"] else check_compiled()
