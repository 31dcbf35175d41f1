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

/// How a test's cache directory stores values at rest: the damage, crash
/// and kill tests run under each (parameterized, not copied).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtRest {
    Plain,
    /// LZ4 for every value that shrinks (no minimum length).
    Lz4,
    /// Zstandard for every value that shrinks, and encryption.
    ZstdEncrypted,
    /// Encryption only.
    Encrypted,
}

/// Whether the long runs are asked for: `TIERCACHE_TORTURE=large`.
pub fn torture_large() -> bool {
    std::env::var("TIERCACHE_TORTURE").is_ok_and(|v| v == "large")
}

/// Whether turn `turn` of `of` runs iteration `iteration` of a loop that
/// several at-rest modes share (byte offsets, say): by default the modes
/// take turns, so each iteration still runs in one of them and each of them
/// over a spread of iterations; under `TIERCACHE_TORTURE=large` every mode
/// runs every iteration (the whole matrix).
pub fn takes_turn(iteration: usize, turn: usize, of: usize) -> bool {
    torture_large() || iteration % of == turn
}

/// The encryption key of the tests' encrypted directories.
pub const TEST_KEY: [u8; 32] = *b"tiercache test key, 32 bytes ok!";

impl AtRest {
    pub const ALL: [AtRest; 4] = [AtRest::Plain, AtRest::Lz4, AtRest::ZstdEncrypted, AtRest::Encrypted];

    pub fn name(self) -> &'static str {
        match self {
            AtRest::Plain => "plain",
            AtRest::Lz4 => "lz4",
            AtRest::ZstdEncrypted => "zstd+key",
            AtRest::Encrypted => "key",
        }
    }

    pub fn from_name(name: &str) -> AtRest {
        AtRest::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .unwrap_or_else(|| panic!("unknown at-rest mode {name:?}"))
    }

    /// This mode's place in `ALL`.
    pub fn index(self) -> usize {
        AtRest::ALL.iter().position(|a| *a == self).unwrap()
    }

    pub fn encrypted(self) -> bool {
        matches!(self, AtRest::ZstdEncrypted | AtRest::Encrypted)
    }

    pub fn compressed(self) -> bool {
        matches!(self, AtRest::Lz4 | AtRest::ZstdEncrypted)
    }

    /// Sets the compression and key of this mode on `o`.
    pub fn apply(self, o: &mut Options) {
        use tiercache::Compression;
        match self {
            AtRest::Plain => {}
            AtRest::Lz4 => o.set_compression(Compression::TC_COMPRESSION_LZ4, 0),
            AtRest::ZstdEncrypted => {
                o.set_compression(Compression::TC_COMPRESSION_ZSTD, 0);
                o.set_encryption_key(&TEST_KEY).unwrap();
            }
            AtRest::Encrypted => o.set_encryption_key(&TEST_KEY).unwrap(),
        }
    }

    /// `Options::with_dir(dir)` in this mode.
    /// The key `tiercache::log::verify::verify` needs for this mode's directories.
    pub fn verify_key(self) -> Option<tiercache::seal::EncryptionKey> {
        self.encrypted()
            .then(|| tiercache::seal::EncryptionKey::new(&TEST_KEY).unwrap())
    }

    pub fn with_dir(self, dir: &Path) -> Options {
        let mut o = Options::with_dir(dir);
        self.apply(&mut o);
        o
    }
}

/// `open` in an at-rest mode.
pub fn open_at(dir: &Path, l1_entries: u64, at: AtRest) -> Cache {
    let mut o = opts(dir, l1_entries);
    at.apply(&mut o);
    Cache::open(&o).expect("open cache")
}
/// Every file directly in `dir`, by name, with its bytes, sorted by name:
/// what a test compares to see that a directory was (or was not) changed,
/// or greps for plaintext.
pub fn dir_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// The log's segment files in `dir` (`NNNNNNNNNN.tcl`), oldest first.
pub fn segment_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tcl"))
        .collect();
    v.sort();
    v
}

pub mod redis_server;

/// A tiny seeded PRNG (splitmix64) for the model and differential tests: a
/// seed names a run, so a failing seed can be run again.
pub struct Rng(pub u64);

impl Rng {
    /// The `stream`th generator of `seed` (streams of one seed are unrelated).
    pub fn new(seed: u64, stream: u64) -> Rng {
        let mut r = Rng(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next();
        r
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// lo..=hi
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
}
