#!/usr/bin/env python3
"""tiercache against diskcache: get and set latency, same keys and values, same run.

    python bench/bench_vs_diskcache.py [--keys N] [--fsync-keys N] [--value-size B] [--rounds R] [--quick] [--csv FILE]

Both caches are persistent and open on a fresh temporary directory with their
default settings.  These differ in what a set has done when it returns, and so
in what it costs:

- tiercache (write-through, ``sync_policy="on_flush"``): the record is in the
  library's append buffer (up to 64 KiB, written to the file when it fills),
  nothing fsynced until flush or close.  A killed process loses what was
  still in the buffer (docs/CONSISTENCY.md §5).
- diskcache 5 (SQLite, ``sqlite_journal_mode="wal"``,
  ``sqlite_synchronous=1``, i.e. NORMAL): each set is its own transaction,
  written to the WAL file (one ``write`` at least) before it returns, so a
  killed process loses nothing; the WAL is fsynced only at its checkpoints
  (every 1000 pages), not at each commit.

So neither fsyncs per set, but diskcache's default does more per set than
tiercache's: ``set`` is the defaults against each other, not the same
durability.  ``set fsync`` is the same durability: both fsync before a set
returns (tiercache ``sync_policy="always"``, diskcache
``sqlite_synchronous=2``, FULL, which fsyncs the WAL at every commit), on
``--fsync-keys`` keys of their own caches (fsyncs are slow).

For each operation it times every call separately and prints the median and
the 99th percentile in microseconds, and the ratio of the medians (diskcache
/ tiercache: above 1 means tiercache is faster).

Phases: ``set`` (insert every key), ``set fsync`` (the same, fsynced: see
above), ``get hit`` (read every key, warm), ``get
miss`` (keys never written), and for tiercache ``get L2`` (memory tier dropped
with clear(memory_only=True) before each round, so reads come from disk).
``--floor-lib LIB`` (a build of benchmarks/c/noop.c) adds the floors, timed
the same way: the timer and a Python call alone, and a ctypes call of a C
function that does nothing, in the shape of tc_get_into (6 arguments, the
length read back) and of tc_get_into_word (3 arguments, the length returned;
what ``get`` called until session 39), the latter also with the 100-byte
``bytes`` a hit makes in Python; and in the shape of tc_get_made (what ``get``
calls: 3 arguments, the GIL held, the ``bytes`` made in C and returned).
``--quick`` is a smoke run for the tests: few keys, one round.  ``--csv FILE``
also writes the medians as ``operation,tiercache_us,diskcache_us`` (the last
empty where diskcache has no such operation), for ``tiercache-benchmarks
python``, which runs this script.
"""

from __future__ import annotations

import argparse
import ctypes
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import tiercache
from tiercache import _native

try:
    import diskcache  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover
    sys.exit("bench_vs_diskcache: `pip install diskcache` first")


def timed(op: Callable[[bytes], object], keys: Sequence[bytes]) -> List[int]:
    """Nanoseconds of each call of ``op``, one per key."""
    clock = time.perf_counter_ns
    out = []
    for key in keys:
        start = clock()
        op(key)
        out.append(clock() - start)
    return out


