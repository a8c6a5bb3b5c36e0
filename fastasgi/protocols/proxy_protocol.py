"""The PROXY protocol (v1 text, v2 binary), as HAProxy, AWS NLB and
Kubernetes load balancers send it ahead of a connection's own bytes.

With `--proxy-protocol v1|v2` each accepted connection starts with a
ProxyProtocolGate: it reads the header (only from peers allowed by
--forwarded-allow-ips, and only for --timeout-request-header seconds),
then hands the connection to the HTTP protocol with the client and server
addresses the header names.  With --ssl-* the TLS handshake starts after
the header, which the proxy sends in clear before the client's bytes.

The parser is sans-I/O: `parse_header(data, version)` takes the bytes
received so far.  Spec: https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt
"""
import asyncio
import ipaddress
import logging
import socket
import struct
from asyncio import sslproto

logger = logging.getLogger("fastasgi.error")

VERSIONS = ("off", "v1", "v2")
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_PREFIX = b"PROXY "
V1_MAX_LENGTH = 107  # the spec's worst case, CRLF included
V2_HEAD = struct.Struct("!12sBBH")  # signature, version+command, family+transport, length
# A v2 header's addresses and TLVs: the spec allows up to 64 KiB, real
# proxies send a few hundred bytes (TLVs included).  More is an attack.
V2_MAX_PAYLOAD = 4096
V2_LOCAL, V2_PROXY = 0x20, 0x21
V2_ADDRESSES = {  # family+transport byte -> (address length, struct of the addresses and ports)
    0x11: struct.Struct("!4s4sHH"),  # TCP over IPv4
    0x12: struct.Struct("!4s4sHH"),  # UDP over IPv4
    0x21: struct.Struct("!16s16sHH"),  # TCP over IPv6
    0x22: struct.Struct("!16s16sHH"),  # UDP over IPv6
}


class ProxyHeaderError(ValueError):
    """The bytes are not the PROXY header this server expects."""


class ProxyHeader:
    """What a PROXY header says: the client's and the proxy's addresses,
    or None for both when the proxy speaks for itself (v2 LOCAL, v1
    UNKNOWN: its own health checks)."""

    __slots__ = ("version", "client", "server", "length")

    def __init__(self, version, client, server, length):
        self.version = version
        self.client = client  # (host, port) or None
        self.server = server
        self.length = length  # bytes the header took

    def __repr__(self):
        return f"ProxyHeader({self.version}, client={self.client}, server={self.server})"


def parse_header(data, version):
    """The ProxyHeader at the start of `data`, None if more bytes are needed.

    Raises ProxyHeaderError if `data` cannot start with a `version` header.
    """
    if version == "v1":
        return _parse_v1(data)
    if version == "v2":
        return _parse_v2(data)
    raise ValueError(f"unknown PROXY protocol version {version!r}")


def _parse_v1(data):
    if not data.startswith(V1_PREFIX[:len(data)]):
        raise ProxyHeaderError("not a PROXY protocol v1 header")
    end = data.find(b"\r\n", 0, V1_MAX_LENGTH)
    if end < 0:
        if len(data) >= V1_MAX_LENGTH:
            raise ProxyHeaderError("PROXY v1 header longer than 107 bytes")
        return None
    parts = data[:end].split(b" ")
    if parts[1:2] == [b"UNKNOWN"]:
        return ProxyHeader("v1", None, None, end + 2)
    if len(parts) != 6 or parts[1] not in (b"TCP4", b"TCP6"):
        raise ProxyHeaderError("malformed PROXY v1 header")
    family = 4 if parts[1] == b"TCP4" else 6
    try:
        source = _v1_address(parts[2], family)
        destination = _v1_address(parts[3], family)
        source_port = _v1_port(parts[4])
        destination_port = _v1_port(parts[5])
    except ValueError as exc:
        raise ProxyHeaderError(f"malformed PROXY v1 header: {exc}") from None
    return ProxyHeader("v1", (source, source_port), (destination, destination_port), end + 2)


