//! The C functions of the December contract that look at and walk entries:
//! `tc_get_info`, `tc_touch`, iteration (`tc_iter_…`), `tc_count`, the
//! batches `tc_get_many` and `tc_put_many`, and `tc_get_or_load`.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use super::boundary::{arg, arg_mut, bytes, guard, guard_void, key_bytes, value_bytes};
use super::cache::{handed_out, handle, out_bytes, tc_bytes, tc_cache};
use super::copy::{Boxed, IntoRoom};
use super::loader::{tc_loader_fn, CLoader};
use super::value::{tc_value, value_into_raw};
use crate::cache::EntryInfo;
use crate::error::{tc_status, Error, Status};
use crate::meta::{Dependency, Meta};

/// What the cache knows about one entry (`tc_get_info`, `tc_iter_next`).
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, Default)]
pub struct tc_entry_info {
    /// Bytes of the value.
    pub value_len: u64,
    /// Unix ms at which it expires; 0 = never.
    pub expires_at_ms: u64,
    /// Unix ms of the put or load that wrote it.
    pub written_at_ms: u64,
    /// Where it was found: 1 memory, 2 disk, 3 remote.
    pub tier: u32,
    /// Tags the entry carries.
    pub tag_count: u32,
}

impl From<EntryInfo> for tc_entry_info {
    fn from(i: EntryInfo) -> tc_entry_info {
        tc_entry_info {
            value_len: i.value_len,
            expires_at_ms: i.expires_at,
            written_at_ms: i.written_at,
            tier: i.tier,
            tag_count: i.tag_count,
        }
    }
}

/// Fills `*out` with what the cache knows about `key`'s live value: never
/// calls the loader, never promotes, does not count as a use.
///
/// Returns `TC_OK`; `TC_NOT_FOUND` if no tier has a live value;
/// `TC_INVALID_ARGUMENT` if a pointer is NULL or `key_len` is 0;
/// `TC_TOO_LARGE` if the key is over 64 KiB; `TC_CLOSED` after shutdown.
///
/// # Safety
/// `cache` is NULL or a live handle; `key` is NULL or valid for `key_len`
/// bytes; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tc_get_info(
    cache: *mut tc_cache,
    key: *const u8,
    key_len: usize,
    out: *mut tc_entry_info,
) -> tc_status {
    guard("tc_get_info", || {
        let c = handle(cache)?;
        let key = key_bytes(key, key_len)?;
        let out = arg_mut(out, "out")?;
        *out = c.info(key)?.into();
        Ok(())
    })
}

/// Gives `key`'s live value a new expiry: `ttl_ms` from now, or never if
/// `ttl_ms` is 0. It is a write of the key (persisted like a put, its write
/// time kept); a load of the key in flight is not stored over it.
///
/// Returns `TC_OK`; `TC_NOT_FOUND` if the key has no live value;
/// `TC_INVALID_ARGUMENT` if a pointer is NULL, `key_len` is 0 or the cache
/// is read-only; `TC_TOO_LARGE` if the key is over 64 KiB; `TC_CLOSED`
/// after shutdown.
///
/// # Safety
/// `cache` is NULL or a live handle; `key` is NULL or valid for `key_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn tc_touch(cache: *mut tc_cache, key: *const u8, key_len: usize, ttl_ms: u64) -> tc_status {
    guard("tc_touch", || handle(cache)?.touch(key_bytes(key, key_len)?, ttl_ms))
}

/// An iteration over the keys of a cache: an opaque handle.
#[allow(non_camel_case_types)]
pub struct tc_iter {
    cache: *const tc_cache,
    /// The keys live when the iteration began, in byte order, each once.
    keys: std::vec::IntoIter<Box<[u8]>>,
}