def timed_batches(
    op: Callable[[Any], object],
    keys: Sequence[bytes],
    size: int = 100,
    make: Callable[[List[bytes]], Any] = list,
) -> List[int]:
    """Nanoseconds per key of each call of ``op`` on ``size`` keys at once.
    ``make`` turns the keys into the batch ``op`` takes (the list of them,
    or for a set the dict of them to their values), before the clock starts:
    what is timed is the library, not building its input."""
    clock = time.perf_counter_ns
    out = []
    for i in range(0, len(keys) - size + 1, size):
        batch = make(list(keys[i : i + size]))
        start = clock()
        op(batch)
        out.append((clock() - start) // size)
    return out


def summary(samples: List[int]) -> Dict[str, float]:
    samples = sorted(samples)
    return {
        "median": statistics.median(samples) / 1000,
        "p99": samples[min(len(samples) - 1, int(len(samples) * 0.99))] / 1000,
    }


def floor_ops(lib_path: Path, value_size: int) -> Dict[str, Callable[[bytes], object]]:
    """The floor phases: each a Python function of one key, as ``tc.get`` is,
    whose body is only the call mechanism (see the module doc)."""
    lib = ctypes.CDLL(str(lib_path))
    six = lib["noop_get_into"]
    six.restype = ctypes.c_int32
    six.argtypes = None  # type: ignore[assignment]  # as tiercache's fast paths: no conversion
    word = lib["noop_get_into_word"]
    word.restype = ctypes.c_int64
    word.argtypes = None  # type: ignore[assignment]
    buf = ctypes.create_string_buffer(64 * 1024)
    buf_ref, cap = ctypes.byref(buf), ctypes.c_size_t.from_param(len(buf))
    out = ctypes.c_size_t(0)
    out_ref = ctypes.byref(out)
    handle = ctypes.c_void_p.from_param(1)
    target = ctypes.byref(ctypes.c_char(0))
    lens = tuple(ctypes.c_size_t.from_param(n) for n in range(256))

    def nothing(key: bytes) -> None:
        return None

    def ctypes_six(key: bytes) -> object:
        return six(handle, key, lens[len(key)], buf_ref, cap, out_ref) == 0 and out.value

    def ctypes_word(key: bytes) -> object:
        return word(target, key, lens[len(key)])

    def ctypes_word_bytes(key: bytes) -> object:
        if word(target, key, lens[len(key)]) >= 0:
            return buf[:value_size]
        return None

    class NoopMade(ctypes.Structure):
        _fields_ = [("value_len", ctypes.c_size_t), ("value", ctypes.c_void_p)]

    # Called as get calls tc_get_made: the binding's own function class (GIL
    # held, a py_object returned) and its constructor of bytes.
    made_fn = _native._PyObjectFunc(("noop_get_made", lib))
    made_fn.argtypes = None
    noop_made = NoopMade(value_size, _native.made_for(None).value)
    made_ref = ctypes.byref(noop_made)

    def pydll_made(key: bytes) -> object:
        r = made_fn(made_ref, key, lens[len(key)])
        if type(r) is bytes:
            return r
        return None

    return {
        "floor: timer + Python call": nothing,
        "floor: ctypes no-op, 6 args": ctypes_six,
        "floor: ctypes no-op, 3 args": ctypes_word,
        "floor: no-op 3 args + bytes": ctypes_word_bytes,
        "floor: no-op in get's shape (GIL held, bytes made in C)": pydll_made,
    }


def run(
    n_keys: int, value_size: int, rounds: int, floor_lib: Optional[Path] = None, fsync_keys: int = 500
) -> Dict[str, Dict[str, Dict[str, float]]]:
    rng = random.Random(42)
    keys = [f"bench:key:{i:08d}".encode() for i in range(n_keys)]
    misses = [f"bench:absent:{i:08d}".encode() for i in range(n_keys)]
    values = {k: rng.randbytes(value_size) for k in keys}
    results: Dict[str, Dict[str, List[int]]] = {"tiercache": {}, "diskcache": {}}
    floors = floor_ops(floor_lib, value_size) if floor_lib is not None else {}

    def add(lib: str, phase: str, samples: List[int]) -> None:
        results[lib].setdefault(phase, []).extend(samples)

    with tempfile.TemporaryDirectory(prefix="tc-bench-") as tmp:
        tc = tiercache.Cache(Path(tmp) / "tiercache")
        dc = diskcache.Cache(str(Path(tmp) / "diskcache"))
        # The same durability: each fsyncs before a set returns.
        tc_sync = tiercache.Cache(Path(tmp) / "tiercache-fsync", sync_policy="always")
        dc_sync = diskcache.Cache(str(Path(tmp) / "diskcache-fsync"), sqlite_synchronous=2)
        try:
            for _ in range(rounds):
                order = keys[:]
                rng.shuffle(order)
                # Interleave the two libraries phase by phase, so that machine
                # noise (other jobs, CPU frequency) hits both alike.
                add("tiercache", "set", timed(lambda k: tc.put(k, values[k]), order))
                add("diskcache", "set", timed(lambda k: dc.set(k, values[k]), order))
                add("tiercache", "set fsync", timed(lambda k: tc_sync.put(k, values[k]), order[:fsync_keys]))
                add("diskcache", "set fsync", timed(lambda k: dc_sync.set(k, values[k]), order[:fsync_keys]))
                add("tiercache", "get hit", timed(tc.get, order))
                for phase, op in floors.items():
                    add("tiercache", phase, timed(op, order))
                add("diskcache", "get hit", timed(dc.get, order))
                add("tiercache", "get miss", timed(tc.get, misses))
                add("diskcache", "get miss", timed(dc.get, misses))
                # Batches of 100: tiercache's put_many / get_many (one C call
                # each); diskcache has no batch get, so its figure is a loop
                # of get, and its batch set is a loop of set in one transaction.
                # Both sets take the same dict of the batch's pairs, built
                # before the clock starts.
                def pairs(b: List[bytes]) -> Dict[bytes, bytes]:
                    return {k: values[k] for k in b}

                def dc_set_batch(batch: Dict[bytes, bytes]) -> None:
                    with dc.transact():
                        for k, v in batch.items():
                            dc.set(k, v)

                add("tiercache", "set x100", timed_batches(tc.put_many, order, make=pairs))
                add("diskcache", "set x100", timed_batches(dc_set_batch, order, make=pairs))
                add("tiercache", "get x100", timed_batches(tc.get_many, order))
                add("diskcache", "get x100", timed_batches(lambda b: [dc.get(k) for k in b], order))
                tc.clear(memory_only=True)
                add("tiercache", "get L2", timed(tc.get, order))
            # Sanity: both hold the same data.
            sample = keys[:: max(1, n_keys // 50)]
            assert all(tc.get(k) == values[k] == dc.get(k) for k in sample), "caches disagree"
            synced = order[:fsync_keys]
            assert all(tc_sync.get(k) == values[k] == dc_sync.get(k) for k in synced), "fsynced caches disagree"
        finally:
            tc.close()
            dc.close()
            tc_sync.close()
            dc_sync.close()
    return {lib: {phase: summary(s) for phase, s in phases.items()} for lib, phases in results.items()}


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=20000)
    parser.add_argument("--fsync-keys", type=int, default=500, help="keys of the set fsync phase (default 500)")
    parser.add_argument("--value-size", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="smoke run: 300 keys, 1 round")
    parser.add_argument("--csv", type=Path, help="also write the medians to this CSV file")
    parser.add_argument("--floor-lib", type=Path, help="benchmarks/c/noop.c built as a shared library: adds the floors")
    args = parser.parse_args(argv)
    if args.quick:
        args.keys, args.rounds, args.fsync_keys = 300, 1, 30

    res = run(args.keys, args.value_size, args.rounds, args.floor_lib, args.fsync_keys)
    print(
        f"tiercache {tiercache.__version__} (library {tiercache.library_version()}) vs diskcache "
        f"{diskcache.__version__}: {args.keys} keys, {args.value_size}-byte values, {args.rounds} round(s)"
    )
    print(f"{'operation':<10} {'tiercache µs':>13} {'p99':>7} {'diskcache µs':>13} {'p99':>7} {'ratio':>7}")
    floors = [p for p in res["tiercache"] if p.startswith("floor:")]
    for phase in ["set", "set fsync", "get hit", "get miss", "set x100", "get x100", "get L2"] + floors:
        t = res["tiercache"].get(phase)
        d = res["diskcache"].get(phase)
        assert t is not None
        if d is None:
            print(f"{phase:<10} {t['median']:>13.2f} {t['p99']:>7.1f} {'-':>13} {'-':>7} {'-':>7}")
            continue
        ratio = d["median"] / t["median"] if t["median"] else float("inf")
        print(f"{phase:<10} {t['median']:>13.2f} {t['p99']:>7.1f} {d['median']:>13.2f} {d['p99']:>7.1f} {ratio:>6.1f}x")
    if args.csv is not None:
        lines = ["operation,tiercache_us,diskcache_us"]
        for phase, t in res["tiercache"].items():
            d = res["diskcache"].get(phase)
            lines.append(f"{phase},{t['median']:.4f},{'' if d is None else format(d['median'], '.4f')}")
        args.csv.write_text("\n".join(lines) + "\n")
    print("ratio = diskcache median / tiercache median (above 1: tiercache faster)")
    print("x100: per key, in batches of 100 (tiercache put_many / get_many; diskcache a loop)")
    print("set: each library's defaults (diskcache writes each set to its WAL, tiercache to its buffer);")
    print("set fsync: both fsync before a set returns (the same durability; see the module doc)")
    try:
        with open("/proc/loadavg") as f:
            print("load average: " + " ".join(f.read().split()[:3]))
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
