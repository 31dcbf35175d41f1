"""Conversions of Python keys, values and TTLs to what the C calls take."""

from __future__ import annotations

import datetime
import math
from typing import Optional, Union

#: A key, value or prefix: ``str`` is encoded as UTF-8, bytes-likes are used as is.
Value = Union[bytes, bytearray, memoryview, str]
#: A time to live: seconds (int or float) or a ``timedelta``.
TTL = Union[int, float, datetime.timedelta]

_U64_MAX = 2**64 - 1


def to_bytes(data: object, what: str = "key") -> bytes:
    """Returns ``data`` as ``bytes`` for a ``c_char_p`` argument.

    ``bytes`` passes through untouched (ctypes then hands C its buffer without a
    copy); ``bytearray`` and ``memoryview`` are copied once.
    """
    if type(data) is bytes:  # the fast path: no isinstance chain
        return data
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"a {what} must be str, bytes, bytearray or memoryview, not {type(data).__name__}")


def ttl_to_ms(ttl: Optional[TTL], what: str = "ttl") -> int:
    """Seconds (or a timedelta) to the library's milliseconds; ``None`` -> 0.

    0 is what the C API reads as "the cache's default TTL", so a positive TTL
    is rounded *up* to a whole millisecond: a tiny TTL must never turn into the
    default (which may be "forever").  Rounding to 6 decimals first keeps e.g.
    0.03 s at 30 ms despite binary floating point (0.03 * 1000 = 30.000000000000004).
    """
    if ttl is None:
        return 0
    if isinstance(ttl, datetime.timedelta):
        seconds = ttl.total_seconds()
    elif isinstance(ttl, (int, float)) and not isinstance(ttl, bool):
        seconds = float(ttl)
    else:
        raise TypeError(f"{what} must be seconds (int or float), a timedelta or None, not {type(ttl).__name__}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{what} must be a positive number of seconds (None for the default), got {ttl!r}")
    ms = math.ceil(round(seconds * 1000, 6))
    if ms > _U64_MAX:
        raise ValueError(f"{what} is too large: {ttl!r}")
    return ms
