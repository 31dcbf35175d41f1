//! Opening a log: the index from what the directory holds.
//!
//! `rebuild` reads as its steps: list the segment files; if the index file
//! is there and passes every check (`trust_index`: its meta file, its
//! segments, and the anchor record of its watermark), take it as it is and
//! replay only the log's tail past the watermark; otherwise replay every
//! segment in id order (from its hint if it has a sound one, else record by
//! record, cutting the torn tail of the last). Then, unless read-only,
//! finish a clear (or a gap) that hid whole segments, delete hints whose
//! segment is gone, make sure there is an active segment of the current
//! format to append to, and write the index file if it was rebuilt.
//!
//! Replay trusts sequence numbers, not positions: every record of format 2
//! carries one, and they grow strictly along the log because only
//! `Store::append` hands them out. A record whose number does not exceed the
//! last one replayed breaks that rule (a bug, or damage that was checksummed
//! again): it is counted corrupt and skipped, so it can never replace a newer
//! record. Records of format 1 segments, which have no numbers, are numbered
//! here in log order, before every format 2 record (a format 1 directory's
//! last segment is sealed on open, so format 2 records always come after).
//! Unreadable bytes found by a scan are gaps in that order, which hide the
//! records before them as a clear does (`scan`, `State::replay_in_order`).
//!
//! Opened read-only, none of the repairs is made: bytes past a torn tail are
//! ignored, and segments a clear hides are ignored, not deleted.

use std::fs;
use std::io;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::fileio;
use super::hint::{self, HintEntry};
use super::index::{Index, Loc};
use super::index_file;
use super::scan::{self, Tail};
use super::segment::{self, HeaderCheck, Segment};
use super::state::Replayed;
use super::store::{self, Store};
use super::undo;
use super::{LogConfig, State};
use crate::error::{Error, Result};
use crate::record;
use crate::seal::Sealer;
use crate::stats::Counters;

