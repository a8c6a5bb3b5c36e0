"""The hot path's byte-level routines, as Python.

byteloops_c.pyx is the compiled form of each, written by hand because
what makes it fast (a loop over machine words, writing into a new bytes
object in place) is what typed Python cannot say.  Here the websockets
library unmasks, and bytes.join builds the joined results.
"""
try:
    from websockets.speedups import apply_mask
except ImportError:  # the library without its C extension (PyPy)
    from websockets.utils import apply_mask


def unmask(data, start, length, mask_at):
    """The `length` bytes of `data` from `start`, unmasked with the 4-byte mask at `mask_at`."""
    return apply_mask(data[start:start + length], data[mask_at:mask_at + 4])


def encode_frame(opcode, payload):
    """A final, unmasked server websocket frame."""
    length = len(payload)
    if length < 126:
        head = bytes((0x80 | opcode, length))
    elif length < 0x10000:
        head = bytes((0x80 | opcode, 126, length >> 8, length & 0xFF))
    else:
        head = bytes((0x80 | opcode, 127)) + length.to_bytes(8, "big")
    return head + payload


def concat(parts):
    """The bytes of `parts`, a list of bytes, joined."""
    return b"".join(parts)


def header_lines(headers, size):
    """b"name: value\\r\\n" for each (name, value) pair of bytes; `size` is the
    block's length, which the compiled form writes into without resizing."""
    block = b"".join([name + b": " + value + b"\r\n" for name, value in headers])
    if len(block) != size:
        raise ValueError("header_lines: the headers' length is not the size given")
    return block


def content_length_line(size):
    """b"content-length: <size>\\r\\n"."""
    return b"content-length: %d\r\n" % size


def line_break(data, start, end):
    """The offset of the first CR or LF in data[start:end], or `end`."""
    cr = data.find(b"\r", start, end)
    lf = data.find(b"\n", start, end if cr < 0 else cr)
    if lf >= 0:
        return lf
    return end if cr < 0 else cr
