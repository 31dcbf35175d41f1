/*
 * json.c: the recursive-descent JSON reader declared in json.h.
 */
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
  const char *p, *end, *start;
  char *err;
  size_t err_cap;
  int depth;
};

static bool fail(struct parser *ps, const char *what) {
  if (ps->err && ps->err[0] == '\0')
    snprintf(ps->err, ps->err_cap, "JSON: %s at byte %zu", what, (size_t)(ps->p - ps->start));
  return false;
}

static void skip_ws(struct parser *ps) {
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) ps->p++;
}

static bool literal(struct parser *ps, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) return fail(ps, "bad literal");
  ps->p += n;
  return true;
}

/* Grows *buf to hold `need` bytes. */
static bool reserve(char **buf, size_t *cap, size_t need) {
  if (need <= *cap) return true;
  size_t c = *cap ? *cap : 16;
  while (c < need) c *= 2;
  char *b = realloc(*buf, c);
  if (b == NULL) return false;
  *buf = b;
  *cap = c;
  return true;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static bool read_u16(struct parser *ps, unsigned *out) {
  if (ps->end - ps->p < 4) return fail(ps, "short \\u escape");
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    int h = hexval(ps->p[i]);
    if (h < 0) return fail(ps, "bad \\u escape");
    v = v * 16 + (unsigned)h;
  }
  ps->p += 4;
  *out = v;
  return true;
}

static size_t utf8_encode(unsigned cp, char *o) {
  if (cp < 0x80) { o[0] = (char)cp; return 1; }
  if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* A string starting at the opening quote, into a malloc'd buffer. */
static bool parse_string(struct parser *ps, char **out, size_t *out_len) {
  char *buf = NULL;
  size_t cap = 0, n = 0;
  ps->p++; /* the opening quote */
  for (;;) {
    if (ps->p >= ps->end) { free(buf); return fail(ps, "unterminated string"); }
    unsigned char ch = (unsigned char)*ps->p++;
    if (!reserve(&buf, &cap, n + 5)) { free(buf); return fail(ps, "out of memory"); }
    if (ch == '"') break;
    if (ch < 0x20) { free(buf); return fail(ps, "control character in string"); }
    if (ch != '\\') { buf[n++] = (char)ch; continue; }
    if (ps->p >= ps->end) { free(buf); return fail(ps, "unterminated escape"); }
    char e = *ps->p++;
    switch (e) {
      case '"': buf[n++] = '"'; break;
      case '\\': buf[n++] = '\\'; break;
      case '/': buf[n++] = '/'; break;
      case 'b': buf[n++] = '\b'; break;
      case 'f': buf[n++] = '\f'; break;
      case 'n': buf[n++] = '\n'; break;
      case 'r': buf[n++] = '\r'; break;
      case 't': buf[n++] = '\t'; break;
      case 'u': {
        unsigned cp;
        if (!read_u16(ps, &cp)) { free(buf); return false; }
        if (cp >= 0xD800 && cp <= 0xDBFF) { /* a high surrogate needs its low half */
          unsigned lo;
          if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u') { free(buf); return fail(ps, "lone surrogate"); }
          ps->p += 2;
          if (!read_u16(ps, &lo)) { free(buf); return false; }
          if (lo < 0xDC00 || lo > 0xDFFF) { free(buf); return fail(ps, "bad surrogate pair"); }
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          free(buf);
          return fail(ps, "lone surrogate");
        }
        n += utf8_encode(cp, buf + n);
        break;
      }
      default: free(buf); return fail(ps, "bad escape");
    }
  }
  buf[n] = '\0';
  *out = buf;
  *out_len = n;
  return true;
}

static bool parse_value(struct parser *ps, json *v);

static void free_value(json *v) {
  if (v->type == JSON_STRING) free(v->str);
  if (v->type == JSON_ARRAY || v->type == JSON_OBJECT) {
    for (size_t i = 0; i < v->len; i++) {
      free_value(&v->items[i]);
      if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
  }
  memset(v, 0, sizeof *v);
}

/* An array or object (`close` is ']' or '}'); objects also collect keys. */
static bool parse_container(struct parser *ps, json *v, char close) {
  bool object = close == '}';
  size_t cap = 0;
  v->type = object ? JSON_OBJECT : JSON_ARRAY;
  ps->p++;
  skip_ws(ps);
  if (ps->p < ps->end && *ps->p == close) { ps->p++; return true; }
  for (;;) {
    if (v->len == cap) {
      cap = cap ? cap * 2 : 8;
      json *items = realloc(v->items, cap * sizeof *items);
      if (items == NULL) return fail(ps, "out of memory");
      v->items = items;
      if (object) {
        char **keys = realloc(v->keys, cap * sizeof *keys);
        if (keys == NULL) return fail(ps, "out of memory");
        v->keys = keys;
      }
    }
    memset(&v->items[v->len], 0, sizeof v->items[0]);
    skip_ws(ps);
    if (object) {
      size_t klen;
      if (ps->p >= ps->end || *ps->p != '"') return fail(ps, "expected a member name");
      if (!parse_string(ps, &v->keys[v->len], &klen)) return false;
      skip_ws(ps);
      if (ps->p >= ps->end || *ps->p != ':') { free(v->keys[v->len]); return fail(ps, "expected ':'"); }
      ps->p++;
    }
    v->len++; /* counted before parsing, so free_value releases a half-parsed item */
    if (!parse_value(ps, &v->items[v->len - 1])) return false;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ',') { ps->p++; continue; }
    if (ps->p < ps->end && *ps->p == close) { ps->p++; return true; }
    return fail(ps, object ? "expected ',' or '}'" : "expected ',' or ']'");
  }
}

static bool parse_value(struct parser *ps, json *v) {
  skip_ws(ps);
  if (ps->p >= ps->end) return fail(ps, "unexpected end");
  if (++ps->depth > 64) return fail(ps, "nested too deeply");
  bool ok;
  char c = *ps->p;
  if (c == '{') ok = parse_container(ps, v, '}');
  else if (c == '[') ok = parse_container(ps, v, ']');
  else if (c == '"') { v->type = JSON_STRING; ok = parse_string(ps, &v->str, &v->len); }
  else if (c == 't') { v->type = JSON_BOOL; v->boolean = true; ok = literal(ps, "true"); }
  else if (c == 'f') { v->type = JSON_BOOL; ok = literal(ps, "false"); }
  else if (c == 'n') { v->type = JSON_NULL; ok = literal(ps, "null"); }
  else if (c == '-' || (c >= '0' && c <= '9')) {
    bool neg = c == '-';
    if (neg) ps->p++;
    if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') return fail(ps, "bad number");
    unsigned long long n = 0;
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
      if (n > (unsigned long long)(9223372036854775807LL / 10)) return fail(ps, "integer too large");
      n = n * 10 + (unsigned)(*ps->p++ - '0');
    }
    if (n > 9223372036854775807ULL) return fail(ps, "integer too large");
    if (ps->p < ps->end && (*ps->p == '.' || *ps->p == 'e' || *ps->p == 'E')) return fail(ps, "only integers are supported");
    v->type = JSON_INT;
    v->integer = neg ? -(long long)n : (long long)n;
    ok = true;
  } else {
    ok = fail(ps, "unexpected character");
  }
  ps->depth--;
  return ok;
}

