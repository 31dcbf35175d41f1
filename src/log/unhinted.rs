//! Sealed segments whose hint file is not written yet, each with the
//! entries its hint will hold.
//!
//! A seal used to write the old segment's hint while it held the log's
//! write lock: tens of megabytes encoded and written (and fsynced under a
//! durable policy), 13 to 120 ms measured on this project's machine while
//! every put and every L2 read waited. The seal now only hands the entries
//! over to this set, and `Log::write_hints` writes the file later without
//! the lock (from the maintenance thread at each tick and between the
//! segments of a compaction, from a flush and a close). The entries wait
//! in memory until then: 40 bytes a record, 18 MB for a full 64 MiB
//! segment of 100-byte values, as the active segment's entries already do.
//!
//! One rule makes that safe: **a hint file is put in place only for a
//! segment that is still in the log.** A hint that landed after its
//! segment was deleted would be a file that nothing counts against the
//! directory's bound and nothing deletes until the next open
//! (`recovery::remove_orphan_hints`). The rule is kept by this type and the
//! log's lock together: the hint is written under a temporary name without
//! the lock, and renamed into place under the lock only if `finish` finds
//! its job still here; `Store::delete_segment` removes a segment's job
//! under that same lock (`forget`). So the rename and the deletion are
//! ordered by the lock, whichever comes first, and a deletion that comes
//! first leaves the temporary file to its writer, which removes it.
//!
//! Until its hint lands a segment's entries are read from here
//! (`Store::entries_of`), so compaction and index rebuilds never scan a
//! segment only because its hint is late.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::hint::{self, HintEntry};

/// The entries of one sealed segment, shared between the set and the
/// writer of its hint (no copy of tens of megabytes under the lock).
pub type Entries = Arc<Vec<HintEntry>>;

/// See the module doc.
#[derive(Debug, Default)]
pub struct Unhinted {
    jobs: BTreeMap<u32, Entries>,
}

impl Unhinted {
    /// Segment `id` was sealed with `entries`: its hint is due.
    pub fn add(&mut self, id: u32, entries: Vec<HintEntry>) {
        self.jobs.insert(id, Arc::new(entries));
    }

    /// The bytes the hint files due will take on disk. The directory's
    /// bound counts them from the seal on (`Store::disk_bytes`), as it did
    /// when the seal wrote the file: counted only once written, a hint
    /// (a quarter of its segment, for 100-byte values) landed after the
    /// seal's retirement had brought the directory within its bound, and
    /// stayed over it until the next seal. (A sum over the few hints due,
    /// each sized from its entries: nothing to keep in step.)
    pub fn bytes(&self) -> u64 {
        self.jobs.values().map(|e| hint::file_len(e.len())).sum()
    }

    /// The entries of segment `id`, if its hint is still due: shared (a
    /// count taken, nothing copied), so they can be read with no lock held.
    pub fn entries(&self, id: u32) -> Option<Entries> {
        self.jobs.get(&id).cloned()
    }

    /// The oldest segment whose hint is due, with its entries.
    pub fn next(&self) -> Option<(u32, Entries)> {
        self.jobs.iter().next().map(|(id, e)| (*id, e.clone()))
    }

    /// Segment `id` is leaving the log: its hint must never land. Returns
    /// the job's entries, for the caller to drop where it pleases (tens of
    /// megabytes, whose free a lock holder should not wait for).
    #[must_use]
    pub fn forget(&mut self, id: u32) -> Option<Entries> {
        self.jobs.remove(&id)
    }

