"""The bundled example app: plain ASGI, no framework needed.

    fastasgi examples.hello:app
"""


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    assert scope["type"] == "http"
    body = b""
    more_body = True
    while more_body:  # read the whole request body, if any
        message = await receive()
        body += message.get("body", b"")
        more_body = message.get("more_body", False)
    if scope["method"] == "POST":
        payload = body
    else:
        payload = b"Hello, world!\n"
    await send({
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"text/plain; charset=utf-8")],
    })
    await send({"type": "http.response.body", "body": payload})
