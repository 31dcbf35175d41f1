//! Entry info, touch, iteration, count, batches and get_or_load, through
//! the C functions (as a C program calls them) with a manual clock.

use std::collections::BTreeSet;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use tiercache::clock::Clock;
use tiercache::ffi::boundary::RawStatus;
use tiercache::ffi::cache::*;
use tiercache::ffi::entries::*;
use tiercache::ffi::loader::{tc_cache_set_loader, tc_sink, tc_sink_put};
use tiercache::{Cache, Options, Status, WritePolicy};

mod common;

const T0: u64 = 1_700_000_000_000;

/// A handle on a cache opened with a manual clock.
struct Handle(*mut tc_cache);

impl Handle {
    fn open(opts: &Options) -> Handle {
        Handle(tiercache::ffi::cache::handle_of(Cache::open(opts).unwrap()))
    }
    fn put(&self, k: &[u8], v: &[u8], ttl: u64) {
        assert_eq!(
            unsafe { tc_put(self.0, k.as_ptr(), k.len(), v.as_ptr(), v.len(), ttl) },
            Status::TC_OK
        );
    }
    fn info(&self, k: &[u8]) -> Result<tc_entry_info, Status> {
        let mut i = tc_entry_info::default();
        match unsafe { tc_get_info(self.0, k.as_ptr(), k.len(), &mut i) } {
            Status::TC_OK => Ok(i),
            s => Err(s),
        }
    }
    fn get(&self, k: &[u8]) -> Result<Vec<u8>, Status> {
        let mut out = tc_bytes {
            data: std::ptr::null_mut(),
            len: 0,
        };
        match unsafe { tc_get(self.0, k.as_ptr(), k.len(), &mut out) } {
            Status::TC_OK => Ok(take(&mut out)),
            s => Err(s),
        }
    }
    fn keys(&self, prefix: &[u8]) -> Vec<(Vec<u8>, tc_entry_info)> {
        let mut it = std::ptr::null_mut();
        assert_eq!(
            unsafe { tc_iter_new(self.0, prefix.as_ptr(), prefix.len(), &mut it) },
            Status::TC_OK
        );
        let mut out = Vec::new();
        loop {
            let mut k = tc_bytes {
                data: std::ptr::null_mut(),
                len: 0,
            };
            let mut i = tc_entry_info::default();
            match unsafe { tc_iter_next(it, &mut k, &mut i) } {
                Status::TC_OK => out.push((take(&mut k), i)),
                Status::TC_NOT_FOUND => break,
                s => panic!("tc_iter_next: {s:?}"),
            }
        }
        unsafe { tc_iter_free(it) };
        out
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        unsafe { tc_cache_close(self.0) };
    }
}

unsafe impl Send for Handle {}
unsafe impl Sync for Handle {}

fn take(b: &mut tc_bytes) -> Vec<u8> {
    let v = if b.data.is_null() {
        Vec::new()
    } else {
        unsafe { std::slice::from_raw_parts(b.data, b.len) }.to_vec()
    };
    unsafe { tc_bytes_free(b) };
    v
}

fn clocked(dir: Option<&std::path::Path>, clock: &Clock) -> Options {
    let mut o = match dir {
        Some(d) => Options::with_dir(d),
        None => Options::new(),
    };
    o.clock = clock.clone();
    o
}

#[test]
fn info_reports_length_expiry_write_time_and_tier() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(T0);
    let mut o = clocked(Some(dir.path()), &clock);
    o.l1_max_entries = 1;
    let c = Handle::open(&o);
    c.put(b"a", b"12345", 0);
    clock.advance(10);
    c.put(b"b", b"xy", 100);
    // a was pushed out of the 1-entry L1: disk answers.
    let a = c.info(b"a").unwrap();
    assert_eq!((a.value_len, a.expires_at_ms, a.written_at_ms, a.tier), (5, 0, T0, 2));
    let b = c.info(b"b").unwrap();
    assert_eq!(
        (b.value_len, b.expires_at_ms, b.written_at_ms, b.tier),
        (2, T0 + 110, T0 + 10, 1)
    );
    assert_eq!(c.info(b"zz").unwrap_err(), Status::TC_NOT_FOUND);
    clock.advance(100);
    assert_eq!(c.info(b"b").unwrap_err(), Status::TC_NOT_FOUND, "expired");
    // Info neither promotes nor counts a hit.
    let mut s = tiercache::Stats::default();
    unsafe { tc_stats_get(c.0, &mut s) };
    assert_eq!((s.l1_hits, s.l2_hits, s.l3_loads), (0, 0, 0));
}

