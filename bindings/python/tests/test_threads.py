"""Many threads on one cache: ctypes releases the GIL, so they really overlap in C."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import List

import pytest

import tiercache


@pytest.mark.parametrize("on_disk", [False, True])
def test_threads_hammer_put_get(cache_dir: Path, on_disk: bool) -> None:
    n_threads, n_ops = 8, 2000
    errors: List[str] = []
    with tiercache.Cache(cache_dir if on_disk else None, l1_max_entries=500) as c:

        def worker(t: int) -> None:
            try:
                for i in range(n_ops):
                    key = f"t{t}:k{i % 300}"
                    value = f"{key}:{i}".encode()
                    c[key] = value
                    got = c.get(key)
                    # This thread is the key's only writer.  Memory only, other
                    # threads' puts may have evicted it (a miss); never a wrong value.
                    if got != value and (on_disk or got is not None):
                        errors.append(f"{key}: {got!r} != {value!r}")
                    shared = c.get(f"shared{i % 50}")
                    if shared is not None and not shared.startswith(b"shared"):
                        errors.append(f"shared: {shared!r}")
                    c[f"shared{i % 50}"] = f"shared by {t}"
                    if i % 97 == 0:
                        c.stats()
                        _ = f"t{t}:k0" in c
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=120)
        assert not errors, errors[:5]
        s = c.stats()
        assert s.l1_entries <= 500
        if on_disk:
            assert s.l2_entries == n_threads * 300 + 50


def test_close_waits_for_running_calls() -> None:
    """close() while other threads work: they finish or get ClosedError, never a crash."""
    c = tiercache.Cache()
    c["k"] = "v"
    stop = threading.Event()
    outcomes: List[str] = []

    def worker() -> None:
        while not stop.is_set():
            try:
                c["k"] = b"v" * 100
                c.get("k")
            except tiercache.ClosedError:
                outcomes.append("closed")
                return
            except Exception as e:  # noqa: BLE001
                outcomes.append(repr(e))
                return

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for th in threads:
        th.start()
    c.close()
    stop.set()
    for th in threads:
        th.join(timeout=30)
    assert outcomes == ["closed"] * len(outcomes)
