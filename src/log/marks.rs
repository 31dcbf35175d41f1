//! Which L2 entries were read lately: the ones that retiring a segment
//! re-appends instead of dropping.
//!
//! A bitset of atomic words indexed by the key's hash, so that marking an L2
//! hit takes no lock (it was a `Mutex<HashSet<u64>>` taken on every hit, which
//! two threads reading L2 queued on) and costs no write at all when the bit
//! is already set. It is a hint, never a statement about values: two keys
//! may share a bit, so a retired entry that was not read may be re-appended
//! (it costs disk, no value changes: the copy is the same record with a new
//! sequence number).
//!
//! Nothing clears one key's bit, since it is every key's that shares it:
//! writes did (a write of one key took the mark of every key sharing its
//! bit, and hot keys were then dropped at retirement: tests/durability.rs
//! found it), and so did retiring (readmitting or dropping a cold key took
//! the mark of the hot key sharing its bit; once retiring moved to the
//! maintenance thread, when it ran among the reads decided which key that
//! was, and the test failed one run in two). Marks age instead, in two
//! generations: a hit marks the current one, retiring asks both, and every
//! half of the bound appended (`age`, which retiring calls) clears the
//! older and makes it current. So an entry read within the last half of
//! the bound appended, at least, is readmitted, and one not read again is
//! dropped the next time its copy is retired, a whole bound later. (Aging
//! at each segment retired aged a hot key's mark away when the
//! maintenance thread retired two or three segments in a row.)

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

pub struct ReadMarks {
    /// The two generations (`age`).
    halves: [Box<[AtomicU64]>; 2],
    /// Which of `halves` a hit marks.
    current: AtomicUsize,
    /// The log's appended bytes at the last `age`.
    aged_at: AtomicU64,
    /// log2 of the number of bits of each.
    shift: u32,
}

/// Fewest and most bits: 512 B to 2 MiB of memory, each generation.
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
        let half = || (0..(1usize << shift) / 64).map(|_| AtomicU64::new(0)).collect();
        ReadMarks {
            halves: [half(), half()],
            current: AtomicUsize::new(0),
            aged_at: AtomicU64::new(0),
            shift,
        }
    }

    /// Bit `h` maps to: its word in generation `g`, and the bit in it.
    fn slot_in(&self, g: usize, h: u64) -> (&AtomicU64, u64) {
        // The high bits of the hash: the low ones pick the L1 shard.
        let bit = (h >> (64 - self.shift)) as usize;
        (&self.halves[g][bit / 64], 1u64 << (bit % 64))
    }

    fn slot(&self, h: u64) -> (&AtomicU64, u64) {
        self.slot_in(self.current.load(Ordering::Relaxed), h)
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

    /// Whether the entry of hash `h` was read in either generation.
    pub fn read_lately(&self, h: u64) -> bool {
        (0..2).any(|g| {
            let (w, b) = self.slot_in(g, h);
            w.load(Ordering::Relaxed) & b != 0
        })
    }

    /// A segment is being retired, the log having appended `appended`
    /// bytes so far: if `period` more were appended since the last time,
    /// the older generation is cleared and becomes the one hits mark.
    /// Called by retiring only, which one thread at a time does (under the
    /// log's lock or its `compacting` mutex); a hit that read the index
    /// before the switch marks the generation that just became the older,
    /// where `read_lately` still sees it.
    pub fn age(&self, appended: u64, period: u64) {
        if appended < self.aged_at.load(Ordering::Relaxed).saturating_add(period) {
            return;
        }
        self.aged_at.store(appended, Ordering::Relaxed);
        let older = 1 - self.current.load(Ordering::Relaxed);
        for w in self.halves[older].iter() {
            w.store(0, Ordering::Relaxed);
        }
        self.current.store(older, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_last_two_ages_and_nothing_clears_one_key() {
        let m = ReadMarks::new(1 << 20);
        let (a, b) = (0x8000_0000_0000_0001u64, 0x4000_0000_0000_0001u64);
        assert!(!m.read_lately(a));
        m.mark(a);
        m.mark(a);
        assert!(m.read_lately(a));
        assert!(m.read_lately(a), "asking takes nothing");
        assert!(!m.read_lately(b));
        m.age(100, 1000);
        assert!(m.read_lately(a), "not a period yet: nothing ages");
        m.age(1000, 1000);
        assert!(m.read_lately(a), "one age: still read lately");
        m.mark(b);
        m.age(1500, 1000);
        assert!(m.read_lately(a), "half a period: no second age");
        m.age(2000, 1000);
        assert!(!m.read_lately(a), "two ages without a read: no longer");
        assert!(m.read_lately(b));
        m.mark(b);
        m.age(3000, 1000);
        m.age(4000, 1000);
        assert!(!m.read_lately(b));
        assert_eq!(m.halves[0].len() * 64, 1 << 14);
        assert_eq!(ReadMarks::new(1).halves[1].len() * 64, 1 << MIN_BITS_LOG2);
        assert_eq!(ReadMarks::new(u64::MAX).halves[0].len() * 64, 1 << MAX_BITS_LOG2);
    }
}
