//! How a command fails: an exit code and at most one line for stderr.
//!
//! The exit codes are the same for every command:
//! 0 success; 1 the answer is "no" (a key not found, corruption found);
//! 2 an error (bad usage, a directory that is missing or in use, I/O).
//! `main` prints the message as `tiercache: MESSAGE`; nothing else in the
//! tool writes to stderr except progress bars.

use std::io;

use tiercache::Status;

/// The exit code of a command that answered "no".
pub const NO: u8 = 1;
/// The exit code of a command that could not do its job.
pub const ERROR: u8 = 2;

/// Why a command stopped early.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    /// One line, without the `tiercache: ` prefix; `None` to say nothing.
    pub message: Option<String>,
}

impl Failure {
    /// An error (exit code 2).
    pub fn error(message: impl Into<String>) -> Failure {
        Failure {
            code: ERROR,
            message: Some(one_line(message.into())),
        }
    }

    /// A "no" answer (exit code 1), such as a key that is not there.
    pub fn no(message: impl Into<String>) -> Failure {
        Failure {
            code: NO,
            message: Some(one_line(message.into())),
        }
    }

    /// An I/O error while doing `what`.
    pub fn io(what: impl std::fmt::Display, e: io::Error) -> Failure {
        Failure::error(format!("{what}: {e}"))
    }

    /// Writing to stdout failed: quietly stop if the reader went away
    /// (`tiercache dump DIR | head`), otherwise report it.
    pub fn output(e: io::Error) -> Failure {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Failure { code: 0, message: None }
        } else {
            Failure::io("write to standard output", e)
        }
    }
}

/// Library errors are errors (exit code 2). The lock error already says
/// plainly which directory is in use, so its status description is left off.
impl From<tiercache::Error> for Failure {
    fn from(e: tiercache::Error) -> Failure {
        match e.status() {
            Status::TC_LOCKED => Failure::error(e.message()),
            _ => Failure::error(e.to_string()),
        }
    }
}

/// The answer of a lookup of `key` in `dir`: the library's "not found" is
/// the command's "no" (exit code 1, naming the key and the directory); any
/// other error is an error.
pub fn found<T>(answer: tiercache::Result<T>, key: &[u8], dir: &std::path::Path) -> Result<T, Failure> {
    match answer {
        Err(e) if e.status() == Status::TC_NOT_FOUND => Err(Failure::no(format!(
            "{}: not found in {}",
            crate::bytes::show(key),
            dir.display()
        ))),
        r => r.map_err(Failure::from),
    }
}

/// Keeps a message on one line whatever it quotes (an OS error, a path).
fn one_line(s: String) -> String {
    if s.contains(['\n', '\r']) {
        s.replace(['\n', '\r'], " ")
    } else {
        s
    }
}
