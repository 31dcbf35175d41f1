/*
 * test_loader.c: L3, the caller's loader function behind tc_get.
 *
 * Covers: one loader call for many threads missing the same key at once;
 * TC_NOT_FOUND and failures from the loader (nothing cached after a
 * failure); a loader that calls back into the same cache; the user-data
 * destructor (exactly once on replace, on close, on removal); TTL given
 * through tc_sink_put; misuse of the sink; tc_contains never loading.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

/* Counts its calls; answers "value-of-<key>" after `delay_ms`, or returns
   `status` if that is not TC_OK. */
struct counting {
  atomic_int calls;
  unsigned delay_ms;
  tc_status status;
  uint64_t ttl_ms;
};

static tc_status counting_loader(void *ud, const uint8_t *key, size_t key_len, tc_sink *sink) {
  struct counting *c = ud;
  atomic_fetch_add(&c->calls, 1);
  if (c->delay_ms) tu_sleep_ms(c->delay_ms);
  if (c->status != TC_OK) return c->status;
  char v[128];
  int n = snprintf(v, sizeof v, "value-of-%.*s", (int)key_len, (const char *)key);
  return tc_sink_put(sink, (const uint8_t *)v, (size_t)n, c->ttl_ms);
}

/* ---- single flight ---- */

#define FLIGHT_THREADS 12

struct flight {
  tc_cache *cache;
  pthread_barrier_t start;
  tc_status status[FLIGHT_THREADS];
  char *value[FLIGHT_THREADS];
};

struct flight_arg {
  struct flight *f;
  int i;
};

static void *flight_thread(void *p) {
  struct flight_arg *a = p;
  /* All threads leave the barrier together, so they miss together: the
     loader sleeps 100 ms, far longer than it takes them all to arrive. */
  pthread_barrier_wait(&a->f->start);
  a->f->status[a->i] = tu_get(a->f->cache, "shared", &a->f->value[a->i]);
  return NULL;
}

static void test_single_flight(void) {
  struct counting ld = {0, 100, TC_OK, 0};
  struct flight f;
  memset(&f, 0, sizeof f);
  f.cache = tu_open(NULL, 0, TC_WRITE_THROUGH);
  CHECK(f.cache != NULL);
  CHECK_OK(tc_cache_set_loader(f.cache, counting_loader, &ld, NULL));
  CHECK(pthread_barrier_init(&f.start, NULL, FLIGHT_THREADS) == 0);
  pthread_t t[FLIGHT_THREADS];
  struct flight_arg args[FLIGHT_THREADS];
  for (int i = 0; i < FLIGHT_THREADS; i++) {
    args[i] = (struct flight_arg){&f, i};
    CHECK(pthread_create(&t[i], NULL, flight_thread, &args[i]) == 0);
  }
  for (int i = 0; i < FLIGHT_THREADS; i++) pthread_join(t[i], NULL);
  pthread_barrier_destroy(&f.start);

  int bad = 0;
  for (int i = 0; i < FLIGHT_THREADS; i++) {
    if (f.status[i] != TC_OK || f.value[i] == NULL || strcmp(f.value[i], "value-of-shared") != 0) {
      fprintf(stderr, "    thread %d: %s \"%s\"\n", i, tc_status_str(f.status[i]), f.value[i] ? f.value[i] : "");
      bad++;
    }
    free(f.value[i]);
  }
  tc_stats s = tu_stats(f.cache);
  tc_cache_close(f.cache);
  CHECK(bad == 0);
  CHECK(atomic_load(&ld.calls) == 1);
  CHECK(s.l3_loads == 1 && s.misses == 0);
}

/* ---- what the loader says ---- */

