"""tiercache: a persistent, tiered key-value cache (memory, disk, loader).

Python bindings over the tiercache C library, through ctypes::

    import tiercache

    with tiercache.Cache("/tmp/my-cache") as cache:
        cache["greeting"] = "hello"          # str is stored as UTF-8
        assert cache["greeting"] == b"hello"  # values come back as bytes

See :class:`Cache` for the options and the methods.  The C library is found
through ``$TIERCACHE_LIBRARY``, else the copy bundled at install time, else a
repository checkout's ``target/release``; :data:`library_path` says which.
It must be this package's version (:data:`__version__`, the same as
:func:`library_version`): the import raises ``ImportError`` otherwise.

Optional modules, imported on their own: :mod:`tiercache.aio` (``AsyncCache``,
for asyncio), :mod:`tiercache.dogpile` (a dogpile.cache backend; needs
dogpile.cache) and :mod:`tiercache.django` (a Django cache backend; needs Django).
"""

from __future__ import annotations

from . import canonical
from ._native import LIBRARY_ENV, Status, library_path
from ._native import lib as _lib
from .cache import Cache
from .entries import Count, EntryInfo, EntryIterator, Tier
from .errors import (
    BufferTooSmall,
    ClosedError,
    Corrupt,
    Error,
    InvalidArgument,
    Locked,
    LoaderFailed,
    NotFound,
    Panic,
    StorageError,
    TooLarge,
)
from .loaders import Loader, LoaderResult
from .options import DependsOn, Entry
from ._version import __version__
from .stats import L2State, Stats


def library_version() -> str:
    """The version of the loaded C library (``tc_version()``)."""
    raw: bytes = _lib.tc_version()
    return raw.decode("ascii")


__all__ = [
    "BufferTooSmall",
    "Cache",
    "ClosedError",
    "Corrupt",
    "Count",
    "DependsOn",
    "Entry",
    "EntryInfo",
    "EntryIterator",
    "Error",
    "InvalidArgument",
    "L2State",
    "LIBRARY_ENV",
    "Loader",
    "LoaderFailed",
    "LoaderResult",
    "Locked",
    "NotFound",
    "Panic",
    "Stats",
    "Status",
    "StorageError",
    "Tier",
    "TooLarge",
    "canonical",
    "__version__",
    "library_path",
    "library_version",
]
