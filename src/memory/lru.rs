//! LRU, the memory tier's default eviction policy: one shard's entries in a
//! doubly linked list, most recently moved first, whose links are slot
//! indices into one `Vec` and whose ends live in the shard itself.
//!
//! What it owns: which entries a shard holds and their order of use. A write
//! that stores an entry (`insert`) moves it to the front; a hit, and a write
//! in place (`update`), only mark it used (`Entry::uses`), and
//! eviction (`pop_lru`) moves a marked entry it finds at the back to the
//! front, unmarked, instead of evicting it ("lazy promotion"): the next
//! victim is the least recently moved entry not used since its move. An
//! insert that will evict does that first (`settle`), so the new entry goes
//! in front of the entries hit before it came, as under an exact LRU. What it
//! never does: enforce the bounds (the shard calls `pop_lru` while it is over
//! them) or decide what happens to an entry that leaves.
//!
//! Why lazy promotion: a hit that relinks the list needs the shard
//! exclusively, so two threads hitting a hot working set took turns on every
//! shard's lock and moved the list's ends and nodes between their cores
//! (2 threads did 0.84-1.31x the hits of one, BENCHMARKS.md). A mark is an
//! atomic beside the entry (`get` takes `&self`), so hits take the shard's
//! lock shared, as S3-FIFO's do, and a hit on an entry already marked writes
//! nothing at all: a hot entry's node stays shared between the cores. The
//! price is order: an entry hit since its last move goes to the front when
//! it reaches the back, not when it was hit, so it may outlive entries used
//! after it (a CLOCK's second chance with inserts still moved at once). On
//! the ARC paper's OLTP trace it costs nothing: 0.11 to 0.45 point above
//! the paper's exact LRU at 1,000 to 15,000 entries, where the exact list
//! was 0.21 below to 0.03 above (BENCHMARKS.md, `hit-ratio-traces`). The
//! other design considered, a per-shard buffer of hits replayed in order
//! under the exclusive lock (moka, Caffeine), keeps exact order but writes
//! a shared buffer on every hit and still relinks nodes for every hit
//! replayed.
//!
//! Why not the `lru` crate, which this replaced: the crate allocates each
//! cache's two sentinel nodes on the heap when the cache is made, and a
//! memory tier makes its shards one after another, so the sentinels of
//! neighbouring shards came out of the allocator side by side, on shared
//! cache lines. Every hit relinked its entry after its shard's head sentinel,
//! so two threads hitting two different shards wrote the same cache line on
//! every hit: sixteen shards scaled like one lock (two threads did 0.62× the
//! hits of one). Here the ends are two `u32` fields of the shard, on the
//! shard's own lines. The links are `u32` slot indices rather than pointers:
//! nodes are smaller, and the list needs no `unsafe` (the array it indexes
//! has its own, in `slab`: its nodes move to huge pages once large).

use hashbrown::HashTable;

use super::held;
use super::key::{Key, TableHasher};
use super::slab::Slab;
use super::{Entry, Evicted, Resident, Uses};

/// No slot: the end of the list.
const NIL: u32 = u32::MAX;

/// In declaration order (`repr(C)`), so that what a hit reads comes first:
/// the key it compares, then the entry's expiry and meta, the byte that
/// says the slot is live (`Option<Resident>`'s `None` is held in
/// `Entry::dirty`) and the mark (`Entry::uses`), all in the node's first
/// 42 bytes (`Entry` is `repr(C)` for the same reason); then the value,
/// whose bytes are here too when it is short (`Held::Inline`: up to
/// `held::INLINE`, 174 bytes); the links and the hash, which only writes
/// read, come last.
///
/// 256 bytes (the value takes 176), aligned to 128: a node is two pairs of
/// lines, and the adjacent-line prefetcher fetches a pair together. A hit
/// on a short value reads the node and nothing else: the second pair's
/// address is the node's, so its load does not wait on the first. When the
/// node held an `Arc`, a hit read the node, then the allocation it points
/// to, a second trip to memory that could not start before the first
/// ended. Measured through the shared library (`hit.c l1 100 100000`,
/// alternating with the library before, BENCHMARKS.md "L1 hit"): ~480 ns a
/// get before, ~380 after (harness's ~250 included), instructions equal.
/// The memory is what it was for a short value (a 128-byte node and a
/// 128-byte allocation for 100 B), 97 bytes more for an 8-byte value and
/// 128 more for a value held on the heap (1 KiB: 1195 -> 1323 B an entry).
///
/// Before values were in the node: at 104 bytes with the mark in the node
/// (byte 24) and the live byte at 72, a hit read parts of two lines of
/// nearly every node; 1.11 lines a hit at 128 bytes aligned to a line.
#[repr(C, align(128))]
struct Node {
    key: Key,
    /// `None` while the slot is free (in `Lru::free`, in no list). A live
    /// entry's `uses` is the mark: hit since the entry was last moved to
    /// the front, so eviction moves it to the front again rather than
    /// evict it. Set under the shard's shared lock, cleared under the
    /// exclusive one.
    entry: Option<Resident>,
    /// The cache's hash of `key`, for the table to rehash it by.
    hash: u64,
    /// Towards the most recent end (`NIL` at the front).
    prev: u32,
    /// Towards the least recent end (`NIL` at the back).
    next: u32,
}

