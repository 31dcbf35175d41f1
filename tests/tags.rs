//! Tags and file dependencies: stored with the record, kept across restarts
//! and compaction, removed by tag atomically and persistently, and a changed
//! file makes its entries a miss that goes to the loader.

mod common;

use std::ffi::CString;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tiercache::ffi::entries::*;
use tiercache::meta::{Dependency, Meta};
use tiercache::{Cache, Loaded, Options, Status, WritePolicy};

use common::get;

/// Options for a write-back cache in `dir`.
fn write_back(dir: &std::path::Path) -> Options {
    let mut o = Options::with_dir(dir);
    o.write_policy = WritePolicy::TC_WRITE_BACK;
    o
}

fn tagged(tags: &[&str]) -> Meta {
    let mut m = Meta::default();
    for t in tags {
        m.add_tag(t.as_bytes()).unwrap();
    }
    m
}

#[test]
fn remove_tag_removes_from_every_tier_and_stays_removed() {
    for policy in [WritePolicy::TC_WRITE_THROUGH, WritePolicy::TC_WRITE_BACK] {
        let dir = tempfile::tempdir().unwrap();
        let mut o = Options::with_dir(dir.path());
        o.set_segment_bytes(4096).unwrap();
        o.l1_max_entries = 4; // most entries on disk only
        o.write_policy = policy;
        let c = Cache::open(&o).unwrap();
        for i in 0..40u32 {
            let tags: &[&str] = match i % 4 {
                0 => &["user:1"],
                1 => &["user:1", "page"],
                2 => &["page"],
                _ => &[],
            };
            c.put_with(format!("k{i}").as_bytes(), &[i as u8; 100], 0, tagged(tags))
                .unwrap();
        }
        assert_eq!(c.info(b"k1").unwrap().tag_count, 2, "{policy:?}");
        c.close().unwrap();
        // The tag index is rebuilt at open from the records.
        let c = Cache::open(&o).unwrap();
        assert_eq!(c.remove_tag(b"user:1").unwrap(), 20, "{policy:?}");
        for i in 0..40u32 {
            let want = if i % 4 < 2 { None } else { Some(vec![i as u8; 100]) };
            assert_eq!(get(&c, format!("k{i}").as_bytes()).ok(), want, "{policy:?} k{i}");
        }
        assert_eq!(c.remove_tag(b"user:1").unwrap(), 0);
        c.compact().unwrap();
        c.close().unwrap();
        let c = Cache::open(&o).unwrap();
        for i in 0..40u32 {
            let want = if i % 4 < 2 { None } else { Some(vec![i as u8; 100]) };
            assert_eq!(
                get(&c, format!("k{i}").as_bytes()).ok(),
                want,
                "{policy:?} k{i} after reopen"
            );
        }
        // Tags survived the compaction's copies.
        assert_eq!(c.remove_tag(b"page").unwrap(), 10);
        assert_eq!(c.stats().corrupt_records, 0);
        c.check_invariants().unwrap();
    }
}

/// Write-back: a newer, tagged value only in memory replaced an untagged
/// one on disk; removing the tag must not let the older value come back.
#[test]
fn removing_a_tag_does_not_bring_back_the_value_it_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let o = write_back(dir.path());
    let c = Cache::open(&o).unwrap();
    c.put(b"k", b"old, untagged", 0).unwrap();
    c.flush().unwrap();
    c.put_with(b"k", b"new, tagged", 0, tagged(&["t"])).unwrap();
    assert_eq!(c.remove_tag(b"t").unwrap(), 1);
    assert_eq!(get(&c, b"k"), Err(Status::TC_NOT_FOUND));
    c.close().unwrap();
    let c = Cache::open(&o).unwrap();
    assert_eq!(get(&c, b"k"), Err(Status::TC_NOT_FOUND));
}

