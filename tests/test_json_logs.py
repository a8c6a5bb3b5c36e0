"""--log-format json: one JSON object per line, server, error and access records alike."""
import json
import logging
import sys

import httpx
import pytest

from fastasgi.json_logs import JsonFormatter

pytestmark = pytest.mark.timeout(30)

APP = "tests.apps:app"


def test_formatter_fields():
    record = logging.LogRecord("fastasgi.error", logging.ERROR, __file__, 1, "failed %s", ("here",), None)
    record.created = 0.25
    assert json.loads(JsonFormatter().format(record)) == {
        "time": "1970-01-01T00:00:00.250Z", "level": "ERROR", "logger": "fastasgi.error",
        "message": "failed here"}
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    assert "RuntimeError: boom" in json.loads(JsonFormatter().format(record))["exception"]


def test_server_error_and_access_records(start_server, implementation):
    server = start_server(APP, implementation, "--log-format", "json")
    with httpx.Client(base_url=server.url) as client:
        client.get("/scope?q=1", headers={"x-request-id": "r-42", "user-agent": "tests"})
        client.post("/echo", content=b"12345")
        assert client.get("/raise").status_code == 500
    assert server.wait_for_log('"status": 500')
    lines = [line for line in server.lines if line.strip()]
    assert all(line.startswith("{") for line in lines), lines  # tracebacks too: inside their record
    logged = [json.loads(line) for line in lines]
    assert {"time", "level", "logger", "message"} <= set(logged[0])
    assert any("running on http://127.0.0.1" in record["message"] for record in logged)
    scope, = [record for record in logged if record.get("path") == "/scope"]
    assert scope["logger"] == "fastasgi.access" and scope["level"] == "INFO"
    assert scope["method"] == "GET" and scope["query"] == "q=1" and scope["status"] == 200
    assert scope["request_id"] == "r-42" and scope["user_agent"] == "tests"
    assert scope["http_version"] == "1.1" and scope["client"].startswith("127.0.0.1:")
    assert scope["duration_ms"] >= 0 and scope["response_bytes"] > 0
    assert scope["message"].endswith('"GET /scope?q=1 HTTP/1.1" 200')  # uvicorn's line, as text
    echo, = [record for record in logged if record.get("path") == "/echo"]
    assert echo["response_bytes"] == 5 and "request_id" not in echo
    error, = [record for record in logged if record["message"].startswith("Exception in ASGI application")]
    assert error["logger"] == "fastasgi.error" and "RuntimeError: boom before start" in error["exception"]


def test_json_with_access_log_format(start_server, implementation):
    server = start_server(APP, implementation, "--log-format", "json", "--access-log-format", "%(r)s %(s)s")
    httpx.get(server.url + "/status?code=201")
    assert server.wait_for_log('"status": 201')
    access, = [json.loads(line) for line in server.lines if '"status": 201' in line]
    assert access["message"] == "GET /status?code=201 HTTP/1.1 201" and access["path"] == "/status"


def test_text_stays_the_default(start_server, implementation):
    server = start_server(APP, implementation)
    httpx.get(server.url + "/scope")
    assert server.wait_for_log('"GET /scope HTTP/1.1" 200')
    assert not any(line.startswith("{") for line in server.lines)
