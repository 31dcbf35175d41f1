"""A `dogpile.cache <https://dogpilecache.sqlalchemy.org>`_ backend on tiercache.

Needs dogpile.cache (``pip install tiercache[dogpile]``); the rest of the
package does not.  The backend is registered under the name ``"tiercache"``
(the ``dogpile.cache`` entry point, and again when this module is imported)::

    from dogpile.cache import make_region

    region = make_region().configure(
        "tiercache",
        expiration_time=3600,
        arguments={"dir": "/var/cache/app", "options": {"l2_max_bytes": 2**30}},
    )

Arguments (all optional):

* ``cache``: an open :class:`tiercache.Cache` to use;
* else ``dir`` (``None``: memory only) and ``options``, a dict of
  :class:`tiercache.Cache` keyword arguments.  Backends configured with the
  same ``dir`` in one process share one open cache (a directory can be open
  once; the first configuration's options apply);
* ``ttl``: seconds after which tiercache itself drops an entry (the region's
  ``expiration_time`` is dogpile's own, read from the stored metadata; this
  bounds how long stale values are kept).  Default: the cache's ``default_ttl``.

Values are the bytes dogpile serializes (pickle, with its metadata).
:meth:`TiercacheBackend.get_mutex` gives a per-key lock shared by every
backend on the same cache in this process (threads); across processes each
process may create a value once.  A cache with a loader set would call it on
misses: give the backend a cache without one.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any, Iterable, Mapping, Optional, Sequence, Tuple

from dogpile.cache import register_backend
from dogpile.cache.api import NO_VALUE, BackendArguments, BytesBackend, CacheMutex, KeyType, SerializedReturnType

from .cache import Cache
from .values import TTL

__all__ = ["TiercacheBackend", "TiercacheMutex"]

#: Caches opened by backends, by real path of their directory, while in use.
_open_caches: "weakref.WeakValueDictionary[str, Cache]" = weakref.WeakValueDictionary()
_open_lock = threading.Lock()


def _shared_cache(dir: Any, options: Mapping[str, Any]) -> Cache:
    if dir is None:
        return Cache(None, **options)
    if not os.fspath(dir):
        raise ValueError("arguments['dir'] is empty: give a directory, or None for a memory-only cache")
    path = os.path.realpath(os.fspath(dir))
    with _open_lock:
        cache = _open_caches.get(path)
        if cache is None or cache.closed:
            cache = Cache(path, **options)
            _open_caches[path] = cache
        return cache


class _KeyLock:
    __slots__ = ("lock", "__weakref__")

    def __init__(self) -> None:
        self.lock = threading.Lock()


#: The per-key locks in use: (id of the cache, key) -> lock.  A mutex holds
#: its cache, so the id is not reused while the entry lives.
_key_locks: "weakref.WeakValueDictionary[Tuple[int, str], _KeyLock]" = weakref.WeakValueDictionary()
_key_locks_lock = threading.Lock()


class TiercacheMutex(CacheMutex):
    """The dogpile lock of one key: a thread lock shared, in this process, by
    every mutex of the same key on the same cache.  Not reentrant."""

    def __init__(self, cache: Cache, key: str) -> None:
        self._cache = cache
        slot = (id(cache), key)
        with _key_locks_lock:
            kl = _key_locks.get(slot)
            if kl is None:
                kl = _KeyLock()
                _key_locks[slot] = kl
        self._kl = kl

    def acquire(self, wait: bool = True) -> bool:
        return self._kl.lock.acquire(wait)

    def release(self) -> None:
        self._kl.lock.release()

    def locked(self) -> bool:
        return self._kl.lock.locked()


class TiercacheBackend(BytesBackend):
    """dogpile.cache backend storing serialized values in a tiercache cache."""

    def __init__(self, arguments: BackendArguments) -> None:
        given = arguments.get("cache")
        if given is not None:
            if not isinstance(given, Cache):
                raise TypeError(f"arguments['cache'] must be a tiercache.Cache, not {type(given).__name__}")
            self.cache = given
        else:
            self.cache = _shared_cache(arguments.get("dir"), dict(arguments.get("options") or {}))
        self.ttl: Optional[TTL] = arguments.get("ttl")

    def get_mutex(self, key: KeyType) -> Optional[CacheMutex]:
        return TiercacheMutex(self.cache, key)

    def get_serialized(self, key: KeyType) -> SerializedReturnType:
        value: Optional[bytes] = self.cache.get(key)
        return NO_VALUE if value is None else value

    def get_serialized_multi(self, keys: Iterable[KeyType]) -> Sequence[SerializedReturnType]:
        ks = list(keys)
        found = self.cache.get_many(ks)
        return [found.get(k, NO_VALUE) for k in ks]

    def set_serialized(self, key: KeyType, value: bytes) -> None:
        self.cache.put(key, value, self.ttl)

    def set_serialized_multi(self, mapping: Mapping[KeyType, bytes]) -> None:
        if mapping:
            self.cache.put_many(mapping, self.ttl)

    def delete(self, key: KeyType) -> None:
        try:
            del self.cache[key]
        except KeyError:
            pass

    def delete_multi(self, keys: Iterable[KeyType]) -> None:
        for key in keys:
            self.delete(key)


register_backend("tiercache", "tiercache.dogpile", "TiercacheBackend")  # type: ignore[no-untyped-call,unused-ignore]
