"""The C library: where it is found, and the ctypes signature of every function.

This module is the only place that knows the C ABI of ``include/tiercache.h``.
It locates ``libtiercache`` (see :func:`_candidates`), loads it, and declares
``argtypes`` and ``restype`` for every function the header exports, so that a
wrong argument type fails in Python instead of corrupting memory in C.

Byte-string parameters (``const uint8_t *``) are declared as ``c_char_p``:
ctypes then passes a ``bytes`` object's own buffer, without a copy, and the
length travels in the following ``size_t`` argument, so embedded NUL bytes are
fine.  Callers must convert bytearray/memoryview to ``bytes`` first.
"""

from __future__ import annotations

import ctypes
import enum
import os
import sys
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_bool,
    c_char_p,
    c_int,
    c_int64,
    c_size_t,
    c_uint8,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path
from typing import List, Optional, Tuple

from ._version import __version__

#: Environment variable naming the shared library to load, overriding the rest.
LIBRARY_ENV = "TIERCACHE_LIBRARY"


class Status(enum.IntEnum):
    """``tc_status``: the outcome of a C call. The numbers are fixed by the C contract."""

    OK = 0
    NOT_FOUND = 1
    INVALID_ARGUMENT = 2
    TOO_LARGE = 3
    IO_ERROR = 4
    LOCKED = 5
    CORRUPT = 6
    LOADER_FAILED = 7
    BUFFER_TOO_SMALL = 8
    PANIC = 9
    CLOSED = 10


class WritePolicy(enum.IntEnum):
    """``tc_write_policy``."""

    THROUGH = 0
    BACK = 1


class L1Policy(enum.IntEnum):
    """``tc_l1_policy``."""

    LRU = 0
    S3FIFO = 1


class SyncPolicy(enum.IntEnum):
    """``tc_sync_policy``."""

    NEVER = 0
    ON_FLUSH = 1
    ALWAYS = 2
    INTERVAL = 3


class Compression(enum.IntEnum):
    """``tc_compression``."""

    NONE = 0
    LZ4 = 1
    ZSTD = 2


class TcBytes(Structure):
    """``tc_bytes``: bytes handed out by ``tc_get``, freed with ``tc_bytes_free``."""

    _fields_ = [("data", c_void_p), ("len", c_size_t)]


class TcStats(Structure):
    """``tc_stats``, field for field and in the header's order."""

    _fields_ = [
        ("l1_hits", c_uint64),
        ("l2_hits", c_uint64),
        ("l3_loads", c_uint64),
        ("misses", c_uint64),
        ("l1_entries", c_uint64),
        ("l1_bytes", c_uint64),
        ("l2_entries", c_uint64),
        ("l2_bytes", c_uint64),
        ("l2_file_bytes", c_uint64),
        ("l1_evictions", c_uint64),
        ("l2_evictions", c_uint64),
        ("compactions", c_uint64),
        ("corrupt_records", c_uint64),
        ("io_errors", c_uint64),
        ("l2_state", c_uint32),
    ]


class TcEntryInfo(Structure):
    """``tc_entry_info``, field for field and in the header's order."""

    _fields_ = [
        ("value_len", c_uint64),
        ("expires_at_ms", c_uint64),
        ("written_at_ms", c_uint64),
        ("tier", c_uint32),
        ("tag_count", c_uint32),
    ]


class TcSlice(Structure):
    """``tc_slice``: a borrowed byte string in a batch.  ``data`` is ``c_char_p``
    so that assigning a ``bytes`` object points at its buffer without a copy
    (the caller keeps the object alive for the call)."""

    _fields_ = [("data", c_char_p), ("len", c_size_t)]


class TcGetTarget(Structure):
    """``tc_get_target``: the handle and output buffer of ``tc_get_into_word``,
    built once per scratch buffer (see cache.py).  ``cache`` and ``buf`` are
    addresses: the Python objects that own them keep them alive."""

    _fields_ = [("cache", c_void_p), ("buf", c_void_p), ("buf_cap", c_size_t)]


class TcMade(Structure):
    """``tc_made``: the handle and the four CPython functions ``tc_get_made``
    makes its answer with (see ``made_for``), all addresses, built once per
    cache (see cache.py)."""

    _fields_ = [
        ("cache", c_void_p),
        ("value", c_void_p),
        ("status", c_void_p),
        ("release", c_void_p),
        ("reacquire", c_void_p),
    ]


