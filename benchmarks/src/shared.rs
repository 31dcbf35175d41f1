//! tiercache as a C program uses it — the shared library
//! (`libtiercache.so`, loaded with `dlopen`, every call through a function
//! pointer as through the PLT) — and the `shared-lib` workload: L2 hits and
//! puts through it on working sets larger than the CPU cache, beside LMDB and
//! the floors, and the scaling of hits with threads (1, 2 and 4). Also the
//! helpers that fill systems and compare them (`fill`, `compare_gets`,
//! `compare_puts`), which `l1-hit` uses for its rows through the library.
//!
//! The library is `$TIERCACHE_LIBRARY`, else `libtiercache.so` next to this
//! executable (`cargo build --release` builds both into target/release).

use std::ffi::{c_char, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::peers::{Append, Kv, Lmdb, MmapCrc, MutexLru};
use crate::report::{keep, loadavg, table, Record, Row};
use crate::{key, median, per_op, quick, shuffled_keys, value};

type Handle = *mut c_void;

#[repr(C)]
struct Bytes {
    data: *mut u8,
    len: usize,
}

/// The C functions the workloads call, looked up in the shared library.
pub struct Api {
    options_new: unsafe extern "C" fn() -> Handle,
    options_free: unsafe extern "C" fn(Handle),
    options_set_dir: unsafe extern "C" fn(Handle, *const c_char) -> u32,
    options_set_l1_capacity: unsafe extern "C" fn(Handle, u64, u64) -> u32,
    options_set_sync_policy: unsafe extern "C" fn(Handle, u32, u64) -> u32,
    /// `tc_options_set_l1_policy`, if the library has it.
    options_set_l1_policy: Option<unsafe extern "C" fn(Handle, u32) -> u32>,
    cache_open: unsafe extern "C" fn(Handle, *mut Handle) -> u32,
    cache_close: unsafe extern "C" fn(Handle),
    put: unsafe extern "C" fn(Handle, *const u8, usize, *const u8, usize, u64) -> u32,
    get: unsafe extern "C" fn(Handle, *const u8, usize, *mut Bytes) -> u32,
    bytes_free: unsafe extern "C" fn(*mut Bytes),
    get_into: unsafe extern "C" fn(Handle, *const u8, usize, *mut u8, usize, *mut usize) -> u32,
    /// The zero-copy read, if the library has it (a library built before
    /// it did not: then its rows are left out, for before/after runs).
    value: Option<ValueApi>,
}

struct ValueApi {
    get_value: unsafe extern "C" fn(Handle, *const u8, usize, *mut Handle) -> u32,
    value_data: unsafe extern "C" fn(Handle) -> *const u8,
    value_len: unsafe extern "C" fn(Handle) -> usize,
    value_free: unsafe extern "C" fn(Handle),
}

pub fn library_path() -> PathBuf {
    if let Some(p) = std::env::var_os("TIERCACHE_LIBRARY") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("the benchmark's own path");
    exe.with_file_name("libtiercache.so")
}

impl Api {
    // Each `sym!` is transmuted to the type of the field it fills, which
    // spells the C signature out; annotating every call would repeat it.
    #[allow(clippy::missing_transmute_annotations)]
    fn load() -> Result<(Api, PathBuf), String> {
        let path = library_path();
        let c = CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: loading the library runs no user code but its constructors.
        let lib = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if lib.is_null() {
            let e = unsafe { CStr::from_ptr(libc::dlerror()) };
            return Err(format!(
                "dlopen {}: {} (build it: cargo build --release)",
                path.display(),
                e.to_string_lossy()
            ));
        }
        let has = |name: &str| {
            let n = CString::new(name).unwrap();
            !unsafe { libc::dlsym(lib, n.as_ptr()) }.is_null()
        };
        macro_rules! sym {
            ($name:literal) => {{
                let n = CString::new($name).unwrap();
                let p = unsafe { libc::dlsym(lib, n.as_ptr()) };
                assert!(!p.is_null(), "{} not in {}", $name, path.display());
                // SAFETY: the symbol is the C function of that name, whose
                // signature the field's type spells out (include/tiercache.h).
                unsafe { std::mem::transmute::<*mut c_void, _>(p) }
            }};
        }
        let api = Api {
            options_new: sym!("tc_options_new"),
            options_free: sym!("tc_options_free"),
            options_set_dir: sym!("tc_options_set_dir"),
            options_set_l1_capacity: sym!("tc_options_set_l1_capacity"),
            options_set_sync_policy: sym!("tc_options_set_sync_policy"),
            options_set_l1_policy: has("tc_options_set_l1_policy").then(|| sym!("tc_options_set_l1_policy")),
            cache_open: sym!("tc_cache_open"),
            cache_close: sym!("tc_cache_close"),
            put: sym!("tc_put"),
            get: sym!("tc_get"),
            bytes_free: sym!("tc_bytes_free"),
            get_into: sym!("tc_get_into"),
            value: has("tc_get_value").then(|| ValueApi {
                get_value: sym!("tc_get_value"),
                value_data: sym!("tc_value_data"),
                value_len: sym!("tc_value_len"),
                value_free: sym!("tc_value_free"),
            }),
        };
        Ok((api, path))
    }
}

/// How a get through the shared library reads the value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// `tc_get` + `tc_bytes_free` (the library's copy, read in place).
    Get,
    /// `tc_get_into` a reused buffer.
    Into,
    /// `tc_get_value`, read in place, `tc_value_free`: no copy.
    Value,
}

