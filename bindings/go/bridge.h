/*
 * bridge.h: the small C layer between Go and tiercache.h.
 *
 * Why it exists:
 *   - tc_last_error() is thread-local and only valid until the thread's next
 *     failing call. A goroutine may move to another OS thread between two cgo
 *     calls, so the message is copied (malloc'd) inside the same C call that
 *     failed, and freed by Go.
 *   - Results come back as one struct by value, so Go never passes the
 *     address of a local variable to C (which would move it to the heap).
 *   - The loader trampoline needs a C function pointer and must tell the Go
 *     side which Go call is waiting for it (see tcgo_call_slot in bridge.c).
 */
#ifndef TIERCACHE_GO_BRIDGE_H
#define TIERCACHE_GO_BRIDGE_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include "tiercache.h"

/* What a bridged call returns. msg is NULL on TC_OK, otherwise a malloc'd
 * copy of tc_last_error() that the caller frees with free(). */
typedef struct tcgo_ret {
  tc_status status;
  char *msg;
  /* A cgo.Handle set by the Go loader trampoline when the loader run by this
   * very call panicked or returned an error (0 otherwise). */
  uintptr_t loader_result;
  /* Outputs of the call, by function. */
  size_t len;      /* tcgo_get_into */
  uint64_t count;  /* tcgo_remove_prefix, tcgo_purge_expired, tcgo_remove_tag */
  bool present;    /* tcgo_contains */
  tc_cache *cache; /* tcgo_open */
  uint64_t count2; /* tcgo_count: value bytes (count holds the entries) */
  tc_iter *iter;   /* tcgo_iter_new */
  tc_bytes bytes;  /* tcgo_get_or_load, tcgo_iter_next: the caller frees it with tc_bytes_free */
  tc_entry_info info; /* tcgo_get_info, tcgo_iter_next */
  tc_value *value;    /* tcgo_get_value: freed by Go with tc_value_free; bytes holds its data and length */
} tcgo_ret;

/* Options are passed flat; a zero field means "leave the library default". */
typedef struct tcgo_options {
  const char *dir;
  bool set_l1; uint64_t l1_max_entries, l1_max_bytes;
  bool set_l2; uint64_t l2_max_bytes;
  bool set_write; uint32_t write_policy;
  bool set_l1_policy; uint32_t l1_policy;
  bool set_sync; uint32_t sync_policy; uint64_t sync_interval_ms;
  uint64_t default_ttl_ms;
  uint64_t max_value_size;
  uint64_t segment_size;
  bool read_only;
  bool set_compression; uint32_t compression; uint64_t compress_min;
  /* C memory (malloc'd by Go, wiped and freed by Go after the call). */
  bool set_key; const uint8_t *key; size_t key_len;
  /* The remote tier: remote NULL = none; ns and secret set when non-NULL
   * (C memory); timeout when non-zero. */
  const char *remote;
  const uint8_t *remote_ns; size_t remote_ns_len;
  const uint8_t *remote_secret; size_t remote_secret_len;
  uint64_t remote_timeout_ms;
} tcgo_options;

/* What tcgo_get_word returns: Get's hot path, in two words so that cgo
 * copies little and nothing is malloc'd on a hit, a miss or a value too big
 * for the buffer. With more NULL, word is
 *   >= 0                             TC_OK: the value's length (it is in buf);
 *   -(TC_BUFFER_TOO_SMALL | n << 8)  the size needed, n;
 *   -(TC_NOT_FOUND | m << 8)         a miss: tc_last_error()'s first m bytes,
 *                                    the whole message, are copied into buf;
 *   -(status)                        another failure whose outcome could not
 *                                    be malloc'd (no message; a loader's
 *                                    outcome, if any, is lost).
 * Anything else (a loader's outcome, another failure, a miss whose message
 * does not fit in buf) comes in more, malloc'd: Go reads it and frees it
 * with free(), and the message it holds as well. */
typedef struct tcgo_get_more {
  tc_status status;
  size_t len;              /* TC_OK: the value's length; TC_BUFFER_TOO_SMALL: the size needed */
  uintptr_t loader_result; /* as in tcgo_ret, and see tcgo_get_word */
  char *msg;               /* as in tcgo_ret */
} tcgo_get_more;

typedef struct tcgo_get_res {
  int64_t word;
  tcgo_get_more *more;
} tcgo_get_res;

tcgo_ret tcgo_open(tcgo_options o);
/* tc_cache_shutdown: Close. The handle itself is freed by the Go cleanup
 * with tc_cache_close. */
tcgo_ret tcgo_shutdown(tc_cache *c);
tcgo_ret tcgo_put(tc_cache *c, const uint8_t *key, size_t key_len,
                  const uint8_t *value, size_t value_len, uint64_t ttl_ms);
tcgo_ret tcgo_get_into(tc_cache *c, const uint8_t *key, size_t key_len,
                       uint8_t *buf, size_t buf_cap);
