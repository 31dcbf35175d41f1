"""Entry info, touch, count, iteration, batches and get_or_load."""

from __future__ import annotations

import gc
import threading
import time
from pathlib import Path
from typing import Dict, List

import pytest

import tiercache
from tiercache import EntryInfo, Tier


def _now_ms() -> int:
    return int(time.time() * 1000)


def _wait_expired(cache: tiercache.Cache, key: str) -> None:
    """Waits (at most 5 s) until a get of key misses: no timing assumption."""
    deadline = time.monotonic() + 5
    while cache.get(key) is not None:
        assert time.monotonic() < deadline, f"{key} did not expire"
        time.sleep(0.002)


# -- get_info and touch ----------------------------------------------------------


def test_get_info(disk_cache: tiercache.Cache) -> None:
    before = _now_ms()
    disk_cache["forever"] = b"12345"
    disk_cache.put("minute", b"", ttl=60)
    after = _now_ms()
    info = disk_cache.get_info("forever")
    assert isinstance(info, EntryInfo)
    assert info.value_len == 5 and info.expires_at is None and info.tag_count == 0
    assert before <= info.written_at <= after
    assert info.tier == Tier.MEMORY
    minute = disk_cache.get_info(b"minute")
    assert minute is not None and minute.value_len == 0
    assert minute.expires_at is not None and minute.expires_at - minute.written_at == 60_000
    assert disk_cache.get_info("absent") is None
    with pytest.raises(AttributeError):
        info.value_len = 3  # type: ignore[misc]
    # From disk, without promoting it or counting a hit.
    disk_cache.clear(memory_only=True)
    assert disk_cache.get_info("forever").tier == Tier.DISK  # type: ignore[union-attr]
    s = disk_cache.stats()
    assert s.l1_entries == 0 and s.l2_hits == 0


def test_get_info_never_loads(cache: tiercache.Cache) -> None:
    calls: List[bytes] = []
    cache.set_loader(lambda k: calls.append(k) or b"v")
    assert cache.get_info("k") is None
    assert calls == []


def test_touch(disk_cache: tiercache.Cache, cache_dir: Path) -> None:
    assert disk_cache.touch("absent", 10) is False
    disk_cache.put("k", b"value", ttl=60)
    written = disk_cache.get_info("k").written_at  # type: ignore[union-attr]
    assert disk_cache.touch("k") is True  # None: never expires
    info = disk_cache.get_info("k")
    assert info is not None and info.expires_at is None and info.written_at == written
    before = _now_ms()
    assert disk_cache.touch("k", 3600)
    info = disk_cache.get_info("k")
    assert info is not None and info.expires_at is not None
    assert before + 3_600_000 <= info.expires_at <= _now_ms() + 3_600_000
    assert disk_cache["k"] == b"value"
    with pytest.raises(ValueError):
        disk_cache.touch("k", 0)  # a TTL is positive; None for "never"
    disk_cache.close()
    with tiercache.Cache(cache_dir) as again:
        assert again.get_info("k").expires_at == info.expires_at  # type: ignore[union-attr]


def test_touch_cannot_revive_expired(cache: tiercache.Cache) -> None:
    cache.put("brief", b"b", ttl=0.001)
    _wait_expired(cache, "brief")
    assert cache.touch("brief") is False
    assert cache.get_info("brief") is None


# -- count, len and iteration -----------------------------------------------------


def test_count_and_len(disk_cache: tiercache.Cache) -> None:
    assert disk_cache.count() == (0, 0) and len(disk_cache) == 0
    disk_cache.put_many({"a:1": b"xx", "a:2": b"yyy", "b:1": b"", "b:2": b"zzzz"})
    assert disk_cache.count() == tiercache.Count(4, 9)
    assert disk_cache.count("a:") == (2, 5)
    assert disk_cache.count(b"b:").entries == 2
    assert disk_cache.count("c:") == (0, 0)
    assert len(disk_cache) == 4
    del disk_cache["a:2"]
    assert len(disk_cache) == 3
    disk_cache.clear(memory_only=True)
    assert disk_cache.count() == (3, 6)


