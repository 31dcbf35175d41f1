/* rounds.c: tiercache's part of shared-lib's put table (`put-so-*`), alone:
 * no fill, a probe of 1000 puts that sets how many puts make a 0.25 s
 * round, then 7 rounds, each putting the same first K of a random sequence
 * of keys again (as `per_op` does). With OTHER=n, before each round another
 * writer appends n times the round's bytes to a file it never deletes (64
 * KiB writes, as the append floor's buffer), untimed (with CUT=1 it empties
 * the file first); with SYNC=1 every round starts after a sync(2), untimed. Prints each round's ns per put and
 * what the kernel holds dirty. Nothing here asserts on time.
 *
 * What it showed (BENCHMARKS.md, "Session 38"): the other writer's dirty
 * pages, once past ~2 GB, slow tiercache's 16 KiB rounds from ~7.5 to
 * 11-19 µs (background writeback, then the throttling of every writer);
 * with SYNC=1 they stay at 7-8, but for the last round (12-17 µs) once
 * the other file has taken memory the host must fault in; with CUT=1 too,
 * that round is 6.3.
 *
 *   cc -O2 -Wall -Wextra -Werror -Iinclude -Ibenchmarks/c benchmarks/c/rounds.c -Ltarget/release -l:libtiercache.so.0 -o /tmp/rounds
 *   LD_LIBRARY_PATH=target/release /tmp/rounds 16384 50000 50000
 *   OTHER=2 LD_LIBRARY_PATH=target/release /tmp/rounds 16384 50000 50000
 *   OTHER=2 SYNC=1 LD_LIBRARY_PATH=target/release /tmp/rounds 16384 50000 50000
 *
 * Arguments: value bytes, keys, length of the key sequence (at most K). K=n
 * in the environment fixes the round's puts instead of the probe. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tiercache.h"
#include "bench.h"

static unsigned long long vmstat(const char *name) {
  FILE *f = fopen("/proc/vmstat", "r");
  char l[128];
  unsigned long long v = 0;
  size_t n = strlen(name);
  while (f != NULL && fgets(l, sizeof l, f))
    if (strncmp(l, name, n) == 0 && l[n] == ' ') {
      v = strtoull(l + n + 1, NULL, 10);
      break;
    }
  if (f != NULL) fclose(f);
  return v;
}

static void put_keys(tc_cache *c, const uint64_t *order, uint64_t n, const uint8_t *v, size_t len) {
  char key[32];
  for (uint64_t i = 0; i < n; i++) {
    int kn = snprintf(key, sizeof key, "bench:key:%010llu", (unsigned long long)order[i]);
    ok(tc_put(c, (uint8_t *)key, (size_t)kn, v, len, 0), "put");
  }
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s value_bytes keys sequence_length\n", argv[0]);
    return 2;
  }
  size_t len = strtoul(argv[1], NULL, 10);
  uint64_t keys = strtoull(argv[2], NULL, 10), count = strtoull(argv[3], NULL, 10);
  int other = getenv("OTHER") ? atoi(getenv("OTHER")) : 0, settle = getenv("SYNC") != NULL,
      cut = getenv("CUT") != NULL;
  char dir[] = "/tmp/tiercache-rounds-XXXXXX";
  if (mkdtemp(dir) == NULL) return 1;
  tc_options *o = put_table_options(dir);
  tc_cache *c;
  ok(tc_cache_open(o, &c), "open");
  tc_options_free(o);
  uint8_t *v = malloc(len), *chunk = calloc(1, 64 << 10);
  uint64_t *order = malloc(count * sizeof *order);
  if (v == NULL || chunk == NULL || order == NULL || count < 1000) return 1;
  for (size_t i = 0; i < len; i++) v[i] = (uint8_t)next();
  for (uint64_t i = 0; i < count; i++) order[i] = next() % keys;
  char path[64];
  snprintf(path, sizeof path, "%s-other", dir);
  int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
  if (fd < 0) return 1;

  if (settle) sync();
  double t = now_ns();
  put_keys(c, order, 1000, v, len);
  double per = (now_ns() - t) / 1000;
  uint64_t k = getenv("K") ? strtoull(getenv("K"), NULL, 10) : (uint64_t)(0.25e9 / per);
  if (k > count) k = count;
  if (k < 1000) k = 1000;
  printf("probe %.0f ns a put; %llu puts a round\n", per, (unsigned long long)k);
  for (int r = 0; r < 7; r++) {
    uint64_t blocks = k * (len + 40) / (64 << 10) * (uint64_t)other;
    if (cut && (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0)) return 1;
    for (uint64_t b = 0; b < blocks; b++)
      if (write(fd, chunk, 64 << 10) != 64 << 10) return 1;
    if (settle) sync();
    unsigned long long dirty = vmstat("nr_dirty");
    t = now_ns();
    put_keys(c, order, k, v, len);
    double ns = (now_ns() - t) / (double)k;
    tc_stats s;
    ok(tc_stats_get(c, &s), "stats");
    printf("round %d: %.0f ns a put; dirty before it %llu MiB; compactions %llu\n", r, ns,
           dirty * 4096 >> 20, (unsigned long long)s.compactions);
  }
  tc_cache_close(c);
  close(fd);
  unlink(path);
  char cmd[64];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd);
}
