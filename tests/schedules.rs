//! Deterministic schedule exploration (shuttle) of the real code paths that
//! keep a key's history consistent while threads race on it
//! (docs/CONSISTENCY.md, "How the code makes them hold"):
//!
//! - single flight: a load serves everyone who missed at once;
//! - put and remove against a load: a loader's answer never overwrites a
//!   write that completed after its miss;
//! - clear and `remove_prefix` against puts: whole-cache removals are atomic;
//! - `tc_cache_shutdown` against calls on the handle: the gate waits for them;
//! - (ignored, a known defect) loaders that need each other's keys.
//!
//! Built with `--features shuttle`, the cache's in-memory locks are
//! shuttle's (src/sync.rs), so shuttle decides at each of the cache's lock
//! and condvar operations, and at each of the tests' own (shuttle) atomics,
//! which thread runs next. Each test runs its scenario under
//! a random scheduler and under PCT (which finds bugs of small depth with
//! known probability). The caches are memory-only: no directory, so no log,
//! no background thread and no I/O, only the coordination being tested.
//!
//! Each scenario runs under both L1 policies (LRU, then S3-FIFO: the test's
//! output names the one it was exploring). A failure prints the failing
//! schedule, which `shuttle::replay(|| scenario(policy),
//! "...")` replays, and the scheduler's seed, which
//! `SHUTTLE_RANDOM_SEED=... cargo test ...` replays.
//!
//! `TIERCACHE_SCHEDULES=large` explores 20 times as many schedules (10 000
//! per scheduler per policy).
//!
//!     cargo test --features shuttle --test schedules

#![cfg(feature = "shuttle")]

use std::ffi::c_void;
use std::sync::Arc;

use shuttle::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use shuttle::thread;
use tiercache::ffi::boundary::RawStatus;
use tiercache::ffi::cache::{
    tc_bytes, tc_bytes_free, tc_cache, tc_cache_close, tc_cache_open, tc_cache_shutdown, tc_get,
};
use tiercache::ffi::loader::{tc_cache_set_loader, tc_sink, tc_sink_put};
use tiercache::options::L1Policy;
use tiercache::{Cache, Loaded, Options, Status};

/// Schedules per scheduler per test, by default (the whole file stays well
/// under 30 s in a debug build on two cores). A scenario explored under
/// both L1 policies (`explore`) gives each policy half of them: each
/// scheduler still runs 500 schedules of every scenario under every
/// policy, where the single flight, load-against-write and clear races
/// showed up within the first few dozen when they were bugs.
const SCHEDULES: usize = 1000;
/// PCT's bug depth: how many forced preemptions a schedule has.
const PCT_DEPTH: usize = 3;

fn schedules() -> usize {
    match std::env::var("TIERCACHE_SCHEDULES").as_deref() {
        Ok("large") => SCHEDULES * 20,
        _ => SCHEDULES,
    }
}

/// Runs `scenario` under the random scheduler and under PCT, once with
/// each L1 policy: S3-FIFO serves hits under the shard's shared lock, LRU
/// under its exclusive one, and every guarantee must hold with either.
fn explore(scenario: fn(L1Policy)) {
    let policies = [L1Policy::TC_L1_LRU, L1Policy::TC_L1_S3FIFO];
    let per_policy = schedules() / policies.len();
    for p in policies {
        // Printed (and shown by the test harness) if a schedule fails.
        eprintln!("exploring with L1 policy {p:?}");
        shuttle::check_random(move || scenario(p), per_policy);
        shuttle::check_pct(move || scenario(p), per_policy, PCT_DEPTH);
    }
}

/// Memory-only options with L1 policy `p`.
fn opts(p: L1Policy) -> Options {
    Options {
        l1_policy: p,
        ..Options::new()
    }
}

/// A memory-only cache whose loader answers "L0", "L1", ... (one value per
/// call, so a value tells which load produced it) and counts its calls.
fn cache_with_loader(p: L1Policy) -> (Arc<Cache>, Arc<AtomicUsize>) {
    cache_with_hooked_loader(&opts(p), |_| {})
}