#[test]
fn a_changed_dependency_is_a_miss_that_goes_to_the_loader() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(&file, "v = 1").unwrap();
    let path = file.to_str().unwrap().to_string();
    let cache_dir = dir.path().join("cache");
    let mut o = Options::with_dir(&cache_dir);
    o.l1_max_entries = 1;
    let c = Cache::open(&o).unwrap();
    let loads = Arc::new(AtomicU64::new(0));
    let (l, p) = (loads.clone(), path.clone());
    c.set_loader(Some(Arc::new(move |_k: &[u8]| {
        l.fetch_add(1, Ordering::SeqCst);
        let meta = Meta {
            dependency: Some(Dependency::of(&p).unwrap()),
            ..Meta::default()
        };
        Loaded::Entry {
            value: std::fs::read(&p).unwrap(),
            ttl_ms: 0,
            meta,
        }
    })));
    assert_eq!(get(&c, b"parsed"), Ok(b"v = 1".to_vec()));
    assert_eq!(get(&c, b"parsed"), Ok(b"v = 1".to_vec()));
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    c.put(b"other", b"x", 0).unwrap(); // pushes "parsed" out of the 1-entry L1
    assert_eq!(get(&c, b"parsed"), Ok(b"v = 1".to_vec()), "from disk");
    std::fs::write(&file, "v = 22").unwrap();
    assert_eq!(get(&c, b"parsed"), Ok(b"v = 22".to_vec()));
    assert_eq!(loads.load(Ordering::SeqCst), 2);
    assert!(c.counter("dependency_misses").unwrap() >= 1);
    c.close().unwrap();
    // The dependency is in the record: after a restart a changed file is
    // still a miss.
    let c = Cache::open(&o).unwrap();
    std::fs::remove_file(&file).unwrap();
    assert_eq!(get(&c, b"parsed"), Err(Status::TC_NOT_FOUND));
    assert!(!c.contains(b"parsed").unwrap());
    assert_eq!(
        get(&c, b"other"),
        Ok(b"x".to_vec()),
        "entries without a dependency are untouched"
    );
}

#[test]
fn bad_tags_and_dependencies_are_refused_through_the_c_functions() {
    unsafe {
        let o = tc_entry_options_new();
        assert_eq!(
            tc_entry_options_add_tag(o, b"".as_ptr(), 0),
            Status::TC_INVALID_ARGUMENT
        );
        assert_eq!(
            tc_entry_options_add_tag(o, [1u8; 256].as_ptr(), 256),
            Status::TC_TOO_LARGE
        );
        assert_eq!(
            tc_entry_options_add_tag(o, std::ptr::null(), 3),
            Status::TC_INVALID_ARGUMENT
        );
        for i in 0..32 {
            let t = format!("t{i}");
            assert_eq!(tc_entry_options_add_tag(o, t.as_ptr(), t.len()), Status::TC_OK);
        }
        assert_eq!(tc_entry_options_add_tag(o, b"t32".as_ptr(), 3), Status::TC_TOO_LARGE);
        let missing = CString::new("/no/such/file/anywhere").unwrap();
        assert_eq!(
            tc_entry_options_set_dependency(o, missing.as_ptr()),
            Status::TC_INVALID_ARGUMENT
        );
        let msg = std::ffi::CStr::from_ptr(tiercache::ffi::tc_last_error())
            .to_string_lossy()
            .into_owned();
        assert!(msg.contains("/no/such/file/anywhere"), "{msg}");
        assert_eq!(
            tc_entry_options_set_ttl(std::ptr::null_mut(), 5),
            Status::TC_INVALID_ARGUMENT
        );
        let mut c = std::ptr::null_mut();
        assert_eq!(
            tiercache::ffi::cache::tc_cache_open(std::ptr::null(), &mut c),
            Status::TC_OK
        );
        assert_eq!(tc_put_with(c, b"k".as_ptr(), 1, b"v".as_ptr(), 1, o), Status::TC_OK);
        let mut n = 0u64;
        assert_eq!(tc_remove_tag(c, b"t7".as_ptr(), 2, &mut n), Status::TC_OK);
        assert_eq!(n, 1);
        assert_eq!(tc_remove_tag(c, b"".as_ptr(), 0, &mut n), Status::TC_INVALID_ARGUMENT);
        assert_eq!(tc_remove_tag(c, [1u8; 300].as_ptr(), 300, &mut n), Status::TC_TOO_LARGE);
        assert_eq!(
            tc_put_with(c, b"k".as_ptr(), 1, b"v".as_ptr(), 1, std::ptr::null()),
            Status::TC_INVALID_ARGUMENT
        );
        tiercache::ffi::cache::tc_cache_close(c);
        tc_entry_options_free(o);
        tc_entry_options_free(std::ptr::null_mut());
    }
}

