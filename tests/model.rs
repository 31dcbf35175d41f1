//! Model-based test (issue 9, item 6): long, seeded random sequences of every
//! cache operation, run against a plain model (a `BTreeMap` of key → value and
//! expiry) and checked after every step.
//!
//! Run it:
//!
//! ```text
//! cargo test --test model                        # 150 seeds × 300 steps (a few seconds)
//! TIERCACHE_MODEL=large cargo test --test model  # 2000 seeds × 2000 steps (minutes)
//! TIERCACHE_MODEL_SEED=42 cargo test --test model             # one seed; also 1,5,9 or 10..20
//! TIERCACHE_MODEL_SEED=42 TIERCACHE_MODEL_SHRINK=1 cargo test --test model
//! TIERCACHE_MODEL_SEED=94 TIERCACHE_MODEL_KEEP=1,8,10,12,17 cargo test --test model
//! ```
//!
//! `TIERCACHE_MODEL_SEEDS=<n>` and `TIERCACHE_MODEL_STEPS=<n>` set the size.
//! Every seed runs under each L1 policy (LRU, then S3-FIFO);
//! `TIERCACHE_MODEL_POLICY=lru` or `=s3fifo` runs one (a failure line names
//! the policy it failed under).
//! `TIERCACHE_MODEL_SHRINK=1` shrinks the shortest failure of each kind
//! (greedy deletion of operations while the same check still fails) and
//! prints the short sequence with a `TIERCACHE_MODEL_KEEP` line that replays
//! exactly those operations of the seed's list. Add `-- --nocapture` to see
//! the summary line of what the runs exercised (compactions, evictions,
//! retirements, crashes that lost writes, …).
//!
//! Everything is derived from the seed by a splitmix64 of our own: the
//! configuration, the key space, and the whole operation list (generated up
//! front, independent of the cache's answers, so that it can be replayed and
//! shrunk). Time is a manual clock (`Clock::manual`) advanced by an operation
//! of its own; nothing sleeps and no check depends on how fast the machine
//! runs. The one thing outside the test's control is the cache's background
//! thread (a compaction of mostly-dead segments every 250 ms, the
//! `TC_SYNC_INTERVAL` flush): its work is also done by the `background tick`
//! operation, at a known point, and most `TC_SYNC_INTERVAL` configurations use
//! a long interval. The checks allow whatever the thread may legitimately do;
//! a failure report says when it compacted during the run, since such a run
//! may replay differently.
//!
//! What is checked, and how strictly:
//!
//! - Exact configurations (memory only with a large L1; any L2 without a
//!   small bound, write-through or write-back, tiny L1 or large): every get,
//!   get_into, contains, remove status and remove_prefix count is exactly
//!   what the model says. (Write-back with a tiny L1 is exact too: an evicted
//!   dirty entry is written to L2, so nothing is lost.)
//! - Lossy configurations (a small L2 bound that retires segments; memory
//!   only with a tiny L1): "missing allowed, wrong never". A key the model has
//!   may be missing; once the cache is seen without it, the model drops it (so
//!   it must never come back). A value returned must be the model's, or a
//!   fresh answer of the loader. remove_prefix first asks `contains` of the
//!   keys under the prefix (no side effect); its count may then fall short
//!   of the probe's only by the L2 evictions counted since the probe began
//!   (the maintenance thread retires segments over the bound on its own
//!   time, so a key can go between the probe and the removal).
//! - The loader answers `b"L" + key + "#" + n` (n counts its calls in the
//!   run; some answers are 1500 bytes, some carry a TTL), "not found" for keys
//!   under `n/`, and fails for keys under `f/`. A get of a key the model has
//!   must not call it; a get of one it has not must call it exactly once.
//! - get_value (`Cache::get_value`, `tc_get_value`) is checked like get, and
//!   the last four values it gave are kept alive and checked unchanged after
//!   every later step: through puts, compaction, clear and reopen (they may
//!   point into a segment's memory map, which must stay mapped), and past the
//!   end of the run's cache and directory.
//! - Close and reopen: every key answers as before (apart from expiry).
//! - Crash (`Cache::simulate_crash`, then reopen). Write-through: every key
//!   of the key space together must equal the model at one point of history
//!   between the last durable point and the crash (modulo expiry by the clock;
//!   with a small L2 bound, keys may be missing). Durable points: flush, close,
//!   clear(false) (it writes its clear record out whatever the policy), the
//!   interval flush of a background tick, and under `TC_SYNC_ALWAYS` every
//!   put and every stored load. Write-back: every key holds the value it had
//!   at the last flush (or close) or a value given since, or nothing, and
//!   nothing only if it had no live value then or was written since. (A
//!   value superseded before a flush never comes back: "an expired, removed
//!   or superseded value never comes back from any tier".) The model then
//!   becomes what the cache holds.
//! - After flush + purge_expired: `corrupt_records` and `io_errors` are 0,
//!   `l2_bytes <= l2_file_bytes`, every live L2 record (`Cache::log`) holds
//!   the model's value and expiry, `l2_entries` is their number, and without
//!   a small bound it is the number of the model's live keys.
//! - purge_expired counts at most the keys whose current value has expired,
//!   and at least those of them certainly still in L1 (a large L1 that no
//!   get, reopen or clear(true) has dropped them from). A range, not one
//!   number: which tier still holds an expired entry (a get drops it from L1
//!   only, a reopen from everywhere) is the implementation's business.
//!
//! The C ABI: one configuration in five opens the cache with `tc_cache_open`
//! and does every operation through the `tc_` functions, `tc_get_into`
//! among them, with a C loader (`tc_cache_set_loader`, `tc_sink_put`).
//! `tc_options` has no clock (`Options::clock` is not part of the C ABI) and
//! there is no public way to wrap a `Cache` built with a manual clock in a
//! `tc_cache` handle (`tc_cache::new` is crate-private), so these
//! configurations use no TTLs and no crash (`simulate_crash` needs the
//! `Cache`). In the Rust configurations `get_into` is emulated: `Cache::get`,
//! then a copy into a fixed buffer of `BUF_CAP` bytes, `TC_BUFFER_TOO_SMALL`
//! with the size needed when it is smaller.
//!
//! Values carry a unique tag (`<k3#17>`: key and put number), so that a value
//! seen after a crash tells which put it came from and so its expiry. Empty
//! values are put without a TTL only, so that their expiry is never
//! ambiguous either.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::{c_void, CString};
use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tiercache::clock::Clock;
use tiercache::ffi::boundary::{RawL1Policy, RawStatus, RawSyncPolicy, RawWritePolicy};
use tiercache::ffi::cache::{self as cffi, tc_bytes, tc_cache};
use tiercache::ffi::loader::{tc_cache_set_loader, tc_sink, tc_sink_put};
use tiercache::ffi::options as copts;
use tiercache::ffi::value as cvalue;
use tiercache::options::{L1Policy, DEFAULT_L1_MAX_BYTES, DEFAULT_L2_MAX_BYTES};
use tiercache::record::Kind;
use tiercache::{Cache, Loaded, Loader, Options, Stats, Status, SyncPolicy, WritePolicy};

use common::Rng;

/// The buffer `get_into` reads into: some values are larger.
const BUF_CAP: usize = 1024;
/// L2 bounds below this are "small": segments are retired and keys lost.
const SMALL_L2: u64 = 1 << 20;
/// Where the manual clock starts (ms since the epoch).
const CLOCK_START: u64 = 1_700_000_000_000;

// ---------------------------------------------------------------------------
// Configurations.

/// Keys, some sharing prefixes. The loader answers "not found" for `n/…` and
/// fails for `f/…`.
const KEY_POOL: [&str; 24] = [
    "a", "a/1", "a/2", "a/10", "a/1/x", "ab", "b", "b/1", "b/2", "b/x/1", "b/x/2", "c", "c/1", "cc", "d", "d/1", "n/1",
    "n/2", "f/1", "e/1", "e/2", "g", "h/1", "zz",
];
const PREFIXES: [&str; 10] = ["", "a", "a/", "a/1", "b", "b/", "b/x", "c", "n/", "q"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Rust,
    C,
}

#[derive(Debug, Clone)]
struct Config {
    seed: u64,
    api: Api,
    dir: bool,
    /// L1 bound on entries; 0: none (a large L1).
    l1_entries: u64,
    /// Set by the test's loop, not the seed: every seed runs under each.
    l1_policy: L1Policy,
    write_back: bool,
    sync: SyncPolicy,
    sync_interval_ms: u64,
    /// 0: the default.
    segment_bytes: u64,
    /// 0: no bound.
    l2_max_bytes: u64,
    loader: bool,
    keys: Vec<Vec<u8>>,
}