/// The same, calling `hook(n)` in the n-th load (0-based) before it answers.
fn cache_with_hooked_loader(
    opts: &Options,
    hook: impl Fn(usize) + Send + Sync + 'static,
) -> (Arc<Cache>, Arc<AtomicUsize>) {
    let cache = Arc::new(Cache::open(opts).unwrap());
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    cache.set_loader(Some(Arc::new(move |_: &[u8]| {
        // An atomic of shuttle's: a point where another thread may run.
        let n = c.fetch_add(1, SeqCst);
        hook(n);
        Loaded::Value {
            value: format!("L{n}").into_bytes(),
            ttl_ms: 0,
        }
    })));
    (cache, calls)
}

fn get(cache: &Cache, key: &[u8]) -> String {
    String::from_utf8(cache.get(key).unwrap().to_vec()).unwrap()
}

/// Options for a memory-only cache with two L1 shards instead of 16 (L1
/// gets one shard per MiB of its byte bound): a clear then takes 4 lock
/// operations instead of 32, so that the random scheduler, not only PCT,
/// reaches a window that needs the clear to run whole between two steps of
/// another thread.
fn two_shards(p: L1Policy) -> Options {
    let mut o = opts(p);
    o.l1_max_bytes = 2 << 20;
    o
}

/// A memory-only cache without a loader.
fn plain_cache(p: L1Policy) -> Arc<Cache> {
    Arc::new(Cache::open(&opts(p)).unwrap())
}

fn present(cache: &Cache, key: &[u8]) -> bool {
    match cache.get(key) {
        Ok(_) => true,
        Err(e) if e.status() == Status::TC_NOT_FOUND => false,
        Err(e) => panic!("get: {e:?}"),
    }
}

// ---------------------------------------------------------------- single flight

/// Three threads get the same absent key at once: one load serves them all.
/// The miss and the flight's registration happen under one hold of the shard
/// lock, and a load lands and stores its answer under another, so every get
/// either joins the flight or hits the stored value; none starts a second load.
fn single_flight(p: L1Policy) {
    let (cache, calls) = cache_with_loader(p);
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let cache = cache.clone();
            thread::spawn(move || get(&cache, b"k"))
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), "L0", "every get answers with the one load");
    }
    assert_eq!(calls.load(SeqCst), 1, "the loader ran once");
    assert_eq!(get(&cache, b"k"), "L0");
    assert_eq!(calls.load(SeqCst), 1);
}

#[test]
fn single_flight_loads_once() {
    explore(single_flight);
}

// ---------------------------------------------------------------- put against a load

/// A gets K (the loader answers "L0"); B puts K = "P". Whatever the order, B's
/// put completed by the end, and nothing may overwrite it afterwards:
/// - put before A's miss: A hits "P" and loads nothing;
/// - A's load landed before the put: the put replaces "L0";
/// - the put fell between A's miss and its landing: the put deregistered A's
///   flight, so A returns "L0" (the answer to its question) but stores nothing.
///
/// So the final value is "P", and A returned "P" or "L0".
fn put_against_load(p: L1Policy) {
    let (cache, calls) = cache_with_loader(p);
    let a = {
        let cache = cache.clone();
        thread::spawn(move || get(&cache, b"k"))
    };
    let b = {
        let cache = cache.clone();
        thread::spawn(move || cache.put(b"k", b"P", 0).unwrap())
    };
    let got = a.join().unwrap();
    b.join().unwrap();
    assert!(got == "P" || got == "L0", "A got {got}");
    assert_eq!(get(&cache, b"k"), "P", "a load overwrote a completed put");
    assert!(calls.load(SeqCst) <= 1);
}

#[test]
fn put_wins_over_a_load_in_flight() {
    explore(put_against_load);
}

// ---------------------------------------------------------------- remove and clear against a load