def _v1_address(raw, family):
    address = ipaddress.ip_address(raw.decode("ascii"))
    if address.version != family:
        raise ValueError(f"{raw!r} is not an IPv{family} address")
    return str(address)


def _v1_port(raw):
    # The spec: decimal, no leading zero, 0-65535.
    if not raw.isdigit() or (len(raw) > 1 and raw[:1] == b"0") or int(raw) > 65535:
        raise ValueError(f"bad port {raw!r}")
    return int(raw)


def _parse_v2(data):
    if not data.startswith(V2_SIGNATURE[:len(data)]):
        raise ProxyHeaderError("not a PROXY protocol v2 header")
    if len(data) < V2_HEAD.size:
        return None
    _, version_command, family, length = V2_HEAD.unpack_from(data)
    if version_command not in (V2_LOCAL, V2_PROXY):
        raise ProxyHeaderError(f"PROXY v2 header with version/command byte 0x{version_command:02x}")
    if length > V2_MAX_PAYLOAD:
        raise ProxyHeaderError(f"PROXY v2 header of {length} bytes (at most {V2_MAX_PAYLOAD})")
    total = V2_HEAD.size + length
    if len(data) < total:
        return None
    if version_command == V2_LOCAL:
        return ProxyHeader("v2", None, None, total)
    addresses = V2_ADDRESSES.get(family)
    if addresses is None:
        # UNSPEC or a Unix socket: nothing the scope can use; the spec says
        # the receiver then uses the connection's own addresses.
        if family in (0x00, 0x31, 0x32):
            return ProxyHeader("v2", None, None, total)
        raise ProxyHeaderError(f"PROXY v2 header with unknown address family 0x{family:02x}")
    if length < addresses.size:
        raise ProxyHeaderError("PROXY v2 header too short for its addresses")
    source, destination, source_port, destination_port = addresses.unpack_from(data, V2_HEAD.size)
    ip = socket.AF_INET if len(source) == 4 else socket.AF_INET6
    return ProxyHeader("v2", (socket.inet_ntop(ip, source), source_port),
                       (socket.inet_ntop(ip, destination), destination_port), total)


class AddressedTransport:
    """A transport whose peer and local addresses are the PROXY header's.

    Everything else goes to the real transport (or, under TLS, the TLS
    layer's transport), its extra info too: get_extra_info("socket") is the
    accepted socket, so a file still goes by sendfile (sendfile.py).  `set_protocol` goes through too, so a websocket
    upgrade hands the real transport over as it does without the header.
    """

    __slots__ = ("transport", "extra")

    def __init__(self, transport, peername, sockname):
        self.transport = transport
        self.extra = {"peername": peername, "sockname": sockname}

    def get_extra_info(self, name, default=None):
        if name in self.extra:
            return self.extra[name]
        return self.transport.get_extra_info(name, default)

    def write(self, data):
        self.transport.write(data)

    def writelines(self, list_of_data):
        self.transport.writelines(list_of_data)

    def is_closing(self):
        return self.transport.is_closing()

    def close(self):
        self.transport.close()

    def abort(self):
        self.transport.abort()

    def pause_reading(self):
        self.transport.pause_reading()

    def resume_reading(self):
        self.transport.resume_reading()

    def is_reading(self):
        return self.transport.is_reading()

    def set_protocol(self, protocol):
        self.transport.set_protocol(protocol)

    def get_protocol(self):
        return self.transport.get_protocol()

    def can_write_eof(self):
        return self.transport.can_write_eof()

    def write_eof(self):
        self.transport.write_eof()

    def get_write_buffer_size(self):
        return self.transport.get_write_buffer_size()

    def get_write_buffer_limits(self):
        return self.transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high=None, low=None):
        self.transport.set_write_buffer_limits(high, low)


