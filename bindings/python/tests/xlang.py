#!/usr/bin/env python3
"""The Python side of the cross-language directory test (tests/vectors/README.md).

    python xlang.py write DIR    # put every entry of xlang.json (tags, TTL, a dependency on a
                                 # file it creates in DIR-deps), put+remove removed_hex, close,
                                 # then change the changed_dependencies
    python xlang.py verify DIR   # reopen with an L1 of 1 entry, check every entry's info and
                                 # value from disk; entries on a changed file must be absent

``verify`` prints one line per mismatch and exits 0 only if everything matched.
The data set is tests/vectors/xlang.json in the repository, or $TIERCACHE_XLANG.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict

import tiercache

DATA = Path(os.environ.get("TIERCACHE_XLANG", Path(__file__).resolve().parents[3] / "tests" / "vectors" / "xlang.json"))


def load_data() -> Dict[str, Any]:
    return json.loads(DATA.read_text())  # type: ignore[no-any-return]


def deps_dir(directory: str) -> Path:
    return Path(directory + "-deps")


def dependency_changed(data: Dict[str, Any], entry: Dict[str, Any]) -> bool:
    return "depends_on" in entry and entry["depends_on"] in data["changed_dependencies"]


def write(directory: str) -> int:
    data = load_data()
    deps = deps_dir(directory)
    deps.mkdir()
    for name, text in data["dependencies"].items():
        (deps / name).write_text(text)
    with tiercache.Cache(directory) as cache:
        for entry in data["entries"]:
            tags = [bytes.fromhex(t) for t in entry.get("tags_hex", [])]
            ttl = entry["ttl_ms"] / 1000 if "ttl_ms" in entry else None
            depends_on = deps / entry["depends_on"] if "depends_on" in entry else None
            cache.put(
                bytes.fromhex(entry["key_hex"]),
                bytes.fromhex(entry["value_hex"]),
                ttl=ttl,
                tags=tags,
                depends_on=depends_on,
            )
        for key_hex in data["removed_hex"]:
            key = bytes.fromhex(key_hex)
            cache.put(key, b"to be removed")
            del cache[key]
    # Each changed dependency grows by a line: its size differs whatever the
    # file system's mtime granularity.
    for name in data["changed_dependencies"]:
        with open(deps / name, "a") as f:
            f.write("changed\n")
    return 0


def verify(directory: str) -> int:
    data = load_data()
    mismatches = 0
    # An L1 of one entry, so the values really come from the disk tier.
    with tiercache.Cache(directory, l1_max_entries=1) as cache:
        for entry in data["entries"]:
            key, want = bytes.fromhex(entry["key_hex"]), bytes.fromhex(entry["value_hex"])
            # Info first: with an L1 of one entry, it comes from disk.
            info = cache.get_info(key)
            if dependency_changed(data, entry):
                if info is not None or key in cache:
                    print(f"{entry['key_hex']}: its dependency changed, expected it absent")
                    mismatches += 1
                continue
            try:
                got = cache[key]
            except tiercache.Error as e:
                print(f"{entry['key_hex']}: expected {len(want)} bytes, got {e}")
                mismatches += 1
                continue
            if got != want:
                print(f"{entry['key_hex']}: value differs: expected {want.hex()}, got {got.hex()}")
                mismatches += 1
            want_tags = len(entry.get("tags_hex", []))
            ttl = entry.get("ttl_ms", 0)
            now = int(time.time() * 1000)
            if (
                info is None
                or info.tag_count != want_tags
                or info.value_len != len(want)
                or info.tier != tiercache.Tier.DISK
                or info.expires_at != (info.written_at + ttl if ttl else None)
                or not now - 86_400_000 <= info.written_at <= now + 60_000
            ):
                print(
                    f"{entry['key_hex']}: info {info}, expected {len(want)} bytes on disk, "
                    f"{want_tags} tags, expiry {ttl} ms after the write"
                )
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
