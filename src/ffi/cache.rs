//! `tc_cache` and the data functions: open, close, get, put, remove, flush,
//! statistics.

use super::boundary::{arg, arg_mut, bytes, guard, guard_void, key_bytes, set_last_error, value_bytes};
use super::options::tc_options;
use crate::cache::Cache;
use crate::error::{tc_status, Error, Status};
use crate::options::Options;
use crate::stats::tc_stats;

use super::copy::{Boxed, IntoBuf};
pub use super::handle::tc_cache;
use super::handle::Inside;
use super::handout::{self, Handout};

/// The cache behind a handle, entered for one call: `TC_INVALID_ARGUMENT`
/// if NULL, `TC_CLOSED` after `tc_cache_shutdown` or in a forked child.
///
/// # Safety
/// `cache` is NULL or a handle from `tc_cache_open` not yet closed.
// On every get's or put's path: see `ffi::boundary::guard`.
#[inline]
pub(crate) unsafe fn handle<'a>(cache: *const tc_cache) -> crate::error::Result<Inside<'a>> {
    arg(cache, "cache")?.enter()
}

/// Bytes handed out by the library (`tc_get`): `len` bytes at `data`, which is
/// NULL when `len` is 0. Free them with `tc_bytes_free`.
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct tc_bytes {
    pub data: *mut u8,
    pub len: usize,
}

/// Opens a cache. With `opts` NULL, or without a directory set, it is memory
/// only with default sizes; otherwise its L2 lives in the directory, which is
/// created if missing and locked for as long as the cache is open. The
/// options are copied; the caller still frees them.
///
/// Ownership: on success `*out` is a new handle the caller closes with
/// `tc_cache_close`. Returns `TC_OK`; `TC_INVALID_ARGUMENT` if `out` is NULL
/// or the path is not a directory; `TC_LOCKED` if another handle, in this
/// process or another, has the directory open; `TC_IO_ERROR` if the directory
/// cannot be created, read or written; `TC_CORRUPT` if it holds segments of a
/// newer format.
///
/// # Safety
/// `opts` is NULL or a live options object; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tc_cache_open(opts: *const tc_options, out: *mut *mut tc_cache) -> tc_status {
    guard("tc_cache_open", || {
        let out = arg_mut(out, "out")?;
        let default = Options::default();
        let opts = opts.as_ref().map_or(&default, |o| &o.opts);
        let cache = Cache::open(opts)?;
        *out = Box::into_raw(Box::new(tc_cache::new(cache)));
        Ok(())
    })
}

/// A handle on a cache opened from Rust (tests that need options C cannot
/// set, such as a manual clock). Free it with `tc_cache_close`.
#[doc(hidden)]
pub fn handle_of(cache: Cache) -> *mut tc_cache {
    Box::into_raw(Box::new(tc_cache::new(cache)))
}

/// Runs `f` on the cache a handle wraps, inside the handle's gate (for
/// tests that read a cache through the Rust API beside the C one).
///
/// # Safety
/// `cache` is NULL or a live handle.
#[doc(hidden)]
pub unsafe fn with_cache<R>(cache: *mut tc_cache, f: impl FnOnce(&Cache) -> R) -> crate::error::Result<R> {
    let c = handle(cache)?;
    Ok(f(&c))
}

/// Shuts the cache down while leaving the handle's memory valid: waits for
/// every call other threads are making on the handle (including loaders
/// they are running) to return, then flushes (dirty entries, buffered
/// records, fsync as the sync policy says), writes the active segment's hint,
/// releases the directory lock, stops the background thread and frees the
/// loader's user data. Every call that starts after it returns `TC_CLOSED`.
/// Made for wrappers whose `close` may race with other threads' calls; free
/// the handle later with `tc_cache_close`. Idempotent: a second shutdown
/// waits for the first to finish and returns `TC_OK`.
///
/// In a child process that inherited the handle through `fork()`, it only
/// marks the handle closed: the directory, lock and files are the parent's
/// and are left alone (every other call there returns `TC_CLOSED`).
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if `cache` is NULL, or if called
/// from inside a call on the same handle (from its loader: it would wait for
/// itself); `TC_IO_ERROR` if the final flush failed (the handle is shut down
/// all the same, and what could not be written is lost).
///
/// # Safety
/// `cache` is NULL or a handle from `tc_cache_open` not yet closed.
#[no_mangle]
pub unsafe extern "C" fn tc_cache_shutdown(cache: *mut tc_cache) -> tc_status {
    guard("tc_cache_shutdown", || arg(cache, "cache")?.shutdown())
}

