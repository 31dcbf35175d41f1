/* gets.c: L1 hits through the shared library with nothing else in the
 * loop: the keys are formatted before the timing (hit.c formats each with
 * snprintf, ~100 ns of its figures on the Intel Xeon of 6 December 2026),
 * so two builds of the library can be told apart by a few ns. Nothing
 * here asserts on time.
 *
 *   cc -O2 -Wall -Wextra -Werror -Iinclude benchmarks/c/gets.c -Ltarget/release -l:libtiercache.so.0 -o /tmp/gets
 *   LD_LIBRARY_PATH=target/release /tmp/gets get 100 100000 2000000
 *
 * Arguments: how a get reads the value (get = tc_get + tc_bytes_free,
 * into = tc_get_into into a stack buffer, many = tc_get_many_into in
 * batches of BATCH keys, as the Python and Go wrappers' batch gets call
 * it, each = tc_get_many in batches of BATCH keys, each value then freed
 * with tc_bytes_free), value bytes, keys, gets per round (a multiple of
 * BATCH for many and each). Puts every key (L1 only, no bound), then
 * times three rounds of gets in one random order over the keys and prints
 * the last round's ns per get. Builds A and B alternated, in a shuffled
 * order, several times:
 *
 *   for r in 1 2 3 4 5 6 7; do for l in $(printf 'A\nB\n' | shuf); do
 *     echo "$l $(LD_LIBRARY_PATH=/tmp/lib-$l /tmp/gets get 100 100000 2000000)"; done; done
 *
 * The same machine code can run ~15% faster or slower by where it lies in
 * the library (BENCHMARKS.md, History, "Session 28"): compare a path with
 * one whose code did not change in the same build as well. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tiercache.h"
#include "bench.h"

#define KEY_BYTES 20 /* "bench:key:%010llu" below 10^10 keys, as hit.c's */
#define BATCH 100

int main(int argc, char **argv) {
  if (argc != 5 || (strcmp(argv[1], "get") != 0 && strcmp(argv[1], "into") != 0 && strcmp(argv[1], "many") != 0 &&
                    strcmp(argv[1], "each") != 0)) {
    fprintf(stderr, "usage: %s get|into|many|each value_bytes keys gets\n", argv[0]);
    return 2;
  }
  int into = strcmp(argv[1], "into") == 0, many = strcmp(argv[1], "many") == 0, each = strcmp(argv[1], "each") == 0;
  int batch = many || each;
  size_t len = strtoul(argv[2], NULL, 10);
  uint64_t keys = strtoull(argv[3], NULL, 10), ops = strtoull(argv[4], NULL, 10);
  if (keys == 0 || keys > UINT32_MAX || ops == 0 || (batch && ops % BATCH != 0)) {
    fprintf(stderr, "keys must be 1 to 2^32 - 1, gets positive (for many and each a multiple of %d)\n", BATCH);
    return 2;
  }
  tc_options *o = tc_options_new();
  ok(tc_options_set_l1_capacity(o, 0, 1ull << 30), "l1");
  tc_cache *c;
  ok(tc_cache_open(o, &c), "open");
  tc_options_free(o);
  char(*k)[32] = malloc(keys * sizeof *k);
  uint8_t *v = malloc(len + 1), *buf = malloc(BATCH * (len + 1));
  uint32_t *order = malloc(ops * sizeof *order);
  if (k == NULL || v == NULL || buf == NULL || order == NULL) return 1;
  for (size_t i = 0; i < len; i++) v[i] = (uint8_t)next();
  for (uint64_t i = 0; i < keys; i++) {
    snprintf(k[i], sizeof k[i], "bench:key:%010llu", (unsigned long long)i);
    ok(tc_put(c, (const uint8_t *)k[i], KEY_BYTES, v, len, 0), "put");
  }
  for (uint64_t i = 0; i < ops; i++) order[i] = (uint32_t)(next() % keys);
  uint64_t sink = 0;
  double per_get = 0;
  for (int round = 0; round < 3; round++) { /* the first two warm up */
    double t0 = now_ns();
    for (uint64_t i = 0; batch && i < ops; i += BATCH) {
      tc_slice ks[BATCH];
      size_t lens[BATCH];
      tc_bytes values[BATCH];
      tc_status st[BATCH];
      for (int j = 0; j < BATCH; j++) {
        ks[j].data = (const uint8_t *)k[order[i + j]];
        ks[j].len = KEY_BYTES;
      }
      if (many) {
        ok(tc_get_many_into(c, ks, BATCH, buf, BATCH * (len + 1), lens, NULL, st), "get_many_into");
      } else {
        ok(tc_get_many(c, ks, BATCH, values, st), "get_many");
      }
      for (int j = 0; j < BATCH; j++) {
        ok(st[j], "batch's key");
        if (many) {
          sink += lens[j];
        } else {
          sink += values[j].len;
          tc_bytes_free(&values[j]);
        }
      }
    }
    for (uint64_t i = 0; !batch && i < ops; i++) {
      const uint8_t *key = (const uint8_t *)k[order[i]];
      if (into) {
        size_t got;
        ok(tc_get_into(c, key, KEY_BYTES, buf, len + 1, &got), "get_into");
        sink += got;
      } else {
        tc_bytes b;
        ok(tc_get(c, key, KEY_BYTES, &b), "get");
        sink += b.len;
        tc_bytes_free(&b);
      }
    }
    per_get = (now_ns() - t0) / (double)ops;
  }
  printf("%s %zu B, %llu keys: %.1f ns/get (sink %llu)\n", argv[1], len, (unsigned long long)keys, per_get,
         (unsigned long long)sink);
  tc_cache_close(c);
  return 0;
}
