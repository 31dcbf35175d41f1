//! L1: the in-memory tier, sharded, bounded by entries and bytes, with an
//! eviction policy chosen when the cache is opened: LRU (the default) or
//! S3-FIFO (`policy`, `lru`, `s3fifo`).
//!
//! Each shard is a `Policy` behind its own reader-writer lock
//! (`sync::ReadMostly`: see `Padded`); a key's shard is chosen by the same 64-bit hash the L2
//! index uses, and the shard's table files the key under that hash too
//! (`key::TableHasher`): the caller hashes a key once and passes the hash to
//! every method that takes the key. Short keys are held inside their nodes
//! (`key::Key`). The bounds are split evenly between the shards, so a value
//! larger than one shard's byte budget is never held in L1 (it is served
//! from L2). Values come in as `Value`s: a copy (`Arc<[u8]>`), or for a
//! large value read from L2 a slice of its segment's map (`Cache::promote`,
//! counted against the byte bound by its length); a node keeps a short
//! one's bytes in itself (`held`), so that a hit reads one node and nothing
//! else. A hit hands out a clone (a short value's bytes copied, a longer
//! one's pointer) made under the lock, and the bytes are copied out after
//! it is released, unless the get brings a
//! `Reader` that takes the bytes under the lock instead (the copying getters
//! of the C ABI, for values small enough: see `Reader`).
//!
//! A hit takes the shard's lock shared (`Memory::glance`), under either
//! policy: counting it is an atomic store in the entry (`Entry::uses`:
//! S3-FIFO's frequency, LRU's mark: see `lru` for why LRU no longer
//! relinks on a hit). Writes take it exclusively, so a hit sees the shard as the last
//! write of it left it.
//!
//! This module only stores and evicts; it never does I/O. The cache decides
//! what happens to entries that leave (write-back writes dirty ones to L2):
//! every method that takes entries out hands them back, marked `must_use`.
//!
//! A shard also holds what its keys' writers and readers coordinate on, under
//! the shard's lock: `seq`, bumped by every write of a key in the shard (a
//! get promotes a value read from L2 only if `seq` has not moved since its
//! miss), and the loads in flight for its keys (see `loader`). Both change
//! only through `wrote` (a write of a key), `hid` (a change of the log that
//! changes no value) and `sent` (a remote write came back: see `outgoing`),
//! and the count of remote writes on their way (`sending`), while which no
//! answer read from the remote tier is stored.

pub mod held;
mod key;
mod lru;
mod policy;
#[cfg(test)]
mod reference;
pub mod s3fifo;
mod slab;

pub use key::Key;
pub use policy::PolicyKind;
pub use s3fifo::S3Params;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::sync::Arc;

use crate::clock::Now;
use crate::loader::{Flight, Join};
use crate::meta::{self, Meta};
use crate::stripe::Counter;
use crate::sync::{ReadMostly, ReadMostlyWriteGuard};
use crate::value::Value;
pub use held::Held;
use policy::Policy;

/// Most shards a cache has.
const MAX_SHARDS: usize = 16;
/// Fewest entries a shard should be able to hold before the cache uses fewer shards.
///
/// Small on purpose: a small L1 in front of a large L2 (64 entries, say) is
/// written on nearly every get, by the promotion of each L2 hit, and every
/// write takes its shard's lock exclusively. With one shard that lock is
/// cache-wide and threads hitting L2 queue on it; with 8 entries a shard, a
/// 64-entry L1 has 8 shards. The price is the policy's order kept per
/// shard, not cache-wide (an L1 under 16 entries stays one shard).
const MIN_ENTRIES_PER_SHARD: u64 = 8;
/// Fewest bytes a shard should be able to hold before the cache uses fewer shards.
const MIN_BYTES_PER_SHARD: u64 = 1 << 20;

/// Shard `i`'s share of a bound of `total` (0: none) over `n` shards. The
/// shares add up to `total` exactly (the first `total % n` shards get one
/// more), so the cache as a whole never holds more than its bound.
fn share(total: u64, n: u64, i: u64) -> u64 {
    if total == 0 {
        return 0;
    }
    // Never 0, which would mean no bound (`new` gives each shard at least
    // MIN_ENTRIES_PER_SHARD entries and MIN_BYTES_PER_SHARD bytes anyway).
    (total / n + u64::from(i < total % n)).max(1)
}

/// One cached value: as the cache hands it to L1 (`Entry`, its value a
/// `Value`), and as a policy's node holds it (`Resident`, its value `Held`:
/// a short value's bytes in the node itself, see `held`). The node converts
/// at its boundary: `Entry::resident` when an entry goes in, `Resident::leave`
/// when it comes out (an eviction, a removal).
///
/// In declaration order (`repr(C)`): what a hit reads first (`expires_at`
/// and `meta` for `valid`; then `dirty`, whose spare values are where
/// `Option<Resident>`, as a policy's node holds it, says `None`, so a hit's
/// `Option::as_ref` reads that byte; then `uses`, which the hit marks),
/// 18 bytes, so that a policy's node can put them on the line of the key
/// it compares; then `value`, whose bytes a hit copies, inline ones on the
/// lines that follow (see `lru::Node`). The fields only writes read come
/// last.
#[derive(Debug, Clone)]
#[repr(C)]
pub struct Entry<V = Value> {
    /// Absolute expiry in ms since the epoch (0: never).
    pub expires_at: u64,
    /// Tags and file dependency, for the few entries that have any.
    pub meta: Option<Arc<Meta>>,
    /// Write-back only: L2 does not have this value yet.
    pub dirty: bool,
    /// The policy's count of this entry's uses (see `Uses`).
    pub uses: Uses,
    /// A copy of the bytes, or for a large value read from L2 the bytes in
    /// the segment's map (`Value::Mapped`, see `Cache::promote`): a value
    /// held mapped is never dirty, and counts against the byte bound like
    /// a copy of its length.
    pub value: V,
    /// When the put or load that wrote the value happened, ms since the epoch.
    pub written_at: u64,
    /// The log's witness of the record that the put which stored this
    /// value appended (`log::Witness`), handed back with the key's next
    /// put so that it finds the key's index entry without reading the old
    /// record. Held in this key's entry only, and set only from a put of
    /// this key (`Cache::store_into`, `Cache::store_bytes`): that is what
    /// ties the witness to the key (a load's answer, stored the same way,
    /// gets one too). `None` when that write appended no record (memory
    /// only, write-back, a failing disk) or the value was promoted from a
    /// read of L2; the next put then compares keys.
    pub logged: Option<crate::log::Witness>,
}

/// An entry as a policy's node holds it (see `Entry`).
pub type Resident = Entry<Held>;

