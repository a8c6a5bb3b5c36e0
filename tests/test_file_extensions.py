"""http.response.pathsend and http.response.zerocopysend, on the wire.

Each test runs on both implementations and on both loops, uvloop and
asyncio's: on plain TCP both hand the file to the kernel with os.sendfile
(fastasgi/protocols/sendfile.py, tested on its own in tests/test_sendfile.py);
under TLS the file is read into writes.  HTTP/2 streams read the file into
DATA frames within the windows.
"""
import json
import os
import socket
import ssl
import time
from urllib.parse import quote

import h2.events
import httpx
import pytest

from .conftest import (IMPLEMENTATIONS, ServerProcess, read_response, recv_until, recv_until_closed,
                       require_implementation)
from .process_utils import make_certificate
from .test_http2 import H2Client

APP = "tests.extension_apps:app"
BIG = 16 * 1024 * 1024  # well past the socket buffers: the send waits on the client


@pytest.fixture(scope="module", params=[(kind, loop) for kind in IMPLEMENTATIONS for loop in ("auto", "asyncio")],
                ids=lambda param: "-".join(param))
def server(request):
    kind, loop = request.param
    require_implementation(kind)
    process = ServerProcess(APP, kind, ("--loop", loop, "--http2"))
    yield process
    process.stop()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("files")
    small = directory / "small.bin"
    small.write_bytes(bytes(range(256)) * 40 + b"end")  # 10243 bytes, each offset recognisable
    return directory


def request_bytes(path, headers=b""):
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: t\r\n" + headers + b"\r\n"


def exchange(server, path, headers=b""):
    with server.connect() as sock:
        sock.sendall(request_bytes(path, headers))
        return read_response(sock)


def served_after(server):
    """The server still answers, and advertises the extensions."""
    status, _, body, _, _ = exchange(server, "/extensions")
    assert status == 200
    return json.loads(body)


def test_extensions_are_advertised(server):
    assert {"http.response.pathsend", "http.response.zerocopysend"} <= set(served_after(server))


def test_pathsend_exact_bytes_with_a_computed_length(server, files):
    data = (files / "small.bin").read_bytes()
    status, headers, body, head, rest = exchange(server, "/pathsend?file=" + quote(str(files / "small.bin")))
    assert status == 200
    assert (b"content-length", str(len(data)).encode()) in headers
    assert body == data and rest == b""


def test_pathsend_keeps_the_connection_for_the_next_request(server, files):
    data = (files / "small.bin").read_bytes()
    path = "/pathsend?file=" + quote(str(files / "small.bin"))
    with server.connect() as sock:
        sock.sendall(request_bytes(path) + request_bytes(path) + request_bytes("/extensions"))
        first = read_response(sock)
        second = read_response(sock, buffer=first[4])
        third = read_response(sock, buffer=second[4])
    assert first[2] == second[2] == data
    assert third[0] == 200


def test_pathsend_with_the_apps_length_and_a_head_sent_before(server, files):
    data = (files / "small.bin").read_bytes()
    file = quote(str(files / "small.bin"))
    # The app's own Content-Length frames it.
    status, headers, body, _, _ = exchange(server, f"/pathsend?file={file}&length={len(data)}")
    assert body == data
    # The head went out alone before the file: the file is one chunk.
    with server.connect() as sock:
        sock.sendall(request_bytes(f"/pathsend?file={file}&wait=1"))
        raw = recv_until(sock, b"\r\n0\r\n\r\n")
    head, _, chunked = raw.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    assert chunked == b"%x\r\n" % len(data) + data + b"\r\n0\r\n\r\n"


def test_head_request_gets_the_length_and_no_bytes(server, files):
    size = (files / "small.bin").stat().st_size
    with server.connect() as sock:
        sock.sendall(b"HEAD /pathsend?file=" + quote(str(files / "small.bin")).encode()
                     + b" HTTP/1.1\r\nHost: t\r\n\r\n" + request_bytes("/extensions"))
        sock.settimeout(5)
        data = b""
        while data.count(b"HTTP/1.1 200") < 2 or not data.endswith(b"]"):
            data += sock.recv(65536)
    first, _, after = data.partition(b"\r\n\r\n")
    assert b"content-length: %d" % size in first
    assert after.startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("what", ["missing", "directory"])
def test_a_path_that_cannot_be_opened_is_a_500(server, files, what):
    path = files / "nothing-here" if what == "missing" else files
    status, _, _, _, _ = exchange(server, "/pathsend?file=" + quote(str(path)))
    assert status == 500
    assert served_after(server)


def test_zerocopysend_offset_count_and_file_position(server, files):
    data = (files / "small.bin").read_bytes()
    status, _, body, _, _ = exchange(server, "/zerocopy?file=" + quote(str(files / "small.bin"))
                                     + "&seek=5000&offset=300&count=1000")
    assert status == 200
    assert body == data[300:1300] + b"|" + data[5000:]


