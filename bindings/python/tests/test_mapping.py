"""The dict-like API and every method, on memory-only and disk-backed caches."""

from __future__ import annotations

import datetime
import time

import pytest

import tiercache


def test_setitem_getitem_returns_bytes(cache: tiercache.Cache) -> None:
    cache["k"] = "v"
    assert cache["k"] == b"v"
    assert isinstance(cache["k"], bytes)


def test_str_keys_are_utf8(cache: tiercache.Cache) -> None:
    cache["clé"] = "välue ✓"
    assert cache["clé".encode("utf-8")] == "välue ✓".encode("utf-8")


@pytest.mark.parametrize("make", [bytes, bytearray, lambda b: memoryview(b)])
def test_bytes_like_keys_and_values(cache: tiercache.Cache, make) -> None:  # type: ignore[no-untyped-def]
    cache[make(b"\x00k\xff")] = make(b"\x00\x01v\xfe")
    assert cache[b"\x00k\xff"] == b"\x00\x01v\xfe"
    assert make(b"\x00k\xff") in cache


def test_memoryview_slice_is_honoured(cache: tiercache.Cache) -> None:
    cache[memoryview(b"xxkeyxx")[2:5]] = memoryview(b"__val__")[2:5]
    assert cache[b"key"] == b"val"


def test_other_types_are_refused(cache: tiercache.Cache) -> None:
    with pytest.raises(TypeError):
        cache[1] = b"v"  # type: ignore[index]
    with pytest.raises(TypeError):
        cache[b"k"] = 1  # type: ignore[assignment]
    with pytest.raises(TypeError):
        _ = 1 in cache


def test_missing_key_raises_keyerror(cache: tiercache.Cache) -> None:
    with pytest.raises(KeyError):
        cache["absent"]
    with pytest.raises(tiercache.NotFound) as info:
        cache["absent"]
    assert info.value.status == tiercache.Status.NOT_FOUND


def test_get_default(cache: tiercache.Cache) -> None:
    assert cache.get("absent") is None
    assert cache.get("absent", b"dflt") == b"dflt"
    cache["here"] = b"x"
    assert cache.get("here", b"dflt") == b"x"


def test_contains(cache: tiercache.Cache) -> None:
    assert "k" not in cache
    cache["k"] = b""
    assert "k" in cache


def test_empty_value(cache: tiercache.Cache) -> None:
    cache["e"] = b""
    assert cache["e"] == b""


def test_large_value(cache: tiercache.Cache) -> None:
    value = bytes(range(256)) * 4096  # 1 MiB
    cache["big"] = value
    assert cache["big"] == value


def test_overwrite(cache: tiercache.Cache) -> None:
    cache["k"] = "1"
    cache["k"] = "2"
    assert cache["k"] == b"2"


def test_delitem(cache: tiercache.Cache) -> None:
    cache["k"] = "v"
    del cache["k"]
    assert "k" not in cache
    with pytest.raises(KeyError):
        del cache["k"]


def test_iterates_over_bytes_keys(cache: tiercache.Cache) -> None:
    cache["str key"] = "v"
    cache[b"bytes key"] = "v"
    assert list(cache) == [b"bytes key", b"str key"]  # bytes, in byte order
    assert len(cache) == 2


def test_put_with_ttl_seconds(cache: tiercache.Cache) -> None:
    cache.put("short", "v", ttl=0.05)
    cache.put("long", "v", ttl=60)
    cache.put("delta", "v", ttl=datetime.timedelta(milliseconds=50))
    assert cache["short"] == b"v"
    time.sleep(0.15)
    assert cache.get("short") is None
    assert cache.get("delta") is None
    assert "short" not in cache
    assert cache["long"] == b"v"


@pytest.mark.parametrize("ttl", [0, -1, float("nan"), float("inf")])
def test_put_with_bad_ttl(cache: tiercache.Cache, ttl: float) -> None:
    with pytest.raises(ValueError):
        cache.put("k", "v", ttl=ttl)


def test_default_ttl_in_seconds() -> None:
    with tiercache.Cache(default_ttl=0.05) as c:
        c["k"] = "v"
        c.put("kept", "v", ttl=60)
        time.sleep(0.15)
        assert c.get("k") is None
        assert c["kept"] == b"v"


def test_remove_prefix(disk_cache: tiercache.Cache) -> None:
    for key in ("user:1", "user:2", "user:3", "session:1"):
        disk_cache[key] = b"x"
    assert disk_cache.remove_prefix("user:") == 3
    assert "user:1" not in disk_cache
    assert disk_cache["session:1"] == b"x"
    assert disk_cache.remove_prefix(b"nothing") == 0
    assert disk_cache.remove_prefix("") == 1  # an empty prefix matches every key
    assert "session:1" not in disk_cache


def test_clear(disk_cache: tiercache.Cache) -> None:
    disk_cache["a"] = "1"
    disk_cache["b"] = "2"
    disk_cache.clear()
    assert disk_cache.get("a") is None
    assert disk_cache.stats().l2_entries == 0


