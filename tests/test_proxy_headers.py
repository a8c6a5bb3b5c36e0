"""--proxy-headers / --forwarded-allow-ips: X-Forwarded-* honoured only from trusted peers."""
import json

import httpx
import pytest
from websockets.sync.client import connect

from fastasgi.middleware.proxy_headers import TrustedHosts, split_host_port

pytestmark = pytest.mark.timeout(30)

APP = "tests.process_apps:app"
FORWARDED = {"x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https"}


def scope_of(server, headers, **kwargs):
    return httpx.get(server.url + "/scope", headers=headers, **kwargs).json()


def test_loopback_proxy_is_trusted_by_default(start_server, implementation):
    server = start_server(APP, implementation)
    scope = scope_of(server, FORWARDED)
    assert scope["client"] == ["203.0.113.7", 0]
    assert scope["scheme"] == "https"
    assert '203.0.113.7:0 - "GET /scope HTTP/1.1" 200' in server.log or server.wait_for_log("203.0.113.7:0 - ")
    # Without the headers the peer itself is the client.
    plain = scope_of(server, {})
    assert plain["client"][0] == "127.0.0.1" and plain["scheme"] == "http"


def test_no_proxy_headers(start_server, implementation):
    server = start_server(APP, implementation, "--no-proxy-headers")
    scope = scope_of(server, FORWARDED)
    assert scope["client"][0] == "127.0.0.1"
    assert scope["scheme"] == "http"


def test_untrusted_peer_is_ignored(start_server, implementation):
    server = start_server(APP, implementation, "--forwarded-allow-ips", "10.0.0.0/8,192.0.2.1")
    scope = scope_of(server, FORWARDED)
    assert scope["client"][0] == "127.0.0.1"
    assert scope["scheme"] == "http"


def test_environment_variable_sets_the_default(start_server, implementation):
    server = start_server(APP, implementation, env={"FORWARDED_ALLOW_IPS": "192.0.2.1"})
    assert scope_of(server, FORWARDED)["client"][0] == "127.0.0.1"


def test_chain_picks_the_nearest_untrusted_hop(start_server, implementation):
    server = start_server(APP, implementation, "--forwarded-allow-ips", "127.0.0.1, 10.0.0.0/8")
    headers = {"x-forwarded-for": "198.51.100.9, 198.51.100.1:8443, 10.1.2.3"}
    assert scope_of(server, headers)["client"] == ["198.51.100.1", 8443]


def test_star_trusts_everyone_and_takes_the_first_hop(start_server, implementation):
    server = start_server(APP, implementation, "--forwarded-allow-ips", "*")
    headers = {"x-forwarded-for": "[2001:db8::1]:9000, 198.51.100.1", "x-forwarded-proto": "nonsense"}
    scope = scope_of(server, headers)
    assert scope["client"] == ["2001:db8::1", 9000]
    assert scope["scheme"] == "http"  # an unknown scheme is ignored


def test_websocket_scheme_follows_the_proxy(start_server, implementation):
    server = start_server(APP, implementation)
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    with connect(f"ws://127.0.0.1:{server.port}/ws", additional_headers=headers, open_timeout=5) as websocket:
        message = json.loads(websocket.recv(timeout=5))
    assert message["scheme"] == "wss"
    assert message["client"] == ["203.0.113.7", 0]


def uds_scope(path):
    with httpx.Client(transport=httpx.HTTPTransport(uds=path)) as client:
        return client.get("http://localhost/scope", headers=FORWARDED).json()


def test_unix_socket_path_literal_is_trusted(start_server, tmp_path, implementation):
    path = str(tmp_path / "proxy.sock")
    server = start_server(APP, implementation, "--uds", path, "--forwarded-allow-ips", path)
    scope = uds_scope(path)
    assert scope["client"] == ["203.0.113.7", 0]
    assert scope["scheme"] == "https"
    server.stop()
    other = str(tmp_path / "other.sock")
    server = start_server(APP, implementation, "--uds", other, "--forwarded-allow-ips", "127.0.0.1")
    scope = uds_scope(other)
    assert scope["scheme"] == "http"


def test_trusted_hosts_matching():
    trusted = TrustedHosts("127.0.0.1, ::1, 10.0.0.0/8, fd00::/8, /run/app.sock")
    assert "127.0.0.1" in trusted
    assert "::1" in trusted and "0:0:0:0:0:0:0:1" in trusted
    assert "10.200.3.4" in trusted and "11.0.0.1" not in trusted
    assert "fd12::1" in trusted and "fe80::1" not in trusted
    assert "::ffff:10.1.1.1" in trusted  # IPv4-mapped peer of a dual-stack socket
    assert "/run/app.sock" in trusted and "/run/other.sock" not in trusted
    assert "" not in trusted and None not in trusted
    assert "anything" in TrustedHosts("*")


def test_split_host_port():
    assert split_host_port("1.2.3.4") == ("1.2.3.4", 0)
    assert split_host_port("1.2.3.4:80") == ("1.2.3.4", 80)
    assert split_host_port("[::1]:80") == ("::1", 80)
    assert split_host_port("[::1]") == ("::1", 0)
    assert split_host_port("::1") == ("::1", 0)
    assert split_host_port("host:notaport") == ("host:notaport", 0)
