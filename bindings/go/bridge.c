/* bridge.c: see bridge.h for why this layer exists. */
#include <stdlib.h>
#include <string.h>
#include "bridge.h"

/* Implemented in Go (loader.go, //export). */
extern tc_status tcgoLoaderCall(uintptr_t handle, uint8_t *key, size_t key_len,
                                tc_sink *sink, uintptr_t *slot, size_t keep_over);
extern void tcgoLoaderFree(uintptr_t handle);
extern tc_status tcgoOnceLoaderCall(uintptr_t handle, tc_sink *sink, uintptr_t *slot);

/* The loader runs on the thread that missed, inside that thread's tc_get.
 * Each bridged call that may run the loader points this thread-local at its
 * own result slot for the duration of the call (restoring the previous one
 * afterwards, so a loader may call back into the cache). The Go trampoline
 * writes a cgo.Handle of the loader's panic or error there, and the Go
 * caller picks it up after C returns. */
static __thread uintptr_t *tcgo_call_slot;
/* Set with the slot by tcgo_get_word (0 by every other call): the loader
 * leaves its value in the slot if it is longer than this, i.e. if it will not
 * fit in the Get's buffer. */
static __thread size_t tcgo_call_keep_over;

static tcgo_ret ret_of(tc_status s) {
  tcgo_ret r;
  memset(&r, 0, sizeof r);
  r.status = s;
  if (s != TC_OK) {
    r.msg = strdup(tc_last_error());
  }
  return r;
}

#define WITH_SLOT(r, call)                         \
  do {                                             \
    uintptr_t slot_ = 0;                           \
    uintptr_t *prev_ = tcgo_call_slot;             \
    size_t prev_keep_ = tcgo_call_keep_over;       \
    tcgo_call_slot = &slot_;                       \
    tcgo_call_keep_over = 0;                       \
    tc_status s_ = (call);                         \
    tcgo_call_slot = prev_;                        \
    tcgo_call_keep_over = prev_keep_;              \
    (r) = ret_of(s_);                              \
    (r).loader_result = slot_;                     \
  } while (0)

tcgo_ret tcgo_open(tcgo_options o) {
  tc_status s = TC_OK;
  tc_cache *cache = NULL;
  tc_options *opts = tc_options_new();
  if (opts == NULL) {
    tcgo_ret r;
    memset(&r, 0, sizeof r);
    r.status = TC_PANIC;
    r.msg = strdup("tc_options_new: out of memory");
    return r;
  }
  if (s == TC_OK && o.dir != NULL) s = tc_options_set_dir(opts, o.dir);
  if (s == TC_OK && o.set_l1) s = tc_options_set_l1_capacity(opts, o.l1_max_entries, o.l1_max_bytes);
  if (s == TC_OK && o.set_l2) s = tc_options_set_l2_capacity(opts, o.l2_max_bytes);
  if (s == TC_OK && o.set_write) s = tc_options_set_write_policy(opts, (tc_write_policy)o.write_policy);
  if (s == TC_OK && o.set_l1_policy) s = tc_options_set_l1_policy(opts, (tc_l1_policy)o.l1_policy);
  if (s == TC_OK && o.set_sync) s = tc_options_set_sync_policy(opts, (tc_sync_policy)o.sync_policy, o.sync_interval_ms);
  if (s == TC_OK && o.default_ttl_ms != 0) s = tc_options_set_default_ttl(opts, o.default_ttl_ms);
  if (s == TC_OK && o.max_value_size != 0) s = tc_options_set_max_value_size(opts, o.max_value_size);
  if (s == TC_OK && o.segment_size != 0) s = tc_options_set_segment_size(opts, o.segment_size);
  if (s == TC_OK && o.read_only) s = tc_options_set_read_only(opts, true);
  if (s == TC_OK && o.set_compression)
    s = tc_options_set_compression(opts, (tc_compression)o.compression, o.compress_min);
  if (s == TC_OK && o.set_key)
    s = tc_options_set_encryption_key(opts, o.key != NULL ? o.key : (const uint8_t *)"", o.key_len);
  if (s == TC_OK && o.remote != NULL) s = tc_options_set_remote(opts, o.remote);
  if (s == TC_OK && o.remote_ns != NULL) s = tc_options_set_remote_namespace(opts, o.remote_ns, o.remote_ns_len);
  if (s == TC_OK && o.remote_secret != NULL)
    s = tc_options_set_remote_secret(opts, o.remote_secret, o.remote_secret_len);
  if (s == TC_OK && o.remote_timeout_ms != 0) s = tc_options_set_remote_timeout(opts, o.remote_timeout_ms);
  if (s == TC_OK) s = tc_cache_open(opts, &cache);
  tcgo_ret r = ret_of(s); /* reads tc_last_error before tc_options_free */
  tc_options_free(opts);
  if (s == TC_OK) r.cache = cache;
  return r;
}