impl Resident {
    /// Where, counted from a policy node's start, each field of an entry
    /// at `at` in the node that a hit reads before the value's bytes ends
    /// (the expiry, the meta, the live byte, the mark), and where the value
    /// ends: the policies' layout tests check where these lie (`lru::Node`).
    #[cfg(test)]
    pub(crate) fn hit_fields_end(at: usize) -> ([usize; 4], usize) {
        use std::mem::{offset_of, size_of};
        // `Option<Resident>`, which the nodes hold, is laid out as the entry
        // itself (a niche of its fields holds `None`): no tag before them.
        assert_eq!(size_of::<Option<Resident>>(), size_of::<Resident>());
        (
            [
                at + offset_of!(Resident, expires_at) + size_of::<u64>(),
                at + offset_of!(Resident, meta) + size_of::<Option<Arc<Meta>>>(),
                at + offset_of!(Resident, dirty) + size_of::<bool>(),
                at + offset_of!(Resident, uses) + size_of::<Uses>(),
            ],
            at + offset_of!(Resident, value) + size_of::<Held>(),
        )
    }

    /// Puts `e` in this entry's place and hands the old one out (see
    /// `Held::replace`): a victim's slot taken by the new entry.
    #[inline]
    pub fn replace(&mut self, e: Entry) -> Entry {
        Entry {
            expires_at: std::mem::replace(&mut self.expires_at, e.expires_at),
            meta: std::mem::replace(&mut self.meta, e.meta),
            dirty: std::mem::replace(&mut self.dirty, e.dirty),
            uses: std::mem::replace(&mut self.uses, e.uses),
            value: self.value.replace(e.value),
            written_at: std::mem::replace(&mut self.written_at, e.written_at),
            logged: std::mem::replace(&mut self.logged, e.logged),
        }
    }

    /// Puts `e` in this entry's place and drops the old one there (an old
    /// value held inline is not copied out first, as `replace` would);
    /// returns the old value's length (for the shard's byte count).
    #[inline]
    pub fn overwrite_with(&mut self, e: Entry) -> usize {
        let len = self.value.len();
        *self = e.resident();
        len
    }

    /// The entry as it leaves the node: its value handed out as a `Value`
    /// (inline bytes copied to the heap).
    pub fn leave(self) -> Entry {
        self.map_value(Held::into_value)
    }
}

impl Entry {
    /// A clean entry (the cache marks it dirty when it stores it under
    /// write-back).
    pub fn new(value: Arc<[u8]>, expires_at: u64, written_at: u64, meta: Option<Arc<Meta>>) -> Entry {
        Entry {
            value: Value::Heap(value),
            expires_at,
            written_at,
            meta,
            dirty: false,
            uses: Uses::default(),
            logged: None,
        }
    }

    /// The entry as a policy's node holds it (a short value copied in).
    #[inline]
    pub fn resident(self) -> Resident {
        self.map_value(Held::of)
    }
}

impl<V> Entry<V> {
    /// The same entry with its value made into another form (`resident`,
    /// `leave`): every other field moved as it is.
    #[inline]
    fn map_value<W>(self, f: impl FnOnce(V) -> W) -> Entry<W> {
        Entry {
            expires_at: self.expires_at,
            meta: self.meta,
            dirty: self.dirty,
            uses: self.uses,
            value: f(self.value),
            written_at: self.written_at,
            logged: self.logged,
        }
    }

    /// Whether the entry can be served at `now`: not expired, and its file
    /// dependency (if any) holds — that costs one `stat`.
    #[inline]
    pub fn valid(&self, now: &Now) -> Validity {
        if now.expired(self.expires_at) {
            Validity::Expired
        } else if !meta::holds(self.meta.as_deref()) {
            Validity::Stale
        } else {
            Validity::Valid
        }
    }
}

/// How often an entry was used since its policy last looked: LRU's mark (0
/// or 1: hit since the entry's last move, see `lru`), S3-FIFO's frequency
/// (0 to 3, see `s3fifo`). Counted by a hit under the shard's shared lock
/// (hence an atomic), read and reset by the policy under the exclusive one.
///
/// Why in the entry rather than in the policy's node: it fills what was
/// the padding after `dirty`, on the line a hit reads anyway (see `Entry`),
/// and the fields of LRU's node take 8 bytes fewer for it (`lru::Node`).
#[derive(Debug, Default)]
pub struct Uses(AtomicU8);

impl Uses {
    /// Counts a use, up to `max`. A racy increment is fine (two hits may
    /// count as one); not writing a count already at `max` keeps a hot
    /// entry's line shared between the cores that hit it.
    #[inline]
    pub(crate) fn bump(&self, max: u8) {
        let n = self.0.load(Relaxed);
        if n < max {
            self.0.store(n + 1, Relaxed);
        }
    }

    /// The count (under the shard's exclusive lock).
    pub(crate) fn get(&mut self) -> u8 {
        *self.0.get_mut()
    }

    /// Sets the count (under the shard's exclusive lock).
    pub(crate) fn set(&mut self, n: u8) {
        *self.0.get_mut() = n;
    }

    /// The count, through a shared reference (for tests).
    #[cfg(test)]
    pub(crate) fn load(&self) -> u8 {
        self.0.load(Relaxed)
    }
}

/// A copy of an entry is a new entry: not yet used.
impl Clone for Uses {
    fn clone(&self) -> Uses {
        Uses::default()
    }
}

/// What `Entry::valid` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    Valid,
    Expired,
    /// The file it depends on changed or went away.
    Stale,
}

/// What a hit does with the value while the shard's lock is still held.
///
/// A get that only copies the value out (`tc_get_into`, `tc_get`) can take
/// the bytes here instead of having the entry's `Arc` cloned: the clone and
/// its drop after the copy are two atomic read-modify-writes of the value's
/// first cache line, which at a working set larger than the CPU cache is a
/// line missed and then written twice, where a copy only reads it. The
/// price is a longer hold of the lock, so a reader does only what takes a
/// moment: it copies into memory it has or allocates from the allocator's
/// per-thread cache (nothing that may take a lock or make a system call;
/// see `ffi::copy`), calls no user code, and declines values too large to
/// copy at once.
pub trait Reader {
    /// `value` is a servable entry's (unexpired, its dependency holding),
    /// already counted as a use by the policy. `true`: the reader took what
    /// it needed and the hit hands out nothing (`Lookup::Read`,
    /// `Glance::Read`); `false`: the hit hands out the entry's `Arc`.
    ///
    /// The cache also offers it an L2 hit's value, with no lock held, just
    /// before promoting it (`Cache::plain_miss`): if it takes that, L1
    /// keeps the copy read from L2 without cloning its `Arc` for the get.
    fn read(&mut self, value: &[u8]) -> bool;

    /// The calling thread's stripe (`crate::stripe::mine()`), on which a
    /// hit under a shard's shared lock is counted (`Memory::glance`). A
    /// reader made by a call that has looked it up already (the C ABI's
    /// getters, entering the handle's gate) hands that one over and spares
    /// the hit a second thread-local lookup.
    #[inline]
    fn stripe(&self) -> usize {
        crate::stripe::mine()
    }
}

/// The reader of a get that keeps the value (`Cache::get_value`): takes
/// nothing, so a hit hands out L1's `Arc`.
impl Reader for () {
    #[inline(always)]
    fn read(&mut self, _: &[u8]) -> bool {
        false
    }
}

