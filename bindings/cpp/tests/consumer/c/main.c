/* main.c: a C program against an installed tiercache.h, built through
   pkg-config (and through CMake's tiercache::shared); exits 0 only if a put
   is read back. */
#include <tiercache.h>

#include <stdio.h>
#include <string.h>

int main(void) {
  tc_cache *cache = NULL;
  tc_bytes out = {NULL, 0};
  int ok;
  if (tc_cache_open(NULL, &cache) != TC_OK) return 1;
  if (tc_put(cache, (const uint8_t *)"k", 1, (const uint8_t *)"v", 1, 0) != TC_OK) return 1;
  if (tc_get(cache, (const uint8_t *)"k", 1, &out) != TC_OK) return 1;
  ok = out.len == 1 && memcmp(out.data, "v", 1) == 0;
  tc_bytes_free(&out);
  tc_cache_close(cache);
  printf("C consumer %s, tiercache %s\n", ok ? "ok" : "FAILED", tc_version());
  return ok ? 0 : 1;
}
