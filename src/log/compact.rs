//! Reclaiming disk space: retiring the oldest segment when the directory is
//! over its bound, and compacting segments that are mostly dead.
//!
//! Both work the same way: the live records of a sealed segment are appended
//! again at the end of the log, then the segment is deleted. A record is live
//! when the index points at its very location, so liveness needs no key
//! comparison and hint files suffice to find the records. Crash safety needs
//! no temporary files: until the old segment is deleted, its records and
//! their copies say the same thing, and the copies are written (and fsynced,
//! unless the policy never fsyncs) before it is.
//!
//! Every decision compares sequence numbers. A copy is a new record with a
//! new number, so the numbers keep growing along the log. A record that is
//! not its key's live one matters after a restart only if it hides older
//! records of its key: a tombstone, or an expired put (the key's newest word,
//! even when `purge_expired` has already dropped it from the index). Such a
//! record is carried forward as a tombstone while some other segment holds
//! records older than it and no newer live record of its key exists;
//! otherwise it is dropped. A clear record hides everything older, so a
//! segment holding one is left alone while another segment has older records
//! (open and `clear` delete those, so that is only ever for an instant).

use std::sync::atomic::Ordering;

use super::hint::HintEntry;
use super::index::Loc;
use super::store::Draft;
use super::{Log, State};
use crate::clock::is_expired;
use crate::error::{Error, Result};
use crate::record::Kind;

/// A segment is compacted once at least this share of its payload is dead.
const DEAD_RATIO: f64 = 0.5;
/// Records moved per hold of the log's lock, so readers are never held up long.
const CHUNK: usize = 512;

/// What a compaction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// Segments deleted.
    pub segments: u64,
    /// Bytes of disk given back (segment and hint files, less what was re-appended).
    pub bytes_freed: u64,
}

/// What becomes of one record of a segment being emptied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// The key's live put: append it again at the end of the log.
    Keep,
    /// The key's live put, expired: it turns dead and, like a tombstone,
    /// may still need to hide older records.
    Expire { forward: bool },
    /// Append a tombstone for its key (it hides older records).
    Tombstone,
    /// Nothing needs it.
    Drop,
    /// A clear record that still hides older segments: leave the segment.
    Stay,
}

impl Log {
    /// Whether some sealed segment is dead enough to compact.
    pub fn wants_compaction(&self) -> bool {
        let st = self.state.read();
        !st.store.segments.is_empty() && !candidates(&st, false).is_empty()
    }

    /// Compacts the sealed segments that are mostly dead, or with `force`
    /// every sealed segment with any dead record. Readers keep being served
    /// between chunks of work.
    ///
    /// Unlinks the files of deleted segments (`reap`) on its way out,
    /// whether it succeeded or not: the maintenance tick that calls it
    /// relies on that and does not reap again.
    pub fn compact(&self, force: bool) -> Result<CompactReport> {
        let _one_at_a_time = self.compacting.lock();
        let report = self.compact_segments(force);
        self.reap();
        report
    }

    fn compact_segments(&self, force: bool) -> Result<CompactReport> {
        if self.commit.is_degraded() && !self.recover() {
            return Err(self.degraded_error());
        }
        let before = self.state.read().store.disk_bytes();
        let ids = candidates(&self.state.read(), force);
        let mut report = CompactReport::default();
        for id in ids {
            if self.empty_segment(id)? {
                report.segments += 1;
                self.counters.compactions.fetch_add(1, Ordering::Relaxed);
            }
        }
        report.bytes_freed = before.saturating_sub(self.state.read().store.disk_bytes());
        Ok(report)
    }

