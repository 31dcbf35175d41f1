/*
 * test_json.c: the JSON reader (json.c) that vectors.c and xlang.c rely on.
 * A reader that silently misparses would make those runners check the wrong
 * thing, so its edge cases are pinned here.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "testutil.h"

static json *parse(const char *text) {
  char err[128];
  return json_parse(text, strlen(text), err, sizeof err);
}

static void test_nested_document(void) {
  json *d = parse(" {\"a\": [1, -2, true, false, null, {\"b\": \"c\"}], \"n\": 9223372036854775807} ");
  CHECK(d != NULL && d->type == JSON_OBJECT && d->len == 2);
  const json *a = json_get(d, "a");
  CHECK(a != NULL && a->type == JSON_ARRAY && a->len == 6);
  CHECK(a->items[0].type == JSON_INT && a->items[0].integer == 1);
  CHECK(a->items[1].integer == -2);
  CHECK(a->items[2].type == JSON_BOOL && a->items[2].boolean);
  CHECK(a->items[3].type == JSON_BOOL && !a->items[3].boolean);
  CHECK(a->items[4].type == JSON_NULL);
  const json *b = json_get(&a->items[5], "b");
  CHECK(b != NULL && b->type == JSON_STRING && strcmp(b->str, "c") == 0);
  CHECK(json_get(d, "n")->integer == 9223372036854775807LL);
  CHECK(json_get(d, "missing") == NULL);
  json_free(d);
}

static void test_string_escapes(void) {
  json *d = parse("\"q\\\" s\\\\ l\\/ \\b\\f\\n\\r\\t \\u00e9 \\u0000 \\ud83d\\ude00\"");
  CHECK(d != NULL && d->type == JSON_STRING);
  static const char want[] = "q\" s\\ l/ \b\f\n\r\t \xc3\xa9 \0 \xf0\x9f\x98\x80";
  CHECK(d->len == sizeof want - 1);
  CHECK(memcmp(d->str, want, d->len) == 0);
  json_free(d);
}

static void test_rejects_malformed(void) {
  const char *bad[] = {"", "{", "[1,]", "{\"a\" 1}", "{\"a\":1,}", "\"unterminated", "tru", "1.5", "1e3", "-",
                       "[1] 2", "\"\\ud800\"", "\"\\x\"", "\"tab\there\"", "99999999999999999999", "{1:2}"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    json *d = parse(bad[i]);
    if (d != NULL) fprintf(stderr, "    accepted: %s\n", bad[i]);
    CHECK(d == NULL);
  }
}

static void test_hex(void) {
  uint8_t *b = NULL;
  size_t n = 0;
  CHECK(hex_decode("00ffA0", 6, &b, &n));
  CHECK(n == 3 && b[0] == 0 && b[1] == 0xff && b[2] == 0xa0);
  free(b);
  CHECK(hex_decode("", 0, &b, &n) && n == 0);
  free(b);
  CHECK(!hex_decode("abc", 3, &b, &n));
  CHECK(!hex_decode("zz", 2, &b, &n));
}

int main(void) {
  RUN(test_nested_document);
  RUN(test_string_escapes);
  RUN(test_rejects_malformed);
  RUN(test_hex);
  return tu_summary();
}
