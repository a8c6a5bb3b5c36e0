"""Addresses and transport facts for the ASGI scope."""

def get_remote_addr(transport):
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            info = sock.getpeername()
        except OSError:
            return None
        return (str(info[0]), int(info[1])) if isinstance(info, tuple) else None
    info = transport.get_extra_info("peername")
    if isinstance(info, (list, tuple)) and len(info) >= 2:
        return (str(info[0]), int(info[1]))
    return None


def get_local_addr(transport):
    sock = transport.get_extra_info("socket")
    if sock is not None:
        info = sock.getsockname()
        return (str(info[0]), int(info[1])) if isinstance(info, tuple) else None
    info = transport.get_extra_info("sockname")
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

