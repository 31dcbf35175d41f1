/* recycle.c: what the kernel charges an append-only log for new pages, and
 * what reusing segment files would give (a format change: BENCHMARKS.md,
 * "3 December, early").
 * Writes 64 KiB at a time (tiercache's append buffer) into 64 MiB segment
 * files, SEGMENTS of them, 8 on disk at once. "new": each segment is a new
 * file and the one 8 back is unlinked (what the log does). "reuse": the file
 * 8 back is renamed and overwritten from offset 0 (its pages are in the page
 * cache, its blocks allocated). "zeroed": each segment is a new file, as in
 * "new", filled with zeros before it is written (untimed: what a background
 * thread could do before the log rolls into it). Prints
 * ns per 16 KiB of records, timed once 8 segments exist. Nothing here
 * asserts on time.
 *
 *   cc -O2 -Wall -Wextra benchmarks/c/recycle.c -o /tmp/recycle
 *   /tmp/recycle new 24; /tmp/recycle reuse 24; /tmp/recycle zeroed 24 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }
int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s new|reuse|zeroed segments\n", argv[0]);
    return 2;
  }
  int reuse = strcmp(argv[1], "reuse") == 0, zeroed = strcmp(argv[1], "zeroed") == 0;
  int nseg = atoi(argv[2]), ring = 8;
  const size_t seg = 64 << 20, buf = 64 << 10;
  char *b = malloc(buf); memset(b, 7, buf);
  char *z = calloc(1, buf);
  double untimed = 0;
  char dir[] = "/tmp/tiercache-recycle-XXXXXX";
  if (mkdtemp(dir) == NULL) return 1;
  char path[128], old[128];
  double t0 = 0; long recs = 0;
  for (int s = 0; s < nseg; s++) {
    if (s == ring) t0 = now(); /* time only once the ring is full */
    snprintf(path, sizeof path, "%s/%06d", dir, s);
    int fd;
    if (s >= ring) {
      snprintf(old, sizeof old, "%s/%06d", dir, s - ring);
      if (reuse) { rename(old, path); fd = open(path, O_WRONLY); }
      else { unlink(old); fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600); }
    } else fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (zeroed) {
      double z0 = now();
      for (size_t off = 0; off < seg; off += buf)
        if (pwrite(fd, z, buf, off) != (ssize_t)buf) return 1;
      if (s >= ring) untimed += now() - z0;
    }
    for (size_t off = 0; off < seg; off += buf) {
      b[0] = (char)off;
      if (pwrite(fd, b, buf, off) != (ssize_t)buf) return 1;
      if (s >= ring) recs += buf / 16384;
    }
    close(fd);
  }
  printf("%s: %.0f ns per 16 KiB record", argv[1], (now() - t0 - untimed) / recs);
  if (zeroed) printf(" (and %.0f ns of zeros written before, untimed)", untimed / recs);
  printf("\n");
  char cmd[160]; snprintf(cmd, sizeof cmd, "rm -rf %s", dir); return system(cmd);
}
