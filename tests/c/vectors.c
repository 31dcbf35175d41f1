/*
 * vectors.c: runs the shared test vectors (tests/vectors/vectors.json, the
 * schema is in tests/vectors/README.md) against the C ABI, one test case per
 * vector case, each on a fresh cache.
 *
 * Usage: vectors [path/to/vectors.json]   (default: tests/vectors/vectors.json)
 *
 * Every op of the schema is expressible in C, so none is skipped; an op
 * this runner does not know fails its case, so a schema change is noticed.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "testutil.h"

static const char *status_names[] = {"TC_OK",      "TC_NOT_FOUND", "TC_INVALID_ARGUMENT", "TC_TOO_LARGE",
                                     "TC_IO_ERROR", "TC_LOCKED",   "TC_CORRUPT",          "TC_LOADER_FAILED",
                                     "TC_BUFFER_TOO_SMALL", "TC_PANIC", "TC_CLOSED"};

static bool status_by_name(const json *name, tc_status *out) {
  if (name == NULL || name->type != JSON_STRING) return false;
  for (int i = 0; i < (int)(sizeof status_names / sizeof status_names[0]); i++) {
    if (strcmp(name->str, status_names[i]) == 0) {
      *out = (tc_status)i;
      return true;
    }
  }
  return false;
}

/* Bytes of field `name` (text) or `name`_hex (hex) of an op; *found false
   if neither is there. The result is malloc'd (the caller frees it). */
static bool op_bytes(const json *op, const char *name, uint8_t **out, size_t *len, bool *found) {
  char hexname[32];
  snprintf(hexname, sizeof hexname, "%s_hex", name);
  const json *t = json_get(op, name), *h = json_get(op, hexname);
  *found = t != NULL || h != NULL;
  if (t != NULL) {
    if (t->type != JSON_STRING) return false;
    *out = malloc(t->len + 1);
    memcpy(*out, t->str, t->len);
    *len = t->len;
    return true;
  }
  if (h != NULL) return h->type == JSON_STRING && hex_decode(h->str, h->len, out, len);
  *out = malloc(1);
  *len = 0;
  return true;
}

static long long int_field(const json *o, const char *name, long long dflt) {
  const json *v = json_get(o, name);
  return v != NULL && v->type == JSON_INT ? v->integer : dflt;
}

static const json *current_case;

/* Opens the case's cache as its options say (dir: the given directory). */
static tc_status open_case(const json *options, const char *dir, tc_cache **out) {
  tc_options *o = tc_options_new();
  tc_status s = TC_OK;
  if (dir != NULL) s = tc_options_set_dir(o, dir);
  long long entries = int_field(options, "l1_max_entries", 0);
  long long bytes = int_field(options, "l1_max_bytes", 64ll << 20); /* the documented default */
  if (s == TC_OK && (json_get(options, "l1_max_entries") || json_get(options, "l1_max_bytes")))
    s = tc_options_set_l1_capacity(o, (uint64_t)entries, (uint64_t)bytes);
  if (s == TC_OK && json_get(options, "default_ttl_ms"))
    s = tc_options_set_default_ttl(o, (uint64_t)int_field(options, "default_ttl_ms", 0));
  const json *wp = json_get(options, "write_policy");
  if (s == TC_OK && wp != NULL) {
    if (wp->type == JSON_STRING && strcmp(wp->str, "back") == 0)
      s = tc_options_set_write_policy(o, TC_WRITE_BACK);
    else if (wp->type == JSON_STRING && strcmp(wp->str, "through") == 0)
      s = tc_options_set_write_policy(o, TC_WRITE_THROUGH);
    else
      s = TC_INVALID_ARGUMENT;
  }
  if (s == TC_OK) s = tc_cache_open(o, out);
  tc_options_free(o);
  return s;
}

/* Runs one op; returns false (having printed why) if it did not go as the
   vector expects. */
