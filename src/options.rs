//! How a cache is configured: sizes, policies, limits, and their defaults.
//!
//! `Options` is a plain value, validated by its setters; the C ABI's
//! `tc_options` builder wraps one and `Cache::open` takes a copy. Nothing here
//! touches the disk.

use std::path::PathBuf;

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::seal::{EncryptionKey, KEY_LEN};

/// The longest key accepted, in bytes (64 KiB).
pub const MAX_KEY_LEN: usize = 64 * 1024;
/// The largest value-size limit that may be configured (1 GiB): a record must
/// fit the log's 32-bit frame length with room to spare.
pub const MAX_VALUE_LIMIT: u64 = 1 << 30;

/// `TC_TOO_LARGE` if a value of `len` bytes is over `max`.
pub fn check_value_len(len: usize, max: u64) -> Result<()> {
    if len as u64 > max {
        return Err(Error::new(
            crate::error::Status::TC_TOO_LARGE,
            format!("value: {len} bytes is over the configured maximum of {max}"),
        ));
    }
    Ok(())
}

/// Default L1 bound on entries: none.
pub const DEFAULT_L1_MAX_ENTRIES: u64 = 0;
/// Default L1 bound on bytes (keys plus values): 64 MiB.
pub const DEFAULT_L1_MAX_BYTES: u64 = 64 << 20;
/// Default L2 bound on bytes on disk: 1 GiB.
pub const DEFAULT_L2_MAX_BYTES: u64 = 1 << 30;
/// Default largest value: 16 MiB.
pub const DEFAULT_MAX_VALUE_LEN: u64 = 16 << 20;
/// Default length under which values are stored uncompressed when a codec is
/// set: below a few hundred bytes a codec's framing eats most of the gain.
pub const DEFAULT_MIN_COMPRESS_LEN: u64 = 256;
/// Default size at which the active segment is sealed and a new one started.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;

/// When `put` writes to L2.
#[repr(C)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tc_write_policy {
    /// `put` appends to L2 at once, so values survive a restart (default).
    TC_WRITE_THROUGH = 0,
    /// L2 is written only when L1 evicts an entry, on flush and on close.
    TC_WRITE_BACK = 1,
}

/// The Rust name of `tc_write_policy`.
pub type WritePolicy = tc_write_policy;

impl tc_write_policy {
    pub fn from_u32(n: u32) -> Option<WritePolicy> {
        match n {
            0 => Some(WritePolicy::TC_WRITE_THROUGH),
            1 => Some(WritePolicy::TC_WRITE_BACK),
            _ => None,
        }
    }
}

/// When L2 data is forced to stable storage with fsync.
#[repr(C)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tc_sync_policy {
    /// Never fsync; the OS writes data back when it chooses.
    TC_SYNC_NEVER = 0,
    /// fsync on `tc_flush` and on close (default).
    TC_SYNC_ON_FLUSH = 1,
    /// Every put returns only after its record is written and fsynced.
    TC_SYNC_ALWAYS = 2,
    /// Write out and fsync every `interval_ms` milliseconds, and on flush and close.
    TC_SYNC_INTERVAL = 3,
}

/// The Rust name of `tc_sync_policy`.
pub type SyncPolicy = tc_sync_policy;

impl tc_sync_policy {
    pub fn from_u32(n: u32) -> Option<SyncPolicy> {
        match n {
            0 => Some(SyncPolicy::TC_SYNC_NEVER),
            1 => Some(SyncPolicy::TC_SYNC_ON_FLUSH),
            2 => Some(SyncPolicy::TC_SYNC_ALWAYS),
            3 => Some(SyncPolicy::TC_SYNC_INTERVAL),
            _ => None,
        }
    }
}

/// How L1 chooses what to evict.
#[repr(C)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tc_l1_policy {
    /// Least recently used (default). A hit locks its shard exclusively.
    TC_L1_LRU = 0,
    /// S3-FIFO: a small FIFO for new keys, a main FIFO with reinsertion of
    /// entries hit since they were last looked at, and a ghost FIFO of the
    /// hashes of recently evicted keys. Scan-resistant; a hit takes its
    /// shard's lock shared.
    TC_L1_S3FIFO = 1,
}

/// The Rust name of `tc_l1_policy`.
pub type L1Policy = tc_l1_policy;

