"""fastasgi behind a real HAProxy sending the PROXY protocol (v1, v2, and
v2 in front of fastasgi's own TLS: HAProxy passes the TLS bytes through)."""
import json
import shutil
import socket
import ssl

import pytest

from .conftest import read_response
from .process_utils import make_certificate
from .proxies import start_haproxy

pytestmark = pytest.mark.timeout(40)

APP = "tests.apps:app"
REQUEST = b"GET /scope HTTP/1.1\r\nhost: example.com\r\n\r\n"


@pytest.fixture
def haproxy(tmp_path):
    started = []

    def start(*args, **kwargs):
        proxy = start_haproxy(str(tmp_path), *args, **kwargs)
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


def scopes_through(port, count=2, wrap=None):
    """`count` requests on one connection through the proxy: the client's
    own address as it sees it, and the scopes the app saw."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    client = raw.getsockname()
    sock = wrap(raw) if wrap else raw
    scopes = []
    rest = b""
    with sock:
        for _ in range(count):
            sock.sendall(REQUEST)
            status, _, body, _, rest = read_response(sock, buffer=rest)
            assert status == 200, body
            scopes.append(json.loads(body))
    return client, scopes


@pytest.mark.parametrize("version,option", [("v1", "send-proxy"), ("v2", "send-proxy-v2")])
def test_client_address_from_haproxy(start_server, implementation, haproxy, version, option):
    server = start_server(APP, implementation, "--proxy-protocol", version)
    proxy = haproxy(server.port, server_options=option)
    client, scopes = scopes_through(proxy.port)
    for scope in scopes:
        # The port is the client's own: the connection to fastasgi is HAProxy's, from another port.
        assert scope["client"] == [client[0], client[1]]
        assert scope["server"] == ["127.0.0.1", proxy.port]


def test_haproxy_http_mode_health_checks(start_server, implementation, haproxy):
    """HAProxy in http mode, with its own health checks on the backend (sent with the header too)."""
    server = start_server(APP, implementation, "--proxy-protocol", "v2")
    proxy = haproxy(server.port, mode="http",
                    server_options="send-proxy-v2 check inter 200ms check-send-proxy")
    client, scopes = scopes_through(proxy.port, count=3)
    assert all(scope["client"][0] == client[0] for scope in scopes)
    assert "PROXY protocol: invalid" not in server.log


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_passthrough_with_proxy_v2(start_server, implementation, haproxy, tmp_path):
    cert, key = make_certificate(str(tmp_path))
    server = start_server(APP, implementation, "--proxy-protocol", "v2", "--ssl-certfile", cert,
                          "--ssl-keyfile", key)
    proxy = haproxy(server.port, mode="tcp", server_options="send-proxy-v2")
    context = ssl.create_default_context(cafile=cert)
    client, scopes = scopes_through(proxy.port, wrap=lambda raw: context.wrap_socket(
        raw, server_hostname="localhost"))
    for scope in scopes:
        assert scope["client"] == [client[0], client[1]]
        assert scope["scheme"] == "https"
