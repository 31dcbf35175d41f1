/*
 * test_threads.c: many threads on one handle, then consistency checks.
 *
 * Six threads run a random mix of put/get/get_into/contains/remove on a
 * small set of shared keys, and the same plus remove_prefix on keys only
 * they write. A loader answers misses. L1 is small, so values keep moving
 * between memory and disk while this runs. Checked:
 *  - every value read is well formed and belongs to the key it was read
 *    under (no torn or crossed values);
 *  - each private key ends exactly as its thread's own model says;
 *  - after close and reopen, every key has the value it had before close
 *    (memory and disk saw one key's writes in the same order).
 * Meant to be run under the sanitizers as well (run.sh does).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define THREADS 6
#define OPS 20000
#define SHARED 48
#define PRIVATE 40 /* per thread, as 4 groups of 10 for remove_prefix */
#define MAXVAL 512

static atomic_int problems;

#define PROBLEM(...)                                     \
  do {                                                   \
    if (atomic_fetch_add(&problems, 1) < 20) {           \
      fprintf(stderr, "    " __VA_ARGS__);               \
      fputc('\n', stderr);                               \
    }                                                    \
  } while (0)

static uint64_t rng_next(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* A value for `key`: "<key>|<writer>|<seq>|" then `pad` copies of one
   letter picked by seq; the loader's values use writer "L". */
static size_t make_value(char *out, const char *key, const char *writer, unsigned seq) {
  int n = snprintf(out, MAXVAL, "%s|%s|%u|", key, writer, seq);
  size_t pad = seq % 300;
  memset(out + n, 'a' + (int)(seq % 26), pad);
  return (size_t)n + pad;
}

/* Whether `v` is a value make_value could have produced for `key`. */
static bool well_formed(const char *key, const uint8_t *v, size_t len) {
  size_t kl = strlen(key);
  if (len < kl + 1 || memcmp(v, key, kl) != 0 || v[kl] != '|') return false;
  char buf[MAXVAL + 1];
  if (len > MAXVAL) return false;
  memcpy(buf, v, len);
  buf[len] = '\0';
  char writer[16];
  unsigned seq;
  int head = 0;
  if (sscanf(buf + kl + 1, "%15[^|]|%u|%n", writer, &seq, &head) != 2 || head == 0) return false;
  char expect[MAXVAL];
  size_t elen = make_value(expect, key, writer, seq);
  return elen == len && memcmp(expect, v, len) == 0;
}

static tc_status stress_loader(void *ud, const uint8_t *key, size_t key_len, tc_sink *sink) {
  (void)ud;
  char k[64], v[MAXVAL];
  snprintf(k, sizeof k, "%.*s", (int)key_len, (const char *)key);
  size_t n = make_value(v, k, "L", (unsigned)key_len);
  return tc_sink_put(sink, (const uint8_t *)v, n, 0);
}

/* What a thread knows about its private keys: the value it last wrote, or
   absent (removed, never written). A get of an absent key loads it. */
struct model {
  bool present[PRIVATE];
  char value[PRIVATE][MAXVAL];
  size_t len[PRIVATE];
};

struct worker {
  tc_cache *cache;
  int id;
  struct model m;
};

static void private_key(char *out, size_t cap, int thread, int i) {
  snprintf(out, cap, "t%d/p%02d", thread, i);
}

static void check_read(const char *key, tc_status s, const uint8_t *v, size_t len) {
  if (s == TC_OK && !well_formed(key, v, len)) PROBLEM("%s: malformed value \"%.*s\"", key, (int)len, (const char *)v);
  if (s != TC_OK && s != TC_NOT_FOUND) PROBLEM("%s: %s (%s)", key, tc_status_str(s), tc_last_error());
}

static void *worker_main(void *p) {
  struct worker *w = p;
  tc_cache *c = w->cache;
  uint64_t rng = 0x9e3779b97f4a7c15ull * (uint64_t)(w->id + 1);
  char key[64], writer[8], v[MAXVAL];
  snprintf(writer, sizeof writer, "%d", w->id);
  for (unsigned op = 0; op < OPS; op++) {
    unsigned r = (unsigned)(rng_next(&rng) % 100);
    if (r < 70) {
      snprintf(key, sizeof key, "shared-%02u", (unsigned)(rng_next(&rng) % SHARED));
      const uint8_t *k = (const uint8_t *)key;
      size_t kl = strlen(key);
      if (r < 30) {
        size_t n = make_value(v, key, writer, op);
        tc_status s = tc_put(c, k, kl, (const uint8_t *)v, n, 0);
        if (s != TC_OK) PROBLEM("put %s: %s", key, tc_status_str(s));
      } else if (r < 55) {
        tc_bytes b = {NULL, 0};
        tc_status s = tc_get(c, k, kl, &b);
        /* The loader answers every miss, so a get always finds a value. */
        if (s != TC_OK) PROBLEM("get %s: %s (%s)", key, tc_status_str(s), tc_last_error());
        check_read(key, s, b.data, b.len);
        tc_bytes_free(&b);
      } else if (r < 62) {
        uint8_t buf[MAXVAL];
        size_t len = 0;
        tc_status s = tc_get_into(c, k, kl, buf, sizeof buf, &len);
        check_read(key, s, buf, len);
      } else if (r < 66) {
        bool present;
        tc_status s = tc_contains(c, k, kl, &present);
        if (s != TC_OK) PROBLEM("contains %s: %s", key, tc_status_str(s));
      } else {
        tc_status s = tc_remove(c, k, kl);
        if (s != TC_OK && s != TC_NOT_FOUND) PROBLEM("remove %s: %s", key, tc_status_str(s));
      }
    } else {
      int i = (int)(rng_next(&rng) % PRIVATE);
      private_key(key, sizeof key, w->id, i);
      const uint8_t *k = (const uint8_t *)key;
      size_t kl = strlen(key);
      if (r < 85) {
        size_t n = make_value(v, key, writer, op);
        tc_status s = tc_put(c, k, kl, (const uint8_t *)v, n, 0);
        if (s != TC_OK) PROBLEM("put %s: %s", key, tc_status_str(s));
        memcpy(w->m.value[i], v, n);
        w->m.len[i] = n;
        w->m.present[i] = true;
      } else if (r < 95) {
        tc_bytes b = {NULL, 0};
        tc_status s = tc_get(c, k, kl, &b);
        if (!w->m.present[i]) {
          /* Absent: the loader's value comes back and is now cached. */
          w->m.len[i] = make_value(w->m.value[i], key, "L", (unsigned)kl);
          w->m.present[i] = true;
        }
        if (s != TC_OK || b.len != w->m.len[i] || memcmp(b.data, w->m.value[i], b.len) != 0)
          PROBLEM("get %s: %s, \"%.*s\" but this thread last wrote \"%.*s\"", key, tc_status_str(s), (int)b.len,
                  b.data ? (const char *)b.data : "", (int)w->m.len[i], w->m.value[i]);
        tc_bytes_free(&b);
      } else if (r < 99) {
        tc_status s = tc_remove(c, k, kl);
        tc_status want = w->m.present[i] ? TC_OK : TC_NOT_FOUND;
        if (s != want) PROBLEM("remove %s: %s, expected %s", key, tc_status_str(s), tc_status_str(want));
        w->m.present[i] = false;
      } else {
        /* "tN/pD" removes the group of ten keys pD0..pD9. */
        char prefix[32];
        int g = i / 10;
        snprintf(prefix, sizeof prefix, "t%d/p%d", w->id, g);
        uint64_t removed = 0, want = 0;
        for (int j = g * 10; j < g * 10 + 10; j++) want += w->m.present[j];
        tc_status s = tc_remove_prefix(c, (const uint8_t *)prefix, strlen(prefix), &removed);
        if (s != TC_OK || removed != want)
          PROBLEM("remove_prefix %s: %s, removed %llu, expected %llu", prefix, tc_status_str(s),
                  (unsigned long long)removed, (unsigned long long)want);
        for (int j = g * 10; j < g * 10 + 10; j++) w->m.present[j] = false;
      }
    }
  }
  return NULL;
}

/* Snapshot of every key's value (or absence), read with tc_get_into. */
struct snapshot {
  tc_status status[SHARED + THREADS * PRIVATE];
  size_t len[SHARED + THREADS * PRIVATE];
  char value[SHARED + THREADS * PRIVATE][MAXVAL];
};

static void key_at(int idx, char *out, size_t cap) {
  if (idx < SHARED)
    snprintf(out, cap, "shared-%02d", idx);
  else
    private_key(out, cap, (idx - SHARED) / PRIVATE, (idx - SHARED) % PRIVATE);
}

/* Reads every key (the caller has removed the loader, so nothing loads). */
static void take_snapshot(tc_cache *c, struct snapshot *s) {
  char key[64];
  for (int i = 0; i < SHARED + THREADS * PRIVATE; i++) {
    key_at(i, key, sizeof key);
    s->len[i] = 0;
    s->status[i] = tc_get_into(c, (const uint8_t *)key, strlen(key), (uint8_t *)s->value[i], MAXVAL, &s->len[i]);
  }
}

static void run_stress(tc_write_policy wp) {
  const char *dir = tu_mkdtemp();
  /* 32 entries for ~290 keys: most reads go to disk, evictions are constant. */
  tc_cache *c = tu_open(dir, 32, wp);
  CHECK(c != NULL);
  atomic_store(&problems, 0);
  pthread_t t[THREADS];
  static struct worker w[THREADS];
  memset(w, 0, sizeof w);
  for (int i = 0; i < THREADS; i++) {
    w[i].cache = c;
    w[i].id = i;
  }
  CHECK_OK(tc_cache_set_loader(c, stress_loader, NULL, NULL));
  for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, worker_main, &w[i]) == 0);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  CHECK(atomic_load(&problems) == 0);
  CHECK_OK(tc_cache_set_loader(c, NULL, NULL, NULL)); /* reads below must not load */

  /* Private keys match their thread's model exactly. */
  static struct snapshot before, after;
  take_snapshot(c, &before);
  char key[64];
  for (int th = 0; th < THREADS; th++) {
    for (int i = 0; i < PRIVATE; i++) {
      int idx = SHARED + th * PRIVATE + i;
      struct model *m = &w[th].m;
      private_key(key, sizeof key, th, i);
      bool ok = m->present[i] ? before.status[idx] == TC_OK && before.len[idx] == m->len[i] &&
                                    memcmp(before.value[idx], m->value[i], m->len[i]) == 0
                              : before.status[idx] == TC_NOT_FOUND;
      if (!ok) PROBLEM("final %s: %s, expected %s", key, tc_status_str(before.status[idx]), m->present[i] ? "value" : "absent");
    }
  }
  for (int i = 0; i < SHARED; i++) {
    key_at(i, key, sizeof key);
    if (before.status[i] != TC_OK && before.status[i] != TC_NOT_FOUND)
      PROBLEM("final %s: %s", key, tc_status_str(before.status[i]));
    check_read(key, before.status[i], (const uint8_t *)before.value[i], before.len[i]);
  }
  CHECK(atomic_load(&problems) == 0);
  tc_stats st = tu_stats(c);
  CHECK(st.l2_state == 1 && st.io_errors == 0 && st.corrupt_records == 0);
  CHECK(st.l1_evictions > 0 && st.l2_hits > 0);

  /* The same state after close and reopen. */
  tc_cache_close(c);
  c = tu_open(dir, 32, wp);
  CHECK(c != NULL);
  take_snapshot(c, &after);
  st = tu_stats(c);
  tc_cache_close(c);
  for (int i = 0; i < SHARED + THREADS * PRIVATE; i++) {
    key_at(i, key, sizeof key);
    if (after.status[i] != before.status[i] || after.len[i] != before.len[i] ||
        memcmp(after.value[i], before.value[i], before.len[i]) != 0)
      PROBLEM("%s after reopen: %s \"%.*s\", before close: %s \"%.*s\"", key, tc_status_str(after.status[i]),
              (int)after.len[i], after.value[i], tc_status_str(before.status[i]), (int)before.len[i],
              before.value[i]);
  }
  CHECK(atomic_load(&problems) == 0);
  CHECK(st.corrupt_records == 0);
}

static void test_stress_write_through(void) { run_stress(TC_WRITE_THROUGH); }
static void test_stress_write_back(void) { run_stress(TC_WRITE_BACK); }

int main(void) {
  RUN(test_stress_write_through);
  RUN(test_stress_write_back);
  return tu_summary();
}
