"""Addresses and transport facts for the ASGI scope."""

def get_remote_addr(transport):
    return _address(transport, "peername", "getpeername")


def get_local_addr(transport):
    return _address(transport, "sockname", "getsockname")


def _address(transport, name, method):
    """(host, port) of one end of the connection, or None (a Unix socket).

    The transport's own copy first: uvloop and asyncio fetch both names once
    when they accept, while get_extra_info("socket") builds a socket object
    (three more getsockname() calls on uvloop) for one more syscall.
    """
    info = transport.get_extra_info(name)
    if info is None:  # a transport that does not keep them
        sock = transport.get_extra_info("socket")
        if sock is None:
            return None
        try:
            info = getattr(sock, method)()
        except OSError:
            return None
    if isinstance(info, (list, tuple)) and len(info) >= 2:
        return (str(info[0]), int(info[1]))
    return None


def is_ssl(transport):
    return bool(transport.get_extra_info("sslcontext"))


def client_addr_for_log(scope):
    client = scope.get("client")
    if not client:
        return ""
    return f"{client[0]}:{client[1]}"

