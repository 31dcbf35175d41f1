#!/usr/bin/env bash
# Checks that the builds `make test` runs one after another reuse each
# other's dependencies, as scripts/test.sh counts on to stay within its time
# budget. Cargo reuses a compiled crate only when its version, features,
# profile and (recursively) dependencies are the same; a dependency added
# with other features than the earlier build gave it silently doubles a
# suite's compile time. For each pair below, every crate both builds have
# must be the very same unit; crates that only the later build has (shuttle,
# libfuzzer-sys, the workspace's own crates) are its own work and allowed.
#
#   earlier build                          later build that must reuse it
#   cargo test                             cargo test --features shuttle --test schedules
#   cargo test                             fuzz/ (cargo test --manifest-path fuzz/Cargo.toml)
#   cargo clippy --all-targets             cargo clippy --features shuttle --lib --tests
#   cargo build --release (lib and CLI)    the library alone (pip's source build)
#
# It reads cargo's unit graph (`--unit-graph`, unstable: RUSTC_BOOTSTRAP=1
# lets the stable cargo print it; nothing is built), so it takes seconds.
# When it fails, line the features up (Cargo.toml's dev- and
# build-dependencies that the code does not use, fuzz/Cargo.toml's).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tiercache-build-reuse.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

graph() {
  local out=$1
  shift
  RUSTC_BOOTSTRAP=1 cargo "$@" -Z unstable-options --unit-graph >"$tmp/$out.json"
}
graph test test --no-run
graph shuttle test --no-run --features shuttle --test schedules
graph fuzz test --no-run --manifest-path fuzz/Cargo.toml
graph clippy clippy --all-targets
graph clippy-shuttle clippy --features shuttle --lib --tests
graph release build --release
graph release-lib build --release -p tiercache

python3 - "$tmp" <<'PY'
import hashlib, json, sys

tmp = sys.argv[1]

def load(name):
    """Each unit's identity, from what decides whether cargo can reuse it:
    package, target, mode, features, profile, platform and, recursively,
    the identities of its dependencies. Maps identity -> package."""
    units = json.load(open(f"{tmp}/{name}.json"))["units"]
    memo = {}

    def ident(i):
        if i not in memo:
            u = units[i]
            own = (u["pkg_id"], u["target"]["name"], u["mode"], sorted(u["features"]),
                   u["profile"], u.get("platform"))
            deps = sorted(ident(d["index"]) for d in u["dependencies"])
            memo[i] = hashlib.sha1(json.dumps([own, deps], sort_keys=True).encode()).hexdigest()
        return memo[i]

    return {ident(i): u["pkg_id"] for i, u in enumerate(units)}

def registry(pkg_id):
    return pkg_id.startswith("registry+")

def name(pkg_id):
    return pkg_id.rsplit("#", 1)[-1]

failed = False
for earlier, later, what in [
    ("test", "shuttle", "rust schedules (cargo test --features shuttle)"),
    ("test", "fuzz", "fuzz regressions (fuzz/ in the root's target/)"),
    ("clippy", "clippy-shuttle", "rust clippy (shuttle)"),
    ("release", "release-lib", "pip's source build of the library alone"),
]:
    a, b = load(earlier), load(later)
    have = {p for p in a.values() if registry(p)}
    again = sorted({name(p) for k, p in b.items() if k not in a and p in have})
    if again:
        failed = True
        print(f"FAIL: {what} compiles again what `{earlier}` built, with other features"
              f" or dependencies: {' '.join(again)}")
    else:
        new = sorted({name(p) for k, p in b.items() if k not in a})
        print(f"ok: {what} reuses every dependency of `{earlier}`; its own: {len(new)} crates")
sys.exit(1 if failed else 0)
PY