static void test_loader_not_found(void) {
  struct counting ld = {0, 0, TC_NOT_FOUND, 0};
  tc_cache *c = tu_open(NULL, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK_OK(tc_cache_set_loader(c, counting_loader, &ld, NULL));
  CHECK_STATUS(tu_get(c, "k", NULL), TC_NOT_FOUND);
  CHECK_STATUS(tu_get(c, "k", NULL), TC_NOT_FOUND);
  /* "Not found" is not cached either: each get asks again. */
  CHECK(atomic_load(&ld.calls) == 2);
  tc_stats s = tu_stats(c);
  CHECK(s.l3_loads == 2 && s.misses == 2);
  tc_cache_close(c);
}

static void test_loader_failure_caches_nothing(void) {
  const char *dir = tu_mkdtemp();
  struct counting ld = {0, 0, TC_IO_ERROR, 0};
  tc_cache *c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK_OK(tc_cache_set_loader(c, counting_loader, &ld, NULL));
  CHECK_STATUS(tu_get(c, "k", NULL), TC_LOADER_FAILED);
  CHECK(strlen(tc_last_error()) > 0);
  CHECK(!tu_contains(c, "k"));
  tc_stats s = tu_stats(c);
  CHECK(s.l1_entries == 0 && s.l2_entries == 0 && s.misses == 1);
  CHECK_STATUS(tu_get(c, "k", NULL), TC_LOADER_FAILED);
  CHECK(atomic_load(&ld.calls) == 2);
  /* Once the loader recovers, its value is served and cached. */
  ld.status = TC_OK;
  CHECK(tu_value_is(c, "k", "value-of-k"));
  CHECK(tu_value_is(c, "k", "value-of-k"));
  CHECK(atomic_load(&ld.calls) == 3);
  tc_cache_close(c);
}

/* A status that is not a tc_status at all is a failure, not a crash. */
static void test_loader_returns_garbage_status(void) {
  struct counting ld = {0, 0, (tc_status)1234, 0};
  tc_cache *c = tu_open(NULL, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK_OK(tc_cache_set_loader(c, counting_loader, &ld, NULL));
  CHECK_STATUS(tu_get(c, "k", NULL), TC_LOADER_FAILED);
  tc_cache_close(c);
}

/* Sink misuse: OK without a value, two values, a value over the limit. */
static atomic_int sink_second_put;
static tc_status misuse_loader(void *ud, const uint8_t *key, size_t key_len, tc_sink *sink) {
  (void)ud;
  static uint8_t big[65];
  if (key_len == 7 && memcmp(key, "novalue", 7) == 0) return TC_OK;
  if (key_len == 5 && memcmp(key, "twice", 5) == 0) {
    tc_status a = tc_sink_put(sink, (const uint8_t *)"1", 1, 0);
    tc_status b = tc_sink_put(sink, (const uint8_t *)"2", 1, 0);
    atomic_store(&sink_second_put, a == TC_OK && b == TC_INVALID_ARGUMENT);
    return TC_OK;
  }
  if (key_len == 3 && memcmp(key, "big", 3) == 0) {
    tc_status s = tc_sink_put(sink, big, sizeof big, 0);
    return s == TC_TOO_LARGE ? TC_TOO_LARGE : TC_OK;
  }
  return TC_NOT_FOUND;
}

static void test_sink_misuse(void) {
  tc_options *o = tc_options_new();
  CHECK(o != NULL);
  CHECK_OK(tc_options_set_max_value_size(o, 64));
  tc_cache *c = NULL;
  CHECK_OK(tc_cache_open(o, &c));
  tc_options_free(o);
  CHECK_OK(tc_cache_set_loader(c, misuse_loader, NULL, NULL));
  CHECK_STATUS(tu_get(c, "novalue", NULL), TC_LOADER_FAILED);
  /* The first value given counts; the second tc_sink_put is refused. */
  CHECK(tu_value_is(c, "twice", "1"));
  CHECK(atomic_load(&sink_second_put) == 1);
  CHECK_STATUS(tu_get(c, "big", NULL), TC_LOADER_FAILED);
  CHECK(!tu_contains(c, "big"));
  tc_cache_close(c);
}

/* ---- TTL through the sink ---- */

static void test_sink_ttl(void) {
  struct counting ld = {0, 0, TC_OK, 300};
  const char *dir = tu_mkdtemp();
  tc_cache *c = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK_OK(tc_cache_set_loader(c, counting_loader, &ld, NULL));
  CHECK(tu_value_is(c, "t", "value-of-t"));
  CHECK(tu_value_is(c, "t", "value-of-t"));
  CHECK(atomic_load(&ld.calls) == 1);
  tu_sleep_ms(450);
  /* Expired in every tier: contains says no, and get loads afresh. */
  CHECK(!tu_contains(c, "t"));
  CHECK(tu_value_is(c, "t", "value-of-t"));
  CHECK(atomic_load(&ld.calls) == 2);
  tc_cache_close(c);
}

/* ---- tc_contains never loads ---- */

static void test_contains_never_loads(void) {
  struct counting ld = {0, 0, TC_OK, 0};
  tc_cache *c = tu_open(NULL, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK_OK(tc_cache_set_loader(c, counting_loader, &ld, NULL));
  CHECK(!tu_contains(c, "k"));
  CHECK(!tu_contains(c, "k"));
  CHECK(atomic_load(&ld.calls) == 0);
  CHECK(tu_stats(c).l3_loads == 0);
  CHECK(tu_value_is(c, "k", "value-of-k"));
  CHECK(tu_contains(c, "k"));
  CHECK(atomic_load(&ld.calls) == 1);
  tc_cache_close(c);
}

/* ---- re-entrant loader ---- */

/* For "outer", reads "inner" (itself loaded: a nested load of another key)
   and "plain", writes "side", then answers. A loader holding any cache lock
   while running would deadlock here. */
static tc_status reentrant_loader(void *ud, const uint8_t *key, size_t key_len, tc_sink *sink) {
  tc_cache *c = ud;
  if (key_len == 5 && memcmp(key, "inner", 5) == 0) return tc_sink_put(sink, (const uint8_t *)"I", 1, 0);
  if (key_len != 5 || memcmp(key, "outer", 5) != 0) return TC_NOT_FOUND;
  char *inner = NULL, *plain = NULL;
  if (tu_get(c, "inner", &inner) != TC_OK) return TC_IO_ERROR;
  tc_status s = tu_get(c, "plain", &plain);
  tc_status p = tu_put(c, "side", "S", 0);
  bool present = false;
  tc_status q = tc_contains(c, (const uint8_t *)"outer", 5, &present);
  char v[64];
  int n = snprintf(v, sizeof v, "%s+%s", inner, s == TC_OK ? plain : "?");
  free(inner);
  free(plain);
  if (p != TC_OK || q != TC_OK || present) return TC_IO_ERROR;
  return tc_sink_put(sink, (const uint8_t *)v, (size_t)n, 0);
}

struct reentrant_run {
  tc_cache *cache;
  char *value;
  tc_status status;
  sem_t done;
};

static void *reentrant_thread(void *p) {
  struct reentrant_run *r = p;
  r->status = tu_get(r->cache, "outer", &r->value);
  sem_post(&r->done);
  return NULL;
}

static void test_reentrant_loader_does_not_deadlock(void) {
  const char *dir = tu_mkdtemp();
  struct reentrant_run r;
  memset(&r, 0, sizeof r);
  r.cache = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(r.cache != NULL);
  CHECK_OK(tu_put(r.cache, "plain", "P", 0));
  CHECK_OK(tc_cache_set_loader(r.cache, reentrant_loader, r.cache, NULL));
  sem_init(&r.done, 0, 0);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, reentrant_thread, &r) == 0);
  /* A deadlock cannot be joined: give it 10 s, then fail the whole program
     (the stuck thread holds the cache, so nothing else could run safely). */
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 10;
  if (sem_timedwait(&r.done, &until) != 0) {
    fprintf(stderr, "%s:%d: tc_get from a re-entrant loader did not return in 10 s (deadlock)\n", __FILE__,
            __LINE__);
    printf("FAIL test_reentrant_loader_does_not_deadlock\n");
    tu_current_failed = 1;
    tu_summary();
    fflush(stdout);
    _Exit(1);
  }
  pthread_join(t, NULL);
  sem_destroy(&r.done);
  bool ok = r.status == TC_OK && r.value != NULL && strcmp(r.value, "I+P") == 0;
  if (!ok) fprintf(stderr, "    outer: %s \"%s\"\n", tc_status_str(r.status), r.value ? r.value : "");
  free(r.value);
  CHECK(ok);
  CHECK(tu_value_is(r.cache, "side", "S"));
  CHECK(tu_value_is(r.cache, "inner", "I"));
  tc_cache_close(r.cache);
}

/* A put that lands while a load of the same key is running wins: the
   loader's older answer goes to its caller but must not overwrite the put. */
struct racing_get {
  tc_cache *cache;
  tc_status status;
  char *value;
};

static void *racing_get_thread(void *p) {
  struct racing_get *r = p;
  r->status = tu_get(r->cache, "race", &r->value);
  return NULL;
}

static void test_put_during_load_wins(void) {
  const char *dir = tu_mkdtemp();
  struct counting ld = {0, 200, TC_OK, 0};
  struct racing_get r = {tu_open(dir, 0, TC_WRITE_THROUGH), TC_PANIC, NULL};
  CHECK(r.cache != NULL);
  CHECK_OK(tc_cache_set_loader(r.cache, counting_loader, &ld, NULL));
  pthread_t t;
  CHECK(pthread_create(&t, NULL, racing_get_thread, &r) == 0);
  uint64_t deadline = tu_now_ms() + 5000;
  while (atomic_load(&ld.calls) == 0 && tu_now_ms() < deadline) tu_sleep_ms(1);
  tc_status put = tu_put(r.cache, "race", "fresh", 0); /* while the loader sleeps */
  pthread_join(t, NULL);
  free(r.value);
  CHECK_OK(put);
  CHECK_OK(r.status);
  CHECK(tu_value_is(r.cache, "race", "fresh"));
  tc_cache_close(r.cache);
  r.cache = tu_open(dir, 0, TC_WRITE_THROUGH);
  CHECK(r.cache != NULL);
  CHECK(tu_value_is(r.cache, "race", "fresh"));
  tc_cache_close(r.cache);
}

/* ---- the user-data destructor ---- */

struct owned {
  atomic_int freed;
};

static void free_owned(void *p) { atomic_fetch_add(&((struct owned *)p)->freed, 1); }

static tc_status owned_loader(void *ud, const uint8_t *key, size_t key_len, tc_sink *sink) {
  (void)key;
  (void)key_len;
  (void)ud;
  return tc_sink_put(sink, (const uint8_t *)"o", 1, 0);
}

static void test_destructor_runs_once(void) {
  struct owned a = {0}, b = {0}, n = {0}, never = {0};
  tc_cache *c = tu_open(NULL, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK_OK(tc_cache_set_loader(c, owned_loader, &a, free_owned));
  CHECK(tu_value_is(c, "x", "o"));
  CHECK(atomic_load(&a.freed) == 0);
  CHECK_OK(tc_cache_set_loader(c, owned_loader, &b, free_owned)); /* replaces a */
  CHECK(atomic_load(&a.freed) == 1);
  CHECK(atomic_load(&b.freed) == 0);
  CHECK(tu_value_is(c, "y", "o"));

  /* A NULL loader with user data and a destructor: freed at once, and
     replacing b frees b. */
  CHECK_OK(tc_cache_set_loader(c, NULL, &n, free_owned));
  CHECK(atomic_load(&b.freed) == 1);
  CHECK(atomic_load(&n.freed) == 1);
  CHECK_STATUS(tu_get(c, "z", NULL), TC_NOT_FOUND); /* no loader now */

  /* A NULL cache: the library does not take ownership. */
  CHECK_STATUS(tc_cache_set_loader(NULL, owned_loader, &never, free_owned), TC_INVALID_ARGUMENT);
  CHECK(atomic_load(&never.freed) == 0);

  /* The last loader's user data is freed at close, once. */
  struct owned last = {0};
  CHECK_OK(tc_cache_set_loader(c, owned_loader, &last, free_owned));
  tc_cache_close(c);
  CHECK(atomic_load(&last.freed) == 1);
  CHECK(atomic_load(&a.freed) == 1 && atomic_load(&b.freed) == 1 && atomic_load(&n.freed) == 1);
}

/* A loader replaced while one of its calls is running keeps its user data
   until that call returns: the destructor must not run under it. */
struct slow_owned {
  atomic_int freed;
  atomic_int running;
  atomic_int freed_while_running;
};

static void free_slow_owned(void *p) {
  struct slow_owned *s = p;
  if (atomic_load(&s->running)) atomic_store(&s->freed_while_running, 1);
  atomic_fetch_add(&s->freed, 1);
}

static tc_status slow_owned_loader(void *ud, const uint8_t *key, size_t key_len, tc_sink *sink) {
  (void)key;
  (void)key_len;
  struct slow_owned *s = ud;
  atomic_store(&s->running, 1);
  tu_sleep_ms(150);
  atomic_store(&s->running, 0);
  return tc_sink_put(sink, (const uint8_t *)"slow", 4, 0);
}

struct get_run {
  tc_cache *cache;
  tc_status status;
};

static void *get_slow(void *p) {
  struct get_run *r = p;
  r->status = tu_get(r->cache, "slow", NULL);
  return NULL;
}

static void test_destructor_waits_for_running_load(void) {
  struct slow_owned s = {0, 0, 0};
  struct get_run r = {tu_open(NULL, 0, TC_WRITE_THROUGH), TC_PANIC};
  CHECK(r.cache != NULL);
  CHECK_OK(tc_cache_set_loader(r.cache, slow_owned_loader, &s, free_slow_owned));
  pthread_t t;
  CHECK(pthread_create(&t, NULL, get_slow, &r) == 0);
  /* Wait until the loader is inside its call, then replace it. */
  uint64_t deadline = tu_now_ms() + 5000;
  while (!atomic_load(&s.running) && tu_now_ms() < deadline) tu_sleep_ms(1);
  CHECK_OK(tc_cache_set_loader(r.cache, NULL, NULL, NULL));
  pthread_join(t, NULL);
  CHECK(r.status == TC_OK);
  CHECK(atomic_load(&s.freed) == 1);
  CHECK(atomic_load(&s.freed_while_running) == 0);
  tc_cache_close(r.cache);
  CHECK(atomic_load(&s.freed) == 1);
}

int main(void) {
  RUN(test_single_flight);
  RUN(test_loader_not_found);
  RUN(test_loader_failure_caches_nothing);
  RUN(test_loader_returns_garbage_status);
  RUN(test_sink_misuse);
  RUN(test_sink_ttl);
  RUN(test_contains_never_loads);
  RUN(test_reentrant_loader_does_not_deadlock);
  RUN(test_put_during_load_wins);
  RUN(test_destructor_runs_once);
  RUN(test_destructor_waits_for_running_load);
  return tu_summary();
}
