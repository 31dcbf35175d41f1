"""Shared fixtures.  The tests exercise whichever ``tiercache`` is importable:
test.sh runs them from outside the source tree against the installed package."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterator

import pytest

import tiercache

#: The repository root (tests/ -> python/ -> bindings/ -> root), for shared data.
REPO = Path(__file__).resolve().parents[3]


def pytest_configure(config: pytest.Config) -> None:
    # A mark of dogpile.cache's shipped backend suites (tests/test_dogpile.py).
    config.addinivalue_line("markers", "time_intensive: a slow test of dogpile.cache's suites")


def pytest_report_header(config: pytest.Config) -> str:
    return f"tiercache from {Path(tiercache.__file__).parent}, library {tiercache.library_path}"


@pytest.fixture
def cache() -> Iterator[tiercache.Cache]:
    """A memory-only cache."""
    with tiercache.Cache() as c:
        yield c


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def disk_cache(cache_dir: Path) -> Iterator[tiercache.Cache]:
    """A cache with a disk tier in a fresh directory."""
    with tiercache.Cache(cache_dir) as c:
        yield c


#: The interpreter running the tests, for subprocess helpers.
PYTHON = sys.executable


def subprocess_env() -> "dict[str, str]":
    """An environment in which a child Python imports the same tiercache as the tests
    (the installed one, or the checkout's when pytest runs from bindings/python)."""
    env = dict(os.environ)
    package_parent = str(Path(tiercache.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    return env