/// A cache opened through the shared library.
pub struct So<'a> {
    api: &'a Api,
    h: Handle,
    read: Read,
}

unsafe impl Send for So<'_> {}
unsafe impl Sync for So<'_> {}

thread_local! {
    static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; 1 << 20]);
}

impl<'a> So<'a> {
    pub fn open(api: &'a Api, dir: Option<&Path>, l1_entries: u64, l1_bytes: u64, read: Read) -> So<'a> {
        So::open_with_policy(api, dir, l1_entries, l1_bytes, read, None)
    }

    /// `open`, with L1 policy `policy` (`TC_L1_LRU` 0, `TC_L1_S3FIFO` 1)
    /// if given; `None` if the library cannot set one.
    pub fn open_policy(api: &'a Api, l1_bytes: u64, policy: u32) -> Option<So<'a>> {
        api.options_set_l1_policy?;
        Some(So::open_with_policy(api, None, 0, l1_bytes, Read::Get, Some(policy)))
    }

    fn open_with_policy(
        api: &'a Api,
        dir: Option<&Path>,
        l1_entries: u64,
        l1_bytes: u64,
        read: Read,
        policy: Option<u32>,
    ) -> So<'a> {
        unsafe {
            let o = (api.options_new)();
            if let Some(d) = dir {
                let p = CString::new(d.to_str().unwrap()).unwrap();
                assert_eq!((api.options_set_dir)(o, p.as_ptr()), 0);
            }
            assert_eq!((api.options_set_l1_capacity)(o, l1_entries, l1_bytes), 0);
            assert_eq!((api.options_set_sync_policy)(o, 0, 0), 0);
            if let (Some(p), Some(set)) = (policy, api.options_set_l1_policy) {
                assert_eq!(set(o, p), 0, "tc_options_set_l1_policy");
            }
            let mut h = std::ptr::null_mut();
            assert_eq!((api.cache_open)(o, &mut h), 0);
            (api.options_free)(o);
            So { api, h, read }
        }
    }
}

impl Kv for So<'_> {
    fn get(&self, _t: usize, k: &[u8]) -> Option<Vec<u8>> {
        // Like the other peers' `get`, the value is read (its first and
        // last byte) but, unlike them, not copied a second time: the C
        // caller reads it where the library put it.
        let a = self.api;
        unsafe {
            match self.read {
                Read::Get => {
                    let mut out = Bytes {
                        data: std::ptr::null_mut(),
                        len: 0,
                    };
                    if (a.get)(self.h, k.as_ptr(), k.len(), &mut out) != 0 {
                        return None;
                    }
                    std::hint::black_box(out.data);
                    (a.bytes_free)(&mut out);
                }
                Read::Into => {
                    let st = BUF.with(|b| {
                        let mut b = b.borrow_mut();
                        let mut n = 0;
                        (a.get_into)(self.h, k.as_ptr(), k.len(), b.as_mut_ptr(), b.len(), &mut n)
                    });
                    if st != 0 {
                        return None;
                    }
                }
                Read::Value => {
                    let a = a.value.as_ref().expect("tc_get_value in the library");
                    let mut v = std::ptr::null_mut();
                    if (a.get_value)(self.h, k.as_ptr(), k.len(), &mut v) != 0 {
                        return None;
                    }
                    std::hint::black_box(((a.value_data)(v), (a.value_len)(v)));
                    (a.value_free)(v);
                }
            }
        }
        Some(Vec::new())
    }
    fn put(&self, _t: usize, k: &[u8], v: &[u8]) {
        let st = unsafe { (self.api.put)(self.h, k.as_ptr(), k.len(), v.as_ptr(), v.len(), 0) };
        assert_eq!(st, 0, "tc_put");
    }
}