impl tc_l1_policy {
    pub fn from_u32(n: u32) -> Option<L1Policy> {
        match n {
            0 => Some(L1Policy::TC_L1_LRU),
            1 => Some(L1Policy::TC_L1_S3FIFO),
            _ => None,
        }
    }
}

/// How values are compressed before they are stored.
#[repr(C)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tc_compression {
    /// Values are stored as they are (default).
    TC_COMPRESSION_NONE = 0,
    /// LZ4 (block format): fast, a moderate ratio.
    TC_COMPRESSION_LZ4 = 1,
    /// Zstandard (level 3): slower, a better ratio.
    TC_COMPRESSION_ZSTD = 2,
}

/// The Rust name of `tc_compression`.
pub type Compression = tc_compression;

impl tc_compression {
    pub fn from_u32(n: u32) -> Option<Compression> {
        match n {
            0 => Some(Compression::TC_COMPRESSION_NONE),
            1 => Some(Compression::TC_COMPRESSION_LZ4),
            2 => Some(Compression::TC_COMPRESSION_ZSTD),
            _ => None,
        }
    }

    /// The id recorded with values packed by this codec (0: none).
    pub fn id(self) -> u64 {
        self as u64
    }
}

/// Everything `Cache::open` needs to know.
#[derive(Debug, Clone)]
pub struct Options {
    /// The L2 directory; `None` means memory only (no L2).
    pub dir: Option<PathBuf>,
    /// L1 bound on entries (0: none).
    pub l1_max_entries: u64,
    /// L1 bound on key plus value bytes (0: none).
    pub l1_max_bytes: u64,
    /// How L1 chooses what to evict.
    pub l1_policy: L1Policy,
    /// L2 bound on bytes on disk (0: none).
    pub l2_max_bytes: u64,
    pub write_policy: WritePolicy,
    pub sync_policy: SyncPolicy,
    /// Period of `TC_SYNC_INTERVAL`, in milliseconds (at least 1).
    pub sync_interval_ms: u64,
    /// TTL given to puts that pass 0, in milliseconds (0: entries never expire).
    pub default_ttl_ms: u64,
    /// Largest value accepted, in bytes.
    pub max_value_len: u64,
    /// Size at which the active L2 segment is sealed.
    pub segment_bytes: u64,
    /// Open an existing directory without changing it (see `Cache::open`).
    pub read_only: bool,
    /// Where the cache reads the time (the system clock unless a test sets
    /// a manual one). Not part of the C ABI.
    pub clock: Clock,
    /// How L2 compresses values (`TC_COMPRESSION_NONE`: it does not).
    pub compression: Compression,
    /// Values shorter than this are stored uncompressed.
    pub min_compress_len: u64,
    /// Encrypt and authenticate every L2 record with subkeys of this key.
    pub encryption_key: Option<EncryptionKey>,
    /// The shared remote tier's URL, parsed (`None`: no remote tier).
    pub remote: Option<crate::remote::url::Target>,
    /// The namespace in the remote tier: caches that share one share values
    /// and invalidations.
    pub remote_namespace: Vec<u8>,
    /// With a secret, every remote value is signed (HMAC-SHA256).
    pub remote_secret: Option<crate::remote::Secret>,
    /// The timeout of one remote operation, in milliseconds.
    pub remote_timeout_ms: u64,
    /// How long a fleet-wide load lock lives, in milliseconds (not in the
    /// C ABI): a crashed loader's lock expires after it, and processes wait
    /// at most that long for another's load.
    pub remote_lock_ms: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            dir: None,
            l1_max_entries: DEFAULT_L1_MAX_ENTRIES,
            l1_max_bytes: DEFAULT_L1_MAX_BYTES,
            l1_policy: L1Policy::TC_L1_LRU,
            l2_max_bytes: DEFAULT_L2_MAX_BYTES,
            write_policy: WritePolicy::TC_WRITE_THROUGH,
            sync_policy: SyncPolicy::TC_SYNC_ON_FLUSH,
            sync_interval_ms: 1000,
            default_ttl_ms: 0,
            max_value_len: DEFAULT_MAX_VALUE_LEN,
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            read_only: false,
            clock: Clock::system(),
            compression: Compression::TC_COMPRESSION_NONE,
            min_compress_len: DEFAULT_MIN_COMPRESS_LEN,
            encryption_key: None,
            remote: None,
            remote_namespace: crate::remote::DEFAULT_NAMESPACE.to_vec(),
            remote_secret: None,
            remote_timeout_ms: crate::remote::DEFAULT_TIMEOUT_MS,
            remote_lock_ms: crate::remote::DEFAULT_LOCK_MS,
        }
    }
}

