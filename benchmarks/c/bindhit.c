/* bindhit.c: the library's own cost of the L1 hits that the bindings'
 * benchmarks time, called from C on the same key set in the same order, so
 * that `tiercache-benchmarks python` / `go` can show how much of a binding's
 * get is the library (this), how much the call mechanism (noop.c, cgofloor)
 * and how much the wrapper. hit.c's loop, with the keys built beforehand
 * (hit.c formats each key inside the timed loop).
 *
 *   cc -O2 -Iinclude benchmarks/c/bindhit.c target/release/libtiercache.a -lpthread -ldl -lm -o /tmp/bindhit
 *   /tmp/bindhit python 3     # 20000 keys "bench:key:%08d", 100 B, shuffled
 *   /tmp/bindhit go 3         # 10000 keys "bench-key-%06d", 128 B, in turn
 *
 * Prints one line per call shape: "into <ns>" (tc_get_into) and "word <ns>"
 * (tc_get_into_word), the median over the rounds of the mean ns per get.
 * Nothing here asserts on time. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tiercache.h"
#include "bench.h"

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc != 3 || (strcmp(argv[1], "python") != 0 && strcmp(argv[1], "go") != 0)) {
    fprintf(stderr, "usage: %s python|go rounds\n", argv[0]);
    return 2;
  }
  int py = strcmp(argv[1], "python") == 0;
  int rounds = atoi(argv[2]);
  if (rounds < 1 || rounds > 99) rounds = 3;
  size_t n = py ? 20000 : 10000, vlen = py ? 100 : 128;
  char(*keys)[32] = malloc(n * sizeof *keys);
  size_t *klen = malloc(n * sizeof *klen), *order = malloc(n * sizeof *order);
  uint8_t *v = malloc(vlen), *buf = malloc(16384);
  for (size_t i = 0; i < vlen; i++) v[i] = (uint8_t)next();
  tc_cache *c;
  ok(tc_cache_open(NULL, &c), "open");
  for (size_t i = 0; i < n; i++) {
    int w = snprintf(keys[i], sizeof keys[i], py ? "bench:key:%08zu" : "bench-key-%06zu", i);
    klen[i] = (size_t)w;
    ok(tc_put(c, (const uint8_t *)keys[i], klen[i], v, vlen, 0), "put");
    order[i] = i;
  }
  if (py) /* Python's benchmark reads the keys shuffled; Go's in turn. */
    for (size_t i = n - 1; i > 0; i--) {
      size_t j = next() % (i + 1), t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
  tc_get_target target = {c, buf, 16384};
  uint64_t sink = 0;
  double *ns[2] = {malloc((size_t)rounds * sizeof(double)), malloc((size_t)rounds * sizeof(double))};
  /* The two shapes take turns, round by round, so that machine noise hits both alike. */
  for (int r = -1; r < rounds; r++) { /* round -1 warms up */
    for (int shape = 0; shape < 2; shape++) {
      double t0 = now_ns();
      for (size_t i = 0; i < n; i++) {
        const uint8_t *k = (const uint8_t *)keys[order[i]];
        if (shape == 0) {
          size_t got;
          ok(tc_get_into(c, k, klen[order[i]], buf, 16384, &got), "get_into");
          sink += got;
        } else {
          int64_t w = tc_get_into_word(&target, k, klen[order[i]]);
          if (w < 0) ok((tc_status)((-w) & 255), "get_into_word");
          sink += (uint64_t)w;
        }
      }
      if (r >= 0) ns[shape][r] = (now_ns() - t0) / (double)n;
    }
  }
  for (int shape = 0; shape < 2; shape++) {
    qsort(ns[shape], (size_t)rounds, sizeof(double), cmp);
    printf("%s %.1f\n", shape == 0 ? "into" : "word", ns[shape][rounds / 2]);
    free(ns[shape]);
  }
  if (sink == 0) printf("(sink 0)\n");
  tc_cache_close(c);
  free(keys), free(klen), free(order), free(v), free(buf);
  return 0;
}