    /// The hint of `id`, written from `entries`, is ready to be put in
    /// place: says whether it may be (the segment is still here, and was
    /// not sealed again with other entries meanwhile), and if so takes the
    /// job. Call under the log's lock, and rename only on true.
    pub fn finish(&mut self, id: u32, entries: &Entries) -> bool {
        match self.jobs.get(&id) {
            Some(e) if Arc::ptr_eq(e, entries) => {
                self.jobs.remove(&id);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::log::fileio::{self, Op, Plan};
    use crate::log::{scan, Log, LogConfig};
    use crate::record::Kind;
    use crate::stats::Counters;

    fn entry(seq: u64) -> HintEntry {
        HintEntry {
            hash: seq,
            offset: 16 * seq,
            len: 16,
            kind: Kind::Put,
            expires_at: 0,
            seq,
            has_meta: false,
        }
    }

    #[test]
    fn a_job_finishes_once_and_only_while_its_segment_is_here() {
        let mut u = Unhinted::default();
        u.add(3, vec![entry(1)]);
        u.add(2, vec![entry(2)]);
        let (id, e) = u.next().unwrap();
        assert_eq!(id, 2, "the oldest first");
        assert_eq!(u.entries(2).as_deref().map(Vec::as_slice), Some(&[entry(2)][..]));
        assert!(u.finish(2, &e));
        assert!(!u.finish(2, &e), "taken already");
        assert_eq!(u.entries(2).as_deref().map(Vec::as_slice), None);

        assert_eq!(u.bytes(), hint::file_len(1), "one hint due");
        let (id, e) = u.next().unwrap();
        let _ = u.forget(id);
        assert!(!u.finish(id, &e), "the segment left the log while its hint was written");
        assert!(u.next().is_none());
        assert_eq!(u.bytes(), 0);
    }

    #[test]
    fn a_job_replaced_meanwhile_is_not_finished_by_the_old_writer() {
        let mut u = Unhinted::default();
        u.add(5, vec![entry(1)]);
        let (_, old) = u.next().unwrap();
        let _ = u.forget(5);
        u.add(5, vec![entry(9)]);
        assert!(!u.finish(5, &old));
        let (_, new) = u.next().unwrap();
        assert!(u.finish(5, &new));
    }

    /// A log with one sealed segment of `n` records; returns the segment's id.
    fn sealed(dir: &Path, n: u32) -> (Log, u32) {
        let log = Log::open(dir, LogConfig::for_tests(), Arc::new(Counters::default())).unwrap();
        for i in 0..n {
            let key = format!("k{i}");
            let h = log.hasher().hash(key.as_bytes());
            log.put(key.as_bytes(), h, b"value", 0, 1, None).unwrap();
        }
        let mut st = log.state.write();
        let id = st.store.active().id;
        st.store.seal_and_start().unwrap();
        drop(st);
        (log, id)
    }

    fn scanned(log: &Log, id: u32) -> Vec<HintEntry> {
        let st = log.state.read();
        scan::scan(&st.store.segments[&id], &st.store.sealer, scan::Tail::Sealed).entries
    }

    /// Files in `dir` whose names end with `suffix`.
    fn files(dir: &Path, suffix: &str) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(suffix))
            .collect()
    }

    #[test]
    fn a_seal_leaves_its_hint_to_write_hints() {
        let dir = tempfile::tempdir().unwrap();
        let (log, id) = sealed(dir.path(), 100);
        let path = hint::path(dir.path(), id);
        assert!(!path.exists(), "the seal wrote no hint");
        let all = scanned(&log, id);
        assert_eq!(all.len(), 100);
        assert_eq!(log.state.read().store.entries_of(id), all, "read from memory meanwhile");
        let counted = log.state.read().store.disk_bytes();

        log.write_hints();
        let st = log.state.read();
        assert_eq!(
            st.store.disk_bytes(),
            counted,
            "the hint was counted before it was written"
        );
        assert_eq!(
            hint::read(dir.path(), id, st.store.segments[&id].len()),
            Some(all.clone())
        );
        assert_eq!(
            st.store.segments[&id].hint_bytes,
            std::fs::metadata(&path).unwrap().len()
        );
        assert_eq!(st.store.entries_of(id), all, "now from the file");
        assert!(st.store.unhinted.next().is_none());
        assert!(files(dir.path(), ".tmp").is_empty());
    }

    /// What `Map::populate` is for: the pages of a segment the log wrote
    /// with `pwrite` are in no page table until read through the map (a put
    /// over one of its keys reads that key so, and faulted); once the
    /// segment's hint is written, every page of it is mapped. Fails if
    /// `write_hints` stops populating, or populates before the seal's
    /// last bytes.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_sealed_segment_is_faulted_in_once_its_hint_is_written() {
        let dir = tempfile::tempdir().unwrap();
        {
            // A kernel before 5.14 has no MADV_POPULATE_READ, and the
            // populate is a hint there: nothing to see.
            let probe = dir.path().join("probe");
            std::fs::write(&probe, [1u8; 4096]).unwrap();
            let file = std::fs::File::open(&probe).unwrap();
            // SAFETY: a file of this test's own, not changed while mapped.
            let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
            if map.advise(memmap2::Advice::PopulateRead).is_err() {
                eprintln!("skipped: this kernel cannot populate a map");
                return;
            }
            std::fs::remove_file(&probe).unwrap();
        }
        let log = Log::open(dir.path(), LogConfig::for_tests(), Arc::new(Counters::default())).unwrap();
        for i in 0..600 {
            let key = format!("k{i}");
            let h = log.hasher().hash(key.as_bytes());
            log.put(key.as_bytes(), h, &[i as u8; 1024], 0, 1, None).unwrap();
        }
        let mut st = log.state.write();
        let id = st.store.active().id;
        st.store.seal_and_start().unwrap();
        let seg = &st.store.segments[&id];
        let (map, len) = (seg.map().unwrap().clone(), seg.len() as usize);
        drop(st);
        let pages = len.div_ceil(4096);
        assert!(pages > 100, "{pages}");
        let before = crate::log::mapped_pages(&map[..len]);
        assert!(
            before < pages / 4,
            "written with pwrite, read through the map by nobody: {before} of {pages}"
        );

        log.write_hints();
        assert_eq!(
            crate::log::mapped_pages(&map[..len]),
            pages,
            "every page of the segment is mapped"
        );
    }

