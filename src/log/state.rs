//! What the log knows about its records: which one is each key's live record
//! (the index), and how many bytes are live and dead, in all and per segment.
//!
//! Every record in a segment (or in the append buffer) is either live — the
//! index points at it — or dead. The counts follow from that, and this type
//! is the only place that changes either, so they cannot drift apart:
//! - a put becomes its key's live record through `set_live`, and the record
//!   it replaces turns dead;
//! - a live record turns dead through `kill` (removed, expired, evicted,
//!   unreadable);
//! - a record that is never live (a tombstone, a clear record) is counted
//!   dead as it is appended, through `born_dead`;
//! - `clear_all` turns everything before a clear record dead.
//!
//! `check` recomputes everything from the records themselves, for tests.

use super::index::{Index, Loc};
use super::segment;
use super::store::Store;
use super::tags::TagIndex;

pub(crate) struct State {
    index: Index,
    pub store: Store,
    /// Tag → keys that may carry it (see `tags`).
    pub tags: TagIndex,
    /// Bytes of the records the index points at.
    live_bytes: u64,
}

impl State {
    pub fn new(store: Store) -> State {
        State {
            index: Index::default(),
            store,
            tags: TagIndex::default(),
            live_bytes: 0,
        }
    }

    /// Live keys.
    pub fn entries(&self) -> usize {
        self.index.len()
    }

    /// Bytes of live records.
    pub fn live_bytes(&self) -> u64 {
        self.live_bytes
    }

    /// Makes room for `additional` more keys (when rebuilding).
    pub fn reserve(&mut self, additional: usize) {
        self.index.reserve(additional);
    }

    /// Where `key`'s live record is, comparing keys without verifying
    /// checksums (the write path's check, see `Store::key_is`).
    pub fn find(&self, h: u64, key: &[u8]) -> Option<Loc> {
        self.index.get(h, |l| self.store.key_is(l, key))
    }

    /// The live record of hash `h` for which `pick` says yes (reads verify).
    pub fn find_by(&self, h: u64, pick: impl FnMut(Loc) -> bool) -> Option<Loc> {
        self.index.get(h, pick)
    }

    /// Whether the record at `loc` is the live one of its key.
    pub fn is_live(&self, h: u64, loc: Loc) -> bool {
        self.index.get(h, |l| l == loc).is_some()
    }

    /// The live records of the keys whose hash is `h`.
    pub fn live_of(&self, h: u64) -> impl Iterator<Item = Loc> + '_ {
        self.index.all_of(h)
    }

    /// Every (hash, live record) pair, in no order.
    pub fn live(&self) -> impl Iterator<Item = (u64, Loc)> + '_ {
        self.index.iter()
    }

    /// The put at `loc` (`len` bytes, key hash `h`) is now its key's live
    /// record; `same_key` tells whether a live record is of the same key.
    /// The record it replaces, if any, turns dead.
    pub fn set_live(&mut self, h: u64, loc: Loc, len: u64, same_key: impl Fn(&Store, Loc) -> bool) {
        let State { index, store, .. } = self;
        let old = index.insert(h, loc, |l| same_key(store, l));
        self.live_bytes += len;
        if let Some(old) = old {
            self.dead(old);
        }
    }

    /// The live record of hash `h` for which `same_key` says yes turns dead.
    pub fn kill(&mut self, h: u64, same_key: impl Fn(&Store, Loc) -> bool) -> Option<Loc> {
        let State { index, store, .. } = self;
        let old = index.remove(h, |l| same_key(store, l))?;
        self.dead(old);
        Some(old)
    }

    /// `key`'s live record, if any, turns dead.
    pub fn kill_key(&mut self, h: u64, key: &[u8]) -> Option<Loc> {
        self.kill(h, |s, l| s.key_is(l, key))
    }

    /// The live record at exactly `loc` turns dead; false if it was not live.
    pub fn kill_at(&mut self, h: u64, loc: Loc) -> bool {
        self.kill(h, |_, l| l == loc).is_some()
    }

    /// A record appended that is never live (a tombstone, a clear).
    pub fn born_dead(&mut self, loc: Loc, len: u64) {
        if let Some(seg) = self.store.segments.get_mut(&loc.segment()) {
            seg.dead += len;
        }
    }

    /// A clear record of `len` bytes at `loc`: every record before it, and
    /// itself, is dead.
    pub fn clear_all(&mut self, loc: Loc, len: u64) {
        self.index.clear();
        self.tags.clear();
        self.live_bytes = 0;
        let buffered = self.store.buf.len() as u64;
        let active = self.store.active().id;
        for s in self.store.segments.values_mut() {
            s.dead = if s.id == loc.segment() {
                loc.offset() + len - segment::HEADER_LEN
            } else if s.id < loc.segment() {
                s.payload_bytes() + if s.id == active { buffered } else { 0 }
            } else {
                s.dead
            };
        }
    }

    /// A live record's bytes leave `live_bytes` and join its segment's dead.
    fn dead(&mut self, loc: Loc) {
        let len = self.store.frame_len(loc);
        self.live_bytes = self.live_bytes.saturating_sub(len);
        if let Some(seg) = self.store.segments.get_mut(&loc.segment()) {
            seg.dead += len;
        }
    }

    /// Recomputes the counts from the records and compares: every live
    /// record is a readable put of its hash; `live_bytes` is their total;
    /// in each segment, live plus dead bytes are all its record bytes.
    pub fn check(&self) -> Result<(), String> {
        let mut live_total = 0;
        let mut live_per_segment = std::collections::HashMap::<u32, u64>::new();
        for (h, loc) in self.index.iter() {
            self.store
                .indexed(h, loc)
                .map_err(|e| format!("the index points at {loc:?}, which is not a put of its hash: {e:?}"))?;
            let len = self.store.frame_len(loc);
            live_total += len;
            *live_per_segment.entry(loc.segment()).or_default() += len;
        }
        if live_total != self.live_bytes {
            return Err(format!(
                "live_bytes is {} but the live records hold {live_total}",
                self.live_bytes
            ));
        }
        let active = self.store.active().id;
        for s in self.store.segments.values() {
            let bytes = s.payload_bytes() + if s.id == active { self.store.buf.len() as u64 } else { 0 };
            let live = live_per_segment.remove(&s.id).unwrap_or(0);
            if live + s.dead != bytes {
                return Err(format!(
                    "segment {}: {live} live and {} dead bytes, but {bytes} bytes of records",
                    s.id, s.dead
                ));
            }
        }
        if let Some((id, _)) = live_per_segment.into_iter().next() {
            return Err(format!(
                "the index points into segment {id}, which the log does not have"
            ));
        }
        Ok(())
    }
}
