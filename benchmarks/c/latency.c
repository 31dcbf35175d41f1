/* latency.c: how long one load takes on this machine when it depends on the
 * load before it, over working sets of 1 MiB to 256 MiB (a pointer chase
 * through a random cycle of 64-byte lines, 4 KiB pages, no huge pages).
 * Where the figure jumps is how much cache a benchmark's working set
 * really has: lscpu's L3 is shared with the host's other tenants, and the
 * host's CPU changes from day to day (BENCHMARKS.md, "Machine"). A lookup
 * that makes N dependent trips to memory costs about N times the figure
 * for its working set. Nothing here asserts on time.
 *
 *   cc -O2 -Wall -Wextra benchmarks/c/latency.c -o /tmp/latency && /tmp/latency */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

/* A fixed generator, so that every run chases the same cycle. */
static uint64_t state = 88172645463325252ull;
static uint64_t next(void) {
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

int main(void) {
  const size_t mib[] = {1, 2, 4, 8, 16, 32, 64, 256};
  const long loads = 2000000;
  for (size_t s = 0; s < sizeof mib / sizeof mib[0]; s++) {
    size_t lines = (mib[s] << 20) / 64;
    uint64_t *a = aligned_alloc(64, lines * 64);
    size_t *order = malloc(lines * sizeof *order);
    if (!a || !order) {
      perror("alloc");
      return 1;
    }
    for (size_t i = 0; i < lines; i++) order[i] = i;
    for (size_t i = lines - 1; i > 0; i--) {
      size_t j = next() % (i + 1), t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    /* Each line's first word holds the index (in words) of the next line. */
    for (size_t i = 0; i < lines; i++) a[order[i] * 8] = order[(i + 1) % lines] * 8;
    uint64_t p = 0;
    for (long i = 0; i < loads; i++) p = a[p]; /* warm up: the pages exist */
    double t0 = now();
    for (long i = 0; i < loads; i++) p = a[p];
    double t1 = now();
    printf("%4zu MiB: %6.1f ns a load (%llu)\n", mib[s], (t1 - t0) / loads, (unsigned long long)p);
    free(a);
    free(order);
  }
  return 0;
}
