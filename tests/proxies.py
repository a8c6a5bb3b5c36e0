"""Real reverse proxies (Debian's nginx and HAProxy) started by the tests
themselves: on loopback ports, with configs written to a temp dir, in the
foreground, never as a system service."""
import os
import shutil
import socket
import subprocess
import time

import pytest

from bench.nginx_config import nginx_binary, nginx_command, write_nginx_config

from .process_utils import free_port


def require(binary):
    path = shutil.which(binary) or (f"/usr/sbin/{binary}" if os.path.exists(f"/usr/sbin/{binary}") else None)
    if path is None:
        pytest.skip(f"needs {binary} (Debian package '{binary}')")
    return path


class ProxyProcess:
    def __init__(self, command, port, log_path):
        self.port = port
        self.log_path = log_path
        self.log_file = open(log_path, "wb")
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=self.log_file,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited:\n{self.log}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{command[0]} did not listen on {port}:\n{self.log}")

    @property
    def log(self):
        with open(self.log_path, "rb") as file:
            return file.read().decode("utf-8", "replace")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_file.close()


def start_haproxy(directory, backend_port, mode="tcp", server_options="send-proxy-v2"):
    binary = require("haproxy")
    port = free_port()
    config = os.path.join(directory, "haproxy.cfg")
    with open(config, "w") as file:
        file.write(f"""\
global
    maxconn 256

defaults
    mode {mode}
    timeout connect 2s
    timeout client 10s
    timeout server 10s

frontend front
    bind 127.0.0.1:{port}
    default_backend fastasgi

backend fastasgi
    server app 127.0.0.1:{backend_port} {server_options}
""")
    return ProxyProcess([binary, "-db", "-f", config], port, os.path.join(directory, "haproxy.log"))


# What a reverse proxy in front of an app sets (the tests of --proxy-headers read them).
FORWARDED_HEADERS = """proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;"""


def start_nginx(directory, backend_port, upstream_block="", location_extra=""):
    if nginx_binary() is None:
        pytest.skip("needs nginx (Debian package 'nginx')")
    port = free_port()
    config = write_nginx_config(directory, port, backend_port, upstream_extra=upstream_block,
                                location_extra=FORWARDED_HEADERS + "\n            " + location_extra)
    return ProxyProcess(nginx_command(nginx_binary(), config, directory), port, os.path.join(directory, "nginx.log"))