json *json_parse(const char *text, size_t len, char *err, size_t err_cap) {
  struct parser ps = {text, text + len, text, err, err_cap, 0};
  if (err && err_cap) err[0] = '\0';
  json *v = calloc(1, sizeof *v);
  if (v == NULL) return NULL;
  bool ok = parse_value(&ps, v);
  if (ok) {
    skip_ws(&ps);
    if (ps.p != ps.end) ok = fail(&ps, "trailing data");
  }
  if (!ok) {
    free_value(v);
    free(v);
    return NULL;
  }
  return v;
}

void json_free(json *doc) {
  if (doc == NULL) return;
  free_value(doc);
  free(doc);
}

const json *json_get(const json *obj, const char *key) {
  if (obj == NULL || obj->type != JSON_OBJECT) return NULL;
  for (size_t i = 0; i < obj->len; i++)
    if (strcmp(obj->keys[i], key) == 0) return &obj->items[i];
  return NULL;
}

char *json_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  char *buf = NULL;
  size_t cap = 0, n = 0;
  for (;;) {
    if (!reserve(&buf, &cap, n + 65536 + 1)) { free(buf); fclose(f); return NULL; }
    size_t got = fread(buf + n, 1, cap - n - 1, f);
    n += got;
    if (got == 0) break;
  }
  bool error = ferror(f);
  fclose(f);
  if (error) { free(buf); return NULL; }
  buf[n] = '\0';
  *len = n;
  return buf;
}

bool hex_decode(const char *hex, size_t hex_len, uint8_t **out, size_t *out_len) {
  if (hex_len % 2 != 0) return false;
  uint8_t *b = malloc(hex_len / 2 + 1);
  if (b == NULL) return false;
  for (size_t i = 0; i < hex_len / 2; i++) {
    int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) { free(b); return false; }
    b[i] = (uint8_t)(hi * 16 + lo);
  }
  *out = b;
  *out_len = hex_len / 2;
  return true;
}

json *json_load_file(const char *path) {
  size_t len;
  char *text = json_read_file(path, &len);
  if (text == NULL) {
    perror(path);
    return NULL;
  }
  char err[128];
  json *doc = json_parse(text, len, err, sizeof err);
  free(text);
  if (doc == NULL) fprintf(stderr, "%s: %s\n", path, err);
  return doc;
}
