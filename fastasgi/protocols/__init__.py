"""The asyncio protocols: HTTP/1.1 (http.py, with its request cycle in
cycle.py) and WebSocket (websocket.py).

http.py and cycle.py are the readable source of the per-request shell.
With the compiled speedups they are also compiled as they are, as http_c
and cycle_c, with the C types of their fields in http_c.pxd and
cycle_c.pxd (Cython's pure Python mode; see setup.py).  So the two twins
of the shell cannot drift apart: they are one source.
"""


def http_module(implementation):
    """The HTTP protocol module for the hot paths' implementation: http_c
    with 'compiled' (http if it was not built), http with 'pure'."""
    if implementation == "compiled":
        try:
            from . import http_c
            return http_c
        except ImportError:
            pass
    from . import http
    return http


def new_server_state(config):
    """The state a server's connections share, of the class their protocol
    module defines: the compiled protocol types its server_state field, and
    the pure one reads the compiled class's fields alike."""
    try:
        implementation = config.speedups().IMPLEMENTATION
    except ValueError:  # --http httptools without the build: config.load() says so
        implementation = "pure"
    return http_module(implementation).ServerState()
