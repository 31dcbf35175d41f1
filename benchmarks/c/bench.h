/* bench.h: what the C benchmark programs (hit.c, bindhit.c, ...) and
 * scripts/pgo-train.c share: fail loudly on a status that is not TC_OK, a
 * cheap deterministic random sequence (xorshift*), the put table's
 * options, and a monotonic clock in nanoseconds. Inline, so that a program may leave one unused. */
#ifndef TIERCACHE_BENCH_H
#define TIERCACHE_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tiercache.h"

static inline void ok(tc_status s, const char *what) {
  if (s != TC_OK) {
    fprintf(stderr, "%s: %s: %s\n", what, tc_status_str(s), tc_last_error());
    exit(1);
  }
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static inline uint64_t next(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 0x2545f4914f6cdd1dull;
}

/* The options of shared-lib's put table (`put-so-*`), which put.c and
 * rounds.c reproduce: a cache in `dir`, L1 bounded at 64 MiB, sync never,
 * the default L2 bound. */
static inline tc_options *put_table_options(const char *dir) {
  tc_options *o = tc_options_new();
  ok(tc_options_set_dir(o, dir), "dir");
  ok(tc_options_set_l1_capacity(o, 0, 64ull << 20), "l1");
  ok(tc_options_set_sync_policy(o, TC_SYNC_NEVER, 0), "sync");
  return o;
}

static inline double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

#endif
