"""The framing of a chunked request body, followed the same way by both parsers.

llhttp and h11 each parse chunked bodies, but h11 is laxer than llhttp
about chunk-size lines and trailers, and neither bounds them the same way
however the bytes were split.  So both parsers walk the framing here first,
byte by byte (the data itself is skipped by its length), and give the
library only the bytes before the first bad one:

- a chunk-size line: 1*HEXDIG (at most 2**64 - 1), extensions
  `;name[=token-or-quoted-string]`, no whitespace, CRLF: as llhttp;
- trailer fields: token ":" field-value CRLF, no obs-fold, then CRLF; no
  Content-Length trailer (refused at its colon) and no Transfer-Encoding
  trailer with a value (refused at its first byte), where llhttp refuses
  them;
- the CRLF after each chunk's data;
- a chunk-size line (up to its LF) longer than `limit` bytes is a 400, a
  trailer section longer than `limit` bytes a 431.

Where no library parses the body (the compiled parser after an Upgrade
request it does not serve: llhttp skips that body), ChunkFraming frames it
alone: given a `body` list, it appends each chunk's data to it as bytes,
and `end` says where the body ended.

This module is also compiled, unchanged, as chunks_c (chunks_c.pxd gives
it C types; see compiled.py): the compiled parser cimports ChunkFraming.
"""
from .errors import HttpParseError

# Where ChunkFraming is in the body.
SIZE_LINE, DATA, DATA_END, TRAILERS, DONE = range(5)
MAX_CHUNK_SIZE = 0xFFFFFFFFFFFFFFFF  # llhttp's limit: a larger size is an overflow

# Byte classes for the chunk-line and trailer grammar.
(C_OTHER, C_HEX, C_TOKEN, C_SEMI, C_EQ, C_QUOTE, C_BSLASH, C_CR, C_LF, C_SP, C_COLON,
 C_VCHAR, C_OBS) = range(13)


def _byte_classes():
    classes = [C_OTHER] * 256
    for c in range(0x21, 0x7F):
        classes[c] = C_VCHAR
    for c in b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ":
        classes[c] = C_TOKEN
    for c in b"0123456789abcdefABCDEF":
        classes[c] = C_HEX
    for c in range(0x80, 0x100):
        classes[c] = C_OBS
    for c, kind in ((59, C_SEMI), (61, C_EQ), (34, C_QUOTE), (92, C_BSLASH), (13, C_CR), (10, C_LF),
                    (32, C_SP), (9, C_SP), (58, C_COLON)):
        classes[c] = kind
    return bytes(classes)


CLASSES = _byte_classes()  # the class of each byte value

# States inside a chunk-size line (RFC 9112 7.1, as strict as llhttp) ...
(S_START, S_SIZE, S_SEMI, S_NAME, S_VALUE, S_QUOTED, S_ESCAPE, S_QUOTED_END, S_LF,
 # ... and inside the trailer section
 T_START, T_NAME, T_VALUE, T_LF, T_END_LF) = range(14)


def _hex_value(c):
    """The value of a hex digit's byte; the caller checked its class."""
    if c <= 57:
        return c - 48
    return (c | 0x20) - 87


def _is_name(kind):
    """A token character."""
    return kind == C_HEX or kind == C_TOKEN


def _is_field_value(kind):
    """A byte a field value may hold: not a control (but HTAB), not CR or LF."""
    return kind != C_OTHER and kind != C_CR and kind != C_LF


def _is_qdtext(kind):
    """A byte a quoted string may hold as it is: a field value byte but " and \\."""
    return _is_field_value(kind) and kind != C_QUOTE and kind != C_BSLASH


