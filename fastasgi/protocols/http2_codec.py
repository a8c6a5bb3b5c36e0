"""HTTP/2's wire format, fastasgi's own: frames (RFC 9113 sections 4 and 6) and HPACK (RFC 7541).

One typed source: compiled as http2_codec_c (Cython's pure Python mode,
the C types in http2_codec_c.pxd) where a compiler exists, run as it is
elsewhere (PyPy).  The `h2`/`hpack` libraries are the oracle its tests
compare it with (tests/test_http2_codec.py).

- FrameReader splits bytes into Frame objects and checks each frame's
  layout (sizes, stream ids, padding, settings values); a violation is a
  CodecError carrying RFC 9113's error code and whether it is a stream error.
- The *_frame functions serialize the frames a server sends.
- HpackDecoder decodes header blocks: the static and dynamic tables, the
  Huffman code, size updates and the header list limit.
- HpackEncoder encodes without the dynamic table (RFC 7541 lets an encoder
  never index): a static-table match is one byte, the rest are literals,
  and the encoding of a repeated field is cached.
"""
try:
    import cython
except ImportError:  # no Cython installed: this module runs as Python, its C types as int
    from types import SimpleNamespace
    cython = SimpleNamespace(compiled=False, Py_ssize_t=int, int=int)

# Frame types (RFC 9113 section 6).
DATA = 0x0
HEADERS = 0x1
PRIORITY = 0x2
RST_STREAM = 0x3
SETTINGS = 0x4
PUSH_PROMISE = 0x5
PING = 0x6
GOAWAY = 0x7
WINDOW_UPDATE = 0x8
CONTINUATION = 0x9
# Flags.
FLAG_END_STREAM = 0x1
FLAG_ACK = 0x1
FLAG_END_HEADERS = 0x4
FLAG_PADDED = 0x8
FLAG_PRIORITY = 0x20
# Error codes (RFC 9113 section 7).
PROTOCOL_ERROR = 0x1
FLOW_CONTROL_ERROR = 0x3
FRAME_SIZE_ERROR = 0x6
COMPRESSION_ERROR = 0x9
# Settings (RFC 9113 section 6.5.2, RFC 8441).
SETTINGS_HEADER_TABLE_SIZE = 0x1
SETTINGS_ENABLE_PUSH = 0x2
SETTINGS_MAX_CONCURRENT_STREAMS = 0x3
SETTINGS_INITIAL_WINDOW_SIZE = 0x4
SETTINGS_MAX_FRAME_SIZE = 0x5
SETTINGS_MAX_HEADER_LIST_SIZE = 0x6
SETTINGS_ENABLE_CONNECT_PROTOCOL = 0x8
MAX_WINDOW = 0x7FFFFFFF


class CodecError(Exception):
    """Bytes that break the wire format.  `code` is RFC 9113's error code;
    `stream_id` names the stream of a stream error, 0 for a connection error."""

    def __init__(self, code, message, stream_id=0):
        Exception.__init__(self, message)
        self.code = code
        self.stream_id = stream_id


class HpackError(CodecError):
    """A header block that cannot be decoded (a connection error, COMPRESSION_ERROR)."""

    def __init__(self, message):
        CodecError.__init__(self, COMPRESSION_ERROR, message)


class HeaderListTooLarge(HpackError):
    """A header list past the decoder's max_header_list_size (RFC 9113 6.5.2's measure)."""


# -- frames in -----------------------------------------------------------------
class Frame:
    """One frame, its payload's fields decoded by type (the others keep their defaults)."""

    def __init__(self, type, flags, stream_id, payload):
        self.type = type
        self.flags = flags
        self.stream_id = stream_id
        self.payload = payload
        self.data = b""  # DATA's data, HEADERS/CONTINUATION's field block fragment, GOAWAY's debug data
        self.flow_length = 0  # DATA: what the frame costs the flow-control windows (padding included)
        self.error_code = 0  # RST_STREAM, GOAWAY
        self.last_stream_id = 0  # GOAWAY
        self.increment = 0  # WINDOW_UPDATE
        self.settings = None  # SETTINGS: [(identifier, value)]
        self.depends_on = 0  # HEADERS with PRIORITY, PRIORITY
        self.weight = 0
        self.exclusive = False