/// Reads the index file and the log tail past its watermark, or, if the
/// index file is missing or not trusted, every segment, into a fresh state.
pub fn rebuild(dir: &Path, counters: &Counters, config: &LogConfig, sealer: Arc<Sealer>) -> Result<State> {
    let read_only = config.read_only;
    let ids = list_segments(dir, read_only)?;
    let mut replay = Replay {
        dir,
        counters,
        read_only,
        now: config.clock.now_ms(),
        state: State::new(Store::new(
            dir.to_path_buf(),
            config.durable(),
            read_only,
            config.segment_bytes,
            sealer,
        )),
        last_clear: None,
        must_seal_last: false,
        with_meta: Vec::new(),
    };
    replay.state.store.max_id_seen = ids.last().copied().unwrap_or(0);
    let last = ids.last().copied();
    let trusted = match replay.trust_index(&ids)? {
        Some(tail) => {
            for (id, from) in tail {
                replay.segment(id, Some(id) == last, from)?;
            }
            true
        }
        None => {
            for &id in &ids {
                replay.segment(id, Some(id) == last, segment::HEADER_LEN)?;
            }
            false
        }
    };
    let Replay {
        mut state,
        last_clear,
        must_seal_last,
        with_meta,
        ..
    } = replay;
    state.index_tags(&with_meta);
    if read_only {
        if state.store.segments.is_empty() {
            return Err(Error::invalid(format!("{} holds no tiercache segments", dir.display())));
        }
        return Ok(state);
    }
    let cleared = last_clear.is_some();
    if let Some(clear_id) = last_clear {
        finish_clear(&mut state.store, clear_id)
            .map_err(|e| Error::io(format!("finish an interrupted clear in {}", dir.display()), e))?;
    }
    remove_orphan_hints(dir, &state.store);
    let sealed = ensure_active(dir, &mut state, must_seal_last)?;
    // A trusted index file with a short tail stays as it is (the tail is
    // replayed again should the process end before the next checkpoint);
    // otherwise the index file is written now.
    // (A clear in the tail deleted segments the index file still lists.)
    if !trusted || sealed || cleared || state.index_pending() > TAIL_KEPT_IN_MEMORY {
        // Only an optimisation: the next open rebuilds if this fails.
        if state.checkpoint(dir).is_err() {
            counters.io_errors.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(state)
}

/// Index entries replayed from the tail that an open keeps in memory rather
/// than write into the index file at once.
const TAIL_KEPT_IN_MEMORY: usize = 64 * 1024;

/// The ids of the segment files in `dir`, in order; deletes leftover
/// temporary files (hints whose writing a crash cut short, segments deleted
/// from the log but not yet unlinked: `store::dead_path`) unless read-only.
fn list_segments(dir: &Path, read_only: bool) -> Result<Vec<u32>> {
    let mut ids = Vec::new();
    let list_err = |e| Error::io(format!("list {}", dir.display()), e);
    for ent in fs::read_dir(dir).map_err(list_err)? {
        let ent = ent.map_err(list_err)?;
        let name = ent.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(id) = segment::parse_file_name(name) {
            ids.push(id);
        } else if name.ends_with(".tmp") && !read_only {
            let _ = fs::remove_file(ent.path());
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

/// The replay of a directory's segments, in id order.
struct Replay<'a> {
    dir: &'a Path,
    counters: &'a Counters,
    read_only: bool,
    now: u64,
    state: State,
    /// The last segment holding a clear record.
    last_clear: Option<u32>,
    /// The last segment cannot take appends (it is of format 1, or the
    /// search for records after damage in it gave up): seal it on open.
    must_seal_last: bool,
    /// Live puts whose records carry metadata, for the tag index.
    with_meta: Vec<(u64, Loc)>,
}

impl Replay<'_> {
    /// Opens the index file and checks it against the segments: its meta
    /// file must be sound and name this slots file; every segment it lists
    /// must be there with the length it had (or be gone, if it was all
    /// dead); the record of its watermark must be where it says, with that
    /// number and CRC (so an index of another directory, or of a log that
    /// lost records, is refused); any other segment must come after. If so,
    /// the segments it lists are opened and its counts taken, and the
    /// segments and offsets of the tail to replay are returned. `None`: the
    /// index is not there or not trusted (counted in `l2_index_rebuilds` if
    /// there was one), and every segment is to be read.
    fn trust_index(&mut self, ids: &[u32]) -> Result<Option<Vec<(u32, u64)>>> {
        let meta = index_file::read_meta(self.dir).ok().flatten();
        let slots = index_file::slots_path(self.dir);
        if meta.is_none() && !slots.exists() {
            return Ok(None);
        }
        match self.check_index(meta.as_deref(), &slots, ids) {
            Some(tail) => Ok(Some(tail)),
            None => {
                self.counters.l2_index_rebuilds.fetch_add(1, Ordering::Relaxed);
                // Start again from nothing: the full replay opens every segment.
                self.with_meta.clear();
                self.state = State::new(Store::new(
                    self.dir.to_path_buf(),
                    self.state.store.is_durable(),
                    self.read_only,
                    self.state.store.planned(),
                    self.state.store.sealer.clone(),
                ));
                self.state.store.max_id_seen = ids.last().copied().unwrap_or(0);
                if !self.read_only {
                    let _ = index_file::invalidate(self.dir, false);
                }
                Ok(None)
            }
        }
    }

    fn check_index(&mut self, meta: Option<&[u8]>, slots: &Path, ids: &[u32]) -> Option<Vec<(u32, u64)>> {
        let meta_bytes = meta?;
        let meta = index_file::decode_meta(meta_bytes)?;
        let mut table = index_file::Table::open(slots, !self.read_only).ok().flatten()?;
        if (table.generation, table.capacity()) != (meta.generation, meta.capacity) {
            return None;
        }
        // A checkpoint the last process did not finish: its journal gives
        // back the table the meta file describes (`undo`).
        let id = index_file::meta_id(meta_bytes);
        let durable = self.state.store.is_durable();
        match undo::restore(self.dir, &mut table, id, self.read_only, durable) {
            undo::Restored::Refused => return None,
            undo::Restored::Table(0) => {}
            undo::Restored::Table(_) => {
                self.counters.l2_checkpoints_undone.fetch_add(1, Ordering::Relaxed);
            }
        }
        if !self.read_only {
            table.set_guard(undo::MetaGuard::new(self.dir, durable, Some(id)));
        }
        let anchor = meta.anchor?;
        let anchor_seg = anchor.loc.segment();
        let listed_max = meta.segments.last()?.id;
        let present = |id: u32| ids.binary_search(&id).is_ok();
        let retired = meta.retired_segments(present)?;
        for s in &meta.segments {
            if !present(s.id) {
                continue;
            }
            let path = self.dir.join(segment::file_name(s.id));
            let (mut seg, check) = Segment::open(&path, s.id, !self.read_only).ok()?;
            let len_ok = if s.id < anchor_seg {
                seg.len() == s.len
            } else {
                seg.len() >= s.len
            };
            if check != HeaderCheck::Ok || seg.format != s.format || !len_ok {
                return None;
            }
            seg.dead = s.dead;
            seg.first_seq = s.first_seq;
            seg.hint_bytes = fs::metadata(hint::path(self.dir, s.id)).map_or(0, |m| m.len());
            self.state.store.segments.insert(s.id, seg);
        }
        for &id in ids {
            if id > listed_max || self.state.store.segments.contains_key(&id) {
                continue;
            }
            // A segment the index does not know, among those it does: only
            // a file that is not a segment of ours (counted, left alone, as
            // a full replay would) is allowed.
            let path = self.dir.join(segment::file_name(id));
            let (_, check) = Segment::open(&path, id, false).ok()?;
            if !matches!(check, HeaderCheck::Bad | HeaderCheck::Short) {
                return None;
            }
            self.counters.corrupt_records.fetch_add(1, Ordering::Relaxed);
        }
        // The anchor: the record numbered `watermark`, where the meta says.
        let store = &self.state.store;
        let bytes = store.bytes_at(anchor.loc)?;
        let record::Frame::Valid { len } = record::check_frame(bytes) else {
            return None;
        };
        let r = record::decode(record::payload(&bytes[..len]))?;
        let end = anchor.loc.offset() + len as u64;
        let in_listed = meta.segments.iter().any(|s| s.id == anchor_seg && end <= s.len);
        if r.seq != meta.watermark
            || meta.watermark > store::MAX_SEQ
            || bytes[4..8] != anchor.crc.to_le_bytes()
            || !in_listed
        {
            return None;
        }
        let entries = usize::try_from(meta.entries).ok()?;
        self.state
            .trust(Index::with_table(table, entries, meta.tagged), meta.live_bytes);
        self.retired_at_open(&retired);
        self.state.store.seen_seq(meta.watermark);
        self.state.store.last_loc = Some(anchor.loc);
        self.with_meta = self.state.tagged_entries();
        // The tail: the rest of the anchor's segment, then every later one.
        let mut tail = vec![(anchor_seg, end)];
        tail.extend(
            ids.iter()
                .copied()
                .filter(|id| *id > anchor_seg)
                .map(|id| (id, segment::HEADER_LEN)),
        );
        Some(tail)
    }

    /// Drops from a trusted index every entry in the retired segments
    /// `gone` (`Meta::retired_segments`: the oldest segments the meta file
    /// lists, whose files are no longer there), finishing the retirement a
    /// kill cut short. Sound whatever took the files, by two facts: a
    /// table holds one entry per key, its newest record as of the
    /// watermark, so dropping it evicts the key and brings no older record
    /// back (nothing is older than the oldest segments); and the tail
    /// replayed after this only adds newer records. A rebuild would come
    /// to the same index by reading the whole log; this reads the table
    /// once. Each entry dropped counts in `l2_evictions`, as retiring does.
    fn retired_at_open(&mut self, gone: &[u32]) {
        if !gone.is_empty() {
            let n = self.state.kill_all_in(gone);
            self.counters.l2_evictions.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Opens segment `id` (unless the index file's check opened it) and
    /// applies its records from offset `from` on to the index.
    fn segment(&mut self, id: u32, last: bool, from: u64) -> Result<()> {
        if !self.state.store.segments.contains_key(&id) && !self.open(id, last)? {
            return Ok(());
        }
        let seg = &self.state.store.segments[&id];
        let format = seg.format;
        // The active segment has a hint too if the last close wrote one and
        // nothing was appended since (the lengths match).
        let hinted = if from <= segment::HEADER_LEN {
            hint::read(self.dir, id, seg.len())
        } else {
            None
        };
        if hinted.is_some() {
            let bytes = fs::metadata(hint::path(self.dir, id)).map_or(0, |m| m.len());
            self.state.store.segments.get_mut(&id).unwrap().hint_bytes = bytes;
        }
        let from_hint = hinted.is_some();
        let mut entries = match hinted {
            Some(entries) => entries,
            None => self.scan(id, last, from, false)?,
        };
        if format >= segment::VERSION && !self.read_only {
            let seen = self.state.store.last_seq();
            let mut found = strays(&entries, seen);
            if found.records > 0 && from_hint {
                // What is blanked is found in the records themselves, not
                // in a hint that may disagree with them.
                entries = self.scan(id, last, from, false)?;
                found = strays(&entries, seen);
            }
            if found.records > 0 {
                self.blank_strays(id, &found)?;
                entries = self.scan(id, last, from, true)?;
            }
        }
        self.must_seal_last |= last && format < segment::VERSION;
        self.state.reserve(entries.len());
        for e in &entries {
            self.apply(id, e, format);
        }
        // The last segment read becomes the active one; should the file after
        // it be unreadable, this is also what its hint will say when sealed.
        self.state.store.active_entries = entries;
        self.state.store.active_entries_from = from.max(segment::HEADER_LEN);
        Ok(())
    }

    /// Opens segment `id` and adds it to the store; false if it is skipped.
    fn open(&mut self, id: u32, last: bool) -> Result<bool> {
        let path = self.dir.join(segment::file_name(id));
        let (mut seg, check) = Segment::open(&path, id, !self.read_only)
            .map_err(|e| Error::io(format!("open segment {}", path.display()), e))?;
        match check {
            HeaderCheck::Ok => {}
            HeaderCheck::NewerVersion(v) => {
                return Err(Error::corrupt(format!(
                    "{} was written by a newer tiercache (format version {v})",
                    path.display()
                )))
            }
            HeaderCheck::Short if last && !self.read_only => {
                // Its creation was cut short by a crash: start it afresh.
                seg.reset()
                    .map_err(|e| Error::io(format!("rewrite {}", path.display()), e))?;
            }
            HeaderCheck::Short | HeaderCheck::Bad => {
                // Not ours to delete, not ours to read: count it and leave it.
                self.counters.corrupt_records.fetch_add(1, Ordering::Relaxed);
                return Ok(false);
            }
        }
        self.state.store.segments.insert(id, seg);
        Ok(true)
    }

    /// Reads segment `id` record by record from `from` on: counts bad
    /// records, cuts the torn tail of the last segment, writes the hint a
    /// sealed one lacked (when read whole). `again`: a second read, after
    /// `blank_strays`, which counts nothing and reads the end as a sealed
    /// segment's: the first read decided whether the last segment's end was
    /// a torn write (and cut it), with the blanked records still readable
    /// after any damage; without them, damage before them at the end could
    /// pass for a torn write, which hides nothing, where it was a gap.
    fn scan(&mut self, id: u32, last: bool, from: u64, again: bool) -> Result<Vec<HintEntry>> {
        let seg = &self.state.store.segments[&id];
        let tail = if last && !again { Tail::MayBeTorn } else { Tail::Sealed };
        let scan = scan::scan_from(seg, from, &self.state.store.sealer, tail);
        if !again {
            self.counters
                .corrupt_records
                .fetch_add(scan.bad.len() as u64, Ordering::Relaxed);
        }
        if self.read_only {
            return Ok(scan.entries);
        }
        let durable = self.state.store.is_durable();
        let seg = self.state.store.segments.get_mut(&id).unwrap();
        if let Some(at) = scan.torn_at {
            // Not in place if it can be helped: a value of an earlier
            // handle may map the bytes past the cut (`Segment::cut_aside`).
            seg.cut_aside(at, durable)
                .map_err(|e| Error::io(format!("cut the torn tail of {}", seg.path.display()), e))?;
        }
        // Appending after damage at the end would put the new records behind
        // bytes the search for the next record may not get past (and that
        // the cut of a torn write must not take away: its gap hides what is
        // older): such a last segment is sealed, not cut.
        self.must_seal_last |= scan.damaged_end && last;
        if !last && from <= segment::HEADER_LEN {
            // Rebuild the missing or bad hint; without it open is only slower.
            if let Ok(bytes) = hint::write(self.dir, id, seg.len(), &scan.entries, durable) {
                seg.hint_bytes = bytes;
            }
        }
        Ok(scan.entries)
    }

    /// Turns the byte ranges of segment `id` in `strays` (its records
    /// numbered out of order, and the gaps after them: `strays`) into
    /// unreadable bytes, in the file itself, before anything
    /// is applied or deleted: see `strays` for why. The segment's hint goes
    /// first (it lists them as records); the caller scans the segment
    /// again, which finds a gap where they were and writes a new hint. The
    /// zeros are fsynced whatever the policy: the deletions this open may
    /// make next (`finish_clear`) must not reach the disk without them, and
    /// this happens only to a damaged directory.
    fn blank_strays(&mut self, id: u32, strays: &Strays) -> Result<()> {
        let hint = hint::path(self.dir, id);
        fileio::remove(&hint)
            .or_else(store::ignore_missing)
            .map_err(|e| Error::io(format!("remove {}", hint.display()), e))?;
        let seg = self.state.store.segments.get_mut(&id).unwrap();
        seg.hint_bytes = 0;
        let path = seg.path.clone();
        let blank = |seg: &mut Segment| -> io::Result<()> {
            for &(offset, len) in &strays.ranges {
                seg.blank(offset, len)?;
            }
            seg.sync()
        };
        blank(seg).map_err(|e| Error::io(format!("blank records numbered out of order in {}", path.display()), e))?;
        self.counters
            .corrupt_records
            .fetch_add(strays.records as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Applies one entry of segment `id` (of format `format`) to the index,
    /// in log order (`State::replay_in_order`).
    fn apply(&mut self, id: u32, e: &HintEntry, format: u16) {
        let last = self.state.store.last_seq();
        let replayed = self
            .state
            .replay_in_order(id, e, format, last, self.now, &mut self.with_meta);
        match replayed {
            Replayed::Record { seq, .. } => {
                self.state.store.seen_seq(seq);
                self.state.store.last_loc = Some(Loc::new(id, e.offset));
                let seg = self.state.store.segments.get_mut(&id).unwrap();
                seg.first_seq = seg.first_seq.min(seq);
            }
            // Out of order: never let it replace what a newer record says.
            Replayed::OutOfOrder => {
                self.counters.corrupt_records.fetch_add(1, Ordering::Relaxed);
            }
            // A gap takes no number and is no anchor for the index file.
            Replayed::Gap { .. } => {}
        }
        // A clear, or a gap that hid the records before it: the segments
        // wholly before it are deleted (`finish_clear`).
        if replayed.cleared() {
            self.last_clear = Some(id);
        }
    }
}

/// The records among `entries` (of a segment of the current format, read
/// in log order after the record numbered `last`) that replay would not
/// apply because their numbers do not grow, each with the unreadable bytes
/// (gaps) that follow it up to the next record that stays: the byte
/// ranges (offset, length) to blank, and how many records they hold.
///
/// Why they must not stay: such a record is damage that passed its
/// checksum (no write of the library numbers that way), and replay ignores
/// it only because it has seen a higher number before it in the log. Once
/// the segment that held that number is deleted (hidden by a clear or a
/// gap, compacted, retired), a later open no longer sees it and applies the
/// record: an old value back (fuzz finding 10). Turned into unreadable
/// bytes, every open reads them the same way, as damage: a gap, which hides
/// the records before it unless the numbers on either side are consecutive
/// (a miss, never an older value).
///
/// Why the gaps after them go too (fuzz finding 11): the first read
/// stepped over a stray whole, and then over a frame after it whose
/// checksum matches but which holds no record, whole as well. Read again
/// with the stray blanked, the search for the next record starts in the
/// zeros and looks at every offset, so it found a record inside that
/// frame, one the first read never saw, and replayed it. Blanked up to the
/// next record that stays, the bytes read again hold no offset the first
/// read did not pass over as a gap, and both reads end the gap at the same
/// record.
fn strays(entries: &[HintEntry], mut last: u64) -> Strays {
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    let mut records = 0;
    // The last range still grows: a stray, then gaps or strays after it.
    let mut open = false;
    for e in entries {
        // Saturating: the first call may be given a hint's entries, whose
        // offsets a damaged hint can put anywhere and in any order (fuzz
        // finding 14: a subtraction overflowed). Only their count of
        // strays is used; the ranges blanked come from the segment's own
        // records, in order.
        let (offset, end) = (e.offset, e.offset.saturating_add(u64::from(e.len)));
        let stray = !e.is_gap() && !store::in_order(e.seq, last);
        if !e.is_gap() && !stray {
            last = e.seq;
            open = false;
            continue;
        }
        records += usize::from(stray);
        match ranges.last_mut() {
            Some(r) if open => r.1 = r.1.max(end.saturating_sub(r.0)),
            _ if stray => {
                ranges.push((offset, end - offset));
                open = true;
            }
            _ => {}
        }
    }
    Strays { ranges, records }
}

/// What `strays` found in a segment: the byte ranges to blank, (offset,
/// length) each, and how many misnumbered records they hold.
struct Strays {
    ranges: Vec<(u64, u64)>,
    records: usize,
}

/// Deletes the segments before `clear_id`, which a clear record hides.
fn finish_clear(store: &mut Store, clear_id: u32) -> io::Result<()> {
    let older: Vec<u32> = store.segments.keys().copied().filter(|id| *id < clear_id).collect();
    if older.is_empty() {
        return Ok(());
    }
    for id in older {
        store.delete_segment(id)?;
    }
    store.sync_dir()
}

/// Deletes hints whose segment is gone (deleted by compaction or a clear).
fn remove_orphan_hints(dir: &Path, store: &Store) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for ent in rd.flatten() {
        let name = ent.file_name();
        let Some(id) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".hint"))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if !store.segments.contains_key(&id) {
            let _ = fs::remove_file(ent.path());
        }
    }
}

/// Makes sure appends have a segment of the current format to go to.
/// Says whether it sealed the last segment.
fn ensure_active(dir: &Path, state: &mut State, must_seal_last: bool) -> Result<bool> {
    let store = &mut state.store;
    if store.segments.is_empty() {
        // No readable segment: start one, with an id no file has (normally
        // past every file seen, so that later ids keep increasing).
        let id = if store.max_id_seen < segment::MAX_ID {
            store.max_id_seen + 1
        } else {
            (1..=segment::MAX_ID)
                .find(|id| !dir.join(segment::file_name(*id)).exists())
                .ok_or_else(|| Error::corrupt(format!("{}: every segment id is taken", dir.display())))?
        };
        let seg = Segment::create(dir, id, store.planned())
            .map_err(|e| Error::io(format!("create the first segment in {}", dir.display()), e))?;
        store.max_id_seen = store.max_id_seen.max(id);
        store.segments.insert(id, seg);
        store
            .sync_dir()
            .map_err(|e| Error::io(format!("fsync {}", dir.display()), e))?;
    } else if must_seal_last {
        // (An unreadable file after the last readable segment needs nothing:
        // it is skipped on every open, and new segment ids go past it.) If
        // no id is left, appending behind it is the lesser harm.
        if store.seal_and_start().is_ok() {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Kind;

    fn entry(offset: u64, len: u32, seq: u64, gap: bool) -> HintEntry {
        if gap {
            return HintEntry::gap(offset, len, seq);
        }
        HintEntry {
            hash: 7,
            offset,
            len,
            kind: Kind::Put,
            expires_at: 0,
            seq,
            has_meta: false,
        }
    }

    /// A damaged hint may list entries at any offsets, in any order, and
    /// `strays` is first asked about them (fuzz finding 14: a gap listed
    /// before the stray it follows overflowed the range's length, a panic
    /// where overflow is checked and a length of nearly 2^64 where it is
    /// not). Its ranges stay within the entries it was given.
    #[test]
    fn strays_of_entries_out_of_order_have_sane_ranges() {
        let found = strays(&[entry(100, 10, 5, false), entry(50, 10, 0, true)], 10);
        assert_eq!(found.records, 1);
        assert_eq!(found.ranges, vec![(100, 10)]);
        let found = strays(&[entry(u64::MAX - 4, 10, 5, false)], 10);
        assert_eq!(found.ranges, vec![(u64::MAX - 4, 4)]);
    }
}
