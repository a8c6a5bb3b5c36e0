"""--proxy-protocol v1|v2: the client address comes from the PROXY header.

The parser is tested on bytes; the server with raw sockets that send the
header themselves (a real proxy in front: test_behind_haproxy.py).
"""
import json
import os
import shutil
import socket
import ssl
import struct
from urllib.parse import quote

import pytest

from fastasgi.protocols.proxy_protocol import V2_SIGNATURE, ProxyHeaderError, parse_header

from .conftest import read_response, recv_until_closed
from .process_utils import make_certificate

pytestmark = pytest.mark.timeout(30)

APP = "tests.apps:app"
EXTENSION_APP = "tests.extension_apps:app"  # pathsend


def v2_header(source=("203.0.113.7", 51234), destination=("192.0.2.1", 443), command=0x21, tlvs=b""):
    if command == 0x20:
        return V2_SIGNATURE + bytes([0x20, 0x00]) + struct.pack("!H", 0)
    family = socket.AF_INET6 if ":" in source[0] else socket.AF_INET
    addresses = (socket.inet_pton(family, source[0]) + socket.inet_pton(family, destination[0])
                 + struct.pack("!HH", source[1], destination[1]))
    payload = addresses + tlvs
    family_byte = 0x21 if family == socket.AF_INET6 else 0x11
    return V2_SIGNATURE + bytes([command, family_byte]) + struct.pack("!H", len(payload)) + payload


REQUEST = b"GET /scope HTTP/1.1\r\nhost: example.com\r\n\r\n"


# -- the parser, on bytes ------------------------------------------------------
def test_v1_tcp4_and_tcp6():
    header = parse_header(b"PROXY TCP4 198.51.100.22 203.0.113.7 35646 80\r\nGET", "v1")
    assert header.client == ("198.51.100.22", 35646)
    assert header.server == ("203.0.113.7", 80)
    assert header.length == len(b"PROXY TCP4 198.51.100.22 203.0.113.7 35646 80\r\n")
    header = parse_header(b"PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n", "v1")
    assert header.client == ("2001:db8::1", 1) and header.server == ("2001:db8::2", 65535)


def test_v1_unknown_names_no_addresses():
    header = parse_header(b"PROXY UNKNOWN\r\n", "v1")
    assert header.client is None and header.server is None and header.length == 15


def test_v1_incomplete_needs_more_bytes():
    assert parse_header(b"PRO", "v1") is None
    assert parse_header(b"PROXY TCP4 198.51.100.22 203.0.", "v1") is None


@pytest.mark.parametrize("data", [
    b"GET / HTTP/1.1\r\n\r\n",
    b"PROXY TCP4 198.51.100.22 203.0.113.7 35646\r\n",  # a port missing
    b"PROXY TCP4 2001:db8::1 203.0.113.7 1 2\r\n",  # family and address disagree
    b"PROXY TCP4 198.51.100.22 203.0.113.7 035646 80\r\n",  # leading zero
    b"PROXY TCP4 198.51.100.22 203.0.113.7 70000 80\r\n",  # port out of range
    b"PROXY UDP4 198.51.100.22 203.0.113.7 1 2\r\n",
    b"PROXY " + b"1" * 120,  # no CRLF within 107 bytes
    V2_SIGNATURE,  # a v2 header where v1 is configured
])
def test_v1_malformed(data):
    with pytest.raises(ProxyHeaderError):
        parse_header(data, "v1")


def test_v2_ipv4_ipv6_and_tlvs_skipped():
    data = v2_header(tlvs=b"\x04\x00\x03abc") + b"GET"
    header = parse_header(data, "v2")
    assert header.client == ("203.0.113.7", 51234) and header.server == ("192.0.2.1", 443)
    assert data[header.length:] == b"GET"
    header = parse_header(v2_header(("2001:db8::7", 9), ("2001:db8::1", 8443)), "v2")
    assert header.client == ("2001:db8::7", 9) and header.server == ("2001:db8::1", 8443)


