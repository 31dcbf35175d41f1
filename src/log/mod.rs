//! L2: the on-disk tier, an append-only log of records in segment files.
//!
//! `Log` owns a cache directory while it is open: the lock, the segments, the
//! append buffer and the index of live records (a memory-mapped file plus
//! the changes since its last checkpoint, see `index_file`). That state sits
//! behind one reader-writer lock (`stripe::ReadMostly`, striped so that
//! readers on different cores do not share its lock word): lookups share it,
//! appends take it exclusively (an append is a copy into the buffer, so the
//! write lock is short), and no fsync is ever made while holding it. The log
//! never calls user code and
//! never touches L1.
//!
//! Failure model: the first write or fsync that fails puts the log in the
//! degraded state (`commit.rs`). Writes then leave the disk alone: each key
//! written while degraded is dropped from the index, so the stale value on
//! disk is never served, and remembered; when a later probe of the disk
//! succeeds, tombstones for those keys are appended and the log is healthy
//! again. Only `flush` and `compact` report the failure to the caller.

mod ahead;
pub mod appending;
mod commit;
mod compact;
mod doomed;
pub mod fileio;
mod hint;
mod index;
mod index_file;
mod keycheck;
mod lock;
mod marker;
mod marks;
mod recovery;
mod scan;
mod segment;
mod state;
mod store;
mod tags;
mod undo;
mod unhinted;
mod verified;
pub mod verify;
pub mod verify_index;
pub mod view;
mod witness;

use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::clock::{is_expired, Clock, Now};
use crate::error::{Error, Result};
use crate::meta::{self, Meta};
use crate::options::SyncPolicy;
use crate::record::Kind;
use crate::seal::{Compression, EncryptionKey, Sealer};
use crate::stats::Counters;
use crate::stripe::ReadMostly;
use crate::value::Value;

use commit::{Commit, Turn};
pub use compact::CompactReport;
pub use index::{key_hash, KeyHasher, Loc};
pub use index_file::{META_FILE as INDEX_META_FILE, SLOTS_FILE as INDEX_SLOTS_FILE};
pub use keycheck::FILE_NAME as KEYCHECK_FILE;
use lock::DirLock;
pub(crate) use state::State;
use store::Draft;
pub use store::MAX_SEQ;
pub use verified::Trust;
use view::View;
pub use witness::Witness;

/// Hashes of a checkpoint merged into the index's table per hold of the
/// log's lock (`Log::merge_index`): 100-400 ns each (a table of 2M entries
/// misses the cache on most); 4096 held it 1.4 ms on average
/// (`benchmarks/c/put.c`, 2M keys), 1024 60-120 µs with 50k keys. A put
/// waits for each hold, awake for up to 100 µs (`stripe`), so holds are
/// kept to tens of microseconds (`compact::DECIDE_CHUNK` says what 256
/// and 128 there gave).
const MERGE_CHUNK: usize = 256;

/// A checkpoint of at most one changed key per this many bytes of a
/// segment is merged at once, under the lock of the put that rolled the
/// segment: 65536 keys for 64 MiB segments, 6-25 ms at most, against the
/// time it took to write the segment; only a larger one is merged in chunks
/// by the maintenance thread. In chunks, a directory of 50k keys and no
/// bound (each roll: 50k changed keys) cost the mean put 15-18% (`put.c
/// 100 50000 3000000`: the put waiting for the chunks, and the maintenance
/// thread merging slower than the put thread did), and cut no stall that
/// compaction's did not match. Never fewer than one chunk's keys: merged
/// in one chunk, they would hold the lock as long, and leave the merge
/// until the maintenance thread came round. (Until session 23 a chunked
/// checkpoint also left no meta file meanwhile; the undo journal keeps the
/// last one true now, `undo`.)
const MERGE_AT_ONCE_BYTES: u64 = 1024;

/// Slots of the index's table copied into a larger one per hold of the
/// log's read lock (`Log::grow_index`): 20-100 ns each, so a hold of well
/// under a millisecond.
const GROW_CHUNK: u64 = 8192;

/// Test builds: how many records' keys the write path has read on this
/// thread (`Store::key_is`), for tests of the puts that need not.
#[cfg(test)]
pub(crate) fn store_key_reads() -> u64 {
    store::KEY_READS.with(|n| n.get())
}

#[cfg(test)]
impl Log {
    /// `key`'s live value now by the system clock, copied out (for tests).
    pub(crate) fn value_now(&self, key: &[u8]) -> Option<Vec<u8>> {
        let clock = crate::clock::Clock::system();
        let now = crate::clock::Now::new(&clock);
        self.get(key, self.hasher().hash(key), &now, Trust::Facts, |_| false)
            .map(|f| f.value.to_vec())
    }
}

/// What the log needs to know from the cache's options.
#[derive(Debug, Clone)]
pub struct LogConfig {
    pub sync: SyncPolicy,
    pub segment_bytes: u64,
    /// Bound on bytes on disk (0: none).
    pub max_bytes: u64,
    /// Change nothing on disk: no tail cut, no hint rewritten, no appends.
    pub read_only: bool,
    /// Where the time comes from (write times, expiry at open and compaction).
    pub clock: Clock,
    /// How values at least `min_compress_len` long are packed when appended.
    pub compression: Compression,
    pub min_compress_len: u64,
    /// The largest value: a packed value claiming more is never unpacked.
    pub max_value_len: u64,
    /// Encrypt every record with subkeys of this key (see `keycheck`).
    pub encryption_key: Option<EncryptionKey>,
}

impl LogConfig {
    /// Whether the log ever fsyncs (never under `TC_SYNC_NEVER`).
    pub fn durable(&self) -> bool {
        self.sync != SyncPolicy::TC_SYNC_NEVER
    }

    /// Unit tests' log: no fsync, 1 MiB segments, no bound, plain.
    #[cfg(test)]
    pub(crate) fn for_tests() -> LogConfig {
        LogConfig {
            sync: SyncPolicy::TC_SYNC_NEVER,
            segment_bytes: 1 << 20,
            max_bytes: 0,
            read_only: false,
            clock: Clock::system(),
            compression: crate::seal::Compression::TC_COMPRESSION_NONE,
            min_compress_len: 0,
            max_value_len: 1 << 20,
            encryption_key: None,
        }
    }
}

/// Sizes of the log now.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogSizes {
    /// Live keys.
    pub entries: u64,
    /// Bytes of live records.
    pub live_bytes: u64,
    /// Bytes of segment and hint files plus the append buffer.
    pub file_bytes: u64,
    /// Number of segment files.
    pub segments: u64,
}

/// A live value found in the log.
#[derive(Debug, Clone)]
pub struct Found {
    /// Its bytes, pointing into the segment's map (a copy only for a record
    /// still in the append buffer).
    pub value: Value,
    /// Absolute expiry in ms since the epoch (0: never).
    pub expires_at: u64,
    /// When the put (or load) that wrote it happened, ms since the epoch.
    pub written_at: u64,
    /// Its tags and dependency, if it has any.
    pub meta: Option<Arc<Meta>>,
}

/// What the log knows of a live value, without its bytes.
#[derive(Debug, Clone)]
pub struct Info {
    pub value_len: u64,
    pub expires_at: u64,
    pub written_at: u64,
    pub meta: Option<Meta>,
}

impl Info {
    /// Whether the file the value depends on (if any) is as it was: the
    /// last check a get makes, and the caller's (the log never looks at
    /// files outside its directory, and never under its lock).
    pub fn holds(&self) -> bool {
        meta::holds(self.meta.as_ref())
    }
}

/// A key a removal tombstoned, and what it held.
#[derive(Debug)]
pub struct Removed {
    pub key: Vec<u8>,
    /// The key's hash, as the log had it (the caller need not hash again).
    pub hash: u64,
    /// `Some` if a get would have served a value of it (if `Info::holds`),
    /// `None` if its record was expired or could not be served.
    pub had: Option<Info>,
}

/// What one attempt to grow the index's table came to (`Log::grow_index_once`).
enum GrowAttempt {
    /// Installed, and the checkpoint put off for it made.
    Installed,
    /// The table changed while it was copied: try again.
    Moot,
    /// No growth wanted (any more), or the log can no longer write.
    NotWanted,
    /// An I/O error, or a slot of the table failed its CRC.
    Failed,
}

/// A position in the log that a put's record ends at; `Log::wait_durable`
/// waits until it is on stable storage. `None`: the record was not written
/// (the log is degraded).
pub type Ticket = Option<u64>;

