"""The :class:`Cache` class: one open tiercache handle with a dict-like API."""

from __future__ import annotations

import functools
import inspect
import os
import typing
from collections import deque
from collections.abc import ItemsView, Iterable, Mapping, ValuesView
from ctypes import byref, c_bool, c_size_t, c_uint64, c_void_p, create_string_buffer, string_at
from io import BytesIO
from typing import Any, Callable, Deque, Dict, Iterator, List, NoReturn, Optional, Sequence, Tuple, TypeVar, Union

from . import _batch, canonical, errors, loaders
from ._native import (
    Compression,
    L1Policy,
    Status,
    SyncPolicy,
    TcBytes,
    TcEntryInfo,
    TcMade,
    TcStats,
    WritePolicy,
    lib,
    made_for,
    tc_get_into_unchecked,
    tc_get_made_unchecked,
    tc_put_many_packed,
    tc_put_unchecked,
)
from .entries import Count, EntryInfo, EntryIterator
from .options import DependsOn, Entry, entry_options, path_to_bytes, tags_to_bytes
from .errors import NotFound
from .stats import Stats
from .values import TTL, Value, to_bytes, ttl_to_ms

F = TypeVar("F", bound=Callable[..., Any])

_U64_MAX = 2**64 - 1
# The library's default L1 byte bound (tc_options_new in include/tiercache.h).
# tc_options_set_l1_capacity sets both bounds at once, so when only the entry
# bound is given the byte bound has to be restated.
_DEFAULT_L1_MAX_BYTES = 64 * 1024 * 1024

_WRITE_POLICIES: Dict[str, WritePolicy] = {"through": WritePolicy.THROUGH, "back": WritePolicy.BACK}
_L1_POLICIES: Dict[str, L1Policy] = {"lru": L1Policy.LRU, "s3fifo": L1Policy.S3FIFO}
_COMPRESSIONS: Dict[str, Compression] = {"none": Compression.NONE, "lz4": Compression.LZ4, "zstd": Compression.ZSTD}
# The library's default minimum length for compression (Options::min_compress_len).
_DEFAULT_COMPRESS_MIN_SIZE = 256
_SYNC_POLICIES: Dict[str, SyncPolicy] = {
    "never": SyncPolicy.NEVER,
    "on_flush": SyncPolicy.ON_FLUSH,
    "always": SyncPolicy.ALWAYS,
    "interval": SyncPolicy.INTERVAL,
}

# Bound once: attribute lookups on the CDLL cost more than the calls' setup.
_tc_get_into = tc_get_into_unchecked  # no argtypes: see _native; only _get_large calls it
_tc_get_made = tc_get_made_unchecked  # no argtypes, GIL held: see _native; get's path without a loader
_tc_put = tc_put_unchecked  # no argtypes: see _native; only put calls it
_tc_contains = lib.tc_contains
_tc_get_many_into = lib.tc_get_many_into
_tc_put_many_packed = tc_put_many_packed
_tc_value_data = lib.tc_value_data
_tc_value_free = lib.tc_value_free

_MISSING: Any = object()
# What the batch calls compare the set of their items' types with.
_ONLY_BYTES = frozenset((bytes,))
_ONLY_STR = frozenset((str,))
_NO_TAGS: Tuple[()] = ()  # put's default: no tags, the tc_put fast path
# Plain ints for the hot paths: comparing with Status.OK costs an enum lookup.
_OK = int(Status.OK)
_NOT_FOUND = int(Status.NOT_FOUND)
_BUFFER_TOO_SMALL = int(Status.BUFFER_TOO_SMALL)
# get_many, and a get with a loader (_get_loading), copy values into a scratch
# buffer, then slice it into a bytes object.  The GIL is released during the
# call, so a buffer belongs to one call at a time: each cache keeps
# a pool of them (Cache._pool, a deque: its pop and append are atomic, and
# unlike a list's they do not free and reallocate the item array each time
# the pool goes from one buffer to none and back, which a list does on
# every get), as many as gets have ever run on it at once.  A buffer starts at _SCRATCH_START bytes and grows to the largest value
# read through it, up to _SCRATCH_KEEP; a larger value is read with tc_get_value (one copy, no buffer).
_SCRATCH_START = 64 * 1024
_SCRATCH_KEEP = 1024 * 1024

#: [buffer, byref(buffer), its capacity, the capacity as a size_t argument,
#: the value length out-parameter, byref(value length)]: a list, so that a
#: buffer can grow in place.  The arguments are built once: _tc_get_into
#: has no argtypes, and ready CArgObjects (what byref() and from_param()
#: return) are the cheapest arguments ctypes takes.
_Scratch = List[Any]


def _new_scratch(cap: int) -> _Scratch:
    buf = create_string_buffer(cap)
    value_len = c_size_t(0)
    return [buf, byref(buf), cap, c_size_t.from_param(cap), value_len, byref(value_len)]


def _take_scratch(pool: Deque[_Scratch]) -> _Scratch:
    """A buffer of the pool, or a new one.  (_get_loading has this inline: a
    function call is a measurable part of a get.)"""
    try:
        return pool.pop()  # not "if pool": another thread may empty it in between
    except IndexError:
        return _new_scratch(_SCRATCH_START)


#: Lengths as size_t arguments, ready made for short keys and values.
_KEY_LEN_ARGS = tuple(c_size_t.from_param(n) for n in range(256))


def _key_len_arg(n: int) -> Any:
    return _KEY_LEN_ARGS[n] if n < 256 else c_size_t(n)


#: put's default TTL (0: the cache's own) as a ready uint64 argument.
_TTL_DEFAULT_ARG = c_uint64.from_param(0)


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