# C enums are passed and returned as int (the header's enums all fit).
tc_status = c_int

#: ``tc_loader_fn``: (user_data, key, key_len, sink) -> tc_status.  The key is
#: declared ``c_void_p`` so the trampoline receives a plain address to copy from.
LOADER_FN = CFUNCTYPE(tc_status, c_void_p, c_void_p, c_size_t, c_void_p)

#: The loader's user-data destructor: void (*)(void *).
FREE_FN = CFUNCTYPE(None, c_void_p)

# Opaque handles (tc_options *, tc_cache *, tc_sink *) are plain c_void_p.
_SIGNATURES: List[Tuple[str, object, List[object]]] = [
    # name, restype, argtypes
    ("tc_status_str", c_char_p, [tc_status]),
    ("tc_last_error", c_char_p, []),
    ("tc_version", c_char_p, []),
    ("tc_options_new", c_void_p, []),
    ("tc_options_free", None, [c_void_p]),
    ("tc_options_set_dir", tc_status, [c_void_p, c_char_p]),
    ("tc_options_set_l1_capacity", tc_status, [c_void_p, c_uint64, c_uint64]),
    ("tc_options_set_l2_capacity", tc_status, [c_void_p, c_uint64]),
    ("tc_options_set_write_policy", tc_status, [c_void_p, c_int]),
    ("tc_options_set_l1_policy", tc_status, [c_void_p, c_int]),
    ("tc_options_set_sync_policy", tc_status, [c_void_p, c_int, c_uint64]),
    ("tc_options_set_default_ttl", tc_status, [c_void_p, c_uint64]),
    ("tc_options_set_max_value_size", tc_status, [c_void_p, c_uint64]),
    ("tc_options_set_segment_size", tc_status, [c_void_p, c_uint64]),
    ("tc_options_set_read_only", tc_status, [c_void_p, c_bool]),
    ("tc_options_set_compression", tc_status, [c_void_p, c_int, c_uint64]),
    ("tc_options_set_encryption_key", tc_status, [c_void_p, c_char_p, c_size_t]),
    ("tc_options_set_remote", tc_status, [c_void_p, c_char_p]),
    ("tc_options_set_remote_namespace", tc_status, [c_void_p, c_char_p, c_size_t]),
    ("tc_options_set_remote_secret", tc_status, [c_void_p, c_char_p, c_size_t]),
    ("tc_options_set_remote_timeout", tc_status, [c_void_p, c_uint64]),
    ("tc_cache_open", tc_status, [c_void_p, POINTER(c_void_p)]),
    ("tc_cache_shutdown", tc_status, [c_void_p]),
    ("tc_cache_close", None, [c_void_p]),
    ("tc_put", tc_status, [c_void_p, c_char_p, c_size_t, c_char_p, c_size_t, c_uint64]),
    ("tc_get", tc_status, [c_void_p, c_char_p, c_size_t, POINTER(TcBytes)]),
    ("tc_bytes_free", None, [POINTER(TcBytes)]),
    (
        "tc_get_into",
        tc_status,
        [c_void_p, c_char_p, c_size_t, POINTER(c_uint8), c_size_t, POINTER(c_size_t)],
    ),
    # The length or the status in the return word (see include/tiercache.h).
    ("tc_get_into_word", c_int64, [POINTER(TcGetTarget), c_char_p, c_size_t]),
    # Returns a new reference (the caller's object): see tc_get_made_unchecked.
    ("tc_get_made", c_void_p, [POINTER(TcMade), c_char_p, c_size_t]),
    # tc_value * is an opaque handle: data and length are read through it.
    ("tc_get_value", tc_status, [c_void_p, c_char_p, c_size_t, POINTER(c_void_p)]),
    ("tc_value_data", c_void_p, [c_void_p]),
    ("tc_value_len", c_size_t, [c_void_p]),
    ("tc_value_free", None, [c_void_p]),
    ("tc_contains", tc_status, [c_void_p, c_char_p, c_size_t, POINTER(c_bool)]),
    ("tc_remove", tc_status, [c_void_p, c_char_p, c_size_t]),
    ("tc_remove_prefix", tc_status, [c_void_p, c_char_p, c_size_t, POINTER(c_uint64)]),
    ("tc_clear", tc_status, [c_void_p, c_bool]),
    ("tc_flush", tc_status, [c_void_p]),
    ("tc_purge_expired", tc_status, [c_void_p, POINTER(c_uint64)]),
    ("tc_stats_get", tc_status, [c_void_p, POINTER(TcStats)]),
    ("tc_compact", tc_status, [c_void_p]),
    ("tc_stats_get_counter", tc_status, [c_void_p, c_char_p, POINTER(c_uint64)]),
    ("tc_stats_remote_reason", tc_status, [c_void_p, POINTER(TcBytes)]),
    ("tc_sink_put", tc_status, [c_void_p, c_char_p, c_size_t, c_uint64]),
    ("tc_cache_set_loader", tc_status, [c_void_p, LOADER_FN, c_void_p, FREE_FN]),
    ("tc_get_info", tc_status, [c_void_p, c_char_p, c_size_t, POINTER(TcEntryInfo)]),
    ("tc_touch", tc_status, [c_void_p, c_char_p, c_size_t, c_uint64]),
    # tc_iter * is an opaque handle too.
    ("tc_iter_new", tc_status, [c_void_p, c_char_p, c_size_t, POINTER(c_void_p)]),
    ("tc_iter_next", tc_status, [c_void_p, POINTER(TcBytes), POINTER(TcEntryInfo)]),
    ("tc_iter_free", None, [c_void_p]),
    ("tc_count", tc_status, [c_void_p, c_char_p, c_size_t, POINTER(c_uint64), POINTER(c_uint64)]),
    ("tc_get_many", tc_status, [c_void_p, POINTER(TcSlice), c_size_t, POINTER(TcBytes), POINTER(tc_status)]),
    ("tc_put_many", tc_status, [c_void_p, POINTER(TcSlice), POINTER(TcSlice), c_size_t, c_uint64]),
    # Every array of tc_get_many_into is passed by address (an int): the batch
    # path packs them in array.array buffers (see _batch.py), not ctypes
    # arrays, which cost a Python object per element to fill and to read.
    (
        "tc_get_many_into",
        tc_status,
        [c_void_p, c_void_p, c_size_t, c_void_p, c_size_t, c_void_p, c_void_p, c_void_p],
    ),
    ("tc_get_or_load", tc_status, [c_void_p, c_char_p, c_size_t, LOADER_FN, c_void_p, POINTER(TcBytes)]),
    # tc_entry_options * is an opaque handle too; the dependency path is NUL-terminated.
    ("tc_entry_options_new", c_void_p, []),
    ("tc_entry_options_free", None, [c_void_p]),
    ("tc_entry_options_set_ttl", tc_status, [c_void_p, c_uint64]),
    ("tc_entry_options_add_tag", tc_status, [c_void_p, c_char_p, c_size_t]),
    ("tc_entry_options_set_dependency", tc_status, [c_void_p, c_char_p]),
    ("tc_put_with", tc_status, [c_void_p, c_char_p, c_size_t, c_char_p, c_size_t, c_void_p]),
    ("tc_sink_put_with", tc_status, [c_void_p, c_char_p, c_size_t, c_void_p]),
    ("tc_remove_tag", tc_status, [c_void_p, c_char_p, c_size_t, POINTER(c_uint64)]),
]

