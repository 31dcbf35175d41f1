//! The cache: L1 in memory, L2 on disk, L3 the loader, and the rules that tie
//! them together.
//!
//! Lock order, the one rule that keeps this deadlock-free: an L1 shard lock
//! may be held while the log's lock is taken, never the other way round, and
//! no lock at all is held while the loader runs. Writes of a key hold its
//! shard lock across the L2 append, so L1 and L2 see the writes of one key in
//! the same order. A get reads L2 without the shard lock and promotes the
//! value only if the shard saw no write in the meantime (`Shard::seq`).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

// The maintenance thread is a real OS thread: parking_lot's locks, not the
// facade's (see `sync`).
use parking_lot::{Condvar, Mutex};

use crate::clock::{expiry, is_expired, Clock, Now};
use crate::error::{Error, Result, Status};
use crate::loader::{outcome_of, run_loader, Flight, Join, Loaded, Loader};
use crate::log::{Found, Info, KeyHasher, Log, LogConfig, Removed, Ticket, Trust};
use crate::memory::{Entry, Evicted, Glance, Lookup, Memory, Reader, Resident, Shard, ShardGuard, Validity};
use crate::meta::{self, Meta};
use crate::options::{Options, SyncPolicy, WritePolicy, DEFAULT_SEGMENT_BYTES, MAX_KEY_LEN};
use crate::outgoing::Outgoing;
use crate::remote::subscriber::Subscriber;
use crate::remote::{Fetched, Lock, Remote, Write, REMOTE_NONE};
use crate::stats::{Counters, Stats, L2_DEGRADED, L2_NONE, L2_OK};
use crate::sweep::Sweep;
use crate::sync::RwLock;
use crate::value::Value;

pub struct Cache {
    /// How keys are hashed, in memory and on disk: keyed when L2 is
    /// encrypted, so no hash on disk says anything of a key.
    hasher: KeyHasher,
    /// Shared with the remote tier's subscriber, which drops what other
    /// processes invalidate (`invalidate::Local`).
    memory: Arc<Memory>,
    log: Option<Arc<Log>>,
    loader: RwLock<Option<Arc<dyn Loader>>>,
    /// Whether `loader` is `Some`: set under its write lock, read without
    /// the lock (see `loader_for`).
    has_loader: AtomicBool,
    counters: Arc<Counters>,
    write_policy: WritePolicy,
    default_ttl_ms: u64,
    max_value_len: u64,
    /// Opened read-only: writes are refused, loaded values stay in memory.
    read_only: bool,
    maintenance: Option<Maintenance>,
    /// Which segment deletions L1 has been swept of (`sweep`): shared with
    /// the maintenance thread, which sweeps after each tick.
    sweep: Arc<Sweep>,
    /// The shared remote tier, if one is configured, and its thread.
    remote: Option<Arc<Remote>>,
    subscriber: Option<Subscriber>,
    /// For tests: called before each round trip of remote writes
    /// (`before_remote_writes`).
    before_send: Mutex<Option<BeforeSend>>,
    clock: Clock,
    closed: bool,
}

/// A test's hook into the moment between a write's local and remote halves.
type BeforeSend = Arc<dyn Fn() + Send + Sync>;

/// What the cache knows about one entry (`Cache::info`, `tc_get_info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EntryInfo {
    pub value_len: u64,
    /// Absolute expiry, ms since the epoch (0: never).
    pub expires_at: u64,
    /// When the put or load that wrote the value happened, ms since the epoch.
    pub written_at: u64,
    /// The tier that holds it: 1 memory, 2 disk, 3 remote.
    pub tier: u32,
    pub tag_count: u32,
}

crate::sync::thread_local! {
    /// How many loads the calling thread is leading (a loader may get other
    /// keys, which may load in turn).
    static LEADING: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Whether the calling thread is leading a load.
fn leading() -> bool {
    LEADING.with(|l| l.get() > 0)
}

/// Counts the calling thread as leading a load while it lives.
struct Leading;

impl Leading {
    fn begin() -> Leading {
        LEADING.with(|l| l.set(l.get() + 1));
        Leading
    }
}

impl Drop for Leading {
    fn drop(&mut self) {
        LEADING.with(|l| l.set(l.get() - 1));
    }
}

/// The loads one get led, whose waiters it answers: with its final answer,
/// or with a failure if it unwinds (so that they never wait for ever).
struct Led<'a> {
    cache: &'a Cache,
    key: &'a [u8],
    h: u64,
    flights: Vec<Arc<Flight>>,
}

// `answer` and `drop` are inlined into every get, where nearly always no
// load was led (an L1 hit): the check for that is then a compare in place,
// not two calls that move the answer through memory (which cost an L1 hit
// through the C ABI about 70 instructions); the work for a led load stays
// out of line.
impl Led<'_> {
    /// Publishes `answer` to every load led, and returns it.
    #[inline(always)]
    fn answer(mut self, answer: Result<Value>) -> Result<Value> {
        if !self.flights.is_empty() {
            self.publish(&answer);
        }
        answer
    }

    #[cold]
    fn publish(&mut self, answer: &Result<Value>) {
        for f in std::mem::take(&mut self.flights) {
            f.publish(answer.as_ref().map(Value::to_arc).map_err(Clone::clone));
        }
    }

    /// Unwinding: the loads led get a failure instead of an answer.
    #[cold]
    fn fail(&mut self) {
        for f in std::mem::take(&mut self.flights) {
            self.cache.memory.lock(self.h).land(self.key, &f);
            f.publish(Err(Error::new(Status::TC_PANIC, "the load of this key panicked")));
        }
    }
}

impl Drop for Led<'_> {
    #[inline]
    fn drop(&mut self) {
        if !self.flights.is_empty() {
            self.fail();
        }
    }
}

/// How a get that missed L1 goes on.
enum Miss {
    /// No loader: read L2, and promote if the shard's `seq` is still this.
    Plain(u64),
    /// A loader is set: the flight this get joined, and the loader.
    Load(Join, Arc<dyn Loader>),
}

/// Where `Cache::store` put a value, for `Cache::wait_durable`.
enum Stored {
    /// In L1 only (write-back, read-only, memory only, or a degraded L2).
    Memory,
    /// Appended to L2, ending at this log position.
    Logged(u64),
    /// Nowhere: L2 failed and L1 cannot hold it.
    Nowhere,
    /// Nowhere: a cache without a directory cannot hold a value this big.
    TooLarge(usize),
}

/// The background thread that looks after L2: it writes out and fsyncs the
/// log every interval under `TC_SYNC_INTERVAL`, retires the oldest segments
/// while the directory is over its bound (`Log::retire`) and grows the
/// index's table when it must (`Log::grow_index`), both as soon as a put
/// wakes it for them, compacts segments that are mostly dead, finishes the
/// deletions of segments (unmaps them, unlinks their files: off the log's
/// lock, `Log::reap`), sweeps L1 of values mapping them (`sweep`), and
/// probes a failing disk so L2 comes back by itself.
struct Maintenance {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

/// How often maintenance looks at the log when no sync interval is set.
const MAINTENANCE_TICK: Duration = Duration::from_millis(250);

impl Maintenance {
    fn start(log: Arc<Log>, memory: Arc<Memory>, sweep: Arc<Sweep>, sync_every: Option<Duration>) -> Maintenance {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let s = stop.clone();
        // Raised, with the condition variable notified, by the log when it
        // has work before the tick (`Log::set_waker`). The flag and not the
        // mutex: the log wakes the thread with its own lock held, and this
        // thread holds the mutex while it works, taking the log's lock.
        // A notification that comes while the thread works is lost, the
        // flag is not: it is looked at before each wait.
        let nudged = Arc::new(AtomicBool::new(false));
        {
            let (s, nudged) = (stop.clone(), nudged.clone());
            log.set_waker(Box::new(move || {
                nudged.store(true, Ordering::Release);
                s.1.notify_one();
            }));
        }
        let tick = sync_every.unwrap_or(MAINTENANCE_TICK).min(MAINTENANCE_TICK);
        let thread = std::thread::Builder::new()
            .name("tiercache-maintenance".into())
            .spawn(move || {
                let (lock, cv) = &*s;
                let mut last_sync = std::time::Instant::now();
                let mut stopped = lock.lock();
                while !*stopped {
                    if !nudged.swap(false, Ordering::AcqRel) {
                        let timed_out = cv.wait_for(&mut stopped, tick).timed_out();
                        if *stopped || !(timed_out || nudged.swap(false, Ordering::AcqRel)) {
                            continue;
                        }
                    }
                    // Failures are counted in `io_errors` and degrade the log.
                    if let Some(every) = sync_every {
                        if last_sync.elapsed() >= every {
                            let _ = log.flush();
                            last_sync = std::time::Instant::now();
                        }
                    }
                    log.maybe_recover();
                    // First: the put that woke this thread may be filling a
                    // segment whose seal would write it all out (`ahead`).
                    log.write_back_ahead();
                    // A checkpoint under way is merged before the table
                    // grows (a copy of a table being merged into would be
                    // moot), and the one that installing a grown table
                    // begins is merged after.
                    log.merge_index();
                    log.grow_index();
                    log.merge_index();
                    // The bound first: a roll that left the directory over
                    // it woke this thread (and reaps what it deletes).
                    log.retire();
                    if log.wants_compaction() {
                        // Reaps too, whatever it returns.
                        let _ = log.compact(false);
                    } else {
                        // Segments retired by puts since the last tick.
                        log.reap();
                    }
                    // The hints of segments sealed since the last tick
                    // (after compaction: a segment it deleted needs none).
                    log.write_hints();
                    // The checkpoints that retiring and compaction began.
                    log.merge_index();
                    // L1's values mapping segments deleted by this tick's
                    // compaction or puts since the last: copied, so their
                    // files' space goes.
                    sweep.run(&memory, &log);
                }
            })
            .expect("spawn the tiercache maintenance thread");
        Maintenance {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(&mut self) {
        *self.stop.0.lock() = true;
        self.stop.1.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The segment size: as configured, except that with an L2 bound and the
/// default size, segments are an eighth of the bound (64 KiB at least), so
/// that retiring one gives back a fair share of the disk and the bound plus
/// a segment or two (docs/FORMAT.md, "Reclaiming space") stays close to the
/// bound.
fn segment_bytes(opts: &Options) -> u64 {
    if opts.segment_bytes == DEFAULT_SEGMENT_BYTES && opts.l2_max_bytes > 0 {
        (opts.l2_max_bytes / 8).clamp(64 << 10, DEFAULT_SEGMENT_BYTES)
    } else {
        opts.segment_bytes
    }
}

/// The remote tier's answer for a key of a batch, read before the get that
/// uses it (`Cache::get_many`), with the write counter of the key's shard
/// just before the read: if the counter moved by the get's miss, a write (or
/// an invalidation) may have come after the read, and the answer is dropped.
///
/// Passed boxed (`Option<Box<Prefetched>>`): unboxed, the `Option` is 160
/// bytes (a `Frame`), and every get, which passes `None`, copied it into
/// its frame with a call of `memcpy` (29 of an L1 hit's ~570 instructions
/// through `tc_get`). Only a batch with the remote tier makes one, beside a
/// round trip to the server.
struct Prefetched {
    seq: u64,
    fetched: Fetched,
}

/// What a get knew when it missed L1, for the load it leads.
struct Seen {
    /// L1 had an entry that can no longer be served: L2 is not read.
    l1_said_gone: bool,
    /// The remote tier's answer, read by a batch before the miss.
    pre: Option<Box<Prefetched>>,
}

/// A remote value as an L1 entry (clean), and the value.
/// Whether `e` may be in the remote tier: not a value with a file
/// dependency, which is local to this machine (remotely its key is removed).
fn shared_remotely(e: &Entry) -> bool {
    e.meta.as_ref().is_none_or(|m| m.dependency.is_none())
}

fn remote_entry(f: crate::remote::frame::Frame) -> (Entry, Arc<[u8]>) {
    let value: Arc<[u8]> = Arc::from(f.value.unwrap_or_default());
    let meta = (!f.meta.is_empty()).then(|| Arc::new(f.meta));
    (Entry::new(value.clone(), f.expires_at, f.written_at, meta), value)
}

/// The most entries an eviction list kept between promotions may have room
/// for: a promotion evicts one entry or a few; a list grown past this by a
/// large value that pushed out many small ones is freed.
const KEPT_EVICTION_LIST: usize = 16;

std::thread_local! {
    /// The thread's empty eviction list, kept between promotions: with a
    /// small L1 nearly every L2 hit evicts, and a new list for each one was
    /// a malloc and a free per hit.
    static EVICTION_LIST: std::cell::Cell<Vec<Evicted>> = const { std::cell::Cell::new(Vec::new()) };
}

/// An empty list for a promotion's evictions: the thread's kept one if it
/// has it. Hand it back through `spare_evicted`.
fn eviction_list() -> Vec<Evicted> {
    EVICTION_LIST.try_with(|l| l.take()).unwrap_or_default()
}

/// Drops what a promotion pushed out of L1 (after its shard's lock is let
/// go), keeping a value's buffer that nothing else holds as the thread's
/// spare (`value::spare`): the next L2 hit's copy goes into it instead of a
/// new allocation. The emptied list is kept for the thread's next
/// promotion (`eviction_list`).
fn spare_evicted(mut evicted: Vec<Evicted>) {
    for (_, e) in evicted.drain(..) {
        if let Value::Heap(v) = e.value {
            crate::value::spare::keep(v);
        }
    }
    if evicted.capacity() <= KEPT_EVICTION_LIST {
        // After the thread's locals are gone, the list is simply dropped.
        let _ = EVICTION_LIST.try_with(|l| l.set(evicted));
    }
}

/// `v`'s bytes as an `Arc`: a heap value's own (moved, not cloned), a
/// mapped one's copied.
fn into_arc(v: Value) -> Arc<[u8]> {
    match v {
        Value::Heap(a) => a,
        mapped => mapped.to_arc(),
    }
}

/// The shortest value L1 keeps as a slice of its segment's map rather than
/// a copy, when a get promotes it from L2 (`promote`): from here on the copy
/// (and the copy's allocation, over glibc's thread cache) costs more than
/// the map's reference count, and the hit that copies it again into the
/// caller's buffer is the only copy left, as with LMDB. What keeps a mapped
/// L1 value sound: `value::map` (a deleted segment's values are swept into
/// copies), `touch` (the record is checksummed again before it is
/// rewritten), and docs/CONSISTENCY.md §8.
pub const MAP_FROM: usize = 4096;

fn check_key(key: &[u8]) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid("key: must be at least 1 byte long"));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(Error::new(
            Status::TC_TOO_LARGE,
            format!("key: {} bytes is over the limit of {MAX_KEY_LEN}", key.len()),
        ));
    }
    Ok(())
}

impl Cache {
    /// Opens a cache: memory only if `opts.dir` is `None`, otherwise with its
    /// L2 in that directory (created if missing, locked while open).
    pub fn open(opts: &Options) -> Result<Cache> {
        Cache::open_with_l1(opts, opts.l1_policy.into())
    }