/// Begins an iteration over the keys that start with the `prefix_len` bytes
/// at `prefix` (0: every key; `prefix` must still be non-NULL).
///
/// Guarantee: every key live for the whole iteration is yielded exactly
/// once; keys written or removed meanwhile may or may not be; none is
/// yielded twice; no expired key is yielded. Keys come in byte order. The
/// keys live now are listed at once (each memory shard and the log locked
/// only while it is listed; writers are not held up for the iteration);
/// each is looked up again when `tc_iter_next` reaches it.
///
/// Ownership: on success `*out` is an iterator freed with `tc_iter_free`,
/// before the cache is closed. Returns `TC_OK`; `TC_INVALID_ARGUMENT` if a
/// pointer is NULL; `TC_CLOSED` after shutdown.
///
/// # Safety
/// `cache` is NULL or a live handle that outlives the iterator; `prefix` is
/// NULL or valid for `prefix_len` bytes; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tc_iter_new(
    cache: *mut tc_cache,
    prefix: *const u8,
    prefix_len: usize,
    out: *mut *mut tc_iter,
) -> tc_status {
    guard("tc_iter_new", || {
        let c = handle(cache)?;
        let prefix = bytes(prefix, prefix_len, "prefix")?;
        let out = arg_mut(out, "out")?;
        let keys = c.live_keys(prefix);
        *out = Box::into_raw(Box::new(tc_iter {
            cache,
            keys: keys.into_iter(),
        }));
        Ok(())
    })
}

/// The next key of the iteration and what the cache knows about it.
///
/// Ownership: on `TC_OK`, `*key` holds a copy the caller frees with
/// `tc_bytes_free`, and `*info` is filled. Returns `TC_OK`; `TC_NOT_FOUND`
/// at the end; `TC_INVALID_ARGUMENT` if a pointer is NULL; `TC_CLOSED` if
/// the cache was shut down.
///
/// # Safety
/// `it` is NULL or an iterator from `tc_iter_new` not yet freed, used by one
/// thread at a time; `key` and `info` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tc_iter_next(it: *mut tc_iter, key: *mut tc_bytes, info: *mut tc_entry_info) -> tc_status {
    guard("tc_iter_next", || {
        let it = arg_mut(it, "it")?;
        let key_out = arg_mut(key, "key")?;
        let info_out = arg_mut(info, "info")?;
        let c = handle(it.cache)?;
        for k in it.keys.by_ref() {
            match c.info(&k) {
                Ok(i) => {
                    *info_out = i.into();
                    *key_out = out_bytes(&k);
                    return Ok(());
                }
                Err(e) if e.status() == Status::TC_NOT_FOUND => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::new(Status::TC_NOT_FOUND, "the iteration is over"))
    })
}

/// Frees an iterator. NULL is a no-op.
///
/// # Safety
/// `it` is NULL or an iterator from `tc_iter_new` not freed before.
#[no_mangle]
pub unsafe extern "C" fn tc_iter_free(it: *mut tc_iter) {
    if !it.is_null() {
        guard_void("tc_iter_free", || drop(Box::from_raw(it)));
    }
}

/// Counts the live keys that start with the `prefix_len` bytes at `prefix`
/// (0: every key) and the bytes of their values, as an iteration would see
/// them.
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if a pointer is NULL; `TC_CLOSED`
/// after shutdown.
///
/// # Safety
/// `cache` is NULL or a live handle; `prefix` is NULL or valid for
/// `prefix_len` bytes; `entries` and `value_bytes` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tc_count(
    cache: *mut tc_cache,
    prefix: *const u8,
    prefix_len: usize,
    entries: *mut u64,
    value_bytes: *mut u64,
) -> tc_status {
    guard("tc_count", || {
        let c = handle(cache)?;
        let prefix = bytes(prefix, prefix_len, "prefix")?;
        let entries = arg_mut(entries, "entries")?;
        let value_bytes = arg_mut(value_bytes, "value_bytes")?;
        let (mut n, mut total) = (0, 0);
        for k in c.live_keys(prefix) {
            if let Ok(i) = c.info(&k) {
                n += 1;
                total += i.value_len;
            }
        }
        *entries = n;
        *value_bytes = total;
        Ok(())
    })
}

