"""A file sent by the kernel (os.sendfile) straight into a transport's socket.

asyncio's loop.sendfile exists on its selector loop only, and uvloop has
none: this one works on any loop whose transport hands out its socket
(plain TCP and Unix sockets; TLS must encrypt in the process, so it never
gets here).  The transport is used only through get_extra_info("socket"),
get_write_buffer_size(), is_closing() and abort(), so a transport of our own
serves as well as the loop's.

The file's bytes go past the transport's write buffer: the caller writes
nothing else on the transport until this returns, and this waits for the
buffer to be empty before the first byte.

Where the kernel cannot send the file (TLS, or a refusal), send_by_reads
reads it in pieces into the transport, one piece per client at a time.
"""
import asyncio
import errno
import logging
import os

logger = logging.getLogger("fastasgi.error")

# One sendfile call moves at most this much (the kernel takes what fits in
# the socket buffer anyway), and after this much sent without a wait the
# loop gets a turn: a client that reads as fast as the kernel sends must
# not hold the loop.
PIECE = 4 * 1024 * 1024
# While waiting for the socket, how often a transport closed by someone
# else (shutdown, a timeout) is noticed.
RECHECK = 1.0
# Errors that say the kernel cannot send this file to this socket: nothing
# was sent, the caller reads the file instead.
UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ESPIPE}

# A file sent by reading it goes in pieces of this size.  While it is sent
# the transport pauses the writer past READ_HIGH_WATER buffered bytes and
# resumes it below READ_LOW_WATER, so a slow client holds about two pieces
# in the server, not the TLS transport's default of 512 KiB plus a piece
# (its buffered bytes are encrypted copies: each one is resident memory).
READ_CHUNK = 64 * 1024
READ_HIGH_WATER = 2 * READ_CHUNK
READ_LOW_WATER = READ_CHUNK // 2


class WriteStalled(Exception):
    """The client took none of the file for the write timeout."""


class SendfileUnsupported(Exception):
    """The kernel cannot send this file on this socket; nothing was sent."""


def socket_fd(transport):
    """The fd sendfile may write to, or None (no socket: TLS, pipes)."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return None
    try:
        return sock.fileno()
    except (OSError, ValueError):
        return None


async def sendfile_to_socket(loop, transport, file_fd, offset, count, timeout):
    """Send `count` bytes of `file_fd` from `offset` on `transport`'s socket.

    Returns the bytes sent: fewer than `count` when the file ended early
    or the transport was closed meanwhile (the caller tells which).  A
    client that takes nothing for `timeout` seconds (0 or None: no limit)
    raises WriteStalled; one that went away raises its ConnectionError;
    SendfileUnsupported when the kernel refuses this file before any byte.
    """
    fd = socket_fd(transport)
    if fd is None or transport.is_closing():
        raise SendfileUnsupported("the transport has no socket")
    sent = 0
    calls = 0
    unyielded = 0  # bytes sent since the loop last ran
    # The socket's own fd is used only until the first suspension, while the
    # transport cannot have closed it.  After that, an fd of our own: once
    # the loop ran, the transport's fd may be closed and its number reused
    # by another client; and the loop refuses a writer on the transport's fd.
    waiting_fd = -1
    try:
        while sent < count:
            if transport.is_closing():
                return sent
            if not transport.get_write_buffer_size():
                left = count - sent
                calls += 1
                try:
                    done = os.sendfile(fd if waiting_fd < 0 else waiting_fd, file_fd, offset + sent,
                                       left if left < PIECE else PIECE)
                except BlockingIOError:
                    done = -1  # the socket buffer is full
                except OSError as exc:
                    if sent == 0 and exc.errno in UNSUPPORTED and not isinstance(exc, ConnectionError):
                        raise SendfileUnsupported(str(exc)) from None
                    raise
                if done == 0:
                    return sent  # the file ended before `count`
                if done > 0:
                    sent += done
                    unyielded += done
                    if unyielded >= PIECE and sent < count:  # the loop's turn (see PIECE)
                        unyielded = 0
                        if waiting_fd < 0:
                            waiting_fd = os.dup(fd)
                        await asyncio.sleep(0)
                    continue
            # Wait for room: for the kernel's buffer, or for the transport's
            # own bytes (the response head) to leave first.
            if waiting_fd < 0:
                waiting_fd = os.dup(fd)
            unyielded = 0
            if not await _writable(loop, waiting_fd, transport, timeout):
                raise WriteStalled()
        return sent
    finally:
        if waiting_fd >= 0:
            os.close(waiting_fd)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("sendfile: %d of %d bytes in %d calls", sent, count, calls)


async def _writable(loop, fd, transport, timeout):
    """Whether `fd` became writable (or the transport closed) within `timeout`."""
    waited = 0.0
    while True:
        step = RECHECK if not timeout or timeout - waited > RECHECK else timeout - waited
        waiter = loop.create_future()
        loop.add_writer(fd, _wake, waiter, True)
        timer = loop.call_later(step, _wake, waiter, False)
        try:
            ready = await waiter
        finally:
            # Before the fd is closed: an fd closed while still watched
            # would leave the poller watching the socket through our copy.
            loop.remove_writer(fd)
            timer.cancel()
        if ready or transport.is_closing():
            return True
        waited += step
        if timeout and waited >= timeout:
            return False


def _wake(waiter, ready):
    if not waiter.done():
        waiter.set_result(ready)


async def send_by_reads(transport, flow, cycle, fd, offset, count):
    """Send `count` bytes of `fd` from `offset` by reading them into `transport`.

    Returns the bytes written: fewer than `count` when the file ended early,
    `cycle`'s client went away or the transport closed.  `flow` is the
    connection's FlowControl: the next piece is read only once the transport
    has drained below the low-water mark, never into a full buffer.
    """
    limits = _lower_write_limits(transport)
    sent = 0
    pieces = 0
    peak = 0  # the most bytes the transport held, for the debug line
    try:
        while sent < count and not cycle.disconnected and not transport.is_closing():
            if flow.write_paused:
                await flow.drain()
                continue  # the client may have gone meanwhile
            left = count - sent
            chunk = os.pread(fd, READ_CHUNK if left > READ_CHUNK else left, offset + sent)
            if not chunk:
                break  # the file shrank
            transport.write(chunk)
            sent += len(chunk)
            pieces += 1
            buffered = transport.get_write_buffer_size()
            if buffered > peak:
                peak = buffered
        return sent
    finally:
        if limits is not None and not transport.is_closing():
            transport.set_write_buffer_limits(high=limits[1], low=limits[0])
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("file by reads: %d of %d bytes in %d pieces, at most %d bytes buffered",
                         sent, count, pieces, peak)


def _lower_write_limits(transport):
    """Lower `transport`'s write limits to the read loop's; its own (low, high), or None if it keeps them."""
    try:
        low, high = transport.get_write_buffer_limits()
    except (AttributeError, NotImplementedError):
        return None  # a transport without limits to read: its own flow control stands
    if high <= READ_HIGH_WATER:
        return None
    transport.set_write_buffer_limits(high=READ_HIGH_WATER, low=READ_LOW_WATER)
    return low, high
