"""Finding where a request head ends, with its limits, for both parsers.

A HeadScanner is fed the bytes between requests piece by piece, however
the stream was split, and says where the head's CRLFCRLF ends.  On the way
it applies, byte by byte, what must hold before any library sees the head,
so the first bad byte decides the error in both twins:

- empty lines (CRLF) before a request are skipped (RFC 9112 2.2);
- a LF without its CR is a 400;
- a head longer than `max_head_size` bytes is a 431;
- a request line (CRLF excluded) longer than `max_request_line` is a 414;
- more than `max_header_count` field lines is a 431.

The caller keeps the head's bytes: from `head_start` of each piece on,
until scan() returns the end; `restarted` says the bytes it kept from
earlier pieces were not a head after all (a lone CR that turned out to be
an empty line's).

This module is also compiled, unchanged, as headscan_c (headscan_c.pxd
gives it C types; see compiled.py): the compiled parser cimports
HeadScanner to call scan() as a C method.
"""
try:
    import cython
except ImportError:  # Cython is a build dependency; the pure package runs without it
    from types import SimpleNamespace
    cython = SimpleNamespace(compiled=False)

from .errors import HttpParseError

if not cython.compiled:  # compiled, line_break is cimported (headscan_c.pxd)
    from .byteloops import line_break

CR = 13
LF = 10
NO_LIMIT = (1 << 63) - 1  # a limit of 0 means none: no head gets this long


class HeadScanner:
    """The end of the next request head in a byte stream, with its limits checked."""

    __slots__ = ("max_head_size", "max_request_line", "max_header_count", "head_start", "restarted",
                 "_match", "_size", "_line_done", "_lines", "_pending_cr")

    def __init__(self, max_head_size, max_request_line=0, max_header_count=0):
        self.set_limits(max_head_size, max_request_line, max_header_count)
        # Every field below starts at zero: the compiled parser makes its
        # scanner with HeadScanner.__new__ (zeroed C fields) and set_limits().
        self.head_start = 0  # where the head's bytes start in the last piece scanned
        self.restarted = False  # the last scan dropped the bytes kept so far: see the docstring
        self._match = 0  # how much of CRLFCRLF the last bytes matched (0-4)
        self._size = 0  # bytes of the current head seen so far
        self._line_done = False  # the request line of the current head ended
        self._lines = 0  # line ends (CRLF) seen in the current head
        self._pending_cr = False  # a CR before any head byte, waiting for its LF

    def set_limits(self, max_head_size, max_request_line, max_header_count):
        """The limits to check; 0 for the request line or the field count means none."""
        self.max_head_size = max_head_size
        self.max_request_line = max_request_line if max_request_line > 0 else NO_LIMIT
        self.max_header_count = max_header_count if max_header_count > 0 else NO_LIMIT

    def scan(self, data, start, end):
        """Take data[start:end] (not empty) as the next bytes of the stream.

        Returns the offset in `data` just past the head's CRLFCRLF, the
        scanner then ready for the next head; or -1 when the piece ran out
        first.  Raises HttpParseError at the first byte that breaks a rule.
        """
        p = data  # compiled: the bytes as a C array
        i = start
        self.restarted = False
        if self._size == 0:
            if self._pending_cr:
                self._pending_cr = False
                if p[i] == LF:
                    i += 1
                    self.restarted = True
                else:  # a lone CR starts the head
                    self._size = 1
                    self._match = 1
            while self._size == 0 and i < end and p[i] == CR:
                if i + 1 == end:  # kept by the caller until its LF tells
                    self._pending_cr = True
                    self.head_start = i
                    return -1
                if p[i + 1] != LF:
                    break
                i += 2
            self.head_start = i
        else:
            self.head_start = start
        s = self._match
        size = self._size  # bytes of this head before p[i]
        line_done = self._line_done
        lines = self._lines
        max_head = self.max_head_size
        max_line = self.max_request_line
        max_fields = self.max_header_count
        while i < end:
            c = p[i]
            if c != CR and c != LF:
                # A run of other bytes, up to the next CR or LF, moves
                # nothing but the counts: skipped at once as far as no limit
                # is reached (the byte that reaches one goes through the
                # steps below, which raise).
                run = line_break(p, i, end) - i
                if run > max_head - size:
                    run = max_head - size
                if not line_done and run > max_line - size:
                    run = max_line - size
                if run > 0:
                    s = 0
                    size += run
                    i += run
                    continue
            if size >= max_head:
                raise HttpParseError("Request head too large", 431)
            if c == CR:
                s = 3 if s == 2 else 1
            elif c == LF:
                if s == 1:
                    s = 2
                    lines += 1
                elif s == 3:
                    s = 4
                else:
                    raise HttpParseError("Invalid line ending in request head")
            else:
                s = 0
            if not line_done:
                if s == 2:
                    line_done = True
                elif size >= max_line and not (size == max_line and c == CR):
                    raise HttpParseError("Request line too long", 414)
            elif s == 2 and lines - 1 > max_fields:
                raise HttpParseError("Too many header fields", 431)
            size += 1
            i += 1
            if s == 4:
                self._match = 0
                self._size = 0
                self._line_done = False
                self._lines = 0
                return i
        self._match = s
        self._size = size
        self._line_done = line_done
        self._lines = lines
        return -1
