//! `tc_get_into_word`: `tc_get_into` in the shape that foreign-function
//! layers call cheapest.
//!
//! ctypes pays for every argument of every call (libffi classifies each one
//! again, and ctypes converts each one), and for every out-parameter it then
//! reads back as a Python object. So this get takes what stays the same from
//! call to call (the handle, the output buffer and its capacity) in one
//! struct the wrapper builds once, and answers the status and the length in
//! the return word instead of through `*value_len`. It is `tc_get_into`
//! otherwise: same lookup, same loader, same errors, same `tc_last_error()`
//! (whose messages name `tc_get_into`). It owns nothing and keeps no state.

use super::boundary::set_last_error;
use super::cache::{tc_cache, tc_get_into};
use crate::error::Status;

/// Where `tc_get_into_word` copies values: a handle and a buffer of
/// `buf_cap` bytes. The caller owns both; the library only reads the struct.
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct tc_get_target {
    pub cache: *mut tc_cache,
    pub buf: *mut u8,
    pub buf_cap: usize,
}

/// `tc_get_into(target->cache, key, key_len, target->buf, target->buf_cap,
/// &len)` with its answer packed in one word, for foreign-function layers
/// (ctypes, cgo) where each argument and out-parameter costs time. Returns:
///
/// - `len` >= 0: `TC_OK`, and the value (`len` bytes) is in `target->buf`;
/// - a negative `r`: the status is `(-r) & 255`, and for
///   `TC_BUFFER_TOO_SMALL` `(-r) >> 8` is the value's length (the buffer
///   is left as it was). So a miss is -1 (`TC_NOT_FOUND`).
///
/// Statuses as `tc_get_into`, and `TC_INVALID_ARGUMENT` if `target` is
/// NULL; the messages of `tc_last_error()` name `tc_get_into`. Values are
/// at most 1 GiB, so the length always fits beside the status.
///
/// # Safety
/// `target` is NULL or valid for reads, its `cache` NULL or a live handle,
/// its `buf` NULL or writable for `buf_cap` bytes; `key` is NULL or valid
/// for `key_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn tc_get_into_word(target: *const tc_get_target, key: *const u8, key_len: usize) -> i64 {
    let Some(t) = target.as_ref() else {
        set_last_error("tc_get_into_word: target is NULL");
        return word_of(Status::TC_INVALID_ARGUMENT, 0);
    };
    let mut len = 0usize;
    let status = tc_get_into(t.cache, key, key_len, t.buf, t.buf_cap, &mut len);
    word_of(status, len)
}

/// The packed answer of `tc_get_into_word` (see there).
fn word_of(status: Status, len: usize) -> i64 {
    match status {
        Status::TC_OK => len as i64,
        Status::TC_BUFFER_TOO_SMALL => -(((len as i64) << 8) | status as i64),
        s => -(s as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_keeps_status_and_length_apart() {
        assert_eq!(word_of(Status::TC_OK, 0), 0);
        assert_eq!(word_of(Status::TC_OK, 100), 100);
        assert_eq!(word_of(Status::TC_NOT_FOUND, 0), -1);
        let w = word_of(Status::TC_BUFFER_TOO_SMALL, 1 << 30);
        assert_eq!((-w) & 255, Status::TC_BUFFER_TOO_SMALL as i64);
        assert_eq!((-w) >> 8, 1 << 30);
        for s in Status::ALL {
            if s != Status::TC_OK && s != Status::TC_BUFFER_TOO_SMALL {
                assert_eq!(-word_of(s, 0), s as i64);
            }
        }
    }
}