/// What L1 has for a key.
///
/// When L1 holds an entry for a key, expired or not, it is the newest word on
/// that key: L2 holds the same record (write-through) or an older one
/// (write-back). So an expired entry means "no value", not "ask L2".
#[derive(Debug)]
pub enum Lookup {
    Hit(Value),
    /// A hit whose value the get's `Reader` took under the lock.
    Read,
    /// No entry: L2 may have the key.
    Miss,
    /// The entry had expired, or its file dependency no longer held
    /// (`stale`), and was dropped. If it was dirty, L2 may still hold an
    /// older value of the key, which the write superseded.
    Expired {
        dirty: bool,
        stale: bool,
    },
}

/// What `Memory::glance` saw under a shard's shared lock.
#[derive(Debug)]
pub enum Glance {
    /// A servable entry, counted as a hit by the policy.
    Hit(Value),
    /// As `Hit`, and the get's `Reader` took the value under the lock.
    Read,
    /// No entry for the key, and the shard's write counter then (`seq`): as
    /// good a miss as one seen by the exclusive path, for a get that
    /// registers no load (so a miss without a loader takes the shard's lock
    /// once, not a second time).
    Absent(u64),
    /// Nothing this look can answer (an entry that can no longer be served,
    /// which must be dropped): take the exclusive path (`lock` and
    /// `Shard::get`).
    Exclusive,
}

/// What `Memory::glance` makes of the entry it found (already counted as a
/// use by the policy), under the shard's lock.
#[inline]
fn glanced(e: &Resident, now: &Now, reader: &mut impl Reader) -> Glance {
    if e.valid(now) != Validity::Valid {
        return Glance::Exclusive;
    }
    if reader.read(&e.value) {
        Glance::Read
    } else {
        Glance::Hit(e.value.to_value())
    }
}

/// An entry pushed out of L1 by an insert, or taken out by `remove_where`,
/// with its key (moved out of the node: a short key is not copied to the
/// heap on its way out).
pub type Evicted = (Key, Entry);

/// The bytes an entry counts against the L1 bound.
pub fn entry_size(key: &[u8], value: &[u8]) -> u64 {
    (key.len() + value.len()) as u64
}

pub struct Shard {
    policy: Policy,
    bytes: u64,
    max_entries: u64,
    max_bytes: u64,
    /// Bumped by every write of a key in this shard (see the module doc).
    seq: u64,
    /// The hits answered under this shard's exclusive lock (`read`). A
    /// plain count: only the lock's holder writes it, and such a hit holds
    /// the lock already, so counting it writes a line the hit owns anyway,
    /// where a shared counter (even striped by thread) is one more atomic
    /// read-modify-write per hit.
    hits: u64,
    /// The entries inserts pushed out of this shard to keep it within its
    /// bounds. Counted here, not in a counter of the cache, for the same
    /// reason as `hits`: with an L1 smaller than the working set nearly
    /// every L2 hit's promotion evicts, under the lock the insert holds.
    evictions: u64,
    /// Whether an entry of this shard may hold a mapped value
    /// (`Value::Mapped`): set by every insert of one, cleared only by a
    /// sweep that found none left (`Memory::unmap_departed`). So the sweep,
    /// which follows every segment deletion, skips the shards that never
    /// held one instead of visiting every entry of L1 under their locks.
    may_map: bool,
    /// The loads in flight for keys of this shard, by key.
    flights: HashMap<Box<[u8]>, Arc<Flight>>,
    /// Remote writes of this shard's keys on their way to the server
    /// (`outgoing`): while any is, no answer read from the remote tier is
    /// stored here.
    sending: u32,
}

/// A shard locked exclusively: for every write (and a get's exclusive path).
pub type ShardGuard<'a> = ReadMostlyWriteGuard<'a, Shard>;

/// A shard's lock is a `ReadMostly` (`stripe`): a hit, under the shared
/// side, counts itself in its thread's stripe of the lock, a cache line
/// only that thread writes, and reads the lock's state, which only writes
/// change. With a reader-writer lock whose word every shared lock writes,
/// two threads hitting a hot working set moved that word between their
/// cores on about every other hit (16 shards, two threads: the last to
/// write it was the other thread half the time), and the hit path did not
/// scale with threads (BENCHMARKS.md, "Go `GetParallel`"). What it costs:
/// a write (a put, a promotion, an eviction's) takes the lock's state by
/// a compare-and-swap, then reads every stripe's count, four lines.
///
/// Aligned to two cache lines (the adjacent-line prefetcher pairs them) so
/// that neighbouring shards' locks and list ends never share a line.
#[repr(align(128))]
struct Padded(ReadMostly<Shard>);

/// The memory tier's sizes and counts (`Memory::tally`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Entries now.
    pub entries: u64,
    /// Key plus value bytes now.
    pub bytes: u64,
    /// Hits answered (every `Lookup::Hit` and `Lookup::Read`, every
    /// `Glance::Hit` and `Glance::Read`: each is one hit of a get).
    pub hits: u64,
    /// Entries pushed out to stay within the bounds (`Shard::insert`).
    pub evictions: u64,
}

pub struct Memory {
    shards: Box<[Padded]>,
    /// The hits answered under a shard's shared lock (`glance`), which
    /// cannot write the shard's `hits`: striped by thread.
    hits_shared: Counter,
    /// Every shard's byte bound (0: none), for `fits` without a lock.
    shard_bytes: u64,
}

impl Memory {
    /// An L1 bounded by `max_entries` and `max_bytes` (0: no bound on that),
    /// evicting by `kind`.
    pub fn new(max_entries: u64, max_bytes: u64, kind: PolicyKind) -> Memory {
        let mut n = MAX_SHARDS as u64;
        if max_entries > 0 {
            n = n.min((max_entries / MIN_ENTRIES_PER_SHARD).max(1));
        }
        if max_bytes > 0 {
            n = n.min((max_bytes / MIN_BYTES_PER_SHARD).max(1));
        }
        // A power of two, so the shard is picked with a mask.
        Memory::with_shards(1u64 << (63 - n.leading_zeros()), max_entries, max_bytes, kind)
    }

    /// `new`, with `n` shards (a power of two) sharing the bounds.
    fn with_shards(n: u64, max_entries: u64, max_bytes: u64, kind: PolicyKind) -> Memory {
        assert!(n.is_power_of_two(), "shards are picked with a mask");
        let shards = (0..n)
            .map(|i| {
                let (max_entries, max_bytes) = (share(max_entries, n, i), share(max_bytes, n, i));
                Padded(ReadMostly::new(Shard {
                    policy: Policy::new(kind, max_entries, max_bytes),
                    bytes: 0,
                    max_entries,
                    max_bytes,
                    seq: 0,
                    hits: 0,
                    evictions: 0,
                    may_map: false,
                    flights: HashMap::new(),
                    sending: 0,
                }))
            })
            .collect();
        Memory {
            shards,
            hits_shared: Counter::default(),
            // Shard 0's share is the largest.
            shard_bytes: share(max_bytes, n, 0),
        }
    }

    /// Whether an entry of `key` with a value `len` bytes long can be held
    /// at all (as `Shard::fits` of the largest shard, without taking a lock).
    pub fn fits(&self, key: &[u8], len: usize) -> bool {
        self.shard_bytes == 0 || entry_size(key, &[]) + len as u64 <= self.shard_bytes
    }

