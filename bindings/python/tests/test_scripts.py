"""Smoke runs of the example and of the benchmark (--quick: no timing is asserted)."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

from conftest import PYTHON, subprocess_env

ROOT = Path(__file__).resolve().parents[1]  # bindings/python


def test_quickstart_example(tmp_path: Path) -> None:
    script = ROOT / "examples" / "quickstart.py"
    for run in ("first", "second"):  # the second run finds the first run's data on disk
        result = subprocess.run(
            [PYTHON, str(script), str(tmp_path / "qs")], capture_output=True, text=True, env=subprocess_env(), timeout=120
        )
        assert result.returncode == 0, result.stderr
        assert "greeting            -> b'hello'" in result.stdout
    assert "first get  -> b'computed:report:7'" in result.stdout and "from the cache" in result.stdout


@pytest.mark.skipif(importlib.util.find_spec("diskcache") is None, reason="diskcache is not installed")
def test_bench_quick() -> None:
    script = ROOT / "bench" / "bench_vs_diskcache.py"
    result = subprocess.run(
        [PYTHON, str(script), "--quick"], capture_output=True, text=True, env=subprocess_env(), timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "get hit" in result.stdout and "ratio" in result.stdout
    # The phase at the same durability as diskcache's (both fsync per set).
    assert any(line.startswith("set fsync ") for line in result.stdout.splitlines()), result.stdout
