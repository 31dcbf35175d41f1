//! L3: single flight, not-found and failure paths, re-entrant loaders, and the
//! C loader's user-data destructor.

mod common;

use std::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use common::get;
use tiercache::ffi::boundary::RawStatus;
use tiercache::ffi::cache::{tc_bytes, tc_bytes_free, tc_cache, tc_cache_close, tc_cache_open, tc_get, tc_put};
use tiercache::ffi::loader::{tc_cache_set_loader, tc_sink, tc_sink_put};
use tiercache::{Cache, Loaded, Options, Status};

#[test]
fn many_threads_missing_one_key_share_one_load() {
    let c = Arc::new(Cache::open(&Options::new()).unwrap());
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    c.set_loader(Some(Arc::new(move |k: &[u8]| {
        counted.fetch_add(1, Ordering::SeqCst);
        thread::sleep(Duration::from_millis(150));
        Loaded::Value {
            value: [b"v:", k].concat(),
            ttl_ms: 0,
        }
    })));
    let threads = 12;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (c, b) = (c.clone(), barrier.clone());
            thread::spawn(move || {
                b.wait();
                get(&c, b"slow")
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), Ok(b"v:slow".to_vec()));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(c.stats().l3_loads, 1);
}

#[test]
fn waiters_share_a_failure_and_it_is_not_cached() {
    let c = Arc::new(Cache::open(&Options::new()).unwrap());
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    c.set_loader(Some(Arc::new(move |_: &[u8]| {
        counted.fetch_add(1, Ordering::SeqCst);
        thread::sleep(Duration::from_millis(100));
        Loaded::Failed("backend down".into())
    })));
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (c, b) = (c.clone(), barrier.clone());
            thread::spawn(move || {
                b.wait();
                c.get(b"k").unwrap_err()
            })
        })
        .collect();
    for h in handles {
        let e = h.join().unwrap();
        assert_eq!(e.status(), Status::TC_LOADER_FAILED);
        assert!(e.message().contains("backend down"));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // Nothing was cached: the next get asks again.
    assert_eq!(get(&c, b"k"), Err(Status::TC_LOADER_FAILED));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(!c.contains(b"k").unwrap());
}

#[test]
fn not_found_is_not_cached_and_a_panicking_loader_fails() {
    let c = Cache::open(&Options::new()).unwrap();
    c.set_loader(Some(Arc::new(|k: &[u8]| match k {
        b"boom" => panic!("loader bug"),
        _ => Loaded::NotFound,
    })));
    assert_eq!(get(&c, b"x"), Err(Status::TC_NOT_FOUND));
    assert_eq!(get(&c, b"x"), Err(Status::TC_NOT_FOUND));
    assert_eq!(c.stats().l3_loads, 2);
    assert_eq!(get(&c, b"boom"), Err(Status::TC_LOADER_FAILED));
}

#[test]
fn loader_may_call_back_into_the_cache() {
    let c = Arc::new(Cache::open(&Options::new()).unwrap());
    let weak = Arc::downgrade(&c);
    c.put(b"base", b"10", 0).unwrap();
    c.set_loader(Some(Arc::new(move |k: &[u8]| {
        let c = weak.upgrade().unwrap();
        if k == b"derived" {
            // Reads another key (through the loader too) and writes a third.
            let base = c.get(b"base").unwrap();
            let other = c.get(b"other").unwrap();
            c.put(b"side-effect", b"yes", 0).unwrap();
            // Asking for its own key does not deadlock: it is simply not there yet.
            assert_eq!(c.get(b"derived").unwrap_err().status(), Status::TC_NOT_FOUND);
            Loaded::Value {
                value: [&*base, b"+", &*other].concat(),
                ttl_ms: 0,
            }
        } else {
            Loaded::Value {
                value: b"o".to_vec(),
                ttl_ms: 0,
            }
        }
    })));
    assert_eq!(get(&c, b"derived"), Ok(b"10+o".to_vec()));
    assert_eq!(get(&c, b"side-effect"), Ok(b"yes".to_vec()));
    c.set_loader(None); // break the Arc cycle through the closure's Weak
}

#[test]
fn a_put_during_a_load_wins() {
    let c = Arc::new(Cache::open(&Options::new()).unwrap());
    let weak = Arc::downgrade(&c);
    c.set_loader(Some(Arc::new(move |_: &[u8]| {
        // A newer write lands while the (older) loaded value is on its way.
        weak.upgrade().unwrap().put(b"k", b"new", 0).unwrap();
        Loaded::Value {
            value: b"old".to_vec(),
            ttl_ms: 0,
        }
    })));
    assert_eq!(get(&c, b"k"), Ok(b"old".to_vec()), "the caller gets what it asked for");
    assert_eq!(get(&c, b"k"), Ok(b"new".to_vec()), "but the newer write is what stays");
}

