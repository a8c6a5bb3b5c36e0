"""The ASGI HTTP connection scope (spec 2.4) and the default response headers."""
import json

import httpx
import pytest

from .conftest import read_response, recv_until_closed

pytestmark = pytest.mark.timeout(30)


def get_scope(server, request):
    with server.connect() as sock:
        sock.sendall(request)
        status, headers, body, head, rest = read_response(sock)
        local = sock.getsockname()
    assert status == 200, body
    return json.loads(body), local


def header_values(headers, name):
    return [value for key, value in headers if key.lower() == name]


def test_scope_basics(server):
    scope, local = get_scope(server, b"GET /scope?a=%20b&c HTTP/1.1\r\nHost: example.org\r\n\r\n")
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/scope"
    assert scope["raw_path"] == "/scope"
    assert scope["query_string"] == "a=%20b&c"  # raw bytes, not decoded
    assert scope["root_path"] == ""
    assert scope["headers"] == [["host", "example.org"]]
    assert scope["client"] == ["127.0.0.1", local[1]]
    assert isinstance(scope["client"][1], int)
    assert scope["server"] == ["127.0.0.1", server.port]
    assert scope["state"] == {"started_by": "lifespan"}
    # The response extensions the cycle serves, each with empty settings (tls only under TLS).
    assert scope["extensions"] == {"http.response.pathsend": {}, "http.response.zerocopysend": {},
                                   "http.response.trailers": {}, "http.response.early_hint": {}}


def test_scope_keys_are_exactly_the_spec_keys(server):
    scope, _ = get_scope(server, b"GET /scope HTTP/1.1\r\nHost: t\r\n\r\n")
    assert set(scope) == {"type", "asgi", "http_version", "server", "client", "scheme", "method",
                          "root_path", "path", "raw_path", "query_string", "headers", "state",
                          "extensions"}


