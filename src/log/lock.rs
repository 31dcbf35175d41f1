//! The exclusive lock that makes one handle at a time the owner of a cache
//! directory.
//!
//! `flock(2)` on `<dir>/LOCK`: the lock belongs to the open file description,
//! so a second open in the same process conflicts just like one in another
//! process, and the kernel releases it when the owner exits or is killed.
//!
//! A second opener gets `TC_LOCKED` after a short bounded retry (about
//! 100 ms), not at once, because of `fork`: a child forked by any thread of
//! the owner's process shares the lock file's description until it execs
//! (or exits), so for that moment the lock outlives the handle that closed
//! it. A program that spawns processes from one thread while it closes and
//! reopens a cache in another would otherwise see a spurious `TC_LOCKED`.
//! A real second owner still gets `TC_LOCKED`, only later.

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
        let mut wait_us = 500;
        let rc = loop {
            // SAFETY: flock on a descriptor we own; it touches no memory.
            let rc = unsafe { libc::flock(file.as_raw_fd(), how | libc::LOCK_NB) };
            let busy = rc != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EWOULDBLOCK);
            // 0.5 + 1 + 2 + ... + 64 ms: about 128 ms in all (see above).
            if !busy || wait_us > 64_000 {
                break rc;
            }
            std::thread::sleep(std::time::Duration::from_micros(wait_us));
            wait_us *= 2;
        };
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
