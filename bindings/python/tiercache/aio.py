"""asyncio support: :class:`AsyncCache`, a :class:`tiercache.Cache` for coroutines.

Every call into the C library runs in a worker thread (``loop.run_in_executor``),
so disk I/O never blocks the event loop.  :meth:`AsyncCache.get_or_load` takes a
coroutine function as its loader: it runs in the event loop, once per key
however many tasks miss the key at once (they share one ``asyncio.Future``),
and its answer is stored through the library's own ``tc_get_or_load``, so the
library's single flight across threads and its store-if-unchanged rule apply
(a put made while the load ran wins over the loaded value).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import os
import threading
from typing import Any, Awaitable, Callable, Dict, Iterable, Mapping, Optional, Tuple, TypeVar, Union

from . import loaders
from .cache import Cache
from .entries import Count, EntryInfo
from .errors import NotFound
from .options import Entry
from .stats import Stats
from .values import TTL, Value, to_bytes

T = TypeVar("T")

#: An async loader: a coroutine function of no arguments returning what a
#: loader returns (the value, ``(value, ttl)``, an ``Entry``, or ``None``).
AsyncLoader = Callable[[], Awaitable[loaders.LoaderResult]]

_MISSING: Any = object()

#: The loads the current task runs inside: (id of the synchronous cache, key)
#: pairs. Set in the task that runs an async loader, so it reaches what the
#: loader awaits and the tasks it creates (each copies its context).
_LOADING: "contextvars.ContextVar[frozenset[Tuple[int, bytes]]]" = contextvars.ContextVar(
    "tiercache_aio_loading", default=frozenset()
)

#: What a loader that asks for its own key gets: the library's message for a
#: synchronous loader doing the same.
_OWN_KEY = "the loader asked the cache for the key it is loading"


class AsyncCache:
    """An asyncio front end for a :class:`tiercache.Cache`.

    ``AsyncCache(cache)`` wraps an open cache; ``AsyncCache(dir, **options)``
    (anything but a ``Cache`` as first argument) opens one with the same
    arguments as :class:`tiercache.Cache`.  The wrapped cache is closed by
    :meth:`aclose` and by ``async with`` only if the ``AsyncCache`` opened it
    (or ``owns=True`` was given); :attr:`cache` is the synchronous cache, which
    other threads may keep using.

    ``executor``: where the blocking C calls run (``None``: the loop's default
    executor).  A load started by :meth:`get_or_load` runs in a thread of its
    own instead, which waits for the coroutine loader, so loaders that use the
    cache themselves cannot starve the executor.
    """

    def __init__(
        self,
        cache_or_dir: Union[Cache, str, "os.PathLike[str]", None] = None,
        *,
        executor: Optional[concurrent.futures.Executor] = None,
        owns: Optional[bool] = None,
        **options: Any,
    ) -> None:
        if isinstance(cache_or_dir, Cache):
            if options:
                raise TypeError("options cannot be given with an open Cache: " + ", ".join(sorted(options)))
            self.cache = cache_or_dir
            self._owns = bool(owns)
        else:
            self.cache = Cache(cache_or_dir, **options)
            self._owns = True if owns is None else owns
        self._executor = executor
        #: Loads in progress in this process's event loops: (loop, key) -> the
        #: future every task waiting for that key awaits.
        self._inflight: Dict[Tuple[asyncio.AbstractEventLoop, bytes], "asyncio.Future[bytes]"] = {}

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args))

    # -- reads and writes -------------------------------------------------------

    async def get(self, key: Value, default: Any = None) -> Any:
        """``key``'s value (from memory, disk, or the cache's synchronous
        loader), or ``default``.  Inside an async loader, its own key is a
        miss (``default``), as it is for a synchronous loader."""
        if self._loading(to_bytes(key)):
            return default
        return await self._run(self.cache.get, key, default)

    async def put(
        self,
        key: Value,
        value: Value,
        ttl: Optional[TTL] = None,
        tags: Iterable[Value] = (),
        depends_on: Optional[Any] = None,
    ) -> None:
        """Stores ``value`` under ``key``, as :meth:`tiercache.Cache.put`."""
        tag_list = tags if isinstance(tags, (str, bytes)) else list(tags)  # put raises TypeError for a str
        await self._run(self.cache.put, key, value, ttl, tag_list or (), depends_on)

    async def remove(self, key: Value) -> bool:
        """Removes ``key`` from every tier; returns whether it had a value."""
        return await self._run(self._remove, key)

    def _remove(self, key: Value) -> bool:
        try:
            del self.cache[key]
        except KeyError:
            return False
        return True

    async def contains(self, key: Value) -> bool:
        """Whether memory or disk holds a live value for ``key`` (never loads)."""
        return await self._run(self.cache.__contains__, key)

    async def get_many(self, keys: Iterable[Value]) -> Dict[Any, bytes]:
        """As :meth:`tiercache.Cache.get_many`."""
        return await self._run(self.cache.get_many, list(keys))

    async def put_many(
        self, items: Union[Mapping[Any, Value], Iterable[Tuple[Value, Value]]], ttl: Optional[TTL] = None
    ) -> None:
        """As :meth:`tiercache.Cache.put_many`."""
        pairs = list(items.items()) if isinstance(items, Mapping) else list(items)
        await self._run(self.cache.put_many, pairs, ttl)

    async def get_info(self, key: Value) -> Optional[EntryInfo]:
        """As :meth:`tiercache.Cache.get_info`."""
        return await self._run(self.cache.get_info, key)

    async def touch(self, key: Value, ttl: Optional[TTL] = None) -> bool:
        """As :meth:`tiercache.Cache.touch`."""
        return await self._run(self.cache.touch, key, ttl)

    async def remove_tag(self, tag: Value) -> int:
        """As :meth:`tiercache.Cache.remove_tag`."""
        return await self._run(self.cache.remove_tag, tag)

    async def remove_prefix(self, prefix: Value) -> int:
        """As :meth:`tiercache.Cache.remove_prefix`."""
        return await self._run(self.cache.remove_prefix, prefix)

    async def count(self, prefix: Value = b"") -> Count:
        """As :meth:`tiercache.Cache.count`."""
        return await self._run(self.cache.count, prefix)

    async def clear(self, memory_only: bool = False) -> None:
        """As :meth:`tiercache.Cache.clear`."""
        await self._run(self.cache.clear, memory_only)

    async def flush(self) -> None:
        """As :meth:`tiercache.Cache.flush`."""
        await self._run(self.cache.flush)

    async def stats(self) -> Stats:
        """As :meth:`tiercache.Cache.stats`."""
        return await self._run(self.cache.stats)

    # -- get_or_load ------------------------------------------------------------

    async def get_or_load(self, key: Value, fn: AsyncLoader, ttl: Optional[TTL] = None) -> bytes:
        """``key``'s value from memory or disk, or else from ``await fn()``,
        stored (with ``ttl``, unless ``fn`` gives its own) and returned.

        ``fn`` is a coroutine function of no arguments returning what a loader
        returns; ``None`` raises :class:`tiercache.NotFound`.  Tasks of this
        event loop that ask for the same key while a load of it runs await that
        load (one ``fn`` call); so do threads using the synchronous cache, and
        conversely.  If a put of the key happens while ``fn`` runs, the put
        wins: the loaded value is returned to the waiters but not stored.

        An exception from ``fn`` reaches every task awaiting the load.
        Cancelling a waiting task cancels only its wait: the load goes on for
        the others (and is stored).

        A loader that asks for the key it is loading would wait for itself:
        it gets :class:`tiercache.NotFound` instead (as a synchronous loader
        does).  A loader that asks for a key another loader of this loop is
        loading does not wait for it either (two loaders that need each
        other's keys would wait for ever): it awaits its own ``fn`` for that
        key and gets its answer, which is not stored.
        """
        if not callable(fn):
            raise TypeError(f"fn must be callable, not {type(fn).__name__}")
        k = to_bytes(key)
        if self._loading(k):
            raise NotFound(_OWN_KEY)
        loop = asyncio.get_running_loop()
        slot = (loop, k)
        fut = self._inflight.get(slot)
        if fut is not None and _LOADING.get():
            return await _answer_of(fn)
        if fut is None:
            fut = loop.create_future()
            self._inflight[slot] = fut
            fut.add_done_callback(functools.partial(self._load_done, slot))
            loop.create_task(self._load(loop, k, fn, ttl, fut))
        return await asyncio.shield(fut)

    def _loading(self, k: bytes) -> bool:
        """Whether the current task runs inside a load of ``k`` by this cache."""
        return (id(self.cache), k) in _LOADING.get()

    def _load_done(self, slot: Tuple[asyncio.AbstractEventLoop, bytes], fut: "asyncio.Future[bytes]") -> None:
        if self._inflight.get(slot) is fut:
            del self._inflight[slot]
        if not fut.cancelled():
            fut.exception()  # retrieved: no "never retrieved" warning if every waiter left

    async def _load(
        self,
        loop: asyncio.AbstractEventLoop,
        k: bytes,
        fn: AsyncLoader,
        ttl: Optional[TTL],
        fut: "asyncio.Future[bytes]",
    ) -> None:
        try:
            value = await self._load_in_thread(loop, k, fn, ttl)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiters
            if not fut.done():
                if isinstance(exc, asyncio.CancelledError):
                    fut.cancel()
                else:
                    fut.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            if not fut.done():
                fut.set_result(value)

    async def _load_in_thread(
        self, loop: asyncio.AbstractEventLoop, k: bytes, fn: AsyncLoader, ttl: Optional[TTL]
    ) -> bytes:
        """Runs ``cache.get_or_load`` in a thread of its own, whose loader
        waits for ``fn()`` running in ``loop``."""
        done: "asyncio.Future[bytes]" = loop.create_future()
        cache = self.cache

        def sync_loader() -> loaders.LoaderResult:
            # Called by the library in the worker thread on a miss: the
            # coroutine runs in the event loop; this thread waits for it.
            return asyncio.run_coroutine_threadsafe(_call(fn, (id(cache), k)), loop).result()

        def work() -> None:
            try:
                value = cache.get_or_load(k, sync_loader, ttl)
            except BaseException as exc:  # noqa: BLE001 - handed to the loop
                _settle(loop, done, None, exc)
            else:
                _settle(loop, done, value, None)

        threading.Thread(target=work, name="tiercache-aio-load", daemon=True).start()
        return await done

    # -- lifecycle --------------------------------------------------------------

    async def aclose(self) -> None:
        """Closes the cache if this ``AsyncCache`` owns it (see the class);
        in a worker thread, since closing flushes."""
        if self._owns:
            await self._run(self.cache.close)

    async def __aenter__(self) -> "AsyncCache":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<tiercache.aio.AsyncCache of {self.cache!r}>"


async def _call(fn: AsyncLoader, slot: Tuple[int, bytes]) -> loaders.LoaderResult:
    """Runs the loader of ``slot`` in a task of its own, marked as loading it."""
    _LOADING.set(_LOADING.get() | {slot})
    return await fn()


async def _answer_of(fn: AsyncLoader) -> bytes:
    """The value of what ``fn`` returns, as a load would give it (not stored)."""
    result = await fn()
    if result is None:
        raise NotFound("the loader found no value")
    if isinstance(result, Entry):
        return result.value
    if isinstance(result, tuple):
        if len(result) != 2:
            raise TypeError(f"a loader's tuple must be (value, ttl), got {len(result)} items")
        return to_bytes(result[0], "value")
    return to_bytes(result, "value")


def _settle(
    loop: asyncio.AbstractEventLoop, fut: "asyncio.Future[bytes]", value: Optional[bytes], exc: Optional[BaseException]
) -> None:
    """Completes ``fut`` from another thread (nothing if the loop is closed)."""

    def settle() -> None:
        if fut.done():
            return
        if exc is not None:
            if isinstance(exc, concurrent.futures.CancelledError):
                fut.cancel()
            else:
                fut.set_exception(exc)
        else:
            assert value is not None
            fut.set_result(value)

    try:
        loop.call_soon_threadsafe(settle)
    except RuntimeError:  # the loop is closed: nobody is waiting any more
        pass


__all__ = ["AsyncCache", "AsyncLoader"]
