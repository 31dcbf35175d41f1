"""@cache.memoize: canonical keys, one call per key across threads, TypeError
naming the argument it cannot encode, and the encoding itself."""

from __future__ import annotations

import enum
import hashlib
import math
import threading
import time
from collections import namedtuple
from typing import Any, List

import pytest

import tiercache
from tiercache import canonical


def test_memoize_caches_and_returns_decoded(cache: tiercache.Cache) -> None:
    calls: List[Any] = []

    @cache.memoize(ttl=60)
    def report(user: int, month: str, *, detail: bool = False) -> Any:
        calls.append((user, month, detail))
        return {"user": user, "month": month, "rows": (1, 2.5, None, b"\x00")}

    want = {"user": 7, "month": "2026-12", "rows": [1, 2.5, None, b"\x00"]}
    assert report(7, "2026-12") == want  # the first call returns the decoded value too
    assert report(7, "2026-12") == want
    assert calls == [(7, "2026-12", False)]
    report(7, "2026-12", detail=True)
    report(7, month="2026-12")  # another call as far as the key goes, like lru_cache
    assert len(calls) == 3
    key = report.cache_key(7, "2026-12")  # type: ignore[attr-defined]
    assert key.startswith(b"memo:") and len(key) == 5 + 64
    assert cache.get_info(key).expires_at is not None  # type: ignore[union-attr]
    assert report.__name__ == "report"
    assert report.invalidate(7, "2026-12") is True  # type: ignore[attr-defined]
    assert report.invalidate(7, "2026-12") is False  # type: ignore[attr-defined]
    report(7, "2026-12")
    assert len(calls) == 4


def test_memoize_without_parentheses_and_none_result(cache: tiercache.Cache) -> None:
    calls: List[int] = []

    @cache.memoize
    def nothing(x: int) -> None:
        calls.append(x)
        return None

    assert nothing(1) is None and nothing(1) is None
    assert calls == [1]  # None is a result like any other


def test_memoize_one_call_per_key_across_threads(cache: tiercache.Cache) -> None:
    calls: List[int] = []
    barrier = threading.Barrier(8)

    @cache.memoize()
    def slow(x: int) -> int:
        calls.append(x)
        time.sleep(0.2)
        return x * 2

    results: List[int] = []

    def worker() -> None:
        barrier.wait()
        results.append(slow(21))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [42] * 8
    assert calls == [21]


def test_memoize_type_error_names_the_argument(cache: tiercache.Cache) -> None:
    @cache.memoize()
    def f(a: Any, b: Any = None, *rest: Any, **kw: Any) -> int:
        return 1

    with pytest.raises(TypeError, match=r"argument 'b' is a set"):
        f(1, {2})
    with pytest.raises(TypeError, match=r"argument 'a'\[1\]\['k'\] is an object"):
        f([0, {"k": object()}])
    with pytest.raises(TypeError, match=r"argument \*rest\[1\] is a bytearray"):
        f(1, 2, 3, bytearray(b"x"))
    with pytest.raises(TypeError, match=r"argument 'opt' is a frozenset"):
        f(1, opt=frozenset())
    with pytest.raises(TypeError, match=r"dict key of type int"):
        f({1: 2})

    class Color(enum.IntEnum):
        RED = 1

    with pytest.raises(TypeError, match="IntEnum|Color"):
        f(Color.RED)  # a subclass of int is not encoded as an int
    Point = namedtuple("Point", "x y")
    with pytest.raises(TypeError, match="Point"):
        f(Point(1, 2))
    loop: List[Any] = []
    loop.append(loop)
    with pytest.raises(TypeError, match="nested more than"):
        f(loop)


def test_memoize_unencodable_result_is_not_cached(cache: tiercache.Cache) -> None:
    @cache.memoize()
    def g() -> Any:
        return {1, 2}

    with pytest.raises(TypeError, match="return value is a set"):
        g()
    assert len(cache) == 0


