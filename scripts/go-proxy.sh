#!/usr/bin/env bash
# Publishes the Go module of this checkout (bindings/go) into a module proxy
# directory, at the crate's version, laid out as a GOPROXY serves it:
#
#   scripts/go-proxy.sh DIR      then  GOPROXY=file://DIR,$(go env GOPROXY)
#
# so that `go get github.com/tiercache/tiercache/bindings/go@vX.Y.Z` (or
# @latest) fetches this checkout's binding exactly as it would fetch a
# release from the real proxy: a zip of the module, its go.mod, no replace
# directive and no path back into the checkout. The tests that play a Go
# user (bindings/go/install-test.sh, tests/readme/check.sh) use it with
# GONOSUMDB=github.com/tiercache/tiercache, as the module is not in the
# checksum database. A release is the tag bindings/go/vX.Y.Z of the repository.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out=${1:?usage: scripts/go-proxy.sh DIR}
module=$(sed -n 's/^module //p' "$root/bindings/go/go.mod")
version=v$(sed -n 's/^#define TIERCACHE_VERSION_STRING "\(.*\)"$/\1/p' "$root/include/tiercache.h")

# The module's files: those git tracks or would track (not ignored), else all.
cd "$root/bindings/go"
if git rev-parse --git-dir >/dev/null 2>&1; then
  files=$(git ls-files --cached --others --exclude-standard .)
else
  files=$(find . -type f ! -path './.*' | sed 's|^\./||')
fi

mkdir -p "$out/$module/@v"
printf '%s\n' "$files" | python3 -c '
import json, sys, time, zipfile
out, module, version = sys.argv[1:]
names = sorted(line for line in sys.stdin.read().splitlines() if line)
base = f"{out}/{module}/@v/{version}"
# A directory with a go.mod of its own is another module, not part of this one.
nested = [n[: -len("go.mod")] for n in names if n.endswith("/go.mod")]
names = [n for n in names if not any(n.startswith(d) for d in nested)]
with zipfile.ZipFile(base + ".zip", "w", zipfile.ZIP_DEFLATED) as z:
    for name in names:
        z.write(name, f"{module}@{version}/{name}")
with open("go.mod", "rb") as src, open(base + ".mod", "wb") as dst:
    dst.write(src.read())
stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
with open(base + ".info", "w") as f:
    json.dump({"Version": version, "Time": stamp}, f)
with open(f"{out}/{module}/@v/list", "w") as f:
    f.write(version + "\n")
print(f"go-proxy: {module}@{version} ({len(names)} files) in {out}")
' "$out" "$module" "$version"
