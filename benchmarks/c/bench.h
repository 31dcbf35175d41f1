/* bench.h: what the C benchmark programs (hit.c, bindhit.c, ...) and
 * scripts/pgo-train.c share: fail loudly on a status that is not TC_OK, a
 * cheap deterministic random sequence (xorshift*), and a monotonic clock
 * in nanoseconds. Inline, so that a program may leave one unused. */
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

static inline double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

#endif
