//! `tiercache put DIR KEY VALUE`: stores VALUE under KEY, with an optional
//! TTL (`--ttl 10s`), creating the cache directory if it does not exist.
//! The value is on disk (written and fsynced) when the command returns.
//!
//! VALUE `-` reads the value from stdin, the way to store a file or any
//! bytes; with `--hex`, KEY and VALUE are hex digits instead.

use std::ffi::OsStr;
use std::io::Read;
use std::path::Path;

use crate::bytes;
use crate::cachedir::{self, Create};
use crate::failure::Failure;

pub fn run(dir: &Path, key: &OsStr, value: &OsStr, ttl_ms: Option<u64>, hex: bool) -> Result<(), Failure> {
    let key = bytes::from_arg(key, hex, "KEY")?;
    let value = if value == "-" {
        let mut v = Vec::new();
        std::io::stdin()
            .read_to_end(&mut v)
            .map_err(|e| Failure::io("read the value from standard input", e))?;
        v
    } else {
        bytes::from_arg(value, hex, "VALUE")?
    };
    let cache = cachedir::open(dir, Create::IfMissing)?;
    let put = cache.put(&key, &value, ttl_ms.unwrap_or(0));
    // Close even if the put failed, and report the first failure.
    let closed = cache.close();
    put?;
    closed?;
    Ok(())
}
