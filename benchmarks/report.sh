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
# with it); run it on a quiet machine. The longest puts under the default
# sync policy go into OUT/stall.txt (benchmarks/c/stall.c).
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
# What a default user's puts wait for (benchmarks/c/stall.c: the default
# sync policy, puts of new keys, each timed, into OUT/stall.txt). No peer:
# the put rows above run under TC_SYNC_NEVER, and this is the tail of the
# default, which they do not show.
if cc -O2 -Wall -Wextra -Iinclude -Ibenchmarks/c benchmarks/c/stall.c -Ltarget/release -ltiercache -o "$out/.stall"; then
  ln -sf libtiercache.so target/release/libtiercache.so.0
  if [ "${QUICK:-0}" = 1 ]; then runs=("100 300000" "16384 6000"); else runs=("100 3000000" "16384 60000"); fi
  {
    grep -m3 -E '^(model name|cpu family|model)\s' /proc/cpuinfo
    for r in "${runs[@]}"; do
      echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
      # shellcheck disable=SC2086
      LD_LIBRARY_PATH=target/release "$out/.stall" $r
    done
  } | tee "$out/stall.txt"
  rm -f "$out/.stall"
fi
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
