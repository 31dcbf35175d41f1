"""The package's version: the same as the C library's (``tc_version()``) and the
Rust crate's (Cargo.toml).  ``import tiercache`` refuses a library of another
version, the build refuses to bundle one, and ``scripts/bump-version.sh``
changes all of them together."""

__version__ = "0.1.0"
