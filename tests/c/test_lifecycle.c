/*
 * test_lifecycle.c: tc_cache_shutdown, TC_CLOSED and handles inherited
 * across fork().
 *
 * Covers: shutdown racing with 4 threads of calls (each call answers or
 * gets TC_CLOSED, and only TC_CLOSED once it has; a loader calling back in
 * meanwhile; a second shutdown at the same time); TC_CLOSED after shutdown
 * from every function taking a handle, outputs untouched; shutdown twice
 * and on NULL; shutdown releasing the directory lock and the loader's user
 * data before tc_cache_close; shutdown from inside a loader of the same
 * handle (TC_INVALID_ARGUMENT, the cache keeps working) and of another
 * handle (fine); shutdown waiting for a running loader; a forked child
 * getting TC_CLOSED from every call, whose shutdown and tc_cache_close
 * leave the parent's lock held and its cache working; a key length over
 * 64 KiB, up to SIZE_MAX, refused with TC_TOO_LARGE before the key is read.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static const uint8_t K[] = "k";

static tc_status open_dir(const char *dir, tc_cache **out) {
  tc_options *o = tc_options_new();
  if (o == NULL) return TC_PANIC;
  tc_status s = tc_options_set_dir(o, dir);
  if (s == TC_OK) s = tc_cache_open(o, out);
  tc_options_free(o);
  return s;
}

/* A loader's user data that counts its destructor's calls. */
static atomic_int frees;
static void count_free(void *ud) {
  (void)ud;
  atomic_fetch_add(&frees, 1);
}

static tc_status echo_loader(void *ud, const uint8_t *key, size_t key_len, tc_sink *sink) {
  (void)ud;
  return tc_sink_put(sink, key, key_len, 0);
}

/* Calls every function that takes a handle and counts those that do not
   return TC_CLOSED or that write an output; prints each one. Usable in a
   forked child (no CHECK). */
