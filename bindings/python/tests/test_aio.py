"""tiercache.aio.AsyncCache: coroutine API, single flight in the event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Dict, List

import pytest

import tiercache
from tiercache.aio import AsyncCache


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_basic_ops(cache: tiercache.Cache) -> None:
    async def main() -> None:
        ac = AsyncCache(cache)
        assert await ac.get("a") is None
        assert await ac.get("a", b"d") == b"d"
        await ac.put("a", "1")
        assert await ac.get("a") == b"1"
        assert await ac.contains("a")
        await ac.put("t", b"x", ttl=60, tags=["grp"])
        assert (await ac.get_info("t")) is not None
        assert await ac.touch("t", 120)
        assert await ac.remove_tag("grp") == 1
        await ac.put_many({"m1": b"1", "m2": b"2"})
        assert await ac.get_many(["m1", "m2", "zz"]) == {"m1": b"1", "m2": b"2"}
        assert await ac.remove("a") is True
        assert await ac.remove("a") is False
        assert (await ac.count()).entries == 2
        assert await ac.remove_prefix("m") == 2
        await ac.flush()
        assert (await ac.stats()).l1_hits >= 0
        await ac.clear()

    run(main())
    assert not cache.closed  # a wrapped cache is not closed by the wrapper


def test_async_with_opens_and_closes(cache_dir: Path) -> None:
    async def main() -> tiercache.Cache:
        async with AsyncCache(cache_dir, default_ttl=60) as ac:
            await ac.put("k", b"v")
            assert await ac.get("k") == b"v"
            return ac.cache

    c = run(main())
    assert c.closed
    with tiercache.Cache(cache_dir) as again:
        assert again["k"] == b"v"


def test_wrapped_cache_owns_flag(cache_dir: Path) -> None:
    c = tiercache.Cache(cache_dir)

    async def main() -> None:
        async with AsyncCache(c, owns=True):
            pass

    run(main())
    assert c.closed
    with pytest.raises(TypeError):
        AsyncCache(c, default_ttl=1)


def test_single_flight_many_tasks(cache: tiercache.Cache) -> None:
    calls: Dict[str, int] = {}

    async def main() -> None:
        ac = AsyncCache(cache)

        def loader(name: str):  # type: ignore[no-untyped-def]
            async def load() -> bytes:
                calls[name] = calls.get(name, 0) + 1
                await asyncio.sleep(0.05)
                return name.encode() * 2

            return load

        keys = [f"k{i % 10}" for i in range(200)]
        results = await asyncio.gather(*(ac.get_or_load(k, loader(k)) for k in keys))
        assert results == [k.encode() * 2 for k in keys]
        # now cached: no more calls
        assert await ac.get_or_load("k3", loader("k3")) == b"k3k3"
        assert not ac._inflight

    run(main())
    assert calls == {f"k{i}": 1 for i in range(10)}
    assert cache.stats().l3_loads == 10


def test_loader_does_not_block_the_loop(cache: tiercache.Cache) -> None:
    async def main() -> None:
        ac = AsyncCache(cache)
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.005)

        t = asyncio.ensure_future(ticker())

        async def slow() -> bytes:
            await asyncio.sleep(0.2)
            return b"v"

        assert await ac.get_or_load("slow", slow) == b"v"
        t.cancel()
        assert ticks >= 10

    run(main())


def test_cancel_one_waiter(cache: tiercache.Cache) -> None:
    async def main() -> None:
        ac = AsyncCache(cache)
        calls = 0
        release = asyncio.Event()

        async def load() -> bytes:
            nonlocal calls
            calls += 1
            await release.wait()
            return b"done"

        tasks = [asyncio.ensure_future(ac.get_or_load("k", load)) for _ in range(5)]
        await asyncio.sleep(0.05)
        tasks[0].cancel()
        tasks[3].cancel()
        await asyncio.sleep(0.01)
        release.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert isinstance(results[0], asyncio.CancelledError)
        assert isinstance(results[3], asyncio.CancelledError)
        assert [results[i] for i in (1, 2, 4)] == [b"done"] * 3
        assert calls == 1
        assert await ac.get("k") == b"done"

    run(main())


def test_cancel_every_waiter_still_stores(cache: tiercache.Cache) -> None:
    async def main() -> None:
        ac = AsyncCache(cache)

        async def load() -> bytes:
            await asyncio.sleep(0.05)
            return b"late"

        t = asyncio.ensure_future(ac.get_or_load("k", load))
        await asyncio.sleep(0.01)
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t
        for _ in range(100):
            if await ac.get("k") is not None:
                break
            await asyncio.sleep(0.01)
        assert await ac.get("k") == b"late"

    run(main())


def test_exception_reaches_every_waiter(cache: tiercache.Cache) -> None:
    class Boom(Exception):
        pass

    async def main() -> None:
        ac = AsyncCache(cache)
        calls = 0

        async def load() -> bytes:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0.05)
            raise Boom("no")

        results = await asyncio.gather(*(ac.get_or_load("k", load) for _ in range(20)), return_exceptions=True)
        assert calls == 1
        assert all(isinstance(r, Boom) for r in results)
        assert await ac.get("k") is None  # nothing stored

        async def ok() -> bytes:
            return b"fine"

        assert await ac.get_or_load("k", ok) == b"fine"  # not poisoned

    run(main())


def test_none_is_not_found_and_ttl(cache: tiercache.Cache) -> None:
    async def main() -> None:
        ac = AsyncCache(cache)

        async def nothing() -> None:
            return None

        with pytest.raises(tiercache.NotFound):
            await ac.get_or_load("k", nothing)

        async def val() -> bytes:
            return b"v"

        assert await ac.get_or_load("t", val, ttl=60) == b"v"
        info = await ac.get_info("t")
        assert info is not None and info.expires_at is not None

        async def pair():  # type: ignore[no-untyped-def]
            return (b"p", 30)

        assert await ac.get_or_load("p", pair) == b"p"

    run(main())


def test_put_during_load_wins(cache: tiercache.Cache) -> None:
    async def main() -> None:
        ac = AsyncCache(cache)

        async def load() -> bytes:
            await ac.put("k", b"fresh")
            return b"stale"

        assert await ac.get_or_load("k", load) == b"stale"
        assert await ac.get("k") == b"fresh"

    run(main())


def test_shared_with_sync_threads(cache: tiercache.Cache) -> None:
    """A thread using the synchronous cache waits for the async load."""
    started = threading.Event()
    got: List[bytes] = []

    async def main() -> None:
        ac = AsyncCache(cache)

        async def load() -> bytes:
            started.set()
            await asyncio.sleep(0.2)
            return b"async"

        def sync_side() -> None:
            started.wait(5)
            got.append(cache.get_or_load("k", lambda: b"sync"))

        th = threading.Thread(target=sync_side)
        th.start()
        assert await ac.get_or_load("k", load) == b"async"
        await asyncio.get_running_loop().run_in_executor(None, th.join)

    run(main())
    assert got == [b"async"]


def test_loader_may_use_the_cache(cache: tiercache.Cache) -> None:
    async def main() -> None:
        ac = AsyncCache(cache)

        async def inner() -> bytes:
            return b"inner"

        def outer(i: int):  # type: ignore[no-untyped-def]
            async def load() -> bytes:
                v = await ac.get_or_load(f"dep{i}", inner)
                await ac.put(f"side{i}", b"x")
                return v + b"!"

            return load

        res = await asyncio.gather(*(ac.get_or_load(f"o{i}", outer(i)) for i in range(40)))
        assert res == [b"inner!"] * 40

    run(main())


def test_loader_asking_for_its_own_key_is_a_miss(cache: tiercache.Cache) -> None:
    # Without the check the load would await itself for ever; wait_for only
    # turns such a hang into a failure.
    async def main() -> None:
        ac = AsyncCache(cache)
        seen: List[object] = []

        async def load() -> bytes:
            seen.append(await ac.get("k", b"default"))
            try:
                await ac.get_or_load("k", load)
            except tiercache.NotFound as e:
                seen.append(e.message)
            return b"v"

        assert await asyncio.wait_for(ac.get_or_load("k", load), 60) == b"v"
        assert seen == [b"default", "the loader asked the cache for the key it is loading"]
        assert await ac.get("k") == b"v"

    run(main())


def test_loaders_needing_each_others_keys_do_not_wait_for_each_other(cache: tiercache.Cache) -> None:
    async def main() -> None:
        ac = AsyncCache(cache)
        started = {"a": asyncio.Event(), "b": asyncio.Event()}

        def loader(mine: str, other: str):  # type: ignore[no-untyped-def]
            async def load() -> bytes:
                started[mine].set()
                await started[other].wait()  # both loads are in flight now
                inner = await ac.get_or_load(other, loader(other, mine))
                return mine.encode() + b"(" + inner + b")"

            async def leaf() -> bytes:
                return mine.encode()

            return load if not started[mine].is_set() else leaf

        a, b = await asyncio.wait_for(asyncio.gather(ac.get_or_load("a", loader("a", "b")), ac.get_or_load("b", loader("b", "a"))), 60)
        # Each loader ran the other's function itself, outside its flight.
        assert (a, b) == (b"a(b)", b"b(a)")
        assert await ac.get("a") == b"a(b)" and await ac.get("b") == b"b(a)"

    run(main())


def test_separate_event_loops(cache: tiercache.Cache) -> None:
    ac = AsyncCache(cache)

    async def load() -> bytes:
        return b"v"

    assert run(ac.get_or_load("a", load)) == b"v"
    assert run(ac.get_or_load("b", load)) == b"v"


def test_rejects_non_callable(cache: tiercache.Cache) -> None:
    ac = AsyncCache(cache)
    with pytest.raises(TypeError):
        run(ac.get_or_load("a", b"x"))  # type: ignore[arg-type]
