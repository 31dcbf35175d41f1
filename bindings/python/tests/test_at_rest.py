"""Compression and encryption of the disk tier, through the Python options."""

from __future__ import annotations

from pathlib import Path

import pytest

import tiercache

KEY = b"python binding key of 32 bytes!!"


@pytest.mark.parametrize("compression", ["none", "lz4", "zstd"])
def test_encrypted_values_read_back_and_nothing_is_readable_on_disk(cache_dir: Path, compression: str) -> None:
    value = b"a secret and very repetitive value; " * 50
    with tiercache.Cache(cache_dir, compression=compression, compress_min_size=1, encryption_key=KEY) as c:
        for i in range(20):
            c[f"secret-key-{i}"] = value
        saved = c.counter("compressed_bytes_saved")
        assert (saved > 0) == (compression != "none")
    for f in cache_dir.iterdir():
        assert b"secret" not in f.read_bytes(), f
    with tiercache.Cache(cache_dir, encryption_key=KEY) as c:
        assert c["secret-key-3"] == value
    with pytest.raises(tiercache.InvalidArgument, match="is encrypted"):
        tiercache.Cache(cache_dir)
    with pytest.raises(tiercache.InvalidArgument, match="wrong encryption key"):
        tiercache.Cache(cache_dir, encryption_key=bytes(32))


def test_a_plain_directory_refuses_a_key(cache_dir: Path) -> None:
    with tiercache.Cache(cache_dir) as c:
        c["k"] = "v"
    with pytest.raises(tiercache.InvalidArgument, match="without an encryption key"):
        tiercache.Cache(cache_dir, encryption_key=KEY)


def test_bad_at_rest_options() -> None:
    for bad in (b"", b"short", bytes(33)):
        with pytest.raises(tiercache.InvalidArgument, match="32 bytes"):
            tiercache.Cache(encryption_key=bad)
    with pytest.raises(ValueError, match="compression"):
        tiercache.Cache(compression="gzip")
    with pytest.raises(TypeError):
        tiercache.Cache(encryption_key="not bytes")  # type: ignore[arg-type]
