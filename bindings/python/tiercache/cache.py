"""The :class:`Cache` class: one open tiercache handle with a dict-like API."""

from __future__ import annotations

import ctypes
import os
import threading
import time
from ctypes import byref, c_bool, c_uint64, c_void_p
from typing import Any, Dict, List, NoReturn, Optional, Union

from . import errors, loaders
from ._native import Status, SyncPolicy, TcBytes, TcStats, WritePolicy, lib
from .errors import ClosedError, NotFound
from .stats import Stats
from .values import TTL, Value, to_bytes, ttl_to_ms

_U64_MAX = 2**64 - 1
# The library's default L1 byte bound (tc_options_new in include/tiercache.h).
# tc_options_set_l1_capacity sets both bounds at once, so when only the entry
# bound is given the byte bound has to be restated.
_DEFAULT_L1_MAX_BYTES = 64 * 1024 * 1024

_WRITE_POLICIES: Dict[str, WritePolicy] = {"through": WritePolicy.THROUGH, "back": WritePolicy.BACK}
_SYNC_POLICIES: Dict[str, SyncPolicy] = {
    "never": SyncPolicy.NEVER,
    "on_flush": SyncPolicy.ON_FLUSH,
    "always": SyncPolicy.ALWAYS,
    "interval": SyncPolicy.INTERVAL,
}

# Bound once: attribute lookups on the CDLL cost more than the calls' setup.
_tc_get = lib.tc_get
_tc_put = lib.tc_put
_tc_contains = lib.tc_contains
_tc_bytes_free = lib.tc_bytes_free
_string_at = ctypes.string_at

_MISSING: Any = object()
# Plain ints for the hot paths: comparing with Status.OK costs an enum lookup.
_OK = int(Status.OK)
_NOT_FOUND = int(Status.NOT_FOUND)


