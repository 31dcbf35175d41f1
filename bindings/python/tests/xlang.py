#!/usr/bin/env python3
"""The Python side of the cross-language directory test (tests/vectors/README.md).

    python xlang.py write DIR    # put every entry of xlang.json, put+remove removed_hex, close
    python xlang.py verify DIR   # reopen with an L1 of 1 entry, check every value from disk

``verify`` prints one line per mismatch and exits 0 only if everything matched.
The data set is tests/vectors/xlang.json in the repository, or $TIERCACHE_XLANG.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Dict

import tiercache

DATA = Path(os.environ.get("TIERCACHE_XLANG", Path(__file__).resolve().parents[3] / "tests" / "vectors" / "xlang.json"))


def load_data() -> Dict[str, Any]:
    return json.loads(DATA.read_text())  # type: ignore[no-any-return]


def write(directory: str) -> int:
    data = load_data()
    with tiercache.Cache(directory) as cache:
        for entry in data["entries"]:
            tags = [bytes.fromhex(t) for t in entry.get("tags_hex", [])]
            cache.put(bytes.fromhex(entry["key_hex"]), bytes.fromhex(entry["value_hex"]), tags=tags)
        for key_hex in data["removed_hex"]:
            key = bytes.fromhex(key_hex)
            cache.put(key, b"to be removed")
            del cache[key]
    return 0


def verify(directory: str) -> int:
    data = load_data()
    mismatches = 0
    # An L1 of one entry, so the values really come from the disk tier.
    with tiercache.Cache(directory, l1_max_entries=1) as cache:
        for entry in data["entries"]:
            key, want = bytes.fromhex(entry["key_hex"]), bytes.fromhex(entry["value_hex"])
            try:
                got = cache[key]
            except tiercache.Error as e:
                print(f"{entry['key_hex']}: expected {len(want)} bytes, got {e}")
                mismatches += 1
                continue
            if got != want:
                print(f"{entry['key_hex']}: value differs: expected {want.hex()}, got {got.hex()}")
                mismatches += 1
            info = cache.get_info(key)
            want_tags = len(entry.get("tags_hex", []))
            if info is None or info.tag_count != want_tags:
                print(f"{entry['key_hex']}: tag count {info and info.tag_count}, expected {want_tags}")
                mismatches += 1
        for key_hex in data["removed_hex"]:
            try:
                got = cache[bytes.fromhex(key_hex)]
            except tiercache.NotFound:
                continue
            except tiercache.Error as e:
                print(f"{key_hex}: expected TC_NOT_FOUND, got {e}")
            else:
                print(f"{key_hex}: expected TC_NOT_FOUND, got a value of {len(got)} bytes")
            mismatches += 1
    return 1 if mismatches else 0


def main(argv: "list[str]") -> int:
    if len(argv) != 3 or argv[1] not in ("write", "verify"):
        print(f"usage: {argv[0]} write|verify DIR", file=sys.stderr)
        return 2
    return write(argv[2]) if argv[1] == "write" else verify(argv[2])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
