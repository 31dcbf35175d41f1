/*
 * test_tags.c: per-entry options of the December contract, as a C program
 * calls them: tc_entry_options_new / _free / _set_ttl / _add_tag /
 * _set_dependency, tc_put_with, tc_sink_put_with and tc_remove_tag.
 *
 * Covers: NULL arguments (TC_INVALID_ARGUMENT) for every function and NULL
 * to the free function; tag limits (empty: TC_INVALID_ARGUMENT; 256 bytes
 * or a 33rd tag: TC_TOO_LARGE; 255 bytes and 32 tags fine; a tag given
 * twice counts once); tag_count through tc_get_info; tags surviving a close
 * and reopen, and tc_remove_tag working on them from disk; remove_tag
 * counting only live values and staying removed after a reopen; the TTL of
 * the options; a dependency on a missing file refused with its path in
 * tc_last_error; a dependency on a temp file: rewritten with another
 * length, a get without a loader is TC_NOT_FOUND and dependency_misses
 * grows, with a loader the loader is called; a loader answering through
 * tc_sink_put_with with tags, whose entry tc_remove_tag then removes; one
 * options object reused for many puts; TC_CLOSED after shutdown.
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define K(s) (const uint8_t *)(s), strlen(s)

static tc_status info_of(tc_cache *c, const char *key, tc_entry_info *out) {
  return tc_get_info(c, K(key), out);
}

static uint64_t counter(tc_cache *c, const char *name) {
  uint64_t v = UINT64_MAX;
  if (tc_stats_get_counter(c, name, &v) != TC_OK) return UINT64_MAX;
  return v;
}

static bool write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  if (!f) return false;
  size_t n = strlen(text);
  bool ok = fwrite(text, 1, n, f) == n;
  return fclose(f) == 0 && ok;
}

/* Options with the given NUL-terminated tags (a NULL-terminated list). */
static tc_entry_options *opts_with_tags(const char *const *tags) {
  tc_entry_options *o = tc_entry_options_new();
  if (!o) return NULL;
  for (; *tags; tags++) {
    if (tc_entry_options_add_tag(o, K(*tags)) != TC_OK) {
      tc_entry_options_free(o);
      return NULL;
    }
  }
  return o;
}

static tc_status put_tagged(tc_cache *c, const char *key, const char *value,
                            const char *const *tags) {
  tc_entry_options *o = opts_with_tags(tags);
  if (!o) return TC_PANIC;
  tc_status s = tc_put_with(c, K(key), K(value), o);
  tc_entry_options_free(o);
  return s;
}

/* ---- NULL arguments ---- */

