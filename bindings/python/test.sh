#!/usr/bin/env bash
# Builds the library, installs the Python package into a venv and tests the
# *installed* package: pytest, the example, and a smoke run of the benchmark.
#
#   bindings/python/test.sh            # from anywhere; CI runs it on a fresh clone
#   PYTHON=python3.12 bindings/python/test.sh
#
# The venv lives in bindings/python/.venv (recreated each run).  On Debian
# without the python3-venv package, the venv is made --without-pip and the
# system pip installs into it (pip --python).  Needs cargo, Python >= 3.8 and
# access to PyPI (setuptools, pytest, diskcache).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="${PYTHON:-python3}"
venv="$here/.venv"

step() { printf '\n== %s\n' "$*"; }

step "cargo build --release"
(cd "$repo" && cargo build --release)

step "venv in $venv"
rm -rf "$venv"
if "$python" -m venv "$venv" 2>/dev/null && [ -x "$venv/bin/pip" ]; then
    pip=("$venv/bin/python" -m pip)
else
    # Debian's python3 without python3-venv has no ensurepip.
    rm -rf "$venv"
    "$python" -m venv --without-pip "$venv"
    pip=("$python" -m pip --python "$venv/bin/python")
fi
vpy="$venv/bin/python"
export PIP_DISABLE_PIP_VERSION_CHECK=1

step "pip install the package (bundles target/release/libtiercache.so), pytest, diskcache"
"${pip[@]}" install --quiet "$here" pytest diskcache

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

step "python bindings: all passed"
