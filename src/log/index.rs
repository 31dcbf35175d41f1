//! The L2 index: a 64-bit key hash → where the key's live record is, with
//! the record's sequence number and length.
//!
//! It holds no keys, so an entry is small and independent of key length.
//! Two keys whose hashes collide are told apart by the caller, who reads the
//! key stored in the record at a location (`same_key`), or, for a put,
//! knows its key's record by location (`witness`). The entries live in
//! a memory-mapped table file (`index_file`), as of the last checkpoint,
//! plus an in-memory overlay of what changed since; `persist` merges the
//! overlay into the file, or `freeze` sets it aside for `merge_some` to
//! merge a chunk at a time (a frozen overlay, between the newer changes and
//! the table for lookups). Apart from those three the index does no I/O,
//! and it has no lock: the log guards it.

use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use super::index_file::Entry;
use super::index_file::{self, Slot, Table};
use super::undo::MetaGuard;

/// Where a record starts: segment id (24 bits) and byte offset in it (40 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Loc(u64);

impl Loc {
    pub const MAX_SEGMENT: u32 = (1 << 24) - 1;
    pub const MAX_OFFSET: u64 = (1 << 40) - 1;

    pub fn new(segment: u32, offset: u64) -> Loc {
        // Callers keep to these (segment ids are checked where files are
        // named, offsets by the segment size limit); a location that aliased
        // another would read the wrong record.
        assert!(
            segment <= Self::MAX_SEGMENT && offset <= Self::MAX_OFFSET,
            "location out of range"
        );
        Loc((u64::from(segment) << 40) | offset)
    }

    pub fn segment(self) -> u32 {
        (self.0 >> 40) as u32
    }

    pub fn offset(self) -> u64 {
        self.0 & Self::MAX_OFFSET
    }

    /// The packed form, as the index file stores it.
    pub fn raw(self) -> u64 {
        self.0
    }

    /// A location from its packed form (any value is a location, not
    /// necessarily one the log has).
    pub fn from_raw(raw: u64) -> Loc {
        Loc(raw)
    }
}

/// Whether an index entry numbered `entry_seq` names a record numbered
/// `record_seq`: the same number, or a record of format 1, which has none
/// (0). The one rule every reader of an entry's record applies (a get,
/// listing, compaction): an entry that fails it is a lie (a hint file that
/// lies, a table that a machine crash left claiming records the disk lost),
/// and its record is served by none of them.
pub fn names(entry_seq: u64, record_seq: u64) -> bool {
    record_seq == entry_seq || record_seq == 0
}

/// The keys of the index are already hashes: use them as they are.
#[derive(Default)]
pub struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed; fold anything else in for completeness.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The overlay's maps. Incrementally resized (`griddle`): when it doubles,
/// each insert moves a few entries to the larger table. A hashbrown map
/// moved them all at the insert that crossed the bound, under the log's
/// lock: 3, 8, 19 and 29 ms at 57k, 115k, 229k and 459k entries, the
/// longest waits of puts filling a cache under `TC_SYNC_ON_FLUSH` once the
/// fsyncs were off the lock (`benchmarks/c/stall.c`, session 41).
type HashIndexed<V> = griddle::HashMap<u64, V, BuildHasherDefault<IdentityHasher>>;

/// The 64-bit hash of a key used by the index of a directory without an
/// encryption key (and by its hint files, so it must never change: xxh3 is
/// specified and stable).
// On every get's or put's path: see `ffi::boundary::guard`.
#[inline]
pub fn key_hash(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

/// One key hash's live entries where they differ from the table's: the
/// whole list, so that the table's entries of that hash are ignored.
#[derive(Debug, Clone)]
enum Locs {
    One(Entry),
    /// None, or more than one (keys whose hashes collide).
    Many(Vec<Entry>),
}

impl Locs {
    fn as_slice(&self) -> &[Entry] {
        match self {
            Locs::One(e) => std::slice::from_ref(e),
            Locs::Many(v) => v,
        }
    }

    fn from_vec(mut v: Vec<Entry>) -> Locs {
        if v.len() == 1 {
            Locs::One(v.pop().unwrap())
        } else {
            Locs::Many(v)
        }
    }

    /// Adds `e` to the list (as `from_vec` would hold it: one entry is
    /// `One`, and no `Vec` is made for it).
    fn push(&mut self, e: Entry) {
        match self {
            Locs::One(x) => *self = Locs::Many(vec![*x, e]),
            Locs::Many(v) if v.is_empty() => *self = Locs::One(e),
            Locs::Many(v) => v.push(e),
        }
    }
}

/// The entries of hash `h` in `table`, as a list (a bad slot on the way
/// sets `suspect` and is skipped). A function of the fields it reads, so
/// that `Index::list_mut` can call it while it holds the overlay's entry.
fn table_entries(table: Option<&Table>, suspect: &AtomicBool, h: u64) -> Locs {
    let mut out = Locs::Many(Vec::new());
    if let Some(t) = table {
        t.find(h, |r| {
            match r {
                Ok(e) => out.push(e),
                Err(()) => suspect.store(true, Ordering::Relaxed),
            }
            false
        });
    }
    out
}

/// How a directory hashes keys for the index and its hint files: `key_hash`,
/// or, in an encrypted directory, SipHash-2-4 keyed with a secret derived
/// from the encryption key (`seal::Keys`), so that no hash reveals whether a
/// guessed key is in the cache. Every hash the log and the cache compute
/// goes through this one type.
#[derive(Clone, Copy, Default)]
pub struct KeyHasher {
    secret: Option<[u8; 16]>,
    /// Test builds only: every key hashes to the same value (`colliding`).
    #[cfg(test)]
    collide: bool,
}

impl std::fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.secret.is_some() {
            "KeyHasher(keyed)"
        } else {
            "KeyHasher(xxh3)"
        })
    }
}

impl KeyHasher {
    /// The keyed hasher of an encrypted directory.
    pub fn keyed(secret: [u8; 16]) -> KeyHasher {
        KeyHasher {
            secret: Some(secret),
            #[cfg(test)]
            collide: false,
        }
    }

    /// A hasher under which every key's hash is the same: for tests of
    /// keys whose hashes collide, which xxh3 makes too rare to find.
    #[cfg(test)]
    pub fn colliding() -> KeyHasher {
        KeyHasher {
            secret: None,
            collide: true,
        }
    }

    // On every get's or put's path: see `ffi::boundary::guard`.
    #[inline]
    pub fn hash(&self, key: &[u8]) -> u64 {
        #[cfg(test)]
        if self.collide {
            return 0x5eed;
        }
        match &self.secret {
            None => key_hash(key),
            Some(s) => {
                use std::hash::Hasher as _;
                let mut h = siphasher::sip::SipHasher24::new_with_key(s);
                h.write(key);
                h.finish()
            }
        }
    }
}

/// The table being grown by the maintenance thread (`Growth`), until it is
/// renamed over the slots file: a `*.tmp` name, which every open deletes.
const GROWTH_FILE: &str = "index.tci.grow.tmp";