pub struct Log {
    dir: PathBuf,
    config: LogConfig,
    counters: Arc<Counters>,
    /// Read on every L2 hit: a lock whose readers share no cache line.
    state: ReadMostly<State>,
    commit: Commit,
    /// Hashes of keys read from L2 lately: the entries that retiring a
    /// segment re-appends instead of dropping.
    /// A lock-free bitset (`marks.rs`): an L2 hit takes no lock for it.
    read_marks: marks::ReadMarks,
    /// What the disk still holds wrongly because writes failed while degraded.
    pending: Mutex<Pending>,
    /// Serialises compactions (automatic and requested).
    compacting: Mutex<()>,
    /// Serialises `write_hints`: two writers of one hint would share its
    /// temporary file.
    hinting: Mutex<()>,
    /// Sealed segments compaction left in place because a record that may
    /// hide older ones could not be read (`compact::Fate::Unreadable`): the
    /// background skips them, `tc_compact` tries them again. In memory
    /// only: the next open tries each once more.
    stuck: Mutex<HashSet<u32>>,
    /// The index found an entry that does not match the log (`Index::suspect`).
    index_suspect: Arc<AtomicBool>,
    /// A checkpoint was put off because the index's table must grow, which
    /// `grow_index` does without stalling readers or writers.
    index_grow_due: AtomicBool,
    /// Whether this handle's `DEGRADED` mark may be on disk (`marker`): a
    /// fast check that spares every healthy call the lock below.
    marked: AtomicBool,
    /// Held while marking and while taking the mark away, so that a failure
    /// cannot fall between a settle's look at the state and its removal.
    marking: Mutex<()>,
    /// Held while the index's table is grown (`grow_index`): one copy at
    /// a time, into one file.
    growing: Mutex<()>,
    /// How values are packed and records sealed (also `state.store.sealer`).
    sealer: Arc<Sealer>,
    /// Wakes the handle's maintenance thread before its tick (`set_waker`):
    /// a roll that leaves the directory over its bound has work for it, and
    /// so has a put past `ahead_due`.
    waker: std::sync::OnceLock<Box<dyn Fn() + Send + Sync>>,
    /// How far the active segment's write-back was started ahead of its
    /// seal (`ahead`).
    ahead: ahead::Ahead,
    /// The count of bytes appended (`Store::appended`) past which the next
    /// put wakes the maintenance thread to start that write-back
    /// (`after_append`); `u64::MAX` under a policy that never fsyncs.
    /// Changed under the log's write lock only.
    ahead_due: AtomicU64,
    _lock: DirLock,
}

#[derive(Default)]
struct Pending {
    /// Keys written or removed while degraded: tombstoned on recovery.
    keys: HashSet<Box<[u8]>>,
    /// A clear was asked for while degraded.
    clear: bool,
}

