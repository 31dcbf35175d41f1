//! The C ABI: every `tc_…` function, on opaque handles.
//!
//! This module (with its children) is what cbindgen reads to generate
//! `include/tiercache.h`, so the functions are written out plainly as
//! `#[no_mangle] pub extern "C" fn`, each with the doc comment that becomes
//! its documentation in the header. Each body runs inside
//! `boundary::guard`, which checks nothing itself but turns errors into the
//! status and `tc_last_error()` message, and panics into `TC_PANIC`.

pub mod boundary;
pub mod cache;
mod copy;
pub mod entries;
pub mod fast;
mod handle;
mod handout;
pub mod loader;
pub mod made;
pub mod options;
pub mod value;

use std::ffi::c_char;

use crate::error::Status;
use boundary::RawStatus;

/// A static, NUL-terminated description of `status` ("unknown status" for a
/// number that is not one). Never NULL; never freed.
#[no_mangle]
pub extern "C" fn tc_status_str(status: RawStatus) -> *const c_char {
    macro_rules! cstr {
        ($($s:ident),*) => {
            match Status::from_u32(status.0) {
                $(Some(Status::$s) => concat!(stringify!($s), "\0").as_ptr(),)*
                None => "unknown status\0".as_ptr(),
            }
        };
    }
    let p: *const u8 = cstr!(
        TC_OK,
        TC_NOT_FOUND,
        TC_INVALID_ARGUMENT,
        TC_TOO_LARGE,
        TC_IO_ERROR,
        TC_LOCKED,
        TC_CORRUPT,
        TC_LOADER_FAILED,
        TC_BUFFER_TOO_SMALL,
        TC_PANIC,
        TC_CLOSED
    );
    p as *const c_char
}

/// A NUL-terminated message about the last failure on the calling thread
/// (which function, which argument or path, the OS error or limit), or "" if
/// none. Never NULL. Valid until this thread's next failing `tc_` call; not
/// to be freed.
#[no_mangle]
pub extern "C" fn tc_last_error() -> *const c_char {
    boundary::last_error_ptr()
}

/// The library's version, e.g. "0.1.0": static, never NULL, never freed.
#[no_mangle]
pub extern "C" fn tc_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char
}
