"""The cross-language pair, Python writer against Python reader, run as scripts."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import tiercache

from conftest import PYTHON, subprocess_env

SCRIPT = Path(__file__).resolve().parent / "xlang.py"
from xlang import DATA  # noqa: E402

pytestmark = pytest.mark.skipif(not DATA.is_file(), reason=f"no data set at {DATA}")


def _run(*args: str) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    return subprocess.run([PYTHON, str(SCRIPT), *args], capture_output=True, text=True, env=subprocess_env(), timeout=120)


def test_write_then_verify(tmp_path: Path) -> None:
    d = str(tmp_path / "x")
    assert _run("write", d).returncode == 0
    result = _run("verify", d)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_verify_reports_mismatches(tmp_path: Path) -> None:
    d = tmp_path / "x"
    assert _run("write", str(d)).returncode == 0
    data = json.loads(DATA.read_text())
    plain = [e for e in data["entries"] if not (e.get("tags_hex") or e.get("ttl_ms") or e.get("depends_on"))]
    tagged = next(e for e in data["entries"] if e.get("tags_hex") and not e.get("ttl_ms"))
    with_ttl = next(e for e in data["entries"] if e.get("ttl_ms") and not e.get("tags_hex"))
    on_changed = next(e for e in data["entries"] if e.get("depends_on") in data["changed_dependencies"])
    with tiercache.Cache(d) as c:
        c[bytes.fromhex(plain[0]["key_hex"])] = b"tampered"
        c[bytes.fromhex(data["removed_hex"][0])] = b"resurrected"
        # Same values, each losing one thing: only the info differs.
        c.put(bytes.fromhex(tagged["key_hex"]), bytes.fromhex(tagged["value_hex"]))
        c.put(bytes.fromhex(with_ttl["key_hex"]), bytes.fromhex(with_ttl["value_hex"]))
        # Written again without its dependency: present though its file changed.
        c.put(bytes.fromhex(on_changed["key_hex"]), bytes.fromhex(on_changed["value_hex"]))
    result = _run("verify", str(d))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    # The tampered value is reported twice: its bytes and its length in the info.
    assert len(lines) == 6, result.stdout
    assert sum(tagged["key_hex"] in line and "tag_count=0" in line for line in lines) == 1, result.stdout
    assert sum(with_ttl["key_hex"] in line and "expires_at=None" in line for line in lines) == 1, result.stdout
    assert sum(on_changed["key_hex"] in line and "dependency changed" in line for line in lines) == 1, result.stdout


def test_usage() -> None:
    assert _run().returncode == 2