    /// The rule of the module doc: the segment goes between the hint's
    /// writing and its installing, and the hint never lands.
    #[test]
    fn a_hint_never_lands_for_a_segment_deleted_while_it_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let (log, id) = sealed(dir.path(), 100);
        let mut called = 0;
        log.write_hints_with(|due| {
            called += 1;
            assert_eq!(due, id);
            assert_eq!(files(dir.path(), ".hint.tmp").len(), 1, "written, not in place");
            let mut st = log.state.write();
            for (h, loc) in st.live().collect::<Vec<_>>() {
                st.kill_at(h, loc);
            }
            st.store.delete_segment(id).unwrap();
        });
        assert_eq!(called, 1);
        assert!(!hint::path(dir.path(), id).exists(), "no hint for a deleted segment");
        assert!(files(dir.path(), ".hint.tmp").is_empty(), "its temporary file is gone");
        assert!(log.state.read().store.unhinted.next().is_none());
    }

    #[test]
    fn a_hint_that_cannot_be_written_is_counted_and_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (log, id) = sealed(dir.path(), 10);
        let all = scanned(&log, id);
        for op in [Op::Create, Op::Write, Op::Rename] {
            log.state.write().store.unhinted.add(id, all.clone());
            let errors = log.counters.io_errors.load(Ordering::Relaxed);
            fileio::inject(
                dir.path(),
                Plan {
                    op,
                    nth: 1,
                    persistent: false,
                    errno: libc::ENOSPC,
                },
            );
            log.write_hints();
            fileio::heal(dir.path());
            assert_eq!(log.counters.io_errors.load(Ordering::Relaxed), errors + 1, "{op:?}");
            assert!(!hint::path(dir.path(), id).exists(), "{op:?}");
            assert!(files(dir.path(), ".tmp").is_empty(), "{op:?}");
            assert!(log.state.read().store.unhinted.next().is_none(), "not retried: {op:?}");
            assert_eq!(log.state.read().store.entries_of(id), all, "scanned instead: {op:?}");
        }
    }

    /// A crash while a hint is due (the process killed before its next
    /// maintenance tick) leaves a sealed segment without one: after the
    /// open its records are read from the segment, and a compaction of it
    /// carries the live ones and loses nothing.
    #[test]
    fn a_segment_whose_hint_was_due_at_a_crash_is_read_whole_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let (log, id) = sealed(dir.path(), 100);
        let all = scanned(&log, id);
        for i in 0..50 {
            let key = format!("k{i}");
            let h = log.hasher().hash(key.as_bytes());
            log.put(key.as_bytes(), h, b"newer", 0, 1, None).unwrap();
        }
        // What a killed process leaves: its writes in the file, no flush,
        // no close, no hint.
        log.state.write().store.write_buffer().unwrap();
        drop(log);
        assert!(!hint::path(dir.path(), id).exists());

        let log = Log::open(dir.path(), LogConfig::for_tests(), Arc::new(Counters::default())).unwrap();
        assert_eq!(log.state.read().store.entries_of(id), all, "read from the segment");
        log.compact(true).unwrap();
        assert!(!log.state.read().store.segments.contains_key(&id), "compacted");
        for i in 0..100 {
            let want: &[u8] = if i < 50 { b"newer" } else { b"value" };
            assert_eq!(log.value_now(format!("k{i}").as_bytes()).as_deref(), Some(want), "k{i}");
        }
    }
}
