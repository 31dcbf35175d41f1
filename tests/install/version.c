/* version.c: built against an installed tiercache (tests/install/test.sh):
   the header's TIERCACHE_VERSION_* macros and the library's tc_version()
   must agree, and a put must be read back. */
#include <tiercache.h>

#include <stdio.h>
#include <string.h>

int main(void) {
  char want[64];
  snprintf(want, sizeof want, "%d.%d.%d", TIERCACHE_VERSION_MAJOR, TIERCACHE_VERSION_MINOR,
           TIERCACHE_VERSION_PATCH);
  const char *have = tc_version();
  if (strcmp(have, TIERCACHE_VERSION_STRING) != 0 || strncmp(have, want, strlen(want)) != 0) {
    fprintf(stderr, "tc_version() is %s, the header says %s (%s)\n", have, TIERCACHE_VERSION_STRING,
            want);
    return 1;
  }
  tc_cache *cache = NULL;
  tc_bytes out = {NULL, 0};
  if (tc_cache_open(NULL, &cache) != TC_OK) return 1;
  if (tc_put(cache, (const uint8_t *)"k", 1, (const uint8_t *)"v", 1, 0) != TC_OK) return 1;
  if (tc_get(cache, (const uint8_t *)"k", 1, &out) != TC_OK) return 1;
  int ok = out.len == 1 && memcmp(out.data, "v", 1) == 0;
  tc_bytes_free(&out);
  tc_cache_close(cache);
  if (!ok) return 1;
  printf("tiercache %s (header %s)\n", have, want);
  return 0;
}