/// A gets K (the first load answers "L0"); B removes K (`remove`: a remove
/// of K, or a clear). Afterwards the main thread gets K: an L1 hit returns
/// what A stored, a miss loads "L1".
///
/// DESIGN.md: a loader's answer is stored only if no remove (or clear) of
/// the key completed after the miss that started the load, whether or not
/// the removal found a value (the loader may have read its source before
/// the key was deleted there; the removal is the newer word). So:
/// - if the removal had not started when the loader began (so it completed
///   after the miss), "L0" is not kept: either the removal came while the
///   load ran and cancelled it, or it came after and removed the stored
///   value. Final "L1". (Until 3 December a removal that found nothing left the
///   load registered, and "L0" was kept: tests/remote_model.rs found a
///   removed value coming back that way.)
/// - if A's get started after the removal returned, A stores its load:
///   final "L0";
/// - a `remove` that answered OK found "L0" and removed it: final "L1".
///
/// A always returns "L0": it is the only caller that loads before the final
/// get.
fn removal_against_load(p: L1Policy, remove: fn(&Cache) -> Option<bool>) {
    let removed = Arc::new(AtomicBool::new(false));
    let removing = Arc::new(AtomicBool::new(false));
    // Whether the removal had started when the first load began.
    let removing_at_load = Arc::new(AtomicBool::new(true));
    let (cache, _) = {
        let (removing, removing_at_load) = (removing.clone(), removing_at_load.clone());
        cache_with_hooked_loader(&two_shards(p), move |n| {
            if n == 0 {
                removing_at_load.store(removing.load(SeqCst), SeqCst);
            }
        })
    };
    let a = {
        let (cache, removed) = (cache.clone(), removed.clone());
        thread::spawn(move || {
            let after_removal = removed.load(SeqCst);
            (after_removal, get(&cache, b"k"))
        })
    };
    let b = {
        let cache = cache.clone();
        thread::spawn(move || {
            removing.store(true, SeqCst);
            let found = remove(&cache);
            removed.store(true, SeqCst);
            found
        })
    };
    let (after_removal, got) = a.join().unwrap();
    let found = b.join().unwrap();
    assert_eq!(got, "L0");
    let last = get(&cache, b"k");
    if after_removal {
        assert_eq!(
            last, "L0",
            "a get that started after the removal returned did not store its load"
        );
    }
    if !removing_at_load.load(SeqCst) {
        assert_eq!(last, "L1", "a load the removal came after (or during) was kept");
    }
    if found == Some(true) {
        assert_eq!(last, "L1", "a removal that found the value did not remove it");
    }
    assert!(last == "L0" || last == "L1", "final {last}");
}

fn remove_against_load(p: L1Policy) {
    removal_against_load(p, |c| Some(c.remove(b"k").is_ok()));
}

fn clear_against_load(p: L1Policy) {
    removal_against_load(p, |c| {
        c.clear(false).unwrap();
        None
    });
}

#[test]
fn remove_wins_over_a_load_in_flight() {
    explore(remove_against_load);
}

/// A whole-cache write (`Cache::removing`) deregisters loads in flight too.
#[test]
fn clear_wins_over_a_load_in_flight() {
    explore(clear_against_load);
}

// ---------------------------------------------------------------- whole-cache removals against puts

/// Keys "k…" whose L1 shards come in increasing order, so that a clear that
/// went shard by shard (in order) instead of holding every shard's lock
/// could remove a later put and keep an earlier one. Chosen by the hash the
/// cache uses (`key_hash`, whose low bits pick one of a default cache's 16
/// shards), so the test does not depend on luck.
fn keys_in_increasing_shards() -> Vec<Vec<u8>> {
    let shard = |k: &[u8]| tiercache::log::key_hash(k) & 15;
    [2, 7, 12]
        .iter()
        .map(|&target| {
            (0..)
                .map(|i| format!("k{i}").into_bytes())
                .find(|k| shard(k) == target)
                .unwrap()
        })
        .collect()
}