static void test_null_arguments(void) {
  tc_cache *c = tu_open(NULL, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  tc_entry_options *o = tc_entry_options_new();
  CHECK(o != NULL);
  uint64_t removed = 42;

  tc_entry_options_free(NULL);
  CHECK_STATUS(tc_entry_options_set_ttl(NULL, 5), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_entry_options_add_tag(NULL, K("t")), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_entry_options_add_tag(o, NULL, 1), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_entry_options_set_dependency(NULL, "/"), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_entry_options_set_dependency(o, NULL), TC_INVALID_ARGUMENT);

  CHECK_STATUS(tc_put_with(NULL, K("k"), K("v"), o), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_put_with(c, NULL, 1, K("v"), o), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_put_with(c, (const uint8_t *)"k", 0, K("v"), o), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_put_with(c, K("k"), NULL, 1, o), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_put_with(c, K("k"), K("v"), NULL), TC_INVALID_ARGUMENT);
  bool present = true;
  CHECK_OK(tc_contains(c, K("k"), &present));
  CHECK(!present);

  CHECK_STATUS(tc_remove_tag(NULL, K("t"), &removed), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_remove_tag(c, NULL, 1, &removed), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_remove_tag(c, K("t"), NULL), TC_INVALID_ARGUMENT);
  CHECK(removed == 42); /* outputs written only on success */

  CHECK_STATUS(tc_sink_put_with(NULL, K("v"), o), TC_INVALID_ARGUMENT);

  tc_entry_options_free(o);
  tc_cache_close(c);
}

/* ---- tag limits ---- */

static void test_tag_limits(void) {
  tc_entry_options *o = tc_entry_options_new();
  CHECK(o != NULL);
  uint8_t long_tag[256];
  memset(long_tag, 'x', sizeof long_tag);

  CHECK_STATUS(tc_entry_options_add_tag(o, (const uint8_t *)"t", 0), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_entry_options_add_tag(o, long_tag, 256), TC_TOO_LARGE);
  CHECK_OK(tc_entry_options_add_tag(o, long_tag, 255));
  /* 31 more distinct tags make 32; a repeat counts once; the 33rd is refused. */
  for (int i = 0; i < 31; i++) {
    char t[16];
    int n = snprintf(t, sizeof t, "tag-%d", i);
    CHECK_OK(tc_entry_options_add_tag(o, (const uint8_t *)t, (size_t)n));
  }
  CHECK_OK(tc_entry_options_add_tag(o, K("tag-0")));
  CHECK_STATUS(tc_entry_options_add_tag(o, K("tag-33")), TC_TOO_LARGE);

  tc_cache *c = tu_open(NULL, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK_OK(tc_put_with(c, K("k"), K("v"), o));
  tc_entry_info info;
  CHECK_OK(info_of(c, "k", &info));
  CHECK(info.tag_count == 32);

  uint64_t removed = 42;
  CHECK_STATUS(tc_remove_tag(c, (const uint8_t *)"t", 0, &removed), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_remove_tag(c, long_tag, 256, &removed), TC_TOO_LARGE);
  CHECK(removed == 42);
  CHECK_OK(tc_remove_tag(c, long_tag, 255, &removed));
  CHECK(removed == 1);
  CHECK(!tu_contains(c, "k"));

  tc_entry_options_free(o);
  tc_cache_close(c);
}

/* ---- put_with: tags, TTL, reuse ---- */

static void test_put_with_and_tag_count(void) {
  tc_cache *c = tu_open(NULL, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  tc_entry_options *o = tc_entry_options_new();
  CHECK(o != NULL);

  /* No tags: like tc_put. */
  CHECK_OK(tc_put_with(c, K("plain"), K("p"), o));
  tc_entry_info info;
  CHECK_OK(info_of(c, "plain", &info));
  CHECK(info.tag_count == 0);
  CHECK(info.expires_at_ms == 0);

  /* TTL from the options. */
  CHECK_OK(tc_entry_options_set_ttl(o, 3600 * 1000));
  CHECK_OK(tc_entry_options_add_tag(o, K("a")));
  CHECK_OK(tc_entry_options_add_tag(o, K("b")));
  /* One options object, many puts: each copies it. */
  CHECK_OK(tc_put_with(c, K("x"), K("1"), o));
  CHECK_OK(tc_put_with(c, K("y"), K("2"), o));
  CHECK_OK(info_of(c, "x", &info));
  CHECK(info.tag_count == 2);
  CHECK(info.expires_at_ms != 0);
  CHECK(info.value_len == 1);
  CHECK(tu_value_is(c, "y", "2"));

  /* An empty value is fine (any non-NULL pointer). */
  CHECK_OK(tc_put_with(c, K("empty"), (const uint8_t *)"", 0, o));
  CHECK_OK(info_of(c, "empty", &info));
  CHECK(info.value_len == 0 && info.tag_count == 2);

  /* A plain put over a tagged entry drops its tags. */
  CHECK_OK(tu_put(c, "y", "3", 0));
  CHECK_OK(info_of(c, "y", &info));
  CHECK(info.tag_count == 0);

  tc_entry_options_free(o);
  tc_cache_close(c);
}

/* ---- remove_tag counts ---- */

static void test_remove_tag_counts(void) {
  const char *dir = tu_mkdtemp();
  CHECK(dir != NULL);
  tc_cache *c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);

  CHECK_OK(put_tagged(c, "u1", "a", (const char *const[]){"user:1", "users", NULL}));
  CHECK_OK(put_tagged(c, "u2", "b", (const char *const[]){"user:2", "users", NULL}));
  CHECK_OK(put_tagged(c, "u3", "c", (const char *const[]){"users", NULL}));
  CHECK_OK(tu_put(c, "other", "d", 0));
  CHECK_OK(tc_remove(c, K("u3"))); /* removed: not counted again */

  uint64_t removed = 42;
  CHECK_OK(tc_remove_tag(c, K("nobody"), &removed));
  CHECK(removed == 0);
  CHECK_OK(tc_remove_tag(c, K("user:1"), &removed));
  CHECK(removed == 1);
  CHECK(!tu_contains(c, "u1"));
  CHECK(tu_value_is(c, "u2", "b"));
  CHECK_OK(tc_remove_tag(c, K("users"), &removed));
  CHECK(removed == 1);
  CHECK(!tu_contains(c, "u2"));
  CHECK(tu_value_is(c, "other", "d"));
  CHECK_OK(tc_remove_tag(c, K("users"), &removed));
  CHECK(removed == 0);

  /* A put after the removal survives it, with the tag again. */
  CHECK_OK(put_tagged(c, "u1", "again", (const char *const[]){"users", NULL}));
  tc_cache_close(c);

  /* Persistently: the removed stay removed after a reopen. */
  c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK(tu_value_is(c, "u1", "again"));
  CHECK(!tu_contains(c, "u2"));
  CHECK(!tu_contains(c, "u3"));
  CHECK(tu_value_is(c, "other", "d"));
  tc_cache_close(c);
}

/* ---- tags survive close and reopen ---- */

static void test_tags_survive_reopen(void) {
  const char *dir = tu_mkdtemp();
  CHECK(dir != NULL);
  tc_cache *c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK_OK(put_tagged(c, "a", "1", (const char *const[]){"red", "green", "blue", NULL}));
  CHECK_OK(put_tagged(c, "b", "2", (const char *const[]){"red", NULL}));
  CHECK_OK(tu_put(c, "c", "3", 0));
  tc_cache_close(c);

  c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  tc_entry_info info;
  CHECK_OK(info_of(c, "a", &info));
  CHECK(info.tag_count == 3);
  CHECK(info.tier == 2); /* from disk: the record carries them */
  CHECK_OK(info_of(c, "b", &info));
  CHECK(info.tag_count == 1);
  CHECK_OK(info_of(c, "c", &info));
  CHECK(info.tag_count == 0);

  /* The tag index was rebuilt at open: remove_tag finds disk entries. */
  uint64_t removed = 0;
  CHECK_OK(tc_remove_tag(c, K("red"), &removed));
  CHECK(removed == 2);
  CHECK(!tu_contains(c, "a"));
  CHECK(!tu_contains(c, "b"));
  CHECK(tu_value_is(c, "c", "3"));
  tc_cache_close(c);

  c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK(!tu_contains(c, "a"));
  CHECK(!tu_contains(c, "b"));
  CHECK(tu_value_is(c, "c", "3"));
  tc_cache_close(c);
}

/* ---- file dependencies ---- */

struct counting_loader {
  atomic_int calls;
};

static tc_status counting_loader_fn(void *ud, const uint8_t *key, size_t key_len, tc_sink *sink) {
  struct counting_loader *l = ud;
  atomic_fetch_add(&l->calls, 1);
  char v[64];
  int n = snprintf(v, sizeof v, "loaded:%.*s", (int)key_len, (const char *)key);
  return tc_sink_put(sink, (const uint8_t *)v, (size_t)n, 0);
}

static void test_missing_dependency_refused(void) {
  const char *dir = tu_mkdtemp();
  CHECK(dir != NULL);
  char path[512];
  snprintf(path, sizeof path, "%s/no-such-file", dir);
  tc_entry_options *o = tc_entry_options_new();
  CHECK(o != NULL);
  CHECK_STATUS(tc_entry_options_set_dependency(o, path), TC_INVALID_ARGUMENT);
  CHECK(strstr(tc_last_error(), path) != NULL);
  tc_entry_options_free(o);
}

static void test_dependency_on_a_file(void) {
  const char *dir = tu_mkdtemp();
  CHECK(dir != NULL);
  char dep[512], cdir[512];
  snprintf(dep, sizeof dep, "%s/config.txt", dir);
  snprintf(cdir, sizeof cdir, "%s/cache", dir);
  CHECK(write_file(dep, "version 1"));

  tc_cache *c = tu_open(cdir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  tc_entry_options *o = tc_entry_options_new();
  CHECK(o != NULL);
  CHECK_OK(tc_entry_options_set_dependency(o, dep));
  CHECK_OK(tc_put_with(c, K("cfg"), K("parsed v1"), o));
  CHECK_OK(tc_put_with(c, K("cfg2"), K("parsed v1 again"), o));
  CHECK(tu_value_is(c, "cfg", "parsed v1"));
  uint64_t misses0 = counter(c, "dependency_misses");
  CHECK(misses0 != UINT64_MAX);

  /* Another length: size changes whatever the mtime granularity. */
  CHECK(write_file(dep, "version 2, longer"));
  CHECK_STATUS(tu_get(c, "cfg", NULL), TC_NOT_FOUND);
  CHECK(counter(c, "dependency_misses") >= misses0 + 1);

  /* With a loader, the stale entry goes to it. */
  struct counting_loader ld = {0};
  CHECK_OK(tc_cache_set_loader(c, counting_loader_fn, &ld, NULL));
  CHECK(tu_value_is(c, "cfg2", "loaded:cfg2"));
  CHECK(atomic_load(&ld.calls) == 1);
  /* The loaded value has no dependency: a hit now. */
  CHECK(tu_value_is(c, "cfg2", "loaded:cfg2"));
  CHECK(atomic_load(&ld.calls) == 1);

  /* A missing file also makes it a miss. */
  CHECK(write_file(dep, "v3"));
  CHECK_OK(tc_entry_options_set_dependency(o, dep));
  CHECK_OK(tc_put_with(c, K("cfg3"), K("parsed v3"), o));
  CHECK(tu_value_is(c, "cfg3", "parsed v3"));
  CHECK(remove(dep) == 0);
  CHECK(tu_value_is(c, "cfg3", "loaded:cfg3"));
  CHECK(atomic_load(&ld.calls) == 2);

  CHECK_OK(tc_cache_set_loader(c, NULL, NULL, NULL));
  tc_entry_options_free(o);
  tc_cache_close(c);
}

static void test_dependency_survives_reopen(void) {
  const char *dir = tu_mkdtemp();
  CHECK(dir != NULL);
  char dep[512], cdir[512];
  snprintf(dep, sizeof dep, "%s/dep", dir);
  snprintf(cdir, sizeof cdir, "%s/cache", dir);
  CHECK(write_file(dep, "one"));

  tc_cache *c = tu_open(cdir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  tc_entry_options *o = tc_entry_options_new();
  CHECK(o != NULL);
  CHECK_OK(tc_entry_options_set_dependency(o, dep));
  CHECK_OK(tc_put_with(c, K("k"), K("v"), o));
  tc_entry_options_free(o);
  tc_cache_close(c);

  c = tu_open(cdir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK(tu_value_is(c, "k", "v")); /* unchanged file: still valid */
  CHECK(write_file(dep, "three"));
  CHECK_STATUS(tu_get(c, "k", NULL), TC_NOT_FOUND);
  CHECK(counter(c, "dependency_misses") >= 1);
  tc_cache_close(c);
}

/* ---- a loader answering with options ---- */

struct tagging_loader {
  atomic_int calls;
  tc_status put_status;
};

static tc_status tagging_loader_fn(void *ud, const uint8_t *key, size_t key_len, tc_sink *sink) {
  struct tagging_loader *l = ud;
  atomic_fetch_add(&l->calls, 1);
  tc_entry_options *o = tc_entry_options_new();
  if (!o) return TC_PANIC;
  tc_status s = tc_entry_options_add_tag(o, K("loaded"));
  if (s == TC_OK) s = tc_entry_options_add_tag(o, key, key_len);
  if (s == TC_OK) s = tc_entry_options_set_ttl(o, 3600 * 1000);
  if (s == TC_OK) s = tc_sink_put_with(sink, K("from loader"), o);
  /* A second answer is refused. */
  if (s == TC_OK) l->put_status = tc_sink_put_with(sink, K("again"), o);
  tc_entry_options_free(o);
  return s;
}

static tc_status null_options_loader_fn(void *ud, const uint8_t *key, size_t key_len,
                                        tc_sink *sink) {
  (void)key;
  (void)key_len;
  tc_status *got = ud;
  *got = tc_sink_put_with(sink, K("x"), NULL);
  return *got == TC_OK ? TC_OK : TC_NOT_FOUND;
}

static void test_loader_answers_with_tags(void) {
  const char *dir = tu_mkdtemp();
  CHECK(dir != NULL);
  tc_cache *c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  struct tagging_loader ld = {0, TC_PANIC};
  CHECK_OK(tc_cache_set_loader(c, tagging_loader_fn, &ld, NULL));

  CHECK(tu_value_is(c, "one", "from loader"));
  CHECK(atomic_load(&ld.calls) == 1);
  CHECK(ld.put_status == TC_INVALID_ARGUMENT);
  tc_entry_info info;
  CHECK_OK(info_of(c, "one", &info));
  CHECK(info.tag_count == 2);
  CHECK(info.expires_at_ms != 0);

  /* Through tc_get_or_load as well. */
  struct tagging_loader mine = {0, TC_PANIC};
  tc_bytes out = {0};
  CHECK_OK(tc_get_or_load(c, K("two"), tagging_loader_fn, &mine, &out));
  tc_bytes_free(&out);
  CHECK(atomic_load(&mine.calls) == 1);
  CHECK_OK(info_of(c, "two", &info));
  CHECK(info.tag_count == 2);

  uint64_t removed = 0;
  CHECK_OK(tc_remove_tag(c, K("one"), &removed));
  CHECK(removed == 1);
  CHECK_STATUS(info_of(c, "one", &info), TC_NOT_FOUND);
  CHECK_OK(info_of(c, "two", &info));
  CHECK_OK(tc_remove_tag(c, K("loaded"), &removed));
  CHECK(removed == 1);
  CHECK_STATUS(info_of(c, "two", &info), TC_NOT_FOUND);

  /* Gone, so the next get loads again. */
  CHECK(tu_value_is(c, "one", "from loader"));
  CHECK(atomic_load(&ld.calls) == 2);

  /* NULL options to the sink: TC_INVALID_ARGUMENT. */
  tc_status got = TC_PANIC;
  CHECK_STATUS(tc_get_or_load(c, K("three"), null_options_loader_fn, &got, &out),
               TC_NOT_FOUND);
  CHECK(got == TC_INVALID_ARGUMENT);

  CHECK_OK(tc_cache_set_loader(c, NULL, NULL, NULL));
  tc_cache_close(c);
}

/* ---- after shutdown ---- */

static void test_closed_after_shutdown(void) {
  tc_cache *c = tu_open(NULL, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  tc_entry_options *o = tc_entry_options_new();
  CHECK(o != NULL);
  CHECK_OK(tc_cache_shutdown(c));
  uint64_t removed = 42;
  CHECK_STATUS(tc_put_with(c, K("k"), K("v"), o), TC_CLOSED);
  CHECK_STATUS(tc_remove_tag(c, K("t"), &removed), TC_CLOSED);
  CHECK(removed == 42);
  tc_entry_options_free(o);
  tc_cache_close(c);
}

int main(void) {
  RUN(test_null_arguments);
  RUN(test_tag_limits);
  RUN(test_put_with_and_tag_count);
  RUN(test_remove_tag_counts);
  RUN(test_tags_survive_reopen);
  RUN(test_missing_dependency_refused);
  RUN(test_dependency_on_a_file);
  RUN(test_dependency_survives_reopen);
  RUN(test_loader_answers_with_tags);
  RUN(test_closed_after_shutdown);
  return tu_summary();
}
