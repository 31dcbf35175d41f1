"""What the cache knows about one entry (:class:`EntryInfo`), and the iterator
over keys behind ``iter(cache)``, :meth:`Cache.iter_keys` and
:meth:`Cache.iter_entries`."""

from __future__ import annotations

import enum
import itertools
import threading
from ctypes import byref, c_void_p, string_at
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, NamedTuple, Optional, Tuple, TypeVar, Union

from . import errors
from ._native import Status, TcBytes, TcEntryInfo, lib

if TYPE_CHECKING:
    from .cache import Cache


class Tier(enum.IntEnum):
    """Where an entry was found (``tc_entry_info.tier``)."""

    MEMORY = 1
    DISK = 2
    REMOTE = 3


@dataclass(frozen=True)
class EntryInfo:
    """What the cache knows about one live entry (``tc_entry_info``).

    Times are Unix milliseconds (``time.time() * 1000``), as the library keeps them.
    """

    value_len: int  #: bytes of the value
    expires_at: Optional[int]  #: Unix ms at which it expires; ``None``: never
    written_at: int  #: Unix ms of the put or load that wrote it
    tier: Union[Tier, int]  #: where it was found (a plain int for a tier this binding does not know)
    tag_count: int  #: tags the entry carries

    @classmethod
    def _from_c(cls, raw: TcEntryInfo) -> "EntryInfo":
        tier = int(raw.tier)
        return cls(
            value_len=int(raw.value_len),
            expires_at=int(raw.expires_at_ms) or None,
            written_at=int(raw.written_at_ms),
            tier=Tier(tier) if tier in Tier._value2member_map_ else tier,
            tag_count=int(raw.tag_count),
        )


class Count(NamedTuple):
    """What :meth:`Cache.count` returns: live entries and the bytes of their values."""

    entries: int
    value_bytes: int


T = TypeVar("T")
_tokens = itertools.count(1)
_OK = int(Status.OK)
_NOT_FOUND = int(Status.NOT_FOUND)


class EntryIterator(Generic[T]):
    """An iteration over a cache's keys (``tc_iter``), in byte order.

    The keys live when it was made are listed at once (``tc_iter_new``); each
    is looked up again when the iteration reaches it, so a key removed or
    expired meanwhile is skipped, and a key added meanwhile may or may not be
    yielded.  Every key live throughout is yielded exactly once.  Unlike a
    ``dict``, changing the cache while iterating is allowed.

    The C iterator is freed at the end, by :meth:`close`, or when this object
    is collected; and always before its cache's handle is freed (the cache
    keeps a table of its open iterators, see ``Cache.__del__``).  ``next()``
    from two threads at once is serialized.
    """

    __slots__ = ("_cache", "_token", "_ptr", "_with_info", "_lock", "_key", "_info", "__weakref__")

    def __init__(self, cache: "Cache", prefix: bytes, with_info: bool) -> None:
        self._cache = cache  # keeps the handle alive while this iterates
        self._token = 0
        self._ptr: Optional[int] = None
        self._with_info = with_info
        self._lock = threading.Lock()
        self._key = TcBytes()
        self._info = TcEntryInfo()
        out = c_void_p()
        status = lib.tc_iter_new(cache._handle, prefix, len(prefix), byref(out))
        if status != _OK:
            raise errors.error_for(status)
        self._token = next(_tokens)
        assert out.value is not None  # tc_iter_new succeeded
        self._ptr = out.value
        cache._iters[self._token] = out.value

    def __iter__(self) -> "EntryIterator[T]":
        return self

    def __next__(self) -> T:
        with self._lock:
            ptr = self._ptr
            if ptr is None:
                raise StopIteration
            key, info = self._key, self._info
            status = lib.tc_iter_next(ptr, byref(key), byref(info))
            if status != _OK:
                if status == _NOT_FOUND:
                    self._close_locked()
                    raise StopIteration
                err = errors.error_for(status)
                self._close_locked()
                raise err
            try:
                k = string_at(key.data, key.len)
            finally:
                lib.tc_bytes_free(byref(key))
            if self._with_info:
                return (k, EntryInfo._from_c(info))  # type: ignore[return-value]
            return k  # type: ignore[return-value]

    def _close_locked(self) -> None:
        self._ptr = None
        ptr = self._cache._iters.pop(self._token, None)  # atomic: frees once
        if ptr is not None:
            lib.tc_iter_free(ptr)

    def close(self) -> None:
        """Frees the C iterator now; the iteration then yields nothing more."""
        with self._lock:
            self._close_locked()

    def __del__(self) -> None:
        try:
            self._close_locked()
        except BaseException:  # noqa: BLE001 - never raise from __del__
            pass

    def __enter__(self) -> "EntryIterator[T]":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


KeyIterator = EntryIterator[bytes]
KeyInfoIterator = EntryIterator[Tuple[bytes, EntryInfo]]

__all__ = ["Count", "EntryInfo", "EntryIterator", "Tier"]