/// `systems` without the `tc_get_value` rows if the library lacks it.
pub fn present<'s>(api: &Api, systems: Vec<(&'s str, &'s dyn Kv)>) -> Vec<(&'s str, &'s dyn Kv)> {
    systems
        .into_iter()
        .filter(|(n, _)| api.value.is_some() || !n.contains("tc_get_value"))
        .collect()
}

pub fn rows(systems: &[(&str, &dyn Kv)], med: Vec<f64>) -> Vec<Row> {
    systems.iter().zip(med).map(|((n, _), m)| Row::new(n, m)).collect()
}

/// Puts keys `0..n` with value `v` into every system, one system after
/// the other, as a program fills its one cache. (Filled key by key in
/// turn, as before, each system's allocations were interleaved with the
/// others': a store that makes several allocations per entry (`lru`: node,
/// key, value) then has them on more cache lines and pages than when
/// filled alone, while one that keeps its nodes in one table (tiercache)
/// loses less, so the interleaving favoured tiercache. `harness_check`
/// times both fills.)
pub fn fill(systems: &[(&str, &dyn Kv)], n: u64, v: &[u8]) {
    for (_, s) in systems {
        for i in 0..n {
            s.put(0, &key(i), v);
        }
    }
}

/// Times gets of `keys` (each must hit) on every system, after one pass
/// that warms the page cache, and prints table `id`.
pub fn compare_gets(id: &str, title: &str, systems: &[(&str, &dyn Kv)], keys: &[Vec<u8>]) {
    for (name, s) in systems {
        assert_eq!(s.get_all(0, keys), keys.len() as u64, "{name}: every get should hit");
    }
    let med = per_op(systems, keys.len(), |_, s, k| {
        s.get_all(0, &keys[..k]);
    });
    table(id, title, "ns/op", &rows(systems, med));
}

/// Times puts of `v` under `keys` on every system and prints table `id`.
pub fn compare_puts(id: &str, title: &str, systems: &[(&str, &dyn Kv)], keys: &[Vec<u8>], v: &[u8]) {
    let med = crate::per_write(systems, keys.len(), |_, s, k| s.put_all(0, &keys[..k], v));
    table(id, title, "ns/op", &rows(systems, med));
}