#[test]
fn touch_moves_expiry_persists_and_keeps_the_write_time() {
    for policy in [WritePolicy::TC_WRITE_THROUGH, WritePolicy::TC_WRITE_BACK] {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::manual(T0);
        let mut o = clocked(Some(dir.path()), &clock);
        o.write_policy = policy;
        {
            let c = Handle::open(&o);
            c.put(b"k", b"v", 50);
            clock.advance(40);
            assert_eq!(unsafe { tc_touch(c.0, b"k".as_ptr(), 1, 100) }, Status::TC_OK);
            assert_eq!(c.info(b"k").unwrap().expires_at_ms, T0 + 140);
            assert_eq!(c.info(b"k").unwrap().written_at_ms, T0);
            assert_eq!(unsafe { tc_touch(c.0, b"x".as_ptr(), 1, 100) }, Status::TC_NOT_FOUND);
            clock.advance(20); // past the first expiry
            assert_eq!(c.get(b"k"), Ok(b"v".to_vec()));
        }
        let c = Handle::open(&o);
        assert_eq!(c.info(b"k").unwrap().expires_at_ms, T0 + 140, "{policy:?}");
        assert_eq!(unsafe { tc_touch(c.0, b"k".as_ptr(), 1, 0) }, Status::TC_OK);
        clock.advance(1_000_000);
        assert_eq!(c.get(b"k"), Ok(b"v".to_vec()), "0 is never");
        assert_eq!(c.info(b"k").unwrap().expires_at_ms, 0);
    }
}

#[test]
fn iteration_lists_each_live_key_once_in_order_and_count_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(T0);
    let mut o = clocked(Some(dir.path()), &clock);
    o.l1_max_entries = 8; // most keys only on disk
    let c = Handle::open(&o);
    for i in 0..100u32 {
        let ttl = if i % 10 == 0 { 5 } else { 0 };
        c.put(
            format!("{}/{i:03}", if i % 2 == 0 { "even" } else { "odd" }).as_bytes(),
            &[1; 10],
            ttl,
        );
    }
    clock.advance(6);
    let all = c.keys(b"");
    assert_eq!(all.len(), 90, "expired keys are not listed");
    let names: Vec<_> = all.iter().map(|(k, _)| k.clone()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(names, sorted, "in byte order, each once");
    assert!(all.iter().all(|(_, i)| i.value_len == 10));
    let odd = c.keys(b"odd/");
    assert_eq!(odd.len(), 50);
    let (mut n, mut bytes) = (0u64, 0u64);
    assert_eq!(
        unsafe { tc_count(c.0, b"even/".as_ptr(), 5, &mut n, &mut bytes) },
        Status::TC_OK
    );
    assert_eq!((n, bytes), (40, 400));
    // The prefix must not be NULL, even when empty.
    let mut it = std::ptr::null_mut();
    assert_eq!(
        unsafe { tc_iter_new(c.0, std::ptr::null(), 0, &mut it) },
        Status::TC_INVALID_ARGUMENT
    );
}

/// Keys live for the whole iteration are yielded exactly once while other
/// threads write and remove other keys.
#[test]
fn iteration_holds_its_guarantee_under_concurrent_writers() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Options::with_dir(dir.path());
    o.l1_max_entries = 64;
    o.set_segment_bytes(16 << 10).unwrap();
    let c = Arc::new(Handle::open(&o));
    for i in 0..500u32 {
        c.put(format!("stable/{i:04}").as_bytes(), b"s", 0);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|t| {
            let (c, stop) = (c.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut i = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let k = format!("churn/{t}/{}", i % 300);
                    if i % 3 == 2 {
                        unsafe { tc_remove(c.0, k.as_ptr(), k.len()) };
                    } else {
                        c.put(k.as_bytes(), &[2; 50], 0);
                    }
                    i += 1;
                }
            })
        })
        .collect();
    for _ in 0..20 {
        let listed = c.keys(b"");
        let stable: Vec<_> = listed.iter().filter(|(k, _)| k.starts_with(b"stable/")).collect();
        assert_eq!(stable.len(), 500, "every key live throughout, once");
        let set: BTreeSet<_> = listed.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(set.len(), listed.len(), "no key twice");
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
}

