"""ASGI apps the tests serve.  `app` routes on the path to one behaviour each."""
import asyncio
import contextvars
import json
import os
import weakref
from types import MappingProxyType
from urllib.parse import parse_qs


async def read_body(receive):
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise OSError("client went away")
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body


async def respond(send, status=200, body=b"", headers=None, content_type=b"text/plain"):
    headers = [(b"content-type", content_type)] + list(headers or [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def scope_as_json(scope):
    visible = {}
    for key, value in scope.items():
        if key == "headers":
            value = [[name.decode("latin-1"), val.decode("latin-1")] for name, val in value]
        elif isinstance(value, bytes):
            value = value.decode("latin-1")
        elif isinstance(value, tuple):
            value = list(value)
        visible[key] = value
    return json.dumps(visible, default=repr).encode()


async def lifespan(scope, receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            scope["state"]["started_by"] = "lifespan"
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            marker = os.environ.get("FASTASGI_TEST_SHUTDOWN_MARKER")
            if marker:
                with open(marker, "w") as file:
                    file.write("shutdown ran")
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        return await lifespan(scope, receive, send)
    path = scope["path"]
    query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
    route = ROUTES.get(path)
    if route is None:
        return await respond(send, 404, b"not found")
    await route(scope, receive, send, query)


async def hello(scope, receive, send, query):
    await respond(send, 200, b"Hello, world!")


async def echo(scope, receive, send, query):
    body = await read_body(receive)
    await respond(send, 200, body)


async def echo_chunks(scope, receive, send, query):
    """Reports the sizes of the body messages the server delivered."""
    sizes = []
    while True:
        message = await receive()
        sizes.append(len(message.get("body", b"")))
        if not message.get("more_body"):
            break
    await respond(send, 200, json.dumps(sizes).encode())


async def scope_view(scope, receive, send, query):
    await respond(send, 200, scope_as_json(scope), content_type=b"application/json")


async def stream(scope, receive, send, query):
    count = int(query.get("n", "3"))
    size = int(query.get("size", "5"))
    await send({"type": "http.response.start", "status": 200, "headers": []})
    for index in range(count):
        await send({"type": "http.response.body", "body": b"x" * size, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def raise_before_start(scope, receive, send, query):
    raise RuntimeError("boom before start")


async def raise_after_start(scope, receive, send, query):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"partial", "more_body": True})
    raise RuntimeError("boom after start")


async def no_response(scope, receive, send, query):
    return None


async def incomplete(scope, receive, send, query):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"part", "more_body": True})


async def length_mismatch(scope, receive, send, query):
    declared = int(query["declared"])
    actual = int(query["actual"])
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(declared).encode())]})
    await send({"type": "http.response.body", "body": b"y" * actual})


async def own_headers(scope, receive, send, query):
    await respond(send, 200, b"ok", headers=[(b"server", b"my-server"), (b"date", b"my-date"),
                                             (b"x-dup", b"1"), (b"x-dup", b"2")])


async def bad_header(scope, receive, send, query):
    await respond(send, 200, b"ok", headers=[(b"x-evil", b"a\r\nset-cookie: x=1")])


async def status(scope, receive, send, query):
    code = int(query["code"])
    await send({"type": "http.response.start", "status": code, "headers": []})
    await send({"type": "http.response.body", "body": b"should not be sent" if code in (204, 304) else b"body"})


async def head_length(scope, receive, send, query):
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"12")]})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else b"twelve bytes"})


async def sleep(scope, receive, send, query):
    await asyncio.sleep(float(query.get("s", "0.5")))
    await respond(send, 200, b"slept")


async def wait_disconnect(scope, receive, send, query):
    """Reads the body, then waits for http.disconnect and records it."""
    await read_body(receive)
    message = await receive()
    marker = query.get("marker")
    if marker:
        with open(marker, "w") as file:
            file.write(message["type"])


async def respond_without_reading(scope, receive, send, query):
    await respond(send, 200, b"did not read")


