#!/usr/bin/env bash
# Regenerates every figure of BENCHMARKS.md in one command: builds the
# library and the harness, runs `tiercache-benchmarks all` (every row of the
# headline: the peers, the floors, open and memory, Python and Go), then the
# hit ratios on the ARC traces, each writing CSV files into OUT, then draws
# the pictures from those files into docs/img. The .so rows run a second
# time against the profile-guided build of the library (`make pgo`).
# Prints the load average before and after, and first what a dependent
# load costs on the day's CPU by working-set size (benchmarks/c/latency.c,
# into OUT/latency.txt: this host's CPU changes between days, and ratios
# with it); run it on a quiet machine.
#
#   benchmarks/report.sh [OUT]     (default benchmarks/results/<UTC date>)
#   TRACES=0 benchmarks/report.sh  (skip the traces: about 20 minutes)
#   QUICK=1 benchmarks/report.sh   (a smoke run of the machinery: minutes)
#   PGO=0 benchmarks/report.sh     (skip the profile-guided build's rows)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="${1:-benchmarks/results/$(date -u +%Y-%m-%dT%H%MZ)}"
quick=()
[ "${QUICK:-0}" = 1 ] && quick=(--quick)
mkdir -p "$out"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
if cc -O2 -Wall -Wextra benchmarks/c/latency.c -o "$out/.latency"; then
  { grep -m1 'model name' /proc/cpuinfo; "$out/.latency"; } | tee "$out/latency.txt"
  rm -f "$out/.latency"
fi
cargo build --release
cargo build --release -p tiercache-benchmarks
# The Python rows run in bindings/python/.venv, against its diskcache: made
# (or completed) here, as the Python suite makes it, so that a fresh
# machine measures them instead of skipping them. Without it (no network,
# no python3) the harness says it skipped them and the rest runs.
bash bindings/python/venv.sh >/dev/null || echo "report.sh: no Python venv: the Python rows will be skipped" >&2
bench=target/release/tiercache-benchmarks
"$bench" all "${quick[@]}" --out "$out" | tee "$out/all.txt"
# The same library built from a profile (`make pgo`, scripts/pgo.sh): the
# rows of the paths through the .so again, against it, into OUT/pgo.
if [ "${PGO:-1}" != 0 ]; then
  bash scripts/pgo.sh
  TIERCACHE_LIBRARY="$root/target/pgo/libtiercache.so" "$bench" l1-hit shared-lib python "${quick[@]}" --out "$out/pgo" |
    tee "$out/pgo.txt"
fi
if [ "${TRACES:-1}" != 0 ]; then
  "$bench" hit-ratio-traces "${quick[@]}" --traces ../shared/traces --out "$out" | tee "$out/traces.txt"
fi
"$bench" plot "$out" --img docs/img
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "results: $out (CSV, all.txt, traces.txt); pictures: docs/img"
