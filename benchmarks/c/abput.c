/* abput.c: two builds of libtiercache.so in one process, puts timed in
 * alternating batches, so that both see the same load; for telling two
 * builds apart on a busy machine, where runs of one build after the other
 * (hit.c, the harness) cannot.
 *
 *   cc -O2 -Iinclude benchmarks/c/abput.c -ldl -o /tmp/abput
 *   cp target/release/libtiercache.so /tmp/new.so   # and the old build to /tmp/old.so
 *   /tmp/abput /tmp/old.so /tmp/new.so 200 10000 100 50000
 *
 * Arguments: library A, library B (two different files: the loader gives a
 * second dlopen of one path the first one's copy), rounds, puts per batch,
 * value bytes, keys. Each library gets its own cache (a fresh directory,
 * sync never, L1 bounded by 64 MiB only, as in the harness's put row), filled
 * with every key; then each round times one batch of each library, A first
 * in even rounds, B first in odd ones, over the same random keys.
 *
 * The clock is the thread's CPU time, not the wall: a batch the scheduler
 * preempted is not charged for the time it waited (at load 10-15 on the
 * shared 2-core machine, wall-clock medians of one library against itself
 * spread by ±10% and more; CPU time, about ±5%). What other processes do to
 * the caches meanwhile still shows, equally for both, so compare the
 * ratio, and run both orders (A B, then B A): which library was loaded
 * first moves the ratio a few per cent by itself. Prints the 5th, 10th
 * and 50th percentile of each library's ns per put over the rounds, and
 * the median and quartiles of each round's B/A. Nothing here asserts on
 * time. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tiercache.h"

/* The functions used, looked up in each library by name. */
struct lib {
  tc_options *(*options_new)(void);
  tc_status (*set_dir)(tc_options *, const char *);
  tc_status (*set_l1_capacity)(tc_options *, uint64_t, uint64_t);
  tc_status (*set_sync_policy)(tc_options *, tc_sync_policy, uint64_t);
  tc_status (*open)(const tc_options *, tc_cache **);
  void (*options_free)(tc_options *);
  tc_status (*put)(tc_cache *, const uint8_t *, size_t, const uint8_t *, size_t, uint64_t);
  void (*close)(tc_cache *);
  tc_cache *cache;
  char dir[32];
};

static void *sym(void *h, const char *name) {
  void *p = dlsym(h, name);
  if (p == NULL) {
    fprintf(stderr, "%s: %s\n", name, dlerror());
    exit(1);
  }
  return p;
}

static void ok(tc_status s, const char *what) {
  if (s != TC_OK) {
    fprintf(stderr, "%s: status %d\n", what, (int)s);
    exit(1);
  }
}

static void *library(const char *path) {
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) {
    fprintf(stderr, "%s\n", dlerror());
    exit(1);
  }
  return h;
}

/* Looks up `h`'s functions and opens a cache with them in a new directory. */
static void load(struct lib *l, void *h) {
  *(void **)&l->options_new = sym(h, "tc_options_new");
  *(void **)&l->set_dir = sym(h, "tc_options_set_dir");
  *(void **)&l->set_l1_capacity = sym(h, "tc_options_set_l1_capacity");
  *(void **)&l->set_sync_policy = sym(h, "tc_options_set_sync_policy");
  *(void **)&l->open = sym(h, "tc_cache_open");
  *(void **)&l->options_free = sym(h, "tc_options_free");
  *(void **)&l->put = sym(h, "tc_put");
  *(void **)&l->close = sym(h, "tc_cache_close");
  strcpy(l->dir, "/tmp/tiercache-abput-XXXXXX");
  if (mkdtemp(l->dir) == NULL) exit(1);
  tc_options *o = l->options_new();
  ok(l->set_dir(o, l->dir), "dir");
  ok(l->set_l1_capacity(o, 0, 64ull << 20), "l1");
  ok(l->set_sync_policy(o, TC_SYNC_NEVER, 0), "sync");
  ok(l->open(o, &l->cache), "open");
  l->options_free(o);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 0x2545f4914f6cdd1dull;
}

static double cpu_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: %s libA.so libB.so rounds batch value_bytes keys\n", argv[0]);
    return 2;
  }
  int rounds = atoi(argv[3]);
  size_t batch = strtoul(argv[4], NULL, 10), len = strtoul(argv[5], NULL, 10);
  uint64_t nkeys = strtoull(argv[6], NULL, 10);
  if (rounds < 4 || batch == 0 || nkeys == 0) {
    fprintf(stderr, "rounds >= 4, batch and keys > 0\n");
    return 2;
  }
  void *a = library(argv[1]), *b = library(argv[2]);
  if (a == b) {
    fprintf(stderr, "one library twice: copy one of them to another path\n");
    return 2;
  }
  struct lib libs[2];
  load(&libs[0], a);
  load(&libs[1], b);
  uint8_t *v = malloc(len + 1);
  char (*keys)[24] = malloc(nkeys * sizeof *keys);
  size_t *klen = malloc(nkeys * sizeof *klen);
  uint64_t *order = malloc(batch * sizeof *order);
  double *t[2] = {malloc(rounds * sizeof(double)), malloc(rounds * sizeof(double))};
  double *ratio = malloc(rounds * sizeof(double));
  for (size_t i = 0; i < len; i++) v[i] = (uint8_t)next();
  for (uint64_t i = 0; i < nkeys; i++)
    klen[i] = (size_t)snprintf(keys[i], sizeof keys[i], "bench:key:%010llu", (unsigned long long)i);
  for (size_t i = 0; i < batch; i++) order[i] = next() % nkeys;
  for (int l = 0; l < 2; l++)
    for (uint64_t i = 0; i < nkeys; i++)
      ok(libs[l].put(libs[l].cache, (const uint8_t *)keys[i], klen[i], v, len, 0), "fill");
  for (int r = 0; r < rounds; r++) {
    for (int j = 0; j < 2; j++) {
      struct lib *l = &libs[(r + j) % 2];
      double t0 = cpu_ns();
      for (size_t i = 0; i < batch; i++)
        ok(l->put(l->cache, (const uint8_t *)keys[order[i]], klen[order[i]], v, len, 0), "put");
      t[(r + j) % 2][r] = (cpu_ns() - t0) / (double)batch;
    }
    ratio[r] = t[1][r] / t[0][r];
  }
  for (int l = 0; l < 2; l++) qsort(t[l], (size_t)rounds, sizeof(double), by_value);
  qsort(ratio, (size_t)rounds, sizeof(double), by_value);
  for (int l = 0; l < 2; l++)
    printf("%s: p5 %.1f p10 %.1f p50 %.1f ns/put (CPU time)\n", l == 0 ? "A" : "B", t[l][rounds / 20],
           t[l][rounds / 10], t[l][rounds / 2]);
  printf("B/A per round: median %.3f, quartiles %.3f %.3f (%d rounds of %zu puts, %zu B, %llu keys)\n",
         ratio[rounds / 2], ratio[rounds / 4], ratio[3 * rounds / 4], rounds, batch, len,
         (unsigned long long)nkeys);
  for (int l = 0; l < 2; l++) {
    libs[l].close(libs[l].cache);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", libs[l].dir);
    if (system(cmd) != 0) return 1;
  }
  return 0;
}
