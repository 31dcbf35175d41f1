#!/usr/bin/env bash
# The Go module as a Go user gets it: the default build (no tags) finds an
# installed tiercache through pkg-config.
#   1. `make install` into a temporary prefix;
#   2. in bindings/go, the default build: go vet, go build, the examples run
#      against the installed library; and without it, a clear pkg-config error;
#   3. a separate module requires the binding by its module path: the
#      checkout's module is served by a module proxy directory
#      (scripts/go-proxy.sh) and fetched with `go get ...@vX.Y.Z` into an empty
#      module cache, no replace directive; the program builds, links
#      libtiercache.so.<major> from the prefix, and runs.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tiercache-go-install.XXXXXX")
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
step() { printf '\n== %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
export CGO_ENABLED=1
# Go's build cache does not track pkg-config's answer (golang/go#24544): a
# package built before against another prefix would keep that prefix's -L.
# CGO_CFLAGS is part of the cache key, so a value of this run's own makes
# every cgo package here build afresh and ask pkg-config.
export CGO_CFLAGS="-g -O2 -DTIERCACHE_GO_INSTALL_TEST=${tmp##*.}"
module=$(sed -n 's/^module //p' "$here/go.mod")
version=v$(sed -n 's/^#define TIERCACHE_VERSION_STRING "\(.*\)"$/\1/p' "$root/include/tiercache.h")
major=$(sed -n 's/^#define TIERCACHE_VERSION_MAJOR //p' "$root/include/tiercache.h")

step "make install PREFIX=$tmp/prefix"
prefix=$tmp/prefix
make --no-print-directory -C "$root" install PREFIX="$prefix" >/dev/null
echo "installed"

step "without an installed library: a pkg-config error"
if (cd "$here" && PKG_CONFIG_PATH="$tmp/none" PKG_CONFIG_LIBDIR="$tmp/none" go build . >"$tmp/nolib.log" 2>&1); then
  fail "the default build succeeded without tiercache.pc"
fi
grep -q "tiercache" "$tmp/nolib.log" && grep -qi "pkg-config" "$tmp/nolib.log" || {
  cat "$tmp/nolib.log"
  fail "the error does not say that pkg-config found no tiercache"
}
head -3 "$tmp/nolib.log"

export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
export LD_LIBRARY_PATH=$prefix/lib

step "the default build of bindings/go against the installed library"
(
  cd "$here"
  go vet ./...
  go build ./...
  go test -count=1 -run '^Example' .
)

step "a separate module: go get $module@$version"
bash "$root/scripts/go-proxy.sh" "$tmp/proxy"
# The module cache starts empty, so the binding can only come from the proxy;
# the binding's own requirements (for `go mod tidy`) come from the machine's
# module cache or the usual proxy.
GOPROXY="file://$tmp/proxy,file://$(go env GOMODCACHE)/cache/download,$(go env GOPROXY)"
export GOPROXY GOMODCACHE=$tmp/modcache
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-modcacherw"
export GONOSUMDB=${module%/bindings/go}
mkdir -p "$tmp/hello"
cp "$here/cmd/example/main.go" "$tmp/hello/"
cd "$tmp/hello"
go mod init example.com/hello
go get "$module@$version"
go mod tidy
grep -q "^require $module $version" go.mod || { cat go.mod; fail "go.mod does not require $module $version"; }
! grep -q replace go.mod || fail "go.mod has a replace directive"
dir=$(go list -m -f '{{.Dir}}' "$module")
case $dir in "$GOMODCACHE"/*) echo "binding from the module cache: $dir" ;; *) fail "the binding came from $dir" ;; esac
go vet .
go build -o hello .
readelf -d hello | grep -q "NEEDED.*\[libtiercache.so.$major\]" || fail "hello does not link libtiercache.so.$major"
rm -rf /tmp/tiercache-demo
out=$(./hello)
rm -rf /tmp/tiercache-demo
[ "$out" = "hello, computed answer" ] || fail "hello printed: $out"
echo "$out"

step "go module (installed library): all passed"
