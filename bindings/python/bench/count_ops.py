#!/usr/bin/env python3
"""One Python path of tiercache in a loop, for instruction counts under callgrind.

    python bench/count_ops.py OP N        # OP: get | put | get_many | put_many

Opens a cache on a fresh temporary directory, puts 2000 keys of 100-byte
values (as bench_vs_diskcache.py's, in a shuffled order), then runs N
operations of OP: N gets (L1 hits) or puts through ``Cache.get`` /
``Cache.put``, or N keys in batches of 100 through ``get_many`` /
``put_many`` (each put_many given a dict built for it, as a caller would).
It prints nothing and asserts nothing about time: it exists to be counted.
The instructions per operation are the difference of two runs, N and 0,
divided by N (the start-up and the setup cancel out)::

    cd bindings/python
    run() { PYTHONHASHSEED=0 TIERCACHE_LIBRARY=../../target/release/libtiercache.so PYTHONPATH=. \\
        valgrind --tool=callgrind --callgrind-out-file=/dev/null .venv/bin/python bench/count_ops.py "$@" 2>&1 \\
        | sed -n 's/.*Collected : //p'; }
    echo $(( ($(run get 40000) - $(run get 0)) / 40000 ))

PYTHONHASHSEED=0 keeps the interpreter's start-up the same from run to run:
with a random seed the two runs differ by a few hundred thousand
instructions, a few per operation.
"""

from __future__ import annotations

import random
import sys
import tempfile
from pathlib import Path

import tiercache


def main(op: str, n: int) -> None:
    rng = random.Random(42)
    keys = [f"bench:key:{i:08d}".encode() for i in range(2000)]
    values = {k: rng.randbytes(100) for k in keys}
    order = keys[:]
    rng.shuffle(order)
    seq = (order * (n // len(order) + 1))[:n]
    with tempfile.TemporaryDirectory(prefix="tc-count-") as tmp:
        with tiercache.Cache(Path(tmp) / "tc") as tc:
            for k in order:
                tc.put(k, values[k])
            # Warm every path once, so that no first-call setup is counted.
            tc.get(order[0])
            tc.get_many(order[:100])
            tc.put_many({k: values[k] for k in order[:100]})
            if op == "get":
                get = tc.get
                for k in seq:
                    get(k)
            elif op == "put":
                put = tc.put
                for k in seq:
                    put(k, values[k])
            elif op == "get_many":
                for i in range(0, n, 100):
                    tc.get_many(seq[i : i + 100])
            elif op == "put_many":
                for i in range(0, n, 100):
                    tc.put_many({k: values[k] for k in seq[i : i + 100]})
            else:
                sys.exit(f"count_ops: unknown operation {op!r} (get, put, get_many, put_many)")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], int(sys.argv[2]))
