//! The cache's statistics: counters bumped by every tier, and the snapshot
//! (`tc_stats`) handed to callers.
//!
//! Counters are relaxed atomics: they are for people and dashboards, not for
//! synchronisation. Sizes (entries, bytes) are not counted here; the tiers
//! report them when a snapshot is taken.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::stripe::Counter;

/// Counters since open, shared by the tiers.
#[derive(Debug, Default)]
pub struct Counters {
    /// Bumped by every L2 hit (and miss) of every thread: striped, so that
    /// threads do not queue on one cache line (`crate::stripe`). L1 hits
    /// are counted by the memory tier, under the shard's lock the hit holds
    /// (`Memory::tally`).
    pub l2_hits: Counter,
    pub l3_loads: AtomicU64,
    pub misses: Counter,
    // L1 evictions are counted by the memory tier too, each under the lock
    // of the shard it left (`Memory::tally`).
    pub l2_evictions: AtomicU64,
    /// Entries of a retired segment re-appended because they were read.
    pub l2_readmissions: AtomicU64,
    pub compactions: AtomicU64,
    /// Bytes of records that compaction appended again (copies of live
    /// puts, tombstones carried forward). Not in `tc_stats`: its write
    /// amplification, for tests and measurements (`Log::compacted_bytes`).
    pub compacted_bytes: AtomicU64,
    pub corrupt_records: AtomicU64,
    pub io_errors: AtomicU64,
    /// Gets that found an entry whose file dependency no longer held.
    pub dependency_misses: AtomicU64,
    /// Times the L2 index file was not trusted and the index was rebuilt
    /// from the log (at open: a damaged, truncated, foreign or other-version
    /// file; while open: after an entry did not match the log).
    pub l2_index_rebuilds: AtomicU64,
    /// Reads that found an index entry not matching the log (a miss that
    /// leads to a rebuild).
    pub l2_index_repairs: AtomicU64,
    /// Opens that found a checkpoint cut short and undid its writes to the
    /// L2 index file from its journal (`log::undo`), instead of rebuilding.
    pub l2_checkpoints_undone: AtomicU64,
}

impl Counters {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A snapshot of the cache: counters since open and sizes now.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct tc_stats {
    /// Gets answered from memory.
    pub l1_hits: u64,
    /// Gets answered from disk (and promoted into memory).
    pub l2_hits: u64,
    /// Calls of the loader.
    pub l3_loads: u64,
    /// Gets that returned no value (not found, or the loader failed).
    pub misses: u64,
    /// Entries in memory now.
    pub l1_entries: u64,
    /// Key plus value bytes in memory now.
    pub l1_bytes: u64,
    /// Live keys on disk now.
    pub l2_entries: u64,
    /// Bytes of live records on disk now.
    pub l2_bytes: u64,
    /// Bytes of all segment files (live and dead records) now.
    pub l2_file_bytes: u64,
    /// Entries evicted from memory to stay within the L1 bounds.
    pub l1_evictions: u64,
    /// Entries dropped from disk to stay within the L2 bound.
    pub l2_evictions: u64,
    /// Compactions run.
    pub compactions: u64,
    /// Records found corrupt (bad checksum or undecodable) and skipped.
    pub corrupt_records: u64,
    /// Failed reads and writes of the cache directory.
    pub io_errors: u64,
    /// 0: no L2 (memory only), 1: L2 working, 2: L2 failing, memory only for now.
    pub l2_state: u32,
}

/// The Rust name of `tc_stats`.
pub type Stats = tc_stats;

pub const L2_NONE: u32 = 0;
pub const L2_OK: u32 = 1;
pub const L2_DEGRADED: u32 = 2;

impl Counters {
    /// Copies the counters into a snapshot; the caller fills in the sizes
    /// and the L1 hits and evictions.
    pub fn snapshot(&self) -> Stats {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            l2_hits: self.l2_hits.get(),
            l3_loads: r(&self.l3_loads),
            misses: self.misses.get(),
            l2_evictions: r(&self.l2_evictions),
            compactions: r(&self.compactions),
            corrupt_records: r(&self.corrupt_records),
            io_errors: r(&self.io_errors),
            ..Stats::default()
        }
    }
}