/// Anonymous resident memory of this process, in bytes (Linux): what the
/// process itself allocated, not the pages of the segment files it mapped.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("RssAnon:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// RAM an open costs per disk entry, untagged and tagged. A measurement,
/// not a check: `cargo test --release --test tags -- --ignored --nocapture`.
#[test]
#[ignore]
fn ram_per_disk_entry_with_and_without_tags() {
    const N: u32 = 200_000;
    for tagged_share in [0u32, 100] {
        let dir = tempfile::tempdir().unwrap();
        let mut o = Options::with_dir(dir.path());
        o.l1_max_entries = 1;
        o.l2_max_bytes = 0;
        {
            let c = Cache::open(&o).unwrap();
            for i in 0..N {
                let meta = if i % 100 < tagged_share {
                    tagged(&[&format!("tag{}", i % 1000)])
                } else {
                    Meta::default()
                };
                c.put_with(format!("key{i:08}").as_bytes(), &[7; 100], 0, meta).unwrap();
            }
            c.close().unwrap();
        }
        let before = rss();
        let c = Cache::open(&o).unwrap();
        let after = rss();
        println!(
            "{tagged_share:>3}% tagged: {:.1} B of anonymous memory per entry after open ({} entries, tag index {} pairs)",
            (after.saturating_sub(before)) as f64 / f64::from(N),
            c.stats().l2_entries,
            c.counter("tag_index_entries").unwrap()
        );
    }
}

/// A value whose file changed is a miss to a get, and so absent to every
/// other reader and to the removals: `remove` answers `TC_NOT_FOUND`, and
/// `remove_prefix` and `remove_tag` do not count it, whether the entry is
/// in L1 or only on disk. (They reported such a key as one that had a
/// value: they checked only its expiry.)
#[test]
fn a_value_whose_dependency_changed_is_not_counted_by_a_removal() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    let path = file.to_str().unwrap().to_string();
    for (run, in_l1) in [(0, true), (1, false)] {
        std::fs::write(&file, format!("run {run}")).unwrap();
        let mut o = Options::with_dir(dir.path().join(format!("cache{run}")));
        o.l1_max_entries = 2;
        let c = Cache::open(&o).unwrap();
        let meta = || Meta {
            tags: vec![b"t".to_vec().into_boxed_slice()],
            dependency: Some(Dependency::of(&path).unwrap()),
        };
        for k in [&b"k1"[..], b"k2", b"k3"] {
            c.put_with(k, b"v", 0, meta()).unwrap();
        }
        c.put_with(b"k4", b"fresh", 0, Meta::default()).unwrap();
        if !in_l1 {
            // Pushes the dependent entries out of the 2-entry L1.
            c.put(b"x1", b"x", 0).unwrap();
            c.put(b"x2", b"x", 0).unwrap();
        }
        std::fs::write(&file, "changed, longer").unwrap();
        for k in [&b"k1"[..], b"k2", b"k3"] {
            assert_eq!(get(&c, k), Err(Status::TC_NOT_FOUND), "in L1: {in_l1}");
            assert!(!c.contains(k).unwrap());
        }
        assert_eq!(
            c.remove(b"k1").map_err(|e| e.status()),
            Err(Status::TC_NOT_FOUND),
            "in L1: {in_l1}"
        );
        assert_eq!(c.remove_prefix(b"k2").unwrap(), 0, "in L1: {in_l1}");
        assert_eq!(c.remove_tag(b"t").unwrap(), 0, "in L1: {in_l1}");
        // What holds still counts.
        assert_eq!(c.remove_prefix(b"k").unwrap(), 1, "k4, in L1: {in_l1}");
        for k in [&b"k1"[..], b"k2", b"k3", b"k4"] {
            assert_eq!(get(&c, k), Err(Status::TC_NOT_FOUND));
        }
    }
}

