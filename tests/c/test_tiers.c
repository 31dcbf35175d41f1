/*
 * test_tiers.c: how values move between L1 (memory), L2 (the directory) and
 * back, and what survives closing and reopening a directory.
 *
 * Covers: the get path L1 -> L2 -> loader -> TC_NOT_FOUND as seen in
 * tc_stats; promotion of an L2 hit into L1; write-through persistence;
 * write-back (L2 written on eviction, flush and close); TTL in every tier
 * and after reopen, default TTL, tc_purge_expired; persistence of
 * tc_remove, tc_remove_prefix and tc_clear; a compressed and encrypted
 * directory across a reopen, and its key check.
 *
 * Most tests use an L1 of one entry: putting a second key then pushes the
 * first out of memory, so the next get of it must come from disk.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* A loader that knows exactly one key, "from-loader". */
static tc_status one_key_loader(void *ud, const uint8_t *key, size_t key_len, tc_sink *sink) {
  (void)ud;
  if (key_len == 11 && memcmp(key, "from-loader", 11) == 0) return tc_sink_put(sink, (const uint8_t *)"L3", 2, 0);
  return TC_NOT_FOUND;
}

static void test_get_path_counts_each_tier(void) {
  const char *dir = tu_mkdtemp();
  tc_cache *c = tu_open(dir, 1, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK_OK(tc_cache_set_loader(c, one_key_loader, NULL, NULL));
  CHECK_OK(tu_put(c, "a", "A", 0));
  CHECK_OK(tu_put(c, "b", "B", 0)); /* evicts "a" from the 1-entry L1 */
  tc_stats s0 = tu_stats(c);
  CHECK(s0.l1_hits == 0 && s0.l2_hits == 0 && s0.l3_loads == 0 && s0.misses == 0);
  CHECK(s0.l1_entries == 1 && s0.l2_entries == 2 && s0.l2_state == 1);
  CHECK(s0.l1_evictions >= 1);

  CHECK(tu_value_is(c, "b", "B")); /* L1 */
  tc_stats s = tu_stats(c);
  CHECK(s.l1_hits == 1 && s.l2_hits == 0 && s.l3_loads == 0 && s.misses == 0);

  CHECK(tu_value_is(c, "a", "A")); /* L2, promoted */
  s = tu_stats(c);
  CHECK(s.l1_hits == 1 && s.l2_hits == 1 && s.l3_loads == 0 && s.misses == 0);

  CHECK(tu_value_is(c, "a", "A")); /* promoted: now an L1 hit */
  s = tu_stats(c);
  CHECK(s.l1_hits == 2 && s.l2_hits == 1);

  CHECK(tu_value_is(c, "from-loader", "L3")); /* L3 */
  s = tu_stats(c);
  CHECK(s.l1_hits == 2 && s.l2_hits == 1 && s.l3_loads == 1 && s.misses == 0);
  /* The loaded value was stored: L1 now, and L2 under write-through. */
  CHECK(tu_value_is(c, "from-loader", "L3"));
  s = tu_stats(c);
  CHECK(s.l1_hits == 3 && s.l3_loads == 1);
  CHECK(s.l2_entries == 3);

  CHECK_STATUS(tu_get(c, "nowhere", NULL), TC_NOT_FOUND); /* loader says not found */
  s = tu_stats(c);
  CHECK(s.l3_loads == 2 && s.misses == 1);

  /* Without a loader a miss is counted without a load. */
  CHECK_OK(tc_cache_set_loader(c, NULL, NULL, NULL));
  CHECK_STATUS(tu_get(c, "nowhere", NULL), TC_NOT_FOUND);
  s = tu_stats(c);
  CHECK(s.l3_loads == 2 && s.misses == 2);
  tc_cache_close(c);
}

static void test_write_through_survives_reopen(void) {
  const char *dir = tu_mkdtemp();
  tc_cache *c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  char k[32], v[32];
  for (int i = 0; i < 200; i++) {
    snprintf(k, sizeof k, "key-%d", i);
    snprintf(v, sizeof v, "value-%d", i * 7);
    CHECK_OK(tu_put(c, k, v, 0));
  }
  CHECK_OK(tu_put(c, "key-5", "overwritten", 0));
  tc_cache_close(c); /* no explicit flush: close must be enough */

  c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  tc_stats s = tu_stats(c);
  CHECK(s.l1_entries == 0 && s.l2_entries == 200);
  for (int i = 0; i < 200; i++) {
    snprintf(k, sizeof k, "key-%d", i);
    snprintf(v, sizeof v, "value-%d", i * 7);
    CHECK(tu_value_is(c, k, i == 5 ? "overwritten" : v));
  }
  s = tu_stats(c);
  CHECK(s.l2_hits == 200 && s.l1_hits == 0);
  tc_cache_close(c);
}

static void test_write_back_writes_on_eviction(void) {
  const char *dir = tu_mkdtemp();
  tc_cache *c = tu_open(dir, 1, TC_WRITE_BACK);
  CHECK(c != NULL);
  CHECK_OK(tu_put(c, "a", "A", 0));
  /* Dirty in L1 only: nothing on disk yet. */
  CHECK(tu_stats(c).l2_entries == 0);
  CHECK_OK(tu_put(c, "b", "B", 0)); /* evicts "a", which must be written */
  tc_stats s = tu_stats(c);
  CHECK(s.l2_entries == 1);
  CHECK(tu_value_is(c, "a", "A"));
  CHECK(tu_stats(c).l2_hits == 1);
  tc_cache_close(c);
}

static void test_write_back_writes_on_flush(void) {
  const char *dir = tu_mkdtemp();
  tc_cache *c = tu_open(dir, 0, TC_WRITE_BACK);
  CHECK(c != NULL);
  CHECK_OK(tu_put(c, "x", "1", 0));
  CHECK_OK(tu_put(c, "y", "2", 0));
  CHECK(tu_stats(c).l2_entries == 0);
  CHECK_OK(tc_flush(c));
  CHECK(tu_stats(c).l2_entries == 2);
  /* After a flush, dropping memory loses nothing. */
  CHECK_OK(tc_clear(c, true));
  CHECK(tu_value_is(c, "x", "1"));
  CHECK(tu_value_is(c, "y", "2"));
  tc_cache_close(c);
}

static void test_write_back_writes_on_close(void) {
  const char *dir = tu_mkdtemp();
  tc_cache *c = tu_open(dir, 0, TC_WRITE_BACK);
  CHECK(c != NULL);
  CHECK_OK(tu_put(c, "x", "1", 0));
  CHECK_OK(tu_put(c, "x", "2", 0)); /* only the latest may come back */
  CHECK_OK(tu_put(c, "y", "3", 0));
  CHECK(tu_stats(c).l2_entries == 0);
  tc_cache_close(c);

  c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK(tu_stats(c).l2_entries == 2);
  CHECK(tu_value_is(c, "x", "2"));
  CHECK(tu_value_is(c, "y", "3"));
  tc_cache_close(c);
}

/* Under write-back, a dirty entry that replaced an older on-disk value must
   not let the old value come back when the dirty one is removed. */
static void test_write_back_remove_hides_old_disk_value(void) {
  const char *dir = tu_mkdtemp();
  tc_cache *c = tu_open(dir, 0, TC_WRITE_BACK);
  CHECK(c != NULL);
  CHECK_OK(tu_put(c, "k", "old", 0));
  CHECK_OK(tc_flush(c));
  CHECK_OK(tu_put(c, "k", "new", 0));
  CHECK_OK(tc_remove(c, (const uint8_t *)"k", 1));
  CHECK_STATUS(tu_get(c, "k", NULL), TC_NOT_FOUND);
  tc_cache_close(c);
  c = tu_open(dir, 0, TC_WRITE_BACK);
  CHECK(c != NULL);
  CHECK_STATUS(tu_get(c, "k", NULL), TC_NOT_FOUND);
  tc_cache_close(c);
}

/* Under write-back, a dirty entry that expires in L1 must not uncover the
   older value it replaced on disk: not through get, and not through
   contains either. */
static void test_write_back_expired_dirty_hides_old_disk_value(void) {
  const char *dir = tu_mkdtemp();
  tc_cache *c = tu_open(dir, 0, TC_WRITE_BACK);
  CHECK(c != NULL);
  CHECK_OK(tu_put(c, "k", "old", 0));
  CHECK_OK(tc_flush(c)); /* "old" is on disk, with no expiry */
  CHECK_OK(tu_put(c, "k", "new", 50)); /* dirty, in memory only */
  tu_sleep_ms(150);
  bool contains_says = tu_contains(c, "k");
  tc_status got = tu_get(c, "k", NULL);
  tc_cache_close(c);
  CHECK(!contains_says);
  CHECK_STATUS(got, TC_NOT_FOUND);
}

/* The same bug class through tc_remove: the only value a get could see has
   expired, so there is nothing to remove (TC_NOT_FOUND). */
static void test_write_back_expired_dirty_remove_not_found(void) {
  const char *dir = tu_mkdtemp();
  tc_cache *c = tu_open(dir, 0, TC_WRITE_BACK);
  CHECK(c != NULL);
  CHECK_OK(tu_put(c, "k", "old", 0));
  CHECK_OK(tc_flush(c));
  CHECK_OK(tu_put(c, "k", "new", 50));
  tu_sleep_ms(150);
  tc_status removed = tc_remove(c, (const uint8_t *)"k", 1);
  tc_cache_close(c);
  CHECK_STATUS(removed, TC_NOT_FOUND);
}

static void test_ttl_expires_in_l1_and_l2(void) {
  const char *dir = tu_mkdtemp();
  tc_cache *c = tu_open(dir, 1, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  /* TTLs are long enough for the checks before the sleep to run on a busy
     machine, and the sleep well past them. */
  CHECK_OK(tu_put(c, "disk", "d", 300));
  CHECK_OK(tu_put(c, "mem", "m", 300)); /* "disk" is now only in L2 */
  CHECK_OK(tu_put(c, "keep", "k", 0)); /* and "mem" is only in L2 too */
  CHECK_OK(tu_put(c, "mem2", "m2", 300)); /* this one stays in L1 */
  CHECK(tu_value_is(c, "mem2", "m2"));
  CHECK(tu_contains(c, "disk"));
  tu_sleep_ms(450);
  CHECK(!tu_contains(c, "mem2"));
  CHECK_STATUS(tu_get(c, "mem2", NULL), TC_NOT_FOUND);
  CHECK(!tu_contains(c, "disk"));
  CHECK_STATUS(tu_get(c, "disk", NULL), TC_NOT_FOUND);
  CHECK_STATUS(tu_get(c, "mem", NULL), TC_NOT_FOUND);
  CHECK(tu_value_is(c, "keep", "k"));
  tc_cache_close(c);
}

static void test_ttl_expired_after_reopen(void) {
  const char *dir = tu_mkdtemp();
  tc_cache *c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK_OK(tu_put(c, "short", "s", 300));
  CHECK_OK(tu_put(c, "long", "l", 600000));
  tc_cache_close(c);

  /* Still alive right after reopen: the expiry is stored, not restarted. */
  c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK(tu_contains(c, "short"));
  tc_cache_close(c);

  tu_sleep_ms(450);
  c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK(!tu_contains(c, "short"));
  CHECK_STATUS(tu_get(c, "short", NULL), TC_NOT_FOUND);
  CHECK(tu_value_is(c, "long", "l"));
  tc_cache_close(c);
}

static void test_purge_expired_counts(void) {
  const char *dir = tu_mkdtemp();
  tc_cache *c = tu_open(dir, 2, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  /* Four short-lived keys: two end up only in L2, two in both tiers. */
  CHECK_OK(tu_put(c, "e1", "v", 50));
  CHECK_OK(tu_put(c, "e2", "v", 50));
  CHECK_OK(tu_put(c, "e3", "v", 50));
  CHECK_OK(tu_put(c, "e4", "v", 50));
  CHECK_OK(tu_put(c, "stay", "v", 0));
  tu_sleep_ms(150);
  uint64_t removed = 0;
  CHECK_OK(tc_purge_expired(c, &removed));
  CHECK(removed == 4); /* each key once, whichever tiers held it */
  CHECK_OK(tc_purge_expired(c, &removed));
  CHECK(removed == 0);
  tc_stats s = tu_stats(c);
  CHECK(s.l2_entries == 1);
  CHECK(tu_value_is(c, "stay", "v"));
  tc_cache_close(c);

  c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK(tu_stats(c).l2_entries == 1);
  CHECK_OK(tc_purge_expired(c, &removed));
  CHECK(removed == 0);
  tc_cache_close(c);
}

static void test_default_ttl(void) {
  const char *dir = tu_mkdtemp();
  tc_options *o = tc_options_new();
  CHECK(o != NULL);
  CHECK_OK(tc_options_set_dir(o, dir));
  CHECK_OK(tc_options_set_default_ttl(o, 300));
  tc_cache *c = NULL;
  CHECK_OK(tc_cache_open(o, &c));
  tc_options_free(o);
  CHECK_OK(tu_put(c, "default", "v", 0));
  CHECK_OK(tu_put(c, "explicit", "v", 600000));
  CHECK(tu_value_is(c, "default", "v"));
  tu_sleep_ms(450);
  CHECK_STATUS(tu_get(c, "default", NULL), TC_NOT_FOUND);
  CHECK(tu_value_is(c, "explicit", "v"));
  tc_cache_close(c);
}

static void test_remove_persists(void) {
  const char *dir = tu_mkdtemp();
  tc_cache *c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK_OK(tu_put(c, "gone", "x", 0));
  CHECK_OK(tu_put(c, "kept", "y", 0));
  CHECK_OK(tc_remove(c, (const uint8_t *)"gone", 4));
  CHECK_STATUS(tc_remove(c, (const uint8_t *)"gone", 4), TC_NOT_FOUND);
  CHECK_STATUS(tc_remove(c, (const uint8_t *)"never", 5), TC_NOT_FOUND);
  tc_cache_close(c);
  c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK_STATUS(tu_get(c, "gone", NULL), TC_NOT_FOUND);
  CHECK(!tu_contains(c, "gone"));
  CHECK(tu_value_is(c, "kept", "y"));
  tc_cache_close(c);
}

static void test_remove_prefix_persists(void) {
  const char *dir = tu_mkdtemp();
  tc_cache *c = tu_open(dir, 2, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  char k[32];
  for (int i = 0; i < 10; i++) { /* most of them only on disk (L1 holds 2) */
    snprintf(k, sizeof k, "user:%d", i);
    CHECK_OK(tu_put(c, k, "u", 0));
  }
  CHECK_OK(tu_put(c, "group:1", "g", 0));
  CHECK_OK(tu_put(c, "use", "not under the prefix", 0));
  uint64_t removed = 0;
  CHECK_OK(tc_remove_prefix(c, (const uint8_t *)"user:", 5, &removed));
  CHECK(removed == 10);
  CHECK_STATUS(tu_get(c, "user:3", NULL), TC_NOT_FOUND);
  tc_cache_close(c);

  c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  for (int i = 0; i < 10; i++) {
    snprintf(k, sizeof k, "user:%d", i);
    CHECK_STATUS(tu_get(c, k, NULL), TC_NOT_FOUND);
  }
  CHECK(tu_value_is(c, "group:1", "g"));
  CHECK(tu_value_is(c, "use", "not under the prefix"));
  CHECK_OK(tc_remove_prefix(c, (const uint8_t *)"user:", 5, &removed));
  CHECK(removed == 0);
  /* An empty prefix matches every key. */
  CHECK_OK(tc_remove_prefix(c, (const uint8_t *)"", 0, &removed));
  CHECK(removed == 2);
  tc_cache_close(c);
  c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK(tu_stats(c).l2_entries == 0);
  CHECK_STATUS(tu_get(c, "group:1", NULL), TC_NOT_FOUND);
  tc_cache_close(c);
}

static void test_clear_all_persists(void) {
  const char *dir = tu_mkdtemp();
  tc_cache *c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK_OK(tu_put(c, "a", "1", 0));
  CHECK_OK(tu_put(c, "b", "2", 0));
  CHECK_OK(tc_clear(c, false));
  tc_stats s = tu_stats(c);
  CHECK(s.l1_entries == 0 && s.l2_entries == 0);
  CHECK_STATUS(tu_get(c, "a", NULL), TC_NOT_FOUND);
  CHECK_OK(tu_put(c, "after", "3", 0)); /* the cache still works after a clear */
  tc_cache_close(c);
  c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK_STATUS(tu_get(c, "a", NULL), TC_NOT_FOUND);
  CHECK_STATUS(tu_get(c, "b", NULL), TC_NOT_FOUND);
  CHECK(tu_value_is(c, "after", "3"));
  tc_cache_close(c);
}

static void test_clear_memory_only_keeps_disk(void) {
  const char *dir = tu_mkdtemp();
  tc_cache *c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK_OK(tu_put(c, "a", "1", 0));
  CHECK_OK(tc_clear(c, true));
  tc_stats s = tu_stats(c);
  CHECK(s.l1_entries == 0 && s.l2_entries == 1);
  CHECK(tu_value_is(c, "a", "1"));
  CHECK(tu_stats(c).l2_hits == 1); /* it came from disk */
  tc_cache_close(c);
}

/* Under write-back, tc_clear(memory_only) writes dirty entries first. */
static void test_clear_memory_only_write_back(void) {
  const char *dir = tu_mkdtemp();
  tc_cache *c = tu_open(dir, 0, TC_WRITE_BACK);
  CHECK(c != NULL);
  CHECK_OK(tu_put(c, "a", "1", 0));
  CHECK_OK(tc_clear(c, true));
  CHECK(tu_value_is(c, "a", "1"));
  tc_cache_close(c);
}

/* A memory-only cache: no L2, nothing survives, and the state says so. */
static void test_memory_only(void) {
  tc_cache *c = tu_open(NULL, 1, TC_WRITE_BACK);
  CHECK(c != NULL);
  CHECK_OK(tu_put(c, "a", "1", 0));
  CHECK_OK(tu_put(c, "b", "2", 0)); /* evicts "a" for good */
  CHECK_STATUS(tu_get(c, "a", NULL), TC_NOT_FOUND);
  CHECK(tu_value_is(c, "b", "2"));
  tc_stats s = tu_stats(c);
  CHECK(s.l2_state == 0 && s.l2_entries == 0);
  CHECK_OK(tc_flush(c));
  tc_cache_close(c);
}

/* Opens dir with compression `c` and, if key is not NULL, that 32-byte key. */
static tc_status open_at_rest(const char *dir, tc_compression c, const uint8_t *key, tc_cache **out) {
  tc_options *o = tc_options_new();
  tc_status s = tc_options_set_dir(o, dir);
  if (s == TC_OK) s = tc_options_set_compression(o, c, 16);
  if (s == TC_OK && key != NULL) s = tc_options_set_encryption_key(o, key, 32);
  if (s == TC_OK) s = tc_cache_open(o, out);
  tc_options_free(o);
  return s;
}

static void test_compressed_and_encrypted_directory(void) {
  const char *dir = tu_mkdtemp();
  uint8_t key[32], other[32];
  for (int i = 0; i < 32; i++) key[i] = (uint8_t)(i * 3), other[i] = (uint8_t)(i * 5);
  char v[600];
  memset(v, 0, sizeof v);
  for (int i = 0; i < 20; i++) strcat(v, "some text; ");
  tc_cache *c = NULL;
  CHECK_OK(open_at_rest(dir, TC_COMPRESSION_ZSTD, key, &c));
  CHECK_OK(tu_put(c, "doc", v, 0));
  uint64_t saved = 0;
  CHECK_OK(tc_stats_get_counter(c, "compressed_bytes_saved", &saved));
  CHECK(saved > 0);
  tc_cache_close(c);
  /* Any compression setting reads it back; the key must be the same. */
  CHECK_OK(open_at_rest(dir, TC_COMPRESSION_NONE, key, &c));
  CHECK(tu_value_is(c, "doc", v));
  tc_cache_close(c);
  CHECK_STATUS(open_at_rest(dir, TC_COMPRESSION_NONE, other, &c), TC_INVALID_ARGUMENT);
  CHECK(strstr(tc_last_error(), "wrong encryption key") != NULL);
  CHECK_STATUS(open_at_rest(dir, TC_COMPRESSION_LZ4, NULL, &c), TC_INVALID_ARGUMENT);
  CHECK(strstr(tc_last_error(), "is encrypted") != NULL);
  tc_options *o = tc_options_new();
  CHECK_STATUS(tc_options_set_compression(o, (tc_compression)7, 0), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_options_set_encryption_key(o, key, 16), TC_INVALID_ARGUMENT);
  tc_options_free(o);
}

int main(void) {
  RUN(test_compressed_and_encrypted_directory);
  RUN(test_get_path_counts_each_tier);
  RUN(test_write_through_survives_reopen);
  RUN(test_write_back_writes_on_eviction);
  RUN(test_write_back_writes_on_flush);
  RUN(test_write_back_writes_on_close);
  RUN(test_write_back_remove_hides_old_disk_value);
  RUN(test_write_back_expired_dirty_hides_old_disk_value);
  RUN(test_write_back_expired_dirty_remove_not_found);
  RUN(test_ttl_expires_in_l1_and_l2);
  RUN(test_ttl_expired_after_reopen);
  RUN(test_purge_expired_counts);
  RUN(test_default_ttl);
  RUN(test_remove_persists);
  RUN(test_remove_prefix_persists);
  RUN(test_clear_all_persists);
  RUN(test_clear_memory_only_keeps_disk);
  RUN(test_clear_memory_only_write_back);
  RUN(test_memory_only);
  return tu_summary();
}