class ProxyProtocolFactory:
    """Wraps the server's protocol factory: each connection starts at a gate."""

    def __init__(self, protocol_factory, config, loop):
        from ..middleware.proxy_headers import ForwardedPolicy

        self.protocol_factory = protocol_factory
        self.version = config.proxy_protocol
        self.trusted = ForwardedPolicy(config.forwarded_allow_ips, config.uds)
        self.timeout = config.timeout_request_header or 10.0
        self.ssl = config.ssl  # the handshake happens here, after the header
        self.loop = loop

    def __call__(self):
        return ProxyProtocolGate(self)


class ProxyProtocolGate(asyncio.Protocol):
    """A connection until its PROXY header is read."""

    def __init__(self, factory):
        self.factory = factory
        self.transport = None
        self.buffer = b""
        self.timer = None
        self.peer = None

    def connection_made(self, transport):
        self.transport = transport
        self.peer = transport.get_extra_info("peername")
        peer = self.peer if isinstance(self.peer, (tuple, list)) else None
        if not self.factory.trusted.trusts(peer and (str(peer[0]), int(peer[1]))):
            logger.warning("PROXY protocol: connection from %s, which --forwarded-allow-ips does not "
                           "trust, closed.", _format(peer))
            transport.abort()
            return
        self.timer = self.factory.loop.call_later(self.factory.timeout, self._timed_out)

    def data_received(self, data):
        self.buffer += data
        try:
            header = parse_header(self.buffer, self.factory.version)
        except ProxyHeaderError as exc:
            logger.warning("PROXY protocol: invalid header from %s: %s; connection closed.",
                           _format(self.peer), exc)
            self._give_up()
            return
        if header is None:
            return
        self.timer.cancel()
        rest = self.buffer[header.length:]
        self.buffer = b""
        self._hand_over(header, rest)

    def eof_received(self):
        logger.info("PROXY protocol: %s closed before sending its header.", _format(self.peer))
        self._give_up()

    def connection_lost(self, exc):
        if self.timer is not None:
            self.timer.cancel()

    def _timed_out(self):
        logger.warning("PROXY protocol: no header from %s within %s s; connection closed.",
                       _format(self.peer), self.factory.timeout)
        self._give_up()

    def _give_up(self):
        if self.timer is not None:
            self.timer.cancel()
        self.transport.abort()

    def _hand_over(self, header, rest):
        transport = self.transport
        if header.client is not None:
            peername, sockname = header.client, header.server
        else:  # the proxy's own connection: its addresses are the real ones
            peername = transport.get_extra_info("peername")
            sockname = transport.get_extra_info("sockname")
        protocol = self.factory.protocol_factory()
        if self.factory.ssl is None:
            transport.set_protocol(protocol)
            protocol.connection_made(AddressedTransport(transport, peername, sockname))
            if rest:
                protocol.data_received(rest)
            return
        # TLS starts now: the rest of the bytes are the client's handshake.
        tls = sslproto.SSLProtocol(self.factory.loop, _TlsReady(protocol, peername, sockname),
                                   self.factory.ssl, None, server_side=True)
        transport.set_protocol(tls)
        tls.connection_made(transport)
        if rest:
            _feed(tls, rest)


class _TlsReady(asyncio.Protocol):
    """The TLS layer's app protocol until its handshake is done: then the
    HTTP protocol takes its place."""

    def __init__(self, protocol, peername, sockname):
        self.protocol = protocol
        self.peername = peername
        self.sockname = sockname

    def connection_made(self, transport):
        transport.set_protocol(self.protocol)
        self.protocol.connection_made(AddressedTransport(transport, self.peername, self.sockname))

    def connection_lost(self, exc):
        pass  # the handshake failed: asyncio has logged why


def _feed(protocol, data):
    """Bytes already read, given to a protocol as its transport would."""
    if isinstance(protocol, asyncio.BufferedProtocol):
        view = memoryview(data)
        while view:
            buffer = protocol.get_buffer(len(view))
            size = min(len(buffer), len(view))
            buffer[:size] = view[:size]
            protocol.buffer_updated(size)
            view = view[size:]
    else:
        protocol.data_received(data)


def _format(peer):
    if isinstance(peer, (tuple, list)) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return "a Unix socket peer"
