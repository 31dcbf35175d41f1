#!/usr/bin/env bash
# Builds libtiercache.so with profile-guided optimisation, into
# target/pgo/libtiercache.so (and libtiercache.a): an instrumented build
# runs scripts/pgo-train.c, a C program calling the C ABI as programs and
# the wrappers do, and the library is built again from what that run
# counted. The source is the same; the compiler inlines and lays out the
# code by what ran, and puts the hot paths together.
#
# Why: on the Intel Xeon of 6 December 2026 the same machine code ran
# ~15% faster or slower by where it lay in the library (BENCHMARKS.md,
# History, "Session 28"), and the L1 hit of a plain build drew the slow
# side. The profile makes the layout deliberate (History, "Session 29").
#
# Needs llvm-profdata of rustc's own LLVM: rustup's `llvm-tools`
# component, added here if it is missing. The plain build
# (`cargo build --release`, target/release) is what the tests use; this
# one is built in target/pgo/{gen,use} and leaves target/release alone.
#
#   scripts/pgo.sh          # or: make pgo
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="$root/target/pgo"
profiles="$out/profiles"

host="$(rustc -vV | sed -n 's/^host: //p')"
profdata="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata"
if [ ! -x "$profdata" ]; then
  rustup component add llvm-tools
fi
[ -x "$profdata" ] || { echo "pgo.sh: no llvm-profdata at $profdata" >&2; exit 1; }

# 1. The instrumented library. Build scripts are instrumented too and
# write profiles as they run: those are cleared before the training.
RUSTFLAGS="-Cprofile-generate=$profiles" CARGO_TARGET_DIR="$out/gen" \
  cargo build --release -p tiercache --lib
rm -rf "$profiles"

# 2. The training run, against the instrumented library (whose soname is
# libtiercache.so.0, as the installed one's).
ln -sf libtiercache.so "$out/gen/release/libtiercache.so.0"
cc -O2 -Wall -Wextra -Werror -Iinclude -Ibenchmarks/c scripts/pgo-train.c \
  -L"$out/gen/release" -Wl,-rpath,"$out/gen/release" -l:libtiercache.so -o "$out/train"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$out/train" "$work"
"$profdata" merge -o "$out/tiercache.profdata" "$profiles"

# 3. The library again, from the profile. rustc names the profile in each
# crate's dep-info, so a newly merged profile makes cargo build every crate
# again (about a minute and a half on two cores), the library included.
RUSTFLAGS="-Cprofile-use=$out/tiercache.profdata" CARGO_TARGET_DIR="$out/use" \
  cargo build --release -p tiercache --lib
cp "$out/use/release/libtiercache.so" "$out/use/release/libtiercache.a" "$out/"
ln -sf libtiercache.so "$out/libtiercache.so.0"
echo "pgo.sh: $out/libtiercache.so"