def test_clear_memory_only_keeps_disk(disk_cache: tiercache.Cache) -> None:
    disk_cache["a"] = "1"
    disk_cache.clear(memory_only=True)
    assert disk_cache.stats().l1_entries == 0
    assert disk_cache["a"] == b"1"
    assert disk_cache.stats().l2_hits == 1


def test_flush(disk_cache: tiercache.Cache) -> None:
    disk_cache["a"] = "1"
    disk_cache.flush()
    assert disk_cache.stats().l2_entries == 1


def test_purge_expired(disk_cache: tiercache.Cache) -> None:
    disk_cache.put("a", "1", ttl=0.03)
    disk_cache.put("b", "2", ttl=0.03)
    disk_cache["c"] = "3"
    time.sleep(0.1)
    assert disk_cache.purge_expired() == 2
    assert disk_cache.purge_expired() == 0
    assert disk_cache["c"] == b"3"


def test_stats_is_frozen_dataclass(disk_cache: tiercache.Cache) -> None:
    disk_cache["a"] = "1"
    disk_cache["a"]
    disk_cache.get("zz")
    s = disk_cache.stats()
    assert isinstance(s, tiercache.Stats)
    assert s.l1_hits == 1 and s.misses == 1 and s.l1_entries == 1 and s.l2_entries == 1
    assert s.l2_state == tiercache.L2State.OK
    with pytest.raises(AttributeError):
        s.l1_hits = 5  # type: ignore[misc]


def test_memory_only_stats(cache: tiercache.Cache) -> None:
    assert cache.stats().l2_state == tiercache.L2State.NONE


def test_l1_bounds_evict() -> None:
    with tiercache.Cache(l1_max_entries=2) as c:
        for i in range(10):
            c[f"k{i}"] = b"v"
        s = c.stats()
        assert s.l1_entries <= 2
        assert s.l1_evictions >= 8


def test_small_l1_serves_from_disk(cache_dir) -> None:  # type: ignore[no-untyped-def]
    with tiercache.Cache(cache_dir, l1_max_entries=1) as c:
        for i in range(5):
            c[f"k{i}"] = f"v{i}"
        assert [c[f"k{i}"] for i in range(5)] == [f"v{i}".encode() for i in range(5)]
        assert c.stats().l2_hits >= 4


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(write_policy="back"),
        dict(l1_policy="lru"),
        dict(l1_policy="s3fifo", l1_max_entries=100),
        dict(sync_policy="never"),
        dict(sync_policy="always"),
        dict(sync_interval_ms=10),
        dict(sync_policy="interval", sync_interval_ms=10),
        dict(l1_max_bytes=1 << 20, l2_max_bytes=1 << 30),
        dict(max_value_size=1024, segment_size=1 << 16),
    ],
)
def test_options_accepted(cache_dir, kwargs) -> None:  # type: ignore[no-untyped-def]
    with tiercache.Cache(cache_dir, **kwargs) as c:
        c["k"] = "v"
        assert c["k"] == b"v"


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(write_policy="sideways"), ValueError),
        (dict(l1_policy="arc"), ValueError),
        (dict(sync_policy="sometimes"), ValueError),
        (dict(sync_policy="interval"), ValueError),
        (dict(sync_policy="never", sync_interval_ms=5), ValueError),
        (dict(l1_max_entries=-1), ValueError),
        (dict(l1_max_entries="3"), TypeError),
        (dict(default_ttl=0), ValueError),
        (dict(max_value_size=0), tiercache.InvalidArgument),  # refused by the library
        (dict(segment_size=1), tiercache.InvalidArgument),
    ],
)
def test_options_refused(kwargs, error) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error):
        tiercache.Cache(**kwargs)


def test_write_back(cache_dir) -> None:  # type: ignore[no-untyped-def]
    with tiercache.Cache(cache_dir, write_policy="back") as c:
        c["k"] = "v"
        assert c["k"] == b"v"
        c.flush()
        assert c.stats().l2_entries == 1


def test_repr(cache: tiercache.Cache, disk_cache: tiercache.Cache) -> None:
    assert "memory only" in repr(cache)
    assert "dir=" in repr(disk_cache)


def test_library_version() -> None:
    assert tiercache.library_version().count(".") >= 1


@pytest.mark.parametrize("policy, hot_kept", [("lru", False), ("s3fifo", True)])
def test_l1_policy_chooses_what_a_scan_evicts(policy: str, hot_kept: bool) -> None:
    """Ten keys hit twice, then a scan of a hundred new keys through an L1 of
    twenty entries: S3-FIFO keeps the hot keys, LRU loses them."""
    with tiercache.Cache(l1_max_entries=20, l1_max_bytes=0, l1_policy=policy) as c:
        for i in range(10):
            c[f"hot{i}"] = b"v"
        for _ in range(2):
            for i in range(10):
                assert c[f"hot{i}"] == b"v"
        for i in range(100):
            c[f"scan{i}"] = b"v"
        kept = sum(f"hot{i}" in c for i in range(10))
        assert (kept == 10) == hot_kept, f"{policy}: {kept} hot keys kept"
