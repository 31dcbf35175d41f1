"""compact() and counter(name): tc_compact and tc_stats_get_counter."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import tiercache


def _churn(c: tiercache.Cache) -> None:
    """Fills several small segments, then kills most of their records."""
    for round_ in range(3):
        for i in range(200):
            c[f"k{i}"] = f"value {round_} {i} ".encode() * 4
    for i in range(0, 200, 2):
        del c[f"k{i}"]


def test_compact_drops_dead_records_and_keeps_live_ones(cache_dir: Path) -> None:
    with tiercache.Cache(cache_dir, segment_size=4096) as c:
        _churn(c)
        before = c.stats()
        segments_before = c.counter("l2_segments")
        assert segments_before > 2
        c.compact()
        after = c.stats()
        assert after.compactions > before.compactions
        assert after.l2_file_bytes < before.l2_file_bytes
        assert c.counter("l2_segments") < segments_before
        assert after.l2_entries == 100
        c.clear(memory_only=True)  # read the survivors back from disk
        for i in range(200):
            assert c.get(f"k{i}") == (None if i % 2 == 0 else f"value 2 {i} ".encode() * 4)
    with tiercache.Cache(cache_dir, segment_size=4096) as c:  # and after a restart
        assert c[b"k1"] == b"value 2 1 " * 4
        assert "k0" not in c


def test_compact_memory_only_is_a_no_op(cache: tiercache.Cache) -> None:
    cache["k"] = "v"
    cache.compact()
    assert cache["k"] == b"v"


def test_compact_after_close(cache: tiercache.Cache) -> None:
    cache.close()
    with pytest.raises(tiercache.ClosedError):
        cache.compact()


def test_every_stats_field_is_a_counter(disk_cache: tiercache.Cache) -> None:
    disk_cache["a"] = "1"
    disk_cache.get("a")
    disk_cache.get("absent")
    stats = disk_cache.stats()
    for field in dataclasses.fields(stats):
        assert disk_cache.counter(field.name) == int(getattr(stats, field.name)), field.name


def test_extra_counters(disk_cache: tiercache.Cache) -> None:
    assert disk_cache.counter("l2_readmissions") == 0
    assert disk_cache.counter("l2_segments") >= 1
    assert isinstance(disk_cache.counter("l2_segments"), int)


@pytest.mark.parametrize("name", ["no_such_counter", "", "L1_HITS", "l1_hits\0"])
def test_unknown_counter_is_key_error(cache: tiercache.Cache, name: str) -> None:
    with pytest.raises(KeyError) as info:
        cache.counter(name)
    assert isinstance(info.value, tiercache.NotFound)
    assert info.value.status == tiercache.Status.NOT_FOUND


def test_counter_name_must_be_str(cache: tiercache.Cache) -> None:
    with pytest.raises(TypeError):
        cache.counter(b"l1_hits")  # type: ignore[arg-type]


def test_counter_after_close(cache: tiercache.Cache) -> None:
    cache.close()
    with pytest.raises(tiercache.ClosedError):
        cache.counter("l1_hits")
