/* put.c: tc_put as shared-lib's put table configures it (L1 bounded at
 * 64 MiB, sync never, the default L2 bound), with what a put costs beyond
 * its time: the put thread's CPU time, context switches and minor faults
 * per put, bytes written (the process's wchar: puts, compaction and
 * retirement) per byte put, and the latency distribution. Random keys over
 * KEYS, after a fill of every key; OPS timed puts. Nothing here asserts on
 * time.
 *
 *   cc -O2 -Wall -Wextra -Iinclude -Ibenchmarks/c benchmarks/c/put.c -Ltarget/release -ltiercache -o /tmp/put
 *   ln -sf libtiercache.so target/release/libtiercache.so.0
 *   LD_LIBRARY_PATH=target/release /tmp/put 16384 50000 100000
 *   LD_LIBRARY_PATH=target/release valgrind --tool=callgrind /tmp/put 16384 50000 20000
 *
 * Arguments: value bytes, keys, operations, and optionally "wb" (write-back).
 * L2CAP=bytes in the environment sets the L2 bound (0: none). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define _GNU_SOURCE
#include <sys/resource.h>
#include "tiercache.h"
#include "bench.h"
static unsigned long long wchar(void) {
  FILE *f = fopen("/proc/self/io", "r"); char l[128]; unsigned long long v = 0;
  while (fgets(l, sizeof l, f)) if (sscanf(l, "wchar: %llu", &v) == 1) break;
  fclose(f); return v;
}
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }
static unsigned long long over(double *l, uint64_t n, double t) { unsigned long long c = 0; for (uint64_t i = 0; i < n; i++) c += l[i] > t; return c; }
int main(int argc, char **argv) {
  size_t len = strtoul(argv[1], NULL, 10);
  uint64_t keys = strtoull(argv[2], NULL, 10), ops = strtoull(argv[3], NULL, 10);
  int wb = argc > 4 && strcmp(argv[4], "wb") == 0;
  char dir[] = "/tmp/tiercache-put-XXXXXX";
  if (mkdtemp(dir) == NULL) return 1;
  tc_options *o = put_table_options(dir);
  if (wb) ok(tc_options_set_write_policy(o, TC_WRITE_BACK), "wb");
  if (getenv("L2CAP")) ok(tc_options_set_l2_capacity(o, strtoull(getenv("L2CAP"), NULL, 10)), "l2cap");
  tc_cache *c;
  ok(tc_cache_open(o, &c), "open");
  tc_options_free(o);
  uint8_t *v = malloc(len + 1);
  for (size_t i = 0; i < len; i++) v[i] = (uint8_t)next();
  char key[32];
  for (uint64_t i = 0; i < keys; i++) {
    int n = snprintf(key, sizeof key, "bench:key:%010llu", (unsigned long long)i);
    ok(tc_put(c, (uint8_t *)key, (size_t)n, v, len, 0), "put");
  }
  uint64_t *order = malloc(ops * sizeof *order);
  for (uint64_t i = 0; i < ops; i++) order[i] = next() % keys;
  double *lat = malloc(ops * sizeof *lat);
  struct rusage r0, r1;
  getrusage(RUSAGE_THREAD, &r0);
  unsigned long long w0 = wchar();
  double t0 = now_ns();
  for (uint64_t i = 0; i < ops; i++) {
    int n = snprintf(key, sizeof key, "bench:key:%010llu", (unsigned long long)order[i]);
    double a = now_ns();
    ok(tc_put(c, (uint8_t *)key, (size_t)n, v, len, 0), "put");
    lat[i] = now_ns() - a;
  }
  printf("put %zu B, %llu keys, %llu ops: %.1f ns/op\n", len, (unsigned long long)keys,
         (unsigned long long)ops, (now_ns() - t0) / (double)ops);
  getrusage(RUSAGE_THREAD, &r1);
  double cpu = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec + r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) * 1e9 + (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec + r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) * 1e3;
  printf("put thread: cpu %.1f ns/op, voluntary switches %.4f/op, involuntary %.4f/op, minor faults %.3f/op\n", cpu / ops, (double)(r1.ru_nvcsw - r0.ru_nvcsw) / ops, (double)(r1.ru_nivcsw - r0.ru_nivcsw) / ops, (double)(r1.ru_minflt - r0.ru_minflt) / ops);
  printf("bytes written per byte put: %.3f\n", (double)(wchar() - w0) / ((double)ops * (double)len));
  qsort(lat, ops, sizeof *lat, cmp);
  printf("latency ns: p50 %.0f p99 %.0f p99.9 %.0f p99.99 %.0f max %.0f; puts over 1 ms: %llu\n", lat[ops/2], lat[ops*99/100], lat[ops*999/1000], lat[ops*9999/10000], lat[ops-1], over(lat, ops, 1e6));
  tc_stats s;
  ok(tc_stats_get(c, &s), "stats");
  printf("compactions %llu l2_file_bytes %llu l2_bytes %llu l1_evictions %llu l2_evictions %llu\n",
         (unsigned long long)s.compactions, (unsigned long long)s.l2_file_bytes,
         (unsigned long long)s.l2_bytes, (unsigned long long)s.l1_evictions,
         (unsigned long long)s.l2_evictions);
  tc_cache_close(c);
  char cmd[64];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd);
}
