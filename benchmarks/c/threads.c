/* threads.c: L1 hits of 128 B values from 1, then 2 threads, on the Go
 * binding's BenchmarkGetParallel workload (10,000 keys "bench-key-%06d",
 * each thread walking them in turn from its own offset, 7919 apart) or
 * with the keys drawn at random (as `shared-lib`'s thread table draws
 * them), under LRU or S3-FIFO, through tc_get_into_word as Go's Get calls
 * it. For telling how much of GetParallel's scaling is the library's: the
 * same hit path with no cgo, no Go allocation and no garbage collector.
 *
 * With "l2 DIR" after the counts: L2 hits instead, as `shared-lib`'s
 * l2-so-threads table makes them: 1 KiB values in a cache in DIR (which
 * must not hold one already) whose L1 holds 64 entries, so nearly every
 * get reads the log and promotes its value into L1, evicting another.
 *
 *   cc -O2 -Iinclude benchmarks/c/threads.c target/release/libtiercache.a \
 *      -lpthread -ldl -lm -o /tmp/threads
 *   /tmp/threads lru turn 10000 5000000      # policy, order, keys, gets per thread
 *   /tmp/threads s3fifo random 100000 2000000
 *   /tmp/threads lru random 200000 1000000 l2 /tmp/threads-l2
 *
 * Prints, for 1 and 2 threads: ns per get (wall time over every thread's
 * gets), CPU ns per get (the process's user + system time over every get:
 * on a shared machine the steadier of the two, as it does not count time
 * the threads waited for a core) and the speed-up of 2 threads over 1.
 * Nothing here asserts on time. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "tiercache.h"
#include "bench.h"

/* Values are 128 B (Go's benchmark), or L2_VALUE_LEN with "l2". */
#define L2_VALUE_LEN 1024
static size_t value_len = 128;

static tc_cache *cache;
static char (*keys)[24];
static size_t *key_lens;
static uint64_t nkeys, per_thread;
static int random_order;

/* Each thread's key indices, drawn before the clock starts. */
static uint64_t *orders[2];

static void *run(void *arg) {
  const uint64_t *order = arg;
  uint8_t buf[L2_VALUE_LEN];
  const tc_get_target t = {cache, buf, value_len};
  for (uint64_t n = 0; n < per_thread; n++) {
    uint64_t k = order[n];
    int64_t w = tc_get_into_word(&t, (const uint8_t *)keys[k], key_lens[k]);
    if (w != (int64_t)value_len) {
      fprintf(stderr, "get %s: word %lld\n", keys[k], (long long)w);
      exit(1);
    }
  }
  return NULL;
}

static double cpu_ns(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return ((double)u.ru_utime.tv_sec + (double)u.ru_stime.tv_sec) * 1e9 +
         ((double)u.ru_utime.tv_usec + (double)u.ru_stime.tv_usec) * 1e3;
}

/* Runs `threads` threads; returns wall ns per get, CPU ns per get in *cpu. */
static double round_of(int threads, double *cpu) {
  pthread_t th[2];
  double t0 = now_ns(), c0 = cpu_ns();
  for (int i = 0; i < threads; i++) pthread_create(&th[i], NULL, run, orders[i]);
  for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
  double gets = (double)threads * (double)per_thread;
  *cpu = (cpu_ns() - c0) / gets;
  return (now_ns() - t0) / gets;
}

int main(int argc, char **argv) {
  int l2 = argc == 7 && strcmp(argv[5], "l2") == 0;
  if ((argc != 5 && !l2) || (strcmp(argv[1], "lru") != 0 && strcmp(argv[1], "s3fifo") != 0) ||
      (strcmp(argv[2], "turn") != 0 && strcmp(argv[2], "random") != 0)) {
    fprintf(stderr, "usage: %s lru|s3fifo turn|random keys gets_per_thread [l2 dir]\n", argv[0]);
    return 2;
  }
  random_order = strcmp(argv[2], "random") == 0;
  nkeys = strtoull(argv[3], NULL, 10);
  per_thread = strtoull(argv[4], NULL, 10);
  if (nkeys == 0 || per_thread == 0) return 2;
  tc_options *o = tc_options_new();
  ok(tc_options_set_l1_policy(o, strcmp(argv[1], "s3fifo") == 0 ? TC_L1_S3FIFO : TC_L1_LRU), "policy");
  if (l2) {
    value_len = L2_VALUE_LEN;
    ok(tc_options_set_dir(o, argv[6]), "dir");
    ok(tc_options_set_l1_capacity(o, 64, 0), "l1 bound");
  }
  ok(tc_cache_open(o, &cache), "open");
  tc_options_free(o);
  keys = malloc(nkeys * sizeof *keys);
  key_lens = malloc(nkeys * sizeof *key_lens);
  uint8_t v[L2_VALUE_LEN];
  memset(v, 7, sizeof v);
  for (uint64_t k = 0; k < nkeys; k++) {
    key_lens[k] = (size_t)snprintf(keys[k], sizeof keys[k], "bench-key-%06llu", (unsigned long long)k);
    ok(tc_put(cache, (const uint8_t *)keys[k], key_lens[k], v, value_len, 0), "put");
  }
  for (int i = 0; i < 2; i++) {
    orders[i] = malloc(per_thread * sizeof *orders[i]);
    for (uint64_t n = 0; n < per_thread; n++)
      orders[i][n] = random_order ? next() % nkeys : ((uint64_t)(i + 1) * 7919 + n) % nkeys;
  }
  double cpu1, cpu2;
  round_of(1, &cpu1); /* warm-up */
  double one = round_of(1, &cpu1), two = round_of(2, &cpu2);
  printf("%s%s, %s, %llu keys: 1 thread %.1f ns/get (CPU %.1f); 2 threads %.1f ns/get (CPU %.1f); "
         "2 threads / 1: %.2fx\n",
         l2 ? "L2 hits, " : "", argv[1], argv[2], (unsigned long long)nkeys, one, cpu1, two, cpu2, one / two);
  tc_cache_close(cache);
  return 0;
}