    /// Moves the live records of sealed segment `id` to the end of the log,
    /// chunk by chunk, then deletes it. Returns false if it was left alone.
    fn empty_segment(&self, id: u32) -> Result<bool> {
        let entries = {
            let st = self.state.read();
            if !st.store.segments.contains_key(&id) || st.store.active().id == id {
                return Ok(false);
            }
            st.store.entries_of(id)
        };
        for chunk in entries.chunks(CHUNK) {
            let mut st = self.state.write();
            if !st.store.segments.contains_key(&id) {
                return Ok(false); // a clear took it meanwhile
            }
            let now = self.config.clock.now_ms();
            let floor = oldest_elsewhere(&st, id);
            for e in chunk {
                let fate = fate(&st, id, e, now, floor);
                if fate == Fate::Stay {
                    return Ok(false);
                }
                self.carry_out(&mut st, id, e, fate)
                    .map_err(|e| self.fail(format!("compact segment {id}"), e))?;
            }
            // The copies fill segments like any appends (but retire nothing:
            // this may be the oldest segment).
            if st.store.active_len() >= self.config.segment_bytes {
                st.store
                    .seal_and_start()
                    .map_err(|e| self.fail("start a new segment", e))?
                    .ok();
                self.checkpoint(&mut st);
            }
        }
        let mut st = self.state.write();
        if !st.store.segments.contains_key(&id) {
            return Ok(false);
        }
        self.delete_emptied(&mut st, id)
            .map_err(|e| self.fail(format!("delete segment {id}"), e))?;
        Ok(true)
    }

    /// Deletes a segment whose records were carried out: the copies reach
    /// the disk before the originals leave it.
    fn delete_emptied(&self, st: &mut State, id: u32) -> std::io::Result<()> {
        st.store.write_buffer()?;
        st.store.sync_active()?;
        if st.store.is_durable() {
            self.commit.synced_upto(st.store.appended);
        }
        // The index file says the segment is all dead before it goes, so an
        // open after a crash from here on still trusts the index file.
        self.checkpoint(st);
        st.store.delete_segment(id)?;
        st.store.sync_dir()
    }

    /// Does what `fate` decided for record `e` of segment `id`.
    fn carry_out(&self, st: &mut State, id: u32, e: &HintEntry, fate: Fate) -> std::io::Result<()> {
        let from = Loc::new(id, e.offset);
        let (kind, unindex) = match fate {
            Fate::Drop | Fate::Stay => return Ok(()),
            Fate::Keep => (Kind::Put, false),
            Fate::Expire { forward: false } => {
                st.kill_at(e.hash, from);
                return Ok(());
            }
            Fate::Expire { forward: true } => (Kind::Tombstone, true),
            Fate::Tombstone => (Kind::Tombstone, false),
        };
        // Copy the record out: appending may move the buffer it lives in.
        // A live record is an index entry's, so it gets the index's check.
        let read = if fate == Fate::Tombstone {
            st.store.record(from)
        } else {
            st.store.indexed(e.hash, from)
        };
        // The value moves as it is stored (packed or not); the copy is
        // sealed afresh for its new location.
        let (key, value, codec, expires_at, written_at, meta) = match read {
            Ok(r) => (
                r.key.to_vec(),
                r.stored.to_vec(),
                r.codec,
                r.expires_at,
                r.written_at,
                r.meta.to_vec(),
            ),
            Err(_) => {
                // Unreadable now: leave it out rather than copy a bad record.
                self.counters.corrupt_records.fetch_add(1, Ordering::Relaxed);
                st.kill_at(e.hash, from);
                return Ok(());
            }
        };
        if unindex {
            st.kill_at(e.hash, from);
        }
        if kind == Kind::Put {
            // A copy keeps the write time and the metadata of the put it copies.
            let a = st.store.append(&Draft {
                written_at,
                meta: &meta,
                codec,
                ..self.draft(Kind::Put, &key, &value, expires_at)
            })?;
            st.set_live(e.hash, a.entry(!meta.is_empty()), |_, l| l == from);
        } else {
            let a = st.store.append(&self.draft(Kind::Tombstone, &key, &[], 0))?;
            st.born_dead(a.loc, a.len);
        }
        Ok(())
    }