#: Every C function this module declares (the tests compare it with the header).
DECLARED_FUNCTIONS = frozenset(name for name, _, _ in _SIGNATURES)


def library_filename() -> str:
    """The shared library's file name on this platform, as cargo names it."""
    if sys.platform == "darwin":
        return "libtiercache.dylib"
    if sys.platform == "win32":
        return "tiercache.dll"
    return "libtiercache.so"


def _candidates() -> List[Tuple[str, Path]]:
    """Where to look, in order: ``(why, path)`` pairs.

    An explicit ``TIERCACHE_LIBRARY`` is the only candidate when set, so that a
    typo in it is an error rather than a silent fallback to another copy.
    """
    override = os.environ.get(LIBRARY_ENV)
    if override:
        return [(f"${LIBRARY_ENV}", Path(override))]
    here = Path(__file__).resolve().parent
    found = [("bundled with the package", here / library_filename())]
    # Running from a checkout: bindings/python/tiercache/ -> the repository root.
    repo = here.parents[2] if len(here.parents) > 2 else None
    if repo is not None and (repo / "Cargo.toml").is_file():
        found.append(("the repository's cargo build", repo / "target" / "release" / library_filename()))
    return found


def _library_version(lib: ctypes.CDLL) -> str:
    """``tc_version()`` of a loaded library, before the other declarations."""
    func = lib.tc_version
    func.restype = c_char_p
    func.argtypes = []
    raw: Optional[bytes] = func()
    return raw.decode("ascii", "replace") if raw else "?"


