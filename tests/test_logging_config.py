"""--log-config (.ini, .json, .yaml), --log-level incl. trace, colours and the access log format."""
import json
import logging
import re
import textwrap

import httpx
import pytest

from .conftest import read_response

pytestmark = pytest.mark.timeout(30)

APP = "tests.process_apps:app"

DICT_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"tagged": {"format": "CUSTOM %(name)s %(levelname)s %(message)s"}},
    "handlers": {"out": {"class": "logging.StreamHandler", "formatter": "tagged", "stream": "ext://sys.stdout"}},
    "loggers": {"fastasgi": {"handlers": ["out"], "level": "INFO", "propagate": False}},
}


def assert_custom_format(server):
    httpx.get(server.url + "/pid")
    assert server.wait_for_log('CUSTOM fastasgi.access INFO 127.0.0.1:'), server.log
    assert "CUSTOM fastasgi.error INFO Application startup complete." in server.log


def test_json_log_config(start_server, tmp_path, implementation):
    path = tmp_path / "logging.json"
    path.write_text(json.dumps(DICT_CONFIG))
    assert_custom_format(start_server(APP, implementation, "--log-config", str(path)))


def test_yaml_log_config(start_server, tmp_path, implementation):
    yaml = pytest.importorskip("yaml")
    path = tmp_path / "logging.yaml"
    path.write_text(yaml.safe_dump(DICT_CONFIG))
    assert_custom_format(start_server(APP, implementation, "--log-config", str(path)))


def test_ini_log_config(start_server, tmp_path, implementation):
    path = tmp_path / "logging.ini"
    path.write_text(textwrap.dedent("""
        [loggers]
        keys=root,fastasgi

        [handlers]
        keys=out

        [formatters]
        keys=tagged

        [logger_root]
        level=WARNING
        handlers=

        [logger_fastasgi]
        level=INFO
        handlers=out
        propagate=0
        qualname=fastasgi

        [handler_out]
        class=StreamHandler
        formatter=tagged
        args=(sys.stdout,)

        [formatter_tagged]
        format=CUSTOM %(name)s %(levelname)s %(message)s
    """))
    assert_custom_format(start_server(APP, implementation, "--log-config", str(path)))


def test_default_access_log_format_matches_uvicorn(start_server, implementation):
    server = start_server(APP, implementation)
    httpx.get(server.url + "/pid?x=1")
    assert server.wait_for_log('"GET /pid?x=1 HTTP/1.1" 200 OK')
    line = next(line for line in server.lines if "GET /pid?x=1" in line)
    assert re.fullmatch(r'INFO:     127\.0\.0\.1:\d+ - "GET /pid\?x=1 HTTP/1\.1" 200 OK', line), line


def test_no_access_log(start_server, implementation):
    server = start_server(APP, implementation, "--no-access-log")
    httpx.get(server.url + "/pid")
    httpx.get(server.url + "/pid")
    assert '"GET /pid' not in server.log


def test_log_level_warning_hides_info(start_server, implementation):
    server = start_server(APP, implementation, "--log-level", "warning", wait=False)
    server.stop()
    assert "Application startup complete" not in server.log


def test_trace_logs_asgi_messages(start_server, implementation):
    server = start_server(APP, implementation, "--log-level", "trace")
    httpx.get(server.url + "/pid")
    assert server.wait_for_log("Completed")
    assert re.search(r"TRACE:    127\.0\.0\.1:\d+ - ASGI \[\d+\] Started scope=", server.log), server.log
    assert re.search(r"ASGI \[\d+\] Send \{'type': 'http.response.body', 'body': '<\d+ bytes>'", server.log)


@pytest.mark.parametrize("flag, coloured", [("--use-colors", True), ("--no-use-colors", False)])
def test_colours(start_server, flag, coloured, implementation):
    server = start_server(APP, implementation, flag)
    httpx.get(server.url + "/pid")
    server.wait_for_log("GET /pid")
    assert ("\x1b[32mINFO\x1b[0m:" in server.log) is coloured
    assert ("\x1b[" in server.log) is coloured