    /// `open`, with L1 evicting by `l1` instead of `opts.l1_policy`: for the
    /// hit-ratio harness, which tries S3-FIFO's knobs (benchmarks/).
    #[doc(hidden)]
    pub fn open_with_l1(opts: &Options, l1: crate::memory::PolicyKind) -> Result<Cache> {
        let counters = Arc::new(Counters::default());
        let log = match &opts.dir {
            None => None,
            Some(dir) => Some(Arc::new(Log::open(
                dir,
                LogConfig {
                    sync: opts.sync_policy,
                    segment_bytes: segment_bytes(opts),
                    max_bytes: opts.l2_max_bytes,
                    read_only: opts.read_only,
                    clock: opts.clock.clone(),
                    compression: opts.compression,
                    min_compress_len: opts.min_compress_len,
                    max_value_len: opts.max_value_len,
                    encryption_key: opts.encryption_key.clone(),
                },
                counters.clone(),
            )?)),
        };
        let memory = Arc::new(Memory::new(opts.l1_max_entries, opts.l1_max_bytes, l1));
        let sweep = Arc::new(Sweep::default());
        let maintenance = log.as_ref().filter(|_| !opts.read_only).map(|log| {
            let every = (opts.sync_policy == SyncPolicy::TC_SYNC_INTERVAL)
                .then(|| Duration::from_millis(opts.sync_interval_ms.max(1)));
            Maintenance::start(log.clone(), memory.clone(), sweep.clone(), every)
        });
        let hasher = log.as_ref().map(|l| l.hasher()).unwrap_or_default();
        let (remote, subscriber) = match &opts.remote {
            None => (None, None),
            Some(target) => {
                let remote = Arc::new(Remote::new(target, opts)?);
                let local = crate::invalidate::Local {
                    hasher,
                    memory: memory.clone(),
                    // A read-only open never changes its directory: what
                    // other processes invalidate leaves only its memory.
                    log: log.clone().filter(|_| !opts.read_only),
                    clock: opts.clock.clone(),
                };
                let sub = Subscriber::start(remote.clone(), local);
                (Some(remote), Some(sub))
            }
        };
        Ok(Cache {
            hasher,
            memory,
            log,
            loader: RwLock::new(None),
            has_loader: AtomicBool::new(false),
            counters,
            write_policy: opts.write_policy,
            default_ttl_ms: opts.default_ttl_ms,
            max_value_len: opts.max_value_len,
            read_only: opts.read_only,
            maintenance,
            sweep,
            remote,
            subscriber,
            before_send: Mutex::new(None),
            clock: opts.clock.clone(),
            closed: false,
        })
    }

    fn check_value(&self, value: &[u8]) -> Result<()> {
        crate::options::check_value_len(value.len(), self.max_value_len)
    }

    /// Refuses a write to a cache opened read-only.
    fn writable(&self) -> Result<()> {
        if self.read_only {
            return Err(Error::invalid("the cache was opened read-only"));
        }
        Ok(())
    }

    /// The largest value this cache accepts.
    pub fn max_value_len(&self) -> u64 {
        self.max_value_len
    }

    /// Whether puts stay in L1 until evicted or flushed. A read-only cache
    /// never writes back: it never writes at all.
    fn write_back(&self) -> bool {
        self.write_policy == WritePolicy::TC_WRITE_BACK && self.log.is_some() && !self.read_only
    }

    /// The value of `key`: from L1, else L2 (promoted into L1), else the
    /// loader (stored in both). `TC_NOT_FOUND` if none has it.
    pub fn get(&self, key: &[u8]) -> Result<Arc<[u8]>> {
        self.get_with(key, None, None).map(|v| v.to_arc())
    }

    /// `get`, without copying the value: L1's own value, or (for an L2 hit
    /// that L1 does not take in) the bytes in the segment's memory map, kept
    /// mapped for as long as the `Value` lives. The same tiers, promotion,
    /// loader and consistency as `get`.
    pub fn get_value(&self, key: &[u8]) -> Result<Value> {
        self.get_with(key, None, None)
    }

    /// `get_value`, except that an L1 hit offers the value to `reader`
    /// under the shard's lock (see `memory::Reader`): `Ok(None)` if it took
    /// it, and then no `Arc` was cloned. Any other answer (a value the
    /// reader declined, a value from L2, the remote tier or the loader) is
    /// `get_value`'s. The same tiers, counters and consistency.
    pub fn get_read(&self, key: &[u8], reader: &mut impl Reader) -> Result<Option<Value>> {
        self.get_reading(key, None, None, reader)
    }

    /// The first step of `get_read`, and only if it needs no waiting: an L1
    /// hit, taken under the shard's shared lock if no write of the shard is
    /// in or waiting for it. `Some(None)`: `reader` took the value;
    /// `Some(Some(v))`: the hit's value; `None`: no answer (a bad key, an
    /// L1 miss, an entry that can no longer be served, or the shard being
    /// written), and nothing counted, so that the caller's `get_read` of the
    /// key next counts it once. A hit is counted as `get_read` counts one.
    pub fn get_at_once(&self, key: &[u8], reader: &mut impl Reader) -> Option<Option<Value>> {
        check_key(key).ok()?;
        let h = self.hasher.hash(key);
        match self.memory.try_glance(h, key, &Now::new(&self.clock), reader)? {
            Glance::Hit(v) => Some(Some(v)),
            Glance::Read => Some(None),
            Glance::Absent(_) | Glance::Exclusive => None,
        }
    }

    /// `get`, with `loader` asked on a miss instead of the cache's own. The
    /// single flight is the same: a get of the key with either loader that
    /// misses meanwhile waits for this answer.
    pub fn get_or_load(&self, key: &[u8], loader: Arc<dyn Loader>) -> Result<Arc<[u8]>> {
        self.get_with(key, Some(loader), None).map(|v| v.to_arc())
    }

    /// Gets many keys: as many `get_value`s, except that the remote tier is
    /// asked for every key that misses L1 and L2 in one round trip.
    pub fn get_many(&self, keys: &[&[u8]]) -> Vec<Result<Value>> {
        let mut values = Vec::with_capacity(keys.len());
        // `()` reads nothing: every answer is a value.
        self.get_many_read(keys, &mut (), |_, _, got| {
            values.push(got.map(|v| v.expect("a get whose reader takes nothing gets a value")));
        });
        values
    }

    /// `get_many`, with each key's value offered to `reader` first, as by
    /// `get_read`: `answer(i, reader, got)` is called for each key in
    /// order, right after its get, with `Ok(None)` if the reader took the
    /// value. Between two keys `answer` may change what the reader reads
    /// into (the C ABI's batch moves it along the caller's buffer).
    ///
    /// Why a reader and not `get_many`'s values: for a batch of L1 hits a
    /// value per key is an `Arc` clone, or for a value held in L1's node an
    /// allocation and a copy, then a second copy into the caller's buffer
    /// and a free; through the reader a hit is one copy under the shard's
    /// lock, as `tc_get_into`'s. Measured on 100-byte L1 hits over 20k keys
    /// (`benchmarks/c/gets.c many`, batches of 100): 125 ns a key with the
    /// values, 62 through the reader, single `tc_get_into` calls 74-77.
    pub fn get_many_read<R: Reader>(
        &self,
        keys: &[&[u8]],
        reader: &mut R,
        mut answer: impl FnMut(usize, &mut R, Result<Option<Value>>),
    ) {
        let mut pre = self.prefetch_many(keys);
        for (i, k) in keys.iter().enumerate() {
            let p = pre.get_mut(i).and_then(Option::take);
            let got = self.get_reading(k, None, p, reader);
            answer(i, reader, got);
        }
    }

