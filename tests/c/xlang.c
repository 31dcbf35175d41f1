/*
 * xlang.c: the C side of the cross-language directory test
 * (tests/vectors/README.md, "Cross-language directory test").
 *
 *   xlang write DIR  [xlang.json]   create the dependency files in DIR-deps,
 *                                   put every entry (tags, TTL, dependency),
 *                                   put+remove each removed_hex key, close,
 *                                   then change the changed_dependencies
 *   xlang verify DIR [xlang.json]   reopen with an L1 of 1 entry (values come
 *                                   from disk), check every entry's info and
 *                                   bytes, that entries on a changed file
 *                                   and removed keys are absent
 *
 * Default data file: tests/vectors/xlang.json. Exit 0 only if everything
 * matched; one line per mismatch on stdout.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "json.h"
#include "tiercache.h"

static int mismatches;

static void mismatch(const char *fmt, const char *key_hex, const char *detail) {
  printf(fmt, key_hex, detail);
  putchar('\n');
  mismatches++;
}

static tc_cache *open_dir(const char *dir, bool one_entry_l1) {
  tc_options *o = tc_options_new();
  tc_cache *c = NULL;
  tc_status s = o ? tc_options_set_dir(o, dir) : TC_PANIC;
  /* Keep the default byte bound; only the entry count is reduced. */
  if (s == TC_OK && one_entry_l1) s = tc_options_set_l1_capacity(o, 1, 64u << 20);
  if (s == TC_OK) s = tc_cache_open(o, &c);
  tc_options_free(o);
  if (s != TC_OK) {
    fprintf(stderr, "xlang: open %s: %s: %s\n", dir, tc_status_str(s), tc_last_error());
    return NULL;
  }
  return c;
}

/* Decodes the hex string field `name` of `obj`; false if missing or bad. */
static bool hex_field(const json *obj, const char *name, uint8_t **out, size_t *len) {
  const json *h = json_get(obj, name);
  return h != NULL && h->type == JSON_STRING && hex_decode(h->str, h->len, out, len);
}

/* The entry's optional "tags_hex" array; NULL if it has none. */
static const json *tags_of(const json *entry) {
  const json *t = json_get(entry, "tags_hex");
  return t != NULL && t->type == JSON_ARRAY ? t : NULL;
}

/* The directory of the dependency files of the cache directory DIR: DIR-deps. */
static char deps_dir[4096];

/* The entry's optional integer field `name`; 0 if it has none. */
static uint64_t uint_field(const json *entry, const char *name) {
  const json *n = json_get(entry, name);
  return n != NULL && n->type == JSON_INT && n->integer > 0 ? (uint64_t)n->integer : 0;
}

/* The entry's optional "depends_on" file name; NULL if it has none. */
static const char *dependency_of(const json *entry) {
  const json *d = json_get(entry, "depends_on");
  return d != NULL && d->type == JSON_STRING ? d->str : NULL;
}

/* Whether the file `name` is listed in the data set's changed_dependencies. */
static bool changed(const json *doc, const char *name) {
  const json *c = json_get(doc, "changed_dependencies");
  for (size_t i = 0; name != NULL && c != NULL && c->type == JSON_ARRAY && i < c->len; i++)
    if (c->items[i].type == JSON_STRING && strcmp(c->items[i].str, name) == 0) return true;
  return false;
}

/* Writes `text` to deps_dir/name (appending with `append`); false on failure. */
static bool write_dependency(const char *name, const char *text, bool append) {
  char path[8192];
  snprintf(path, sizeof path, "%s/%s", deps_dir, name);
  FILE *f = fopen(path, append ? "a" : "w");
  bool ok = f != NULL && fputs(text, f) >= 0;
  if (f != NULL && fclose(f) != 0) ok = false;
  if (!ok) fprintf(stderr, "xlang: cannot write %s\n", path);
  return ok;
}

/* Entry options with the entry's tags, TTL and dependency; NULL on a failure. */
static tc_entry_options *options_of(const json *entry) {
  const json *tags = tags_of(entry);
  tc_entry_options *o = tc_entry_options_new();
  uint64_t ttl = uint_field(entry, "ttl_ms");
  if (o != NULL && ttl != 0 && tc_entry_options_set_ttl(o, ttl) != TC_OK) {
    tc_entry_options_free(o);
    return NULL;
  }
  const char *dep = dependency_of(entry);
  if (o != NULL && dep != NULL) {
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", deps_dir, dep);
    tc_status s = tc_entry_options_set_dependency(o, path);
    if (s != TC_OK) {
      fprintf(stderr, "xlang: dependency %s: %s: %s\n", path, tc_status_str(s), tc_last_error());
      tc_entry_options_free(o);
      return NULL;
    }
  }
  for (size_t i = 0; o != NULL && tags != NULL && i < tags->len; i++) {
    uint8_t *t = NULL;
    size_t tl;
    const json *h = &tags->items[i];
    tc_status s = h->type == JSON_STRING && hex_decode(h->str, h->len, &t, &tl)
                      ? tc_entry_options_add_tag(o, t, tl)
                      : TC_INVALID_ARGUMENT;
    free(t);
    if (s != TC_OK) {
      fprintf(stderr, "xlang: tag %zu: %s: %s\n", i, tc_status_str(s), tc_last_error());
      tc_entry_options_free(o);
      o = NULL;
    }
  }
  return o;
}

