"""tiercache.django.TiercacheCache through Django's cache API."""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
import time
from typing import Any, Iterator

import pytest

django = pytest.importorskip("django")

from django.conf import settings  # noqa: E402

_DIR = tempfile.mkdtemp(prefix="tc-django-")
atexit.register(shutil.rmtree, _DIR, True)

if not settings.configured:
    settings.configure(
        INSTALLED_APPS=[],
        CACHES={
            "default": {"BACKEND": "tiercache.django.TiercacheCache", "LOCATION": "memory:default"},
            "disk": {
                "BACKEND": "tiercache.django.TiercacheCache",
                "LOCATION": _DIR,
                "TIMEOUT": None,
                "KEY_PREFIX": "app",
                "OPTIONS": {"l1_max_entries": 1000, "MAX_ENTRIES": 5},
            },
            "short": {"BACKEND": "tiercache.django.TiercacheCache", "LOCATION": "memory:short", "TIMEOUT": 1},
        },
    )
    django.setup()

from django.core.cache import caches  # noqa: E402
from django.core.cache.backends.base import BaseCache  # noqa: E402

import tiercache  # noqa: E402
from tiercache.django import TiercacheCache  # noqa: E402

pytestmark = pytest.mark.skipif(
    settings.CACHES["default"]["BACKEND"] != "tiercache.django.TiercacheCache",
    reason="Django settings were configured elsewhere",
)


@pytest.fixture(params=["default", "disk"])
def dcache(request: pytest.FixtureRequest) -> Iterator[Any]:
    c = caches[request.param]
    c.clear()
    yield c
    c.clear()


def test_is_a_base_cache(dcache: Any) -> None:
    assert isinstance(dcache, TiercacheCache) and isinstance(dcache, BaseCache)
    assert isinstance(dcache.cache, tiercache.Cache)


def test_get_set_pickled(dcache: Any) -> None:
    assert dcache.get("nope") is None
    assert dcache.get("nope", "dflt") == "dflt"
    value = {"a": [1, 2.5, None], "b": ("t",), "c": {1, 2}}
    dcache.set("k", value)
    assert dcache.get("k") == value
    dcache.set("none", None)
    assert dcache.get("none", "dflt") is None  # None is a value
    assert dcache.has_key("k") and not dcache.has_key("nope")
    assert "k" in dcache


def test_add(dcache: Any) -> None:
    assert dcache.add("k", 1) is True
    assert dcache.add("k", 2) is False
    assert dcache.get("k") == 1
    assert dcache.add("z", "v", 0) is True  # added and expired at once
    assert dcache.get("z") is None


def test_delete(dcache: Any) -> None:
    dcache.set("k", 1)
    assert dcache.delete("k") is True
    assert dcache.delete("k") is False
    assert dcache.get("k") is None


def test_many(dcache: Any) -> None:
    assert dcache.set_many({"a": 1, "b": "two", "c": [3]}) == []
    assert dcache.get_many(["a", "b", "c", "d"]) == {"a": 1, "b": "two", "c": [3]}
    dcache.delete_many(["a", "c", "d"])
    assert dcache.get_many(["a", "b", "c"]) == {"b": "two"}
    dcache.set_many({"x": 1, "b": 2}, 0)
    assert dcache.get_many(["x", "b"]) == {}


def test_incr_decr(dcache: Any) -> None:
    dcache.set("n", 10)
    assert dcache.incr("n") == 11
    assert dcache.incr("n", 5) == 16
    assert dcache.decr("n") == 15
    assert dcache.decr("n", 20) == -5
    assert dcache.get("n") == -5
    with pytest.raises(ValueError):
        dcache.incr("missing")
    with pytest.raises(ValueError):
        dcache.decr("missing")


def test_incr_keeps_expiry_and_is_atomic(dcache: Any) -> None:
    dcache.set("n", 0, 100)
    k = dcache.make_key("n")
    before = dcache.cache.get_info(k).expires_at
    dcache.incr("n")
    after = dcache.cache.get_info(k).expires_at
    assert before is not None and after is not None and abs(after - before) < 1000

    def bump() -> None:
        for _ in range(50):
            dcache.incr("n")

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert dcache.get("n") == 1 + 400


def test_timeouts(dcache: Any) -> None:
    dcache.set("t", "v", 0.3)
    assert dcache.get("t") == "v"
    time.sleep(0.4)
    assert dcache.get("t") is None
    dcache.set("forever", "v", None)
    assert dcache.cache.get_info(dcache.make_key("forever")).expires_at is None
    dcache.set("forever", "v", 0)  # 0: expire at once, the old value too
    assert dcache.get("forever") is None
    dcache.set("neg", "v", -1)
    assert dcache.get("neg") is None


def test_touch(dcache: Any) -> None:
    assert dcache.touch("missing") is False
    dcache.set("k", "v", 0.3)
    assert dcache.touch("k", 10) is True
    time.sleep(0.4)
    assert dcache.get("k") == "v"
    assert dcache.touch("k", None) is True
    assert dcache.cache.get_info(dcache.make_key("k")).expires_at is None
    assert dcache.touch("k", 0) is True  # expire now
    assert dcache.get("k") is None


def test_default_timeout_from_settings() -> None:
    short = caches["short"]
    short.set("k", "v")
    info = short.cache.get_info(short.make_key("k"))
    assert info is not None and info.expires_at is not None
    assert info.expires_at - time.time() * 1000 <= 1000
    assert caches["default"].default_timeout == 300
    d = caches["default"]
    d.set("k300", 1)
    left = d.cache.get_info(d.make_key("k300")).expires_at - time.time() * 1000
    assert 290_000 < left <= 300_000
    disk = caches["disk"]
    disk.set("kforever", 1)  # TIMEOUT None: forever
    assert disk.cache.get_info(disk.make_key("kforever")).expires_at is None


def test_versions_and_prefix() -> None:
    disk = caches["disk"]
    disk.set("v", "one", version=1)
    disk.set("v", "two", version=2)
    assert disk.get("v") == "one" and disk.get("v", version=2) == "two"
    assert disk.cache.get("app:1:v") is not None
    assert disk.incr_version("v") == 2
    assert disk.get("v", version=2) == "one"


def test_clear(dcache: Any) -> None:
    dcache.set_many({"a": 1, "b": 2})
    dcache.clear()
    assert dcache.get_many(["a", "b"]) == {}


def test_shared_between_threads_and_close_is_harmless() -> None:
    main = caches["disk"]
    main.set("shared", 42)
    seen = []

    def other() -> None:
        c = caches["disk"]  # another instance (per thread), the same tiercache.Cache
        seen.append((c is main, c.cache is main.cache, c.get("shared")))
        c.close()

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert seen == [(False, True, 42)]
    main.close()
    assert main.get("shared") == 42


def test_persists_on_disk() -> None:
    disk = caches["disk"]
    disk.set("p", {"x": 1})
    disk.cache.flush()
    assert any(disk.cache.iter_keys(b"app:1:p"))


def test_async_api() -> None:
    import asyncio

    async def main() -> None:
        c = caches["default"]
        await c.aset("ak", [1])
        assert await c.aget("ak") == [1]
        assert await c.ahas_key("ak")

    asyncio.run(main())


def test_rejects_default_ttl_option() -> None:
    with pytest.raises(ValueError):
        TiercacheCache("", {"OPTIONS": {"default_ttl": 5}})
