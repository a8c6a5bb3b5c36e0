"""X-Forwarded-For / X-Forwarded-Proto from trusted proxies only.

A request's `client` and `scheme` are taken from the proxy headers only
when the connecting peer is trusted (--forwarded-allow-ips): IP
addresses, CIDR networks, '*' for everyone, or literals such as a Unix
socket path.  Anyone else could forge them.  Not a wrapping middleware:
the protocols ask ForwardedPolicy once per connection and apply it while
they build each scope.
"""
import functools
import ipaddress

SCHEMES = {"http", "https", "ws", "wss"}


class TrustedHosts:
    """Is this peer a trusted proxy?  Answers are cached per address."""

    def __init__(self, trusted):
        if isinstance(trusted, str):
            trusted = trusted.split(",")
        trusted = [item.strip() for item in trusted if item.strip()]
        self.always = "*" in trusted
        self.addresses = set()
        self.networks = []
        self.literals = set()
        for item in trusted:
            try:
                if "/" in item:
                    self.networks.append(ipaddress.ip_network(item, strict=False))
                else:
                    self.addresses.add(ipaddress.ip_address(item))
            except ValueError:
                self.literals.add(item)  # not an IP: a Unix socket path or a name
        self._cached = functools.lru_cache(maxsize=4096)(self._check)

    def __contains__(self, host):
        if self.always:
            return True
        if not host:
            return False
        if len(host) > 253:  # nothing that long can be trusted; keep it out of the cache
            return self._check(host)
        return self._cached(host)

    def _check(self, host):
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return host in self.literals
        if address.version == 6 and address.ipv4_mapped is not None:
            address_v4 = address.ipv4_mapped
            if address_v4 in self.addresses or any(address_v4 in net for net in self.networks):
                return True
        return address in self.addresses or any(address in net for net in self.networks)

    def client_from(self, forwarded_for):
        """The client in an X-Forwarded-For chain: the nearest untrusted hop.

        Each proxy appends the peer it saw, so walk from the right; if every
        hop is trusted, the leftmost one is the client.
        """
        hops = [hop.strip() for hop in forwarded_for.split(",")]
        if not self.always:
            for hop in reversed(hops):
                host, port = split_host_port(hop)
                if host not in self:
                    return host, port
        return split_host_port(hops[0])


def split_host_port(value):
    """'1.2.3.4', '1.2.3.4:80', '[::1]:80' or '::1' -> (host, port or 0)."""
    if value.startswith("["):
        host, bracket, rest = value[1:].partition("]")
        if bracket and rest.startswith(":") and rest[1:].isdigit():
            return host, int(rest[1:])
        return (host, 0) if bracket and not rest else (value, 0)
    if value.count(":") == 1:
        host, _, port = value.partition(":")
        if port.isdigit():
            return host, int(port)
        return value, 0
    return value, 0


class ForwardedPolicy:
    """--proxy-headers with --forwarded-allow-ips: whom to believe, and what it changes.

    The server asks `trusts(client)` once per connection (the peer does not
    change) and calls `apply(scope)` for each request of a trusted one that
    carries one of HEADERS: both parser twins flag those (head.proxied).
    """

    HEADERS = (b"x-forwarded-for", b"x-forwarded-proto")  # all that apply() reads

    def __init__(self, trusted_hosts="127.0.0.1", unix_socket=None):
        self.trusted = TrustedHosts(trusted_hosts)
        # A Unix socket peer has no address: the socket's path, listed as a
        # literal, is what trusts it.
        self.trust_unix = self.trusted.always or (unix_socket is not None and unix_socket in self.trusted.literals)

    def trusts(self, client):
        if client is None:
            return self.trust_unix
        return client[0] in self.trusted

    def apply(self, scope):
        proto = None
        forwarded_for = None
        for name, value in scope["headers"]:
            if name == b"x-forwarded-proto":  # see HEADERS
                proto = value
            elif name == b"x-forwarded-for":
                if forwarded_for is None:
                    forwarded_for = []
                forwarded_for.append(value)
        if proto is not None:
            proto = proto.decode("latin-1").strip().lower()
            if proto in SCHEMES:
                if scope["type"] == "websocket":
                    proto = proto.replace("http", "ws")
                scope["scheme"] = proto
        if forwarded_for:
            host, port = self.trusted.client_from(b", ".join(forwarded_for).decode("latin-1"))
            if host:  # an empty header names no one: keep the peer
                scope["client"] = (host, port)