/// A puts three keys one after another; B, at the same time, removes them all
/// at once (`remove_all`: a clear, or a `remove_prefix` that matches them).
/// A whole-cache removal holds every shard's lock, so it takes effect at one
/// instant, and every put is wholly before it (removed) or wholly after it
/// (kept). From the history:
/// - a put that started after B's removal returned is kept (A reads `done`,
///   which B sets after its call returns, just before each put);
/// - a put that returned before B's removal started is removed (B reads
///   `returned`, the number of A's puts that had returned, just before its
///   call);
/// - and, A's puts being sequential, the keys kept are a suffix of the
///   order they were put in: no earlier put survives while a later one is
///   removed.
///
/// `survivor` is a key outside the removal (none for a clear): it must stay.
fn whole_cache_removal_against_puts(p: L1Policy, remove_all: fn(&Cache), survivor: Option<&'static [u8]>) {
    let cache = plain_cache(p);
    if let Some(s) = survivor {
        cache.put(s, b"stays", 0).unwrap();
    }
    let keys = Arc::new(keys_in_increasing_shards());
    let returned = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let a = {
        let (cache, keys, returned, done) = (cache.clone(), keys.clone(), returned.clone(), done.clone());
        thread::spawn(move || {
            let mut after = Vec::new();
            for k in keys.iter() {
                after.push(done.load(SeqCst));
                cache.put(k, b"v", 0).unwrap();
                returned.fetch_add(1, SeqCst);
            }
            after
        })
    };
    let b = {
        let (cache, done) = (cache.clone(), done.clone());
        thread::spawn(move || {
            let before = returned.load(SeqCst);
            remove_all(&cache);
            done.store(true, SeqCst);
            before
        })
    };
    let started_after = a.join().unwrap();
    let returned_before = b.join().unwrap();
    let kept: Vec<bool> = keys.iter().map(|k| present(&cache, k)).collect();
    for (i, k) in keys.iter().enumerate() {
        let k = String::from_utf8_lossy(k);
        if started_after[i] {
            assert!(kept[i], "{k}, put after the removal returned, is gone (kept: {kept:?})");
        }
        if i < returned_before {
            assert!(
                !kept[i],
                "{k}, put before the removal started, is there (kept: {kept:?})"
            );
        }
    }
    assert!(
        kept.windows(2).all(|w| !w[0] || w[1]),
        "an earlier put survived the removal while a later one was removed (kept: {kept:?}): it was not atomic"
    );
    if let Some(s) = survivor {
        assert!(present(&cache, s), "the removal took a key it does not match");
    }
}

fn clear_against_puts(p: L1Policy) {
    whole_cache_removal_against_puts(p, |c| c.clear(false).unwrap(), None);
}

fn remove_prefix_against_puts(p: L1Policy) {
    whole_cache_removal_against_puts(
        p,
        |c| {
            c.remove_prefix(b"k").unwrap();
        },
        Some(b"other"),
    );
}

#[test]
fn clear_is_atomic_against_puts() {
    explore(clear_against_puts);
}

#[test]
fn remove_prefix_is_atomic_against_puts() {
    explore(remove_prefix_against_puts);
}

// ---------------------------------------------------------------- loaders that need each other's keys