/// `tc_slice`s over `items`, as a C caller builds them (an empty one points
/// at a static empty string, not at a dangling `Vec` pointer).
fn slices<T: AsRef<[u8]>>(items: &[T]) -> Vec<tc_slice> {
    items
        .iter()
        .map(|i| {
            let b = i.as_ref();
            tc_slice {
                data: if b.is_empty() { b"".as_ptr() } else { b.as_ptr() },
                len: b.len(),
            }
        })
        .collect()
}

#[test]
fn batches_get_and_put_many_keys() {
    let c = Handle::open(&Options::new());
    let keys: Vec<Vec<u8>> = (0..5).map(|i| format!("k{i}").into_bytes()).collect();
    let vals: Vec<Vec<u8>> = (0..5).map(|i| vec![i as u8; i]).collect();
    let ks = slices(&keys);
    let vs = slices(&vals);
    assert_eq!(
        unsafe { tc_put_many(c.0, ks.as_ptr(), vs.as_ptr(), 4, 0) },
        Status::TC_OK
    );
    let mut out: Vec<tc_bytes> = (0..5)
        .map(|_| tc_bytes {
            data: std::ptr::null_mut(),
            len: 0,
        })
        .collect();
    let mut st = vec![Status::TC_PANIC; 5];
    assert_eq!(
        unsafe { tc_get_many(c.0, ks.as_ptr(), 5, out.as_mut_ptr(), st.as_mut_ptr()) },
        Status::TC_OK
    );
    assert_eq!(
        &st[..],
        &[
            Status::TC_OK,
            Status::TC_OK,
            Status::TC_OK,
            Status::TC_OK,
            Status::TC_NOT_FOUND
        ]
    );
    for i in 0..4 {
        assert_eq!(take(&mut out[i]), vals[i]);
    }
    // n = 0 touches nothing, even with NULL arrays.
    assert_eq!(
        unsafe { tc_get_many(c.0, std::ptr::null(), 0, std::ptr::null_mut(), std::ptr::null_mut()) },
        Status::TC_OK
    );
    assert_eq!(
        unsafe { tc_put_many(c.0, std::ptr::null(), std::ptr::null(), 0, 0) },
        Status::TC_OK
    );
    assert_eq!(
        unsafe { tc_put_many(c.0, std::ptr::null(), vs.as_ptr(), 1, 0) },
        Status::TC_INVALID_ARGUMENT
    );
}

