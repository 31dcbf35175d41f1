//! `tiercache get DIR KEY`: writes the value of KEY to stdout exactly as
//! stored (no newline added). Exit status 1, with one line on stderr, if the
//! key has no live value.

use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;

use crate::bytes;
use crate::cachedir;
use crate::failure::{self, Failure};

pub fn run(dir: &Path, key: &OsStr, hex: bool) -> Result<(), Failure> {
    let key = bytes::from_arg(key, hex, "KEY")?;
    let cache = cachedir::open_read_only(dir)?;
    let value = cache.get(&key);
    cache.close()?;
    let value = failure::found(value, &key, dir)?;
    let mut out = std::io::stdout().lock();
    out.write_all(&value)
        .and_then(|()| out.flush())
        .map_err(Failure::output)
}
