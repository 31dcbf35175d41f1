//! `tiercache rm-tag DIR TAG`: removes every entry carrying TAG, as
//! `tc_remove_tag` does (tombstones, so they stay removed), and
//! `tiercache info DIR KEY`: what the cache knows about one entry.

use std::ffi::OsStr;
use std::path::Path;

use tiercache::meta::Meta;
use tiercache::record::Kind;

use crate::bytes;
use crate::cachedir::{self, Create};
use crate::failure::{self, Failure};
use crate::units;

/// Removes the entries carrying TAG; prints how many had a live value.
/// Exit status 1 if none had.
pub fn remove(dir: &Path, tag: &OsStr, hex: bool) -> Result<(), Failure> {
    let tag = bytes::from_arg(tag, hex, "TAG")?;
    let cache = cachedir::open(dir, Create::No)?;
    let removed = cache.remove_tag(&tag);
    let closed = cache.close();
    let n = removed?;
    closed?;
    println!("{n}");
    if n == 0 {
        return Err(Failure::no(format!(
            "no live entry in {} carries the tag {}",
            dir.display(),
            bytes::show(&tag)
        )));
    }
    Ok(())
}

/// Prints `field: value` lines about KEY: value size, expiry, write time,
/// tier, tags and dependency. Exit status 1 if the key has no live value.
pub fn info(dir: &Path, key: &OsStr, hex: bool) -> Result<(), Failure> {
    let key = bytes::from_arg(key, hex, "KEY")?;
    let cache = cachedir::open_read_only(dir)?;
    let info = cache.info(&key);
    let mut meta = None;
    if let Some(log) = cache.log() {
        log.for_each(|r| {
            if r.kind == Kind::Put && r.key == key {
                meta = Meta::decode(&r.meta);
            }
        });
    }
    cache.close()?;
    let info = failure::found(info, &key, dir)?;
    println!("key: {}", bytes::show(&key));
    println!("value_len: {}", info.value_len);
    match info.expires_at {
        0 => println!("expires: never"),
        t => println!("expires: {}", units::utc(t)),
    }
    println!("written: {}", units::utc(info.written_at));
    println!("tier: {}", if info.tier == 1 { "memory" } else { "disk" });
    let meta = meta.unwrap_or_default();
    let tags: Vec<String> = meta.tags.iter().map(|t| bytes::show(t)).collect();
    println!("tags: {}", tags.join(" "));
    if let Some(d) = &meta.dependency {
        println!("depends_on: {} (size {}, inode {})", d.path, d.size, d.ino);
    }
    Ok(())
}
