"""Packing of the batch calls' arrays: ``tc_slice`` arrays, lengths, statuses.

A batch call (``get_many``, ``put_many``) costs one foreign call; what would
make it cost more per key than single calls is building and reading ctypes
arrays element by element (a Python object and an attribute access per
field).  Here every array is an ``array.array`` filled and read by C-level
iteration (``b"".join``, ``accumulate``, ``zip``), and passed to C by the
address of its buffer.  The caller keeps what :func:`slices` returns alive
for the duration of the call: the array points into the joined bytes.
"""

from __future__ import annotations

import ctypes
from array import array
from itertools import accumulate
from typing import Sequence, Tuple

#: The ``array`` typecodes of a pointer / ``size_t`` and of a ``tc_status``
#: (a C enum: an ``int``), checked against ctypes at import.
_WORD = next(code for code in "LQI" if array(code).itemsize == ctypes.sizeof(ctypes.c_void_p))
_STATUS = "i"
assert array(_WORD).itemsize == ctypes.sizeof(ctypes.c_size_t)
assert array(_STATUS).itemsize == ctypes.sizeof(ctypes.c_int)


def address(data: bytes) -> int:
    """The address of a ``bytes`` object's buffer (never 0, even for ``b""``)."""
    addr = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value
    assert addr
    return addr


def slices(parts: Sequence[bytes]) -> Tuple[bytes, "array[int]"]:
    """``(blob, arr)``: the parts laid end to end in ``blob``, and ``arr`` the
    ``tc_slice`` array (pointer, length, pointer, length, ...) of them, each
    pointer into ``blob``.  An empty part gets a valid, non-NULL pointer.

    The lengths and the pointers are built as two arrays and interleaved by
    extended-slice assignment (a copy in C), not by zipping Python pairs:
    per part that spares a tuple, a ``chain`` step and an array append."""
    blob = b"".join(parts)
    lens = array(_WORD, map(len, parts))
    starts = array(_WORD, accumulate(lens, initial=address(blob)))
    del starts[-1]  # the end of the last part
    arr = words(2 * len(lens))
    arr[0::2] = starts
    arr[1::2] = lens
    return blob, arr


def words(n: int) -> "array[int]":
    """``n`` zeroed pointers / ``size_t``s."""
    return array(_WORD, bytes(n * array(_WORD).itemsize))


def statuses(n: int) -> "array[int]":
    """``n`` zeroed ``tc_status``es."""
    return array(_STATUS, bytes(n * array(_STATUS).itemsize))


def addr_of(arr: "array[int]") -> int:
    """The address of an array's buffer (valid while it is not resized)."""
    return arr.buffer_info()[0]
