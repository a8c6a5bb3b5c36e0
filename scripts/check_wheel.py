"""Fail unless the installed fastasgi runs its compiled speedups.

Run against an installed wheel (cibuildwheel's test-command, the local wheel
test): a platform wheel that fell back to the pure twins is a broken build.
"""
import sys

from fastasgi import _speedups

if _speedups.IMPLEMENTATION != "compiled":
    sys.exit(f"fastasgi imported from {_speedups.__file__} runs the {_speedups.IMPLEMENTATION} "
             "implementation; the wheel should run the compiled one.")
print(f"fastasgi compiled speedups active ({_speedups.__file__})")