/* Creates DIR-deps and the data set's dependency files in it. */
static bool create_dependencies(const json *doc) {
  const json *deps = json_get(doc, "dependencies");
  if (mkdir(deps_dir, 0777) != 0) {
    perror(deps_dir);
    return false;
  }
  for (size_t i = 0; deps != NULL && deps->type == JSON_OBJECT && i < deps->len; i++)
    if (deps->items[i].type != JSON_STRING || !write_dependency(deps->keys[i], deps->items[i].str, false)) return false;
  return true;
}

/* After the cache is closed: each changed dependency grows by a line, so its
   size differs whatever the file system's mtime granularity. */
static bool change_dependencies(const json *doc) {
  const json *c = json_get(doc, "changed_dependencies");
  for (size_t i = 0; c != NULL && c->type == JSON_ARRAY && i < c->len; i++)
    if (c->items[i].type != JSON_STRING || !write_dependency(c->items[i].str, "changed\n", true)) return false;
  return true;
}

static int do_write(tc_cache *c, const json *entries, const json *removed) {
  for (size_t i = 0; i < entries->len; i++) {
    uint8_t *k = NULL, *v = NULL;
    size_t kl, vl;
    if (!hex_field(&entries->items[i], "key_hex", &k, &kl) || !hex_field(&entries->items[i], "value_hex", &v, &vl)) {
      fprintf(stderr, "xlang: entry %zu is malformed\n", i);
      free(k);
      return 2;
    }
    tc_entry_options *o = options_of(&entries->items[i]);
    tc_status s = o != NULL ? tc_put_with(c, k, kl, v, vl, o) : TC_INVALID_ARGUMENT;
    tc_entry_options_free(o);
    free(k);
    free(v);
    if (s != TC_OK) {
      fprintf(stderr, "xlang: put of entry %zu: %s: %s\n", i, tc_status_str(s), tc_last_error());
      return 1;
    }
  }
  for (size_t i = 0; i < removed->len; i++) {
    uint8_t *k = NULL;
    size_t kl;
    const json *h = &removed->items[i];
    if (h->type != JSON_STRING || !hex_decode(h->str, h->len, &k, &kl)) {
      fprintf(stderr, "xlang: removed_hex %zu is malformed\n", i);
      return 2;
    }
    static const uint8_t doomed[] = "to be removed";
    tc_status s = tc_put(c, k, kl, doomed, sizeof doomed - 1, 0);
    if (s == TC_OK) s = tc_remove(c, k, kl);
    free(k);
    if (s != TC_OK) {
      fprintf(stderr, "xlang: put+remove of removed_hex %zu: %s: %s\n", i, tc_status_str(s), tc_last_error());
      return 1;
    }
  }
  return 0;
}

