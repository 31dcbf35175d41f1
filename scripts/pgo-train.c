/* pgo-train.c: the workload a profile-guided build of libtiercache.so is
 * trained on (scripts/pgo.sh). It calls the C ABI as programs and the
 * wrappers call it, in the proportions a cache sees: mostly hits (every
 * way of reading a value: tc_get, tc_get_into, tc_get_into_word as the Go,
 * Python and C++ wrappers call it, tc_get_value, the batch calls), then
 * puts of short and long values, L2 hits behind a small L1, misses that
 * go to the loader, and some of everything else (entry options, removes,
 * contains, iteration), under both L1 policies.
 *
 * Why every path and not only the benchmarks' rows: the compiler lays out
 * and inlines by what the training ran, and treats what it never ran as
 * cold. A path left out is compiled for size and placed away from the hot
 * code: in a first try trained on the L1 and put loops alone, tc_get_value,
 * which the training never called, was ~10% slower than in the plain build.
 *
 * Nothing is timed here, and a failure ends the program with status 1, so
 * that scripts/pgo.sh never builds on a profile of a run that broke.
 *
 *   scripts/pgo.sh builds, runs and uses it; by hand:
 *   cc -O2 -Wall -Wextra -Werror -Iinclude -Ibenchmarks/c scripts/pgo-train.c -Lsome/dir -ltiercache -o /tmp/train
 *   LD_LIBRARY_PATH=some/dir /tmp/train /tmp/some-empty-dir */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tiercache.h"
/* ok(): a status that is not TC_OK ends the program; next(): a fixed
 * xorshift sequence, so that every run trains on the same calls. */
#include "bench.h"

static void expect(int cond, const char *what) {
  if (!cond) {
    fprintf(stderr, "pgo-train: %s\n", what);
    exit(1);
  }
}

#define KEY_CAP 24
static char (*keys)[KEY_CAP];
static size_t *key_lens;

static void make_keys(uint64_t n) {
  keys = malloc(n * sizeof *keys);
  key_lens = malloc(n * sizeof *key_lens);
  expect(keys && key_lens, "out of memory");
  for (uint64_t i = 0; i < n; i++)
    key_lens[i] = (size_t)snprintf(keys[i], KEY_CAP, "train-key-%08llu", (unsigned long long)i);
}

#define K(i) (const uint8_t *)keys[i], key_lens[i]

/* The loader: a value made from the key. */
static tc_status load(void *user_data, const uint8_t *key, size_t key_len, struct tc_sink *sink) {
  (void)user_data;
  uint8_t v[100];
  memset(v, 'l', sizeof v);
  memcpy(v, key, key_len < sizeof v ? key_len : sizeof v);
  return tc_sink_put(sink, v, sizeof v, 0);
}

/* Every way of reading key i, which holds len bytes; `rounds` gets of random keys below n. */
static void reads(tc_cache *c, uint64_t n, size_t len, uint64_t rounds) {
  uint8_t *buf = malloc(len);
  expect(buf != NULL, "out of memory");
  const tc_get_target t = {c, buf, len};
  for (uint64_t r = 0; r < rounds; r++) {
    uint64_t i = next() % n;
    switch (r % 8) {
      case 0:
      case 1: { /* the wrappers' hit (Go, Python, C++) */
        int64_t w = tc_get_into_word(&t, K(i));
        expect(w == (int64_t)len, "tc_get_into_word");
        break;
      }
      case 2:
      case 3: {
        struct tc_bytes b;
        ok(tc_get(c, K(i), &b), "tc_get");
        expect(b.len == len, "tc_get length");
        tc_bytes_free(&b);
        break;
      }
      case 4:
      case 5: {
        size_t got = 0;
        ok(tc_get_into(c, K(i), buf, len, &got), "tc_get_into");
        expect(got == len, "tc_get_into length");
        break;
      }
      case 6: {
        struct tc_value *v = NULL;
        ok(tc_get_value(c, K(i), &v), "tc_get_value");
        expect(tc_value_len(v) == len && tc_value_data(v) != NULL, "tc_get_value length");
        tc_value_free(v);
        break;
      }
      default: {
        bool present = false;
        ok(tc_contains(c, K(i), &present), "tc_contains");
        expect(present, "tc_contains");
        break;
      }
    }
  }
  free(buf);
}

/* Batches of 100: tc_get_many, tc_get_many_into and tc_put_many. */
static void batches(tc_cache *c, uint64_t n, size_t len, uint64_t rounds) {
  enum { B = 100 };
  struct tc_slice ks[B], vs[B];
  struct tc_bytes out[B];
  tc_status st[B];
  size_t lens[B];
  uint8_t *buf = malloc(B * len), *v = malloc(len);
  expect(buf && v, "out of memory");
  memset(v, 'b', len);
  for (uint64_t r = 0; r < rounds; r++) {
    for (int j = 0; j < B; j++) {
      uint64_t i = next() % n;
      ks[j] = (struct tc_slice){(const uint8_t *)keys[i], key_lens[i]};
      vs[j] = (struct tc_slice){v, len};
    }
    switch (r % 3) {
      case 0:
        ok(tc_get_many(c, ks, B, out, st), "tc_get_many");
        for (int j = 0; j < B; j++) {
          expect(st[j] == TC_OK && out[j].len == len, "tc_get_many value");
          tc_bytes_free(&out[j]);
        }
        break;
      case 1:
        ok(tc_get_many_into(c, ks, B, buf, B * len, lens, NULL, st), "tc_get_many_into");
        for (int j = 0; j < B; j++) expect(st[j] == TC_OK && lens[j] == len, "tc_get_many_into value");
        break;
      default:
        ok(tc_put_many(c, ks, vs, B, 0), "tc_put_many");
        break;
    }
  }
  free(buf);
  free(v);
}

