//! `tiercache put DIR KEY VALUE`: stores VALUE under KEY, with an optional
//! TTL (`--ttl 10s`), tags (`--tag T`, repeated) and file dependency
//! (`--depends-on PATH`), creating the cache directory if it does not exist.
//! The value is on disk (written and fsynced) when the command returns.
//!
//! VALUE `-` reads the value from stdin, the way to store a file or any
//! bytes; with `--hex`, KEY and VALUE are hex digits instead.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::path::{Path, PathBuf};

use tiercache::meta::{Dependency, Meta};

use crate::bytes;
use crate::cachedir::{self, Create};
use crate::failure::Failure;

/// What `put` stores besides the key and value.
pub struct Extras {
    pub ttl_ms: Option<u64>,
    pub tags: Vec<OsString>,
    pub depends_on: Option<PathBuf>,
}

pub fn run(dir: &Path, key: &OsStr, value: &OsStr, extras: Extras, hex: bool) -> Result<(), Failure> {
    let mut meta = Meta::default();
    for t in &extras.tags {
        meta.add_tag(&bytes::from_arg(t, hex, "TAG")?)?;
    }
    if let Some(p) = &extras.depends_on {
        let p = p
            .to_str()
            .ok_or_else(|| Failure::error(format!("--depends-on {}: not valid UTF-8", p.display())))?;
        meta.dependency = Some(Dependency::of(p)?);
    }
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
    let put = cache.put_with(&key, &value, extras.ttl_ms.unwrap_or(0), meta);
    // Close even if the put failed, and report the first failure.
    let closed = cache.close();
    put?;
    closed?;
    Ok(())
}