/// Shuts the cache down if `tc_cache_shutdown` has not (flush, directory
/// lock released, loader's user data freed), then frees the handle. NULL is
/// a no-op. A flush failure cannot be returned: it is left in
/// `tc_last_error()`; call `tc_flush` or `tc_cache_shutdown` first to see it.
/// Must be the last call on the handle, with no other thread using it or
/// about to. In a forked child that inherited the handle, it frees the
/// handle without touching the parent's directory, lock or files.
///
/// # Safety
/// `cache` is NULL or a handle from `tc_cache_open` not closed before.
#[no_mangle]
pub unsafe extern "C" fn tc_cache_close(cache: *mut tc_cache) {
    if cache.is_null() {
        return;
    }
    guard_void("tc_cache_close", || {
        if let Err(e) = tc_cache::close(Box::from_raw(cache)) {
            set_last_error(&format!("tc_cache_close: {}", e.message()));
        }
    });
}

/// Stores `value` under `key` in L1 and, under write-through, appends it to L2
/// before returning. `ttl_ms` is the time to live in milliseconds; 0 means
/// the cache's default TTL (none unless set). Key and value are copied.
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if `cache`, `key` or `value` is NULL
/// (pass any non-NULL pointer for an empty value) or `key_len` is 0;
/// `TC_TOO_LARGE` if the key is over 64 KiB or the value over the configured
/// maximum (or, memory only, over L1's per-shard byte budget); `TC_IO_ERROR`
/// if L2 cannot be written (nothing is stored then).
///
/// # Safety
/// `cache` is NULL or a live handle; `key` and `value` are NULL or valid for
/// their lengths.
#[no_mangle]
pub unsafe extern "C" fn tc_put(
    cache: *mut tc_cache,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    ttl_ms: u64,
) -> tc_status {
    guard("tc_put", || {
        let c = handle(cache)?;
        let key = key_bytes(key, key_len)?;
        let value = value_bytes(value, value_len)?;
        c.put(key, value, ttl_ms)
    })
}

/// Looks `key` up in L1, then L2 (promoting a hit into L1), then asks the
/// loader, once per key however many threads miss it at once.
///
/// Ownership: on success `*out` holds a copy the caller frees with
/// `tc_bytes_free`; on failure `*out` is untouched. Returns `TC_OK`;
/// `TC_NOT_FOUND` if no tier and no loader has a value; `TC_LOADER_FAILED` if
/// the loader failed (nothing is cached); `TC_INVALID_ARGUMENT` if `cache`,
/// `key` or `out` is NULL or `key_len` is 0; `TC_TOO_LARGE` if the key is over
/// 64 KiB.
///
/// # Safety
/// `cache` is NULL or a live handle; `key` is NULL or valid for `key_len`
/// bytes; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tc_get(cache: *mut tc_cache, key: *const u8, key_len: usize, out: *mut tc_bytes) -> tc_status {
    guard("tc_get", || {
        let c = handle(cache)?;
        let key = key_bytes(key, key_len)?;
        let out = arg_mut(out, "out")?;
        // A small hit is copied into the caller's allocation by the reader
        // (an L1 hit under the shard's lock, an L2 hit just before its
        // promotion: no `Arc` clone); anything else is copied here.
        let mut small = Boxed::new(c.stripe());
        let got = c.get_read(key, &mut small)?;
        *out = handed_out(&mut small, got);
        Ok(())
    })
}

/// What a get through `Boxed` answered (`Ok` of `Cache::get_read`), as
/// the `tc_bytes` handed out: the reader's copy if it took the value
/// (`None`), else a copy of the value made now.
// On every get's or put's path: see `ffi::boundary::guard`.
#[inline]
pub(crate) fn handed_out(small: &mut Boxed, got: Option<crate::value::Value>) -> tc_bytes {
    match got {
        None => small.copy.take().map_or_else(|| out_bytes(&[]), Handout::into_c),
        Some(value) => out_bytes(&value),
    }
}

/// A copy of `bytes` handed out to C, freed by `tc_bytes_free` (NULL/0
/// when empty: nothing to free).
pub(crate) fn out_bytes(bytes: &[u8]) -> tc_bytes {
    Handout::copy_of(bytes).into_c()
}

/// Frees what `tc_get` handed out and sets `data` to NULL and `len` to 0.
/// NULL, and a `tc_bytes` whose `data` is NULL, are no-ops.
///
/// # Safety
/// `bytes` is NULL or holds NULL or exactly what `tc_get` returned, not freed before.
#[no_mangle]
pub unsafe extern "C" fn tc_bytes_free(bytes: *mut tc_bytes) {
    let Some(b) = bytes.as_mut() else { return };
    if !b.data.is_null() {
        let (data, len) = (b.data, b.len);
        // SAFETY: the caller hands back exactly what a getter handed out.
        guard_void("tc_bytes_free", || handout::free(data, len));
    }
    b.data = std::ptr::null_mut();
    b.len = 0;
}