    fn shard(&self, h: u64) -> &ReadMostly<Shard> {
        &self.shards[self.shard_index(h)].0
    }

    /// Which shard holds the key with hash `h`: its place in `lock_all`'s
    /// guards.
    pub fn shard_index(&self, h: u64) -> usize {
        // The low bits of xxh3 are as good as the high ones. (The shard's
        // table files keys by other bits: see `key::TableHasher`.)
        (h as usize) & (self.shards.len() - 1)
    }

    /// Locks the shard of the key with hash `h`, exclusively.
    // On every L2 hit's path: see `ffi::boundary::guard`.
    #[inline]
    pub fn lock(&self, h: u64) -> ShardGuard<'_> {
        self.shard(h).write()
    }

    /// A first look at `key` (hash `h`), which answers a hit and a plain
    /// miss, under its shard's shared lock (both policies count a hit
    /// there). A hit is offered to `reader` under the lock. An entry that
    /// can no longer be served is left for the exclusive path to drop
    /// (`Glance::Exclusive`), which locks the shard again.
    ///
    /// Why a get looks here before it takes the exclusive path (`lock` and
    /// `Shard::read`): a hit is most gets, and this way it returns before
    /// the caller sets up what only a miss needs (the loads it leads, the
    /// loop that retries a promotion), and without excluding the other
    /// threads' hits of the shard.
    #[inline]
    pub fn glance(&self, h: u64, key: &[u8], now: &Now, reader: &mut impl Reader) -> Glance {
        let shard = self.shard(h).read_on(reader.stripe());
        self.look(&shard, h, key, now, reader)
    }

    /// `glance` if the shard's shared lock can be had without waiting;
    /// `None` while a write of the shard is in or waiting for the readers
    /// to leave. For a get made with a lock of the caller's held
    /// (`ffi::made`), which must not wait for a writer.
    #[inline]
    pub fn try_glance(&self, h: u64, key: &[u8], now: &Now, reader: &mut impl Reader) -> Option<Glance> {
        let shard = self.shard(h).try_read_on(reader.stripe())?;
        Some(self.look(&shard, h, key, now, reader))
    }

    /// `glance`'s look, in `shard`, held shared.
    #[inline]
    fn look(&self, shard: &Shard, h: u64, key: &[u8], now: &Now, reader: &mut impl Reader) -> Glance {
        // Counted as a use even if it can no longer be served, as
        // `Shard::read` does: the exclusive path drops it next anyway.
        let g = match shard.policy.get(h, key) {
            None => Glance::Absent(shard.seq),
            Some(e) => glanced(e, now, reader),
        };
        if matches!(g, Glance::Hit(_) | Glance::Read) {
            self.hits_shared.bump_at(reader.stripe());
        }
        g
    }

    /// Every shard, one at a time.
    pub fn for_each_shard(&self, mut f: impl FnMut(&mut Shard)) {
        for s in self.shards.iter() {
            f(&mut s.0.write());
        }
    }

    /// Turns every value that maps a segment gone from the log into a copy
    /// (see `sweep`), one shard at a time under its lock; returns how many.
    /// The bytes, and so the byte count, stay as they were.
    pub fn unmap_departed(&self) -> u64 {
        // The mapped values are dropped after the locks: the last one of a
        // map unmaps it, a system call no get of the shard should wait for.
        let mut unmapped = Vec::new();
        self.for_each_shard(|shard| {
            if !shard.may_map {
                return;
            }
            let mut still = false;
            for (_, e) in shard.policy.iter_mut() {
                if e.value.maps_a_departed_segment() {
                    let copy = Held::Shared(Value::Heap(e.value.to_arc()));
                    unmapped.push(std::mem::replace(&mut e.value, copy));
                } else {
                    still |= e.value.is_mapped();
                }
            }
            shard.may_map = still;
        });
        unmapped.len() as u64
    }

    /// Every shard at once, locked in order: an operation on the whole
    /// cache holding them is atomic with respect to every write of a key.
    pub fn lock_all(&self) -> Vec<ShardGuard<'_>> {
        self.shards.iter().map(|s| s.0.write()).collect()
    }

    /// What the memory tier holds now and has counted since it was made.
    pub fn tally(&self) -> Tally {
        let mut t = Tally {
            hits: self.hits_shared.get(),
            ..Tally::default()
        };
        self.for_each_shard(|s| {
            t.entries += s.policy.len() as u64;
            t.bytes += s.bytes;
            t.hits = t.hits.wrapping_add(s.hits);
            t.evictions = t.evictions.wrapping_add(s.evictions);
        });
        t
    }
}

impl Shard {
    /// The write counter now (see the module doc).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Every write of `key` (a put, a touch, a removal, even one that finds
    /// no value) calls this under the shard's lock: promotions read before
    /// it are refused, and a load of the key that started before it will
    /// not be stored (DESIGN.md: a loader's answer is stored only if no
    /// write of the key completed after the miss; docs/CONSISTENCY.md §2).
    pub fn wrote(&mut self, key: &[u8]) {
        self.seq += 1;
        if !self.flights.is_empty() {
            self.flights.remove(key);
        }
    }

    /// A remote write of a key of this shard is on its way, begun under
    /// this lock with its local half (`outgoing::Outgoing`).
    pub fn sending(&mut self) {
        self.sending += 1;
    }

    /// A remote write begun by `sending` is back. An answer read from the
    /// remote tier before now may predate it: promotions and remote answers
    /// read before are refused (`seq`), and the loads that may be reading
    /// one are cancelled: of `key`, or of every key for a removal of many.
    pub fn sent(&mut self, key: Option<&[u8]>) {
        self.sending -= 1;
        match key {
            Some(k) => self.wrote(k),
            None => {
                self.seq += 1;
                self.flights.clear();
            }
        }
    }

    /// Whether an answer read from the remote tier may be stored here now:
    /// no remote write of this shard's keys is on its way. (One that has
    /// come back since the answer was read moved `seq`, or cancelled the
    /// answer's load.)
    pub fn takes_remote(&self) -> bool {
        self.sending == 0
    }

    /// The log changed under this shard without any value changing (a
    /// tombstone that hides an expired value): refuse promotions read before.
    pub fn hid(&mut self) {
        self.seq += 1;
    }

    /// The keys with a load in flight, for which `matches` says yes.
    pub fn loading(&self, mut matches: impl FnMut(&[u8]) -> bool) -> Vec<Box<[u8]>> {
        self.flights.keys().filter(|k| matches(k)).cloned().collect()
    }

    /// Joins the load of `key`, registering a new flight if none is in the air.
    pub fn join(&mut self, key: &[u8]) -> Join {
        if let Some(f) = self.flights.get(key) {
            return if f.led_by_me() {
                Join::Recursive
            } else {
                Join::Follower(f.clone())
            };
        }
        let f = Flight::new();
        self.flights.insert(key.into(), f.clone());
        Join::Leader(f)
    }

    /// Whether `flight` is still the registered load of `key`: no write of
    /// the key came since it began.
    pub fn still_loading(&self, key: &[u8], flight: &Arc<Flight>) -> bool {
        self.flights.get(key).is_some_and(|f| Arc::ptr_eq(f, flight))
    }

