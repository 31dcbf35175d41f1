"""The :class:`Cache` class: one open tiercache handle with a dict-like API."""

from __future__ import annotations

import os
from ctypes import byref, c_bool, c_size_t, c_uint64, c_void_p, create_string_buffer
from typing import Any, Dict, List, NoReturn, Optional, Union

from . import errors, loaders
from ._native import Status, SyncPolicy, TcStats, WritePolicy, lib, tc_get_into_unchecked
from .errors import NotFound
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
_tc_get_into = tc_get_into_unchecked  # no argtypes: see _native; only _get calls it
_tc_put = lib.tc_put
_tc_contains = lib.tc_contains

_MISSING: Any = object()
# Plain ints for the hot paths: comparing with Status.OK costs an enum lookup.
_OK = int(Status.OK)
_NOT_FOUND = int(Status.NOT_FOUND)
_BUFFER_TOO_SMALL = int(Status.BUFFER_TOO_SMALL)

# get copies values with tc_get_into into a scratch buffer, then slices it into
# a bytes object: one C call and one allocation per hit.  The GIL is released
# during the call, so a buffer belongs to one call at a time: each cache keeps
# a pool of them (Cache._pool; list.pop and append are atomic under the GIL),
# as many as gets have ever run on it at once.  A buffer starts at _SCRATCH_START bytes and grows to the largest value
# read through it, up to _SCRATCH_KEEP; a larger value gets a buffer of its own.
_SCRATCH_START = 64 * 1024
_SCRATCH_KEEP = 1024 * 1024

#: [buffer, byref(buffer), its capacity, the capacity as a size_t argument,
#: the value length out-parameter, byref(value length)]: a list, so that a
#: buffer can grow in place.  The arguments are built once: _tc_get_into has
#: no argtypes, and ready CArgObjects (what byref() and from_param() return)
#: are the cheapest arguments ctypes takes.
_Scratch = List[Any]


def _new_scratch(cap: int) -> _Scratch:
    buf = create_string_buffer(cap)
    value_len = c_size_t(0)
    return [buf, byref(buf), cap, c_size_t.from_param(cap), value_len, byref(value_len)]


#: Key lengths as size_t arguments, ready made for short keys.
_KEY_LEN_ARGS = tuple(c_size_t.from_param(n) for n in range(256))


