"""The ASGI `tls` extension: what a request served over TLS knows about it."""
import ssl

TLS_VERSIONS = {"TLSv1": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


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
        # The spec wants the IANA number; Python's ssl only names the suite.
        "cipher_suite": None,
    }


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
