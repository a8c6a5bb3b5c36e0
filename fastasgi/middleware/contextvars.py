"""--reset-contextvars: each request runs in a fresh, empty contextvars.Context.

Without it, a request's task copies the context of the server's task, so
values set during lifespan startup are visible to every request.
"""
import asyncio
import contextvars


class ResetContextVarsMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await self.app(scope, receive, send)
        # create_task copies the *current* context: make the empty one current.
        task = contextvars.Context().run(asyncio.ensure_future, self.app(scope, receive, send))
        return await task  # cancelling this task cancels the awaited one too
