/*
 * test_api.c: the argument rules of the C ABI, independent of storage.
 *
 * Covers: every pointer parameter of every function given NULL returns
 * TC_INVALID_ARGUMENT, leaves outputs untouched and leaves a tc_last_error()
 * naming the function and the argument; free/close accept NULL; key length
 * limits (0, 65536, 65537); the configurable value limit; out-of-range enum
 * values; tc_get_into's buffer contract; tc_status_str and tc_version.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static const uint8_t K[] = "k";
static const uint8_t V[] = "v";

/* The last error mentions both the function and the argument it rejected. */
static bool error_names(const char *func, const char *argname) {
  const char *e = tc_last_error();
  if (e == NULL || strstr(e, func) == NULL || strstr(e, argname) == NULL) {
    fprintf(stderr, "    tc_last_error() = \"%s\", expected it to name %s and %s\n", e ? e : "(NULL)", func,
            argname);
    return false;
  }
  return true;
}

#define CHECK_NULL_ARG(call, func, argname)              \
  do {                                                   \
    CHECK_STATUS(call, TC_INVALID_ARGUMENT);             \
    CHECK(error_names(func, argname));                   \
  } while (0)

static void test_options_null_arguments(void) {
  tc_options *o = tc_options_new();
  CHECK(o != NULL);
  tc_options_free(NULL); /* no-op, must not crash */
  CHECK_NULL_ARG(tc_options_set_dir(NULL, "/tmp/x"), "tc_options_set_dir", "opts");
  CHECK_NULL_ARG(tc_options_set_dir(o, NULL), "tc_options_set_dir", "path");
  CHECK_STATUS(tc_options_set_dir(o, ""), TC_INVALID_ARGUMENT);
  CHECK_NULL_ARG(tc_options_set_l1_capacity(NULL, 1, 1), "tc_options_set_l1_capacity", "opts");
  CHECK_NULL_ARG(tc_options_set_l2_capacity(NULL, 1), "tc_options_set_l2_capacity", "opts");
  CHECK_NULL_ARG(tc_options_set_write_policy(NULL, TC_WRITE_BACK), "tc_options_set_write_policy", "opts");
  CHECK_NULL_ARG(tc_options_set_sync_policy(NULL, TC_SYNC_NEVER, 0), "tc_options_set_sync_policy", "opts");
  CHECK_NULL_ARG(tc_options_set_default_ttl(NULL, 1), "tc_options_set_default_ttl", "opts");
  CHECK_NULL_ARG(tc_options_set_max_value_size(NULL, 1), "tc_options_set_max_value_size", "opts");
  CHECK_NULL_ARG(tc_options_set_segment_size(NULL, 1 << 20), "tc_options_set_segment_size", "opts");
  tc_options_free(o);
}

/* The remote tier's options: bad input is TC_INVALID_ARGUMENT with the
 * reason; NULL URL means none. (tests/remote.rs tests it against servers.) */
static void test_remote_options(void) {
  tc_options *o = tc_options_new();
  const uint8_t secret[16] = {0};
  uint8_t long_ns[256];
  memset(long_ns, 'n', sizeof long_ns);
  CHECK_NULL_ARG(tc_options_set_remote(NULL, "redis://h:1"), "tc_options_set_remote", "opts");
  CHECK_OK(tc_options_set_remote(o, NULL));
  CHECK_STATUS(tc_options_set_remote(o, "http://h:1"), TC_INVALID_ARGUMENT);
  CHECK(strstr(tc_last_error(), "unknown scheme") != NULL);
  CHECK_STATUS(tc_options_set_remote(o, "not a url"), TC_INVALID_ARGUMENT);
  CHECK_OK(tc_options_set_remote(o, "redis://user:pw@127.0.0.1:6379/1"));
  CHECK_OK(tc_options_set_remote(o, "redis+cluster://127.0.0.1:7000,127.0.0.1:7001"));
  CHECK_NULL_ARG(tc_options_set_remote_namespace(o, NULL, 1), "tc_options_set_remote_namespace", "ns");
  CHECK_STATUS(tc_options_set_remote_namespace(o, long_ns, 256), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_options_set_remote_namespace(o, long_ns, 0), TC_INVALID_ARGUMENT);
  CHECK_OK(tc_options_set_remote_namespace(o, long_ns, 255));
  CHECK_NULL_ARG(tc_options_set_remote_secret(o, NULL, 16), "tc_options_set_remote_secret", "secret");
  CHECK_STATUS(tc_options_set_remote_secret(o, secret, 15), TC_INVALID_ARGUMENT);
  CHECK_OK(tc_options_set_remote_secret(o, secret, 16));
  CHECK_STATUS(tc_options_set_remote_timeout(o, 0), TC_INVALID_ARGUMENT);
  CHECK_OK(tc_options_set_remote_timeout(o, 50));
  CHECK_NULL_ARG(tc_options_set_remote_timeout(NULL, 50), "tc_options_set_remote_timeout", "opts");
  tc_options_free(o);
}

