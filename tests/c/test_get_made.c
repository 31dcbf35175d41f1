/*
 * test_get_made.c: tc_get_made, a get whose answer the caller's own
 * constructors make, with the caller's lock let go around anything that may
 * wait (src/ffi/made.rs).
 *
 * Covers: an L1 hit (short, and longer than the library copies under a
 * shard's lock) is made at once, without release; an L1 miss read from L2,
 * a miss, and a failure are got between release and reacquire, each
 * constructor called once after reacquire; a loader runs while the lock is
 * let go; an empty value is a value of length 0; a failure's status comes
 * with tc_last_error(); NULL made, cache and constructors; no release or
 * reacquire at all (both NULL); a closed handle; a reacquire that ends the
 * thread (pthread_exit, as CPython does to a daemon thread at shutdown).
 */
#define _GNU_SOURCE /* pthread_timedjoin_np */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

/* What the callbacks saw (one call at a time; the thread of the last one). */
static struct {
  int values, statuses, releases, reacquires;
  bool held;         /* the "caller's lock": held between calls */
  bool made_held;    /* every constructor ran with it held */
  long status;       /* the last status made */
  size_t len;        /* the last value's length */
  uint8_t data[256]; /* its first bytes */
  int loader_saw_released;
} seen;

static void reset(void) {
  memset(&seen, 0, sizeof seen);
  seen.held = true;
  seen.made_held = true;
}

/* The "object" a constructor makes: the address of `seen`, plus 1 for a
   value and 2 for a status, so the test can tell which was returned. */
static void *make_value(const uint8_t *data, size_t len) {
  seen.values++;
  seen.made_held &= seen.held;
  seen.len = len;
  memcpy(seen.data, data, len < sizeof seen.data ? len : sizeof seen.data);
  return (char *)&seen + 1;
}

static void *make_status(long status) {
  seen.statuses++;
  seen.made_held &= seen.held;
  seen.status = status;
  return (char *)&seen + 2;
}

static void *release(void) {
  seen.releases++;
  seen.held = false;
  return &seen;
}

static void reacquire(void *token) {
  if (token == &seen) seen.reacquires++;
  seen.held = true;
}

static tc_status loader(void *user, const uint8_t *key, size_t key_len, tc_sink *sink) {
  (void)user;
  if (!seen.held) seen.loader_saw_released++;
  if (key_len == 6 && memcmp(key, "loaded", 6) == 0) return tc_sink_put(sink, (const uint8_t *)"from the loader", 15, 0);
  return TC_NOT_FOUND;
}

static void *get(const tc_made *m, const char *key) { return tc_get_made(m, (const uint8_t *)key, strlen(key)); }