def _load() -> Tuple[ctypes.CDLL, Path]:
    """Loads the first candidate that exists, exports the whole API and is this
    package's version: the ctypes declarations below are this version's, so a
    library of another version is refused rather than called with them."""
    tried = []
    for why, path in _candidates():
        if not path.is_file():
            tried.append(f"  {path} ({why}): no such file")
            continue
        try:
            # CDLL (not PyDLL) releases the GIL during each call, so threads
            # really run in parallel inside the library.
            lib = ctypes.CDLL(str(path))
        except OSError as exc:
            tried.append(f"  {path} ({why}): not a loadable library: {exc}")
            continue
        missing = [name for name in DECLARED_FUNCTIONS if not hasattr(lib, name)]
        if missing:
            tried.append(
                f"  {path} ({why}): not the tiercache library {__version__}: "
                f"lacks {', '.join(sorted(missing))}"
            )
            continue
        version = _library_version(lib)
        if version != __version__:
            tried.append(
                f"  {path} ({why}): is libtiercache {version}, but this Python package is "
                f"tiercache {__version__}; the two must be the same version"
            )
            continue
        return lib, path
    raise ImportError(
        f"tiercache {__version__}: cannot load the tiercache C library. Tried:\n"
        + "\n".join(tried)
        + f"\nReinstall the package (pip install --force-reinstall tiercache=={__version__}), "
        f"or set {LIBRARY_ENV} to the path of a {library_filename()} of version {__version__}."
    )


def _declare(lib: ctypes.CDLL) -> None:
    for name, restype, argtypes in _SIGNATURES:
        func = getattr(lib, name)
        func.restype = restype
        func.argtypes = argtypes


lib, library_path = _load()
_declare(lib)

#: ``tc_get_into`` for the get hot path: a second function object (``lib[name]``
#: makes a new one; ``lib.name`` is the declared one) with *no* ``argtypes``.
#: With argtypes, ctypes runs a ``from_param`` conversion per argument on every
#: call, which costs more than the lookup itself.  Without them, every argument
#: must already have its C type: the caller passes the handle as a ``c_void_p``,
#: the key as ``bytes`` (passed as a pointer to its buffer, no copy), the
#: lengths as ``c_size_t`` objects, the buffer as a ctypes ``c_char`` array and
#: the out-length as ``byref(c_size_t)``.  Never pass a Python ``int``: it would
#: become a C ``int``.  Only ``Cache._get`` uses it.
tc_get_into_unchecked = lib["tc_get_into"]
tc_get_into_unchecked.restype = tc_status
tc_get_into_unchecked.argtypes = None  # type: ignore[assignment]  # ctypes accepts None: no conversion


class _PyObjectFunc(ctypes._CFuncPtr):  # type: ignore[name-defined,misc]
    """A function of ``lib`` called as ``ctypes.PyDLL`` calls its functions:
    with the GIL held (``_FUNCFLAG_PYTHONAPI``; ctypes then also raises the
    Python exception a NULL result leaves set), returning a new reference to
    a Python object (``py_object``).  Only for ``tc_get_made``, which lets
    the GIL go itself before anything that may wait."""

    _flags_ = ctypes._FUNCFLAG_CDECL | ctypes._FUNCFLAG_PYTHONAPI  # type: ignore[attr-defined]
    _restype_ = ctypes.py_object


