"""The canonical encoding behind :meth:`tiercache.Cache.memoize`.

A memoized call's key is derived from the function's name and its arguments
so that the same call gives the same key in every process, on every machine
and, following this description, in every language.  ``pickle`` and ``repr``
cannot do that (neither is canonical, and both depend on Python), so the
arguments are written in a small subset of CBOR (RFC 8949) with one encoding
per value, the deterministic encoding of RFC 8949 section 4.2.1 except that
every float takes 8 bytes:

=================  ==========================================================
Python value       bytes
=================  ==========================================================
``None``           ``f6``
``False``/``True`` ``f4`` / ``f5``
``int`` n >= 0     major type 0 with argument n, if n < 2**64; else tag 2
                   (``c2``) and a byte string of n, big-endian, without
                   leading zero bytes
``int`` n < 0      major type 1 with argument -1-n, if -1-n < 2**64; else tag
                   3 (``c3``) and a byte string of -1-n as above
``float``          ``fb`` and the IEEE 754 binary64 bits, big-endian (every
                   NaN as ``7ff8000000000000``; -0.0 and 0.0 differ)
``bytes``          major type 2: the length, then the bytes
``str``            major type 3: the UTF-8 length, then the UTF-8 bytes
``list``/``tuple`` major type 4: the count, then each item (a tuple and a
                   list with the same items encode the same)
``dict``           major type 5: the count, then key, value, key, value...,
                   sorted by the bytes of each key's encoding; keys must be str
=================  ==========================================================

The argument of a major type (a length, a count, or the integer itself) is
written in the fewest bytes: below 24 in the initial byte itself (``major <<
5 | n``), then 1, 2, 4 or 8 big-endian bytes after ``major << 5 | 24``,
``25``, ``26`` or ``27``.  Only the exact types above are accepted (``bool``
before ``int``): a subclass such as an ``IntEnum`` or a ``namedtuple``, a
``set``, a ``bytearray`` or any other object raises :class:`Unencodable`, and
so does a container nested more than 200 deep (or containing itself).

:func:`memo_key` is the key of one call: ``prefix`` followed by the lowercase
hex SHA-256 of the encoding of the 3-item array ``[name, args, kwargs]``.

:func:`decode` reads back exactly what :func:`encode` writes (arrays come
back as lists); memoize stores return values this way.
"""

from __future__ import annotations

import hashlib
import math
import struct
from typing import Any, Dict, List, Mapping, Sequence, Tuple

#: How deep containers may nest (a self-containing list would recurse forever).
MAX_DEPTH = 200

_CANONICAL_NAN = b"\xfb\x7f\xf8\x00\x00\x00\x00\x00\x00"
_U64 = 2**64


class Unencodable(TypeError):
    """A value outside the canonical subset.  ``path`` says where it sits
    inside the value given to :func:`encode` (e.g. ``"[2]['k']"``, or ``""``
    for the value itself) and ``value`` is the offending object."""

    def __init__(self, path: str, value: object, why: str = "") -> None:
        self.path = path
        self.value = value
        if not why:
            t = type(value)
            tname = t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"
            why = f"{'an' if tname[:1].lower() in 'aeiou' else 'a'} {tname}"
        self.why = why
        super().__init__(f"{self.why} at {path or 'the top'} has no canonical encoding")


def _head(major: int, n: int, out: bytearray) -> None:
    m = major << 5
    if n < 24:
        out.append(m | n)
    elif n < 0x100:
        out.append(m | 24)
        out.append(n)
    elif n < 0x10000:
        out.append(m | 25)
        out += n.to_bytes(2, "big")
    elif n < 0x100000000:
        out.append(m | 26)
        out += n.to_bytes(4, "big")
    else:
        out.append(m | 27)
        out += n.to_bytes(8, "big")


