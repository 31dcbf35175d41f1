"""Cache(read_only=True): look inside a directory without changing it."""

import os

import pytest

import tiercache


def _snapshot(path):
    return {name: open(os.path.join(path, name), "rb").read() for name in sorted(os.listdir(path))}


def test_read_only_reads_refuses_writes_and_changes_nothing(tmp_path):
    d = str(tmp_path / "c")
    with tiercache.Cache(d) as c:
        c["k"] = "v"
    before = _snapshot(d)
    with tiercache.Cache(d, read_only=True) as c:
        assert c["k"] == b"v"
        with pytest.raises(tiercache.InvalidArgument, match="read-only"):
            c["other"] = "x"
        with pytest.raises(tiercache.InvalidArgument):
            del c["k"]
    assert _snapshot(d) == before


def test_read_only_needs_an_existing_directory(tmp_path):
    with pytest.raises(tiercache.InvalidArgument):
        tiercache.Cache(str(tmp_path / "missing"), read_only=True)
    assert not (tmp_path / "missing").exists()
