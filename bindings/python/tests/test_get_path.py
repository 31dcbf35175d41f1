"""get's buffers: values larger than a scratch buffer, nested and concurrent gets."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import List

import pytest

import tiercache
from tiercache import cache as cache_module


@pytest.mark.parametrize("size", [0, 1, 100, 64 * 1024, 64 * 1024 + 1, 300_000, 1024 * 1024 + 7, 3_000_000])
def test_values_of_every_size(cache_dir: Path, size: int) -> None:
    value = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    with tiercache.Cache(cache_dir) as c:
        c["k"] = value
        assert c["k"] == value
        assert c.get("k") == value
        assert c["k"] == value  # again, with the grown buffer
        c.clear(memory_only=True)
        assert c.get(b"k") == value  # from disk


def test_value_growing_between_gets(cache: tiercache.Cache) -> None:
    for size in (10, 70_000, 10, 2_000_000, 500_000, 0):
        cache["k"] = b"v" * size
        assert cache["k"] == b"v" * size


def test_large_value_from_loader_is_loaded_once() -> None:
    big = b"L" * 200_000
    calls: List[bytes] = []

    def loader(key: bytes) -> bytes:
        calls.append(key)
        return big

    with tiercache.Cache(loader=loader) as c:
        assert c["big"] == big
        assert calls == [b"big"]
        assert c.stats().l3_loads == 1


def test_loader_answer_kept_even_if_not_cached() -> None:
    """A value too large for L1 (memory only) is not kept: the get still returns
    the loader's answer, with one loader call, although it exceeds the buffer."""
    big = b"Z" * 300_000
    calls: List[bytes] = []

    def loader(key: bytes) -> bytes:
        calls.append(key)
        return big

    with tiercache.Cache(l1_max_bytes=256 * 1024, loader=loader) as c:
        assert c.get("k") == big
        assert calls == [b"k"]


def test_loader_calling_get_uses_its_own_buffer() -> None:
    with tiercache.Cache() as c:
        c["inner"] = b"i" * 100_000

        def loader(key: bytes) -> bytes:
            inner = c["inner"]
            return b"outer:" + inner[:10] + key

        c.set_loader(loader)
        assert c.get("x") == b"outer:" + b"i" * 10 + b"x"
        assert c["inner"] == b"i" * 100_000


@pytest.mark.parametrize("with_loader", [False, True])
def test_concurrent_gets_of_different_sizes(with_loader: bool) -> None:
    """Without a loader a get makes its bytes in the library (tc_get_made) and
    takes no buffer of the pool; with one, each get takes a pooled buffer."""
    sizes = [1, 1000, 70_000, 1_200_000]
    errors: List[str] = []
    with tiercache.Cache(l1_max_bytes=64 * 1024 * 1024, loader=(lambda key: None) if with_loader else None) as c:
        for s in sizes:
            c[f"k{s}"] = bytes([s % 251]) * s

        def worker(t: int) -> None:
            for i in range(300):
                s = sizes[(i + t) % len(sizes)]
                got = c.get(f"k{s}")
                if got != bytes([s % 251]) * s:
                    errors.append(f"{s}: {len(got or b'')}")

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(6)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=120)
        if with_loader:
            # Every scratch buffer is back in the pool (at most one per thread
            # that ran a get at once), none over the size kept.
            assert 1 <= len(c._pool) <= 6
            assert all(s[2] <= cache_module._SCRATCH_KEEP for s in c._pool)
        else:
            assert len(c._pool) == 0
    assert not errors, errors[:5]


def test_miss_does_not_read_last_error(cache: tiercache.Cache, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail() -> str:
        raise AssertionError("tc_last_error read on a miss")

    monkeypatch.setattr(tiercache.errors, "last_error", fail)
    assert cache.get("absent") is None
    assert cache.get("absent", 5) == 5
    with pytest.raises(KeyError):
        cache["absent"]


@pytest.mark.parametrize("l1_max_bytes", [64 * 1024 * 1024, 256 * 1024])
def test_value_over_the_pool_buffer_from_loader_is_loaded_once(l1_max_bytes: int) -> None:
    """A value larger than the pooled buffers is read with tc_get_value (one
    copy); a loader's answer of that size still costs one loader call, whether
    memory keeps it or not."""
    big = bytes(range(256)) * (3 * 1024 * 1024 // 256)
    calls: List[bytes] = []

    def loader(key: bytes) -> bytes:
        calls.append(key)
        return big

    with tiercache.Cache(l1_max_bytes=l1_max_bytes, loader=loader) as c:
        assert c.get("k") == big
        assert calls == [b"k"]
        if l1_max_bytes > len(big):
            assert c["k"] == big  # from memory now, through tc_get_value
            assert calls == [b"k"]


def test_failures_of_a_get_without_loader_come_back_as_errors(cache: tiercache.Cache) -> None:
    # A get without a loader has its answer made by tc_get_made: the bytes of
    # a value, or the status as an int: each failure must still become its
    # own exception and message.
    with pytest.raises(tiercache.TooLarge, match="tc_get_made: key: 65537 bytes"):
        cache.get(b"k" * 65537)
    with pytest.raises(tiercache.InvalidArgument, match="tc_get_made"):
        cache[b""]
    with pytest.raises(KeyError):
        cache[b"absent"]
    assert cache.get(b"absent", 7) == 7
    cache[b"empty"] = b""
    assert cache[b"empty"] == b"" and cache.get(b"empty", 7) == b""
    cache.close()
    with pytest.raises(tiercache.ClosedError):
        cache.get(b"k")
    with pytest.raises(tiercache.ClosedError):
        cache[b"k"]


def test_without_cpython_api_gets_take_the_loader_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside CPython (no ctypes.pythonapi, so no tc_made: _native.made_for
    gives None) every get takes the CDLL path a get with a loader takes: the
    same answers, through the pooled buffers."""
    monkeypatch.setattr(cache_module, "made_for", lambda handle: None)
    with tiercache.Cache() as c:
        assert not c._fast
        c[b"k"] = b"v" * 100
        c[b"big"] = b"b" * 2_000_000
        assert c.get(b"k") == b"v" * 100 and c[b"big"] == b"b" * 2_000_000
        assert c.get(b"absent", 7) == 7
        with pytest.raises(KeyError):
            c[b"absent"]
        with pytest.raises(tiercache.TooLarge):
            c.get(b"k" * 65537)
        assert len(c._pool) == 1
        c.set_loader(lambda key: b"loaded")
        c.set_loader(None)
        assert not c._fast, "removing the loader does not bring tc_get_made back"
        assert c.get(b"new") is None