def _encode(value: Any, out: bytearray, path: str, depth: int) -> None:
    t = type(value)
    if value is None:
        out.append(0xF6)
    elif t is bool:
        out.append(0xF5 if value else 0xF4)
    elif t is int:
        if value >= 0:
            if value < _U64:
                _head(0, value, out)
            else:
                out.append(0xC2)
                mag = value.to_bytes((value.bit_length() + 7) // 8, "big")
                _head(2, len(mag), out)
                out += mag
        else:
            n = -1 - value
            if n < _U64:
                _head(1, n, out)
            else:
                out.append(0xC3)
                mag = n.to_bytes((n.bit_length() + 7) // 8, "big")
                _head(2, len(mag), out)
                out += mag
    elif t is float:
        if math.isnan(value):
            out += _CANONICAL_NAN
        else:
            out.append(0xFB)
            out += struct.pack(">d", value)
    elif t is bytes:
        _head(2, len(value), out)
        out += value
    elif t is str:
        try:
            raw = value.encode("utf-8")
        except UnicodeEncodeError:
            raise Unencodable(path, value, "a str that is not valid Unicode (a lone surrogate)") from None
        _head(3, len(raw), out)
        out += raw
    elif t is list or t is tuple:
        if depth >= MAX_DEPTH:
            raise Unencodable(path, value, f"a {t.__name__} nested more than {MAX_DEPTH} deep (or containing itself)")
        _head(4, len(value), out)
        for i, item in enumerate(value):
            _encode(item, out, f"{path}[{i}]", depth + 1)
    elif t is dict:
        if depth >= MAX_DEPTH:
            raise Unencodable(path, value, f"a dict nested more than {MAX_DEPTH} deep (or containing itself)")
        pairs: List[Tuple[bytes, bytes]] = []
        for k, v in value.items():
            if type(k) is not str:
                raise Unencodable(f"{path}[{k!r}]", k, f"a dict key of type {type(k).__name__} (only str keys)")
            kb = bytearray()
            _encode(k, kb, path, depth + 1)
            vb = bytearray()
            _encode(v, vb, f"{path}[{k!r}]", depth + 1)
            pairs.append((bytes(kb), bytes(vb)))
        pairs.sort(key=lambda p: p[0])
        _head(5, len(pairs), out)
        for kpart, vpart in pairs:
            out += kpart
            out += vpart
    else:
        raise Unencodable(path, value)


def encode(value: Any) -> bytes:
    """The canonical encoding of ``value`` (see the module's documentation).

    Raises :class:`Unencodable` (a ``TypeError``) for a value outside the subset.
    """
    out = bytearray()
    _encode(value, out, "", 0)
    return bytes(out)


def memo_key(name: str, args: Sequence[Any], kwargs: Mapping[str, Any], prefix: bytes = b"memo:") -> bytes:
    """The cache key of the call ``name(*args, **kwargs)``: ``prefix`` and the
    lowercase hex SHA-256 of ``encode([name, list(args), dict(kwargs)])``.

    An argument outside the subset raises :class:`Unencodable` whose ``path``
    starts with ``args[i]`` or ``kwargs['name']``.
    """
    body = bytearray()
    _head(4, 3, body)
    _encode(name, body, "name", 1)
    _head(4, len(args), body)
    for i, arg in enumerate(args):
        _encode(arg, body, f"args[{i}]", 2)
    pairs: List[Tuple[bytes, bytes]] = []
    for k, v in kwargs.items():
        if type(k) is not str:  # cannot happen with **kwargs; a Mapping may hold anything
            raise Unencodable(f"kwargs[{k!r}]", k, f"a keyword of type {type(k).__name__}")
        kb = bytearray()
        _encode(k, kb, "", 2)
        vb = bytearray()
        _encode(v, vb, f"kwargs[{k!r}]", 2)
        pairs.append((bytes(kb), bytes(vb)))
    pairs.sort(key=lambda p: p[0])
    _head(5, len(pairs), body)
    for kpart, vpart in pairs:
        body += kpart
        body += vpart
    return prefix + hashlib.sha256(body).hexdigest().encode("ascii")


class Undecodable(ValueError):
    """Bytes that :func:`encode` did not write."""


def decode(data: bytes) -> Any:
    """Reads back what :func:`encode` wrote: arrays as lists, maps as dicts.

    Raises :class:`Undecodable` (a ``ValueError``) for anything else, including
    a non-minimal length or trailing bytes.
    """
    value, end = _decode(data, 0, 0)
    if end != len(data):
        raise Undecodable(f"{len(data) - end} trailing byte(s) after the value")
    return value


def _arg(data: bytes, pos: int, info: int) -> Tuple[int, int]:
    if info < 24:
        return info, pos
    size = {24: 1, 25: 2, 26: 4, 27: 8}.get(info)
    if size is None:
        raise Undecodable(f"unsupported additional information {info} at byte {pos - 1}")
    if pos + size > len(data):
        raise Undecodable("truncated")
    n = int.from_bytes(data[pos : pos + size], "big")
    if n < (24 if size == 1 else 1 << (4 * size)):
        raise Undecodable(f"non-minimal length at byte {pos - 1}")
    return n, pos + size


def _decode(data: bytes, pos: int, depth: int) -> Tuple[Any, int]:
    if pos >= len(data):
        raise Undecodable("truncated")
    if depth > MAX_DEPTH + 1:
        raise Undecodable("nested too deep")
    ib = data[pos]
    pos += 1
    major, info = ib >> 5, ib & 31
    if major == 7:
        if ib == 0xF6:
            return None, pos
        if ib == 0xF4:
            return False, pos
        if ib == 0xF5:
            return True, pos
        if ib == 0xFB:
            if pos + 8 > len(data):
                raise Undecodable("truncated")
            (f,) = struct.unpack(">d", data[pos : pos + 8])
            if math.isnan(f) and data[pos - 1 : pos + 8] != _CANONICAL_NAN:
                raise Undecodable("a NaN other than the canonical one")
            return f, pos + 8
        raise Undecodable(f"unsupported byte {ib:#04x} at {pos - 1}")
    if major == 6:
        if ib not in (0xC2, 0xC3) or pos >= len(data) or data[pos] >> 5 != 2:
            raise Undecodable(f"unsupported tag at byte {pos - 1}")
        mag, pos = _decode(data, pos, depth + 1)
        n = int.from_bytes(mag, "big")
        if not mag or mag[0] == 0 or n < _U64:
            raise Undecodable("a non-canonical big integer")
        return (n if ib == 0xC2 else -1 - n), pos
    n, pos = _arg(data, pos, info)
    if major == 0:
        return n, pos
    if major == 1:
        return -1 - n, pos
    if major in (2, 3):
        if pos + n > len(data):
            raise Undecodable("truncated")
        raw = bytes(data[pos : pos + n])
        if major == 2:
            return raw, pos + n
        try:
            return raw.decode("utf-8"), pos + n
        except UnicodeDecodeError:
            raise Undecodable("a text string that is not UTF-8") from None
    if major == 4:
        items = []
        for _ in range(n):
            item, pos = _decode(data, pos, depth + 1)
            items.append(item)
        return items, pos
    # major == 5
    result: Dict[str, Any] = {}
    last = b""
    for i in range(n):
        start = pos
        key, pos = _decode(data, pos, depth + 1)
        if type(key) is not str:
            raise Undecodable("a map key that is not a text string")
        if i and data[start:pos] <= last:
            raise Undecodable("map keys out of canonical order")
        last = bytes(data[start:pos])
        result[key], pos = _decode(data, pos, depth + 1)
    return result, pos
