/*
 * test_get_word.c: tc_get_into_word, tc_get_into with its answer in the
 * return word (src/ffi/fast.rs).
 *
 * Covers: a hit returns the length and fills the buffer, nothing past it;
 * an empty value; a miss is -TC_NOT_FOUND; a buffer one byte short packs
 * TC_BUFFER_TOO_SMALL with the length needed and leaves the buffer alone;
 * a value of 1 MiB packs its length whole; NULL target, cache, key and
 * buffer, an empty and an over-long key, and a closed handle give the same
 * statuses and tc_last_error() messages as tc_get_into; the answer agrees
 * with tc_get_into on every case.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static const uint8_t K[] = "k";

static tc_status status_of(int64_t word) { return word >= 0 ? TC_OK : (tc_status)((-word) & 255); }
static int64_t needed_of(int64_t word) { return (-word) >> 8; }

static void test_hit_miss_and_small_buffer(void) {
  tc_cache *c = tu_open(NULL, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  CHECK_OK(tu_put(c, "k", "hello", 0));
  uint8_t buf[16];
  memset(buf, '#', sizeof buf);
  tc_get_target t = {c, buf, 5};
  CHECK(tc_get_into_word(&t, K, 1) == 5);
  CHECK(memcmp(buf, "hello", 5) == 0 && buf[5] == '#');

  /* One byte short: status and length needed in the word, buffer untouched. */
  memset(buf, '#', sizeof buf);
  t.buf_cap = 4;
  int64_t w = tc_get_into_word(&t, K, 1);
  CHECK(w < 0 && status_of(w) == TC_BUFFER_TOO_SMALL && needed_of(w) == 5);
  CHECK(buf[0] == '#');
  t.buf_cap = 0;
  w = tc_get_into_word(&t, K, 1);
  CHECK(status_of(w) == TC_BUFFER_TOO_SMALL && needed_of(w) == 5);

  /* An empty value fits a capacity of 0: length 0, which is TC_OK. */
  CHECK_OK(tc_put(c, (const uint8_t *)"e", 1, buf, 0, 0));
  CHECK(tc_get_into_word(&t, (const uint8_t *)"e", 1) == 0);

  /* A miss is -TC_NOT_FOUND, with tc_get_into's message. */
  t.buf_cap = sizeof buf;
  CHECK(tc_get_into_word(&t, (const uint8_t *)"nope", 4) == -(int64_t)TC_NOT_FOUND);
  CHECK(strstr(tc_last_error(), "tc_get_into") != NULL);
  tc_cache_close(c);
}

static void test_large_length_is_whole(void) {
  tc_cache *c = tu_open(NULL, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  size_t n = 1u << 20;
  uint8_t *v = malloc(n);
  CHECK(v != NULL);
  memset(v, 7, n);
  CHECK_OK(tc_put(c, K, 1, v, n, 0));
  uint8_t small[8];
  tc_get_target t = {c, small, sizeof small};
  int64_t w = tc_get_into_word(&t, K, 1);
  CHECK(status_of(w) == TC_BUFFER_TOO_SMALL && needed_of(w) == (int64_t)n);
  uint8_t *big = malloc(n);
  CHECK(big != NULL);
  t.buf = big;
  t.buf_cap = n;
  CHECK(tc_get_into_word(&t, K, 1) == (int64_t)n);
  CHECK(memcmp(big, v, n) == 0);
  free(big);
  free(v);
  tc_cache_close(c);
}

/* Every bad argument: the status tc_get_into gives, and a message. */
static void test_bad_arguments_as_get_into(void) {
  tc_cache *c = tu_open(NULL, 0, TC_WRITE_THROUGH);
  CHECK(c != NULL);
  uint8_t buf[8];
  size_t len = 0;
  CHECK(tc_get_into_word(NULL, K, 1) == -(int64_t)TC_INVALID_ARGUMENT);
  CHECK(strstr(tc_last_error(), "target") != NULL);

  tc_get_target none = {NULL, buf, sizeof buf};
  CHECK(tc_get_into_word(&none, K, 1) == -(int64_t)tc_get_into(NULL, K, 1, buf, sizeof buf, &len));
  CHECK(strstr(tc_last_error(), "cache") != NULL);

  tc_get_target t = {c, buf, sizeof buf};
  CHECK(tc_get_into_word(&t, NULL, 1) == -(int64_t)TC_INVALID_ARGUMENT);
  CHECK(strstr(tc_last_error(), "key") != NULL);
  CHECK(tc_get_into_word(&t, K, 0) == -(int64_t)TC_INVALID_ARGUMENT);
  static uint8_t long_key[65537];
  CHECK(tc_get_into_word(&t, long_key, sizeof long_key) == -(int64_t)TC_TOO_LARGE);

  tc_get_target nobuf = {c, NULL, 0};
  CHECK(tc_get_into_word(&nobuf, K, 1) == -(int64_t)TC_INVALID_ARGUMENT);
  CHECK(strstr(tc_last_error(), "buf") != NULL);

  CHECK_OK(tc_cache_shutdown(c));
  CHECK(tc_get_into_word(&t, K, 1) == -(int64_t)TC_CLOSED);
  tc_cache_close(c);
}

int main(void) {
  RUN(test_hit_miss_and_small_buffer);
  RUN(test_large_length_is_whole);
  RUN(test_bad_arguments_as_get_into);
  return tu_summary();
}