def test_method_is_kept_as_sent(server):
    scope, _ = get_scope(server, b"PATCH /scope HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
    assert scope["method"] == "PATCH"
    scope, _ = get_scope(server, b"PROPFIND /scope HTTP/1.1\r\nHost: t\r\n\r\n")
    assert scope["method"] == "PROPFIND"


def test_unknown_method_gets_400(server):
    # llhttp knows a fixed set of methods; both twins refuse the rest alike.
    with server.connect() as sock:
        sock.sendall(b"FROB /scope HTTP/1.1\r\nHost: t\r\n\r\n")
        status, headers, body, head, rest = read_response(sock)
    assert status == 400


def test_http10_scope(server):
    with server.connect() as sock:
        sock.sendall(b"GET /scope?x=1 HTTP/1.0\r\n\r\n")
        data = recv_until_closed(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    scope = json.loads(body)
    assert scope["http_version"] == "1.0"
    assert scope["headers"] == []
    assert scope["path"] == "/scope"
    assert scope["query_string"] == "x=1"


def test_path_is_percent_decoded_utf8_and_raw_path_is_exact(server):
    scope, _ = get_scope(server, b"GET /scope/caf%C3%A9%20x/a%2Fb?q=%C3%A9 HTTP/1.1\r\nHost: t\r\n\r\n")
    assert scope["path"] == "/scope/caf\u00e9 x/a/b"
    # scope_as_json shows bytes as latin-1: these are the raw bytes as sent.
    assert scope["raw_path"] == "/scope/caf%C3%A9%20x/a%2Fb"
    assert scope["query_string"] == "q=%C3%A9"


def test_path_keeps_dot_segments_and_plus(server):
    scope, _ = get_scope(server, b"GET /scope/a+b/./c HTTP/1.1\r\nHost: t\r\n\r\n")
    assert scope["path"] == "/scope/a+b/./c"
    assert scope["raw_path"] == "/scope/a+b/./c"


def test_headers_lower_cased_ordered_duplicates_kept_values_trimmed(server):
    request = (b"GET /scope HTTP/1.1\r\nHost: t\r\nX-Multi: a\r\nX-Other:   padded value  \r\n"
               b"x-multi: b\r\nX-EMPTY:\r\nX-Tab:\tv\t\r\n\r\n")
    scope, _ = get_scope(server, request)
    assert scope["headers"] == [
        ["host", "t"],
        ["x-multi", "a"],
        ["x-other", "padded value"],
        ["x-multi", "b"],
        ["x-empty", ""],
        ["x-tab", "v"],
    ]


def test_header_values_keep_obs_text_bytes(server):
    scope, _ = get_scope(server, b"GET /scope HTTP/1.1\r\nHost: t\r\nX-Latin: caf\xe9\r\n\r\n")
    assert scope["headers"] == [["host", "t"], ["x-latin", "caf\u00e9"]]


def test_absolute_form_target(server):
    scope, _ = get_scope(server, b"GET http://example.com/scope?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n")
    assert scope["path"] == "/scope"
    assert scope["raw_path"] == "/scope"
    assert scope["query_string"] == "x=1"
    assert scope["headers"] == [["host", "example.com"]]


def test_state_from_lifespan(server):
    with server.connect() as sock:
        sock.sendall(b"GET /state HTTP/1.1\r\nHost: t\r\n\r\n")
        status, headers, body, head, rest = read_response(sock)
    assert status == 200
    assert json.loads(body) == {"started_by": "lifespan"}


def test_root_path(start_server, implementation):
    server = start_server("tests.apps:app", implementation, "--root-path", "/api")
    scope, _ = get_scope(server, b"GET /scope/x%20y?z=1 HTTP/1.1\r\nHost: t\r\n\r\n")
    assert scope["root_path"] == "/api"
    assert scope["path"] == "/api/scope/x y"
    assert scope["raw_path"] == "/api/scope/x%20y"
    assert scope["query_string"] == "z=1"


# -- response headers the server adds ---------------------------------------------------
def test_default_server_and_date_headers(server):
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        status, headers, body, head, rest = read_response(sock)
    assert header_values(headers, b"server") == [b"fastasgi"]
    dates = header_values(headers, b"date")
    assert len(dates) == 1
    assert dates[0].endswith(b" GMT")


def test_app_server_and_date_headers_are_not_duplicated(server):
    with server.connect() as sock:
        sock.sendall(b"GET /own-headers HTTP/1.1\r\nHost: t\r\n\r\n")
        status, headers, body, head, rest = read_response(sock)
    assert (status, body) == (200, b"ok")
    assert header_values(headers, b"server") == [b"my-server"]
    assert header_values(headers, b"date") == [b"my-date"]
    assert header_values(headers, b"x-dup") == [b"1", b"2"]


def test_custom_default_header(start_server, implementation):
    server = start_server("tests.apps:app", implementation, "--header", "X-A: 1", "--header", "X-B:two")
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        status, headers, body, head, rest = read_response(sock)
    assert (status, body) == (200, b"Hello, world!")
    assert header_values(headers, b"x-a") == [b"1"]
    assert header_values(headers, b"x-b") == [b"two"]
    assert header_values(headers, b"server") == [b"fastasgi"]
    response = httpx.get(server.url + "/stream")
    assert response.headers.get_list("x-a") == ["1"]


def test_no_server_and_no_date_header(start_server, implementation):
    server = start_server("tests.apps:app", implementation, "--no-server-header", "--no-date-header")
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        status, headers, body, head, rest = read_response(sock)
        assert (status, body) == (200, b"Hello, world!")
        assert header_values(headers, b"server") == []
        assert header_values(headers, b"date") == []
        # The app's own are still sent, once.
        sock.sendall(b"GET /own-headers HTTP/1.1\r\nHost: t\r\n\r\n")
        status, headers, body, head, rest = read_response(sock)
        assert header_values(headers, b"server") == [b"my-server"]
        assert header_values(headers, b"date") == [b"my-date"]
        # Server-made error responses follow the same settings.
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
        data = recv_until_closed(sock)
    head = data.partition(b"\r\n\r\n")[0].lower()
    assert head.startswith(b"http/1.1 400 ")
    assert b"\r\nserver:" not in head
    assert b"\r\ndate:" not in head