static int do_verify(tc_cache *c, const json *doc, const json *entries, const json *removed) {
  for (size_t i = 0; i < entries->len; i++) {
    const json *e = &entries->items[i];
    const char *key_hex = json_get(e, "key_hex") ? json_get(e, "key_hex")->str : "?";
    uint8_t *k = NULL, *v = NULL;
    size_t kl, vl;
    if (!hex_field(e, "key_hex", &k, &kl) || !hex_field(e, "value_hex", &v, &vl)) {
      fprintf(stderr, "xlang: entry %zu is malformed\n", i);
      free(k);
      return 2;
    }
    char detail[160];
    tc_entry_info info;
    tc_status is = tc_get_info(c, k, kl, &info);
    tc_bytes b = {NULL, 0};
    tc_status s = tc_get(c, k, kl, &b);
    if (changed(doc, dependency_of(e))) {
      /* Its file changed after the put: a miss, and no loader to call. */
      if (is != TC_NOT_FOUND || s != TC_NOT_FOUND) {
        snprintf(detail, sizeof detail, "get_info %s, get %s", tc_status_str(is), tc_status_str(s));
        mismatch("mismatch: key %s: its dependency changed, expected TC_NOT_FOUND: %s", key_hex, detail);
      }
    } else if (s != TC_OK) {
      snprintf(detail, sizeof detail, "%s", tc_status_str(s));
      mismatch("mismatch: key %s: get returned %s", key_hex, detail);
    } else if (b.len != vl || (vl && memcmp(b.data, v, vl) != 0)) {
      size_t at = 0;
      while (at < vl && at < b.len && b.data[at] == v[at]) at++;
      snprintf(detail, sizeof detail, "%zu bytes, expected %zu; first difference at byte %zu", b.len, vl, at);
      mismatch("mismatch: key %s: value has %s", key_hex, detail);
    }
    const json *tags = tags_of(e);
    size_t want_tags = tags != NULL ? tags->len : 0;
    uint64_t ttl = uint_field(e, "ttl_ms"), now = (uint64_t)time(NULL) * 1000;
    if (changed(doc, dependency_of(e))) {
      /* checked above */
    } else if (is != TC_OK) {
      mismatch("mismatch: key %s: get_info returned %s", key_hex, tc_status_str(is));
    } else if (info.value_len != vl || info.tier != 2 || info.tag_count != want_tags ||
               info.expires_at_ms != (ttl != 0 ? info.written_at_ms + ttl : 0) ||
               info.written_at_ms + 86400000 < now || info.written_at_ms > now + 60000) {
      /* Info is read before the get, with an L1 of one entry: from disk. */
      snprintf(detail, sizeof detail,
               "value_len %llu (want %zu), tier %u (want 2), tag_count %u (want %zu), written_at %llu, "
               "expires_at %llu (want ttl %llu)",
               (unsigned long long)info.value_len, vl, (unsigned)info.tier, (unsigned)info.tag_count, want_tags,
               (unsigned long long)info.written_at_ms, (unsigned long long)info.expires_at_ms,
               (unsigned long long)ttl);
      mismatch("mismatch: key %s: get_info: %s", key_hex, detail);
    }
    tc_bytes_free(&b);
    free(k);
    free(v);
  }
  for (size_t i = 0; i < removed->len; i++) {
    const json *h = &removed->items[i];
    uint8_t *k = NULL;
    size_t kl;
    if (h->type != JSON_STRING || !hex_decode(h->str, h->len, &k, &kl)) {
      fprintf(stderr, "xlang: removed_hex %zu is malformed\n", i);
      return 2;
    }
    tc_bytes b = {NULL, 0};
    tc_status s = tc_get(c, k, kl, &b);
    tc_bytes_free(&b);
    free(k);
    if (s != TC_NOT_FOUND) mismatch("mismatch: removed key %s: get returned %s, expected TC_NOT_FOUND", h->str, tc_status_str(s));
  }
  return mismatches ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc < 3 || (strcmp(argv[1], "write") != 0 && strcmp(argv[1], "verify") != 0)) {
    fprintf(stderr, "usage: %s write|verify DIR [xlang.json]\n", argv[0]);
    return 2;
  }
  bool writing = strcmp(argv[1], "write") == 0;
  const char *path = argc > 3 ? argv[3] : "tests/vectors/xlang.json";
  json *doc = json_load_file(path);
  if (doc == NULL) return 2;
  const json *entries = json_get(doc, "entries"), *removed = json_get(doc, "removed_hex");
  if (entries == NULL || entries->type != JSON_ARRAY || removed == NULL || removed->type != JSON_ARRAY) {
    fprintf(stderr, "%s: expected \"entries\" and \"removed_hex\" arrays\n", path);
    json_free(doc);
    return 2;
  }
  snprintf(deps_dir, sizeof deps_dir, "%s-deps", argv[2]);
  if (writing && !create_dependencies(doc)) {
    json_free(doc);
    return 1;
  }
  tc_cache *c = open_dir(argv[2], !writing);
  if (c == NULL) {
    json_free(doc);
    return 1;
  }
  int rc = writing ? do_write(c, entries, removed) : do_verify(c, doc, entries, removed);
  tc_cache_close(c);
  /* close cannot return its flush failure; a write that was not durable
     must not pass, so look at the thread's last error. */
  if (writing && rc == 0 && strstr(tc_last_error(), "tc_cache_close") != NULL) {
    fprintf(stderr, "xlang: close: %s\n", tc_last_error());
    rc = 1;
  }
  if (writing && rc == 0 && !change_dependencies(doc)) rc = 1;
  if (!writing) printf("xlang verify: %zu entries, %zu removed keys, %d mismatches\n", entries->len, removed->len, mismatches);
  json_free(doc);
  return rc;
}