/// The key index: the table on disk as of the last checkpoint (`base`),
/// and what changed since (`overlay`, in memory). A lookup consults the
/// overlay first; a hash in it hides the table's entries of that hash.
/// Between checkpoints the table is never written, so the file always
/// holds exactly the state at its watermark (see `index_file`).
#[derive(Default)]
pub struct Index {
    base: Option<Table>,
    /// A clear since the last checkpoint: the table's entries are all gone.
    base_cleared: bool,
    overlay: HashIndexed<Locs>,
    /// The hashes given a list in `overlay`, in the order they got it (a
    /// hash may repeat): the order a checkpoint merges them in, a chunk at
    /// a time (`Frozen`), which a hash map cannot give without a scan.
    order: Vec<u64>,
    /// A checkpoint under way: the overlay as it was when it began,
    /// being merged into the table a chunk at a time (`freeze`,
    /// `merge_some`). Between the overlay and the table for lookups.
    frozen: Option<Frozen>,
    /// A frozen overlay's map once merged, emptied, kept for the next
    /// freeze: the overlay fills again to about this size, and growing it
    /// from nothing rehashes it at every doubling on the put path.
    spare: HashIndexed<Locs>,
    /// A frozen overlay's map once merged, not yet emptied: emptying one
    /// of 240k hashes took 1-6 ms, too long for a hold of the log's lock.
    /// The merge's caller takes it (`take_spent`), empties it with no lock
    /// held and gives it back (`give_spare`); one left here is emptied by
    /// the next freeze.
    spent: Option<HashIndexed<Locs>>,
    len: usize,
    /// Live entries whose records have a meta field.
    tagged: u64,
    /// Checkpoints begun by `freeze` (`Frozen::serial`).
    freezes: u64,
    /// A lookup met a slot that fails its CRC, or a caller found an entry
    /// that does not match its record: the index must be rebuilt. Shared
    /// with the log, which checks it without taking its lock.
    suspect: Arc<AtomicBool>,
    /// While a compaction plans its copies without the log's write lock:
    /// the hashes whose entries changed since (`watch`, `take_watch`).
    touched: Option<Touched>,
}

/// The key hashes whose entries an `Index` changed since `Index::watch`.
///
/// Why the index keeps it: compaction decides which records to copy while
/// puts go on (`compact.rs`, "Off the lock"), and must learn of every
/// decision a change made meanwhile might have undone. Every change of an
/// entry passes through `Index::insert` or `Index::remove`, which note its
/// hash here, so no writer of the index can forget to tell; `clear` drops
/// the set, and a rebuild makes a new index without one, which
/// `take_watch` reports as "anything may have changed".
#[derive(Default)]
pub struct Touched(std::collections::HashMap<u64, (), BuildHasherDefault<IdentityHasher>>);

impl Touched {
    /// Whether hash `h`'s entries changed.
    pub fn contains(&self, h: u64) -> bool {
        self.0.contains_key(&h)
    }
}

/// The overlay of a checkpoint under way, and the meta file to write once
/// it is all in the table. One type keeps the rule that the meta file,
/// which says "the table holds the log up to this record", is written only
/// when the table does: `Index::merge_some` writes it after the last
/// chunk, and nothing else can.
struct Frozen {
    overlay: HashIndexed<Locs>,
    /// `Index::order` as it was: hashes of `overlay`, merged up to `next`.
    /// Any order merges the same entries; in the table's slot order
    /// (`sort_frozen`) the merge walks the table once instead of missing
    /// the cache on every hash.
    order: Vec<u64>,
    next: usize,
    /// Which freeze made it (`Index::freezes`), so that an order sorted
    /// with no lock held goes back only to the checkpoint it was taken
    /// from.
    serial: u64,
    sorted: bool,
    meta: index_file::Meta,
    /// How far the log must be on disk before `meta` may be (its
    /// watermark's record and all before it): the log's end at the freeze.
    log_upto: u64,
    /// Once every hash is merged: how far the table's file's write-back
    /// has been started (`merge_some`).
    written_back: u64,
    /// The step of it last started, for the caller to wait for with no
    /// lock held (`take_write_back`).
    write_back: Option<MergeWriteBack>,
}

/// A step of a durable merge's write-back of its table (`merge_some`),
/// started under the log's lock, to wait for with none held. A failed
/// wait marks the index suspect: the error is the table's next sync's,
/// which will not report it again, so the merge must not go on to its
/// meta file (`merge_some` fails once the index is suspect).
pub struct MergeWriteBack {
    started: index_file::WriteBack,
    suspect: Arc<AtomicBool>,
}

impl MergeWriteBack {
    /// Waits for the step to be on disk.
    pub fn wait(self) -> io::Result<()> {
        self.started
            .wait()
            .inspect_err(|_| self.suspect.store(true, Ordering::Relaxed))
    }
}

/// Bytes of the table's file a merge writes back per call once every hash
/// is merged (`Index::merge_some`): a few milliseconds' writing at most.
const WRITE_BACK_STEP: u64 = 4 << 20;

/// The map of a merged checkpoint's overlay (`Index::take_spent`), to be
/// emptied with no lock held and given back (`Index::give_spare`).
pub struct Spent(HashIndexed<Locs>);

impl Spent {
    /// Drops every entry, keeping the map's room.
    pub fn empty(mut self) -> Spent {
        self.0.clear();
        self
    }
}

/// A checkpoint's order of hashes to sort with no lock held
/// (`Index::frozen_to_sort`, `Index::sort_frozen`).
pub struct FrozenOrder {
    serial: u64,
    capacity: u64,
    order: Vec<u64>,
}

impl FrozenOrder {
    /// Sorts the hashes by their home slot in the table (then by hash, so
    /// that a hash given a list twice is merged once).
    pub fn sort(&mut self) {
        let mask = self.capacity - 1;
        self.order.sort_unstable_by_key(|h| (h & mask, *h));
        self.order.dedup();
    }
}

/// Where growing the table begins (`Index::plan_growth`): what the new
/// table is, and which table it copies.
pub struct GrowthPlan {
    path: PathBuf,
    capacity: u64,
    generation: u64,
    source: (u64, u64),
}

/// A larger table being filled from the index's, a chunk of slots at a
/// time (`Index::grow_some`), each chunk under a read lock of the log: the
/// maintenance thread's way, so that no put waits while a table of
/// millions of entries is copied (150 ms under one lock that kept writers
/// out, measured with 2M keys). What changes the index meanwhile goes into
/// its overlay as always; what would change the table (a checkpoint's
/// merge, a new table, a clear) makes the copy moot. One rule keeps the
/// copy true: it is installed only if the table it copies is the same
/// table (`generation`) written no more times (`Table::writes`, counted
/// where its slots are handed out for writing) than when it began.
pub struct Growth {
    path: PathBuf,
    /// `None` once installed.
    table: Option<Table>,
    /// The copied table's generation and write count when the copy began.
    source: (u64, u64),
    /// The next slot of the copied table to copy.
    next: u64,
    /// Every slot is copied.
    copied: bool,
}

impl GrowthPlan {
    /// Creates the new table's file (`GROWTH_FILE`: a `*.tmp` name, which
    /// every open deletes). No lock needed: only the maintenance thread
    /// grows the table.
    pub fn create(self) -> io::Result<Growth> {
        let table = Table::create(&self.path, self.capacity, self.generation)?;
        // Before the copy's holds of the lock write into it (`populate`).
        table.populate();
        Ok(Growth {
            path: self.path,
            table: Some(table),
            source: self.source,
            next: 0,
            copied: false,
        })
    }
}

impl Growth {
    /// Writes the new table's pages out and waits for them: before it is
    /// installed, with no lock held.
    pub fn sync(&self) -> io::Result<()> {
        self.table.as_ref().map_or(Ok(()), Table::sync)
    }
}