/* tc_get_into_word into buf (Go memory, pinned by cgo for the call). A
 * loader run by this call whose value does not fit in buf leaves that value,
 * as a cgo.Handle in more->loader_result, so that Get need not ask again
 * (see loader.go). The handle comes as an integer: cgo checks every pointer
 * argument of an unknown type for Go pointers, and this one is C memory. */
tcgo_get_res tcgo_get_word(uintptr_t cache, const uint8_t *key, size_t key_len,
                           uint8_t *buf, size_t buf_cap);
tcgo_ret tcgo_contains(tc_cache *c, const uint8_t *key, size_t key_len);
tcgo_ret tcgo_remove(tc_cache *c, const uint8_t *key, size_t key_len);
tcgo_ret tcgo_remove_prefix(tc_cache *c, const uint8_t *prefix, size_t prefix_len);
tcgo_ret tcgo_clear(tc_cache *c, bool memory_only);
tcgo_ret tcgo_flush(tc_cache *c);
tcgo_ret tcgo_purge_expired(tc_cache *c);
tcgo_ret tcgo_stats(tc_cache *c, tc_stats *out);
tcgo_ret tcgo_compact(tc_cache *c);
tcgo_ret tcgo_counter(tc_cache *c, const char *name); /* value in count */
tcgo_ret tcgo_remote_reason(tc_cache *c);              /* the reason in bytes */
tcgo_ret tcgo_set_loader(tc_cache *c, uintptr_t handle);
tcgo_ret tcgo_clear_loader(tc_cache *c);
tcgo_ret tcgo_sink_put(tc_sink *sink, const uint8_t *value, size_t value_len, uint64_t ttl_ms);

/* Entries (entries.go). */
tcgo_ret tcgo_get_info(tc_cache *c, const uint8_t *key, size_t key_len);
tcgo_ret tcgo_touch(tc_cache *c, const uint8_t *key, size_t key_len, uint64_t ttl_ms);
tcgo_ret tcgo_count(tc_cache *c, const uint8_t *prefix, size_t prefix_len);
tcgo_ret tcgo_iter_new(tc_cache *c, const uint8_t *prefix, size_t prefix_len);
tcgo_ret tcgo_iter_next(tc_iter *it);
/* The batches of GetMany and PutMany, without pinning a Go slice per key:
 * the byte strings come packed end to end in one Go buffer (`blob`, string i
 * being lens[i] bytes), so no Go memory passed here holds a Go pointer, and
 * the tc_slice arrays are built on this side. tcgo_get_many_packed is
 * tc_get_many_into (values end to end in buf, those that do not fit handed
 * out in spilled); it runs the cache's loader for misses, so the loader's
 * outcome lands in loader_result (the last one, if several loads failed). */
tcgo_ret tcgo_get_many_packed(tc_cache *c, const uint8_t *keys, const size_t *key_lens, size_t n,
                              uint8_t *buf, size_t buf_cap, size_t *value_lens,
                              tc_value **spilled, tc_status *statuses);
tcgo_ret tcgo_put_many_packed(tc_cache *c, const uint8_t *keys, const size_t *key_lens,
                              const uint8_t *values, const size_t *value_lens, size_t n,
                              uint64_t ttl_ms);
/* Copies every non-NULL spilled[i] end to end into dst (Go memory, as long
 * as their lengths together) and frees it: one cgo call for all of a batch's
 * spilled values. */
void tcgo_spilled_take(tc_value **spilled, size_t n, uint8_t *dst);
/* tc_get_or_load with the Go function registered as cgo.Handle `handle`
 * (see tcgoOnceLoaderCall); its error or panic lands in loader_result. */
/* tc_get_value, with the value's data and length read in the same call (in
 * bytes: not to be freed with tc_bytes_free; the tc_value owns them). */
tcgo_ret tcgo_get_value(tc_cache *c, const uint8_t *key, size_t key_len);
tcgo_ret tcgo_get_or_load(tc_cache *c, const uint8_t *key, size_t key_len, uintptr_t handle);

/* Entry options (options.go), passed flat so that no Go memory holds Go
 * pointers: `ntags` tags laid end to end in `tags` (Go memory), tag i being
 * tag_lens[i] bytes; `dep` a C string or NULL for no dependency. Each call
 * builds a tc_entry_options, uses it and frees it. */
tcgo_ret tcgo_put_with(tc_cache *c, const uint8_t *key, size_t key_len, const uint8_t *value,
                       size_t value_len, uint64_t ttl_ms, const uint8_t *tags,
                       const size_t *tag_lens, size_t ntags, const char *dep);
tcgo_ret tcgo_sink_put_with(tc_sink *sink, const uint8_t *value, size_t value_len,
                            uint64_t ttl_ms, const uint8_t *tags, const size_t *tag_lens,
                            size_t ntags, const char *dep);
tcgo_ret tcgo_remove_tag(tc_cache *c, const uint8_t *tag, size_t tag_len); /* count: removed */

#endif
