/*
 * test_entries.c: the entry functions of the December contract, as a C
 * program calls them: tc_get_info, tc_touch, tc_iter_new / tc_iter_next /
 * tc_iter_free, tc_count, tc_get_many / tc_put_many (tc_slice) and
 * tc_get_or_load.
 *
 * Covers: NULL arguments (TC_INVALID_ARGUMENT, outputs untouched) for every
 * function; empty and oversized keys; info never loading nor promoting, and
 * its tier, times and lengths; touch setting and clearing an expiry, kept
 * across a reopen; iteration with and without a prefix, in byte order, each
 * key once, across memory and disk, after puts, overwrites, removes, and
 * removes made during the iteration; expired entries never yielded nor
 * counted (made with a 1 ms TTL, then waited for until tc_get says
 * TC_NOT_FOUND, for at most 5 s: no timing assumption); count with a prefix;
 * batches with n = 0 touching nothing, mixed hits and misses, a bad key in
 * the middle, put_many stopping at its first failure; get_or_load with its
 * own loader (not the cache's), not-found and failing loaders, user data
 * left to the caller, and one load for two threads whichever of tc_get and
 * tc_get_or_load starts it; TC_CLOSED from every function after
 * tc_cache_shutdown, tc_iter_next on a live iterator included.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

#define K(s) (const uint8_t *)(s), strlen(s)

static uint64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static tc_slice slice(const char *s) { return (tc_slice){(const uint8_t *)s, strlen(s)}; }

static bool bytes_are(const tc_bytes *b, const char *want) {
  size_t n = strlen(want);
  return b->len == n && (n == 0 || (b->data != NULL && memcmp(b->data, want, n) == 0));
}

/* Loader: counts its calls and answers "<tag>:<key>" after `delay_ms`, or
   returns `status` when that is not TC_OK. `started` is set on entry. */
struct loader_state {
  atomic_int calls;
  atomic_int started;
  unsigned delay_ms;
  tc_status status;
  const char *tag;
};

static tc_status tagged_loader(void *ud, const uint8_t *key, size_t key_len, tc_sink *sink) {
  struct loader_state *l = ud;
  atomic_fetch_add(&l->calls, 1);
  atomic_store(&l->started, 1);
  if (l->delay_ms) tu_sleep_ms(l->delay_ms);
  if (l->status != TC_OK) return l->status;
  char v[128];
  int n = snprintf(v, sizeof v, "%s:%.*s", l->tag, (int)key_len, (const char *)key);
  return tc_sink_put(sink, (const uint8_t *)v, (size_t)n, 0);
}

/* Collects an iteration into "k1,k2,..." (keys are printable in these tests)
   and checks each key's info against tc_get_info. Returns the number of keys,
   or -1 on a failure (printed). */
static int collect(tc_cache *c, const char *prefix, char *out, size_t cap) {
  tc_iter *it = NULL;
  tc_status s = tc_iter_new(c, (const uint8_t *)prefix, strlen(prefix), &it);
  if (s != TC_OK) {
    fprintf(stderr, "    tc_iter_new(\"%s\"): %s\n", prefix, tc_status_str(s));
    return -1;
  }
  int n = 0;
  out[0] = '\0';
  for (;;) {
    tc_bytes key = {NULL, 0};
    tc_entry_info info;
    memset(&info, 0, sizeof info);
    s = tc_iter_next(it, &key, &info);
    if (s == TC_NOT_FOUND) break;
    if (s != TC_OK) {
      fprintf(stderr, "    tc_iter_next: %s (%s)\n", tc_status_str(s), tc_last_error());
      tc_iter_free(it);
      return -1;
    }
    size_t used = strlen(out);
    snprintf(out + used, cap - used, "%s%.*s", n ? "," : "", (int)key.len, (const char *)key.data);
    tc_entry_info again;
    bool same = tc_get_info(c, key.data, key.len, &again) == TC_OK && again.value_len == info.value_len &&
                again.expires_at_ms == info.expires_at_ms && again.written_at_ms == info.written_at_ms;
    tc_bytes_free(&key);
    if (!same) {
      fprintf(stderr, "    tc_iter_next's info differs from tc_get_info's\n");
      tc_iter_free(it);
      return -1;
    }
    n++;
  }
  /* The end stays the end. */
  tc_bytes key = {NULL, 0};
  tc_entry_info info;
  s = tc_iter_next(it, &key, &info);
  tc_iter_free(it);
  if (s != TC_NOT_FOUND) {
    fprintf(stderr, "    tc_iter_next after the end: %s\n", tc_status_str(s));
    return -1;
  }
  return n;
}

/* Waits (at most 5 s) until tc_get of key says TC_NOT_FOUND: how an entry
   put with a 1 ms TTL is known to have expired, without a timing guess. */
static bool wait_expired(tc_cache *c, const char *key) {
  uint64_t deadline = tu_now_ms() + 5000;
  for (;;) {
    tc_status s = tu_get(c, key, NULL);
    if (s == TC_NOT_FOUND) return true;
    if (s != TC_OK || tu_now_ms() > deadline) {
      fprintf(stderr, "    \"%s\" did not expire: %s\n", key, tc_status_str(s));
      return false;
    }
    tu_sleep_ms(2);
  }
}

/* ---- NULL and bad arguments ---- */