tcgo_ret tcgo_shutdown(tc_cache *c) { return ret_of(tc_cache_shutdown(c)); }

tcgo_ret tcgo_put(tc_cache *c, const uint8_t *key, size_t key_len,
                  const uint8_t *value, size_t value_len, uint64_t ttl_ms) {
  return ret_of(tc_put(c, key, key_len, value, value_len, ttl_ms));
}

tcgo_ret tcgo_get_into(tc_cache *c, const uint8_t *key, size_t key_len,
                       uint8_t *buf, size_t buf_cap) {
  tcgo_ret r;
  size_t n = 0;
  WITH_SLOT(r, tc_get_into(c, key, key_len, buf, buf_cap, &n));
  if (r.status == TC_OK || r.status == TC_BUFFER_TOO_SMALL) r.len = n;
  return r;
}

tcgo_get_res tcgo_get_word(uintptr_t cache, const uint8_t *key, size_t key_len,
                           uint8_t *buf, size_t buf_cap) {
  tcgo_get_res r = {0, NULL};
  uintptr_t slot = 0;
  uintptr_t *prev = tcgo_call_slot;
  size_t prev_keep = tcgo_call_keep_over;
  tcgo_call_slot = &slot;
  tcgo_call_keep_over = buf_cap;
  const tc_get_target target = {(tc_cache *)cache, buf, buf_cap};
  int64_t word = tc_get_into_word(&target, key, key_len);
  tcgo_call_slot = prev;
  tcgo_call_keep_over = prev_keep;
  r.word = word;
  tc_status status = word >= 0 ? TC_OK : (tc_status)((-word) & 255);
  if (slot == 0) {
    if (status == TC_OK || status == TC_BUFFER_TOO_SMALL) return r;
    if (status == TC_NOT_FOUND) {
      /* A miss is common: its message goes into the unused buffer. */
      const char *m = tc_last_error();
      size_t len = strlen(m);
      if (len <= buf_cap) {
        memcpy(buf, m, len);
        r.word = -(int64_t)((uint64_t)TC_NOT_FOUND | ((uint64_t)len << 8));
        return r;
      }
    }
  }
  tcgo_get_more *more = malloc(sizeof *more);
  if (more == NULL) {
    /* Out of memory: the status alone (a hit's or a short buffer's word as
     * it was), without the message or the loader's outcome. */
    if (status != TC_OK && status != TC_BUFFER_TOO_SMALL) r.word = -(int64_t)status;
    return r;
  }
  more->status = status;
  more->len = word >= 0 ? (size_t)word : (size_t)((-word) >> 8);
  more->loader_result = slot;
  more->msg = NULL;
  if (status != TC_OK && status != TC_BUFFER_TOO_SMALL) {
    more->msg = strdup(tc_last_error());
  }
  r.more = more;
  return r;
}

tcgo_ret tcgo_contains(tc_cache *c, const uint8_t *key, size_t key_len) {
  bool present = false;
  tcgo_ret r = ret_of(tc_contains(c, key, key_len, &present));
  r.present = present;
  return r;
}

tcgo_ret tcgo_remove(tc_cache *c, const uint8_t *key, size_t key_len) {
  return ret_of(tc_remove(c, key, key_len));
}

tcgo_ret tcgo_remove_prefix(tc_cache *c, const uint8_t *prefix, size_t prefix_len) {
  uint64_t n = 0;
  tcgo_ret r = ret_of(tc_remove_prefix(c, prefix, prefix_len, &n));
  r.count = n;
  return r;
}

tcgo_ret tcgo_clear(tc_cache *c, bool memory_only) { return ret_of(tc_clear(c, memory_only)); }
tcgo_ret tcgo_flush(tc_cache *c) { return ret_of(tc_flush(c)); }

tcgo_ret tcgo_purge_expired(tc_cache *c) {
  uint64_t n = 0;
  tcgo_ret r = ret_of(tc_purge_expired(c, &n));
  r.count = n;
  return r;
}

/* out may be Go memory: a tc_stats holds no pointers and is written only
 * during the call, which the cgo pointer rules allow. */
tcgo_ret tcgo_stats(tc_cache *c, tc_stats *out) { return ret_of(tc_stats_get(c, out)); }

tcgo_ret tcgo_compact(tc_cache *c) { return ret_of(tc_compact(c)); }

tcgo_ret tcgo_counter(tc_cache *c, const char *name) {
  uint64_t v = 0;
  tcgo_ret r = ret_of(tc_stats_get_counter(c, name, &v));
  r.count = v;
  return r;
}

tcgo_ret tcgo_remote_reason(tc_cache *c) {
  tc_bytes b = {NULL, 0};
  tcgo_ret r = ret_of(tc_stats_remote_reason(c, &b));
  r.bytes = b;
  return r;
}