    /// Retires the oldest sealed segments while the directory is over its
    /// bound. Live entries read since they were written are re-appended while
    /// the active segment has room; the rest are dropped (`l2_evictions`).
    /// The oldest segment holds the oldest records, so its tombstones hide
    /// nothing any more and go with it. Runs with the log's lock held, from
    /// the append that rolled a segment.
    pub(super) fn enforce_capacity(&self, st: &mut State) {
        let max = self.config.max_bytes;
        if max == 0 {
            return;
        }
        while st.store.disk_bytes() > max && st.store.segments.len() > 1 {
            let id = st.store.oldest_id();
            let entries = st.store.entries_of(id);
            for e in &entries {
                let loc = Loc::new(id, e.offset);
                if e.kind != Kind::Put || !st.is_live(e.hash, loc) {
                    continue; // dead, or a tombstone with nothing older to hide
                }
                let room = st.store.active_len() + u64::from(e.len) <= self.config.segment_bytes;
                if room && self.read_marks.take(e.hash) && self.carry_out(st, id, e, Fate::Keep).is_ok() {
                    self.counters.l2_readmissions.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                st.kill_at(e.hash, loc);
                self.read_marks.clear(e.hash);
                self.counters.l2_evictions.fetch_add(1, Ordering::Relaxed);
            }
            if let Err(e) = self.delete_emptied(st, id) {
                let _: Error = self.fail(format!("retire segment {id}"), e);
                return;
            }
        }
    }
}

/// The sealed segments worth compacting, oldest first.
fn candidates(st: &State, force: bool) -> Vec<u32> {
    let active = st.store.active().id;
    st.store
        .segments
        .values()
        .filter(|s| s.id != active)
        .filter(|s| {
            let payload = s.payload_bytes();
            if force {
                s.dead > 0 || payload == 0
            } else {
                payload > 0 && s.dead as f64 >= DEAD_RATIO * payload as f64
            }
        })
        .map(|s| s.id)
        .collect()
}

/// The oldest sequence number in any segment but `id`: records of `id` with
/// a higher number may hide older records elsewhere. (The copies appended
/// while `id` is emptied are newer than all of its records, so they never
/// change the answer for them.)
fn oldest_elsewhere(st: &State, id: u32) -> u64 {
    st.store
        .segments
        .values()
        .filter(|s| s.id != id)
        .map(|s| s.first_seq)
        .min()
        .unwrap_or(u64::MAX)
}

/// Decides what becomes of record `e` of segment `id` (see the module doc);
/// `floor` is `oldest_elsewhere(st, id)`.
fn fate(st: &State, id: u32, e: &HintEntry, now: u64, floor: u64) -> Fate {
    let loc = Loc::new(id, e.offset);
    // Hints of format 1 segments carry no numbers; such a segment is older
    // than every format 2 one, so its records are older than all of theirs.
    let seq = if e.seq == 0 {
        st.store.segments[&id].first_seq
    } else {
        e.seq
    };
    let hides_older = || floor < seq;
    let expired = is_expired(e.expires_at, now);
    match e.kind {
        Kind::Clear if hides_older() => Fate::Stay,
        Kind::Clear => Fate::Drop,
        Kind::Put if st.is_live(e.hash, loc) => {
            if expired {
                Fate::Expire { forward: hides_older() }
            } else {
                Fate::Keep
            }
        }
        // Superseded by a newer record of its key, which hides what it hid.
        Kind::Put if !expired => Fate::Drop,
        // A tombstone or an expired put that is not live.
        _ => {
            if !hides_older() {
                return Fate::Drop;
            }
            let Ok(r) = st.store.record(loc) else { return Fate::Drop };
            let newer_live = st
                .find_by(e.hash, |l| st.store.key_is(l, &r.key))
                .and_then(|l| st.store.seq_at(l))
                .is_some_and(|live_seq| live_seq > seq);
            if newer_live {
                Fate::Drop
            } else {
                Fate::Tombstone
            }
        }
    }
}
