//! S3-FIFO, the memory tier's second eviction policy (Yang et al., "FIFO
//! queues are all you need for cache eviction", SOSP 2023).
//!
//! What it owns: one shard's entries in three FIFO queues — a small one
//! (about a tenth of the shard) where every new key starts, a main one, and
//! a ghost queue that remembers only the hashes of keys the small queue
//! evicted. A key leaving the small queue that was hit while there moves to
//! the main queue; one that was not is evicted and its hash goes to the
//! ghost, so that if it comes back soon it starts in the main queue. The
//! main queue is a CLOCK: an entry with a non-zero frequency is reinserted
//! with its frequency decremented instead of being evicted.
//!
//! Why: a hit only raises a 2-bit frequency kept in an atomic beside the
//! entry (`get` takes `&self`), so the shard can serve hits under a shared
//! read lock, with no list to relink; and the small queue keeps one-hit
//! wonders from flushing the main queue (scan resistance), which LRU lacks.
//!
//! What it never does: decide the bounds' consequences. `pop_victim` hands
//! the evicted entry back to the shard, which hands it to the cache (a dirty
//! entry must reach L2). Removing a key leaves its slot in its queue, dead,
//! until the queue reaches it (or a compaction of the queues, when the dead
//! outnumber the live), so a removal is O(1).

use std::collections::VecDeque;

use hashbrown::{HashMap, HashTable};

use super::held;
use super::key::{Key, TableHasher};
use super::slab::Slab;
use super::{entry_size, Entry, Evicted, Resident, Uses};

/// A frequency saturates here: two bits.
const MAX_FREQ: u8 = 3;

/// The knobs of S3-FIFO. The defaults are the paper's (Algorithm 1 moves an
/// entry from the small queue to main when its frequency is above 1), and
/// the best of those tried on the ARC traces (BENCHMARKS.md): promoting
/// after one hit instead gave 0.6 point less on OLTP at 1,000 and 5,000
/// entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S3Params {
    /// The small queue's share of the shard's bounds, in percent.
    pub small_percent: u64,
    /// The ghost queue's length, in percent of the main queue's share of
    /// the entry bound (of the entries held, without an entry bound).
    pub ghost_percent: u64,
    /// Hits an entry needs while in the small queue to move to the main one.
    pub promote_at: u8,
}

