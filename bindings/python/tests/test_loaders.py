"""L3: Python callables as loaders, through the ctypes trampoline."""

from __future__ import annotations

import gc
import threading
import time
from typing import List, Optional

import pytest

import tiercache
from tiercache import loaders


def test_loader_value_is_cached(cache: tiercache.Cache) -> None:
    calls: List[bytes] = []

    def load(key: bytes) -> bytes:
        calls.append(key)
        return b"loaded:" + key

    cache.set_loader(load)
    assert cache["k"] == b"loaded:k"
    assert cache["k"] == b"loaded:k"
    assert calls == [b"k"]
    s = cache.stats()
    assert s.l3_loads == 1 and s.l1_hits == 1


def test_loader_in_constructor_and_str_result() -> None:
    with tiercache.Cache(loader=lambda key: key.decode() + "!") as c:
        assert c["hé"] == "hé!".encode()


def test_loader_binary_key(cache: tiercache.Cache) -> None:
    seen: List[bytes] = []

    def load(key: bytes) -> bytes:
        seen.append(key)
        return b"v"

    cache.set_loader(load)
    cache[b"\x00\xff\x00"]
    assert seen == [b"\x00\xff\x00"]


def test_loader_not_found(cache: tiercache.Cache) -> None:
    calls: List[bytes] = []

    def load(key: bytes) -> Optional[bytes]:
        calls.append(key)
        return None

    cache.set_loader(load)
    assert cache.get("k", b"dflt") == b"dflt"
    with pytest.raises(tiercache.NotFound):
        cache["k"]
    assert calls == [b"k", b"k"]  # "not found" is not cached
    assert "k" not in cache


def test_loader_with_ttl(cache: tiercache.Cache) -> None:
    calls: List[bytes] = []

    def load(key: bytes):  # type: ignore[no-untyped-def]
        calls.append(key)
        return (b"v", 0.05)

    cache.set_loader(load)
    assert cache["k"] == b"v"
    assert cache["k"] == b"v"
    time.sleep(0.15)
    assert cache["k"] == b"v"
    assert len(calls) == 2  # expired, so loaded again


def test_loader_exception_is_reraised_and_nothing_cached(cache: tiercache.Cache) -> None:
    class Boom(Exception):
        pass

    def load(key: bytes) -> bytes:
        raise Boom(key)

    cache.set_loader(load)
    with pytest.raises(Boom) as info:
        cache.get("k")
    assert info.value.args == (b"k",)
    assert "k" not in cache
    with pytest.raises(Boom):
        cache["k"]  # called again: nothing was cached
    assert cache.stats().l3_loads == 2


def test_loader_keyerror_is_not_a_miss(cache: tiercache.Cache) -> None:
    """A KeyError raised by the loader is re-raised, not mistaken for 'not found'."""

    def load(key: bytes) -> bytes:
        raise KeyError("inner")

    cache.set_loader(load)
    with pytest.raises(KeyError) as info:
        cache.get("k", b"dflt")
    assert not isinstance(info.value, tiercache.NotFound)


def test_loader_bad_return_type(cache: tiercache.Cache) -> None:
    cache.set_loader(lambda key: 42)  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError):
        cache["k"]
    cache.set_loader(lambda key: (b"v", 1, 2))  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError):
        cache["k"]
    cache.set_loader(lambda key: (b"v", -1.0))
    with pytest.raises(ValueError):
        cache["k"]


def test_loader_value_too_large() -> None:
    with tiercache.Cache(max_value_size=8, loader=lambda key: b"x" * 9) as c:
        with pytest.raises(tiercache.TooLarge):
            c["k"]
        assert "k" not in c


def test_loader_called_once_for_eight_threads(cache: tiercache.Cache) -> None:
    calls: List[bytes] = []
    started = threading.Event()

    def slow(key: bytes) -> bytes:
        calls.append(key)
        started.set()
        time.sleep(0.3)  # long enough for the other threads to miss too
        return b"slow:" + key

    cache.set_loader(slow)
    results: List[bytes] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        results.append(cache["same"])

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results == [b"slow:same"] * 8
    assert calls == [b"same"]
    assert cache.stats().l3_loads == 1


