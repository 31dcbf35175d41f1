//! What every `tc_…` function does at the C boundary: turn NULL pointers and
//! bad enum values into `TC_INVALID_ARGUMENT`, catch panics as `TC_PANIC`,
//! and keep the thread's last error message for `tc_last_error()`.
//!
//! Values of enum type that come from C (statuses, policies) arrive as plain
//! integers (`RawStatus` and friends, which cbindgen names after the enum): a
//! C caller can pass any number, and an out-of-range Rust enum would be
//! undefined behaviour.

use std::cell::RefCell;
use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::{Error, Result, Status};

/// A `tc_status` as received from C: any `u32`.
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawStatus(pub u32);

/// A `tc_write_policy` as received from C.
#[repr(transparent)]
#[derive(Debug, Clone, Copy)]
pub struct RawWritePolicy(pub u32);

/// A `tc_sync_policy` as received from C.
#[repr(transparent)]
#[derive(Debug, Clone, Copy)]
pub struct RawSyncPolicy(pub u32);

/// A `tc_l1_policy` as received from C.
#[repr(transparent)]
#[derive(Debug, Clone, Copy)]
pub struct RawL1Policy(pub u32);
/// A `tc_compression` as received from C.
#[repr(transparent)]
#[derive(Debug, Clone, Copy)]
pub struct RawCompression(pub u32);

thread_local! {
    /// The last failure's message, NUL-terminated. The buffer is reused, so
    /// reporting a failure (a miss, say) allocates nothing once it has grown.
    static LAST_ERROR: RefCell<Vec<u8>> = RefCell::new(vec![0]);
}

/// Records `parts`, concatenated, as this thread's last error.
pub fn set_last_error_parts(parts: &[&str]) {
    LAST_ERROR.with(|e| {
        let mut buf = e.borrow_mut();
        buf.clear();
        for p in parts {
            // Interior NULs would cut the message short in C: show them instead.
            for b in p.bytes() {
                if b == 0 {
                    buf.extend_from_slice(b"\\0");
                } else {
                    buf.push(b);
                }
            }
        }
        buf.push(0);
    });
}

/// Records `msg` as this thread's last error.
pub fn set_last_error(msg: &str) {
    set_last_error_parts(&[msg]);
}

/// This thread's last error message (empty if none yet).
pub fn last_error_ptr() -> *const c_char {
    // The pointer stays valid until this thread's next failing call, which is
    // the only thing that writes the buffer.
    LAST_ERROR.with(|e| e.borrow().as_ptr() as *const c_char)
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// Runs the body of a `tc_…` function: its error becomes the returned status
/// and the thread's last error; a panic becomes `TC_PANIC`.
// `#[inline]` here and on the small functions every get and put goes
// through (`cache::handle`, `cache::handed_out`, `handout::copy_of` and
// `free`, `KeyHasher::hash`, `key_hash`, `Lru::find`): the release build
// splits the crate into 16 codegen units, and a function that is not
// `#[inline]` is inlined across them only as thin LTO sees fit, which for
// these it did not. A `tc_get` of an L1 hit made eight calls it need not
// have made: 537 instructions a get with them, 447 without (callgrind,
// `benchmarks/c/gets.c get 100 20000 100000`), and ~340 ns against
// ~220 over 100k keys (BENCHMARKS.md, History, "Session 33"); the
// profile-guided build inlined them on its own. The same for a put's
// (`Log::maybe_recover`, `after_append`, `Store::numbered`,
// `ReadMostly::write`, `Policy::prefetch`, ...): 2107 -> 2057
// instructions a put (`put.c 100 50000 200000`); and an L2 hit's
// (`Store::located`, `view::open`, `Memory::lock`, `Value::deref`,
// `Cache::settle_evicted`): 2899 -> 2802 instructions a hit of 1 KiB
// (`hit.c l2 1024 20000 20000`, HIT_PASSES 3 less 2). Not `Policy::get`:
// inlined, it cost an L1 hit 18 instructions and an L2 hit 8.
#[inline]
pub fn guard(func: &str, body: impl FnOnce() -> Result<()>) -> Status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => Status::TC_OK,
        Ok(Err(e)) => {
            set_last_error_parts(&[func, ": ", e.message()]);
            e.status()
        }
        Err(p) => {
            set_last_error(&format!("{func}: internal panic: {}", panic_message(&*p)));
            Status::TC_PANIC
        }
    }
}