impl Config {
    fn from_seed(seed: u64) -> Config {
        let mut r = Rng::new(seed, 1);
        let dir = !r.chance(1, 6);
        let api = if r.chance(1, 5) { Api::C } else { Api::Rust };
        let l1_entries = if r.chance(2, 5) { r.range(2, 4) } else { 0 };
        let write_back = r.chance(1, 2);
        let sync = r.pick(&[
            SyncPolicy::TC_SYNC_NEVER,
            SyncPolicy::TC_SYNC_ON_FLUSH,
            SyncPolicy::TC_SYNC_ALWAYS,
            SyncPolicy::TC_SYNC_INTERVAL,
        ]);
        // Mostly long: the `background tick` operation does what the interval
        // flush does, at a known point. A short one, one time in four, keeps
        // the real thread busy alongside (such runs may not replay exactly).
        let sync_interval_ms = r.pick(&[10, 1000, 60_000, 60_000]);
        let (l2_max_bytes, segment_bytes) = if r.chance(3, 10) {
            (r.pick(&[8192, 12288, 16384, 32768]), r.pick(&[4096, 4096, 8192, 0]))
        } else {
            (
                r.pick(&[0, 0, DEFAULT_L2_MAX_BYTES]),
                r.pick(&[4096, 4096, 16384, 65536, 0]),
            )
        };
        let loader = r.chance(1, 2);
        let n = r.range(8, 24) as usize;
        let mut pool: Vec<&str> = KEY_POOL.to_vec();
        for i in (1..pool.len()).rev() {
            pool.swap(i, r.below(i as u64 + 1) as usize);
        }
        let mut keys: Vec<Vec<u8>> = pool[..n].iter().map(|k| k.as_bytes().to_vec()).collect();
        keys.sort();
        Config {
            seed,
            api,
            dir,
            l1_entries,
            l1_policy: L1Policy::TC_L1_LRU,
            write_back,
            sync,
            sync_interval_ms,
            segment_bytes,
            l2_max_bytes,
            loader,
            keys,
        }
    }

    fn large_l1(&self) -> bool {
        self.l1_entries == 0
    }
    fn small_l2(&self) -> bool {
        self.dir && self.l2_max_bytes > 0 && self.l2_max_bytes < SMALL_L2
    }
    /// Where a bound may drop a value: "missing allowed, wrong never".
    fn lossy(&self) -> bool {
        self.small_l2() || (!self.dir && !self.large_l1())
    }
    fn write_through(&self) -> bool {
        self.dir && !self.write_back
    }
    fn ttls(&self) -> bool {
        self.api == Api::Rust
    }

    /// A few words for the one-line summary of a failing seed.
    fn short(&self) -> String {
        format!(
            "{} {} l1:{} {} {:?} l2:{}{}",
            if self.api == Api::C { "C" } else { "rust" },
            if !self.dir {
                "memory-only"
            } else if self.write_back {
                "write-back"
            } else {
                "write-through"
            },
            if self.large_l1() {
                "large".to_string()
            } else {
                self.l1_entries.to_string()
            },
            policy_name(self.l1_policy),
            self.sync,
            if self.small_l2() { "small" } else { "big" },
            if self.loader { " loader" } else { "" }
        )
        .replace("TC_SYNC_", "")
    }
}

impl std::fmt::Display for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sync = match self.sync {
            SyncPolicy::TC_SYNC_NEVER => "NEVER".to_string(),
            SyncPolicy::TC_SYNC_ON_FLUSH => "ON_FLUSH".to_string(),
            SyncPolicy::TC_SYNC_ALWAYS => "ALWAYS".to_string(),
            SyncPolicy::TC_SYNC_INTERVAL => format!("INTERVAL({}ms)", self.sync_interval_ms),
        };
        let keys: Vec<String> = self
            .keys
            .iter()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect();
        write!(
            f,
            "seed={} api={:?} dir={} l1={} policy={} write={} sync={} segment={} l2={} loader={} lossy={} keys=[{}]",
            self.seed,
            self.api,
            if self.dir { "yes" } else { "no (memory only)" },
            if self.large_l1() {
                "large".to_string()
            } else {
                format!("tiny({})", self.l1_entries)
            },
            policy_name(self.l1_policy),
            if self.write_back { "back" } else { "through" },
            sync,
            if self.segment_bytes == 0 {
                "default".to_string()
            } else {
                self.segment_bytes.to_string()
            },
            match self.l2_max_bytes {
                0 => "unbounded".to_string(),
                DEFAULT_L2_MAX_BYTES => "default(1GiB)".to_string(),
                n => format!("bounded({n})"),
            },
            if self.loader { "yes" } else { "no" },
            self.lossy(),
            keys.join(" ")
        )
    }
}

// ---------------------------------------------------------------------------
// Operations.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    /// `extra`: None for an empty value, else tag + that many bytes.
    Put {
        key: usize,
        seq: u64,
        extra: Option<u32>,
        ttl: u64,
    },
    Get {
        key: usize,
    },
    GetInto {
        key: usize,
    },
    /// `get_value` (`tc_get_value`): the value is kept alive by the run
    /// (see `Run::held`) and checked unchanged after every later step.
    GetValue {
        key: usize,
    },
    Contains {
        key: usize,
    },
    Remove {
        key: usize,
    },
    RemovePrefix {
        prefix: Vec<u8>,
    },
    Clear {
        memory_only: bool,
    },
    PurgeExpired,
    Flush,
    Compact,
    /// What one tick of the background thread does, done here so that it
    /// happens at a known point: the `TC_SYNC_INTERVAL` flush of the log,
    /// then a compaction of the segments that are mostly dead.
    Tick,
    Advance {
        ms: u64,
    },
    Reopen,
    Crash,
    /// flush + purge_expired + the counter invariants.
    Counters,
    /// contains of every key, get of every present one.
    Sweep,
}

impl Op {
    fn name(&self) -> &'static str {
        match self {
            Op::Put { .. } => "put",
            Op::Get { .. } => "get",
            Op::GetInto { .. } => "get_into",
            Op::GetValue { .. } => "get_value",
            Op::Contains { .. } => "contains",
            Op::Remove { .. } => "remove",
            Op::RemovePrefix { .. } => "remove_prefix",
            Op::Clear { .. } => "clear",
            Op::PurgeExpired => "purge_expired",
            Op::Flush => "flush",
            Op::Compact => "compact",
            Op::Tick => "background tick",
            Op::Advance { .. } => "advance",
            Op::Reopen => "close+reopen",
            Op::Crash => "crash+reopen",
            Op::Counters => "counters",
            Op::Sweep => "sweep",
        }
    }

    fn describe(&self, cfg: &Config) -> String {
        let k = |i: &usize| format!("{:?}", String::from_utf8_lossy(&cfg.keys[*i]));
        match self {
            Op::Put { key, seq, extra, ttl } => {
                let v = make_value(*key, *seq, *extra);
                format!("put {} = {} ttl={}", k(key), show(&v), ttl)
            }
            Op::Get { key } => format!("get {}", k(key)),
            Op::GetInto { key } => format!("get_into {} (buf {BUF_CAP})", k(key)),
            Op::GetValue { key } => format!("get_value {}", k(key)),
            Op::Contains { key } => format!("contains {}", k(key)),
            Op::Remove { key } => format!("remove {}", k(key)),
            Op::RemovePrefix { prefix } => format!("remove_prefix {:?}", String::from_utf8_lossy(prefix)),
            Op::Clear { memory_only } => format!("clear(memory_only={memory_only})"),
            Op::Advance { ms } => format!("advance clock {ms} ms"),
            other => other.name().to_string(),
        }
    }
}

fn gen_ops(cfg: &Config, steps: usize) -> Vec<Op> {
    let mut r = Rng::new(cfg.seed, 2);
    let n = cfg.keys.len() as u64;
    let c = cfg.api == Api::C;
    // (weight, kind)
    let table: [(u64, u8); 18] = [
        (50, 0),                      // put
        (28, 1),                      // get
        (10, 2),                      // get_into
        (14, 3),                      // contains
        (16, 4),                      // remove
        (6, 5),                       // remove_prefix
        (2, 6),                       // clear(true)
        (1, 7),                       // clear(false)
        (4, 8),                       // purge_expired
        (6, 9),                       // flush
        (5, 10),                      // compact
        (if c { 0 } else { 16 }, 11), // advance
        (2, 12),                      // reopen
        (if c { 0 } else { 3 }, 13),  // crash
        (4, 14),                      // counters
        (2, 15),                      // sweep
        (if c { 0 } else { 6 }, 16),  // background tick
        (12, 17),                     // get_value
    ];
    let total: u64 = table.iter().map(|(w, _)| w).sum();
    let mut seq = 0;
    let mut ops = Vec::with_capacity(steps);
    for _ in 0..steps {
        let mut x = r.below(total);
        let mut kind = 0;
        for (w, k) in table {
            if x < w {
                kind = k;
                break;
            }
            x -= w;
        }
        let key = r.below(n) as usize;
        ops.push(match kind {
            0 => {
                seq += 1;
                let extra = if r.chance(1, 10) {
                    None
                } else {
                    Some(match r.below(100) {
                        0..=49 => r.below(17),
                        50..=79 => r.below(300),
                        _ => r.range(500, 3000),
                    } as u32)
                };
                let ttl = if cfg.ttls() && extra.is_some() && r.chance(35, 100) {
                    r.range(1, 50)
                } else {
                    0
                };
                Op::Put { key, seq, extra, ttl }
            }
            1 => Op::Get { key },
            2 => Op::GetInto { key },
            3 => Op::Contains { key },
            4 => Op::Remove { key },
            5 => Op::RemovePrefix {
                prefix: if r.chance(1, 5) {
                    cfg.keys[key].clone()
                } else {
                    r.pick(&PREFIXES).as_bytes().to_vec()
                },
            },
            6 => Op::Clear { memory_only: true },
            7 => Op::Clear { memory_only: false },
            8 => Op::PurgeExpired,
            9 => Op::Flush,
            10 => Op::Compact,
            11 => Op::Advance {
                ms: if r.chance(1, 10) { 100 } else { r.range(1, 30) },
            },
            12 => Op::Reopen,
            13 => Op::Crash,
            14 => Op::Counters,
            15 => Op::Sweep,
            16 => Op::Tick,
            _ => Op::GetValue { key },
        });
    }
    ops
}