impl Drop for Growth {
    fn drop(&mut self) {
        if self.table.take().is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Index {
    /// An index whose entries are those of `table` (holding `len` entries,
    /// `tagged` of them with meta).
    pub fn with_table(table: Table, len: usize, tagged: u64) -> Index {
        Index {
            base: Some(table),
            len,
            tagged,
            ..Index::default()
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Live entries with a meta field.
    pub fn tagged(&self) -> u64 {
        self.tagged
    }

    /// Makes room for `additional` more keys, so that rebuilding an index of
    /// millions of entries does not rehash it at every doubling.
    pub fn reserve(&mut self, additional: usize) {
        self.overlay.reserve(additional);
    }

    /// Forgets every entry (a clear); the table is replaced at the next
    /// checkpoint.
    pub fn clear(&mut self) {
        self.overlay = HashIndexed::default();
        self.order = Vec::new();
        // A checkpoint under way stops: its table is replaced whole at
        // the next one, and its meta file is never written.
        self.frozen = None;
        self.base_cleared = self.base.is_some();
        self.len = 0;
        self.tagged = 0;
        self.touched = None;
    }

    pub fn suspect(&self) -> bool {
        self.suspect.load(Ordering::Relaxed)
    }

    /// Begins noting the hashes whose entries change (`Touched`), ending
    /// any watch begun before.
    pub fn watch(&mut self) {
        self.touched = Some(Touched::default());
    }

    /// Ends the watch: the hashes changed since `watch`, or `None` if there
    /// was none (a clear ended it, or this index is not the one watched).
    pub fn take_watch(&mut self) -> Option<Touched> {
        self.touched.take()
    }

    // On every put's path: see `ffi::boundary::guard`.
    #[inline]
    fn touch(&mut self, h: u64) {
        if let Some(t) = &mut self.touched {
            t.0.insert(h, ());
        }
    }

    /// An entry was found not to match its record: rebuild before trusting more.
    pub fn mark_suspect(&self) {
        self.suspect.store(true, Ordering::Relaxed);
    }

    /// After a rebuild.
    pub fn clear_suspect(&self) {
        self.suspect.store(false, Ordering::Relaxed);
    }

    /// The flag `suspect` reads, for the log to check without its lock.
    pub fn suspect_flag(&self) -> Arc<AtomicBool> {
        self.suspect.clone()
    }

    fn table(&self) -> Option<&Table> {
        self.base.as_ref().filter(|_| !self.base_cleared)
    }

    /// Starts loading the table slot that `get_entry(h, ..)` reads if the
    /// overlay has no list for `h`: the two reads then wait for memory
    /// together (see `crate::prefetch`). The overlay's own slot cannot be
    /// named before it is probed.
    pub fn prefetch(&self, h: u64) {
        if let Some(t) = self.table() {
            t.prefetch(h);
        }
    }

    /// The list of hash `h` that hides the table's: the overlay's, else
    /// a checkpoint's under way.
    // On every put's path: see `ffi::boundary::guard`.
    #[inline]
    fn list_above_table(&self, h: u64) -> Option<&Locs> {
        match (self.overlay.get(&h), &self.frozen) {
            (Some(l), _) => Some(l),
            (None, Some(f)) => f.overlay.get(&h),
            (None, None) => None,
        }
    }

    /// The entry of hash `h` for which `pick` says yes.
    pub fn get_entry(&self, h: u64, mut pick: impl FnMut(&Entry) -> bool) -> Option<Entry> {
        if let Some(l) = self.list_above_table(h) {
            return l.as_slice().iter().find(|e| pick(e)).copied();
        }
        let mut found = None;
        if let Some(t) = self.table() {
            t.find(h, |r| match r {
                Ok(e) if pick(&e) => {
                    found = Some(e);
                    true
                }
                Ok(_) => false,
                Err(()) => {
                    self.mark_suspect();
                    false
                }
            });
        }
        found
    }

    /// The location of the key with hash `h` for which `same_key` says yes.
    pub fn get(&self, h: u64, mut same_key: impl FnMut(Loc) -> bool) -> Option<Loc> {
        self.get_entry(h, |e| same_key(e.loc)).map(|e| e.loc)
    }

    /// The overlay's list of hash `h`, made from the table's if it has none
    /// yet; and whether it was made now. One lookup of the overlay, and no
    /// allocation for a hash with one entry: every put comes through here.
    fn list_mut(&mut self, h: u64) -> (&mut Locs, bool) {
        use griddle::hash_map::Entry as Slot;
        let Index {
            base,
            base_cleared,
            overlay,
            order,
            frozen,
            suspect,
            ..
        } = self;
        match overlay.entry(h) {
            Slot::Occupied(o) => (o.into_mut(), false),
            Slot::Vacant(v) => {
                order.push(h);
                let list = match frozen.as_ref().and_then(|f| f.overlay.get(&h)) {
                    Some(l) => l.clone(),
                    None => table_entries(base.as_ref().filter(|_| !*base_cleared), suspect, h),
                };
                (v.insert(list), true)
            }
        }
    }

    /// Points the key at `e`, returning the entry it replaces: the one
    /// for which `same_key` says yes (given the entry, so that a put that
    /// knows its key's record by location need not read it:
    /// see `witness`).
    pub fn insert(&mut self, h: u64, e: Entry, mut same_key: impl FnMut(&Entry) -> bool) -> Option<Entry> {
        self.touch(h);
        let (list, _) = self.list_mut(h);
        let old = match list {
            Locs::One(x) if same_key(x) => Some(std::mem::replace(x, e)),
            Locs::One(x) => {
                *list = Locs::Many(vec![*x, e]);
                None
            }
            Locs::Many(v) if v.is_empty() => {
                *list = Locs::One(e);
                None
            }
            Locs::Many(v) => match v.iter_mut().find(|x| same_key(x)) {
                Some(x) => Some(std::mem::replace(x, e)),
                None => {
                    v.push(e);
                    None
                }
            },
        };
        self.tagged += u64::from(e.has_meta);
        match old {
            // Saturating: the counts of an index file are only as good as
            // its checksum (a forged meta file must not make this panic).
            Some(o) => self.tagged = self.tagged.saturating_sub(u64::from(o.has_meta)),
            None => self.len += 1,
        }
        old
    }

    /// Forgets the key, returning its entry.
    pub fn remove(&mut self, h: u64, mut same_key: impl FnMut(Loc) -> bool) -> Option<Entry> {
        self.touch(h);
        let (list, made) = self.list_mut(h);
        let mut v = match std::mem::replace(list, Locs::Many(Vec::new())) {
            Locs::One(x) => vec![x],
            Locs::Many(v) => v,
        };
        let old = v.iter().position(|x| same_key(x.loc)).map(|i| v.swap_remove(i));
        if old.is_none() && made && v.is_empty() {
            // Nothing to hide: keep the overlay small (and its order: the
            // hash `list_mut` pushed last).
            self.overlay.remove(&h);
            self.order.pop();
        } else {
            *list = Locs::from_vec(v);
        }
        let old = old?;
        self.len = self.len.saturating_sub(1);
        self.tagged = self.tagged.saturating_sub(u64::from(old.has_meta));
        Some(old)
    }

    /// The locations of every key whose hash is `h` (almost always one).
    pub fn all_of(&self, h: u64) -> Vec<Loc> {
        match self.list_above_table(h) {
            Some(l) => l.as_slice().iter().map(|e| e.loc).collect(),
            None => table_entries(self.table(), &self.suspect, h)
                .as_slice()
                .iter()
                .map(|e| e.loc)
                .collect(),
        }
    }

    /// Every (hash, entry) pair, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = (u64, Entry)> + '_ {
        let base = self.table().into_iter().flat_map(move |t| {
            t.iter().filter_map(move |s| match s {
                Slot::Full(h, e) if self.list_above_table(h).is_none() => Some((h, e)),
                Slot::Full(..) | Slot::Empty => None,
                Slot::Bad => {
                    self.mark_suspect();
                    None
                }
            })
        });
        let frozen = self.frozen.iter().flat_map(move |f| {
            f.overlay
                .iter()
                .filter(move |(h, _)| !self.overlay.contains_key(*h))
                .flat_map(|(h, l)| l.as_slice().iter().map(move |e| (*h, *e)))
        });
        let overlay = self
            .overlay
            .iter()
            .flat_map(|(h, l)| l.as_slice().iter().map(move |e| (*h, *e)));
        base.chain(frozen).chain(overlay)
    }

    /// Every (hash, location) pair, in no particular order.
    #[cfg(test)]
    pub fn iter(&self) -> impl Iterator<Item = (u64, Loc)> + '_ {
        self.entries().map(|(h, e)| (h, e.loc))
    }

    /// Entries changed since the last checkpoint.
    pub fn pending(&self) -> usize {
        self.overlay.len() + self.frozen.as_ref().map_or(0, |f| f.overlay.len())
    }

    /// Whether a checkpoint is under way (`freeze` without the last
    /// `merge_some`).
    pub fn merging(&self) -> bool {
        self.frozen.is_some()
    }

    /// Hashes of the checkpoint under way not merged yet (0 if none is).
    #[cfg(test)]
    pub fn merge_left(&self) -> usize {
        self.frozen.as_ref().map_or(0, |f| f.order.len() - f.next)
    }

    /// Whether the next checkpoint can merge into the table in place, a
    /// chunk at a time (`freeze`): there is a table, not cleared since,
    /// and it need not grow.
    pub fn can_freeze(&self) -> bool {
        self.base.is_some() && !self.base_cleared && !self.wants_grow()
    }

    /// Begins a checkpoint that merges into the table a chunk at a time:
    /// `meta`, the meta file describing the log as of now, is written by
    /// the `merge_some` that merges the last chunk, with the generation and
    /// capacity of the table then (a grown table may have replaced this
    /// one meanwhile: `install_growth`). The journal that keeps the meta
    /// file on disk true while the chunks are merged begins here, as in
    /// `persist` (`prepare_writes`). What changes from now on goes into a fresh overlay, above this one
    /// for lookups. Only if `can_freeze`. A checkpoint still under way is
    /// finished first, in one go (its meta file is not written: this one
    /// supersedes it); the log never asks for that (`State::checkpoint_begin`
    /// puts a new checkpoint off until the merge ends).
    ///
    /// `log_upto` is the log's end now (`meta`'s watermark is the last
    /// record before it): if `durable`, the meta file waits until the log
    /// is on disk that far (`merge_some`'s `log_synced`). The freeze itself
    /// syncs nothing: the merge takes many holds of the log's lock, and
    /// the caller syncs the log meanwhile with none held.
    pub fn freeze(&mut self, dir: &Path, durable: bool, meta: index_file::Meta, log_upto: u64) -> io::Result<()> {
        debug_assert!(self.can_freeze());
        self.finish_frozen()?;
        self.prepare_writes(dir, durable, self.overlay.len())?;
        if let Some(spent) = self.take_spent() {
            self.give_spare(spent);
        }
        let overlay = std::mem::replace(&mut self.overlay, std::mem::take(&mut self.spare));
        let order = std::mem::take(&mut self.order);
        self.freezes += 1;
        self.frozen = Some(Frozen {
            overlay,
            order,
            next: 0,
            serial: self.freezes,
            sorted: false,
            meta,
            log_upto,
            written_back: 0,
            write_back: None,
        });
        Ok(())
    }

    /// The table's slots (0 without a table): `h & (capacity - 1)` is
    /// where a lookup of `h` begins.
    pub fn capacity(&self) -> u64 {
        self.base.as_ref().map_or(0, Table::capacity)
    }

    /// A copy of the order of the checkpoint under way, if it has not been
    /// sorted and its merge has not begun: for the caller to sort with no
    /// lock held and give back (`sort_frozen`).
    pub fn frozen_to_sort(&self) -> Option<FrozenOrder> {
        let f = self.frozen.as_ref().filter(|f| !f.sorted && f.next == 0)?;
        Some(FrozenOrder {
            serial: f.serial,
            // A checkpoint under way has a table: 0 slots never comes back.
            capacity: Some(self.capacity()).filter(|c| *c > 0)?,
            order: f.order.clone(),
        })
    }

    /// Makes `sorted` (from `frozen_to_sort`, sorted) the order of the
    /// checkpoint under way, if that is still the one it was copied from,
    /// its merge has not begun, and the table has the capacity it was
    /// sorted for. The same hashes in another order merge the same entries.
    pub fn sort_frozen(&mut self, sorted: FrozenOrder) {
        let capacity = self.capacity();
        if let Some(f) = self.frozen.as_mut() {
            if f.serial == sorted.serial && f.next == 0 && !f.sorted && capacity == sorted.capacity {
                f.order = sorted.order;
                f.sorted = true;
            }
        }
    }

    /// Merges up to `budget` hashes of the checkpoint under way into the
    /// table; after the last, if `durable`, starts the write-back of the
    /// table's file a `WRITE_BACK_STEP` per call (`take_write_back` gives
    /// it to the caller to wait for with no lock held), then syncs it and
    /// writes the checkpoint's meta file. True once no checkpoint is under
    /// way. On an error the table is neither state (the index is marked
    /// suspect if a slot failed its CRC or a write-back: the caller
    /// rebuilds it).
    ///
    /// `log_synced` is how far the log is known to be on disk. If `durable`
    /// and that is short of the freeze's `log_upto`, the merge stops before
    /// its write-back (false, and `merge_awaits` says how far the log must
    /// go): a meta file never claims a record the disk may not have. Until
    /// December 2026 the freeze fsynced the log under the lock, 3-11 ms of a
    /// put's wait after every grown table's install.
    ///
    /// Why the steps: the sync, under the log's lock, wrote every page the
    /// merge had dirtied: 25-38 ms at 3M keys (`benchmarks/c/stall.c`),
    /// the longest wait a put had. Written back a step per hold, with the
    /// puts let in between, the sync finds nothing left. The write-back is
    /// started under the lock: cleaning the pages of this writable map
    /// while the put thread, which reads the table, runs on another core
    /// sent a TLB shootdown per page, and cost a third more CPU
    /// (BENCHMARKS.md, "Session 40"). Only the wait for the disk goes
    /// outside it: waited for under the lock, a 4 MiB step took 3-13 ms
    /// (session 41). Nothing writes the table meanwhile: a checkpoint is
    /// under way (`merging`) until the meta file is written.
    pub fn merge_some(&mut self, dir: &Path, durable: bool, budget: usize, log_synced: u64) -> io::Result<bool> {
        if !self.merge_frozen(budget)? {
            return Ok(false);
        }
        if durable && self.merge_awaits(log_synced).is_some() {
            return Ok(false);
        }
        if durable {
            if self.suspect() {
                // A step's wait failed (`MergeWriteBack::wait`), or a slot
                // its CRC: this checkpoint's meta file is never written.
                return Err(io::Error::other("the index's table failed to be written back"));
            }
            let suspect = self.suspect.clone();
            let synced = match (&mut self.frozen, &self.base) {
                (Some(f), Some(t)) => match t.start_write_back_some(&mut f.written_back, WRITE_BACK_STEP) {
                    Some(started) => {
                        f.write_back = Some(MergeWriteBack { started, suspect });
                        Ok(false)
                    }
                    None => t.sync().map(|()| true),
                },
                _ => Ok(true),
            };
            match synced {
                Ok(true) => {}
                Ok(false) => return Ok(false),
                Err(e) => {
                    // Linux reports a write-back error to one sync of a
                    // file only: a later sync of this table could succeed
                    // over pages the disk lost, and the meta file written
                    // after it would vouch for them. So this checkpoint's
                    // meta file is never written: the index is suspect,
                    // rebuilt from the log and written whole into a new
                    // table (`Log::checkpoint_failed`).
                    self.mark_suspect();
                    return Err(e);
                }
            }
        }
        if let (Some(f), Some(t)) = (&mut self.frozen, &self.base) {
            (f.meta.generation, f.meta.capacity) = (t.generation, t.capacity());
            let meta = f.meta.clone();
            self.commit_meta(dir, durable, &meta)?;
        }
        self.drop_frozen();
        Ok(true)
    }

    /// The step of the table's write-back that the last `merge_some`
    /// started, to wait for with no lock held (`MergeWriteBack::wait`).
    /// One not taken is waited for by the merge's last sync.
    pub fn take_write_back(&mut self) -> Option<MergeWriteBack> {
        self.frozen.as_mut()?.write_back.take()
    }

    /// How far the log must be on disk for the checkpoint under way, every
    /// hash of it merged, to go on to its meta file, if the log is known to
    /// be on disk only to `log_synced` and that is short (`merge_some`).
    pub fn merge_awaits(&self, log_synced: u64) -> Option<u64> {
        let f = self.frozen.as_ref().filter(|f| f.next == f.order.len())?;
        (f.log_upto > log_synced).then_some(f.log_upto)
    }

    /// The guard of the table (`undo::MetaGuard`), made if it has none yet
    /// (then no meta file describes it: a table gets its guard when it is
    /// installed, from the table it replaces, or from the open that
    /// trusted it).
    fn guard(&mut self, dir: &Path, durable: bool) -> Option<&mut MetaGuard> {
        let t = self.base.as_mut()?;
        if t.guard_mut().is_none() {
            t.set_guard(MetaGuard::new(dir, durable, None));
        }
        t.guard_mut()
    }

    /// Before a checkpoint writes about `keys` hashes into the table in
    /// place: the meta file stays, and the journal that undoes the writes
    /// begins (`MetaGuard::prepare`; where there can be none, the meta file
    /// goes instead). Every write is guarded whether or not this is called;
    /// here the journal's header and room are made under the caller's lock
    /// rather than at the first write.
    fn prepare_writes(&mut self, dir: &Path, durable: bool, keys: usize) -> io::Result<()> {
        let (generation, capacity) = match &self.base {
            Some(t) => (t.generation, t.capacity()),
            None => return index_file::invalidate(dir, durable),
        };
        // A key rewritten in place is one slot; one added or removed moves
        // a few more of its cluster.
        let writes = keys.saturating_mul(2).saturating_add(1024);
        self.guard(dir, durable)
            .expect("there is a table")
            .prepare(generation, capacity, writes)
    }

    /// Writes `meta` as the meta file of the table as it now is.
    pub fn commit_meta(&mut self, dir: &Path, durable: bool, meta: &index_file::Meta) -> io::Result<()> {
        match self.guard(dir, durable) {
            Some(g) => g.commit(meta),
            None => index_file::write_meta(dir, meta, durable).map(|_| ()),
        }
    }

    /// Removes the meta file: the table is about to be replaced.
    fn invalidate_meta(&mut self, dir: &Path, durable: bool) -> io::Result<()> {
        match self.guard(dir, durable) {
            Some(g) => g.invalidate(),
            None => index_file::invalidate(dir, durable),
        }
    }

    /// Makes `t`, a new table in place of the slots file, the index's
    /// table; it takes over the old table's guard (the meta file is gone:
    /// `invalidate_meta` came before the new file took the name).
    /// Returns the table it replaces.
    fn install_table(&mut self, mut t: Table, dir: &Path, durable: bool) -> Option<Table> {
        let guard = self.base.as_mut().and_then(Table::take_guard);
        let guard = guard.unwrap_or_else(|| MetaGuard::new(dir, durable, None));
        debug_assert!(!guard.described());
        t.set_guard(guard);
        self.base.replace(t)
    }

    /// Merges what is left of a checkpoint under way into the table,
    /// without its meta file (which the caller's checkpoint replaces).
    fn finish_frozen(&mut self) -> io::Result<()> {
        self.merge_frozen(usize::MAX)?;
        self.drop_frozen();
        Ok(())
    }

    /// Merges up to `budget` more hashes of the checkpoint under way into
    /// the table; true once all are (or none is under way).
    fn merge_frozen(&mut self, budget: usize) -> io::Result<bool> {
        let Some(f) = &mut self.frozen else {
            return Ok(true);
        };
        let t = self.base.as_mut().expect("a checkpoint under way has a table");
        let end = f.order.len().min(f.next.saturating_add(budget));
        for h in &f.order[f.next..end] {
            if let Some(l) = f.overlay.get(h) {
                if t.replace_all(*h, l.as_slice()).is_err() {
                    return Err(self.bad_slot());
                }
            }
        }
        f.next = end;
        Ok(end == f.order.len())
    }

    /// Ends a checkpoint under way (merged, or made moot by a new table),
    /// keeping its map for the next.
    fn drop_frozen(&mut self) {
        if let Some(f) = self.frozen.take() {
            self.spent = Some(f.overlay);
        }
    }

    /// The map of the checkpoint last merged, to be emptied with no lock
    /// held and given back (`spent`).
    pub fn take_spent(&mut self) -> Option<Spent> {
        self.spent.take().map(Spent)
    }

    /// Keeps `map`, emptied, for the next freeze, unless one as large is
    /// kept.
    pub fn give_spare(&mut self, map: Spent) {
        let mut map = map.0;
        // Nothing to do if the caller emptied it with no lock held
        // (`Spent::empty`); `freeze` gives back one it did not.
        map.clear();
        if self.spare.capacity() < map.capacity() {
            self.spare = map;
        }
    }

    /// A slot failed its CRC where the table was being written: the index
    /// is suspect (the log rebuilds it), and this is the error to return.
    fn bad_slot(&self) -> io::Error {
        self.mark_suspect();
        io::Error::new(io::ErrorKind::InvalidData, "a slot of the index fails its CRC")
    }

    /// Whether the table is too full to take the overlay: the next
    /// checkpoint writes a new, larger table (`grow`).
    pub fn wants_grow(&self) -> bool {
        match &self.base {
            Some(t) => !self.base_cleared && index_file::too_full(t.capacity(), self.len as u64),
            None => false,
        }
    }

    /// Writes every entry into a new table at `index.tci.tmp` in `dir`,
    /// sized for them, in one go: a whole checkpoint's way (`persist`).
    /// The maintenance thread grows the table a chunk at a time instead
    /// (`Growth`).
    fn grow(&self, dir: &Path, durable: bool) -> io::Result<Table> {
        let generation = self.base.as_ref().map_or(0, |t| t.generation).max(now_nanos()) + 1;
        let tmp = dir.join(format!("{}.tmp", index_file::SLOTS_FILE));
        let mut t = Table::create(&tmp, index_file::capacity_for(self.len as u64), generation)?;
        let filled = self.entries().try_for_each(|(h, e)| t.insert(h, &e));
        if filled.is_err() || self.suspect() {
            let _ = std::fs::remove_file(&tmp);
            return Err(self.bad_slot());
        }
        if durable {
            t.sync()?;
        }
        Ok(t)
    }

    /// Plans a larger table for the index's (`Growth`), if it wants one
    /// and no checkpoint is under way (whose merge would write the table
    /// the copy reads). Reads only; `Growth::create` makes the file.
    pub fn plan_growth(&self, dir: &Path) -> Option<GrowthPlan> {
        if self.frozen.is_some() || !self.wants_grow() {
            return None;
        }
        let t = self.table()?;
        Some(GrowthPlan {
            path: dir.join(GROWTH_FILE),
            capacity: index_file::capacity_for(self.len as u64),
            generation: t.generation.max(now_nanos()) + 1,
            source: (t.generation, t.writes()),
        })
    }

    /// Copies up to `budget` more slots of the table into `g`. `Some(true)`
    /// once every slot is copied, `None` if the table is no longer the one
    /// `g` copies (written, replaced, or cleared since: `g` is moot). A slot
    /// that fails its CRC marks the index suspect and is the error.
    pub fn grow_some(&self, g: &mut Growth, budget: u64) -> io::Result<Option<bool>> {
        let Some(t) = self.table().filter(|t| (t.generation, t.writes()) == g.source) else {
            return Ok(None);
        };
        let Some(new) = g.table.as_mut() else {
            return Ok(None);
        };
        let end = t.capacity().min(g.next.saturating_add(budget));
        for i in g.next..end {
            match t.slot(i) {
                Slot::Empty => {}
                Slot::Full(h, e) => {
                    if new.insert(h, &e).is_err() {
                        return Err(io::Error::other("the index's new table is full"));
                    }
                }
                Slot::Bad => return Err(self.bad_slot()),
            }
        }
        g.next = end;
        g.copied = end == t.capacity();
        Ok(Some(g.copied))
    }

    /// Makes `g`, every slot copied, the index's table if the table it
    /// copied is still the table as it was: the meta file goes first (it
    /// describes the old table; the caller checkpoints next), then the new
    /// file is renamed over the old. The overlay and its order stay, and so
    /// does a checkpoint under way: what changed is still to be merged, now
    /// into the new table, which holds what the old one did. Returns the
    /// old table, for the caller to drop with no lock held: its map is
    /// unmapped and its file, renamed over, freed then (10-22 ms for the
    /// tables of 1.5M-3M keys, under the log's lock until session 40).
    /// `None`, and nothing done, if `g` is moot.
    pub fn install_growth(&mut self, dir: &Path, durable: bool, mut g: Growth) -> io::Result<Option<Table>> {
        let current = self.table().map(|t| (t.generation, t.writes()));
        if current != Some(g.source) || !g.copied {
            return Ok(None);
        }
        self.invalidate_meta(dir, durable)?;
        std::fs::rename(&g.path, index_file::slots_path(dir))?;
        let t = g.table.take().expect("a growth not installed has its table");
        Ok(Some(
            self.install_table(t, dir, durable)
                .expect("the table grown is the index's"),
        ))
    }

    /// Writes the index into its slots file in `dir`: the overlay is merged
    /// into the table, each slot's bytes journaled first so that the meta
    /// file stays true (`undo`); or, when there is no table, after a clear,
    /// or when the table is too full, the meta file goes (a crash from there
    /// on rebuilds) and a new table is written here. Then the table is
    /// synced if `durable`. Returns the table's (generation, capacity) for
    /// the meta file the caller writes next (`commit_meta`). On an error the
    /// index is unchanged in memory; a bad slot marks it suspect.
    pub fn persist(&mut self, dir: &Path, durable: bool) -> io::Result<(u64, u64)> {
        let fresh = self.base.is_none() || self.base_cleared || self.wants_grow();
        if fresh {
            self.invalidate_meta(dir, durable)?;
            let t = self.grow(dir, durable)?;
            let tmp = dir.join(format!("{}.tmp", index_file::SLOTS_FILE));
            std::fs::rename(&tmp, index_file::slots_path(dir))?;
            drop(self.install_table(t, dir, durable));
            self.base_cleared = false;
            // Only now: the new table was made from every entry, those of a
            // checkpoint under way too (`entries`); dropped before, the
            // table's older entries of its hashes showed through instead.
            self.drop_frozen();
        } else {
            let keys = self.overlay.len() + self.frozen.as_ref().map_or(0, |f| f.order.len() - f.next);
            self.prepare_writes(dir, durable, keys)?;
            self.finish_frozen()?;
            let t = self.base.as_mut().unwrap();
            let mut merged = Ok(());
            for (h, l) in &self.overlay {
                merged = t.replace_all(*h, l.as_slice());
                if merged.is_err() {
                    break;
                }
            }
            if merged.is_err() {
                // The table is now neither the old state nor the new one:
                // the caller rebuilds the index from the log.
                return Err(self.bad_slot());
            }
            if durable {
                if let Err(e) = t.sync() {
                    // As in `merge_some`: Linux reports a write-back error
                    // to one sync of a file, and the retry, merging the same
                    // overlay, need not store into every page this one did
                    // (a cluster's shifted slots are already in place), so
                    // its sync could succeed over pages the disk lost and a
                    // meta file vouch for them. Rebuilt instead, into a new
                    // table (`Log::checkpoint_failed`).
                    self.mark_suspect();
                    return Err(e);
                }
            }
        }
        // Emptied, not dropped: it fills again to about this size before
        // the next checkpoint, and growing it back from nothing rehashed it
        // at every doubling (memory held: what it held a moment ago).
        self.overlay.clear();
        self.order.clear();
        let t = self.base.as_ref().unwrap();
        Ok((t.generation, t.capacity()))
    }
}

/// A generation number no earlier table of this directory had (tables are
/// replaced, never reused, so one from the clock is newer than any before).
fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loc_packs_both_fields() {
        let l = Loc::new(Loc::MAX_SEGMENT, Loc::MAX_OFFSET);
        assert_eq!((l.segment(), l.offset()), (Loc::MAX_SEGMENT, Loc::MAX_OFFSET));
        let l = Loc::new(3, 17);
        assert_eq!((l.segment(), l.offset()), (3, 17));
    }

    fn at(k: u64) -> Entry {
        Entry {
            loc: Loc::new(1, k),
            seq: k + 1,
            len: 10,
            has_meta: k == 3,
        }
    }

    /// The watch compaction plans under (`Touched`): every insert and
    /// removal notes its hash, whether or not it changed an entry; nothing
    /// is noted before `watch` or after `take_watch`; a clear ends it,
    /// which `take_watch` reports as `None` (anything may have changed).
    #[test]
    fn a_watch_notes_every_hash_whose_entries_change() {
        let mut idx = Index::default();
        idx.insert(1, at(1), |_| false);
        assert!(idx.take_watch().is_none(), "no watch begun");
        idx.watch();
        idx.insert(2, at(2), |_| false);
        idx.insert(1, at(101), |e| e.loc == at(1).loc);
        assert_eq!(idx.remove(3, |_| true), None);
        let _ = idx.get(4, |_| true);
        let touched = idx.take_watch().unwrap();
        for h in [1, 2, 3] {
            assert!(touched.contains(h), "{h}");
        }
        assert!(!touched.contains(4), "a lookup changes nothing");
        idx.remove(2, |_| true);
        assert!(idx.take_watch().is_none(), "ended");
        idx.watch();
        idx.clear();
        idx.insert(5, at(5), |_| false);
        assert!(idx.take_watch().is_none(), "a clear ends it");
    }

    /// Keys are modelled as the offsets of their locations: key k lives at
    /// Loc(1, k) or Loc(1, k + 100).
    fn exercise(idx: &mut Index) {
        let key_of = |l: Loc| l.offset() % 100;
        for k in [1u64, 2, 3] {
            assert_eq!(idx.insert(7, at(k), |e| key_of(e.loc) == k), None);
        }
        assert_eq!((idx.len(), idx.tagged()), (3, 1));
        // Overwrite key 2: same hash, new location.
        assert_eq!(idx.insert(7, at(102), |e| key_of(e.loc) == 2), Some(at(2)));
        assert_eq!(idx.len(), 3);
        assert_eq!(idx.get(7, |l| key_of(l) == 2), Some(Loc::new(1, 102)));
        assert_eq!(idx.get(7, |l| key_of(l) == 4), None);
        let mut all: Vec<u64> = idx.all_of(7).iter().map(|l| l.offset()).collect();
        all.sort_unstable();
        assert_eq!(all, vec![1, 3, 102]);
        assert_eq!(idx.all_of(8).len(), 0);
        assert_eq!(idx.remove(7, |l| key_of(l) == 3), Some(at(3)));
        assert_eq!((idx.len(), idx.tagged()), (2, 0));
        assert_eq!(idx.get(7, |l| key_of(l) == 2), Some(Loc::new(1, 102)));
    }

    #[test]
    fn colliding_keys_are_told_apart_in_memory() {
        let mut idx = Index::default();
        exercise(&mut idx);
        assert_eq!(idx.remove(7, |l| l.offset() % 100 == 1), Some(at(1)));
        assert_eq!(idx.remove(7, |l| l.offset() % 100 == 2), Some(at(102)));
        assert_eq!(idx.len(), 0);
        assert_eq!(idx.iter().count(), 0);
        assert_eq!(idx.remove(7, |_| true), None);
    }

    /// An index of `keys` spread hashes written into its table in `dir`
    /// (`persist`), then the first `changed` of them put again (in the
    /// overlay, for the next checkpoint).
    fn persisted_then_changed(dir: &Path, durable: bool, keys: u64, changed: u64) -> Index {
        let h = |k: u64| k.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut idx = Index::default();
        for k in 0..keys {
            idx.insert(h(k), at(k), |_| false);
        }
        idx.persist(dir, durable).unwrap();
        for k in 0..changed {
            idx.insert(h(k), at(k + 1), |_| true);
        }
        idx
    }

    /// Under a policy that syncs, a merge whose every hash is in the table
    /// starts the write-back of the table's file a `WRITE_BACK_STEP` per
    /// call (one call per hold of the log's lock) and hands each step out
    /// to be waited for, and only the call after the last step syncs and
    /// writes the meta file; without syncing it ends at once.
    #[test]
    fn a_durable_merge_writes_its_table_back_a_step_a_call_before_its_meta() {
        use crate::log::fileio;
        for durable in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            // A table of 2^19 slots: 16 MiB and its header, five steps.
            let mut idx = persisted_then_changed(dir.path(), durable, 200_000, 5000);
            let len = std::fs::metadata(index_file::slots_path(dir.path())).unwrap().len();
            let steps = len.div_ceil(WRITE_BACK_STEP);
            assert!(steps >= 3, "{len} bytes");
            let _ = std::fs::remove_file(index_file::meta_path(dir.path()));
            idx.freeze(dir.path(), durable, index_file::Meta::empty(0, 0), 0)
                .unwrap();
            let counted = fileio::Plan {
                op: fileio::Op::WriteBack,
                nth: u64::MAX,
                persistent: false,
                errno: libc::EIO,
            };
            fileio::inject(dir.path(), counted);
            let mut calls = 0;
            while !idx.merge_some(dir.path(), durable, usize::MAX, 0).unwrap() {
                calls += 1;
                assert_eq!(
                    fileio::seen(dir.path(), fileio::Op::WriteBack),
                    calls,
                    "one step a call"
                );
                assert!(
                    !index_file::meta_path(dir.path()).exists(),
                    "no meta file before the last call"
                );
                idx.take_write_back().expect("each call's step").wait().unwrap();
            }
            fileio::heal(dir.path());
            assert!(
                index_file::meta_path(dir.path()).exists(),
                "the meta file at the last call"
            );
            assert_eq!(calls, if durable { steps } else { 0 }, "durable: {durable}");
        }
    }

