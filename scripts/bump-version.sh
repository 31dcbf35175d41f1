#!/usr/bin/env bash
# Sets the version of everything that carries one, together:
#
#   scripts/bump-version.sh 0.2.0
#
#   Cargo.toml (the crate; tc_version(), the header's TIERCACHE_VERSION_*
#   macros and the soname libtiercache.so.<major> follow from it), Cargo.lock,
#   bindings/python/tiercache/_version.py (the Python package, which refuses a
#   library of another version), and through them the .pc, the CMake package
#   and the Go module's release tag (bindings/go/vX.Y.Z).
#
# Then it rebuilds (which regenerates include/tiercache.h). A new major
# version changes the soname and lets the ABI break: `make abi-bless` records
# the new baseline (abi/README.md). Commit everything it changed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
new=${1:?usage: scripts/bump-version.sh X.Y.Z}
[[ $new =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] || { echo "not a version: $new" >&2; exit 1; }
cd "$root"
old=$(sed -n '/^\[package\]/,/^\[/s/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)

# The [package] version of the crate only (not its dependencies').
sed -i '/^\[package\]/,/^\[/s/^version = ".*"$/version = "'"$new"'"/' Cargo.toml
sed -i 's/^__version__ = ".*"$/__version__ = "'"$new"'"/' bindings/python/tiercache/_version.py
cargo build --release # updates Cargo.lock and include/tiercache.h

echo "version: $old -> $new"
if [ "${old%%.*}" != "${new%%.*}" ]; then
  echo "a new major version: the soname is now libtiercache.so.${new%%.*}."
  echo "  make abi-bless      # record the new ABI baseline (abi/README.md)"
  if [ "${new%%.*}" -ge 2 ]; then
    echo "  Go: from v2 on the module path must end in /v${new%%.*} (bindings/go/go.mod and its importers)."
  fi
fi
echo "commit: Cargo.toml Cargo.lock include/tiercache.h bindings/python/tiercache/_version.py"