/// The value of a put: a unique tag, then `extra` pseudo-random bytes.
fn make_value(key: usize, seq: u64, extra: Option<u32>) -> Vec<u8> {
    let Some(extra) = extra else { return Vec::new() };
    let mut v = format!("<k{key}#{seq}>").into_bytes();
    let mut x = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for _ in 0..extra {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(x as u8);
    }
    v
}

fn show(v: &[u8]) -> String {
    let head: String = v
        .iter()
        .take(24)
        .flat_map(|b| std::ascii::escape_default(*b))
        .map(char::from)
        .collect();
    if v.len() <= 24 {
        format!("\"{head}\"")
    } else {
        format!("\"{head}…\"({}B)", v.len())
    }
}

fn show_key(k: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(k))
}

// ---------------------------------------------------------------------------
// The loader: deterministic answers from the key and a per-run call counter.

#[derive(Clone, Debug)]
struct LoadCall {
    key: Vec<u8>,
    answer: Loaded,
}

struct LoaderState {
    calls: Mutex<Vec<LoadCall>>,
    ttls: bool,
}

impl LoaderState {
    fn load(&self, key: &[u8]) -> Loaded {
        let mut calls = self.calls.lock().unwrap();
        let n = calls.len() as u64;
        let answer = if key.starts_with(b"n/") {
            Loaded::NotFound
        } else if key.starts_with(b"f/") {
            Loaded::Failed(format!("load #{n} fails by design"))
        } else {
            let mut value = b"L".to_vec();
            value.extend_from_slice(key);
            value.extend_from_slice(format!("#{n}").as_bytes());
            if n % 5 == 1 {
                // Some loaded values are larger than the get_into buffer.
                while value.len() < 1500 {
                    value.push(b'a' + (value.len() % 26) as u8);
                }
            }
            let ttl_ms = if self.ttls && n.is_multiple_of(3) {
                1 + (n * 7) % 40
            } else {
                0
            };
            Loaded::Value { value, ttl_ms }
        };
        calls.push(LoadCall {
            key: key.to_vec(),
            answer: answer.clone(),
        });
        answer
    }

    fn len(&self) -> usize {
        self.calls.lock().unwrap().len()
    }

    fn since(&self, n: usize) -> Vec<LoadCall> {
        self.calls.lock().unwrap()[n..].to_vec()
    }
}

unsafe extern "C" fn c_loader(ud: *mut c_void, key: *const u8, key_len: usize, sink: *mut tc_sink) -> RawStatus {
    let st = &*(ud as *const LoaderState);
    let key = std::slice::from_raw_parts(key, key_len);
    match st.load(key) {
        Loaded::Value { value, ttl_ms } => RawStatus(tc_sink_put(sink, value.as_ptr(), value.len(), ttl_ms) as u32),
        Loaded::NotFound => RawStatus(Status::TC_NOT_FOUND as u32),
        Loaded::Failed(_) => RawStatus(Status::TC_IO_ERROR as u32),
        Loaded::Entry { .. } => unreachable!("this model's loader gives no metadata"),
    }
}

unsafe extern "C" fn c_free(ud: *mut c_void) {
    drop(Arc::from_raw(ud as *const LoaderState));
}

// ---------------------------------------------------------------------------
// The cache under test: the Rust API or the C ABI.

struct CHandle(*mut tc_cache);

impl Drop for CHandle {
    fn drop(&mut self) {
        unsafe { cffi::tc_cache_close(self.0) };
    }
}

// One target lives at a time; boxing the cache would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Target {
    Rust(Cache),
    C(CHandle),
}

/// A value from `get_value`, still alive: its bytes must not change
/// whatever the cache does meanwhile (puts, compaction, clear, close).
enum Held {
    Rust(tiercache::Value),
    C(*mut tiercache::ffi::value::tc_value),
}

impl Held {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Held::Rust(v) => v.to_vec(),
            Held::C(p) => unsafe {
                let (d, n) = (cvalue::tc_value_data(*p), cvalue::tc_value_len(*p));
                if n == 0 {
                    assert!(d.is_null(), "an empty tc_value's data is NULL");
                    Vec::new()
                } else {
                    std::slice::from_raw_parts(d, n).to_vec()
                }
            },
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Held::C(p) = self {
            unsafe { cvalue::tc_value_free(*p) };
        }
    }
}

/// How many `get_value` answers a run keeps alive at once.
const HELD: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Got {
    Value(Vec<u8>),
    /// get_into: `TC_BUFFER_TOO_SMALL`, with the size needed.
    TooSmall(usize),
    Err(Status),
}

impl Got {
    fn show(&self) -> String {
        match self {
            Got::Value(v) => show(v),
            Got::TooSmall(n) => format!("TC_BUFFER_TOO_SMALL(needs {n})"),
            Got::Err(s) => format!("{s:?}"),
        }
    }
}

fn st(s: Status) -> Result<(), Status> {
    if s == Status::TC_OK {
        Ok(())
    } else {
        Err(s)
    }
}

impl Target {
    fn open(cfg: &Config, dir: Option<&Path>, clock: &Clock, loader: &Arc<LoaderState>) -> Result<Target, String> {
        match cfg.api {
            Api::Rust => {
                let mut o = match dir {
                    Some(d) => Options::with_dir(d),
                    None => Options::new(),
                };
                o.l1_max_entries = cfg.l1_entries;
                o.l1_policy = cfg.l1_policy;
                o.l2_max_bytes = cfg.l2_max_bytes;
                o.write_policy = if cfg.write_back {
                    WritePolicy::TC_WRITE_BACK
                } else {
                    WritePolicy::TC_WRITE_THROUGH
                };
                o.set_sync_policy(cfg.sync, cfg.sync_interval_ms)
                    .map_err(|e| e.to_string())?;
                if cfg.segment_bytes != 0 {
                    o.set_segment_bytes(cfg.segment_bytes).map_err(|e| e.to_string())?;
                }
                o.clock = clock.clone();
                let c = Cache::open(&o).map_err(|e| e.to_string())?;
                if cfg.loader {
                    let st = loader.clone();
                    let l: Arc<dyn Loader> = Arc::new(move |k: &[u8]| st.load(k));
                    c.set_loader(Some(l));
                }
                Ok(Target::Rust(c))
            }
            Api::C => unsafe {
                let o = copts::tc_options_new();
                if let Some(d) = dir {
                    let p = CString::new(d.as_os_str().as_bytes()).unwrap();
                    st(copts::tc_options_set_dir(o, p.as_ptr())).map_err(|s| format!("set_dir: {s:?}"))?;
                }
                st(copts::tc_options_set_l1_capacity(
                    o,
                    cfg.l1_entries,
                    DEFAULT_L1_MAX_BYTES,
                ))
                .map_err(|s| format!("l1: {s:?}"))?;
                st(copts::tc_options_set_l1_policy(o, RawL1Policy(cfg.l1_policy as u32)))
                    .map_err(|s| format!("l1 policy: {s:?}"))?;
                st(copts::tc_options_set_l2_capacity(o, cfg.l2_max_bytes)).map_err(|s| format!("l2: {s:?}"))?;
                st(copts::tc_options_set_write_policy(
                    o,
                    RawWritePolicy(cfg.write_back as u32),
                ))
                .map_err(|s| format!("write policy: {s:?}"))?;
                st(copts::tc_options_set_sync_policy(
                    o,
                    RawSyncPolicy(cfg.sync as u32),
                    cfg.sync_interval_ms,
                ))
                .map_err(|s| format!("sync policy: {s:?}"))?;
                if cfg.segment_bytes != 0 {
                    st(copts::tc_options_set_segment_size(o, cfg.segment_bytes))
                        .map_err(|s| format!("segment: {s:?}"))?;
                }
                let mut h: *mut tc_cache = std::ptr::null_mut();
                let s = cffi::tc_cache_open(o, &mut h);
                copts::tc_options_free(o);
                st(s).map_err(|s| format!("tc_cache_open: {s:?}"))?;
                let h = CHandle(h);
                if cfg.loader {
                    let ud = Arc::into_raw(loader.clone()) as *mut c_void;
                    st(tc_cache_set_loader(h.0, Some(c_loader), ud, Some(c_free)))
                        .map_err(|s| format!("tc_cache_set_loader: {s:?}"))?;
                }
                Ok(Target::C(h))
            },
        }
    }

    fn put(&self, k: &[u8], v: &[u8], ttl: u64) -> Result<(), Status> {
        match self {
            Target::Rust(c) => c.put(k, v, ttl).map_err(|e| e.status()),
            Target::C(h) => st(unsafe { cffi::tc_put(h.0, k.as_ptr(), k.len(), v.as_ptr(), v.len(), ttl) }),
        }
    }

