"""One exception class per tc_status, with the library's message."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import tiercache
from tiercache import Status

from conftest import PYTHON, subprocess_env


def test_hierarchy() -> None:
    assert issubclass(tiercache.NotFound, KeyError)
    assert issubclass(tiercache.InvalidArgument, ValueError)
    assert issubclass(tiercache.TooLarge, ValueError)
    assert issubclass(tiercache.StorageError, OSError)
    assert issubclass(tiercache.ClosedError, tiercache.InvalidArgument)
    for cls, status in [
        (tiercache.NotFound, Status.NOT_FOUND),
        (tiercache.InvalidArgument, Status.INVALID_ARGUMENT),
        (tiercache.TooLarge, Status.TOO_LARGE),
        (tiercache.StorageError, Status.IO_ERROR),
        (tiercache.Locked, Status.LOCKED),
        (tiercache.Corrupt, Status.CORRUPT),
        (tiercache.LoaderFailed, Status.LOADER_FAILED),
        (tiercache.BufferTooSmall, Status.BUFFER_TOO_SMALL),
        (tiercache.Panic, Status.PANIC),
        (tiercache.ClosedError, Status.CLOSED),
    ]:
        assert issubclass(cls, tiercache.Error)
        assert cls.status == status


@pytest.mark.parametrize(
    "op",
    [
        lambda c: c.put(b"", b"v"),
        lambda c: c[b""],
        lambda c: c.get(""),
        lambda c: b"" in c,
        lambda c: c.__delitem__(""),
    ],
)
def test_empty_key_is_invalid_argument(cache: tiercache.Cache, op) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(tiercache.InvalidArgument) as info:
        op(cache)
    assert info.value.status == Status.INVALID_ARGUMENT
    assert info.value.message  # tc_last_error() explains
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "op",
    [
        lambda c, k: c.put(k, b"v"),
        lambda c, k: c[k],
        lambda c, k: k in c,
        lambda c, k: c.__delitem__(k),
    ],
)
def test_key_over_64k_is_too_large(cache: tiercache.Cache, op) -> None:  # type: ignore[no-untyped-def]
    key = b"a" * 65537
    with pytest.raises(tiercache.TooLarge) as info:
        op(cache, key)
    assert info.value.status == Status.TOO_LARGE
    assert info.value.message


def test_key_of_64k_is_fine(cache: tiercache.Cache) -> None:
    key = b"a" * 65536
    cache[key] = b"v"
    assert cache[key] == b"v"


def test_value_over_max_is_too_large() -> None:
    with tiercache.Cache(max_value_size=16) as c:
        c["ok"] = b"x" * 16
        with pytest.raises(tiercache.TooLarge):
            c["big"] = b"x" * 17
        assert "big" not in c


def test_error_str_names_status_and_message(cache: tiercache.Cache) -> None:
    with pytest.raises(tiercache.Error) as info:
        cache[b""]
    text = str(info.value)
    assert "INVALID_ARGUMENT" in text and info.value.message in text


def test_dir_that_is_a_file(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_bytes(b"x")
    with pytest.raises(tiercache.Error) as info:
        tiercache.Cache(f)
    assert info.value.status in (Status.INVALID_ARGUMENT, Status.IO_ERROR)
    assert str(f) in info.value.message


def test_locked_in_same_process(cache_dir: Path) -> None:
    with tiercache.Cache(cache_dir):
        with pytest.raises(tiercache.Locked) as info:
            tiercache.Cache(cache_dir)
        assert info.value.status == Status.LOCKED
        assert info.value.message
    # Closing released the lock.
    with tiercache.Cache(cache_dir) as again:
        again["k"] = "v"


_HOLDER = textwrap.dedent(
    """
    import sys, tiercache
    c = tiercache.Cache(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()
    c.close()
    """
)

_OPENER = textwrap.dedent(
    """
    import sys, tiercache
    try:
        tiercache.Cache(sys.argv[1]).close()
    except tiercache.Locked as e:
        print("locked", e.message)
        sys.exit(3)
    """
)


def test_locked_by_another_process(cache_dir: Path) -> None:
    holder = subprocess.Popen(
        [PYTHON, "-c", _HOLDER, str(cache_dir)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env=subprocess_env(),
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(tiercache.Locked):
            tiercache.Cache(cache_dir)
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        assert holder.wait(timeout=30) == 0
    tiercache.Cache(cache_dir).close()  # free again


def test_other_process_sees_our_lock(cache_dir: Path) -> None:
    with tiercache.Cache(cache_dir):
        result = subprocess.run(
            [PYTHON, "-c", _OPENER, str(cache_dir)], capture_output=True, text=True, env=subprocess_env(), timeout=60
        )
        assert result.returncode == 3, result.stderr
        assert result.stdout.startswith("locked")
    result = subprocess.run([PYTHON, "-c", _OPENER, str(cache_dir)], capture_output=True, text=True, env=subprocess_env(), timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_last_error_is_per_thread(cache: tiercache.Cache) -> None:
    """The message read belongs to the failing call even if another thread fails meanwhile."""
    import threading

    messages = []

    def fail_empty() -> None:
        for _ in range(200):
            try:
                cache[b""]
            except tiercache.InvalidArgument as e:
                messages.append(e.message)

    def fail_long() -> None:
        for _ in range(200):
            try:
                cache[b"a" * 70000]
            except tiercache.TooLarge as e:
                messages.append(e.message)

    threads = [threading.Thread(target=fail_empty), threading.Thread(target=fail_long)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(messages) == 400
    assert len(set(messages)) == 2