UVICORN_STYLE = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "default": {"()": "uvicorn.logging.DefaultFormatter", "fmt": "UVI %(levelprefix)s %(message)s",
                    "use_colors": False},
        "access": {"()": "uvicorn.logging.AccessFormatter",
                   "fmt": 'UVI-ACCESS %(client_addr)s "%(request_line)s" %(status_code)s'},
    },
    "handlers": {
        "default": {"formatter": "default", "class": "logging.StreamHandler", "stream": "ext://sys.stdout"},
        "access": {"formatter": "access", "class": "logging.StreamHandler", "stream": "ext://sys.stdout"},
    },
    "loggers": {
        "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"level": "INFO"},
        "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
    },
}


def test_a_uvicorn_log_config_keeps_working(start_server, tmp_path, implementation):
    path = tmp_path / "uvicorn-logging.json"
    path.write_text(json.dumps(UVICORN_STYLE))
    server = start_server(APP, implementation, "--log-config", str(path))
    httpx.get(server.url + "/pid")
    assert server.wait_for_log('UVI-ACCESS 127.0.0.1:'), server.log
    assert re.search(r'UVI-ACCESS 127\.0\.0\.1:\d+ "GET /pid HTTP/1\.1" 200 OK', server.log)
    assert "UVI INFO:     Application startup complete." in server.log


def test_a_uvicorn_ini_log_config_keeps_working(start_server, tmp_path, implementation):
    path = tmp_path / "uvicorn-logging.ini"
    path.write_text(textwrap.dedent("""
        [loggers]
        keys=root,uvicorn,access

        [handlers]
        keys=out

        [formatters]
        keys=plain

        [logger_root]
        level=WARNING
        handlers=

        [logger_uvicorn]
        level=INFO
        handlers=out
        propagate=0
        qualname=uvicorn

        [logger_access]
        level=INFO
        handlers=out
        propagate=0
        qualname=uvicorn.access

        [handler_out]
        class=StreamHandler
        formatter=plain
        args=(sys.stdout,)

        [formatter_plain]
        class=uvicorn.logging.DefaultFormatter
        format=INI %(levelprefix)s %(name)s %(message)s
    """))
    server = start_server(APP, implementation, "--log-config", str(path))
    httpx.get(server.url + "/pid")
    assert server.wait_for_log("INI INFO:     fastasgi.access 127.0.0.1:"), server.log
    assert "INI INFO:     fastasgi.error Application startup complete." in server.log


def test_the_default_config_is_never_modified():
    from fastasgi.config import Config
    from fastasgi.logging import LOGGING_CONFIG

    Config("tests.process_apps:app", use_colors=True)
    assert LOGGING_CONFIG["formatters"]["default"]["use_colors"] is None
    Config("tests.process_apps:app")


def test_the_access_lines_of_a_pipelined_batch_all_arrive_in_order(start_server, implementation):
    # The default access handler writes one loop turn's lines together.
    server = start_server("tests.apps:app", implementation)
    paths = [b"/?n=%d" % index for index in range(40)]
    with server.connect() as sock:
        sock.sendall(b"".join(b"GET " + path + b" HTTP/1.1\r\nHost: t\r\n\r\n" for path in paths))
        rest = b""
        for _ in paths:
            status, _, _, _, rest = read_response(sock, buffer=rest)
            assert status == 200
    assert server.wait_for_log('"GET /?n=39 HTTP/1.1" 200 OK'), server.log
    logged = re.findall(r'"GET /\?n=(\d+) HTTP/1\.1" 200 OK', server.log)
    assert logged == [str(index) for index in range(40)]


