//! `verify`'s check of the index file (`index.tci` + `index.tcm`) against
//! the records the segments hold.
//!
//! An open never trusts the index blindly (`recovery::Replay::trust_index`
//! checks the meta file, the segment lengths and the anchor record; a read
//! checks the record a slot points at), so a damaged index costs a rebuild,
//! never a wrong answer. What an open cannot see without reading every
//! record is a slot that is sound by its own CRC and points at a real record
//! of its key, but not the newest one: a stale slot would hand out an old
//! value. Only a bug could write one; this check is how an operator (and the
//! crash tests) would find it. Nothing here changes a file.

use std::collections::HashMap;
use std::path::Path;

use super::hint::HintEntry;
use super::index_file::{self, Slot, Table};
use super::undo;
use crate::record::Kind;

/// What `verify` found in the index files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexReport {
    /// Neither file is there (an index is written at the next checkpoint).
    pub absent: bool,
    /// Why the next open will not trust the files and will rebuild the
    /// index from the log instead (none: they pass this check).
    pub untrusted: Option<String>,
    /// Full slots read.
    pub slots: u64,
    /// Slots that are wrong: the slot number and why.
    pub bad_slots: Vec<(u64, String)>,
    /// Full slots pointing into retired segments, gone from the directory
    /// (`Meta::retired_segments`): the next open drops them, as the
    /// retirement a kill cut short would have.
    pub retired: u64,
}

impl IndexReport {
    /// Whether an open would use the index as it is.
    pub fn sound(&self) -> bool {
        !self.absent && self.untrusted.is_none() && self.bad_slots.is_empty()
    }
}

/// The records of one segment as `verify` scanned them.
pub struct Scanned<'a> {
    pub id: u32,
    pub format: u16,
    pub entries: &'a [HintEntry],
    /// Offsets of the records that failed their checks (reported with the
    /// segment: a slot pointing at one is not counted again).
    pub corrupt: &'a [(u64, &'static str)],
}

