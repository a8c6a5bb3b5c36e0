"""WebSocket frames on the hot path: the compiled twin of wsframes_py.py.

See wsframes_py.py for what is read here and what goes to the websockets
library.  Here the header is read and the payload unmasked in C, eight
bytes at a time, straight into the bytes object handed to the app.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport uint8_t, uint64_t
from libc.string cimport memcpy

TEXT = 0x1
BINARY = 0x2
PING = 0x9
PONG = 0xA
MAX_CONTROL_PAYLOAD = 125
# A frame longer than this is the library's, whatever max_size says.
MAX_READ_LENGTH = 1 << 62

cdef object _TEXT = TEXT
cdef object _BINARY = BINARY
# C copies: the per-frame checks read these without a lookup.
cdef enum:
    C_TEXT = 0x1
    C_BINARY = 0x2
    C_PING = 0x9
    C_PONG = 0xA
    C_MAX_CONTROL_PAYLOAD = 125
cdef uint64_t C_MAX_READ_LENGTH = MAX_READ_LENGTH


cdef bytes _unmask(const uint8_t *src, Py_ssize_t length, const uint8_t *mask):
    cdef bytes out = PyBytes_FromStringAndSize(NULL, length)
    cdef uint8_t *dst = <uint8_t *>PyBytes_AS_STRING(out)
    cdef uint64_t wide_mask, word
    cdef Py_ssize_t i = 0
    memcpy(&wide_mask, mask, 4)
    memcpy((<uint8_t *>&wide_mask) + 4, mask, 4)
    while i + 8 <= length:
        memcpy(&word, src + i, 8)
        word ^= wide_mask
        memcpy(dst + i, &word, 8)
        i += 8
    while i < length:
        dst[i] = src[i] ^ mask[i & 3]
        i += 1
    return out


cdef class FrameReader:
    cdef public object max_size
    cdef public bint passthrough
    cdef bytearray buffer
    cdef Py_ssize_t wanted
    cdef uint64_t limit  # max_size in C; no limit when max_size is None

    def __init__(self, max_size):
        self.max_size = max_size
        self.limit = <uint64_t>-1 if max_size is None else <uint64_t>max_size
        self.passthrough = False
        self.buffer = bytearray()
        self.wanted = 0

    def feed(self, data):
        cdef bytes chunk
        if self.passthrough:
            return [bytes(data)] if data else []
        if len(self.buffer):
            self.buffer += data
            if len(self.buffer) < self.wanted:
                return []
            chunk = bytes(self.buffer)
            del self.buffer[:]
        elif type(data) is bytes:
            chunk = <bytes>data
        else:
            chunk = bytes(data)
        self.wanted = 0
        return self._split(chunk)

    cdef list _split(self, bytes chunk):
        cdef list items = []
        cdef const uint8_t *data = <const uint8_t *>PyBytes_AS_STRING(chunk)
        cdef Py_ssize_t end = PyBytes_GET_SIZE(chunk)
        cdef Py_ssize_t pos = 0, head, frame_end, k
        cdef uint8_t first, second, opcode
        cdef uint64_t length
        while end - pos >= 2:
            first = data[pos]
            second = data[pos + 1]
            length = second & 0x7F
            head = pos + 2
            if length == 126:
                head += 2
                if head > end:
                    break
                length = (<uint64_t>data[pos + 2] << 8) | data[pos + 3]
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
                    or (opcode != C_TEXT and opcode != C_BINARY
                        and not ((opcode == C_PING or opcode == C_PONG) and length <= C_MAX_CONTROL_PAYLOAD))
                    or length > self.limit
                    or length > C_MAX_READ_LENGTH):
                self.passthrough = True
                items.append(chunk[pos:])
                return items
            if <uint64_t>(end - head) < 4 + length:
                self.wanted = head + 4 + <Py_ssize_t>length - pos
                break
            frame_end = head + 4 + <Py_ssize_t>length
            if opcode == C_TEXT:
                items.append((_TEXT, _unmask(data + head + 4, <Py_ssize_t>length, data + head)))
            elif opcode == C_BINARY:
                items.append((_BINARY, _unmask(data + head + 4, <Py_ssize_t>length, data + head)))
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


def encode_frame(int opcode, payload):
    """A final, unmasked server frame."""
    cdef bytes data
    if type(payload) is bytes:
        data = <bytes>payload
    else:
        data = bytes(payload)
    cdef Py_ssize_t length = PyBytes_GET_SIZE(data)
    cdef Py_ssize_t head = 2 if length < 126 else (4 if length < 0x10000 else 10)
    cdef bytes out = PyBytes_FromStringAndSize(NULL, head + length)
    cdef uint8_t *dst = <uint8_t *>PyBytes_AS_STRING(out)
    cdef int k
    dst[0] = 0x80 | opcode
    if head == 2:
        dst[1] = <uint8_t>length
    elif head == 4:
        dst[1] = 126
        dst[2] = <uint8_t>(length >> 8)
        dst[3] = <uint8_t>length
    else:
        dst[1] = 127
        for k in range(8):
            dst[2 + k] = <uint8_t>((<uint64_t>length) >> (8 * (7 - k)))
    memcpy(dst + head, PyBytes_AS_STRING(data), length)
    return out
