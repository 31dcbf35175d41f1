//! The active segment's write-back, started ahead of its seal.
//!
//! Under every sync policy but `TC_SYNC_NEVER`, a seal fsyncs the segment
//! it seals before the next one takes a record (`Store::seal_and_start`):
//! what a sealed segment holds is on disk, which group commit, checkpoints,
//! hints and compaction count on. That fsync runs on the put that filled
//! the segment, under the log's write lock. Under `TC_SYNC_ON_FLUSH` (the
//! default) nothing had written the segment out before it, so it wrote all
//! of it: 28-38 ms for a 64 MiB segment on this project's machine
//! (`benchmarks/c/stall.c`), in which no put and no read of L2 went
//! anywhere, once every 64 MiB of puts.
//!
//! So each time `AHEAD_BYTES` more of the active segment are in its file,
//! the maintenance thread starts their write-back, through the segment's
//! own handle and with no lock held (`Log::write_back_ahead`, which the put
//! that appends past the mark wakes it for, `Log::after_append`); the
//! seal's fsync then finds about that much at most left to write (2-7 ms,
//! BENCHMARKS.md, "Session 40").
//!
//! The write-back is `sync_file_range` with `SYNC_FILE_RANGE_WRITE`, not an
//! fsync: it makes nothing durable, and nothing is claimed from it (no
//! position is reported durable, `Commit`); the seal's fsync is made as
//! before. It flushes no disk cache, and it neither reports nor takes away a
//! write-back error: the fsync after it reports every one. So a failure is
//! ignored: it only leaves that fsync more to write.

use parking_lot::Mutex;

/// How many bytes of the active segment may be in its file with no
/// write-back started before the maintenance thread starts one: about what
/// the seal's fsync may still have to write. (8 MiB left it 6-9 ms.)
pub const AHEAD_BYTES: u64 = 2 << 20;

/// How far the active segment's write-back was started ahead of its seal.
#[derive(Debug, Default)]
pub struct Ahead {
    /// The segment's id and how many of its first bytes the last write-back
    /// covered; another id than the active one's: none of it.
    covered: Mutex<Option<(u32, u64)>>,
}

impl Ahead {
    /// Where segment `id`'s next write-back starts, if it is due: the
    /// segment is `len` bytes long in its file (its first `from` are its
    /// header), and `AHEAD_BYTES` or more of it were not covered yet.
    pub fn due(&self, id: u32, len: u64, from: u64) -> Option<u64> {
        let covered = match *self.covered.lock() {
            Some((covered_id, covered_len)) if covered_id == id => covered_len,
            _ => from,
        };
        (len.saturating_sub(covered) >= AHEAD_BYTES).then_some(covered)
    }

    /// A write-back of segment `id` was started up to its first `len` bytes.
    pub fn covered(&self, id: u32, len: u64) {
        *self.covered.lock() = Some((id, len));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_is_due_once_enough_of_it_is_past_the_last_write_back() {
        let a = Ahead::default();
        let m = AHEAD_BYTES;
        assert_eq!(a.due(1, 16 + m - 1, 16), None, "short of the mark past the header");
        assert_eq!(a.due(1, 16 + m, 16), Some(16));
        a.covered(1, 16 + m);
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
