//! A segment's memory map as values hold it: the map, and the flag its
//! segment raises when it leaves the log.
//!
//! L1 may keep a large value as a slice of a segment's map instead of a
//! copy (`Value::Mapped`). Such a value keeps the map alive, and with it the
//! disk space of a segment file that compaction or retirement deleted. So
//! every map of a segment (the active one is mapped again as it grows)
//! shares that segment's `Life`; `Store::delete_segment` raises its flag
//! (`Life::leave`), after which nothing new of that segment is kept in L1
//! (a promotion copies instead) and the cache's sweep turns the L1 values
//! that still point into it into copies (`Memory::unmap_departed`), so that
//! the last map, and the file's space, go. This module only holds the flag;
//! the log raises it and the cache reads it.

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use memmap2::Mmap;

/// What every map of one segment shares.
#[derive(Debug, Default)]
pub struct Life {
    /// Set once, when the segment is deleted from the log; never cleared.
    left: AtomicBool,
}

impl Life {
    /// Marks the segment as gone from the log. Release: a thread that sees
    /// the flag through a lock taken after this (a shard's) sees it set.
    pub fn leave(&self) {
        self.left.store(true, Ordering::Release);
    }

    /// Whether the segment has left the log.
    pub fn has_left(&self) -> bool {
        self.left.load(Ordering::Acquire)
    }
}

/// One memory map of a segment file.
pub struct Map {
    map: Mmap,
    life: Arc<Life>,
}

/// Bytes `Map::populate` asks the kernel for at a time.
///
/// Each call holds the process's map lock (`mmap_lock`) for reading while
/// the kernel fills the page tables, and a thread that maps or unmaps
/// anything (a put starting a new segment, a large allocation) waits until
/// the call returns; 1 MiB (256 pages) a call keeps that wait short. What
/// such waits can cost: while the active segment was still mapped anew as
/// it grew (seven times a segment), the put thread of `benchmarks/c/put.c
/// 16384 50000 100000` slept 925 times a run in `mmap` behind populates of
/// this size; `Segment::append_parts` now maps it once.
const POPULATE_STEP: usize = 1 << 20;

/// Calls `advise(at, step)` over the first `len` bytes of a map, a
/// `POPULATE_STEP` at a time, until the first error (advice: the pages not
/// populated fault in as they are touched). The one loop of every populate
/// (`Map::populate`, `index_file::Table::populate`).
#[cfg(target_os = "linux")]
pub(crate) fn in_populate_steps(len: usize, mut advise: impl FnMut(usize, usize) -> std::io::Result<()>) {
    let mut at = 0;
    while at < len {
        let step = (len - at).min(POPULATE_STEP);
        if advise(at, step).is_err() {
            return;
        }
        at += step;
    }
}

impl Map {
    pub fn new(map: Mmap, life: Arc<Life>) -> Map {
        Map { map, life }
    }

    /// Fills this process's page tables for the first `len` bytes of the
    /// map (`MADV_POPULATE_READ`), so that reading them takes no page
    /// fault. For a segment just sealed, whose pages the page cache holds
    /// (`Log::write_hints`): a put over a key reads its old record's key
    /// through the map (`Store::key_at`), and those pages were written with
    /// `pwrite`, never touched through it. Faulting them in there cost a
    /// 16 KiB put ~1 µs of its ~8 (0.4 faults a put, each mapping up to 16
    /// pages); done here, on the maintenance thread, it costs the put
    /// nothing.
    ///
    /// What it costs beyond the maintenance thread's time: page tables, 8
    /// bytes per 4 KiB page populated (2 MiB per GiB of segments), as
    /// reading every page through the map would; the pages themselves stay
    /// the page cache's, which the kernel reclaims as before (a mapped page
    /// is unmapped first). They count in the process's resident set as file
    /// pages (`RssFile`, not `RssAnon`), as they do once read.
    ///
    /// A hint: where the kernel cannot (before Linux 5.14, or on another
    /// system) the pages are faulted in as they are read, as before.
    /// `len` must not pass the file's end (a page wholly past it would be
    /// an error, and stop the populating there).
    pub fn populate(&self, len: usize) {
        #[cfg(target_os = "linux")]
        in_populate_steps(len.min(self.map.len()), |at, step| {
            self.map.advise_range(memmap2::Advice::PopulateRead, at, step)
        });
        #[cfg(not(target_os = "linux"))]
        let _ = len;
    }

    /// Whether the segment this maps has left the log (`Life::leave`).
    pub fn has_left(&self) -> bool {
        self.life.has_left()
    }
}

impl Deref for Map {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.map
    }
}

#[cfg(test)]
impl Map {
    /// A map of a new file at `path` holding `bytes`, with a life of its
    /// own: the segment map the unit tests of mapped values stand on.
    pub(crate) fn for_tests(path: &std::path::Path, bytes: &[u8]) -> (Arc<Map>, Arc<Life>) {
        std::fs::write(path, bytes).unwrap();
        let file = std::fs::File::open(path).unwrap();
        // SAFETY: a file of the calling test, which never truncates it.
        let map = unsafe { memmap2::MmapOptions::new().map(&file) }.unwrap();
        let life = Arc::new(Life::default());
        (Arc::new(Map::new(map, life.clone())), life)
    }
}
