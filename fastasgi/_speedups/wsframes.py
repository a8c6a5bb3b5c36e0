"""WebSocket frames on the hot path.

The websockets library owns the protocol (handshake, control frames, close
handshake, fragmentation, extensions, every error).  Its parser, though, is
a generator that costs more per small message than the rest of an echo: so
while a connection is open with no extension, whole unfragmented text and
binary frames are read here, and every other frame goes to the library as
its exact bytes.

FrameReader.feed(data) splits the client's bytes into a list of items:

- (opcode, payload): a complete, final, masked TEXT (1) or BINARY (2)
  frame within max_size, unmasked;
- bytes: frames for the library, whole: a PING or PONG, or, from the first
  frame that is anything else (CLOSE, a fragment, a protocol violation, a
  frame over max_size), all the rest of the stream.  From then on the
  reader is in `passthrough` and hands every byte on as it comes, so the
  library's parser always starts at a frame boundary and sees the stream
  in order.

An incomplete frame waits in the reader until the rest arrives.

This module is also compiled, unchanged, as wsframes_c (wsframes_c.pxd
gives it C types; see compiled.py): compiled, the header is read as C
bytes and the payload unmasked by byteloops_c's word-wide loop; as Python,
by the websockets library's apply_mask.  Frames sent are encode_frame's,
in byteloops too.
"""
try:
    import cython
except ImportError:  # no Cython installed: this module runs as Python
    from types import SimpleNamespace
    cython = SimpleNamespace(compiled=False)

# encode_frame is byteloops' too: the stack takes it from there, and so do
# readers of this module.
if cython.compiled:
    from .byteloops_c import encode_frame, unmask  # noqa: F401
else:
    from .byteloops import encode_frame, unmask  # noqa: F401

TEXT = 0x1
BINARY = 0x2
PING = 0x9
PONG = 0xA
MAX_CONTROL_PAYLOAD = 125
# A frame longer than this is the library's, whatever max_size says.
MAX_READ_LENGTH = 1 << 62


class FrameReader:
    __slots__ = ("max_size", "passthrough", "buffer", "wanted", "limit")

    def __init__(self, max_size):
        self.max_size = max_size  # None: no limit
        # The longest payload read here: max_size, and never past MAX_READ_LENGTH.
        self.limit = MAX_READ_LENGTH if max_size is None else min(max_size, MAX_READ_LENGTH)
        self.passthrough = False
        self.buffer = bytearray()  # an incomplete frame
        self.wanted = 0  # bytes the buffered frame needs before it can be read, when known

    def feed(self, data):
        if self.passthrough:
            return [bytes(data)] if data else []
        if len(self.buffer):
            self.buffer += data
            if len(self.buffer) < self.wanted:
                return []
            chunk = bytes(self.buffer)
            del self.buffer[:]
        elif type(data) is bytes:
            chunk = data
        else:
            chunk = bytes(data)
        self.wanted = 0
        return self._split(chunk)

    def _split(self, chunk):
        """The items of `chunk` (see the module's docstring); an incomplete frame is buffered."""
        items = []
        data = chunk  # compiled: the chunk's bytes as a C array (wsframes_c.pxd)
        pos = 0
        end = len(chunk)
        while end - pos >= 2:
            first = data[pos]
            second = data[pos + 1]
            length = second & 0x7F
            head = pos + 2
            if length == 126:
                head += 2
                if head > end:
                    break
                length = (data[pos + 2] << 8) | data[pos + 3]
            elif length == 127:
                head += 8
                if head > end:
                    break
                length = 0
                for k in range(pos + 2, head):
                    length = (length << 8) | data[k]
            opcode = first & 0x0F
            if ((first & 0xF0) != 0x80  # not final, or a reserved bit set
                    or not (second & 0x80)  # a client's frame must be masked
                    or (opcode != TEXT and opcode != BINARY
                        and not ((opcode == PING or opcode == PONG) and length <= MAX_CONTROL_PAYLOAD))
                    or length > self.limit):
                self.passthrough = True
                items.append(chunk[pos:])
                return items
            if end - head < 4 + length:
                self.wanted = head + 4 + length - pos
                break
            frame_end = head + 4 + length
            if opcode == TEXT or opcode == BINARY:
                items.append((opcode, unmask(chunk, head + 4, length, head)))
            else:
                items.append(chunk[pos:frame_end])
            pos = frame_end
        if pos < end:
            self.buffer += chunk[pos:]
        return items

    def take_buffer(self):
        """The bytes of an incomplete frame, for the library: the reader is done."""
        self.passthrough = True
        rest = bytes(self.buffer)
        del self.buffer[:]
        return rest