impl Log {
    /// Opens (creating if need be, unless read-only) the log in `dir`,
    /// taking its lock (shared when read-only), opening the index file or
    /// rebuilding the index from the segments.
    pub fn open(dir: &Path, config: LogConfig, counters: Arc<Counters>) -> Result<Log> {
        if config.read_only && !dir.is_dir() {
            return Err(Error::invalid(format!("no cache directory at {}", dir.display())));
        }
        if !dir.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| Error::io(format!("create cache directory {}", dir.display()), e))?;
        }
        if !dir.is_dir() {
            return Err(Error::invalid(format!("{} is not a directory", dir.display())));
        }
        let lock = DirLock::acquire(dir, config.read_only)?;
        let keys = keycheck::keys_for(dir, config.encryption_key.as_ref(), config.read_only, config.durable())?;
        let sealer = Arc::new(Sealer {
            compression: config.compression,
            min_len: config.min_compress_len,
            max_value_len: config.max_value_len,
            keys,
        });
        let state = recovery::rebuild(dir, &counters, &config, sealer.clone())?;
        let index_suspect = state.suspect_flag();
        let config_durable = config.durable() && !config.read_only;
        let log = Log {
            read_marks: marks::ReadMarks::new(config.max_bytes),
            dir: dir.to_path_buf(),
            config,
            counters,
            state: ReadMostly::new(state),
            commit: Commit::default(),
            pending: Mutex::new(Pending::default()),
            compacting: Mutex::new(()),
            hinting: Mutex::new(()),
            stuck: Mutex::new(HashSet::new()),
            index_suspect,
            index_grow_due: AtomicBool::new(false),
            marked: AtomicBool::new(marker::is_set(dir)),
            marking: Mutex::new(()),
            growing: Mutex::new(()),
            sealer,
            waker: std::sync::OnceLock::new(),
            ahead: ahead::Ahead::default(),
            ahead_due: AtomicU64::new(if config_durable { ahead::AHEAD_BYTES } else { u64::MAX }),
            _lock: lock,
        };
        // A handle left the disk failing, with changes it acknowledged only
        // in memory (`marker`): the records they replaced are on disk, so
        // none of it may be served. Cleared (read-only: forgotten).
        if log.marked.load(Ordering::Acquire) {
            let mut st = log.state.write();
            if log.config.read_only {
                log.forget_all(&mut st);
                // Not this handle's to take away.
                log.marked.store(false, Ordering::Release);
            } else if let Err(e) = log.clear_on_disk(&mut st) {
                log.fail("clear the log that a failing disk left", e);
                log.forget_all(&mut st);
            }
            drop(st);
            log.settle_mark();
        }
        if !log.config.read_only {
            marker::prepare(dir);
            let mut st = log.state.write();
            // A directory opened with a smaller bound than it was written with.
            log.enforce_capacity(&mut st, 0);
        }
        Ok(log)
    }

    /// The live, unexpired value of `key`, checked against its checksum and
    /// key. Whether its dependency holds is the caller's to check.
    ///
    /// `copy(len)` says whether the caller wants the value's bytes copied
    /// (it will keep them in L1): they are then copied here, under the read
    /// lock that keeps the segment mapped, instead of handing out a
    /// `Value::Mapped`. A mapped value clones the segment's `Arc<Map>`, one
    /// reference count that every L2 hit of every thread on that segment
    /// would write twice (clone, then drop after the copy): a cache line
    /// the threads queue on. So small values are copied; from
    /// `cache::MAP_FROM` bytes on, the copy costs more, and L1 keeps the
    /// mapped value itself. A plain record's value is copied in the pass
    /// that verifies its checksum (`Store::indexed_as_copying`).
    ///
    /// `trust` says whether a record that an earlier get verified is read
    /// without its checksum (`verified`).
    pub fn get(&self, key: &[u8], h: u64, now: &Now, trust: Trust, copy: impl Fn(usize) -> bool) -> Option<Found> {
        self.get_on(key, h, now, trust, crate::stripe::mine(), copy)
    }

    /// `get`, with the log's read lock taken on `stripe`, the calling
    /// thread's (`stripe::mine()`), which a caller that has it passes on
    /// rather than have it looked up again (`ReadMostly::read_on`).
    pub fn get_on(
        &self,
        key: &[u8],
        h: u64,
        now: &Now,
        trust: Trust,
        stripe: usize,
        copy: impl Fn(usize) -> bool,
    ) -> Option<Found> {
        // Marked at the end, but as cold as the lookup: loaded alongside it.
        if self.config.max_bytes > 0 {
            self.read_marks.prefetch(h);
        }
        let found = self
            .with_unexpired(key, h, now, trust, stripe, Some(&copy), |st, loc, r, copied, meta| {
                let value = match copied {
                    Some(c) => Value::Heap(c),
                    None => {
                        let value = self.servable(r.value(&self.sealer))?;
                        if r.codec != 0 {
                            // For `info_of`, which then need not unpack it.
                            st.store.note_unpacked(loc);
                        }
                        if copy(value.len()) {
                            Value::Heap(Arc::from(&*value))
                        } else {
                            st.store.value_at(loc, &value)
                        }
                    }
                };
                Some(Found {
                    value,
                    expires_at: r.expires_at,
                    written_at: r.written_at,
                    meta: meta.map(Arc::new),
                })
            })
            .flatten()?;
        if self.config.max_bytes > 0 {
            self.read_marks.mark(h);
        }
        Some(found)
    }

    /// What the log knows of `key`'s live, unexpired value, without copying
    /// it or marking it read.
    pub fn info(&self, key: &[u8], h: u64, now: &Now) -> Option<Info> {
        let stripe = crate::stripe::mine();
        // `with_unexpired` checked the expiry and decoded the metadata, the
        // first two steps of `info_of`: only the last is left.
        self.with_unexpired(key, h, now, Trust::Facts, stripe, None, |st, loc, r, _, meta| {
            self.info_with(st, loc, &r, meta)
        })
        .flatten()
    }

    /// What a reader that does not take the value is told of record `r`,
    /// read for its key: its length and metadata if a get would serve it
    /// (and `Info::holds`, which the caller checks, as for a get), `None`
    /// if it is expired at `now` or cannot be served (metadata this
    /// version cannot read, a value that does not unpack: counted
    /// corrupt). The one rule of "has a value" for `info` (so `contains`
    /// and iteration) and for what the removals report, so that none of
    /// them says a key had a value that a get would have missed (fuzz
    /// finding 17 was `contains` against `get`).
    ///
    /// A packed value is unpacked to learn its length, unless this record
    /// (at `loc`, in `st`) unpacked before in this open (a fact beside its
    /// checksum's: `Verified::unpacked`), when the length it claims is
    /// that length. Unpacking took `contains` of a 1 KiB LZ4 value from
    /// about 250 to 1000 ns.
    fn info_of(&self, st: &State, loc: Loc, r: &View<'_>, now: u64) -> Option<Info> {
        if is_expired(r.expires_at, now) {
            return None;
        }
        let meta = self.meta_of(r)?;
        self.info_with(st, loc, r, meta)
    }

    /// `info_of`'s last step, for a record found unexpired with readable
    /// metadata `meta` (`read_unexpired` is the same two steps): the
    /// value's length if it can be served.
    fn info_with(&self, st: &State, loc: Loc, r: &View<'_>, meta: Option<Meta>) -> Option<Info> {
        let value_len = if r.codec != 0 && st.store.unpacked_before(loc) {
            self.servable(r.claimed_len(&self.sealer))?
        } else {
            let len = self.servable(r.value_len(&self.sealer))?;
            if r.codec != 0 {
                st.store.note_unpacked(loc);
            }
            len
        };
        Some(Info {
            value_len,
            expires_at: r.expires_at,
            written_at: r.written_at,
            meta,
        })
    }

    /// Calls `f` with `key`'s live, unexpired record under the log's read
    /// lock, taken on `stripe` (the calling thread's), and its value copied
    /// if `copy` wanted it (see `read_live`). If the index was found not to
    /// match the log on the way, it is rebuilt and asked again.
    #[allow(clippy::too_many_arguments)]
    fn with_unexpired<T>(
        &self,
        key: &[u8],
        h: u64,
        now: &Now,
        trust: Trust,
        stripe: usize,
        copy: Option<&dyn Fn(usize) -> bool>,
        f: impl FnOnce(&State, Loc, View<'_>, Option<Arc<[u8]>>, Option<Meta>) -> T,
    ) -> Option<T> {
        // No repair before the first read: an entry found is verified (key,
        // checksum, sequence number) whatever the index's state, and one not
        // found in a suspect index is asked again after the repair below.
        {
            let st = self.state.read_on(stripe);
            match self.read_unexpired(&st, key, h, now, trust, copy) {
                Some((loc, (r, copied), meta)) => return Some(f(&st, loc, r, copied, meta)),
                None if !st.index_suspect() => return None,
                None => {}
            }
        }
        self.repair_index();
        let st = self.state.read_on(stripe);
        let (loc, (r, copied), meta) = self.read_unexpired(&st, key, h, now, trust, copy)?;
        Some(f(&st, loc, r, copied, meta))
    }

    /// `key`'s live record, if it has not expired, with its metadata.
    fn read_unexpired<'a>(
        &self,
        st: &'a State,
        key: &[u8],
        h: u64,
        now: &Now,
        trust: Trust,
        copy: Option<&dyn Fn(usize) -> bool>,
    ) -> Option<(Loc, store::Copied<'a>, Option<Meta>)> {
        let (loc, (r, copied)) = self.read_live(st, key, h, trust, copy)?;
        if now.expired(r.expires_at) {
            return None;
        }
        let meta = self.meta_of(&r)?;
        Some((loc, (r, copied), meta))
    }

    /// A record's metadata: `Some(None)` if it has none, `None` if it has
    /// some this version cannot read (counted corrupt: the record is not
    /// served).
    fn meta_of(&self, r: &View<'_>) -> Option<Option<Meta>> {
        if r.meta.is_empty() {
            return Some(None);
        }
        match Meta::decode(&r.meta) {
            Some(m) => Some(Some(m)),
            None => {
                self.counters.corrupt_records.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// A value (or its length) in the clear, or `None` if it cannot be
    /// served: packed by an unknown codec (a newer writer), claiming more
    /// than the maximum value size, or not unpacking to its length. Such a
    /// record is counted corrupt and never returned; it still hides older
    /// records of its key.
    fn servable<T>(&self, r: std::result::Result<T, crate::seal::Unseal>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(_) => {
                self.counters.corrupt_records.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// How this directory hashes keys (keyed if it is encrypted).
    pub fn hasher(&self) -> KeyHasher {
        self.state.read().store.hasher
    }

    /// How values are packed and records sealed in this directory.
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// Bytes that compression saved, over the records appended since open.
    pub fn bytes_saved(&self) -> u64 {
        self.state.read().store.bytes_saved
    }

    /// The keys starting with `prefix` that have a live, unexpired value.
    pub fn live_keys(&self, prefix: &[u8], now: &Now) -> Vec<Vec<u8>> {
        let st = self.state.read();
        st.live_records()
            .map(|(_, _, r)| r)
            .filter(|r| r.key.starts_with(prefix) && !now.expired(r.expires_at))
            .map(|r| r.key.to_vec())
            .collect()
    }

    /// `key`'s live record and where it is, verified (a record that fails
    /// is counted corrupt). The record must also be the one the index entry
    /// claims (its sequence number), and must be there at all: otherwise the
    /// index does not match the log (see docs/CONSISTENCY.md), which is a
    /// miss, a counted repair, and a rebuild of the index.
    ///
    /// With `copy`, a plain record's value that `copy(len)` wants is copied
    /// in the pass that verifies its checksum (`Store::indexed_as_copying`)
    /// and comes back beside the view.
    fn read_live<'a>(
        &self,
        st: &'a State,
        key: &[u8],
        h: u64,
        trust: Trust,
        copy: Option<&dyn Fn(usize) -> bool>,
    ) -> Option<(Loc, store::Copied<'a>)> {
        let mut found = None;
        // The index file's slot, loaded while the overlay is probed.
        st.prefetch_entry(h);
        // The record's lines, loaded ahead of the checksum's pass.
        let read = |e: &index::Entry| match copy {
            Some(wants) => st.store.indexed_as_copying(h, e.loc, e.len, key, trust, wants),
            None => {
                st.store.prefetch(e.loc, e.len);
                st.store.indexed_as(h, e.loc, key, trust).map(|r| r.map(|v| (v, None)))
            }
        };
        st.find_entry(h, |e| match read(e) {
            // Records of format 1 carry no number (0): the key and CRC decide.
            Ok(Some((r, copied))) if index::names(e.seq, r.seq) => {
                found = Some((e.loc, (r, copied)));
                true
            }
            Ok(Some(_)) | Err(store::Bad::Missing) => {
                self.counters.l2_index_repairs.fetch_add(1, Ordering::Relaxed);
                st.mark_index_suspect();
                false
            }
            Ok(None) => false,
            Err(store::Bad::Corrupt) => {
                self.counters.corrupt_records.fetch_add(1, Ordering::Relaxed);
                false
            }
        });
        found
    }

    /// Rebuilds the index from the log if an entry was found not to match
    /// it (counted in `l2_index_rebuilds`), and writes the index file anew.
    // On every put's path: see `ffi::boundary::guard`.
    #[inline]
    fn repair_index(&self) {
        if !self.index_suspect.load(Ordering::Relaxed) {
            return;
        }
        let mut st = self.state.write();
        if !st.index_suspect() {
            return;
        }
        self.counters.l2_index_rebuilds.fetch_add(1, Ordering::Relaxed);
        let mut corrupt = 0;
        st.rebuild_index(self.config.clock.now_ms(), &mut corrupt);
        self.counters.corrupt_records.fetch_add(corrupt, Ordering::Relaxed);
        self.checkpoint(&mut st);
    }

    /// Writes the index file (see `State::checkpoint`), unless the log
    /// is read-only or degraded. A failure is counted and costs only time:
    /// without a meta file the next open rebuilds the index from the log.
    /// If the table must grow, the checkpoint is put off to `grow_index`,
    /// and while one is being merged, to the end of that merge
    /// (`State::checkpoint_begin`; skipping one is safe: the files stay as
    /// the last one left them, and an open replays the longer tail, or
    /// rebuilds if a segment they list was deleted meanwhile).
    ///
    /// A checkpoint of more than one chunk's changed keys is merged by the
    /// maintenance thread, a chunk per hold of the lock (`merge_index`),
    /// except at a put's roll (`checkpoint_at_roll`).
    fn checkpoint(&self, st: &mut State) {
        self.begin_checkpoint(st, MERGE_CHUNK);
    }

    /// The checkpoint of a put that rolled the segment: one of up to a key
    /// per `MERGE_AT_ONCE_BYTES` of a segment is merged at once, under
    /// this put's hold of the lock (see there why).
    fn checkpoint_at_roll(&self, st: &mut State) {
        self.begin_checkpoint(
            st,
            ((self.config.segment_bytes / MERGE_AT_ONCE_BYTES) as usize).max(MERGE_CHUNK),
        );
    }

    /// `checkpoint`, merged at once if at most `at_once` keys changed.
    fn begin_checkpoint(&self, st: &mut State, at_once: usize) {
        if self.config.read_only || self.commit.is_degraded() {
            return;
        }
        if st.index_wants_grow() {
            self.index_grow_due.store(true, Ordering::Relaxed);
            self.wake_maintenance();
            return;
        }
        if st.checkpoint_begin(&self.dir, at_once).is_err() {
            self.checkpoint_failed(st);
        }
        if st.index_merging() {
            self.wake_maintenance();
        }
    }

    /// Merges a checkpoint under way into the index's table
    /// (`State::checkpoint_begin`), `MERGE_CHUNK` hashes per hold of the
    /// lock, then writes its meta file: the maintenance thread's work,
    /// woken by the checkpoint that began it. A failure is counted (the
    /// checkpoint stays under way, tried again at the next call) and a
    /// slot that fails its CRC rebuilds the index.
    pub fn merge_index(&self) {
        // Two rounds: the checkpoint under way, then one put off while it
        // merged (`State::checkpoint_begin`), which begins at the end of
        // the first under the same hold. A caller that checkpointed and
        // then merges (compaction, before it deletes a segment) so finds
        // its checkpoint written whichever way it went. One put off during
        // the second waits for the next call (it woke this thread).
        for _ in 0..2 {
            // In the table's slot order the merge walks the table once:
            // each hash in the order it was written missed the cache (a
            // third of the maintenance thread's time at a 256 MiB bound,
            // perf). Sorted here, with no lock held; given back only if
            // nothing merged yet.
            let to_sort = self.state.read().index_frozen_to_sort();
            if let Some(mut order) = to_sort {
                order.sort();
                self.state.write_yielding().sort_index_frozen(order);
            }
            loop {
                let mut st = self.state.write_yielding();
                if self.config.read_only || self.commit.is_degraded() {
                    return;
                }
                let log_synced = self.commit.synced();
                match st.checkpoint_step(&self.dir, MERGE_CHUNK, log_synced) {
                    Ok(false) => {
                        // Merged, but the log is not on disk as far as the
                        // meta file will claim: synced here, with no lock
                        // held but for the buffer's write (`sync_now`).
                        if let Some(pos) = st.checkpoint_awaits(log_synced) {
                            drop(st);
                            if self.sync_upto(pos).is_err() {
                                return;
                            }
                        } else if let Some(step) = st.take_index_write_back() {
                            // A step of the table's write-back, waited for
                            // with no lock held; a failure marks the index
                            // suspect, and the next step fails.
                            drop(st);
                            let _ = step.wait();
                        }
                    }
                    Ok(true) => {
                        // Emptied with no lock held, and given back before
                        // the next checkpoint begins, which takes it.
                        if let Some(spent) = st.take_spent_overlay() {
                            drop(st);
                            let spent = spent.empty();
                            st = self.state.write_yielding();
                            st.give_spare_overlay(spent);
                        }
                        if !st.checkpoint_put_off() {
                            return;
                        }
                        self.checkpoint(&mut st);
                        if !st.index_merging() {
                            return;
                        }
                        break;
                    }
                    Err(_) => {
                        self.checkpoint_failed(&mut st);
                        return;
                    }
                }
            }
        }
    }

    /// Grows the index's table if a checkpoint was put off for it: the
    /// maintenance thread's work (woken by that checkpoint). The new table
    /// is filled from the old a chunk of slots per read lock of the log
    /// (`index::Growth`: readers go on, writers wait for one chunk), synced
    /// with no lock held, and installed under the write lock, which takes
    /// the rename and the checkpoint that merges the changes since into
    /// it. Written under one lock that kept writers out, a table of 2M
    /// entries took 150 ms in which no put went anywhere (measured). A copy
    /// made moot by a change to the old table meanwhile (`Growth`) is
    /// begun again, a few times at most: the next checkpoint asks again.
    pub fn grow_index(&self) {
        // Read before it is swapped: every put comes through here, and a
        // swap writes the flag's cache line even when it finds it false.
        if !self.index_grow_due.load(Ordering::Relaxed) || !self.index_grow_due.swap(false, Ordering::Relaxed) {
            return;
        }
        let _one_at_a_time = self.growing.lock();
        for _ in 0..3 {
            match self.grow_index_once() {
                GrowAttempt::Moot => {}
                GrowAttempt::Installed | GrowAttempt::NotWanted => return,
                GrowAttempt::Failed => {
                    // A full disk, or a slot of the old table failed its CRC
                    // (the index is then suspect: rebuilt here).
                    self.counters.io_errors.fetch_add(1, Ordering::Relaxed);
                    self.repair_index();
                    return;
                }
            }
        }
    }

    /// One copy of the index's table into a larger one (`grow_index`),
    /// installed and checkpointed into if it is still a copy of the table.
    fn grow_index_once(&self) -> GrowAttempt {
        let usable = || !self.config.read_only && !self.commit.is_degraded();
        let (plan, durable) = {
            let st = self.state.read();
            (
                st.plan_index_growth(&self.dir).filter(|_| usable()),
                st.store.is_durable(),
            )
        };
        let Some(plan) = plan else {
            return GrowAttempt::NotWanted;
        };
        let copied = plan.create().and_then(|mut g| {
            loop {
                match self.state.read().grow_index_some(&mut g, GROW_CHUNK)? {
                    Some(true) => break,
                    Some(false) => {}
                    None => return Ok(None),
                }
            }
            if durable {
                g.sync()?;
            }
            Ok(Some(g))
        });
        let g = match copied {
            Ok(Some(g)) => g,
            Ok(None) => return GrowAttempt::Moot,
            Err(_) => return GrowAttempt::Failed,
        };
        let mut st = self.state.write();
        if !usable() {
            return GrowAttempt::NotWanted;
        }
        match st.install_index_growth(&self.dir, g) {
            Ok(Some(old)) => {
                self.checkpoint(&mut st);
                drop(st);
                drop(old);
                GrowAttempt::Installed
            }
            Ok(None) => GrowAttempt::Moot,
            Err(_) => GrowAttempt::Failed,
        }
    }

    /// A checkpoint failed: counted; if a slot failed its CRC while the
    /// table was written, the table is rebuilt whole from the log.
    fn checkpoint_failed(&self, st: &mut State) {
        self.counters.io_errors.fetch_add(1, Ordering::Relaxed);
        if st.index_suspect() {
            self.counters.l2_index_rebuilds.fetch_add(1, Ordering::Relaxed);
            let mut corrupt = 0;
            st.rebuild_index(self.config.clock.now_ms(), &mut corrupt);
            self.counters.corrupt_records.fetch_add(corrupt, Ordering::Relaxed);
            if st.checkpoint(&self.dir).is_err() {
                self.counters.io_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Gives the log the way to wake the handle's maintenance thread (set
    /// once, by the handle that starts it). It must not block: the log
    /// calls it with its lock held.
    pub fn set_waker(&self, wake: Box<dyn Fn() + Send + Sync>) {
        let _ = self.waker.set(wake);
    }

    /// Wakes the maintenance thread, if there is one.
    fn wake_maintenance(&self) {
        if let Some(wake) = self.waker.get() {
            wake();
        }
    }

    /// A record to append now.
    fn draft<'a>(&self, kind: Kind, key: &'a [u8], value: &'a [u8], expires_at: u64) -> Draft<'a> {
        Draft {
            kind,
            key,
            value,
            expires_at,
            written_at: self.config.clock.now_ms(),
            meta: &[],
            codec: 0,
            hash: None,
        }
    }

    /// Appends a put of `key` and makes it the key's live record. While
    /// degraded it writes nothing: the key is forgotten on disk instead (see
    /// the module doc). Wait for the ticket with `wait_durable` when the
    /// policy is `TC_SYNC_ALWAYS`.
    pub fn put(
        &self,
        key: &[u8],
        h: u64,
        value: &[u8],
        expires_at: u64,
        written_at: u64,
        meta: Option<&Meta>,
    ) -> Ticket {
        self.put_witnessed(key, h, value, expires_at, written_at, meta, None).0
    }

    /// `put`, given the witness of a record of `key` that the caller kept
    /// from an earlier put (`known`), and handing back the new record's:
    /// an index entry that `known` names is `key`'s own, and is replaced
    /// without reading the record to compare keys (see `witness`). Without
    /// one, or when no entry names it, keys are compared as before.
    #[allow(clippy::too_many_arguments)]
    pub fn put_witnessed(
        &self,
        key: &[u8],
        h: u64,
        value: &[u8],
        expires_at: u64,
        written_at: u64,
        meta: Option<&Meta>,
        known: Option<Witness>,
    ) -> (Ticket, Option<Witness>) {
        self.append_put(key, h, value, expires_at, written_at, meta)
            .settle(known)
    }

    /// Under `TC_SYNC_ALWAYS`, returns once the record of `ticket` is written
    /// and fsynced, sharing the fsync with concurrent writers (group commit).
    /// Other policies return at once (inlined: every put asks).
    #[inline]
    pub fn wait_durable(&self, ticket: Ticket) -> Result<()> {
        if ticket.is_some() && self.config.sync != SyncPolicy::TC_SYNC_ALWAYS {
            return Ok(());
        }
        self.wait_durable_slow(ticket)
    }

    /// `wait_durable` when there is something to wait for or report.
    #[inline(never)]
    fn wait_durable_slow(&self, ticket: Ticket) -> Result<()> {
        let Some(pos) = ticket else {
            return Err(self.degraded_error());
        };
        if self.config.sync != SyncPolicy::TC_SYNC_ALWAYS {
            return Ok(());
        }
        self.sync_upto(pos)
    }

    /// Returns once the log is on disk up to `pos`: an fsync made by this
    /// caller or by another it waited for (group commit).
    fn sync_upto(&self, pos: u64) -> Result<()> {
        loop {
            match self.commit.wait_turn(pos) {
                Turn::Done => return Ok(()),
                Turn::Lead => {
                    let r = self.sync_now();
                    self.commit.led(r.as_ref().ok().copied());
                    r?;
                }
            }
        }
    }

    /// Starts the write-back of the active segment's bytes past the last
    /// one started (or past its header), with no lock held, if there are
    /// `AHEAD_BYTES` or more of them: its seal's fsync, made under the lock,
    /// then has little left to write (`ahead`). For the maintenance thread,
    /// which a put wakes for it (`after_append`).
    pub fn write_back_ahead(&self) {
        if !self.config.durable() || self.config.read_only || self.commit.is_degraded() {
            return;
        }
        let (id, from, len, file, path) = {
            let st = self.state.read();
            let a = st.store.active();
            let Some(from) = self.ahead.due(a.id, a.len(), segment::HEADER_LEN) else {
                return;
            };
            (a.id, from, a.len(), a.handle(), a.path.clone())
        };
        // Advice: a failure leaves the seal's fsync more to write, and that
        // fsync reports any write-back error (this call takes none away).
        let _ = fileio::write_back(&file, &path, from, len - from);
        self.ahead.covered(id, len);
    }

    /// Writes the buffer out and fsyncs the active segment, holding the log's
    /// lock only for the write. Returns the position now durable.
    fn sync_now(&self) -> Result<u64> {
        let (pos, file, path) = {
            let mut st = self.state.write();
            st.store.write_buffer().map_err(|e| self.fail("write the log", e))?;
            let a = st.store.active();
            (st.store.appended, a.handle(), a.path.clone())
        };
        fileio::sync_data(&file, &path).map_err(|e| self.fail(format!("fsync {}", path.display()), e))?;
        Ok(pos)
    }

    /// Appends a tombstone for `key` if it has a record; gives what that
    /// record held (`info_of`: `None` if a get would not have served it)
    /// and the tombstone's ticket (`wait_durable`).
    pub fn remove(&self, key: &[u8], h: u64, now: u64) -> (Option<Info>, Ticket) {
        self.maybe_recover();
        let mut st = self.state.write();
        let Some(loc) = st.find(h, key) else {
            return (None, None);
        };
        let had = st.store.record(loc).ok().and_then(|r| self.info_of(&st, loc, &r, now));
        let ticket = self.tombstone(&mut st, key, h);
        self.after_append(&mut st);
        (had, ticket)
    }

    /// Appends a tombstone whether or not the index knows the key: for a key
    /// whose newer value lived only in memory (write-back) and expired.
    pub fn supersede(&self, key: &[u8], h: u64) {
        let mut st = self.state.write();
        self.tombstone(&mut st, key, h);
        self.after_append(&mut st);
    }

    /// Appends tombstones for every live key that starts with `prefix`;
    /// returns each key with what it held (`info_of`), and the last
    /// tombstone's ticket.
    pub fn remove_prefix(&self, prefix: &[u8], now: u64) -> (Vec<Removed>, Ticket) {
        self.maybe_recover();
        let mut st = self.state.write();
        let mut doomed = Vec::new();
        for (h, loc, r) in st.live_records() {
            if r.key.starts_with(prefix) {
                doomed.push(Removed {
                    key: r.key.to_vec(),
                    hash: h,
                    had: self.info_of(&st, loc, &r, now),
                });
            }
        }
        self.tombstone_all(&mut st, doomed)
    }

    /// Tombstones the key of each of `doomed`; returns them and the last
    /// tombstone's ticket.
    fn tombstone_all(&self, st: &mut State, doomed: Vec<Removed>) -> (Vec<Removed>, Ticket) {
        let mut ticket = None;
        for r in &doomed {
            ticket = self.tombstone(st, &r.key, r.hash).or(ticket);
        }
        self.after_append(st);
        (doomed, ticket)
    }

    /// Appends tombstones for every live key whose record carries `tag`;
    /// returns each key with what it held (`info_of`), and the last
    /// tombstone's ticket.
    pub fn remove_tag(&self, tag: &[u8], now: u64) -> (Vec<Removed>, Ticket) {
        self.maybe_recover();
        let mut st = self.state.write();
        let mut doomed = Vec::new();
        for h in st.tags.take(tag) {
            // Every live record of this hash (keys may collide) with the tag.
            for loc in st.live_of(h) {
                if let Ok(r) = st.store.indexed(h, loc) {
                    if Meta::decode(&r.meta).is_some_and(|m| m.has_tag(tag)) {
                        doomed.push(Removed {
                            key: r.key.to_vec(),
                            hash: h,
                            had: self.info_of(&st, loc, &r, now),
                        });
                    }
                }
            }
        }
        self.tombstone_all(&mut st, doomed)
    }

    /// Forgets every expired record (no tombstone is needed: an expired record
    /// stays expired after a restart, and compaction carries it forward as a
    /// tombstone while it may hide an older value); returns the keys forgotten.
    pub fn purge_expired(&self, now: u64) -> Vec<Vec<u8>> {
        let mut st = self.state.write();
        let mut doomed = Vec::new();
        for (h, loc, r) in st.live_records() {
            if is_expired(r.expires_at, now) {
                doomed.push((h, loc, r.key.to_vec()));
            }
        }
        for (h, loc, _) in &doomed {
            st.kill_at(*h, *loc);
        }
        doomed.into_iter().map(|(_, _, k)| k).collect()
    }

    /// Drops every record: a clear record goes first in a new segment, then
    /// every older segment is deleted. A crash in between leaves the clear
    /// record to hide what was not deleted yet (and open finishes the job).
    pub fn clear(&self) {
        self.maybe_recover();
        let mut st = self.state.write();
        if self.commit.is_degraded() {
            self.forget_all(&mut st);
            return;
        }
        if let Err(e) = self.clear_on_disk(&mut st) {
            self.fail("clear the log", e);
            self.forget_all(&mut st);
        }
        drop(st);
        self.reap();
    }

    /// Degraded: the index forgets everything, and recovery will clear the
    /// disk (a clear hides every key, so the pending keys need nothing more).
    fn forget_all(&self, st: &mut State) {
        let (loc, len) = (st.store.next_loc(), 0);
        st.clear_all(loc, len);
        let mut p = self.pending.lock();
        p.keys.clear();
        p.clear = true;
    }

    fn clear_on_disk(&self, st: &mut State) -> io::Result<()> {
        // It deletes every older segment: a compaction's output set aside
        // will not be in the log (`Store::abandon_side`).
        st.store.abandon_side();
        st.store.seal_and_start()?;
        let a = st.store.append(&self.draft(Kind::Clear, &[], &[], 0))?;
        // On disk before anything is deleted (fsynced unless the policy
        // never fsyncs: even then a killed process leaves it written).
        st.store.write_buffer()?;
        st.store.sync_active()?;
        st.clear_all(a.loc, a.len);
        // The index file says the older segments are dead before they go.
        self.checkpoint(st);
        let active = st.store.active().id;
        let old: Vec<u32> = st.store.segments.keys().copied().filter(|id| *id != active).collect();
        for id in old {
            st.store.delete_segment(id)?;
        }
        st.store.sync_dir()?;
        if st.store.is_durable() {
            self.commit.synced_upto(st.store.appended);
        }
        Ok(())
    }

    /// Writes the hint files that seals left due (`unhinted`), each without
    /// the log's lock but for the rename that puts it in place. Called from
    /// the maintenance thread, between a compaction's segments, `flush` and
    /// a close; a failure is counted and costs only time (the segment is
    /// scanned when its records are needed).
    pub fn write_hints(&self) {
        self.write_hints_with(|_| {});
    }

    /// `write_hints`, calling `before_install` with each hint's segment id
    /// between writing the file and taking the lock to install it (tests
    /// delete the segment there).
    fn write_hints_with(&self, mut before_install: impl FnMut(u32)) {
        if self.config.read_only {
            return;
        }
        let _one_at_a_time = self.hinting.lock();
        loop {
            if self.commit.is_degraded() {
                return; // Written after recovery.
            }
            let (id, len, map, entries, durable) = {
                let st = self.state.read();
                let Some((id, entries)) = st.store.unhinted.next() else {
                    return;
                };
                let Some(seg) = st.store.segments.get(&id) else {
                    debug_assert!(false, "a deleted segment's hint is forgotten");
                    return;
                };
                (id, seg.len(), seg.map().cloned(), entries, st.store.is_durable())
            };
            let staged = hint::stage(&self.dir, id, len, &entries, durable);
            before_install(id);
            let mut st = self.state.write();
            let installed = match staged {
                Ok(staged) => st.store.install_hint(id, &entries, staged),
                Err(e) => Err(e),
            };
            if installed.is_err() {
                // Not written: dropped, not retried at every tick (this
                // thread holds the entries too, so nothing is freed here).
                drop(st.store.unhinted.forget(id));
                self.counters.io_errors.fetch_add(1, Ordering::Relaxed);
            }
            drop(st);
            let done = installed.is_ok_and(|done| done);
            if durable && done && fileio::sync_dir(&self.dir).is_err() {
                self.counters.io_errors.fetch_add(1, Ordering::Relaxed);
            }
            // The segment's pages into this process's page tables
            // (`Map::populate`), with no lock held: just after the segment
            // was sealed and written, so that the page cache still has them
            // (a populate reads any it lost back from the disk), and the
            // puts that read its keys take no fault. Its map is final: a
            // sealed segment is not mapped again.
            if let Some(map) = map.filter(|_| done) {
                map.populate(usize::try_from(len).unwrap_or(usize::MAX));
            }
        }
    }

    /// Writes the append buffer out, and fsyncs unless the policy is NEVER.
    /// While degraded, probes the disk first and fails if it is still bad.
    /// Finishes the deletions of segments first (`reap`).
    pub fn flush(&self) -> Result<()> {
        if self.config.read_only {
            return Ok(());
        }
        // The one reap at a clean close too (`Cache::shutdown` flushes, with
        // the maintenance thread stopped: nothing is deleted after it). A
        // handle that ends without a flush (`Cache::simulate_crash`) leaves
        // the files as a crash would, for the next open to delete.
        self.reap();
        self.write_hints();
        if self.commit.is_degraded() && !self.recover() {
            return Err(self.degraded_error());
        }
        let mut st = self.state.write();
        st.store.write_buffer().map_err(|e| self.fail("write the log", e))?;
        if st.store.is_durable() {
            let path = st.store.active().path.clone();
            st.store
                .sync_active()
                .map_err(|e| self.fail(format!("fsync {}", path.display()), e))?;
            self.commit.synced_upto(st.store.appended);
        }
        Ok(())
    }

    /// How many segments have left the log since open: when it moved, L1
    /// may hold values mapping a deleted file (`Memory::unmap_departed`).
    pub fn departed(&self) -> u64 {
        self.state.read().store.departed
    }

    /// Finishes the deletions since the last call with no lock held
    /// (`doomed`): drops the deleted segments (their maps and tables) and
    /// unlinks their files and hints, which `Store::delete_segment` renamed
    /// out of the way: work no get or put should wait for. A failed unlink
    /// is counted; the file is left for the next open to delete.
    /// Called by the maintenance tick (when it did not compact), `compact`,
    /// `clear` and `flush`.
    pub fn reap(&self) {
        if self.state.read().store.doomed.is_empty() {
            return;
        }
        let doomed = std::mem::take(&mut self.state.write().store.doomed);
        let failed = doomed.finish();
        self.counters.io_errors.fetch_add(failed, Ordering::Relaxed);
    }

    /// Takes this handle's `DEGRADED` mark away once the log is healthy:
    /// after the recovery that wrote what it owed (`recover`), or at a later
    /// `maybe_recover` if removing the mark failed then (else the next open
    /// would clear the log for nothing).
    // On every put's path: see `ffi::boundary::guard`.
    #[inline]
    fn settle_mark(&self) {
        if !self.marked.load(Ordering::Acquire) {
            return;
        }
        let _m = self.marking.lock();
        if !self.commit.is_degraded() && marker::clear(&self.dir).is_ok() {
            self.marked.store(false, Ordering::Release);
        }
    }

    /// Drops what was appended but not yet written to a file, as a crash
    /// of the process would (see `Cache::simulate_crash`).
    pub fn discard_unwritten(&self) {
        let mut st = self.state.write();
        let n = st.store.buf.len();
        st.store.buf.clear();
        // Keep `appended` honest for anything still waiting on a ticket.
        st.store.appended -= n as u64;
    }

    pub fn is_degraded(&self) -> bool {
        self.commit.is_degraded()
    }

    /// On a clean close: writes a hint for the active segment too, so the
    /// next open reads no segment record by record, and checkpoints the
    /// index file, so that the next open replays nothing. Bytes before a hint's
    /// length never change, so it stays right until the segment grows; then
    /// its length no longer matches and it is ignored until the seal
    /// rewrites it. A failure only costs the next open some time.
    pub fn write_active_hint(&self) {
        if self.config.read_only || self.commit.is_degraded() {
            return;
        }
        let mut st = self.state.write();
        if st.store.write_buffer().is_err() {
            return;
        }
        let (id, len) = (st.store.active().id, st.store.active().len());
        // Nothing appended since an open that found the hint of this length.
        if st.store.active_entries_from != len || !st.store.active_entries.is_empty() {
            st.store.complete_active_entries();
            match hint::write(&self.dir, id, len, &st.store.active_entries, st.store.is_durable()) {
                Ok(bytes) => st.store.active_mut().hint_bytes = bytes,
                Err(_) => {
                    self.counters.io_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if st.index_pending() > 0 || !index_file::meta_path(&self.dir).exists() {
            // Closing: no reader to keep going, so a table that must grow
            // grows here.
            if st.checkpoint(&self.dir).is_err() {
                self.checkpoint_failed(&mut st);
            }
        }
    }

    /// Probes the disk if the log is degraded and the backoff allows; and
    /// rebuilds the index if it was found not to match the log.
    // On every put's path: see `ffi::boundary::guard`.
    #[inline]
    pub fn maybe_recover(&self) {
        self.settle_mark();
        self.repair_index();
        if self.commit.probe_due() {
            self.recover();
        }
    }

    /// Tries to leave the degraded state: writes the buffer, replays what
    /// was asked while degraded, fsyncs. Says whether the log is healthy.
    fn recover(&self) -> bool {
        let mut st = self.state.write();
        if !self.commit.is_degraded() {
            return true;
        }
        let result = (|| -> io::Result<()> {
            st.store.write_buffer()?;
            let mut p = self.pending.lock();
            if p.clear {
                self.clear_on_disk(&mut st)?;
                p.clear = false;
            }
            for key in p.keys.iter() {
                let a = st.store.append(&self.draft(Kind::Tombstone, key, &[], 0))?;
                st.born_dead(a.loc, a.len);
            }
            st.store.write_buffer()?;
            st.store.sync_active()?;
            p.keys.clear();
            Ok(())
        })();
        match result {
            Ok(()) => {
                self.commit.synced_upto(st.store.appended);
                self.commit.recovered();
                // Everything acknowledged is on disk again.
                self.settle_mark();
                true
            }
            Err(e) => {
                self.fail("probe the disk", e);
                false
            }
        }
    }

    pub fn sizes(&self) -> LogSizes {
        self.maybe_recover();
        let st = self.state.read();
        LogSizes {
            entries: st.entries() as u64,
            live_bytes: st.live_bytes(),
            file_bytes: st.store.disk_bytes(),
            segments: st.store.segments.len() as u64,
        }
    }

    /// Bytes of records compaction has appended again since open (its
    /// write amplification is this over the bytes the puts appended).
    #[doc(hidden)]
    pub fn compacted_bytes(&self) -> u64 {
        self.counters.compacted_bytes.load(Ordering::Relaxed)
    }

    /// (tags, tag-key pairs) in the tag index.
    pub fn tag_sizes(&self) -> (u64, u64) {
        self.state.read().tags.sizes()
    }

    /// Checks that the counts agree with the records (see `State::check`).
    #[doc(hidden)]
    pub fn check_invariants(&self) -> std::result::Result<(), String> {
        let checked = self.state.read().check();
        if checked.is_err() && self.index_suspect.load(Ordering::Relaxed) {
            // The check met a slot that fails its CRC (marking the index
            // suspect): as any reader would, repair, then check again.
            self.repair_index();
            return self.state.read().check();
        }
        checked
    }

    /// Calls `f` with every live record (expired ones included), in the
    /// clear, in no order; `View::value` with `sealer()` gives the value.
    /// Returns the live entries the index counts (`LogSizes::entries`),
    /// read under the same hold of the lock as the records: a check that
    /// compares the two sees one moment, not two between which the
    /// maintenance thread may have retired some.
    pub fn for_each(&self, mut f: impl FnMut(&View<'_>)) -> u64 {
        let st = self.state.read();
        for (_, _, r) in st.live_records() {
            f(&r);
        }
        st.entries() as u64
    }

    /// What every append does after the index is updated: roll the segment
    /// when it is full, and keep the directory within its bound.
    // On every put's path: see `ffi::boundary::guard`.
    #[inline]
    fn after_append(&self, st: &mut State) {
        if st.store.appended >= self.ahead_due.load(Ordering::Relaxed) {
            self.ahead_due
                .store(st.store.appended + ahead::AHEAD_BYTES, Ordering::Relaxed);
            self.wake_maintenance();
        }
        if st.store.active_len() < self.config.segment_bytes || self.commit.is_degraded() {
            return;
        }
        match st.store.seal_and_start() {
            Ok(()) => {
                if st.store.is_durable() {
                    self.commit.synced_upto(st.store.appended);
                }
                self.checkpoint_at_roll(st);
                // The maintenance thread retires down to the bound, a chunk
                // at a time (`retire`); this put only if it is a whole
                // segment behind.
                self.enforce_capacity(st, self.config.segment_bytes);
                if self.config.max_bytes > 0 && st.store.disk_bytes() > self.config.max_bytes {
                    self.wake_maintenance();
                }
            }
            Err(e) => {
                self.fail("start a new segment", e);
            }
        }
    }

    /// Appends a tombstone for `key` and removes it from the index. Returns
    /// its ticket, `None` if it was not written (degraded: forgotten instead).
    fn tombstone(&self, st: &mut State, key: &[u8], h: u64) -> Ticket {
        if self.commit.is_degraded() {
            self.forget(st, key, h);
            return None;
        }
        let a = match st.store.append(&self.draft(Kind::Tombstone, key, &[], 0)) {
            Ok(a) => a,
            Err(e) => {
                self.fail("write the log", e);
                self.forget(st, key, h);
                return None;
            }
        };
        st.kill_key(h, key);
        st.born_dead(a.loc, a.len);
        Some(st.store.appended)
    }

    /// Degraded: the disk's value of `key` can no longer be replaced, so the
    /// index forgets it and recovery will tombstone it.
    fn forget(&self, st: &mut State, key: &[u8], h: u64) {
        st.kill_key(h, key);
        self.pending.lock().keys.insert(key.into());
    }

    /// Counts a failed operation, degrades the log, and describes the failure.
    fn fail(&self, what: impl std::fmt::Display, e: io::Error) -> Error {
        self.counters.io_errors.fetch_add(1, Ordering::Relaxed);
        // Before anything is acknowledged in memory only (`marker`).
        {
            let _m = self.marking.lock();
            self.commit.degrade();
            if !self.config.read_only {
                self.marked.store(true, Ordering::Release);
                marker::set(&self.dir);
            }
        }
        Error::io(format!("{what} in {}", self.dir.display()), e)
    }

    fn degraded_error(&self) -> Error {
        Error::new(
            crate::error::Status::TC_IO_ERROR,
            format!(
                "the disk tier in {} is failing; serving from memory until it recovers",
                self.dir.display()
            ),
        )
    }
}

/// Tests only: pages of `bytes` that this process's page tables map now
/// (bit 63 of their entries in `/proc/self/pagemap`, which a process may
/// read of itself).
#[cfg(all(test, target_os = "linux"))]
pub(crate) fn mapped_pages(bytes: &[u8]) -> usize {
    use std::io::{Read, Seek, SeekFrom};
    const PAGE: usize = 4096;
    let first = bytes.as_ptr() as usize / PAGE;
    let last = (bytes.as_ptr() as usize + bytes.len() - 1) / PAGE;
    let mut f = std::fs::File::open("/proc/self/pagemap").unwrap();
    f.seek(SeekFrom::Start(first as u64 * 8)).unwrap();
    let mut entries = vec![0u8; (last - first + 1) * 8];
    f.read_exact(&mut entries).unwrap();
    entries
        .chunks_exact(8)
        .filter(|e| u64::from_le_bytes((*e).try_into().unwrap()) >> 63 == 1)
        .count()
}

/// Tests only: copies every file of `from` into `to` as it is now, which
/// is what a process killed now leaves (the page cache's bytes: writes
/// through maps included).
#[cfg(test)]
pub(crate) fn copy_as_killed(from: &Path, to: &Path) {
    for f in fs::read_dir(from).unwrap() {
        let f = f.unwrap();
        fs::copy(f.path(), to.join(f.file_name())).unwrap();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn put(log: &Log, i: u32) {
        let key = format!("k{i}");
        let h = log.hasher().hash(key.as_bytes());
        log.put(key.as_bytes(), h, format!("v{i}").as_bytes(), 0, 1, None)
            .unwrap();
    }

    fn capacity(dir: &Path) -> u64 {
        index_file::Table::open(&index_file::slots_path(dir), false)
            .unwrap()
            .unwrap()
            .capacity()
    }

    /// A checkpoint that finds the table too full is put off to
    /// `grow_index` (the maintenance thread's), which copies the table a
    /// chunk at a time while puts go on (here from another thread), then
    /// installs it and checkpoints into it. Whatever the puts did between
    /// the chunks, every key reads its value, and the next open trusts the
    /// index file (no rebuild) and reads them all too.
    #[test]
    fn a_table_grown_while_puts_go_on_is_installed_and_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = LogConfig::for_tests();
        config.segment_bytes = 16 << 10;
        let counters = Arc::new(Counters::default());
        let log = Log::open(dir.path(), config.clone(), counters.clone()).unwrap();
        let mut n = 0;
        while !log.index_grow_due.load(Ordering::Relaxed) {
            put(&log, n);
            n += 1;
        }
        let before = capacity(dir.path());
        let more = n + 40_000;
        let done = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                (n..more).for_each(|i| put(&log, i));
                done.store(true, Ordering::Release);
            });
            while !done.load(Ordering::Acquire) {
                log.grow_index();
                log.merge_index();
                std::thread::yield_now();
            }
        });
        while log.index_grow_due.load(Ordering::Relaxed) {
            log.grow_index();
            log.merge_index();
        }
        assert!(capacity(dir.path()) > before, "grown");
        for i in (0..more).step_by(7) {
            assert_eq!(
                log.value_now(format!("k{i}").as_bytes()),
                Some(format!("v{i}").into_bytes())
            );
        }
        log.write_active_hint();
        drop(log);
        let log = Log::open(dir.path(), config, counters.clone()).unwrap();
        assert_eq!(
            counters.l2_index_rebuilds.load(Ordering::Relaxed),
            0,
            "the index file is trusted"
        );
        for i in 0..more {
            assert_eq!(
                log.value_now(format!("k{i}").as_bytes()),
                Some(format!("v{i}").into_bytes())
            );
        }
    }

    /// A plan that fails nothing and counts the write-backs under `dir`
    /// (`fileio::seen`).
    fn count_write_backs(dir: &Path) {
        fileio::inject(
            dir,
            fileio::Plan {
                op: fileio::Op::WriteBack,
                nth: u64::MAX,
                persistent: false,
                errno: libc::EIO,
            },
        );
    }

    /// Under a policy that fsyncs, the put that takes the log past
    /// `AHEAD_BYTES` more wakes the maintenance thread, whose
    /// `write_back_ahead` then starts the active segment's write-back,
    /// once per `AHEAD_BYTES` of it; so the seal's fsync, under the lock, is
    /// left at most about that much to write. Under `TC_SYNC_NEVER` no
    /// seal fsyncs, and nothing is woken or written back.
    #[test]
    fn the_active_segment_is_written_back_ahead_of_its_seal_under_a_policy_that_fsyncs() {
        for (sync, fsyncs) in [(SyncPolicy::TC_SYNC_ON_FLUSH, true), (SyncPolicy::TC_SYNC_NEVER, false)] {
            let dir = tempfile::tempdir().unwrap();
            let mut config = LogConfig::for_tests();
            config.sync = sync;
            config.segment_bytes = 64 << 20;
            let log = Log::open(dir.path(), config, Arc::new(Counters::default())).unwrap();
            let wakes = Arc::new(AtomicU64::new(0));
            let w = wakes.clone();
            log.set_waker(Box::new(move || {
                w.fetch_add(1, Ordering::Relaxed);
            }));
            count_write_backs(dir.path());
            let value = vec![7u8; 64 << 10];
            let mut i = 0;
            let mut put_until = |done: &dyn Fn(&store::Store) -> bool| {
                while !done(&log.state.read().store) {
                    let key = format!("k{i}");
                    log.put(key.as_bytes(), log.hasher().hash(key.as_bytes()), &value, 0, 1, None);
                    i += 1;
                }
            };
            let mark = ahead::AHEAD_BYTES;
            put_until(&|s| s.appended >= mark - (256 << 10));
            log.write_back_ahead();
            let seen = || fileio::seen(dir.path(), fileio::Op::WriteBack);
            assert_eq!((wakes.load(Ordering::Relaxed), seen()), (0, 0), "short of the mark");
            put_until(&|s| s.active().len() >= segment::HEADER_LEN + mark);
            assert_eq!(
                wakes.load(Ordering::Relaxed) > 0,
                fsyncs,
                "{sync:?}: the put past the mark wakes"
            );
            log.write_back_ahead();
            log.write_back_ahead();
            assert_eq!(seen(), u64::from(fsyncs), "{sync:?}: once for the bytes past the mark");
            put_until(&|s| s.active().len() >= segment::HEADER_LEN + 2 * mark);
            log.write_back_ahead();
            assert_eq!(seen(), 2 * u64::from(fsyncs), "{sync:?}: and once for the next");
            fileio::heal(dir.path());
        }
    }

    /// A log in `dir` with keys `k0`..`k2999` written, past the first
    /// table's growth, and then again until a checkpoint is under way that
    /// merges in chunks (a segment holds more changed keys than one merged
    /// at once); with its config and the number of puts made.
    fn merging_in_chunks(dir: &Path) -> (Log, LogConfig, u32) {
        merging_in_chunks_under(dir, SyncPolicy::TC_SYNC_NEVER)
    }

    /// `merging_in_chunks` under the policy `sync`.
    fn merging_in_chunks_under(dir: &Path, sync: SyncPolicy) -> (Log, LogConfig, u32) {
        let mut config = LogConfig::for_tests();
        config.sync = sync;
        config.segment_bytes = 256 << 10;
        let log = Log::open(dir, config.clone(), Arc::new(Counters::default())).unwrap();
        let mut n = 0;
        while n < 4000 || !log.state.read().index_merging() {
            assert!(n < 100_000, "no checkpoint merged in chunks");
            put(&log, n % 3000);
            n += 1;
            if log.index_grow_due.load(Ordering::Relaxed) {
                log.grow_index();
                log.merge_index();
            }
        }
        (log, config, n)
    }

    /// Under a policy that fsyncs, a checkpoint merged in chunks syncs the
    /// log after its freeze, which syncs nothing (it is made under the
    /// log's lock: after a grown table's install it fsynced the log there,
    /// 3-11 ms), and before its meta file, which claims the log up to the
    /// freeze. A sync that fails leaves the last meta file.
    #[test]
    fn a_checkpoint_in_chunks_syncs_the_log_before_its_meta_file_not_at_its_freeze() {
        for fails in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let (log, config, _) = merging_in_chunks_under(dir.path(), SyncPolicy::TC_SYNC_ON_FLUSH);
            log.merge_index();
            let watermark = || {
                let meta = index_file::read_meta(dir.path()).unwrap().unwrap();
                index_file::decode_meta(&meta).unwrap().watermark
            };
            let before = watermark();
            for i in 0..1000 {
                put(&log, i);
            }
            let syncs = || fileio::seen(dir.path(), fileio::Op::Sync);
            fileio::inject(
                dir.path(),
                fileio::Plan {
                    op: fileio::Op::Sync,
                    nth: if fails { 1 } else { u64::MAX },
                    persistent: false,
                    errno: libc::EIO,
                },
            );
            let (last, pos) = {
                let mut st = log.state.write();
                let active = st.store.active().id;
                log.checkpoint(&mut st);
                assert!(st.index_merging(), "merged in chunks");
                assert_eq!(st.store.active().id, active, "no segment sealed");
                let synced = log.commit.synced();
                assert!(
                    st.checkpoint_awaits(synced).is_none(),
                    "not before every hash is merged"
                );
                loop {
                    assert!(
                        !st.checkpoint_step(&log.dir, MERGE_CHUNK, synced).unwrap(),
                        "waits for the log"
                    );
                    if let Some(pos) = st.checkpoint_awaits(synced) {
                        break (st.store.last_seq(), pos);
                    }
                }
            };
            if !fails {
                assert_eq!(syncs(), 0, "nothing synced yet");
            }
            assert_eq!(watermark(), before, "no meta file before the log's sync");
            log.merge_index();
            fileio::heal(dir.path());
            if fails {
                assert!(log.commit.is_degraded(), "the failed sync degrades the log");
                assert_eq!(watermark(), before, "the last meta file stays");
                continue;
            }
            assert!(log.commit.synced() >= pos, "synced as far as the freeze");
            assert!(!log.state.read().index_merging());
            assert_eq!(watermark(), last, "the meta file is the checkpoint's");
            drop(log);
            let counters = Arc::new(Counters::default());
            let log = Log::open(dir.path(), config, counters.clone()).unwrap();
            assert_eq!(counters.l2_index_rebuilds.load(Ordering::Relaxed), 0, "trusted");
            holds_every_value(&log);
        }
    }

    /// Counts agree with the records, and `k0`..`k2999` hold their values
    /// (`merging_in_chunks`).
    fn holds_every_value(log: &Log) {
        log.check_invariants().unwrap();
        for i in 0..3000 {
            assert_eq!(
                log.value_now(format!("k{i}").as_bytes()),
                Some(format!("v{i}").into_bytes()),
                "k{i}"
            );
        }
    }

    /// A segment rolled while a checkpoint is being merged asks for
    /// another: it is put off to the end of that merge, which goes on a
    /// chunk at a time, never under the rolling put's hold of the lock
    /// (which before merged the rest of the first in one go: 70-90 ms at a
    /// 256 MiB bound). The merge then begins the one put off, and its meta
    /// file holds the log as of then: the next open trusts it and has
    /// every value.
    #[test]
    fn a_checkpoint_asked_for_while_one_merges_waits_for_that_merge() {
        let dir = tempfile::tempdir().unwrap();
        let (log, config, mut n) = merging_in_chunks(dir.path());
        let left = log.state.read().index_merge_left();
        assert!(left > MERGE_CHUNK, "a checkpoint of more than one chunk: {left}");
        assert!(!log.state.read().checkpoint_put_off());
        let segment = log.state.read().store.active().id;
        while log.state.read().store.active().id == segment {
            put(&log, n % 3000);
            n += 1;
        }
        let (put_off, still_left, last) = {
            let st = log.state.read();
            (st.checkpoint_put_off(), st.index_merge_left(), st.store.last_seq())
        };
        assert!(put_off, "the roll's checkpoint waits for the merge");
        assert_eq!(still_left, left, "the rolling put merged nothing");
        log.merge_index();
        {
            let st = log.state.read();
            assert!(!st.index_merging() && !st.checkpoint_put_off(), "both merged");
        }
        let meta = index_file::read_meta(dir.path()).unwrap().unwrap();
        let meta = index_file::decode_meta(&meta).unwrap();
        assert!(meta.watermark >= last, "the meta file is the later checkpoint's");
        drop(log);
        let counters = Arc::new(Counters::default());
        let log = Log::open(dir.path(), config, counters.clone()).unwrap();
        assert_eq!(counters.l2_index_rebuilds.load(Ordering::Relaxed), 0, "trusted");
        holds_every_value(&log);
    }

    /// A process killed in the middle of a checkpoint (some of its hashes
    /// merged into the table in place, the rest not) leaves the meta file
    /// and the journal: the next open writes the old slots back, trusts the
    /// index, replays the tail past the watermark, and has every value.
    /// The kill is a copy of the files as they are, the page cache's, which
    /// is what a killed process leaves.
    #[test]
    fn a_checkpoint_cut_short_is_undone_not_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let (log, config, _) = merging_in_chunks(dir.path());
        {
            let mut st = log.state.write();
            assert!(!st.checkpoint_step(&log.dir, 100, u64::MAX).unwrap(), "merged in part");
            st.store.write_buffer().unwrap();
        }
        let copy = tempfile::tempdir().unwrap();
        copy_as_killed(dir.path(), copy.path());
        assert!(copy.path().join(index_file::META_FILE).exists(), "the meta file stays");
        drop(log);
        // Read-only, the journal cannot be undone: the index is rebuilt in
        // memory, and the files are left as they are.
        let mut read_only = config.clone();
        read_only.read_only = true;
        let counters = Arc::new(Counters::default());
        let log = Log::open(copy.path(), read_only, counters.clone()).unwrap();
        assert_eq!(counters.l2_index_rebuilds.load(Ordering::Relaxed), 1, "rebuilt");
        for i in (0..3000).step_by(7) {
            assert_eq!(
                log.value_now(format!("k{i}").as_bytes()),
                Some(format!("v{i}").into_bytes())
            );
        }
        drop(log);
        assert!(
            copy.path().join(undo::UNDO_FILE).exists(),
            "a read-only open changed nothing"
        );
        let counters = Arc::new(Counters::default());
        let log = Log::open(copy.path(), config, counters.clone()).unwrap();
        assert_eq!(counters.l2_index_rebuilds.load(Ordering::Relaxed), 0, "trusted");
        assert_eq!(counters.l2_checkpoints_undone.load(Ordering::Relaxed), 1, "undone");
        // The counts as the records say (the tail replayed over a table
        // still holding part of the checkpoint would count those keys'
        // records dead twice, and lose the older records they replaced).
        holds_every_value(&log);
    }
}