def _unpack(
    given: List[Any], buf: Any, lens: Any, spilled: Any, statuses: Any
) -> Tuple[Dict[Any, bytes], Optional[Tuple[int, int]], int]:
    """Reads what tc_get_many_into left: ``(found, failed, spill_bytes)``, the
    values by key as given, the first key that failed other than by a miss
    (index, status), and the bytes of the values handed out as tc_value
    handles (each freed here, whatever happens)."""
    if statuses.count(_OK) == len(statuses):
        # Every key found, in the buffer (the common case): the values are
        # read off one copy of the buffer's used part, each by the length C
        # wrote, by C-level iteration with no Python step per key (and no
        # slice object or ctypes indexing per value, which cost twice as much).
        return dict(zip(given, map(BytesIO(memoryview(buf)[: sum(lens)]).read, lens))), None, 0
    found: Dict[Any, bytes] = {}
    failed: Optional[Tuple[int, int]] = None
    pos = 0
    spill_bytes = 0
    try:
        for i, st in enumerate(statuses):
            if st == _OK:
                end = pos + lens[i]
                found[given[i]] = buf[pos:end]
                pos = end
            elif st == _BUFFER_TOO_SMALL:
                n = lens[i]
                ptr = spilled[i]
                spilled[i] = 0
                try:
                    found[given[i]] = string_at(_tc_value_data(ptr), n)
                finally:
                    _tc_value_free(ptr)
                spill_bytes += n
            elif st != _NOT_FOUND and failed is None:
                failed = (i, st)
    finally:
        if spilled.count(0) != len(spilled):  # left by an exception above (MemoryError)
            for ptr in spilled:
                if ptr:
                    _tc_value_free(ptr)
    return found, failed, spill_bytes


def _pairs_to_bytes(pairs: Iterable[Tuple[Any, Any]]) -> Tuple[List[bytes], List[bytes]]:
    """put_many's keys and values as bytes, pair by pair, in order: the
    first that is of no accepted type raises, as put would."""
    ks: List[bytes] = []
    vs: List[bytes] = []
    for key, value in pairs:
        ks.append(key if type(key) is bytes else to_bytes(key))
        vs.append(value if type(value) is bytes else to_bytes(value, "value"))
    return ks, vs