/// A borrowed byte string in a batch: `len` bytes at `data`.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy)]
pub struct tc_slice {
    pub data: *const u8,
    pub len: usize,
}

/// Gets `n` keys in one call: `statuses[i]` is what `tc_get` would return
/// for `keys[i]`, and `values[i]` holds its value (freed with
/// `tc_bytes_free`) when that is `TC_OK`; otherwise `values[i]` is set to
/// NULL/0. The loader is asked for misses, as by `tc_get`.
///
/// Returns `TC_OK` (whatever the keys' statuses) unless an argument is bad:
/// `TC_INVALID_ARGUMENT` if `cache`, or with `n` > 0 `keys`, `values` or
/// `statuses`, is NULL; `TC_CLOSED` after shutdown. `n` = 0 touches nothing.
///
/// # Safety
/// `cache` is NULL or a live handle; `keys`, `values` and `statuses` are
/// NULL or valid for `n` elements; each key slice is valid for its length.
#[no_mangle]
pub unsafe extern "C" fn tc_get_many(
    cache: *mut tc_cache,
    keys: *const tc_slice,
    n: usize,
    values: *mut tc_bytes,
    statuses: *mut tc_status,
) -> tc_status {
    guard("tc_get_many", || {
        let c = handle(cache)?;
        if n == 0 {
            return Ok(());
        }
        let keys = std::slice::from_raw_parts(arg(keys, "keys")?, n);
        let values = std::slice::from_raw_parts_mut(arg_mut(values, "values")?, n);
        let statuses = std::slice::from_raw_parts_mut(arg_mut(statuses, "statuses")?, n);
        for v in values.iter_mut() {
            *v = tc_bytes {
                data: std::ptr::null_mut(),
                len: 0,
            };
        }
        // Each small value is copied into its own allocation as it is
        // read, as by tc_get (an L1 hit under the shard's lock: no value
        // made and dropped per key).
        let mut small = Boxed::new(c.stripe());
        let (ok_keys, which) = valid_keys(keys, statuses);
        c.get_many_read(&ok_keys, &mut small, |j, small, got| {
            let i = which[j];
            statuses[i] = match got {
                Ok(got) => {
                    values[i] = handed_out(small, got);
                    Status::TC_OK
                }
                Err(e) => {
                    // A copy a failed get's reader made (if any) is freed
                    // now rather than when the next key's read replaces it;
                    // it is never handed out either way, since only an
                    // `Ok(None)` answer takes the copy, and that answer
                    // means this key's read just made it.
                    small.copy = None;
                    e.status()
                }
            };
        });
        Ok(())
    })
}

/// A batch's keys that are valid byte strings, and the index of each in
/// `keys`; every other key's status is set in `statuses`.
unsafe fn valid_keys<'a>(keys: &'a [tc_slice], statuses: &mut [tc_status]) -> (Vec<&'a [u8]>, Vec<usize>) {
    let mut ok_keys = Vec::with_capacity(keys.len());
    let mut which = Vec::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        match key_bytes(k.data, k.len) {
            Ok(k) => {
                ok_keys.push(k);
                which.push(i);
            }
            Err(e) => statuses[i] = e.status(),
        }
    }
    (ok_keys, which)
}

