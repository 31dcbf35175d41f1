//! Helpers shared by the Rust integration tests.
#![allow(dead_code)]

use std::path::Path;

use tiercache::{Cache, Options, Status};

/// Options for a cache on `dir` with an L1 of `l1_entries` entries (0: default).
pub fn opts(dir: &Path, l1_entries: u64) -> Options {
    let mut o = Options::with_dir(dir);
    if l1_entries > 0 {
        o.l1_max_entries = l1_entries;
    }
    o
}

pub fn open(dir: &Path, l1_entries: u64) -> Cache {
    Cache::open(&opts(dir, l1_entries)).expect("open cache")
}

/// The value of `key` as a Vec, or the status of the failure.
pub fn get(c: &Cache, key: &[u8]) -> Result<Vec<u8>, Status> {
    c.get(key).map(|v| v.to_vec()).map_err(|e| e.status())
}

pub mod redis_server;
