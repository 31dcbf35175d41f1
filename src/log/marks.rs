//! Which L2 entries were read since they were last written: the ones that
//! retiring a segment re-appends instead of dropping.
//!
//! A bitset of atomic words indexed by the key's hash, so that marking an L2
//! hit takes no lock (it was a `Mutex<HashSet<u64>>` taken on every hit, which
//! two threads reading L2 queued on) and costs no write at all when the bit
//! is already set. It is a hint, never a statement about values: two keys
//! may share a bit, so a retired entry that was not read may be re-appended
//! (it costs disk, no value changes: the copy is the same record with a new
//! sequence number). Writes do not clear marks (`Log::put`): a write of one
//! key would clear the mark of every key sharing its bit, and hot keys were
//! then dropped at retirement (tests/durability.rs found it). So an entry
//! read before its last write may be readmitted once: disk, not values.

use std::sync::atomic::{AtomicU64, Ordering};

pub struct ReadMarks {
    words: Box<[AtomicU64]>,
    /// log2 of the number of bits.
    shift: u32,
}

/// Fewest and most bits: 512 B to 2 MiB of memory.
const MIN_BITS_LOG2: u32 = 12;
const MAX_BITS_LOG2: u32 = 24;

impl ReadMarks {
    /// Marks for a log bounded by `max_bytes` (0: unbounded, which never
    /// retires a segment and needs none): about one bit per 64 bytes of the
    /// bound, so entries rarely share one.
    pub fn new(max_bytes: u64) -> ReadMarks {
        let shift = if max_bytes == 0 {
            6
        } else {
            (max_bytes / 64)
                .max(1)
                .next_power_of_two()
                .trailing_zeros()
                .clamp(MIN_BITS_LOG2, MAX_BITS_LOG2)
        };
        let words = (0..(1usize << shift) / 64).map(|_| AtomicU64::new(0)).collect();
        ReadMarks { words, shift }
    }

    fn slot(&self, h: u64) -> (&AtomicU64, u64) {
        // The high bits of the hash: the low ones pick the L1 shard.
        let bit = (h >> (64 - self.shift)) as usize;
        (&self.words[bit / 64], 1u64 << (bit % 64))
    }

    /// Starts loading the word `mark(h)` reads (`crate::prefetch`): a hit
    /// marks after its lookup, and the word is as cold as the lookup's.
    pub fn prefetch(&self, h: u64) {
        crate::prefetch::line(self.slot(h).0);
    }

    /// The entry of hash `h` was read.
    pub fn mark(&self, h: u64) {
        let (w, b) = self.slot(h);
        // Read first: a hot key's word is then shared, not bounced between cores.
        if w.load(Ordering::Relaxed) & b == 0 {
            w.fetch_or(b, Ordering::Relaxed);
        }
    }

    /// The entry of hash `h` was written: it was not read since.
    pub fn clear(&self, h: u64) {
        let (w, b) = self.slot(h);
        if w.load(Ordering::Relaxed) & b != 0 {
            w.fetch_and(!b, Ordering::Relaxed);
        }
    }

    /// Whether the entry of hash `h` was read, clearing the mark.
    pub fn take(&self, h: u64) -> bool {
        let (w, b) = self.slot(h);
        w.fetch_and(!b, Ordering::Relaxed) & b != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mark_take_clear() {
        let m = ReadMarks::new(1 << 20);
        let (a, b) = (0x8000_0000_0000_0001u64, 0x4000_0000_0000_0001u64);
        assert!(!m.take(a));
        m.mark(a);
        m.mark(a);
        assert!(m.take(a));
        assert!(!m.take(a), "take clears");
        m.mark(a);
        m.mark(b);
        m.clear(a);
        assert!(!m.take(a));
        assert!(m.take(b), "another key's mark is kept");
        assert_eq!(m.words.len() * 64, 1 << 14);
        assert_eq!(ReadMarks::new(1).words.len() * 64, 1 << MIN_BITS_LOG2);
        assert_eq!(ReadMarks::new(u64::MAX).words.len() * 64, 1 << MAX_BITS_LOG2);
    }
}
