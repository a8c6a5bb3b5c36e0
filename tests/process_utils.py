"""Helpers for tests that manage server processes: polling, pids, certificates."""
import os
import re
import signal
import socket
import subprocess
import time

import httpx

# A single server raises again the SIGTERM that stopped it once it has
# drained, as uvicorn's does: its status reads as killed by SIGTERM (143 in
# a shell).  Supervisors (--workers, --reload) exit 0.
STOPPED_BY_SIGTERM = -signal.SIGTERM
STARTED = re.compile(r"Started server process \[(\d+)\]")


def wait_until(predicate, timeout=10, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    return predicate()


def free_port():
    """A loopback port nothing listens on, for a server started by port number."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url, timeout=5, **kwargs):
    """One request on a fresh connection (so the kernel picks the worker)."""
    with httpx.Client(timeout=timeout, **kwargs) as client:
        return client.get(url)


def wait_serving(url, timeout=15, **kwargs):
    def ok():
        try:
            return get(url, timeout=2, **kwargs).status_code == 200
        except httpx.HTTPError:
            return False
    assert wait_until(ok, timeout, 0.1), f"{url} never served"


def started_pids(server):
    return [int(pid) for pid in STARTED.findall(server.log)]


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0): ask /proc where there is one.
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().split(") ")[1][0] != "Z"
    except OSError:
        return True


def make_certificate(directory, name="server", common_name="localhost", ca=None):
    """A real self-signed (or CA-signed) certificate with the openssl CLI: (cert, key)."""
    cert = os.path.join(directory, f"{name}.pem")
    key = os.path.join(directory, f"{name}.key")
    subject = f"/CN={common_name}/O=fastasgi tests"
    if ca is None:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
             "-days", "2", "-subj", subject, "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            check=True, capture_output=True)
    else:
        csr = os.path.join(directory, f"{name}.csr")
        subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
                        "-subj", subject], check=True, capture_output=True)
        subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1],
                        "-CAcreateserial", "-out", cert, "-days", "2"], check=True, capture_output=True)
    return cert, key