/// Gets `n` keys in one call, as `tc_get_many` does, but copies the values
/// end to end into the caller's buffer instead of handing out an allocation
/// per value: made for wrappers, whose cost per foreign call (one
/// `tc_bytes_free` per value) would otherwise dominate a batch of small
/// values.
///
/// For each key, in order, `statuses[i]` is what `tc_get` would return and:
/// - `TC_OK`: the value is in `buf`, `value_lens[i]` bytes long, right after
///   the values of the keys before it whose status is `TC_OK` (the first at
///   `buf`; the offset of value i is the sum of those lengths).
/// - `TC_BUFFER_TOO_SMALL`: the value did not fit in the room `buf` had left
///   and takes none of it; `value_lens[i]` is its length. If `spilled` is
///   not NULL, `spilled[i]` is a `tc_value` holding it, which the caller
///   frees with `tc_value_free` (so every key is looked up exactly once,
///   and a loaded value is never asked for twice); if `spilled` is NULL,
///   the value is cached all the same but not handed out. Later, smaller
///   values may still fit.
/// - anything else: `value_lens[i]` is 0.
///
/// `spilled[i]` (when `spilled` is not NULL) is NULL except for
/// `TC_BUFFER_TOO_SMALL`. The loader is asked for misses, as by `tc_get`.
///
/// Returns `TC_OK` (whatever the keys' statuses) unless an argument is bad:
/// `TC_INVALID_ARGUMENT` if `cache`, or with `n` > 0 `keys`, `value_lens`
/// or `statuses`, is NULL, or `buf` is NULL while `buf_cap` is not 0;
/// `TC_CLOSED` after shutdown. `n` = 0 touches nothing.
///
/// # Safety
/// `cache` is NULL or a live handle; `keys`, `value_lens`, `spilled` and
/// `statuses` are NULL or valid for `n` elements; each key slice is valid
/// for its length; `buf` is NULL or writable for `buf_cap` bytes.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn tc_get_many_into(
    cache: *mut tc_cache,
    keys: *const tc_slice,
    n: usize,
    buf: *mut u8,
    buf_cap: usize,
    value_lens: *mut usize,
    spilled: *mut *mut tc_value,
    statuses: *mut tc_status,
) -> tc_status {
    guard("tc_get_many_into", || {
        let c = handle(cache)?;
        if buf.is_null() && buf_cap != 0 {
            return Err(Error::invalid("buf is NULL but buf_cap is not 0"));
        }
        if n == 0 {
            return Ok(());
        }
        let keys = std::slice::from_raw_parts(arg(keys, "keys")?, n);
        let value_lens = std::slice::from_raw_parts_mut(arg_mut(value_lens, "value_lens")?, n);
        let statuses = std::slice::from_raw_parts_mut(arg_mut(statuses, "statuses")?, n);
        let mut spilled = (!spilled.is_null()).then(|| std::slice::from_raw_parts_mut(spilled, n));
        value_lens.fill(0);
        if let Some(s) = spilled.as_deref_mut() {
            s.fill(std::ptr::null_mut());
        }
        // Each value is copied into `buf` as it is read (an L1 hit under the
        // shard's lock, as by tc_get_into), after the values before it.
        let mut room = IntoRoom::new(buf, buf_cap, c.stripe());
        let (ok_keys, which) = valid_keys(keys, statuses);
        c.get_many_read(&ok_keys, &mut room, |j, room, got| {
            let i = which[j];
            statuses[i] = match got {
                Ok(None) => {
                    value_lens[i] = room
                        .took()
                        .expect("a get answers Ok(None) only when the reader took the value");
                    Status::TC_OK
                }
                Ok(Some(v)) => {
                    value_lens[i] = v.len();
                    if room.push(&v) {
                        Status::TC_OK
                    } else {
                        if let Some(s) = spilled.as_deref_mut() {
                            s[i] = value_into_raw(v);
                        }
                        Status::TC_BUFFER_TOO_SMALL
                    }
                }
                Err(e) => e.status(),
            };
        });
        Ok(())
    })
}

