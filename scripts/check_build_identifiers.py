"""Check what cibuildwheel would build on each platform, from pyproject.toml.

`cibuildwheel --print-build-identifiers` for linux, macos and windows must
list exactly the platform wheels we promise: CPython 3.9-3.14 on manylinux
and musllinux x86_64 and aarch64, macOS x86_64 and arm64, Windows AMD64.
A config change that drops (or silently adds) a build fails here.  Needs
cibuildwheel installed; no Docker, nothing is built.
"""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHONS = ("cp39", "cp310", "cp311", "cp312", "cp313", "cp314")
PLATFORMS = {
    "linux": [f"{libc}_{arch}" for libc in ("manylinux", "musllinux")
              for arch in ("x86_64", "aarch64")],
    "macos": ["macosx_x86_64", "macosx_arm64"],
    "windows": ["win_amd64"],
}


def main():
    env = {name: value for name, value in os.environ.items() if not name.startswith("CIBW_")}
    failed = False
    for platform, tags in PLATFORMS.items():
        expected = {f"{python}-{tag}" for python in PYTHONS for tag in tags}
        output = subprocess.run(
            [sys.executable, "-m", "cibuildwheel", "--print-build-identifiers",
             "--platform", platform],
            cwd=ROOT, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
        found = set(output.split())
        if found == expected:
            print(f"{platform}: {len(found)} wheels OK ({' '.join(sorted(found))})")
            continue
        failed = True
        print(f"{platform}: MISMATCH")
        for name in sorted(expected - found):
            print(f"  missing {name}")
        for name in sorted(found - expected):
            print(f"  unexpected {name}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
