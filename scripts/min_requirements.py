"""Print the declared minimum of every runtime dependency as a pin: `name==floor; marker`.

CI installs these with the test extra and runs the suite, so each floor in
pyproject.toml is a version the suite has passed on.  Usage:

    python scripts/min_requirements.py > min.txt     # Python 3.11+ (tomllib)
    pip install -c min.txt -e ".[test]"
"""
import os
import re
import sys
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLOOR = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][^,;\s]*)\s*(;.*)?$")


def pins(dependencies):
    for requirement in dependencies:
        match = FLOOR.match(requirement)
        if not match:
            sys.exit(f"min_requirements: {requirement!r} declares no single floor (name>=version)")
        name, version, marker = match.groups()
        yield f"{name}=={version}{marker or ''}"


if __name__ == "__main__":
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as file:
        project = tomllib.load(file)["project"]
    print("\n".join(pins(project["dependencies"])))
