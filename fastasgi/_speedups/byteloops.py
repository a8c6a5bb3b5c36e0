"""The hot path's byte-level routines, as Python.

byteloops_c.pyx is the compiled form of each, written by hand because
what makes it fast (a loop over machine words, writing into a new bytes
object in place) is what typed Python cannot say.  Here the websockets
library unmasks.
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