    /// The remote tier's answers for a batch's keys that miss L1 and L2,
    /// asked in one round trip, by the key's index (empty without a remote
    /// tier, or for a single key: each get then asks on its own).
    fn prefetch_many(&self, keys: &[&[u8]]) -> Vec<Option<Box<Prefetched>>> {
        let Some(remote) = self.remote.as_ref().filter(|_| keys.len() > 1) else {
            return Vec::new();
        };
        let now = Now::new(&self.clock);
        // The shard's write counter before each look: the remote answer is
        // used only if no write of the shard came since (see `Prefetched`).
        let mut wanted = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            if check_key(k).is_err() {
                continue;
            }
            let h = self.hasher.hash(k);
            let seq = {
                let shard = self.memory.lock(h);
                if shard.peek_live(h, k, &now) == Some(true) {
                    continue;
                }
                shard.seq()
            };
            if !self.on_disk(k, h, &now) {
                wanted.push((i, seq));
            }
        }
        let fetched = remote.get_many(&wanted.iter().map(|&(i, _)| keys[i]).collect::<Vec<_>>());
        let mut pre: Vec<Option<Box<Prefetched>>> = keys.iter().map(|_| None).collect();
        for ((i, seq), f) in wanted.into_iter().zip(fetched) {
            pre[i] = Some(Box::new(Prefetched { seq, fetched: f }));
        }
        pre
    }

    fn get_with(&self, key: &[u8], loader: Option<Arc<dyn Loader>>, pre: Option<Box<Prefetched>>) -> Result<Value> {
        // `()` reads nothing: every answer is a value.
        self.get_reading(key, loader, pre, &mut ())
            .map(|v| v.expect("a get whose reader takes nothing gets a value"))
    }

    fn get_reading(
        &self,
        key: &[u8],
        loader: Option<Arc<dyn Loader>>,
        pre: Option<Box<Prefetched>>,
        reader: &mut impl Reader,
    ) -> Result<Option<Value>> {
        check_key(key)?;
        let h = self.hasher.hash(key);
        let now = Now::new(&self.clock);
        let r = self.get_hashed(key, h, &now, loader, pre, reader);
        if r.is_err() {
            self.counters.misses.bump();
        }
        r
    }

    /// The get itself; `None`: `reader` took an L1 hit's value under the
    /// shard's lock.
    fn get_hashed(
        &self,
        key: &[u8],
        h: u64,
        now: &Now,
        loader: Option<Arc<dyn Loader>>,
        mut pre: Option<Box<Prefetched>>,
        reader: &mut impl Reader,
    ) -> Result<Option<Value>> {
        // A hit (seen under the shard's shared lock) needs nothing else; a
        // key seen absent needs no second look unless a load must be
        // registered; anything else takes the exclusive path below.
        let mut absent = match self.memory.glance(h, key, now, reader) {
            // Counted by the memory tier (`Memory::tally`), as are the
            // exclusive path's hits below.
            Glance::Hit(v) => return Ok(Some(v)),
            Glance::Read => return Ok(None),
            Glance::Absent(seq) => Some(seq),
            Glance::Exclusive => None,
        };
        // Loads this call led and must still answer (see `lead`); their
        // waiters get this call's final answer, or a failure if it unwinds.
        let mut led = Led {
            cache: self,
            key,
            h,
            flights: Vec::new(),
        };
        loop {
            // The glance's miss stands for a plain one (its `seq` was read
            // under the shard's lock, which every write of the key holds).
            // The loader is looked at only after L1 missed: a hit pays nothing
            // for it.
            if let Some(seq) = absent.take().filter(|_| self.loader_for(&loader).is_none()) {
                if pre.as_ref().is_some_and(|p| p.seq != seq) {
                    pre = None;
                }
                // No load led yet (the loop's first turn): the reader may
                // take an L2 hit's value (`plain_miss`).
                return self.plain_miss(key, h, now, seq, false, pre.take(), reader);
            }
            // The miss and, with a loader, the flight's registration happen
            // under one hold of the shard's lock: no write of the key can
            // fall between.
            let (miss, gone) = {
                let mut shard = self.memory.lock(h);
                // An L1 entry, even one that can no longer be served, is the
                // newest word on the key: L2 holds the same record or an older
                // one (superseded here), so there is no use reading it.
                // The reader is offered the value only if no load was led:
                // a led load's waiters need the value itself (`Led::answer`).
                let lookup = if led.flights.is_empty() {
                    shard.read(h, key, now, reader)
                } else {
                    shard.get(h, key, now)
                };
                let gone = match lookup {
                    Lookup::Hit(v) => return led.answer(Ok(v)).map(Some),
                    Lookup::Read => return Ok(None),
                    Lookup::Expired { dirty, stale } => {
                        if stale {
                            Counters::bump(&self.counters.dependency_misses);
                        }
                        if dirty {
                            self.supersede_on_disk(&mut shard, key, h);
                        }
                        true
                    }
                    Lookup::Miss => false,
                };
                // A prefetched remote answer stands only if no write of the
                // shard came between its look and this miss.
                if pre.as_ref().is_some_and(|p| p.seq != shard.seq()) {
                    pre = None;
                }
                let miss = match self.loader_for(&loader) {
                    None => Miss::Plain(shard.seq()),
                    Some(loader) => Miss::Load(shard.join(key), loader),
                };
                (miss, gone)
            };
            let answer = match miss {
                Miss::Plain(seq) => self
                    .plain_miss(key, h, now, seq, gone, pre.take(), &mut ())
                    .map(|v| v.expect("a miss whose reader takes nothing gets a value")),
                // A thread that leads a load must not wait for another's: two
                // loaders that need each other's keys would wait for ever. It
                // loads the key itself, outside the single flight, and keeps
                // nothing (its answer is for its own loader).
                Miss::Load(Join::Follower(_), loader) if leading() => {
                    Counters::bump(&self.counters.l3_loads);
                    outcome_of(&run_loader(&*loader, key)).map(Value::Heap)
                }
                Miss::Load(Join::Follower(f), _) => f.wait().map(Value::Heap),
                Miss::Load(Join::Recursive, _) => Err(Error::new(
                    Status::TC_NOT_FOUND,
                    "the loader asked the cache for the key it is loading",
                )),
                Miss::Load(Join::Leader(f), loader) => {
                    led.flights.push(f.clone());
                    let seen = Seen {
                        l1_said_gone: gone,
                        pre: pre.take(),
                    };
                    match self.lead(key, h, now, &f, &*loader, seen) {
                        Some(answer) => answer.map(Value::Heap),
                        // A write of the key came between the miss and the
                        // leader's look at L2: miss again.
                        None => continue,
                    }
                }
            };
            return led.answer(answer).map(Some);
        }
    }

    /// The loader a get that misses asks: its own, else the cache's. The
    /// cache's sits behind a lock that every thread's misses would write
    /// (a read lock is a write of its word): `has_loader`, only read,
    /// spares that while no loader is set.
    fn loader_for(&self, own: &Option<Arc<dyn Loader>>) -> Option<Arc<dyn Loader>> {
        if own.is_some() {
            return own.clone();
        }
        if !self.has_loader.load(Ordering::Acquire) {
            return None;
        }
        self.loader.read().clone()
    }

    /// A miss of L1 with no loader to ask, seen when the shard's write
    /// counter was `seq`: L2 (unless L1 said the key is gone), promoted if
    /// no write of the shard came since; else the remote tier. `Ok(None)`:
    /// `reader` took the value read from L2 (see below); it is offered no
    /// other (a get that led a load must not pass one: its waiters need
    /// the value).
    #[allow(clippy::too_many_arguments)]
    fn plain_miss(
        &self,
        key: &[u8],
        h: u64,
        now: &Now,
        seq: u64,
        gone: bool,
        pre: Option<Box<Prefetched>>,
        reader: &mut impl Reader,
    ) -> Result<Option<Value>> {
        let found = if gone {
            None
        } else {
            self.get_l2(key, h, now, reader.stripe())
        };
        match found {
            Some(found) => {
                // The reader copies the value now, before the promotion and
                // with no lock held (the same bytes L1 takes): then L1 takes
                // the copy read from L2 itself, and no second holder of its
                // `Arc` is made and dropped, two atomic read-modify-writes
                // of the value's first line fewer per L2 hit.
                let read = reader.read(&found.value);
                let mut out = eviction_list();
                let mut shard = self.memory.lock(h);
                // Hand out what L1 took (a copy, or for a large value the
                // same slice of the map L1 keeps), unless the reader has it.
                let value = if shard.seq() == seq {
                    self.promote(&mut shard, key, h, found, !read, &mut out)
                } else {
                    Some(found.value).filter(|_| !read)
                };
                drop(shard);
                // What the promotion pushed out is freed after the lock, its
                // value's buffer kept for this thread's next L2 hit.
                spare_evicted(out);
                Ok(value)
            }
            None => match self.remote_get(key, pre) {
                Fetched::Hit(f) => {
                    let (entry, value) = remote_entry(f);
                    let mut shard = self.memory.lock(h);
                    // Not if a write of the shard came since the miss, nor
                    // while one of this process's is on its way to the
                    // server (`outgoing`).
                    if shard.seq() == seq && shard.takes_remote() {
                        let _ = self.store(&mut shard, key, h, entry);
                    }
                    Ok(Some(Value::Heap(value)))
                }
                _ => Err(Error::not_found()),
            },
        }
    }

    /// L2's live value of `key`, counted as an L2 hit. A value whose file
    /// dependency no longer holds is a miss (`dependency_misses`). A value
    /// L1 can hold and shorter than `MAP_FROM` is copied out of the segment
    /// (the caller promotes it); any other is handed out mapped (and L1
    /// keeps a large one so: `promote`).
    ///
    /// `stripe` is the calling thread's (`stripe::mine()`), for the hit's
    /// count and the log's read lock: a caller that has it spares two
    /// thread-local lookups.
    fn get_l2(&self, key: &[u8], h: u64, now: &Now, stripe: usize) -> Option<Found> {
        let found = self.log.as_ref()?.get_on(key, h, now, Trust::Facts, stripe, |len| {
            len < MAP_FROM && self.memory.fits(key, len)
        })?;
        if !meta::holds(found.meta.as_deref()) {
            Counters::bump(&self.counters.dependency_misses);
            return None;
        }
        self.counters.l2_hits.bump_at(stripe);
        Some(found)
    }

    /// Puts a value read from L2 into L1 (the caller has checked that no
    /// write of the key came since the read's miss); returns the value to
    /// hand out if `hand_out`: L1's if it took it, else `found`'s value. A
    /// value of `MAP_FROM` bytes or more comes mapped (`get_l2`) and L1
    /// keeps it so.
    ///
    /// `found` is taken, not borrowed: its copy (an L2 hit's value L1 can
    /// hold is copied out of the segment, `Log::get`) becomes L1's and the
    /// caller's without a second clone of its `Arc`, and so without the two
    /// atomic count changes (clone, then drop of `found`) that cost each hit.
    ///
    /// The entries it pushes out are dealt with here (a dirty one reaches
    /// L2 before the shard's lock is let go) and left in `out` for the
    /// caller to drop after it lets go: with a small L1 nearly every L2 hit
    /// evicts, and freeing a value (over glibc's thread cache limit from
    /// 1 KiB on, so the allocator's arena lock, often another thread's) is
    /// work no other get of the shard needs to wait for.
    fn promote(
        &self,
        shard: &mut Shard,
        key: &[u8],
        h: u64,
        found: Found,
        hand_out: bool,
        out: &mut Vec<Evicted>,
    ) -> Option<Value> {
        if !shard.fits(key, &found.value) {
            return Some(found.value).filter(|_| hand_out);
        }
        // A value mapped from a segment that has left the log (compaction,
        // retirement) is kept as a copy: L1 would hold the deleted file's
        // space. Seen here, under the shard's lock: the sweep that follows
        // every deletion (`unmap_departed`) takes this lock after the flag
        // went up, so a mapped value inserted before it is swept, and one
        // inserted after it sees the flag.
        let value = match found.value {
            v @ Value::Mapped(_) if v.maps_a_departed_segment() => Value::Heap(v.to_arc()),
            v => v,
        };
        // A value the caller's reader has copied already is L1's alone:
        // moved in, not cloned.
        let (value, handed) = if hand_out {
            (value.clone(), Some(value))
        } else {
            (value, None)
        };
        let entry = Entry {
            value,
            expires_at: found.expires_at,
            written_at: found.written_at,
            meta: found.meta,
            dirty: false,
            uses: Default::default(),
            logged: None,
        };
        shard.insert(h, key, entry, out);
        self.settle_evicted(out);
        handed
    }

