"""The ctypes declarations against the committed C header."""

from __future__ import annotations

import ctypes
import re

import pytest

import tiercache
from tiercache import _native

from conftest import REPO

HEADER = REPO / "include" / "tiercache.h"

pytestmark = pytest.mark.skipif(not HEADER.is_file(), reason="needs the repository's include/tiercache.h")


def _header() -> str:
    return HEADER.read_text()


def test_every_header_function_is_declared() -> None:
    # A declaration: a return type, the tc_ name, "(", at the start of a line.
    names = set(re.findall(r"^[a-z][\w ]*?\**\s*\**(tc_\w+)\(", _header(), re.M))
    assert names, "no functions found in the header"
    assert names == set(_native.DECLARED_FUNCTIONS)
    for name in names:
        func = getattr(_native.lib, name)
        assert func.argtypes is not None, name


def test_status_values_match_header() -> None:
    values = {m.group(1): int(m.group(2)) for m in re.finditer(r"\bTC_(\w+) = (\d+)", _header())}
    for status in tiercache.Status:
        assert values[status.name] == status.value
    assert {k for k in values if k in tiercache.Status.__members__} == set(tiercache.Status.__members__)


def test_stats_struct_mirrors_header() -> None:
    body = re.search(r"typedef struct tc_stats \{(.*?)\} tc_stats;", _header(), re.S)
    assert body
    fields = re.findall(r"^\s*(uint\d+_t) (\w+);", body.group(1), re.M)
    ctypes_of = {"uint64_t": ctypes.c_uint64, "uint32_t": ctypes.c_uint32}
    assert [(n, ctypes_of[t]) for t, n in fields] == list(_native.TcStats._fields_)


@pytest.mark.parametrize("name, struct", [("tc_entry_info", _native.TcEntryInfo), ("tc_slice", _native.TcSlice)])
def test_entry_structs_mirror_header(name: str, struct: type) -> None:
    body = re.search(r"typedef struct %s \{(.*?)\} %s;" % (name, name), _header(), re.S)
    assert body
    fields = re.findall(r"^\s*(?:const )?(uint\d+_t|size_t)\s*\*?\s*(\w+);", body.group(1), re.M)
    assert [n for _, n in fields] == [n for n, _ in struct._fields_]  # type: ignore[attr-defined]
    sizes = {"uint64_t": 8, "uint32_t": 4}
    for (ctype, fname), (_, field_type) in zip(fields, struct._fields_):  # type: ignore[attr-defined]
        if ctype in sizes:
            assert ctypes.sizeof(field_type) == sizes[ctype], fname


def test_status_str() -> None:
    assert _native.status_str(tiercache.Status.LOCKED)
    assert _native.status_str(12345)  # "unknown status", never NULL


def test_put_fast_path_returns_the_status_as_an_int() -> None:
    # tc_put_unchecked has no restype (see _native._IntResultFunc): ctypes
    # reads its result as a C int, which is right only while tc_put returns
    # tc_status.
    assert re.search(r"^enum tc_status tc_put\(", _header(), re.M)
    put = _native.tc_put_unchecked
    assert isinstance(put, _native._IntResultFunc)
    args = (b"k", ctypes.c_size_t(1), b"v", ctypes.c_size_t(1), ctypes.c_uint64(0))
    status = put(None, *args)  # a NULL handle
    assert type(status) is int and status == tiercache.Status.INVALID_ARGUMENT
    cache = tiercache.Cache()
    handle = ctypes.c_void_p.from_param(cache._handle)  # type: ignore[attr-defined]
    assert put(handle, *args) == tiercache.Status.OK
    assert cache[b"k"] == b"v"
    cache.close()
    assert put(handle, *args) == tiercache.Status.CLOSED
