"""Build hook: the tiercache C library, compiled by cargo, bundled in the package.

The package is pure ctypes at run time; its wheel carries
``tiercache/libtiercache.so``, so installing a wheel needs no compiler.
Building one (``pip install ./bindings/python``, ``python -m build``) compiles
the Rust crate with setuptools-rust (``cargo rustc --release``, a cdylib), from:

* the crate this file sits in (``../..``) when built from a checkout, into
  ``target/python`` (or ``$CARGO_TARGET_DIR``);
* the copy of the crate under ``rust/`` when built from the sdist (the sdist
  command puts it there: an sdist is a whole source release).

``TIERCACHE_PREBUILT_LIBRARY=/abs/path/libtiercache.so`` bundles that library
instead of running cargo (``make wheel`` and the tests reuse
``target/release``). Either way the build refuses a library whose
``tc_version()`` is not this package's version, and the Python version must be
the crate's (``tiercache/_version.py`` against Cargo.toml).

The wheel is tagged ``py3-none-<platform>``: any Python 3, this platform's
library (``auditwheel repair`` then makes it manylinux; see build-dist.sh).
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent  # bindings/python -> the repository root
SDIST_CRATE = HERE / "rust"  # the crate's copy inside an sdist
PREBUILT_ENV = "TIERCACHE_PREBUILT_LIBRARY"
LIBRARY = "libtiercache.so"

# What of the crate an sdist carries: enough for `cargo build` of the library.
CRATE_FILES = ["Cargo.toml", "Cargo.lock", "build.rs", "cbindgen.toml", "include/tiercache.h"]
CRATE_DIRS = ["src", "benches"]  # benches: Cargo.toml declares its [[bench]] targets


def _python_version() -> str:
    text = (HERE / "tiercache" / "_version.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.M)
    if not match:
        sys.exit("tiercache build: no __version__ in tiercache/_version.py")
    return match.group(1)


def _crate_dir() -> Optional[Path]:
    for candidate in (SDIST_CRATE, REPO):
        if (candidate / "Cargo.toml").is_file() and (candidate / "src" / "ffi").is_dir():
            return candidate
    return None


def _crate_version(crate: Path) -> str:
    text = (crate / "Cargo.toml").read_text()
    package = text.split("[package]", 1)[1].split("\n[", 1)[0]
    match = re.search(r'^version\s*=\s*"([^"]+)"', package, re.M)
    if not match:
        sys.exit(f"tiercache build: no version in {crate / 'Cargo.toml'}")
    return match.group(1)


VERSION = _python_version()
CRATE = _crate_dir()
if CRATE is not None and _crate_version(CRATE) != VERSION:
    sys.exit(
        f"tiercache build: the Python package is {VERSION} (tiercache/_version.py) but the crate "
        f"is {_crate_version(CRATE)} ({CRATE / 'Cargo.toml'}): they must be the same "
        "(scripts/bump-version.sh changes both)"
    )


def _check_library(path: Path) -> None:
    """Refuses to bundle a library of another version than the package."""
    try:
        lib = ctypes.CDLL(str(path))
        lib.tc_version.restype = ctypes.c_char_p
        version = lib.tc_version().decode("ascii", "replace")
    except (OSError, AttributeError) as exc:
        sys.exit(f"tiercache build: {path} is not a tiercache library: {exc}")
    if version != VERSION:
        sys.exit(
            f"tiercache build: {path} is libtiercache {version}, but this package is tiercache "
            f"{VERSION}; rebuild the library (cargo build --release) or unset {PREBUILT_ENV}"
        )


def _strip(path: Path) -> None:
    """Drops the debug info (line tables) from the bundled copy: a smaller wheel."""
    strip = shutil.which("strip")
    if strip:
        subprocess.run([strip, "--strip-debug", str(path)], check=True)


class build_py_with_prebuilt(build_py):
    """build_py that also copies $TIERCACHE_PREBUILT_LIBRARY into the package."""

    def run(self) -> None:
        super().run()
        prebuilt = os.environ.get(PREBUILT_ENV)
        if not prebuilt:
            return
        source = Path(prebuilt)
        if not source.is_absolute() or not source.is_file():
            sys.exit(f"tiercache build: {PREBUILT_ENV}={prebuilt} is not an absolute path to a file")
        _check_library(source)
        target = Path(self.build_lib) / "tiercache" / LIBRARY
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        os.chmod(target, 0o755)
        _strip(target)
        print(f"tiercache build: bundled {source} ({PREBUILT_ENV})", file=sys.stderr)


class sdist_with_crate(sdist):
    """sdist that carries the Rust crate under rust/, as its own workspace."""

    def make_release_tree(self, base_dir: str, files: List[str]) -> None:
        super().make_release_tree(base_dir, files)
        if CRATE is None:
            sys.exit("tiercache build: no Rust crate to put in the sdist")
        dest = Path(base_dir) / "rust"
        for name in CRATE_FILES:
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(CRATE / name, dest / name)
        for name in CRATE_DIRS:
            shutil.copytree(
                CRATE / name, dest / name, dirs_exist_ok=True, ignore=shutil.ignore_patterns("target")
            )
        # In the repository the crate is the root of a workspace with the CLI
        # and the benchmarks; in the sdist it stands alone.
        manifest = dest / "Cargo.toml"
        text = manifest.read_text()
        text = re.sub(r"(?ms)^\[workspace\]\n.*?(?=^\[|\Z)", "[workspace]\n\n", text)
        manifest.write_text(text)


cmdclass: Dict[str, Any] = {"build_py": build_py_with_prebuilt, "sdist": sdist_with_crate}
rust_extensions: List[Any] = []

if not os.environ.get(PREBUILT_ENV):
    try:
        from setuptools_rust import Binding, RustExtension, Strip
        from setuptools_rust.build import build_rust
    except ImportError:  # pragma: no cover
        sys.exit(
            "tiercache build: setuptools-rust is needed to build the library "
            f"(or set {PREBUILT_ENV} to an already built {LIBRARY})"
        )

    class build_rust_library(build_rust):  # type: ignore[misc,valid-type]
        """Puts the cdylib at tiercache/libtiercache.so (not under a CPython
        extension-module name: it is loaded with ctypes, by any Python 3), and
        checks its version."""

        def get_dylib_ext_path(self, ext: Any, target_fname: str) -> str:
            path = Path(super().get_dylib_ext_path(ext, target_fname))
            return str(path.parent / LIBRARY)

        def install_extension(self, ext: Any, dylib_paths: Any, build_artifact_dir: Any) -> None:
            super().install_extension(ext, dylib_paths, build_artifact_dir)
            for module_name, _ in dylib_paths:
                _check_library(Path(self.get_dylib_ext_path(ext, module_name)))

    if CRATE is None:
        sys.exit(
            f"tiercache build: no Rust crate here ({SDIST_CRATE} or {REPO}) to build the library "
            f"from; set {PREBUILT_ENV} to an already built {LIBRARY}"
        )
    if CRATE == REPO and "CARGO_TARGET_DIR" not in os.environ:
        # Not target/ itself: a cdylib-only `cargo rustc` there and the
        # repository's `cargo build --release` would each make the other
        # rebuild the library.
        os.environ["CARGO_TARGET_DIR"] = str(REPO / "target" / "python")
    rust_extensions.append(
        RustExtension(
            "tiercache.libtiercache",
            path=str(CRATE / "Cargo.toml"),
            binding=Binding.NoBinding,
            strip=Strip.Debug,
            debug=False,
        )
    )
    cmdclass["build_rust"] = build_rust_library

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

class BinaryDistribution(Distribution):
    """The package holds a native library even when setuptools did not build
    it (TIERCACHE_PREBUILT_LIBRARY): it installs to platlib, not purelib."""

    def has_ext_modules(self) -> bool:
        return True


options: Dict[str, Any] = {"rust_extensions": rust_extensions} if rust_extensions else {}
setup(version=VERSION, cmdclass=cmdclass, distclass=BinaryDistribution, **options)
