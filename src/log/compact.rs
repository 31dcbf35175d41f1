//! Reclaiming disk space: retiring the oldest segment when the directory is
//! over its bound, and compacting segments that are mostly dead.
//!
//! Both work the same way: the live records of a sealed segment are appended
//! again at the end of the log, then the segment is deleted. A record is live
//! when the index points at its very location, so liveness needs no key
//! comparison and hint files suffice to find the records. Crash safety needs
//! no temporary files: until the old segment is deleted, its records and
//! their copies say the same thing, and the copies are fsynced before it is.
//!
//! Tombstones (and expired puts, which hide older values the same way) are
//! carried forward as tombstones unless their segment is the oldest, since an
//! older segment may still hold the value they hide. A clear record is only
//! ever in the oldest segment (open and `clear` delete what is before it), so
//! a segment holding one that is not the oldest is left alone.

use std::sync::atomic::Ordering;

use super::hint::HintEntry;
use super::index::Loc;
use super::{fileio, Log, State};
use crate::clock::is_expired;
use crate::error::{Error, Result};
use crate::options::SyncPolicy;
use crate::record::{Kind, RecordRef};

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

/// What to do with one record of a segment being emptied.
enum Fate {
    /// Append it again at the end of the log.
    Keep,
    /// Append a tombstone for its key.
    Tombstone,
    Drop,
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
    pub fn compact(&self, force: bool) -> Result<CompactReport> {
        let _one_at_a_time = self.compacting.lock();
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
            let oldest = st.store.oldest_id() == id;
            for e in chunk {
                if e.kind == Kind::Clear && !oldest {
                    return Ok(false);
                }
                let fate = fate(&st, id, e, oldest, self.config.clock.now_ms());
                self.move_record(&mut st, id, e, fate)
                    .map_err(|e| self.fail(format!("compact segment {id}"), e))?;
            }
            // The copies fill segments like any appends (but retire nothing:
            // this may be the oldest segment).
            if st.store.active_len() >= self.config.segment_bytes {
                let sync = self.config.sync != SyncPolicy::TC_SYNC_NEVER;
                st.store
                    .seal_and_start(sync)
                    .map_err(|e| self.fail("start a new segment", e))?
                    .ok();
            }
        }
        let mut st = self.state.write();
        if !st.store.segments.contains_key(&id) {
            return Ok(false);
        }
        // The copies reach the disk before the originals leave it.
        self.make_durable(&mut st).map_err(|e| self.fail("fsync the log", e))?;
        st.store
            .delete_segment(id)
            .map_err(|e| self.fail(format!("delete segment {id}"), e))?;
        fileio::sync_dir(&self.dir).map_err(|e| self.fail(format!("fsync {}", self.dir.display()), e))?;
        Ok(true)
    }

    /// Writes the buffer out and fsyncs the active segment (and, through
    /// rolling, every segment before it), whatever the sync policy.
    fn make_durable(&self, st: &mut State) -> std::io::Result<()> {
        st.store.write_buffer()?;
        st.store.active().sync()?;
        self.commit.synced_upto(st.store.appended);
        Ok(())
    }

    fn move_record(&self, st: &mut State, id: u32, e: &HintEntry, fate: Fate) -> std::io::Result<()> {
        let from = Loc::new(id, e.offset);
        let kind = match fate {
            Fate::Drop => return Ok(()),
            Fate::Keep => Kind::Put,
            Fate::Tombstone => Kind::Tombstone,
        };
        // Copy the record out: appending may move the buffer it lives in.
        // A kept record is an index entry's, so it gets the index's check.
        let read = if kind == Kind::Put {
            st.store.indexed(e.hash, from)
        } else {
            st.store.record(from)
        };
        let (key, value, expires_at) = match read {
            Ok(r) => (r.key.to_vec(), r.value.to_vec(), r.expires_at),
            Err(_) => {
                // Unreadable now: leave it out rather than copy a bad record.
                self.counters.corrupt_records.fetch_add(1, Ordering::Relaxed);
                if kind == Kind::Put {
                    st.index.remove(e.hash, |l| l == from);
                }
                return Ok(());
            }
        };
        let rec = RecordRef {
            kind,
            key: &key,
            value: if kind == Kind::Put { &value } else { &[] },
            expires_at: if kind == Kind::Put { expires_at } else { 0 },
            written_at: self.config.clock.now_ms(),
        };
        let (to, len) = st.store.append(&rec)?;
        if kind == Kind::Put {
            st.index.insert(e.hash, to, |l| l == from);
            // The copy's write time may encode to another length.
            st.live_bytes = (st.live_bytes + len).saturating_sub(u64::from(e.len));
        } else {
            st.store.segments.get_mut(&to.segment()).unwrap().dead += len;
        }
        Ok(())
    }

    /// Retires the oldest sealed segments while the directory is over its
    /// bound. Live entries read since they were written are re-appended while
    /// the active segment has room; the rest are dropped (`l2_evictions`).
    /// Runs with the log's lock held, from the append that rolled a segment.
    pub(super) fn enforce_capacity(&self, st: &mut State) {
        let max = self.config.max_bytes;
        if max == 0 {
            return;
        }
        while st.store.disk_bytes() > max && st.store.segments.len() > 1 {
            let id = st.store.oldest_id();
            let entries = st.store.entries_of(id);
            let mut marks = self.read_marks.lock();
            for e in &entries {
                let loc = Loc::new(id, e.offset);
                if e.kind != Kind::Put || st.index.get(e.hash, |l| l == loc).is_none() {
                    continue; // dead, or a tombstone with nothing older to hide
                }
                let room = st.store.active_len() + u64::from(e.len) <= self.config.segment_bytes;
                if room && marks.remove(&e.hash) && self.move_record(st, id, e, Fate::Keep).is_ok() {
                    self.counters.l2_readmissions.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                st.index.remove(e.hash, |l| l == loc);
                st.live_bytes = st.live_bytes.saturating_sub(u64::from(e.len));
                marks.remove(&e.hash);
                self.counters.l2_evictions.fetch_add(1, Ordering::Relaxed);
            }
            drop(marks);
            let sync = self.config.sync != SyncPolicy::TC_SYNC_NEVER;
            let res = (|| {
                if sync {
                    self.make_durable(st)?;
                }
                st.store.delete_segment(id)?;
                if sync {
                    fileio::sync_dir(&self.dir)?;
                }
                Ok(())
            })();
            if let Err(e) = res {
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

/// Decides what becomes of record `e` of segment `id`.
fn fate(st: &State, id: u32, e: &HintEntry, oldest: bool, now: u64) -> Fate {
    let loc = Loc::new(id, e.offset);
    match e.kind {
        Kind::Put if !is_expired(e.expires_at, now) => {
            if st.index.get(e.hash, |l| l == loc).is_some() {
                Fate::Keep
            } else {
                Fate::Drop
            }
        }
        // An expired put or a tombstone: it may hide an older value.
        Kind::Put | Kind::Tombstone if !oldest => {
            let Ok(r) = st.store.record(loc) else { return Fate::Drop };
            // A newer live value of the key makes it redundant.
            if st.index.get(e.hash, |l| st.store.key_is(l, r.key)).is_some() {
                Fate::Drop
            } else {
                Fate::Tombstone
            }
        }
        _ => Fate::Drop,
    }
}
