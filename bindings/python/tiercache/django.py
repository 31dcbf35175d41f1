"""A Django cache backend on tiercache: :class:`TiercacheCache`.

Needs Django (``pip install tiercache[django]``); the rest of the package
does not.  In settings::

    CACHES = {
        "default": {
            "BACKEND": "tiercache.django.TiercacheCache",
            "LOCATION": "/var/cache/app",          # a directory; "" or "memory:NAME": memory only
            "TIMEOUT": 300,                         # Django's default timeout (None: forever)
            "OPTIONS": {"l2_max_bytes": 2**30},     # tiercache.Cache keyword arguments
        }
    }

Every backend instance with the same ``LOCATION`` in a process (Django makes
one per thread) shares one open :class:`tiercache.Cache`; it stays open until
the process exits (Django's ``close()`` after each request does not close it).
Timeouts are Django's: seconds, ``None`` for never, 0 or less to expire at once
(``set`` then deletes the key).  Values are pickled.  ``add`` is atomic (one
``tc_get_or_load``); ``incr``/``decr`` keep the key's expiry and are atomic
between the threads of a process, not across processes.
"""

from __future__ import annotations

import os
import pickle
import threading
import time
from typing import Any, Dict, Iterable, List, Mapping, Optional

from django.core.cache.backends.base import (  # type: ignore[import-untyped,unused-ignore]
    DEFAULT_TIMEOUT,
    BaseCache,
)

from .cache import Cache

__all__ = ["TiercacheCache"]

#: The caches opened for Django backends, by LOCATION (a real path, or "memory:NAME").
_caches: Dict[str, Cache] = {}
_caches_lock = threading.Lock()
#: Serializes incr/decr (read, add, write back) within the process.
_incr_lock = threading.Lock()

_EXPIRED = -1.0  # a timeout meaning "expire at once"


def _open(location: str, options: Mapping[str, Any]) -> Cache:
    if not location or location.startswith("memory:"):
        name, dir = "memory:" + location[len("memory:") :], None
    else:
        name = dir = os.path.realpath(os.path.expanduser(location))
    with _caches_lock:
        cache = _caches.get(name)
        if cache is None or cache.closed:
            cache = Cache(dir, **options)
            _caches[name] = cache
        return cache


class TiercacheCache(BaseCache):  # type: ignore[misc,unused-ignore]
    """Django cache backend storing pickled values in a :class:`tiercache.Cache`."""

    pickle_protocol = pickle.HIGHEST_PROTOCOL

    def __init__(self, location: str, params: Dict[str, Any]) -> None:
        super().__init__(params)
        options = {k: v for k, v in (params.get("OPTIONS") or {}).items() if not k.isupper()}
        if "default_ttl" in options or "loader" in options:
            raise ValueError(
                "tiercache.django: OPTIONS cannot set default_ttl or loader (Django's TIMEOUT is the default timeout)"
            )
        self._cache = _open(location or "", options)

    @property
    def cache(self) -> Cache:
        """The :class:`tiercache.Cache` underneath."""
        return self._cache

    # -- helpers ------------------------------------------------------------------

    def _ttl(self, timeout: Any) -> Optional[float]:
        """Django's timeout to tiercache's TTL: ``None`` (never) or seconds > 0,
        or ``_EXPIRED``."""
        if timeout is DEFAULT_TIMEOUT:
            timeout = self.default_timeout
        if timeout is None:
            return None
        t = float(timeout)
        return t if t > 0 else _EXPIRED

    def _key(self, key: Any, version: Optional[int]) -> str:
        k: str = self.make_and_validate_key(key, version=version)
        return k

    def _dumps(self, value: Any) -> bytes:
        return pickle.dumps(value, self.pickle_protocol)

    def _remove(self, k: str) -> bool:
        try:
            del self._cache[k]
        except KeyError:
            return False
        return True

    # -- the cache API ---------------------------------------------------------------

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Optional[int] = None) -> bool:
        k = self._key(key, version)
        ttl = self._ttl(timeout)
        if ttl == _EXPIRED:
            return k not in self._cache
        data = self._dumps(value)
        stored = False

        def load() -> Any:
            nonlocal stored
            stored = True
            return (data, ttl)

        self._cache.get_or_load(k, load)
        return stored

    def get(self, key: Any, default: Any = None, version: Optional[int] = None) -> Any:
        raw = self._cache.get(self._key(key, version))
        return default if raw is None else pickle.loads(raw)

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Optional[int] = None) -> None:
        k = self._key(key, version)
        ttl = self._ttl(timeout)
        if ttl == _EXPIRED:
            self._remove(k)
            return
        self._cache.put(k, self._dumps(value), ttl)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Optional[int] = None) -> bool:
        k = self._key(key, version)
        ttl = self._ttl(timeout)
        if ttl == _EXPIRED:
            return self._remove(k)
        return self._cache.touch(k, ttl)

    def delete(self, key: Any, version: Optional[int] = None) -> bool:
        return self._remove(self._key(key, version))

    def has_key(self, key: Any, version: Optional[int] = None) -> bool:
        return self._key(key, version) in self._cache

    def get_many(self, keys: Iterable[Any], version: Optional[int] = None) -> Dict[Any, Any]:
        by_key = {self._key(key, version): key for key in keys}
        found = self._cache.get_many(list(by_key))
        return {by_key[k]: pickle.loads(raw) for k, raw in found.items()}

    def set_many(
        self, data: Mapping[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: Optional[int] = None
    ) -> List[Any]:
        ttl = self._ttl(timeout)
        pairs = [(self._key(key, version), value) for key, value in data.items()]
        if ttl == _EXPIRED:
            for k, _ in pairs:
                self._remove(k)
        elif pairs:
            self._cache.put_many([(k, self._dumps(v)) for k, v in pairs], ttl)
        return []

    def delete_many(self, keys: Iterable[Any], version: Optional[int] = None) -> None:
        for key in keys:
            self._remove(self._key(key, version))

    def incr(self, key: Any, delta: int = 1, version: Optional[int] = None) -> Any:
        k = self._key(key, version)
        with _incr_lock:
            raw = self._cache.get(k)
            info = self._cache.get_info(k)
            if raw is None or info is None:
                raise ValueError(f"Key '{key}' not found")
            new_value = pickle.loads(raw) + delta
            ttl: Optional[float] = None
            if info.expires_at is not None:
                left_ms = info.expires_at - time.time() * 1000
                if left_ms <= 0:
                    raise ValueError(f"Key '{key}' not found")
                ttl = left_ms / 1000
            self._cache.put(k, self._dumps(new_value), ttl)
        return new_value

    def clear(self) -> None:
        self._cache.clear()

    def close(self, **kwargs: Any) -> None:
        """Django calls this after every request: the shared cache stays open."""
