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
    untagged = next(e for e in data["entries"] if not e.get("tags_hex"))
    tagged = next(e for e in data["entries"] if e.get("tags_hex"))
    with tiercache.Cache(d) as c:
        c[bytes.fromhex(untagged["key_hex"])] = b"tampered"
        c[bytes.fromhex(data["removed_hex"][0])] = b"resurrected"
        # Same value, tags lost: only the tag count differs.
        c.put(bytes.fromhex(tagged["key_hex"]), bytes.fromhex(tagged["value_hex"]))
    result = _run("verify", str(d))
    assert result.returncode == 1
    assert len(result.stdout.splitlines()) == 3
    assert "tag count 0" in result.stdout


def test_usage() -> None:
    assert _run().returncode == 2
