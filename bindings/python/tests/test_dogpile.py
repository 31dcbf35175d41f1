"""tiercache.dogpile: dogpile.cache's own backend test suites, and ours."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict

import pytest

pytest.importorskip("dogpile.cache")

from dogpile.cache import make_region  # noqa: E402
from dogpile.cache.api import NO_VALUE  # noqa: E402
from dogpile.cache.region import _backend_loader  # noqa: E402
from dogpile.testing.fixtures import _GenericBackendTestSuite, _GenericMutexTestSuite  # noqa: E402

import tiercache  # noqa: E402
import tiercache.dogpile  # noqa: E402,F401


class TestTiercacheBackendMemory(_GenericBackendTestSuite):  # type: ignore[misc]
    backend = "tiercache"
    config_args: Dict[str, Any] = {"arguments": {"options": {"default_ttl": 3600}}}


class TestTiercacheMutexMemory(_GenericMutexTestSuite):  # type: ignore[misc]
    backend = "tiercache"
    config_args: Dict[str, Any] = {"arguments": {}}
    backend_argument_names = ("ttl",)


class _OnDisk:
    """Every backend of a suite opens the same directory, made for the class:
    they share one open cache."""

    config_args: Dict[str, Any]
    _tmp: str

    @classmethod
    def setup_class(cls) -> None:
        cls._tmp = tempfile.mkdtemp(prefix="tc-dogpile-")
        cls.config_args = {"arguments": {"dir": cls._tmp, "ttl": 600}}
        super().setup_class()  # type: ignore[misc]

    @classmethod
    def teardown_class(cls) -> None:
        shutil.rmtree(cls._tmp, ignore_errors=True)


class TestTiercacheBackendDisk(_OnDisk, _GenericBackendTestSuite):  # type: ignore[misc]
    backend = "tiercache"


class TestTiercacheMutexDisk(_OnDisk, _GenericMutexTestSuite):  # type: ignore[misc]
    backend = "tiercache"


def test_entry_point_names_the_backend() -> None:
    from importlib.metadata import entry_points

    eps = entry_points()
    group = eps.select(group="dogpile.cache") if hasattr(eps, "select") else eps.get("dogpile.cache", [])
    assert any(ep.name == "tiercache" and ep.value == "tiercache.dogpile:TiercacheBackend" for ep in group)
    assert _backend_loader.load("tiercache") is tiercache.dogpile.TiercacheBackend


def test_given_cache_and_persistence(tmp_path: Path) -> None:
    d = tmp_path / "c"
    with tiercache.Cache(d) as cache:
        region = make_region().configure("tiercache", arguments={"cache": cache})
        calls = []

        @region.cache_on_arguments()
        def f(x: int) -> Dict[str, int]:
            calls.append(x)
            return {"x": x}

        assert f(1) == {"x": 1} and f(1) == {"x": 1}
        assert calls == [1]
        region.set("plain", [1, 2])
    # a new process (here: a new cache on the same dir) sees the values
    region2 = make_region().configure("tiercache", arguments={"dir": str(d)})
    assert region2.get("plain") == [1, 2]
    region2.backend.cache.close()


def test_shared_dir_and_ttl(tmp_path: Path) -> None:
    a = make_region().configure("tiercache", arguments={"dir": str(tmp_path), "ttl": 60})
    b = make_region().configure("tiercache", arguments={"dir": str(tmp_path)})
    assert a.backend.cache is b.backend.cache
    a.set("k", "v")
    assert b.get("k") == "v"
    info = a.backend.cache.get_info("k")
    assert info is not None and info.expires_at is not None
    assert a.backend.get_serialized("absent") is NO_VALUE
    a.backend.cache.close()


def test_bad_cache_argument() -> None:
    with pytest.raises(TypeError):
        make_region().configure("tiercache", arguments={"cache": object()})
    with pytest.raises(ValueError):
        make_region().configure("tiercache", arguments={"dir": ""})
