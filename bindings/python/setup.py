"""Build hook: bundle the tiercache shared library into the package.

``pip install ./bindings/python`` (run from the repository) builds a wheel that
carries ``tiercache/libtiercache.so``, copied from the library the repository
built, so the installed package always loads the library it was built with.

Which library is bundled, in order:

1. ``$TIERCACHE_LIBRARY`` at build time, if set (a path to the .so);
2. ``<repo>/target/release/libtiercache.so``; if it is missing, this hook runs
   ``cargo build --release`` in the repository first (set
   ``TIERCACHE_NO_CARGO=1`` to forbid that and fail instead).

The wheel is tagged for this platform (it holds native code), not "any".
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent  # bindings/python -> the repository root


def _library_filename() -> str:
    if sys.platform == "darwin":
        return "libtiercache.dylib"
    if sys.platform == "win32":
        return "tiercache.dll"
    return "libtiercache.so"


def _find_library() -> Path:
    override = os.environ.get("TIERCACHE_LIBRARY")
    if override:
        path = Path(override)
        if not path.is_file():
            sys.exit(f"tiercache build: TIERCACHE_LIBRARY={override} is not a file")
        return path
    built = REPO / "target" / "release" / _library_filename()
    if built.is_file():
        return built
    if not (REPO / "Cargo.toml").is_file():
        sys.exit(
            f"tiercache build: no library to bundle: {built} does not exist and {REPO} is not the "
            "tiercache repository. Build from the repository, or set TIERCACHE_LIBRARY."
        )
    if os.environ.get("TIERCACHE_NO_CARGO"):
        sys.exit(f"tiercache build: {built} is missing (run `cargo build --release` in {REPO})")
    print(f"tiercache build: {built} is missing; running cargo build --release", file=sys.stderr)
    subprocess.run(["cargo", "build", "--release"], cwd=REPO, check=True)
    return built


class build_py_with_library(build_py):
    """build_py that also copies the shared library into the built package."""

    def run(self) -> None:
        super().run()
        source = _find_library()
        target = Path(self.build_lib) / "tiercache" / _library_filename()
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        print(f"tiercache build: bundled {source}", file=sys.stderr)


cmdclass = {"build_py": build_py_with_library}

try:  # setuptools >= 70.1 ships bdist_wheel; older ones use the wheel package
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # pragma: no cover
    from wheel.bdist_wheel import bdist_wheel  # type: ignore[no-redef]


class platform_wheel(bdist_wheel):  # type: ignore[misc,valid-type]
    """Tags the wheel py3-none-<platform>: any Python 3, but this platform's .so."""

    def finalize_options(self) -> None:
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self):  # type: ignore[no-untyped-def]
        _, _, plat = super().get_tag()
        return "py3", "none", plat


cmdclass["bdist_wheel"] = platform_wheel

setup(cmdclass=cmdclass)