    /// A write-back step's wait or the sync of a merge that fails leaves
    /// the index suspect (its caller rebuilds it into a new table), and no
    /// meta file: a later sync of the same table could succeed over the
    /// pages the disk lost. Fails if the merge only returns the error, or
    /// if it goes on after a failed wait. The table is five steps; the
    /// sixth sync is the merge's last.
    #[test]
    fn a_merge_whose_table_sync_fails_leaves_the_index_suspect_and_no_meta_file() {
        use crate::log::fileio::{self, Op, Plan};
        for nth in [1, 3, 5, 6] {
            let dir = tempfile::tempdir().unwrap();
            let mut idx = persisted_then_changed(dir.path(), true, 200_000, 5000);
            let _ = std::fs::remove_file(index_file::meta_path(dir.path()));
            idx.freeze(dir.path(), true, index_file::Meta::empty(0, 0), 0).unwrap();
            let plan = Plan {
                op: Op::Sync,
                nth,
                persistent: false,
                errno: libc::EIO,
            };
            fileio::inject(dir.path(), plan);
            let failed = loop {
                match idx.merge_some(dir.path(), true, usize::MAX, 0) {
                    Ok(false) => {
                        let waited = idx.take_write_back().expect("a step").wait();
                        assert_eq!(waited.is_err(), idx.suspect(), "step {nth}: a failed wait marks it");
                    }
                    Ok(true) => break false,
                    Err(_) => break true,
                }
            };
            fileio::heal(dir.path());
            assert!(failed, "step {nth} fails");
            assert!(idx.suspect(), "step {nth}: the index is to be rebuilt");
            assert!(!index_file::meta_path(dir.path()).exists(), "step {nth}: no meta file");
        }
    }