    fn get(&self, k: &[u8]) -> Got {
        match self {
            Target::Rust(c) => match c.get(k) {
                Ok(v) => Got::Value(v.to_vec()),
                Err(e) => Got::Err(e.status()),
            },
            Target::C(h) => unsafe {
                let mut out = tc_bytes {
                    data: std::ptr::null_mut(),
                    len: 0,
                };
                let s = cffi::tc_get(h.0, k.as_ptr(), k.len(), &mut out);
                if s != Status::TC_OK {
                    return Got::Err(s);
                }
                let v = if out.data.is_null() {
                    Vec::new()
                } else {
                    std::slice::from_raw_parts(out.data, out.len).to_vec()
                };
                cffi::tc_bytes_free(&mut out);
                Got::Value(v)
            },
        }
    }

    fn get_value(&self, k: &[u8]) -> (Got, Option<Held>) {
        let held = match self {
            Target::Rust(c) => match c.get_value(k) {
                Ok(v) => Held::Rust(v),
                Err(e) => return (Got::Err(e.status()), None),
            },
            Target::C(h) => unsafe {
                let mut out = std::ptr::null_mut();
                let s = cvalue::tc_get_value(h.0, k.as_ptr(), k.len(), &mut out);
                if s != Status::TC_OK {
                    assert!(out.is_null(), "tc_get_value wrote out on failure");
                    return (Got::Err(s), None);
                }
                Held::C(out)
            },
        };
        (Got::Value(held.bytes()), Some(held))
    }

    fn get_into(&self, k: &[u8]) -> Got {
        let mut buf = vec![0u8; BUF_CAP];
        match self {
            // Emulated: no public way to put a manual-clock Cache behind a tc_cache.
            Target::Rust(c) => match c.get(k) {
                Ok(v) if v.len() > BUF_CAP => Got::TooSmall(v.len()),
                Ok(v) => {
                    buf[..v.len()].copy_from_slice(&v);
                    Got::Value(buf[..v.len()].to_vec())
                }
                Err(e) => Got::Err(e.status()),
            },
            Target::C(h) => unsafe {
                let mut len = usize::MAX;
                match cffi::tc_get_into(h.0, k.as_ptr(), k.len(), buf.as_mut_ptr(), BUF_CAP, &mut len) {
                    Status::TC_OK => Got::Value(buf[..len].to_vec()),
                    Status::TC_BUFFER_TOO_SMALL => Got::TooSmall(len),
                    s => Got::Err(s),
                }
            },
        }
    }

    fn contains(&self, k: &[u8]) -> Result<bool, Status> {
        match self {
            Target::Rust(c) => c.contains(k).map_err(|e| e.status()),
            Target::C(h) => unsafe {
                let mut b = false;
                st(cffi::tc_contains(h.0, k.as_ptr(), k.len(), &mut b))?;
                Ok(b)
            },
        }
    }

    fn remove(&self, k: &[u8]) -> Result<(), Status> {
        match self {
            Target::Rust(c) => c.remove(k).map_err(|e| e.status()),
            Target::C(h) => st(unsafe { cffi::tc_remove(h.0, k.as_ptr(), k.len()) }),
        }
    }

    fn remove_prefix(&self, p: &[u8]) -> Result<u64, Status> {
        match self {
            Target::Rust(c) => c.remove_prefix(p).map_err(|e| e.status()),
            Target::C(h) => unsafe {
                let mut n = u64::MAX;
                st(cffi::tc_remove_prefix(h.0, p.as_ptr(), p.len(), &mut n))?;
                Ok(n)
            },
        }
    }

    fn clear(&self, memory_only: bool) -> Result<(), Status> {
        match self {
            Target::Rust(c) => c.clear(memory_only).map_err(|e| e.status()),
            Target::C(h) => st(unsafe { cffi::tc_clear(h.0, memory_only) }),
        }
    }

    fn purge_expired(&self) -> Result<u64, Status> {
        match self {
            Target::Rust(c) => c.purge_expired().map_err(|e| e.status()),
            Target::C(h) => unsafe {
                let mut n = u64::MAX;
                st(cffi::tc_purge_expired(h.0, &mut n))?;
                Ok(n)
            },
        }
    }

    fn flush(&self) -> Result<(), Status> {
        match self {
            Target::Rust(c) => c.flush().map_err(|e| e.status()),
            Target::C(h) => st(unsafe { cffi::tc_flush(h.0) }),
        }
    }

    fn compact(&self) -> Result<(), Status> {
        match self {
            Target::Rust(c) => c.compact().map(|_| ()).map_err(|e| e.status()),
            Target::C(h) => st(unsafe { cffi::tc_compact(h.0) }),
        }
    }

    /// One tick of the maintenance thread (`Cache::open`'s `Maintenance`):
    /// says whether it flushed the log. Rust only; a no-op without L2.
    fn tick(&self, interval: bool) -> Result<bool, String> {
        let Target::Rust(c) = self else { return Ok(false) };
        let Some(log) = c.log() else { return Ok(false) };
        if interval {
            log.flush().map_err(|e| format!("log flush: {e}"))?;
        }
        log.maybe_recover();
        if log.wants_compaction() {
            let r = log.compact(false).map_err(|e| format!("compact(false): {e}"))?;
            cover(&COVERAGE.tick_compactions, r.segments);
        }
        Ok(interval)
    }

    fn stats(&self) -> Result<Stats, Status> {
        match self {
            Target::Rust(c) => Ok(c.stats()),
            Target::C(h) => unsafe {
                let mut s = Stats::default();
                st(cffi::tc_stats_get(h.0, &mut s))?;
                Ok(s)
            },
        }
    }

    /// The live L2 records (key, value, expiry), and the live entries the
    /// index counts at the same moment (`l2_entries` then): Rust only.
    fn l2_records(&self) -> Option<(Vec<L2Record>, u64)> {
        match self {
            Target::Rust(c) => {
                let mut out = Vec::new();
                let mut entries = 0;
                if let Some(log) = c.log() {
                    let sealer = log.sealer();
                    entries = log.for_each(|r| {
                        if r.kind == Kind::Put {
                            let value = r
                                .value(sealer)
                                .map_or_else(|e| format!("<{e}>").into_bytes(), |v| v.to_vec());
                            out.push((r.key.to_vec(), value, r.expires_at));
                        } else {
                            out.push((r.key.to_vec(), b"<not a put record>".to_vec(), 0));
                        }
                    });
                }
                Some((out, entries))
            }
            Target::C(_) => None,
        }
    }

    fn close(self) -> Result<(), Status> {
        match self {
            Target::Rust(c) => c.close().map_err(|e| e.status()),
            Target::C(h) => st(unsafe { cffi::tc_cache_shutdown(h.0) }), // h's drop frees the handle
        }
    }
}

// ---------------------------------------------------------------------------
// The model and the run.

#[derive(Clone, Debug)]
struct Entry {
    value: Arc<[u8]>,
    /// Absolute expiry (0: never).
    exp: u64,
    /// Certainly still in L1 (a large L1 it was put into, not dropped since):
    /// purge_expired must count it once it has expired.
    in_l1: bool,
}

type Model = BTreeMap<Vec<u8>, Entry>;

/// A value given to a key, with its expiry.
type Given = (Arc<[u8]>, u64);

/// A live L2 record: key, value, expiry.
type L2Record = (Vec<u8>, Vec<u8>, u64);

fn live(e: &Entry, now: u64) -> bool {
    e.exp == 0 || e.exp > now
}

fn expiry(now: u64, ttl: u64) -> u64 {
    if ttl == 0 {
        0
    } else {
        now + ttl
    }
}

#[derive(Debug)]
struct Failure {
    /// Which check (for grouping and shrinking).
    kind: String,
    detail: String,
}

type Check = Result<(), Failure>;

fn failure(kind: impl Into<String>, detail: impl Into<String>) -> Failure {
    Failure {
        kind: kind.into(),
        detail: detail.into(),
    }
}

macro_rules! ensure {
    ($cond:expr, $kind:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(failure($kind, format!($($fmt)+)));
        }
    };
}

struct Run<'a> {
    cfg: &'a Config,
    clock: Clock,
    loader: Arc<LoaderState>,
    /// Declared before `tmp`: closed before the directory is deleted.
    target: Option<Target>,
    tmp: Option<tempfile::TempDir>,
    model: Model,
    /// The model at the last durable point.
    durable: Model,
    /// Write-through: the model after every write since the last durable
    /// point (the first is the durable point itself).
    snapshots: Vec<Model>,
    /// Write-back: values given to each key since the last durable point.
    given_since: HashMap<Vec<u8>, Vec<Given>>,
    /// Keys written, removed or loaded since the last durable point.
    touched: HashSet<Vec<u8>>,
    /// Every value ever given to each key, with its expiry.
    given_all: HashMap<Vec<u8>, HashMap<Arc<[u8]>, u64>>,
    /// Segments compacted by our compact and tick operations, since this open.
    own_compactions: u64,
    /// Segments the cache's own background thread compacted, in earlier opens.
    bg_compactions: u64,
    /// Keys that may hold an expired entry in L2 that the model no longer
    /// tracks: since a reopen or crash (an open that trusts the index file
    /// does not read the records, so it keeps entries that expired while the
    /// cache was closed until purge_expired drops them).
    maybe_expired_in_l2: HashSet<Vec<u8>>,
    /// The last `HELD` values `get_value` gave, with their bytes then.
    /// Declared last: they outlive the target (a value may outlive its cache).
    held: Vec<(Held, Vec<u8>, String)>,
}