def _u64(name: str, value: Optional[int]) -> Optional[int]:
    """Checks an option that C reads as uint64 (ctypes would wrap -1 silently)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value <= _U64_MAX:
        raise ValueError(f"{name} must be between 0 and 2**64-1, got {value}")
    return value


def _check(status: int) -> None:
    """Raises the exception for a failed status (call right after the C call)."""
    if status != Status.OK:
        raise errors.error_for(status)


class Cache:
    """A persistent, tiered key-value cache: memory (L1), disk (L2), loader (L3).

    Keys and values are ``bytes``; a ``str`` is encoded as UTF-8 and a
    ``bytearray`` or ``memoryview`` is copied.  Values always come back as
    ``bytes``.  A key is 1 byte to 64 KiB.

    Args:
        dir: directory for the disk tier (created if missing, locked while
            open: a second opener gets :class:`tiercache.Locked`).  ``None``:
            memory only.
        l1_max_entries: bound on entries in memory (0: unbounded; default unbounded).
        l1_max_bytes: bound on key plus value bytes in memory (0: unbounded;
            default 64 MiB).  A value larger than this divided among L1's
            shards is served from disk instead of memory.
        l2_max_bytes: bound on bytes on disk (0: unbounded; default 1 GiB).
        write_policy: ``"through"`` (default: every put is written to disk at
            once) or ``"back"`` (disk is written on eviction, flush and close).
        sync_policy: when to fsync: ``"never"``, ``"on_flush"`` (flush and close),
            ``"always"`` (every put) or ``"interval"``.  Default ``"on_flush"``,
            or ``"interval"`` when ``sync_interval_ms`` is given.
        sync_interval_ms: the fsync period for ``"interval"``, in milliseconds.
        default_ttl: time to live, **in seconds** (float) or a ``timedelta``,
            of entries put or loaded without one.  ``None``: they never expire.
        max_value_size: largest value accepted, in bytes (default 16 MiB, at
            most 1 GiB); larger ones raise :class:`tiercache.TooLarge`.
        segment_size: size at which a disk segment file is sealed (default 64 MiB).
        loader: see :meth:`set_loader`.

    Every method may be called from many threads at once.  Use the cache as a
    context manager, or call :meth:`close`, to flush it and release the
    directory; afterwards every method raises :class:`tiercache.ClosedError`.
    """

    def __init__(
        self,
        dir: Union[str, "os.PathLike[str]", None] = None,
        *,
        l1_max_entries: Optional[int] = None,
        l1_max_bytes: Optional[int] = None,
        l2_max_bytes: Optional[int] = None,
        write_policy: str = "through",
        sync_policy: Optional[str] = None,
        sync_interval_ms: Optional[int] = None,
        default_ttl: Optional[TTL] = None,
        max_value_size: Optional[int] = None,
        segment_size: Optional[int] = None,
        loader: Optional[loaders.Loader] = None,
    ) -> None:
        # The close protocol.  tc_cache_close must be the handle's last call, so
        # close() waits until no call is running.  Each call registers in
        # _running (list.append/pop are atomic under the GIL, far cheaper than
        # a lock round trip per call) and only then checks _closing; close()
        # sets _closing and only then waits for _running to empty.  Whichever
        # order the two interleave in, either close() sees the call or the call
        # sees _closing.  _lock serialises only the final hand-over of _handle.
        self._lock = threading.Lock()
        self._running: List[None] = []
        self._handle: Optional[int] = None
        self._closing = False
        self._close_deferred = False
        self._has_loader = False
        self.dir: Optional[str] = os.fspath(dir) if dir is not None else None

        opts = lib.tc_options_new()
        if not opts:
            raise MemoryError("tc_options_new failed")
        try:
            self._configure(
                opts,
                l1_max_entries=_u64("l1_max_entries", l1_max_entries),
                l1_max_bytes=_u64("l1_max_bytes", l1_max_bytes),
                l2_max_bytes=_u64("l2_max_bytes", l2_max_bytes),
                write_policy=write_policy,
                sync_policy=sync_policy,
                sync_interval_ms=_u64("sync_interval_ms", sync_interval_ms),
                default_ttl=default_ttl,
                max_value_size=_u64("max_value_size", max_value_size),
                segment_size=_u64("segment_size", segment_size),
            )
            handle = c_void_p()
            _check(lib.tc_cache_open(opts, byref(handle)))
        finally:
            lib.tc_options_free(opts)
        self._handle = handle.value
        if loader is not None:
            self.set_loader(loader)

    def _configure(
        self,
        opts: int,
        *,
        l1_max_entries: Optional[int],
        l1_max_bytes: Optional[int],
        l2_max_bytes: Optional[int],
        write_policy: str,
        sync_policy: Optional[str],
        sync_interval_ms: Optional[int],
        default_ttl: Optional[TTL],
        max_value_size: Optional[int],
        segment_size: Optional[int],
    ) -> None:
        """Fills a tc_options object; only options that were given are set."""
        if self.dir is not None:
            path = os.fsencode(self.dir)
            if b"\0" in path:
                raise ValueError("dir must not contain NUL bytes")
            _check(lib.tc_options_set_dir(opts, path))
        if l1_max_entries is not None or l1_max_bytes is not None:
            _check(
                lib.tc_options_set_l1_capacity(
                    opts,
                    l1_max_entries or 0,
                    _DEFAULT_L1_MAX_BYTES if l1_max_bytes is None else l1_max_bytes,
                )
            )
        if l2_max_bytes is not None:
            _check(lib.tc_options_set_l2_capacity(opts, l2_max_bytes))
        if write_policy not in _WRITE_POLICIES:
            raise ValueError(f"write_policy must be one of {sorted(_WRITE_POLICIES)}, got {write_policy!r}")
        _check(lib.tc_options_set_write_policy(opts, _WRITE_POLICIES[write_policy]))
        if sync_policy is None:
            sync_policy = "on_flush" if sync_interval_ms is None else "interval"
        if sync_policy not in _SYNC_POLICIES:
            raise ValueError(f"sync_policy must be one of {sorted(_SYNC_POLICIES)}, got {sync_policy!r}")
        if (sync_policy == "interval") != (sync_interval_ms is not None):
            raise ValueError('sync_interval_ms is required with sync_policy="interval", and only then')
        _check(lib.tc_options_set_sync_policy(opts, _SYNC_POLICIES[sync_policy], sync_interval_ms or 0))
        if default_ttl is not None:
            _check(lib.tc_options_set_default_ttl(opts, ttl_to_ms(default_ttl, "default_ttl")))
        if max_value_size is not None:
            _check(lib.tc_options_set_max_value_size(opts, max_value_size))
        if segment_size is not None:
            _check(lib.tc_options_set_segment_size(opts, segment_size))

    # -- the guard around every call on the handle ------------------------------

    def _enter(self) -> int:
        """Registers a running call and returns the live handle, or raises ClosedError."""
        self._running.append(None)
        if self._closing:
            self._leave()
            self._raise_closed()
        return self._handle  # type: ignore[return-value]

    def _leave(self) -> None:
        self._running.pop()
        if self._closing and self._close_deferred and not self._running:
            self._close_now()

    def _close_now(self) -> None:
        """Closes the handle if nobody else has (under _lock, so exactly once)."""
        with self._lock:
            if self._running:
                return
            handle, self._handle = self._handle, None
        if handle:
            lib.tc_cache_close(handle)

    @staticmethod
    def _raise_closed() -> NoReturn:
        raise ClosedError("the cache is closed")

    # -- the mapping protocol ---------------------------------------------------

    def __getitem__(self, key: Value) -> bytes:
        """``cache[key]``: the value, from memory, disk or the loader; KeyError on a miss."""
        value = self._get(key)
        if value is _MISSING:
            raise NotFound(f"no value for key {key!r}")
        return value  # type: ignore[no-any-return]

    def get(self, key: Value, default: Any = None) -> Any:
        """The value of ``key`` (from memory, disk or the loader), or ``default`` on a miss.

        An exception raised by the loader is re-raised here; a loader failure on
        another thread that was loading the same key raises :class:`LoaderFailed`.
        """
        value = self._get(key)
        return default if value is _MISSING else value

    def _get(self, key: Value) -> Any:
        k = key if type(key) is bytes else to_bytes(key)
        handle = self._enter()
        try:
            out = TcBytes()
            exc: Optional[BaseException] = None
            if self._has_loader:
                call = loaders.begin_call(self)
                try:
                    status = _tc_get(handle, k, len(k), byref(out))
                finally:
                    exc = loaders.end_call(call)
            else:
                status = _tc_get(handle, k, len(k), byref(out))
            if status == _OK:
                try:
                    return _string_at(out.data, out.len) if out.len else b""
                finally:
                    _tc_bytes_free(byref(out))
            if exc is not None:
                raise exc
            if status == _NOT_FOUND:
                return _MISSING
            raise errors.error_for(status)
        finally:
            self._leave()

    def __setitem__(self, key: Value, value: Value) -> None:
        """``cache[key] = value``: stores with the default TTL."""
        self.put(key, value)

    def put(self, key: Value, value: Value, ttl: Optional[TTL] = None) -> None:
        """Stores ``value`` under ``key``.

        ``ttl`` is seconds (int or float, rounded up to whole milliseconds) or a
        ``timedelta``; ``None`` means the cache's ``default_ttl`` (never
        expiring if that is unset).  Under write-through the value is on disk
        (at least in the OS's buffers) when this returns.
        """
        k = key if type(key) is bytes else to_bytes(key)
        v = value if type(value) is bytes else to_bytes(value, "value")
        ttl_ms = ttl_to_ms(ttl) if ttl is not None else 0
        handle = self._enter()
        try:
            status = _tc_put(handle, k, len(k), v, len(v), ttl_ms)
            if status != _OK:
                raise errors.error_for(status)
        finally:
            self._leave()

    def __contains__(self, key: object) -> bool:
        """``key in cache``: whether memory or disk holds an unexpired value.

        Never calls the loader and never promotes a disk entry into memory.
        """
        k = to_bytes(key)
        present = c_bool()
        handle = self._enter()
        try:
            status = _tc_contains(handle, k, len(k), byref(present))
            if status != _OK:
                raise errors.error_for(status)
        finally:
            self._leave()
        return present.value

    def __delitem__(self, key: Value) -> None:
        """``del cache[key]``: removes it from every tier, persistently; KeyError if absent."""
        k = to_bytes(key)
        handle = self._enter()
        try:
            status = lib.tc_remove(handle, k, len(k))
            if status == _NOT_FOUND:
                raise NotFound(f"no value for key {key!r}")
            _check(status)
        finally:
            self._leave()

    def __iter__(self) -> NoReturn:
        # Without this, Python would "iterate" by calling cache[0], cache[1], ...
        raise TypeError("a tiercache.Cache cannot be iterated: the library has no key listing")

    # -- bulk operations ----------------------------------------------------------

    def remove_prefix(self, prefix: Value) -> int:
        """Removes every key starting with ``prefix`` (a namespace) from every tier,
        persistently, and returns how many had a value.  An empty prefix matches all."""
        p = to_bytes(prefix, "prefix")
        removed = c_uint64()
        handle = self._enter()
        try:
            _check(lib.tc_remove_prefix(handle, p, len(p), byref(removed)))
        finally:
            self._leave()
        return removed.value

    def clear(self, memory_only: bool = False) -> None:
        """Empties the cache.  With ``memory_only``, only memory is dropped
        (under write-back, dirty entries are written to disk first)."""
        handle = self._enter()
        try:
            _check(lib.tc_clear(handle, bool(memory_only)))
        finally:
            self._leave()

    def flush(self) -> None:
        """Writes pending data to disk and fsyncs it (unless ``sync_policy="never"``).

        Raises :class:`tiercache.StorageError` if the disk tier is failing.
        """
        handle = self._enter()
        try:
            _check(lib.tc_flush(handle))
        finally:
            self._leave()

    def purge_expired(self) -> int:
        """Drops every expired entry from every tier; returns how many.
        (Expired entries are never returned, purged or not.)"""
        removed = c_uint64()
        handle = self._enter()
        try:
            _check(lib.tc_purge_expired(handle, byref(removed)))
        finally:
            self._leave()
        return removed.value

    def stats(self) -> Stats:
        """A snapshot of the counters since open and of the sizes now."""
        raw = TcStats()
        handle = self._enter()
        try:
            _check(lib.tc_stats_get(handle, byref(raw)))
        finally:
            self._leave()
        return Stats._from_c(raw)

    def set_loader(self, loader: Optional[loaders.Loader]) -> None:
        """Sets the function that answers misses (L3), replacing any earlier one.

        The loader is called with the key as ``bytes``, once per key however
        many threads miss it at once (the others wait for its answer), with no
        lock held.  It returns:

        * ``bytes``-like or ``str``: the value, cached with the default TTL;
        * ``None``: there is no such value (``get`` returns its default,
          ``cache[key]`` raises ``KeyError``); nothing is cached;
        * ``(value, ttl)``: the value and its TTL in seconds (``None``: default).

        If it raises, nothing is cached and the ``get`` that called it re-raises
        the exception; other threads waiting for the same key get
        :class:`tiercache.LoaderFailed`.  It may call back into this cache, but
        not for the key it is loading.  ``None`` removes the loader.
        """
        handle = self._enter()
        try:
            loaders.install(handle, loader)
            self._has_loader = loader is not None
        finally:
            self._leave()

    # -- lifecycle ----------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closing

    def close(self) -> None:
        """Flushes the cache, releases its directory and frees it.  Idempotent.

        Waits for calls running on other threads to finish.  Called from inside
        a loader of this cache, it cannot wait for the ``get`` that runs the
        loader, so the handle is closed as soon as that ``get`` returns.
        A flush failure cannot be reported here: call :meth:`flush` first.
        """
        self._closing = True  # from now on no call starts
        if self._running and self._has_loader and loaders.in_call(self):
            self._close_deferred = True  # the get running this loader closes it
            return
        while self._handle is not None:
            if self._running:  # rare and short: let calls already running finish
                time.sleep(0.0005)
            else:
                self._close_now()

    def __enter__(self) -> "Cache":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        # A forgotten cache still flushes and unlocks its directory.  Nothing
        # can be done about an error here (and at interpreter exit, modules may
        # already be torn down).
        try:
            if getattr(self, "_handle", None) and not self._running:
                self.close()
        except Exception:  # noqa: BLE001
            pass

    def __repr__(self) -> str:
        where = f"dir={self.dir!r}" if self.dir is not None else "memory only"
        return f"<tiercache.Cache {where}{' closed' if self._closing else ''}>"