def big_file(files, name):
    path = files / name
    with open(path, "wb") as file:
        file.write(os.urandom(1024 * 1024) * (BIG // (1024 * 1024)))
    return path


def slow_reader(server):
    sock = server.connect()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    return sock


def test_client_leaving_in_the_middle_of_a_file(server, files):
    path = big_file(files, "leave.bin")
    logged = len(server.lines)
    sock = slow_reader(server)
    sock.sendall(request_bytes("/pathsend?file=" + quote(str(path))))
    sock.settimeout(5)
    assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    time.sleep(0.1)  # the server is now waiting on the client
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()  # a reset, in the middle of the file
    assert served_after(server)
    assert not [line for line in server.lines[logged:] if "ERROR" in line]


def test_a_file_that_shrinks_while_sent_closes_the_connection(server, files):
    path = big_file(files, "shrink.bin")
    sock = slow_reader(server)
    try:
        sock.sendall(request_bytes("/pathsend?file=" + quote(str(path))))
        sock.settimeout(5)
        received = sock.recv(65536)
        time.sleep(0.1)  # the server waits on the client, the file half sent at most
        os.truncate(path, 1024 * 1024)
        received += recv_until_closed(sock)
    finally:
        sock.close()
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"content-length: %d" % BIG in head
    assert len(body) < BIG  # closed short of the length: the client knows it is incomplete
    assert server.wait_for_log("bytes short of the")
    assert served_after(server)


def test_starlette_file_response_with_ranges(implementation, files, start_server):
    server = start_server("tests.extension_apps:starlette_app", implementation)
    data = (files / "small.bin").read_bytes()
    url = f"{server.url}/file?file={quote(str(files / 'small.bin'))}"
    with httpx.Client(timeout=5) as client:
        whole = client.get(url)
        assert whole.status_code == 200 and whole.content == data
        part = client.get(url, headers={"Range": "bytes=100-1099"})
        assert part.status_code == 206 and part.content == data[100:1100]
        # (Not several ranges in one request: Starlette 0.49, the last for PyPy's
        # Python 3.9, announces a multipart length its body does not fill.)
        head = client.head(url)
        assert head.status_code == 200 and head.headers["content-length"] == str(len(data))


def test_http2_file_in_data_frames_within_the_windows(server, files):
    data = (files / "small.bin").read_bytes()
    client = H2Client(server, initial_window_size=1000)  # the file must wait on WINDOW_UPDATEs
    try:
        stream_id = client.request(("/pathsend?file=" + quote(str(files / "small.bin"))).encode())
        status, headers, body, end = client.response(stream_id)
        assert (status, end) == (200, "end")
        assert body == data
        assert (b"content-length", str(len(data)).encode()) in headers
        stream_id = client.request(("/zerocopy?file=" + quote(str(files / "small.bin"))
                                    + "&seek=10&offset=1&count=5").encode())
        status, _, body, end = client.response(stream_id)
        assert body == data[1:6] + b"|" + data[10:]
        stream_id = client.request(("/pathsend?file=" + quote(str(files))).encode())
        status, _, _, _ = client.response(stream_id)
        assert status == 500
    finally:
        client.close()
    assert not any(isinstance(event, h2.events.ConnectionTerminated) for event in client.events)


@pytest.mark.parametrize("loop", ["auto", "asyncio"])
def test_files_under_tls_over_http11_and_http2(implementation, loop, files, start_server, tmp_path):
    # TLS encrypts in the process: the file is read into writes, never handed to sendfile.
    cert, key = make_certificate(str(tmp_path))
    server = start_server(APP, implementation, "--loop", loop, "--http2", "--ssl-certfile", cert, "--ssl-keyfile", key)
    path = big_file(files, f"tls-{implementation}-{loop}.bin")
    data = path.read_bytes()
    url = f"https://127.0.0.1:{server.port}/pathsend?file={quote(str(path))}"
    context = ssl.create_default_context(cafile=cert)
    context.check_hostname = False
    for http2 in (False, True):
        with httpx.Client(verify=context, http1=not http2, http2=http2, timeout=10) as client:
            response = client.get(url)
        assert response.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
        assert response.status_code == 200 and response.content == data


@pytest.mark.parametrize("loop", ["auto", "asyncio"])
def test_a_client_that_stops_reading_a_file_is_dropped_after_timeout_write(implementation, loop, files,
                                                                          start_server):
    server = start_server(APP, implementation, "--loop", loop, "--timeout-write", "1")
    path = big_file(files, f"stall-{implementation}-{loop}.bin")
    sock = slow_reader(server)
    try:
        sock.sendall(request_bytes("/pathsend?file=" + quote(str(path))))
        sock.settimeout(5)
        assert sock.recv(1024).startswith(b"HTTP/1.1 200")
        assert server.wait_for_log("read none of the response for 1.0 s: aborting", timeout=5)
    finally:
        sock.close()
    assert served_after(server)


def test_http2_stream_reset_in_the_middle_of_a_file(server, files):
    path = big_file(files, "h2-reset.bin")
    logged = len(server.lines)
    client = H2Client(server)
    try:
        stream_id = client.request(("/pathsend?file=" + quote(str(path))).encode())
        client.wait_for(lambda e: isinstance(e, h2.events.DataReceived) and e.stream_id == stream_id)
        # With the WINDOW_UPDATEs for what it read, in one packet: the server
        # must not pump a stream the same read has reset.
        client.conn.reset_stream(stream_id)
        client.flush()
        other = client.request(b"/extensions")
        status, _, body, end = client.response(other)
        assert (status, end) == (200, "end") and "http.response.pathsend" in json.loads(body)
    finally:
        client.close()
    assert not [line for line in server.lines[logged:] if "ERROR" in line]