/// The loader of "a" gets "b" and the loader of "b" gets "a"; two threads
/// get "a" and "b" at once. In one thread the cycle ends with an error (the
/// inner get asks for the key its own thread is loading: `Join::Recursive`).
/// In two, each leader's loader used to follow the other's flight and both
/// waited for ever (shuttle reported a deadlock). A thread that leads a load
/// now loads another thread's key itself instead of waiting for it.
fn loaders_needing_each_other(p: L1Policy) {
    let cache = Arc::new(Cache::open(&opts(p)).unwrap());
    let me = Arc::new(std::sync::OnceLock::<std::sync::Weak<Cache>>::new());
    me.set(Arc::downgrade(&cache)).unwrap();
    cache.set_loader(Some(Arc::new(move |k: &[u8]| {
        let cache = me.get().unwrap().upgrade().unwrap();
        let other: &[u8] = if k == b"a" { b"b" } else { b"a" };
        match cache.get(other) {
            Ok(v) => Loaded::Value {
                value: [k, b"+", &v[..]].concat(),
                ttl_ms: 0,
            },
            Err(e) => Loaded::Failed(e.message().to_string()),
        }
    })));
    let threads: Vec<_> = [b"a", b"b"]
        .into_iter()
        .map(|k| {
            let cache = cache.clone();
            thread::spawn(move || {
                let _ = cache.get(k);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn loaders_needing_each_other_do_not_deadlock() {
    explore(loaders_needing_each_other);
}

// ---------------------------------------------------------------- shutdown against calls on a handle

/// The loader of `shutdown_against_calls`: marks a call as being inside the
/// handle for as long as it runs, with a point in the middle where another
/// thread may run.
unsafe extern "C" fn marking_loader(
    user_data: *mut c_void,
    _key: *const u8,
    _key_len: usize,
    sink: *mut tc_sink,
) -> RawStatus {
    let loading = &*(user_data as *const AtomicBool);
    loading.store(true, SeqCst);
    thread::yield_now();
    loading.store(false, SeqCst);
    RawStatus(tc_sink_put(sink, b"L".as_ptr(), 1, 0) as u32)
}

/// A raw handle, shared between shuttle threads as C callers share it.
#[derive(Clone, Copy)]
struct Handle(*mut tc_cache);
// SAFETY: a tc_cache may be used from any thread (include/tiercache.h).
unsafe impl Send for Handle {}

/// A gets a key through the C ABI (its loader runs inside the handle's gate)
/// while B and C both shut the handle down. The gate: a call that entered
/// before the close runs to its end before a shutdown returns (so the cache
/// is never dropped under it), a call that comes later gets TC_CLOSED, and
/// a second shutdown returns only once the first has finished. So when
/// either shutdown returns, no loader is running.
fn shutdown_against_calls() {
    let loading = Arc::new(AtomicBool::new(false));
    let mut raw = std::ptr::null_mut();
    assert_eq!(unsafe { tc_cache_open(std::ptr::null(), &mut raw) }, Status::TC_OK);
    let h = Handle(raw);
    let st = unsafe { tc_cache_set_loader(h.0, Some(marking_loader), Arc::as_ptr(&loading) as *mut c_void, None) };
    assert_eq!(st, Status::TC_OK);
    let a = thread::spawn(move || {
        let h = h;
        let mut out = tc_bytes {
            data: std::ptr::null_mut(),
            len: 0,
        };
        let st = unsafe { tc_get(h.0, b"k".as_ptr(), 1, &mut out) };
        if st == Status::TC_OK {
            unsafe { tc_bytes_free(&mut out) };
        }
        st
    });
    let shutdowns: Vec<_> = (0..2)
        .map(|_| {
            let loading = loading.clone();
            thread::spawn(move || {
                let h = h;
                assert_eq!(unsafe { tc_cache_shutdown(h.0) }, Status::TC_OK);
                assert!(
                    !loading.load(SeqCst),
                    "tc_cache_shutdown returned while a call was still inside the handle"
                );
            })
        })
        .collect();
    let got = a.join().unwrap();
    assert!(got == Status::TC_OK || got == Status::TC_CLOSED, "tc_get: {got:?}");
    for s in shutdowns {
        s.join().unwrap();
    }
    unsafe { tc_cache_close(h.0) };
}

#[test]
fn shutdown_waits_for_calls_inside() {
    // The handle's gate, before any tier: the L1 policy plays no part.
    shuttle::check_random(shutdown_against_calls, schedules());
    shuttle::check_pct(shutdown_against_calls, schedules(), PCT_DEPTH);
}
