"""WebSocket frames on the hot path: the pure-Python twin of wsframes_c.

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
"""
try:
    from websockets.speedups import apply_mask
except ImportError:  # the library without its C extension (PyPy)
    from websockets.utils import apply_mask

TEXT = 0x1
BINARY = 0x2
PING = 0x9
PONG = 0xA
MAX_CONTROL_PAYLOAD = 125
# A frame longer than this is the library's, whatever max_size says.
MAX_READ_LENGTH = 1 << 62


class FrameReader:
    __slots__ = ("max_size", "passthrough", "buffer", "wanted")

    def __init__(self, max_size):
        self.max_size = max_size  # None: no limit
        self.passthrough = False
        self.buffer = bytearray()  # an incomplete frame
        self.wanted = 0  # bytes the buffered frame needs before it can be read, when known

    def feed(self, data):
        if self.passthrough:
            return [bytes(data)] if data else []
        if self.buffer:
            buffer = self.buffer
            buffer += data
            if len(buffer) < self.wanted:
                return []
            data = bytes(buffer)
            buffer.clear()
        self.wanted = 0
        items = []
        pos = 0
        end = len(data)
        while end - pos >= 2:
            first = data[pos]
            second = data[pos + 1]
            length = second & 0x7F
            head = pos + 2
            if length == 126:
                head += 2
                if head > end:
                    break
                length = int.from_bytes(data[pos + 2:head], "big")
            elif length == 127:
                head += 8
                if head > end:
                    break
                length = int.from_bytes(data[pos + 2:head], "big")
            opcode = first & 0x0F
            if (first & 0xF0 != 0x80  # not final, or a reserved bit set
                    or not second & 0x80  # a client's frame must be masked
                    or (opcode != TEXT and opcode != BINARY
                        and not ((opcode == PING or opcode == PONG) and length <= MAX_CONTROL_PAYLOAD))
                    or (self.max_size is not None and length > self.max_size)
                    or length > MAX_READ_LENGTH):
                self.passthrough = True
                items.append(data[pos:])
                return items
            frame_end = head + 4 + length
            if frame_end > end:
                self.wanted = frame_end - pos
                break
            if opcode == TEXT or opcode == BINARY:
                items.append((opcode, apply_mask(data[head + 4:frame_end], data[head:head + 4])))
            else:
                items.append(data[pos:frame_end])
            pos = frame_end
        if pos < end:
            self.buffer += data[pos:]
        return items

    def take_buffer(self):
        """The bytes of an incomplete frame, for the library: the reader is done."""
        self.passthrough = True
        rest = bytes(self.buffer)
        self.buffer.clear()
        return rest


def encode_frame(opcode, payload):
    """A final, unmasked server frame."""
    length = len(payload)
    if length < 126:
        head = bytes((0x80 | opcode, length))
    elif length < 0x10000:
        head = bytes((0x80 | opcode, 126)) + length.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 127)) + length.to_bytes(8, "big")
    return head + payload