static int calls_not_closed(tc_cache *c) {
  int bad = 0;
#define EXPECT_CLOSED(call)                                                              \
  do {                                                                                   \
    tc_status s_ = (call);                                                               \
    if (s_ != TC_CLOSED) {                                                               \
      fprintf(stderr, "    %s: %s, expected TC_CLOSED\n", #call, tc_status_str(s_));     \
      bad++;                                                                             \
    } else if (strstr(tc_last_error(), "tc_") == NULL) {                                 \
      fprintf(stderr, "    %s: no message naming the function: \"%s\"\n", #call, tc_last_error()); \
      bad++;                                                                             \
    }                                                                                    \
  } while (0)
#define EXPECT_UNTOUCHED(cond)                                         \
  do {                                                                 \
    if (!(cond)) {                                                     \
      fprintf(stderr, "    output written on TC_CLOSED: %s\n", #cond); \
      bad++;                                                           \
    }                                                                  \
  } while (0)
  tc_bytes b = {(uint8_t *)K, 12345};
  uint8_t buf[16] = {0};
  size_t len = 777;
  bool present = true;
  uint64_t n = 999;
  tc_stats st;
  memset(&st, 0xAB, sizeof st);
  EXPECT_CLOSED(tc_put(c, K, 1, K, 1, 0));
  EXPECT_CLOSED(tc_get(c, K, 1, &b));
  EXPECT_UNTOUCHED(b.data == K && b.len == 12345);
  EXPECT_CLOSED(tc_get_into(c, K, 1, buf, sizeof buf, &len));
  EXPECT_UNTOUCHED(len == 777);
  EXPECT_CLOSED(tc_contains(c, K, 1, &present));
  EXPECT_UNTOUCHED(present);
  EXPECT_CLOSED(tc_remove(c, K, 1));
  EXPECT_CLOSED(tc_remove_prefix(c, K, 1, &n));
  EXPECT_UNTOUCHED(n == 999);
  EXPECT_CLOSED(tc_remove_prefix(c, K, 0, &n));
  EXPECT_CLOSED(tc_clear(c, true));
  EXPECT_CLOSED(tc_clear(c, false));
  EXPECT_CLOSED(tc_flush(c));
  EXPECT_CLOSED(tc_purge_expired(c, &n));
  EXPECT_UNTOUCHED(n == 999);
  EXPECT_CLOSED(tc_stats_get(c, &st));
  EXPECT_UNTOUCHED(st.l1_hits == 0xABABABABABABABABull);
  EXPECT_CLOSED(tc_compact(c));
  EXPECT_CLOSED(tc_stats_get_counter(c, "l1_hits", &n));
  EXPECT_UNTOUCHED(n == 999);
  /* A refused tc_cache_set_loader does not take the user data: the caller
     still owns it, as when the handle is NULL. */
  int before = atomic_load(&frees);
  EXPECT_CLOSED(tc_cache_set_loader(c, echo_loader, NULL, count_free));
  EXPECT_CLOSED(tc_cache_set_loader(c, NULL, NULL, count_free));
  EXPECT_UNTOUCHED(atomic_load(&frees) == before);
  EXPECT_CLOSED(tc_cache_set_loader(c, NULL, NULL, NULL));
#undef EXPECT_CLOSED
#undef EXPECT_UNTOUCHED
  return bad;
}

static void test_status_str(void) {
  CHECK(TC_CLOSED == 10);
  CHECK(strcmp(tc_status_str(TC_CLOSED), "TC_CLOSED") == 0);
  CHECK_STATUS(tc_cache_shutdown(NULL), TC_INVALID_ARGUMENT);
  tc_cache_close(NULL);
}

static void test_every_call_after_shutdown(void) {
  const char *dir = tu_mkdtemp();
  tc_cache *c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK_OK(tu_put(c, "k", "v", 0));
  CHECK_OK(tc_cache_shutdown(c));
  CHECK(calls_not_closed(c) == 0);
  tc_cache_close(c);
}

static void test_shutdown_twice_releases_lock_and_loader(void) {
  const char *dir = tu_mkdtemp();
  tc_cache *c = tu_open(dir, 0, TC_WRITE_BACK);
  CHECK(c != NULL);
  atomic_store(&frees, 0);
  CHECK_OK(tc_cache_set_loader(c, echo_loader, NULL, count_free));
  CHECK_OK(tu_put(c, "k", "written back", 0));
  CHECK(tu_value_is(c, "loaded", "loaded"));
  CHECK_OK(tc_cache_shutdown(c));
  CHECK(atomic_load(&frees) == 1); /* freed by the shutdown, not the close */
  CHECK_OK(tc_cache_shutdown(c));  /* idempotent */
  CHECK(atomic_load(&frees) == 1);
  /* The directory is unlocked and flushed while the old handle still exists. */
  tc_cache *again = NULL;
  CHECK_OK(open_dir(dir, &again));
  CHECK(tu_value_is(again, "k", "written back"));
  CHECK(tu_value_is(again, "loaded", "loaded"));
  CHECK_STATUS(tu_put(c, "x", "y", 0), TC_CLOSED);
  tc_cache_close(c); /* frees only: the new handle keeps its lock */
  CHECK(atomic_load(&frees) == 1);
  tc_cache *third = NULL;
  CHECK_STATUS(open_dir(dir, &third), TC_LOCKED);
  tc_cache_close(again);
}

/* ---- shutdown racing with calls ---- */

#define RACERS 4

static tc_cache *race_cache;
static atomic_int race_problems;
static atomic_int race_closed_seen;

#define RACE_PROBLEM(...)                                 \
  do {                                                    \
    if (atomic_fetch_add(&race_problems, 1) < 10) {       \
      fprintf(stderr, "    " __VA_ARGS__);                \
      fputc('\n', stderr);                                \
    }                                                     \
  } while (0)

/* Answers with the key, after calling back into the cache, which may be
   shutting down meanwhile. */
static tc_status reentrant_loader(void *ud, const uint8_t *key, size_t key_len, tc_sink *sink) {
  tc_cache *c = ud;
  bool present;
  tc_status s = tc_contains(c, K, 1, &present);
  if (s != TC_OK && s != TC_CLOSED) RACE_PROBLEM("tc_contains in the loader: %s", tc_status_str(s));
  return tc_sink_put(sink, key, key_len, 0);
}

static void *racer(void *arg) {
  unsigned t = (unsigned)(uintptr_t)arg;
  int closed = 0;
  char key[32];
  uint8_t buf[64];
  for (unsigned i = 0; closed < 200; i++) {
    snprintf(key, sizeof key, "%u:%u", t, i % 50);
    size_t kl = strlen(key);
    const uint8_t *k = (const uint8_t *)key;
    tc_status s;
    const char *what;
    switch (i % 9) {
      case 0:
      case 1:
        what = "tc_put";
        s = tc_put(race_cache, k, kl, k, kl, 0);
        break;
      case 2: {
        what = "tc_get";
        tc_bytes b = {NULL, 0};
        s = tc_get(race_cache, k, kl, &b);
        if (s == TC_OK && (b.len != kl || memcmp(b.data, key, kl) != 0)) RACE_PROBLEM("tc_get: wrong value");
        tc_bytes_free(&b);
        break;
      }
      case 3: {
        what = "tc_get_into (loader)";
        char miss[32];
        snprintf(miss, sizeof miss, "miss:%u:%u", t, i);
        size_t len = 0;
        s = tc_get_into(race_cache, (const uint8_t *)miss, strlen(miss), buf, sizeof buf, &len);
        if (s == TC_OK && (len != strlen(miss) || memcmp(buf, miss, len) != 0)) RACE_PROBLEM("loaded value wrong");
        break;
      }
      case 4: {
        what = "tc_contains";
        bool present;
        s = tc_contains(race_cache, k, kl, &present);
        break;
      }
      case 5:
        what = "tc_remove";
        s = tc_remove(race_cache, k, kl);
        break;
      case 6: {
        what = "tc_stats_get";
        tc_stats st;
        s = tc_stats_get(race_cache, &st);
        break;
      }
      case 7: {
        what = "tc_stats_get_counter";
        uint64_t v;
        s = tc_stats_get_counter(race_cache, "l2_segments", &v);
        break;
      }
      default: {
        what = "tc_remove_prefix";
        char p[16];
        snprintf(p, sizeof p, "%u:3", t);
        uint64_t n;
        s = tc_remove_prefix(race_cache, (const uint8_t *)p, strlen(p), &n);
      }
    }
    if (s == TC_CLOSED) {
      if (closed++ == 0) atomic_fetch_add(&race_closed_seen, 1);
    } else if (closed > 0) {
      RACE_PROBLEM("%s after TC_CLOSED: %s", what, tc_status_str(s));
      return NULL;
    } else if (s != TC_OK && s != TC_NOT_FOUND) {
      RACE_PROBLEM("%s: %s: %s", what, tc_status_str(s), tc_last_error());
      return NULL;
    }
  }
  return NULL;
}

static void *second_shutdown(void *arg) {
  (void)arg;
  tc_status s = tc_cache_shutdown(race_cache);
  if (s != TC_OK) RACE_PROBLEM("concurrent tc_cache_shutdown: %s", tc_status_str(s));
  return NULL;
}

static void test_shutdown_races_with_calls(void) {
  for (int round = 0; round < 10; round++) {
    const char *dir = tu_mkdtemp();
    race_cache = tu_open(dir, 30, round % 2 ? TC_WRITE_BACK : TC_WRITE_THROUGH);
    CHECK(race_cache != NULL);
    atomic_store(&frees, 0);
    atomic_store(&race_problems, 0);
    atomic_store(&race_closed_seen, 0);
    CHECK_OK(tc_cache_set_loader(race_cache, reentrant_loader, race_cache, count_free));
    pthread_t th[RACERS], second;
    for (unsigned t = 0; t < RACERS; t++) {
      CHECK(pthread_create(&th[t], NULL, racer, (void *)(uintptr_t)t) == 0);
    }
    tu_sleep_ms((unsigned)(round % 4)); /* shut down at different points */
    CHECK(pthread_create(&second, NULL, second_shutdown, NULL) == 0);
    tc_status s = tc_cache_shutdown(race_cache);
    for (unsigned t = 0; t < RACERS; t++) pthread_join(th[t], NULL);
    pthread_join(second, NULL);
    CHECK_OK(s);
    CHECK(atomic_load(&race_problems) == 0);
    CHECK(atomic_load(&race_closed_seen) == RACERS);
    CHECK(atomic_load(&frees) == 1);
    /* Unlocked by the shutdown, before the close. */
    tc_cache *again = NULL;
    CHECK_OK(open_dir(dir, &again));
    tc_cache_close(again);
    tc_cache_close(race_cache);
    race_cache = NULL;
  }
}

/* ---- shutdown and loaders ---- */

static tc_cache *other_cache;
static tc_status shutdown_status_in_loader;
static tc_status other_shutdown_status;

static tc_status shutting_loader(void *ud, const uint8_t *key, size_t key_len, tc_sink *sink) {
  shutdown_status_in_loader = tc_cache_shutdown((tc_cache *)ud);
  other_shutdown_status = other_cache ? tc_cache_shutdown(other_cache) : TC_OK;
  return tc_sink_put(sink, key, key_len, 0);
}

static void test_shutdown_from_inside_a_loader(void) {
  tc_cache *c = tu_open(NULL, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  other_cache = tu_open(NULL, 0, TC_WRITE_THROUGH);
  CHECK(other_cache != NULL);
  CHECK_OK(tc_cache_set_loader(c, shutting_loader, c, NULL));
  shutdown_status_in_loader = TC_OK;
  other_shutdown_status = TC_PANIC;
  CHECK(tu_value_is(c, "key", "key"));
  /* Its own handle: it would wait for itself. Another handle: fine. */
  CHECK(shutdown_status_in_loader == TC_INVALID_ARGUMENT);
  CHECK(other_shutdown_status == TC_OK);
  CHECK_STATUS(tu_put(other_cache, "x", "y", 0), TC_CLOSED);
  /* The refused shutdown changed nothing. */
  CHECK_OK(tu_put(c, "after", "v", 0));
  CHECK(tu_value_is(c, "after", "v"));
  CHECK_OK(tc_cache_shutdown(c));
  CHECK_STATUS(tu_put(c, "after", "v", 0), TC_CLOSED);
  tc_cache_close(c);
  tc_cache_close(other_cache);
  other_cache = NULL;
}

static tc_cache *slow_cache;
static atomic_int slow_in_loader, slow_release, slow_shutdown_returned;
static tc_status slow_inner;

static tc_status slow_loader(void *ud, const uint8_t *key, size_t key_len, tc_sink *sink) {
  (void)ud;
  atomic_store(&slow_in_loader, 1);
  while (!atomic_load(&slow_release)) tu_sleep_ms(1);
  bool present;
  slow_inner = tc_contains(slow_cache, K, 1, &present);
  return tc_sink_put(sink, key, key_len, 0);
}

static void *slow_getter(void *arg) {
  tc_status *out = arg;
  size_t len = 0;
  uint8_t buf[16];
  *out = tc_get_into(slow_cache, (const uint8_t *)"slow", 4, buf, sizeof buf, &len);
  if (*out == TC_OK && (len != 4 || memcmp(buf, "slow", 4) != 0)) *out = TC_PANIC;
  return NULL;
}

static void *slow_shutdown(void *arg) {
  tc_status *out = arg;
  *out = tc_cache_shutdown(slow_cache);
  atomic_store(&slow_shutdown_returned, 1);
  return NULL;
}

static void test_shutdown_waits_for_a_running_loader(void) {
  slow_cache = tu_open(NULL, 0, TC_WRITE_THROUGH);
  CHECK(slow_cache != NULL);
  atomic_store(&slow_in_loader, 0);
  atomic_store(&slow_release, 0);
  atomic_store(&slow_shutdown_returned, 0);
  CHECK_OK(tc_cache_set_loader(slow_cache, slow_loader, NULL, NULL));
  tc_status got = TC_PANIC, shut = TC_PANIC;
  pthread_t g, s;
  CHECK(pthread_create(&g, NULL, slow_getter, &got) == 0);
  while (!atomic_load(&slow_in_loader)) tu_sleep_ms(1);
  CHECK(pthread_create(&s, NULL, slow_shutdown, &shut) == 0);
  /* Once the shutdown has begun, new calls are refused... */
  bool present;
  while (tc_contains(slow_cache, K, 1, &present) != TC_CLOSED) tu_sleep_ms(1);
  /* ...but it has not returned: the loader is still inside. */
  bool returned_early = atomic_load(&slow_shutdown_returned) != 0;
  atomic_store(&slow_release, 1);
  pthread_join(g, NULL);
  pthread_join(s, NULL);
  CHECK(!returned_early);
  CHECK(got == TC_OK);
  CHECK(shut == TC_OK);
  CHECK(slow_inner == TC_CLOSED);
  tc_cache_close(slow_cache);
  slow_cache = NULL;
}

/* ---- fork ---- */

/* Runs in the child: every call refused, shutdown and close leave the
   parent's things alone. Returns the exit code. */
static int forked_child(tc_cache *c, const char *dir, int ready_fd, int go_fd) {
  if (calls_not_closed(c) != 0) return 10;
  if (strstr(tc_last_error(), "fork") == NULL) return 11; /* the message says why */
  tc_cache *mine = NULL;
  if (open_dir(dir, &mine) != TC_LOCKED) return 12;
  if (tc_cache_shutdown(c) != TC_OK) return 13; /* only marks it closed */
  if (tc_cache_shutdown(c) != TC_OK) return 14;
  if (calls_not_closed(c) != 0) return 15;
  tc_cache_close(c); /* frees the handle, not the parent's lock */
  char b = 'x';
  if (write(ready_fd, &b, 1) != 1) return 16;
  if (read(go_fd, &b, 1) < 0) return 17; /* stay alive until the parent has looked */
  return 0;
}

static void test_forked_child_gets_closed(void) {
  const char *dir = tu_mkdtemp();
  tc_cache *c = NULL;
  CHECK_OK(open_dir(dir, &c));
  atomic_store(&frees, 0);
  CHECK_OK(tc_cache_set_loader(c, echo_loader, NULL, count_free));
  CHECK_OK(tu_put(c, "k", "v", 0));
  int ready[2], go[2];
  CHECK(pipe(ready) == 0 && pipe(go) == 0);
  fflush(NULL);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    close(ready[0]);
    close(go[1]);
    /* _exit: no exit-time flushing, and no leak report for the parent's
       cache, which tc_cache_close leaves allocated in the child. */
    _exit(forked_child(c, dir, ready[1], go[0]));
  }
  close(ready[1]);
  close(go[0]);
  /* No CHECK until the child is reaped. */
  char b = 0;
  bool child_closed = read(ready[0], &b, 1) == 1;
  tc_cache *other = NULL;
  tc_status while_child_alive = open_dir(dir, &other);
  if (while_child_alive == TC_OK) tc_cache_close(other);
  close(go[1]); /* lets the child exit */
  close(ready[0]);
  int ws = 0;
  bool reaped = waitpid(pid, &ws, 0) == pid;
  CHECK(reaped && WIFEXITED(ws));
  if (WEXITSTATUS(ws) != 0) fprintf(stderr, "    child exited with %d\n", WEXITSTATUS(ws));
  CHECK(WEXITSTATUS(ws) == 0);
  CHECK(child_closed);
  /* The parent's lock was held while the child closed its copy and exited... */
  CHECK(while_child_alive == TC_LOCKED);
  CHECK_STATUS(open_dir(dir, &other), TC_LOCKED);
  /* ...and its cache works: reads, writes, its loader, a flush. */
  CHECK(atomic_load(&frees) == 0);
  CHECK(tu_value_is(c, "k", "v"));
  CHECK_OK(tu_put(c, "k2", "v2", 0));
  CHECK(tu_value_is(c, "loaded", "loaded"));
  CHECK_OK(tc_flush(c));
  tc_cache_close(c);
  CHECK(atomic_load(&frees) == 1);
  CHECK_OK(open_dir(dir, &c));
  CHECK(tu_value_is(c, "k", "v"));
  CHECK(tu_value_is(c, "k2", "v2"));
  tc_cache_close(c);
}

/* ---- key lengths ---- */

static void test_key_length_over_limit(void) {
  tc_cache *c = tu_open(NULL, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  /* A one-byte buffer: a length over the limit must be refused before the
     key is read (the sanitizers would see an overflow). */
  const uint8_t *k = K;
  const size_t lens[] = {SIZE_MAX, SIZE_MAX / 2, (size_t)1 << 40, 65537};
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    size_t n = lens[i];
    tc_bytes b = {NULL, 42};
    uint8_t buf[4];
    size_t len = 7;
    bool present = true;
    if (n == 65537) {
      static uint8_t big[65537];
      k = big;
    }
    CHECK_STATUS(tc_put(c, k, n, K, 1, 0), TC_TOO_LARGE);
    CHECK(strstr(tc_last_error(), "key") != NULL);
    CHECK_STATUS(tc_get(c, k, n, &b), TC_TOO_LARGE);
    CHECK(b.data == NULL && b.len == 42);
    CHECK_STATUS(tc_get_into(c, k, n, buf, sizeof buf, &len), TC_TOO_LARGE);
    CHECK(len == 7);
    CHECK_STATUS(tc_contains(c, k, n, &present), TC_TOO_LARGE);
    CHECK(present);
    CHECK_STATUS(tc_remove(c, k, n), TC_TOO_LARGE);
  }
  /* The limit itself is fine. */
  static uint8_t max_key[65536];
  memset(max_key, 'm', sizeof max_key);
  CHECK_OK(tc_put(c, max_key, sizeof max_key, K, 1, 0));
  bool present = false;
  CHECK_OK(tc_contains(c, max_key, sizeof max_key, &present));
  CHECK(present);
  CHECK_OK(tc_remove(c, max_key, sizeof max_key));
  tc_cache_close(c);
}

int main(void) {
  RUN(test_status_str);
  RUN(test_every_call_after_shutdown);
  RUN(test_shutdown_twice_releases_lock_and_loader);
  RUN(test_shutdown_races_with_calls);
  RUN(test_shutdown_from_inside_a_loader);
  RUN(test_shutdown_waits_for_a_running_loader);
  RUN(test_forked_child_gets_closed);
  RUN(test_key_length_over_limit);
  return tu_summary();
}
