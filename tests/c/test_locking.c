/*
 * test_locking.c: ownership of a cache directory and what it looks like on
 * disk.
 *
 * Covers: a second open of an open directory gets TC_LOCKED, from the same
 * process and from a forked child; the directory opens again once closed
 * (and once the holder exits); the directory the library creates is mode
 * 0700 and every file in it 0600, whatever the umask allows; a path that
 * is a file is refused.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static tc_status open_dir(const char *dir, tc_cache **out) {
  tc_options *o = tc_options_new();
  if (o == NULL) return TC_PANIC;
  tc_status s = tc_options_set_dir(o, dir);
  if (s == TC_OK) s = tc_cache_open(o, out);
  tc_options_free(o);
  return s;
}

static void test_second_open_same_process(void) {
  const char *dir = tu_mkdtemp();
  tc_cache *a = NULL, *b = (tc_cache *)&b; /* sentinel: must stay as is */
  tc_cache *sentinel = b;
  CHECK_OK(open_dir(dir, &a));
  CHECK_OK(tu_put(a, "k", "v", 0));
  CHECK_STATUS(open_dir(dir, &b), TC_LOCKED);
  CHECK(b == sentinel);
  CHECK(strstr(tc_last_error(), dir) != NULL); /* the message names the directory */
  /* The refused open did not disturb the owner. */
  CHECK(tu_value_is(a, "k", "v"));
  tc_cache_close(a);
  CHECK_OK(open_dir(dir, &b));
  CHECK(tu_value_is(b, "k", "v"));
  tc_cache_close(b);
}

/* In a forked child, tries to open `dir`; exits with the status it got. */
static int status_in_child(const char *dir) {
  fflush(NULL); /* do not print buffered output twice */
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    tc_cache *c = NULL;
    tc_status s = open_dir(dir, &c);
    /* _exit: the child must not flush or close anything it inherited, nor
       run the sanitizers' exit-time checks on the parent's state. */
    _exit((int)s);
  }
  int ws = 0;
  if (waitpid(pid, &ws, 0) != pid || !WIFEXITED(ws)) return -1;
  return WEXITSTATUS(ws);
}

static void test_open_from_forked_child(void) {
  const char *dir = tu_mkdtemp();
  tc_cache *a = NULL;
  CHECK_OK(open_dir(dir, &a));
  CHECK(status_in_child(dir) == TC_LOCKED);
  tc_cache_close(a);
  /* Released: now a child can take it (and its exit releases it again). */
  CHECK(status_in_child(dir) == TC_OK);
  CHECK_OK(open_dir(dir, &a));
  tc_cache_close(a);
}

/* A child that holds the directory open: the parent is locked out until the
   child exits, then the kernel's release of the lock lets it in. */
static void test_lock_released_when_holder_exits(void) {
  const char *dir = tu_mkdtemp();
  int ready[2], go[2];
  CHECK(pipe(ready) == 0 && pipe(go) == 0);
  fflush(NULL);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    close(ready[0]);
    close(go[1]); /* so the read below sees EOF if the parent goes away */
    tc_cache *c = NULL;
    char b = open_dir(dir, &c) == TC_OK ? 'y' : 'n';
    if (write(ready[1], &b, 1) != 1) _exit(2);
    if (read(go[0], &b, 1) < 0) _exit(2); /* hold the lock until told */
    _exit(0);                             /* no close: the process just ends */
  }
  close(ready[1]);
  close(go[0]);
  /* No CHECK until the child is reaped, so a failure cannot leave it behind. */
  char b = 0;
  bool child_opened = read(ready[0], &b, 1) == 1 && b == 'y';
  tc_cache *c = NULL;
  tc_status while_held = open_dir(dir, &c);
  if (while_held == TC_OK) tc_cache_close(c);
  close(go[1]); /* EOF tells the child to exit */
  close(ready[0]);
  int ws;
  waitpid(pid, &ws, 0);
  CHECK(child_opened);
  CHECK(while_held == TC_LOCKED);
  CHECK_OK(open_dir(dir, &c));
  tc_cache_close(c);
}

static bool mode_is(const char *path, mode_t want) {
  struct stat st;
  if (stat(path, &st) != 0) {
    perror(path);
    return false;
  }
  if ((st.st_mode & 07777) != want) {
    fprintf(stderr, "    %s has mode %04o, expected %04o\n", path, (unsigned)(st.st_mode & 07777), (unsigned)want);
    return false;
  }
  return true;
}

static void test_directory_and_file_modes(void) {
  const char *base = tu_mkdtemp();
  char dir[4200];
  /* Two levels the library must create itself. */
  snprintf(dir, sizeof dir, "%s/nested/cache", base);
  /* With umask 0 the modes are the library's own choice, not the umask's. */
  mode_t old_umask = umask(0);
  tc_options *o = tc_options_new();
  tc_cache *c = NULL;
  tc_status s = tc_options_set_dir(o, dir);
  /* Small segments, so several files (sealed and active) exist. */
  if (s == TC_OK) s = tc_options_set_segment_size(o, 4096);
  if (s == TC_OK) s = tc_cache_open(o, &c);
  tc_options_free(o);
  if (s == TC_OK) {
    char k[32], v[512];
    memset(v, 'v', sizeof v - 1);
    v[sizeof v - 1] = '\0';
    for (int i = 0; i < 40 && s == TC_OK; i++) {
      snprintf(k, sizeof k, "key-%d", i);
      s = tu_put(c, k, v, 0);
    }
    if (s == TC_OK) s = tc_flush(c);
  }
  umask(old_umask);
  CHECK_OK(s);
  CHECK(mode_is(dir, 0700));

  DIR *d = opendir(dir);
  CHECK(d != NULL);
  int files = 0, bad = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    char path[8400];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    files++;
    if (!mode_is(path, 0600)) bad++;
  }
  closedir(d);
  tc_cache_close(c);
  CHECK(files >= 3); /* the lock file and at least two segments */
  CHECK(bad == 0);
}

static void test_path_is_a_file(void) {
  const char *base = tu_mkdtemp();
  char path[4200];
  snprintf(path, sizeof path, "%s/plain-file", base);
  int fd = open(path, O_CREAT | O_WRONLY, 0600);
  CHECK(fd >= 0);
  close(fd);
  tc_cache *c = NULL;
  CHECK_STATUS(open_dir(path, &c), TC_INVALID_ARGUMENT);
  CHECK(c == NULL);
}

int main(void) {
  RUN(test_second_open_same_process);
  RUN(test_open_from_forked_child);
  RUN(test_lock_released_when_holder_exits);
  RUN(test_directory_and_file_modes);
  RUN(test_path_is_a_file);
  return tu_summary();
}