/// Under write-back, a key whose newest value sits dirty in L1 without a
/// tag, over an older record on disk that has it: `remove_tag` tombstones
/// the old record but does not count the key, whose value stays (it
/// counted it: the model below found it).
#[test]
fn remove_tag_does_not_count_a_key_whose_newer_value_in_memory_lacks_the_tag() {
    let dir = tempfile::tempdir().unwrap();
    let o = write_back(dir.path());
    let c = Cache::open(&o).unwrap();
    c.put_with(b"k", b"old", 0, tagged(&["t"])).unwrap();
    c.put_with(b"other", b"x", 0, tagged(&["t"])).unwrap();
    c.flush().unwrap(); // both on disk, with the tag
    c.put(b"k", b"new", 0).unwrap(); // dirty in L1, no tag
    assert_eq!(c.remove_tag(b"t").unwrap(), 1, "only `other`");
    assert_eq!(get(&c, b"k"), Ok(b"new".to_vec()));
    assert_eq!(get(&c, b"other"), Err(Status::TC_NOT_FOUND));
    c.close().unwrap();
    let c = Cache::open(&o).unwrap();
    assert_eq!(get(&c, b"k"), Ok(b"new".to_vec()), "written back at close");
}

/// A seeded model of file dependencies, tags and TTLs: puts with and
/// without a dependency on one of two files (and a tag), files changed,
/// reopens (after a close, or after a crash with or without a flush before
/// it: `SinceDurable`), and every reader against a plain map. A value whose file
/// changed, or that expired, is gone for all of them alike: `get`,
/// `contains`, `info`, the keys an iteration yields, and what `remove`,
/// `remove_prefix`, `remove_tag` and `touch` report. L1 holds four
/// entries, so reads come from memory and from disk; odd seeds write back,
/// half the seeds evict by S3-FIFO, a third compress values with LZ4. A
/// third of the puts have a TTL, on a clock the test moves; `touch` gives
/// a live value a new one.
/// `TIERCACHE_MODEL=large` runs more seeds.
#[test]
fn file_dependencies_against_a_model() {
    let seeds = if std::env::var("TIERCACHE_MODEL").is_ok_and(|v| v == "large") {
        200
    } else {
        20
    };
    for seed in 0..seeds {
        dependency_model(seed, 400);
    }
}

/// A key's value in `dependency_model`: its bytes, the file (0 or 1) it
/// depends on and that file's version then, its tag (0 or 1), and its
/// expiry (0: never).
#[derive(Debug, Clone, PartialEq)]
struct Modelled {
    value: Vec<u8>,
    dep: Option<(usize, usize)>,
    tag: usize,
    expires_at: u64,
}

type Model = std::collections::BTreeMap<Vec<u8>, Modelled>;

/// What each key of `dependency_model` held since the last point at which
/// everything was durable (a close, a flush, a reopen after a crash): after
/// a crash a key holds one of these states, and no other (a value
/// superseded before that point never comes back).
#[derive(Default)]
struct SinceDurable {
    /// Every state of a key changed since, the one at the durable point
    /// first. A key not here has held its model state throughout.
    states: std::collections::BTreeMap<Vec<u8>, Vec<Option<Modelled>>>,
    /// Keys put since (write-back: such a key may come back with nothing).
    written: std::collections::BTreeSet<Vec<u8>>,
}

impl SinceDurable {
    /// Sets `model`'s state of `k` to `new`, keeping the states it had.
    fn set(&mut self, model: &mut Model, k: &[u8], new: Option<Modelled>) {
        let states = self
            .states
            .entry(k.to_vec())
            .or_insert_with(|| vec![model.get(k).cloned()]);
        states.push(new.clone());
        match new {
            Some(e) => model.insert(k.to_vec(), e),
            None => model.remove(k),
        };
    }

    /// The states `k` may hold after a crash.
    fn allowed(&self, model: &Model, k: &[u8]) -> Vec<Option<Modelled>> {
        self.states
            .get(k)
            .cloned()
            .unwrap_or_else(|| vec![model.get(k).cloned()])
    }
}

