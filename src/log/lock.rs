//! The exclusive lock that makes one handle at a time the owner of a cache
//! directory.
//!
//! `flock(2)` on `<dir>/LOCK`: the lock belongs to the open file description,
//! so a second open in the same process conflicts just like one in another
//! process, and the kernel releases it when the owner exits or is killed. It
//! is taken without waiting: a second opener gets `TC_LOCKED` at once.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

use crate::error::{Error, Result, Status};

pub const LOCK_FILE: &str = "LOCK";

/// Holds the lock until dropped.
#[derive(Debug)]
pub struct DirLock {
    _file: Option<File>,
}

impl DirLock {
    /// Takes the lock of `dir`: exclusive, or shared if `read_only`.
    pub fn acquire(dir: &Path, read_only: bool) -> Result<DirLock> {
        let path = dir.join(LOCK_FILE);
        let opened = if read_only {
            OpenOptions::new().read(true).open(&path)
        } else {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&path)
        };
        let file = match opened {
            Ok(f) => f,
            Err(e) if read_only && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(DirLock { _file: None });
            }
            Err(e) => return Err(Error::io(format!("open lock file {}", path.display()), e)),
        };
        let how = if read_only { libc::LOCK_SH } else { libc::LOCK_EX };
        // SAFETY: flock on a descriptor we own; it touches no memory.
        let rc = unsafe { libc::flock(file.as_raw_fd(), how | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(Error::new(
                    Status::TC_LOCKED,
                    format!(
                        "cache directory {} is in use by another handle (in this or another process)",
                        dir.display()
                    ),
                ));
            }
            return Err(Error::io(format!("lock {}", path.display()), err));
        }
        Ok(DirLock { _file: Some(file) })
    }
}