impl<'a> Run<'a> {
    fn new(cfg: &'a Config) -> Result<Run<'a>, Failure> {
        let tmp = if cfg.dir {
            let b = tempfile::Builder::new()
                .prefix("tiercache-model-")
                .tempdir_in("/dev/shm");
            Some(b.or_else(|_| tempfile::tempdir()).expect("a temporary directory"))
        } else {
            None
        };
        let mut run = Run {
            cfg,
            clock: Clock::manual(CLOCK_START),
            loader: Arc::new(LoaderState {
                calls: Mutex::new(Vec::new()),
                ttls: cfg.ttls(),
            }),
            target: None,
            tmp,
            model: Model::new(),
            durable: Model::new(),
            snapshots: vec![Model::new()],
            given_since: HashMap::new(),
            touched: HashSet::new(),
            given_all: HashMap::new(),
            own_compactions: 0,
            bg_compactions: 0,
            maybe_expired_in_l2: HashSet::new(),
            held: Vec::new(),
        };
        run.open()?;
        Ok(run)
    }

    fn open(&mut self) -> Check {
        let dir = self.tmp.as_ref().map(|d| d.path().join("cache"));
        let t = Target::open(self.cfg, dir.as_deref(), &self.clock, &self.loader).map_err(|e| failure("open", e))?;
        self.target = Some(t);
        Ok(())
    }

    fn compactions(&self) -> u64 {
        self.target
            .as_ref()
            .and_then(|t| t.stats().ok())
            .map_or(0, |s| s.compactions)
    }

    /// Segments the background thread compacted during this run (it runs on
    /// its own time: a failure it took part in may replay differently).
    fn background_compactions(&self) -> u64 {
        self.bg_compactions + self.compactions().saturating_sub(self.own_compactions)
    }

    /// Before the cache is closed or crashed.
    fn closing(&mut self) {
        self.bg_compactions = self.background_compactions();
        self.own_compactions = 0;
        COVERAGE.add_cache(self.t());
    }

    fn t(&self) -> &Target {
        self.target.as_ref().expect("an open cache")
    }

    fn now(&self) -> u64 {
        self.clock.now_ms()
    }

    /// The cache's `l2_evictions` counter (0 if stats fail: the checks
    /// that use it then allow no eviction).
    fn l2_evictions(&self) -> u64 {
        self.t().stats().map_or(0, |s| s.l2_evictions)
    }

    fn live_value(&self, k: &[u8]) -> Option<Arc<[u8]>> {
        let now = self.now();
        self.model.get(k).filter(|e| live(e, now)).map(|e| e.value.clone())
    }

    fn key(&self, i: usize) -> Vec<u8> {
        self.cfg.keys[i].clone()
    }

    fn durable_point(&mut self) {
        self.durable = self.model.clone();
        self.snapshots = vec![self.model.clone()];
        self.given_since.clear();
        self.touched.clear();
    }

    fn changed(&mut self) {
        if self.cfg.write_through() {
            self.snapshots.push(self.model.clone());
        }
    }

    /// A put, or a loaded value stored.
    fn write(&mut self, k: Vec<u8>, v: Arc<[u8]>, exp: u64) {
        self.model.insert(
            k.clone(),
            Entry {
                value: v.clone(),
                exp,
                in_l1: self.cfg.large_l1(),
            },
        );
        self.given_all.entry(k.clone()).or_default().insert(v.clone(), exp);
        self.given_since.entry(k.clone()).or_default().push((v, exp));
        self.touched.insert(k);
        if self.cfg.write_through() && self.cfg.sync == SyncPolicy::TC_SYNC_ALWAYS {
            // The put returned after its record (and all before it) was fsynced.
            self.durable_point();
        } else {
            self.changed();
        }
    }

    fn step(&mut self, op: &Op) -> Check {
        let r = self.step_op(op);
        for (h, bytes, what) in &self.held {
            ensure!(
                h.bytes() == *bytes,
                "get_value: a held value changed",
                "the value of {what} was {} and is now {}",
                show(bytes),
                show(&h.bytes())
            );
        }
        r
    }

    fn step_op(&mut self, op: &Op) -> Check {
        match op {
            Op::Put { key, seq, extra, ttl } => {
                let k = self.key(*key);
                let v = make_value(*key, *seq, *extra);
                let before = self.loader.len();
                let r = self.t().put(&k, &v, *ttl);
                ensure!(r.is_ok(), "put failed", "put {}: {:?}", show_key(&k), r);
                ensure!(
                    self.loader.len() == before,
                    "put called the loader",
                    "put {}",
                    show_key(&k)
                );
                let exp = expiry(self.now(), *ttl);
                self.write(k, v.into(), exp);
            }
            Op::Get { key } => self.check_get(*key, How::Get)?,
            Op::GetInto { key } => self.check_get(*key, How::Into)?,
            Op::GetValue { key } => self.check_get(*key, How::Value)?,
            Op::Contains { key } => self.check_contains(&self.key(*key))?,
            Op::Remove { key } => {
                let k = self.key(*key);
                let before = self.loader.len();
                let r = self.t().remove(&k);
                let had = self.live_value(&k);
                let ok = match (&r, &had) {
                    (Ok(()), Some(_)) => true,
                    (Err(Status::TC_NOT_FOUND), None) => true,
                    (Err(Status::TC_NOT_FOUND), Some(_)) => self.cfg.lossy(),
                    _ => false,
                };
                ensure!(
                    ok,
                    "remove: wrong status",
                    "remove {}: the cache said {:?}; the model has {}",
                    show_key(&k),
                    r,
                    had.map_or("no live value".to_string(), |v| show(&v))
                );
                ensure!(
                    self.loader.len() == before,
                    "remove called the loader",
                    "remove {}",
                    show_key(&k)
                );
                self.model.remove(&k);
                self.touched.insert(k);
                self.changed();
            }
            Op::RemovePrefix { prefix } => {
                // The maintenance thread retires segments over the bound in
                // chunks, on its own time: a key seen by the probe may be
                // evicted before the removal reaches it. Each such eviction
                // is counted (`l2_evictions`), so the count may fall short of
                // the probe's by at most the evictions since it began.
                let evicted_before = self.l2_evictions();
                if self.cfg.lossy() {
                    // Learn which keys the cache still has (contains has no side effect).
                    let now = self.now();
                    let probe: Vec<Vec<u8>> = self
                        .model
                        .iter()
                        .filter(|(k, e)| k.starts_with(prefix) && live(e, now))
                        .map(|(k, _)| k.clone())
                        .collect();
                    for k in probe {
                        self.check_contains(&k)?;
                    }
                }
                let now = self.now();
                let expected: Vec<Vec<u8>> = self
                    .model
                    .iter()
                    .filter(|(k, e)| k.starts_with(prefix) && live(e, now))
                    .map(|(k, _)| k.clone())
                    .collect();
                let r = self.t().remove_prefix(prefix);
                let evicted = self.l2_evictions() - evicted_before;
                let fewest = (expected.len() as u64).saturating_sub(evicted);
                ensure!(
                    matches!(r, Ok(n) if (fewest..=expected.len() as u64).contains(&n)),
                    "remove_prefix: wrong count",
                    "remove_prefix {:?}: the cache said {:?}; the model has {} live keys under it \
                     ({evicted} evicted since the probe began): {:?}",
                    String::from_utf8_lossy(prefix),
                    r,
                    expected.len(),
                    expected
                        .iter()
                        .map(|k| String::from_utf8_lossy(k).into_owned())
                        .collect::<Vec<_>>()
                );
                self.model.retain(|k, _| !k.starts_with(prefix));
                for k in self.cfg.keys.iter().filter(|k| k.starts_with(prefix)) {
                    self.touched.insert(k.clone());
                }
                self.changed();
            }
            Op::Clear { memory_only } => {
                let r = self.t().clear(*memory_only);
                ensure!(r.is_ok(), "clear failed", "clear({memory_only}): {r:?}");
                if *memory_only && self.cfg.dir {
                    // Write-through: L2 has everything; write-back: dirty entries were written first.
                    for e in self.model.values_mut() {
                        e.in_l1 = false;
                    }
                } else {
                    self.model.clear();
                    if self.cfg.dir {
                        // The clear record is written out and fsynced before it returns.
                        self.durable_point();
                    }
                }
            }
            Op::PurgeExpired => self.check_purge()?,
            Op::Flush => {
                let r = self.t().flush();
                ensure!(r.is_ok(), "flush failed", "flush: {r:?}");
                if self.cfg.dir {
                    self.durable_point();
                }
            }
            Op::Compact => {
                let before = self.compactions();
                let r = self.t().compact();
                ensure!(r.is_ok(), "compact failed", "compact: {r:?}");
                self.own_compactions += self.compactions() - before;
            }
            Op::Tick => {
                let before = self.compactions();
                let r = self.t().tick(self.cfg.sync == SyncPolicy::TC_SYNC_INTERVAL);
                self.own_compactions += self.compactions() - before;
                let flushed = r.map_err(|e| failure("background tick failed", e))?;
                if flushed && self.cfg.write_through() {
                    // The log is written out and fsynced: under write-through that is all of it.
                    self.durable_point();
                }
            }
            Op::Advance { ms } => {
                let before = self.now();
                self.clock.advance(*ms);
                let now = self.now();
                let n = self.model.values().filter(|e| live(e, before) && !live(e, now)).count();
                cover(&COVERAGE.expired_puts, n as u64);
            }
            Op::Reopen => {
                self.closing();
                let r = self.target.take().unwrap().close();
                ensure!(r.is_ok(), "close failed", "close: {r:?}");
                self.open()?;
                let now = self.now();
                if self.cfg.dir {
                    // Expired entries may stay in L2 until purged (see
                    // `maybe_expired_in_l2`); the model forgets them.
                    self.note_maybe_expired(now);
                    self.model.retain(|_, e| live(e, now));
                    for e in self.model.values_mut() {
                        e.in_l1 = false;
                    }
                } else {
                    self.model.clear();
                }
                self.durable_point();
                self.sweep()?;
            }
            Op::Crash => self.crash()?,
            Op::Counters => self.check_counters()?,
            Op::Sweep => self.sweep()?,
        }
        Ok(())
    }

    fn check_get(&mut self, key: usize, how: How) -> Check {
        let k = self.key(key);
        let into = how == How::Into;
        let name = match how {
            How::Get => "get",
            How::Into => "get_into",
            How::Value => "get_value",
        };
        let before = self.loader.len();
        let r = match how {
            How::Get => self.t().get(&k),
            How::Into => self.t().get_into(&k),
            How::Value => {
                let (r, held) = self.t().get_value(&k);
                if let (Some(h), Got::Value(v)) = (held, &r) {
                    if self.held.len() == HELD {
                        self.held.remove(0);
                    }
                    self.held.push((h, v.clone(), format!("get_value {}", show_key(&k))));
                }
                r
            }
        };
        let calls = self.loader.since(before);
        let expect = |v: &[u8]| {
            if into && v.len() > BUF_CAP {
                Got::TooSmall(v.len())
            } else {
                Got::Value(v.to_vec())
            }
        };
        let show_calls = |calls: &[LoadCall]| -> String {
            calls
                .iter()
                .map(|c| {
                    let a = match &c.answer {
                        Loaded::Value { value, ttl_ms } => format!("{} ttl={ttl_ms}", show(value)),
                        other => format!("{other:?}"),
                    };
                    format!("{} -> {a}", show_key(&c.key))
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut prior = "no live value".to_string();
        if let Some(cur) = self.live_value(&k) {
            if calls.is_empty() && r == expect(&cur) {
                if self.cfg.large_l1() {
                    self.model.get_mut(&k).unwrap().in_l1 = true;
                }
                return Ok(());
            }
            ensure!(
                self.cfg.lossy(),
                format!("{name}: not the model's value"),
                "{name} {}: the model has {}; the cache answered {} (loader calls: [{}])",
                show_key(&k),
                show(&cur),
                r.show(),
                show_calls(&calls)
            );
            // Lossy: the cache may have lost it; it must then answer as for an absent key.
            prior = format!("{} (may have been lost)", show(&cur));
            self.model.remove(&k);
        } else if let Some(e) = self.model.get_mut(&k) {
            // Expired: a get drops it from L1 on the way.
            e.in_l1 = false;
        }
        if !self.cfg.loader {
            ensure!(
                calls.is_empty() && r == Got::Err(Status::TC_NOT_FOUND),
                format!("{name}: a value the model does not have"),
                "{name} {}: the model has {prior}; the cache answered {} (no loader)",
                show_key(&k),
                r.show()
            );
            return Ok(());
        }
        ensure!(
            calls.len() == 1 && calls[0].key == k,
            format!("{name}: loader not called once"),
            "{name} {}: the model has {prior}; expected one call of the loader, got [{}]; the cache answered {}",
            show_key(&k),
            show_calls(&calls),
            r.show()
        );
        match calls[0].answer.clone() {
            Loaded::Value { value, ttl_ms } => {
                ensure!(
                    r == expect(&value),
                    format!("{name}: not the loaded value"),
                    "{name} {}: the model has {prior}; the loader gave {}; the cache answered {}",
                    show_key(&k),
                    show(&value),
                    r.show()
                );
                let exp = expiry(self.now(), ttl_ms);
                self.write(k, value.into(), exp);
            }
            Loaded::NotFound => ensure!(
                r == Got::Err(Status::TC_NOT_FOUND),
                format!("{name}: loader said not found"),
                "{name} {}: the loader said not found; the cache answered {}",
                show_key(&k),
                r.show()
            ),
            Loaded::Failed(_) => ensure!(
                r == Got::Err(Status::TC_LOADER_FAILED),
                format!("{name}: loader failed"),
                "{name} {}: the loader failed; the cache answered {}",
                show_key(&k),
                r.show()
            ),
            Loaded::Entry { .. } => unreachable!("this model's loader gives no metadata"),
        }
        Ok(())
    }

    fn check_contains(&mut self, k: &[u8]) -> Check {
        let before = self.loader.len();
        let r = self.t().contains(k);
        ensure!(
            self.loader.len() == before,
            "contains called the loader",
            "contains {}",
            show_key(k)
        );
        let b = r.map_err(|s| failure("contains failed", format!("contains {}: {s:?}", show_key(k))))?;
        let had = self.live_value(k);
        if b == had.is_some() {
            return Ok(());
        }
        if had.is_some() && self.cfg.lossy() {
            self.model.remove(k);
            return Ok(());
        }
        Err(failure(
            format!(
                "contains: {}",
                if b {
                    "present but not in the model"
                } else {
                    "absent but in the model"
                }
            ),
            format!(
                "contains {}: the cache said {b}; the model has {}",
                show_key(k),
                had.map_or("no live value".to_string(), |v| show(&v))
            ),
        ))
    }

    /// Before a reopen or crash forgets them: every key without a live
    /// value may hold an expired entry in L2.
    fn note_maybe_expired(&mut self, now: u64) {
        for k in &self.cfg.keys {
            if self.model.get(k).is_none_or(|e| !live(e, now)) {
                self.maybe_expired_in_l2.insert(k.clone());
            }
        }
    }

    fn check_purge(&mut self) -> Check {
        let now = self.now();
        let expired: Vec<(&Vec<u8>, &Entry)> = self.model.iter().filter(|(_, e)| !live(e, now)).collect();
        let untracked = self
            .maybe_expired_in_l2
            .iter()
            .filter(|k| !expired.iter().any(|(e, _)| e == k))
            .count();
        let upper = (expired.len() + untracked) as u64;
        let lower = expired.iter().filter(|(_, e)| e.in_l1).count() as u64;
        let names: Vec<String> = expired
            .iter()
            .map(|(k, e)| format!("{}{}", String::from_utf8_lossy(k), if e.in_l1 { "(in L1)" } else { "" }))
            .collect();
        let r = self.t().purge_expired();
        let n = r.map_err(|s| failure("purge_expired failed", format!("{s:?}")))?;
        ensure!(
            (lower..=upper).contains(&n),
            format!("purge_expired: count {}", if n > upper { "too high" } else { "too low" }),
            "purge_expired returned {n}; the model has {upper} keys with an expired entry ({lower} certainly in L1): {names:?}"
        );
        self.model.retain(|_, e| live(e, now));
        self.maybe_expired_in_l2.clear();
        Ok(())
    }

    /// contains of every key, get of every key the model has.
    fn sweep(&mut self) -> Check {
        for k in self.cfg.keys.clone() {
            self.check_contains(&k)?;
        }
        for i in 0..self.cfg.keys.len() {
            if self.live_value(&self.key(i)).is_some() {
                self.check_get(i, How::Get)?;
            }
        }
        Ok(())
    }

    fn crash(&mut self) -> Check {
        self.closing();
        cover(&COVERAGE.crashes, 1);
        match self.target.take().unwrap() {
            Target::Rust(c) => c.simulate_crash(),
            Target::C(_) => unreachable!("no crash through the C ABI"),
        }
        self.open()?;
        if !self.cfg.dir {
            self.model.clear();
            self.durable_point();
            return Ok(());
        }
        let now = self.now();
        self.note_maybe_expired(now);
        // What survived, read without the loader's help.
        let mut got: BTreeMap<Vec<u8>, Arc<[u8]>> = BTreeMap::new();
        for k in self.cfg.keys.clone() {
            let before = self.loader.len();
            let present = self
                .t()
                .contains(&k)
                .map_err(|s| failure("contains failed", format!("{s:?}")))?;
            if present {
                let r = self.t().get(&k);
                ensure!(
                    self.loader.len() == before,
                    "crash: contains and get disagree",
                    "after the crash, contains {} said true but get called the loader ({})",
                    show_key(&k),
                    r.show()
                );
                match r {
                    Got::Value(v) => {
                        got.insert(k, v.into());
                    }
                    other => {
                        return Err(failure(
                            "crash: contains and get disagree",
                            format!(
                                "after the crash, contains {} said true, get said {}",
                                show_key(&k),
                                other.show()
                            ),
                        ))
                    }
                }
            }
        }
        let bounded = self.cfg.small_l2();
        let want = |m: &Model, k: &[u8]| m.get(k).filter(|e| live(e, now)).map(|e| e.value.clone());
        let table = |run: &Run, extra: &dyn Fn(&[u8]) -> String| -> String {
            let mut s = String::new();
            for k in &run.cfg.keys {
                let g = got.get(k).map_or("-".to_string(), |v| show(v));
                let d = want(&run.durable, k).map_or("-".to_string(), |v| show(&v));
                let m = want(&run.model, k).map_or("-".to_string(), |v| show(&v));
                if g != d || g != m {
                    let _ = writeln!(
                        s,
                        "    {:8} survivor {:28} at durable point {:28} before crash {:28}{}",
                        show_key(k),
                        g,
                        d,
                        m,
                        extra(k)
                    );
                }
            }
            s
        };
        if self.cfg.write_through() {
            let matches = |snap: &Model| {
                self.cfg.keys.iter().all(|k| match (got.get(k), want(snap, k)) {
                    (None, None) => true,
                    (Some(g), Some(w)) => *g == w,
                    (None, Some(_)) => bounded,
                    (Some(_), None) => false,
                })
            };
            ensure!(
                self.snapshots.iter().any(matches),
                "crash (write-through): survivors are no state of history",
                "after the crash, the keys are no state the cache had since the last durable point \
                 ({} states checked{}); keys that differ:\n{}",
                self.snapshots.len(),
                if bounded { ", missing keys allowed" } else { "" },
                table(self, &|_| String::new())
            );
        } else {
            for k in &self.cfg.keys {
                let since: Vec<&Arc<[u8]>> = self
                    .given_since
                    .get(k)
                    .map(|vs| vs.iter().filter(|(_, e)| *e == 0 || *e > now).map(|(v, _)| v).collect())
                    .unwrap_or_default();
                let at_durable = want(&self.durable, k);
                let ok = match got.get(k) {
                    None => bounded || at_durable.is_none() || self.touched.contains(k),
                    Some(g) => at_durable.as_ref() == Some(g) || since.contains(&g),
                };
                let describe = |k: &[u8]| {
                    let vs: Vec<String> = self
                        .given_since
                        .get(k)
                        .map(|vs| vs.iter().map(|(v, e)| format!("{}@{}", show(v), e)).collect())
                        .unwrap_or_default();
                    format!(" given since: [{}]", vs.join(", "))
                };
                ensure!(
                    ok,
                    format!(
                        "crash (write-back): {}",
                        if got.contains_key(k) { "a value not allowed" } else { "a durable value lost" }
                    ),
                    "after the crash, {} holds {}; allowed: its value at the last durable point or one given since{}\n{}",
                    show_key(k),
                    got.get(k).map_or("nothing".to_string(), |v| show(v)),
                    if at_durable.is_none() || self.touched.contains(k) { ", or nothing" } else { "" },
                    table(self, &describe)
                );
            }
        }
        if self
            .cfg
            .keys
            .iter()
            .any(|k| got.get(k).cloned() != want(&self.model, k))
        {
            cover(&COVERAGE.crashes_losing_writes, 1);
        }
        // The model becomes what the cache holds.
        let mut model = Model::new();
        for (k, v) in got {
            let exp = self.given_all.get(&k).and_then(|m| m.get(&v)).copied();
            let exp = exp.ok_or_else(|| {
                failure(
                    "crash: a value never given",
                    format!(
                        "after the crash, {} holds {}, never put nor loaded",
                        show_key(&k),
                        show(&v)
                    ),
                )
            })?;
            model.insert(
                k,
                Entry {
                    value: v,
                    exp,
                    in_l1: self.cfg.large_l1(),
                },
            );
        }
        // A write the crash lost may uncover an older record of its key that
        // has expired since (it reads as nothing, so `got` lacks the key),
        // and a purge_expired since the durable point is lost too (it writes
        // no tombstone): either way L2 may hold an expired entry that
        // purge_expired will count. Seed 70747 (1500 steps): a loaded value
        // with a TTL, expired, superseded by a put the crash lost.
        for k in &self.cfg.keys {
            let had_expiring = self.given_all.get(k).is_some_and(|m| m.values().any(|e| *e != 0));
            if had_expiring && !model.get(k).is_some_and(|e| live(e, now)) {
                self.maybe_expired_in_l2.insert(k.clone());
            }
        }
        self.model = model;
        self.durable_point();
        Ok(())
    }

    fn check_counters(&mut self) -> Check {
        self.step(&Op::Flush)?;
        self.check_purge()?;
        let s = self
            .t()
            .stats()
            .map_err(|e| failure("stats failed", format!("{e:?}")))?;
        let now = self.now();
        ensure!(
            s.corrupt_records == 0,
            "counters: corrupt_records",
            "corrupt_records = {} ({s:?})",
            s.corrupt_records
        );
        ensure!(
            s.io_errors == 0,
            "counters: io_errors",
            "io_errors = {} ({s:?})",
            s.io_errors
        );
        if !self.cfg.large_l1() {
            ensure!(
                s.l1_entries <= self.cfg.l1_entries,
                "counters: l1_entries over the bound",
                "l1_entries = {} > {}",
                s.l1_entries,
                self.cfg.l1_entries
            );
        }
        let model_live = self.model.len() as u64; // all live after the purge
        if !self.cfg.lossy() {
            ensure!(
                s.l1_entries <= model_live,
                "counters: l1_entries over the live keys",
                "l1_entries = {} but the model has {model_live} live keys",
                s.l1_entries
            );
        }
        if !self.cfg.dir {
            ensure!(
                s.l2_state == 0 && s.l2_entries == 0 && s.l2_file_bytes == 0,
                "counters: L2 in a memory-only cache",
                "{s:?}"
            );
            return Ok(());
        }
        ensure!(
            s.l2_state == 1,
            "counters: l2_state not ok",
            "l2_state = {} ({s:?})",
            s.l2_state
        );
        ensure!(
            s.l2_bytes <= s.l2_file_bytes,
            "counters: l2_bytes > l2_file_bytes",
            "l2_bytes = {} > l2_file_bytes = {}",
            s.l2_bytes,
            s.l2_file_bytes
        );
        let model_keys = || {
            self.model
                .keys()
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .collect::<Vec<_>>()
        };
        if let Some((recs, l2_entries)) = self.t().l2_records() {
            // What L2 holds, record by record: the model's value and expiry, or nothing.
            for (k, v, exp) in &recs {
                let m = self.model.get(k);
                ensure!(
                    m.is_some_and(|e| *e.value == v[..] && e.exp == *exp) && (*exp == 0 || *exp > now),
                    "counters: an L2 record the model does not have",
                    "after flush + purge_expired, L2 holds {} = {} (expires {}); the model has {}",
                    show_key(k),
                    show(v),
                    exp,
                    m.map_or("nothing".to_string(), |e| format!(
                        "{} (expires {})",
                        show(&e.value),
                        e.exp
                    ))
                );
            }
            let on_disk: Vec<String> = recs
                .iter()
                .map(|r| String::from_utf8_lossy(&r.0).into_owned())
                .collect();
            if !self.cfg.small_l2() {
                ensure!(
                    recs.len() as u64 == model_live,
                    "counters: L2 lacks live keys after flush",
                    "after flush, L2 has live records for {on_disk:?}; the model has {:?}",
                    model_keys()
                );
            }
            // Counted in the same hold of the log's lock as the records:
            // `s`, read before them, may count entries the maintenance
            // thread retired since (seed 1, a bounded L2, in CI).
            ensure!(
                l2_entries == recs.len() as u64,
                "counters: l2_entries is not the number of live L2 records",
                "l2_entries = {} but the index has {} readable live records: {on_disk:?}",
                l2_entries,
                recs.len()
            );
        } else if self.cfg.small_l2() {
            ensure!(
                s.l2_entries <= model_live,
                "counters: l2_entries over the model's live keys",
                "l2_entries = {} > the model's {model_live} live keys",
                s.l2_entries
            );
        } else {
            ensure!(
                s.l2_entries == model_live,
                "counters: l2_entries is not the model's live keys",
                "l2_entries = {} but the model has {model_live} live keys: {:?}",
                s.l2_entries,
                model_keys()
            );
        }
        Ok(())
    }
}

/// What the runs exercised, summed over all of them (printed at the end, so
/// that a change that stops the test reaching some path shows).
#[derive(Default)]
struct Coverage {
    ops: AtomicU64,
    compactions: AtomicU64,
    tick_compactions: AtomicU64,
    l1_evictions: AtomicU64,
    l2_evictions: AtomicU64,
    l2_readmissions: AtomicU64,
    l2_segments_max: AtomicU64,
    loads: AtomicU64,
    crashes: AtomicU64,
    crashes_losing_writes: AtomicU64,
    expired_puts: AtomicU64,
}

static COVERAGE: Coverage = Coverage {
    ops: AtomicU64::new(0),
    compactions: AtomicU64::new(0),
    tick_compactions: AtomicU64::new(0),
    l1_evictions: AtomicU64::new(0),
    l2_evictions: AtomicU64::new(0),
    l2_readmissions: AtomicU64::new(0),
    l2_segments_max: AtomicU64::new(0),
    loads: AtomicU64::new(0),
    crashes: AtomicU64::new(0),
    crashes_losing_writes: AtomicU64::new(0),
    expired_puts: AtomicU64::new(0),
};

fn cover(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl Coverage {
    /// Adds what a cache's counters say, before it is closed.
    fn add_cache(&self, t: &Target) {
        if let Ok(s) = t.stats() {
            cover(&self.compactions, s.compactions);
            cover(&self.l1_evictions, s.l1_evictions);
            cover(&self.l2_evictions, s.l2_evictions);
        }
        if let Target::Rust(c) = t {
            cover(&self.l2_readmissions, c.counter("l2_readmissions").unwrap_or(0));
            self.l2_segments_max
                .fetch_max(c.counter("l2_segments").unwrap_or(0), Ordering::Relaxed);
        }
    }

    fn summary(&self) -> String {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "{} operations; {} compactions ({} by background ticks), {} L1 evictions, {} L2 evictions, \
             {} L2 readmissions, at most {} segments; {} loads; {} crashes ({} lost writes); {} puts expired",
            g(&self.ops),
            g(&self.compactions),
            g(&self.tick_compactions),
            g(&self.l1_evictions),
            g(&self.l2_evictions),
            g(&self.l2_readmissions),
            g(&self.l2_segments_max),
            g(&self.loads),
            g(&self.crashes),
            g(&self.crashes_losing_writes),
            g(&self.expired_puts),
        )
    }
}

impl Drop for Run<'_> {
    fn drop(&mut self) {
        if let Some(t) = &self.target {
            COVERAGE.add_cache(t);
        }
        cover(&COVERAGE.loads, self.loader.len() as u64);
    }
}

/// A failure at operation `step` (index into the list run).
struct Failed {
    step: usize,
    kind: String,
    detail: String,
    /// Segments the cache's background thread compacted during the run.
    background: u64,
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic".to_string()
    }
}

/// An operation and its index in the list generated for the seed.
type Script = Vec<(usize, Op)>;

/// Which get `check_get` checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    Get,
    Into,
    Value,
}

fn run(cfg: &Config, ops: &[(usize, Op)]) -> Result<(), Failed> {
    let mut background = 0;
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut run = Run::new(cfg).map_err(|f| Failed {
            step: 0,
            kind: f.kind,
            detail: f.detail,
            background: 0,
        })?;
        for (i, (_, op)) in ops.iter().enumerate() {
            cover(&COVERAGE.ops, 1);
            if let Err(f) = run.step(op) {
                let kind = if f.kind.starts_with(op.name()) {
                    f.kind
                } else {
                    format!("{}: {}", op.name(), f.kind)
                };
                return Err(Failed {
                    step: i,
                    kind,
                    detail: f.detail,
                    background: run.background_compactions(),
                });
            }
            background = run.bg_compactions;
        }
        Ok(())
    }));
    match result {
        Ok(r) => r,
        Err(p) => Err(Failed {
            step: usize::MAX,
            kind: "panic".to_string(),
            detail: panic_message(&*p),
            background,
        }),
    }
}

