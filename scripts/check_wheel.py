"""Fail unless the installed fastasgi runs its whole compiled stack.

Run against an installed wheel (cibuildwheel's test-command, the local wheel
checks): a platform wheel that falls back to the pure twins, or runs any one
module of compiled.COMPILED_MODULES as Python, is a broken build.
"""
import importlib.machinery
import sys

from fastasgi import _speedups
from fastasgi._speedups.compiled import COMPILED_MODULES

if _speedups.IMPLEMENTATION != "compiled":
    sys.exit(f"fastasgi imported from {_speedups.__file__} runs the {_speedups.IMPLEMENTATION} "
             f"implementation ({_speedups.REASON}); the wheel should run the compiled one.")
for role, (name, _source, _pure) in COMPILED_MODULES.items():
    module = getattr(_speedups.active, role)
    if module.__name__ != name or not module.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
        sys.exit(f"the compiled stack's {role} module is {module.__name__} from {module.__file__}, "
                 f"not the extension module {name}")
print(f"fastasgi compiled stack active: {len(COMPILED_MODULES)} extension modules "
      f"({_speedups.__file__})")