async def read_slowly(scope, receive, send, query):
    """Reads one message, waits, then the rest: the server must pause reading meanwhile."""
    total = 0
    first = await receive()
    total += len(first.get("body", b""))
    await asyncio.sleep(float(query.get("s", "1")))
    more = first.get("more_body", False)
    while more:
        message = await receive()
        total += len(message.get("body", b""))
        more = message.get("more_body", False)
    await respond(send, 200, str(total).encode())


async def state(scope, receive, send, query):
    await respond(send, 200, json.dumps(scope.get("state", {})).encode())


async def send_after_disconnect(scope, receive, send, query):
    """Waits for the disconnect, then sends: send() must raise OSError."""
    await read_body(receive)
    message = await receive()
    marker = query["marker"]
    try:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"late"})
        outcome = f"{message['type']} no error"
    except OSError as exc:
        outcome = f"{message['type']} {type(exc).__name__}"
    with open(marker, "w") as file:
        file.write(outcome)


async def start_then_wait(scope, receive, send, query):
    """Sends the head, then waits before the body: the head must not wait with it."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await asyncio.sleep(float(query.get("s", "1")))
    await send({"type": "http.response.body", "body": b"late body"})


async def chunk_then_wait(scope, receive, send, query):
    """A first chunk, then a wait: the chunk must not wait with the app (server-sent events)."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"first", "more_body": True})
    await asyncio.sleep(float(query.get("s", "1")))
    await send({"type": "http.response.body", "body": b"last"})


# Set by /context: a request must never see what an earlier one set.
REQUEST_MARK = contextvars.ContextVar("request_mark", default="unset")
RELEASES = {}  # /answer-then-wait's events, by name, set by /release


async def context(scope, receive, send, query):
    """Answers the mark it finds, then sets its own (and never resets it)."""
    seen = REQUEST_MARK.get()
    REQUEST_MARK.set(query.get("mark", "set"))
    await respond(send, 200, seen.encode())


def release_event(name):
    if name not in RELEASES:
        RELEASES[name] = asyncio.Event()
    return RELEASES[name]


async def answer_then_wait(scope, receive, send, query):
    """Answers, then runs on until /release?name= comes (at most s seconds)."""
    await respond(send, 200, b"answered")
    try:
        await asyncio.wait_for(release_event(query["name"]).wait(), float(query.get("s", "5")))
    except asyncio.TimeoutError:
        pass


async def release(scope, receive, send, query):
    release_event(query["name"]).set()
    await respond(send, 200, b"released")


async def cancelled(scope, receive, send, query):
    """Its own task cancels it while it waits; it catches that and answers."""
    task = asyncio.current_task()
    if task is None:
        return await respond(send, 500, b"no current task")
    asyncio.get_running_loop().call_later(0.01, task.cancel)
    try:
        await asyncio.sleep(5)
    except asyncio.CancelledError:
        if hasattr(task, "uncancel"):  # 3.11+: the cancellation is handled
            task.uncancel()
        return await respond(send, 200, b"cancelled")
    await respond(send, 500, b"not cancelled")