def test_memoize_exception_is_not_cached(cache: tiercache.Cache) -> None:
    calls: List[int] = []

    @cache.memoize()
    def flaky(x: int) -> int:
        calls.append(x)
        if len(calls) == 1:
            raise RuntimeError("first call fails")
        return x

    with pytest.raises(RuntimeError):
        flaky(1)
    assert flaky(1) == 1 and flaky(1) == 1
    assert calls == [1, 1]


def test_memoize_name_and_prefix(cache: tiercache.Cache) -> None:
    @cache.memoize(name="shared.add", prefix="ns:")
    def add(a: int, b: int) -> int:
        return a + b

    want = b"ns:" + hashlib.sha256(canonical.encode(["shared.add", [1, 2], {}])).hexdigest().encode()
    assert add.cache_key(1, 2) == want  # type: ignore[attr-defined]
    assert add(1, 2) == 3
    assert list(cache.iter_keys("ns:")) == [want]


def test_memoize_key_is_stable() -> None:
    # Fixed vectors: the same in every process and, following the README, in
    # every language.
    assert canonical.encode(["example.add", [1, 2], {}]).hex() == "836b6578616d706c652e616464820102a0"
    assert (
        canonical.memo_key("example.add", (1, 2), {})
        == b"memo:ecbfaf25c428eaee594890fd29740229f0a86ce2d9766a5161f5bbce1138dbfa"
    )
    # kwargs order does not matter; a tuple and a list encode the same.
    assert canonical.memo_key("f", ((1, 2),), {"b": 1, "a": 2}) == canonical.memo_key("f", ([1, 2],), {"a": 2, "b": 1})
    assert canonical.memo_key("f", (1,), {}) != canonical.memo_key("f", (1.0,), {})
    assert canonical.memo_key("f", (True,), {}) != canonical.memo_key("f", (1,), {})
    assert canonical.memo_key("f", ("1",), {}) != canonical.memo_key("f", (b"1",), {})


@pytest.mark.parametrize(
    "value, hex_",
    [
        (None, "f6"),
        (False, "f4"),
        (True, "f5"),
        (0, "00"),
        (23, "17"),
        (24, "1818"),
        (256, "190100"),
        (2**32, "1b0000000100000000"),
        (2**64 - 1, "1bffffffffffffffff"),
        (2**64, "c249010000000000000000"),
        (-1, "20"),
        (-25, "3818"),
        (-(2**64), "3bffffffffffffffff"),
        (-(2**64) - 1, "c349010000000000000000"),
        (1.5, "fb3ff8000000000000"),
        (-0.0, "fb8000000000000000"),
        (math.inf, "fb7ff0000000000000"),
        (b"", "40"),
        (b"ab", "426162"),
        ("", "60"),
        ("é", "62c3a9"),
        ([1, [2]], "82018102"),
        ({"b": 1, "a": 2, "aa": 3}, "a361610261620162616103"),  # shorter keys first, then bytewise
    ],
)
def test_canonical_encoding_vectors(value: Any, hex_: str) -> None:
    assert canonical.encode(value).hex() == hex_
    assert canonical.decode(bytes.fromhex(hex_)) == value


def test_canonical_nan_and_decoder_strictness() -> None:
    assert canonical.encode(float("nan")).hex() == "fb7ff8000000000000"
    assert canonical.encode(-float("nan")).hex() == "fb7ff8000000000000"
    assert math.isnan(canonical.decode(bytes.fromhex("fb7ff8000000000000")))
    for bad in ["", "1817", "f6f6", "a2616201616102", "c24101", "9f", "fa3fc00000", "fbfff8000000000000"]:
        with pytest.raises(ValueError):
            canonical.decode(bytes.fromhex(bad))


def test_memoize_refuses_a_foreign_value(cache: tiercache.Cache) -> None:
    @cache.memoize()
    def h() -> int:
        return 1

    cache[h.cache_key()] = b"\xff not ours"  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="not a memoized result"):
        h()


def test_memoize_bad_ttl_fails_at_decoration(cache: tiercache.Cache) -> None:
    with pytest.raises(ValueError):
        cache.memoize(ttl=-1)
