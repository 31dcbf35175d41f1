/* hit.c: one tiercache path in a loop, as a C program linked against the
 * shared library sees it; for `perf stat` and `valgrind --tool=callgrind`
 * (instruction counts are repeatable on a loaded machine, times are not).
 *
 *   cc -O2 -Iinclude benchmarks/c/hit.c -Ltarget/release -ltiercache -o /tmp/hit
 *   ln -sf libtiercache.so target/release/libtiercache.so.0
 *   LD_LIBRARY_PATH=target/release /tmp/hit l1 100 100000 1000000 get
 *   LD_LIBRARY_PATH=target/release valgrind --tool=callgrind /tmp/hit l2 1024 20000 20000 value
 *
 * (The library's soname is libtiercache.so.0, the name the program asks the
 * loader for; cargo writes only libtiercache.so, and `make install` makes the
 * .so.0 link where it installs. Hence the `ln` for a run from target/.)
 *
 * Arguments: path (l1 | l2 | put), value bytes, keys, operations, and how a
 * get reads the value (get = tc_get + tc_bytes_free, into = tc_get_into,
 * value = tc_get_value + tc_value_free). Prints ns per operation (after a
 * warm-up pass over every key). Nothing here asserts on time.
 *
 * HIT_PASSES=n (default 2) makes n passes over the same gets, the first a
 * warm-up: instructions per get of the timed passes alone are then
 * (count at n = 3 minus count at n = 2) / ops, every record read already
 * verified, as `shared-lib`'s timed passes read them (a difference of two
 * ops counts instead mixes in warm-up gets that verify their checksums). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tiercache.h"
#include "bench.h"

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s l1|l2|put value_bytes keys ops get|into|value\n", argv[0]);
    return 2;
  }
  const char *path = argv[1], *read = argv[5];
  size_t len = strtoul(argv[2], NULL, 10);
  uint64_t keys = strtoull(argv[3], NULL, 10), ops = strtoull(argv[4], NULL, 10);
  char dir[] = "/tmp/tiercache-hit-XXXXXX";
  tc_options *o = tc_options_new();
  if (strcmp(path, "l1") != 0) {
    if (mkdtemp(dir) == NULL) return 1;
    ok(tc_options_set_dir(o, dir), "dir");
  }
  /* L2 hits: L1 of 64 entries, so nearly every get reads the disk tier. */
  ok(tc_options_set_l1_capacity(o, strcmp(path, "l2") == 0 ? 64 : 0, 1ull << 30), "l1");
  ok(tc_options_set_sync_policy(o, TC_SYNC_NEVER, 0), "sync");
  tc_cache *c;
  ok(tc_cache_open(o, &c), "open");
  tc_options_free(o);
  uint8_t *v = malloc(len + 1), *buf = malloc(len + 1);
  for (size_t i = 0; i < len; i++) v[i] = (uint8_t)next();
  char key[32];
  for (uint64_t i = 0; i < keys; i++) {
    int n = snprintf(key, sizeof key, "bench:key:%010llu", (unsigned long long)i);
    ok(tc_put(c, (uint8_t *)key, (size_t)n, v, len, 0), "put");
  }
  uint64_t *order = malloc(ops * sizeof *order);
  for (uint64_t i = 0; i < ops; i++) order[i] = next() % keys;
  uint64_t sink = 0;
  int passes = getenv("HIT_PASSES") ? atoi(getenv("HIT_PASSES")) : 2;
  for (int pass = 0; pass < passes; pass++) { /* pass 0 warms up */
    uint64_t n_ops = pass == 0 ? (ops < keys ? ops : keys) : ops;
    double t0 = now_ns();
    for (uint64_t i = 0; i < n_ops; i++) {
      int n = snprintf(key, sizeof key, "bench:key:%010llu", (unsigned long long)order[i]);
      const uint8_t *k = (const uint8_t *)key;
      if (strcmp(path, "put") == 0) {
        ok(tc_put(c, k, (size_t)n, v, len, 0), "put");
      } else if (strcmp(read, "get") == 0) {
        tc_bytes b;
        ok(tc_get(c, k, (size_t)n, &b), "get");
        sink += b.len ? b.data[b.len - 1] : 0;
        tc_bytes_free(&b);
      } else if (strcmp(read, "into") == 0) {
        size_t got;
        ok(tc_get_into(c, k, (size_t)n, buf, len + 1, &got), "get_into");
        sink += got;
      } else {
        tc_value *val;
        ok(tc_get_value(c, k, (size_t)n, &val), "get_value");
        size_t vl = tc_value_len(val);
        sink += vl ? tc_value_data(val)[vl - 1] : 0;
        tc_value_free(val);
      }
    }
    if (pass == passes - 1) printf("%s %zu B, %llu keys, %s: %.1f ns/op (sink %llu)\n", path, len,
                          (unsigned long long)keys, read, (now_ns() - t0) / (double)n_ops,
                          (unsigned long long)sink);
  }
  tc_cache_close(c);
  if (strcmp(path, "l1") != 0) {
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) return 1;
  }
  return 0;
}