fn dependency_model(seed: u64, steps: usize) {
    use std::collections::BTreeMap;
    let mut r = common::Rng::new(seed, 7);
    let dir = tempfile::tempdir().unwrap();
    let files = [dir.path().join("a.conf"), dir.path().join("b.conf")];
    // A file's version is its length: every change makes it longer, so it
    // is seen whatever the file system's time granularity.
    let mut version = [1usize, 1];
    for f in &files {
        std::fs::write(f, "x").unwrap();
    }
    let keys: Vec<Vec<u8>> = ["a1", "a2", "a3", "b1", "b2", "b3", "c1", "c2"]
        .iter()
        .map(|k| k.as_bytes().to_vec())
        .collect();
    let tags = [&b"t0"[..], b"t1"];
    // Time is the test's: TTLs expire exactly when the model says.
    let clock = tiercache::clock::Clock::manual(1_000_000);
    let mut o = Options::with_dir(dir.path().join("cache"));
    o.clock = clock.clone();
    o.l1_max_entries = 4;
    if seed % 2 == 1 {
        // L2 written only when L1 lets a value go, and at close.
        o.write_policy = WritePolicy::TC_WRITE_BACK;
    }
    if seed % 4 >= 2 {
        o.l1_policy = tiercache::options::L1Policy::TC_L1_S3FIFO;
    }
    if seed % 3 == 2 {
        o.set_compression(tiercache::Compression::TC_COMPRESSION_LZ4, 0);
    }
    let mut c = Some(Cache::open(&o).unwrap());
    let mut model: Model = BTreeMap::new();
    let mut since = SinceDurable::default();
    // Whether a state would be served now.
    let serves = |e: &Modelled, v: &[usize; 2], now: u64| {
        e.dep.is_none_or(|(f, at)| v[f] == at) && (e.expires_at == 0 || e.expires_at > now)
    };
    // The value a get must return now, if any.
    let live =
        |m: &Model, v: &[usize; 2], now: u64, k: &[u8]| m.get(k).filter(|e| serves(e, v, now)).map(|e| e.value.clone());
    for step in 0..steps {
        let cache = c.as_ref().unwrap();
        let now = clock.now_ms();
        let k = keys[r.below(keys.len() as u64) as usize].clone();
        let why = format!("seed {seed} step {step}");
        // The model's expiry of a value given `ttl` now (0: never).
        let expiry = |ttl: u64| if ttl == 0 { 0 } else { now + ttl };
        match r.below(110) {
            0..=29 => {
                let dep = (!r.chance(1, 3)).then(|| r.below(2) as usize);
                let tag = r.below(2) as usize;
                let ttl = if r.chance(1, 3) { r.range(1, 30) } else { 0 };
                let value = format!("{}#{step}", String::from_utf8_lossy(&k)).into_bytes();
                let meta = Meta {
                    tags: vec![tags[tag].to_vec().into_boxed_slice()],
                    dependency: dep.map(|f| Dependency::of(files[f].to_str().unwrap()).unwrap()),
                };
                cache.put_with(&k, &value, ttl, meta).unwrap();
                let expires_at = expiry(ttl);
                let dep = dep.map(|f| (f, version[f]));
                let e = Modelled {
                    value,
                    dep,
                    tag,
                    expires_at,
                };
                since.set(&mut model, &k, Some(e));
                since.written.insert(k);
            }
            30..=37 => {
                let f = r.below(2) as usize;
                version[f] += 1;
                std::fs::write(&files[f], "x".repeat(version[f])).unwrap();
            }
            38..=57 => {
                let want = live(&model, &version, now, &k);
                assert_eq!(get(cache, &k).ok(), want, "{why}: get {k:?}");
            }
            58..=67 => {
                let want = live(&model, &version, now, &k);
                assert_eq!(cache.contains(&k).unwrap(), want.is_some(), "{why}: contains {k:?}");
                let info = cache.info(&k).ok().map(|i| i.value_len);
                assert_eq!(info, want.map(|v| v.len() as u64), "{why}: info {k:?}");
            }
            68..=77 => {
                let want = live(&model, &version, now, &k).is_some();
                let got = cache.remove(&k).map_err(|e| e.status());
                assert_eq!(got.is_ok(), want, "{why}: remove {k:?} answered {got:?}");
                since.set(&mut model, &k, None);
            }
            78..=83 => {
                let p = &k[..r.range(1, 2) as usize];
                let want = model
                    .keys()
                    .filter(|m| m.starts_with(p) && live(&model, &version, now, m).is_some())
                    .count();
                assert_eq!(
                    cache.remove_prefix(p).unwrap(),
                    want as u64,
                    "{why}: remove_prefix {p:?}"
                );
                let gone: Vec<Vec<u8>> = model.keys().filter(|m| m.starts_with(p)).cloned().collect();
                for m in gone {
                    since.set(&mut model, &m, None);
                }
            }
            84..=88 => {
                let t = r.below(2) as usize;
                let want = model
                    .iter()
                    .filter(|(m, e)| e.tag == t && live(&model, &version, now, m).is_some())
                    .count();
                assert_eq!(cache.remove_tag(tags[t]).unwrap(), want as u64, "{why}: remove_tag {t}");
                let gone: Vec<Vec<u8>> = model
                    .iter()
                    .filter(|(_, e)| e.tag == t)
                    .map(|(m, _)| m.clone())
                    .collect();
                for m in gone {
                    since.set(&mut model, &m, None);
                }
            }
            89..=94 => {
                // What an iteration yields: the keys listed whose info holds.
                let listed: Vec<Vec<u8>> = cache
                    .live_keys(b"")
                    .into_iter()
                    .filter(|k| cache.info(k).is_ok())
                    .map(|k| k.to_vec())
                    .collect();
                let want: Vec<Vec<u8>> = model
                    .keys()
                    .filter(|m| live(&model, &version, now, m).is_some())
                    .cloned()
                    .collect();
                assert_eq!(listed, want, "{why}: iteration");
            }
            95..=97 => {
                c.take().unwrap().close().unwrap();
                c = Some(Cache::open(&o).unwrap());
                since = SinceDurable::default();
            }
            98..=99 => {
                // A crash, after a flush every other time: the open
                // rebuilds tags, dependencies and expiries from the records
                // (no clean close wrote its index files last). Without the
                // flush, each key holds one of its states since the last
                // durable point (`SinceDurable`), and the model becomes
                // what the cache holds.
                let cache = c.take().unwrap();
                if r.chance(1, 2) {
                    cache.flush().unwrap();
                    since = SinceDurable::default();
                }
                cache.simulate_crash();
                let cache = c.insert(Cache::open(&o).unwrap());
                for key in &keys {
                    let allowed = since.allowed(&model, key);
                    match get(cache, key).ok() {
                        None => {
                            let may = allowed
                                .iter()
                                .any(|s| s.as_ref().is_none_or(|e| !serves(e, &version, now)))
                                || (o.write_policy == WritePolicy::TC_WRITE_BACK && since.written.contains(key));
                            assert!(may, "{why}: {key:?} lost after a crash; it held {allowed:?}");
                            model.remove(key);
                        }
                        Some(v) => {
                            let at = cache.info(key).unwrap().expires_at;
                            let held = allowed.iter().flatten().find(|e| e.value == v && e.expires_at == at);
                            let held = held.unwrap_or_else(|| {
                                panic!("{why}: {key:?} came back as {v:?} (expiry {at}) after a crash; it held {allowed:?}")
                            });
                            model.insert(key.clone(), held.clone());
                        }
                    }
                }
                since = SinceDurable::default();
            }
            100..=104 => clock.advance(r.range(1, 20)),
            _ => {
                let ttl = if r.chance(1, 3) { 0 } else { r.range(1, 30) };
                let want = live(&model, &version, now, &k).is_some();
                let got = cache.touch(&k, ttl).map_err(|e| e.status());
                assert_eq!(got.is_ok(), want, "{why}: touch {k:?} answered {got:?}");
                if let Some(mut e) = model.get(&k).filter(|_| want).cloned() {
                    e.expires_at = expiry(ttl);
                    since.set(&mut model, &k, Some(e));
                }
            }
        }
    }
}