def _key_len_arg(n: int) -> Any:
    return _KEY_LEN_ARGS[n] if n < 256 else c_size_t(n)


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
        read_only: open an existing directory without changing it, for tools
            that look inside one: writes raise :class:`tiercache.InvalidArgument`,
            loaded values stay in memory, nothing is repaired.
        loader: see :meth:`set_loader`.

    Every method may be called from many threads at once, :meth:`close`
    included.  Use the cache as a context manager, or call :meth:`close`, to
    flush it and release the directory; afterwards every method raises
    :class:`tiercache.ClosedError`.  A cache that is garbage collected without
    :meth:`close` is closed then (its errors lost).  A cache cannot be copied
    or pickled (``TypeError``): it is an open handle.  In a child process made
    by ``os.fork()``, a cache inherited from the parent belongs to the parent:
    every method raises :class:`tiercache.ClosedError` there, and closing it
    (or collecting it) leaves the parent's directory and lock alone.
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
        read_only: bool = False,
        loader: Optional[loaders.Loader] = None,
    ) -> None:
        # The C handle (an int address), from tc_cache_open.  tc_cache_shutdown
        # (close()) may run while other threads are inside calls on it: the
        # library waits for them, and refuses later calls with TC_CLOSED.  Its
        # memory stays valid until tc_cache_close, which only __del__ calls:
        # by then no method is running (each holds a reference to self).
        self._handle: Optional[int] = None
        self._closed = False
        # Whether get may take the fast path, without the loader bookkeeping:
        # True while no loader is set (see set_loader).
        self._fast = False
        # Scratch buffers for get (see _Scratch).
        self._pool: List[_Scratch] = []
        # The loaders the library may call, by id (see loaders.py), and the
        # ctypes callbacks it calls them through, kept alive with the cache.
        self._loaders: Dict[int, loaders.Loader] = {}
        self._callbacks: Any = None
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
                read_only=read_only,
            )
            handle = c_void_p()
            _check(lib.tc_cache_open(opts, byref(handle)))
        finally:
            lib.tc_options_free(opts)
        self._handle = handle.value
        # The handle as a ready argument for _tc_get_into (which has no argtypes).
        self._handle_arg = c_void_p.from_param(handle.value)
        self._fast = True
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
        read_only: bool,
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
        if read_only:
            _check(lib.tc_options_set_read_only(opts, True))

    # -- the mapping protocol ---------------------------------------------------

    # get and __getitem__ are the hot path, so each is written out in full: a
    # hit is one C call (tc_get_into into a scratch buffer) and one bytes
    # object.  With a loader set they hand over to _get_large, and so do values
    # larger than the buffer.  A miss (TC_NOT_FOUND) never reads
    # tc_last_error.  After close() the call returns TC_CLOSED: ClosedError.

    def __getitem__(self, key: Value) -> bytes:
        """``cache[key]``: the value, from memory, disk or the loader; KeyError on a miss."""
        k = key if type(key) is bytes else key.encode() if type(key) is str else to_bytes(key)
        pool = self._pool
        try:
            scratch = pool.pop()
        except IndexError:
            scratch = _new_scratch(_SCRATCH_START)
        try:
            if self._fast:
                buf, buf_arg, _, cap_arg, value_len, value_len_ref = scratch
                n = len(k)
                status = _tc_get_into(
                    self._handle_arg, k, _KEY_LEN_ARGS[n] if n < 256 else c_size_t(n), buf_arg, cap_arg, value_len_ref
                )
                if status == _OK:
                    return buf[: value_len.value]  # type: ignore[no-any-return]
                value = self._get_failed(k, status, scratch)
            else:
                value = self._get_large(k, 0, True, scratch)
        finally:
            pool.append(scratch)  # after the value was copied out of it
        if value is _MISSING:
            raise NotFound(f"no value for key {key!r}")
        return value  # type: ignore[no-any-return]

    def get(self, key: Value, default: Any = None) -> Any:
        """The value of ``key`` (from memory, disk or the loader), or ``default`` on a miss.

        An exception raised by the loader is re-raised here; a loader failure on
        another thread that was loading the same key raises :class:`LoaderFailed`.
        """
        k = key if type(key) is bytes else key.encode() if type(key) is str else to_bytes(key)
        pool = self._pool
        try:
            scratch = pool.pop()
        except IndexError:
            scratch = _new_scratch(_SCRATCH_START)
        try:
            if self._fast:
                buf, buf_arg, _, cap_arg, value_len, value_len_ref = scratch
                n = len(k)
                status = _tc_get_into(
                    self._handle_arg, k, _KEY_LEN_ARGS[n] if n < 256 else c_size_t(n), buf_arg, cap_arg, value_len_ref
                )
                if status == _OK:
                    return buf[: value_len.value]
                if status == _NOT_FOUND:
                    return default
                value = self._get_failed(k, status, scratch)
            else:
                value = self._get_large(k, 0, True, scratch)
        finally:
            pool.append(scratch)  # after the value was copied out of it
        return default if value is _MISSING else value

    def _get_failed(self, k: bytes, status: int, scratch: _Scratch) -> Any:
        """The rest of a get without loader whose call did not return TC_OK:
        _MISSING, the value (the buffer was too small), or the exception.
        Called right after that call, so tc_last_error() is still its own."""
        if status == _NOT_FOUND:
            return _MISSING
        if status == _BUFFER_TOO_SMALL:
            return self._get_large(k, scratch[4].value, False, scratch)
        raise errors.error_for(status)

    def _get_large(self, k: bytes, needed: int, loading: bool, scratch: _Scratch) -> Any:
        """A get with the loader bookkeeping (``loading``, see loaders.py) or
        without, through ``scratch`` grown to at least ``needed`` bytes, and
        again while the value outgrows it: the value or _MISSING.

        A value larger than the buffer is still in the cache after
        TC_BUFFER_TOO_SMALL, so asking again finds it (the statistics then
        count two hits).  Unless this thread's loader just produced it: then
        that value is the answer (the library might not have kept it, and
        asking again would run the loader again)."""
        while True:
            use = scratch
            if needed > scratch[2]:
                if needed <= _SCRATCH_KEEP:  # grow the pool's buffer
                    scratch[:] = _new_scratch(min(max(needed, 2 * scratch[2]), _SCRATCH_KEEP))
                else:  # a buffer for this value alone
                    use = _new_scratch(needed)
            buf, buf_arg, _, cap_arg, value_len, value_len_ref = use
            exc = None
            call = None
            if loading:
                call = loaders.begin_call(self)
                try:
                    status = _tc_get_into(self._handle_arg, k, _key_len_arg(len(k)), buf_arg, cap_arg, value_len_ref)
                finally:
                    exc = loaders.end_call(call)
            else:
                status = _tc_get_into(self._handle_arg, k, _key_len_arg(len(k)), buf_arg, cap_arg, value_len_ref)
            if status == _OK:
                return buf[: value_len.value]
            if exc is not None:
                raise exc
            if status == _NOT_FOUND:
                return _MISSING
            if status != _BUFFER_TOO_SMALL:
                raise errors.error_for(status)
            if call is not None and call.value is not None:
                return call.value
            needed = value_len.value

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
        status = _tc_put(self._handle, k, len(k), v, len(v), ttl_ms)
        if status != _OK:
            raise errors.error_for(status)

    def __contains__(self, key: object) -> bool:
        """``key in cache``: whether memory or disk holds an unexpired value.

        Never calls the loader and never promotes a disk entry into memory.
        """
        k = to_bytes(key)
        present = c_bool()
        status = _tc_contains(self._handle, k, len(k), byref(present))
        if status != _OK:
            raise errors.error_for(status)
        return present.value

    def __delitem__(self, key: Value) -> None:
        """``del cache[key]``: removes it from every tier, persistently; KeyError if absent."""
        k = to_bytes(key)
        status = lib.tc_remove(self._handle, k, len(k))
        if status == _NOT_FOUND:
            raise NotFound(f"no value for key {key!r}")
        _check(status)

    def __iter__(self) -> NoReturn:
        # Without this, Python would "iterate" by calling cache[0], cache[1], ...
        raise TypeError("a tiercache.Cache cannot be iterated: the library has no key listing")

    # -- bulk operations ----------------------------------------------------------

    def remove_prefix(self, prefix: Value) -> int:
        """Removes every key starting with ``prefix`` (a namespace) from every tier,
        persistently, and returns how many had a value.  An empty prefix matches all."""
        p = to_bytes(prefix, "prefix")
        removed = c_uint64()
        _check(lib.tc_remove_prefix(self._handle, p, len(p), byref(removed)))
        return removed.value

    def clear(self, memory_only: bool = False) -> None:
        """Empties the cache.  With ``memory_only``, only memory is dropped
        (under write-back, dirty entries are written to disk first)."""
        _check(lib.tc_clear(self._handle, bool(memory_only)))

    def flush(self) -> None:
        """Writes pending data to disk and fsyncs it (unless ``sync_policy="never"``).

        Raises :class:`tiercache.StorageError` if the disk tier is failing.
        """
        _check(lib.tc_flush(self._handle))

    def purge_expired(self) -> int:
        """Drops every expired entry from every tier; returns how many.
        (Expired entries are never returned, purged or not.)"""
        removed = c_uint64()
        _check(lib.tc_purge_expired(self._handle, byref(removed)))
        return removed.value

    def stats(self) -> Stats:
        """A snapshot of the counters since open and of the sizes now."""
        raw = TcStats()
        _check(lib.tc_stats_get(self._handle, byref(raw)))
        return Stats._from_c(raw)

    def counter(self, name: str) -> int:
        """One counter by name: ``"l2_readmissions"`` (entries of a retired disk
        segment written again because they had been read), ``"l2_segments"``
        (segment files now), or any :class:`Stats` field name.

        Raises :class:`tiercache.NotFound` (a ``KeyError``) for an unknown name.
        """
        if not isinstance(name, str):
            raise TypeError(f"a counter name must be str, not {type(name).__name__}")
        raw = name.encode("utf-8", "surrogateescape")
        if b"\0" in raw:  # cannot reach C; and no counter has such a name
            raise NotFound(f"no counter named {name!r}")
        value = c_uint64()
        _check(lib.tc_stats_get_counter(self._handle, raw, byref(value)))
        return value.value

    def compact(self) -> None:
        """Compacts the disk tier now: every sealed segment with dead records has
        its live records written again and is deleted.  Reads are served
        throughout.  (The disk tier also compacts mostly-dead segments by itself.)
        A memory-only cache has nothing to compact.

        Raises :class:`tiercache.StorageError` if the log cannot be written,
        synced or its old files deleted (the cache is then degraded, as
        :meth:`stats` reports).
        """
        _check(lib.tc_compact(self._handle))

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
        not for the key it is loading, and may refer to this cache (that
        reference cycle is collectable); :meth:`close` called from it raises
        :class:`tiercache.InvalidArgument`.  ``None`` removes the loader.
        """
        if loader is not None:
            # Before the library can call it: a get on the fast path would not
            # collect the loader's exception.
            self._fast = False
            self._callbacks = loaders.CALLBACKS
        try:
            loaders.install(self, self._handle, loader)
        except BaseException:
            self._fast = not self._has_loader  # as it was: the loader did not change
            raise
        self._has_loader = loader is not None
        self._fast = loader is None

    # -- lifecycle ----------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called (successfully)."""
        return self._closed

    def close(self) -> None:
        """Flushes the cache, releases its directory and frees the loader.  Idempotent.

        May be called while other threads are using the cache: it waits for the
        calls they are making (loaders included) to return; calls made after it
        raise :class:`tiercache.ClosedError`.  Raises :class:`tiercache.StorageError`
        if the final flush failed (the cache is closed all the same).  Called
        from inside a loader of this cache it raises
        :class:`tiercache.InvalidArgument` and closes nothing: it would wait for
        the ``get`` that runs the loader.  (The C handle's memory is freed when
        the object is garbage collected.)
        """
        handle = self._handle
        if handle is None:  # __init__ failed: nothing was opened
            return
        status = lib.tc_cache_shutdown(handle)
        if status != Status.INVALID_ARGUMENT:  # shut down (a flush error too)
            self._closed = True
        _check(status)

    def __enter__(self) -> "Cache":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self, _close: Any = lib.tc_cache_close) -> None:
        # The last reference is gone, so no method is running: free the handle
        # (tc_cache_close also shuts a forgotten cache down, flushing it and
        # unlocking its directory; in a forked child it touches nothing of the
        # parent's).  Nothing can be done about an error here, and at
        # interpreter exit module globals may already be gone: hence the
        # function bound as a default argument, and no exception escapes.
        try:
            handle = self.__dict__.get("_handle")
            self._handle = None
            if handle:
                _close(handle)
        except BaseException:  # noqa: BLE001
            pass

    # -- what a handle cannot do --------------------------------------------------

    def __copy__(self) -> NoReturn:
        raise TypeError(
            "a tiercache.Cache cannot be copied: it owns an open C handle and the "
            "lock on its directory; share the same object instead"
        )

    def __deepcopy__(self, memo: Any) -> NoReturn:
        raise TypeError(
            "a tiercache.Cache cannot be deep-copied: it owns an open C handle and the "
            "lock on its directory; share the same object instead"
        )

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError(
            "a tiercache.Cache cannot be pickled: it is an open handle on a directory "
            "that this process has locked; pass its directory and options instead, "
            "and open it again where needed"
        )

    def __repr__(self) -> str:
        where = f"dir={self.dir!r}" if self.dir is not None else "memory only"
        return f"<tiercache.Cache {where}{' closed' if self._closed else ''}>"
