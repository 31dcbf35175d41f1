//! Fsyncs of the active segment ahead of its seal.
//!
//! Under every sync policy but `TC_SYNC_NEVER`, a seal fsyncs the segment
//! it seals before the next one takes a record (`Store::seal_and_start`):
//! what a sealed segment holds is on disk, which group commit, checkpoints,
//! hints and compaction count on. That fsync runs on the put that filled
//! the segment, under the log's write lock. Under `TC_SYNC_ON_FLUSH` (the
//! default) nothing else had fsynced the segment, so it wrote all of it
//! out: 28-38 ms for a 64 MiB segment on this project's machine
//! (`benchmarks/c/stall.c`), in which no put and no read of L2 went
//! anywhere, once every 64 MiB of puts.
//!
//! So the maintenance thread fsyncs the active segment, through its own
//! handle and with no lock held, each time `SYNC_AHEAD_BYTES` more of it
//! are in the file (`Log::sync_ahead`; the put that appends past the mark
//! wakes the thread, `Log::after_append`), and the seal's fsync finds at
//! most about that much left to write.
//!
//! An early fsync claims nothing: no position is reported durable from it
//! (`Commit`), and the seal's fsync is made as before. It only moves the
//! writing out of the lock. A failed one degrades the log as any failed
//! fsync does: Linux reports a write-back error to one fsync of an open
//! file only, so the seal's fsync of the same file would not see it, and
//! would report durable what the disk lost.

use parking_lot::Mutex;

/// How many bytes of the active segment may be in its file unsynced before
/// the maintenance thread fsyncs it ahead of the seal: what the seal's
/// fsync may still have to write (a few milliseconds' worth).
pub const SYNC_AHEAD_BYTES: u64 = 2 << 20;

/// How far the active segment was last fsynced ahead of its seal.
#[derive(Debug, Default)]
pub struct Ahead {
    /// The segment's id and how many of its bytes the last early fsync
    /// covered; another id than the active one's: none of it.
    synced: Mutex<Option<(u32, u64)>>,
}

impl Ahead {
    /// Whether segment `id`, now `len` bytes long in its file (of which the
    /// first `from` are its header), has `SYNC_AHEAD_BYTES` or more that
    /// no early fsync covered.
    pub fn due(&self, id: u32, len: u64, from: u64) -> Option<u64> {
        let covered = match *self.synced.lock() {
            Some((synced_id, synced_len)) if synced_id == id => synced_len,
            _ => from,
        };
        (len.saturating_sub(covered) >= SYNC_AHEAD_BYTES).then_some(covered)
    }

    /// An early fsync of segment `id` covered its first `len` bytes.
    pub fn synced(&self, id: u32, len: u64) {
        *self.synced.lock() = Some((id, len));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_is_due_once_enough_of_it_is_unsynced_since_the_last_early_fsync() {
        let a = Ahead::default();
        let m = SYNC_AHEAD_BYTES;
        assert_eq!(a.due(1, 16 + m - 1, 16), None, "short of the mark past the header");
        assert_eq!(a.due(1, 16 + m, 16), Some(16));
        a.synced(1, 16 + m);
        assert_eq!(a.due(1, 16 + 2 * m - 1, 16), None);
        assert_eq!(
            a.due(1, 16 + 2 * m + 5, 16),
            Some(16 + m),
            "from where the last one ended"
        );
        assert_eq!(a.due(2, 16 + m - 1, 16), None, "a new segment counts from its header");
        assert_eq!(a.due(2, 16 + m, 16), Some(16));
    }
}
