"""ASGI apps for the reliability tests: limits, slow clients, faults, soak."""
import asyncio
import json
import sys
from urllib.parse import parse_qs

LEAKED = set()


async def read_body(receive):
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body


async def respond(send, status, body, headers=()):
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain"), *headers]})
    await send({"type": "http.response.body", "body": body})


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    path = scope["path"]
    query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
    if path == "/":
        await respond(send, 200, b"ok")
    elif path == "/echo":
        body = await read_body(receive)
        if body is not None:
            await respond(send, 200, body)
    elif path == "/late-reader":
        await asyncio.sleep(float(query.get("t", "1")))
        body = await read_body(receive)
        if body is not None:
            await respond(send, 200, body)
    elif path == "/size":
        body = await read_body(receive)
        if body is not None:
            await respond(send, 200, b"%d" % len(body))
    elif path == "/headers":
        headers = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]]
        await respond(send, 200, json.dumps({"headers": headers, "path": scope["path"],
                                             "query": scope["query_string"].decode()}).encode())
    elif path == "/big":
        # A streamed response far larger than any socket buffer.
        chunk = b"x" * int(query.get("chunk", 65536))
        count = int(query.get("n", 1000))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(count):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/te-chunked":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"transfer-encoding", b"chunked")]})
        await send({"type": "http.response.body", "body": b"abc", "more_body": True})
        await send({"type": "http.response.body", "body": b"def"})
    elif path == "/slow":
        print("slow request started", flush=True)
        await asyncio.sleep(float(query.get("t", "0.5")))
        await respond(send, 200, b"slow done")
    elif path == "/raise":
        raise RuntimeError("app failure on purpose")
    elif path == "/hang":
        await asyncio.sleep(3600)
    elif path == "/leak":
        task = asyncio.get_running_loop().create_task(asyncio.sleep(3600))
        LEAKED.add(task)
        await respond(send, 200, b"leaked %d" % len(LEAKED))
    elif path == "/rss":
        with open("/proc/self/status") as status:
            rss = next(line for line in status if line.startswith("VmRSS")).split()[1]
        await respond(send, 200, rss.encode())
    else:
        await respond(send, 404, b"not found")


if __name__ == "__main__":
    sys.exit("serve with: python -m fastasgi tests.reliability_apps:app")