#: ``tc_get_made`` for get's path without a loader, called with the GIL held
#: and no ``argtypes`` (the caller passes ``byref(TcMade)`` built once, the
#: key as ``bytes`` and its length as a ready ``c_size_t`` argument).  Its
#: result is the value as ``bytes``, or the status as an ``int``
#: (``TC_NOT_FOUND``, or an error with ``tc_last_error()`` set).  An L1 hit
#: is answered with the GIL held, and only if it takes no waiting; anything
#: else is got with the GIL let go (``PyEval_SaveThread``) and taken back
#: (``PyEval_RestoreThread``) before the answer is made, as ``CDLL`` does
#: around a whole call.  Against ``tc_get_into_word`` through ``CDLL``, a
#: hit saves ctypes' release and reacquisition of the GIL, the scratch
#: buffer and the slice that copied the value out of it (BENCHMARKS.md,
#: History, "Session 39").  Only ``Cache.get`` and ``Cache.__getitem__`` use it.
tc_get_made_unchecked = _PyObjectFunc(("tc_get_made", lib))

# The CPython functions tc_get_made makes its answer with, as addresses; None
# where ctypes has no pythonapi (an interpreter other than CPython).
_PYTHON_API: Optional[Tuple[Optional[int], ...]]
try:
    _PYTHON_API = tuple(
        ctypes.cast(getattr(ctypes.pythonapi, name), c_void_p).value
        for name in ("PyBytes_FromStringAndSize", "PyLong_FromLong", "PyEval_SaveThread", "PyEval_RestoreThread")
    )
except AttributeError:  # pragma: no cover (CPython has them all)
    _PYTHON_API = None


def made_for(handle: Optional[int]) -> Optional[TcMade]:
    """The ``tc_made`` of a cache handle: values as ``bytes``
    (``PyBytes_FromStringAndSize``), statuses as ``int`` (``PyLong_FromLong``),
    the GIL let go with ``PyEval_SaveThread`` and taken back with
    ``PyEval_RestoreThread``.  None outside CPython: every get then takes the
    path a get with a loader takes (``Cache._get_loading``)."""
    return None if _PYTHON_API is None else TcMade(handle, *_PYTHON_API)


class _IntResultFunc(ctypes._CFuncPtr):  # type: ignore[name-defined,misc]
    """A function of ``lib`` whose C return type is ``int`` (``tc_status``),
    declared with no ``restype`` at all rather than ``c_int``.

    ctypes converts the result of a function without a restype with one
    ``PyLong_FromLong(*(int *)result)``; with ``restype = c_int`` it looks
    the type's converter up and then, on every call, scans its table of
    type codes for ``"O"`` (to see whether the result is a ``py_object``),
    about 150 instructions of a put's ~7900 (callgrind, CPython 3.11).  The
    ABI is the same: ctypes' default result type is C ``int``, which is what
    ``tc_status`` (a C enum of small values) is passed as.  Only for
    functions returning ``tc_status``: anything wider would be truncated.
    ``_CFuncPtr`` and ``_FUNCFLAG_CDECL`` are what ``ctypes.CDLL`` builds its
    own function class from (``CDLL._FuncPtr``), minus its ``_restype_``."""

    _flags_ = ctypes._FUNCFLAG_CDECL  # type: ignore[attr-defined]


#: ``tc_put`` for put's fast path (no tags, no dependency), for the same
#: reason and with the same rules as ``tc_get_into_unchecked``: every
#: argument already of its C type (the handle a ``c_void_p``, key and value
#: ``bytes``, the lengths ``c_size_t``, the TTL a ``c_uint64``).  Only
#: ``Cache.put`` and ``Cache.__setitem__`` use it.  An ``_IntResultFunc``
#: has no ``argtypes`` unless given some.
tc_put_unchecked = _IntResultFunc(("tc_put", lib))

#: ``tc_put_many`` with its two ``tc_slice`` arrays passed by address (ints),
#: for the same reason as ``tc_get_many_into``: ``Cache.put_many`` packs them
#: in ``array.array`` buffers.  A second function object, as above, so that
#: the declared ``lib.tc_put_many`` keeps its typed signature.
tc_put_many_packed = lib["tc_put_many"]
tc_put_many_packed.restype = tc_status
tc_put_many_packed.argtypes = [c_void_p, c_void_p, c_void_p, c_size_t, c_uint64]


def last_error() -> str:
    """``tc_last_error()``: the calling thread's last failure message ("" if none)."""
    raw: Optional[bytes] = lib.tc_last_error()
    return raw.decode("utf-8", "replace") if raw else ""


def status_str(status: int) -> str:
    """``tc_status_str()``: the library's short description of a status."""
    raw: Optional[bytes] = lib.tc_status_str(status)
    return raw.decode("utf-8", "replace") if raw else ""
