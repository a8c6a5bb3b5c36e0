"""--access-log-format: gunicorn's atoms, written when the response completes."""
import re

import httpx
import pytest

from fastasgi.access_format import GUNICORN_FORMAT, Atoms, validate

from .conftest import recv_until_closed

pytestmark = pytest.mark.timeout(30)

APP = "tests.apps:app"


def atoms(**overrides):
    scope = {"type": "http", "method": "POST", "path": "/a b", "raw_path": b"/a%20b", "query_string": b"x=1",
             "http_version": "1.1", "client": ("10.1.2.3", 5555),
             "headers": [(b"user-agent", b"curl/8"), (b"referer", b"http://r/"), (b"x-request-id", b"abc")]}
    values = dict(scope=scope, status=201, response_headers=[(b"content-type", b"text/plain")], sent=42,
                  duration=0.0123456, started=0.0)
    values.update(overrides)
    return Atoms(**values)


def test_every_atom():
    line = ("%(h)s|%(l)s|%(u)s|%(r)s|%(m)s|%(U)s|%(q)s|%(H)s|%(s)s|%(B)s|%(b)s|%(f)s|%(a)s|"
            "%(T)s|%(M)s|%(D)s|%(L)s|%({X-Request-Id}i)s|%({content-type}o)s|%({missing}i)s|%(zz)s")
    assert line % atoms() == ("10.1.2.3|-|-|POST /a%20b?x=1 HTTP/1.1|POST|/a b|x=1|HTTP/1.1|201|42|42|http://r/|"
                              "curl/8|0|12|12345|0.012346|abc|text/plain|-|-")
    assert "%(b)s %(B)s" % atoms(sent=0) == "- 0"
    assert re.fullmatch(r"\[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]", "%(t)s" % atoms())
    assert "%({HOME}e)s" % atoms() not in ("", None)


def test_invalid_format_is_refused():
    validate(GUNICORN_FORMAT)
    with pytest.raises(ValueError, match="access-log-format"):
        validate("%(h)s %(s)d")  # a number format: the atoms are strings
    with pytest.raises(ValueError):
        validate("%s")


def access_lines(server, marker):
    assert server.wait_for_log(marker)
    return [line for line in server.lines if marker in line]


def test_format_on_the_server(start_server, implementation):
    fmt = '%(h)s "%(r)s" %(s)s %(b)s %(D)s %({x-request-id}i)s %({content-type}o)s'
    server = start_server(APP, implementation, "--access-log-format", fmt)
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/stream?n=3&size=5", headers={"x-request-id": "req-1"}).status_code == 200
        assert client.post("/echo", content=b"x" * 100, headers={"content-type": "text/x-test"}).status_code == 200
        assert client.get("/status?code=404").status_code == 404
    stream, = access_lines(server, "/stream")
    match = re.fullmatch(r'127\.0\.0\.1 "GET /stream\?n=3&size=5 HTTP/1\.1" 200 15 (\d+) req-1 -', stream)
    assert match, stream
    assert int(match.group(1)) > 0
    echo, = access_lines(server, "/echo")
    assert re.fullmatch(r'127\.0\.0\.1 "POST /echo HTTP/1\.1" 200 100 \d+ - .*', echo), echo
    missing, = access_lines(server, "/status")
    assert '" 404 4 ' in missing
    assert "INFO:" not in stream  # the line is the format, nothing around it


def test_app_failures_and_server_errors(start_server, implementation):
    server = start_server(APP, implementation, "--access-log-format", '"%(r)s" %(s)s %(B)s')
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/raise").status_code == 500
        with pytest.raises(httpx.HTTPError):
            client.get("/raise-after-start")
    assert access_lines(server, '"GET /raise HTTP/1.1"')[0].endswith("500 21")
    # Started, then cut short: logged with what went out.
    assert access_lines(server, '"GET /raise-after-start HTTP/1.1"')[0].endswith("200 7")
    with server.connect() as sock:  # the server's own 400 is not an access record, as in uvicorn
        sock.sendall(b"GARBAGE\r\n\r\n")
        assert recv_until_closed(sock).startswith(b"HTTP/1.1 400")
    assert server.wait_for_log("Invalid HTTP request")


def test_default_line_unchanged(start_server, implementation):
    server = start_server(APP, implementation)
    httpx.get(server.url + "/scope?q=1")
    line, = access_lines(server, "/scope")
    assert re.fullmatch(r'INFO: +127\.0\.0\.1:\d+ - "GET /scope\?q=1 HTTP/1\.1" 200( OK)?', line), line


def test_no_access_log_wins(start_server, implementation):
    server = start_server(APP, implementation, "--access-log-format", "ACCESS %(r)s", "--no-access-log")
    httpx.get(server.url + "/scope")
    httpx.get(server.url + "/status?code=204")
    assert not server.wait_for_log("ACCESS", timeout=0.5)