def test_v2_local_names_no_addresses():
    header = parse_header(v2_header(command=0x20), "v2")
    assert header.client is None and header.length == 16


def test_v2_incomplete_needs_more_bytes():
    data = v2_header()
    for end in (1, 12, 15, len(data) - 1):
        assert parse_header(data[:end], "v2") is None


@pytest.mark.parametrize("data", [
    b"PROXY TCP4 198.51.100.22 203.0.113.7 35646 80\r\n",  # v1 where v2 is configured
    V2_SIGNATURE + bytes([0x31, 0x11]) + struct.pack("!H", 12) + bytes(12),  # version 3
    V2_SIGNATURE + bytes([0x21, 0x11]) + struct.pack("!H", 4) + bytes(4),  # too short for IPv4
    V2_SIGNATURE + bytes([0x21, 0x11]) + struct.pack("!H", 60000),  # absurd length
    V2_SIGNATURE + bytes([0x21, 0x77]) + struct.pack("!H", 0),  # unknown family
])
def test_v2_malformed(data):
    with pytest.raises(ProxyHeaderError):
        parse_header(data, "v2")


# -- the server, with raw sockets ------------------------------------------------
def scope_through(server, header, request=REQUEST):
    with server.connect() as sock:
        sock.sendall(header + request)
        status, _, body, _, _ = read_response(sock)
    assert status == 200, body
    return json.loads(body)


def test_v1_client_address_in_scope(start_server, implementation):
    server = start_server(APP, implementation, "--proxy-protocol", "v1")
    scope = scope_through(server, b"PROXY TCP4 198.51.100.22 203.0.113.7 35646 80\r\n")
    assert scope["client"] == ["198.51.100.22", 35646]
    assert scope["server"] == ["203.0.113.7", 80]
    # The header and the request may arrive in separate reads too.
    with server.connect() as sock:
        sock.sendall(b"PROXY TCP6 2001:db8::1 2001:db8::2 7 8\r")
        sock.sendall(b"\n" + REQUEST + REQUEST)
        _, _, first, _, rest = read_response(sock)
        _, _, second, _, _ = read_response(sock, buffer=rest)
    assert json.loads(first)["client"] == json.loads(second)["client"] == ["2001:db8::1", 7]


def test_v2_client_address_in_scope(start_server, implementation):
    server = start_server(APP, implementation, "--proxy-protocol", "v2")
    scope = scope_through(server, v2_header())
    assert scope["client"] == ["203.0.113.7", 51234] and scope["server"] == ["192.0.2.1", 443]
    local = scope_through(server, v2_header(command=0x20))  # the proxy's own health check
    assert local["client"][0] == "127.0.0.1"


def test_header_decides_trust_for_forwarded_headers(start_server, implementation):
    """X-Forwarded-For counts only when the header's client is itself trusted."""
    server = start_server(APP, implementation, "--proxy-protocol", "v2")
    spoof = b"GET /scope HTTP/1.1\r\nhost: x\r\nx-forwarded-for: 10.9.9.9\r\n\r\n"
    assert scope_through(server, v2_header(), spoof)["client"] == ["203.0.113.7", 51234]


@pytest.mark.parametrize("header", [
    b"GET /scope HTTP/1.1\r\nhost: x\r\n\r\n",  # no header at all
    b"PROXY TCP4 198.51.100.22 nonsense 1 2\r\n",
])
def test_missing_or_malformed_header_closes(start_server, implementation, header):
    server = start_server(APP, implementation, "--proxy-protocol", "v1")
    with server.connect() as sock:
        sock.sendall(header + REQUEST)
        assert recv_until_closed(sock) == b""
    assert server.wait_for_log("PROXY protocol: invalid header from 127.0.0.1")
    assert scope_through(server, b"PROXY UNKNOWN\r\n")["client"][0] == "127.0.0.1"  # still serving


