"""The hot path's byte loops, compiled: the few loops that typed Python
cannot make as fast (see byteloops.py for the same functions as Python).

unmask() undoes a websocket frame's mask eight bytes at a time, straight
into the bytes object handed to the app; encode_frame() writes a frame's
head and payload into one new bytes object; concat(), header_lines() and
content_length_line() write a response head's pieces into one new bytes
object each, with no temporary per piece.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport uint8_t, uint64_t
from libc.string cimport memcpy


cpdef bytes unmask(bytes data, Py_ssize_t start, Py_ssize_t length, Py_ssize_t mask_at):
    """The `length` bytes of `data` from `start`, unmasked with the 4-byte
    mask at `mask_at`; the caller has checked that both lie within `data`."""
    cdef const uint8_t *src = <const uint8_t *>PyBytes_AS_STRING(data) + start
    cdef const uint8_t *mask = <const uint8_t *>PyBytes_AS_STRING(data) + mask_at
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


cpdef bytes encode_frame(int opcode, payload):
    """A final, unmasked server websocket frame."""
    cdef bytes data = <bytes>payload if type(payload) is bytes else bytes(payload)
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


cdef inline char* _put(char* q, bytes data):
    """Writes `data` at `q`; returns the end."""
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
    memcpy(q, PyBytes_AS_STRING(data), n)
    return q + n


cpdef bytes concat(list parts):
    """The bytes of `parts`, a list of bytes, joined."""
    cdef Py_ssize_t total = 0
    cdef bytes part
    for part in parts:
        if part is None:  # as bytes.join would: a typed bytes item may be None
            raise TypeError("expected bytes, got None")
        total += PyBytes_GET_SIZE(part)
    cdef bytes result = PyBytes_FromStringAndSize(NULL, total)
    cdef char* q = PyBytes_AS_STRING(result)
    for part in parts:
        q = _put(q, part)
    return result


cpdef bytes header_lines(object headers, Py_ssize_t size):
    """b"name: value\\r\\n" for each (name, value) pair of bytes in the list or
    tuple `headers`; `size` is the block's length, which the caller counted."""
    cdef bytes block = PyBytes_FromStringAndSize(NULL, size)
    cdef char* q = PyBytes_AS_STRING(block)
    cdef char* end = q + size
    cdef bytes name, value
    for name, value in headers:
        if q + PyBytes_GET_SIZE(name) + PyBytes_GET_SIZE(value) + 4 > end:
            raise ValueError("header_lines: the headers' length is not the size given")
        q = _put(q, name)
        q[0] = 58  # ":"
        q[1] = 32  # " "
        q = _put(q + 2, value)
        q[0] = 13
        q[1] = 10
        q += 2
    if q != end:
        raise ValueError("header_lines: the headers' length is not the size given")
    return block


cpdef bytes content_length_line(Py_ssize_t size):
    """b"content-length: <size>\\r\\n", written from the end by hand:
    a format's parsing costs more than the rest of the line."""
    cdef char line[48]
    cdef char* end = line + 48
    cdef char* p = end - 2
    cdef size_t value = <size_t>size
    p[0] = 13  # CR
    p[1] = 10  # LF
    while True:
        p -= 1
        p[0] = <char>(48 + value % 10)
        value //= 10
        if value == 0:
            break
    p -= 16
    memcpy(p, b"content-length: ", 16)
    return PyBytes_FromStringAndSize(p, end - p)