/// The same with a removal of a key the cache holds nothing of: the
/// loader read the source before the key was deleted there, and the
/// removal (which finds nothing here, and says so) comes while the answer
/// is on its way. The answer must not be kept: a removal is newer state.
/// (It was: a removal that found nothing only refused promotions from L2,
/// and left the load registered; found by tests/remote_model.rs, where a
/// get on another thread brought a removed value back.)
#[test]
fn a_removal_during_a_load_wins_even_if_nothing_was_cached() {
    let c = Arc::new(Cache::open(&Options::new()).unwrap());
    let weak = Arc::downgrade(&c);
    c.set_loader(Some(Arc::new(move |_: &[u8]| {
        let status = weak.upgrade().unwrap().remove(b"k").map_err(|e| e.status());
        assert_eq!(status, Err(Status::TC_NOT_FOUND), "nothing here to remove");
        Loaded::Value {
            value: b"old".to_vec(),
            ttl_ms: 0,
        }
    })));
    assert_eq!(get(&c, b"k"), Ok(b"old".to_vec()), "the caller gets what it asked for");
    c.set_loader(None);
    assert_eq!(get(&c, b"k"), Err(Status::TC_NOT_FOUND), "the removed value stayed");
}

/// `a_removal_during_a_load_wins_even_if_nothing_was_cached` for the
/// removals of many keys: a prefix, a tag, everything.
#[test]
fn a_removal_of_many_keys_during_a_load_wins_even_if_nothing_was_cached() {
    type Removal = fn(&Cache);
    let removals: [(&str, Removal); 3] = [
        ("remove_prefix", |c| assert_eq!(c.remove_prefix(b"k").unwrap(), 0)),
        ("remove_tag", |c| assert_eq!(c.remove_tag(b"t").unwrap(), 0)),
        ("clear", |c| c.clear(false).unwrap()),
    ];
    for (name, removal) in removals {
        let c = Arc::new(Cache::open(&Options::new()).unwrap());
        let weak = Arc::downgrade(&c);
        c.set_loader(Some(Arc::new(move |_: &[u8]| {
            removal(&weak.upgrade().unwrap());
            let mut meta = tiercache::meta::Meta::default();
            meta.add_tag(b"t").unwrap();
            Loaded::Entry {
                value: b"old".to_vec(),
                ttl_ms: 0,
                meta,
            }
        })));
        assert_eq!(
            get(&c, b"k"),
            Ok(b"old".to_vec()),
            "{name}: the caller gets what it asked for"
        );
        c.set_loader(None);
        assert_eq!(
            get(&c, b"k"),
            Err(Status::TC_NOT_FOUND),
            "{name}: the removed value stayed"
        );
    }
}

/// On the test's clock: a slow machine moves nothing.
#[test]
fn loaded_ttl_applies() {
    let clock = tiercache::clock::Clock::manual(1_000);
    let mut o = Options::new();
    o.clock = clock.clone();
    let c = Cache::open(&o).unwrap();
    c.set_loader(Some(Arc::new(|_: &[u8]| Loaded::Value {
        value: b"v".to_vec(),
        ttl_ms: 40,
    })));
    assert_eq!(get(&c, b"k"), Ok(b"v".to_vec()));
    clock.advance(39);
    assert!(c.contains(b"k").unwrap());
    clock.advance(1);
    assert!(!c.contains(b"k").unwrap());
}

// --- Through the C ABI: the destructor of the loader's user data. ---

struct Counter {
    calls: AtomicUsize,
    frees: Arc<AtomicUsize>,
}

unsafe extern "C" fn c_loader(user: *mut c_void, key: *const u8, key_len: usize, sink: *mut tc_sink) -> RawStatus {
    let counter = &*(user as *const Counter);
    counter.calls.fetch_add(1, Ordering::SeqCst);
    let key = std::slice::from_raw_parts(key, key_len);
    match key {
        b"missing" => RawStatus(Status::TC_NOT_FOUND as u32),
        b"broken" => RawStatus(Status::TC_IO_ERROR as u32),
        b"silent" => RawStatus(0), // TC_OK without a value: a failure
        b"weird" => RawStatus(4242),
        _ => {
            let v = [b"c:", key].concat();
            assert_eq!(tc_sink_put(sink, v.as_ptr(), v.len(), 0), Status::TC_OK);
            // A second answer is refused.
            assert_eq!(tc_sink_put(sink, v.as_ptr(), v.len(), 0), Status::TC_INVALID_ARGUMENT);
            RawStatus(0)
        }
    }
}