async def send_wrapped(scope, receive, send, query):
    """Awaits send() the ways frameworks and apps do: in a task of its own
    (which takes only a coroutine, as anyio's start_soon does), from
    another thread through run_coroutine_threadsafe, under wait_for and in
    gather.  So send() must return a coroutine, as uvicorn's does."""
    loop = asyncio.get_running_loop()
    start = {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
    await loop.create_task(send(start))
    in_thread = asyncio.run_coroutine_threadsafe  # the coroutine made there, run here
    await loop.run_in_executor(None, lambda: in_thread(
        send({"type": "http.response.body", "body": b"a", "more_body": True}), loop).result())
    await asyncio.wait_for(send({"type": "http.response.body", "body": b"b", "more_body": True}), 5)
    await asyncio.gather(send({"type": "http.response.body", "body": b"c", "more_body": True}))
    await send({"type": "http.response.body", "body": b"d"})


class MessageDict(dict):
    """A dict subclass as a message, as some frameworks' typed messages are."""


async def mapping_messages(scope, receive, send, query):
    """The response start as a read-only mapping, the body as a dict subclass:
    ASGI says dict, and the server takes any mapping, as uvicorn does."""
    await send(MappingProxyType({"type": "http.response.start", "status": 200,
                                 "headers": [(b"content-type", b"text/plain")]}))
    await send(MessageDict(type="http.response.body", body=b"from mappings"))


async def list_message(scope, receive, send, query):
    await send([("type", "http.response.start"), ("status", 200)])


# The tasks the task factory below made: asyncio's C Task takes no attributes.
FACTORY_TASKS = weakref.WeakSet()


def marking_task_factory(loop, coro, **kwargs):
    """A loop task factory, as tracing libraries install: it makes a plain
    task and remembers it."""
    task = asyncio.Task(coro, loop=loop, **kwargs)
    FACTORY_TASKS.add(task)
    return task


async def install_task_factory(scope, receive, send, query):
    asyncio.get_running_loop().set_task_factory(marking_task_factory)
    await respond(send, 200, b"installed")


async def task_info(scope, receive, send, query):
    """The name of the task running this request, and whether the loop's task factory made it."""
    task = asyncio.current_task()
    info = {"name": task.get_name(), "by_factory": task in FACTORY_TASKS}
    await respond(send, 200, json.dumps(info).encode(), content_type=b"application/json")


ROUTES = {
    "/": hello,
    "/install-task-factory": install_task_factory,
    "/task": task_info,
    "/send-wrapped": send_wrapped,
    "/echo": echo,
    "/echo-chunks": echo_chunks,
    "/scope": scope_view,
    "/stream": stream,
    "/raise": raise_before_start,
    "/raise-after-start": raise_after_start,
    "/no-response": no_response,
    "/incomplete": incomplete,
    "/length-mismatch": length_mismatch,
    "/own-headers": own_headers,
    "/bad-header": bad_header,
    "/status": status,
    "/head-length": head_length,
    "/sleep": sleep,
    "/wait-disconnect": wait_disconnect,
    "/no-read": respond_without_reading,
    "/read-slowly": read_slowly,
    "/state": state,
    "/send-after-disconnect": send_after_disconnect,
    "/start-then-wait": start_then_wait,
    "/chunk-then-wait": chunk_then_wait,
    "/context": context,
    "/answer-then-wait": answer_then_wait,
    "/release": release,
    "/cancelled": cancelled,
    "/mapping-messages": mapping_messages,
    "/list-message": list_message,
}


# -- apps for the lifespan, interface and loading tests ------------------
async def lifespan_fails(scope, receive, send):
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "database unreachable"})
        return
    await respond(send, 200, b"never")


async def lifespan_unsupported(scope, receive, send):
    if scope["type"] != "http":
        raise RuntimeError("only http here")
    await respond(send, 200, b"no lifespan")


class ASGI2App:
    def __init__(self, scope):
        self.scope = scope

    async def __call__(self, receive, send):
        await respond(send, 200, b"asgi2 " + self.scope["type"].encode())


def factory():
    async def made(scope, receive, send):
        if scope["type"] == "http":
            await respond(send, 200, b"from factory")
    return made


# -- prefix routes (appended): any path under a prefix goes to one handler ----
class _PrefixRoutes(dict):
    """ROUTES plus prefix routes, tried only when no exact route matched.

    "/scope/..." shows the scope for any path (percent-decoding tests), and
    "/api/scope..." does the same under --root-path /api (scope["path"]
    includes the root path).  Exact routes behave as before.
    """

    prefixes = (("/scope/", scope_view), ("/api/scope", scope_view))

    def get(self, path, default=None):
        route = dict.get(self, path)
        if route is not None:
            return route
        for prefix, handler in self.prefixes:
            if path.startswith(prefix):
                return handler
        return default


ROUTES = _PrefixRoutes(ROUTES)
