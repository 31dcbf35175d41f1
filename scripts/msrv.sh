#!/usr/bin/env bash
# Checks the oldest Rust the library and the CLI build with (Cargo.toml's
# rust-version) against the committed Cargo.lock: installs that toolchain
# with rustup if it is missing, then builds in release. Not part of
# `make test` (a toolchain download and a full build: ~45 s + minutes);
# run it after updating dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
msrv=$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
[ -n "$msrv" ] || { echo "no rust-version in Cargo.toml" >&2; exit 1; }
rustup toolchain list | grep -q "^$msrv-" || RUSTUP_AUTO_INSTALL=1 rustup toolchain install "$msrv" --profile minimal
# Its own target directory: another toolchain's artifacts would rebuild ours.
CARGO_TARGET_DIR=target/msrv cargo "+$msrv" build --release --locked -p tiercache -p tiercache-cli
echo "builds with Rust $msrv"