def test_batching_handler_writes_at_the_end_of_the_loop_turn():
    import asyncio
    import io

    from fastasgi.logging import BatchingStreamHandler

    stream = io.StringIO()
    handler = BatchingStreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("tests.batching")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("outside a loop")  # written on the spot
        assert stream.getvalue() == "outside a loop\n"

        async def turns():
            logger.info("one")
            logger.info("two")
            assert stream.getvalue() == "outside a loop\n"  # held until the turn ends
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            assert stream.getvalue() == "outside a loop\none\ntwo\n"
            logger.info("three")  # pending when the handler is closed

        asyncio.run(turns())
        handler.close()
        assert stream.getvalue() == "outside a loop\none\ntwo\nthree\n"
    finally:
        logger.removeHandler(handler)


def test_access_records_and_formats_are_uvicorn_s():
    from fastasgi.logging import AccessFormatter, log_access

    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    logger = logging.getLogger("tests.access")
    logger.propagate = False
    keep = Keep()
    logger.addHandler(keep)
    try:
        log_access(logger, "1.2.3.4:5", "GET", "/a?b=1", "1.1", 404)
    finally:
        logger.removeHandler(keep)
    (record,) = records
    assert (record.levelno, record.name) == (logging.INFO, "tests.access")
    assert record.getMessage() == '1.2.3.4:5 - "GET /a?b=1 HTTP/1.1" 404'
    fmt = '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s'
    plain = AccessFormatter(fmt, use_colors=False)
    for _ in range(2):  # the second time from its caches
        assert plain.format(record) == 'INFO:     1.2.3.4:5 - "GET /a?b=1 HTTP/1.1" 404 Not Found'
    assert AccessFormatter(fmt, use_colors=True).format(record) == (
        '\x1b[32mINFO\x1b[0m:     1.2.3.4:5 - "\x1b[1mGET /a?b=1 HTTP/1.1\x1b[0m" \x1b[31m404 Not Found\x1b[0m')
    record.args = ("1.2.3.4:5", "GET", "/", "1.1", 599)
    assert plain.format(record) == 'INFO:     1.2.3.4:5 - "GET / HTTP/1.1" 599 '
    assert "client_addr" not in record.__dict__  # formatting worked on a copy


def test_a_config_with_disable_existing_loggers_keeps_the_aliases():
    """logging.config must not take uvicorn's names for loggers of their own
    (it would disable fastasgi's, or configure them twice)."""
    from fastasgi.log_config import apply_log_config
    from fastasgi.logging import LOGGING_CONFIG

    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    try:
        apply_log_config({
            "version": 1,
            "disable_existing_loggers": True,
            "handlers": {"keep": {"()": lambda: Keep()}},
            "loggers": {"uvicorn.error": {"handlers": ["keep"], "level": "INFO", "propagate": False}},
        })
        ours = logging.getLogger("fastasgi.error")
        assert logging.getLogger("uvicorn.error") is ours
        assert not ours.disabled
        assert len(ours.handlers) == 1  # configured once, not once per name
        ours.info("through fastasgi's name")
        logging.getLogger("uvicorn.error").info("through uvicorn's name")
        assert [r.getMessage() for r in records] == ["through fastasgi's name", "through uvicorn's name"]
    finally:
        apply_log_config(LOGGING_CONFIG)


def test_a_uvicorn_logger_made_before_the_alias_hands_over_what_was_set_on_it():
    from fastasgi.logging import alias_uvicorn_loggers, detach_uvicorn_aliases

    ours = logging.getLogger("fastasgi.access")
    filters, level = list(ours.filters), ours.level
    detach_uvicorn_aliases()
    try:
        early = logging.getLogger("uvicorn.access")  # made by code that ran first
        assert early is not ours
        health_filter = logging.Filter("health")
        early.addFilter(health_filter)
        early.setLevel(logging.WARNING)
        child = logging.getLogger("uvicorn.access.sub")
        alias_uvicorn_loggers()
        assert logging.getLogger("uvicorn.access") is ours
        assert health_filter in ours.filters and ours.level == logging.WARNING
        assert child.parent is ours
    finally:
        ours.filters[:] = filters
        ours.setLevel(level)
        alias_uvicorn_loggers()
