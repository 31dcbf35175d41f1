//! `tiercache rm DIR KEY`: removes KEY (a tombstone is appended, so it stays
//! removed). Exit status 1, with one line on stderr, if the key had no live
//! value.

use std::ffi::OsStr;
use std::path::Path;

use crate::bytes;
use crate::cachedir::{self, Create};
use crate::failure::{self, Failure};

pub fn run(dir: &Path, key: &OsStr, hex: bool) -> Result<(), Failure> {
    let key = bytes::from_arg(key, hex, "KEY")?;
    let cache = cachedir::open(dir, Create::No)?;
    let removed = cache.remove(&key);
    let closed = cache.close();
    failure::found(removed, &key, dir)?;
    closed?;
    Ok(())
}