/// Like `tc_get`, but copies the value into the caller's buffer: no
/// allocation is handed out.
///
/// On `TC_OK`, `*value_len` is the value's length and `buf` holds it. Returns
/// `TC_BUFFER_TOO_SMALL` with `*value_len` set to the size needed if
/// `buf_cap` is smaller (the value is cached all the same); otherwise as
/// `tc_get`, and `TC_INVALID_ARGUMENT` if `buf` or `value_len` is NULL.
///
/// # Safety
/// `cache` is NULL or a live handle; `key` is NULL or valid for `key_len`
/// bytes; `buf` is NULL or writable for `buf_cap` bytes; `value_len` is NULL
/// or writable.
#[no_mangle]
pub unsafe extern "C" fn tc_get_into(
    cache: *mut tc_cache,
    key: *const u8,
    key_len: usize,
    buf: *mut u8,
    buf_cap: usize,
    value_len: *mut usize,
) -> tc_status {
    guard("tc_get_into", || {
        let c = handle(cache)?;
        let key = key_bytes(key, key_len)?;
        if buf.is_null() {
            return Err(Error::invalid("buf is NULL"));
        }
        let value_len = arg_mut(value_len, "value_len")?;
        // A small L1 hit is copied into `buf` under the shard's lock (no
        // `Arc` clone); anything else comes as a value, copied here.
        let mut into = IntoBuf::new(buf, buf_cap, c.stripe());
        let len = match c.get_read(key, &mut into)? {
            None if into.fitted() => into.len,
            None => return Err(too_small(value_len, into.len, buf_cap)),
            Some(value) if value.len() > buf_cap => return Err(too_small(value_len, value.len(), buf_cap)),
            Some(value) => {
                std::ptr::copy_nonoverlapping(value.as_ptr(), buf, value.len());
                value.len()
            }
        };
        *value_len = len;
        Ok(())
    })
}

/// `tc_get_into`'s answer for a value of `len` bytes that does not fit in
/// `buf_cap`: the size needed in `*value_len`, and `TC_BUFFER_TOO_SMALL`.
#[cold]
fn too_small(value_len: &mut usize, len: usize, buf_cap: usize) -> Error {
    *value_len = len;
    Error::new(
        Status::TC_BUFFER_TOO_SMALL,
        format!("buf: the value needs {len} bytes, buf_cap is {buf_cap}"),
    )
}

/// Sets `*present` to whether `key` has a value in L1 or L2 that a get
/// would serve (unexpired, its file dependency unchanged, readable). Never
/// calls the loader and never promotes.
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if a pointer is NULL or `key_len`
/// is 0; `TC_TOO_LARGE` if the key is over 64 KiB.
///
/// # Safety
/// `cache` is NULL or a live handle; `key` is NULL or valid for `key_len`
/// bytes; `present` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tc_contains(
    cache: *mut tc_cache,
    key: *const u8,
    key_len: usize,
    present: *mut bool,
) -> tc_status {
    guard("tc_contains", || {
        let c = handle(cache)?;
        let key = key_bytes(key, key_len)?;
        let present = arg_mut(present, "present")?;
        *present = c.contains(key)?;
        Ok(())
    })
}

/// Removes `key` from every tier; a tombstone in L2 keeps it removed after a
/// restart.
///
/// Returns `TC_OK`; `TC_NOT_FOUND` if L1 and L2 had no value a get would
/// have served (unexpired, its file dependency unchanged, readable);
/// `TC_INVALID_ARGUMENT` if `cache` or `key` is NULL or `key_len` is 0;
/// `TC_TOO_LARGE` if the key is over 64 KiB; `TC_IO_ERROR` if the tombstone
/// cannot be written.
///
/// # Safety
/// `cache` is NULL or a live handle; `key` is NULL or valid for `key_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn tc_remove(cache: *mut tc_cache, key: *const u8, key_len: usize) -> tc_status {
    guard("tc_remove", || {
        let c = handle(cache)?;
        c.remove(key_bytes(key, key_len)?)
    })
}

/// Removes every key that starts with the `prefix_len` bytes at `prefix` (a
/// namespace) from every tier, persistently; `prefix_len` 0 matches every
/// key. `*removed` is set to how many keys had a value a get would have
/// served (as `tc_remove` counts one).
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if a pointer is NULL; `TC_IO_ERROR`
/// if tombstones cannot be written.
///
/// # Safety
/// `cache` is NULL or a live handle; `prefix` is NULL or valid for
/// `prefix_len` bytes; `removed` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tc_remove_prefix(
    cache: *mut tc_cache,
    prefix: *const u8,
    prefix_len: usize,
    removed: *mut u64,
) -> tc_status {
    guard("tc_remove_prefix", || {
        let c = handle(cache)?;
        let prefix = bytes(prefix, prefix_len, "prefix")?;
        let removed = arg_mut(removed, "removed")?;
        *removed = c.remove_prefix(prefix)?;
        Ok(())
    })
}

