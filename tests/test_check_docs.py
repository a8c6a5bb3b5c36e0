"""scripts/check_docs.py catches what a reader would see: it is run with real
headless Chromium on two small sites written here, one sound and one with
one fault of each kind it promises to find."""
import os
import shutil
import subprocess
import sys

import pytest

from .conftest import ROOT

CHECK = os.path.join(ROOT, "scripts", "check_docs.py")
TEXT = "<p>" + "A paragraph a reader reads. " * 8 + "</p>"
PIXEL = (b"<svg xmlns='http://www.w3.org/2000/svg' width='4' height='4'>"
         b"<rect width='4' height='4' fill='red'/></svg>")

pytestmark = [
    pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed (Debian: apt-get install chromium)"),
    # The docs check is a CPython tool (the CI docs leg runs it); PyPy 3.9's
    # threading module trips its own assert when the script's server threads end.
    pytest.mark.skipif(sys.implementation.name == "pypy", reason="scripts/check_docs.py runs on CPython"),
    pytest.mark.timeout(90),
]


def page(title, body="", head=""):
    return f"<!doctype html><html><head><title>{title}</title>{head}</head><body><article><h1 id='top'>{title}</h1>" \
           f"{TEXT}{body}</article></body></html>"


def write_site(folder, pages):
    for path, html in pages.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(html if isinstance(html, bytes) else html.encode())
    return folder


def check(site):
    return subprocess.run([sys.executable, CHECK, str(site)], capture_output=True, text=True, timeout=80)


def test_a_sound_site_passes(tmp_path):
    site = write_site(tmp_path, {
        "index.html": page("Home", "<a href='guide/'>guide</a> <a href='guide/#part'>part</a> "
                                   "<img src='img/pixel.svg'> <a href='https://example.org/'>elsewhere</a>"),
        "guide/index.html": page("Guide", "<h2 id='part'>Part</h2><a href='../'>home</a>"),
        "img/pixel.svg": PIXEL,
    })
    result = check(site)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok index.html: 'Home'" in result.stdout and "ok guide/index.html: 'Guide'" in result.stdout
    assert "2 pages" in result.stdout and "1 links to other sites not fetched" in result.stdout


def test_each_fault_is_reported(tmp_path):
    site = write_site(tmp_path, {
        "index.html": page("Home", "<a href='missing/'>gone</a> <a href='guide/#nowhere'>anchor</a> "
                                   "<a href='guide/'>guide</a>"),
        "guide/index.html": page("Guide", "<img src='../img/absent.png'>"),
        "broken-script/index.html": page("Script", "<script>undefined_function()</script>"),
        "empty/index.html": "<!doctype html><html><body><p>no article</p></body></html>",
        "style/index.html": page("Style", head="<link rel='stylesheet' href='../assets/absent.css'>"),
    })
    result = check(site)
    assert result.returncode == 1, result.stdout + result.stderr
    errors = result.stderr
    assert "index.html: broken link: http://127.0.0.1:" in errors and "/missing/" in errors
    assert "index.html: link to a missing anchor:" in errors and "/guide/#nowhere" in errors
    assert "guide/index.html: image did not render:" in errors and "absent.png" in errors
    assert "broken-script/index.html: script error: ReferenceError: undefined_function is not defined" in errors
    assert "empty/index.html: no rendered article" in errors
    assert "style/index.html: 404 for" in errors and "absent.css" in errors
