//! Opening a log: rebuilding the index from what the directory holds.
//!
//! Segments are read in id order. A segment with a sound hint file (one whose
//! length matches the segment's) is applied from the hint; any other is
//! scanned record by record (and gets a fresh hint if it is sealed). The last segment's torn tail is cut off. A
//! clear record whose clear was interrupted by a crash is finished here: the
//! segments before it are deleted. Leftover temporary files are removed.
//! Opened read-only, none of these repairs is made: bytes past a torn tail
//! are ignored, and segments a clear hides are ignored, not deleted.

use std::fs;
use std::io;
use std::path::Path;
use std::sync::atomic::Ordering;

use super::hint::{self, HintEntry};
use super::index::Loc;
use super::segment::{self, HeaderCheck, Segment};
use super::store::{self, Store};
use super::{fileio, State};
use crate::clock::is_expired;
use crate::error::{Error, Result};
use crate::record::Kind;
use crate::stats::Counters;

/// Reads every segment of `dir` into a fresh state.
pub fn rebuild(dir: &Path, counters: &Counters, read_only: bool, now: u64) -> Result<State> {
    let mut ids = Vec::new();
    let list_err = |e| Error::io(format!("list {}", dir.display()), e);
    for ent in fs::read_dir(dir).map_err(list_err)? {
        let ent = ent.map_err(list_err)?;
        let name = ent.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(id) = segment::parse_file_name(name) {
            ids.push(id);
        } else if name.ends_with(".tmp") && !read_only {
            // A hint whose writing was cut short: never renamed into place.
            let _ = fs::remove_file(ent.path());
        }
    }
    ids.sort_unstable();

    let mut state = State {
        index: Default::default(),
        store: Store::new(dir.to_path_buf()),
        live_bytes: 0,
    };
    let last = ids.last().copied();
    state.store.max_id_seen = last.unwrap_or(0);
    let mut last_clear = None;
    // Appending after bytes that the scan gave up on would hide the new
    // records behind them: such a last segment is sealed, not cut.
    let mut seal_last = false;
    for id in ids {
        let path = dir.join(segment::file_name(id));
        let (mut seg, check) =
            Segment::open(&path, id).map_err(|e| Error::io(format!("open segment {}", path.display()), e))?;
        match check {
            HeaderCheck::Ok => {}
            HeaderCheck::NewerVersion(v) => {
                return Err(Error::corrupt(format!(
                    "{} was written by a newer tiercache (format version {v})",
                    path.display()
                )))
            }
            HeaderCheck::Short if Some(id) == last && !read_only => {
                // Its creation was cut short by a crash: start it afresh.
                seg.reset()
                    .map_err(|e| Error::io(format!("rewrite {}", path.display()), e))?;
            }
            HeaderCheck::Short | HeaderCheck::Bad => {
                // Not ours to delete, not ours to read: count it and leave it.
                counters.corrupt_records.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        }
        let sealed = Some(id) != last;
        // The active segment has a hint too if the last close wrote one and
        // nothing was appended since (the lengths match).
        let hinted = hint::read(dir, id, seg.len());
        if hinted.is_some() {
            seg.hint_bytes = fs::metadata(hint::path(dir, id)).map_or(0, |m| m.len());
        }
        state.store.segments.insert(id, seg);
        let entries = match hinted {
            Some(entries) => entries,
            None => {
                let seg = &state.store.segments[&id];
                let scan = store::scan(seg);
                counters
                    .corrupt_records
                    .fetch_add(scan.bad.len() as u64, Ordering::Relaxed);
                if let Some(at) = scan.cut_at.filter(|_| !scan.gave_up) {
                    if !sealed && !read_only {
                        let seg = state.store.segments.get_mut(&id).unwrap();
                        seg.truncate(at)
                            .and_then(|_| seg.sync())
                            .map_err(|e| Error::io(format!("cut the torn tail of {}", path.display()), e))?;
                    }
                }
                seal_last |= scan.gave_up && !sealed;
                if sealed && !read_only {
                    // Rebuild the missing or bad hint; without it open is only slower.
                    let seg = state.store.segments.get_mut(&id).unwrap();
                    if let Ok(bytes) = hint::write(dir, id, seg.len(), &scan.entries) {
                        seg.hint_bytes = bytes;
                    }
                }
                scan.entries
            }
        };
        state.index.reserve(entries.len());
        for e in &entries {
            if e.kind == Kind::Clear {
                last_clear = Some(id);
            }
            state.apply(id, e, now);
        }
        // The last segment read becomes the active one; should the file after
        // it be unreadable, this is also what its hint will say when sealed.
        state.store.active_entries = entries;
    }

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
    // Hints whose segment is gone (deleted by compaction or a clear).
    if let Ok(rd) = fs::read_dir(dir) {
        for ent in rd.flatten() {
            let name = ent.file_name();
            let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".hint"))
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if !state.store.segments.contains_key(&id) {
                let _ = fs::remove_file(ent.path());
            }
        }
    }
    if state.store.segments.is_empty() {
        // No readable segment: start one, with an id no file has (normally
        // past every file seen, so that later ids keep increasing).
        let id = if state.store.max_id_seen < segment::MAX_ID {
            state.store.max_id_seen + 1
        } else {
            (1..=segment::MAX_ID)
                .find(|id| !dir.join(segment::file_name(*id)).exists())
                .ok_or_else(|| Error::corrupt(format!("{}: every segment id is taken", dir.display())))?
        };
        let seg = Segment::create(dir, id)
            .map_err(|e| Error::io(format!("create the first segment in {}", dir.display()), e))?;
        state.store.max_id_seen = state.store.max_id_seen.max(id);
        state.store.segments.insert(id, seg);
        fileio::sync_dir(dir).map_err(|e| Error::io(format!("fsync {}", dir.display()), e))?;
    } else if seal_last {
        // Appends must not land behind bytes the scan gave up on. (An
        // unreadable file after the last readable segment needs nothing: it
        // is skipped on every open, and new segment ids go past it.) If no id
        // is left, appending behind them is the lesser harm.
        if let Ok(hint) = state.store.seal_and_start(true) {
            hint.ok();
        }
    }
    Ok(state)
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
    fileio::sync_dir(&store.dir)
}

impl State {
    /// Applies one record of segment `seg` to the index, in log order.
    pub(super) fn apply(&mut self, seg: u32, e: &HintEntry, now: u64) {
        let loc = Loc::new(seg, e.offset);
        let len = u64::from(e.len);
        let State {
            index,
            store,
            live_bytes,
        } = self;
        if e.kind == Kind::Clear {
            index.clear();
            *live_bytes = 0;
            for s in store.segments.values_mut() {
                s.dead = if s.id == seg {
                    e.offset + len - segment::HEADER_LEN
                } else {
                    s.payload_bytes()
                };
            }
            return;
        }
        // An expired put hides older versions just as a tombstone does.
        let live = e.kind == Kind::Put && !is_expired(e.expires_at, now);
        // Keys are compared only when the hash is already in the index.
        let old = if live {
            index.insert(e.hash, loc, |l| store.same_key(l, loc))
        } else {
            index.remove(e.hash, |l| store.same_key(l, loc))
        };
        if let Some(old) = old {
            let old_len = store.frame_len(old);
            *live_bytes = live_bytes.saturating_sub(old_len);
            if let Some(s) = store.segments.get_mut(&old.segment()) {
                s.dead += old_len;
            }
        }
        if live {
            *live_bytes += len;
        } else if let Some(s) = store.segments.get_mut(&seg) {
            s.dead += len;
        }
    }
}
