/* zipf.c: the `zipf` workload of tiercache-benchmarks (Zipf s = 0.9 over
 * 100k keys, 90% get / 10% put, 1 KiB values, L1 = 10% of the bytes,
 * TC_SYNC_NEVER) with tiercache alone in the process, on 1 or more threads;
 * for `strace -f -c`, `perf record -e syscalls:sys_enter_sched_yield`
 * (lock contention: parking_lot yields while it spins) and callgrind.
 *
 *   cc -O2 -Iinclude -Ibenchmarks/c benchmarks/c/zipf.c -Ltarget/release -ltiercache -lpthread -lm -o /tmp/zipf
 *   ln -sf libtiercache.so target/release/libtiercache.so.0   (see hit.c)
 *   LD_LIBRARY_PATH=target/release /tmp/zipf 2 200000
 *
 * Arguments: threads, operations per thread. Fills every key first, then
 * writes MEASURE-START and MEASURE-END to stderr around the measured phase
 * (so that `strace -tt` shows what happened inside it), and prints ops/s
 * and the cache's counters. Nothing here asserts on time. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tiercache.h"
#include "bench.h"

#define KEYS 100000ull
#define VALUE 1024

static uint64_t ops_per_thread = 200000;
static double *cdf;
static tc_cache *cache;
static uint8_t value[VALUE];

static uint64_t xorshift(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 0x2545f4914f6cdd1dull;
}

/* A key index drawn from the Zipf distribution (binary search of the CDF). */
static uint64_t sample(uint64_t *s) {
  double u = (double)(xorshift(s) >> 11) / 9007199254740992.0;
  uint64_t lo = 0, hi = KEYS - 1;
  while (lo < hi) {
    uint64_t mid = (lo + hi) / 2;
    if (cdf[mid] < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static void *run(void *arg) {
  uint64_t s = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
  char key[32];
  for (uint64_t i = 0; i < ops_per_thread; i++) {
    int n = snprintf(key, sizeof key, "bench:key:%010llu", (unsigned long long)sample(&s));
    if (xorshift(&s) % 10 == 0) {
      ok(tc_put(cache, (uint8_t *)key, (size_t)n, value, VALUE, 0), "put");
    } else {
      tc_bytes out;
      if (tc_get(cache, (uint8_t *)key, (size_t)n, &out) == TC_OK) tc_bytes_free(&out);
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s threads ops_per_thread\n", argv[0]);
    return 2;
  }
  int threads = atoi(argv[1]);
  ops_per_thread = strtoull(argv[2], NULL, 10);
  if (threads < 1 || threads > 64) return 2;
  cdf = malloc(KEYS * sizeof *cdf);
  double sum = 0;
  for (uint64_t i = 0; i < KEYS; i++) cdf[i] = sum += 1.0 / pow((double)(i + 1), 0.9);
  for (uint64_t i = 0; i < KEYS; i++) cdf[i] /= sum;
  char dir[] = "/tmp/tiercache-zipf-XXXXXX";
  if (mkdtemp(dir) == NULL) return 1;
  tc_options *o = tc_options_new();
  ok(tc_options_set_dir(o, dir), "dir");
  ok(tc_options_set_l1_capacity(o, 0, KEYS * (VALUE + 24) / 10), "l1");
  ok(tc_options_set_sync_policy(o, TC_SYNC_NEVER, 0), "sync");
  ok(tc_cache_open(o, &cache), "open");
  tc_options_free(o);
  for (size_t i = 0; i < VALUE; i++) value[i] = (uint8_t)next();
  char key[32];
  for (uint64_t i = 0; i < KEYS; i++) {
    int n = snprintf(key, sizeof key, "bench:key:%010llu", (unsigned long long)i);
    ok(tc_put(cache, (uint8_t *)key, (size_t)n, value, VALUE, 0), "put");
  }
  pthread_t t[64];
  fprintf(stderr, "MEASURE-START\n");
  double t0 = now_ns();
  for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, run, (void *)(uintptr_t)(i + 1));
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  double dt = now_ns() - t0;
  fprintf(stderr, "MEASURE-END\n");
  tc_stats st;
  ok(tc_stats_get(cache, &st), "stats");
  printf("zipf 0.9, %d threads: %.0f ops/s; l1 hits %llu, l2 hits %llu, misses %llu, compactions %llu\n", threads,
         (double)threads * (double)ops_per_thread / dt * 1e9, (unsigned long long)st.l1_hits,
         (unsigned long long)st.l2_hits, (unsigned long long)st.misses, (unsigned long long)st.compactions);
  tc_cache_close(cache);
  free(cdf);
  char cmd[64];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) != 0;
}
