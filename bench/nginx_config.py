"""Debian's nginx in front of a server on loopback: its binary, its
configuration and its command line, written once for the benchmark's nginx
rows (bench/run.py) and the tests behind nginx (tests/proxies.py).

nginx runs in the foreground from a directory of its own (config, pid, logs,
temp files), never as a system service.  Only what the caller passes goes
into the proxied location: the benchmark measures nginx's default proxy
settings, the tests add the headers they check.
"""
import os
import shutil

CONFIG = """\
{user}
daemon off;
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log {error_log_level};

events {{ worker_connections {worker_connections}; }}

http {{
    access_log off;
    client_body_temp_path {directory}/client_body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;

    # The Connection header a websocket upgrade needs (used by a location that asks for it).
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}

    upstream app {{
        server 127.0.0.1:{upstream_port};
        {upstream_extra}
    }}

    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://app;
            {location_extra}
        }}
    }}
}}
"""


def nginx_binary():
    """nginx's path, or None (Debian installs it in /usr/sbin, not always on PATH)."""
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def write_nginx_config(directory, port, upstream_port, upstream_extra="", location_extra="",
                       worker_connections=256, error_log_level="info"):
    """Write `directory`/nginx.conf: nginx on 127.0.0.1:`port` proxying to
    127.0.0.1:`upstream_port`, `upstream_extra` in its upstream block and
    `location_extra` in its location.  Returns the config's path."""
    # As root (CI) nginx's worker would switch to an unprivileged user that
    # cannot write the temp dirs under the caller's private directory.
    user = "user root;" if os.geteuid() == 0 else ""
    path = os.path.join(directory, "nginx.conf")
    with open(path, "w") as file:
        file.write(CONFIG.format(user=user, directory=directory, port=port, upstream_port=upstream_port,
                                 upstream_extra=upstream_extra, location_extra=location_extra,
                                 worker_connections=worker_connections, error_log_level=error_log_level))
    return path


def nginx_command(binary, config, directory):
    """The command that runs nginx with `config`, in the foreground, from `directory`."""
    return [binary, "-c", config, "-p", directory, "-e", os.path.join(directory, "error.log")]