def test_header_wait_is_bounded(start_server, implementation):
    server = start_server(APP, implementation, "--proxy-protocol", "v2", "--timeout-request-header", "0.5")
    with server.connect() as sock:
        sock.sendall(V2_SIGNATURE[:5])  # a header that never completes
        assert recv_until_closed(sock, timeout=5) == b""
    assert server.wait_for_log("no header from 127.0.0.1")


def test_untrusted_peer_is_refused(start_server, implementation):
    server = start_server(APP, implementation, "--proxy-protocol", "v1", "--forwarded-allow-ips", "10.0.0.1")
    with server.connect() as sock:
        sock.sendall(b"PROXY TCP4 198.51.100.22 203.0.113.7 35646 80\r\n" + REQUEST)
        assert recv_until_closed(sock) == b""
    assert server.wait_for_log("which --forwarded-allow-ips does not trust")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_after_the_header(start_server, implementation, tmp_path):
    cert, key = make_certificate(str(tmp_path))
    server = start_server(APP, implementation, "--proxy-protocol", "v2", "--ssl-certfile", cert,
                          "--ssl-keyfile", key)
    context = ssl.create_default_context(cafile=cert)
    for together in (False, True):
        with server.connect() as raw:
            header = v2_header()
            if together:
                # The header and the ClientHello in one segment: the TLS layer gets the rest.
                incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
                tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
                with pytest.raises(ssl.SSLWantReadError):
                    tls.do_handshake()
                raw.sendall(header + outgoing.read())
                while True:
                    data = raw.recv(65536)
                    assert data, "closed during the handshake"
                    incoming.write(data)
                    try:
                        tls.do_handshake()
                        break
                    except ssl.SSLWantReadError:
                        raw.sendall(outgoing.read())
                raw.sendall(outgoing.read())
                tls.write(REQUEST)
                raw.sendall(outgoing.read())
                response = b""
                while b"}" not in response:
                    data = raw.recv(65536)
                    assert data
                    incoming.write(data)
                    try:
                        response += tls.read(65536)
                    except ssl.SSLWantReadError:
                        pass
                body = response.partition(b"\r\n\r\n")[2]
            else:
                raw.sendall(header)
                with context.wrap_socket(raw, server_hostname="localhost") as sock:
                    sock.sendall(REQUEST)
                    status, _, body, _, _ = read_response(sock)
                    assert status == 200
        scope = json.loads(body)
        assert scope["client"] == ["203.0.113.7", 51234]
        assert scope["scheme"] == "https"
        assert scope["extensions"]["tls"]["tls_version"] in (0x0303, 0x0304)


@pytest.mark.parametrize("version, loop", [("v1", "auto"), ("v2", "asyncio")])
def test_files_behind_the_header_go_by_sendfile(start_server, implementation, version, loop, tmp_path):
    """The transport that carries the header's addresses still hands out its
    socket: a file goes by the kernel's sendfile, not the read loop."""
    path = tmp_path / "file.bin"
    data = os.urandom(3 * 1024 * 1024 + 7)
    path.write_bytes(data)
    server = start_server(EXTENSION_APP, implementation, "--proxy-protocol", version, "--loop", loop,
                          "--log-level", "debug")
    header = (b"PROXY TCP4 198.51.100.22 203.0.113.7 35646 80\r\n" if version == "v1"
              else v2_header(source=("198.51.100.22", 35646)))
    with server.connect(timeout=10) as sock:
        sock.sendall(header + b"GET /pathsend?file=" + quote(str(path)).encode() + b" HTTP/1.1\r\nhost: x\r\n\r\n")
        status, _, body, _, _ = read_response(sock, timeout=10)
    assert status == 200 and body == data
    assert server.wait_for_log(f"sendfile: {len(data)} of {len(data)} bytes")
    assert server.wait_for_log('198.51.100.22:35646 - "GET /pathsend')  # the header's client, in the access log
    assert "file by reads" not in server.log