/// Checks the index files of `dir` against `segments` (every segment's
/// readable records, in id order).
pub fn check(dir: &Path, segments: &[Scanned<'_>]) -> IndexReport {
    let mut report = IndexReport::default();
    let meta_bytes = index_file::read_meta(dir).ok().flatten();
    let slots_path = index_file::slots_path(dir);
    if meta_bytes.is_none() && !slots_path.exists() {
        report.absent = true;
        return report;
    }
    let Some(meta) = meta_bytes.as_deref().and_then(index_file::decode_meta) else {
        report.untrusted = Some("the meta file is missing, of another version, or fails its checksum".into());
        return report;
    };
    let table = match Table::open(&slots_path, false) {
        Ok(Some(t)) => t,
        Ok(None) => {
            report.untrusted = Some("the slots file's header is not sound".into());
            return report;
        }
        Err(e) => {
            report.untrusted = Some(format!("the slots file cannot be read: {e}"));
            return report;
        }
    };
    if (table.generation, table.capacity()) != (meta.generation, meta.capacity) {
        report.untrusted = Some("the slots file is not the one the meta file describes".into());
        return report;
    }
    // As the open (`recovery::Replay::trust_index`): a segment the meta
    // file does not list, among those it lists, means a rebuild. (A
    // compaction's output renamed into place after a checkpoint that
    // listed the segment after it, and a kill before the checkpoint that
    // lists the output: `compact.rs`, `install_copies`.)
    if let Some(last) = meta.segments.last() {
        let listed = |id: u32| meta.segments.iter().any(|m| m.id == id);
        if let Some(s) = segments.iter().find(|s| s.id < last.id && !listed(s.id)) {
            report.untrusted = Some(format!(
                "segment {} is not in the meta file, which lists segment {} after it",
                s.id, last.id
            ));
            return report;
        }
    }
    // A checkpoint cut short: the next open writes back what its journal
    // holds; the table is checked as it will be then (each slot's bytes
    // before its first write since the meta file).
    let base = undo::Base {
        generation: table.generation,
        capacity: table.capacity(),
        meta: index_file::meta_id(meta_bytes.as_deref().unwrap_or_default()),
    };
    let mut undone: HashMap<u64, [u8; index_file::SLOT]> = HashMap::new();
    match undo::pending(dir, &base) {
        undo::Parsed::Stale => {}
        undo::Parsed::Unknown => {
            report.untrusted = Some(format!(
                "a checkpoint was cut short and its undo journal ({}) is of another boot or damaged",
                undo::UNDO_FILE
            ));
            return report;
        }
        undo::Parsed::Undo(entries) => {
            for (i, before) in entries.into_iter().rev() {
                undone.insert(i, before);
            }
        }
    }
    let slot = |i: u64| match undone.get(&i) {
        Some(b) => index_file::decode_slot(b),
        None => table.slot(i),
    };
    // Every record the index may know of: those numbered up to the watermark.
    let mut at: HashMap<(u32, u64), &HintEntry> = HashMap::new();
    let corrupt: std::collections::HashSet<(u32, u64)> = segments
        .iter()
        .flat_map(|s| s.corrupt.iter().map(|(off, _)| (s.id, *off)))
        .collect();
    let mut newest: HashMap<u64, u64> = HashMap::new();
    let mut cleared_before = 0u64;
    let mut numbered = true;
    // The number of the last record before the entry at hand, in log order.
    let mut last = 0u64;
    for seg in segments {
        numbered &= seg.format >= 2;
        for e in seg.entries {
            if e.is_gap() {
                // As the replay takes it (`State::replay_in_order`): a clear
                // of every record before it, if it may have held records.
                if last < meta.watermark && e.gap_hides(last) {
                    cleared_before = cleared_before.max(last + 1);
                }
                continue;
            }
            last = last.max(e.seq);
            if e.seq > meta.watermark {
                continue;
            }
            at.insert((seg.id, e.offset), e);
            match e.kind {
                Kind::Clear => cleared_before = cleared_before.max(e.seq),
                _ => {
                    let n = newest.entry(e.hash).or_default();
                    *n = (*n).max(e.seq);
                }
            }
        }
    }
    match meta.anchor {
        Some(a)
            if at
                .get(&(a.loc.segment(), a.loc.offset()))
                .is_some_and(|e| e.seq == meta.watermark) => {}
        Some(_) => {
            report.untrusted = Some(format!(
                "the record numbered {} (the index's watermark) is not where the meta file says",
                meta.watermark
            ));
            return report;
        }
        None if meta.watermark == 0 => {}
        None => {
            report.untrusted = Some("the meta file has a watermark but no record for it".into());
            return report;
        }
    }
    // Present as an open sees it: a file by the segment's name, sound or not.
    let present = |id: u32| dir.join(super::segment::file_name(id)).exists();
    let Some(retired) = meta.retired_segments(present) else {
        report.untrusted = Some("a segment the meta file lists is gone, and not one retired or all dead".into());
        return report;
    };
    let capacity = table.capacity();
    let mut unreadable = 0u64;
    for i in 0..capacity {
        let (h, e) = match slot(i) {
            Slot::Empty => continue,
            Slot::Bad => {
                report.slots += 1;
                unreadable += 1;
                report.bad_slots.push((i, "fails its checksum".into()));
                continue;
            }
            Slot::Full(h, e) => (h, e),
        };
        report.slots += 1;
        // A lookup probes from the hash's home slot and stops at the first
        // empty one: a slot past an empty one is never found.
        let home = h & (capacity - 1);
        let mut j = home;
        while j != i {
            if slot(j) == Slot::Empty {
                report
                    .bad_slots
                    .push((i, format!("unreachable from its home slot {home}")));
                break;
            }
            j = (j + 1) & (capacity - 1);
        }
        if retired.contains(&e.loc.segment()) {
            report.retired += 1;
            continue;
        }
        let why = match at.get(&(e.loc.segment(), e.loc.offset())) {
            None if corrupt.contains(&(e.loc.segment(), e.loc.offset())) => continue,
            None => "points at no record".to_string(),
            Some(r) if r.hash != h || r.seq != e.seq || r.len != e.len || r.kind != Kind::Put => {
                "points at a record of another key, number, length or kind".to_string()
            }
            Some(r) if numbered && r.seq < cleared_before => {
                format!(
                    "points at record {} from before a clear (record {cleared_before})",
                    r.seq
                )
            }
            Some(r) if numbered && newest.get(&h).is_some_and(|n| *n > r.seq) => format!(
                "points at record {} but record {} of the same key is newer: a stale slot",
                r.seq, newest[&h]
            ),
            Some(_) => continue,
        };
        report.bad_slots.push((i, why));
    }
    let full = report.slots - unreadable;
    if report.bad_slots.is_empty() && full != meta.entries {
        report.untrusted = Some(format!(
            "{full} slots are full but the meta file counts {}",
            meta.entries
        ));
    }
    report
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    use super::super::index::Loc;
    use super::super::index_file::{encode_slot, Entry, SLOT, SLOTS_HEADER};
    use super::super::scan;
    use super::super::segment::{self, Segment};
    use super::super::verify::verify;
    use crate::seal::Sealer;
    use crate::{Cache, Options};

    /// A directory whose key `k` was written twice (and a few others once),
    /// closed cleanly: its index file is written and sound.
    fn written() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let c = Cache::open(&Options::with_dir(dir.path())).unwrap();
        c.put(b"k", b"old value", 0).unwrap();
        for i in 0..20u8 {
            c.put(&[b'o', i], b"other", 0).unwrap();
        }
        c.put(b"k", b"new value", 0).unwrap();
        c.close().unwrap();
        dir
    }

    /// The records of the directory's only segment: (offset, hash, seq, len).
    fn records(dir: &Path) -> Vec<(u64, u64, u64, u32)> {
        let (seg, _) = Segment::open(&dir.join(segment::file_name(1)), 1, false).unwrap();
        let scan = scan::scan(&seg, &Sealer::default(), scan::Tail::MayBeTorn);
        scan.entries.iter().map(|e| (e.offset, e.hash, e.seq, e.len)).collect()
    }

    /// The slot number holding hash `h`.
    fn slot_of(dir: &Path, h: u64) -> u64 {
        let bytes = fs::read(super::index_file::slots_path(dir)).unwrap();
        let n = (bytes.len() - SLOTS_HEADER) / SLOT;
        (0..n as u64)
            .find(|i| {
                let at = SLOTS_HEADER + *i as usize * SLOT;
                bytes[at..at + 8] == h.to_le_bytes()
            })
            .unwrap()
    }

    fn write_slot(dir: &Path, i: u64, slot: &[u8]) {
        let path = super::index_file::slots_path(dir);
        let mut bytes = fs::read(&path).unwrap();
        let at = SLOTS_HEADER + i as usize * SLOT;
        bytes[at..at + SLOT].copy_from_slice(slot);
        fs::write(&path, bytes).unwrap();
    }

    #[test]
    fn a_cleanly_closed_directory_has_a_sound_index() {
        let dir = written();
        let r = verify(dir.path(), None, |_, _| {}).unwrap().index;
        assert!(r.sound(), "{r:?}");
        assert_eq!(r.slots, 21);
    }

    #[test]
    fn a_slot_pointing_at_an_older_record_of_its_key_is_reported_stale() {
        let dir = written();
        let recs = records(dir.path());
        let h = crate::log::key_hash(b"k");
        let (off, _, seq, len) = *recs.iter().find(|r| r.1 == h).unwrap();
        // Sound by its own CRC, pointing at a real record of the key: only
        // a comparison with the newer record shows it is wrong.
        let stale = encode_slot(
            h,
            &Entry {
                loc: Loc::new(1, off),
                seq,
                len,
                has_meta: false,
            },
        );
        write_slot(dir.path(), slot_of(dir.path(), h), &stale);
        let r = verify(dir.path(), None, |_, _| {}).unwrap().index;
        assert_eq!(r.bad_slots.len(), 1, "{r:?}");
        assert!(r.bad_slots[0].1.contains("stale"), "{r:?}");
        assert!(!r.sound());
    }

    #[test]
    fn flipped_slots_and_missing_or_foreign_files_are_reported() {
        let dir = written();
        let h = crate::log::key_hash(b"k");
        let i = slot_of(dir.path(), h);
        let path = super::index_file::slots_path(dir.path());
        let mut bytes = fs::read(&path).unwrap();
        bytes[SLOTS_HEADER + i as usize * SLOT + 9] ^= 1;
        fs::write(&path, &bytes).unwrap();
        let r = verify(dir.path(), None, |_, _| {}).unwrap().index;
        assert_eq!(r.bad_slots, vec![(i, "fails its checksum".to_string())]);

        // The slots file of another directory (another generation).
        let other = written();
        fs::copy(
            super::index_file::meta_path(other.path()),
            super::index_file::meta_path(dir.path()),
        )
        .unwrap();
        let r = verify(dir.path(), None, |_, _| {}).unwrap().index;
        assert!(r.untrusted.is_some(), "{r:?}");

        fs::remove_file(super::index_file::meta_path(dir.path())).unwrap();
        let r = verify(dir.path(), None, |_, _| {}).unwrap().index;
        assert!(r.untrusted.unwrap().contains("meta file"));
        fs::remove_file(&path).unwrap();
        assert!(verify(dir.path(), None, |_, _| {}).unwrap().index.absent);
    }
}