class Cache(typing.MutableMapping[Any, bytes]):
    """A persistent, tiered key-value cache: memory (L1), disk (L2), loader (L3).

    A full :class:`collections.abc.MutableMapping`: besides ``cache[k]``,
    ``cache[k] = v``, ``del cache[k]`` and ``k in cache`` it has ``len()``,
    iteration over its keys (as ``bytes``, in byte order), ``keys()``,
    ``values()``, ``items()``, ``pop``, ``popitem``, ``setdefault``, ``update``
    and ``==`` (equal to any mapping with the same items; so, like a dict, it
    is not hashable).  See :meth:`__iter__` and :meth:`__len__` for what
    iteration and ``len()`` cost and guarantee.

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
        l1_policy: how memory chooses what to evict: ``"lru"`` (default) or
            ``"s3fifo"`` (scan-resistant; a hit takes no exclusive lock, so
            hits from many threads scale).
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
        compression: ``"none"`` (default), ``"lz4"`` or ``"zstd"``: disk
            values at least ``compress_min_size`` bytes long (default 256) are
            compressed, each only if that makes it smaller.  Memory keeps
            values as they are; a directory reopens with any setting.
        compress_min_size: see ``compression``.
        encryption_key: 32 bytes: every disk record (key, value, tags) is
            encrypted and authenticated (XChaCha20-Poly1305) and key hashes on
            disk are keyed.  A directory written with a key opens only with
            that key, one written without a key does not open with one
            (:class:`tiercache.InvalidArgument`).  Sizes, times and the number
            of entries are not hidden.
        remote: the URL of a shared remote tier (Redis or Valkey) between
            disk and the loader: ``"redis://[user:password@]host[:port][/db]"``
            or ``"redis+cluster://host:port,host:port"``.  ``None`` (default):
            none, and nothing connects.  A bad URL raises
            :class:`tiercache.InvalidArgument`; an unreachable server does not
            (the cache opens with the tier degraded: ``counter("remote_state")``
            is 2, and it keeps retrying).  See the README, "Many processes,
            many machines".
        remote_namespace: ``str`` or bytes, 1 to 255 bytes (default
            ``"tiercache"``): caches of one namespace share values and
            invalidations.
        remote_secret: bytes (16 or more): every remote value is signed with
            HMAC-SHA256 under it, and one without a valid signature refused.
        remote_timeout_ms: the timeout of one remote operation (default 250).
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
        l1_policy: str = "lru",
        write_policy: str = "through",
        sync_policy: Optional[str] = None,
        sync_interval_ms: Optional[int] = None,
        default_ttl: Optional[TTL] = None,
        max_value_size: Optional[int] = None,
        segment_size: Optional[int] = None,
        read_only: bool = False,
        compression: str = "none",
        compress_min_size: Optional[int] = None,
        encryption_key: Optional[bytes] = None,
        remote: Optional[str] = None,
        remote_namespace: Optional[Value] = None,
        remote_secret: Optional[Value] = None,
        remote_timeout_ms: Optional[int] = None,
        loader: Optional[loaders.Loader] = None,
    ) -> None:
        # The C handle (an int address), from tc_cache_open.  tc_cache_shutdown
        # (close()) may run while other threads are inside calls on it: the
        # library waits for them, and refuses later calls with TC_CLOSED.  Its
        # memory stays valid until tc_cache_close, which only __del__ calls:
        # by then no method is running (each holds a reference to self).
        self._handle: Optional[int] = None
        self._closed = False
        # Whether get may take the fast path (tc_get_made, the GIL held for a
        # memory hit), without the loader bookkeeping: True while no loader is
        # set (see set_loader), on CPython (see _native.made_for).
        self._fast = False
        self._made: Optional[TcMade] = None
        self._made_ref: Any = None
        # Scratch buffers for get with a loader, and get_many (see _Scratch).
        self._pool: Deque[_Scratch] = deque()
        # The loaders the library may call, by id (see loaders.py), and the
        # ctypes callbacks it calls them through, kept alive with the cache.
        self._loaders: Dict[int, loaders.Loader] = {}
        self._callbacks: Any = None
        self._has_loader = False
        # The C iterators open on this handle (token -> tc_iter *), so that
        # __del__ frees any left before the handle (see entries.EntryIterator).
        self._iters: Dict[int, int] = {}
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
                l1_policy=l1_policy,
                write_policy=write_policy,
                sync_policy=sync_policy,
                sync_interval_ms=_u64("sync_interval_ms", sync_interval_ms),
                default_ttl=default_ttl,
                max_value_size=_u64("max_value_size", max_value_size),
                segment_size=_u64("segment_size", segment_size),
                read_only=read_only,
                compression=compression,
                compress_min_size=_u64("compress_min_size", compress_min_size),
                encryption_key=encryption_key,
            )
            self._configure_remote(
                opts,
                remote,
                remote_namespace,
                remote_secret,
                _u64("remote_timeout_ms", remote_timeout_ms),
            )
            handle = c_void_p()
            _check(lib.tc_cache_open(opts, byref(handle)))
        finally:
            lib.tc_options_free(opts)
        self._handle = handle.value
        # The handle as a ready argument for _tc_get_into (which has no argtypes).
        self._handle_arg = c_void_p.from_param(handle.value)
        # tc_get_made's tc_made for this handle, and byref of it (its argument).
        self._made = made_for(handle.value)
        self._made_ref = byref(self._made) if self._made is not None else None
        self._fast = self._made is not None
        if loader is not None:
            self.set_loader(loader)

    def _configure(
        self,
        opts: int,
        *,
        l1_max_entries: Optional[int],
        l1_max_bytes: Optional[int],
        l2_max_bytes: Optional[int],
        l1_policy: str,
        write_policy: str,
        sync_policy: Optional[str],
        sync_interval_ms: Optional[int],
        default_ttl: Optional[TTL],
        max_value_size: Optional[int],
        segment_size: Optional[int],
        read_only: bool,
        compression: str,
        compress_min_size: Optional[int],
        encryption_key: Optional[bytes],
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
        if l1_policy not in _L1_POLICIES:
            raise ValueError(f"l1_policy must be one of {sorted(_L1_POLICIES)}, got {l1_policy!r}")
        _check(lib.tc_options_set_l1_policy(opts, _L1_POLICIES[l1_policy]))
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
        if compression not in _COMPRESSIONS:
            raise ValueError(f"compression must be one of {sorted(_COMPRESSIONS)}, got {compression!r}")
        if compression != "none" or compress_min_size is not None:
            min_size = _DEFAULT_COMPRESS_MIN_SIZE if compress_min_size is None else compress_min_size
            _check(lib.tc_options_set_compression(opts, _COMPRESSIONS[compression], min_size))
        if encryption_key is not None:
            if not isinstance(encryption_key, (bytes, bytearray, memoryview)):
                raise TypeError(f"encryption_key must be bytes, not {type(encryption_key).__name__}")
            key = bytes(encryption_key)
            # The library checks the length (32 bytes) and says so.
            _check(lib.tc_options_set_encryption_key(opts, key, len(key)))

    @staticmethod
    def _configure_remote(
        opts: int,
        remote: Optional[str],
        namespace: Optional[Value],
        secret: Optional[Value],
        timeout_ms: Optional[int],
    ) -> None:
        """Sets the remote tier's options that were given."""
        if remote is not None:
            if not isinstance(remote, str):
                raise TypeError(f"remote must be a str URL, not {type(remote).__name__}")
            if "\0" in remote:
                raise ValueError("remote must not contain NUL characters")
            _check(lib.tc_options_set_remote(opts, remote.encode("utf-8")))
        if namespace is not None:
            ns = to_bytes(namespace, "remote_namespace")
            _check(lib.tc_options_set_remote_namespace(opts, ns, len(ns)))
        if secret is not None:
            sec = to_bytes(secret, "remote_secret")
            _check(lib.tc_options_set_remote_secret(opts, sec, len(sec)))
        if timeout_ms is not None:
            _check(lib.tc_options_set_remote_timeout(opts, timeout_ms))

    # -- the mapping protocol ---------------------------------------------------

    # get and __getitem__ are the hot path, so each is written out in full.
    # Without a loader, a get is one call of tc_get_made with the GIL held
    # (see _native.tc_get_made_unchecked), whose result is the value as bytes
    # or the status as an int: an L1 hit is answered at once, anything else
    # with the GIL let go inside the call.  With a loader set they hand over
    # to _get_loading, which keeps the loader bookkeeping around a CDLL call.
    # A miss (TC_NOT_FOUND) never reads tc_last_error.  After close() the call
    # answers TC_CLOSED: ClosedError.

    def __getitem__(self, key: Value) -> bytes:
        """``cache[key]``: the value, from memory, disk or the loader; KeyError on a miss."""
        k = key if type(key) is bytes else key.encode() if type(key) is str else to_bytes(key)
        if self._fast:
            n = len(k)
            r = _tc_get_made(self._made_ref, k, _KEY_LEN_ARGS[n] if n < 256 else c_size_t(n))
            if type(r) is bytes:
                return r
            if r != _NOT_FOUND:
                raise errors.error_for(r)
        else:
            value = self._get_loading(k)
            if value is not _MISSING:
                return value  # type: ignore[no-any-return]
        raise NotFound(f"no value for key {key!r}")

    def get(self, key: Value, default: Any = None) -> Any:
        """The value of ``key`` (from memory, disk or the loader), or ``default`` on a miss.

        An exception raised by the loader is re-raised here; a loader failure on
        another thread that was loading the same key raises :class:`LoaderFailed`.
        """
        if type(key) is not bytes:
            key = key.encode() if type(key) is str else to_bytes(key)
        if self._fast:
            n = len(key)
            r = _tc_get_made(self._made_ref, key, _KEY_LEN_ARGS[n] if n < 256 else c_size_t(n))
            if type(r) is bytes:
                return r
            if r == _NOT_FOUND:
                return default
            raise errors.error_for(r)
        value = self._get_loading(key)
        return default if value is _MISSING else value

    def _get_loading(self, k: bytes) -> Any:
        """A get with the loader bookkeeping (see loaders.py), through a
        scratch buffer of the pool: the value or _MISSING."""
        pool = self._pool
        try:
            scratch = pool.pop()
        except IndexError:
            scratch = _new_scratch(_SCRATCH_START)
        try:
            return self._get_large(k, 0, scratch)
        finally:
            pool.append(scratch)  # after the value was copied out of it

    def _get_large(self, k: bytes, needed: int, scratch: _Scratch) -> Any:
        """A get with the loader bookkeeping (see loaders.py), through
        ``scratch`` grown to at least ``needed`` bytes, and again while the
        value outgrows it: the value or _MISSING.

        A value larger than the buffer is still in the cache after
        TC_BUFFER_TOO_SMALL, so asking again finds it (the statistics then
        count two hits).  Unless this thread's loader just produced it: then
        that value is the answer (the library might not have kept it, and
        asking again would run the loader again)."""
        while True:
            use = scratch
            if needed > scratch[2]:
                if needed > _SCRATCH_KEEP:
                    return self._get_value(k)
                scratch[:] = _new_scratch(min(max(needed, 2 * scratch[2]), _SCRATCH_KEEP))
            buf, buf_arg, _, cap_arg, value_len, value_len_ref = use
            call = loaders.begin_call(self)
            try:
                status = _tc_get_into(self._handle_arg, k, _key_len_arg(len(k)), buf_arg, cap_arg, value_len_ref)
            finally:
                exc = loaders.end_call(call)
            if status == _OK:
                return buf[: value_len.value]
            if exc is not None:
                raise exc
            if status == _NOT_FOUND:
                return _MISSING
            if status != _BUFFER_TOO_SMALL:
                raise errors.error_for(status)
            if call.value is not None:
                return call.value
            needed = value_len.value

    def _get_value(self, k: bytes) -> Any:
        """A get (with the loader bookkeeping) of a value too large for the
        pooled buffer, through tc_get_value: the bytes object is built once,
        straight from the library's memory (or the segment's map), instead of
        zeroing a buffer of the value's size, copying into it and copying
        again.  The value or _MISSING."""
        out = c_void_p()
        call = loaders.begin_call(self)
        try:
            status = lib.tc_get_value(self._handle, k, len(k), byref(out))
        finally:
            exc = loaders.end_call(call)
        if status == _OK:
            try:
                n = lib.tc_value_len(out)
                return string_at(lib.tc_value_data(out), n) if n else b""
            finally:
                lib.tc_value_free(out)
        err = errors.error_for(status)  # right after the call, before anything else
        if exc is not None:
            raise exc
        if status == _NOT_FOUND:
            return _MISSING
        raise err

    def __setitem__(self, key: Value, value: Value) -> None:
        """``cache[key] = value``: stores with the default TTL."""
        # put's fast path, written out again: calling put from here cost a
        # Python frame and put's option checks, a tenth of a set.
        if type(key) is not bytes:
            key = key.encode() if type(key) is str else to_bytes(key)
        if type(value) is not bytes:
            value = value.encode() if type(value) is str else to_bytes(value, "value")
        nk = len(key)
        nv = len(value)
        status = _tc_put(
            self._handle_arg,
            key,
            _KEY_LEN_ARGS[nk] if nk < 256 else c_size_t(nk),
            value,
            _KEY_LEN_ARGS[nv] if nv < 256 else c_size_t(nv),
            _TTL_DEFAULT_ARG,
        )
        if status:  # TC_OK is 0
            raise errors.error_for(status)

    def put(
        self,
        key: Value,
        value: Value,
        ttl: Optional[TTL] = None,
        tags: Iterable[Value] = _NO_TAGS,
        depends_on: Optional[DependsOn] = None,
    ) -> None:
        """Stores ``value`` under ``key``.

        ``ttl`` is seconds (int or float, rounded up to whole milliseconds) or a
        ``timedelta``; ``None`` means the cache's ``default_ttl`` (never
        expiring if that is unset).  Under write-through the record is in the
        log when this returns, but not necessarily in a file yet: the library
        appends through a buffer (up to 64 KiB, written out when it fills, on
        :meth:`flush` and on close), so a killed process loses what was still
        in it, and the ``sync_policy`` says when the file is fsynced
        (``"always"``: before this returns; docs/CONSISTENCY.md §5).

        ``tags``: an iterable of tags (``str``, stored as UTF-8, or bytes-likes;
        not a single ``str``), 1 to 255 bytes each, at most 32 (a repeat counts
        once); :meth:`remove_tag` removes every entry carrying one.  An empty
        tag raises :class:`InvalidArgument`, a longer or 33rd one
        :class:`TooLarge` (both ``ValueError``s).

        ``depends_on``: a file (``str`` or ``os.PathLike``) the entry depends
        on: it stays valid while the file's modification time, size and inode
        are what they are now; once the file changes or disappears, a get of
        the key is a miss (counted as ``counter("dependency_misses")``) that
        goes to the loader.  A file that does not exist now raises
        :class:`InvalidArgument` naming the path.

        Tags and the dependency are stored with the entry, on disk too, and
        survive a restart.
        """
        # The same conversions and call as __setitem__'s when neither tags
        # nor a dependency are given.
        if type(key) is not bytes:
            key = key.encode() if type(key) is str else to_bytes(key)
        if type(value) is not bytes:
            value = value.encode() if type(value) is str else to_bytes(value, "value")
        if tags is _NO_TAGS and depends_on is None:
            # The fast path: _tc_put has no argtypes, so every argument is
            # passed ready made in its C type (see _native).
            nk = len(key)
            nv = len(value)
            status = _tc_put(
                self._handle_arg,
                key,
                _KEY_LEN_ARGS[nk] if nk < 256 else c_size_t(nk),
                value,
                _KEY_LEN_ARGS[nv] if nv < 256 else c_size_t(nv),
                _TTL_DEFAULT_ARG if ttl is None else c_uint64(ttl_to_ms(ttl)),
            )
            if status:  # TC_OK is 0
                raise errors.error_for(status)
            return
        ttl_ms = ttl_to_ms(ttl) if ttl is not None else 0
        tag_list = tags_to_bytes(tags)
        path = path_to_bytes(depends_on) if depends_on is not None else None
        with entry_options(ttl_ms, tag_list, path) as opts:
            status = lib.tc_put_with(self._handle, key, len(key), value, len(value), opts)
            if status != _OK:
                raise errors.error_for(status)

    def remove_tag(self, tag: Value) -> int:
        """Removes every entry carrying ``tag`` from every tier, persistently
        (it stays removed after a restart), and returns how many had a live
        value.  Atomic with respect to puts, like :meth:`remove_prefix`.  An
        empty tag raises :class:`InvalidArgument`, one over 255 bytes
        :class:`TooLarge`."""
        t = to_bytes(tag, "tag")
        removed = c_uint64()
        _check(lib.tc_remove_tag(self._handle, t, len(t), byref(removed)))
        return removed.value

    def __contains__(self, key: object) -> bool:
        """``key in cache``: whether memory or disk holds a value a get would
        return (unexpired, its file dependency unchanged).

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

    # -- iteration and size ---------------------------------------------------

    def __iter__(self) -> Iterator[bytes]:
        """Iterates over every key, as ``bytes``, in byte order (``tc_iter``).

        Keys are ``bytes`` whatever type they were given as: the library keeps
        bytes (a ``str`` key is its UTF-8), so ``cache[k]`` works for every
        ``k`` yielded.  The keys live now are listed at once; each is looked
        up again when the iteration reaches it: a key removed or expired
        meanwhile is skipped, one added meanwhile may or may not appear, and
        every key live throughout appears exactly once.  Changing the cache
        while iterating is allowed (no ``RuntimeError`` as with a dict).
        Iteration never calls the loader: it lists what memory and disk hold.
        """
        return EntryIterator(self, b"", False)

    def iter_keys(self, prefix: Value = b"") -> "EntryIterator[bytes]":
        """Iterates, as :meth:`__iter__` does, over the keys starting with ``prefix``."""
        return EntryIterator(self, to_bytes(prefix, "prefix"), False)

    def iter_entries(self, prefix: Value = b"") -> "EntryIterator[Tuple[bytes, EntryInfo]]":
        """Iterates, as :meth:`__iter__` does, over ``(key, EntryInfo)`` pairs of
        the keys starting with ``prefix`` (the info as of the moment each key
        is reached)."""
        return EntryIterator(self, to_bytes(prefix, "prefix"), True)

    def __len__(self) -> int:
        """The number of live entries (``tc_count`` of every key): what
        iteration would yield now.  It visits every key, so it costs time in
        proportion to the size of the cache, not O(1) as for a dict."""
        return self.count().entries

    def count(self, prefix: Value = b"") -> Count:
        """Live entries whose key starts with ``prefix`` (all with ``b""``) and
        the bytes of their values: a ``(entries, value_bytes)`` named tuple."""
        p = to_bytes(prefix, "prefix")
        entries, value_bytes = c_uint64(), c_uint64()
        _check(lib.tc_count(self._handle, p, len(p), byref(entries), byref(value_bytes)))
        return Count(entries.value, value_bytes.value)

    def keys(self) -> "typing.KeysView[bytes]":
        """A view of the keys (``bytes``), iterated as :meth:`__iter__`."""
        return super().keys()

    def values(self) -> "typing.ValuesView[bytes]":
        """A view of the values, read in batches (:meth:`get_many`) as the keys
        are iterated; a key gone by the time its value is read is skipped."""
        return _ValuesView(self)

    def items(self) -> "typing.ItemsView[bytes, bytes]":
        """A view of ``(key, value)`` pairs, read in batches (:meth:`get_many`)
        as the keys are iterated; a key gone by the time its value is read is
        skipped."""
        return _ItemsView(self)

    def _iter_items(self) -> Iterator[Tuple[bytes, bytes]]:
        listing: EntryIterator[bytes] = EntryIterator(self, b"", False)
        with listing as keys:
            while True:
                chunk = [k for _, k in zip(range(_ITEMS_BATCH), keys)]
                if not chunk:
                    return
                found = self.get_many(chunk)
                for k in chunk:
                    v = found.get(k)
                    if v is not None:
                        yield k, v

    # -- the rest of MutableMapping ---------------------------------------------

    def pop(self, key: Value, default: Any = _MISSING) -> Any:
        """Removes ``key`` and returns its value; ``default`` (or ``KeyError``)
        if the cache does not hold it.  Like ``in``, it never calls the loader:
        it takes what memory or disk holds.  If another thread removes the key
        first, it is absent here (each value is popped once)."""
        k = to_bytes(key)
        value = self.get(k, _MISSING) if k in self else _MISSING
        if value is not _MISSING:
            status = lib.tc_remove(self._handle, k, len(k))
            if status == _OK:
                return value
            if status != _NOT_FOUND:
                raise errors.error_for(status)
        if default is _MISSING:
            raise NotFound(f"no value for key {key!r}")
        return default

    def popitem(self) -> Tuple[bytes, bytes]:
        """Removes and returns the ``(key, value)`` pair of the first key in byte
        order; ``KeyError`` if the cache is empty.  It lists every key first, so
        emptying a cache this way takes quadratic time: use :meth:`clear`."""
        listing: EntryIterator[bytes] = EntryIterator(self, b"", False)
        with listing as keys:
            for k in keys:
                value = self.pop(k, _MISSING)
                if value is not _MISSING:
                    return k, value
        raise NotFound("popitem(): the cache is empty")

    def setdefault(self, key: Value, default: Optional[Value] = None) -> bytes:
        """``cache[key]`` if the cache holds it, else stores ``default`` and returns
        it (as ``bytes``), atomically: through :meth:`get_or_load`, so two threads
        racing on a missing key both get the one value stored, and the cache's
        loader is not asked.  A cache cannot store ``None``: with no default, a
        missing key raises ``TypeError`` (dict would store ``None``)."""
        k = to_bytes(key)
        if default is None:
            value = self.get(k, _MISSING)
            if value is _MISSING:
                raise TypeError("setdefault: a cache cannot store None; give a bytes or str default")
            return value  # type: ignore[no-any-return]
        v = to_bytes(default, "value")
        return self.get_or_load(k, lambda: v)

    # -- entries: info, touch, batches, get_or_load -------------------------------

    def get_info(self, key: Value) -> Optional[EntryInfo]:
        """What the cache knows about ``key``'s live value (length, expiry, write
        time, tier, tags), or ``None`` if it holds none.  Never calls the loader,
        never promotes a disk entry into memory, and does not count as a use."""
        k = to_bytes(key)
        raw = TcEntryInfo()
        status = lib.tc_get_info(self._handle, k, len(k), byref(raw))
        if status == _NOT_FOUND:
            return None
        if status != _OK:
            raise errors.error_for(status)
        return EntryInfo._from_c(raw)

    def touch(self, key: Value, ttl: Optional[TTL] = None) -> bool:
        """Gives ``key``'s live value a new expiry, ``ttl`` seconds (or a
        ``timedelta``) from now; ``None`` means it never expires.  Its value
        and write time are kept; it is persisted like a put.  Returns whether
        the key had a live value (``False``: nothing was changed)."""
        k = to_bytes(key)
        ttl_ms = ttl_to_ms(ttl) if ttl is not None else 0
        status = lib.tc_touch(self._handle, k, len(k), ttl_ms)
        if status == _NOT_FOUND:
            return False
        if status != _OK:
            raise errors.error_for(status)
        return True

    def get_many(self, keys: Iterable[Value]) -> Dict[Any, bytes]:
        """The values of ``keys`` in one call (``tc_get_many_into``): a dict of the
        keys that have one, each as it was given (a ``bytearray`` or
        ``memoryview`` as ``bytes``).  Misses are asked of the loader, as by
        :meth:`get`; absent keys are left out.  A key that fails otherwise
        (empty, too long, its loader failed) raises that key's error, after
        the other values are freed; a loader's own exception is re-raised."""
        given: List[Any] = list(keys)
        # The keys' types are checked all at once (C-level iteration); only a
        # batch that mixes types (or holds bytes-likes) is converted key by key.
        kinds = set(map(type, given))
        ks: Sequence[bytes]
        if kinds <= _ONLY_BYTES:
            ks = given
        elif kinds == _ONLY_STR:
            ks = list(map(str.encode, given))
        else:
            given = [k if type(k) in (bytes, str) else to_bytes(k) for k in given]
            ks = [k if type(k) is bytes else to_bytes(k) for k in given]
        n = len(ks)
        if n == 0:
            _check(_tc_get_many_into(self._handle, None, 0, None, 0, None, None, None))
            return {}
        # One call for the batch: the keys packed once, the values copied end
        # to end into a pooled scratch buffer (as get's), and only the values
        # that did not fit handed out one by one (tc_value handles).
        _blob, slices = _batch.slices(ks)
        lens = _batch.words(n)
        spilled = _batch.words(n)
        statuses = _batch.statuses(n)
        pool = self._pool
        scratch = _take_scratch(pool)
        try:
            buf = scratch[0]
            args = (
                self._handle,
                _batch.addr_of(slices),
                n,
                buf,
                scratch[2],
                _batch.addr_of(lens),
                _batch.addr_of(spilled),
                _batch.addr_of(statuses),
            )
            exc = None
            if self._has_loader:
                call = loaders.begin_call(self)
                try:
                    status = _tc_get_many_into(*args)
                finally:
                    exc = loaders.end_call(call)
            else:
                status = _tc_get_many_into(*args)
            if status != _OK:
                raise errors.error_for(status)
            found, failed, spill_bytes = _unpack(given, buf, lens, spilled, statuses)
        finally:
            pool.append(scratch)  # after the values were copied out of it
        if spill_bytes and scratch[2] < _SCRATCH_KEEP:
            # Values spilled: the next batch through this buffer gets room.
            scratch[:] = _new_scratch(min(max(scratch[2] + spill_bytes, 2 * scratch[2]), _SCRATCH_KEEP))
        if exc is not None:
            raise exc
        if failed is not None:
            i, st = failed
            raise errors.error_with(st, f"get_many: key {given[i]!r} (#{i})")
        return found

    def put_many(
        self, items: Union[Mapping[Any, Value], Iterable[Tuple[Value, Value]]], ttl: Optional[TTL] = None
    ) -> None:
        """Stores every ``(key, value)`` of a mapping or an iterable of pairs in one
        call (``tc_put_many``), in order, each as :meth:`put` would with ``ttl``.
        On a failure the pairs before it are stored and the rest are not; the
        exception's message names the pair."""
        ks: Sequence[bytes]
        vs: Sequence[bytes]
        if type(items) is dict and items:
            # One snapshot of the dict, taken in C (so that keys and values
            # still pair up if another thread changes the dict meanwhile),
            # read into lists in C, and their types checked all at once: only
            # a batch with other types than bytes is converted pair by pair,
            # with the errors put raises.  (zip(*items.items()) would make
            # the snapshot too, at four times the cost per pair.)
            snapshot = items.copy()
            ks, vs = list(snapshot), list(snapshot.values())
            if set(map(type, ks)) | set(map(type, vs)) != _ONLY_BYTES:
                ks, vs = _pairs_to_bytes(zip(ks, vs))
        else:
            ks, vs = _pairs_to_bytes(items.items() if isinstance(items, Mapping) else items)
        ttl_ms = ttl_to_ms(ttl) if ttl is not None else 0
        n = len(ks)
        if n == 0:
            _check(lib.tc_put_many(self._handle, None, None, 0, ttl_ms))
            return
        # Keys and values each packed once (see _batch): one foreign call,
        # no ctypes object per pair.  The blobs stay alive until it returns.
        _kblob, key_slices = _batch.slices(ks)
        _vblob, value_slices = _batch.slices(vs)
        _check(
            _tc_put_many_packed(self._handle, _batch.addr_of(key_slices), _batch.addr_of(value_slices), n, ttl_ms)
        )

    def get_or_load(self, key: Value, fn: Callable[[], loaders.LoaderResult], ttl: Optional[TTL] = None) -> bytes:
        """``key``'s value from memory or disk, or else from ``fn()`` (instead of
        the cache's loader), stored and returned: memoization of one call.

        ``fn`` takes no argument and returns what a loader returns: the value
        (``bytes``-like or ``str``, stored with ``ttl``, or the default TTL),
        ``(value, ttl)``, a :class:`tiercache.Entry` (value with its own TTL,
        tags and file dependency; ``ttl`` does not apply), or ``None`` (no
        value: :class:`NotFound` is raised, nothing is stored).  One load per key at a time, shared with the
        cache's loader: threads that miss the key while a load of it runs (this
        ``fn``, another thread's, or the cache's loader) wait for that load and
        get its answer, and ``fn`` is not called for them.  If ``fn`` raises,
        nothing is stored and the exception is re-raised here (the threads that
        waited for it get :class:`LoaderFailed`).
        """
        if not callable(fn):
            raise TypeError(f"fn must be callable, not {type(fn).__name__}")
        k = to_bytes(key)
        ttl_ms = ttl_to_ms(ttl) if ttl is not None else 0
        out = TcBytes()
        call = loaders.begin_once(fn, ttl_ms)
        try:
            status = lib.tc_get_or_load(self._handle, k, len(k), loaders.ONCE_TRAMPOLINE, call.ident, byref(out))
        finally:
            exc = loaders.end_once(call)
        if status == _OK:
            try:
                return string_at(out.data, out.len) if out.len else b""
            finally:
                lib.tc_bytes_free(byref(out))
        err = errors.error_for(status)  # right after the call, before anything else
        if exc is not None:
            raise exc
        if status == _NOT_FOUND:
            raise NotFound(f"no value for key {key!r}")
        raise err

    def memoize(
        self,
        ttl: Optional[TTL] = None,
        *,
        name: Optional[str] = None,
        prefix: Value = b"memo:",
        tags: Iterable[Value] = (),
    ) -> Callable[[F], F]:
        """A decorator that caches a function's results in this cache::

            @cache.memoize(ttl=3600)
            def report(user_id: int, month: str) -> dict: ...

        The key of a call is ``prefix`` followed by the hex SHA-256 of the
        canonical encoding of ``[name, args, kwargs]`` (see
        :mod:`tiercache.canonical` and the README: other languages can derive
        the same key).  ``name`` defaults to ``f"{module}.{qualname}"`` of the
        function.  Arguments, and the return value, may be ``None``, ``bool``,
        ``int``, ``float``, ``str``, ``bytes``, lists, tuples and dicts with
        ``str`` keys, nested; anything else raises ``TypeError`` naming the
        argument (for a method, ``self`` is such an argument: memoize a
        function instead).  ``f(1, b=2)`` and ``f(1, 2)`` are different calls,
        as for :func:`functools.lru_cache`; a tuple and a list are the same.

        The result is stored in the same encoding, with ``ttl`` (seconds;
        ``None``: the cache's default), and decoded on every call, the first
        included, so a call always returns the same thing (lists for tuples).
        The function runs once per key however many threads call it at once
        (through :meth:`get_or_load`); an exception it raises is not cached
        and reaches its caller, while threads that waited get
        :class:`LoaderFailed`.

        ``tags`` (an iterable of ``str``/bytes tags) are stored with every
        result, so ``cache.remove_tag(tag)`` drops all of them at once.

        The wrapper has ``cache_key(*args, **kwargs)`` (the key of a call) and
        ``invalidate(*args, **kwargs)`` (removes that call's result; returns
        whether there was one).  ``@cache.memoize`` without parentheses works too.
        """
        if callable(ttl):  # @cache.memoize without parentheses
            return self.memoize()(ttl)
        if ttl is not None:
            ttl_to_ms(ttl)  # a bad TTL fails at decoration, not at the first call
        key_prefix = to_bytes(prefix, "prefix")
        memo_tags = tuple(tags_to_bytes(tags))
        if memo_tags:  # bad tags fail at decoration, not at the first call
            with entry_options(0, memo_tags, None):
                pass

        def decorate(fn: F) -> F:
            fname = name if name is not None else f"{fn.__module__}.{fn.__qualname__}"
            if not isinstance(fname, str):
                raise TypeError(f"name must be str, not {type(fname).__name__}")
            params = _positional_names(fn)

            def cache_key(*args: Any, **kwargs: Any) -> bytes:
                try:
                    return canonical.memo_key(fname, args, kwargs, key_prefix)
                except canonical.Unencodable as e:
                    raise TypeError(
                        f"memoize({fname}): argument {_argument_name(e.path, params)} is {e.why}, "
                        "which has no canonical encoding (only None, bool, int, float, str, bytes, "
                        "and lists, tuples and str-keyed dicts of those)"
                    ) from None

            @functools.wraps(fn)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                key = cache_key(*args, **kwargs)

                def load() -> Union[bytes, Entry]:
                    result = fn(*args, **kwargs)
                    try:
                        encoded = canonical.encode(result)
                    except canonical.Unencodable as e:
                        raise TypeError(
                            f"memoize({fname}): the return value{e.path and ' at ' + e.path} is {e.why}, "
                            "which has no canonical encoding"
                        ) from None
                    return Entry(encoded, ttl=ttl, tags=memo_tags) if memo_tags else encoded

                raw = self.get_or_load(key, load, ttl=ttl)
                try:
                    return canonical.decode(raw)
                except canonical.Undecodable as e:
                    raise ValueError(
                        f"memoize({fname}): the value stored under {key!r} is not a memoized result: {e}"
                    ) from None

            def invalidate(*args: Any, **kwargs: Any) -> bool:
                k = cache_key(*args, **kwargs)
                status = lib.tc_remove(self._handle, k, len(k))
                if status == _NOT_FOUND:
                    return False
                _check(status)
                return True

            wrapper.cache_key = cache_key  # type: ignore[attr-defined]
            wrapper.invalidate = invalidate  # type: ignore[attr-defined]
            return wrapper  # type: ignore[return-value]

        return decorate

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

    def remote_reason(self) -> Optional[str]:
        """Why the remote tier is degraded (``counter("remote_state") == 2``): an
        unreachable server, a refused password or certificate at open, a timeout
        since.  ``""`` while the tier is ok; ``None`` if the cache has no remote
        tier.  The tier keeps retrying whatever the reason."""
        out = TcBytes()
        status = lib.tc_stats_remote_reason(self._handle, byref(out))
        if status == _NOT_FOUND:
            return None
        _check(status)
        try:
            return string_at(out.data, out.len).decode("utf-8", "replace") if out.len else ""
        finally:
            lib.tc_bytes_free(byref(out))

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
            self._fast = not self._has_loader and self._made is not None  # as it was
            raise
        self._has_loader = loader is not None
        self._fast = loader is None and self._made is not None

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

    def __del__(self, _close: Any = lib.tc_cache_close, _iter_free: Any = lib.tc_iter_free) -> None:
        # The last reference is gone, so no method is running: free the handle
        # (tc_cache_close also shuts a forgotten cache down, flushing it and
        # unlocking its directory; in a forked child it touches nothing of the
        # parent's).  Nothing can be done about an error here, and at
        # interpreter exit module globals may already be gone: hence the
        # function bound as a default argument, and no exception escapes.
        try:
            # Iterators left open (in a reference cycle with this cache, say)
            # are freed before the handle they point into.
            iters = self.__dict__.get("_iters")
            while iters:
                _, ptr = iters.popitem()
                _iter_free(ptr)
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


