//! Which records of one segment a get has already checksummed: the fact
//! "the record at this exact offset passed its CRC32", kept so that a later
//! get of the same record copies its value without computing the checksum
//! again (issue 12, item 3; docs/CONSISTENCY.md, section 8); and, beside
//! it, "its packed value unpacked to the length it claims", so that a
//! reader that needs only the length does not unpack it again.
//!
//! It belongs to one `Segment` and lives and dies with it: a segment deleted
//! from the log (compacted, retired, cleared) drops its facts with its map,
//! ids are never reused, and cutting a segment's file (`Segment::truncate`,
//! the only change the library ever makes to bytes below a segment's
//! length) forgets every fact of that segment. Appends only add bytes after
//! the ones a fact covers (a failed one cuts back to the length, no lower). What it cannot see is a change made behind the
//! library's back (another program writing the file, or a page the kernel
//! dropped and read back damaged from the disk): a record verified before
//! such a change is served unverified until the directory is opened again.
//!
//! It is a table of bytes, one per 64-byte window of the segment, holding
//! the offset of the verified record that starts in the window (plus one; 0:
//! none). A window where two records start remembers one of them: the other
//! is simply checksummed again on each read. A fact is exact: an offset that
//! is not the one remembered, even in the same window, is not verified. The
//! table costs a byte per 64 bytes of segment, in pages the kernel hands out
//! only once a fact is written into them (the table is allocated zeroed).

use std::sync::atomic::{AtomicU8, Ordering};

/// Whether a read may take a fact for the checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// A get, whose value is handed out (and kept in L1): a fact will do.
    Facts,
    /// A read whose value is written to the log again (`Cache::touch`):
    /// the checksum, always, so that bytes changed behind the library's
    /// back after a fact was taken are never given a new checksum.
    Checksum,
}

/// Bytes of segment per entry of the table.
const WINDOW: u64 = 64;

/// Set in an entry beside its offset (which needs 7 bits: 1 ..= 64): the
/// record's packed value also unpacked to the length it claims
/// (`Verified::unpacked`).
const UNPACKED: u8 = 0x80;

pub struct Verified {
    /// Entry `i`: 1 + the offset within window `i` of its verified record,
    /// or 0.
    marks: Box<[AtomicU8]>,
}

impl Verified {
    /// No fact, for offsets below `len` (past them none is ever kept).
    pub fn new(len: u64) -> Verified {
        let n = usize::try_from(len.div_ceil(WINDOW)).expect("a segment's length fits in memory");
        // Zeroed memory from the allocator (`calloc`: fresh pages of a large
        // table are not touched until a fact is written into them).
        let zeroed: Box<[u8]> = vec![0u8; n].into_boxed_slice();
        // SAFETY: `AtomicU8` has the size, alignment and bit validity of
        // `u8`, so a boxed slice of one is a boxed slice of the other, and
        // it is freed with the same layout.
        let marks = unsafe { Box::from_raw(Box::into_raw(zeroed) as *mut [AtomicU8]) };
        Verified { marks }
    }

    /// The facts of `self` for offsets below `len`, in a table that covers
    /// them: for a map that grew (the bytes below the old length are the
    /// same bytes of the same file).
    pub fn grown(&self, len: u64) -> Verified {
        let out = Verified::new(len);
        for (to, from) in out.marks.iter().zip(self.marks.iter()) {
            // Only windows with a fact are written: the others stay
            // untouched zero pages.
            let m = from.load(Ordering::Relaxed);
            if m != 0 {
                to.store(m, Ordering::Relaxed);
            }
        }
        out
    }

    /// The entry of `offset`'s window, and what it holds when the record at
    /// `offset` is the one verified.
    fn slot(&self, offset: u64) -> Option<(&AtomicU8, u8)> {
        let i = usize::try_from(offset / WINDOW).ok()?;
        Some((self.marks.get(i)?, (offset % WINDOW) as u8 + 1))
    }

    /// Whether a read that trusts as `trust` may skip the checksum of the
    /// record at `offset`.
    #[inline]
    pub fn spares(&self, offset: u64, trust: Trust) -> bool {
        trust == Trust::Facts && self.contains(offset)
    }