static tc_status tcgo_loader(void *user_data, const uint8_t *key, size_t key_len, tc_sink *sink) {
  /* The handle travels as void*; turning it back into an integer here keeps
   * uintptr->unsafe.Pointer conversions (which go vet flags) out of Go. */
  return tcgoLoaderCall((uintptr_t)user_data, (uint8_t *)key, key_len, sink, tcgo_call_slot,
                        tcgo_call_keep_over);
}

static void tcgo_loader_free(void *user_data) { tcgoLoaderFree((uintptr_t)user_data); }

tcgo_ret tcgo_set_loader(tc_cache *c, uintptr_t handle) {
  return ret_of(tc_cache_set_loader(c, tcgo_loader, (void *)handle, tcgo_loader_free));
}

tcgo_ret tcgo_clear_loader(tc_cache *c) { return ret_of(tc_cache_set_loader(c, NULL, NULL, NULL)); }

tcgo_ret tcgo_sink_put(tc_sink *sink, const uint8_t *value, size_t value_len, uint64_t ttl_ms) {
  return ret_of(tc_sink_put(sink, value, value_len, ttl_ms));
}

/* ---- entries ---- */

tcgo_ret tcgo_get_info(tc_cache *c, const uint8_t *key, size_t key_len) {
  tc_entry_info info;
  memset(&info, 0, sizeof info);
  tcgo_ret r = ret_of(tc_get_info(c, key, key_len, &info));
  r.info = info;
  return r;
}

tcgo_ret tcgo_touch(tc_cache *c, const uint8_t *key, size_t key_len, uint64_t ttl_ms) {
  return ret_of(tc_touch(c, key, key_len, ttl_ms));
}

tcgo_ret tcgo_count(tc_cache *c, const uint8_t *prefix, size_t prefix_len) {
  uint64_t entries = 0, value_bytes = 0;
  tcgo_ret r = ret_of(tc_count(c, prefix, prefix_len, &entries, &value_bytes));
  r.count = entries;
  r.count2 = value_bytes;
  return r;
}

tcgo_ret tcgo_iter_new(tc_cache *c, const uint8_t *prefix, size_t prefix_len) {
  tc_iter *it = NULL;
  tcgo_ret r = ret_of(tc_iter_new(c, prefix, prefix_len, &it));
  r.iter = it;
  return r;
}

/* TC_NOT_FOUND (the end) is common: no message copied for it. */
tcgo_ret tcgo_iter_next(tc_iter *it) {
  tcgo_ret r;
  memset(&r, 0, sizeof r);
  r.status = tc_iter_next(it, &r.bytes, &r.info);
  if (r.status != TC_OK && r.status != TC_NOT_FOUND) r.msg = strdup(tc_last_error());
  return r;
}

/* Slices of a packed blob (see bridge.h): into `room` if n fits, else malloc'd
 * (NULL if that fails). The caller frees what is not `room`. */
#define TCGO_SLICES_ON_STACK 128
static tc_slice *unpack_slices(const uint8_t *blob, const size_t *lens, size_t n, tc_slice *room) {
  tc_slice *s = n <= TCGO_SLICES_ON_STACK ? room : malloc(n * sizeof *s);
  if (s == NULL) return NULL;
  size_t off = 0;
  for (size_t i = 0; i < n; i++) {
    s[i].data = blob + off;
    s[i].len = lens[i];
    off += lens[i];
  }
  return s;
}

static tcgo_ret out_of_memory(const char *what) {
  tcgo_ret r;
  memset(&r, 0, sizeof r);
  r.status = TC_PANIC;
  r.msg = strdup(what);
  return r;
}

tcgo_ret tcgo_get_many_packed(tc_cache *c, const uint8_t *keys, const size_t *key_lens, size_t n,
                              uint8_t *buf, size_t buf_cap, size_t *value_lens,
                              tc_value **spilled, tc_status *statuses) {
  tc_slice room[TCGO_SLICES_ON_STACK];
  tc_slice *s = NULL;
  if (n > 0) {
    s = unpack_slices(keys, key_lens, n, room);
    if (s == NULL) return out_of_memory("GetMany: out of memory for the key slices");
  }
  tcgo_ret r;
  WITH_SLOT(r, tc_get_many_into(c, s, n, buf, buf_cap, value_lens, spilled, statuses));
  if (s != room) free(s);
  return r;
}

