"""The asyncio protocols: HTTP/1.1 (http.py, with its request cycle in
cycle.py) and WebSocket (websocket.py).

http.py and cycle.py are the readable source of the per-request shell.
With the compiled speedups they are also compiled as they are, as http_c
and cycle_c, with the C types of their fields in http_c.pxd and
cycle_c.pxd (Cython's pure Python mode; see _speedups/compiled.py).  So the
two twins of the shell cannot drift apart: they are one source.  Which one
runs is the selector's choice (fastasgi._speedups), made for the whole stack.
"""
from .. import _speedups


def http_module(implementation):
    """The HTTP protocol module of the 'compiled' or the 'pure' stack."""
    return _speedups.load(implementation).http


def new_server_state(config):
    """The state a server's connections share, of the class their protocol
    module defines: the compiled protocol types its server_state field, and
    the pure one reads the compiled class's fields alike."""
    try:
        stack = config.speedups()
    except ValueError:  # --http httptools without the build: config.load() says so
        stack = _speedups.load("pure")
    return stack.http.ServerState()
