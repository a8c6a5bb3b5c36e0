"""fastasgi's own accept path and transport for plain TCP connections.

The loop's create_server() gives each connection the loop's transport
(uvloop's TCPTransport, asyncio's selector transport).  For plain TCP
(no TLS) the server can instead use these: the listening socket's accept
runs from loop.add_reader(), and each accepted socket is driven from the
loop's reader and writer callbacks by a SocketTransport that

- reads into one buffer shared by a server's connections (the loop runs
  one callback at a time) and hands the protocol a copy of what came;
- writes straight to the socket with send()/sendmsg() (writev), keeping
  a list of pending output, and a writer callback, only while the kernel's
  buffer is full;
- pauses and resumes the protocol's writing at the write-buffer limits,
  and the loop's reading on pause_reading()/resume_reading();
- keeps asyncio's close semantics: close() lets pending output go out
  first, abort() drops it, eof from the peer calls eof_received() and
  closes unless it returns true, connection_lost() is called exactly once,
  on a later loop turn, and the socket is closed after it.

Where the loop's transport builds its per-connection state in C, this one
keeps what a connection needs in one slotted object: the peer's address
comes from accept() and our own from the listening socket when it is bound
to one address, so neither costs a system call.

This module is also compiled, unchanged, as transport_c (transport_c.pxd
gives the two classes C fields); the server takes the listener of the same
stack as its protocol, compiled or pure.

Which connections it serves is decided by measurement (docs/performance.md):
on asyncio's own loops (--loop asyncio, PyPy) it costs less per connection
than the selector transport; on uvloop, whose transport is compiled C, it
costs more, so uvloop keeps its own.  FASTASGI_TRANSPORT overrides this:
"loop" turns this path off everywhere (the loop's transports, as for TLS
and Unix sockets), "own" uses it on every loop.
"""
import _socket
import asyncio
import errno
import logging
import os
import socket

logger = logging.getLogger("fastasgi.error")

# Output the kernel did not take, past which the protocol is asked to pause
# writing, and below which it resumes: asyncio's own defaults.
WRITE_HIGH_WATER = 64 * 1024
# Connections accepted per readiness callback of the listening socket.
ACCEPT_BATCH = 128
# Buffers per sendmsg(): Linux's IOV_MAX is 1024.
IOV_MAX = 1024
# accept() errors that a server survives by pausing its accepting: out of
# descriptors or memory (asyncio waits this long too).
ACCEPT_RETRY_DELAY = 1.0
ACCEPT_RESOURCE_ERRORS = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM))

ENV_SWITCH = "FASTASGI_TRANSPORT"


def own_transport_enabled(loop):
    """Whether plain TCP connections on `loop` get this module's transport."""
    choice = os.environ.get(ENV_SWITCH, "auto")
    if choice == "own":
        return True
    if choice == "loop":
        return False
    if choice != "auto":
        logger.warning("%s=%s: expected auto, own or loop; using auto.", ENV_SWITCH, choice)
    return isinstance(loop, asyncio.BaseEventLoop)  # asyncio's own loops, not uvloop


def takes_socket(sock):
    """Whether the own transport serves connections accepted on `sock`: TCP only."""
    return sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM


def bind_tcp(host, port, backlog):
    """The listening sockets for `host` and `port`, bound as loop.create_server() binds them."""
    if host == "":
        host = None  # every interface
    infos = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    sockets = []
    seen = set()
    try:
        for family, kind, proto, _, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            try:
                sock = socket.socket(family, kind, proto)
            except OSError:
                continue  # e.g. IPv6 not available in this kernel
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                # v6 only, as asyncio: the v4 address gets a socket of its own
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                raise OSError(exc.errno, f"error while attempting to bind on address {address!r}: "
                                         f"{exc.strerror.lower()}") from None
        if not sockets:
            raise OSError(f"no address to bind for host {host!r}")
        for sock in sockets:
            sock.listen(backlog)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class TcpListener:
    """Accepts connections on listening TCP sockets and gives each a
    SocketTransport and a protocol from `protocol_factory`.  Has what
    server.py uses of asyncio.Server: `sockets` and close()."""

    def __init__(self, loop, sockets, protocol_factory, backlog):
        self.loop = loop
        self.sockets = tuple(sockets)
        self.protocol_factory = protocol_factory
        self.backlog = backlog
        self.read_buffer = memoryview(bytearray(64 * 1024))
        self.closed = False
        self.own_addresses = {}  # fd -> our address for its connections, when it is one address

    def start(self):
        for sock in self.sockets:
            sock.setblocking(False)
            sock.listen(self.backlog)
            # Accepted sockets inherit TCP_NODELAY from their listener on Linux.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            address = sock.getsockname()
            if address[0] not in ("0.0.0.0", "::"):
                self.own_addresses[sock.fileno()] = address
            self.loop.add_reader(sock.fileno(), self._accept, sock)

    def close(self):
        """Stop accepting: established connections go on."""
        if self.closed:
            return
        self.closed = True
        for sock in self.sockets:
            if sock.fileno() >= 0:
                self.loop.remove_reader(sock.fileno())
                sock.close()

    def _accept(self, listening):
        own_address = self.own_addresses.get(listening.fileno())
        for _ in range(ACCEPT_BATCH):
            try:
                # _accept() and a bare _socket.socket: socket.accept() would
                # run socket.socket's Python __init__ for each connection.
                fd, peer = listening._accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue  # the peer gave up before we accepted: the next one
            except OSError as exc:
                if exc.errno not in ACCEPT_RESOURCE_ERRORS:
                    raise
                # Out of descriptors: stop accepting for a while, the others keep being served.
                logger.error("Socket accept failed (%s): accepting again in %.0f s", exc, ACCEPT_RETRY_DELAY)
                self.loop.remove_reader(listening.fileno())
                self.loop.call_later(ACCEPT_RETRY_DELAY, self._resume_accepting, listening)
                return
            sock = _socket.socket(listening.family, listening.type, listening.proto, fd)
            sock.setblocking(False)
            transport = SocketTransport(self.loop, sock, peer, own_address, self.read_buffer)
            try:
                transport.start(self.protocol_factory())
            except Exception:  # noqa: BLE001 - one connection's failure must not stop the accepting
                logger.exception("Failed to set up a connection from %s", peer)
                transport.abort()

    def _resume_accepting(self, listening):
        if not self.closed and listening.fileno() >= 0:
            self.loop.add_reader(listening.fileno(), self._accept, listening)