class FrameReader:
    """Splits a connection's bytes into checked frames: feed(data) -> [Frame]."""

    def __init__(self, max_frame_size=16384):
        self.max_frame_size = max_frame_size  # what we advertised: larger frames are a FRAME_SIZE_ERROR
        self.buffer = b""

    def feed(self, data):
        buffer: bytes = self.buffer + data if self.buffer else bytes(data)
        size: cython.Py_ssize_t = len(buffer)
        position: cython.Py_ssize_t = 0
        length: cython.Py_ssize_t
        frames = []
        while size - position >= 9:
            length = (buffer[position] << 16) | (buffer[position + 1] << 8) | buffer[position + 2]
            if length > self.max_frame_size:
                raise CodecError(FRAME_SIZE_ERROR, f"a frame of {length} bytes (the limit is {self.max_frame_size})")
            if size - position - 9 < length:
                break
            stream_id = (((buffer[position + 5] & 0x7F) << 24) | (buffer[position + 6] << 16)
                         | (buffer[position + 7] << 8) | buffer[position + 8])
            frame = Frame(buffer[position + 3], buffer[position + 4], stream_id,
                          buffer[position + 9:position + 9 + length])
            decode_payload(frame)
            frames.append(frame)
            position += 9 + length
        self.buffer = buffer[position:]
        return frames


def _unpadded(frame, payload):
    """The payload without its padding (PADDED flag), checked."""
    if not frame.flags & FLAG_PADDED:
        return payload
    if not payload:
        raise CodecError(FRAME_SIZE_ERROR, "a padded frame without its pad length")
    padding: cython.Py_ssize_t = payload[0]
    if padding >= len(payload):
        raise CodecError(PROTOCOL_ERROR, "padding as long as the frame's payload")
    return payload[1:len(payload) - padding]


def _uint32(payload, at: cython.Py_ssize_t):
    return (payload[at] << 24) | (payload[at + 1] << 16) | (payload[at + 2] << 8) | payload[at + 3]


def decode_payload(frame):
    """Decode `frame`'s payload into its fields; CodecError when the RFC's layout is broken."""
    kind = frame.type
    payload = frame.payload
    length: cython.Py_ssize_t = len(payload)
    stream_id = frame.stream_id
    if kind == DATA:
        if stream_id == 0:
            raise CodecError(PROTOCOL_ERROR, "DATA on stream 0")
        frame.flow_length = length
        frame.data = _unpadded(frame, payload)
    elif kind == HEADERS:
        if stream_id == 0:
            raise CodecError(PROTOCOL_ERROR, "HEADERS on stream 0")
        block = _unpadded(frame, payload)
        if frame.flags & FLAG_PRIORITY:
            if len(block) < 5:
                raise CodecError(FRAME_SIZE_ERROR, "HEADERS too short for its priority")
            _priority(frame, block)
            block = block[5:]
        frame.data = block
    elif kind == PRIORITY:
        if stream_id == 0:
            raise CodecError(PROTOCOL_ERROR, "PRIORITY on stream 0")
        if length != 5:
            raise CodecError(FRAME_SIZE_ERROR, "PRIORITY of a length other than 5", stream_id)
        _priority(frame, payload)
    elif kind == RST_STREAM:
        if stream_id == 0:
            raise CodecError(PROTOCOL_ERROR, "RST_STREAM on stream 0")
        if length != 4:
            raise CodecError(FRAME_SIZE_ERROR, "RST_STREAM of a length other than 4")
        frame.error_code = _uint32(payload, 0)
    elif kind == SETTINGS:
        if stream_id != 0:
            raise CodecError(PROTOCOL_ERROR, "SETTINGS on a stream")
        if frame.flags & FLAG_ACK:
            if length:
                raise CodecError(FRAME_SIZE_ERROR, "a SETTINGS ACK with a payload")
            frame.settings = []
        else:
            if length % 6:
                raise CodecError(FRAME_SIZE_ERROR, "SETTINGS of a length not a multiple of 6")
            frame.settings = _settings(payload)
    elif kind == PING:
        if stream_id != 0:
            raise CodecError(PROTOCOL_ERROR, "PING on a stream")
        if length != 8:
            raise CodecError(FRAME_SIZE_ERROR, "PING of a length other than 8")
        frame.data = payload
    elif kind == GOAWAY:
        if stream_id != 0:
            raise CodecError(PROTOCOL_ERROR, "GOAWAY on a stream")
        if length < 8:
            raise CodecError(FRAME_SIZE_ERROR, "GOAWAY shorter than 8 bytes")
        frame.last_stream_id = _uint32(payload, 0) & 0x7FFFFFFF
        frame.error_code = _uint32(payload, 4)
        frame.data = payload[8:]
    elif kind == WINDOW_UPDATE:
        if length != 4:
            raise CodecError(FRAME_SIZE_ERROR, "WINDOW_UPDATE of a length other than 4")
        frame.increment = _uint32(payload, 0) & 0x7FFFFFFF
        if frame.increment == 0:
            raise CodecError(PROTOCOL_ERROR, "a WINDOW_UPDATE of 0", stream_id)
    elif kind == CONTINUATION or kind == PUSH_PROMISE:
        if stream_id == 0:
            raise CodecError(PROTOCOL_ERROR, "CONTINUATION or PUSH_PROMISE on stream 0")
        frame.data = payload
    # Unknown types are left as they are: RFC 9113 5.5 has them ignored.


