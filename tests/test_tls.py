"""TLS with real certificates made by openssl: https/wss scopes and the tls extension."""
import asyncio
import json
import shutil
import ssl
import subprocess

import httpx
import pytest
from websockets.asyncio.client import connect

from .process_utils import make_certificate

pytestmark = [
    pytest.mark.timeout(40),
    pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command"),
]

APP = "tests.process_apps:app"


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("certs"))
    ca = make_certificate(directory, "ca", "fastasgi test CA")
    server = make_certificate(directory, "server", "localhost")
    client = make_certificate(directory, "client", "client", ca=ca)
    return {"dir": directory, "ca": ca, "server": server, "client": client}


def https(server, path):
    return f"https://127.0.0.1:{server.port}{path}"


def test_https_scope_and_tls_extension(start_server, implementation, certs):
    cert, key = certs["server"]
    server = start_server(APP, implementation, "--ssl-certfile", cert, "--ssl-keyfile", key)
    assert "running on https://127.0.0.1:" in server.log
    response = httpx.get(https(server, "/scope"), verify=ssl.create_default_context(cafile=cert))
    scope = response.json()
    assert scope["scheme"] == "https"
    tls = scope["extensions"]["tls"]
    assert tls["server_cert"] == open(cert).read()
    assert tls["client_cert_chain"] == []
    assert tls["client_cert_name"] is None
    assert tls["tls_version"] in (0x0303, 0x0304)
    # TLS 1.3's suites are 0x1301-0x1305 (RFC 8446, B.4).
    assert tls["cipher_suite"] in range(0x1301, 0x1306)
    # Plain HTTP on the TLS port is not served.
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{server.port}/scope", timeout=3)


def test_wss_scope(start_server, implementation, certs):
    cert, key = certs["server"]
    server = start_server(APP, implementation, "--ssl-certfile", cert, "--ssl-keyfile", key)
    context = ssl.create_default_context(cafile=cert)

    async def first_message():
        # The asyncio client, not the threaded one: that one reads and writes
        # one TLS connection from two threads, and on PyPy 3.9 its request
        # was sometimes never sent when the server's TLS 1.3 session tickets
        # arrived during the write (the server got the handshake, then
        # nothing, and closed the idle connection 5 s later).
        # 127.0.0.1, where the server listens ("localhost" may try ::1
        # first, where another process can hold the same port number),
        # checked as the certificate's name; a generous bound for a cold
        # PyPy server's TLS.
        async with connect(f"wss://127.0.0.1:{server.port}/ws", ssl=context, server_hostname="localhost",
                           open_timeout=15) as websocket:
            return await asyncio.wait_for(websocket.recv(), 10)

    try:
        message = json.loads(asyncio.run(first_message()))
    except Exception as exc:
        raise AssertionError(f"{exc!r}; server exit status {server.process.poll()}; "
                             f"server log:\n{server.log}") from exc
    assert message["scheme"] == "wss"
    assert message["tls"] is True


def test_tls12_cipher_suite_is_the_iana_number(start_server, implementation, certs):
    cert, key = certs["server"]
    server = start_server(APP, implementation, "--ssl-certfile", cert, "--ssl-keyfile", key)
    context = ssl.create_default_context(cafile=cert)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE-RSA-AES128-GCM-SHA256")
    tls = httpx.get(https(server, "/scope"), verify=context).json()["extensions"]["tls"]
    assert tls["tls_version"] == 0x0303
    assert tls["cipher_suite"] == 0xC02F  # TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256


def test_client_certificates_required(start_server, certs, implementation):
    cert, key = certs["server"]
    ca_cert, _ = certs["ca"]
    server = start_server(APP, implementation, "--ssl-certfile", cert, "--ssl-keyfile", key,
                          "--ssl-cert-reqs", str(int(ssl.CERT_REQUIRED)), "--ssl-ca-certs", ca_cert)
    context = ssl.create_default_context(cafile=cert)
    context.load_cert_chain(*certs["client"])
    scope = httpx.get(https(server, "/scope"), verify=context).json()
    tls = scope["extensions"]["tls"]
    assert tls["client_cert_name"] == "O=fastasgi tests,CN=client"
    assert len(tls["client_cert_chain"]) == 1
    assert tls["client_cert_chain"][0].startswith("-----BEGIN CERTIFICATE-----")
    anonymous = ssl.create_default_context(cafile=cert)
    with pytest.raises(httpx.HTTPError):
        httpx.get(https(server, "/scope"), verify=anonymous, timeout=3).raise_for_status()


def test_encrypted_key_with_password(start_server, certs, tmp_path, implementation):
    cert, key = certs["server"]
    encrypted = str(tmp_path / "encrypted.key")
    subprocess.run(["openssl", "pkey", "-in", key, "-out", encrypted, "-aes256", "-passout", "pass:s3cret"],
                   check=True, capture_output=True)
    server = start_server(APP, implementation, "--ssl-certfile", cert, "--ssl-keyfile", encrypted,
                          "--ssl-keyfile-password", "s3cret")
    response = httpx.get(https(server, "/pid"), verify=ssl.create_default_context(cafile=cert))
    assert response.status_code == 200


def test_bad_tls_settings_fail_at_startup(start_server, certs, implementation):
    cert, key = certs["server"]
    server = start_server(APP, implementation, "--ssl-certfile", cert, "--ssl-keyfile", key,
                          "--ssl-ciphers", "NO-SUCH-CIPHER", wait=False)
    assert server.process.wait(15) != 0
    server.stop()
    assert "Invalid TLS settings" in server.log


def test_tls_with_workers(start_server, certs, implementation):
    cert, key = certs["server"]
    server = start_server(APP, implementation, "--workers", "2", "--ssl-certfile", cert, "--ssl-keyfile", key)
    assert "running on https://" in server.log
    context = ssl.create_default_context(cafile=cert)
    from .process_utils import wait_serving

    wait_serving(https(server, "/pid"), verify=context)
