"""The shared test vectors (tests/vectors/vectors.json), run through the Python API.

Each op is expressed with the Python API and the outcome turned back into a
tc_status name: a raised tiercache.Error gives its ``status``; success is TC_OK.
The vectors' ``ttl_ms`` becomes seconds (ttl_ms / 1000; 0 becomes None, the
default), which the binding turns back into the same whole milliseconds.
Every op of the format is expressible in Python, so none is skipped.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest

import tiercache

from conftest import REPO

VECTORS = Path(os.environ.get("TIERCACHE_VECTORS", REPO / "tests" / "vectors" / "vectors.json"))


def _cases() -> List[Dict[str, Any]]:
    if not VECTORS.is_file():
        return []
    return json.loads(VECTORS.read_text())["cases"]  # type: ignore[no-any-return]


def _bytes(op: Dict[str, Any], field: str) -> bytes:
    if f"{field}_hex" in op:
        return bytes.fromhex(op[f"{field}_hex"])
    return op[field].encode("utf-8")  # type: ignore[no-any-return]


def _open(options: Dict[str, Any], directory: Optional[Path]) -> tiercache.Cache:
    ttl_ms = options.get("default_ttl_ms")
    return tiercache.Cache(
        directory,
        default_ttl=ttl_ms / 1000 if ttl_ms else None,
        l1_max_entries=options.get("l1_max_entries"),
        l1_max_bytes=options.get("l1_max_bytes"),
        write_policy=options.get("write_policy", "through"),
    )


def _status(action: Callable[[], Any]) -> "tuple[str, Any]":
    """Runs an op; returns (tc_status name, result)."""
    try:
        return "TC_OK", action()
    except tiercache.Error as e:
        return f"TC_{e.status.name}", None


@pytest.mark.skipif(not VECTORS.is_file(), reason=f"no vectors at {VECTORS}")
@pytest.mark.parametrize("case", _cases(), ids=lambda c: c["name"])
def test_vector(case: Dict[str, Any], tmp_path: Path) -> None:
    options = case.get("options", {})
    directory = tmp_path / "cache" if options.get("dir") else None
    cache = _open(options, directory)
    try:
        for index, op in enumerate(case["ops"]):
            where = f"{case['name']} op {index} ({op['op']})"
            kind = op["op"]
            result: Any = None
            if kind == "sleep_ms":
                time.sleep(op["ms"] / 1000)
                continue
            if kind == "reopen":
                assert directory is not None, f"{where}: reopen needs a dir case"
                cache.close()
                cache = _open(options, directory)
                continue
            if kind == "put":
                key, value, ttl_ms = _bytes(op, "key"), _bytes(op, "value"), op.get("ttl_ms", 0)
                status, _ = _status(lambda: cache.put(key, value, ttl=ttl_ms / 1000 if ttl_ms else None))
            elif kind == "get":
                key = _bytes(op, "key")
                status, result = _status(lambda: cache[key])
                if status == "TC_OK" and ("value" in op or "value_hex" in op):
                    assert result == _bytes(op, "value"), where
            elif kind == "contains":
                key = _bytes(op, "key")
                status, result = _status(lambda: key in cache)
                if "present" in op and status == "TC_OK":
                    assert result is op["present"], where
            elif kind == "remove":
                key = _bytes(op, "key")
                status, _ = _status(lambda: cache.__delitem__(key))
            elif kind == "remove_prefix":
                prefix = _bytes(op, "prefix")
                status, result = _status(lambda: cache.remove_prefix(prefix))
                if "removed" in op and status == "TC_OK":
                    assert result == op["removed"], where
            elif kind == "clear":
                status, _ = _status(lambda: cache.clear(memory_only=op.get("memory_only", False)))
            elif kind == "flush":
                status, _ = _status(cache.flush)
            elif kind == "purge_expired":
                status, result = _status(cache.purge_expired)
                if "removed" in op and status == "TC_OK":
                    assert result == op["removed"], where
            else:
                pytest.fail(f"{where}: unknown op {kind!r} (update this runner)")
            assert status == op["expect"], where
    finally:
        cache.close()
