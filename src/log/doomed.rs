//! What `Store::delete_segment` took out of the log but left for
//! `Log::reap` to finish with no lock held: the segment itself and the
//! entries of its hint if that was still due, to drop, and its files,
//! renamed out of the way (`store::dead_path`), to unlink.
//!
//! Why not finish under the lock: a deletion runs under the log's write
//! lock (from a compaction, from the put that retires a segment over the
//! directory's bound, from a clear), and every get and put waits behind it.
//! Dropping a full 64 MiB segment unmaps its map and frees its table of
//! verified records: 0.6–1.5 ms, measured with 100 B puts; freeing the
//! entries of a hint still due (18 MB for such a segment) took about as
//! long again. Unlinking a file the page cache holds frees every cached
//! page of it (a segment is 16,384 pages, its hint about a quarter of that
//! for 100 B values). None of that changes what the log holds: once the
//! segment is out of `Store::segments` and its files carry dead names, no
//! read finds it and no open reads them (an open deletes every `.tmp` file
//! it finds).

use std::path::PathBuf;

use super::fileio;
use super::segment::Segment;
use super::store::ignore_missing;
use super::unhinted::Entries;

/// Deleted segments and dead files waiting for `Log::reap`.
#[derive(Default)]
pub struct Doomed {
    /// Files renamed to a dead name: segments and their hints.
    pub files: Vec<PathBuf>,
    /// Segments out of the log, dropped by `finish`.
    segments: Vec<Segment>,
    /// The entries of hints that were still due (`Unhinted::forget`).
    entries: Vec<Entries>,
}

impl Doomed {
    /// Keeps `seg`, already out of the log, until `finish`.
    pub fn bury(&mut self, seg: Segment) {
        self.segments.push(seg);
    }

    /// Keeps the entries of a hint that will never be written until `finish`.
    pub fn bury_entries(&mut self, entries: Entries) {
        self.entries.push(entries);
    }

    /// How many segments wait to be dropped (for tests: that a deletion
    /// leaves the drop to `finish`).
    #[cfg(test)]
    pub fn segments(&self) -> usize {
        self.segments.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.segments.is_empty() && self.entries.is_empty()
    }

    /// Drops the segments and entries, then unlinks the files (one already
    /// gone counts as removed). Returns how many could not be unlinked;
    /// those stay for the next open to delete.
    pub fn finish(self) -> u64 {
        drop(self.segments);
        drop(self.entries);
        let mut failed = 0;
        for path in self.files {
            if fileio::remove(&path).or_else(ignore_missing).is_err() {
                failed += 1;
            }
        }
        failed
    }
}