    /// Whether the record starting at `offset` passed its checksum before.
    #[inline]
    pub fn contains(&self, offset: u64) -> bool {
        // Relaxed: the fact publishes nothing. The record's bytes were in the
        // file before any reader saw its location (the log's lock orders
        // that), and they do not change while this table lives.
        self.slot(offset)
            .is_some_and(|(m, tag)| m.load(Ordering::Relaxed) & !UNPACKED == tag)
    }

    /// The record starting at `offset` passed its checksum.
    #[inline]
    pub fn insert(&self, offset: u64) {
        if let Some((m, tag)) = self.slot(offset) {
            // Read first: a fact already there costs no write (and no cache
            // line taken from other readers), and keeps its `UNPACKED`.
            if m.load(Ordering::Relaxed) & !UNPACKED != tag {
                m.store(tag, Ordering::Relaxed);
            }
        }
    }

    /// Whether the record starting at `offset` passed its checksum and its
    /// packed value unpacked to the length it claims, both before: the
    /// same bytes unpack the same way, so a reader that needs only that
    /// length (`Log::info_of`) may take the claim without unpacking again.
    #[inline]
    pub fn unpacked(&self, offset: u64) -> bool {
        self.slot(offset)
            .is_some_and(|(m, tag)| m.load(Ordering::Relaxed) == tag | UNPACKED)
    }

    /// The packed value of the record starting at `offset` unpacked to its
    /// claimed length. Kept only beside that record's checksum fact (a
    /// record whose checksum no fact covers, or another record of the
    /// window, is left as it is): the fact that its bytes are the ones
    /// that passed is what makes the second one true.
    #[inline]
    pub fn insert_unpacked(&self, offset: u64) {
        if let Some((m, tag)) = self.slot(offset) {
            if m.load(Ordering::Relaxed) == tag {
                m.store(tag | UNPACKED, Ordering::Relaxed);
            }
        }
    }

    /// Starts loading the entry `contains(offset)` reads (`crate::prefetch`).
    #[inline]
    pub fn prefetch(&self, offset: u64) {
        if let Some((m, _)) = self.slot(offset) {
            crate::prefetch::line(m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fact_is_about_one_exact_offset() {
        let v = Verified::new(1000);
        assert!(!v.contains(100));
        v.insert(100);
        assert!(v.contains(100));
        // The same window, other offsets: not verified.
        for other in [64, 99, 101, 127] {
            assert!(!v.contains(other), "{other}");
        }
        // Another record of the window replaces the fact (it is checksummed
        // again next time, never taken as verified).
        v.insert(120);
        assert!(v.contains(120));
        assert!(!v.contains(100));
    }

    /// That a packed value unpacked is kept only beside its record's
    /// checksum fact, goes with it, and changes nothing `contains` says.
    #[test]
    fn an_unpacked_fact_needs_the_checksum_fact_of_its_record() {
        let v = Verified::new(1000);
        v.insert_unpacked(100);
        assert!(!v.unpacked(100), "no checksum fact: not kept");
        v.insert(100);
        assert!(!v.unpacked(100));
        v.insert_unpacked(100);
        assert!(v.unpacked(100) && v.contains(100));
        v.insert(100);
        assert!(v.unpacked(100), "the checksum fact again keeps it");
        for other in [64, 99, 101, 127] {
            assert!(!v.unpacked(other) && !v.contains(other), "{other}");
        }
        v.insert_unpacked(120);
        assert!(!v.unpacked(120), "another record of the window");
        v.insert(120);
        assert!(!v.unpacked(100) && !v.contains(100), "replaced with its record's fact");
        assert!(v.contains(120) && !v.unpacked(120));
    }

    #[test]
    fn offsets_past_the_table_are_never_verified() {
        let v = Verified::new(128);
        v.insert(200);
        assert!(!v.contains(200));
        v.insert(127);
        assert!(v.contains(127));
        let empty = Verified::new(0);
        empty.insert(0);
        assert!(!empty.contains(0));
    }

    #[test]
    fn a_grown_table_keeps_the_facts_and_covers_more() {
        let v = Verified::new(128);
        v.insert(16);
        let g = v.grown(1 << 20);
        assert!(g.contains(16));
        assert!(!g.contains(17));
        g.insert(500_000);
        assert!(g.contains(500_000));
    }
}
