//! `tc_get_made`: a get whose answer the caller's own constructors make,
//! for a foreign-function layer that holds a lock of its own around each
//! call into C (Python's GIL, when ctypes calls through `PyDLL`).
//!
//! Why: through ctypes, a `tc_get_into_word` hit of 100 bytes costs Python
//! ~0.55 µs, of which the library is ~0.06 (BENCHMARKS.md, "Python get
//! hit: the wrapper against its floors"). The rest is ctypes releasing and
//! taking back the GIL around the call (`CDLL`), the Python code around it,
//! and the slice of the scratch buffer that makes the `bytes`. Called with
//! the GIL held, the library can make the `bytes` itself
//! (`PyBytes_FromStringAndSize`, passed in as `tc_made::value`) and hand
//! it back as the call's result (ctypes' `py_object`), and the wrapper needs
//! no buffer. But a call that holds the GIL must not wait: not for a write
//! of the shard (whose writer may be a Python thread's put that needs
//! nothing of the GIL, but whose wait would stall every Python thread), and
//! not for a disk read, a loader or the remote tier. So the call answers an
//! L1 hit at once, and only one that needs no waiting (`Cache::get_at_once`:
//! the shard's shared lock taken only if no writer is in); for anything
//! else it lets the caller's lock go (`tc_made::release`), makes the whole
//! get (`tc_get_into`'s: L2, the remote tier, the loader), and takes the
//! lock back (`tc_made::reacquire`) before it makes the answer. Whatever
//! the caller's lock, no library lock is held while a constructor runs.
//!
//! It owns no state beyond one call.

use std::ffi::{c_long, c_void};
use std::mem::MaybeUninit;

use super::boundary::{guard, key_bytes};
use super::cache::{handle, tc_cache};
use super::copy::{ToStack, UNDER_LOCK};
use crate::cache::Cache;
use crate::error::{Result, Status};
use crate::value::Value;

/// Makes the caller's object for a value: `len` bytes at `data` (`data` is
/// valid for `len` bytes during the call only; NULL never). Python:
/// `PyBytes_FromStringAndSize`.
#[allow(non_camel_case_types)]
pub type tc_make_value = Option<unsafe extern "C" fn(data: *const u8, len: usize) -> *mut c_void>;
/// Makes the caller's object for a get that found no value (`TC_NOT_FOUND`)
/// or failed (any other status but `TC_OK`; `tc_last_error()` says why).
/// Python: `PyLong_FromLong`.
#[allow(non_camel_case_types)]
pub type tc_make_status = Option<unsafe extern "C" fn(status: c_long) -> *mut c_void>;
/// Lets go of the caller's lock before a get that may wait; returns what
/// `tc_reacquire` takes back. Python: `PyEval_SaveThread`.
#[allow(non_camel_case_types)]
pub type tc_release = Option<unsafe extern "C" fn() -> *mut c_void>;
/// Takes back the lock `tc_release` let go of. Python: `PyEval_RestoreThread`.
#[allow(non_camel_case_types)]
pub type tc_reacquire = Option<unsafe extern "C" fn(token: *mut c_void)>;

/// What `tc_get_made` needs besides the key: the handle, the two
/// constructors of its answer, and how to let go of the caller's lock and
/// take it back (both NULL if the caller holds none). Built once by the
/// caller, only read by the library.
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct tc_made {
    pub cache: *mut tc_cache,
    pub value: tc_make_value,
    pub status: tc_make_status,
    pub release: tc_release,
    pub reacquire: tc_reacquire,
}

