#!/usr/bin/env bash
# Builds the Rust library and runs every check of the Go binding against it
# (build tag tiercache_source: the checkout's target/release/libtiercache.a):
# gofmt, go vet, the tests under the race detector, the GC stress test with
# GOGC=1, a cross-language round trip (Go writer, Go reader), and a short
# benchmark smoke run so the benchmarks keep compiling and running.
# (install-test.sh checks the default build, against an installed library.)
#
#   bindings/go/test.sh                 # the whole thing, a minute or two
#   BENCHTIME=1s bindings/go/test.sh    # longer benchmarks, real numbers
#
# Exits non-zero on the first failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
benchtime="${BENCHTIME:-200x}"

step() { printf '\n== %s\n' "$*"; }

step "cargo build --release (libtiercache.a)"
(cd "$root" && cargo build --release)

cd "$here"
export CGO_ENABLED=1
# Every go command below links the checkout's library.
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-tags=tiercache_source"

step "gofmt"
unformatted="$(gofmt -l .)"
if [ -n "$unformatted" ]; then
	echo "not gofmt'ed:"; echo "$unformatted"; exit 1
fi

step "go vet ./..."
go vet ./...

step "go test -race ./..."
go test -race -count=1 ./...

step "GC stress (GOGC=1, race detector)"
GOGC=1 TIERCACHE_STRESS=1 go test -race -count=1 -run '^TestStressGC$' -v . | grep -E '^(---|ok|FAIL|PASS)'

step "cross-language round trip (Go writes, Go verifies)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/xlang" ./cmd/xlang
"$tmp/xlang" write "$tmp/dir"
"$tmp/xlang" verify "$tmp/dir"
echo "ok"

step "benchmark smoke (-benchtime=$benchtime)"
go test -count=1 -run '^$' -bench . -benchtime="$benchtime" -benchmem .

step "all Go checks passed"
