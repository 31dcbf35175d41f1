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


@pytest.mark.parametrize("with_loader", [False, True], ids=["no-loader", "loader"])
@pytest.mark.parametrize("on_disk", [False, True], ids=["memory", "disk"])
def test_close_while_threads_hammer(cache_dir: Path, on_disk: bool, with_loader: bool) -> None:
    """close() while 8 threads call every kind of method: each call answers or
    raises ClosedError (and only ClosedError once it has), never a crash."""
    for _ in range(5):
        c = tiercache.Cache(cache_dir if on_disk else None, l1_max_entries=100)
        if with_loader:
            # Calls back into the cache, racing with close() too.
            c.set_loader(lambda key: None if key.startswith(b"none") else bytes(key) + (b"!" if "x" in c else b"?"))
        started = threading.Barrier(9)
        outcomes: List[str] = []

        def worker(t: int) -> None:
            closed = 0
            i = 0
            started.wait()
            while closed < 30:
                i += 1
                key = f"t{t}:{i % 50}"
                try:
                    step = i % 8
                    if step < 2:
                        c[key] = key * 10
                    elif step == 2:
                        c.get(key)
                    elif step == 3:
                        c.get(f"miss{i}")
                    elif step == 4:
                        _ = key in c
                    elif step == 5:
                        try:
                            del c[key]
                        except KeyError:
                            pass
                    elif step == 6:
                        c.stats()
                    else:
                        c.get(f"none{i}", b"default")
                    if closed:
                        outcomes.append(f"answered after ClosedError (step {step})")
                        return
                except tiercache.ClosedError:
                    closed += 1
                except Exception as e:  # noqa: BLE001
                    outcomes.append(repr(e))
                    return
            outcomes.append("closed")

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        started.wait()
        c.close()
        for th in threads:
            th.join(timeout=60)
        assert not any(th.is_alive() for th in threads)
        assert outcomes == ["closed"] * len(threads), outcomes[:5]
        c.close()
        del c
