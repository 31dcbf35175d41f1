//! Opening a log: rebuilding the index from what the directory holds.
//!
//! `rebuild` reads as its steps: list the segment files; replay each one in
//! id order (from its hint if it has a sound one, else record by record,
//! cutting the torn tail of the last); then, unless read-only, finish a clear
//! that a crash interrupted, delete hints whose segment is gone, and make
//! sure there is an active segment of the current format to append to.
//!
//! Replay trusts sequence numbers, not positions: every record of format 2
//! carries one, and they grow strictly along the log because only
//! `Store::append` hands them out. A record whose number does not exceed the
//! last one replayed breaks that rule (a bug, or damage that was checksummed
//! again): it is counted corrupt and skipped, so it can never replace a newer
//! record. Records of format 1 segments, which have no numbers, are numbered
//! here in log order, before every format 2 record (a format 1 directory's
//! last segment is sealed on open, so format 2 records always come after).
//!
//! Opened read-only, none of the repairs is made: bytes past a torn tail are
//! ignored, and segments a clear hides are ignored, not deleted.

use std::fs;
use std::io;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::hint::{self, HintEntry};
use super::index::Loc;
use super::segment::{self, HeaderCheck, Segment};
use super::store::{self, Store};
use super::{LogConfig, State};
use crate::clock::is_expired;
use crate::error::{Error, Result};
use crate::record::Kind;
use crate::seal::Sealer;
use crate::stats::Counters;

/// Reads every segment of `dir` into a fresh state.
pub fn rebuild(dir: &Path, counters: &Counters, config: &LogConfig, sealer: Arc<Sealer>) -> Result<State> {
    let read_only = config.read_only;
    let ids = list_segments(dir, read_only)?;
    let mut replay = Replay {
        dir,
        counters,
        read_only,
        now: config.clock.now_ms(),
        state: State::new(Store::new(dir.to_path_buf(), config.durable(), read_only, sealer)),
        last_clear: None,
        must_seal_last: false,
        with_meta: Vec::new(),
    };
    replay.state.store.max_id_seen = ids.last().copied().unwrap_or(0);
    let last = ids.last().copied();
    for id in ids {
        replay.segment(id, Some(id) == last)?;
    }
    let Replay {
        mut state,
        last_clear,
        must_seal_last,
        with_meta,
        ..
    } = replay;
    index_tags(&mut state, &with_meta);
    if read_only {
        if state.store.segments.is_empty() {
            return Err(Error::invalid(format!("{} holds no tiercache segments", dir.display())));
        }
        return Ok(state);
    }
    if let Some(clear_id) = last_clear {
        finish_clear(&mut state.store, clear_id)
            .map_err(|e| Error::io(format!("finish an interrupted clear in {}", dir.display()), e))?;
    }
    remove_orphan_hints(dir, &state.store);
    ensure_active(dir, &mut state, must_seal_last)?;
    Ok(state)
}

/// The ids of the segment files in `dir`, in order; deletes leftover
/// temporary files (hints whose writing a crash cut short) unless read-only.
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
    /// Opens segment `id`, reads what it holds and applies it to the index.
    fn segment(&mut self, id: u32, last: bool) -> Result<()> {
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
                return Ok(());
            }
        }
        let format = seg.format;
        // The active segment has a hint too if the last close wrote one and
        // nothing was appended since (the lengths match).
        let hinted = hint::read(self.dir, id, seg.len());
        if hinted.is_some() {
            seg.hint_bytes = fs::metadata(hint::path(self.dir, id)).map_or(0, |m| m.len());
        }
        self.state.store.segments.insert(id, seg);
        let entries = match hinted {
            Some(entries) => entries,
            None => self.scan(id, last)?,
        };
        self.must_seal_last |= last && format < segment::VERSION;
        self.state.reserve(entries.len());
        for e in &entries {
            self.apply(id, e, format);
        }
        // The last segment read becomes the active one; should the file after
        // it be unreadable, this is also what its hint will say when sealed.
        self.state.store.active_entries = entries;
        Ok(())
    }

    /// Reads segment `id` record by record: counts bad records, cuts the
    /// torn tail of the last segment, writes the hint a sealed one lacked.
    fn scan(&mut self, id: u32, last: bool) -> Result<Vec<HintEntry>> {
        let seg = &self.state.store.segments[&id];
        let scan = store::scan(seg, &self.state.store.sealer);
        self.counters
            .corrupt_records
            .fetch_add(scan.bad.len() as u64, Ordering::Relaxed);
        if self.read_only {
            return Ok(scan.entries);
        }
        let durable = self.state.store.is_durable();
        let seg = self.state.store.segments.get_mut(&id).unwrap();
        if let Some(at) = scan.cut_at.filter(|_| last && !scan.gave_up) {
            seg.truncate(at)
                .and_then(|_| if durable { seg.sync() } else { Ok(()) })
                .map_err(|e| Error::io(format!("cut the torn tail of {}", seg.path.display()), e))?;
        }
        // Appending after bytes that the scan gave up on would hide the new
        // records behind them: such a last segment is sealed, not cut.
        self.must_seal_last |= scan.gave_up && last;
        if !last {
            // Rebuild the missing or bad hint; without it open is only slower.
            if let Ok(bytes) = hint::write(self.dir, id, seg.len(), &scan.entries, durable) {
                seg.hint_bytes = bytes;
            }
        }
        Ok(scan.entries)
    }

    /// Applies one record of segment `id` (of format `format`) to the index,
    /// in log order, after checking its sequence number.
    fn apply(&mut self, id: u32, e: &HintEntry, format: u16) {
        let loc = Loc::new(id, e.offset);
        let len = u64::from(e.len);
        let last = self.state.store.last_seq();
        let seq = if format < segment::VERSION {
            last + 1
        } else if e.seq > last {
            e.seq
        } else {
            // Out of order: never let it replace what a newer record says.
            self.counters.corrupt_records.fetch_add(1, Ordering::Relaxed);
            self.state.born_dead(loc, len);
            return;
        };
        self.state.store.seen_seq(seq);
        let seg = self.state.store.segments.get_mut(&id).unwrap();
        seg.first_seq = seg.first_seq.min(seq);
        match e.kind {
            Kind::Clear => {
                self.last_clear = Some(id);
                self.state.clear_all(loc, len);
            }
            // Keys are compared only when the hash is already in the index.
            Kind::Put if !is_expired(e.expires_at, self.now) => {
                self.state.set_live(e.hash, loc, len, |s, l| s.same_key(l, loc));
                if e.has_meta {
                    self.with_meta.push((e.hash, loc));
                }
            }
            // A tombstone, or an expired put, which hides older values the same way.
            _ => {
                self.state.kill(e.hash, |s, l| s.same_key(l, loc));
                self.state.born_dead(loc, len);
            }
        }
    }
}

/// Fills the tag index from the records, among `candidates`, that are still
/// live: only records with metadata are read.
fn index_tags(state: &mut State, candidates: &[(u64, Loc)]) {
    for (h, loc) in candidates {
        if !state.is_live(*h, *loc) {
            continue;
        }
        let tags = match state.store.indexed(*h, *loc) {
            Ok(r) => crate::meta::Meta::decode(&r.meta).map(|m| m.tags),
            Err(_) => None,
        };
        if let Some(tags) = tags {
            state.tags.add(&tags, *h);
        }
    }
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
fn ensure_active(dir: &Path, state: &mut State, must_seal_last: bool) -> Result<()> {
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
        let seg = Segment::create(dir, id)
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
        if let Ok(hint) = store.seal_and_start() {
            hint.ok();
        }
    }
    Ok(())
}