    /// Ends `flight`'s registration; says whether it was still registered,
    /// that is, whether no write of the key came since it began.
    pub fn land(&mut self, key: &[u8], flight: &Arc<Flight>) -> bool {
        match self.flights.get(key) {
            Some(f) if Arc::ptr_eq(f, flight) => {
                self.flights.remove(key);
                true
            }
            _ => false,
        }
    }

    /// The unexpired value of `key`, counted as a use by the policy. An
    /// expired entry is dropped on the way.
    ///
    /// `h` is the cache's hash of `key` (the one its shard was locked by),
    /// here and in every method below that takes a key: the policy files
    /// keys under it and never hashes a key again.
    pub fn get(&mut self, h: u64, key: &[u8], now: &Now) -> Lookup {
        self.read(h, key, now, &mut ())
    }

    /// `get`, with a hit's value offered to `reader` first (under this
    /// lock): `Lookup::Read` if it took it.
    pub fn read(&mut self, h: u64, key: &[u8], now: &Now, reader: &mut impl Reader) -> Lookup {
        let Some(e) = self.policy.get(h, key) else {
            return Lookup::Miss;
        };
        let validity = e.valid(now);
        if validity != Validity::Valid {
            let dirty = e.dirty;
            // The caller learns of a dirty entry through `Lookup::Expired`.
            let _ = self.remove(h, key);
            return Lookup::Expired {
                dirty,
                stale: validity == Validity::Stale,
            };
        }
        let read = reader.read(&e.value);
        self.hits += 1;
        if read {
            return Lookup::Read;
        }
        Lookup::Hit(e.value.to_value())
    }

    /// `key`'s entry, expired or not, without touching recency.
    pub fn peek(&self, h: u64, key: &[u8]) -> Option<&Resident> {
        self.policy.peek(h, key)
    }

    /// The keys starting with `prefix` whose entries have not expired.
    pub fn live_keys(&self, prefix: &[u8], now: &Now) -> Vec<Box<[u8]>> {
        self.policy
            .iter()
            .filter(|(_, k, e)| k.starts_with(prefix) && !now.expired(e.expires_at))
            .map(|(_, k, _)| k.into())
            .collect()
    }

    /// `Some(live)` if L1 has an entry for `key` (live: not expired, its
    /// dependency holding), `None` if it has none. Does not touch recency.
    pub fn peek_live(&self, h: u64, key: &[u8], now: &Now) -> Option<bool> {
        self.policy.peek(h, key).map(|e| e.valid(now) == Validity::Valid)
    }

    /// Whether an entry this size can be held at all.
    pub fn fits(&self, key: &[u8], value: &[u8]) -> bool {
        self.max_bytes == 0 || entry_size(key, value) <= self.max_bytes
    }

    /// A clean put of `value` (no meta) over `key`, with one lookup of the
    /// key: `append` appends the put's record (and holds the log's lock in
    /// what it returns); then the key is looked up, and `settle` is given
    /// what `append` returned and the witness the key's entry holds of its
    /// last record (`None` if the key is not held), and returns a ticket
    /// and the new record's witness; then the value is stored in the
    /// buffer of the value it replaces, if the key is held with a value of
    /// this length that nothing else holds (`Arc::get_mut`: no reader, no
    /// `tc_value` has it, so no one can see the bytes change). Counted as a
    /// use, as `insert` counts it; the sizes, and so the bounds, stay as
    /// they were. Returns what `settle` returned, and whether the value was
    /// stored: if not, nothing in the shard changed and the caller
    /// `insert`s it (with the witness).
    ///
    /// Why: a put over a key held in L1 spent about 170 of its instructions
    /// allocating the new value's copy and freeing the old one; and looking
    /// the key up once for the witness and again to store the value cost
    /// about 110 more than one lookup (the second walk hit the same lines).
    /// Why the lookup after `append`: the key's node is asked for before
    /// it (`Policy::prefetch`) and loads while the record is encoded and
    /// the log's index is read (`log::appending`).
    ///
    /// Both run under this shard's lock (the caller's), `settle` with the
    /// entry found but not yet changed, so the key's writes reach the log
    /// and L1 in one order, as `Cache::store_into`'s do.
    #[allow(clippy::too_many_arguments)]
    pub fn overwrite_logged<P, T>(
        &mut self,
        h: u64,
        key: &[u8],
        value: &[u8],
        expires_at: u64,
        written_at: u64,
        append: impl FnOnce() -> P,
        settle: impl FnOnce(P, Option<crate::log::Witness>) -> (T, Option<crate::log::Witness>),
    ) -> (T, Option<crate::log::Witness>, bool) {
        self.policy.prefetch(h);
        // Called exactly once: in the closure if the key is held, else below.
        let mut log = Some((append(), settle));
        let mut settled = None;
        let stored = self.policy.update(h, key, |e| {
            let (appended, settle) = log.take().expect("called once");
            let (t, logged) = settle(appended, e.logged);
            settled = Some((t, logged));
            // In place only if the bytes are the node's or the buffer is
            // this entry's alone, and of this length (`Held::overwrite`).
            if !e.value.overwrite(value) {
                return false;
            }
            e.expires_at = expires_at;
            e.written_at = written_at;
            e.meta = None;
            e.dirty = false;
            e.logged = logged;
            true
        });
        let (t, logged) = match settled {
            Some(s) => s,
            None => {
                let (appended, settle) = log.take().expect("called once");
                settle(appended, None)
            }
        };
        (t, logged, stored)
    }

    /// The witness of the log record that `key`'s entry was last written
    /// to, if it holds one (see `Entry::logged`). Does not touch recency.
    pub fn logged(&self, h: u64, key: &[u8]) -> Option<crate::log::Witness> {
        self.policy.peek(h, key).and_then(|e| e.logged)
    }

    /// Stores `entry` (the caller has checked `fits`); entries pushed out to
    /// stay within the bounds are appended to `evicted`, least recent first,
    /// for the caller to deal with (dirty ones must reach L2).
    pub fn insert(&mut self, h: u64, key: &[u8], entry: Entry, evicted: &mut Vec<Evicted>) {
        let size = entry_size(key, &entry.value);
        self.may_map |= entry.value.is_mapped();
        // Only an insert that may evict settles (`Policy::settle`): below
        // the bounds, moving the entries hit would only unmark them for
        // their next hits to mark again.
        let (old, victim) = if self.max_entries > 0 && self.policy.len() as u64 >= self.max_entries {
            // At the entry bound (a small L1 under L2 hits: every promotion
            // evicts): the insert and its eviction in one step, which
            // settles first.
            self.policy.insert_evicting(h, key, entry)
        } else {
            if self.max_bytes > 0 && self.bytes + size > self.max_bytes {
                self.policy.settle();
            }
            (self.policy.insert(h, key, entry), None)
        };
        self.bytes += size;
        if let Some(old_len) = old {
            self.bytes -= entry_size(key, &[]) + old_len as u64;
        }
        if let Some((k, e)) = victim {
            self.bytes -= entry_size(&k, &e.value);
            self.evictions += 1;
            evicted.push((k, e));
        }
        while (self.max_entries > 0 && self.policy.len() as u64 > self.max_entries)
            || (self.max_bytes > 0 && self.bytes > self.max_bytes)
        {
            let Some((k, e)) = self.policy.pop_victim() else {
                break;
            };
            self.bytes -= entry_size(&k, &e.value);
            self.evictions += 1;
            evicted.push((k, e));
        }
    }