fn report(cfg: &Config, ops: &[(usize, Op)], f: &Failed, context: usize, steps: usize) -> String {
    let mut s = String::new();
    let step = f.step.min(ops.len().saturating_sub(1));
    let _ = writeln!(s, "FAILED: {}", f.kind);
    let _ = writeln!(s, "  config: {cfg}");
    let _ = writeln!(
        s,
        "  rerun:  TIERCACHE_MODEL_SEED={} TIERCACHE_MODEL_STEPS={steps} cargo test --test model",
        cfg.seed
    );
    if ops.len() < steps {
        let keep: Vec<String> = ops[..=step].iter().map(|(i, _)| i.to_string()).collect();
        let _ = writeln!(
            s,
            "  replay just these operations: TIERCACHE_MODEL_SEED={} TIERCACHE_MODEL_KEEP={} cargo test --test model",
            cfg.seed,
            keep.join(",")
        );
    }
    if f.background > 0 {
        let _ = writeln!(
            s,
            "  note: the cache's background thread compacted {} segment(s) during this run, on its own time: \
             a replay may differ",
            f.background
        );
    }
    let _ = writeln!(
        s,
        "  at step {} of {}: {}",
        f.step,
        ops.len(),
        f.detail.replace('\n', "\n  ")
    );
    let from = step.saturating_sub(context.saturating_sub(1));
    let _ = writeln!(
        s,
        "  the last {} operations (numbered as generated for the seed):",
        step + 1 - from
    );
    for (i, op) in &ops[from..=step] {
        let _ = writeln!(s, "    {i:5}  {}", op.describe(cfg));
    }
    s
}

