"""The plain-ASGI app every server in the benchmark runs.

    /          hello (13 bytes)
    /echo      POST: the request body back
    /big       a 1 MiB response
    /stream    100 chunks of 1 KiB
    ws /ws     websocket echo
"""
BIG = b"x" * (1024 * 1024)
CHUNK = b"y" * 1024
TEXT_PLAIN = [(b"content-type", b"text/plain")]


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