def _priority(frame, block):
    dependency = _uint32(block, 0)
    frame.exclusive = bool(dependency & 0x80000000)
    frame.depends_on = dependency & 0x7FFFFFFF
    frame.weight = block[4] + 1
    if frame.depends_on == frame.stream_id:
        raise CodecError(PROTOCOL_ERROR, "a stream that depends on itself", frame.stream_id)


def _settings(payload):
    pairs = []
    at: cython.Py_ssize_t
    for at in range(0, len(payload), 6):
        identifier = (payload[at] << 8) | payload[at + 1]
        value = _uint32(payload, at + 2)
        if identifier == SETTINGS_ENABLE_PUSH or identifier == SETTINGS_ENABLE_CONNECT_PROTOCOL:
            if value > 1:
                raise CodecError(PROTOCOL_ERROR, f"setting {identifier} must be 0 or 1, not {value}")
        elif identifier == SETTINGS_INITIAL_WINDOW_SIZE:
            if value > MAX_WINDOW:
                raise CodecError(FLOW_CONTROL_ERROR, f"an initial window of {value}")
        elif identifier == SETTINGS_MAX_FRAME_SIZE:
            if not 16384 <= value <= 16777215:
                raise CodecError(PROTOCOL_ERROR, f"a max frame size of {value}")
        pairs.append((identifier, value))
    return pairs


# -- frames out ----------------------------------------------------------------
def frame_header(length: cython.Py_ssize_t, kind: cython.int, flags: cython.int, stream_id):
    return bytes((length >> 16, (length >> 8) & 0xFF, length & 0xFF, kind, flags, (stream_id >> 24) & 0x7F,
                  (stream_id >> 16) & 0xFF, (stream_id >> 8) & 0xFF, stream_id & 0xFF))


def data_frame(stream_id, data, end_stream):
    return frame_header(len(data), DATA, FLAG_END_STREAM if end_stream else 0, stream_id) + bytes(data)


def headers_frames(stream_id, block, end_stream, max_frame_size=16384):
    """A field block as HEADERS, then CONTINUATION frames past `max_frame_size`."""
    flags = FLAG_END_STREAM if end_stream else 0
    if len(block) <= max_frame_size:
        return frame_header(len(block), HEADERS, flags | FLAG_END_HEADERS, stream_id) + block
    parts = [frame_header(max_frame_size, HEADERS, flags, stream_id), block[:max_frame_size]]
    at = max_frame_size
    while at < len(block):
        piece = block[at:at + max_frame_size]
        at += len(piece)
        parts.append(frame_header(len(piece), CONTINUATION, FLAG_END_HEADERS if at >= len(block) else 0,
                                  stream_id))
        parts.append(piece)
    return b"".join(parts)


