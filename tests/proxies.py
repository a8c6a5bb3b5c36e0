"""Real reverse proxies (Debian's nginx and HAProxy) started by the tests
themselves: on loopback ports, with configs written to a temp dir, in the
foreground, never as a system service."""
import os
import shutil
import socket
import subprocess
import time

import pytest

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


def start_nginx(directory, backend_port, upstream_block="", location_extra=""):
    binary = require("nginx")
    port = free_port()
    config = os.path.join(directory, "nginx.conf")
    # Run as root (CI), nginx's workers would switch to an unprivileged user
    # that cannot write the temp dirs under the test's private tmp_path.
    user = "user root;" if os.geteuid() == 0 else ""
    with open(config, "w") as file:
        file.write(f"""\
{user}
daemon off;
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log info;

events {{ worker_connections 256; }}

http {{
    access_log off;
    client_body_temp_path {directory}/client_body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;

    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}

    upstream fastasgi {{
        server 127.0.0.1:{backend_port};
        {upstream_block}
    }}

    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://fastasgi;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            {location_extra}
        }}
    }}
}}
""")
    return ProxyProcess([binary, "-c", config, "-p", directory, "-e", f"{directory}/error.log"], port,
                        os.path.join(directory, "nginx.log"))
