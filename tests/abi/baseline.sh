#!/usr/bin/env bash
# The ABI check: include/tiercache.h against the committed baseline
# abi/tiercache.abi (scripts/abi.sh check), then a self-test showing that the
# check tells breaks from additions, on copies of the header changed one way
# each: adding a function or an enumerator passes; removing a function,
# changing a parameter, a struct layout or an enum value, or the major version
# fails; and `bless` refuses a break unless the major version changed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
abi=scripts/abi.sh

bash "$abi" check

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
header=include/tiercache.h
fail=0

# variant NAME EXPECT SED-SCRIPT: a copy of the header edited by SED-SCRIPT,
# checked against the committed baseline; EXPECT is pass or fail.
variant() {
  local name=$1 expect=$2 script=$3 h="$work/$1/tiercache.h" got
  mkdir -p "$work/$name"
  sed -E "$script" "$header" >"$h"
  if cmp -s "$header" "$h"; then
    echo "FAIL: self-test '$name' did not change the header (sed: $script)"
    fail=1
    return
  fi
  if bash "$abi" check "$h" >"$work/$name/log" 2>&1; then got=pass; else got=fail; fi
  # A failure counts only if the check itself found the break: a variant
  # whose stub does not even compile would "fail" without testing anything.
  if [ "$got" = fail ] && ! grep -qE 'breaks the ABI|the major version changed' "$work/$name/log"; then
    echo "FAIL: $name failed for another reason than a detected ABI break:"
    sed 's/^/    /' "$work/$name/log" | head -30
    fail=1
  elif [ "$got" = "$expect" ]; then
    echo "ok: $name -> $got"
  else
    echo "FAIL: $name -> $got, expected $expect:"
    sed 's/^/    /' "$work/$name/log" | head -30
    fail=1
  fi
}

variant "add a function" pass 's/^(const char \*tc_version\(void\);)$/\1\nint tc_abi_selftest_added(int x);/'
variant "add an enumerator" pass 's/^(  TC_OK = 0,)$/\1\n  TC_ABI_SELFTEST = 999,/'
variant "remove a function" fail '/^void tc_bytes_free\(/d'
variant "change a parameter" fail 's/^(enum tc_status tc_flush\(struct tc_cache \*cache)\);$/\1, int extra);/'
variant "change a return type" fail 's/^size_t (tc_value_len\()/uint32_t \1/'
variant "grow a struct" fail 's/^(  uint32_t l2_state;)$/\1\n  uint32_t abi_selftest;/'
variant "reorder struct fields" fail '/^  uint64_t l1_hits;$/d; s/^(  uint32_t l2_state;)$/\1\n  uint64_t l1_hits;/'
variant "change an enum value" fail 's/^(  TC_PANIC = )9,$/\119,/'
variant "bump the major version" fail 's/^(#define TIERCACHE_VERSION_MAJOR )[0-9]+$/\1999/'

# bless: refuses a break within one major version, accepts it with a new one,
# and accepts additions.
export TIERCACHE_ABI_BASELINE="$work/baseline.abi"
cp abi/tiercache.abi "$TIERCACHE_ABI_BASELINE"
if bash "$abi" bless "$work/remove a function/tiercache.h" >"$work/bless.log" 2>&1; then
  echo "FAIL: bless accepted a removed function without a major version bump"
  fail=1
elif ! cmp -s abi/tiercache.abi "$TIERCACHE_ABI_BASELINE"; then
  echo "FAIL: a refused bless changed the baseline"
  fail=1
else
  echo "ok: bless refuses a break within the same major version"
fi
sed -E 's/^(#define TIERCACHE_VERSION_MAJOR )[0-9]+$/\1999/' "$work/remove a function/tiercache.h" >"$work/major.h"
if bash "$abi" bless "$work/major.h" >"$work/bless.log" 2>&1 && bash "$abi" check "$work/major.h" >/dev/null 2>&1; then
  echo "ok: bless accepts a break with a new major version, and check then passes"
else
  echo "FAIL: bless with a new major version:"
  sed 's/^/    /' "$work/bless.log"
  fail=1
fi

((fail == 0)) && echo "abi baseline: ok"
exit "$fail"