static void puts_of(tc_cache *c, uint64_t n, size_t len, uint64_t rounds) {
  uint8_t *v = malloc(len);
  expect(v != NULL, "out of memory");
  memset(v, 'p', len);
  for (uint64_t r = 0; r < rounds; r++) {
    uint64_t i = next() % n;
    v[0] = (uint8_t)r;
    ok(tc_put(c, K(i), v, len, 0), "tc_put");
  }
  free(v);
}

static void fill(tc_cache *c, uint64_t n, size_t len) {
  uint8_t *v = malloc(len);
  expect(v != NULL, "out of memory");
  memset(v, 'f', len);
  for (uint64_t i = 0; i < n; i++) ok(tc_put(c, K(i), v, len, 0), "fill");
  free(v);
}

/* The rest of the API, a little of each: entry options, loads, removes,
 * info, touch, iteration, flush. */
static void the_rest(tc_cache *c, uint64_t n, uint64_t rounds) {
  ok(tc_cache_set_loader(c, load, NULL, NULL), "tc_cache_set_loader");
  struct tc_entry_options *o = tc_entry_options_new();
  ok(tc_entry_options_set_ttl(o, 3600 * 1000), "ttl");
  ok(tc_entry_options_add_tag(o, (const uint8_t *)"train", 5), "tag");
  uint8_t v[100];
  memset(v, 'r', sizeof v);
  for (uint64_t r = 0; r < rounds; r++) {
    uint64_t i = next() % n;
    switch (r % 6) {
      case 0:
        ok(tc_put_with(c, K(i), v, sizeof v, o), "tc_put_with");
        break;
      case 1: {
        /* A key no one put: a miss that goes to the loader. */
        char k[KEY_CAP + 8];
        int kl = snprintf(k, sizeof k, "load-%llu", (unsigned long long)r);
        struct tc_bytes b;
        ok(tc_get_or_load(c, (const uint8_t *)k, (size_t)kl, load, NULL, &b), "tc_get_or_load");
        expect(b.len == sizeof v, "loaded length");
        tc_bytes_free(&b);
        break;
      }
      case 2:
        ok(tc_remove(c, K(i)), "tc_remove");
        ok(tc_put(c, K(i), v, sizeof v, 0), "put back");
        break;
      case 3: {
        struct tc_entry_info info;
        ok(tc_get_info(c, K(i), &info), "tc_get_info");
        break;
      }
      case 4:
        ok(tc_touch(c, K(i), 3600 * 1000), "tc_touch");
        break;
      default: {
        struct tc_bytes b;
        tc_status s = tc_get(c, (const uint8_t *)"never-put", 9, &b);
        expect(s == TC_OK || s == TC_NOT_FOUND, "a miss");
        if (s == TC_OK) tc_bytes_free(&b);
        break;
      }
    }
  }
  tc_entry_options_free(o);
  struct tc_iter *it = NULL;
  ok(tc_iter_new(c, (const uint8_t *)"train-key-0000", 14, &it), "tc_iter_new");
  for (;;) {
    struct tc_bytes k;
    struct tc_entry_info info;
    tc_status s = tc_iter_next(it, &k, &info);
    if (s == TC_NOT_FOUND) break;
    ok(s, "tc_iter_next");
    tc_bytes_free(&k);
  }
  tc_iter_free(it);
  ok(tc_flush(c), "tc_flush");
}

static tc_cache *open_cache(const char *dir, uint64_t l1_entries, uint64_t l1_bytes, tc_l1_policy policy) {
  tc_options *o = tc_options_new();
  if (dir != NULL) ok(tc_options_set_dir(o, dir), "dir");
  ok(tc_options_set_l1_capacity(o, l1_entries, l1_bytes), "l1");
  ok(tc_options_set_l1_policy(o, policy), "policy");
  ok(tc_options_set_sync_policy(o, TC_SYNC_NEVER, 0), "sync");
  tc_cache *c = NULL;
  ok(tc_cache_open(o, &c), "open");
  tc_options_free(o);
  return c;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s empty-dir\n", argv[0]);
    return 2;
  }
  const char *root = argv[1];
  char dir[4096];
  const uint64_t n = 100000;
  make_keys(n);
  tc_l1_policy policies[] = {TC_L1_LRU, TC_L1_S3FIFO};
  for (int p = 0; p < 2; p++) {
    /* Memory hits and puts of 100 B over a working set larger than the
     * CPU's caches, L1 bounded by bytes only, as the benchmarks run. */
    snprintf(dir, sizeof dir, "%s/l1-%d", root, p);
    tc_cache *c = open_cache(dir, 0, 64ull << 20, policies[p]);
    fill(c, n, 100);
    reads(c, n, 100, 1600000);
    puts_of(c, n / 2, 100, 800000);
    batches(c, n, 100, 3000);
    the_rest(c, n, 60000);
    tc_cache_close(c);
    /* L2 hits of 1 KiB behind an L1 of 64 entries; 16 KiB values. */
    snprintf(dir, sizeof dir, "%s/l2-%d", root, p);
    c = open_cache(dir, 64, 0, policies[p]);
    fill(c, 50000, 1024);
    reads(c, 50000, 1024, 400000);
    puts_of(c, 2000, 16384, 8000);
    tc_cache_close(c);
  }
  /* A cache without a directory (bounded with room to spare: the bound
   * is shared out among shards, and keys do not spread evenly). */
  tc_cache *c = open_cache(NULL, 40000, 0, TC_L1_LRU);
  fill(c, 20000, 128);
  reads(c, 20000, 128, 400000);
  tc_cache_close(c);
  printf("pgo-train: done\n");
  return 0;
}