/// Gets per second of each system with 1, 2 and 4 threads: for each thread
/// count, that many threads are started once and live through every round
/// of every system; a round starts them together at a barrier, each walks
/// its own sequence of `per_thread` keys (drawn uniformly from `0..n`
/// before the threads start; thread 0's is the start of `l1-hit`'s), and
/// ends when the last is done, at a second barrier. Every system gets the same
/// sequences, and one untimed round first (as `compare_gets` warms each
/// system with one pass). The figure is `threads * per_thread` over that
/// time, the median of the rounds; rounds interleave the systems, so load
/// that comes and goes falls on all of them. (Spawning threads for each
/// round measured thread start-up, not the systems: even LMDB came out
/// between 0.70x and 2.04x in two quiet runs. Keys drawn inline from a
/// table of all of them cost each get a miss or two on the table, the same
/// for every system, which pulled the ratios towards 1 and away from
/// `l1-hit`'s.)
pub fn gets_per_s(systems: &[(&str, &dyn Kv)], n: u64, per_thread: u64) -> Vec<[f64; 3]> {
    let mut out = vec![[0.0; 3]; systems.len()];
    for (ti, threads) in [1usize, 2, 4].into_iter().enumerate() {
        let rounds = crate::rounds();
        let seqs: Vec<Vec<Vec<u8>>> = (0..threads)
            .map(|th| shuffled_keys(n, per_thread as usize, 7 + th as u64 * 0x9e37_79b9))
            .collect();
        let start = std::sync::Barrier::new(threads + 1);
        let end = std::sync::Barrier::new(threads + 1);
        let mut samples = vec![Vec::new(); systems.len()];
        std::thread::scope(|sc| {
            for (th, seq) in seqs.iter().enumerate() {
                let (start, end) = (&start, &end);
                sc.spawn(move || {
                    for _ in 0..=rounds {
                        for (name, s) in systems {
                            start.wait();
                            let hits = s.get_all(th, seq);
                            end.wait();
                            assert_eq!(hits, seq.len() as u64, "{name}: every get should hit");
                        }
                    }
                });
            }
            for round in 0..=rounds {
                for sample in samples.iter_mut() {
                    start.wait();
                    let t = Instant::now();
                    end.wait();
                    if round > 0 {
                        sample.push((threads as u64 * per_thread) as f64 / t.elapsed().as_secs_f64());
                    }
                }
            }
        });
        for (o, s) in out.iter_mut().zip(samples) {
            o[ti] = median(s);
        }
    }
    out
}

/// Prints gets/s of each system with 1, 2 and 4 threads (`gets_per_s`), and
/// keeps them as table `id` (param "T threads", ratio against the system's
/// own 1 thread).
fn scaling(id: &str, title: &str, systems: &[(&str, &dyn Kv)], n: u64, per_thread: u64) {
    let load = loadavg();
    let all = gets_per_s(systems, n, per_thread);
    let after = loadavg();
    println!("\n## {title}: gets/s (and / 1 thread) (load before {load}; after {after})\n");
    println!("| system | 1 thread | 2 threads | 4 threads |");
    println!("| --- | ---: | ---: | ---: |");
    let mut records = Vec::new();
    for ((name, _), r) in systems.iter().zip(all) {
        println!(
            "| {name} | {:.0} | {:.0} ({:.2}×) | {:.0} ({:.2}×) |",
            r[0],
            r[1],
            r[1] / r[0],
            r[2],
            r[2] / r[0]
        );
        for (t, v) in [1, 2, 4].iter().zip(&r) {
            records.push(Record {
                table: id.to_string(),
                system: name.to_string(),
                param: t.to_string(),
                value: *v,
                unit: "gets/s".into(),
                base: format!("{name}, 1 thread"),
                ratio: r[0] / v,
                load: load.clone(),
            });
        }
    }
    keep(id, records);
}

/// A temporary directory with one subdirectory per system.
pub struct Dirs(tempfile::TempDir);

impl Dirs {
    pub fn new() -> Dirs {
        Dirs(tempfile::tempdir().unwrap())
    }
    pub fn get(&self, name: &str) -> PathBuf {
        let p = self.0.path().join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }
}

