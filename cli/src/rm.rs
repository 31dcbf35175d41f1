//! `tiercache rm DIR KEY`: removes KEY (a tombstone is appended, so it stays
//! removed). Exit status 1, with one line on stderr, if the key had no live
//! value.

use std::ffi::OsStr;
use std::path::Path;

use tiercache::Status;

use crate::bytes;
use crate::cachedir::{self, Create};
use crate::failure::Failure;

pub fn run(dir: &Path, key: &OsStr, hex: bool) -> Result<(), Failure> {
    let key = bytes::from_arg(key, hex, "KEY")?;
    let cache = cachedir::open(dir, Create::No)?;
    let removed = cache.remove(&key);
    let closed = cache.close();
    match removed {
        Err(e) if e.status() == Status::TC_NOT_FOUND => {
            return Err(Failure::no(format!(
                "{}: not found in {}",
                bytes::show(&key),
                dir.display()
            )))
        }
        r => r?,
    }
    closed?;
    Ok(())
}
