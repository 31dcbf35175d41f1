#!/usr/bin/env python3
"""tiercache in one page: a persistent cache with a loader.

    python examples/quickstart.py [DIR]

Without DIR it uses a temporary directory.  Run it twice with the same DIR to
see values come back from disk after a restart.
"""

from __future__ import annotations

import sys
import tempfile
import time

import tiercache


def expensive_lookup(key: bytes) -> "tuple[bytes, float] | None":
    """Stands in for a slow computation or remote call: the cache's loader (L3)."""
    if key.startswith(b"missing"):
        return None  # "no such value": cache.get returns its default
    time.sleep(0.05)
    return b"computed:" + key, 3600.0  # the value, and its TTL in seconds


def main() -> None:
    directory = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="tiercache-")
    with tiercache.Cache(directory, default_ttl=24 * 3600) as cache:
        cache["greeting"] = "hello"  # str keys and values are stored as UTF-8
        cache.put(b"session:42", b"\x00binary\xff", ttl=30)  # bytes as is, 30 s TTL
        print("greeting            ->", cache["greeting"])  # values come back as bytes
        print("missing             ->", cache.get("nope", b"(default)"))

        cache.set_loader(expensive_lookup)
        for attempt in ("first get ", "second get"):
            loads = cache.stats().l3_loads
            start = time.perf_counter()
            value = cache["report:7"]  # the loader runs only if no tier has it
            took = (time.perf_counter() - start) * 1e6
            source = "loader" if cache.stats().l3_loads > loads else "cache"
            print(f"report:7 {attempt} ->", value, f"({took:.0f} us, from the {source})")
        print("missing:1           ->", cache.get("missing:1"))

        print("removed             ->", cache.remove_prefix("session:"), "key(s) under session:")
        try:
            cache[b""]
        except tiercache.InvalidArgument as e:  # a ValueError too
            print("empty key           ->", e)
        s = cache.stats()
        print(f"stats               -> l1_hits={s.l1_hits} l3_loads={s.l3_loads} misses={s.misses} l2_entries={s.l2_entries}")
    print("closed; the data is in", directory)


if __name__ == "__main__":
    main()
