"""The plain-ASGI app every server in the benchmark runs.

    /          hello (13 bytes)
    /echo      POST: the request body back
    /big       a 1 MiB response
    /stream    100 chunks of 1 KiB
    /file      a 1 MiB file through Starlette's FileResponse
    /file-100MiB  the same with a 100 MiB file
    ws /ws     websocket echo

The files are made once in FASTASGI_BENCH_FILES (bench/run.py makes them
there for all its servers), or in a temporary folder of this process's own.
"""
import atexit
import os
import shutil
import tempfile

from starlette.responses import FileResponse

BIG = b"x" * (1024 * 1024)
CHUNK = b"y" * 1024
TEXT_PLAIN = [(b"content-type", b"text/plain")]
FILE_SIZES = {"/file": 1024 * 1024, "/file-100MiB": 100 * 1024 * 1024}


def bench_file(size, directory=None):
    """The path of a file of `size` bytes for the benchmark, made if missing."""
    if directory is None:
        directory = os.environ.get("FASTASGI_BENCH_FILES") or _own_directory()
    path = os.path.join(directory, f"{size}.bin")
    if not os.path.exists(path):
        block = os.urandom(1024 * 1024)
        partial = path + f".{os.getpid()}"
        with open(partial, "wb") as file:
            for _ in range(size // len(block)):
                file.write(block)
            file.write(block[:size % len(block)])
        os.replace(partial, path)  # another server may be making it too
    return path


def _own_directory():
    global OWN_DIRECTORY
    if OWN_DIRECTORY is None:
        OWN_DIRECTORY = tempfile.mkdtemp(prefix="fastasgi-bench-")
        atexit.register(shutil.rmtree, OWN_DIRECTORY, True)
    return OWN_DIRECTORY


OWN_DIRECTORY = None


async def app(scope, receive, send):
    kind = scope["type"]
    if kind == "http":
        path = scope["path"]
        if path == "/echo":
            body = b""
            more = True
            while more:
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False)
            await send({"type": "http.response.start", "status": 200, "headers": TEXT_PLAIN})
            await send({"type": "http.response.body", "body": body})
        elif path == "/big":
            await send({"type": "http.response.start", "status": 200, "headers": TEXT_PLAIN})
            await send({"type": "http.response.body", "body": BIG})
        elif path in FILE_SIZES:
            # As most apps serve files: Starlette sends http.response.pathsend
            # where the server advertises it, and reads the file into body
            # messages where it does not.
            await FileResponse(bench_file(FILE_SIZES[path]), media_type="application/octet-stream")(
                scope, receive, send)
        elif path == "/stream":
            await send({"type": "http.response.start", "status": 200, "headers": TEXT_PLAIN})
            for _ in range(100):
                await send({"type": "http.response.body", "body": CHUNK, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        else:
            await send({"type": "http.response.start", "status": 200, "headers": TEXT_PLAIN})
            await send({"type": "http.response.body", "body": b"Hello, world!"})
    elif kind == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            message["type"] = "websocket.send"
            await send(message)
    elif kind == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