unsafe extern "C" fn c_free(user: *mut c_void) {
    let b = Box::from_raw(user as *mut Counter);
    b.frees.fetch_add(1, Ordering::SeqCst);
}

fn c_get(c: *mut tc_cache, key: &[u8]) -> Result<Vec<u8>, Status> {
    let mut out = tc_bytes {
        data: std::ptr::null_mut(),
        len: 0,
    };
    let st = unsafe { tc_get(c, key.as_ptr(), key.len(), &mut out) };
    if st != Status::TC_OK {
        return Err(st);
    }
    let v = if out.len == 0 {
        Vec::new()
    } else {
        unsafe { std::slice::from_raw_parts(out.data, out.len).to_vec() }
    };
    unsafe { tc_bytes_free(&mut out) };
    assert!(out.data.is_null());
    Ok(v)
}

fn counter(frees: &Arc<AtomicUsize>) -> *mut c_void {
    Box::into_raw(Box::new(Counter {
        calls: AtomicUsize::new(0),
        frees: frees.clone(),
    })) as *mut c_void
}

#[test]
fn c_loader_statuses_and_destructor_runs_exactly_once() {
    let mut c: *mut tc_cache = std::ptr::null_mut();
    assert_eq!(unsafe { tc_cache_open(std::ptr::null(), &mut c) }, Status::TC_OK);
    let first = Arc::new(AtomicUsize::new(0));
    let second = Arc::new(AtomicUsize::new(0));
    unsafe {
        assert_eq!(
            tc_cache_set_loader(c, Some(c_loader), counter(&first), Some(c_free)),
            Status::TC_OK
        );
    }
    assert_eq!(c_get(c, b"hello"), Ok(b"c:hello".to_vec()));
    assert_eq!(c_get(c, b"missing"), Err(Status::TC_NOT_FOUND));
    assert_eq!(c_get(c, b"broken"), Err(Status::TC_LOADER_FAILED));
    assert_eq!(c_get(c, b"silent"), Err(Status::TC_LOADER_FAILED));
    assert_eq!(c_get(c, b"weird"), Err(Status::TC_LOADER_FAILED));
    assert_eq!(first.load(Ordering::SeqCst), 0);
    // Replacing the loader frees the first user data, once.
    unsafe {
        assert_eq!(
            tc_cache_set_loader(c, Some(c_loader), counter(&second), Some(c_free)),
            Status::TC_OK
        );
    }
    assert_eq!(first.load(Ordering::SeqCst), 1);
    assert_eq!(c_get(c, b"again"), Ok(b"c:again".to_vec()));
    // A NULL loader with a destructor frees that user data at once.
    let third = Arc::new(AtomicUsize::new(0));
    unsafe {
        assert_eq!(
            tc_cache_set_loader(c, Some(c_loader), counter(&third), Some(c_free)),
            Status::TC_OK
        );
        assert_eq!(
            tc_cache_set_loader(c, None, counter(&third), Some(c_free)),
            Status::TC_OK
        );
    }
    assert_eq!(second.load(Ordering::SeqCst), 1);
    assert_eq!(third.load(Ordering::SeqCst), 2);
    assert_eq!(c_get(c, b"nobody"), Err(Status::TC_NOT_FOUND));
    unsafe { tc_cache_close(c) };
    assert_eq!((first.load(Ordering::SeqCst), second.load(Ordering::SeqCst)), (1, 1));
}

#[test]
fn c_loader_destructor_runs_at_close() {
    let mut c: *mut tc_cache = std::ptr::null_mut();
    assert_eq!(unsafe { tc_cache_open(std::ptr::null(), &mut c) }, Status::TC_OK);
    let frees = Arc::new(AtomicUsize::new(0));
    unsafe {
        tc_cache_set_loader(c, Some(c_loader), counter(&frees), Some(c_free));
        let (k, v) = (b"k", b"v");
        assert_eq!(tc_put(c, k.as_ptr(), 1, v.as_ptr(), 1, 0), Status::TC_OK);
    }
    assert_eq!(frees.load(Ordering::SeqCst), 0);
    unsafe { tc_cache_close(c) };
    assert_eq!(frees.load(Ordering::SeqCst), 1);
}