/// The shared library's functions, loaded once; `Err` says why not.
pub fn api() -> Result<&'static Api, String> {
    static API: std::sync::OnceLock<Result<Api, String>> = std::sync::OnceLock::new();
    API.get_or_init(|| {
        Api::load().map(|(a, path)| {
            println!("\n(the shared library: {})", path.display());
            a
        })
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// L2 hits and puts through the shared library, beside LMDB and the floors,
/// and the scaling of L1 and L2 hits with threads. (The single-thread L1
/// hit through the library is a row of `l1-hit`.)
pub fn run() {
    let api = match api() {
        Ok(a) => a,
        Err(e) => {
            println!("\n## shared-lib: skipped: {e}");
            return;
        }
    };
    let ops: usize = if quick() { 20_000 } else { 200_000 };

    // Scaling of L1 hits with threads, 100 B over 100k keys.
    let n = if quick() { 10_000 } else { 100_000 };
    let get = So::open(api, None, 0, 1 << 30, Read::Get);
    // The same under each policy set explicitly (the default is LRU).
    let lru_tc = So::open_policy(api, 1 << 30, 0);
    let s3_tc = So::open_policy(api, 1 << 30, 1);
    let lru = MutexLru::new(n as usize * 2);
    // A cache of its own (so is every row's): rows that read one handle
    // one after the other in a round find its memory warmed by the row
    // before (the host's L3 is 480 MiB), and look faster than they are.
    let zc = So::open(api, None, 0, 1 << 30, Read::Value);
    let names = [
        "tiercache tc_get+free (.so)",
        "tc_get_value (.so)",
        "tc_get+free (.so), TC_L1_LRU",
        "tc_get+free (.so), TC_L1_S3FIFO",
        "lru::LruCache + Mutex",
    ];
    let mut systems = present(api, vec![(names[0], &get as &dyn Kv), (names[1], &zc)]);
    let policies: Vec<(&str, &dyn Kv)> = [(names[2], &lru_tc), (names[3], &s3_tc)]
        .into_iter()
        .filter_map(|(name, s)| Some((name, s.as_ref()? as &dyn Kv)))
        .collect();
    systems.extend_from_slice(&policies);
    systems.push((names[4], &lru));
    fill(&[(names[0], &get as &dyn Kv), (names[1], &zc)], n, &value(100));
    fill(&policies, n, &value(100));
    fill(&[("lru", &lru as &dyn Kv)], n, &value(100));
    scaling(
        "l1-so-threads",
        &format!("L1 hit scaling via the .so, 100 B, {n} keys"),
        &systems,
        n,
        ops as u64 / 2,
    );
    drop((get, zc, lru_tc, s3_tc, lru));

    // L2 hits: 1 KiB over 200k keys, 16 KiB over 20k; L1 holds 64 entries.
    for (len, n) in [
        (1024usize, if quick() { 20_000u64 } else { 200_000 }),
        (16 * 1024, if quick() { 2_000 } else { 20_000 }),
    ] {
        let d = Dirs::new();
        let v = value(len);
        let get = So::open(api, Some(&d.get("tiercache")), 64, 0, Read::Get);
        let lmdb = Lmdb::open(&d.get("lmdb"), false);
        let floor = MmapCrc::open(&d.get("floor"), n as usize * (len + 64));
        // Each row its own cache, in its own directory (see `zc` above).
        let into = So::open(api, Some(&d.get("tiercache-into")), 64, 0, Read::Into);
        let zc = So::open(api, Some(&d.get("tiercache-value")), 64, 0, Read::Value);
        let names = [
            "tiercache tc_get+free (.so)",
            "tc_get_into (.so)",
            "tc_get_value (.so)",
            "LMDB (heed), copy out",
            "floor: mmap + CRC32, copy out",
        ];
        let systems = present(
            api,
            vec![
                (names[0], &get as &dyn Kv),
                (names[1], &into),
                (names[2], &zc),
                (names[3], &lmdb),
                (names[4], &floor),
            ],
        );
        let stores: [(&str, &dyn Kv); 5] = [
            (names[0], &get),
            (names[1], &into),
            (names[2], &zc),
            (names[3], &lmdb),
            (names[4], &floor),
        ];
        fill(&stores, n, &v);
        let keys = shuffled_keys(n, ops / if len > 1024 { 4 } else { 1 }, 11);
        compare_gets(
            &format!("l2-so-{len}"),
            &format!("L2 hit via the .so, {len} B values, {n} keys, L1 64 entries, page cache warm, 1 thread"),
            &systems,
            &keys,
        );
        if len == 1024 {
            let systems = present(
                api,
                vec![(names[0], &get as &dyn Kv), (names[2], &zc), (names[3], &lmdb)],
            );
            scaling(
                "l2-so-threads",
                &format!("L2 hit scaling via the .so, 1 KiB, {n} keys"),
                &systems,
                n,
                ops as u64 / 4,
            );
        }
    }

    // Puts, no fsync: 100 B and 16 KiB over 50k keys.
    for len in [100usize, 16 * 1024] {
        let d = Dirs::new();
        let tc = So::open(api, Some(&d.get("tiercache")), 0, 64 << 20, Read::Get);
        let lmdb = Lmdb::open(&d.get("lmdb"), false);
        let floor = Append::open(&d.get("floor"));
        let nkeys = if quick() { 5_000 } else { 50_000 };
        let keys = shuffled_keys(nkeys, ops / if len > 1024 { 4 } else { 1 }, 13);
        let systems: Vec<(&str, &dyn Kv)> = vec![
            ("tiercache tc_put (.so, sync never)", &tc),
            ("LMDB (heed, NO_SYNC, txn per put)", &lmdb),
            ("floor: CRC32 + buffered append + map", &floor),
        ];
        compare_puts(
            &format!("put-so-{len}"),
            &format!("put via the .so, no fsync, {len} B values, over {nkeys} keys, 1 thread"),
            &systems,
            &keys,
            &value(len),
        );
    }
}

impl Drop for So<'_> {
    fn drop(&mut self) {
        unsafe { (self.api.cache_close)(self.h) };
    }
}

/// `l1-harness-check` (not in `all`): which difference between `l1-hit`
/// and `shared-lib`'s thread table moves tiercache's ratio to `lru` +
/// Mutex. The same two systems (`tc_get`+free through the library, `lru`
/// under a mutex), 100 B over 100k keys, 1 thread, under each combination
/// of: how the stores were filled (each alone, or key by key interleaved
/// with the other stores of `l1-hit`), how keys are drawn (a pre-drawn
/// sequence walked in order, or drawn inline from a table of all keys), and
/// where the gets run (the main thread, or a thread of their own).
pub fn harness_check() {
    use crate::peers::{FoldMap, Moka, QuickCache};
    let Ok(api) = api() else { return };
    let n: u64 = if quick() { 10_000 } else { 100_000 };
    let v = value(100);
    let table: Vec<Vec<u8>> = (0..n).map(key).collect();
    let seq = shuffled_keys(n, if quick() { 20_000 } else { 200_000 }, 7);
    for interleaved in [false, true] {
        let tc = So::open(api, None, 0, 1 << 30, Read::Get);
        let lru = MutexLru::new(n as usize * 2);
        let (qc, moka, floor) = (QuickCache::new(n as usize * 2), Moka::new(1 << 30), FoldMap::new());
        if interleaved {
            // As `fill` did before: key by key, every store in turn.
            let all: [&dyn Kv; 5] = [&tc, &lru, &qc, &moka, &floor];
            for i in 0..n {
                all.iter().for_each(|s| s.put(0, &key(i), &v));
            }
        } else {
            fill(&[("tc", &tc as &dyn Kv)], n, &v);
            fill(&[("lru", &lru as &dyn Kv)], n, &v);
        }
        let systems: [(&str, &dyn Kv); 2] = [("tc_get+free (.so)", &tc), ("lru::LruCache + Mutex", &lru)];
        for (inline, spawned) in [(false, false), (true, false), (false, true), (true, true)] {
            let load = loadavg();
            let mut r = crate::Rng(99);
            let mut walk = |s: &dyn Kv, count: usize| {
                if inline {
                    for _ in 0..count {
                        std::hint::black_box(s.get(0, &table[r.below(n) as usize]));
                    }
                } else {
                    s.get_all(0, &seq[..count]);
                }
            };
            let med = per_op(&systems, seq.len(), |_, s, count| {
                if spawned {
                    std::thread::scope(|sc| {
                        sc.spawn(|| walk(s, count)).join().unwrap();
                    });
                } else {
                    walk(s, count);
                }
            });
            println!(
                "fill {:11} {:7} keys {:9}: tc {:7.1} ns  lru {:7.1} ns  ratio {:.3}  (load {load})",
                if interleaved { "interleaved" } else { "alone" },
                if spawned { "thread" } else { "main" },
                if inline { "inline" } else { "pre-drawn" },
                med[0],
                med[1],
                med[0] / med[1]
            );
        }
    }
}
