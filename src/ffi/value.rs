//! Zero-copy reads: `tc_get_value` hands out a `tc_value` that keeps the
//! value alive where it already is (L1's buffer, or the segment's memory
//! map), and the three functions that read and free it. A short value (up
//! to `memory::held::INLINE`, 174 bytes) is held in L1's node, which the
//! next write of the key reuses, so the handle holds a copy of it instead:
//! for that length the copy costs about what the handle's allocation does.

use super::boundary::{arg_mut, guard, guard_void, key_bytes};
use super::cache::{handle, tc_cache};
use crate::error::tc_status;
use crate::value::Value;

/// A value read without copying it (a value of up to 174 bytes is copied
/// into the handle: memory holds those in its own entries): an opaque
/// handle from `tc_get_value`. Its bytes (`tc_value_data`, `tc_value_len`) stay valid and unchanged until
/// `tc_value_free`, whatever happens to the key or the cache meanwhile — a
/// put or remove of the key, an eviction, a compaction or clear that deletes
/// the segment file the bytes are mapped from, even `tc_cache_close`: the
/// handle holds the memory (or the map) itself. It is immutable, so any
/// number of threads may read one at once; free it exactly once.
#[allow(non_camel_case_types)]
pub struct tc_value {
    value: Value,
}

/// Looks `key` up exactly as `tc_get` does (L1, then L2 with promotion, then
/// the loader; the same consistency: see docs/CONSISTENCY.md), but hands out
/// the value without copying it (a value of up to 174 bytes, which memory
/// holds in its own entry, is copied into the handle): memory's own copy of it, or, for a disk hit
/// that memory does not take in (a value larger than memory's share), the
/// bytes of the record in the segment's memory map, which were verified
/// against their checksum and key when it was read.
///
/// Ownership: on success `*out` is a new `tc_value` the caller frees with
/// `tc_value_free`; on failure `*out` is untouched. Returns `TC_OK`;
/// `TC_NOT_FOUND` if no tier and no loader has a value; `TC_LOADER_FAILED`
/// if the loader failed (nothing is cached); `TC_INVALID_ARGUMENT` if
/// `cache`, `key` or `out` is NULL or `key_len` is 0; `TC_TOO_LARGE` if the
/// key is over 64 KiB; `TC_CLOSED` after `tc_cache_shutdown`.
///
/// # Safety
/// `cache` is NULL or a live handle; `key` is NULL or valid for `key_len`
/// bytes; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tc_get_value(
    cache: *mut tc_cache,
    key: *const u8,
    key_len: usize,
    out: *mut *mut tc_value,
) -> tc_status {
    guard("tc_get_value", || {
        let c = handle(cache)?;
        let key = key_bytes(key, key_len)?;
        let out = arg_mut(out, "out")?;
        *out = value_into_raw(c.get_value(key)?);
        Ok(())
    })
}

/// A new `tc_value` handed out to C, freed by `tc_value_free`.
pub(crate) fn value_into_raw(value: Value) -> *mut tc_value {
    Box::into_raw(Box::new(tc_value { value }))
}

/// The first byte of the value, valid for `tc_value_len(v)` bytes until
/// `tc_value_free(v)`. Read only: the bytes may be a read-only memory map.
/// NULL if `v` is NULL or the value is empty.
///
/// # Safety
/// `v` is NULL or a live `tc_value`.
#[no_mangle]
pub unsafe extern "C" fn tc_value_data(v: *const tc_value) -> *const u8 {
    match v.as_ref() {
        Some(v) if !v.value.is_empty() => v.value.as_ptr(),
        _ => std::ptr::null(),
    }
}

/// The value's length in bytes; 0 if `v` is NULL.
///
/// # Safety
/// `v` is NULL or a live `tc_value`.
#[no_mangle]
pub unsafe extern "C" fn tc_value_len(v: *const tc_value) -> usize {
    v.as_ref().map_or(0, |v| v.value.len())
}

/// Frees a `tc_value` (and, if it was the last thing holding it, the memory
/// or the map of a deleted segment it pointed into). NULL is a no-op.
///
/// # Safety
/// `v` is NULL or a `tc_value` from `tc_get_value` or `tc_get_many_into`,
/// not freed before.
#[no_mangle]
pub unsafe extern "C" fn tc_value_free(v: *mut tc_value) {
    if v.is_null() {
        return;
    }
    guard_void("tc_value_free", || drop(Box::from_raw(v)));
}
