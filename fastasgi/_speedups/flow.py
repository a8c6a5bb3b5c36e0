"""Flow control of one connection.

Two directions per connection:
- reading: request body bytes that the app has not received yet are
  counted; past the high-water mark the transport stops reading, and it
  starts again once the app has drained below the low-water mark;
- writing: the transport's pause_writing/resume_writing are tracked, and
  `drain()` lets a sending app wait until the peer has caught up.

This module is also compiled, unchanged, as flow_c (flow_c.pxd gives its
fields C types; see compiled.py): the protocols call it per body chunk.
"""
import asyncio

READ_HIGH_WATER = 256 * 1024
READ_LOW_WATER = 64 * 1024


class FlowControl:
    __slots__ = ("transport", "read_paused", "write_paused", "buffered", "_drain_waiter")

    def __init__(self, transport):
        self.transport = transport
        self.read_paused = False
        self.write_paused = False
        self.buffered = 0  # request body bytes received but not yet handed to the app
        self._drain_waiter = None

    # reading -----------------------------------------------------------
    def body_received(self, size):
        self.buffered += size
        if self.buffered > READ_HIGH_WATER and not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def body_consumed(self, size):
        self.buffered -= size
        if self.read_paused and self.buffered <= READ_LOW_WATER:
            self.resume_reading()

    def pause_reading(self):
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def resume_reading(self):
        if self.read_paused:
            self.read_paused = False
            if not self.transport.is_closing():
                self.transport.resume_reading()

    # writing -----------------------------------------------------------
    def pause_writing(self):
        self.write_paused = True

    def resume_writing(self):
        self.write_paused = False
        self._wake(None)

    def connection_lost(self, exc):
        """Wake a waiting writer: the peer is gone, so there is nothing to wait for."""
        self.write_paused = False
        self._wake(exc)

    def _wake(self, exc):
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def drain(self):
        """Return once the transport accepts writes again."""
        if self.write_paused:
            waiter = self._drain_waiter
            if waiter is None:
                waiter = self._drain_waiter = asyncio.get_running_loop().create_future()
            await waiter