def test_iteration_prefix_and_order(disk_cache: tiercache.Cache) -> None:
    for k in ["user:2", "b", "user:10", "user:1", "users", "a", "user"]:
        disk_cache[k] = k
    assert list(disk_cache) == [b"a", b"b", b"user", b"user:1", b"user:10", b"user:2", b"users"]
    assert list(disk_cache.iter_keys("user:")) == [b"user:1", b"user:10", b"user:2"]
    assert list(disk_cache.iter_keys(b"zzz")) == []
    entries = list(disk_cache.iter_entries("user:1"))
    assert [k for k, _ in entries] == [b"user:1", b"user:10"]
    assert all(isinstance(i, EntryInfo) and i.value_len == len(k) for k, i in entries)
    # Memory and disk together: each key once.
    disk_cache.clear(memory_only=True)
    disk_cache["b"]
    assert len(list(disk_cache)) == 7


def test_iteration_skips_removed_and_expired(cache: tiercache.Cache) -> None:
    for k in ["k1", "k2", "k3", "k4"]:
        cache[k] = k
    cache.put("gone", b"x", ttl=0.001)
    _wait_expired(cache, "gone")
    del cache["k2"]
    assert list(cache) == [b"k1", b"k3", b"k4"]
    assert cache.count() == (3, 6)
    # Changing the cache while iterating is allowed: a key removed before
    # the iteration reaches it is skipped, keys live throughout come once.
    it = iter(cache)
    assert next(it) == b"k1"
    del cache["k3"]
    cache["k0"] = b"new"
    assert list(it) == [b"k4"]


def test_iteration_views(cache: tiercache.Cache) -> None:
    data = {f"k{i:03}".encode(): f"v{i}".encode() for i in range(300)}  # more than one batch
    cache.update(data)
    assert dict(cache.items()) == data
    assert sorted(cache.values()) == sorted(data.values())
    assert set(cache.keys()) == set(data)
    assert (b"k001", b"v1") in cache.items()
    assert (b"k001", b"nope") not in cache.items()
    assert b"v1" in cache.values()
    assert cache == data and cache != {}


