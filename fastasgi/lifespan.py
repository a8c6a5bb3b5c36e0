"""The ASGI lifespan protocol: startup before serving, shutdown on exit.

mode "on": the app must speak lifespan; a failure stops the server.
mode "auto": an app that raises on the lifespan scope is taken to not
support it, and serving goes on.  mode "off": never sent.
"""
import asyncio
import logging

logger = logging.getLogger("fastasgi.error")


class Lifespan:
    def __init__(self, config):
        if not config.loaded:
            config.load()
        self.config = config
        self.mode = config.lifespan
        self.state = {}  # shared, copied into every request scope
        self.startup_event = asyncio.Event()
        self.shutdown_event = asyncio.Event()
        self.receive_queue = asyncio.Queue()
        self.startup_failed = False
        self.shutdown_failed = False
        self.error_occurred = False
        self.should_exit = False
        self.task = None

    async def startup(self):
        if self.mode == "off":
            return
        logger.info("Waiting for application startup.")
        self.task = asyncio.get_running_loop().create_task(self._main())
        await self.receive_queue.put({"type": "lifespan.startup"})
        await self.startup_event.wait()
        if self.startup_failed or (self.error_occurred and self.mode == "on"):
            logger.error("Application startup failed. Exiting.")
            self.should_exit = True
        else:
            logger.info("Application startup complete.")

    async def shutdown(self):
        if self.mode == "off" or self.task is None or self.error_occurred:
            return
        logger.info("Waiting for application shutdown.")
        await self.receive_queue.put({"type": "lifespan.shutdown"})
        await self.shutdown_event.wait()
        if self.shutdown_failed or (self.error_occurred and self.mode == "on"):
            logger.error("Application shutdown failed. Exiting.")
            self.should_exit = True
        else:
            logger.info("Application shutdown complete.")

    async def _main(self):
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        try:
            await self.config.loaded_app(scope, self.receive, self.send)
        except BaseException as exc:  # the app's lifespan failing must not crash the server
            self.error_occurred = True
            if self.startup_failed or self.shutdown_failed:
                return
            if self.mode == "auto":
                logger.info("ASGI 'lifespan' protocol appears unsupported.")
            else:
                logger.error("Exception in 'lifespan' protocol\n", exc_info=exc)
        finally:
            self.startup_event.set()
            self.shutdown_event.set()

    async def send(self, message):
        message_type = message["type"]
        if message_type == "lifespan.startup.complete":
            self._expect_startup(message_type)
            self.startup_event.set()
        elif message_type == "lifespan.startup.failed":
            self._expect_startup(message_type)
            self.startup_failed = True
            self.startup_event.set()
            if message.get("message"):
                logger.error(message["message"])
        elif message_type == "lifespan.shutdown.complete":
            self._expect_shutdown(message_type)
            self.shutdown_event.set()
        elif message_type == "lifespan.shutdown.failed":
            self._expect_shutdown(message_type)
            self.shutdown_failed = True
            self.shutdown_event.set()
            if message.get("message"):
                logger.error(message["message"])
        else:
            raise RuntimeError(f"Unexpected ASGI lifespan message '{message_type}'.")

    def _expect_startup(self, message_type):
        if self.startup_event.is_set():
            raise RuntimeError(f"Unexpected ASGI lifespan message '{message_type}': startup already finished.")

    def _expect_shutdown(self, message_type):
        if not self.startup_event.is_set() or self.shutdown_event.is_set():
            raise RuntimeError(f"Unexpected ASGI lifespan message '{message_type}'.")

    async def receive(self):
        return await self.receive_queue.get()
