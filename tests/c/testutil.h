/*
 * testutil.h: the small harness every C test program here shares.
 *
 * - CHECK(cond): on failure prints file:line and the condition, marks the
 *   running test case failed and returns from the test function (so a test
 *   function is `static void test_x(void)`).
 * - CHECK_STATUS(call, want): the same for a tc_status, printing both names
 *   and tc_last_error() so a failure explains itself.
 * - RUN(test_x): runs one test case and counts it.
 * - tu_summary(): prints the final "N passed, M failed" line and gives the
 *   exit code (0 only if nothing failed).
 * - Temporary directories (mkdtemp under $TMPDIR or /tmp), removed
 *   recursively at the end of the test that made them.
 *
 * Threads that are not the test's own thread must not use CHECK (it returns
 * from the wrong function); they count problems in an atomic and the test
 * CHECKs that count after joining them.
 */
#ifndef TIERCACHE_TESTUTIL_H
#define TIERCACHE_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tiercache.h"

/* Set by a failing CHECK; read and reset by RUN. */
extern int tu_current_failed;

void tu_fail(const char *file, int line, const char *what);
void tu_fail_status(const char *file, int line, const char *call, tc_status got, tc_status want);
void tu_run(const char *name, void (*fn)(void));
int tu_summary(void);

#define CHECK(cond)                                   \
  do {                                                \
    if (!(cond)) {                                    \
      tu_fail(__FILE__, __LINE__, #cond);             \
      return;                                         \
    }                                                 \
  } while (0)

#define CHECK_STATUS(call, want)                                \
  do {                                                          \
    tc_status tu_got_ = (call);                                 \
    if (tu_got_ != (want)) {                                    \
      tu_fail_status(__FILE__, __LINE__, #call, tu_got_, want); \
      return;                                                   \
    }                                                           \
  } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, TC_OK)

#define RUN(fn) tu_run(#fn, fn)

/* A new empty directory under $TMPDIR (or /tmp); the path is static storage
   of the harness, valid until tu_rmdir_all. At most a few at once. */
const char *tu_mkdtemp(void);
/* Removes every directory tu_mkdtemp made (and everything in them). */
void tu_rmdir_all(void);
/* rm -rf of one path; returns 0 on success. */
int tu_rm_rf(const char *path);

/* Opens a cache on `dir` (NULL: memory only) with L1 bounded at
   `l1_entries` entries (0: default), write policy `wp`. Returns NULL and
   reports the failure if the open fails. */
tc_cache *tu_open(const char *dir, uint64_t l1_entries, tc_write_policy wp);

/* Byte-string helpers over NUL-terminated text keys and values. */
tc_status tu_put(tc_cache *c, const char *key, const char *value, uint64_t ttl_ms);
/* tc_get of `key`; on TC_OK and `out` not NULL, *out is a malloc'd
   NUL-terminated copy of the value (the caller frees it). */
tc_status tu_get(tc_cache *c, const char *key, char **out);
/* Whether `key` gets TC_OK with exactly the value `want`; prints what it
   got instead when not. */
bool tu_value_is(tc_cache *c, const char *key, const char *want);
bool tu_contains(tc_cache *c, const char *key);
tc_stats tu_stats(tc_cache *c);

void tu_sleep_ms(unsigned ms);
uint64_t tu_now_ms(void);

#endif