    /// Leads the load of `key`: L2 first, then the loader. The answer is
    /// kept only if the flight is still registered when it lands, that is,
    /// if no write of the key completed after the miss; the callers get it
    /// either way.
    ///
    /// The miss that counts is the one in L2 (the flight was registered on
    /// an L1 miss, while L2 may have held a value): if a write of the key
    /// came in between, the key is missed again from the start (`None`), so
    /// that a value removed meanwhile cannot cancel the load that follows its
    /// removal.
    fn lead(
        &self,
        key: &[u8],
        h: u64,
        now: &Now,
        flight: &Arc<Flight>,
        loader: &dyn Loader,
        seen: Seen,
    ) -> Option<Result<Arc<[u8]>>> {
        let _leading = Leading::begin();
        let from_l2 = if seen.l1_said_gone {
            None
        } else {
            self.get_l2(key, h, now, crate::stripe::mine())
        };
        Some(match from_l2 {
            Some(found) => {
                let mut out = eviction_list();
                let mut shard = self.memory.lock(h);
                let value = if shard.land(key, flight) {
                    self.promote(&mut shard, key, h, found, true, &mut out)
                        .expect("a promotion that hands out hands out a value")
                } else {
                    found.value
                };
                drop(shard);
                spare_evicted(out);
                Ok(into_arc(value))
            }
            None => {
                if !self.memory.lock(h).still_loading(key, flight) {
                    return None;
                }
                if let Some(answer) = self.lead_remote(key, h, flight, loader, seen.pre) {
                    return Some(answer);
                }
                self.call_loader(key, h, flight, loader)
            }
        })
    }

    /// The remote tier's answer to a load: a value another process put or
    /// loaded, or, with the fleet-wide lock, this process's own load (the
    /// others wait for its value). `None`: no remote tier, or it is
    /// unavailable, or the wait for another process's load ran out: load
    /// locally.
    fn lead_remote(
        &self,
        key: &[u8],
        h: u64,
        flight: &Arc<Flight>,
        loader: &dyn Loader,
        pre: Option<Box<Prefetched>>,
    ) -> Option<Result<Arc<[u8]>>> {
        let remote = self.remote.as_ref()?;
        match self.remote_get(key, pre) {
            Fetched::Hit(f) => return Some(self.land_remote(key, h, flight, f)),
            Fetched::Unavailable => return None,
            Fetched::Miss => {}
        }
        let deadline = std::time::Instant::now() + Duration::from_millis(remote.lock_ms());
        loop {
            match remote.lock(key) {
                Lock::Mine => {
                    // The lock may be free because another process just
                    // loaded the key, wrote its value and let go.
                    if let Fetched::Hit(f) = remote.get(key) {
                        remote.unlock(key);
                        return Some(self.land_remote(key, h, flight, f));
                    }
                    let answer = self.call_loader(key, h, flight, loader);
                    remote.unlock(key);
                    return Some(answer);
                }
                Lock::Unavailable => return None,
                Lock::Busy => Counters::bump(&remote.counters.lock_waits),
            }
            // Another process is loading the key: wait for its value, with
            // a bound (its lock expires if it crashed).
            let mut pause = Duration::from_millis(1);
            loop {
                if std::time::Instant::now() >= deadline {
                    return None;
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
                match remote.poll(key) {
                    (Fetched::Hit(f), _) => return Some(self.land_remote(key, h, flight, f)),
                    (Fetched::Unavailable, _) => return None,
                    (Fetched::Miss, true) => {}
                    // Released without a value (not found, failed, or not
                    // stored): take the lock and load here.
                    (Fetched::Miss, false) => break,
                }
            }
        }
    }

    /// Stores a value read from the remote tier if `flight` is still
    /// registered (no write of the key since the miss), as a loader's answer
    /// would be, and returns it either way.
    fn land_remote(
        &self,
        key: &[u8],
        h: u64,
        flight: &Arc<Flight>,
        f: crate::remote::frame::Frame,
    ) -> Result<Arc<[u8]>> {
        let (entry, value) = remote_entry(f);
        let mut shard = self.memory.lock(h);
        // Not while a write of this process is on its way to the server: the
        // answer may predate it (`outgoing`).
        if shard.land(key, flight) && shard.takes_remote() {
            let _ = self.store(&mut shard, key, h, entry);
        }
        Ok(value)
    }

    /// The remote tier's answer for `key`: the prefetched one if given.
    fn remote_get(&self, key: &[u8], pre: Option<Box<Prefetched>>) -> Fetched {
        match (&self.remote, pre) {
            (None, _) => Fetched::Unavailable,
            (Some(_), Some(p)) => p.fetched,
            (Some(r), None) => r.get(key),
        }
    }

    /// The remote write of what was just stored under `key`, prepared under
    /// its shard lock (the version orders it after the key's earlier
    /// writes). A value with a file dependency is local to this machine:
    /// remotely, the key is removed instead.
    fn remote_write(&self, key: &[u8], entry: Option<&Entry>) -> Option<Write> {
        let remote = self.remote.as_ref()?;
        let shared = entry.filter(|e| shared_remotely(e));
        Some(Write {
            key: key.into(),
            version: remote.next_version(),
            expires_at: shared.map_or(0, |e| e.expires_at),
            written_at: shared.map_or(0, |e| e.written_at),
            value: shared.map(|e| e.value.to_arc()),
            tags: shared
                .and_then(|e| e.meta.as_ref())
                .map_or_else(Vec::new, |m| m.tags.clone()),
            loaded_in: None,
        })
    }

    /// Sends remote writes (one round trip), with no lock held, and ends
    /// them (`outgoing`).
    fn send(&self, out: Outgoing<'_>) {
        if let Some(remote) = self.remote_now().filter(|_| !out.writes().is_empty()) {
            remote.write(out.writes());
        }
        drop(out);
    }

    /// The remote tier, for a write's remote half: after the test hook
    /// (`before_remote_writes`), if one is set.
    fn remote_now(&self) -> Option<&Remote> {
        let remote = self.remote.as_deref()?;
        let hook = self.before_send.lock().clone();
        if let Some(hook) = hook {
            hook();
        }
        Some(remote)
    }

    /// `key`'s remote write (or other remote change), begun under its
    /// shard's lock with the write's local half.
    fn outgoing(&self, shard: &mut Shard, h: u64, key: &[u8], write: Option<Write>) -> Outgoing<'_> {
        Outgoing::key(&self.memory, shard, h, key, write, self.remote.is_some())
    }

    /// Calls the loader with no lock held and stores its answer if the
    /// flight is still registered.
    fn call_loader(&self, key: &[u8], h: u64, flight: &Arc<Flight>, loader: &dyn Loader) -> Result<Arc<[u8]>> {
        Counters::bump(&self.counters.l3_loads);
        // Before the source is read: the answer's remote write is judged
        // against what this process knew then (`Write::loaded_in`).
        let known = self.remote.as_ref().map(|r| r.known()).unwrap_or_default();
        let loaded = run_loader(loader, key);
        let outcome = outcome_of(&loaded);
        let (value, ttl_ms, meta) = match &loaded {
            Loaded::Value { value, ttl_ms } => (value, ttl_ms, None),
            Loaded::Entry { value, ttl_ms, meta } => {
                (value, ttl_ms, (!meta.is_empty()).then(|| Arc::new(meta.clone())))
            }
            _ => {
                self.memory.lock(h).land(key, flight);
                return outcome;
            }
        };
        if let Err(e) = self.check_value(value) {
            self.memory.lock(h).land(key, flight);
            return Err(Error::new(
                Status::TC_LOADER_FAILED,
                format!("the loader's {}", e.message()),
            ));
        }
        let v = outcome.clone()?;
        let now = self.clock.now_ms();
        let expires_at = self.expiry_from(now, *ttl_ms);
        let mut shard = self.memory.lock(h);
        if shard.land(key, flight) {
            // A failure to store is counted; the caller still gets the value.
            let entry = Entry::new(v, expires_at, now, meta);
            // Never over what another process wrote while the loader ran.
            let write = self.remote_write(key, Some(&entry)).map(|w| Write {
                loaded_in: Some(known),
                ..w
            });
            let out = self.outgoing(&mut shard, h, key, write);
            let ticket = self.store(&mut shard, key, h, entry);
            drop(shard);
            let _ = self.wait_durable(ticket);
            self.send(out);
        }
        outcome
    }

    /// Whether `key` has a value in L1 or L2. Never calls the loader, never promotes.
    pub fn contains(&self, key: &[u8]) -> Result<bool> {
        check_key(key)?;
        let h = self.hasher.hash(key);
        let now = Now::new(&self.clock);
        if let Some(live) = self.memory.lock(h).peek_live(h, key, &now) {
            return Ok(live);
        }
        Ok(self.on_disk(key, h, &now))
    }

    /// Whether L2 has a value of `key` that can be served: unexpired, its
    /// file dependency (if any) holding.
    fn on_disk(&self, key: &[u8], h: u64, now: &Now) -> bool {
        self.log
            .as_ref()
            .and_then(|l| l.info(key, h, now))
            .is_some_and(|i| i.holds())
    }

    /// Stores `value` under `key` for `ttl_ms` (0: the default TTL).
    pub fn put(&self, key: &[u8], value: &[u8], ttl_ms: u64) -> Result<()> {
        if self.put_is_small(value, &Meta::default()) {
            return self.put_small(key, value, ttl_ms);
        }
        self.put_with(key, value, ttl_ms, Meta::default())
    }

    /// `put`, with tags and a file dependency (`meta`, already checked).
    pub fn put_with(&self, key: &[u8], value: &[u8], ttl_ms: u64, meta: Meta) -> Result<()> {
        let (r, out) = self.put_local(key, value, ttl_ms, meta);
        self.send(out);
        r
    }

    /// Puts many pairs, in order, stopping at the first failure (the pairs
    /// before it stay); the remote tier gets them all in one round trip.
    pub fn put_many(&self, pairs: &[(&[u8], &[u8])], ttl_ms: u64) -> std::result::Result<(), (usize, Error)> {
        let mut writes = Outgoing::none(&self.memory);
        let mut result = Ok(());
        for (i, (k, v)) in pairs.iter().enumerate() {
            let (r, w) = self.put_local(k, v, ttl_ms, Meta::default());
            writes.absorb(w);
            if let Err(e) = r {
                result = Err((i, e));
                break;
            }
        }
        self.send(writes);
        result
    }

    /// The local half of a put, and the remote write to send after it.
    fn put_local(&self, key: &[u8], value: &[u8], ttl_ms: u64, meta: Meta) -> (Result<()>, Outgoing<'_>) {
        match self.put_inner(key, value, ttl_ms, meta) {
            Ok((r, w)) => (r, w),
            Err(e) => (Err(e), Outgoing::none(&self.memory)),
        }
    }

    /// Whether a put of `value` with `meta` takes `put_small`: a value
    /// under `WORTH_FROM` (larger ones go through the thread's spare), no
    /// meta, and no remote tier (nothing to send after it).
    fn put_is_small(&self, value: &[u8], meta: &Meta) -> bool {
        value.len() < crate::value::spare::WORTH_FROM && meta.is_empty() && self.remote.is_none()
    }

