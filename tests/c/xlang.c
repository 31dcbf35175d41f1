/*
 * xlang.c: the C side of the cross-language directory test
 * (tests/vectors/README.md, "Cross-language directory test").
 *
 *   xlang write DIR  [xlang.json]   put every entry, put+remove each
 *                                   removed_hex key, close
 *   xlang verify DIR [xlang.json]   reopen with an L1 of 1 entry (values come
 *                                   from disk), check every entry byte for
 *                                   byte and that removed keys are absent
 *
 * Default data file: tests/vectors/xlang.json. Exit 0 only if everything
 * matched; one line per mismatch on stdout.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Entry options with the tags of `tags` (NULL: none); NULL on a failure. */
static tc_entry_options *options_with_tags(const json *tags) {
  tc_entry_options *o = tc_entry_options_new();
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

static int do_write(tc_cache *c, const json *entries, const json *removed) {
  for (size_t i = 0; i < entries->len; i++) {
    uint8_t *k = NULL, *v = NULL;
    size_t kl, vl;
    if (!hex_field(&entries->items[i], "key_hex", &k, &kl) || !hex_field(&entries->items[i], "value_hex", &v, &vl)) {
      fprintf(stderr, "xlang: entry %zu is malformed\n", i);
      free(k);
      return 2;
    }
    tc_entry_options *o = options_with_tags(tags_of(&entries->items[i]));
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

static int do_verify(tc_cache *c, const json *entries, const json *removed) {
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
    tc_bytes b = {NULL, 0};
    tc_status s = tc_get(c, k, kl, &b);
    char detail[128];
    if (s != TC_OK) {
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
    tc_entry_info info;
    tc_status is = tc_get_info(c, k, kl, &info);
    if (is != TC_OK || info.tag_count != want_tags) {
      snprintf(detail, sizeof detail, "%s, tag_count %u, expected %zu", tc_status_str(is),
               is == TC_OK ? (unsigned)info.tag_count : 0u, want_tags);
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
  tc_cache *c = open_dir(argv[2], !writing);
  if (c == NULL) {
    json_free(doc);
    return 1;
  }
  int rc = writing ? do_write(c, entries, removed) : do_verify(c, entries, removed);
  tc_cache_close(c);
  /* close cannot return its flush failure; a write that was not durable
     must not pass, so look at the thread's last error. */
  if (writing && rc == 0 && strstr(tc_last_error(), "tc_cache_close") != NULL) {
    fprintf(stderr, "xlang: close: %s\n", tc_last_error());
    rc = 1;
  }
  if (!writing) printf("xlang verify: %zu entries, %zu removed keys, %d mismatches\n", entries->len, removed->len, mismatches);
  json_free(doc);
  return rc;
}