/// `tc_get_many_into`: values end to end in the caller's buffer, in key
/// order; one that does not fit in what is left is handed out as a
/// `tc_value` (or, without `spilled`, only its length); later smaller ones
/// still fit; each key is looked up once.
#[test]
fn get_many_into_packs_values_and_spills_what_does_not_fit() {
    let c = Handle::open(&Options::new());
    let pairs: [(&[u8], Vec<u8>); 5] = [
        (b"a", b"one".to_vec()),
        (b"big", vec![7u8; 40]),
        (b"empty", Vec::new()),
        (b"b", b"twotwo".to_vec()),
        (b"c", b"3".to_vec()),
    ];
    for (k, v) in &pairs {
        c.put(k, if v.is_empty() { b"" } else { v }, 0);
    }
    let keys: [&[u8]; 7] = [b"a", b"big", b"missing", b"empty", b"b", b"", b"c"];
    let ks = slices(&keys);
    let l1_hits = |c: &Handle| {
        let mut s = tiercache::Stats::default();
        unsafe { tc_stats_get(c.0, &mut s) };
        s.l1_hits
    };
    let hits_before = l1_hits(&c);
    // Room for "one", "twotwo" and "3" (10 bytes) but not for the 40 bytes.
    let mut buf = [0xEEu8; 12];
    let mut lens = [usize::MAX; 7];
    // Not NULL to begin with: the call sets every element.
    let mut spilled = [std::ptr::NonNull::<tiercache::ffi::value::tc_value>::dangling().as_ptr(); 7];
    let mut st = [Status::TC_PANIC; 7];
    let r = unsafe {
        tc_get_many_into(
            c.0,
            ks.as_ptr(),
            7,
            buf.as_mut_ptr(),
            buf.len(),
            lens.as_mut_ptr(),
            spilled.as_mut_ptr(),
            st.as_mut_ptr(),
        )
    };
    assert_eq!(r, Status::TC_OK);
    assert_eq!(
        st,
        [
            Status::TC_OK,
            Status::TC_BUFFER_TOO_SMALL,
            Status::TC_NOT_FOUND,
            Status::TC_OK,
            Status::TC_OK,
            Status::TC_INVALID_ARGUMENT,
            Status::TC_OK,
        ]
    );
    assert_eq!(lens, [3, 40, 0, 0, 6, 0, 1]);
    assert_eq!(&buf[..10], b"onetwotwo3");
    assert_eq!(buf[10..], [0xEE, 0xEE], "nothing written past the values");
    for (i, p) in spilled.iter().enumerate() {
        assert_eq!(p.is_null(), i != 1, "spilled[{i}]");
    }
    let big = unsafe {
        std::slice::from_raw_parts(
            tiercache::ffi::value::tc_value_data(spilled[1]),
            tiercache::ffi::value::tc_value_len(spilled[1]),
        )
    };
    assert_eq!(big, &vec![7u8; 40][..]);
    unsafe { tiercache::ffi::value::tc_value_free(spilled[1]) };
    // Each of the five present keys was looked up once.
    assert_eq!(l1_hits(&c) - hits_before, 5);

    // Without `spilled`, a value that does not fit reports its length only.
    let call = |n: usize, buf: *mut u8, cap: usize, lens: *mut usize, st: *mut Status| unsafe {
        tc_get_many_into(c.0, ks.as_ptr(), n, buf, cap, lens, std::ptr::null_mut(), st)
    };
    let mut none = [0u8; 0];
    assert_eq!(
        call(2, none.as_mut_ptr(), 0, lens.as_mut_ptr(), st.as_mut_ptr()),
        Status::TC_OK
    );
    assert_eq!(st[..2], [Status::TC_BUFFER_TOO_SMALL, Status::TC_BUFFER_TOO_SMALL]);
    assert_eq!(lens[..2], [3, 40]);

    // Bad arguments: a NULL buffer that claims room; NULL arrays with n > 0.
    let null = std::ptr::null_mut();
    assert_eq!(
        call(1, null, 8, lens.as_mut_ptr(), st.as_mut_ptr()),
        Status::TC_INVALID_ARGUMENT
    );
    assert_eq!(
        call(1, buf.as_mut_ptr(), buf.len(), null.cast(), st.as_mut_ptr()),
        Status::TC_INVALID_ARGUMENT
    );
    // n = 0 touches nothing, even with NULL arrays.
    let r = unsafe { tc_get_many_into(c.0, std::ptr::null(), 0, null, 0, null.cast(), null.cast(), null.cast()) };
    assert_eq!(r, Status::TC_OK);
}

/// The loader of `batch_gets_match_a_model`: a key that starts
/// with "load:" gets its own bytes backwards (with a 600-byte tail for
/// "load:big", so that some loaded values are copied after the lock);
/// any other key is absent.
unsafe extern "C" fn backwards(_: *mut c_void, key: *const u8, key_len: usize, sink: *mut tc_sink) -> RawStatus {
    let key = std::slice::from_raw_parts(key, key_len);
    match loaded(key) {
        Some(v) => {
            tc_sink_put(sink, v.as_ptr(), v.len(), 0);
            RawStatus(0)
        }
        None => RawStatus(Status::TC_NOT_FOUND as u32),
    }
}

/// What `backwards` loads for `key` (`None`: it answers not found).
fn loaded(key: &[u8]) -> Option<Vec<u8>> {
    let mut v: Vec<u8> = key.strip_prefix(b"load:")?.iter().rev().copied().collect();
    if key.starts_with(b"load:big") {
        v.resize(v.len() + 600, b'.');
    }
    Some(v)
}

