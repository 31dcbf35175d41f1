//! Status codes and the crate's error type.
//!
//! `Status` is the C ABI's `tc_status`: its numbers are part of the contract and
//! never change or get reused. `Error` pairs a status with the human-readable
//! message that `tc_last_error()` hands to C callers; every fallible function in
//! the crate returns `Result<T, Error>`.

use std::borrow::Cow;
use std::fmt;

/// Outcome of a call. The numeric values are fixed by the C contract.
#[repr(C)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum tc_status {
    /// Success.
    TC_OK = 0,
    /// The key has no value in any tier (and the loader, if any, found none).
    TC_NOT_FOUND = 1,
    /// A NULL pointer, an empty key, an out-of-range enum value or another bad argument.
    TC_INVALID_ARGUMENT = 2,
    /// A key over 64 KiB or a value over the configured maximum.
    TC_TOO_LARGE = 3,
    /// The operating system reported an error reading or writing the cache directory.
    TC_IO_ERROR = 4,
    /// Another handle (in this or another process) owns the cache directory.
    TC_LOCKED = 5,
    /// The cache directory holds data this version cannot read.
    TC_CORRUPT = 6,
    /// The loader reported a failure; nothing was cached.
    TC_LOADER_FAILED = 7,
    /// The caller's buffer is smaller than the value.
    TC_BUFFER_TOO_SMALL = 8,
    /// A bug inside the library was caught at the C boundary.
    TC_PANIC = 9,
    /// The handle was shut down (`tc_cache_shutdown`), or was inherited from
    /// the parent across `fork()` and so belongs to another process.
    TC_CLOSED = 10,
}

/// The Rust name of `tc_status`.
pub type Status = tc_status;

impl tc_status {
    /// Every status, in numeric order.
    pub const ALL: [tc_status; 11] = [
        tc_status::TC_OK,
        tc_status::TC_NOT_FOUND,
        tc_status::TC_INVALID_ARGUMENT,
        tc_status::TC_TOO_LARGE,
        tc_status::TC_IO_ERROR,
        tc_status::TC_LOCKED,
        tc_status::TC_CORRUPT,
        tc_status::TC_LOADER_FAILED,
        tc_status::TC_BUFFER_TOO_SMALL,
        tc_status::TC_PANIC,
        tc_status::TC_CLOSED,
    ];

    /// The status with this number, if there is one.
    pub fn from_u32(n: u32) -> Option<tc_status> {
        Self::ALL.get(n as usize).copied()
    }

    /// A short, static description (what `tc_status_str` returns).
    pub fn describe(self) -> &'static str {
        match self {
            tc_status::TC_OK => "ok",
            tc_status::TC_NOT_FOUND => "not found",
            tc_status::TC_INVALID_ARGUMENT => "invalid argument",
            tc_status::TC_TOO_LARGE => "too large",
            tc_status::TC_IO_ERROR => "I/O error",
            tc_status::TC_LOCKED => "cache directory is locked by another handle",
            tc_status::TC_CORRUPT => "corrupt data",
            tc_status::TC_LOADER_FAILED => "loader failed",
            tc_status::TC_BUFFER_TOO_SMALL => "buffer too small",
            tc_status::TC_PANIC => "internal panic",
            tc_status::TC_CLOSED => "the cache handle is closed",
        }
    }
}

/// A failed operation: the status to report and a message saying what and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    status: Status,
    // Borrowed for the common static messages, so a miss allocates nothing.
    message: Cow<'static, str>,
}

impl Error {
    pub fn new(status: Status, message: impl Into<Cow<'static, str>>) -> Error {
        Error {
            status,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<Cow<'static, str>>) -> Error {
        Error::new(Status::TC_INVALID_ARGUMENT, message)
    }

    pub fn closed(message: impl Into<Cow<'static, str>>) -> Error {
        Error::new(Status::TC_CLOSED, message)
    }

    pub fn not_found() -> Error {
        Error::new(Status::TC_NOT_FOUND, "key not found")
    }

    pub fn corrupt(message: impl Into<Cow<'static, str>>) -> Error {
        Error::new(Status::TC_CORRUPT, message)
    }

    /// An I/O error, with what was being done and to which path.
    pub fn io(what: impl fmt::Display, err: std::io::Error) -> Error {
        Error::new(Status::TC_IO_ERROR, format!("{what}: {err}"))
    }

    pub fn status(&self) -> Status {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.status.describe())
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_the_contract() {
        for (n, s) in tc_status::ALL.iter().enumerate() {
            assert_eq!(*s as u32, n as u32);
            assert_eq!(tc_status::from_u32(n as u32), Some(*s));
        }
        assert_eq!(tc_status::from_u32(11), None);
        assert_eq!(tc_status::TC_CLOSED as u32, 10);
        assert_eq!(tc_status::TC_PANIC as u32, 9);
    }
}
