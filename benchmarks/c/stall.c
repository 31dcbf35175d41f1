/* stall.c: how long the longest puts take under the default options (sync
 * on flush, write-through, the default bounds), and how much of the puts'
 * time they take: puts of random new keys, each timed, counting those over
 * 1 ms and 10 ms. Where they waited (BENCHMARKS.md, History, "Session
 * 40" and "Session 41"): a put that fills a segment fsyncs it under the
 * log's lock (src/log/ahead.rs), the copy of a growing index's table holds
 * the lock for reading (`Table::populate`), a checkpoint's merge ends with
 * an msync of the table under the lock (`Index::merge_some`), a grown
 * table's install, the index overlay's doublings (now incremental), an L1
 * shard's doubling, and compaction's holds. benchmarks/report.sh runs it.
 * Nothing here asserts on time.
 *
 *   cc -O2 -Wall -Wextra -Iinclude -Ibenchmarks/c benchmarks/c/stall.c -Ltarget/release -ltiercache -o /tmp/stall
 *   ln -sf libtiercache.so target/release/libtiercache.so.0
 *   LD_LIBRARY_PATH=target/release /tmp/stall 100 3000000
 *   LD_LIBRARY_PATH=target/release /tmp/stall 16384 60000
 *
 * Arguments: value bytes, puts, and optionally a tc_sync_policy number (0
 * never, 1 on flush, 2 always, 3 every second). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tiercache.h"
#include "bench.h"
int main(int argc, char **argv) {
  size_t len = strtoul(argv[1], NULL, 10); uint64_t n = strtoull(argv[2], NULL, 10);
  char dir[] = "/tmp/tiercache-stall-XXXXXX"; if (!mkdtemp(dir)) return 1;
  tc_options *o = tc_options_new(); ok(tc_options_set_dir(o, dir), "dir");
  if (argc > 3) ok(tc_options_set_sync_policy(o, (tc_sync_policy)atoi(argv[3]), 1000), "sync");
  tc_cache *c; ok(tc_cache_open(o, &c), "open"); tc_options_free(o);
  uint8_t *v = malloc(len); for (size_t i = 0; i < len; i++) v[i] = (uint8_t)next();
  char key[32]; unsigned long long over1 = 0, over10 = 0; double mx = 0, sum = 0, sum_over = 0;
  double t0 = now_ns();
  for (uint64_t i = 0; i < n; i++) {
    int kl = snprintf(key, sizeof key, "k:%012llu", (unsigned long long)(next() % 1000000000000ull));
    double a = now_ns(); ok(tc_put(c, (uint8_t *)key, kl, v, len, 0), "put"); double d = now_ns() - a;
    sum += d; if (d > 1e6) { over1++; sum_over += d; } if (d > 1e7) over10++; if (d > mx) mx = d;
  }
  printf("%zu B x %llu: %.0f ns/put (%.1f s), puts over 1 ms %llu (%.1f%% of the time), over 10 ms %llu, max %.1f ms\n", len, (unsigned long long)n, sum / n, (now_ns() - t0) / 1e9, over1, 100 * sum_over / sum, over10, mx / 1e6);
  tc_cache_close(c); char cmd[64]; snprintf(cmd, sizeof cmd, "rm -rf %s", dir); return system(cmd);
}
