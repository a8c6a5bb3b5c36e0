"""fastasgi behind a real nginx reverse proxy: its default HTTP/1.0
upstream, HTTP/1.1 with upstream keep-alive, websockets through it, and
X-Forwarded-* with --proxy-headers."""
import asyncio
import json

import httpx
import pytest
from websockets.asyncio.client import connect

from .proxies import start_nginx

pytestmark = pytest.mark.timeout(40)

APP = "tests.apps:app"
# Idle upstream connections closed by nginx before fastasgi's --timeout-keep-alive (5 s) would.
KEEPALIVE_UPSTREAM = "keepalive 8; keepalive_timeout 4s;"
HTTP11 = 'proxy_http_version 1.1; proxy_set_header Connection "";'
WEBSOCKETS = ("proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; "
              "proxy_set_header Connection $connection_upgrade; proxy_read_timeout 30s;")


@pytest.fixture
def nginx(tmp_path):
    started = []

    def start(*args, **kwargs):
        proxy = start_nginx(str(tmp_path), *args, **kwargs)
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


def scopes(port, count, **headers):
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
        responses = [client.get("/scope", headers=headers) for _ in range(count)]
    assert all(response.status_code == 200 for response in responses), [r.text for r in responses]
    return [response.json() for response in responses]


def test_default_http10_upstream(start_server, implementation, nginx):
    server = start_server(APP, implementation, "--no-proxy-headers")
    proxy = nginx(server.port)
    seen = scopes(proxy.port, 3)
    assert all(scope["http_version"] == "1.0" for scope in seen)
    # nginx opens an upstream connection per request: three client ports.
    assert len({scope["client"][1] for scope in seen}) == 3
    assert seen[0]["headers"] and dict(seen[0]["headers"])["host"] == f"127.0.0.1:{proxy.port}"
    with httpx.Client(base_url=f"http://127.0.0.1:{proxy.port}", timeout=5) as client:
        echoed = client.post("/echo", content=b"b" * 50000)
        assert echoed.status_code == 200 and echoed.content == b"b" * 50000
        streamed = client.get("/stream?n=4&size=1000")  # chunked from fastasgi, re-framed by nginx
        assert streamed.content == b"x" * 4000


def test_http11_upstream_keepalive(start_server, implementation, nginx):
    server = start_server(APP, implementation, "--no-proxy-headers")
    proxy = nginx(server.port, upstream_block=KEEPALIVE_UPSTREAM, location_extra=HTTP11)
    seen = scopes(proxy.port, 5)
    assert all(scope["http_version"] == "1.1" for scope in seen)
    # One upstream connection, kept alive across the five requests.
    assert len({scope["client"][1] for scope in seen}) == 1
    with httpx.Client(base_url=f"http://127.0.0.1:{proxy.port}", timeout=5) as client:
        assert client.post("/echo", content=b"k" * 20000).content == b"k" * 20000
        assert client.get("/stream?n=3&size=5").content == b"x" * 15
    assert len({scope["client"][1] for scope in scopes(proxy.port, 2)} | {seen[0]["client"][1]}) == 1


def test_forwarded_headers_with_proxy_headers(start_server, implementation, nginx):
    server = start_server(APP, implementation)  # --proxy-headers is the default; nginx is on 127.0.0.1
    proxy = nginx(server.port, location_extra=HTTP11)
    scope, = scopes(proxy.port, 1, **{"X-Forwarded-For": "203.0.113.9"})
    # nginx appends its peer (127.0.0.1, trusted): the client is the hop before it.
    assert scope["client"][0] == "203.0.113.9"
    assert scope["scheme"] == "http"
    untrusted = start_server(APP, implementation, "--forwarded-allow-ips", "10.0.0.1")
    proxy2 = nginx(untrusted.port, location_extra=HTTP11)
    scope, = scopes(proxy2.port, 1, **{"X-Forwarded-For": "203.0.113.9"})
    assert scope["client"][0] == "127.0.0.1"  # nginx itself is not trusted: the headers are ignored


def test_forwarded_proto_https(start_server, implementation, nginx):
    server = start_server(APP, implementation)
    proxy = nginx(server.port, location_extra=HTTP11 + " proxy_set_header X-Forwarded-Proto https;")
    scope, = scopes(proxy.port, 1)
    assert scope["scheme"] == "https"


def test_websockets_through_nginx(start_server, implementation, nginx):
    server = start_server("tests.ws_apps:app", implementation)
    proxy = nginx(server.port, location_extra=WEBSOCKETS)

    async def talk():
        async with connect(f"ws://127.0.0.1:{proxy.port}/echo", open_timeout=5) as ws:
            for text in ("one", "two" * 1000):
                await ws.send(text)
                assert await asyncio.wait_for(ws.recv(), 5) == text
            await ws.send(b"\x00\x01")
            assert await asyncio.wait_for(ws.recv(), 5) == b"\x00\x01"

    asyncio.run(talk())
    plain = httpx.get(f"http://127.0.0.1:{proxy.port}/plain", timeout=5)  # no upgrade: plain HTTP through it
    assert json.loads(plain.content)["branch"] == "http"
