"""The disk tier across close and reopen."""

from __future__ import annotations

from pathlib import Path

import tiercache


def test_values_survive_reopen(cache_dir: Path) -> None:
    with tiercache.Cache(cache_dir) as c:
        for i in range(100):
            c[f"k{i}"] = f"v{i}" * i
        c[b"\x00bin"] = b"\xff" * 1000
    with tiercache.Cache(cache_dir) as c:
        assert c.stats().l2_entries == 101
        assert all(c[f"k{i}"] == (f"v{i}" * i).encode() for i in range(100))
        assert c[b"\x00bin"] == b"\xff" * 1000
        assert c.stats().l2_hits == 101


def test_removals_survive_reopen(cache_dir: Path) -> None:
    with tiercache.Cache(cache_dir) as c:
        c["keep"] = "1"
        c["gone"] = "2"
        c["ns:a"] = "3"
        c["ns:b"] = "4"
        del c["gone"]
        assert c.remove_prefix("ns:") == 2
    with tiercache.Cache(cache_dir) as c:
        assert c["keep"] == b"1"
        assert "gone" not in c and "ns:a" not in c and "ns:b" not in c


def test_clear_survives_reopen(cache_dir: Path) -> None:
    with tiercache.Cache(cache_dir) as c:
        c["k"] = "v"
        c.clear()
    with tiercache.Cache(cache_dir) as c:
        assert c.get("k") is None


def test_write_back_persists_on_close(cache_dir: Path) -> None:
    with tiercache.Cache(cache_dir, write_policy="back") as c:
        c["k"] = "v"
    with tiercache.Cache(cache_dir) as c:
        assert c["k"] == b"v"


def test_overwrite_survives_reopen(cache_dir: Path) -> None:
    with tiercache.Cache(cache_dir) as c:
        c["k"] = "old"
        c["k"] = "new"
    with tiercache.Cache(cache_dir) as c:
        assert c["k"] == b"new"


def test_many_segments(cache_dir: Path) -> None:
    value = b"v" * 1000
    with tiercache.Cache(cache_dir, segment_size=8192) as c:
        for i in range(200):
            c[f"k{i}"] = value
    with tiercache.Cache(cache_dir, l1_max_entries=1) as c:
        assert all(c[f"k{i}"] == value for i in range(200))


def test_pathlike_and_str_dir(cache_dir: Path) -> None:
    with tiercache.Cache(str(cache_dir)) as c:
        c["k"] = "v"
        assert c.dir == str(cache_dir)
    with tiercache.Cache(cache_dir) as c:
        assert c["k"] == b"v"


def test_forgotten_cache_releases_its_directory(cache_dir: Path) -> None:
    import gc

    c = tiercache.Cache(cache_dir)
    c["k"] = "v"
    del c
    gc.collect()
    with tiercache.Cache(cache_dir) as again:
        assert again["k"] == b"v"