/// Puts `n` keys in one call, each as `tc_put(keys[i], values[i], ttl_ms)`
/// would, in order. Stops at the first failure and returns its status (the
/// pairs before it are stored, those after it are not).
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if `cache`, or with `n` > 0
/// `keys` or `values`, is NULL, or a key or value is; otherwise as
/// `tc_put`. `n` = 0 touches nothing.
///
/// # Safety
/// `cache` is NULL or a live handle; `keys` and `values` are NULL or valid
/// for `n` elements; each slice is valid for its length.
#[no_mangle]
pub unsafe extern "C" fn tc_put_many(
    cache: *mut tc_cache,
    keys: *const tc_slice,
    values: *const tc_slice,
    n: usize,
    ttl_ms: u64,
) -> tc_status {
    guard("tc_put_many", || {
        let c = handle(cache)?;
        if n == 0 {
            return Ok(());
        }
        let keys = std::slice::from_raw_parts(arg(keys, "keys")?, n);
        let values = std::slice::from_raw_parts(arg(values, "values")?, n);
        // The pairs up to the first bad argument are put (one remote round
        // trip), then the bad one is reported.
        let mut pairs = Vec::with_capacity(n);
        let mut bad = None;
        for i in 0..n {
            match key_bytes(keys[i].data, keys[i].len)
                .and_then(|k| Ok((k, value_bytes(values[i].data, values[i].len)?)))
            {
                Ok(p) => pairs.push(p),
                Err(e) => {
                    bad = Some((i, e));
                    break;
                }
            }
        }
        let r = match (c.put_many(&pairs, ttl_ms), bad) {
            (Err(e), _) | (Ok(()), Some(e)) => Err(e),
            (Ok(()), None) => Ok(()),
        };
        r.map_err(|(i, e)| Error::new(e.status(), format!("pair {i}: {}", e.message())))
    })
}

/// Like `tc_get`, but on a miss asks `loader` (with `user_data`) instead of
/// the cache's loader: memoization of one call. The single flight is shared
/// with the cache's loader: whichever load of the key starts first answers
/// every get of it that misses meanwhile. `user_data` stays the caller's.
///
/// Returns as `tc_get`, and `TC_INVALID_ARGUMENT` if `loader` is NULL.
///
/// # Safety
/// `cache` is NULL or a live handle; `key` is NULL or valid for `key_len`
/// bytes; `loader` is NULL or a function that may be called, from this
/// thread, with `user_data` during the call; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tc_get_or_load(
    cache: *mut tc_cache,
    key: *const u8,
    key_len: usize,
    loader: tc_loader_fn,
    user_data: *mut c_void,
    out: *mut tc_bytes,
) -> tc_status {
    guard("tc_get_or_load", || {
        let c = handle(cache)?;
        let key = key_bytes(key, key_len)?;
        let Some(func) = loader else {
            return Err(Error::invalid("loader is NULL"));
        };
        let out = arg_mut(out, "out")?;
        let l = CLoader::borrowed(func, user_data, c.max_value_len(), &*cache);
        let v = c.get_or_load(key, Arc::new(l))?;
        *out = out_bytes(&v);
        Ok(())
    })
}

/// Options for one put: TTL, tags, a file the entry depends on. A builder:
/// set what you need, pass it to `tc_put_with` or `tc_sink_put_with` (which
/// copy it) as often as you like, free it with `tc_entry_options_free`.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Default)]
pub struct tc_entry_options {
    pub(crate) ttl_ms: u64,
    pub(crate) meta: Meta,
}

/// New entry options: the cache's default TTL, no tags, no dependency.
/// Never NULL; free with `tc_entry_options_free`.
#[no_mangle]
pub extern "C" fn tc_entry_options_new() -> *mut tc_entry_options {
    Box::into_raw(Box::default())
}

/// Frees entry options. NULL is a no-op.
///
/// # Safety
/// `o` is NULL or from `tc_entry_options_new`, not freed before.
#[no_mangle]
pub unsafe extern "C" fn tc_entry_options_free(o: *mut tc_entry_options) {
    if !o.is_null() {
        guard_void("tc_entry_options_free", || drop(Box::from_raw(o)));
    }
}

/// Sets the time to live in milliseconds (0: the cache's default TTL).
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if `o` is NULL.
///
/// # Safety
/// `o` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn tc_entry_options_set_ttl(o: *mut tc_entry_options, ttl_ms: u64) -> tc_status {
    guard("tc_entry_options_set_ttl", || {
        arg_mut(o, "o")?.ttl_ms = ttl_ms;
        Ok(())
    })
}

