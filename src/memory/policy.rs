//! The eviction policy of one L1 shard, behind one type: `Policy` is either
//! an LRU (`lru`) or S3-FIFO (`s3fifo`), chosen when the cache is opened
//! (`tc_options_set_l1_policy`).
//!
//! What it owns: which entries a shard holds and in what order they leave.
//! What it never does: enforce the bounds or decide what happens to an entry
//! that leaves — the shard (`memory::Shard`) calls `pop_victim` while it is
//! over its bounds and hands what comes out to the cache. So every rule the
//! cache keeps about entries (a dirty one leaves only through a write to L2,
//! the shard's write counter and flights) holds whichever policy is in use.
//! Under either policy a hit only counts a use (`get` takes `&self`), so
//! hits take the shard's lock shared; only writes and evictions reorder.

use super::lru::Lru;
use super::s3fifo::{S3Fifo, S3Params};
use super::{Entry, Evicted, Resident};
use crate::options::L1Policy;

/// A policy with its knobs, for `Memory::with_policy` (the C ABI chooses
/// only between the defaults of each; the hit-ratio harness tries others).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    Lru,
    S3Fifo(S3Params),
}

impl From<L1Policy> for PolicyKind {
    fn from(p: L1Policy) -> PolicyKind {
        match p {
            L1Policy::TC_L1_LRU => PolicyKind::Lru,
            L1Policy::TC_L1_S3FIFO => PolicyKind::S3Fifo(S3Params::default()),
        }
    }
}

/// One shard's entries under one policy.
// One per shard, in place: boxing the larger variant would add a pointer
// chase to every hit to save a few hundred bytes per shard.
#[allow(clippy::large_enum_variant)]
pub enum Policy {
    Lru(Lru),
    S3Fifo(S3Fifo),
}

impl Policy {
    /// A shard's policy; the bounds are the shard's (0: none), which S3-FIFO
    /// needs to size its queues.
    pub fn new(kind: PolicyKind, max_entries: u64, max_bytes: u64) -> Policy {
        match kind {
            PolicyKind::Lru => Policy::Lru(Lru::default()),
            PolicyKind::S3Fifo(p) => Policy::S3Fifo(S3Fifo::new(max_entries, max_bytes, p)),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Policy::Lru(l) => l.len(),
            Policy::S3Fifo(s) => s.len(),
        }
    }

    /// `key`'s entry, counted as a use. `h` is the cache's hash of `key`
    /// here and in every method below that takes a key: the policies file
    /// keys under it (`key::TableHasher`) and never hash a key themselves.
    /// Takes `&self`: both policies count a use in an atomic beside the
    /// entry (LRU's mark, S3-FIFO's frequency), so a hit needs the shard's
    /// lock only shared.
    pub fn get(&self, h: u64, key: &[u8]) -> Option<&Resident> {
        match self {
            Policy::Lru(l) => l.get(h, key),
            Policy::S3Fifo(s) => s.get(h, key),
        }
    }

    /// `key`'s entry, not counted as a use.
    pub fn peek(&self, h: u64, key: &[u8]) -> Option<&Resident> {
        match self {
            Policy::Lru(l) => l.peek(h, key),
            Policy::S3Fifo(s) => s.peek(h, key),
        }
    }

    /// Stores `entry` under `key`, counted as a use; returns the length of
    /// the value it replaced, which it drops. Never evicts (see `pop_victim`).
    pub fn insert(&mut self, h: u64, key: &[u8], entry: Entry) -> Option<usize> {
        match self {
            Policy::Lru(l) => l.insert(h, key, entry),
            Policy::S3Fifo(s) => s.insert(h, key, entry),
        }
    }

    /// `insert` into a shard at its entry bound, and the eviction it makes
    /// if `key` was not held: returns the length of the value replaced
    /// (dropped), or the entry that left. The same as `settle`, `insert`,
    /// then `pop_victim` if nothing was replaced; under LRU the new key
    /// takes the victim's slot (`Lru::insert_evicting`).
    pub fn insert_evicting(&mut self, h: u64, key: &[u8], entry: Entry) -> (Option<usize>, Option<Evicted>) {
        match self {
            Policy::Lru(l) => l.insert_evicting(h, key, entry),
            Policy::S3Fifo(s) => match s.insert(h, key, entry) {
                Some(old) => (Some(old), None),
                None => (None, s.pop_victim()),
            },
        }
    }

    /// Starts loading the nodes a lookup of hash `h` will read (a hint:
    /// nothing changes).
    // On every put's path: see `ffi::boundary::guard`.
    #[inline]
    pub fn prefetch(&self, h: u64) {
        match self {
            Policy::Lru(l) => l.prefetch(h),
            Policy::S3Fifo(s) => s.prefetch(h),
        }
    }

    /// Lets `change` rewrite `key`'s entry in place; if it did, counted as
    /// a use, as `insert` over the key counts it. False if the key is not
    /// held or `change` declined (then nothing changed).
    pub fn update(&mut self, h: u64, key: &[u8], change: impl FnOnce(&mut Resident) -> bool) -> bool {
        match self {
            Policy::Lru(l) => l.update(h, key, change),
            Policy::S3Fifo(s) => s.update(h, key, change),
        }
    }

    /// Readies the order for an insert that will evict: under LRU the
    /// entries hit at the back move to the front now (`Lru::settle`), so the
    /// new entry goes in front of them, as under an exact LRU, where they
    /// moved when hit, before it came; otherwise they would go in front of
    /// it on the eviction, and the new entry, not yet hit, would be next
    /// to go after them. Nothing under S3-FIFO (a new entry goes to the
    /// small queue's end whatever happens in the main one).
    pub fn settle(&mut self) {
        match self {
            Policy::Lru(l) => l.settle(),
            Policy::S3Fifo(_) => {}
        }
    }

    /// Takes out the entry the policy evicts next.
    pub fn pop_victim(&mut self) -> Option<Evicted> {
        match self {
            Policy::Lru(l) => l.pop_lru(),
            Policy::S3Fifo(s) => s.pop_victim(),
        }
    }

    pub fn remove(&mut self, h: u64, key: &[u8]) -> Option<Entry> {
        match self {
            Policy::Lru(l) => l.remove(h, key),
            Policy::S3Fifo(s) => s.remove(h, key),
        }
    }

    /// Every entry with its key's hash, without counting uses.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (u64, &[u8], &Resident)> + '_> {
        match self {
            Policy::Lru(l) => Box::new(l.iter()),
            Policy::S3Fifo(s) => Box::new(s.iter()),
        }
    }

    pub fn iter_mut(&mut self) -> Box<dyn Iterator<Item = (&[u8], &mut Resident)> + '_> {
        match self {
            Policy::Lru(l) => Box::new(l.iter_mut()),
            Policy::S3Fifo(s) => Box::new(s.iter_mut()),
        }
    }

    pub fn clear(&mut self) {
        match self {
            Policy::Lru(l) => l.clear(),
            Policy::S3Fifo(s) => s.clear(),
        }
    }
}
