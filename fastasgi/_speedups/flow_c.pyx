"""Flow control, compiled twin of flow_py.py.

Two directions per connection:
- reading: request body bytes the app has not received yet are counted;
  past the high-water mark the transport stops reading, and it starts again
  once the app has drained below the low-water mark;
- writing: the transport's pause_writing/resume_writing are tracked, and
  `drain()` lets a sending app wait until the peer has caught up.
"""
import asyncio

READ_HIGH_WATER = 256 * 1024
READ_LOW_WATER = 64 * 1024

# C copies: the per-chunk counters compare against these without a lookup.
cdef Py_ssize_t _HIGH = READ_HIGH_WATER
cdef Py_ssize_t _LOW = READ_LOW_WATER


cdef class FlowControl:
    cdef public object transport
    cdef public bint read_paused
    cdef public bint write_paused
    cdef public Py_ssize_t buffered  # request body bytes received but not yet handed to the app
    cdef public object _drain_waiter

    def __init__(self, transport):
        self.transport = transport
        self.read_paused = False
        self.write_paused = False
        self.buffered = 0
        self._drain_waiter = None

    # reading -----------------------------------------------------------
    def body_received(self, Py_ssize_t size):
        self.buffered += size
        if self.buffered > _HIGH and not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def body_consumed(self, Py_ssize_t size):
        self.buffered -= size
        if self.read_paused and self.buffered <= _LOW:
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

    cdef _wake(self, exc):
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
