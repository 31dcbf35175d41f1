"""close(), the context manager, and every method after close."""

from __future__ import annotations

from pathlib import Path

import pytest

import tiercache


def test_close_is_idempotent() -> None:
    c = tiercache.Cache()
    assert not c.closed
    c.close()
    c.close()
    assert c.closed
    assert "closed" in repr(c)


def test_context_manager_closes(cache_dir: Path) -> None:
    with tiercache.Cache(cache_dir) as c:
        c["k"] = "v"
    assert c.closed
    with tiercache.Cache(cache_dir) as c2:  # the lock was released
        assert c2["k"] == b"v"


def test_context_manager_closes_on_error(cache_dir: Path) -> None:
    with pytest.raises(RuntimeError):
        with tiercache.Cache(cache_dir) as c:
            raise RuntimeError
    assert c.closed
    tiercache.Cache(cache_dir).close()


@pytest.mark.parametrize(
    "op",
    [
        lambda c: c["k"],
        lambda c: c.get("k"),
        lambda c: c.__setitem__("k", "v"),
        lambda c: c.put("k", "v", ttl=1),
        lambda c: "k" in c,
        lambda c: c.__delitem__("k"),
        lambda c: c.remove_prefix("k"),
        lambda c: c.clear(),
        lambda c: c.clear(memory_only=True),
        lambda c: c.flush(),
        lambda c: c.purge_expired(),
        lambda c: c.stats(),
        lambda c: c.set_loader(None),
        lambda c: c.set_loader(lambda k: b""),
    ],
)
def test_use_after_close_raises(op) -> None:  # type: ignore[no-untyped-def]
    c = tiercache.Cache()
    c.close()
    with pytest.raises(tiercache.ClosedError, match="closed"):
        op(c)
    # ClosedError is also an InvalidArgument / ValueError, like a closed file.
    with pytest.raises(ValueError):
        op(c)


def test_failed_open_leaves_nothing_to_close(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("")
    with pytest.raises(tiercache.Error):
        tiercache.Cache(f)