static bool run_op(const json *op, size_t index, tc_cache **cache, const json *options, const char *dir) {
  const json *name = json_get(op, "op");
  const char *opname = name && name->type == JSON_STRING ? name->str : "?";
  tc_status want = TC_OK, got = TC_OK;
  bool has_expect = json_get(op, "expect") != NULL;
  if (has_expect && !status_by_name(json_get(op, "expect"), &want)) {
    fprintf(stderr, "    op %zu (%s): unknown expect\n", index, opname);
    return false;
  }
  uint8_t *key = NULL, *val = NULL;
  size_t key_len = 0, val_len = 0;
  bool has_key, has_val, ok = true;
  if (!op_bytes(op, strcmp(opname, "remove_prefix") == 0 ? "prefix" : "key", &key, &key_len, &has_key) ||
      !op_bytes(op, "value", &val, &val_len, &has_val)) {
    fprintf(stderr, "    op %zu (%s): bad key/value field\n", index, opname);
    free(key);
    free(val);
    return false;
  }
  char detail[256] = "";

  if (strcmp(opname, "put") == 0) {
    got = tc_put(*cache, key, key_len, val, val_len, (uint64_t)int_field(op, "ttl_ms", 0));
  } else if (strcmp(opname, "get") == 0) {
    tc_bytes b = {NULL, 0};
    got = tc_get(*cache, key, key_len, &b);
    if (got == TC_OK && want == TC_OK && has_val &&
        (b.len != val_len || (val_len && memcmp(b.data, val, val_len) != 0))) {
      snprintf(detail, sizeof detail, "value differs: got %zu bytes, expected %zu", b.len, val_len);
      ok = false;
    }
    tc_bytes_free(&b);
  } else if (strcmp(opname, "contains") == 0) {
    bool present = false;
    got = tc_contains(*cache, key, key_len, &present);
    const json *p = json_get(op, "present");
    if (got == TC_OK && p != NULL && p->boolean != present) {
      snprintf(detail, sizeof detail, "present is %s", present ? "true" : "false");
      ok = false;
    }
  } else if (strcmp(opname, "remove") == 0) {
    got = tc_remove(*cache, key, key_len);
  } else if (strcmp(opname, "remove_prefix") == 0 || strcmp(opname, "purge_expired") == 0) {
    uint64_t removed = 0;
    got = opname[0] == 'r' ? tc_remove_prefix(*cache, key, key_len, &removed) : tc_purge_expired(*cache, &removed);
    long long want_removed = int_field(op, "removed", -1);
    if (got == TC_OK && want_removed >= 0 && (uint64_t)want_removed != removed) {
      snprintf(detail, sizeof detail, "removed %llu, expected %lld", (unsigned long long)removed, want_removed);
      ok = false;
    }
  } else if (strcmp(opname, "clear") == 0) {
    const json *m = json_get(op, "memory_only");
    got = tc_clear(*cache, m != NULL && m->boolean);
  } else if (strcmp(opname, "flush") == 0) {
    got = tc_flush(*cache);
  } else if (strcmp(opname, "sleep_ms") == 0) {
    tu_sleep_ms((unsigned)int_field(op, "ms", 0));
  } else if (strcmp(opname, "reopen") == 0) {
    if (dir == NULL) {
      snprintf(detail, sizeof detail, "reopen in a case without a directory");
      ok = false;
    } else {
      tc_cache_close(*cache);
      *cache = NULL;
      got = open_case(options, dir, cache);
      if (got != TC_OK) {
        snprintf(detail, sizeof detail, "reopen failed: %s", tc_last_error());
        ok = false;
      }
    }
  } else {
    snprintf(detail, sizeof detail, "unknown op: this runner needs to learn it");
    ok = false;
  }
  if (has_expect && got != want) {
    snprintf(detail, sizeof detail, "returned %s, expected %s (%s)", tc_status_str(got), tc_status_str(want),
             tc_last_error());
    ok = false;
  }
  if (!ok) fprintf(stderr, "    op %zu (%s): %s\n", index, opname, detail);
  free(key);
  free(val);
  return ok;
}

static void run_current_case(void) {
  const json *options = json_get(current_case, "options");
  const json *ops = json_get(current_case, "ops");
  CHECK(ops != NULL && ops->type == JSON_ARRAY);
  const json *use_dir = json_get(options, "dir");
  const char *dir = use_dir != NULL && use_dir->boolean ? tu_mkdtemp() : NULL;
  tc_cache *cache = NULL;
  CHECK_OK(open_case(options, dir, &cache));
  bool ok = true;
  /* Stop at the first op that goes wrong: later ones depend on it. */
  for (size_t i = 0; i < ops->len && ok && cache != NULL; i++) ok = run_op(&ops->items[i], i, &cache, options, dir);
  tc_cache_close(cache);
  CHECK(ok);
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "tests/vectors/vectors.json";
  json *doc = json_load_file(path);
  if (doc == NULL) return 2;
  const json *version = json_get(doc, "version");
  const json *cases = json_get(doc, "cases");
  if (version == NULL || version->type != JSON_INT || version->integer != 1 || cases == NULL ||
      cases->type != JSON_ARRAY || cases->len == 0) {
    fprintf(stderr, "%s: expected {\"version\": 1, \"cases\": [...]}\n", path);
    json_free(doc);
    return 2;
  }
  for (size_t i = 0; i < cases->len; i++) {
    current_case = &cases->items[i];
    const json *name = json_get(current_case, "name");
    tu_run(name && name->type == JSON_STRING ? name->str : "(unnamed case)", run_current_case);
  }
  json_free(doc);
  return tu_summary();
}