    /// What every put checks and reads first: the cache writable, the key
    /// and value acceptable; then the key's hash, the time, and the expiry
    /// `ttl_ms` gives (0: the default TTL).
    #[inline]
    fn put_start(&self, key: &[u8], value: &[u8], ttl_ms: u64) -> Result<(u64, u64, u64)> {
        self.writable()?;
        check_key(key)?;
        self.check_value(value)?;
        let now = self.clock.now_ms();
        Ok((self.hasher.hash(key), now, self.expiry_from(now, ttl_ms)))
    }

    /// The absolute expiry of a value written `now` for `ttl_ms` (0: the
    /// cache's default TTL).
    fn expiry_from(&self, now: u64, ttl_ms: u64) -> u64 {
        expiry(now, if ttl_ms == 0 { self.default_ttl_ms } else { ttl_ms })
    }

    /// A put that `put_is_small` admits: `put_inner` without the meta and
    /// the remote write to carry, from the caller's bytes (`store_bytes`).
    fn put_small(&self, key: &[u8], value: &[u8], ttl_ms: u64) -> Result<()> {
        let (h, now, expires_at) = self.put_start(key, value, ttl_ms)?;
        let mut shard = self.memory.lock(h);
        shard.wrote(key);
        let mut evicted = Vec::new();
        let ticket = self.store_bytes(&mut shard, key, h, value, expires_at, now, &mut evicted);
        drop(shard);
        // What L1 pushed out is freed with no lock held.
        drop(evicted);
        self.wait_durable(ticket)
    }

    fn put_inner(&self, key: &[u8], value: &[u8], ttl_ms: u64, meta: Meta) -> Result<(Result<()>, Outgoing<'_>)> {
        if self.put_is_small(value, &meta) {
            return Ok((self.put_small(key, value, ttl_ms), Outgoing::none(&self.memory)));
        }
        let (h, now, expires_at) = self.put_start(key, value, ttl_ms)?;
        let meta = (!meta.is_empty()).then(|| Arc::new(meta));
        // The copy L1 keeps, made before the lock is taken; a large one in
        // the buffer of the value the thread's last put pushed out of L1,
        // if it has this length (`value::spare`).
        let spare = value.len() >= crate::value::spare::WORTH_FROM;
        let copy = if spare {
            crate::value::spare::copy(value)
        } else {
            Arc::from(value)
        };
        let entry = Entry::new(copy, expires_at, now, meta);
        let mut shard = self.memory.lock(h);
        shard.wrote(key);
        let write = self.remote_write(key, Some(&entry));
        let mut out = self.outgoing(&mut shard, h, key, write);
        let mut evicted = if spare { eviction_list() } else { Vec::new() };
        let ticket = self.store_into(&mut shard, key, h, entry, &mut evicted);
        drop(shard);
        // Freed (or kept as the spare) with no lock held.
        if spare {
            spare_evicted(evicted);
        }
        let r = self.wait_durable(ticket);
        if r.is_err() {
            // Not kept here: not kept remotely either (no older value stays).
            for w in out.writes_mut() {
                w.value = None;
            }
        }
        Ok((r, out))
    }

    /// Gives `key`'s value a new expiry: `ttl_ms` from now, or never if 0.
    /// `TC_NOT_FOUND` if it has no live value. A write of the key: the value
    /// is written again with its new expiry (and its old write time); in the
    /// remote tier, the server's copy of the key gets the new expiry.
    pub fn touch(&self, key: &[u8], ttl_ms: u64) -> Result<()> {
        self.writable()?;
        check_key(key)?;
        let h = self.hasher.hash(key);
        let now = Now::new(&self.clock);
        let expires_at = expiry(now.get(), ttl_ms);
        let mut shard = self.memory.lock(h);
        let from_l2 = || {
            self.log
                .as_ref()
                // Checksummed whatever an earlier get found: the value is
                // written again, with a checksum of its own (`Trust`).
                .and_then(|l| l.get(key, h, &now, Trust::Checksum, |_| true))
                .filter(|f| meta::holds(f.meta.as_deref()))
                .map(|f| (into_arc(f.value), f.written_at, f.meta))
        };
        let current = match shard.peek(h, key) {
            // A value L1 holds mapped (`promote`) is the segment's bytes as
            // they are now, which no checksum has looked at since the get
            // that verified them: written again as they are, damage done
            // since would get a checksum of its own (CONSISTENCY.md §8).
            // Such an entry is a clean promotion of L2's live record (every
            // write of the key replaces it), so that record is read again,
            // checksummed; if it is gone or damaged, L1 lets go of the
            // value too (an eviction), and the key has none.
            Some(e) if e.valid(&now) == Validity::Valid && e.value.is_mapped() => {
                let current = from_l2();
                if current.is_none() {
                    let _clean = shard.remove(h, key);
                }
                current
            }
            Some(e) if e.valid(&now) == Validity::Valid => Some((e.value.to_arc(), e.written_at, e.meta.clone())),
            // An L1 entry, even one that can no longer be served, is the
            // newest word on the key.
            Some(_) => None,
            None => from_l2(),
        };
        let Some((value, written_at, meta)) = current else {
            return Err(Error::not_found());
        };
        shard.wrote(key);
        let entry = Entry::new(value, expires_at, written_at, meta);
        // Not one local to this machine: the server holds none of it (its
        // put removed the key there).
        let shared = shared_remotely(&entry);
        let out = Outgoing::key(&self.memory, &mut shard, h, key, None, shared && self.remote.is_some());
        let ticket = self.store(&mut shard, key, h, entry);
        drop(shard);
        let r = self.wait_durable(ticket);
        // The server's copy, not this one, is given the new expiry
        // (`Remote::touch` says why).
        if let Some(remote) = self.remote_now().filter(|_| shared) {
            remote.touch(key, expires_at);
        }
        drop(out);
        r
    }

    /// What the cache knows of `key`: no loader, no promotion, no recency.
    /// `TC_NOT_FOUND` if it has no live value.
    pub fn info(&self, key: &[u8]) -> Result<EntryInfo> {
        check_key(key)?;
        let h = self.hasher.hash(key);
        let now = Now::new(&self.clock);
        if let Some(e) = self.memory.lock(h).peek(h, key) {
            if e.valid(&now) != Validity::Valid {
                return Err(Error::not_found());
            }
            return Ok(EntryInfo {
                value_len: e.value.len() as u64,
                expires_at: e.expires_at,
                written_at: e.written_at,
                tier: 1,
                tag_count: e.meta.as_ref().map_or(0, |m| m.tags.len() as u32),
            });
        }
        let Some(i) = self.log.as_ref().and_then(|l| l.info(key, h, &now)).filter(Info::holds) else {
            return match self.remote_get(key, None) {
                Fetched::Hit(f) => Ok(EntryInfo {
                    value_len: f.value.as_ref().map_or(0, |v| v.len() as u64),
                    expires_at: f.expires_at,
                    written_at: f.written_at,
                    tier: 3,
                    tag_count: f.meta.tags.len() as u32,
                }),
                _ => Err(Error::not_found()),
            };
        };
        Ok(EntryInfo {
            value_len: i.value_len,
            expires_at: i.expires_at,
            written_at: i.written_at,
            tier: 2,
            tag_count: i.meta.as_ref().map_or(0, |m| m.tags.len() as u32),
        })
    }

    /// The keys starting with `prefix` that have a live value now, each once,
    /// in byte order: what an iteration walks. Memory is listed before disk,
    /// so a value moving from one to the other meanwhile (an eviction under
    /// write-back) is listed by one of them. Each shard and the log are
    /// locked only while they are listed.
    pub fn live_keys(&self, prefix: &[u8]) -> Vec<Box<[u8]>> {
        let now = Now::new(&self.clock);
        let mut keys = std::collections::BTreeSet::new();
        self.memory
            .for_each_shard(|shard| keys.extend(shard.live_keys(prefix, &now)));
        if let Some(log) = &self.log {
            keys.extend(log.live_keys(prefix, &now).into_iter().map(Vec::into_boxed_slice));
        }
        keys.into_iter().collect()
    }

    /// Writes a value to the tiers the write policy names, under its
    /// shard's lock (so L1 and L2 see the writes of one key in one order).
    /// The caller has called `Shard::wrote` (a put) or landed its flight (a
    /// load), and waits for the returned ticket with no lock held.
    /// `entry.dirty` is decided here.
    fn store(&self, shard: &mut Shard, key: &[u8], h: u64, entry: Entry) -> Stored {
        let mut evicted = Vec::new();
        self.store_into(shard, key, h, entry, &mut evicted)
    }

    /// `store`, leaving the entries L1 pushed out in `evicted` (settled:
    /// counted, and written to L2 if dirty) for the caller to drop after
    /// it lets go of the shard (`spare_evicted`).
    fn store_into(
        &self,
        shard: &mut Shard,
        key: &[u8],
        h: u64,
        mut entry: Entry,
        evicted: &mut Vec<Evicted>,
    ) -> Stored {
        // Only a promotion keeps a mapped value (`promote`): a write's is a
        // copy, so no dirty entry maps a segment (CONSISTENCY.md §8).
        debug_assert!(!entry.value.is_mapped(), "a write stores a copy");
        let fits = shard.fits(key, &entry.value);
        let dirty = self.write_back() && fits;
        entry.dirty = dirty;
        let mut ticket = None;
        match &self.log {
            // Read-only: a loaded value is kept in memory only.
            Some(_) if self.read_only => {}
            Some(log) if !dirty => {
                // As in `store_bytes`: L1's witness of the key's last
                // record for the log, the new record's for L1.
                let known = shard.logged(h, key);
                let e = &entry;
                let (t, logged) =
                    log.put_witnessed(key, h, &e.value, e.expires_at, e.written_at, e.meta.as_deref(), known);
                ticket = t;
                entry.logged = logged;
                if ticket.is_none() && !fits {
                    // L2 is failing and L1 cannot hold it: nowhere to keep it.
                    let _ = shard.remove(h, key);
                    return Stored::Nowhere;
                }
            }
            Some(_) => {}
            None if !fits => {
                let _ = shard.remove(h, key);
                return Stored::TooLarge(entry.value.len());
            }
            None => {}
        }
        if fits {
            shard.insert(h, key, entry, evicted);
            self.settle_evicted(evicted);
        } else {
            // An older value in L1 must not outlive this write.
            let _ = shard.remove(h, key);
        }
        match ticket {
            Some(pos) => Stored::Logged(pos),
            None => Stored::Memory,
        }
    }

    /// `store_into` of a put of a small value with no meta and no remote
    /// tier, from the caller's bytes: under write-through to a writable L2,
    /// they go to the log as they are, and into L1 in the buffer of the
    /// value they replace when it can take them (`Shard::overwrite_logged`), else
    /// in a new copy made here, under the lock. The same writes, in the same
    /// order, as `store_into` makes with an entry holding a copy of them;
    /// any other case is `store_into`'s.
    #[allow(clippy::too_many_arguments)]
    fn store_bytes(
        &self,
        shard: &mut Shard,
        key: &[u8],
        h: u64,
        value: &[u8],
        expires_at: u64,
        written_at: u64,
        evicted: &mut Vec<Evicted>,
    ) -> Stored {
        let entry = |v: &[u8]| Entry::new(Arc::from(v), expires_at, written_at, None);
        let log = match &self.log {
            Some(log) if !self.read_only && !self.write_back() && shard.fits(key, value) => log,
            _ => return self.store_into(shard, key, h, entry(value), evicted),
        };
        // The witness L1 holds of the key's last record spares the log a
        // read of that record (`log::Witness`); the new one replaces it.
        // One lookup of the key in L1 serves both.
        let (ticket, logged, stored) = shard.overwrite_logged(
            h,
            key,
            value,
            expires_at,
            written_at,
            || log.append_put(key, h, value, expires_at, written_at, None),
            |appending, known| appending.settle(known),
        );
        if !stored {
            shard.insert(h, key, Entry { logged, ..entry(value) }, evicted);
            self.settle_evicted(evicted);
        }
        match ticket {
            Some(pos) => Stored::Logged(pos),
            None => Stored::Memory,
        }
    }

