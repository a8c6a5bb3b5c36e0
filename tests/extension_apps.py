"""Apps that use the ASGI extensions (tests/test_file_extensions.py, tests/test_trailers_and_hints.py).

A file to send comes in the query string (`file=`): the tests make it."""
import asyncio
import json
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.responses import FileResponse
from starlette.routing import Route


def _query(scope):
    return {name: values[0] for name, values in parse_qs(scope["query_string"].decode()).items()}


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    query = _query(scope)
    route = scope["path"]
    if route == "/extensions":
        body = json.dumps(sorted(scope["extensions"])).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})
    elif route == "/pathsend":
        headers = [(b"content-type", b"application/octet-stream")]
        if "length" in query:
            headers.append((b"content-length", query["length"].encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if "wait" in query:
            await asyncio.sleep(0.05)  # the head goes out alone first, framed chunked
        await send({"type": "http.response.pathsend", "path": query["file"]})
    elif route == "/zerocopy":
        # A slice by offset and count, then a body chunk, then the rest from the file's position.
        with open(query["file"], "rb") as file:
            file.seek(int(query["seek"]))
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.zerocopysend", "file": file, "offset": int(query["offset"]),
                        "count": int(query["count"]), "more_body": True})
            await send({"type": "http.response.body", "body": b"|", "more_body": True})
            file.seek(int(query["seek"]))
            await send({"type": "http.response.zerocopysend", "file": file})
    elif route == "/trailers":
        # Body in two chunks, then trailers in two messages; `bad=` adds a forbidden one.
        await send({"type": "http.response.start", "status": 200, "trailers": True,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"hello ", "more_body": True})
        await send({"type": "http.response.body", "body": b"world"})
        await send({"type": "http.response.trailers", "headers": [(b"x-checksum", b"abc")], "more_trailers": True})
        last = [(b"grpc-status", b"0")]
        if "bad" in query:
            last.append((query["bad"].encode(), b"1"))
        await send({"type": "http.response.trailers", "headers": last})
    elif route == "/hints":
        await send({"type": "http.response.early_hint", "links": [b"</style.css>; rel=preload; as=style"]})
        await send({"type": "http.response.early_hint",
                    "links": [b"</app.js>; rel=preload; as=script", b"</font.woff2>; rel=preload; as=font"]})
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"page"})


async def file_response(request):
    return FileResponse(request.query_params["file"])


starlette_app = Starlette(routes=[Route("/file", file_response)])