    #[must_use = "a dirty entry taken out must be written to L2 or meant to go"]
    pub fn remove(&mut self, h: u64, key: &[u8]) -> Option<Entry> {
        let e = self.policy.remove(h, key)?;
        self.bytes -= entry_size(key, &e.value);
        Some(e)
    }

    /// Removes every entry for which `doomed` says yes, returning them.
    #[must_use = "a dirty entry taken out must be written to L2 or meant to go"]
    pub fn remove_where(&mut self, mut doomed: impl FnMut(&[u8], &Resident) -> bool) -> Vec<Evicted> {
        let keys: Vec<(u64, Key)> = self
            .policy
            .iter()
            .filter(|(_, k, e)| doomed(k, e))
            .map(|(h, k, _)| (h, Key::new(k)))
            .collect();
        keys.into_iter()
            .filter_map(|(h, k)| {
                let e = self.remove(h, &k)?;
                Some((k, e))
            })
            .collect()
    }

    /// Calls `f` on every dirty entry, marking it clean when `f` succeeds.
    pub fn clean_dirty<E>(&mut self, mut f: impl FnMut(&[u8], &Resident) -> Result<(), E>) -> Result<(), E> {
        for (k, e) in self.policy.iter_mut() {
            if e.dirty {
                f(k, e)?;
                e.dirty = false;
            }
        }
        Ok(())
    }