    /// Waits for what `store` wrote to be as durable as the sync policy
    /// asks (group commit), with no lock held. If the fsync fails the log is
    /// degraded and counts it; L1 (or the log's buffer) still holds the
    /// value, so the put stands, as a degraded put does.
    #[inline]
    fn wait_durable(&self, stored: Stored) -> Result<()> {
        match stored {
            Stored::Memory => Ok(()),
            Stored::Logged(pos) => {
                if let Some(log) = &self.log {
                    let _ = log.wait_durable(Some(pos));
                }
                Ok(())
            }
            Stored::Nowhere => self.log.as_ref().map_or(Ok(()), |log| log.wait_durable(None)),
            Stored::TooLarge(len) => Err(Error::new(
                Status::TC_TOO_LARGE,
                format!("value: {len} bytes does not fit the memory tier of a cache without a directory"),
            )),
        }
    }

    /// Writes to L2 the dirty ones (under write-back) of the entries L1
    /// pushed out; the caller still holds their shard, and drops them after
    /// it lets go (`spare_evicted`). (The memory tier counted them:
    /// `Memory::tally`.)
    // On every L2 hit's path: see `ffi::boundary::guard`.
    #[inline]
    fn settle_evicted(&self, evicted: &[Evicted]) {
        for (k, e) in evicted {
            if e.dirty {
                if let Some(log) = &self.log {
                    // If L2 is failing the value is lost with the eviction;
                    // the log then forgets the key so no older value returns.
                    log.put(
                        k,
                        self.hasher.hash(k),
                        &e.value,
                        e.expires_at,
                        e.written_at,
                        e.meta.as_deref(),
                    );
                }
            }
        }
    }

    /// A dirty L1 entry expired: L2 may hold an older value that the entry
    /// had replaced, which must not come back. No value changes (the key had
    /// none once its entry expired), so no load is cancelled.
    fn supersede_on_disk(&self, shard: &mut Shard, key: &[u8], h: u64) {
        shard.hid();
        if let Some(log) = &self.log {
            log.supersede(key, h);
        }
    }

    /// Removes `key` from every tier (a tombstone on disk); `TC_NOT_FOUND` if
    /// L1 and L2 had no value a get would have served (unexpired, its
    /// dependency holding, readable: what `contains` says).
    pub fn remove(&self, key: &[u8]) -> Result<()> {
        self.writable()?;
        check_key(key)?;
        let h = self.hasher.hash(key);
        let now = Now::new(&self.clock);
        let mut shard = self.memory.lock(h);
        // Whether a get would have served a value: unexpired, and the file
        // it depends on as it was (`Validity`, `Info::holds`), as for
        // `contains`.
        let in_l1 = shard.remove(h, key).map(|e| e.valid(&now) == Validity::Valid);
        let (in_l2, ticket) = match &self.log {
            Some(log) => {
                let (had, ticket) = log.remove(key, h, now.get());
                (had.is_some_and(|i| i.holds()), ticket)
            }
            None => (false, None),
        };
        // An L1 entry, live or not, is the newest word on the key.
        let had_value = in_l1.unwrap_or(in_l2);
        // A load in flight ends unkept whether or not there was a value
        // here: its loader (or the remote tier) may have read the key before
        // it was deleted, and the removal is the newer word. (Only
        // refusing promotions, as for a tombstone that hides an expired
        // value, left the load registered, and its answer was kept.)
        shard.wrote(key);
        // Remotely the key goes whether or not this process had a value:
        // another process may have put one.
        let write = self.remote_write(key, None);
        let out = self.outgoing(&mut shard, h, key, write);
        drop(shard);
        self.send(out);
        // Durable as the sync policy says before it returns, like a put.
        if let (Some(log), Some(pos)) = (&self.log, ticket) {
            let _ = log.wait_durable(Some(pos));
        }
        if had_value {
            Ok(())
        } else {
            Err(Error::not_found())
        }
    }