tcgo_ret tcgo_put_many_packed(tc_cache *c, const uint8_t *keys, const size_t *key_lens,
                              const uint8_t *values, const size_t *value_lens, size_t n,
                              uint64_t ttl_ms) {
  tc_slice key_room[TCGO_SLICES_ON_STACK], value_room[TCGO_SLICES_ON_STACK];
  tc_slice *ks = NULL, *vs = NULL;
  if (n > 0) {
    ks = unpack_slices(keys, key_lens, n, key_room);
    vs = unpack_slices(values, value_lens, n, value_room);
  }
  tcgo_ret r;
  if (n > 0 && (ks == NULL || vs == NULL)) {
    r = out_of_memory("PutMany: out of memory for the slices");
  } else {
    r = ret_of(tc_put_many(c, ks, vs, n, ttl_ms));
  }
  if (ks != key_room) free(ks);
  if (vs != value_room) free(vs);
  return r;
}

void tcgo_spilled_take(tc_value **spilled, size_t n, uint8_t *dst) {
  size_t off = 0;
  for (size_t i = 0; i < n; i++) {
    if (spilled[i] == NULL) continue;
    size_t len = tc_value_len(spilled[i]);
    if (len > 0) memcpy(dst + off, tc_value_data(spilled[i]), len);
    off += len;
    tc_value_free(spilled[i]);
    spilled[i] = NULL;
  }
}

static tc_status tcgo_once_loader(void *user_data, const uint8_t *key, size_t key_len, tc_sink *sink) {
  (void)key;
  (void)key_len; /* the Go function closes over its key */
  return tcgoOnceLoaderCall((uintptr_t)user_data, sink, tcgo_call_slot);
}

tcgo_ret tcgo_get_value(tc_cache *c, const uint8_t *key, size_t key_len) {
  tcgo_ret r;
  tc_value *v = NULL;
  WITH_SLOT(r, tc_get_value(c, key, key_len, &v));
  if (r.status == TC_OK) {
    r.value = v;
    r.bytes.data = (uint8_t *)tc_value_data(v);
    r.bytes.len = tc_value_len(v);
  }
  return r;
}

tcgo_ret tcgo_get_or_load(tc_cache *c, const uint8_t *key, size_t key_len, uintptr_t handle) {
  tcgo_ret r;
  tc_bytes out = {NULL, 0};
  WITH_SLOT(r, tc_get_or_load(c, key, key_len, tcgo_once_loader, (void *)handle, &out));
  if (r.status == TC_OK) r.bytes = out;
  return r;
}

/* ---- entry options: tags and file dependencies (options.go) ---- */

/* Builds a tc_entry_options from flat arguments: `ntags` tags laid end to end
 * in `tags`, tag i being tag_lens[i] bytes; `dep` NULL for no dependency.
 * On failure *out is NULL and the status is the failing call's (its message
 * is this thread's tc_last_error(), which ret_of copies at once). */
static tc_status build_entry_options(uint64_t ttl_ms, const uint8_t *tags, const size_t *tag_lens,
                                     size_t ntags, const char *dep, tc_entry_options **out) {
  *out = NULL;
  tc_entry_options *o = tc_entry_options_new();
  if (o == NULL) return TC_PANIC;
  tc_status s = tc_entry_options_set_ttl(o, ttl_ms);
  size_t off = 0;
  for (size_t i = 0; s == TC_OK && i < ntags; i++) {
    s = tc_entry_options_add_tag(o, tags + off, tag_lens[i]);
    off += tag_lens[i];
  }
  if (s == TC_OK && dep != NULL) s = tc_entry_options_set_dependency(o, dep);
  if (s != TC_OK) {
    tc_entry_options_free(o);
    return s;
  }
  *out = o;
  return TC_OK;
}

tcgo_ret tcgo_put_with(tc_cache *c, const uint8_t *key, size_t key_len, const uint8_t *value,
                       size_t value_len, uint64_t ttl_ms, const uint8_t *tags,
                       const size_t *tag_lens, size_t ntags, const char *dep) {
  tc_entry_options *o = NULL;
  tc_status s = build_entry_options(ttl_ms, tags, tag_lens, ntags, dep, &o);
  if (s != TC_OK) return ret_of(s);
  tcgo_ret r = ret_of(tc_put_with(c, key, key_len, value, value_len, o));
  tc_entry_options_free(o);
  return r;
}

tcgo_ret tcgo_sink_put_with(tc_sink *sink, const uint8_t *value, size_t value_len,
                            uint64_t ttl_ms, const uint8_t *tags, const size_t *tag_lens,
                            size_t ntags, const char *dep) {
  tc_entry_options *o = NULL;
  tc_status s = build_entry_options(ttl_ms, tags, tag_lens, ntags, dep, &o);
  if (s != TC_OK) return ret_of(s);
  tcgo_ret r = ret_of(tc_sink_put_with(sink, value, value_len, o));
  tc_entry_options_free(o);
  return r;
}

tcgo_ret tcgo_remove_tag(tc_cache *c, const uint8_t *tag, size_t tag_len) {
  uint64_t removed = 0;
  tcgo_ret r = ret_of(tc_remove_tag(c, tag, tag_len, &removed));
  r.count = removed;
  return r;
}
