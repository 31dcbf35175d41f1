#!/usr/bin/env bash
# The Python package as users get it:
#   1. `python -m build` + auditwheel (build-dist.sh, reusing target/release):
#      an sdist carrying the crate, a py3-none-manylinux wheel carrying the
#      library, py.typed and the version; the sdist's crate is a workspace of
#      its own (cargo metadata);
#   2. that wheel installed into a fresh venv whose PATH has no cargo, rustc or
#      compiler, running the README's quick start and the example;
#   3. installed over an older release (0.0.1, with a module the new one
#      lacks): replaced cleanly;
#   4. a bundled library of another version: the import refuses, naming both
#      versions and the file; a reinstall repairs it;
#   5. `pip install ./bindings/python` in a fresh venv, as a user on a machine
#      with Rust: pip's isolated build runs cargo (through setuptools-rust)
#      into a target directory of its own, so the library is really compiled
#      (cargo's log must say "Compiling tiercache"). That directory starts
#      as a copy of target/release's dependency artifacts (every crate but
#      the workspace's own): the same lock file, profile and features, so
#      cargo finds every dependency fresh and compiles only the library (pip
#      builds the library alone, without the CLI whose clap derive turns on
#      syn's "full"; the library asks for "full" itself, see Cargo.toml's
#      [build-dependencies], or syn and the 23 crates above it would differ
#      and be compiled again). It is a copy, not target/release itself, so
#      the build never touches the library the other suites use.
#      PACKAGE_TEST_EMPTY_TARGET=1 starts from an empty directory instead
#      (what a user's first install costs).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tiercache-py-package.XXXXXX")
trap 'rm -rf "$tmp" "$here/build"' EXIT
step() { printf '\n== %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
export PIP_DISABLE_PIP_VERSION_CHECK=1
unset TIERCACHE_LIBRARY

vpy="$(bash "$here/venv.sh")"
version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$here/tiercache/_version.py")
python="${PYTHON:-python3}"
# A fresh venv; the real interpreter behind it needs nothing from PATH.
fresh_venv() { "$python" -m venv "$1" && "$1/bin/python" -m pip --version >/dev/null; }
readme_python() { awk '$0 == "```python" {on=1; next} /^```$/{on=0} on' "$repo/README.md"; }

step "python -m build and auditwheel (the library from target/release)"
[ -f "$repo/target/release/libtiercache.so" ] || (cd "$repo" && cargo build --release)
DIST_DIR="$tmp/dist" bash "$here/build-dist.sh" >"$tmp/build-dist.log" 2>&1 || {
  tail -40 "$tmp/build-dist.log"
  fail "build-dist.sh"
}
grep -A1 'is consistent with' "$tmp/build-dist.log"
wheels=("$tmp"/dist/*.whl)
[ ${#wheels[@]} = 1 ] || fail "expected one wheel, got: ${wheels[*]}"
wheel=${wheels[0]}
case $(basename "$wheel") in
  "tiercache-$version-py3-none-manylinux_"*"_x86_64.whl") echo "wheel: $(basename "$wheel")" ;;
  *) fail "wheel name $(basename "$wheel")" ;;
esac
sdist="$tmp/dist/tiercache-$version.tar.gz"
[ -f "$sdist" ] || fail "no sdist $sdist"
"$vpy" - "$wheel" "$sdist" <<'PY'
import sys, tarfile, zipfile
wheel, sdist = sys.argv[1:]
names = set(zipfile.ZipFile(wheel).namelist())
for need in ("tiercache/libtiercache.so", "tiercache/py.typed", "tiercache/_version.py", "tiercache/__init__.py"):
    assert need in names, f"{need} is not in the wheel: {sorted(names)}"
wheel_meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/WHEEL"))).decode()
assert "Root-Is-Purelib: false" in wheel_meta, wheel_meta
print("wheel holds the library, py.typed and the version; platlib")
root = sdist[: -len(".tar.gz")].rsplit("/", 1)[1]
members = set(tarfile.open(sdist).getnames())
for need in ("setup.py", "pyproject.toml", "tiercache/_version.py", "tiercache/py.typed", "rust/Cargo.toml",
             "rust/Cargo.lock", "rust/build.rs", "rust/cbindgen.toml", "rust/src/lib.rs", "rust/src/ffi/mod.rs"):
    assert f"{root}/{need}" in members, f"{need} is not in the sdist"
print("sdist holds the package and the crate")
PY
mkdir -p "$tmp/sdist" && tar xzf "$sdist" -C "$tmp/sdist"
(cd "$repo" && cargo metadata --offline --no-deps --format-version 1 \
  --manifest-path "$tmp/sdist/tiercache-$version/rust/Cargo.toml" >/dev/null)
echo "the sdist's crate stands alone (cargo metadata)"

step "the wheel in a fresh venv without cargo on the PATH"
venv="$tmp/venv-wheel"
fresh_venv "$venv"
bare=(env -i "PATH=$venv/bin" "HOME=$tmp/home" "LANG=C.UTF-8")
for tool in cargo rustc cc gcc; do
  ! "${bare[@]}" bash -c "command -v $tool" >/dev/null 2>&1 || fail "$tool is on the bare PATH"
done
"${bare[@]}" python -m pip install --quiet --no-index "$wheel"
mkdir -p "$tmp/run" "$tmp/home"
readme_python >"$tmp/run/quick.py"
[ -s "$tmp/run/quick.py" ] || fail "no python block in README.md"
rm -rf /tmp/tiercache-py
(cd "$tmp/run" && "${bare[@]}" python quick.py)
(cd "$tmp/run" && "${bare[@]}" python "$here/examples/quickstart.py" "$tmp/run/example" >/dev/null)
rm -rf /tmp/tiercache-py
"${bare[@]}" python - "$venv" "$version" <<'PY'
import os, sys, tiercache
venv, version = sys.argv[1:]
assert tiercache.__version__ == tiercache.library_version() == version, (tiercache.__version__, tiercache.library_version())
assert str(tiercache.library_path).startswith(venv), tiercache.library_path
print("installed wheel:", tiercache.__version__, tiercache.library_path)
PY

step "install over an older release"
# Release 0.0.1, made here: this package at version 0.0.1 with a module the
# current one lacks, bundling a stand-in library that reports 0.0.1.
old="$tmp/old-src"
mkdir -p "$old"
cp -r "$here/tiercache" "$here/setup.py" "$here/pyproject.toml" "$here/README.md" "$old/"
rm -f "$old"/tiercache/libtiercache.*
sed -i 's/^__version__ = .*/__version__ = "0.0.1"/' "$old/tiercache/_version.py"
echo '"""Only in 0.0.1."""' >"$old/tiercache/gone_in_newer.py"
bash "$repo/scripts/abi.sh" stub "$repo/include/tiercache.h" "$tmp/libtiercache-0.0.1.so" 0.0.1
TIERCACHE_PREBUILT_LIBRARY="$tmp/libtiercache-0.0.1.so" \
  "$vpy" -m pip wheel --quiet --no-deps --no-build-isolation -w "$tmp/old-wheel" "$old"
"${bare[@]}" python -m pip install --quiet --no-index "$tmp"/old-wheel/tiercache-0.0.1-*.whl
site=$("${bare[@]}" python -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
[ -f "$site/tiercache/gone_in_newer.py" ] || fail "the old release is not installed"
"${bare[@]}" python -m pip install --quiet --no-index "$wheel"
[ ! -e "$site/tiercache/gone_in_newer.py" ] || fail "a file of the old release is left"
dists=$(find "$site" -maxdepth 1 -name 'tiercache-*.dist-info' | wc -l)
[ "$dists" = 1 ] || fail "$dists tiercache dist-info directories"
"${bare[@]}" python -c "import tiercache; assert tiercache.__version__ == '$version'; print('upgraded to', tiercache.__version__)"

step "a bundled library of another version is refused"
bash "$repo/scripts/abi.sh" stub "$repo/include/tiercache.h" "$site/tiercache/libtiercache.so" 9.9.9
if "${bare[@]}" python -c "import tiercache" >"$tmp/mismatch.log" 2>&1; then
  fail "a library of version 9.9.9 was accepted"
fi
for needle in ImportError "libtiercache 9.9.9" "tiercache $version" "$site/tiercache/libtiercache.so"; do
  grep -qF "$needle" "$tmp/mismatch.log" || { cat "$tmp/mismatch.log"; fail "the message lacks '$needle'"; }
done
grep -F "libtiercache 9.9.9" "$tmp/mismatch.log"
"${bare[@]}" python -m pip install --quiet --no-index --force-reinstall "$wheel"
"${bare[@]}" python -c "import tiercache; print('reinstalled:', tiercache.library_version())"

step "pip install ./bindings/python: cargo builds the library"
venv="$tmp/venv-source"
fresh_venv "$venv"
rm -rf "$here/build"
target="$tmp/cargo-target"
mkdir -p "$target/release"
if [ "${PACKAGE_TEST_EMPTY_TARGET:-0}" != 1 ]; then
  # The dependencies' artifacts, copied (never linked: a rebuilt unit must
  # not write through to target/release); the workspace's own crates
  # (tiercache, tiercache-cli, tiercache-benchmarks) left out, so cargo
  # compiles the library and its build script here.
  for d in deps build .fingerprint; do
    [ -d "$repo/target/release/$d" ] || continue
    mkdir -p "$target/release/$d"
    find "$repo/target/release/$d" -mindepth 1 -maxdepth 1 ! -name '*tiercache*' \
      -exec cp -a -t "$target/release/$d" {} +
  done
  echo "reusing $(find "$target/release/.fingerprint" -mindepth 1 -maxdepth 1 | wc -l) dependency units of target/release"
fi
start=$SECONDS
# -v: pip shows the backend's output, where cargo says what it compiled.
CARGO_TARGET_DIR="$target" "$venv/bin/python" -m pip install -v "$here" >"$tmp/source-install.log" 2>&1 || {
  tail -40 "$tmp/source-install.log"
  fail "pip install ./bindings/python"
}
echo "built and installed in $((SECONDS - start)) s"
[ -f "$target/release/libtiercache.so" ] || fail "cargo did not build into CARGO_TARGET_DIR"
grep -E '^ *Compiling tiercache v' "$tmp/source-install.log" || {
  tail -40 "$tmp/source-install.log"
  fail "pip's build did not compile the tiercache crate"
}
# What cargo compiled: the library alone when the copy was reused as the
# comment at the top says; any other crate named here is a build the copy
# failed to save (features or profile out of step with target/release).
compiled=$(sed -nE 's/^ *Compiling ([^ ]+) v.*/\1/p' "$tmp/source-install.log" | tr '\n' ' ')
echo "cargo compiled $(wc -w <<<"$compiled") crates (the rest were fresh): $compiled"
(cd "$tmp/run" && "$venv/bin/python" - "$venv" "$version" <<'PY'
import sys, tiercache
venv, version = sys.argv[1:]
assert str(tiercache.library_path).startswith(venv), tiercache.library_path
assert tiercache.__version__ == tiercache.library_version() == version
with tiercache.Cache() as cache:
    cache["k"] = "v"
    assert cache["k"] == b"v"
print("built from source:", tiercache.__version__, tiercache.library_path)
PY
)

step "python packaging: all passed"