    /// Drops every entry, dirty ones too: for a clear of the whole cache.
    pub fn clear(&mut self) {
        self.policy.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Witness;

    /// The cache's hash of `k`.
    fn h(k: &[u8]) -> u64 {
        crate::log::key_hash(k)
    }

    fn entry(v: &[u8]) -> Entry {
        Entry {
            value: Value::Heap(Arc::from(v)),
            expires_at: 0,
            written_at: 0,
            meta: None,
            dirty: false,
            uses: Uses::default(),
            logged: None,
        }
    }

    #[test]
    fn small_bounds_use_one_shard_and_evict_lru() {
        let m = Memory::new(2, 0, PolicyKind::Lru);
        assert_eq!(m.shards.len(), 1);
        let mut ev = Vec::new();
        let mut s = m.lock(0);
        s.insert(h(b"a"), b"a", entry(b"1"), &mut ev);
        s.insert(h(b"b"), b"b", entry(b"2"), &mut ev);
        assert!(matches!(
            s.get(h(b"a"), b"a", &Now::new(&crate::clock::Clock::manual(1))),
            Lookup::Hit(_)
        )); // a is now most recent
        s.insert(h(b"c"), b"c", entry(b"3"), &mut ev);
        assert_eq!(ev.len(), 1);
        assert_eq!(&*ev[0].0, b"b");
        assert_eq!(s.bytes, 4);
    }

    /// A small L1 in front of L2 is written by every promotion: 64 entries
    /// get 8 shards (8 locks), not one cache-wide lock; under 16 entries, or
    /// under 2 MiB, it stays one exact LRU.
    #[test]
    fn shard_counts_follow_the_bounds() {
        for (entries, bytes, shards) in [
            (64, 0, 8),
            (64, 1 << 30, 8),
            (100, 0, 8),
            (1000, 0, MAX_SHARDS),
            (15, 0, 1),
            (16, 0, 2),
            (64, 1 << 20, 1),
            (0, 4 << 20, 4),
            (1 << 20, 0, MAX_SHARDS),
        ] {
            let m = Memory::new(entries, bytes, PolicyKind::Lru);
            assert_eq!(m.shards.len(), shards, "{entries} entries, {bytes} bytes");
            // The shards' bounds add up to the cache's, not more.
            let (mut e, mut b) = (0, 0);
            m.for_each_shard(|s| {
                e += s.max_entries;
                b += s.max_bytes;
            });
            assert_eq!((e, b), (entries, bytes));
        }
    }

    /// `overwrite_logged` with a log that records the witness it is
    /// given and hands back `w`: (what the log saw, whether it stored).
    fn overwrite(
        s: &mut Shard,
        key: &[u8],
        value: &[u8],
        expires_at: u64,
        written_at: u64,
        w: Option<Witness>,
    ) -> (Vec<Option<Witness>>, bool) {
        let mut seen = Vec::new();
        let mut appended = 0;
        let ((), logged, stored) = s.overwrite_logged(
            h(key),
            key,
            value,
            expires_at,
            written_at,
            || appended += 1,
            |(), known| {
                seen.push(known);
                ((), w)
            },
        );
        assert_eq!(appended, 1, "the record is appended once");
        assert_eq!(logged, w, "the log's witness comes back");
        (seen, stored)
    }

    /// The sweep visits a shard only while it may hold a mapped value: an
    /// insert of one marks the shard (`may_map`), and a sweep that finds
    /// none left there unmarks it; one that finds a value of a departed
    /// segment copies it.
    #[test]
    fn the_sweep_visits_only_shards_that_may_hold_a_mapped_value() {
        let dir = tempfile::tempdir().unwrap();
        let (map, life) = crate::value::Map::for_tests(&dir.path().join("segment"), b"0123456789");
        let mapped = |at: std::ops::Range<usize>| Entry {
            value: Value::mapped(&map, &map[at]),
            ..entry(b"")
        };
        let m = Memory::new(16, 0, PolicyKind::Lru);
        let may_map = |m: &Memory| m.lock(0).may_map;
        let mut ev = Vec::new();
        m.lock(0).insert(h(b"h"), b"h", entry(b"heap"), &mut ev);
        assert!(!may_map(&m), "a copy does not mark the shard");
        m.lock(0).insert(h(b"a"), b"a", mapped(0..4), &mut ev);
        assert!(may_map(&m));
        assert_eq!(m.unmap_departed(), 0);
        assert!(may_map(&m), "its mapped value is still there");
        assert!(m.lock(0).remove(h(b"a"), b"a").is_some());
        assert!(may_map(&m), "a removal leaves the mark to the sweep");
        assert_eq!(m.unmap_departed(), 0);
        assert!(!may_map(&m), "the sweep found no mapped value left");
        m.lock(0).insert(h(b"b"), b"b", mapped(4..8), &mut ev);
        life.leave();
        assert_eq!(m.unmap_departed(), 1, "the departed segment's value is copied");
        assert!(!may_map(&m));
        let s = m.lock(0);
        let e = s.peek(h(b"b"), b"b").unwrap();
        assert_eq!((e.value.is_mapped(), &*e.value), (false, &b"4567"[..]));
    }

    /// `overwrite_logged` calls the log exactly once, with the witness of
    /// the key's entry (none for a key not held), before it changes
    /// anything; then writes the new bytes in place only if the value has
    /// their length and nothing else holds it (a value the node holds
    /// inline, a copy of which is what a get hands out; or a heap buffer
    /// no handed-out value shares), keeping the new witness; a value handed
    /// out before keeps its bytes. It counts as a use (the other key is the
    /// next victim) and leaves the byte count as it was, under both
    /// policies, for values held inline and on the heap.
    #[test]
    fn overwrite_reuses_only_a_buffer_nothing_else_holds() {
        let w = |n| Some(Witness::for_tests(n));
        for n in [4, held::INLINE + 26] {
            let inline = n <= held::INLINE;
            let v = |c: u8| vec![c; n];
            for kind in [PolicyKind::Lru, PolicyKind::S3Fifo(Default::default())] {
                let m = Memory::new(2, 0, kind);
                let mut ev = Vec::new();
                let mut s = m.lock(0);
                s.insert(
                    h(b"a"),
                    b"a",
                    Entry {
                        logged: w(1),
                        ..entry(&v(1))
                    },
                    &mut ev,
                );
                s.insert(h(b"b"), b"b", entry(&v(2)), &mut ev);
                assert_eq!(s.peek(h(b"a"), b"a").unwrap().value.is_inline(), inline);
                let at = s.peek(h(b"a"), b"a").unwrap().value.as_ptr();
                assert_eq!(overwrite(&mut s, b"a", &v(3), 7, 8, w(2)), (vec![w(1)], true));
                let e = s.peek(h(b"a"), b"a").unwrap();
                assert_eq!(
                    (&*e.value, e.value.as_ptr(), e.expires_at, e.written_at, e.logged),
                    (&v(3)[..], at, 7, 8, w(2))
                );
                let held = e.value.to_value();
                // Inline, the value handed out is a copy: the node's bytes
                // are written in place. On the heap it shares the buffer,
                // which is then never written.
                let (second, now) = if inline { (true, v(4)) } else { (false, v(3)) };
                let witness = if inline { w(3) } else { w(2) };
                assert_eq!(
                    overwrite(&mut s, b"a", &v(4), 0, 9, w(3)),
                    (vec![w(2)], second),
                    "n {n}: a value handed out is never written"
                );
                assert_eq!(&*held, &v(3)[..]);
                drop(held);
                assert_eq!(
                    overwrite(&mut s, b"a", &vec![5; n + 1], 0, 9, w(4)),
                    (vec![witness], false),
                    "another length"
                );
                assert_eq!(
                    overwrite(&mut s, b"c", &v(6), 0, 9, w(5)),
                    (vec![None], false),
                    "a key not held"
                );
                assert!(s.peek(h(b"c"), b"c").is_none());
                let e = s.peek(h(b"a"), b"a").unwrap();
                assert_eq!(
                    (&*e.value, e.written_at, e.logged),
                    (&now[..], if inline { 9 } else { 8 }, witness),
                    "declined: unchanged"
                );
                assert_eq!(s.bytes, 2 * (1 + n as u64));
                // A put whose append failed (no witness) leaves none behind.
                assert_eq!(overwrite(&mut s, b"a", &v(6), 0, 9, None), (vec![witness], true));
                assert_eq!(s.peek(h(b"a"), b"a").unwrap().logged, None);
                if kind == PolicyKind::Lru {
                    // "a" was used last: "b" goes first.
                    assert!(overwrite(&mut s, b"a", &v(7), 0, 9, None).1);
                    s.insert(h(b"c"), b"c", entry(&v(8)), &mut ev);
                    assert_eq!(ev.iter().map(|(k, _)| &k[..]).collect::<Vec<_>>(), vec![&b"b"[..]]);
                }
            }
        }
    }

    #[test]
    fn byte_bound_and_replacement_accounting() {
        let m = Memory::new(0, 10, PolicyKind::Lru);
        let mut ev = Vec::new();
        let mut s = m.lock(0);
        assert!(!s.fits(b"k", &[0; 10]));
        s.insert(h(b"k"), b"k", entry(&[0; 5]), &mut ev);
        s.insert(h(b"k"), b"k", entry(&[0; 3]), &mut ev);
        assert_eq!(s.bytes, 4);
        s.insert(h(b"j"), b"j", entry(&[0; 8]), &mut ev);
        assert_eq!(ev.len(), 1);
        assert_eq!(s.bytes, 9);
    }

    #[test]
    fn expired_entries_are_not_returned() {
        let m = Memory::new(0, 0, PolicyKind::Lru);
        assert_eq!(m.shards.len(), MAX_SHARDS);
        let mut ev = Vec::new();
        let mut s = m.lock(5);
        let mut e = entry(b"v");
        e.expires_at = 100;
        s.insert(h(b"k"), b"k", e, &mut ev);
        let clock = crate::clock::Clock::manual(99);
        let before = Now::new(&clock);
        let clock2 = crate::clock::Clock::manual(100);
        let after = Now::new(&clock2);
        assert_eq!(s.peek_live(h(b"k"), b"k", &before), Some(true));
        assert_eq!(s.peek_live(h(b"k"), b"k", &after), Some(false));
        assert_eq!(s.peek_live(h(b"j"), b"j", &after), None);
        assert!(matches!(
            s.get(h(b"k"), b"k", &after),
            Lookup::Expired { dirty: false, .. }
        ));
        assert!(matches!(s.get(h(b"k"), b"k", &after), Lookup::Miss));
        assert_eq!(s.policy.len(), 0);
    }

    /// Takes a copy of what it is offered, or declines.
    struct Copy(Option<Vec<u8>>, bool);

    impl Reader for Copy {
        fn read(&mut self, value: &[u8]) -> bool {
            self.0 = Some(value.to_vec());
            self.1
        }
    }

    /// Under LRU a glance is a hit as `get`'s: it counts as a use (here
    /// "a" outlives "b"), and a key it does not find is a miss with the
    /// shard's write counter.
    #[test]
    fn an_lru_glance_is_a_use_and_a_miss_carries_the_write_counter() {
        let m = Memory::new(2, 0, PolicyKind::Lru);
        let clock = crate::clock::Clock::manual(1);
        let now = Now::new(&clock);
        let mut ev = Vec::new();
        m.lock(0).insert(h(b"a"), b"a", entry(b"1"), &mut ev);
        m.lock(0).insert(h(b"b"), b"b", entry(b"2"), &mut ev);
        let seq = {
            let mut s = m.lock(0);
            s.wrote(b"b");
            s.seq()
        };
        assert!(matches!(m.glance(h(b"a"), b"a", &now, &mut ()), Glance::Hit(v) if &*v == b"1"));
        assert!(matches!(m.glance(h(b"z"), b"z", &now, &mut ()), Glance::Absent(s) if s == seq));
        m.lock(0).insert(h(b"c"), b"c", entry(b"3"), &mut ev);
        assert_eq!(ev.len(), 1);
        assert_eq!(&*ev[0].0, b"b", "the glance did not count as a use of a");
    }

    /// The change of issue 12: an LRU hit, under the shard's shared lock,
    /// only marks its entry and leaves the list as the last write left it
    /// (so hits of one shard from several threads write no shared list
    /// end or node); the next eviction moves the marked entry to the front
    /// instead of evicting it. So a hit before an insert over the bound
    /// saves the hit entry, as under an exact LRU, and the entry after it
    /// goes.
    #[test]
    fn an_lru_hit_marks_its_entry_and_eviction_saves_it() {
        let m = Memory::new(3, 0, PolicyKind::Lru);
        assert_eq!(m.shards.len(), 1);
        let clock = crate::clock::Clock::manual(1);
        let now = Now::new(&clock);
        let mut ev = Vec::new();
        for k in [b"a", b"b", b"c"] {
            m.lock(0).insert(h(k), k, entry(k), &mut ev);
        }
        let order = |m: &Memory| match &m.shards[0].0.read_on(0).policy {
            Policy::Lru(l) => l.order(),
            Policy::S3Fifo(_) => unreachable!(),
        };
        let o = |v: &[(&[u8], bool)]| v.iter().map(|(k, u)| (k.to_vec(), *u)).collect::<Vec<_>>();
        assert_eq!(order(&m), o(&[(b"c", false), (b"b", false), (b"a", false)]));
        // A glance and an exclusive read alike mark, and move nothing.
        assert!(matches!(m.glance(h(b"a"), b"a", &now, &mut ()), Glance::Hit(v) if &*v == b"a"));
        assert!(matches!(m.lock(0).read(h(b"b"), b"b", &now, &mut ()), Lookup::Hit(_)));
        assert_eq!(order(&m), o(&[(b"c", false), (b"b", true), (b"a", true)]));
        // An insert over the bound: "a" and "b", at the back but hit, go to
        // the front in their order, unmarked, then "d" in front of them
        // (it came after their hits), and "c" goes.
        m.lock(0).insert(h(b"d"), b"d", entry(b"d"), &mut ev);
        assert_eq!(ev.iter().map(|(k, _)| &k[..]).collect::<Vec<_>>(), vec![&b"c"[..]]);
        assert_eq!(order(&m), o(&[(b"d", false), (b"b", false), (b"a", false)]));
        // Unused since its move, "a" is the next victim, as under an exact
        // LRU (d, b, a).
        m.lock(0).insert(h(b"e"), b"e", entry(b"e"), &mut ev);
        assert_eq!(&*ev[1].0, b"a");
        assert_eq!((m.tally().hits, m.tally().evictions), (2, 2));
    }

    /// Every hit is counted once, by whichever path answered it, from any
    /// number of threads and under either policy; misses and expired
    /// entries are not hits.
    #[test]
    fn the_tally_counts_each_hit_once() {
        for kind in [PolicyKind::Lru, PolicyKind::S3Fifo(S3Params::default())] {
            let m = Memory::new(0, 0, kind);
            let clock = crate::clock::Clock::manual(10);
            let keys: Vec<[u8; 1]> = (0..32u8).map(|i| [i]).collect();
            let mut ev = Vec::new();
            for k in &keys {
                let mut e = entry(b"v");
                // Key 0 has expired: a look at it is no hit.
                e.expires_at = if k[0] == 0 { 5 } else { 0 };
                m.lock(h(k)).insert(h(k), k, e, &mut ev);
            }
            std::thread::scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| {
                        let now = Now::new(&clock);
                        for i in 0..1000 {
                            let k = &keys[1 + i % 31];
                            assert!(matches!(m.glance(h(k), k, &now, &mut ()), Glance::Hit(_)));
                            assert!(matches!(m.lock(h(k)).read(h(k), k, &now, &mut ()), Lookup::Hit(_)));
                            assert!(matches!(m.glance(h(b"zz"), b"zz", &now, &mut ()), Glance::Absent(_)));
                        }
                    });
                }
            });
            let now = Now::new(&clock);
            assert!(matches!(
                m.glance(h(&keys[0]), &keys[0], &now, &mut ()),
                Glance::Exclusive
            ));
            assert!(matches!(
                m.lock(h(&keys[0])).read(h(&keys[0]), &keys[0], &now, &mut ()),
                Lookup::Expired { .. }
            ));
            let t = m.tally();
            assert_eq!((t.entries, t.bytes, t.hits), (31, 62, 8000), "{kind:?}");
        }
    }

    /// A reader is offered exactly a servable entry's value, and what it
    /// takes is a hit as `get`'s (the same recency); an expired entry is
    /// never offered, and is dropped as by `get`. The same holds for
    /// `glance`, under the shared lock.
    #[test]
    fn readers_are_offered_only_servable_values() {
        for kind in [PolicyKind::Lru, PolicyKind::S3Fifo(S3Params::default())] {
            let m = Memory::new(2, 0, kind);
            let clock = crate::clock::Clock::manual(50);
            let now = Now::new(&clock);
            let mut ev = Vec::new();
            {
                let mut s = m.lock(0);
                let mut e = entry(b"short-lived");
                e.expires_at = 100;
                s.insert(h(b"a"), b"a", e, &mut ev);
                s.insert(h(b"b"), b"b", entry(b"bee"), &mut ev);
                let mut r = Copy(None, true);
                assert!(matches!(s.read(h(b"a"), b"a", &now, &mut r), Lookup::Read));
                assert_eq!(r.0.as_deref(), Some(&b"short-lived"[..]));
                let mut r = Copy(None, false);
                assert!(matches!(s.read(h(b"b"), b"b", &now, &mut r), Lookup::Hit(v) if &*v == b"bee"));
                assert_eq!(r.0.as_deref(), Some(&b"bee"[..]));
                let mut r = Copy(None, true);
                assert!(matches!(s.read(h(b"z"), b"z", &now, &mut r), Lookup::Miss));
                assert_eq!(r.0, None);
            }
            let mut r = Copy(None, true);
            match m.glance(h(b"b"), b"b", &now, &mut r) {
                Glance::Read => assert_eq!(r.0.as_deref(), Some(&b"bee"[..])),
                g => panic!("{kind:?}: glance said {g:?}"),
            }
            clock.set(100);
            let later = Now::new(&clock);
            let mut r = Copy(None, true);
            assert!(matches!(m.glance(h(b"a"), b"a", &later, &mut r), Glance::Exclusive));
            assert_eq!(r.0, None, "an expired entry was offered by a glance");
            let mut s = m.lock(0);
            let mut r = Copy(None, true);
            assert!(matches!(
                s.read(h(b"a"), b"a", &later, &mut r),
                Lookup::Expired {
                    dirty: false,
                    stale: false
                }
            ));
            assert_eq!(r.0, None, "an expired entry was offered");
            assert_eq!(s.policy.len(), 1, "the exclusive path drops what a glance left");
            if kind == PolicyKind::Lru {
                // "a" was read (most recent) before it expired and went; a
                // read counts as a use as `get` does: "b", read after "a",
                // is kept over "c" and "d".
                s.insert(h(b"c"), b"c", entry(b"c"), &mut ev);
                assert!(matches!(
                    s.read(h(b"b"), b"b", &later, &mut Copy(None, true)),
                    Lookup::Read
                ));
                s.insert(h(b"d"), b"d", entry(b"d"), &mut ev);
                assert_eq!(&*ev.last().unwrap().0, b"c");
            }
        }
    }
}
