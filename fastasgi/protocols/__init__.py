"""The asyncio protocols: HTTP/1.1 (http.py, with its request cycle in
cycle.py), HTTP/2 (http2.py, http2_asyncio.py) and WebSocket (websocket.py),
over what a server's connections share whatever their protocol (state.py:
the server state, the connection settings, the protocol factory).

state.py, http.py and cycle.py are the readable source of the per-request
shell.  With the compiled speedups they are also compiled as they are, as
state_c, http_c and cycle_c, with the C types of their fields in their
`_c.pxd` files (Cython's pure Python mode; see _speedups/compiled.py).  So the
two twins of the shell cannot drift apart: they are one source.  Which one
runs is the selector's choice (fastasgi._speedups), made for the whole stack.
"""
from .. import _speedups


def http_module(implementation):
    """The HTTP protocol module of the 'compiled' or the 'pure' stack."""
    return _speedups.load(implementation).http


def state_module(implementation):
    """The shared-state module (server state, settings, factory) of the 'compiled' or the 'pure' stack."""
    return _speedups.load(implementation).state


def new_server_state(config):
    """The state a server's connections share, of the class of their stack:
    the compiled protocol types its server_state field, and the pure one
    reads the compiled class's fields alike."""
    try:
        stack = config.speedups()
    except ValueError:  # --http httptools without the build: config.load() says so
        stack = _speedups.load("pure")
    return stack.state.ServerState()
