"""What the protocols do differently on asyncio's own event loop.

uvloop (the default on CPython) reads into a buffer of its own and hands
the protocol bytes; asyncio's selector loop, which PyPy and `--loop
asyncio` run, calls recv() with a 256 KiB size on every read.  PyPy
allocates that whole buffer each time, in memory its GC must then collect:
under a 16 KiB POST echo load, its major collections took about half of
the server's time.  So on this loop:

- the HTTP and websocket protocols are BufferedProtocols that read into
  one buffer shared by all the connections of a server (its loop reads for
  one connection at a time, and the bytes are copied out at once);
- before Python 3.12, whose eager tasks do this themselves, an app's first
  step runs at once inside data_received() instead of on the next loop
  turn: a request body is used while it is young, not kept alive across a
  turn in which the GC moves it to the old generation.
"""
import asyncio

# Bytes per read, into a buffer reused by every read: on PyPy recv_into()
# and a copy out cost less than a recv() of a fresh buffer
# (bench/read_size.py; docs/performance.md).
READ_SIZE = 64 * 1024


def new_read_buffer():
    """The read buffer of one server: one per server, not per process, since
    servers in other threads read while this one's recv_into() has let go
    of the GIL."""
    return memoryview(bytearray(READ_SIZE))


def is_asyncio_loop(loop):
    """True for asyncio's own event loops, False for uvloop and others."""
    return isinstance(loop, asyncio.BaseEventLoop)


class SharedReadBuffer(asyncio.BufferedProtocol):
    """The BufferedProtocol half of a protocol written for data_received():
    it reads into `self.server_state.read_buffer`."""

    __slots__ = ()

    def get_buffer(self, sizehint):
        return self.server_state.read_buffer

    def buffer_updated(self, nbytes):
        self.data_received(bytes(self.server_state.read_buffer[:nbytes]))


def run_first_step(loop, task):
    """Run the first step of `task`, just created, now rather than next turn.

    This is what eager_start does on Python 3.12+.  create_task() has just
    queued the step as the last handle of the loop; it is taken back and
    run here, in the task's context, with the task current.  Returns False,
    leaving the step queued, inside another task (steps do not nest) or if
    the loop's last handle is not that step.
    """
    if asyncio.current_task(loop) is not None:
        return False
    ready = loop._ready
    if not ready:
        return False
    handle = ready[-1]
    if getattr(handle._callback, "__self__", None) is not task:
        return False
    ready.pop()
    handle._run()
    return True