def _uint32_bytes(value):
    return bytes(((value >> 24) & 0xFF, (value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF))


def settings_frame(pairs):
    payload = b"".join(bytes(((identifier >> 8) & 0xFF, identifier & 0xFF)) + _uint32_bytes(value)
                       for identifier, value in pairs)
    return frame_header(len(payload), SETTINGS, 0, 0) + payload


SETTINGS_ACK = frame_header(0, SETTINGS, FLAG_ACK, 0)


def ping_frame(opaque, ack):
    return frame_header(8, PING, FLAG_ACK if ack else 0, 0) + bytes(opaque)


def rst_stream_frame(stream_id, error_code):
    return frame_header(4, RST_STREAM, 0, stream_id) + _uint32_bytes(error_code)


def goaway_frame(last_stream_id, error_code, debug=b""):
    return frame_header(8 + len(debug), GOAWAY, 0, 0) + _uint32_bytes(last_stream_id) + _uint32_bytes(
        error_code) + debug


def window_update_frame(stream_id, increment):
    return frame_header(4, WINDOW_UPDATE, 0, stream_id) + _uint32_bytes(increment)


# -- HPACK: the static table (RFC 7541 Appendix A) -----------------------------
STATIC_TABLE = (
    (b":authority", b""), (b":method", b"GET"), (b":method", b"POST"), (b":path", b"/"),
    (b":path", b"/index.html"), (b":scheme", b"http"), (b":scheme", b"https"), (b":status", b"200"),
    (b":status", b"204"), (b":status", b"206"), (b":status", b"304"), (b":status", b"400"),
    (b":status", b"404"), (b":status", b"500"), (b"accept-charset", b""), (b"accept-encoding", b"gzip, deflate"),
) + tuple((name, b"") for name in (
    b"accept-language", b"accept-ranges", b"accept", b"access-control-allow-origin", b"age", b"allow",
    b"authorization", b"cache-control", b"content-disposition", b"content-encoding", b"content-language",
    b"content-length", b"content-location", b"content-range", b"content-type", b"cookie", b"date", b"etag",
    b"expect", b"expires", b"from", b"host", b"if-match", b"if-modified-since", b"if-none-match", b"if-range",
    b"if-unmodified-since", b"last-modified", b"link", b"location", b"max-forwards", b"proxy-authenticate",
    b"proxy-authorization", b"range", b"referer", b"refresh", b"retry-after", b"server", b"set-cookie",
    b"strict-transport-security", b"transfer-encoding", b"user-agent", b"vary", b"via", b"www-authenticate"))
STATIC_SIZE = len(STATIC_TABLE)  # 61
# Field -> its index, and name -> the index of its first entry (the encoder's fast path).
STATIC_FIELDS = {}
STATIC_NAMES = {}
for _index, _field in enumerate(STATIC_TABLE, 1):
    STATIC_FIELDS.setdefault(_field, _index)
    STATIC_NAMES.setdefault(_field[0], _index)

# -- HPACK: the Huffman code (RFC 7541 Appendix B) -----------------------------
# The code is canonical: each symbol's code length (symbols 0-255, then EOS)
# determines the codes.
HUFFMAN_LENGTHS = (
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28,
    28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15,
    6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
    15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20,
    20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23,
    24, 22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22,
    22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27,
    24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26,
    26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30)
EOS = 256


def huffman_codes():
    """The canonical codes of HUFFMAN_LENGTHS: symbol -> (code, bit length)."""
    codes = [None] * len(HUFFMAN_LENGTHS)
    code = 0
    previous = 0
    for symbol in sorted(range(len(HUFFMAN_LENGTHS)), key=lambda s: (HUFFMAN_LENGTHS[s], s)):
        length = HUFFMAN_LENGTHS[symbol]
        if previous:
            code = (code + 1) << (length - previous)
        previous = length
        codes[symbol] = (code, length)
    return codes


def _huffman_machine():
    """The decoder as a state machine over 4-bit nibbles.

    States are the code tree's inner nodes (0 the root).  For state s and
    nibble n, entry s*16+n holds the next state, the symbol completed on
    the way (codes are at least 5 bits: at most one per nibble) and flags:
    1 a symbol was completed, 2 the EOS code was met (an error).  ACCEPTS
    marks the states a string may end in: padding of at most 7 one-bits,
    a prefix of EOS (RFC 7541 5.2)."""
    children = [[-1, -1]]  # inner node -> its two children: an inner node, or -(symbol + 2) for a leaf
    for symbol, (code, length) in enumerate(huffman_codes()):
        node = 0
        for depth in range(length - 1, -1, -1):
            bit = (code >> depth) & 1
            if depth == 0:
                children[node][bit] = -(symbol + 2)
            else:
                if children[node][bit] == -1:
                    children.append([-1, -1])
                    children[node][bit] = len(children) - 1
                node = children[node][bit]
    next_states = bytearray(len(children) * 16)
    symbols = bytearray(len(children) * 16)
    flags = bytearray(len(children) * 16)
    for state in range(len(children)):
        for nibble in range(16):
            node = state
            flag = 0
            symbol = 0
            for shift in (3, 2, 1, 0):
                child = children[node][(nibble >> shift) & 1]
                if child < -1:
                    if -child - 2 == EOS:
                        flag |= 2
                        node = 0
                        break
                    symbol = -child - 2
                    flag |= 1
                    node = 0
                else:
                    node = child
            next_states[state * 16 + nibble] = node
            symbols[state * 16 + nibble] = symbol
            flags[state * 16 + nibble] = flag
    accepts = bytearray(len(children))
    node = 0
    for _ in range(8):  # the root and the inner nodes along all-ones paths up to 7 deep
        accepts[node] = 1
        node = children[node][1]
    return bytes(next_states), bytes(symbols), bytes(flags), bytes(accepts)


HUFFMAN_NEXT, HUFFMAN_SYMBOL, HUFFMAN_FLAGS, HUFFMAN_ACCEPTS = _huffman_machine()


def huffman_decode(data):
    """Bytes of a Huffman-coded string literal; HpackError for EOS or bad padding."""
    next_states: bytes = HUFFMAN_NEXT
    symbols: bytes = HUFFMAN_SYMBOL
    flags: bytes = HUFFMAN_FLAGS
    out = bytearray()
    state: cython.Py_ssize_t = 0
    index: cython.Py_ssize_t
    octet: cython.Py_ssize_t
    for octet in data:
        index = state * 16 + (octet >> 4)
        if flags[index]:
            if flags[index] & 2:
                raise HpackError("EOS in a Huffman-coded string")
            out.append(symbols[index])
        state = next_states[index]
        index = state * 16 + (octet & 0xF)
        if flags[index]:
            if flags[index] & 2:
                raise HpackError("EOS in a Huffman-coded string")
            out.append(symbols[index])
        state = next_states[index]
    if not HUFFMAN_ACCEPTS[state]:
        raise HpackError("a Huffman-coded string with invalid padding")
    return bytes(out)


_HUFFMAN_CODES = huffman_codes()


def huffman_encode(data):
    """The Huffman code of `data` (the encoder's choice where it is shorter; tests use it too)."""
    codes = _HUFFMAN_CODES
    value = 0
    bits: cython.Py_ssize_t = 0
    for octet in data:
        code, length = codes[octet]
        value = (value << length) | code
        bits += length
    padding: cython.Py_ssize_t = (8 - bits % 8) % 8  # EOS's leading one-bits fill the last octet
    value = (value << padding) | ((1 << padding) - 1)
    return value.to_bytes((bits + padding) // 8, "big")


# -- HPACK: integers and strings (RFC 7541 5.1, 5.2) ---------------------------
def encode_integer(value, prefix_bits: cython.int, first: cython.int):
    """`value` with an N-bit prefix; `first` holds the first octet's other bits."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((first | value,))
    out = bytearray((first | limit,))
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


# -- HPACK: the decoder ---------------------------------------------------------
class HpackDecoder:
    """Decodes header blocks for one connection (its dynamic table lives across blocks)."""

    def __init__(self, max_table_size=4096, max_header_list_size=65536):
        # The table size we advertised (SETTINGS_HEADER_TABLE_SIZE): the peer's
        # size updates may not go past it.
        self.max_allowed_table_size = max_table_size
        self.max_table_size = max_table_size  # the size the peer's encoder chose
        self.max_header_list_size = max_header_list_size
        self.entries = []  # the dynamic table, oldest first: index 62 is the last one
        self.table_size = 0  # RFC 7541 4.1's measure: name + value + 32 per entry

    def decode(self, data):
        """A header block -> [(name, value)]; HpackError when it is not valid."""
        headers = []
        size: cython.Py_ssize_t = len(data)
        position: cython.Py_ssize_t = 0
        total: cython.Py_ssize_t = 0
        octet: cython.Py_ssize_t
        index: cython.Py_ssize_t
        fields_seen = False
        limit = self.max_header_list_size
        while position < size:
            octet = data[position]
            if octet & 0x80:  # indexed field
                index, position = _decode_integer(data, position, 7)
                name, value = self._field(index)
            elif octet & 0x40:  # literal, added to the table
                index, position = _decode_integer(data, position, 6)
                if index:
                    name = self._field(index)[0]
                else:
                    name, position = _decode_string(data, position)
                value, position = _decode_string(data, position)
                self._add(name, value)
            elif octet & 0x20:  # dynamic table size update: only before the block's first field
                if fields_seen:
                    raise HpackError("a table size update after a header field")
                index, position = _decode_integer(data, position, 5)
                if index > self.max_allowed_table_size:
                    raise HpackError(f"a table size update to {index}, past {self.max_allowed_table_size}")
                self.max_table_size = index
                self._evict()
                continue
            else:  # literal, not indexed (0x00) or never indexed (0x10)
                index, position = _decode_integer(data, position, 4)
                if index:
                    name = self._field(index)[0]
                else:
                    name, position = _decode_string(data, position)
                value, position = _decode_string(data, position)
            fields_seen = True
            total += len(name) + len(value) + 32
            if total > limit:
                raise HeaderListTooLarge(f"a header list larger than {limit} bytes")
            headers.append((name, value))
        return headers

    def _field(self, index: cython.Py_ssize_t):
        if index == 0:
            raise HpackError("index 0")
        if index <= STATIC_SIZE:
            return STATIC_TABLE[index - 1]
        entries = self.entries
        position: cython.Py_ssize_t = len(entries) - (index - STATIC_SIZE)
        if position < 0:
            raise HpackError(f"index {index} past the tables")
        return entries[position]

    def _add(self, name, value):
        size = len(name) + len(value) + 32
        if size > self.max_table_size:  # an entry larger than the table empties it (RFC 7541 4.4)
            self.entries.clear()
            self.table_size = 0
            return
        self.entries.append((name, value))
        self.table_size += size
        self._evict()

    def _evict(self):
        entries = self.entries
        evicted = 0
        while self.table_size > self.max_table_size:
            name, value = entries[evicted]
            self.table_size -= len(name) + len(value) + 32
            evicted += 1
        if evicted:
            del entries[:evicted]


def _decode_integer(data, position: cython.Py_ssize_t, prefix_bits: cython.int):
    """(the integer at `position` with an N-bit prefix, the position after it)."""
    size: cython.Py_ssize_t = len(data)
    limit: cython.Py_ssize_t = (1 << prefix_bits) - 1
    value: cython.Py_ssize_t = data[position] & limit
    position += 1
    if value < limit:
        return value, position
    shift: cython.int = 0
    octet: cython.Py_ssize_t
    while True:
        if position >= size:
            raise HpackError("a truncated integer")
        octet = data[position]
        position += 1
        value += (octet & 0x7F) << shift
        if not octet & 0x80:
            return value, position
        shift += 7
        if shift > 28:  # past 2**31: no table, string or list is that large
            raise HpackError("an integer too large")


def _decode_string(data, position: cython.Py_ssize_t):
    """(the string literal at `position`, the position after it)."""
    if position >= len(data):
        raise HpackError("a truncated string")
    huffman = data[position] & 0x80
    length: cython.Py_ssize_t
    length, position = _decode_integer(data, position, 7)
    end: cython.Py_ssize_t = position + length
    if end > len(data):
        raise HpackError("a string longer than its block")
    raw = bytes(data[position:end])
    return (huffman_decode(raw) if huffman else raw), end


# -- HPACK: the encoder ---------------------------------------------------------
ENCODED_CACHE_MAX = 512  # distinct fields whose encoding is kept
# (name, value) -> its encoding.  Without the dynamic table a field's encoding
# is the same on every connection, so the connections of a process share one
# cache: an idle connection holds none of it.
SHARED_CACHE = {}


class HpackEncoder:
    """Encodes header lists without the dynamic table, so every field's
    encoding is the same in every block: the repeated ones are cached."""

    def __init__(self, cache=None):
        self.cache = SHARED_CACHE if cache is None else cache

    def encode(self, headers):
        """[(name, value)] (lowercase bytes) -> a header block."""
        cache = self.cache
        parts = []
        for field in headers:
            encoded = cache.get(field)
            if encoded is None:
                encoded = self._encode_field(field[0], field[1])
                if len(cache) < ENCODED_CACHE_MAX and len(encoded) < 256:
                    cache[(field[0], field[1])] = encoded
            parts.append(encoded)
        return b"".join(parts)

    def _encode_field(self, name, value):
        index = STATIC_FIELDS.get((name, value))
        if index is not None:
            return encode_integer(index, 7, 0x80)
        index = STATIC_NAMES.get(name, 0)
        if index:
            head = encode_integer(index, 4, 0)
        else:
            head = b"\x00" + _encode_literal(name)
        return head + _encode_literal(value)


def _encode_literal(data):
    """A string literal, Huffman-coded where that is shorter."""
    coded = huffman_encode(data)
    if len(coded) < len(data):
        return encode_integer(len(coded), 7, 0x80) + coded
    return encode_integer(len(data), 7, 0) + bytes(data)


# -- request header validation (RFC 9113 sections 8.2 and 8.3, RFC 8441) -------
CONNECTION_SPECIFIC = frozenset((b"connection", b"proxy-connection", b"keep-alive", b"transfer-encoding",
                                 b"upgrade"))
PSEUDO_HEADERS = frozenset((b":method", b":scheme", b":authority", b":path", b":status", b":protocol"))


# Header names found valid, shared by every connection of the process: the
# same few dozen names come in every request, checked once each.
VALID_NAMES = set()
VALID_NAMES_MAX = 1024


def header_error(headers, trailers):
    """Why a received request header list (or its trailers) is malformed,
    or None: names lowercase tokens without a colon past the first octet,
    values without NUL, CR, LF or surrounding whitespace, no
    connection-specific field, `te` only "trailers", pseudo-headers known,
    once each, first, and only in requests (:method, :scheme and :path
    present, :path not empty, :protocol only in an extended CONNECT), one
    host header matching :authority, and one of the two present."""
    seen = set()
    regular = False
    method = authority = host = None
    octet: cython.Py_ssize_t
    size: cython.Py_ssize_t
    field_name: bytes
    field_value: bytes
    for name, value in headers:
        if not name:
            return "an empty header name"
        if name not in VALID_NAMES:
            field_name = name  # typed: the loop below runs over its octets in C
            for octet in field_name:
                if 0x41 <= octet <= 0x5A or octet <= 0x20 or octet >= 0x7F:
                    return f"invalid header name {name!r}"
            if name.find(b":", 1) != -1:
                return f"invalid header name {name!r}"
            if len(VALID_NAMES) < VALID_NAMES_MAX:
                VALID_NAMES.add(name)
        field_name = name
        field_value = value
        size = len(field_value)
        if size:
            for octet in field_value:
                if octet == 0x00 or octet == 0x0D or octet == 0x0A:
                    return f"invalid header value {value!r}"
            octet = field_value[0]
            if octet == 0x20 or octet == 0x09:
                return f"header value surrounded by whitespace {value!r}"
            octet = field_value[size - 1]
            if octet == 0x20 or octet == 0x09:
                return f"header value surrounded by whitespace {value!r}"
        if field_name[0] == 0x3A:
            if name in seen:
                return f"duplicate pseudo-header {name!r}"
            seen.add(name)
            if regular:
                return f"pseudo-header {name!r} after a regular field"
            if name not in PSEUDO_HEADERS:
                return f"unknown pseudo-header {name!r}"
            if name == b":method":
                method = value
            elif name == b":authority":
                authority = value
            elif name == b":path" and not value and not trailers:
                return "an empty :path"
            continue
        regular = True
        if name == b"te" and value.lower() != b"trailers":
            return f"te: {value!r}"
        if name in CONNECTION_SPECIFIC:
            return f"connection-specific field {name!r}"
        if name == b"host" and not trailers:
            if host is not None:
                return "more than one host header"
            host = value
    if trailers:
        return f"pseudo-headers in trailers {sorted(seen)!r}" if seen else None
    if b":method" not in seen:
        return "no :method"
    if b":status" in seen:
        return ":status in a request"
    if method == b"CONNECT":
        if b":protocol" in seen:
            if b":scheme" not in seen or b":path" not in seen:
                return "an extended CONNECT without :scheme or :path"
        elif b":scheme" in seen or b":path" in seen:
            return "a CONNECT with :scheme or :path"
    else:
        if b":scheme" not in seen or b":path" not in seen:
            return "no :scheme or :path"
        if b":protocol" in seen:
            return ":protocol outside a CONNECT"
    if authority is None and host is None:
        return "neither :authority nor host"
    if authority is not None and host is not None and authority != host:
        return "host and :authority differ"
    return None
