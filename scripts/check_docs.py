"""Open every page of a built docs site in headless Chromium, as a reader would.

    python scripts/check_docs.py SITE_DIR        (scripts/check_docs.sh builds SITE_DIR)

The site is served on loopback; Chromium (Debian's `chromium`) loads each
page through the DevTools protocol.  A page fails when it does not render
(no article with a heading and text), when a script throws or logs an
error, when one of its own resources (CSS, JS, images, the search index)
answers 4xx/5xx or fails to load, or when an image does not decode.  Every
link within the site must lead to a page or file that exists, and a link
with a #fragment to an element with that id.  Links to other sites are
listed, not fetched: the check runs without a network.
"""
import argparse
import contextlib
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from websockets.sync.client import connect

PAGE_TIMEOUT = 20
SKIPPED_PAGES = {"404.html"}  # not reachable by a link: served for missing paths
# What a page collects in the browser once loaded.
PAGE_FACTS = """JSON.stringify({
  heading: (document.querySelector("article h1") || {}).textContent || "",
  text: ((document.querySelector("article") || {}).innerText || "").length,
  links: [...document.querySelectorAll("a[href]")].map(a => a.href),
  ids: [...document.querySelectorAll("[id]")].map(e => e.id),
  images: [...document.images].map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0})),
})"""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(site):
    handler = functools.partial(QuietHandler, directory=site)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def pages_of(site):
    pages = []
    for folder, _, names in os.walk(site):
        for name in names:
            path = os.path.relpath(os.path.join(folder, name), site)
            if name.endswith(".html") and path not in SKIPPED_PAGES:
                pages.append(path)
    return sorted(pages)


def page_url(base, path):
    return base + (path[: -len("index.html")] if path.endswith("index.html") else path)


class Browser:
    """Headless Chromium driven over the DevTools protocol (one tab)."""

    def __init__(self):
        executable = shutil.which("chromium") or shutil.which("chromium-browser")
        if executable is None:
            sys.exit("chromium is not installed (Debian: apt-get install chromium)")
        self.profile = tempfile.mkdtemp(prefix="check-docs-chromium-")
        self.process = subprocess.Popen(
            [executable, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-extensions", "--disable-background-networking", "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0", f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + 30
        while not os.path.exists(port_file) or os.path.getsize(port_file) == 0:
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.close()
                sys.exit("chromium did not start its DevTools endpoint")
            time.sleep(0.05)
        time.sleep(0.05)  # the file is written in two lines
        port, path = open(port_file).read().split()[:2]
        self.connection = contextlib.ExitStack()
        self.socket = self.connection.enter_context(
            connect(f"ws://127.0.0.1:{port}{path}", max_size=None, open_timeout=10))
        self.next_id = 0
        self.events = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=True)

    def call(self, method, params=None, session=False, timeout=PAGE_TIMEOUT):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        self.socket.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        while True:
            reply = json.loads(self.socket.recv(timeout=max(deadline - time.monotonic(), 0.01)))
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            if "method" in reply:
                self.events.append(reply)

    def wait_for(self, event, timeout=PAGE_TIMEOUT):
        deadline = time.monotonic() + timeout
        while not any(e["method"] == event for e in self.events):
            self.events.append(json.loads(self.socket.recv(timeout=max(deadline - time.monotonic(), 0.01))))

    def open(self, url):
        """Load `url`; return (the page's facts, its problems)."""
        self.events = []
        self.call("Page.navigate", {"url": url}, session=True)
        self.wait_for("Page.loadEventFired")
        time.sleep(0.2)  # scripts that run after load (search, the theme's own)
        result = self.call("Runtime.evaluate", {"expression": PAGE_FACTS, "returnByValue": True}, session=True)
        facts = json.loads(result["result"]["value"])
        return facts, self.problems(url)

    def problems(self, url):
        origin = urllib.parse.urlsplit(url)[:2]
        found, requested = [], {}
        for event in self.events:
            method, params = event["method"], event.get("params", {})
            if method == "Network.requestWillBeSent":
                requested[params["requestId"]] = params["request"]["url"]
            elif method == "Network.responseReceived":
                response = params["response"]
                parts = urllib.parse.urlsplit(response["url"])
                # /favicon.ico is the browser's own guess where a page names no icon
                if response["status"] >= 400 and parts[:2] == origin and parts.path != "/favicon.ico":
                    found.append(f"{response['status']} for {response['url']}")
            elif method == "Network.loadingFailed" and not params.get("canceled"):
                found.append(f"failed to load {requested.get(params['requestId'], '?')}: {params['errorText']}")
            elif method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append(f"script error: {details.get('exception', {}).get('description') or details['text']}")
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error" \
                    and params["entry"].get("source") != "network":  # reported above, from the response
                found.append(f"console error: {params['entry']['text']}")
        return found

    def close(self):
        if getattr(self, "connection", None):
            self.connection.close()
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


def exists(url, cache={}):
    """A file of the site answers 200 (a link to a non-page file, e.g. an image)."""
    if url not in cache:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                cache[url] = response.status == 200
        except urllib.error.URLError:
            cache[url] = False
    return cache[url]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("site", help="the folder `mkdocs build` wrote")
    options = parser.parse_args()
    server, base = serve(os.path.abspath(options.site))
    pages = pages_of(options.site)
    browser = Browser()
    failures, ids, links, external = [], {}, [], set()
    try:
        for path in pages:
            url = page_url(base, path)
            try:
                facts, problems = browser.open(url)
            except (TimeoutError, RuntimeError) as exc:
                failures.append(f"{path}: did not load ({exc})")
                continue
            if not facts["heading"].strip() or facts["text"] < 100:
                problems.append("no rendered article (heading and text)")
            problems += [f"image did not render: {image['src']}" for image in facts["images"] if not image["ok"]]
            failures += [f"{path}: {problem}" for problem in problems]
            ids[url] = set(facts["ids"])
            links += [(path, link) for link in facts["links"]]
            print(f"ok {path}: {facts['heading'].strip().rstrip('¶').strip()!r}, {len(facts['links'])} links"
                  if not problems else f"FAIL {path}", flush=True)
    finally:
        browser.close()
    for path, link in links:
        target, _, fragment = link.partition("#")
        if not target.startswith(base):
            if not target.startswith(("http:", "https:", "mailto:")):
                failures.append(f"{path}: link of an unknown kind: {link}")
            external.add(target)
            continue
        if target in ids:
            if fragment and urllib.parse.unquote(fragment) not in ids[target]:
                failures.append(f"{path}: link to a missing anchor: {link}")
        elif not exists(target):
            failures.append(f"{path}: broken link: {link}")
    server.shutdown()
    print(f"{len(pages)} pages, {len(links)} links within the site checked; "
          f"{len(external)} links to other sites not fetched (no network)")
    if failures:
        print("\n".join(failures), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