static void test_hits_are_made_at_once(void) {
  tc_cache *c = tu_open(NULL, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  tc_made m = {c, make_value, make_status, release, reacquire};
  CHECK_OK(tu_put(c, "k", "hello", 0));
  reset();
  CHECK(get(&m, "k") == (char *)&seen + 1);
  CHECK(seen.values == 1 && seen.statuses == 0 && seen.len == 5 && memcmp(seen.data, "hello", 5) == 0);
  CHECK(seen.releases == 0 && seen.reacquires == 0 && seen.made_held);

  /* Longer than the library copies under the shard's lock (1 KiB). */
  size_t n = 100000;
  uint8_t *v = malloc(n);
  CHECK(v != NULL);
  for (size_t i = 0; i < n; i++) v[i] = (uint8_t)(i * 7);
  tc_status st = tc_put(c, (const uint8_t *)"big", 3, v, n, 0);
  free(v);
  CHECK_OK(st);
  reset();
  CHECK(get(&m, "big") == (char *)&seen + 1);
  CHECK(seen.values == 1 && seen.len == n && seen.data[1] == 7 && seen.data[255] == (uint8_t)(255 * 7));
  CHECK(seen.releases == 0);

  /* An empty value is a value, of length 0. */
  CHECK_OK(tc_put(c, (const uint8_t *)"e", 1, (const uint8_t *)"", 0, 0));
  reset();
  CHECK(get(&m, "e") == (char *)&seen + 1);
  CHECK(seen.values == 1 && seen.len == 0 && seen.statuses == 0);
  tc_cache_close(c);
}

static void test_anything_else_is_got_with_the_lock_let_go(void) {
  const char *dir = tu_mkdtemp();
  CHECK(dir != NULL);
  tc_cache *c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  tc_made m = {c, make_value, make_status, release, reacquire};
  CHECK_OK(tu_put(c, "k", "on disk", 0));
  CHECK_OK(tc_clear(c, true));

  /* An L1 miss read from L2 (and promoted: the next get is a hit). */
  reset();
  CHECK(get(&m, "k") == (char *)&seen + 1);
  CHECK(seen.values == 1 && seen.len == 7 && memcmp(seen.data, "on disk", 7) == 0);
  CHECK(seen.releases == 1 && seen.reacquires == 1 && seen.made_held);
  reset();
  CHECK(get(&m, "k") == (char *)&seen + 1);
  CHECK(seen.releases == 0);

  /* A miss. */
  reset();
  CHECK(get(&m, "absent") == (char *)&seen + 2);
  CHECK(seen.statuses == 1 && seen.values == 0 && seen.status == TC_NOT_FOUND);
  CHECK(seen.releases == 1 && seen.reacquires == 1 && seen.made_held);

  /* A failure: its status, and tc_last_error() naming the call. */
  reset();
  uint8_t *long_key = calloc(65537, 1);
  CHECK(long_key != NULL);
  void *r = tc_get_made(&m, long_key, 65537);
  free(long_key);
  CHECK(r == (char *)&seen + 2 && seen.status == TC_TOO_LARGE);
  CHECK(strstr(tc_last_error(), "tc_get_made") != NULL);
  reset();
  CHECK(tc_get_made(&m, (const uint8_t *)"k", 0) == (char *)&seen + 2 && seen.status == TC_INVALID_ARGUMENT);
  CHECK(seen.releases == 1 && seen.reacquires == 1);

  /* The loader runs while the lock is let go. */
  CHECK_OK(tc_cache_set_loader(c, loader, NULL, NULL));
  reset();
  CHECK(get(&m, "loaded") == (char *)&seen + 1);
  CHECK(seen.len == 15 && memcmp(seen.data, "from the loader", 15) == 0);
  CHECK(seen.loader_saw_released == 1 && seen.made_held);
  tc_cache_close(c);
}

static void test_null_arguments_and_a_closed_handle(void) {
  tc_cache *c = tu_open(NULL, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK_OK(tu_put(c, "k", "v", 0));
  reset();
  CHECK(tc_get_made(NULL, (const uint8_t *)"k", 1) == NULL);
  tc_made no_value = {c, NULL, make_status, release, reacquire};
  tc_made no_status = {c, make_value, NULL, release, reacquire};
  CHECK(tc_get_made(&no_value, (const uint8_t *)"k", 1) == NULL);
  CHECK(tc_get_made(&no_status, (const uint8_t *)"k", 1) == NULL);
  CHECK(seen.values == 0 && seen.statuses == 0 && seen.releases == 0);

  /* No lock to let go: release and reacquire NULL. */
  tc_made bare = {c, make_value, make_status, NULL, NULL};
  CHECK(tc_get_made(&bare, (const uint8_t *)"k", 1) == (char *)&seen + 1 && seen.len == 1);
  CHECK(tc_get_made(&bare, (const uint8_t *)"x", 1) == (char *)&seen + 2 && seen.status == TC_NOT_FOUND);

  /* A NULL cache and a NULL key are statuses, with the lock let go. */
  tc_made null_cache = {NULL, make_value, make_status, release, reacquire};
  reset();
  CHECK(tc_get_made(&null_cache, (const uint8_t *)"k", 1) == (char *)&seen + 2);
  CHECK(seen.status == TC_INVALID_ARGUMENT && seen.releases == 1 && seen.reacquires == 1);
  tc_made m = {c, make_value, make_status, release, reacquire};
  reset();
  CHECK(tc_get_made(&m, NULL, 1) == (char *)&seen + 2 && seen.status == TC_INVALID_ARGUMENT);

  CHECK_OK(tc_cache_shutdown(c));
  reset();
  CHECK(tc_get_made(&m, (const uint8_t *)"k", 1) == (char *)&seen + 2 && seen.status == TC_CLOSED);
  tc_cache_close(c);
}

/* A reacquire that ends the thread, as CPython's PyEval_RestoreThread does
   to a daemon thread once the interpreter is shutting down (pthread_exit:
   a forced unwind through tc_get_made's frame, which must hold nothing to
   drop by then, and must not abort the process). */
static void reacquire_and_exit(void *token) {
  (void)token;
  pthread_exit((void *)42);
}

static void *get_then_exit(void *cache) {
  tc_made m = {cache, make_value, make_status, release, reacquire_and_exit};
  tc_get_made(&m, (const uint8_t *)"absent", 6);
  return NULL; /* not reached */
}

static void *close_cache(void *cache) {
  tc_cache_close(cache);
  return NULL;
}

static void test_a_thread_ended_in_reacquire_ends_cleanly(void) {
  tc_cache *c = tu_open(NULL, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  pthread_t t;
  void *ret = NULL;
  CHECK(pthread_create(&t, NULL, get_then_exit, c) == 0);
  CHECK(pthread_join(t, &ret) == 0);
  CHECK(ret == (void *)42);
  /* The handle is still usable: the call left its gate before release. */
  CHECK_OK(tu_put(c, "k", "v", 0));
  CHECK(tu_value_is(c, "k", "v"));
  /* And its close does not wait for a call that never left the gate: a
     frame that held its place there across reacquire would hang here (the
     wait is bounded only so that such a failure ends). */
  pthread_t closer;
  CHECK(pthread_create(&closer, NULL, close_cache, c) == 0);
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 60;
  CHECK(pthread_timedjoin_np(closer, NULL, &deadline) == 0);
}

int main(void) {
  RUN(test_hits_are_made_at_once);
  RUN(test_anything_else_is_got_with_the_lock_let_go);
  RUN(test_null_arguments_and_a_closed_handle);
  RUN(test_a_thread_ended_in_reacquire_ends_cleanly);
  tu_rmdir_all();
  return tu_summary();
}