/// The batch gets, `tc_get_many` and `tc_get_many_into`, against a plain
/// model, over seeded random batches (each batch through one of the two,
/// picked at random). `tc_get_many`: each value in its own `tc_bytes`.
/// `tc_get_many_into`: values end to end in the buffer in key order, those
/// that do not fit in the room left handed out as `tc_value`s. Both: the
/// absent and the invalid keys with their status. The keys come from every
/// tier: an L1 of 8 entries in front of a directory makes most present
/// keys L2 hits (each offered to the batch's reader, then promoted);
/// "load:" keys go to the loader; values run from empty to 2 KiB (over
/// `UNDER_LOCK`, 1 KiB, an L1 hit is copied after the shard's lock);
/// buffers from none to 4 KiB.
#[test]
fn batch_gets_match_a_model() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Options::with_dir(dir.path());
    o.l1_max_entries = 8;
    let c = Handle::open(&o);
    assert_eq!(
        unsafe { tc_cache_set_loader(c.0, Some(backwards), std::ptr::null_mut(), None) },
        Status::TC_OK
    );
    let seed = 0x6d616e79;
    let mut rng = common::Rng::new(seed, 0);
    let mut model = std::collections::HashMap::new();
    for i in 0..64u64 {
        let key = format!("k{i}").into_bytes();
        let len = match rng.below(4) {
            0 => 0,
            1 => rng.below(100),
            2 => rng.range(100, 1100),
            _ => rng.range(1100, 2048),
        } as usize;
        let value: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
        c.put(&key, &value, 0);
        model.insert(key, value);
    }
    let (mut into, mut each) = (0, 0);
    for round in 0..400 {
        let n = rng.range(1, 40) as usize;
        let keys: Vec<Vec<u8>> = (0..n)
            .map(|_| match rng.below(10) {
                0 => format!("absent{}", rng.below(4)).into_bytes(),
                1 => format!("load:{}", rng.below(1000)).into_bytes(),
                2 => b"load:big".to_vec(),
                3 if rng.chance(1, 4) => Vec::new(), // invalid: empty
                _ => format!("k{}", rng.below(64)).into_bytes(),
            })
            .collect();
        let want: Vec<Result<Vec<u8>, Status>> = keys
            .iter()
            .map(|k| {
                if k.is_empty() {
                    Err(Status::TC_INVALID_ARGUMENT)
                } else {
                    model.get(k).cloned().or_else(|| loaded(k)).ok_or(Status::TC_NOT_FOUND)
                }
            })
            .collect();
        let at = |i: usize| {
            format!(
                "seed {seed:#x}, round {round}, key #{i} {:?}",
                String::from_utf8_lossy(&keys[i])
            )
        };
        if rng.chance(1, 2) {
            into += 1;
            let cap = rng.below(4096) as usize;
            check_get_many_into(&c, &keys, &want, cap, at);
        } else {
            each += 1;
            check_get_many(&c, &keys, &want, at);
        }
    }
    assert!(into > 100 && each > 100, "{into} {each}");
    // Every tier answered some of the batches' keys.
    let mut s = tiercache::Stats::default();
    unsafe { tc_stats_get(c.0, &mut s) };
    assert!(s.l1_hits > 0 && s.l2_hits > 0 && s.l3_loads > 0, "{s:?}");
}

/// One batch of `batch_gets_match_a_model` through `tc_get_many`.
fn check_get_many(c: &Handle, keys: &[Vec<u8>], want: &[Result<Vec<u8>, Status>], at: impl Fn(usize) -> String) {
    let n = keys.len();
    // Garbage in, so that every slot the call must set is seen set.
    let junk = tc_bytes {
        data: std::ptr::NonNull::dangling().as_ptr(),
        len: usize::MAX,
    };
    let mut values: Vec<tc_bytes> = (0..n).map(|_| tc_bytes { ..junk }).collect();
    let mut st = vec![Status::TC_PANIC; n];
    let ks = slices(keys);
    let r = unsafe { tc_get_many(c.0, ks.as_ptr(), n, values.as_mut_ptr(), st.as_mut_ptr()) };
    assert_eq!(r, Status::TC_OK, "{}", at(0));
    for (i, (v, w)) in values.iter_mut().zip(want).enumerate() {
        match w {
            Ok(w) => {
                assert_eq!(st[i], Status::TC_OK, "{}", at(i));
                // Checked before the bytes are read: junk left in place
                // fails here, not as a read of its dangling pointer.
                assert_eq!((v.data.is_null(), v.len), (w.is_empty(), w.len()), "{}", at(i));
                assert_eq!(&take(v), w, "{}", at(i));
            }
            Err(s) => {
                assert_eq!(st[i], *s, "{}", at(i));
                assert!(v.data.is_null() && v.len == 0, "{}", at(i));
            }
        }
    }
}