/// Empties the cache. With `memory_only`, only L1 is dropped (under
/// write-back, dirty entries are written to L2 first); otherwise L2 is
/// emptied too, persistently.
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if `cache` is NULL; `TC_IO_ERROR` if
/// L2 cannot be written.
///
/// # Safety
/// `cache` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn tc_clear(cache: *mut tc_cache, memory_only: bool) -> tc_status {
    guard("tc_clear", || handle(cache)?.clear(memory_only))
}

/// Writes dirty entries (write-back) and buffered records to L2, and fsyncs
/// unless the sync policy is `TC_SYNC_NEVER`.
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if `cache` is NULL; `TC_IO_ERROR` if
/// L2 cannot be written or synced.
///
/// # Safety
/// `cache` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn tc_flush(cache: *mut tc_cache) -> tc_status {
    guard("tc_flush", || handle(cache)?.flush())
}

/// Drops every expired entry from every tier and sets `*removed` to how many
/// keys were dropped. (Expired entries are never returned even before this.)
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if a pointer is NULL.
///
/// # Safety
/// `cache` is NULL or a live handle; `removed` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tc_purge_expired(cache: *mut tc_cache, removed: *mut u64) -> tc_status {
    guard("tc_purge_expired", || {
        let c = handle(cache)?;
        let removed = arg_mut(removed, "removed")?;
        *removed = c.purge_expired()?;
        Ok(())
    })
}

/// Fills `*out` with the counters since open and the sizes now.
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if a pointer is NULL.
///
/// # Safety
/// `cache` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tc_stats_get(cache: *const tc_cache, out: *mut tc_stats) -> tc_status {
    guard("tc_stats_get", || {
        let c = handle(cache)?;
        *arg_mut(out, "out")? = c.stats();
        Ok(())
    })
}

/// Compacts L2 now: every sealed segment with dead records has its live
/// records written again (into a segment of their own) and is deleted.
/// Reads and writes go on throughout: the copying holds neither up.
/// (L2 also compacts by itself, in the background, segments that are
/// mostly dead.) A memory-only cache has nothing to compact.
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if `cache` is NULL; `TC_IO_ERROR` if
/// the log cannot be written, synced or its old files deleted (the cache is
/// then degraded, as `tc_stats` reports).
///
/// # Safety
/// `cache` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn tc_compact(cache: *mut tc_cache) -> tc_status {
    guard("tc_compact", || handle(cache)?.compact().map(|_| ()))
}

/// Reads one counter by name, for counters that `tc_stats` does not carry
/// (its layout is fixed): "l2_readmissions" (entries of a retired segment
/// appended again because they had been read), "l2_segments" (segment
/// files now) and "compressed_bytes_saved" (bytes that compression saved
/// over the L2 records appended since open: value length less packed
/// length, summed). Every `tc_stats` field can be read this way too, by its
/// name.
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if a pointer is NULL; `TC_NOT_FOUND`
/// if no counter has that name.
///
/// # Safety
/// `cache` is NULL or a live handle; `name` is NULL or a NUL-terminated
/// string; `value` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tc_stats_get_counter(
    cache: *const tc_cache,
    name: *const std::ffi::c_char,
    value: *mut u64,
) -> tc_status {
    guard("tc_stats_get_counter", || {
        let c = handle(cache)?;
        let name = std::ffi::CStr::from_ptr(arg(name, "name")?);
        let value = arg_mut(value, "value")?;
        let name = name.to_str().unwrap_or("");
        *value = c
            .counter(name)
            .ok_or_else(|| Error::new(Status::TC_NOT_FOUND, format!("name: no counter is called {name:?}")))?;
        Ok(())
    })
}

/// Copies why the remote tier is degraded into `*out` (UTF-8, not
/// NUL-terminated; free it with `tc_bytes_free`): the failure that made it
/// so, e.g. an unreachable server, a refused password or certificate at
/// open, or a timeout since. Empty (`len` 0) while the tier is ok
/// ("remote_state" 1). The tier keeps retrying whatever the reason; this
/// only says why, for logs and `stats`.
///
/// Returns `TC_OK`; `TC_NOT_FOUND` if the cache has no remote tier
/// (`tc_options_set_remote` unset); `TC_INVALID_ARGUMENT` if a pointer is
/// NULL.
///
/// # Safety
/// `cache` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tc_stats_remote_reason(cache: *const tc_cache, out: *mut tc_bytes) -> tc_status {
    guard("tc_stats_remote_reason", || {
        let c = handle(cache)?;
        let out = arg_mut(out, "out")?;
        let why = c
            .remote_reason()
            .ok_or_else(|| Error::new(Status::TC_NOT_FOUND, "cache: no remote tier is configured"))?;
        *out = out_bytes(why.as_bytes());
        Ok(())
    })
}