impl Options {
    /// Options for a memory-only cache with default sizes.
    pub fn new() -> Options {
        Options::default()
    }

    /// Options for a cache persisted in `dir`.
    pub fn with_dir(dir: impl Into<PathBuf>) -> Options {
        Options {
            dir: Some(dir.into()),
            ..Options::default()
        }
    }

    pub fn set_sync_policy(&mut self, policy: SyncPolicy, interval_ms: u64) -> Result<()> {
        if policy == SyncPolicy::TC_SYNC_INTERVAL && interval_ms == 0 {
            return Err(Error::invalid(
                "interval_ms: TC_SYNC_INTERVAL needs an interval of at least 1 ms",
            ));
        }
        self.sync_policy = policy;
        if policy == SyncPolicy::TC_SYNC_INTERVAL {
            self.sync_interval_ms = interval_ms;
        }
        Ok(())
    }

    pub fn set_max_value_len(&mut self, max: u64) -> Result<()> {
        if max == 0 || max > MAX_VALUE_LIMIT {
            return Err(Error::invalid(format!(
                "max_value_len: {max} is outside 1..={MAX_VALUE_LIMIT}"
            )));
        }
        self.max_value_len = max;
        Ok(())
    }

    /// Compresses L2 values of at least `min_value_len` bytes with `c`, each
    /// only if it shrinks. The codec is recorded per record, so a directory
    /// reads back whatever setting it was written with.
    pub fn set_compression(&mut self, c: Compression, min_value_len: u64) {
        self.compression = c;
        self.min_compress_len = min_value_len;
    }

    /// Encrypts L2 with `key`, which must be 32 bytes.
    pub fn set_encryption_key(&mut self, key: &[u8]) -> Result<()> {
        let k = EncryptionKey::new(key)
            .ok_or_else(|| Error::invalid(format!("key: an encryption key is {KEY_LEN} bytes, not {}", key.len())))?;
        self.encryption_key = Some(k);
        Ok(())
    }

    /// Sets the remote tier's URL (`None`: no remote tier). A URL that
    /// cannot be parsed, or has an unknown scheme, is refused with the reason.
    pub fn set_remote(&mut self, url: Option<&str>) -> Result<()> {
        self.remote = url.map(crate::remote::url::parse).transpose()?;
        Ok(())
    }

    /// Sets the remote namespace: 1 to 255 bytes.
    pub fn set_remote_namespace(&mut self, ns: &[u8]) -> Result<()> {
        crate::remote::check_namespace(ns)?;
        self.remote_namespace = ns.to_vec();
        Ok(())
    }

    /// Sets the secret remote values are signed with: 16 bytes at least.
    pub fn set_remote_secret(&mut self, secret: &[u8]) -> Result<()> {
        crate::remote::check_secret(secret)?;
        self.remote_secret = Some(crate::remote::Secret(secret.to_vec()));
        Ok(())
    }

    /// Sets the timeout of one remote operation: 1 ms to 1 hour.
    pub fn set_remote_timeout(&mut self, timeout_ms: u64) -> Result<()> {
        if !(1..=3_600_000).contains(&timeout_ms) {
            return Err(Error::invalid(format!(
                "timeout_ms: {timeout_ms} is outside 1..=3600000"
            )));
        }
        self.remote_timeout_ms = timeout_ms;
        Ok(())
    }

    pub fn set_segment_bytes(&mut self, bytes: u64) -> Result<()> {
        // A segment must hold at least its header and a small record; the top
        // bound keeps offsets inside the index's 40-bit field.
        if !(4096..=(1u64 << 40)).contains(&bytes) {
            return Err(Error::invalid(format!("segment_bytes: {bytes} is outside 4096..=2^40")));
        }
        self.segment_bytes = bytes;
        Ok(())
    }
}