class SocketTransport:
    """One accepted TCP connection, driven from the loop's fd callbacks.
    Implements the asyncio.Transport methods fastasgi's protocols use."""

    __slots__ = ("loop", "sock", "fd", "protocol", "peername", "sockname", "read_buffer", "pending",
                 "pending_size", "reading", "writing", "closing", "lost", "eof_pending", "high_water",
                 "low_water", "protocol_paused", "read_ready", "at_eof")

    def __init__(self, loop, sock, peername, sockname, read_buffer):
        self.loop = loop
        self.sock = sock
        self.fd = sock.fileno()
        self.protocol = None
        self.peername = peername
        self.sockname = sockname  # None: asked of the socket when first wanted
        self.read_buffer = read_buffer
        self.pending = []  # output the kernel has not taken yet, in order
        self.pending_size = 0
        self.reading = False
        self.writing = False  # the writer callback is on: output is pending
        self.closing = False
        self.lost = False  # connection_lost has been scheduled
        self.eof_pending = False  # write_eof() once the pending output is out
        self.high_water = WRITE_HIGH_WATER
        self.low_water = WRITE_HIGH_WATER // 4
        self.protocol_paused = False
        self.read_ready = self._read_ready  # one bound method for every add_reader
        self.at_eof = False  # the peer sent its FIN: nothing more to read

    def start(self, protocol):
        self.protocol = protocol
        self.reading = True
        self.loop.add_reader(self.fd, self.read_ready)
        protocol.connection_made(self)

    def __repr__(self):
        return f"<SocketTransport fd={self.fd} peer={self.peername!r}{' closing' if self.closing else ''}>"

    # -- reading -----------------------------------------------------------
    def _read_ready(self):
        buffer = self.read_buffer
        try:
            size = self.sock.recv_into(buffer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # a reset, most often
            self._force_close(exc)
            return
        try:
            if size:
                self.protocol.data_received(bytes(buffer[:size]))
                return
            self._eof_received()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:  # noqa: BLE001 - the protocol's failure ends this connection only
            logger.error("Fatal error in a protocol callback on %r", self, exc_info=exc)
            self._force_close(exc)

    def _eof_received(self):
        self.at_eof = True
        self._stop_reading()
        keep_open = self.protocol.eof_received()
        if not keep_open:
            self.close()

    def pause_reading(self):
        if self.reading and not self.closing:
            self._stop_reading()

    def resume_reading(self):
        if not self.reading and not self.closing and not self.at_eof:
            self.reading = True
            self.loop.add_reader(self.fd, self.read_ready)

    def is_reading(self):
        return self.reading and not self.closing

    def _stop_reading(self):
        if self.reading:
            self.reading = False
            self.loop.remove_reader(self.fd)

    # -- writing -----------------------------------------------------------
    def write(self, data):
        if self.closing or self.eof_pending or not data:
            return  # as asyncio's, after close(): nothing more goes out
        if self.pending:
            self.pending.append(data)
            self.pending_size += len(data)
            self._maybe_pause_protocol()
            return
        try:
            sent = self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._force_close(exc)
            return
        if sent != len(data):
            self._hold(memoryview(data)[sent:])

    def writelines(self, list_of_data):
        if self.closing or self.eof_pending:
            return
        if self.pending:
            for data in list_of_data:
                if data:
                    self.pending.append(data)
                    self.pending_size += len(data)
            self._maybe_pause_protocol()
            return
        buffers = list(list_of_data)
        total = 0
        for data in buffers:
            total += len(data)
        if not total:
            return
        try:
            sent = self.sock.sendmsg(buffers[:IOV_MAX]) if len(buffers) > 1 else self.sock.send(buffers[0])
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._force_close(exc)
            return
        if sent != total:
            self._hold_rest(buffers, sent)

    def _hold(self, rest):
        """Keep `rest` until the socket is writable again."""
        self.pending.append(rest)
        self.pending_size += len(rest)
        self._start_writing()
        self._maybe_pause_protocol()

    def _hold_rest(self, buffers, sent):
        for data in buffers:
            size = len(data)
            if sent >= size:
                sent -= size
                continue
            piece = memoryview(data)[sent:] if sent else data
            sent = 0
            self.pending.append(piece)
            self.pending_size += len(piece)
        self._start_writing()
        self._maybe_pause_protocol()

    def _start_writing(self):
        if not self.writing:
            self.writing = True
            self.loop.add_writer(self.fd, self._write_ready)

    def _write_ready(self):
        pending = self.pending
        try:
            sent = self.sock.sendmsg(pending[:IOV_MAX]) if len(pending) > 1 else self.sock.send(pending[0])
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._force_close(exc)
            return
        self.pending_size -= sent
        taken = 0
        for data in pending:
            size = len(data)
            if sent < size:
                if sent:
                    pending[taken] = memoryview(data)[sent:]
                break
            sent -= size
            taken += 1
        del pending[:taken]
        if self.protocol_paused and self.pending_size <= self.low_water:
            self.protocol_paused = False
            self._call_protocol("resume_writing")
        if pending:
            return
        self._stop_writing()
        if self.closing:
            self._schedule_lost(None)
        elif self.eof_pending:
            self._shutdown_write()

    def _stop_writing(self):
        self.writing = False
        self.loop.remove_writer(self.fd)

    def _maybe_pause_protocol(self):
        if not self.protocol_paused and self.pending_size > self.high_water:
            self.protocol_paused = True
            self._call_protocol("pause_writing")

    def _call_protocol(self, name):
        try:
            getattr(self.protocol, name)()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:  # noqa: BLE001 - as asyncio's transports: logged, the connection goes on
            logger.error("protocol.%s() failed on %r", name, self, exc_info=exc)

    def get_write_buffer_size(self):
        """Bytes written but not yet taken by the kernel: 0 means the socket
        may be written to directly (e.g. with os.sendfile) without reordering."""
        return self.pending_size

    def get_write_buffer_limits(self):
        return (self.low_water, self.high_water)

    def set_write_buffer_limits(self, high=None, low=None):
        if high is None:
            high = WRITE_HIGH_WATER if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self.high_water = high
        self.low_water = low
        self._maybe_pause_protocol()

    def can_write_eof(self):
        return True

    def write_eof(self):
        if self.closing or self.eof_pending:
            return
        self.eof_pending = True
        if not self.pending:
            self._shutdown_write()

    def _shutdown_write(self):
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the peer is gone: connection_lost will tell

    # -- closing -----------------------------------------------------------
    def is_closing(self):
        return self.closing

    def close(self):
        """No more reading; pending output goes out first, then connection_lost()."""
        if self.closing:
            return
        self.closing = True
        self._stop_reading()
        if not self.pending:
            self._schedule_lost(None)

    def abort(self):
        """Close now, dropping pending output."""
        self._force_close(None)

    def _force_close(self, exc):
        if self.lost:
            return
        self.closing = True
        self._stop_reading()
        if self.writing:
            self._stop_writing()
        self.pending.clear()
        self.pending_size = 0
        self._schedule_lost(exc)

    def _schedule_lost(self, exc):
        if not self.lost:
            self.lost = True
            self.loop.call_soon(self._connection_lost, exc)

    def _connection_lost(self, exc):
        try:
            if self.protocol is not None:  # None: the protocol factory itself failed
                self.protocol.connection_lost(exc)
        finally:
            self.sock.close()
            self.protocol = None  # no cycle left between the two: freed by refcount, not the GC
            self.read_ready = None

    # -- the rest of asyncio.Transport ---------------------------------------
    def get_extra_info(self, name, default=None):
        if name == "peername":
            return self.peername
        if name == "sockname":
            if self.sockname is None:
                try:
                    self.sockname = self.sock.getsockname()
                except OSError:
                    return default
            return self.sockname
        if name == "socket":
            return self.sock
        return default  # sslcontext, ssl_object, peercert: not TLS

    def set_protocol(self, protocol):
        self.protocol = protocol

    def get_protocol(self):
        return self.protocol
