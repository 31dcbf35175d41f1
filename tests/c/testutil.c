/*
 * testutil.c: the shared harness (see testutil.h): failure reporting, the
 * test-case counter, temporary directories and small cache helpers.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int tu_current_failed;
static int passed, failed;

void tu_fail(const char *file, int line, const char *what) {
  fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
  tu_current_failed = 1;
}

void tu_fail_status(const char *file, int line, const char *call, tc_status got, tc_status want) {
  fprintf(stderr, "%s:%d: %s\n    returned %s (%d), expected %s (%d); tc_last_error: \"%s\"\n", file, line, call,
          tc_status_str(got), (int)got, tc_status_str(want), (int)want, tc_last_error());
  tu_current_failed = 1;
}

void tu_run(const char *name, void (*fn)(void)) {
  tu_current_failed = 0;
  fn();
  /* Directories are per test: a failed test must not leave them behind. */
  tu_rmdir_all();
  if (tu_current_failed) {
    failed++;
    printf("FAIL %s\n", name);
  } else {
    passed++;
    printf("ok   %s\n", name);
  }
  fflush(stdout);
}

int tu_summary(void) {
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}

/* ---- temporary directories ---- */

#define TU_MAX_DIRS 16
static char dirs[TU_MAX_DIRS][4096];
static int ndirs;

const char *tu_mkdtemp(void) {
  if (ndirs == TU_MAX_DIRS) {
    fprintf(stderr, "tu_mkdtemp: more than %d directories in one test\n", TU_MAX_DIRS);
    abort();
  }
  const char *base = getenv("TMPDIR");
  if (base == NULL || *base == '\0') base = "/tmp";
  char *d = dirs[ndirs];
  snprintf(d, sizeof dirs[0], "%s/tiercache-c-XXXXXX", base);
  if (mkdtemp(d) == NULL) {
    perror("mkdtemp");
    abort();
  }
  ndirs++;
  return d;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int tu_rm_rf(const char *path) {
  /* FTW_DEPTH: children before their directory; FTW_PHYS: never follow links. */
  int rc = nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  return rc != 0 && errno == ENOENT ? 0 : rc;
}

void tu_rmdir_all(void) {
  for (int i = 0; i < ndirs; i++) {
    if (tu_rm_rf(dirs[i]) != 0) fprintf(stderr, "warning: could not remove %s\n", dirs[i]);
  }
  ndirs = 0;
}

/* ---- cache helpers ---- */

tc_cache *tu_open(const char *dir, uint64_t l1_entries, tc_write_policy wp) {
  tc_options *o = tc_options_new();
  tc_cache *c = NULL;
  tc_status s = TC_OK;
  if (o == NULL) return NULL;
  if (dir != NULL) s = tc_options_set_dir(o, dir);
  /* Keep the default byte bound (64 MiB) when only entries are bounded. */
  if (s == TC_OK && l1_entries != 0) s = tc_options_set_l1_capacity(o, l1_entries, 64u << 20);
  if (s == TC_OK) s = tc_options_set_write_policy(o, wp);
  if (s == TC_OK) s = tc_cache_open(o, &c);
  tc_options_free(o);
  if (s != TC_OK) {
    fprintf(stderr, "tu_open(%s): %s: %s\n", dir ? dir : "(memory)", tc_status_str(s), tc_last_error());
    return NULL;
  }
  return c;
}

tc_status tu_put(tc_cache *c, const char *key, const char *value, uint64_t ttl_ms) {
  return tc_put(c, (const uint8_t *)key, strlen(key), (const uint8_t *)value, strlen(value), ttl_ms);
}

tc_status tu_get(tc_cache *c, const char *key, char **out) {
  tc_bytes b = {NULL, 0};
  tc_status s = tc_get(c, (const uint8_t *)key, strlen(key), &b);
  if (s == TC_OK && out != NULL) {
    *out = malloc(b.len + 1);
    if (b.len) memcpy(*out, b.data, b.len);
    (*out)[b.len] = '\0';
  }
  tc_bytes_free(&b);
  return s;
}

bool tu_value_is(tc_cache *c, const char *key, const char *want) {
  tc_bytes b = {NULL, 0};
  tc_status s = tc_get(c, (const uint8_t *)key, strlen(key), &b);
  bool ok = s == TC_OK && b.len == strlen(want) && (b.len == 0 || memcmp(b.data, want, b.len) == 0);
  if (!ok) {
    if (s != TC_OK)
      fprintf(stderr, "    get \"%s\": %s (%s), wanted \"%s\"\n", key, tc_status_str(s), tc_last_error(), want);
    else
      fprintf(stderr, "    get \"%s\": got \"%.*s\" (%zu bytes), wanted \"%s\"\n", key, (int)b.len,
              b.data ? (const char *)b.data : "", b.len, want);
  }
  tc_bytes_free(&b);
  return ok;
}

bool tu_contains(tc_cache *c, const char *key) {
  bool present = false;
  tc_status s = tc_contains(c, (const uint8_t *)key, strlen(key), &present);
  if (s != TC_OK) fprintf(stderr, "    contains \"%s\": %s\n", key, tc_status_str(s));
  return s == TC_OK && present;
}

tc_stats tu_stats(tc_cache *c) {
  tc_stats st;
  memset(&st, 0xff, sizeof st); /* garbage if tc_stats_get fails, never zeros */
  tc_status s = tc_stats_get(c, &st);
  if (s != TC_OK) fprintf(stderr, "    tc_stats_get: %s\n", tc_status_str(s));
  return st;
}

void tu_sleep_ms(unsigned ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

uint64_t tu_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