/// One batch of `batch_gets_match_a_model` through `tc_get_many_into`,
/// with a buffer of `cap` bytes.
fn check_get_many_into(
    c: &Handle,
    keys: &[Vec<u8>],
    want: &[Result<Vec<u8>, Status>],
    cap: usize,
    at: impl Fn(usize) -> String,
) {
    let n = keys.len();
    let mut buf = vec![0xEEu8; cap];
    let mut lens = vec![usize::MAX; n];
    let mut spilled = vec![std::ptr::NonNull::<tiercache::ffi::value::tc_value>::dangling().as_ptr(); n];
    let mut st = vec![Status::TC_PANIC; n];
    let ks = slices(keys);
    let r = unsafe {
        tc_get_many_into(
            c.0,
            ks.as_ptr(),
            n,
            if cap == 0 {
                std::ptr::null_mut()
            } else {
                buf.as_mut_ptr()
            },
            cap,
            lens.as_mut_ptr(),
            spilled.as_mut_ptr(),
            st.as_mut_ptr(),
        )
    };
    assert_eq!(r, Status::TC_OK, "{}", at(0));
    let mut used = 0;
    for (i, w) in want.iter().enumerate() {
        match w {
            Ok(v) if v.len() <= cap - used => {
                assert_eq!((st[i], lens[i]), (Status::TC_OK, v.len()), "{}", at(i));
                assert_eq!(&buf[used..used + v.len()], &v[..], "{}", at(i));
                assert!(spilled[i].is_null(), "{}", at(i));
                used += v.len();
            }
            Ok(v) => {
                assert_eq!((st[i], lens[i]), (Status::TC_BUFFER_TOO_SMALL, v.len()), "{}", at(i));
                let got = unsafe {
                    std::slice::from_raw_parts(
                        tiercache::ffi::value::tc_value_data(spilled[i]),
                        tiercache::ffi::value::tc_value_len(spilled[i]),
                    )
                };
                assert_eq!(got, &v[..], "{}", at(i));
                unsafe { tiercache::ffi::value::tc_value_free(spilled[i]) };
            }
            Err(s) => {
                assert_eq!((st[i], lens[i]), (*s, 0), "{}", at(i));
                assert!(spilled[i].is_null(), "{}", at(i));
            }
        }
    }
    assert!(
        buf[used..].iter().all(|&b| b == 0xEE),
        "{}: written past the values",
        at(0)
    );
}

static LOADS: AtomicU64 = AtomicU64::new(0);

unsafe extern "C" fn memo(user_data: *mut c_void, key: *const u8, key_len: usize, sink: *mut tc_sink) -> RawStatus {
    LOADS.fetch_add(1, Ordering::SeqCst);
    let tag = *(user_data as *const u8);
    let mut v = std::slice::from_raw_parts(key, key_len).to_vec();
    v.push(tag);
    tc_sink_put(sink, v.as_ptr(), v.len(), 0);
    RawStatus(0)
}

#[test]
fn get_or_load_memoizes_with_a_loader_of_its_own() {
    let c = Handle::open(&Options::new());
    let tag = b'!';
    let mut out = tc_bytes {
        data: std::ptr::null_mut(),
        len: 0,
    };
    let before = LOADS.load(Ordering::SeqCst);
    for _ in 0..3 {
        let s = unsafe {
            tc_get_or_load(
                c.0,
                b"fn(1)".as_ptr(),
                5,
                Some(memo),
                &tag as *const u8 as *mut c_void,
                &mut out,
            )
        };
        assert_eq!(s, Status::TC_OK);
        assert_eq!(take(&mut out), b"fn(1)!".to_vec());
    }
    assert_eq!(LOADS.load(Ordering::SeqCst) - before, 1, "loaded once, then cached");
    assert_eq!(
        unsafe { tc_get_or_load(c.0, b"k".as_ptr(), 1, None, std::ptr::null_mut(), &mut out) },
        Status::TC_INVALID_ARGUMENT
    );
}

