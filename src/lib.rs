//! tiercache: a persistent, tiered key-value cache with a C ABI.
//!
//! A get looks in L1 (a sharded in-memory LRU, [`memory`]), then L2 (an
//! append-only log of checksummed CBOR records on disk, [`log`]), then asks L3
//! (a loader supplied by the caller, [`loader`]). [`Cache`] ties the tiers
//! together; [`ffi`] exposes it to C as the `tc_…` functions declared in
//! `include/tiercache.h`, which cbindgen generates from that module.

// Modules marked `cbindgen:ignore` hold nothing of the C ABI; the header is
// generated from `ffi` and the types it names (`error`, `options`, `stats`).

/// cbindgen:ignore
pub mod cache;
/// cbindgen:ignore
pub mod clock;
/// cbindgen:ignore
pub(crate) mod crc;
pub mod error;
pub mod ffi;
/// cbindgen:ignore
pub mod invalidate;
/// cbindgen:ignore
pub mod loader;
/// cbindgen:ignore
pub mod log;
/// cbindgen:ignore
pub mod memory;
/// cbindgen:ignore
pub mod meta;
pub mod options;
/// cbindgen:ignore
pub(crate) mod outgoing;
/// cbindgen:ignore
pub(crate) mod prefetch;
/// cbindgen:ignore
pub mod record;
/// cbindgen:ignore
pub mod remote;
/// cbindgen:ignore
pub mod seal;
pub mod stats;
/// cbindgen:ignore
pub mod stripe;
/// cbindgen:ignore
pub(crate) mod sweep;
/// cbindgen:ignore
pub mod sync;
/// cbindgen:ignore
pub mod value;

pub use cache::Cache;
pub use error::{Error, Result, Status};
pub use loader::{Loaded, Loader};
pub use options::{Options, SyncPolicy, WritePolicy};
pub use seal::{Compression, EncryptionKey};
pub use stats::Stats;
pub use value::Value;