class ChunkFraming:
    """Follows the framing of one chunked body (see the module's docstring).

    `scan(data, start, end)` reads data[start:end] and returns the offset
    of the first bad byte in it, or -1; `error` then says why.  After the
    end of the body it reads nothing more (`done`), and `end` is the offset
    in the last data scanned just past the body.  With a `body` list, the
    chunks' data read is appended to it.
    """

    __slots__ = ("limit", "state", "line", "count", "remaining", "size", "error", "name", "coding", "body", "end")

    def __init__(self, limit, body=None):
        self.limit = limit
        self.state = SIZE_LINE
        self.line = S_START  # the state inside the current line
        self.count = 0  # bytes of the size line / trailer section / data CRLF so far
        self.remaining = 0  # data bytes of the current chunk still due
        self.size = 0
        self.error = None
        self.name = None  # the trailer field name being read (a bytearray)
        self.coding = False  # inside the value of a Transfer-Encoding trailer
        self.body = body  # a list to append the data to, when no library parses the body; None
        self.end = -1  # once done: where the body ended in the data of the last scan()

    def done(self):
        """Whether the body has ended (the empty line after the trailers came)."""
        return self.state == DONE

    def scan(self, data, start, end):
        classes = CLASSES  # compiled: C arrays (chunks_c.pxd)
        p = data
        i = start
        limit = self.limit
        while i < end:
            state = self.state
            if state == DATA:
                take = end - i
                if self.remaining < take:
                    take = self.remaining
                self.remaining -= take
                stop = i + take
                if self.body is not None:
                    self.body.append(data[i:stop])
                i = stop
                if not self.remaining:
                    self.state = DATA_END
                    self.count = 0
                continue
            if state == DATA_END:  # the CRLF after the data
                if p[i] != (13 if self.count == 0 else 10):
                    return self._bad(i, "Invalid chunk data ending")
                self.count += 1
                i += 1
                if self.count == 2:
                    self.state = SIZE_LINE
                    self.line = S_START
                    self.count = 0
                    self.size = 0
                continue
            if state == DONE:
                return -1
            line = self.line
            count = self.count
            trailers = state == TRAILERS
            while i < end:
                c = p[i]
                kind = classes[c]
                if count >= limit and (trailers or kind != C_LF):
                    self.error = (HttpParseError("Trailer section too large", 431) if trailers
                                  else HttpParseError("Chunk size line too long"))
                    return i
                if kind != C_LF or trailers:
                    count += 1
                i += 1
                if line == S_SIZE or line == S_START:
                    if kind == C_HEX:
                        if self.size > (MAX_CHUNK_SIZE >> 4):
                            return self._bad(i - 1, "Chunk size overflow")
                        self.size = self.size * 16 + _hex_value(c)
                        line = S_SIZE
                        continue
                    if line == S_START:
                        return self._bad(i - 1, "Invalid chunk size")
                    if kind == C_SEMI:
                        line = S_SEMI
                    elif kind == C_CR:
                        line = S_LF
                    else:
                        return self._bad(i - 1, "Invalid chunk size")
                elif line == S_SEMI or line == S_NAME:
                    if _is_name(kind):
                        line = S_NAME
                    elif kind == C_SEMI:
                        line = S_SEMI
                    elif kind == C_EQ:
                        line = S_VALUE
                    elif kind == C_CR and line == S_NAME:
                        line = S_LF
                    else:
                        return self._bad(i - 1, "Invalid chunk extension")
                elif line == S_VALUE:
                    if _is_name(kind):
                        pass
                    elif kind == C_QUOTE:
                        line = S_QUOTED
                    elif kind == C_SEMI:
                        line = S_SEMI
                    elif kind == C_CR:
                        line = S_LF
                    else:
                        return self._bad(i - 1, "Invalid chunk extension")
                elif line == S_QUOTED:
                    if kind == C_QUOTE:
                        line = S_QUOTED_END
                    elif kind == C_BSLASH:
                        line = S_ESCAPE
                    elif not _is_qdtext(kind):
                        return self._bad(i - 1, "Invalid chunk extension")
                elif line == S_ESCAPE:
                    if kind == C_OTHER or kind == C_CR or kind == C_LF:  # C_OTHER holds DEL too
                        return self._bad(i - 1, "Invalid chunk extension")
                    line = S_QUOTED
                elif line == S_QUOTED_END:
                    if kind == C_SEMI:
                        line = S_SEMI
                    elif kind == C_CR:
                        line = S_LF
                    else:
                        return self._bad(i - 1, "Invalid chunk extension")
                elif line == S_LF:
                    if kind != C_LF:
                        return self._bad(i - 1, "Invalid chunk size line ending")
                    if self.size:
                        self.state = DATA
                        self.remaining = self.size
                    else:
                        self.state = TRAILERS
                        line = T_START
                        count = 0
                    break
                elif line == T_START:
                    if kind == C_CR:
                        line = T_END_LF
                    elif _is_name(kind):
                        line = T_NAME
                        self.name = bytearray((c | 0x20,))
                    else:
                        return self._bad(i - 1, "Invalid trailer field")
                elif line == T_NAME:
                    if kind == C_COLON:
                        line = T_VALUE
                        name = self.name
                        if name is not None and name == b"content-length":  # it must not reframe the message
                            return self._bad(i - 1, "Invalid trailer field")
                        self.coding = name is not None and name == b"transfer-encoding"
                    elif not _is_name(kind):
                        return self._bad(i - 1, "Invalid trailer field")
                    elif self.name is not None:
                        if len(self.name) < 17:
                            self.name.append(c | 0x20)
                        else:  # longer than any name checked: no need to keep it
                            self.name = None
                elif line == T_VALUE:
                    if self.coding and kind != C_SP and kind != C_CR:
                        return self._bad(i - 1, "Invalid trailer field")
                    if kind == C_CR:
                        line = T_LF
                    elif not _is_field_value(kind):
                        return self._bad(i - 1, "Invalid trailer field")
                elif line == T_LF:
                    if kind != C_LF:
                        return self._bad(i - 1, "Invalid trailer line ending")
                    line = T_START
                else:  # T_END_LF
                    if kind != C_LF:
                        return self._bad(i - 1, "Invalid trailer line ending")
                    self.state = DONE
                    self.end = i
                    return -1
            self.line = line
            self.count = count
        return -1

    def _bad(self, offset, reason):
        self.error = HttpParseError(reason)
        return offset
