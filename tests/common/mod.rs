//! Helpers shared by the Rust integration tests.
#![allow(dead_code)]

use std::path::Path;

use tiercache::options::L1Policy;
use tiercache::{Cache, Options, Status};

/// Defines, for each named `fn NAME(policy: L1Policy)`, one test per L1
/// policy: `lru::NAME` and `s3fifo::NAME`. Every guarantee must hold
/// whichever policy evicts, so the tests of them run under both.
#[macro_export]
macro_rules! per_policy {
    ($($name:ident),* $(,)?) => {
        mod lru {
            $( #[test] fn $name() { super::$name(tiercache::options::L1Policy::TC_L1_LRU) } )*
        }
        mod s3fifo {
            $( #[test] fn $name() { super::$name(tiercache::options::L1Policy::TC_L1_S3FIFO) } )*
        }
    };
}

/// Memory-only options with L1 policy `p`.
pub fn opts_with(p: L1Policy) -> Options {
    Options {
        l1_policy: p,
        ..Options::new()
    }
}

/// Options for a cache on `dir` with L1 policy `p`.
pub fn dir_with(p: L1Policy, dir: &Path) -> Options {
    Options {
        l1_policy: p,
        ..Options::with_dir(dir)
    }
}

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