impl Node {
    /// The live entry's mark (under the shard's exclusive lock).
    fn uses(&mut self) -> &mut Uses {
        &mut self.entry.as_mut().expect("a slot on the list is live").uses
    }
}

/// One shard's entries, the least recently moved one not used since its
/// move evicted first. Every method
/// that looks a key up takes the cache's hash of it (`h`), which the node
/// keeps: the key is hashed once per call, by the cache.
///
/// Invariant (kept by every method): the live slots are exactly those in
/// `table`, each filed under `hasher`'s hash of its node's `hash`, and exactly
/// those on the list from `head` to `tail` (linked both ways); the other
/// slots are in `free`, with no entry.
pub struct Lru {
    table: HashTable<u32>,
    hasher: TableHasher,
    /// In huge pages once large (`slab`): a hit's node load then seldom
    /// walks the page tables.
    nodes: Slab<Node>,
    free: Vec<u32>,
    /// The most recently moved slot (`NIL` when empty).
    head: u32,
    /// The least recently moved slot, the next victim unless it is marked
    /// used (`NIL` when empty).
    tail: u32,
    len: usize,
}

impl Default for Lru {
    fn default() -> Lru {
        Lru {
            table: HashTable::new(),
            hasher: TableHasher::new(),
            nodes: Slab::default(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            len: 0,
        }
    }
}

impl Lru {
    pub fn len(&self) -> usize {
        self.len
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

    // On every get's or put's path: see `ffi::boundary::guard`.
    #[inline]
    fn find(&self, h: u64, key: &[u8]) -> Option<u32> {
        self.table
            .find(self.hasher.hash(h), |&i| {
                let n = &self.nodes[i as usize];
                held::prefetch_tail(n);
                n.key.is(key)
            })
            .copied()
    }

    /// Takes slot `i` off the list.
    fn detach(&mut self, i: u32) {
        let (prev, next) = {
            let n = &self.nodes[i as usize];
            (n.prev, n.next)
        };
        match prev {
            NIL => self.head = next,
            p => self.nodes[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.nodes[n as usize].prev = prev,
        }
    }

    /// Puts slot `i` (off the list) at the front.
    fn attach_front(&mut self, i: u32) {
        let old = self.head;
        {
            let n = &mut self.nodes[i as usize];
            n.prev = NIL;
            n.next = old;
        }
        match old {
            NIL => self.tail = i,
            o => self.nodes[o as usize].prev = i,
        }
        self.head = i;
    }

    /// Makes slot `i` the most recent: at the front, unmarked (the move is
    /// its use).
    #[inline]
    fn touch(&mut self, i: u32) {
        self.nodes[i as usize].uses().set(0);
        // Already at the front (a hot key written again): no link to write.
        if self.head != i {
            self.detach(i);
            self.attach_front(i);
        }
    }

    /// `key`'s entry, counted as a use: marked, so that eviction moves it
    /// to the front when it reaches the back. Takes `&self`: the mark is
    /// an atomic, so hits need no exclusive access.
    #[inline]
    pub fn get(&self, h: u64, key: &[u8]) -> Option<&Resident> {
        let e = self.nodes[self.find(h, key)? as usize].entry.as_ref()?;
        e.uses.bump(1);
        Some(e)
    }

    /// `key`'s entry, not counted as a use.
    pub fn peek(&self, h: u64, key: &[u8]) -> Option<&Resident> {
        self.nodes[self.find(h, key)? as usize].entry.as_ref()
    }

    /// Stores `entry` at the front; returns the length of the value it
    /// replaced, which it drops (in
    /// place: a key already held is neither copied nor rehashed). Never
    /// evicts: the shard calls `pop_lru` while it is over its bounds.
    pub fn insert(&mut self, h: u64, key: &[u8], entry: Entry) -> Option<usize> {
        if let Some(i) = self.find(h, key) {
            self.touch(i);
            let old = self.nodes[i as usize].entry.as_mut().map(|r| r.overwrite_with(entry));
            // The move was the new entry's use, as `touch` made it the old one's.
            self.nodes[i as usize].uses().set(0);
            return old;
        }
        self.insert_new(h, key, entry);
        None
    }

    /// `insert` into a list at its shard's entry bound, with the eviction
    /// that follows it: returns the length of the value replaced, which it
    /// drops (`key` was held: nothing
    /// leaves) or the entry that left (the least recently moved one not
    /// used since, after `settle`, as `pop_lru` picks it). The same order
    /// and victim as `settle`, `insert`, `pop_lru` one after the other.
    ///
    /// Why: with a small L1 in front of L2 every L2 hit promotes a key and
    /// evicts another. Here the new key takes the victim's slot where it
    /// lies: the slot is not pushed on the free list and popped again, no
    /// node is built and moved in, and the victim's key and entry are moved
    /// out once (BENCHMARKS.md, "L2 1 KiB against the floor"). On an
    /// empty list (never at a bound of one entry or more) it only inserts.
    pub fn insert_evicting(&mut self, h: u64, key: &[u8], entry: Entry) -> (Option<usize>, Option<Evicted>) {
        self.settle();
        if let Some(i) = self.find(h, key) {
            self.touch(i);
            let old = self.nodes[i as usize].entry.as_mut().map(|r| r.overwrite_with(entry));
            self.nodes[i as usize].uses().set(0);
            return (old, None);
        }
        let i = self.tail;
        if i == NIL {
            self.insert_new(h, key, entry);
            return (None, None);
        }
        // `settle` left the slot at the back unmarked: it is the victim.
        self.unindex(i);
        let n = &mut self.nodes[i as usize];
        let gone_key = std::mem::replace(&mut n.key, Key::new(key));
        let gone = n.entry.as_mut().expect("a slot on the list is live").replace(entry);
        n.hash = h;
        n.uses().set(0);
        let (nodes, hasher) = (&self.nodes, self.hasher);
        self.table
            .insert_unique(hasher.hash(h), i, |&j| hasher.hash(nodes[j as usize].hash));
        self.attach_front(i);
        (None, Some((gone_key, gone)))
    }

    /// Stores `entry` under `key`, which is not held, at the front.
    fn insert_new(&mut self, h: u64, key: &[u8], mut entry: Entry) {
        entry.uses.set(0);
        let node = Node {
            key: Key::new(key),
            hash: h,
            entry: Some(entry.resident()),
            prev: NIL,
            next: NIL,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                // NIL is never a slot: at most 2^32 - 1 of them.
                let i = u32::try_from(self.nodes.len())
                    .ok()
                    .filter(|&i| i != NIL)
                    .expect("fewer than 2^32 - 1 entries in one shard");
                self.nodes.push(node);
                i
            }
        };
        let (nodes, hasher) = (&self.nodes, self.hasher);
        self.table
            .insert_unique(hasher.hash(h), i, |&j| hasher.hash(nodes[j as usize].hash));
        self.attach_front(i);
        self.len += 1;
    }

    /// Lets `change` rewrite `key`'s entry where it lies; if it says it
    /// did, that counts as a use as a hit counts it: the entry is marked,
    /// not moved (as S3-FIFO counts a replaced entry as a hit). False (and
    /// nothing touched) if the key is not held or `change` declined.
    ///
    /// Why not moved: moving a node writes the links of its two neighbours
    /// and of the old front, nodes anywhere in `nodes`. A put over a key
    /// held in L1 (`Shard::overwrite_logged`) paid ~2.7 of its ~9 data
    /// cache write misses for them (callgrind, `hit.c put 100 50000`); the
    /// mark is on the node the lookup has just read.
    pub fn update(&mut self, h: u64, key: &[u8], change: impl FnOnce(&mut Resident) -> bool) -> bool {
        let Some(i) = self.find(h, key) else {
            return false;
        };
        let n = &mut self.nodes[i as usize];
        let changed = change(n.entry.as_mut().expect("a slot in the table is live"));
        if changed {
            n.uses().set(1);
        }
        changed
    }

    /// Takes slot `i` off the list and out of the table; its node is left
    /// as it is, for the caller to empty or reuse.
    fn unindex(&mut self, i: u32) {
        self.detach(i);
        self.table
            .find_entry(self.hasher.hash(self.nodes[i as usize].hash), |&j| j == i)
            .expect("a live slot is in the table")
            .remove();
    }

    /// Takes slot `i` out: off the list, out of the table, into `free`.
    fn unlink(&mut self, i: u32) -> Evicted {
        self.unindex(i);
        let n = &mut self.nodes[i as usize];
        let entry = n.entry.take().expect("a slot on the list is live");
        let key = std::mem::take(&mut n.key);
        self.free.push(i);
        self.len -= 1;
        (key, entry.leave())
    }

    /// Moves the entries used since their last move that are at the back
    /// to the front, unmarked, until the entry at the back is unmarked (or
    /// the list empty). Ends: each move unmarks an entry, and no hit can
    /// mark one meanwhile (this takes the shard exclusively), so after at
    /// most `len` moves the entry at the back is unmarked.
    pub fn settle(&mut self) {
        while self.tail != NIL && self.nodes[self.tail as usize].uses().get() != 0 {
            self.touch(self.tail);
        }
    }

    /// Takes out the least recently moved entry not used since its move,
    /// after `settle`.
    pub fn pop_lru(&mut self) -> Option<Evicted> {
        self.settle();
        match self.tail {
            NIL => None,
            i => Some(self.unlink(i)),
        }
    }

    pub fn remove(&mut self, h: u64, key: &[u8]) -> Option<Entry> {
        let i = self.find(h, key)?;
        Some(self.unlink(i).1)
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

    pub fn clear(&mut self) {
        *self = Lru::default();
    }

    /// The keys from the front (most recently moved) to the back, each
    /// with its mark.
    #[cfg(test)]
    pub fn order(&self) -> Vec<(Vec<u8>, bool)> {
        let mut out = Vec::new();
        let mut i = self.head;
        while i != NIL {
            let n = &self.nodes[i as usize];
            let used = n.entry.as_ref().is_some_and(|e| e.uses.load() != 0);
            out.push((n.key.to_vec(), used));
            i = n.next;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// What a hit reads of a node before the value's bytes (the key, the
    /// entry's expiry and meta, the live byte and the mark) lies in its
    /// first 64 bytes, the value (inline, or its pointer) comes before the
    /// links, and a node is two pairs of lines (see `Node`): at 100k keys
    /// each pair a hit reads is a cache miss. It should not grow unnoticed.
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

    fn e() -> Entry {
        Entry::new(Arc::from(&b"v"[..]), 0, 0, None)
    }

    /// The cache's hash of `k`.
    fn h(k: &[u8]) -> u64 {
        crate::log::key_hash(k)
    }

    /// The list read both ways agrees with the table and the count.
    fn check(l: &Lru) -> Vec<Vec<u8>> {
        let mut forward = Vec::new();
        let (mut i, mut prev) = (l.head, NIL);
        while i != NIL {
            let n = &l.nodes[i as usize];
            assert_eq!(n.prev, prev, "back link of slot {i}");
            assert!(n.entry.is_some());
            assert_eq!(l.find(n.hash, &n.key), Some(i), "slot {i} is filed under its hash");
            forward.push(n.key.to_vec());
            prev = i;
            i = n.next;
        }
        assert_eq!(prev, l.tail);
        assert_eq!(forward.len(), l.len);
        assert_eq!(l.table.len(), l.len);
        assert_eq!(l.free.len() + l.len, l.nodes.len());
        forward
    }

    /// The `lru` crate, which this list replaced, with lazy promotion put
    /// on top of it, as the oracle: a get there is a peek that marks the
    /// key, an update a `peek_mut` that marks it, a push (a write that
    /// stores an entry) unmarks it, and an eviction pushes a marked
    /// key at the back to the front, unmarked, until it finds one not
    /// marked.
    struct Oracle {
        list: lru::LruCache<Vec<u8>, u64>,
        used: std::collections::HashSet<Vec<u8>>,
    }

    impl Oracle {
        fn get(&mut self, key: &[u8]) -> Option<u64> {
            let v = self.list.peek(key).copied()?;
            self.used.insert(key.to_vec());
            Some(v)
        }
        fn update(&mut self, key: &[u8], v: u64) -> bool {
            let Some(old) = self.list.peek_mut(key) else {
                return false;
            };
            *old = v;
            self.used.insert(key.to_vec());
            true
        }
        fn push(&mut self, key: Vec<u8>, v: u64) -> Option<u64> {
            self.used.remove(&key);
            self.list.push(key, v).map(|(_, v)| v)
        }
        fn pop(&mut self, key: &[u8]) -> Option<u64> {
            self.used.remove(key);
            self.list.pop(key)
        }
        /// `Lru::insert_evicting`: a settle (marked keys at the back pushed
        /// to the front, unmarked), the push, and if the key was new and
        /// the list was not empty, the eviction.
        fn insert_evicting(&mut self, key: Vec<u8>, v: u64) -> (Option<u64>, Option<(Vec<u8>, u64)>) {
            while let Some((k, _)) = self.list.peek_lru().filter(|(k, _)| self.used.contains(*k)) {
                let k = k.clone();
                let v = self.list.pop(&k).expect("the key at the back is there");
                self.used.remove(&k);
                self.list.push(k, v);
            }
            let was_empty = self.list.is_empty();
            match self.push(key, v) {
                Some(old) => (Some(old), None),
                None if was_empty => (None, None),
                None => (None, self.pop_lru()),
            }
        }
        fn pop_lru(&mut self) -> Option<(Vec<u8>, u64)> {
            loop {
                let (k, v) = self.list.pop_lru()?;
                if !self.used.remove(&k) {
                    return Some((k, v));
                }
                self.list.push(k, v);
            }
        }
    }

    /// The oracle above and this list: the same seeded random gets, peeks,
    /// inserts (some with their eviction, `insert_evicting`), removes and
    /// evictions, over a key space small enough that
    /// every operation often finds its key, must find, replace and evict
    /// exactly the same keys in the same order. The keys are of every
    /// length around the inline limit, and every other seed hashes them
    /// into three values only, so that the table must tell keys of one hash
    /// apart by their bytes.
    #[test]
    fn behaves_as_the_lru_crate_with_lazy_promotion() {
        for seed in 1..=20u64 {
            let hash = |k: &[u8]| if seed % 2 == 0 { k.len() as u64 % 3 } else { h(k) };
            let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let mut next = move || {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng
            };
            let mut ours = Lru::default();
            let mut theirs = Oracle {
                list: lru::LruCache::unbounded(),
                used: Default::default(),
            };
            for step in 0..3000u64 {
                // 40 keys: 0 to 39 bytes (around INLINE), each 7s.
                let key = vec![7u8; (next() % 40) as usize];
                let what = next() % 10;
                let at = format!("seed {seed}, step {step}, op {what}");
                match what {
                    0..=3 => {
                        let a = ours.get(hash(&key), &key).map(|e| e.written_at);
                        assert_eq!(a, theirs.get(&key), "get: {at}");
                    }
                    4 if step % 2 == 0 => {
                        let a = ours.peek(hash(&key), &key).map(|e| e.written_at);
                        assert_eq!(a, theirs.list.peek(&key).copied(), "peek: {at}");
                    }
                    4 => {
                        let a = ours.update(hash(&key), &key, |e| {
                            e.written_at = step;
                            true
                        });
                        assert_eq!(a, theirs.update(&key, step), "update: {at}");
                    }
                    5 if step % 3 == 0 => {
                        let entry = Entry::new(Arc::from(&b"v"[..]), 0, step, None);
                        // The insert hands back the replaced value's length:
                        // which entry it replaced is read before.
                        let before = ours.peek(hash(&key), &key).map(|e| e.written_at);
                        let (old, gone) = ours.insert_evicting(hash(&key), &key, entry);
                        assert_eq!(old.is_some(), before.is_some(), "insert_evicting: {at}");
                        let (old, gone) = (
                            before.filter(|_| old == Some(1)),
                            gone.map(|(k, e)| (k.to_vec(), e.written_at)),
                        );
                        assert_eq!(
                            (old, gone),
                            theirs.insert_evicting(key.clone(), step),
                            "insert_evicting: {at}"
                        );
                    }
                    5..=7 => {
                        let entry = Entry::new(Arc::from(&b"v"[..]), 0, step, None);
                        let before = ours.peek(hash(&key), &key).map(|e| e.written_at);
                        let old = ours.insert(hash(&key), &key, entry);
                        let theirs_old = theirs.push(key.clone(), step);
                        assert_eq!(old.is_some(), before.is_some(), "insert: {at}");
                        assert_eq!(before.filter(|_| old == Some(1)), theirs_old, "insert: {at}");
                    }
                    8 => {
                        let a = ours.remove(hash(&key), &key).map(|e| e.written_at);
                        assert_eq!(a, theirs.pop(&key), "remove: {at}");
                    }
                    _ => {
                        let a = ours.pop_lru().map(|(k, e)| (k.to_vec(), e.written_at));
                        assert_eq!(a, theirs.pop_lru(), "evict: {at}");
                    }
                }
                assert_eq!(ours.len(), theirs.list.len(), "len: {at}");
                if step % 97 == 0 {
                    check(&ours);
                }
            }
            let order: Vec<Vec<u8>> = theirs.list.iter().map(|(k, _)| k.clone()).collect();
            assert_eq!(check(&ours), order, "final order, seed {seed}");
            for n in ours.nodes.iter() {
                if let Some(e) = &n.entry {
                    assert_eq!(
                        e.uses.load() != 0,
                        theirs.used.contains(&n.key[..]),
                        "mark of {:?}, seed {seed}",
                        &n.key[..]
                    );
                }
            }
        }
    }

    #[test]
    fn order_of_use_and_slot_reuse() {
        let mut l = Lru::default();
        assert!(l.pop_lru().is_none());
        for k in [b"a", b"b", b"c"] {
            assert!(l.insert(h(k), k, e()).is_none());
        }
        assert_eq!(check(&l), [b"c", b"b", b"a"]);
        // A hit marks "a" where it lies; a write moves "b" at once.
        assert!(l.get(h(b"a"), b"a").is_some());
        assert!(l.get(h(b"a"), b"a").is_some());
        assert_eq!(check(&l), [b"c", b"b", b"a"]);
        assert!(l.insert(h(b"b"), b"b", e()).is_some());
        assert_eq!(check(&l), [b"b", b"c", b"a"]);
        // A write in place marks "c" where it lies, as a hit would; a
        // declined one, nothing.
        assert!(!l.update(h(b"c"), b"c", |_| false));
        assert_eq!(l.order()[1], (b"c".to_vec(), false));
        assert!(l.update(h(b"c"), b"c", |_| true));
        assert_eq!(l.order()[1], (b"c".to_vec(), true));
        assert_eq!(check(&l), [b"b", b"c", b"a"]);
        // Its next move unmarks it: a write that stores an entry.
        assert!(l.insert(h(b"c"), b"c", e()).is_some());
        assert_eq!(l.order()[0], (b"c".to_vec(), false));
        assert!(l.insert(h(b"b"), b"b", e()).is_some());
        assert_eq!(check(&l), [b"b", b"c", b"a"]);
        assert!(l.peek(h(b"c"), b"c").is_some());
        // "a", at the back but hit, goes to the front; "c" (only peeked) goes.
        assert_eq!(&*l.pop_lru().unwrap().0, b"c");
        assert_eq!(check(&l), [b"a", b"b"]);
        assert!(l.remove(h(b"b"), b"b").is_some() && l.remove(h(b"b"), b"b").is_none());
        assert_eq!(check(&l), [b"a"]);
        for round in 0..100u32 {
            let k = round.to_be_bytes();
            l.insert(h(&k), &k, e());
            assert!(l.remove(h(&k), &k).is_some());
        }
        assert!(l.nodes.len() <= 3, "{} slots: freed slots are reused", l.nodes.len());
        // A lone entry, hit, is still evicted (after one move, onto itself).
        assert!(l.get(h(b"a"), b"a").is_some());
        assert_eq!(&*l.pop_lru().unwrap().0, b"a");
        assert_eq!(l.len(), 0);
        check(&l);
    }

    /// Every entry hit: one eviction moves them all to the front, in their
    /// order, unmarked, and evicts the one that was at the back.
    #[test]
    fn an_eviction_that_finds_every_entry_used_ends() {
        let mut l = Lru::default();
        for k in [b"a", b"b", b"c"] {
            l.insert(h(k), k, e());
        }
        for k in [b"a", b"b", b"c"] {
            assert!(l.get(h(k), k).is_some());
        }
        assert_eq!(&*l.pop_lru().unwrap().0, b"a");
        assert_eq!(check(&l), [b"c", b"b"]);
        assert!(l.order().iter().all(|(_, used)| !used));
    }
}
