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

    The pointers and the lengths are interleaved in a list by extended-slice
    assignment (C-level iteration, no Python pair per part), and the list
    turned into the array at once: an array built from an iterator grows
    one element at a time, and one built from a list is sized once, which
    made this ~10% cheaper per part than building the two halves as arrays
    (callgrind, 100 parts of 100 bytes: 1153 → 1043 instructions per part)."""
    blob = b"".join(parts)
    if not parts:
        return blob, array(_WORD)
    lens = list(map(len, parts))
    arr = [0] * (2 * len(lens))
    # Each part starts where the ones before it end (the last part's end is
    # not a start: hence lens[:-1]).
    arr[0::2] = accumulate(lens[:-1], initial=address(blob))
    arr[1::2] = lens
    return blob, array(_WORD, arr)


def words(n: int) -> "array[int]":
    """``n`` zeroed pointers / ``size_t``s."""
    return array(_WORD, bytes(n * array(_WORD).itemsize))


def statuses(n: int) -> "array[int]":
    """``n`` zeroed ``tc_status``es."""
    return array(_STATUS, bytes(n * array(_STATUS).itemsize))


def addr_of(arr: "array[int]") -> int:
    """The address of an array's buffer (valid while it is not resized)."""
    return arr.buffer_info()[0]