/// Adds a tag: 1 to 255 bytes; at most 32 per entry (a tag given twice
/// counts once). `tc_remove_tag` removes every entry carrying it.
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if a pointer is NULL or the tag is
/// empty; `TC_TOO_LARGE` if it is over 255 bytes or would be the 33rd.
///
/// # Safety
/// `o` is NULL or live; `tag` is NULL or valid for `tag_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn tc_entry_options_add_tag(
    o: *mut tc_entry_options,
    tag: *const u8,
    tag_len: usize,
) -> tc_status {
    guard("tc_entry_options_add_tag", || {
        let o = arg_mut(o, "o")?;
        if tag_len > crate::meta::MAX_TAG_LEN {
            return Err(Error::new(
                Status::TC_TOO_LARGE,
                format!("tag: {tag_len} bytes is over the limit of {}", crate::meta::MAX_TAG_LEN),
            ));
        }
        o.meta.add_tag(bytes(tag, tag_len, "tag")?)
    })
}

/// Makes the entry depend on the file at `path` (NUL-terminated UTF-8): it
/// stays valid while the file's modification time, size and inode are what
/// they are now (the file is examined here); a changed or missing file makes
/// a get of the entry a miss that goes to the loader (`dependency_misses`).
/// Each get of such an entry costs one `stat`; entries without a dependency
/// cost nothing. Setting it again replaces it.
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if a pointer is NULL, the path is
/// not UTF-8, or the file cannot be examined (the path is in `tc_last_error`).
///
/// # Safety
/// `o` is NULL or live; `path` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn tc_entry_options_set_dependency(o: *mut tc_entry_options, path: *const c_char) -> tc_status {
    guard("tc_entry_options_set_dependency", || {
        let o = arg_mut(o, "o")?;
        let path = std::ffi::CStr::from_ptr(arg(path, "path")?)
            .to_str()
            .map_err(|_| Error::invalid("path: not valid UTF-8"))?;
        o.meta.dependency = Some(Dependency::of(path)?);
        Ok(())
    })
}

/// Like `tc_put`, with the TTL, tags and dependency of `o` (copied).
///
/// Returns as `tc_put`, and `TC_INVALID_ARGUMENT` if `o` is NULL.
///
/// # Safety
/// As `tc_put`; `o` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn tc_put_with(
    cache: *mut tc_cache,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    o: *const tc_entry_options,
) -> tc_status {
    guard("tc_put_with", || {
        let c = handle(cache)?;
        let key = key_bytes(key, key_len)?;
        let value = value_bytes(value, value_len)?;
        let o = arg(o, "o")?;
        c.put_with(key, value, o.ttl_ms, o.meta.clone())
    })
}

/// Removes every entry carrying `tag` from every tier, persistently (like
/// `tc_remove`: tombstones on disk), atomically with respect to puts, as
/// `tc_remove_prefix` is; `*removed` is set to how many had a value a get
/// would have served (as `tc_remove` counts one).
///
/// How tags are found: memory entries carry theirs; on disk, a tag index
/// (tag → hashes of keys put with it, kept in memory only for tagged
/// entries, rebuilt at open from the records that have metadata) names the
/// records to read.
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if a pointer is NULL, the tag is
/// empty or the cache is read-only; `TC_TOO_LARGE` if the tag is over 255
/// bytes; `TC_CLOSED` after shutdown.
///
/// # Safety
/// `cache` is NULL or live; `tag` is NULL or valid for `tag_len` bytes;
/// `removed` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tc_remove_tag(
    cache: *mut tc_cache,
    tag: *const u8,
    tag_len: usize,
    removed: *mut u64,
) -> tc_status {
    guard("tc_remove_tag", || {
        let c = handle(cache)?;
        if tag_len > crate::meta::MAX_TAG_LEN {
            return Err(Error::new(
                Status::TC_TOO_LARGE,
                format!("tag: {tag_len} bytes is over the limit of {}", crate::meta::MAX_TAG_LEN),
            ));
        }
        let tag = bytes(tag, tag_len, "tag")?;
        let removed = arg_mut(removed, "removed")?;
        *removed = c.remove_tag(tag)?;
        Ok(())
    })
}
