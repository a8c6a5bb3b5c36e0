"""The ASGI `tls` extension: what a request served over TLS knows about it."""
import ssl

TLS_VERSIONS = {"TLSv1": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}
# OpenSSL cipher name -> IANA cipher suite number, read from the contexts
# that served connections (Python's ssl names a suite but never numbers it).
_CIPHER_SUITES = {}


def tls_extension(transport, server_cert):
    """scope["extensions"]["tls"] for a connection, or None when it is not TLS."""
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    client_cert_chain = []
    client_cert_name = None
    der = ssl_object.getpeercert(binary_form=True)
    if der:
        client_cert_chain.append(ssl.DER_cert_to_PEM_cert(der))
        client_cert_name = _rfc4514_name(ssl_object.getpeercert().get("subject", ()))
    return {
        "server_cert": server_cert,
        "client_cert_chain": client_cert_chain,
        "client_cert_name": client_cert_name,
        "client_cert_error": None,  # a failed verification never completes the handshake
        "tls_version": TLS_VERSIONS.get(ssl_object.version()),
        "cipher_suite": cipher_suite(ssl_object),
    }


def cipher_suite(ssl_object):
    """The IANA number of the connection's cipher suite, or None if unknown."""
    cipher = ssl_object.cipher()
    if not cipher:
        return None
    name = cipher[0]
    if name not in _CIPHER_SUITES:
        # OpenSSL's cipher id is 0x0300XXXX, where XXXX is the IANA number.
        for known in ssl_object.context.get_ciphers():
            _CIPHER_SUITES.setdefault(known["name"], known["id"] & 0xFFFF)
    return _CIPHER_SUITES.get(name)


def _rfc4514_name(subject):
    """ssl's subject tuples -> 'CN=client,O=Example' (most specific first)."""
    short = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU",
             "countryName": "C", "stateOrProvinceName": "ST", "localityName": "L",
             "streetAddress": "STREET", "domainComponent": "DC", "userId": "UID"}
    parts = []
    for rdn in reversed(subject):
        parts.append("+".join(f"{short.get(key, key)}={_escape(value)}" for key, value in rdn))
    return ",".join(parts)


def _escape(value):
    escaped = "".join("\\" + c if c in ',+"\\<>;' else c for c in value)
    if escaped[:1] in ("#", " "):
        escaped = "\\" + escaped
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return escaped