static void test_open_close_null_arguments(void) {
  CHECK_NULL_ARG(tc_cache_open(NULL, NULL), "tc_cache_open", "out");
  tc_cache_close(NULL); /* no-op */
  /* opts NULL is allowed: a memory-only cache with default sizes. */
  tc_cache *c = NULL;
  CHECK_OK(tc_cache_open(NULL, &c));
  CHECK(c != NULL);
  tc_stats st = tu_stats(c);
  tc_cache_close(c);
  CHECK(st.l2_state == 0);
}

/* Every pointer of every data function, one at a time, on a live cache. */
static void test_data_null_arguments(void) {
  tc_cache *c = tu_open(NULL, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK_OK(tc_put(c, K, 1, V, 1, 0));

  CHECK_NULL_ARG(tc_put(NULL, K, 1, V, 1, 0), "tc_put", "cache");
  CHECK_NULL_ARG(tc_put(c, NULL, 1, V, 1, 0), "tc_put", "key");
  CHECK_NULL_ARG(tc_put(c, K, 1, NULL, 1, 0), "tc_put", "value");
  /* An empty value is still passed as a non-NULL pointer. */
  CHECK_NULL_ARG(tc_put(c, K, 1, NULL, 0, 0), "tc_put", "value");

  /* Outputs are written only on success: a sentinel must survive. */
  uint8_t sentinel_byte = 0;
  tc_bytes out = {&sentinel_byte, 12345};
  CHECK_NULL_ARG(tc_get(NULL, K, 1, &out), "tc_get", "cache");
  CHECK_NULL_ARG(tc_get(c, NULL, 1, &out), "tc_get", "key");
  CHECK(out.data == &sentinel_byte && out.len == 12345);
  CHECK_NULL_ARG(tc_get(c, K, 1, NULL), "tc_get", "out");

  tc_bytes_free(NULL);
  tc_bytes nothing = {NULL, 0};
  tc_bytes_free(&nothing);
  CHECK(nothing.data == NULL && nothing.len == 0);

  uint8_t buf[8];
  size_t len = 777;
  CHECK_NULL_ARG(tc_get_into(NULL, K, 1, buf, sizeof buf, &len), "tc_get_into", "cache");
  CHECK_NULL_ARG(tc_get_into(c, NULL, 1, buf, sizeof buf, &len), "tc_get_into", "key");
  CHECK_NULL_ARG(tc_get_into(c, K, 1, NULL, sizeof buf, &len), "tc_get_into", "buf");
  CHECK_NULL_ARG(tc_get_into(c, K, 1, buf, sizeof buf, NULL), "tc_get_into", "value_len");
  CHECK(len == 777);

  bool present = true;
  CHECK_NULL_ARG(tc_contains(NULL, K, 1, &present), "tc_contains", "cache");
  CHECK_NULL_ARG(tc_contains(c, NULL, 1, &present), "tc_contains", "key");
  CHECK_NULL_ARG(tc_contains(c, K, 1, NULL), "tc_contains", "present");

  CHECK_NULL_ARG(tc_remove(NULL, K, 1), "tc_remove", "cache");
  CHECK_NULL_ARG(tc_remove(c, NULL, 1), "tc_remove", "key");

  uint64_t removed = 99;
  CHECK_NULL_ARG(tc_remove_prefix(NULL, K, 1, &removed), "tc_remove_prefix", "cache");
  CHECK_NULL_ARG(tc_remove_prefix(c, NULL, 0, &removed), "tc_remove_prefix", "prefix");
  CHECK_NULL_ARG(tc_remove_prefix(c, K, 1, NULL), "tc_remove_prefix", "removed");
  CHECK(removed == 99);

  CHECK_NULL_ARG(tc_clear(NULL, false), "tc_clear", "cache");
  CHECK_NULL_ARG(tc_clear(NULL, true), "tc_clear", "cache");
  CHECK_NULL_ARG(tc_flush(NULL), "tc_flush", "cache");
  CHECK_NULL_ARG(tc_purge_expired(NULL, &removed), "tc_purge_expired", "cache");
  CHECK_NULL_ARG(tc_purge_expired(c, NULL), "tc_purge_expired", "removed");

  tc_stats st;
  CHECK_NULL_ARG(tc_stats_get(NULL, &st), "tc_stats_get", "cache");
  CHECK_NULL_ARG(tc_stats_get(c, NULL), "tc_stats_get", "out");

  CHECK_NULL_ARG(tc_sink_put(NULL, V, 1, 0), "tc_sink_put", "sink");
  CHECK_NULL_ARG(tc_cache_set_loader(NULL, NULL, NULL, NULL), "tc_cache_set_loader", "cache");

  /* None of the rejected calls changed the cache. */
  CHECK(tu_value_is(c, "k", "v"));
  tc_cache_close(c);
}

/* tc_sink_put's value pointer can only be tested from inside a loader. */
static tc_status null_value_loader(void *ud, const uint8_t *key, size_t key_len, tc_sink *sink) {
  (void)key;
  (void)key_len;
  int *result = ud;
  tc_status s = tc_sink_put(sink, NULL, 1, 0);
  const char *e = tc_last_error();
  *result = s == TC_INVALID_ARGUMENT && strstr(e, "tc_sink_put") != NULL && strstr(e, "value") != NULL;
  return TC_NOT_FOUND;
}

static void test_sink_null_value(void) {
  tc_cache *c = tu_open(NULL, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  int result = -1;
  CHECK_OK(tc_cache_set_loader(c, null_value_loader, &result, NULL));
  CHECK_STATUS(tu_get(c, "x", NULL), TC_NOT_FOUND);
  tc_cache_close(c);
  CHECK(result == 1);
}

static void test_key_length_limits(void) {
  tc_cache *c = tu_open(NULL, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  uint8_t *big = malloc(65537);
  CHECK(big != NULL);
  memset(big, 'a', 65537);
  tc_bytes out = {NULL, 0};
  bool present;
  uint8_t buf[4];
  size_t len;

  /* Empty key: invalid everywhere a key is taken. */
  CHECK_STATUS(tc_put(c, K, 0, V, 1, 0), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_get(c, K, 0, &out), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_get_into(c, K, 0, buf, sizeof buf, &len), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_contains(c, K, 0, &present), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_remove(c, K, 0), TC_INVALID_ARGUMENT);
  CHECK(strlen(tc_last_error()) > 0);

  /* 65537 bytes: too large everywhere a key is taken. */
  CHECK_STATUS(tc_put(c, big, 65537, V, 1, 0), TC_TOO_LARGE);
  CHECK(strstr(tc_last_error(), "key") != NULL);
  CHECK_STATUS(tc_get(c, big, 65537, &out), TC_TOO_LARGE);
  CHECK_STATUS(tc_get_into(c, big, 65537, buf, sizeof buf, &len), TC_TOO_LARGE);
  CHECK_STATUS(tc_contains(c, big, 65537, &present), TC_TOO_LARGE);
  CHECK_STATUS(tc_remove(c, big, 65537), TC_TOO_LARGE);

  /* 65536 bytes: the largest key, stored and found. */
  CHECK_OK(tc_put(c, big, 65536, V, 1, 0));
  CHECK_OK(tc_get(c, big, 65536, &out));
  CHECK(out.len == 1 && out.data[0] == 'v');
  tc_bytes_free(&out);
  CHECK(out.data == NULL && out.len == 0);
  /* The 65535-byte prefix of it is a different key. */
  CHECK_STATUS(tc_get(c, big, 65535, &out), TC_NOT_FOUND);
  CHECK_OK(tc_remove(c, big, 65536));
  free(big);
  tc_cache_close(c);
}

static void test_value_limit(void) {
  tc_options *o = tc_options_new();
  CHECK(o != NULL);
  CHECK_STATUS(tc_options_set_max_value_size(o, 0), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_options_set_max_value_size(o, (1ull << 30) + 1), TC_INVALID_ARGUMENT);
  CHECK_OK(tc_options_set_max_value_size(o, 100));
  const char *dir = tu_mkdtemp();
  CHECK_OK(tc_options_set_dir(o, dir));
  tc_cache *c = NULL;
  CHECK_OK(tc_cache_open(o, &c));
  tc_options_free(o);

  uint8_t val[101];
  memset(val, 'x', sizeof val);
  CHECK_OK(tc_put(c, K, 1, val, 100, 0));
  CHECK_STATUS(tc_put(c, K, 1, val, 101, 0), TC_TOO_LARGE);
  CHECK(strstr(tc_last_error(), "value") != NULL);
  /* The refused put changed nothing: the 100-byte value is still there. */
  size_t len = 0;
  uint8_t buf[128];
  CHECK_OK(tc_get_into(c, K, 1, buf, sizeof buf, &len));
  CHECK(len == 100);
  tc_cache_close(c);
}

static void test_bad_enum_values(void) {
  tc_options *o = tc_options_new();
  CHECK(o != NULL);
  /* C lets a caller pass any int as an enum; the library must not trust it. */
  CHECK_STATUS(tc_options_set_write_policy(o, (tc_write_policy)7), TC_INVALID_ARGUMENT);
  CHECK(strstr(tc_last_error(), "policy") != NULL);
  CHECK_STATUS(tc_options_set_write_policy(o, (tc_write_policy)-1), TC_INVALID_ARGUMENT);
  CHECK_STATUS(tc_options_set_sync_policy(o, (tc_sync_policy)7, 10), TC_INVALID_ARGUMENT);
  CHECK(strstr(tc_last_error(), "policy") != NULL);
  CHECK_STATUS(tc_options_set_sync_policy(o, (tc_sync_policy)4, 10), TC_INVALID_ARGUMENT);
  /* TC_SYNC_INTERVAL needs an interval of at least 1 ms. */
  CHECK_STATUS(tc_options_set_sync_policy(o, TC_SYNC_INTERVAL, 0), TC_INVALID_ARGUMENT);
  /* The valid values are accepted. */
  CHECK_OK(tc_options_set_write_policy(o, TC_WRITE_THROUGH));
  CHECK_OK(tc_options_set_write_policy(o, TC_WRITE_BACK));
  CHECK_OK(tc_options_set_sync_policy(o, TC_SYNC_NEVER, 0));
  CHECK_OK(tc_options_set_sync_policy(o, TC_SYNC_ON_FLUSH, 0));
  CHECK_OK(tc_options_set_sync_policy(o, TC_SYNC_ALWAYS, 0));
  CHECK_OK(tc_options_set_sync_policy(o, TC_SYNC_INTERVAL, 5));
  tc_options_free(o);
}

static void test_get_into_buffer(void) {
  tc_cache *c = tu_open(NULL, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK_OK(tu_put(c, "k", "hello", 0));
  uint8_t buf[16];
  size_t len = 0;

  /* Exactly the size of the value. */
  memset(buf, '#', sizeof buf);
  CHECK_OK(tc_get_into(c, K, 1, buf, 5, &len));
  CHECK(len == 5 && memcmp(buf, "hello", 5) == 0);
  CHECK(buf[5] == '#'); /* nothing written past the value */

  /* One byte short: the size needed comes back, the buffer is untouched. */
  memset(buf, '#', sizeof buf);
  len = 0;
  CHECK_STATUS(tc_get_into(c, K, 1, buf, 4, &len), TC_BUFFER_TOO_SMALL);
  CHECK(len == 5);
  CHECK(buf[0] == '#');

  /* Capacity 0 with a real pointer: too small, not invalid. */
  len = 0;
  CHECK_STATUS(tc_get_into(c, K, 1, buf, 0, &len), TC_BUFFER_TOO_SMALL);
  CHECK(len == 5);

  /* An empty value fits a buffer of capacity 0. */
  CHECK_OK(tc_put(c, (const uint8_t *)"e", 1, V, 0, 0));
  len = 99;
  CHECK_OK(tc_get_into(c, (const uint8_t *)"e", 1, buf, 0, &len));
  CHECK(len == 0);

  /* Missing key: not found, value_len untouched. */
  len = 42;
  CHECK_STATUS(tc_get_into(c, (const uint8_t *)"nope", 4, buf, sizeof buf, &len), TC_NOT_FOUND);
  CHECK(len == 42);
  tc_cache_close(c);
}

static void test_empty_value_bytes(void) {
  tc_cache *c = tu_open(NULL, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK_OK(tc_put(c, K, 1, V, 0, 0));
  tc_bytes out = {(uint8_t *)V, 99};
  CHECK_OK(tc_get(c, K, 1, &out));
  /* The header promises data == NULL when len == 0. */
  CHECK(out.len == 0 && out.data == NULL);
  tc_bytes_free(&out);
  tc_cache_close(c);
}

static void test_status_strings(void) {
  const char *seen[11];
  for (int s = 0; s <= 10; s++) {
    const char *str = tc_status_str((tc_status)s);
    CHECK(str != NULL && strlen(str) > 0);
    CHECK(strcmp(str, "unknown status") != 0);
    for (int t = 0; t < s; t++) CHECK(strcmp(seen[t], str) != 0);
    seen[s] = str;
  }
  CHECK(strcmp(tc_status_str(TC_CLOSED), "TC_CLOSED") == 0);
  CHECK(strcmp(tc_status_str((tc_status)11), "unknown status") == 0);
  CHECK(strcmp(tc_status_str((tc_status)12345), "unknown status") == 0);
  CHECK(strcmp(tc_status_str((tc_status)-1), "unknown status") == 0);
}

static void test_version(void) {
  const char *v = tc_version();
  CHECK(v != NULL && strlen(v) > 0);
  unsigned major, minor, patch;
  CHECK(sscanf(v, "%u.%u.%u", &major, &minor, &patch) == 3);
}

/* tc_last_error() is per thread: a new thread starts with "", and its own
   failure does not overwrite the main thread's message. */
static void *fresh_thread(void *arg) {
  int *ok = arg;
  bool started_empty = strcmp(tc_last_error(), "") == 0;
  tc_status s = tc_flush(NULL);
  *ok = started_empty && s == TC_INVALID_ARGUMENT && strstr(tc_last_error(), "tc_flush") != NULL;
  return NULL;
}

static void test_last_error_is_per_thread(void) {
  CHECK_STATUS(tc_remove(NULL, K, 1), TC_INVALID_ARGUMENT);
  char mine[256];
  snprintf(mine, sizeof mine, "%s", tc_last_error());
  CHECK(strstr(mine, "tc_remove") != NULL);
  int ok = 0;
  pthread_t t;
  CHECK(pthread_create(&t, NULL, fresh_thread, &ok) == 0);
  pthread_join(t, NULL);
  CHECK(ok == 1);
  CHECK(strcmp(tc_last_error(), mine) == 0);
}

int main(void) {
  RUN(test_options_null_arguments);
  RUN(test_remote_options);
  RUN(test_open_close_null_arguments);
  RUN(test_data_null_arguments);
  RUN(test_sink_null_value);
  RUN(test_key_length_limits);
  RUN(test_value_limit);
  RUN(test_bad_enum_values);
  RUN(test_get_into_buffer);
  RUN(test_empty_value_bytes);
  RUN(test_status_strings);
  RUN(test_version);
  RUN(test_last_error_is_per_thread);
  return tu_summary();
}