    /// The whole checkpoint's way (`persist`, merged in place) likewise: a
    /// failed sync of the table leaves the index suspect, to be rebuilt
    /// into a new table, never retried over the same pages.
    #[test]
    fn a_checkpoint_in_place_whose_table_sync_fails_leaves_the_index_suspect() {
        use crate::log::fileio::{self, Op, Plan};
        let dir = tempfile::tempdir().unwrap();
        let mut idx = persisted_then_changed(dir.path(), true, 20_000, 500);
        let plan = Plan {
            op: Op::Sync,
            nth: 1,
            persistent: false,
            errno: libc::EIO,
        };
        fileio::inject(dir.path(), plan);
        let failed = idx.persist(dir.path(), true);
        fileio::heal(dir.path());
        assert!(failed.is_err(), "the table's sync fails");
        assert!(idx.suspect(), "the index is to be rebuilt");
        // What the index answers is still the map's, from memory.
        assert_eq!(idx.get(0, |_| true), Some(at(1).loc));
    }

    #[test]
    fn persisted_entries_are_found_in_the_table_and_changes_hide_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = Index::default();
        exercise(&mut idx);
        for k in 10..2000u64 {
            idx.insert(k, at(k), |_| false);
        }
        let (generation, cap) = idx.persist(dir.path(), false).unwrap();
        assert_eq!(idx.pending(), 0);
        let n = idx.len();
        // Reopened from the file alone.
        let t = Table::open(&dir.path().join(index_file::SLOTS_FILE), true)
            .unwrap()
            .unwrap();
        assert_eq!((t.generation, t.capacity()), (generation, cap));
        let mut idx = Index::with_table(t, n, 0);
        assert_eq!(idx.get(7, |l| l.offset() % 100 == 2), Some(Loc::new(1, 102)));
        assert_eq!(idx.get(1500, |_| true), Some(Loc::new(1, 1500)));
        assert_eq!(idx.iter().count(), n);
        // A removal hides the table's entry until the next persist writes it.
        assert_eq!(idx.remove(1500, |_| true), Some(at(1500)));
        assert_eq!(idx.get(1500, |_| true), None);
        assert_eq!(idx.remove(1500, |_| true), None);
        idx.insert(7, at(5), |e| e.loc.offset() % 100 == 5);
        assert_eq!(idx.iter().count(), n);
        idx.persist(dir.path(), false).unwrap();
        assert_eq!(idx.get(1500, |_| true), None);
        assert_eq!(idx.all_of(7).len(), 3);
        assert!(!idx.suspect());
        idx.clear();
        assert_eq!(idx.get(7, |_| true), None);
        assert_eq!(idx.iter().count(), 0);
        idx.persist(dir.path(), false).unwrap();
        assert_eq!(idx.iter().count(), 0);
    }

    /// A checkpoint merged a chunk at a time (`freeze`, `merge_some`; its
    /// order sometimes sorted aside, `sort_frozen`) and a table grown a
    /// chunk at a time (`Growth`), against a plain map,
    /// over seeded random puts, removals, freezes, merge steps and growth
    /// steps of random sizes, and whole checkpoints (some of which grow the
    /// table while a merge or a growth is under way): every lookup answers
    /// as the map does at every step; when a merge's last chunk writes the
    /// meta file, the table file holds exactly the map as it was at the
    /// freeze (later changes stay in memory); a grown table installed holds
    /// exactly what the table it copied held when the copy began, and a
    /// copy of a table written since is never installed. A whole
    /// checkpoint that dropped the merge under way before it made the new
    /// table lost its entries, and the table's older ones showed through
    /// (this test found it). Half the seeds sync, so that a merge writes its
    /// table back in steps before its meta file.
    #[test]
    fn checkpoints_merged_and_tables_grown_in_chunks_match_a_plain_model() {
        use std::collections::HashMap;
        let meta = || index_file::Meta::empty(0, 0);
        let (mut grown, mut moot, mut sorted, mut undone) = (0, 0, 0, 0);
        for seed in 1..=64u64 {
            // Every other seed syncs, so that a merge's last steps write
            // its table back before its meta file (`merge_some`).
            let durable = seed % 2 == 0;
            let dir = tempfile::tempdir().unwrap();
            let mut idx = Index::default();
            idx.persist(dir.path(), durable).unwrap();
            let mut model: HashMap<u64, Entry> = HashMap::new();
            let mut at_freeze: Option<HashMap<u64, Entry>> = None;
            // The map as of the meta file on disk, if there is one.
            let mut committed: Option<HashMap<u64, Entry>> = None;
            // A growth under way, and the table file it copies as it was
            // when it began.
            let mut growth: Option<(Growth, HashMap<u64, Entry>)> = None;
            let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let mut next = move || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            // The table file's entries; with `meta`, the meta file's
            // table too (`persist` leaves the meta file to its caller).
            let on_disk = |dir: &Path, meta: bool| -> HashMap<u64, Entry> {
                let t = Table::open(&dir.join(index_file::SLOTS_FILE), true).unwrap().unwrap();
                if meta {
                    let m = index_file::decode_meta(&index_file::read_meta(dir).unwrap().unwrap()).unwrap();
                    assert_eq!((m.generation, m.capacity), (t.generation, t.capacity()));
                }
                Index::with_table(t, 0, 0).entries().collect()
            };
            for step in 0..4000u64 {
                // Ever more keys, so that the table grows, merges under way.
                let keys = 64 + step;
                let h = next() % keys;
                match next() % 24 {
                    0..=9 => {
                        let e = at(step);
                        assert_eq!(
                            idx.insert(h, e, |_| true),
                            model.insert(h, e),
                            "seed {seed} step {step}"
                        );
                    }
                    10..=14 => {
                        assert_eq!(idx.remove(h, |_| true), model.remove(&h), "seed {seed} step {step}");
                    }
                    15 | 16 if idx.can_freeze() => {
                        idx.freeze(dir.path(), durable, meta(), step + 1).unwrap();
                        assert!(idx.merging());
                        at_freeze = Some(model.clone());
                    }
                    17 | 18 if idx.merging() => {
                        // Now and then the log is not on disk as far as the
                        // freeze: a durable merge then writes no meta file.
                        let log_synced = if next() % 3 == 0 { 0 } else { u64::MAX };
                        let budget = 1 + (next() % 60) as usize;
                        let done = idx.merge_some(dir.path(), durable, budget, log_synced).unwrap();
                        assert_eq!(
                            idx.merge_awaits(log_synced).is_some(),
                            !done && log_synced == 0 && idx.merge_left() == 0
                        );
                        assert!(
                            !(done && durable && log_synced == 0),
                            "seed {seed} step {step}: a meta file before the log was on disk"
                        );
                        if done {
                            assert!(!idx.merging());
                            let want = at_freeze.take().unwrap();
                            assert!(
                                on_disk(dir.path(), true) == want,
                                "seed {seed} step {step}: the table is not the state at the freeze"
                            );
                            committed = Some(want);
                        }
                    }
                    19 if next() % 8 == 0 => {
                        idx.persist(dir.path(), durable).unwrap();
                        at_freeze = None;
                        assert!(!idx.merging());
                        assert!(
                            on_disk(dir.path(), false) == model,
                            "seed {seed} step {step}: the table is not the map"
                        );
                    }
                    19 if growth.is_some() && next() % 8 == 0 => {
                        // Many keys go at once: the table need not grow
                        // any more, and a checkpoint writes it in place
                        // (`persist`, `freeze`) while a copy is under way.
                        // In key order: the map's own order differs from
                        // run to run, and the seed must decide the run.
                        let mut gone: Vec<u64> = model.keys().copied().collect();
                        gone.sort_unstable();
                        gone.retain(|_| next() % 3 != 0);
                        for h in gone {
                            assert_eq!(idx.remove(h, |_| true), model.remove(&h), "seed {seed} step {step}");
                        }
                    }
                    19 if next() % 4 == 0 => {
                        // The merge's order sorted with no lock held and
                        // given back (`Log::merge_index`), sometimes after
                        // the index moved on.
                        if let Some(mut order) = idx.frozen_to_sort() {
                            order.sort();
                            sorted += 1;
                            idx.sort_frozen(order);
                        }
                    }
                    20 | 21 if growth.is_none() => {
                        if let Some(plan) = idx.plan_growth(dir.path()) {
                            growth = Some((plan.create().unwrap(), on_disk(dir.path(), false)));
                        }
                    }
                    20..=23 if growth.is_some() => {
                        let (mut g, copied) = growth.take().unwrap();
                        match idx.grow_some(&mut g, 1 + next() % 512).unwrap() {
                            None => {
                                moot += 1;
                                assert!(idx.install_growth(dir.path(), durable, g).unwrap().is_none());
                            }
                            Some(false) => growth = Some((g, copied)),
                            Some(true) => {
                                assert!(idx.install_growth(dir.path(), durable, g).unwrap().is_some());
                                grown += 1;
                                assert!(!idx.wants_grow(), "seed {seed} step {step}: grown enough");
                                assert!(
                                    on_disk(dir.path(), false) == copied,
                                    "seed {seed} step {step}: the grown table is not the table it copied"
                                );
                            }
                        }
                    }
                    _ => {}
                }
                if index_file::read_meta(dir.path()).unwrap().is_none() {
                    committed = None;
                }
                if next() % 16 == 0 {
                    // A crash now: the files as they are (the page cache's,
                    // which a killed process leaves), opened elsewhere. A
                    // meta file there describes its table once the journal
                    // is undone: the map as of the meta file's checkpoint.
                    let copy = tempfile::tempdir().unwrap();
                    crate::log::copy_as_killed(dir.path(), copy.path());
                    if let Some(bytes) = index_file::read_meta(copy.path()).unwrap() {
                        let mut t = Table::open(&copy.path().join(index_file::SLOTS_FILE), true)
                            .unwrap()
                            .unwrap();
                        let id = index_file::meta_id(&bytes);
                        match crate::log::undo::restore(copy.path(), &mut t, id, false, false) {
                            crate::log::undo::Restored::Table(n) => undone += usize::from(n > 0),
                            crate::log::undo::Restored::Refused => panic!("seed {seed} step {step}: journal refused"),
                        }
                        let found: HashMap<u64, Entry> = Index::with_table(t, 0, 0).entries().collect();
                        assert!(
                            Some(&found) == committed.as_ref(),
                            "seed {seed} step {step}: a crash now would open a table that is not its meta file's"
                        );
                    }
                }
                for _ in 0..4 {
                    let h = next() % keys;
                    assert_eq!(
                        idx.get_entry(h, |_| true),
                        model.get(&h).copied(),
                        "seed {seed} step {step} h {h}"
                    );
                }
                assert_eq!(idx.len(), model.len());
            }
            let all: HashMap<u64, Entry> = idx.entries().collect();
            assert!(all == model, "seed {seed}: entries() is not the map");
            assert!(!idx.suspect());
        }
        // Both ends of a growth are reached (these seeds: 51 and 10; the
        // copy of a table written in place since it began has a test of
        // its own below). Keys go many at once only while a copy is under
        // way, where they make it moot: one seed in 64 did, and with the
        // map's order deciding which keys went, some runs none did.
        assert!(grown > 20 && moot > 2, "{grown} tables grown, {moot} copies moot");
        assert!(sorted > 20, "{sorted} merges sorted");
        assert!(undone > 100, "{undone} crashes undid a checkpoint under way");
    }

    /// A table written in place while a larger copy of it is made (keys
    /// removed until it need not grow, then a checkpoint merged into it:
    /// same table, same generation) makes the copy moot: installed, it
    /// would serve the removed keys again. `Table::writes` is what tells.
    #[test]
    fn a_copy_of_a_table_written_since_it_began_is_never_installed() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = Index::default();
        idx.persist(dir.path(), false).unwrap();
        let mut h = 0;
        while !idx.wants_grow() {
            h += 1;
            idx.insert(h, at(h), |_| true);
            if !idx.wants_grow() {
                idx.persist(dir.path(), false).unwrap();
            }
        }
        let mut g = idx.plan_growth(dir.path()).unwrap().create().unwrap();
        assert_eq!(idx.grow_some(&mut g, 512).unwrap(), Some(false));
        for k in 1..=h / 2 {
            idx.remove(k, |_| true);
        }
        assert!(!idx.wants_grow());
        idx.persist(dir.path(), false).unwrap();
        assert_eq!(idx.grow_some(&mut g, u64::MAX).unwrap(), None, "moot");
        assert!(idx.install_growth(dir.path(), false, g).unwrap().is_none());
        assert_eq!(idx.get_entry(1, |_| true), None);
        assert!(!dir.path().join(GROWTH_FILE).exists(), "a moot copy's file goes");
    }
}