impl Default for S3Params {
    fn default() -> S3Params {
        S3Params {
            small_percent: 10,
            ghost_percent: 100,
            promote_at: 2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Queue {
    Small,
    Main,
}

/// In declaration order (`repr(C)`), what a hit reads first: the key, then
/// the entry's expiry and meta, its live byte and its hit count
/// (`Entry::uses`), in the node's first 42 bytes, then the value (a short
/// one's bytes in the node itself): 256 bytes aligned to 128, as
/// `lru::Node`, which says why.
#[repr(C, align(128))]
struct Node {
    key: Key,
    /// `None` once removed: the slot waits in its queue to be reclaimed. A
    /// live entry's `uses` is its frequency: hits since it was inserted or
    /// last looked at by eviction.
    entry: Option<Resident>,
    /// The cache's hash of `key`, for the table to rehash it by and for the
    /// ghost to remember it by.
    hash: u64,
    queue: Queue,
}

impl Node {
    /// The live entry's frequency (under the shard's exclusive lock).
    fn freq(&mut self) -> &mut Uses {
        &mut self.entry.as_mut().expect("a slot with an entry is live").uses
    }
}

/// One shard's entries under S3-FIFO. Every method that looks a key up
/// takes the cache's hash of it (`h`), which the node keeps: the key is
/// hashed once per call, by the cache.
///
/// Invariant (kept by every method): each allocated slot of `nodes`, live or
/// dead, is in exactly one of `small` and `main`, once; `table` holds
/// exactly the live slots, each filed under `hasher`'s hash of its
/// node's `hash`; free slots are in `free` and in no queue.
pub struct S3Fifo {
    table: HashTable<u32>,
    hasher: TableHasher,
    /// In huge pages once large, as LRU's (`slab`).
    nodes: Slab<Node>,
    free: Vec<u32>,
    small: VecDeque<u32>,
    main: VecDeque<u32>,
    ghost: Ghost,
    /// Live entries and their bytes, in all and in the small queue.
    len: u64,
    small_len: u64,
    small_bytes: u64,
    /// Removed entries whose slots are still in a queue.
    dead: usize,
    /// The small queue's target (0: no bound on that dimension).
    small_max_entries: u64,
    small_max_bytes: u64,
    /// The ghost's length with an entry bound (0: follow `len`).
    ghost_max: u64,
    /// The shard's (max_entries, max_bytes), for `clear`.
    bounds: (u64, u64),
    params: S3Params,
}

impl S3Fifo {
    /// The policy of a shard bounded by `max_entries` and `max_bytes` (0: no
    /// bound on that dimension).
    pub fn new(max_entries: u64, max_bytes: u64, params: S3Params) -> S3Fifo {
        let share = |max: u64| {
            if max == 0 {
                0
            } else {
                (max * params.small_percent / 100).max(1)
            }
        };
        let small_max_entries = share(max_entries);
        let ghost_max = if max_entries == 0 {
            0
        } else {
            (max_entries.saturating_sub(small_max_entries) * params.ghost_percent / 100).max(1)
        };
        S3Fifo {
            table: HashTable::new(),
            hasher: TableHasher::new(),
            nodes: Slab::default(),
            free: Vec::new(),
            small: VecDeque::new(),
            main: VecDeque::new(),
            ghost: Ghost::default(),
            len: 0,
            small_len: 0,
            small_bytes: 0,
            dead: 0,
            small_max_entries,
            small_max_bytes: share(max_bytes),
            ghost_max,
            bounds: (max_entries, max_bytes),
            params,
        }
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Starts loading the nodes that `find(h, _)` would compare keys
    /// with (those whose table tag matches), reading none of them.
    // On every put's path: see `ffi::boundary::guard`.
    #[inline]
    pub fn prefetch(&self, h: u64) {
        self.table.find(self.hasher.hash(h), |&i| {
            held::prefetch_node(&self.nodes[i as usize]);
            false
        });
    }

    fn find(&self, h: u64, key: &[u8]) -> Option<u32> {
        self.table
            .find(self.hasher.hash(h), |&i| {
                let n = &self.nodes[i as usize];
                held::prefetch_tail(n);
                n.key.is(key)
            })
            .copied()
    }

    /// `key`'s entry, counted as a hit. Takes `&self`: the frequency is an
    /// atomic, so hits need no exclusive access.
    pub fn get(&self, h: u64, key: &[u8]) -> Option<&Resident> {
        let e = self.nodes[self.find(h, key)? as usize].entry.as_ref()?;
        e.uses.bump(MAX_FREQ);
        Some(e)
    }

    /// `key`'s entry, not counted as a hit.
    pub fn peek(&self, h: u64, key: &[u8]) -> Option<&Resident> {
        self.nodes[self.find(h, key)? as usize].entry.as_ref()
    }

    /// Lets `change` rewrite `key`'s entry where it lies; if it says it
    /// did, that counts as `insert` over the key counts it (a bump, and
    /// the small queue's bytes follow the entry's size). False (and
    /// nothing touched) if the key is not held or `change` declined.
    pub fn update(&mut self, h: u64, key: &[u8], change: impl FnOnce(&mut Resident) -> bool) -> bool {
        let Some(i) = self.find(h, key) else {
            return false;
        };
        let n = &mut self.nodes[i as usize];
        let e = n.entry.as_mut().expect("a slot in the table is live");
        let before = entry_size(key, &e.value);
        if !change(e) {
            return false;
        }
        let after = entry_size(key, &e.value);
        e.uses.bump(MAX_FREQ);
        if n.queue == Queue::Small {
            self.small_bytes = self.small_bytes + after - before;
        }
        true
    }

    /// Stores `entry`; returns the length of the value it replaced, which
    /// it drops. A replaced key keeps
    /// its place (and its node: it is neither copied nor rehashed) and
    /// counts the write as a hit. Never evicts: the shard calls
    /// `pop_victim` while it is over its bounds.
    pub fn insert(&mut self, h: u64, key: &[u8], entry: Entry) -> Option<usize> {
        let size = entry_size(key, &entry.value);
        if let Some(i) = self.find(h, key) {
            let n = &mut self.nodes[i as usize];
            // The new entry takes the old one's count, and the write counts
            // as a hit.
            let f = n.freq().get();
            let old_len = n
                .entry
                .as_mut()
                .expect("a slot in the table is live")
                .overwrite_with(entry);
            n.freq().set(f);
            n.freq().bump(MAX_FREQ);
            if n.queue == Queue::Small {
                self.small_bytes = self.small_bytes + size - (entry_size(key, &[]) + old_len as u64);
            }
            return Some(old_len);
        }
        let queue = if self.ghost.take(h) { Queue::Main } else { Queue::Small };
        let mut entry = entry;
        entry.uses.set(0);
        let node = Node {
            key: Key::new(key),
            hash: h,
            entry: Some(entry.resident()),
            queue,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                u32::try_from(self.nodes.len() - 1).expect("fewer than 2^32 entries in one shard")
            }
        };
        let (nodes, hasher) = (&self.nodes, self.hasher);
        self.table
            .insert_unique(hasher.hash(h), i, |&j| hasher.hash(nodes[j as usize].hash));
        self.len += 1;
        match queue {
            Queue::Small => {
                self.small.push_back(i);
                self.small_len += 1;
                self.small_bytes += size;
            }
            Queue::Main => self.main.push_back(i),
        }
        None
    }

    /// Whether eviction should look at the small queue now.
    fn small_over(&self) -> bool {
        self.small_len > 0
            && (self.len == self.small_len
                || (self.small_max_entries > 0 && self.small_len >= self.small_max_entries)
                || (self.small_max_bytes > 0 && self.small_bytes >= self.small_max_bytes))
    }

    /// Evicts one entry and hands it back: from the small queue while it
    /// holds its share or more (an entry hit there moves to the main queue
    /// instead), otherwise from the main queue (an entry hit since it was
    /// last looked at goes round again, one hit fewer). `None` if empty.
    pub fn pop_victim(&mut self) -> Option<Evicted> {
        while self.len > 0 {
            let from_small = self.small_over();
            let q = if from_small { &mut self.small } else { &mut self.main };
            let i = q.pop_front().expect("a queue with live entries is not empty");
            let n = &mut self.nodes[i as usize];
            let Some(e) = &mut n.entry else {
                self.dead -= 1;
                self.free.push(i);
                continue;
            };
            let f = e.uses.get();
            if from_small {
                let size = entry_size(&n.key, &e.value);
                self.small_len -= 1;
                self.small_bytes -= size;
                if f >= self.params.promote_at {
                    e.uses.set(0);
                    n.queue = Queue::Main;
                    self.main.push_back(i);
                    continue;
                }
            } else if f > 0 {
                e.uses.set(f - 1);
                self.main.push_back(i);
                continue;
            }
            let h = n.hash;
            if from_small {
                let cap = if self.ghost_max > 0 {
                    self.ghost_max
                } else {
                    (self.len * self.params.ghost_percent / 100).max(1)
                };
                self.ghost.insert(h, cap);
            }
            let (key, entry) = self.unlink(i, h);
            self.free.push(i);
            return Some((key, entry));
        }
        None
    }

    /// Takes slot `i`'s key and entry and drops it from the table (its
    /// queue position is the caller's business).
    fn unlink(&mut self, i: u32, h: u64) -> Evicted {
        self.table
            .find_entry(self.hasher.hash(h), |&j| j == i)
            .expect("a live slot is in the table")
            .remove();
        let n = &mut self.nodes[i as usize];
        let entry = n.entry.take().expect("unlink takes a live slot");
        self.len -= 1;
        (std::mem::take(&mut n.key), entry.leave())
    }

    pub fn remove(&mut self, h: u64, key: &[u8]) -> Option<Entry> {
        let i = self.find(h, key)?;
        let (k, e) = self.unlink(i, h);
        if self.nodes[i as usize].queue == Queue::Small {
            self.small_len -= 1;
            self.small_bytes -= entry_size(&k, &e.value);
        }
        self.dead += 1;
        if self.dead > self.len as usize + 64 {
            self.reclaim();
        }
        Some(e)
    }

    /// Drops the dead slots from the queues, keeping the order of the live.
    fn reclaim(&mut self) {
        let (nodes, free) = (&self.nodes, &mut self.free);
        let mut keep = |i: &u32| {
            let live = nodes[*i as usize].entry.is_some();
            if !live {
                free.push(*i);
            }
            live
        };
        self.small.retain(&mut keep);
        self.main.retain(&mut keep);
        self.dead = 0;
    }

    /// Every entry with its key's hash, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &[u8], &Resident)> {
        self.nodes
            .iter()
            .filter_map(|n| Some((n.hash, &*n.key, n.entry.as_ref()?)))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&[u8], &mut Resident)> {
        self.nodes.iter_mut().filter_map(|n| Some((&*n.key, n.entry.as_mut()?)))
    }

    /// Drops every entry and forgets the ghosts.
    pub fn clear(&mut self) {
        *self = S3Fifo::new(self.bounds.0, self.bounds.1, self.params);
    }
}

/// The hashes of keys recently evicted from the small queue, oldest first.
#[derive(Default)]
struct Ghost {
    /// hash → the stamp of its newest insertion.
    seen: HashMap<u64, u64>,
    /// (hash, stamp) in insertion order; an entry whose stamp is no longer
    /// the hash's newest (taken, or inserted again since) is skipped.
    order: VecDeque<(u64, u64)>,
    stamp: u64,
}

impl Ghost {
    fn insert(&mut self, h: u64, cap: u64) {
        self.stamp += 1;
        self.seen.insert(h, self.stamp);
        self.order.push_back((h, self.stamp));
        while self.seen.len() as u64 > cap {
            let Some((old, stamp)) = self.order.pop_front() else {
                break;
            };
            if self.seen.get(&old) == Some(&stamp) {
                self.seen.remove(&old);
            }
        }
        // Hashes taken or inserted again leave stale entries behind: drop
        // them once they outnumber the live, so the queue stays bounded.
        if self.order.len() > 2 * self.seen.len() + 16 {
            let seen = &self.seen;
            self.order.retain(|(h, stamp)| seen.get(h) == Some(stamp));
        }
    }

    /// Whether `h` was in the ghost (it is not any more).
    fn take(&mut self, h: u64) -> bool {
        self.seen.remove(&h).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a hit reads of a node before the value's bytes (the key, the
    /// entry's expiry and meta, the live byte and the hit count) lies in
    /// its first 64 bytes, the value comes before the rest, and the node is
    /// `lru::Node`'s size and alignment (see `Node`).
    #[test]
    fn a_hit_reads_one_node_and_its_first_line_first() {
        use std::mem::{offset_of, size_of};
        let mut ends = vec![offset_of!(Node, key) + size_of::<Key>()];
        let (fields, value) = Resident::hit_fields_end(offset_of!(Node, entry));
        ends.extend(fields);
        assert!(ends.iter().all(|&e| e <= 64), "{ends:?}");
        assert!(value <= offset_of!(Node, hash), "the value comes before the rest");
        assert_eq!(std::mem::align_of::<Node>(), 128);
        assert_eq!(size_of::<Node>(), 256);
    }

    /// Keys of one hash (the table's and the ghost's) are told apart by
    /// their bytes, short and long alike.
    #[test]
    fn keys_of_one_hash_are_told_apart() {
        let mut s = S3Fifo::new(0, 0, S3Params::default());
        let key = |i: u64| vec![b'k'; i as usize];
        for i in 0..40 {
            assert!(s
                .insert(7, &key(i), Entry::new(Arc::from(&b"v"[..]), 0, i, None))
                .is_none());
        }
        for i in (0..40).step_by(3) {
            assert_eq!(s.remove(7, &key(i)).map(|e| e.written_at), Some(i));
        }
        for i in 0..40 {
            let want = (i % 3 != 0).then_some(i);
            assert_eq!(s.peek(7, &key(i)).map(|e| e.written_at), want, "{i} bytes");
            assert_eq!(s.get(7, &key(i)).map(|e| e.written_at), want, "{i} bytes");
        }
    }

    #[test]
    fn removed_slots_are_reclaimed_and_reused() {
        let mut s = S3Fifo::new(0, 0, S3Params::default());
        for round in 0..10u32 {
            for i in 0..100u32 {
                let k = (round * 1000 + i).to_be_bytes();
                let h = crate::log::key_hash(&k);
                assert!(s.insert(h, &k, Entry::new(Arc::from(&b"v"[..]), 0, 0, None)).is_none());
                assert!(s.remove(h, &k).is_some());
            }
        }
        assert_eq!(s.len(), 0);
        // Without reclaiming, 1,000 slots would sit dead in the small queue.
        assert!(s.nodes.len() <= 100, "{} slots", s.nodes.len());
        assert!(s.small.len() <= 100);
    }

    #[test]
    fn the_ghost_stays_bounded_when_its_hashes_are_taken() {
        let mut g = Ghost::default();
        for h in 0..10_000u64 {
            g.insert(h, 8);
            assert!(g.take(h));
        }
        assert!(g.order.len() <= 16 + 2 * g.seen.len());
        for h in 0..20u64 {
            g.insert(h, 8);
        }
        assert_eq!(g.seen.len(), 8);
        assert!(g.take(19) && g.take(12) && !g.take(11));
    }

    use std::sync::Arc;
}