static void test_null_arguments(void) {
  tc_cache *c = tu_open(NULL, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK_OK(tu_put(c, "k", "v", 0));
  struct loader_state ld = {0, 0, 0, TC_OK, "L"};

  tc_entry_info info;
  memset(&info, 0xAB, sizeof info);
  CHECK_STATUS(tc_get_info(NULL, K("k"), &info), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_get_info(c, NULL, 1, &info), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_get_info(c, K("k"), NULL), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_get_info(c, (const uint8_t *)"k", 0, &info), TC_INVALID_ARGUMENT);
  CHECK(info.value_len == 0xABABABABABABABABull); /* untouched */

  CHECK_STATUS(tc_touch(NULL, K("k"), 0), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_touch(c, NULL, 1, 0), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_touch(c, (const uint8_t *)"k", 0, 0), TC_INVALID_ARGUMENT);

  tc_iter *it = (tc_iter *)&info; /* a sentinel: must stay as it is */
  CHECK_STATUS(tc_iter_new(NULL, K(""), &it), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_iter_new(c, NULL, 0, &it), TC_INVALID_ARGUMENT); /* prefix must be non-NULL */
  CHECK_STATUS(tc_iter_new(c, NULL, 3, &it), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_iter_new(c, K(""), NULL), TC_INVALID_ARGUMENT);
  CHECK(it == (tc_iter *)&info);
  it = NULL;
  CHECK_OK(tc_iter_new(c, K(""), &it));
  tc_bytes key = {(uint8_t *)"x", 777};
  CHECK_STATUS(tc_iter_next(NULL, &key, &info), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_iter_next(it, NULL, &info), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_iter_next(it, &key, NULL), TC_INVALID_ARGUMENT);
  CHECK(key.len == 777 && info.value_len == 0xABABABABABABABABull);
  /* The refused calls did not advance it: "k" is still to come. */
  CHECK_OK(tc_iter_next(it, &key, &info));
  CHECK(bytes_are(&key, "k") && info.value_len == 1);
  tc_bytes_free(&key);
  tc_iter_free(it);
  tc_iter_free(NULL); /* a no-op */

  uint64_t entries = 99, bytes = 99;
  CHECK_STATUS(tc_count(NULL, K(""), &entries, &bytes), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_count(c, NULL, 0, &entries, &bytes), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_count(c, K(""), NULL, &bytes), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_count(c, K(""), &entries, NULL), TC_INVALID_ARGUMENT);
  CHECK(entries == 99 && bytes == 99);

  tc_slice keys[1] = {slice("k")};
  tc_slice values[1] = {slice("v2")};
  tc_bytes got[1] = {{NULL, 0}};
  tc_status st[1] = {TC_PANIC};
  CHECK_STATUS(tc_get_many(NULL, keys, 1, got, st), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_get_many(c, NULL, 1, got, st), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_get_many(c, keys, 1, NULL, st), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_get_many(c, keys, 1, got, NULL), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_get_many(NULL, NULL, 0, NULL, NULL), TC_INVALID_ARGUMENT); /* cache even with n = 0 */
  CHECK(st[0] == TC_PANIC && got[0].data == NULL);

  CHECK_STATUS(tc_put_many(NULL, keys, values, 1, 0), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_put_many(c, NULL, values, 1, 0), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_put_many(c, keys, NULL, 1, 0), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_put_many(NULL, NULL, NULL, 0, 0), TC_INVALID_ARGUMENT);
  tc_slice null_key[1] = {{NULL, 1}};
  tc_slice null_value[1] = {{NULL, 0}};
  CHECK_STATUS(tc_put_many(c, null_key, values, 1, 0), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_put_many(c, keys, null_value, 1, 0), TC_INVALID_ARGUMENT);
  CHECK(tu_value_is(c, "k", "v")); /* nothing was written */

  tc_bytes out = {(uint8_t *)"x", 555};
  CHECK_STATUS(tc_get_or_load(NULL, K("n"), tagged_loader, &ld, &out), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_get_or_load(c, NULL, 1, tagged_loader, &ld, &out), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_get_or_load(c, (const uint8_t *)"n", 0, tagged_loader, &ld, &out), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_get_or_load(c, K("n"), NULL, &ld, &out), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_get_or_load(c, K("n"), tagged_loader, &ld, NULL), TC_INVALID_ARGUMENT);
  CHECK(out.len == 555);
  CHECK(atomic_load(&ld.calls) == 0);
  CHECK(!tu_contains(c, "n"));
  tc_cache_close(c);
}

static void test_key_limits(void) {
  tc_cache *c = tu_open(NULL, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  size_t big_len = 64 * 1024 + 1;
  uint8_t *big = calloc(big_len, 1);
  CHECK(big != NULL);
  memset(big, 'k', big_len);
  tc_entry_info info;
  tc_bytes out = {NULL, 0};
  struct loader_state ld = {0, 0, 0, TC_OK, "L"};
  tc_status a = tc_get_info(c, big, big_len, &info);
  tc_status b = tc_touch(c, big, big_len, 0);
  tc_status d = tc_get_or_load(c, big, big_len, tagged_loader, &ld, &out);
  tc_slice keys[2] = {{big, big_len}, slice("ok")};
  tc_slice values[2] = {slice("v"), slice("v")};
  tc_status e = tc_put_many(c, keys, values, 2, 0);
  free(big);
  CHECK(a == TC_TOO_LARGE && b == TC_TOO_LARGE && d == TC_TOO_LARGE && e == TC_TOO_LARGE);
  CHECK(atomic_load(&ld.calls) == 0);
  CHECK(!tu_contains(c, "ok")); /* put_many stopped at pair 0 */
  tc_cache_close(c);
}

/* ---- tc_get_info ---- */

static void test_get_info(void) {
  const char *dir = tu_mkdtemp();
  tc_cache *c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  struct loader_state ld = {0, 0, 0, TC_OK, "L"};
  CHECK_OK(tc_cache_set_loader(c, tagged_loader, &ld, NULL));

  uint64_t before = wall_ms();
  CHECK_OK(tu_put(c, "forever", "12345", 0));
  CHECK_OK(tu_put(c, "minute", "", 60000));
  uint64_t after = wall_ms();

  tc_entry_info info;
  CHECK_OK(tc_get_info(c, K("forever"), &info));
  CHECK(info.value_len == 5);
  CHECK(info.expires_at_ms == 0);
  CHECK(info.written_at_ms >= before && info.written_at_ms <= after);
  CHECK(info.tier == 1);
  CHECK(info.tag_count == 0);

  CHECK_OK(tc_get_info(c, K("minute"), &info));
  CHECK(info.value_len == 0);
  CHECK(info.expires_at_ms >= before + 60000 && info.expires_at_ms <= after + 60000);
  CHECK(info.expires_at_ms - info.written_at_ms == 60000);

  /* Absent: TC_NOT_FOUND, and the loader is not asked. */
  memset(&info, 0xCD, sizeof info);
  CHECK_STATUS(tc_get_info(c, K("absent"), &info), TC_NOT_FOUND);
  CHECK(info.tier == 0xCDCDCDCDu);
  CHECK(atomic_load(&ld.calls) == 0);

  /* From disk: tier 2, and it stays on disk only (no promotion). */
  CHECK_OK(tc_clear(c, true));
  CHECK_OK(tc_get_info(c, K("forever"), &info));
  CHECK(info.tier == 2 && info.value_len == 5 && info.written_at_ms >= before);
  CHECK_OK(tc_get_info(c, K("forever"), &info));
  CHECK(info.tier == 2);
  tc_stats s = tu_stats(c);
  CHECK(s.l1_entries == 0 && s.l2_hits == 0 && s.l1_hits == 0 && s.l3_loads == 0);
  /* A get promotes; info then says memory. */
  CHECK(tu_value_is(c, "forever", "12345"));
  CHECK_OK(tc_get_info(c, K("forever"), &info));
  CHECK(info.tier == 1);

  /* A removed key has no info. */
  CHECK_OK(tc_remove(c, K("forever")));
  CHECK_STATUS(tc_get_info(c, K("forever"), &info), TC_NOT_FOUND);
  tc_cache_close(c);
}

/* ---- tc_touch ---- */

static void test_touch(void) {
  const char *dir = tu_mkdtemp();
  tc_cache *c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK_STATUS(tc_touch(c, K("absent"), 1000), TC_NOT_FOUND);
  CHECK(!tu_contains(c, "absent"));

  CHECK_OK(tu_put(c, "k", "value", 60000));
  tc_entry_info first, info;
  CHECK_OK(tc_get_info(c, K("k"), &first));
  CHECK(first.expires_at_ms != 0);

  /* 0: never expires; the write time and the value are kept. */
  CHECK_OK(tc_touch(c, K("k"), 0));
  CHECK_OK(tc_get_info(c, K("k"), &info));
  CHECK(info.expires_at_ms == 0);
  CHECK(info.written_at_ms == first.written_at_ms);
  CHECK(info.value_len == 5);
  CHECK(tu_value_is(c, "k", "value"));

  /* A new TTL counts from now. */
  uint64_t before = wall_ms();
  CHECK_OK(tc_touch(c, K("k"), 3600000));
  uint64_t after = wall_ms();
  CHECK_OK(tc_get_info(c, K("k"), &info));
  CHECK(info.expires_at_ms >= before + 3600000 && info.expires_at_ms <= after + 3600000);
  CHECK(info.written_at_ms == first.written_at_ms);
  uint64_t expires = info.expires_at_ms;

  /* Persisted like a put: the reopened cache has the new expiry. */
  CHECK_OK(tu_put(c, "other", "o", 0));
  CHECK_OK(tc_touch(c, K("other"), 7200000));
  tc_cache_close(c);
  c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK_OK(tc_get_info(c, K("k"), &info));
  CHECK(info.expires_at_ms == expires && info.tier == 2);
  CHECK(tu_value_is(c, "k", "value"));
  CHECK_OK(tc_get_info(c, K("other"), &info));
  CHECK(info.expires_at_ms != 0);

  /* An expired entry cannot be touched back to life. */
  CHECK_OK(tu_put(c, "brief", "b", 1));
  CHECK(wait_expired(c, "brief"));
  CHECK_STATUS(tc_touch(c, K("brief"), 0), TC_NOT_FOUND);
  CHECK_STATUS(tc_get_info(c, K("brief"), &info), TC_NOT_FOUND);
  tc_cache_close(c);
}

/* ---- iteration and count ---- */

static void test_iterate_with_and_without_prefix(void) {
  const char *dir = tu_mkdtemp();
  tc_cache *c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  char got[512];
  CHECK(collect(c, "", got, sizeof got) == 0);

  const char *keys[] = {"user:2", "b", "user:10", "user:1", "users", "a", "user"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) CHECK_OK(tu_put(c, keys[i], keys[i], 0));

  /* Byte order, every key once. */
  CHECK(collect(c, "", got, sizeof got) == 7);
  CHECK(strcmp(got, "a,b,user,user:1,user:10,user:2,users") == 0);
  CHECK(collect(c, "user:", got, sizeof got) == 3);
  CHECK(strcmp(got, "user:1,user:10,user:2") == 0);
  CHECK(collect(c, "user", got, sizeof got) == 5);
  CHECK(collect(c, "user:10", got, sizeof got) == 1);
  CHECK(strcmp(got, "user:10") == 0);
  CHECK(collect(c, "user:100", got, sizeof got) == 0);
  CHECK(collect(c, "zzz", got, sizeof got) == 0);

  /* Half the keys only on disk, half in memory too: still each once. */
  CHECK_OK(tc_clear(c, true));
  CHECK(tu_value_is(c, "b", "b"));
  CHECK(tu_value_is(c, "user:2", "user:2"));
  CHECK(collect(c, "", got, sizeof got) == 7);
  CHECK(strcmp(got, "a,b,user,user:1,user:10,user:2,users") == 0);

  /* And after a reopen, from disk alone. */
  tc_cache_close(c);
  c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK(collect(c, "user:", got, sizeof got) == 3);
  CHECK(strcmp(got, "user:1,user:10,user:2") == 0);
  tc_cache_close(c);
}

static void test_binary_keys(void) {
  tc_cache *c = tu_open(NULL, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  const uint8_t k1[] = {0x00, 0x01}, k2[] = {0x00, 0xFF, 0x00}, k3[] = {0xFF};
  CHECK_OK(tc_put(c, k3, sizeof k3, k3, 1, 0));
  CHECK_OK(tc_put(c, k2, sizeof k2, k2, 3, 0));
  CHECK_OK(tc_put(c, k1, sizeof k1, k1, 2, 0));
  const uint8_t prefix[] = {0x00};
  tc_iter *it = NULL;
  CHECK_OK(tc_iter_new(c, prefix, 1, &it));
  tc_bytes key = {NULL, 0};
  tc_entry_info info;
  CHECK_OK(tc_iter_next(it, &key, &info));
  bool first = key.len == 2 && memcmp(key.data, k1, 2) == 0 && info.value_len == 2;
  tc_bytes_free(&key);
  CHECK_OK(tc_iter_next(it, &key, &info));
  bool second = key.len == 3 && memcmp(key.data, k2, 3) == 0 && info.value_len == 3;
  tc_bytes_free(&key);
  tc_status end = tc_iter_next(it, &key, &info);
  tc_iter_free(it);
  CHECK(first && second);
  CHECK(end == TC_NOT_FOUND);
  uint64_t n = 0, bytes = 0;
  CHECK_OK(tc_count(c, prefix, 1, &n, &bytes));
  CHECK(n == 2 && bytes == 5);
  tc_cache_close(c);
}

static void test_count(void) {
  const char *dir = tu_mkdtemp();
  tc_cache *c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  uint64_t n = 99, bytes = 99;
  CHECK_OK(tc_count(c, K(""), &n, &bytes));
  CHECK(n == 0 && bytes == 0);
  CHECK_OK(tu_put(c, "a:1", "xx", 0));
  CHECK_OK(tu_put(c, "a:2", "yyy", 0));
  CHECK_OK(tu_put(c, "b:1", "", 0));
  CHECK_OK(tu_put(c, "b:2", "zzzz", 0));
  CHECK_OK(tc_count(c, K(""), &n, &bytes));
  CHECK(n == 4 && bytes == 9);
  CHECK_OK(tc_count(c, K("a:"), &n, &bytes));
  CHECK(n == 2 && bytes == 5);
  CHECK_OK(tc_count(c, K("b:"), &n, &bytes));
  CHECK(n == 2 && bytes == 4);
  CHECK_OK(tc_count(c, K("c:"), &n, &bytes));
  CHECK(n == 0 && bytes == 0);
  /* Overwrite counts the new length once; remove and remove_prefix count. */
  CHECK_OK(tu_put(c, "a:1", "xxxxxxxxxx", 0));
  CHECK_OK(tc_count(c, K("a:"), &n, &bytes));
  CHECK(n == 2 && bytes == 13);
  CHECK_OK(tc_remove(c, K("a:2")));
  CHECK_OK(tc_count(c, K(""), &n, &bytes));
  CHECK(n == 3 && bytes == 14);
  uint64_t removed = 0;
  CHECK_OK(tc_remove_prefix(c, K("b:"), &removed));
  CHECK(removed == 2);
  CHECK_OK(tc_count(c, K(""), &n, &bytes));
  CHECK(n == 1 && bytes == 10);
  /* Disk only counts the same. */
  CHECK_OK(tc_clear(c, true));
  CHECK_OK(tc_count(c, K(""), &n, &bytes));
  CHECK(n == 1 && bytes == 10);
  tc_cache_close(c);
}

static void test_iterate_after_puts_and_removes(void) {
  const char *dir = tu_mkdtemp();
  tc_cache *c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  char got[512];
  CHECK_OK(tu_put(c, "k1", "1", 0));
  CHECK_OK(tu_put(c, "k2", "2", 0));
  CHECK_OK(tu_put(c, "k3", "3", 0));
  CHECK_OK(tc_remove(c, K("k2")));
  CHECK_OK(tu_put(c, "k4", "4", 0));
  CHECK_OK(tu_put(c, "k1", "one", 0));
  CHECK(collect(c, "k", got, sizeof got) == 3);
  CHECK(strcmp(got, "k1,k3,k4") == 0);
  /* A removed key stays out after a reopen (its tombstone is read). */
  tc_cache_close(c);
  c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK(collect(c, "", got, sizeof got) == 3);
  CHECK(strcmp(got, "k1,k3,k4") == 0);
  uint64_t n = 0, bytes = 0;
  CHECK_OK(tc_count(c, K(""), &n, &bytes));
  CHECK(n == 3 && bytes == 5);

  /* Changes made during an iteration: a key removed before tc_iter_next
     reaches it is not yielded; keys live throughout are yielded once; a
     key written meanwhile may or may not be. */
  tc_iter *it = NULL;
  CHECK_OK(tc_iter_new(c, K(""), &it));
  tc_bytes key = {NULL, 0};
  tc_entry_info info;
  CHECK_OK(tc_iter_next(it, &key, &info));
  bool k1 = bytes_are(&key, "k1") && info.value_len == 3;
  tc_bytes_free(&key);
  CHECK_OK(tc_remove(c, K("k3")));
  CHECK_OK(tu_put(c, "k2", "back", 0));
  CHECK_OK(tu_put(c, "k5", "new", 0));
  int k4 = 0, others = 0, k3 = 0;
  tc_status s;
  while ((s = tc_iter_next(it, &key, &info)) == TC_OK) {
    if (bytes_are(&key, "k4")) k4++;
    else if (bytes_are(&key, "k3")) k3++;
    else if (!bytes_are(&key, "k2") && !bytes_are(&key, "k5")) others++;
    tc_bytes_free(&key);
  }
  tc_iter_free(it);
  CHECK(k1);
  CHECK(s == TC_NOT_FOUND);
  CHECK(k4 == 1 && k3 == 0 && others == 0);
  CHECK(collect(c, "", got, sizeof got) == 4);
  CHECK(strcmp(got, "k1,k2,k4,k5") == 0);
  tc_cache_close(c);
}

static void test_iterate_and_count_skip_expired(void) {
  const char *dir = tu_mkdtemp();
  tc_cache *c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  char got[512];
  CHECK_OK(tu_put(c, "e:gone", "xxxxxxxx", 1));
  CHECK_OK(tu_put(c, "e:kept", "yy", 3600000));
  CHECK_OK(tu_put(c, "e:plain", "z", 0));
  CHECK(wait_expired(c, "e:gone"));
  CHECK(collect(c, "e:", got, sizeof got) == 2);
  CHECK(strcmp(got, "e:kept,e:plain") == 0);
  uint64_t n = 0, bytes = 0;
  CHECK_OK(tc_count(c, K("e:"), &n, &bytes));
  CHECK(n == 2 && bytes == 3);
  /* Also when only the disk holds the entries. */
  CHECK_OK(tu_put(c, "e:gone2", "x", 1));
  CHECK(wait_expired(c, "e:gone2"));
  CHECK_OK(tc_clear(c, true));
  CHECK(collect(c, "", got, sizeof got) == 2);
  CHECK(strcmp(got, "e:kept,e:plain") == 0);
  CHECK_OK(tc_count(c, K(""), &n, &bytes));
  CHECK(n == 2 && bytes == 3);
  tc_cache_close(c);
}

/* An iterator freed before its end leaks nothing (ASan checks). */
static void test_iterator_freed_early(void) {
  tc_cache *c = tu_open(NULL, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  for (int i = 0; i < 100; i++) {
    char k[16];
    snprintf(k, sizeof k, "key%03d", i);
    CHECK_OK(tu_put(c, k, k, 0));
  }
  tc_iter *it = NULL;
  CHECK_OK(tc_iter_new(c, K(""), &it));
  tc_bytes key = {NULL, 0};
  tc_entry_info info;
  CHECK_OK(tc_iter_next(it, &key, &info));
  CHECK(bytes_are(&key, "key000"));
  tc_bytes_free(&key);
  tc_iter_free(it);
  /* Two iterations at once are independent. */
  tc_iter *a = NULL, *b = NULL;
  CHECK_OK(tc_iter_new(c, K("key09"), &a));
  CHECK_OK(tc_iter_new(c, K("key0"), &b));
  CHECK_OK(tc_iter_next(a, &key, &info));
  bool a0 = bytes_are(&key, "key090");
  tc_bytes_free(&key);
  CHECK_OK(tc_iter_next(b, &key, &info));
  bool b0 = bytes_are(&key, "key000");
  tc_bytes_free(&key);
  tc_iter_free(a);
  tc_iter_free(b);
  CHECK(a0 && b0);
  tc_cache_close(c);
}

/* ---- batches ---- */

static void test_batches_of_zero_touch_nothing(void) {
  tc_cache *c = tu_open(NULL, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  struct loader_state ld = {0, 0, 0, TC_OK, "L"};
  CHECK_OK(tc_cache_set_loader(c, tagged_loader, &ld, NULL));
  tc_stats before = tu_stats(c);
  CHECK_OK(tc_get_many(c, NULL, 0, NULL, NULL));
  CHECK_OK(tc_put_many(c, NULL, NULL, 0, 0));
  tc_slice keys[1] = {slice("k")};
  tc_bytes values[1] = {{(uint8_t *)"x", 99}};
  tc_status statuses[1] = {TC_PANIC};
  CHECK_OK(tc_get_many(c, keys, 0, values, statuses));
  tc_slice vals[1] = {slice("v")};
  CHECK_OK(tc_put_many(c, keys, vals, 0, 0));
  CHECK(values[0].len == 99 && statuses[0] == TC_PANIC); /* arrays untouched */
  tc_stats after = tu_stats(c);
  CHECK(after.l1_hits == before.l1_hits && after.l2_hits == before.l2_hits);
  CHECK(after.l3_loads == before.l3_loads && after.misses == before.misses);
  CHECK(after.l1_entries == before.l1_entries && after.l1_bytes == before.l1_bytes);
  CHECK(atomic_load(&ld.calls) == 0);
  uint64_t n = 9, bytes = 9;
  CHECK_OK(tc_count(c, K(""), &n, &bytes));
  CHECK(n == 0);
  tc_cache_close(c);
}

static void test_put_many_and_get_many(void) {
  const char *dir = tu_mkdtemp();
  tc_cache *c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  tc_slice keys[3] = {slice("a"), slice("b"), slice("c")};
  tc_slice values[3] = {slice("1"), slice(""), slice("333")};
  uint64_t before = wall_ms();
  CHECK_OK(tc_put_many(c, keys, values, 3, 60000));
  CHECK(tu_value_is(c, "a", "1"));
  CHECK(tu_value_is(c, "b", ""));
  CHECK(tu_value_is(c, "c", "333"));
  tc_entry_info info;
  CHECK_OK(tc_get_info(c, K("c"), &info));
  CHECK(info.expires_at_ms >= before + 60000 && info.expires_at_ms <= wall_ms() + 60000);

  /* Hits, a miss, an empty key, a repeat: each its own status. */
  tc_slice ask[5] = {slice("c"), slice("missing"), slice(""), slice("a"), slice("b")};
  tc_bytes got[5];
  tc_status st[5];
  for (int i = 0; i < 5; i++) {
    got[i] = (tc_bytes){(uint8_t *)"garbage", 7};
    st[i] = TC_PANIC;
  }
  CHECK_OK(tc_get_many(c, ask, 5, got, st));
  CHECK(st[0] == TC_OK && bytes_are(&got[0], "333"));
  CHECK(st[1] == TC_NOT_FOUND && got[1].data == NULL && got[1].len == 0);
  CHECK(st[2] == TC_INVALID_ARGUMENT && got[2].data == NULL && got[2].len == 0);
  CHECK(st[3] == TC_OK && bytes_are(&got[3], "1"));
  CHECK(st[4] == TC_OK && got[4].len == 0);
  for (int i = 0; i < 5; i++) tc_bytes_free(&got[i]);

  /* Survives a reopen like single puts. */
  tc_cache_close(c);
  c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK_OK(tc_get_many(c, keys, 3, got, st));
  CHECK(st[0] == TC_OK && st[1] == TC_OK && st[2] == TC_OK);
  CHECK(bytes_are(&got[0], "1") && got[1].len == 0 && bytes_are(&got[2], "333"));
  for (int i = 0; i < 3; i++) tc_bytes_free(&got[i]);
  tc_cache_close(c);
}

static void test_get_many_into_packs_values_and_spills_big_ones(void) {
  tc_cache *c = tu_open(NULL, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  tc_slice keys[3] = {slice("a"), slice("big"), slice("c")};
  tc_slice values[3] = {slice("11"), slice("0123456789"), slice("333")};
  CHECK_OK(tc_put_many(c, keys, values, 3, 0));

  /* Room for 6 bytes: "11", then "big" (10) does not fit and spills,
     then "333" still fits after "11"; "missing" is a miss. */
  tc_slice ask[4] = {slice("a"), slice("big"), slice("missing"), slice("c")};
  uint8_t buf[6];
  size_t lens[4] = {99, 99, 99, 99};
  tc_value *spilled[4] = {NULL, NULL, NULL, NULL};
  tc_status st[4] = {TC_PANIC, TC_PANIC, TC_PANIC, TC_PANIC};
  CHECK_OK(tc_get_many_into(c, ask, 4, buf, sizeof buf, lens, spilled, st));
  CHECK(st[0] == TC_OK && lens[0] == 2 && memcmp(buf, "11", 2) == 0 && spilled[0] == NULL);
  CHECK(st[1] == TC_BUFFER_TOO_SMALL && lens[1] == 10 && spilled[1] != NULL);
  CHECK(tc_value_len(spilled[1]) == 10 && memcmp(tc_value_data(spilled[1]), "0123456789", 10) == 0);
  CHECK(st[2] == TC_NOT_FOUND && lens[2] == 0 && spilled[2] == NULL);
  CHECK(st[3] == TC_OK && lens[3] == 3 && memcmp(buf + 2, "333", 3) == 0);
  tc_value_free(spilled[1]);

  /* Without a spill array the big value is only reported. */
  CHECK_OK(tc_get_many_into(c, ask, 2, buf, sizeof buf, lens, NULL, st));
  CHECK(st[0] == TC_OK && st[1] == TC_BUFFER_TOO_SMALL && lens[1] == 10);

  /* Bad arguments: NULL handle, keys, lengths or statuses; a NULL buffer
     with room claimed. n = 0 touches nothing. */
  CHECK_STATUS(tc_get_many_into(NULL, ask, 1, buf, sizeof buf, lens, NULL, st), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_get_many_into(c, NULL, 1, buf, sizeof buf, lens, NULL, st), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_get_many_into(c, ask, 1, buf, sizeof buf, NULL, NULL, st), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_get_many_into(c, ask, 1, buf, sizeof buf, lens, NULL, NULL), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_get_many_into(c, ask, 1, NULL, 8, lens, NULL, st), TC_INVALID_ARGUMENT);
  CHECK_OK(tc_get_many_into(c, NULL, 0, NULL, 0, NULL, NULL, NULL));
  tc_cache_close(c);
}

static void test_get_many_asks_the_loader(void) {
  tc_cache *c = tu_open(NULL, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  struct loader_state ld = {0, 0, 0, TC_OK, "L"};
  CHECK_OK(tc_cache_set_loader(c, tagged_loader, &ld, NULL));
  CHECK_OK(tu_put(c, "here", "H", 0));
  tc_slice ask[2] = {slice("here"), slice("there")};
  tc_bytes got[2];
  tc_status st[2];
  CHECK_OK(tc_get_many(c, ask, 2, got, st));
  CHECK(st[0] == TC_OK && bytes_are(&got[0], "H"));
  CHECK(st[1] == TC_OK && bytes_are(&got[1], "L:there"));
  tc_bytes_free(&got[0]);
  tc_bytes_free(&got[1]);
  CHECK(atomic_load(&ld.calls) == 1);
  ld.status = TC_IO_ERROR;
  tc_slice fail[1] = {slice("broken")};
  CHECK_OK(tc_get_many(c, fail, 1, got, st)); /* the call's own status */
  CHECK(st[0] == TC_LOADER_FAILED && got[0].data == NULL);
  tc_cache_close(c);
}

static void test_put_many_stops_at_first_failure(void) {
  tc_options *o = tc_options_new();
  CHECK(o != NULL);
  CHECK_OK(tc_options_set_max_value_size(o, 4));
  tc_cache *c = NULL;
  CHECK_OK(tc_cache_open(o, &c));
  tc_options_free(o);
  tc_slice keys[3] = {slice("first"), slice("second"), slice("third")};
  tc_slice values[3] = {slice("ok"), slice("too long"), slice("ok")};
  CHECK_STATUS(tc_put_many(c, keys, values, 3, 0), TC_TOO_LARGE);
  CHECK(strstr(tc_last_error(), "1") != NULL); /* names pair 1 */
  CHECK(tu_value_is(c, "first", "ok"));
  CHECK(!tu_contains(c, "second"));
  CHECK(!tu_contains(c, "third"));
  tc_slice empty_key[2] = {slice("fourth"), slice("")};
  tc_slice vals[2] = {slice("4"), slice("5")};
  CHECK_STATUS(tc_put_many(c, empty_key, vals, 2, 0), TC_INVALID_ARGUMENT);
  CHECK(tu_value_is(c, "fourth", "4"));
  tc_cache_close(c);
}

/* ---- tc_get_or_load ---- */

static void test_get_or_load(void) {
  const char *dir = tu_mkdtemp();
  tc_cache *c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  struct loader_state cache_ld = {0, 0, 0, TC_OK, "cache"};
  struct loader_state mine = {0, 0, 0, TC_OK, "mine"};
  CHECK_OK(tc_cache_set_loader(c, tagged_loader, &cache_ld, NULL));

  tc_bytes out = {NULL, 0};
  CHECK_OK(tc_get_or_load(c, K("k"), tagged_loader, &mine, &out));
  CHECK(bytes_are(&out, "mine:k"));
  tc_bytes_free(&out);
  CHECK(out.data == NULL && out.len == 0);
  CHECK(atomic_load(&mine.calls) == 1 && atomic_load(&cache_ld.calls) == 0);
  /* Stored like a load: the next get and get_or_load hit it. */
  CHECK(tu_value_is(c, "k", "mine:k"));
  CHECK_OK(tc_get_or_load(c, K("k"), tagged_loader, &mine, &out));
  CHECK(bytes_are(&out, "mine:k"));
  tc_bytes_free(&out);
  CHECK(atomic_load(&mine.calls) == 1);
  tc_stats s = tu_stats(c);
  CHECK(s.l3_loads == 1);

  /* A present key never calls the loader. */
  CHECK_OK(tu_put(c, "p", "put", 0));
  CHECK_OK(tc_get_or_load(c, K("p"), tagged_loader, &mine, &out));
  CHECK(bytes_are(&out, "put"));
  tc_bytes_free(&out);
  CHECK(atomic_load(&mine.calls) == 1);

  /* Not found and failure: nothing cached; the cache's loader not asked. */
  mine.status = TC_NOT_FOUND;
  out = (tc_bytes){(uint8_t *)"x", 3};
  CHECK_STATUS(tc_get_or_load(c, K("nf"), tagged_loader, &mine, &out), TC_NOT_FOUND);
  CHECK(out.len == 3);
  mine.status = TC_IO_ERROR;
  CHECK_STATUS(tc_get_or_load(c, K("fail"), tagged_loader, &mine, &out), TC_LOADER_FAILED);
  CHECK(!tu_contains(c, "nf") && !tu_contains(c, "fail"));
  CHECK(atomic_load(&cache_ld.calls) == 0);
  /* The cache's loader is still the cache's. */
  CHECK(tu_value_is(c, "fail", "cache:fail"));

  /* Persisted like a put under write-through. */
  mine.status = TC_OK;
  out = (tc_bytes){NULL, 0};
  CHECK_OK(tc_get_or_load(c, K("disk"), tagged_loader, &mine, &out));
  tc_bytes_free(&out);
  tc_cache_close(c);
  c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK(tu_value_is(c, "disk", "mine:disk"));
  tc_cache_close(c);
  /* user_data stayed the caller's: mine is still usable here. */
  CHECK(atomic_load(&mine.calls) == 4);
}

/* Two threads, one load: one thread starts a slow load of the key (through
   tc_get and the cache's loader, or through tc_get_or_load and its own);
   once that loader is running, the other asks for the key the other way.
   Both get the first loader's answer and the second loader never runs.
   (If the second thread arrives only after the load has finished, it finds
   the stored value: the same outcome, so no timing makes the test fail.) */
struct flight {
  tc_cache *cache;
  struct loader_state *own;
  bool use_get_or_load;
  tc_status status;
  char value[64];
};

static void *flight_thread(void *p) {
  struct flight *f = p;
  tc_bytes out = {NULL, 0};
  if (f->use_get_or_load)
    f->status = tc_get_or_load(f->cache, K("shared"), tagged_loader, f->own, &out);
  else
    f->status = tc_get(f->cache, K("shared"), &out);
  if (f->status == TC_OK) snprintf(f->value, sizeof f->value, "%.*s", (int)out.len, (const char *)out.data);
  tc_bytes_free(&out);
  return NULL;
}

static void single_flight(bool first_uses_get_or_load) {
  tc_cache *c = tu_open(NULL, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  struct loader_state cache_ld = {0, 0, 150, TC_OK, "cache"};
  struct loader_state mine = {0, 0, 150, TC_OK, "mine"};
  CHECK_OK(tc_cache_set_loader(c, tagged_loader, &cache_ld, NULL));
  struct flight first = {c, &mine, first_uses_get_or_load, TC_PANIC, ""};
  struct flight second = {c, &mine, !first_uses_get_or_load, TC_PANIC, ""};
  struct loader_state *first_ld = first_uses_get_or_load ? &mine : &cache_ld;
  pthread_t a, b;
  CHECK(pthread_create(&a, NULL, flight_thread, &first) == 0);
  uint64_t deadline = tu_now_ms() + 5000;
  while (!atomic_load(&first_ld->started) && tu_now_ms() < deadline) tu_sleep_ms(1);
  bool started = atomic_load(&first_ld->started);
  int created = pthread_create(&b, NULL, flight_thread, &second);
  if (created != 0) {
    pthread_join(a, NULL);
    tc_cache_close(c);
    CHECK(created == 0);
  }
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  const char *want = first_uses_get_or_load ? "mine:shared" : "cache:shared";
  tc_stats s = tu_stats(c);
  tc_cache_close(c);
  CHECK(started);
  CHECK(first.status == TC_OK && strcmp(first.value, want) == 0);
  CHECK(second.status == TC_OK && strcmp(second.value, want) == 0);
  CHECK(atomic_load(&mine.calls) + atomic_load(&cache_ld.calls) == 1);
  CHECK(s.l3_loads == 1);
}

static void test_single_flight_get_then_get_or_load(void) { single_flight(false); }
static void test_single_flight_get_or_load_then_get(void) { single_flight(true); }

/* ---- after tc_cache_shutdown ---- */

static void test_closed_after_shutdown(void) {
  const char *dir = tu_mkdtemp();
  tc_cache *c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK_OK(tu_put(c, "a", "1", 0));
  CHECK_OK(tu_put(c, "b", "2", 0));
  tc_iter *it = NULL;
  CHECK_OK(tc_iter_new(c, K(""), &it));
  tc_bytes key = {NULL, 0};
  tc_entry_info info;
  CHECK_OK(tc_iter_next(it, &key, &info));
  CHECK(bytes_are(&key, "a"));
  tc_bytes_free(&key);

  CHECK_OK(tc_cache_shutdown(c));
  key = (tc_bytes){(uint8_t *)"x", 42};
  memset(&info, 0xEE, sizeof info);
  CHECK_STATUS(tc_iter_next(it, &key, &info), TC_CLOSED);
  CHECK(key.len == 42 && info.tier == 0xEEEEEEEEu); /* untouched */
  CHECK_STATUS(tc_iter_next(it, &key, &info), TC_CLOSED);
  tc_iter_free(it);

  struct loader_state ld = {0, 0, 0, TC_OK, "L"};
  tc_iter *it2 = NULL;
  uint64_t n = 7, bytes = 7;
  tc_slice keys[1] = {slice("a")};
  tc_slice values[1] = {slice("v")};
  tc_bytes got[1] = {{NULL, 5}};
  tc_status st[1] = {TC_PANIC};
  tc_bytes out = {NULL, 9};
  CHECK_STATUS(tc_get_info(c, K("a"), &info), TC_CLOSED);
  CHECK_STATUS(tc_touch(c, K("a"), 0), TC_CLOSED);
  CHECK_STATUS(tc_iter_new(c, K(""), &it2), TC_CLOSED);
  CHECK(it2 == NULL);
  CHECK_STATUS(tc_count(c, K(""), &n, &bytes), TC_CLOSED);
  CHECK(n == 7 && bytes == 7);
  CHECK_STATUS(tc_get_many(c, keys, 1, got, st), TC_CLOSED);
  CHECK(got[0].len == 5 && st[0] == TC_PANIC);
  CHECK_STATUS(tc_get_many(c, NULL, 0, NULL, NULL), TC_CLOSED);
  CHECK_STATUS(tc_put_many(c, keys, values, 1, 0), TC_CLOSED);
  CHECK_STATUS(tc_get_or_load(c, K("z"), tagged_loader, &ld, &out), TC_CLOSED);
  CHECK(out.len == 9 && atomic_load(&ld.calls) == 0);
  CHECK(strstr(tc_last_error(), "tc_") != NULL);
  tc_cache_close(c);

  /* What was there before the shutdown is there after a reopen. */
  c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  char list[64];
  CHECK(collect(c, "", list, sizeof list) == 2);
  CHECK(strcmp(list, "a,b") == 0);
  tc_cache_close(c);
}

int main(void) {
  RUN(test_null_arguments);
  RUN(test_key_limits);
  RUN(test_get_info);
  RUN(test_touch);
  RUN(test_iterate_with_and_without_prefix);
  RUN(test_binary_keys);
  RUN(test_count);
  RUN(test_iterate_after_puts_and_removes);
  RUN(test_iterate_and_count_skip_expired);
  RUN(test_iterator_freed_early);
  RUN(test_batches_of_zero_touch_nothing);
  RUN(test_put_many_and_get_many);
  RUN(test_get_many_into_packs_values_and_spills_big_ones);
  RUN(test_get_many_asks_the_loader);
  RUN(test_put_many_stops_at_first_failure);
  RUN(test_get_or_load);
  RUN(test_single_flight_get_then_get_or_load);
  RUN(test_single_flight_get_or_load_then_get);
  RUN(test_closed_after_shutdown);
  return tu_summary();
}
