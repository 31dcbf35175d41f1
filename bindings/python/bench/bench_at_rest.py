#!/usr/bin/env python3
"""Values at rest on a corpus of real text: disk bytes per value and get/put cost.

    python bench/bench_at_rest.py [--corpus DIR] [--rounds R] [--max-files N] [--quick]

The corpus is the repository's own sources and docs (every ``.rs``, ``.md``,
``.go``, ``.py``, ``.c``, ``.h``, ``.hpp``, ``.cpp``, ``.toml`` and ``.sh``
file under DIR, default the repository; ``target`` and hidden directories
skipped), one value per file, keyed by its path.  Each configuration opens a
fresh directory, puts every value once (timed), closes and measures the
files on disk, reopens and gets every value from disk (memory tier empty,
timed), then gets them again from memory (timed):

- tiercache with no compression, LZ4, Zstandard, and Zstandard with an
  encryption key (``compress_min_size=1``: every value is tried);
- diskcache with values pickled and compressed with zlib (a ``Disk``
  subclass, as diskcache's docs suggest for compressed values; level 6,
  zlib's default).

Every value read back is compared with the original.  Prints one table:
disk bytes per value (and the ratio to the raw text), and the median of
put, get from disk and get from memory in microseconds.  Configurations are
interleaved round by round, so machine noise lands on all alike.
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Any, Dict, List, Tuple

import tiercache

try:
    import diskcache  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover
    sys.exit("bench_at_rest: `pip install diskcache` first")

# The same per-call timer as the other benchmark (this directory is on sys.path).
from bench_vs_diskcache import timed  # noqa: E402

SUFFIXES = {".rs", ".md", ".go", ".py", ".c", ".h", ".hpp", ".cpp", ".toml", ".sh"}
KEY = bytes(range(32))


class ZlibPickleDisk(diskcache.Disk):  # type: ignore[misc]
    """diskcache's Disk with values pickled, then zlib-compressed."""

    def store(self, value: Any, read: bool, key: Any = diskcache.core.UNKNOWN) -> Any:
        if not read:
            value = zlib.compress(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), 6)
        return super().store(value, read, key=key)

    def fetch(self, mode: int, filename: str, value: Any, read: bool) -> Any:
        data = super().fetch(mode, filename, value, read)
        if not read:
            data = pickle.loads(zlib.decompress(data))
        return data


def corpus(root: Path, max_files: int) -> List[Tuple[bytes, bytes]]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in ("target", "build", "node_modules"))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.suffix not in SUFFIXES:
                continue
            data = path.read_bytes()
            if 0 < len(data) <= 1 << 20:
                out.append((str(path.relative_to(root)).encode(), data))
    return out[:max_files]


def dir_bytes(d: Path) -> int:
    return sum(f.stat().st_size for f in d.rglob("*") if f.is_file())


class Config:
    def __init__(self, name: str, kind: str, options: Dict[str, Any]) -> None:
        self.name, self.kind, self.options = name, kind, options

    def open(self, d: Path) -> Any:
        if self.kind == "tiercache":
            return tiercache.Cache(d, **self.options)
        # No size limit: every value stays, as in tiercache's default bound.
        return diskcache.Cache(str(d), disk=ZlibPickleDisk, size_limit=1 << 40)

    def put(self, c: Any, k: bytes, v: bytes) -> None:
        if self.kind == "tiercache":
            c.put(k, v)
        else:
            c.set(k, v)

    def get(self, c: Any, k: bytes) -> Any:
        return c.get(k)


CONFIGS = [
    Config("tiercache, no compression", "tiercache", {}),
    Config("tiercache, LZ4", "tiercache", {"compression": "lz4", "compress_min_size": 1}),
    Config("tiercache, Zstandard", "tiercache", {"compression": "zstd", "compress_min_size": 1}),
    Config(
        "tiercache, Zstandard + encryption",
        "tiercache",
        {"compression": "zstd", "compress_min_size": 1, "encryption_key": KEY},
    ),
    Config("tiercache, no compression + encryption", "tiercache", {"encryption_key": KEY}),
    Config("diskcache, zlib-pickled values", "diskcache", {}),
]


def one_round(cfg: Config, values: Dict[bytes, bytes], tmp: Path, samples: Dict[str, List[int]]) -> int:
    d = tmp / cfg.name.replace(" ", "_").replace(",", "").replace("+", "and")
    keys = list(values)
    c = cfg.open(d)
    samples["put"] += timed(lambda k: cfg.put(c, k, values[k]), keys)
    c.close()
    size = dir_bytes(d)
    c = cfg.open(d)
    got: Dict[bytes, Any] = {}

    def read(k: bytes) -> None:
        got[k] = cfg.get(c, k)

    samples["get disk"] += timed(read, keys)
    samples["get memory"] += timed(lambda k: cfg.get(c, k), keys) if cfg.kind == "tiercache" else []
    c.close()
    bad = [k for k in keys if got[k] != values[k]]
    if bad:
        sys.exit(f"{cfg.name}: {len(bad)} values read back wrong, e.g. {bad[0]!r}")
    return size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=Path(__file__).resolve().parents[3])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--max-files", type=int, default=100000)
    ap.add_argument("--quick", action="store_true", help="a smoke run: 40 files, one round")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.max_files = 1, 40
    files = corpus(args.corpus, args.max_files)
    values = dict(files)
    raw = sum(len(v) for v in values.values())
    print(f"corpus: {len(values)} files, {raw} bytes, median {statistics.median(len(v) for v in values.values()):.0f} bytes")
    samples: Dict[str, Dict[str, List[int]]] = {c.name: {"put": [], "get disk": [], "get memory": []} for c in CONFIGS}
    sizes: Dict[str, int] = {}
    for _ in range(args.rounds):
        for cfg in CONFIGS:
            with tempfile.TemporaryDirectory(prefix="tc-atrest-") as tmp:
                sizes[cfg.name] = one_round(cfg, values, Path(tmp), samples[cfg.name])
    n = len(values)
    med = lambda xs: statistics.median(xs) / 1000 if xs else float("nan")  # noqa: E731
    print()
    print("| configuration | disk bytes / value | disk / raw text | put µs | get (disk) µs | get (memory) µs |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    print(f"| raw text | {raw / n:.0f} | 1.00 | - | - | - |")
    for cfg in CONFIGS:
        s = samples[cfg.name]
        mem = f"{med(s['get memory']):.2f}" if s["get memory"] else "-"
        print(
            f"| {cfg.name} | {sizes[cfg.name] / n:.0f} | {sizes[cfg.name] / raw:.2f} | "
            f"{med(s['put']):.2f} | {med(s['get disk']):.2f} | {mem} |"
        )


if __name__ == "__main__":
    main()