/// Greedy shrinking: drops chunks of operations while the same check still fails.
fn shrink(cfg: &Config, ops: &[(usize, Op)], f: &Failed) -> (Script, Failed) {
    let mut ops: Script = ops[..(f.step.saturating_add(1)).min(ops.len())].to_vec();
    let mut best = Failed {
        step: f.step,
        kind: f.kind.clone(),
        detail: f.detail.clone(),
        background: f.background,
    };
    let mut chunk = ops.len().div_ceil(2).max(1);
    loop {
        let mut i = 0;
        let mut progress = false;
        while i < ops.len() {
            let mut cand = ops.clone();
            cand.drain(i..(i + chunk).min(cand.len()));
            match run(cfg, &cand) {
                Err(g) if g.kind == best.kind => {
                    cand.truncate(g.step.saturating_add(1).min(cand.len()));
                    ops = cand;
                    best = g;
                    progress = true;
                }
                _ => i += chunk,
            }
        }
        if chunk == 1 && !progress {
            break;
        }
        if !progress {
            chunk = (chunk / 2).max(1);
        }
    }
    (ops, best)
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// A number, a list `a,b,c`, a range `a..b`, or a mix.
fn list_from_env(name: &str) -> Option<Vec<u64>> {
    let v = std::env::var(name).ok()?;
    let mut out = Vec::new();
    for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let num = |x: &str| -> u64 {
            x.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{name}: a number, a list a,b,c or a range a..b, not {v:?}"))
        };
        match part.split_once("..") {
            Some((a, b)) => out.extend(num(a)..num(b)),
            None => out.push(num(part)),
        }
    }
    Some(out)
}

