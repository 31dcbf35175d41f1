"""The package's version against the library's, the crate's and the header's,
and what ``import tiercache`` says about a library it cannot use."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import tiercache
from tiercache import _native

from conftest import PYTHON, REPO, subprocess_env


def test_version_is_the_library_version() -> None:
    assert tiercache.__version__ == tiercache.library_version()
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", tiercache.__version__)


def test_version_is_the_distribution_version() -> None:
    from importlib import metadata

    try:
        dist = metadata.version("tiercache")
    except metadata.PackageNotFoundError:
        pytest.skip("tiercache is not installed as a distribution")
    assert dist == tiercache.__version__


@pytest.mark.skipif(not (REPO / "Cargo.toml").is_file(), reason="needs the repository")
def test_version_is_the_crate_and_header_version() -> None:
    cargo = (REPO / "Cargo.toml").read_text().split("[package]", 1)[1].split("\n[", 1)[0]
    crate = re.search(r'^version\s*=\s*"([^"]+)"', cargo, re.M)
    assert crate and crate.group(1) == tiercache.__version__
    header = (REPO / "include" / "tiercache.h").read_text()
    macro = re.search(r'^#define TIERCACHE_VERSION_STRING "([^"]+)"', header, re.M)
    assert macro and macro.group(1) == tiercache.__version__


def _import_with_library(path: Path) -> subprocess.CompletedProcess[str]:
    env = subprocess_env()
    env[_native.LIBRARY_ENV] = str(path)
    return subprocess.run(
        [PYTHON, "-c", "import tiercache"], env=env, capture_output=True, text=True, timeout=60
    )


def _assert_import_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode != 0
    assert "ImportError" in result.stderr, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_library_env_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "libtiercache.so"
    _assert_import_error(_import_with_library(missing), str(missing), "no such file")


def test_library_env_not_a_library(tmp_path: Path) -> None:
    text = tmp_path / "libtiercache.so"
    text.write_text("not an ELF file\n")
    _assert_import_error(_import_with_library(text), str(text), "not a loadable library")


def test_library_env_another_library() -> None:
    """A shared library that is not tiercache: a Python extension module."""
    import _ctypes

    other = getattr(_ctypes, "__file__", None)
    if other is None:
        pytest.skip("_ctypes is built into this interpreter")
    _assert_import_error(_import_with_library(Path(other)), other, "not the tiercache library", "lacks tc_")


@pytest.mark.skipif(
    shutil.which("gcc") is None or not (REPO / "scripts" / "abi.sh").is_file(),
    reason="needs gcc and the repository's scripts/abi.sh",
)
def test_library_of_another_version(tmp_path: Path) -> None:
    """A library that has every function but another tc_version() is refused,
    and the message gives both versions."""
    stub = tmp_path / "libtiercache.so"
    subprocess.run(
        ["bash", str(REPO / "scripts" / "abi.sh"), "stub", str(REPO / "include" / "tiercache.h"), str(stub), "9.9.9"],
        check=True,
        timeout=120,
    )
    result = _import_with_library(stub)
    _assert_import_error(result, str(stub), "libtiercache 9.9.9", f"tiercache {tiercache.__version__}")


def test_declared_functions_are_typed() -> None:
    """The public API carries annotations (mypy --strict checks them in test.sh)."""
    import inspect

    for name in tiercache.__all__:
        obj = getattr(tiercache, name)
        if inspect.isfunction(obj):
            assert "return" in obj.__annotations__, name
    assert (Path(tiercache.__file__).parent / "py.typed").is_file()
    assert sys.version_info >= (3, 8)