/// Gets `key` as `tc_get_into` does (L1, L2 with promotion, the remote
/// tier, the loader; the same consistency), and returns the caller's
/// object for the answer: `made->value(data, len)` for the value,
/// `made->status(s)` for any other answer (`TC_NOT_FOUND`, or an error with
/// `tc_last_error()` set). Exactly one of the two is called, once, after
/// the get, with no library lock held.
///
/// For a caller that holds a lock of its own (Python's GIL, calling
/// through `PyDLL`): an L1 hit that needs no waiting is answered with that
/// lock held; anything else (an L1 miss, a key whose shard is being
/// written, an entry to drop) is got between `made->release()` and
/// `made->reacquire(token)`, so the caller's lock is never held while the
/// library waits for a lock, the disk, a loader or the network. Both NULL:
/// nothing to let go. The constructors are called with the caller's lock
/// held (after `reacquire`).
///
/// Returns NULL, calling nothing, if `made` is NULL or either constructor
/// is NULL.
///
/// # Safety
/// `made` is NULL or valid for reads, its `cache` NULL or a live handle;
/// `key` is NULL or valid for `key_len` bytes; the functions in `made` are
/// safe to call as described above.
#[no_mangle]
pub unsafe extern "C" fn tc_get_made(made: *const tc_made, key: *const u8, key_len: usize) -> *mut c_void {
    let Some(m) = made.as_ref() else {
        return std::ptr::null_mut();
    };
    let (Some(make_value), Some(make_status)) = (m.value, m.status) else {
        return std::ptr::null_mut();
    };
    let mut buf = MaybeUninit::<[u8; UNDER_LOCK]>::uninit();
    let buf = buf.as_mut_ptr().cast::<u8>();
    // With the caller's lock held: an L1 hit that needs no waiting.
    match at_once(m.cache, key, key_len, buf) {
        Some(Got::Copied(len)) => return make_value(buf, len),
        Some(Got::Value(v)) => return make_value(v.as_ptr(), v.len()),
        None => {}
    }
    // Anything else, with the caller's lock let go. The answer is plain
    // data (no destructor runs after `reacquire` but the value's, below):
    // Python's `PyEval_RestoreThread` may end a daemon thread during the
    // interpreter's shutdown, unwinding this frame as it goes.
    let token = m.release.map(|release| release());
    let got = whole(m.cache, key, key_len, buf);
    if let (Some(reacquire), Some(token)) = (m.reacquire, token) {
        reacquire(token);
    }
    match got {
        Ok(Got::Copied(len)) => make_value(buf, len),
        Ok(Got::Value(v)) => {
            // SAFETY: `whole` boxed it, and nothing else has it.
            let v = Box::from_raw(v);
            make_value(v.as_ptr(), v.len())
        }
        Err(s) => make_status(s as c_long),
    }
}

/// A get's value on its way to the constructor.
enum Got<V> {
    /// In the call's buffer.
    Copied(usize),
    /// Too long for the buffer.
    Value(V),
}

/// The L1 hit `tc_get_made` answers at once, or `None`.
///
/// # Safety
/// As `tc_get_made`'s; `buf` is writable for `UNDER_LOCK` bytes.
unsafe fn at_once(cache: *mut tc_cache, key: *const u8, key_len: usize, buf: *mut u8) -> Option<Got<Value>> {
    reading(cache, key, key_len, buf, |c, key, into| {
        Ok(c.get_at_once(key, into).map(|got| match got {
            None => Got::Copied(into.len()),
            Some(v) => Got::Value(v),
        }))
    })
    .ok()
    .flatten()
}

/// The whole get of `tc_get_made`, with a value too long for `buf` boxed
/// and let go of (`Box::into_raw`), which the caller takes back; or the
/// status of no value (`TC_NOT_FOUND`, an error).
///
/// # Safety
/// As `at_once`'s.
unsafe fn whole(
    cache: *mut tc_cache,
    key: *const u8,
    key_len: usize,
    buf: *mut u8,
) -> std::result::Result<Got<*mut Value>, Status> {
    reading(cache, key, key_len, buf, |c, key, into| {
        Ok(match c.get_read(key, into)? {
            None => Got::Copied(into.len()),
            Some(v) => Got::Value(Box::into_raw(Box::new(v))),
        })
    })
}

/// `get` of the handle's cache, the key, and a reader into `buf`, inside
/// the handle's gate and `guard` (a failure's status, with
/// `tc_last_error()` set).
///
/// # Safety
/// As `at_once`'s.
unsafe fn reading<R>(
    cache: *mut tc_cache,
    key: *const u8,
    key_len: usize,
    buf: *mut u8,
    get: impl FnOnce(&Cache, &[u8], &mut ToStack) -> Result<R>,
) -> std::result::Result<R, Status> {
    let mut got = None;
    let status = guard("tc_get_made", || {
        let c = handle(cache)?;
        let key = key_bytes(key, key_len)?;
        let mut into = ToStack::new(buf, c.stripe());
        got = Some(get(&c, key, &mut into)?);
        Ok(())
    });
    got.ok_or(status)
}