def test_loader_failure_seen_by_waiting_threads(cache: tiercache.Cache) -> None:
    """The thread that ran the loader re-raises its exception; threads that waited
    for the same key get LoaderFailed."""
    errors: List[BaseException] = []

    def slow_fail(key: bytes) -> bytes:
        time.sleep(0.3)
        raise RuntimeError("down")

    cache.set_loader(slow_fail)
    barrier = threading.Barrier(4)

    def worker() -> None:
        barrier.wait()
        try:
            cache["same"]
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(errors) == 4
    runtime = [e for e in errors if isinstance(e, RuntimeError)]
    failed = [e for e in errors if isinstance(e, tiercache.LoaderFailed)]
    assert len(runtime) >= 1 and len(runtime) + len(failed) == 4


def test_loader_calls_back_into_cache(cache: tiercache.Cache) -> None:
    cache["base"] = b"42"

    def load(key: bytes) -> bytes:
        if key == b"derived":
            return b"from " + cache["base"] + b" and " + cache["leaf"]
        return b"leaf"

    cache.set_loader(load)
    assert cache["derived"] == b"from 42 and leaf"
    assert cache["leaf"] == b"leaf"  # cached by the nested load
    cache["x"] = b"written from outside"  # the cache is still usable


def test_nested_loader_exception_goes_to_the_right_get(cache: tiercache.Cache) -> None:
    def load(key: bytes) -> bytes:
        if key == b"outer":
            try:
                cache["inner"]
            except ValueError as e:
                return b"recovered: " + str(e).encode()
            return b"unreachable"
        raise ValueError("inner failed")

    cache.set_loader(load)
    assert cache["outer"] == b"recovered: inner failed"


def test_loader_asking_for_its_own_key_does_not_hang(cache: tiercache.Cache) -> None:
    def load(key: bytes) -> bytes:
        return cache[key]  # the library refuses rather than waiting for itself

    cache.set_loader(load)
    done: List[BaseException] = []

    def run() -> None:
        try:
            cache["self"]
        except BaseException as e:  # noqa: BLE001
            done.append(e)

    t = threading.Thread(target=run)
    t.start()
    t.join(timeout=10)
    assert not t.is_alive(), "get of the key being loaded deadlocked"
    assert len(done) == 1 and isinstance(done[0], tiercache.Error)


def test_set_loader_none_removes(cache: tiercache.Cache) -> None:
    cache.set_loader(lambda key: b"v")
    assert cache["a"] == b"v"
    cache.set_loader(None)
    assert cache.get("b") is None
    assert cache["a"] == b"v"  # what was loaded stays cached


def test_set_loader_refuses_non_callable(cache: tiercache.Cache) -> None:
    with pytest.raises(TypeError):
        cache.set_loader(b"not callable")  # type: ignore[arg-type]


def test_destructor_empties_registry() -> None:
    gc.collect()
    before = loaders.registered_count()
    c = tiercache.Cache()
    c.set_loader(lambda key: b"1")
    assert loaders.registered_count() == before + 1
    c.set_loader(lambda key: b"2")  # the first is freed by the library
    assert loaders.registered_count() == before + 1
    assert c["k"] == b"2"
    c.close()  # and the second on close
    assert loaders.registered_count() == before


def test_loader_cannot_close_its_cache() -> None:
    """close() from inside a loader would wait for the get running it: the
    library refuses (InvalidArgument), the get still answers and the cache
    stays open."""
    c = tiercache.Cache()
    refused: List[BaseException] = []

    def load(key: bytes) -> bytes:
        try:
            c.close()
        except tiercache.InvalidArgument as e:
            refused.append(e)
        return b"v"

    c.set_loader(load)
    assert c["k"] == b"v"
    assert len(refused) == 1 and not isinstance(refused[0], tiercache.ClosedError)
    assert "tc_cache_shutdown" in refused[0].message
    assert not c.closed
    c["after"] = b"still open"
    assert c["after"] == b"still open"
    c.close()
    assert c.closed
    with pytest.raises(tiercache.ClosedError):
        c["k"]


def test_set_loader_after_close_keeps_nothing() -> None:
    c = tiercache.Cache()
    c.close()
    before = loaders.registered_count()
    with pytest.raises(tiercache.ClosedError):
        c.set_loader(lambda key: b"v")
    assert loaders.registered_count() == before
    assert c._loaders == {}


def test_loader_with_threads_and_distinct_keys(cache: tiercache.Cache) -> None:
    cache.set_loader(lambda key: key[::-1])
    failures: List[str] = []

    def worker(n: int) -> None:
        for i in range(300):
            key = f"{n}-{i}".encode()
            if cache[key] != key[::-1]:
                failures.append(key.decode())

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not failures
    assert cache.stats().l3_loads == 8 * 300