#: Keys per get_many call (one tc_get_many_into) when items() and values() read values.
_ITEMS_BATCH = 128


class _ItemsView(ItemsView):  # type: ignore[type-arg]
    """``Cache.items()``: values read in batches; keys gone meanwhile skipped."""

    __slots__ = ()

    def __iter__(self) -> Iterator[Tuple[bytes, bytes]]:
        return self._mapping._iter_items()  # type: ignore[attr-defined,no-any-return]


class _ValuesView(ValuesView):  # type: ignore[type-arg]
    """``Cache.values()``: values read in batches; keys gone meanwhile skipped."""

    __slots__ = ()

    def __iter__(self) -> Iterator[bytes]:
        for _, value in self._mapping._iter_items():  # type: ignore[attr-defined]
            yield value


def _positional_names(fn: Callable[..., Any]) -> Tuple[List[str], Optional[str]]:
    """The names of fn's positional parameters and of its ``*args``, if known."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return [], None
    names: List[str] = []
    star: Optional[str] = None
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
        elif p.kind is p.VAR_POSITIONAL:
            star = p.name
    return names, star


def _argument_name(path: str, params: Tuple[List[str], Optional[str]]) -> str:
    """``args[1][0]`` -> ``'month'[0]`` (the parameter's name where known)."""
    names, star = params
    if path.startswith("args["):
        index_end = path.index("]")
        i = int(path[5:index_end])
        rest = path[index_end + 1 :]
        if i < len(names):
            return f"{names[i]!r}{rest}"
        if star is not None:
            return f"*{star}[{i - len(names)}]{rest}"
        return f"#{i}{rest}"
    if path.startswith("kwargs["):
        end = path.index("]")
        return f"{path[7:end]}{path[end + 1:]}"
    return path
