#!/usr/bin/env bash
# Installs the Python package into the suite's venv, bundling the release
# library the repository built, and tests the *installed* package: pytest,
# mypy --strict on it (its type hints and py.typed), the example, and a smoke
# run of the benchmark. (package-test.sh tests the wheel, the sdist and the
# cargo build through pip.)
#
#   bindings/python/test.sh            # from anywhere; CI runs it on a fresh clone
#   PYTHON=python3.12 bindings/python/test.sh
#
# The venv is bindings/python/.venv (venv.sh makes it and installs the test
# tools); the package in it is reinstalled each run. Needs cargo, Python >= 3.8
# and access to PyPI the first time.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

step() { printf '\n== %s\n' "$*"; }

step "cargo build --release"
(cd "$repo" && cargo build --release)

step "venv"
vpy="$(bash "$here/venv.sh")"
export PIP_DISABLE_PIP_VERSION_CHECK=1

step "pip install the package, bundling target/release/libtiercache.so (TIERCACHE_PREBUILT_LIBRARY)"
rm -rf "$here/build"
TIERCACHE_PREBUILT_LIBRARY="$repo/target/release/libtiercache.so" \
    "$vpy" -m pip install --quiet --force-reinstall --no-deps --no-build-isolation "$here"

# Run everything from outside the source tree, with no override, so that
# `import tiercache` can only find the installed package and its bundled library.
unset TIERCACHE_LIBRARY
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

step "installed package"
"$vpy" - <<'PY'
import os, tiercache
pkg = os.path.dirname(tiercache.__file__)
print("package:", pkg)
print("library:", tiercache.library_path, tiercache.library_version())
assert "site-packages" in pkg, "tests would not exercise the installed package"
assert os.path.dirname(str(tiercache.library_path)) == pkg, "the bundled library was not used"
PY

step "mypy --strict on the installed package (PEP 561: py.typed)"
"$vpy" -m mypy --strict --no-incremental -p tiercache
"$vpy" -m mypy --strict --no-incremental "$here/examples/quickstart.py"

step "pytest"
set +e
"$vpy" -m pytest -q -p no:cacheprovider "$here/tests"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: failing" >&2
    exit 1
elif [ "$status" -ne 0 ]; then
    exit "$status"
fi

step "example"
"$vpy" "$here/examples/quickstart.py" "$work/quickstart"

step "bench smoke"
"$vpy" "$here/bench/bench_vs_diskcache.py" --quick
"$vpy" "$here/bench/bench_at_rest.py" --quick

step "python bindings: all passed"