#[test]
fn entry_functions_are_closed_after_shutdown() {
    let c = Handle::open(&Options::new());
    c.put(b"k", b"v", 0);
    let mut it = std::ptr::null_mut();
    assert_eq!(unsafe { tc_iter_new(c.0, b"".as_ptr(), 0, &mut it) }, Status::TC_OK);
    assert_eq!(unsafe { tc_cache_shutdown(c.0) }, Status::TC_OK);
    let mut k = tc_bytes {
        data: std::ptr::null_mut(),
        len: 0,
    };
    let mut i = tc_entry_info::default();
    assert_eq!(unsafe { tc_iter_next(it, &mut k, &mut i) }, Status::TC_CLOSED);
    unsafe { tc_iter_free(it) };
    assert_eq!(c.info(b"k").unwrap_err(), Status::TC_CLOSED);
    assert_eq!(unsafe { tc_touch(c.0, b"k".as_ptr(), 1, 5) }, Status::TC_CLOSED);
}

/// What a callback's `tc_cache_shutdown` of its own handle returned.
static SHUTDOWN_IN_CALLBACK: AtomicU64 = AtomicU64::new(u64::MAX);

unsafe extern "C" fn shutting_loader(ud: *mut c_void, _k: *const u8, _n: usize, sink: *mut tc_sink) -> RawStatus {
    SHUTDOWN_IN_CALLBACK.store(tc_cache_shutdown(ud as *mut tc_cache) as u64, Ordering::SeqCst);
    RawStatus(tc_sink_put(sink, b"loaded".as_ptr(), 6, 0) as u32)
}

unsafe extern "C" fn shutting_free(ud: *mut c_void) {
    SHUTDOWN_IN_CALLBACK.store(tc_cache_shutdown(ud as *mut tc_cache) as u64, Ordering::SeqCst);
}

unsafe extern "C" fn plain_loader(_ud: *mut c_void, _k: *const u8, _n: usize, _sink: *mut tc_sink) -> RawStatus {
    RawStatus(Status::TC_NOT_FOUND as u32)
}

/// User code that a call on a handle runs (a `tc_get_or_load` loader; the
/// destructor of a replaced loader's user data, run inside
/// `tc_cache_set_loader`) cannot shut that handle down: the shutdown would
/// wait for the very call that runs it. It is refused, and the handle works
/// on. (The cache's own loader is covered by tests/c/test_lifecycle.c.)
#[test]
fn callbacks_cannot_shut_their_own_handle_down() {
    use tiercache::ffi::loader::tc_cache_set_loader;
    let c = Handle::open(&Options::new());
    let mut out = tc_bytes {
        data: std::ptr::null_mut(),
        len: 0,
    };
    let st = unsafe {
        tc_get_or_load(
            c.0,
            b"k".as_ptr(),
            1,
            Some(shutting_loader),
            c.0 as *mut c_void,
            &mut out,
        )
    };
    assert_eq!(st, Status::TC_OK);
    unsafe { tc_bytes_free(&mut out) };
    assert_eq!(
        SHUTDOWN_IN_CALLBACK.load(Ordering::SeqCst),
        Status::TC_INVALID_ARGUMENT as u64
    );
    assert_eq!(c.get(b"k").unwrap(), b"loaded");

    SHUTDOWN_IN_CALLBACK.store(u64::MAX, Ordering::SeqCst);
    let ud = c.0 as *mut c_void;
    assert_eq!(
        unsafe { tc_cache_set_loader(c.0, Some(plain_loader), ud, Some(shutting_free)) },
        Status::TC_OK
    );
    // Replacing the loader frees its user data, inside this call.
    assert_eq!(
        unsafe { tc_cache_set_loader(c.0, None, std::ptr::null_mut(), None) },
        Status::TC_OK
    );
    assert_eq!(
        SHUTDOWN_IN_CALLBACK.load(Ordering::SeqCst),
        Status::TC_INVALID_ARGUMENT as u64
    );
    // A NULL loader's user data is freed at once, inside the call too.
    SHUTDOWN_IN_CALLBACK.store(u64::MAX, Ordering::SeqCst);
    assert_eq!(
        unsafe { tc_cache_set_loader(c.0, None, ud, Some(shutting_free)) },
        Status::TC_OK
    );
    assert_eq!(
        SHUTDOWN_IN_CALLBACK.load(Ordering::SeqCst),
        Status::TC_INVALID_ARGUMENT as u64
    );
    assert_eq!(c.get(b"k").unwrap(), b"loaded");
    // Outside any callback, the shutdown goes ahead.
    assert_eq!(unsafe { tc_cache_shutdown(c.0) }, Status::TC_OK);
    assert_eq!(c.get(b"k").unwrap_err(), Status::TC_CLOSED);
}
