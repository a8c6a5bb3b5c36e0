"""ASGI apps for the reliability tests: limits, slow clients, faults, soak."""
import asyncio
import gc
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
    if scope["type"] == "websocket":
        await websocket(scope, receive, send, path, query)
    elif path == "/":
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
    elif path == "/blob":
        # A whole large response in one send(): nothing in the app waits for the client.
        print("blob started", flush=True)
        await respond(send, 200, b"b" * int(query.get("size", 1 << 20)))
    elif path == "/framing":
        # The app's own framing headers, as the test names them: "te=gzip,chunked&cl=5&te2=chunked"
        headers = [(b"transfer-encoding", query[name].encode()) for name in ("te", "te2") if name in query]
        if "cl" in query:
            headers.append((b"content-length", query["cl"].encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"hello", "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/status":
        await respond(send, int(query["code"]), b"")
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
    elif path == "/gc":
        # Collect now: an exception nobody retrieved from a task is logged
        # when the task is collected, and a test wants to see that line.
        gc.collect()
        await respond(send, 200, b"collected")
    elif path == "/rss":
        with open("/proc/self/status") as status:
            rss = next(line for line in status if line.startswith("VmRSS")).split()[1]
        await respond(send, 200, rss.encode())
    else:
        await respond(send, 404, b"not found")



async def websocket(scope, receive, send, path, query):
    message = await receive()
    assert message["type"] == "websocket.connect"
    if path == "/ws-late-accept":
        # An app that looks something up before it accepts; then it reports
        # the size of each message it gets, until the client goes.
        await asyncio.sleep(float(query.get("t", "1")))
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            await send({"type": "websocket.send", "text": str(len(message.get("bytes") or b""))})
    # an ordinary echo app
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({k: v for k, v in message.items() if k in ("bytes", "text")} | {"type": "websocket.send"})


if __name__ == "__main__":
    sys.exit("serve with: python -m fastasgi tests.reliability_apps:app")
