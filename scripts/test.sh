#!/usr/bin/env bash
# Runs every test suite of the project: Rust (with fmt and clippy), the C
# ABI (exported symbols, the abidw baseline), C (plain and under
# ASan+UBSan), C++, Go, Python, installing (make install, the Go module by
# its path, the Python wheel and sdist), the README's set-up and quick
# starts, and the cross-language directory test. Each suite runs even if an
# earlier one failed; the last line counts suites passed and failed, and the
# exit status is non-zero if any failed.
#
# `make test` must stay under 20 minutes on two cores from a fresh clone
# (README.md, "What make test runs"). It gets there by reusing builds, never
# by testing less: the fuzz regressions share target/ (and the versions of
# Cargo.lock) with `cargo test`, the shuttle builds add only shuttle's crates
# and the library to it, pip's source build starts from a copy of
# target/release's dependencies and compiles only the library, and the long
# runs are small by default while still running every case and every mode
# once. A dependency is reused only if it has the same version and features
# in both builds; Cargo.toml's dev- and build-dependencies that the code does
# not use (getrandom, smallvec, syn) line the features up, and
# scripts/build-reuse.sh (a suite below) fails, naming the crates, when a
# build would compile a dependency again. The size knobs:
#   TIERCACHE_TORTURE=large    the kill loops ten times longer, the at-rest
#                              modes (plain, lz4, zstd+key, key) each in full
#                              where the default cycles them, the injected
#                              failures deeper (tests/crash.rs, recovery.rs,
#                              durability.rs);
#   TIERCACHE_SCHEDULES=large  20 times as many thread schedules per L1
#                              policy (tests/schedules.rs);
#   TIERCACHE_MODEL=large      the model test's long run (tests/model.rs);
#   BENCHTIME=1s               the Go benchmarks for real numbers.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh || exit 1

passed=0
failed=0
failures=()
suite() {
  local name=$1
  shift
  echo
  echo "=== $name: $*"
  local start=$SECONDS
  if "$@"; then
    passed=$((passed + 1))
    echo "=== $name: ok ($((SECONDS - start)) s)"
  else
    failed=$((failed + 1))
    failures+=("$name")
    echo "=== $name: FAILED ($((SECONDS - start)) s)"
  fi
}

# The workspace's default members: the library and the CLI. The peer
# benchmarks (benchmarks/) are built only when asked for (BENCHMARKS.md).
suite "rust format" cargo fmt --all -- --check
# Seconds, nothing built: the later builds below reuse the earlier ones'
# dependencies (features lined up); names any crate that would be compiled
# again.
suite "build reuse" bash scripts/build-reuse.sh
suite "rust clippy" cargo clippy --all-targets -- -D warnings
# The feature `shuttle` changes only src/sync.rs and turns on
# tests/schedules.rs: the library (with its unit tests) and that test are
# what it can make clippy say anything new about.
suite "rust clippy (shuttle)" cargo clippy --features shuttle --lib --tests -- -D warnings
suite "rust tests" cargo test
# The standalone remote-tier tests again, against Valkey (scripts/deps.sh
# installs valkey-server from bookworm-backports): the same test binary.
suite "rust remote (valkey)" env TIERCACHE_REDIS_SERVER=valkey-server cargo test --test remote
# Schedule exploration (shuttle) of the in-memory coordination; its own
# build of the library, with the locks of src/sync.rs swapped for shuttle's
# (every other dependency is the one `cargo test` built).
# TIERCACHE_SCHEDULES=large explores 20 times as many schedules.
suite "rust schedules" cargo test --features shuttle --test schedules
suite "release build" cargo build --release
suite "exported symbols" bash tests/abi/symbols.sh
suite "abi baseline" bash tests/abi/baseline.sh
# fuzz/ is a workspace of its own; built into the root's target/ (its
# Cargo.lock pins the root's versions), it reuses the debug build of the
# library's dependencies that `cargo test` made above (scripts/build-reuse.sh
# checks it). The library itself is compiled once more here: measured, cargo
# keeps a fingerprint of its own for it in fuzz/'s build, so it compiles
# tiercache, arbitrary, libfuzzer-sys and tiercache-fuzz.
suite "fuzz regressions" env CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}" \
  cargo test --manifest-path fuzz/Cargo.toml
suite "c" bash tests/c/run.sh
# The profile-guided build (`make pgo`, BENCHMARKS.md "Session 29"): its
# training run checks every value it reads, and the C suite runs again
# against the library it built. Its own two builds of the library and its
# dependencies (instrumented, then optimised), in target/pgo.
suite "pgo build" bash -c 'bash scripts/pgo.sh && TIERCACHE_LIB_DIR=target/pgo bash tests/c/run.sh'
suite "c++" bash bindings/cpp/test.sh
suite "install (make install, pkg-config, cmake)" bash tests/install/test.sh
suite "go" bash bindings/go/test.sh
suite "go module (installed library)" bash bindings/go/install-test.sh
suite "python" bash bindings/python/test.sh
suite "python packaging (wheel, sdist, pip build)" bash bindings/python/package-test.sh
suite "readme set-up and quick starts" bash tests/readme/check.sh
suite "cross-language" bash tests/cross_language.sh

echo
if ((failed)); then
  echo "failed suites: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
((failed == 0))