fn policy_name(p: L1Policy) -> &'static str {
    match p {
        L1Policy::TC_L1_LRU => "lru",
        L1Policy::TC_L1_S3FIFO => "s3fifo",
    }
}

#[test]
fn model() {
    let large = std::env::var("TIERCACHE_MODEL").as_deref() == Ok("large");
    let (default_seeds, default_steps) = if large { (2000, 2000) } else { (150, 300) };
    let seeds = list_from_env("TIERCACHE_MODEL_SEED")
        .unwrap_or_else(|| (0..env_u64("TIERCACHE_MODEL_SEEDS").unwrap_or(default_seeds)).collect());
    let keep = list_from_env("TIERCACHE_MODEL_KEEP");
    let steps = match &keep {
        Some(k) => k.iter().max().map_or(0, |m| *m as usize + 1),
        None => env_u64("TIERCACHE_MODEL_STEPS").unwrap_or(default_steps) as usize,
    };
    let shrinking = std::env::var("TIERCACHE_MODEL_SHRINK").is_ok_and(|v| v != "0");
    let policies: Vec<L1Policy> = [L1Policy::TC_L1_LRU, L1Policy::TC_L1_S3FIFO]
        .into_iter()
        .filter(|p| std::env::var("TIERCACHE_MODEL_POLICY").map_or(true, |v| v == policy_name(*p)))
        .collect();
    assert!(!policies.is_empty(), "TIERCACHE_MODEL_POLICY: lru or s3fifo");

    let start = Instant::now();
    let mut failures: Vec<(Config, Script, Failed)> = Vec::new();
    for &seed in &seeds {
        for &l1_policy in &policies {
            let cfg = Config {
                l1_policy,
                ..Config::from_seed(seed)
            };
            let mut ops: Script = gen_ops(&cfg, steps).into_iter().enumerate().collect();
            if let Some(keep) = &keep {
                ops.retain(|(i, _)| keep.contains(&(*i as u64)));
            }
            if let Err(f) = run(&cfg, &ops) {
                failures.push((cfg, ops, f));
            }
        }
    }
    eprintln!(
        "model: {} seeds × {} policies × {} steps in {:.1?}, {} failed\nmodel: {}",
        seeds.len(),
        policies.len(),
        steps,
        start.elapsed(),
        failures.len(),
        COVERAGE.summary()
    );
    if failures.is_empty() {
        return;
    }

    // One line per failing seed, then the details of the shortest of each kind.
    let mut msg = String::new();
    for (cfg, _, f) in &failures {
        let _ = writeln!(
            msg,
            "seed {:5} step {:5} [{}]: {}",
            cfg.seed,
            f.step,
            cfg.short(),
            f.kind
        );
    }
    let mut kinds: Vec<&str> = Vec::new();
    for (_, _, f) in &failures {
        if !kinds.contains(&f.kind.as_str()) {
            kinds.push(&f.kind);
        }
    }
    let _ = writeln!(msg, "\n{} distinct failing checks:", kinds.len());
    for kind in &kinds {
        let (cfg, ops, f) = failures
            .iter()
            .filter(|(_, _, f)| f.kind == *kind)
            .min_by_key(|(_, _, f)| f.step)
            .unwrap();
        let _ = writeln!(msg);
        if shrinking {
            let (small, g) = shrink(cfg, ops, f);
            let text = report(cfg, &small, &g, small.len(), steps);
            let _ = writeln!(msg, "{}", text.replacen("FAILED", "FAILED (shrunk)", 1));
        } else {
            let _ = writeln!(msg, "{}", report(cfg, ops, f, 30, steps));
        }
    }
    panic!(
        "{} of {} runs (seed × policy) failed\n{msg}",
        failures.len(),
        seeds.len() * policies.len()
    );
}
