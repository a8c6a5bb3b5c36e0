"""What fastasgi compiles, and the switch that turns compiling off: declared once.

COMPILED_MODULES lists every compiled module with the source it is built
from and the pure-Python module that stands in for it.  setup.py builds every
entry, the selector (fastasgi._speedups) imports every compiled module or
none, the wheel checks look for each one, and --version names them.  Adding
a compiled module is adding one line here.

setup.py reads this file before fastasgi can be imported (its dependencies
may not be installed yet), so it imports nothing but the standard library.
"""
import os

# role: (compiled module, the source it is built from, its pure-Python twin).
# A .pyx source is a hand-written twin; a .py source is compiled as it is
# (Cython's pure Python mode, with the C types in <compiled module>.pxd).
COMPILED_MODULES = {
    "parser": ("fastasgi._speedups.parser_c", "fastasgi/_speedups/parser_c.pyx", "fastasgi._speedups.parser_py"),
    "headers": ("fastasgi._speedups.headers_c", "fastasgi/_speedups/headers.py", "fastasgi._speedups.headers"),
    "response": ("fastasgi._speedups.response_c", "fastasgi/_speedups/response.py", "fastasgi._speedups.response"),
    "request": ("fastasgi._speedups.request_c", "fastasgi/_speedups/request.py", "fastasgi._speedups.request"),
    "grammar": ("fastasgi._speedups.grammar_c", "fastasgi/_speedups/grammar.py", "fastasgi._speedups.grammar"),
    "chunks": ("fastasgi._speedups.chunks_c", "fastasgi/_speedups/chunks.py", "fastasgi._speedups.chunks"),
    "headscan": ("fastasgi._speedups.headscan_c", "fastasgi/_speedups/headscan.py", "fastasgi._speedups.headscan"),
    "flow": ("fastasgi._speedups.flow_c", "fastasgi/_speedups/flow.py", "fastasgi._speedups.flow"),
    "byteloops": ("fastasgi._speedups.byteloops_c", "fastasgi/_speedups/byteloops_c.pyx",
                  "fastasgi._speedups.byteloops"),
    "wsframes": ("fastasgi._speedups.wsframes_c", "fastasgi/_speedups/wsframes.py", "fastasgi._speedups.wsframes"),
    "cycle": ("fastasgi.protocols.cycle_c", "fastasgi/protocols/cycle.py", "fastasgi.protocols.cycle"),
    "state": ("fastasgi.protocols.state_c", "fastasgi/protocols/state.py", "fastasgi.protocols.state"),
    "http11": ("fastasgi.protocols.http11_c", "fastasgi/protocols/http11.py", "fastasgi.protocols.http11"),
    "http": ("fastasgi.protocols.http_c", "fastasgi/protocols/http.py", "fastasgi.protocols.http"),
    "observer": ("fastasgi.observer_c", "fastasgi/observer.py", "fastasgi.observer"),
    "http2_codec": ("fastasgi.protocols.http2_codec_c", "fastasgi/protocols/http2_codec.py",
                    "fastasgi.protocols.http2_codec"),
    "http2_engine": ("fastasgi.protocols.http2_engine_c", "fastasgi/protocols/http2_engine.py",
                     "fastasgi.protocols.http2_engine"),
    "transport": ("fastasgi.protocols.transport_c", "fastasgi/protocols/transport.py",
                  "fastasgi.protocols.transport"),
    "http2_asyncio": ("fastasgi.protocols.http2_asyncio_c", "fastasgi/protocols/http2_asyncio.py",
                      "fastasgi.protocols.http2_asyncio"),
}

# FASTASGI_NO_EXTENSIONS=1 builds and runs the pure package;
# FASTASGI_REQUIRE_EXTENSIONS=1 makes a build that cannot compile fail.
NO_EXTENSIONS = "FASTASGI_NO_EXTENSIONS"
REQUIRE_EXTENSIONS = "FASTASGI_REQUIRE_EXTENSIONS"
_OFF = ("", "0", "false", "no", "off")


def flag(name, environ=os.environ):
    """Whether the switch `name` is on: any value but empty, 0, false, no or off."""
    return environ.get(name, "").strip().lower() not in _OFF
