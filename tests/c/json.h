/*
 * json.h: a small JSON reader for the shared test data (tests/vectors).
 *
 * Enough for that data and strict about it: objects, arrays, strings (all
 * escapes, \u with surrogate pairs, to UTF-8), integers, true/false/null.
 * Fractions and exponents are rejected, since the vectors never use them.
 * The whole document becomes one tree owned by the caller (json_free).
 */
#ifndef TIERCACHE_JSON_H
#define TIERCACHE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum json_type { JSON_NULL, JSON_BOOL, JSON_INT, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json {
  json_type type;
  bool boolean;
  long long integer;
  char *str;   /* JSON_STRING: NUL-terminated, but may hold NULs: use len */
  size_t len;  /* JSON_STRING: bytes; JSON_ARRAY/OBJECT: number of items */
  struct json *items; /* JSON_ARRAY/OBJECT: the values */
  char **keys;        /* JSON_OBJECT: the member names, in document order */
} json;

/* Parses `text` (`len` bytes). Returns NULL on a syntax error, with a
   message naming the byte offset in `err`. */
json *json_parse(const char *text, size_t len, char *err, size_t err_cap);
void json_free(json *doc);

/* The member `key` of an object, or NULL if absent or `obj` is not one. */
const json *json_get(const json *obj, const char *key);

/* Whole file into a malloc'd buffer (NUL-terminated); NULL on failure. */
char *json_read_file(const char *path, size_t *len);

/* json_read_file and json_parse together: the document at path, or NULL
   after saying on stderr what went wrong (the file or the parse error). */
json *json_load_file(const char *path);

/* Hex text to bytes (malloc'd, at least 1 byte allocated). Returns false on
   an odd length or a non-hex digit. */
bool hex_decode(const char *hex, size_t hex_len, uint8_t **out, size_t *out_len);

#endif
