"""Tags and file dependencies: put(tags=, depends_on=), remove_tag, loaders
answering with tiercache.Entry, memoize(tags=), and the errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import List

import pytest

import tiercache
from tiercache import Entry


def test_put_with_tags_and_remove_tag(cache_dir: Path) -> None:
    with tiercache.Cache(cache_dir) as c:
        c.put("u1", "a", tags=["user:1", "users"])
        c.put("u2", "b", ttl=3600, tags=("users",))
        c.put("u3", "c", tags=[b"users", bytearray(b"\x00bin\xff")])
        c.put("plain", "p")
        assert c.get_info("u1").tag_count == 2
        assert c.get_info("u2").tag_count == 1
        assert c.get_info("u2").expires_at is not None
        assert c.get_info("plain").tag_count == 0
        assert c.remove_tag("user:1") == 1
        assert "u1" not in c
        assert c["u2"] == b"b"
        assert c.remove_tag("nobody") == 0
    # Tags persist; remove_tag finds entries on disk after a reopen.
    with tiercache.Cache(cache_dir) as c:
        assert c.get_info("u3").tag_count == 2
        assert "u1" not in c
        assert c.remove_tag(b"\x00bin\xff") == 1
        assert c.remove_tag("users") == 1
        assert "u2" not in c and "u3" not in c
        assert c["plain"] == b"p"
    with tiercache.Cache(cache_dir) as c:
        assert "u2" not in c and "u3" not in c


def test_tag_errors(cache: tiercache.Cache) -> None:
    with pytest.raises(tiercache.InvalidArgument):
        cache.put("k", "v", tags=[""])
    with pytest.raises(tiercache.TooLarge) as e:
        cache.put("k", "v", tags=["x" * 256])
    assert isinstance(e.value, ValueError)
    with pytest.raises(tiercache.TooLarge):
        cache.put("k", "v", tags=[str(i) for i in range(33)])
    with pytest.raises(TypeError, match="single str"):
        cache.put("k", "v", tags="users")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        cache.put("k", "v", tags=[1])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        cache.put("k", "v", tags=5)  # type: ignore[arg-type]
    assert "k" not in cache
    cache.put("k", "v", tags=[str(i) for i in range(32)] + ["0"])  # a repeat counts once
    assert cache.get_info("k").tag_count == 32
    with pytest.raises(tiercache.InvalidArgument):
        cache.remove_tag("")
    with pytest.raises(tiercache.TooLarge):
        cache.remove_tag("x" * 256)
    with pytest.raises(TypeError):
        cache.remove_tag(None)  # type: ignore[arg-type]
    assert cache.remove_tag("31") == 1


def test_depends_on(tmp_path: Path) -> None:
    dep = tmp_path / "config.toml"
    dep.write_text("v1")
    with tiercache.Cache(tmp_path / "cache") as c:
        missing = tmp_path / "missing"
        with pytest.raises(tiercache.InvalidArgument, match=re.escape(str(missing))):
            c.put("k", "v", depends_on=missing)
        with pytest.raises(TypeError):
            c.put("k", "v", depends_on=42)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            c.put("k", "v", depends_on="a\0b")

        c.put("cfg", "parsed v1", depends_on=dep)  # a PathLike
        c.put("cfg-str", "parsed v1", depends_on=str(dep))  # a str
        assert c["cfg"] == b"parsed v1"
        before = c.counter("dependency_misses")
        dep.write_text("version 2, longer")
        assert c.get("cfg") is None
        assert c.counter("dependency_misses") >= before + 1

        calls: List[bytes] = []

        def loader(key: bytes) -> bytes:
            calls.append(key)
            return b"loaded " + key

        c.set_loader(loader)
        assert c["cfg-str"] == b"loaded cfg-str"
        assert calls == [b"cfg-str"]
        c.put("cfg", "parsed v2", depends_on=dep)
        dep.unlink()
        assert c["cfg"] == b"loaded cfg"
        assert calls == [b"cfg-str", b"cfg"]


def test_depends_on_survives_reopen(tmp_path: Path) -> None:
    dep = tmp_path / "dep"
    dep.write_text("one")
    with tiercache.Cache(tmp_path / "cache") as c:
        c.put("k", "v", depends_on=dep)
    with tiercache.Cache(tmp_path / "cache") as c:
        assert c["k"] == b"v"
        dep.write_text("three")
        assert c.get("k") is None


def test_loader_returns_entry(tmp_path: Path) -> None:
    dep = tmp_path / "dep"
    dep.write_text("1")
    calls: List[bytes] = []

    def loader(key: bytes) -> object:
        calls.append(key)
        if key == b"bad":
            return Entry(b"x", tags=[""])
        return Entry(b"v:" + key, ttl=3600, tags=["loaded", key], depends_on=dep)

    with tiercache.Cache(tmp_path / "cache", loader=loader) as c:
        assert c["a"] == b"v:a"
        assert c["b"] == b"v:b"
        info = c.get_info("a")
        assert info.tag_count == 2 and info.expires_at is not None
        with pytest.raises(tiercache.InvalidArgument):  # the loader's answer, re-raised
            c["bad"]
        assert "bad" not in c
        assert c.remove_tag("a") == 1
        assert c.remove_tag("loaded") == 1
        n = len(calls)
        assert c["a"] == b"v:a"
        assert len(calls) == n + 1
        dep.write_text("22")
        assert c["a"] == b"v:a"
        assert len(calls) == n + 2


def test_entry_checks_its_arguments() -> None:
    with pytest.raises(TypeError):
        Entry(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Entry(b"v", ttl=-1)
    with pytest.raises(TypeError):
        Entry(b"v", tags="one")  # type: ignore[arg-type]
    e = Entry("v", tags=["t"], depends_on=Path("/x"))
    assert e.value == b"v" and e.tags == (b"t",) and e.depends_on == b"/x"
    assert "Entry(" in repr(e)


def test_get_or_load_entry(cache: tiercache.Cache) -> None:
    assert cache.get_or_load("r", lambda: Entry("report", tags=["reports"])) == b"report"
    assert cache.get_info("r").tag_count == 1
    assert cache.remove_tag("reports") == 1
    assert "r" not in cache


def test_memoize_with_tags(cache: tiercache.Cache) -> None:
    calls: List[int] = []

    @cache.memoize(ttl=60, tags=["reports", "monthly"])
    def report(n: int) -> dict:
        calls.append(n)
        return {"n": n}

    assert report(1) == {"n": 1}
    assert report(2) == {"n": 2}
    assert report(1) == {"n": 1}
    assert calls == [1, 2]
    info = cache.get_info(report.cache_key(1))
    assert info.tag_count == 2 and info.expires_at is not None
    assert cache.remove_tag("monthly") == 2
    assert report(1) == {"n": 1}
    assert calls == [1, 2, 1]

    with pytest.raises(tiercache.InvalidArgument):
        cache.memoize(tags=[""])
    with pytest.raises(TypeError):
        cache.memoize(tags="reports")  # type: ignore[arg-type]


def test_tags_after_close() -> None:
    c = tiercache.Cache()
    c.close()
    with pytest.raises(tiercache.ClosedError):
        c.put("k", "v", tags=["t"])
    with pytest.raises(tiercache.ClosedError):
        c.remove_tag("t")
