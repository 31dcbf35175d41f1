//! The sweep that turns L1's values mapping a deleted segment into copies.
//!
//! L1 keeps large values read from L2 as slices of their segment's map
//! (`Cache::promote`, `value::map`). When compaction or retirement deletes
//! that segment, the file is unlinked but its space is held for as long as
//! anything maps it. Promotions check their segment's flag under the
//! shard's lock and copy instead once it is up; this sweep deals with the
//! values already in L1: after a deletion it visits every shard, under the
//! shard's lock, and copies each value whose segment has left. It runs on
//! every maintenance tick that follows a deletion, and at the end of
//! `Cache::compact` and `Cache::flush`, so L1 holds a deleted file's space
//! at most one tick. It never takes the log's lock while it holds a shard's
//! (it reads the log's deletion count before it starts). It visits only the
//! shards that may hold a mapped value (`Shard::may_map`): with compaction
//! deleting segments every few ticks, an L1 of small values would otherwise
//! have every entry visited, under its shard's lock, each time.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::log::Log;
use crate::memory::Memory;

/// The count of deleted segments (`Log::departed`) the last sweep covered.
#[derive(Debug, Default)]
pub struct Sweep {
    covered: AtomicU64,
}

impl Sweep {
    /// Sweeps L1 if a segment left the log since the last sweep; returns the
    /// values copied. A deletion counted after the count is read here is
    /// left for the next call: its flag may have gone up after this sweep
    /// passed a shard. One counted before is covered: the flag goes up
    /// under the log's write lock before the count moves, and each shard's
    /// lock taken afterwards shows it (`Life::leave`).
    pub fn run(&self, memory: &Memory, log: &Log) -> u64 {
        let departed = log.departed();
        if self.covered.load(Ordering::Acquire) >= departed {
            return 0;
        }
        let copied = memory.unmap_departed();
        self.covered.fetch_max(departed, Ordering::AcqRel);
        copied
    }
}
