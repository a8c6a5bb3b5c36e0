"""fastasgi's build backend: setuptools', asking for Cython only when it will compile.

The sdist and the pure wheel (FASTASGI_NO_EXTENSIONS=1, PyPy) need no
Cython; a compiled build needs it in the range the release builds test.
"""
import os
import runpy
import sys

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403 -- every other hook is setuptools' own

CYTHON = "Cython>=3.1,<3.3"


def _compiling():
    declared = runpy.run_path(os.path.join("fastasgi", "_speedups", "compiled.py"))
    return sys.implementation.name == "cpython" and not declared["flag"](declared["NO_EXTENSIONS"])


def get_requires_for_build_wheel(config_settings=None):
    return _setuptools.get_requires_for_build_wheel(config_settings) + ([CYTHON] if _compiling() else [])


def get_requires_for_build_editable(config_settings=None):
    return _setuptools.get_requires_for_build_editable(config_settings) + ([CYTHON] if _compiling() else [])