def test_iterator_close_and_threads(cache: tiercache.Cache) -> None:
    for i in range(200):
        cache[f"k{i:03}"] = b"v"
    it = cache.iter_keys()
    assert next(it) == b"k000"
    it.close()
    assert list(it) == []
    # One iterator shared by threads: each key comes out once.
    shared = iter(cache)
    seen: List[bytes] = []
    lock = threading.Lock()

    def drain() -> None:
        for k in shared:
            with lock:
                seen.append(k)

    threads = [threading.Thread(target=drain) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == [f"k{i:03}".encode() for i in range(200)]


def test_iteration_after_close_raises_closed(cache: tiercache.Cache) -> None:
    cache["a"] = b"1"
    cache["b"] = b"2"
    it = iter(cache)
    assert next(it) == b"a"
    cache.close()
    with pytest.raises(tiercache.ClosedError):
        next(it)
    assert list(it) == []
    with pytest.raises(tiercache.ClosedError):
        iter(cache)
    with pytest.raises(tiercache.ClosedError):
        len(cache)


def test_open_iterator_in_a_cycle_with_its_cache_is_freed() -> None:
    class Holder:
        pass

    h = Holder()
    h.cache = tiercache.Cache()  # type: ignore[attr-defined]
    h.cache["k"] = b"v"  # type: ignore[attr-defined]
    h.it = iter(h.cache)  # type: ignore[attr-defined]
    h.cache.holder = h  # type: ignore[attr-defined]  (a cycle through the cache)
    next(h.it)  # type: ignore[attr-defined]
    del h
    gc.collect()  # finalizers in any order: the iterator is freed before the handle


# -- batches ----------------------------------------------------------------------


def test_get_many(cache: tiercache.Cache) -> None:
    cache.put_many([("a", "1"), (b"b", b""), (bytearray(b"c"), memoryview(b"333"))])
    got = cache.get_many(["a", b"b", bytearray(b"c"), "missing"])
    assert got == {"a": b"1", b"b": b"", b"c": b"333"}
    assert cache.get_many([]) == {}
    with pytest.raises(tiercache.InvalidArgument, match="key b''"):
        cache.get_many(["a", b""])
    with pytest.raises(TypeError):
        cache.get_many([1])  # type: ignore[list-item]


def test_batches_of_one_type_and_of_mixed_types(cache: tiercache.Cache) -> None:
    # get_many and put_many check the types of a whole batch at once and
    # convert key by key only a batch that needs it: every kind of batch
    # answers alike, keys as given (a str as str, a bytes-like as bytes).
    cache.put_many({b"b1": b"x", b"b2": b"", b"b3": b"zz"})  # bytes only
    cache.put_many({"s1": "y", "s2": b"w"})  # str among them: converted
    cache.put_many({b"m1": bytearray(b"q"), "m2": memoryview(b"r")})
    assert cache.get_many([b"b1", b"b2", b"b3"]) == {b"b1": b"x", b"b2": b"", b"b3": b"zz"}
    assert cache.get_many([b"b2", b"b1", b"b2"]) == {b"b2": b"", b"b1": b"x"}
    assert cache.get_many(("s1", "s2")) == {"s1": b"y", "s2": b"w"}
    got = cache.get_many(iter([b"m1", "m2", bytearray(b"b1"), b"absent"]))
    assert got == {b"m1": b"q", "m2": b"r", b"b1": b"x"}
    assert [type(k) for k in got] == [bytes, str, bytes]


def test_put_many_of_a_dict_stores_nothing_if_a_value_is_of_no_accepted_type(cache: tiercache.Cache) -> None:
    with pytest.raises(TypeError, match="value must be"):
        cache.put_many({b"a": b"1", b"b": 2})  # type: ignore[dict-item]
    assert b"a" not in cache, "every pair is converted before any is stored"
    with pytest.raises(TypeError, match="key must be"):
        cache.put_many({b"a": b"1", 3: b"2"})  # type: ignore[dict-item]
    assert b"a" not in cache


def test_get_many_asks_the_loader(cache: tiercache.Cache) -> None:
    cache["here"] = b"H"
    cache.set_loader(lambda k: None if k == b"none" else b"L:" + k)
    assert cache.get_many(["here", "there", "none"]) == {"here": b"H", "there": b"L:there"}

    def broken(key: bytes) -> bytes:
        raise RuntimeError(f"cannot load {key!r}")

    cache.set_loader(broken)
    with pytest.raises(RuntimeError, match="cannot load"):
        cache.get_many(["here", "x"])


def test_get_many_values_larger_than_the_batch_buffer(cache: tiercache.Cache) -> None:
    # The batch buffer starts at 64 KiB: these do not all fit, so some come
    # back as tc_value handles (each key still read once), in key order
    # with the small ones, and a second batch, through a grown buffer,
    # answers the same.
    big = {f"big{i}".encode(): bytes([i]) * (50_000 + i) for i in range(4)}
    small = {f"small{i}".encode(): bytes([65 + i]) * 10 for i in range(4)}
    cache.put_many(big)
    cache.put_many(small)
    keys = [k for pair in zip(big, small) for k in pair] + [b"absent"]
    want = {**big, **small}
    hits = cache.stats().l1_hits
    for _ in range(2):
        got = cache.get_many(keys)
        assert got == want
        assert list(got) == [k for k in keys if k in want], "in the order of the keys"
    assert cache.stats().l1_hits - hits == 2 * len(want), "every key read once per batch"


def test_get_many_loaded_values_that_do_not_fit_are_loaded_once() -> None:
    # Memory only and too small to keep them: a value that did not fit in
    # the batch buffer is handed out as it was loaded, not asked for again.
    calls: Dict[bytes, int] = {}

    def load(key: bytes) -> bytes:
        calls[key] = calls.get(key, 0) + 1
        return key * 30_000

    with tiercache.Cache(l1_max_bytes=64 * 1024, loader=load) as c:
        got = c.get_many([b"a", b"bb", b"ccc"])
        assert got == {k: k * 30_000 for k in (b"a", b"bb", b"ccc")}
        assert calls == {b"a": 1, b"bb": 1, b"ccc": 1}


def test_put_many(disk_cache: tiercache.Cache) -> None:
    disk_cache.put_many({}, ttl=5)
    disk_cache.put_many({"a": "1", "b": "2"}, ttl=60)
    info = disk_cache.get_info("a")
    assert info is not None and info.expires_at is not None
    assert disk_cache["b"] == b"2"
    disk_cache.put_many(iter([("c", b"3")]))
    assert disk_cache.get_info("c").expires_at is None  # type: ignore[union-attr]


def test_put_many_stops_at_first_failure() -> None:
    with tiercache.Cache(max_value_size=4) as c:
        with pytest.raises(tiercache.TooLarge, match="pair 1"):
            c.put_many([("first", "ok"), ("second", "too long"), ("third", "ok")])
        assert "first" in c and "second" not in c and "third" not in c
        with pytest.raises(TypeError):
            c.put_many([("k", None)])  # type: ignore[list-item]
        with pytest.raises(ValueError):
            c.put_many([(1, 2, 3)])  # type: ignore[list-item]


def test_batches_after_close(cache: tiercache.Cache) -> None:
    cache.close()
    for call in (
        lambda: cache.get_many([]),
        lambda: cache.put_many({}),
        lambda: cache.get_info("k"),
        lambda: cache.touch("k"),
        lambda: cache.count(),
        lambda: cache.get_or_load("k", lambda: b"v"),
    ):
        with pytest.raises(tiercache.ClosedError):
            call()


# -- get_or_load ------------------------------------------------------------------


def test_get_or_load(cache: tiercache.Cache) -> None:
    cache_loads: List[bytes] = []
    cache.set_loader(lambda k: cache_loads.append(k) or b"cache:" + k)
    calls = []

    def mine() -> bytes:
        calls.append(1)
        return b"mine"

    assert cache.get_or_load("k", mine) == b"mine"
    assert cache.get_or_load("k", mine) == b"mine"
    assert cache["k"] == b"mine"
    assert len(calls) == 1 and cache_loads == []
    cache["p"] = b"put"
    assert cache.get_or_load("p", mine) == b"put" and len(calls) == 1
    with pytest.raises(tiercache.NotFound):
        cache.get_or_load("nf", lambda: None)
    assert "nf" not in cache
    assert cache.get_or_load("ttl", lambda: (b"v", 60)) == b"v"
    assert cache.get_info("ttl").expires_at is not None  # type: ignore[union-attr]
    assert cache.get_or_load("ttl2", lambda: "str", ttl=60) == b"str"
    assert cache.get_info("ttl2").expires_at is not None  # type: ignore[union-attr]
    with pytest.raises(TypeError):
        cache.get_or_load("k", b"not callable")  # type: ignore[arg-type]


def test_get_or_load_exception_is_reraised(cache: tiercache.Cache) -> None:
    class Boom(Exception):
        pass

    def fail() -> bytes:
        raise Boom("no")

    with pytest.raises(Boom):
        cache.get_or_load("k", fail)
    assert "k" not in cache
    with pytest.raises(tiercache.TooLarge):
        tiercache.Cache(max_value_size=2).get_or_load("k", lambda: b"too long")


def test_get_or_load_nested(cache: tiercache.Cache) -> None:
    def outer() -> bytes:
        return b"outer+" + cache.get_or_load("inner", lambda: b"inner")

    assert cache.get_or_load("outer", outer) == b"outer+inner"
    assert cache["inner"] == b"inner"


def test_get_or_load_single_flight_with_the_cache_loader(cache: tiercache.Cache) -> None:
    started = threading.Event()
    cache_loads: List[bytes] = []

    def slow(key: bytes) -> bytes:
        cache_loads.append(key)
        started.set()
        time.sleep(0.2)
        return b"from the cache's loader"

    cache.set_loader(slow)
    results: List[bytes] = []
    t = threading.Thread(target=lambda: results.append(cache["shared"]))
    t.start()
    assert started.wait(5)
    mine: List[int] = []
    # The load is running: this joins it (or, if it ended already, hits).
    got = cache.get_or_load("shared", lambda: mine.append(1) or b"mine")
    t.join()
    assert got == b"from the cache's loader" and results == [got]
    assert mine == [] and len(cache_loads) == 1


def test_get_or_load_many_threads_one_call(cache: tiercache.Cache) -> None:
    calls: List[int] = []
    barrier = threading.Barrier(8)
    results: List[bytes] = []

    def compute() -> bytes:
        calls.append(1)
        time.sleep(0.2)
        return b"answer"

    def worker() -> None:
        barrier.wait()
        results.append(cache.get_or_load("k", compute))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [b"answer"] * 8
    assert len(calls) == 1