/// Runs a body that returns nothing (free and close functions), swallowing panics.
// On every get's or put's path: see `ffi::boundary::guard`.
#[inline]
pub fn guard_void(func: &str, body: impl FnOnce()) {
    if let Err(p) = catch_unwind(AssertUnwindSafe(body)) {
        set_last_error(&format!("{func}: internal panic: {}", panic_message(&*p)));
    }
}

/// `p` as a shared reference, or `TC_INVALID_ARGUMENT` naming `name`.
///
/// # Safety
/// `p` must be NULL or point to a live `T` for the returned lifetime.
pub unsafe fn arg<'a, T>(p: *const T, name: &str) -> Result<&'a T> {
    p.as_ref().ok_or_else(|| null(name))
}

/// `p` as an exclusive reference, or `TC_INVALID_ARGUMENT` naming `name`.
///
/// # Safety
/// `p` must be NULL or point to a live `T` that nothing else uses meanwhile.
pub unsafe fn arg_mut<'a, T>(p: *mut T, name: &str) -> Result<&'a mut T> {
    p.as_mut().ok_or_else(|| null(name))
}

/// The `len` bytes at `p`, or `TC_INVALID_ARGUMENT` if `p` is NULL (even
/// when `len` is 0: an empty buffer is passed as any non-NULL pointer).
///
/// # Safety
/// `p` must be NULL or valid for reads of `len` bytes for the returned lifetime.
pub unsafe fn bytes<'a>(p: *const u8, len: usize, name: &str) -> Result<&'a [u8]> {
    if p.is_null() {
        return Err(null(name));
    }
    if len > isize::MAX as usize {
        return Err(Error::invalid(format!("{name}: length {len} is impossible")));
    }
    Ok(std::slice::from_raw_parts(p, len))
}

/// A key's `len` bytes at `p`: as `bytes`, but a length over the key limit
/// is `TC_TOO_LARGE` whatever it is (even one no buffer could have), as the
/// header promises, and is refused before the pointer is used.
///
/// # Safety
/// As `bytes`.
pub unsafe fn key_bytes<'a>(p: *const u8, len: usize) -> Result<&'a [u8]> {
    if p.is_null() {
        return Err(null("key"));
    }
    if len > crate::options::MAX_KEY_LEN {
        return Err(Error::new(
            Status::TC_TOO_LARGE,
            format!("key: {len} bytes is over the limit of {}", crate::options::MAX_KEY_LEN),
        ));
    }
    bytes(p, len, "key")
}

/// A value's `len` bytes at `p`: as `bytes`, but a length over the largest
/// value any cache accepts is `TC_TOO_LARGE` before the pointer is used (the
/// cache checks its own, smaller, maximum).
///
/// # Safety
/// As `bytes`.
pub unsafe fn value_bytes<'a>(p: *const u8, len: usize) -> Result<&'a [u8]> {
    if p.is_null() {
        return Err(null("value"));
    }
    if len as u64 > crate::options::MAX_VALUE_LIMIT {
        return Err(Error::new(
            Status::TC_TOO_LARGE,
            format!(
                "value: {len} bytes is over the largest value tiercache stores ({})",
                crate::options::MAX_VALUE_LIMIT
            ),
        ));
    }
    bytes(p, len, "value")
}

fn null(name: &str) -> Error {
    Error::invalid(format!("{name} is NULL"))
}