    /// With every shard locked, before a removal of every key that
    /// `matches`: refuses promotions read before it, and cancels the loads
    /// of matching keys, whether or not they have a value here: a load's
    /// leader may have found one on disk and be about to promote it, and a
    /// loader (or the remote tier) may have read the key before it was
    /// deleted at its source; the removal is the newer word either way.
    /// (Loads of keys with no value here used to stay, and their answers
    /// were kept: see `remove`.)
    fn removing(&self, shards: &mut [ShardGuard<'_>], matches: impl Fn(&[u8]) -> bool) {
        for shard in shards.iter_mut() {
            shard.hid();
            for k in shard.loading(&matches) {
                shard.wrote(&k);
            }
        }
    }

    /// Removes every key starting with `prefix` from every tier; returns how
    /// many keys had a value a get would have served. Atomic with respect
    /// to every write of a key: it holds every shard's lock throughout.
    pub fn remove_prefix(&self, prefix: &[u8]) -> Result<u64> {
        self.writable()?;
        let (n, out) = self.remove_all(
            |k| k.starts_with(prefix),
            |k, _| k.starts_with(prefix),
            |log, now| log.remove_prefix(prefix, now),
        )?;
        if let Some(remote) = self.remote_now() {
            remote.remove_prefix(prefix);
        }
        drop(out);
        Ok(n)
    }

    /// Removes every entry carrying `tag` from every tier; returns how many
    /// had a value a get would have served. Atomic like `remove_prefix`.
    pub fn remove_tag(&self, tag: &[u8]) -> Result<u64> {
        self.writable()?;
        crate::meta::check_tag(tag)?;
        let (n, out) = self.remove_all(
            // A load in flight is of a key with no value in memory;
            // cancelling those that have one on disk is all a removal needs
            // (see `removing`), whatever their tags.
            |_| true,
            |_, e| e.meta.as_ref().is_some_and(|m| m.has_tag(tag)),
            |log, now| log.remove_tag(tag, now),
        )?;
        if let Some(remote) = self.remote_now() {
            remote.remove_tag(tag);
        }
        drop(out);
        Ok(n)
    }

    /// A removal of many keys, with every shard locked throughout: cancels
    /// the loads of keys `cancels` picks (see `removing`), drops the L1
    /// entries `in_memory` picks, and lets `on_disk` tombstone what it picks
    /// in L2 (it returns the keys it tombstoned, with what each held).
    /// Returns how many keys had a value a get would have served
    /// (unexpired, its dependency holding), as `remove` counts one.
    ///
    /// A dirty entry (write-back) may have replaced older values on disk that
    /// `on_disk` does not pick (a tag the older value lacked): those get a
    /// tombstone of their own, so that they do not come back in its place.
    fn remove_all(
        &self,
        cancels: impl Fn(&[u8]) -> bool,
        in_memory: impl Fn(&[u8], &Resident) -> bool,
        on_disk: impl FnOnce(&Log, u64) -> (Vec<Removed>, Ticket),
    ) -> Result<(u64, Outgoing<'_>)> {
        let now = Now::new(&self.clock);
        let mut shards = self.memory.lock_all();
        self.removing(&mut shards, cancels);
        // The caller's remote removal, begun here with the local one.
        let out = Outgoing::all(&self.memory, &mut shards, self.remote.is_some());
        let mut removed: HashSet<Box<[u8]>> = HashSet::new();
        // Keys whose L1 entry held no value a get would serve (expired, or
        // its dependency changed): an older L2 value does not count.
        let mut unservable: HashSet<Box<[u8]>> = HashSet::new();
        let mut dirty: Vec<Box<[u8]>> = Vec::new();
        for shard in shards.iter_mut() {
            for (k, e) in shard.remove_where(|k, e| in_memory(k, e)) {
                if e.dirty {
                    dirty.push(k.as_bytes().into());
                }
                if e.valid(&now) == Validity::Valid {
                    removed.insert(k.into());
                } else {
                    unservable.insert(k.into());
                }
            }
        }
        let mut ticket = None;
        // What L2 held of the keys it tombstoned, whose dependencies are
        // checked (a `stat` each) once the shards are let go.
        let mut on_disk_held: Vec<Removed> = Vec::new();
        if let Some(log) = &self.log {
            let (gone, t) = on_disk(log, now.get());
            ticket = t;
            let tombstoned: HashSet<&[u8]> = gone.iter().map(|r| r.key.as_slice()).collect();
            for k in dirty.iter().filter(|k| !tombstoned.contains(&***k)) {
                log.supersede(k, self.hasher.hash(k));
            }
            // A key L1 still holds (an entry `in_memory` did not pick: under
            // write-back, a dirty newer value without the tag) had its
            // newest value there, not in the record on disk, which counts
            // for nothing (as in `remove`: L1 is the newest word).
            let newer_in_memory = |r: &Removed| shards[self.memory.shard_index(r.hash)].peek(r.hash, &r.key).is_some();
            on_disk_held = gone
                .into_iter()
                .filter(|r| r.had.is_some() && !unservable.contains(r.key.as_slice()) && !newer_in_memory(r))
                .collect();
        }
        drop(shards);
        removed.extend(
            on_disk_held
                .into_iter()
                .filter(|r| r.had.as_ref().is_some_and(Info::holds))
                .map(|r| r.key.into_boxed_slice()),
        );
        if let (Some(log), Some(pos)) = (&self.log, ticket) {
            let _ = log.wait_durable(Some(pos));
        }
        Ok((removed.len() as u64, out))
    }

    /// Empties L1, and unless `memory_only`, L2 too (persistently).
    ///
    /// A full clear holds every shard's lock throughout, so every write of a
    /// key is wholly before it (and gone) or wholly after it (and kept, also
    /// after a restart). Dropping memory only changes no value: each shard,
    /// under its lock, writes its dirty entries (write-back) to L2 before it
    /// lets them go, so no put that returned is lost.
    pub fn clear(&self, memory_only: bool) -> Result<()> {
        if !memory_only {
            self.writable()?;
            let mut shards = self.memory.lock_all();
            self.removing(&mut shards, |_| true);
            let out = Outgoing::all(&self.memory, &mut shards, self.remote.is_some());
            if let Some(log) = &self.log {
                log.clear();
            }
            for shard in shards.iter_mut() {
                shard.clear();
            }
            drop(shards);
            if let Some(remote) = self.remote_now() {
                remote.clear();
            }
            drop(out);
            return Ok(());
        }
        let mut result = Ok(());
        self.memory.for_each_shard(|shard| {
            if result.is_ok() {
                result = self.write_dirty(shard);
                if result.is_ok() {
                    shard.clear();
                }
            }
        });
        result
    }

    /// Write-back: writes the shard's dirty entries to L2. An entry stays
    /// dirty if L2 could not take it.
    fn write_dirty(&self, shard: &mut Shard) -> Result<()> {
        let Some(log) = self.log.as_ref().filter(|_| self.write_back()) else {
            return Ok(());
        };
        shard.clean_dirty(|k, e| {
            match log.put(
                k,
                self.hasher.hash(k),
                &e.value,
                e.expires_at,
                e.written_at,
                e.meta.as_deref(),
            ) {
                Some(_) => Ok(()),
                None => log.wait_durable(None),
            }
        })
    }

    /// Writes everything to L2 (dirty entries, the append buffer) and fsyncs
    /// as the sync policy says.
    pub fn flush(&self) -> Result<()> {
        let Some(log) = &self.log else { return Ok(()) };
        if log.is_degraded() {
            // Probes the disk; fails while it is still bad.
            log.flush()?;
        }
        let mut result = Ok(());
        self.memory.for_each_shard(|shard| {
            if result.is_ok() {
                result = self.write_dirty(shard);
            }
        });
        result?;
        // Segments that puts retired: L1 lets go of their maps before the
        // flush unlinks their files.
        self.sweep.run(&self.memory, log);
        log.flush()
    }

    /// Compacts every L2 segment that has dead records, now.
    pub fn compact(&self) -> Result<crate::log::CompactReport> {
        self.writable()?;
        match &self.log {
            Some(log) => {
                let r = log.compact(true);
                // L1's values of the segments it deleted let go of them.
                self.sweep.run(&self.memory, log);
                r
            }
            None => Ok(Default::default()),
        }
    }

    /// Drops every expired entry from every tier; returns how many keys had
    /// expired (a key whose L1 holds a newer, live value is not one of them).
    pub fn purge_expired(&self) -> Result<u64> {
        self.writable()?;
        let now = self.clock.now_ms();
        let mut removed: HashSet<Box<[u8]>> = HashSet::new();
        self.memory.for_each_shard(|shard| {
            for (k, e) in shard.remove_where(|_, e| is_expired(e.expires_at, now)) {
                if e.dirty {
                    self.supersede_on_disk(shard, &k, self.hasher.hash(&k));
                }
                removed.insert(k.into());
            }
        });
        if let Some(log) = &self.log {
            let live_now = Now::new(&self.clock);
            for k in log.purge_expired(now) {
                let h = self.hasher.hash(&k);
                if self.memory.lock(h).peek_live(h, &k, &live_now) != Some(true) {
                    removed.insert(k.into_boxed_slice());
                }
            }
        }
        Ok(removed.len() as u64)
    }

    /// Sets (or with `None`, removes) the loader. A load already running
    /// keeps the loader it started with.
    pub fn set_loader(&self, loader: Option<Arc<dyn Loader>>) {
        let mut slot = self.loader.write();
        self.has_loader.store(loader.is_some(), Ordering::Release);
        let old = std::mem::replace(&mut *slot, loader);
        drop(slot);
        // Dropped here, outside the lock: its destructor may be user code.
        drop(old);
    }

    pub fn stats(&self) -> Stats {
        let mut s = self.counters.snapshot();
        let t = self.memory.tally();
        (s.l1_entries, s.l1_bytes, s.l1_hits, s.l1_evictions) = (t.entries, t.bytes, t.hits, t.evictions);
        match &self.log {
            Some(log) => {
                let sizes = log.sizes();
                s.l2_entries = sizes.entries;
                s.l2_bytes = sizes.live_bytes;
                s.l2_file_bytes = sizes.file_bytes;
                s.l2_state = if log.is_degraded() { L2_DEGRADED } else { L2_OK };
            }
            None => s.l2_state = L2_NONE,
        }
        s
    }

    /// One counter by name: every `Stats` field, and those it has no room for.
    pub fn counter(&self, name: &str) -> Option<u64> {
        let s = self.stats();
        Some(match name {
            "l1_hits" => s.l1_hits,
            "l2_hits" => s.l2_hits,
            "l3_loads" => s.l3_loads,
            "misses" => s.misses,
            "l1_entries" => s.l1_entries,
            "l1_bytes" => s.l1_bytes,
            "l2_entries" => s.l2_entries,
            "l2_bytes" => s.l2_bytes,
            "l2_file_bytes" => s.l2_file_bytes,
            "l1_evictions" => s.l1_evictions,
            "l2_evictions" => s.l2_evictions,
            "compactions" => s.compactions,
            "corrupt_records" => s.corrupt_records,
            "io_errors" => s.io_errors,
            "l2_state" => u64::from(s.l2_state),
            "l2_readmissions" => self.counters.l2_readmissions.load(Ordering::Relaxed),
            "l2_segments" => self.log.as_ref().map_or(0, |l| l.sizes().segments),
            "dependency_misses" => self.counters.dependency_misses.load(Ordering::Relaxed),
            "l2_index_rebuilds" => self.counters.l2_index_rebuilds.load(Ordering::Relaxed),
            "l2_index_repairs" => self.counters.l2_index_repairs.load(Ordering::Relaxed),
            "l2_checkpoints_undone" => self.counters.l2_checkpoints_undone.load(Ordering::Relaxed),
            "tag_index_tags" => self.log.as_ref().map_or(0, |l| l.tag_sizes().0),
            "tag_index_entries" => self.log.as_ref().map_or(0, |l| l.tag_sizes().1),
            "compressed_bytes_saved" => self.log.as_ref().map_or(0, |l| l.bytes_saved()),
            "remote_state" => self
                .remote
                .as_ref()
                .map_or(u64::from(REMOTE_NONE), |r| u64::from(r.state())),
            "remote_hits"
            | "remote_misses"
            | "remote_errors"
            | "remote_invalidations_received"
            | "remote_too_large"
            | "remote_lock_waits" => {
                let Some(r) = &self.remote else { return Some(0) };
                let c = &r.counters;
                let a = match name {
                    "remote_hits" => &c.hits,
                    "remote_misses" => &c.misses,
                    "remote_errors" => &c.errors,
                    "remote_invalidations_received" => &c.invalidations_received,
                    "remote_too_large" => &c.too_large,
                    _ => &c.lock_waits,
                };
                a.load(Ordering::Relaxed)
            }
            _ => return None,
        })
    }

    /// Why the remote tier is degraded ("" while it is ok); `None` without one.
    pub fn remote_reason(&self) -> Option<String> {
        self.remote.as_ref().map(|r| r.reason())
    }

    /// Calls `hook` on the writing thread between the local and the remote
    /// half of every write (put, removal, touch, stored load, whole-cache
    /// removal: before its round trip to the server): for tests that make
    /// another thread act in between.
    #[doc(hidden)]
    pub fn before_remote_writes(&self, hook: Option<BeforeSend>) {
        *self.before_send.lock() = hook;
    }

    /// Calls `hook` on the remote tier's background thread after each of
    /// its resyncs: with `false` just before the tier is ok again (nothing
    /// is sent to the server while it is not), with `true` just after (the
    /// thread reconciles nothing meanwhile). For tests that make another
    /// thread act in between. No effect without a remote tier.
    #[doc(hidden)]
    pub fn around_remote_ok(&self, hook: Option<crate::remote::OkHook>) {
        if let Some(r) = &self.remote {
            r.around_ok(hook);
        }
    }

    /// Checks that L2's counts agree with its records (live and dead bytes
    /// per segment, entries, every index entry a readable put): for tests.
    #[doc(hidden)]
    pub fn check_invariants(&self) -> std::result::Result<(), String> {
        self.log.as_ref().map_or(Ok(()), |l| l.check_invariants())
    }

    /// The live L2 records (expired ones included), for tools that list a directory.
    pub fn log(&self) -> Option<&Log> {
        self.log.as_deref()
    }

    /// Flushes and releases the directory. Dropping a cache does the same but
    /// cannot report a failure.
    pub fn close(mut self) -> Result<()> {
        self.shutdown()
    }

    /// Ends the cache as `kill -9` would end its process: nothing is
    /// flushed, memory (dirty entries too) and the log's append buffer are
    /// lost, no hint is written; the directory lock is released. For tests
    /// that check what a crash leaves behind without forking a process.
    #[doc(hidden)]
    pub fn simulate_crash(mut self) {
        self.closed = true;
        if let Some(s) = &mut self.subscriber {
            s.abandon();
        }
        if let Some(m) = &mut self.maintenance {
            m.stop();
        }
        if let Some(log) = &self.log {
            log.discard_unwritten();
        }
        self.set_loader(None);
    }

    fn shutdown(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        // The remote thread first: nothing drops entries while they are flushed.
        if let Some(s) = &mut self.subscriber {
            s.stop();
        }
        if let Some(m) = &mut self.maintenance {
            m.stop();
        }
        let r = self.flush();
        if let (Ok(()), Some(log)) = (&r, &self.log) {
            log.write_active_hint();
        }
        // The loader's user data is released when the cache is.
        self.set_loader(None);
        r
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value of a segment that left the log, promoted: a copy, checked
    /// under the shard's lock (the sweep passed before, or comes after).
    #[test]
    fn a_promotion_copies_a_value_whose_segment_has_left() {
        let dir = tempfile::tempdir().unwrap();
        let c = Cache::open(&Options::with_dir(dir.path())).unwrap();
        let (map, life) = crate::value::Map::for_tests(&dir.path().join("mapped"), &[3u8; 8192]);
        let found = |part: std::ops::Range<usize>| Found {
            value: Value::mapped(&map, &map[part]),
            expires_at: 0,
            written_at: 0,
            meta: None,
        };
        let promote = |key: &[u8], f: Found| {
            let h = c.hasher.hash(key);
            let mut out = Vec::new();
            let mut shard = c.memory.lock(h);
            let handed = c.promote(&mut shard, key, h, f, true, &mut out).unwrap();
            let kept = shard.peek(h, key).unwrap().value.is_mapped();
            (handed.is_mapped(), kept)
        };
        assert_eq!(promote(b"a", found(0..MAP_FROM)), (true, true));
        life.leave();
        assert_eq!(promote(b"b", found(100..100 + MAP_FROM)), (false, false));
        // The sweep lets go of the one promoted before.
        assert!(c.get_value(b"a").unwrap().is_mapped());
        assert_eq!(c.memory.unmap_departed(), 1);
        let a = c.get_value(b"a").unwrap();
        assert!(!a.is_mapped());
        assert_eq!(&*a, &[3u8; MAP_FROM][..]);
    }

    /// `get_at_once` answers an L1 hit that needs no waiting, and nothing
    /// else: not a miss, not a bad key, not an expired entry, not a hit
    /// whose shard a writer holds; and it counts only what it answers, so
    /// that the full get the caller makes next counts the rest once.
    #[test]
    fn a_get_at_once_answers_only_a_hit_that_needs_no_waiting() {
        let clock = Clock::manual(1_000);
        let c = Cache::open(&Options {
            clock: clock.clone(),
            ..Options::default()
        })
        .unwrap();
        c.put(b"k", b"v", 0).unwrap();
        c.put(b"brief", b"b", 10).unwrap();
        let at_once = |key: &[u8]| c.get_at_once(key, &mut ()).map(|v| v.map(|v| v.to_vec()));
        assert_eq!(at_once(b"k"), Some(Some(b"v".to_vec())));
        assert_eq!(at_once(b"brief"), Some(Some(b"b".to_vec())));
        assert_eq!(at_once(b"absent"), None);
        assert_eq!(at_once(b""), None);
        assert_eq!(at_once(&[7u8; MAX_KEY_LEN + 1]), None);
        clock.advance(10);
        assert_eq!(at_once(b"brief"), None, "an expired entry is for the full get to drop");
        {
            let _writer = c.memory.lock(c.hasher.hash(b"k"));
            assert_eq!(at_once(b"k"), None, "a hit behind a writer waits for nothing");
        }
        assert_eq!(at_once(b"k"), Some(Some(b"v".to_vec())));
        let s = c.stats();
        assert_eq!((s.l1_hits, s.l2_hits, s.misses), (3, 0, 0));
        assert!(matches!(c.get(b"brief"), Err(e) if e.status() == Status::TC_NOT_FOUND));
        assert_eq!(c.stats().misses, 1);
    }

    /// The key `twenty_keys_behind_two_entries` put as its `i`th.
    fn key(i: u32) -> Vec<u8> {
        format!("key-{i}").into_bytes()
    }

    /// A length of value L1 holds on the heap, not in its node
    /// (`memory::held`), for the tests of whose buffer is whose.
    const HEAPED: usize = crate::memory::held::INLINE + 26;

    /// A cache in `dir` whose L1 holds 2 entries, with 20 keys of `HEAPED`
    /// bytes put (`key(i)` holds `HEAPED` bytes of `i`): most of them are in
    /// L2 only, and every get of one reads L2, promotes it and evicts another.
    fn twenty_keys_behind_two_entries(dir: &std::path::Path) -> Cache {
        let opts = Options {
            l1_max_entries: 2,
            ..Options::with_dir(dir)
        };
        let c = Cache::open(&opts).unwrap();
        for i in 0..20 {
            c.put(&key(i), &[i as u8; HEAPED], 0).unwrap();
        }
        c
    }

    #[test]
    fn l2_hits_reuse_the_threads_eviction_list_and_keep_it_empty() {
        let dir = tempfile::tempdir().unwrap();
        let c = twenty_keys_behind_two_entries(dir.path());
        // Each get reads L2 and promotes, pushing another entry out.
        for round in 0..3 {
            for i in 0..20 {
                assert_eq!(
                    &*c.get(&key(i)).unwrap(),
                    &[i as u8; HEAPED][..],
                    "round {round}, key {i}"
                );
            }
        }
        let kept = EVICTION_LIST.with(|l| l.take());
        assert!(
            kept.is_empty(),
            "what a promotion evicted is never left in the kept list"
        );
        assert!(kept.capacity() > 0, "the list is kept between promotions");
        // A list grown past the bound is freed, not kept.
        spare_evicted(Vec::with_capacity(KEPT_EVICTION_LIST + 1));
        assert_eq!(EVICTION_LIST.with(|l| l.take()).capacity(), 0);
        c.close().unwrap();
    }

    /// An L2 hit is offered to the get's reader before its promotion, and
    /// then L1 keeps the very copy the reader was offered (moved in, not
    /// cloned: `plain_miss`); a reader that declines gets the value back
    /// as before.
    #[test]
    fn an_l2_hit_goes_to_the_reader_and_l1_keeps_the_copy_it_read() {
        struct Copying {
            take: bool,
            got: Option<(Vec<u8>, *const u8)>,
        }
        impl Reader for Copying {
            fn read(&mut self, value: &[u8]) -> bool {
                self.got = Some((value.to_vec(), value.as_ptr()));
                self.take
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let c = twenty_keys_behind_two_entries(dir.path());
        let l2_hits = || c.stats().l2_hits;
        let before = l2_hits();
        let mut r = Copying { take: true, got: None };
        assert!(
            c.get_read(&key(0), &mut r).unwrap().is_none(),
            "the reader took the L2 hit"
        );
        let (bytes, at) = r.got.expect("the reader was offered the L2 hit");
        assert_eq!(bytes, [0u8; HEAPED]);
        assert_eq!(l2_hits(), before + 1, "counted as an L2 hit");
        assert_eq!(
            c.get_value(&key(0)).unwrap().as_ptr(),
            at,
            "L1 keeps the copy the reader read"
        );
        // Declined: the get hands the value out itself.
        let mut r = Copying { take: false, got: None };
        let v = c
            .get_read(&key(1), &mut r)
            .unwrap()
            .expect("a declined L2 hit is handed out");
        assert_eq!(&*v, &[1u8; HEAPED][..]);
        assert_eq!(r.got.map(|(b, _)| b), Some(vec![1u8; HEAPED]));
        c.close().unwrap();
    }

    /// A put over a key that L1 holds from a put (or a touch) of it reads
    /// no record: the witness L1 kept names the key's index entry
    /// (`log::Witness`), on the small path (`store_bytes`) and the general
    /// one (`store_into`) alike. A key L1 no longer holds has its index
    /// entry told apart from colliding keys' by the key in its record, as
    /// before the witness.
    #[test]
    fn a_put_over_a_key_l1_holds_reads_no_record() {
        let reads = || crate::log::store_key_reads();
        let dir = tempfile::tempdir().unwrap();
        let opts = Options {
            l1_max_entries: 2,
            ..Options::with_dir(dir.path())
        };
        let c = Cache::open(&opts).unwrap();
        c.put(b"k", &[1; 100], 0).unwrap();
        let before = reads();
        c.put(b"k", &[2; 100], 0).unwrap();
        c.put(b"k", &[3; 4096], 0).unwrap();
        c.touch(b"k", 60_000).unwrap();
        c.put(b"k", &[4; 100], 0).unwrap();
        assert_eq!(reads(), before, "a put over a key L1 holds read a record");
        assert_eq!(&*c.get(b"k").unwrap(), &[4; 100][..]);
        // Pushed out of L1 (two entries; the get above saves k once): the
        // next put reads k's record.
        for other in [b"a", b"b", b"c", b"d"] {
            c.put(other, &[5; 100], 0).unwrap();
        }
        let hk = c.hasher.hash(b"k");
        assert!(c.memory.lock(hk).peek(hk, b"k").is_none(), "k left L1");
        let before = reads();
        c.put(b"k", &[7; 100], 0).unwrap();
        assert_eq!(reads(), before + 1);
        assert_eq!(&*c.get(b"k").unwrap(), &[7; 100][..]);
        c.check_invariants().unwrap();
        c.close().unwrap();
    }

    /// A put of a value held on the heap (`HEAPED`: too long for the node,
    /// too short for the spare buffer) over a key L1 holds with a value of
    /// that length writes into that value's buffer, under write-through and
    /// write-back alike (write-back's put takes the general path), unless
    /// something holds the value: a `Value` handed out before the put
    /// keeps its bytes, and the next get sees the new ones, from L1 and
    /// after a reopen from L2.
    #[test]
    fn a_small_put_over_a_key_reuses_its_buffer_unless_it_was_handed_out() {
        for policy in [WritePolicy::TC_WRITE_THROUGH, WritePolicy::TC_WRITE_BACK] {
            let dir = tempfile::tempdir().unwrap();
            let opts = Options {
                write_policy: policy,
                ..Options::with_dir(dir.path())
            };
            let c = Cache::open(&opts).unwrap();
            let at = |k: &[u8]| c.get_value(k).unwrap().as_ptr();
            c.put(b"k", &[1; HEAPED], 0).unwrap();
            let first = at(b"k");
            c.put(b"k", &[2; HEAPED], 0).unwrap();
            let reused = policy == WritePolicy::TC_WRITE_THROUGH;
            assert_eq!(at(b"k") == first, reused, "{policy:?}");
            let held = c.get_value(b"k").unwrap();
            c.put(b"k", &[3; HEAPED], 0).unwrap();
            assert_eq!(
                &*held,
                &[2; HEAPED][..],
                "{policy:?}: a handed-out value keeps its bytes"
            );
            assert_ne!(at(b"k"), held.as_ptr(), "{policy:?}");
            assert_eq!(&*c.get(b"k").unwrap(), &[3; HEAPED][..], "{policy:?}");
            drop(held);
            c.close().unwrap();
            let c = Cache::open(&opts).unwrap();
            assert_eq!(&*c.get(b"k").unwrap(), &[3; HEAPED][..], "{policy:?}: after a reopen");
            c.close().unwrap();
        }
    }

    /// Values around the longest a node holds in itself
    /// (`memory::held::INLINE`), put over each other in every order (in
    /// place, node over heap and back), under both write policies and both
    /// L1 policies: each get answers the last put's bytes, from L1 and after
    /// a reopen from L2, and a value handed out before a put keeps its own.
    /// A small L1 bound makes some puts evict, so entries of both kinds
    /// also leave their nodes.
    #[test]
    fn values_either_side_of_the_node_limit_read_back_as_put() {
        let n = crate::memory::held::INLINE;
        let lens = [0, 1, n - 1, n, n + 1, 2 * n];
        for policy in [WritePolicy::TC_WRITE_THROUGH, WritePolicy::TC_WRITE_BACK] {
            for l1 in [
                crate::options::L1Policy::TC_L1_LRU,
                crate::options::L1Policy::TC_L1_S3FIFO,
            ] {
                let dir = tempfile::tempdir().unwrap();
                let opts = Options {
                    write_policy: policy,
                    l1_policy: l1,
                    l1_max_entries: 4,
                    ..Options::with_dir(dir.path())
                };
                let c = Cache::open(&opts).unwrap();
                let mut round = 0u8;
                let mut last = std::collections::HashMap::new();
                for &a in &lens {
                    for &b in &lens {
                        round = round.wrapping_add(1);
                        let k = [b'k', round % 6];
                        let first = vec![round; a];
                        c.put(&k, &first, 0).unwrap();
                        let held = c.get_value(&k).unwrap();
                        let second = vec![round ^ 0xff; b];
                        c.put(&k, &second, 0).unwrap();
                        let at = format!("{policy:?} {l1:?} {a} -> {b}");
                        assert_eq!(&*held, &first[..], "{at}: a handed-out value keeps its bytes");
                        assert_eq!(&*c.get(&k).unwrap(), &second[..], "{at}");
                        last.insert(k, second);
                    }
                }
                c.check_invariants().unwrap();
                for (k, v) in &last {
                    assert_eq!(&*c.get(k).unwrap(), &v[..], "{policy:?} {l1:?}: {k:?}");
                }
                c.close().unwrap();
                let c = Cache::open(&opts).unwrap();
                for (k, v) in &last {
                    assert_eq!(&*c.get(k).unwrap(), &v[..], "{policy:?} {l1:?}: {k:?} after a reopen");
                }
                c.close().unwrap();
            }
        }
    }

    /// A put that pushes a large value out of L1 keeps its buffer as the
    /// thread's spare (freed with no lock held), and the thread's next put
    /// of a value of that length copies into it instead of allocating.
    #[test]
    fn a_put_fills_the_buffer_that_the_last_put_pushed_out() {
        for policy in [WritePolicy::TC_WRITE_THROUGH, WritePolicy::TC_WRITE_BACK] {
            let dir = tempfile::tempdir().unwrap();
            let opts = Options {
                l1_max_entries: 2,
                write_policy: policy,
                ..Options::with_dir(dir.path())
            };
            let c = Cache::open(&opts).unwrap();
            let at = |k: &[u8]| c.get_value(k).unwrap().as_ptr();
            c.put(b"a", &[1; 4096], 0).unwrap();
            let a = at(b"a");
            c.put(b"b", &[2; 4096], 0).unwrap();
            let b = at(b"b");
            c.put(b"c", &[3; 4096], 0).unwrap();
            assert_eq!(
                crate::value::spare::held(),
                Some(a),
                "{policy:?}: a's buffer is the spare"
            );
            c.put(b"d", &[4; 4096], 0).unwrap();
            assert_eq!(at(b"d"), a, "{policy:?}: d was copied into a's buffer");
            assert_eq!(
                crate::value::spare::held(),
                Some(b),
                "{policy:?}: b's buffer is the spare"
            );
            assert!(EVICTION_LIST.with(|l| {
                let kept = l.take();
                let empty = kept.is_empty() && kept.capacity() > 0;
                l.set(kept);
                empty
            }));
            for (k, v) in [(b"a", 1), (b"b", 2), (b"c", 3), (b"d", 4)] {
                assert_eq!(&*c.get(k).unwrap(), &[v; 4096][..], "{policy:?}");
            }
            c.close().unwrap();
        }
    }
}
