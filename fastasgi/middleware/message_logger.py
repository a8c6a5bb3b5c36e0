"""--log-level trace: log every ASGI message an app receives and sends.

Bodies and headers are replaced by their sizes, so a trace log shows the
conversation without the payload.  Only installed at trace level: it costs
a closure per request.
"""
import logging

from ..logging import TRACE_LOG_LEVEL

logger = logging.getLogger("fastasgi.asgi")

PLACEHOLDERS = {"body": "<{} bytes>", "bytes": "<{} bytes>", "text": "<{} chars>", "headers": "<...>"}


def summarise(message):
    shown = dict(message)
    for key, placeholder in PLACEHOLDERS.items():
        if shown.get(key) is not None:
            shown[key] = placeholder.format(len(shown[key]))
    shown.pop("state", None)  # shared lifespan state: not the request's business
    return shown


class MessageLoggerMiddleware:
    def __init__(self, app):
        self.app = app
        self.counter = 0

    async def __call__(self, scope, receive, send):
        self.counter += 1
        number = self.counter
        client = scope.get("client")
        prefix = f"{client[0]}:{client[1]} - ASGI" if client else "ASGI"

        async def logged_receive():
            message = await receive()
            logger.log(TRACE_LOG_LEVEL, "%s [%d] Receive %s", prefix, number, summarise(message))
            return message

        async def logged_send(message):
            logger.log(TRACE_LOG_LEVEL, "%s [%d] Send %s", prefix, number, summarise(message))
            await send(message)

        logger.log(TRACE_LOG_LEVEL, "%s [%d] Started scope=%s", prefix, number, summarise(scope))
        try:
            await self.app(scope, logged_receive, logged_send)
        except BaseException:
            logger.log(TRACE_LOG_LEVEL, "%s [%d] Raised exception", prefix, number)
            raise
        logger.log(TRACE_LOG_LEVEL, "%s [%d] Completed", prefix, number)
