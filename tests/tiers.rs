//! The get path L1 -> L2 -> loader -> not found, and its statistics.

mod common;

use std::sync::Arc;

use common::{get, open};
use tiercache::{Cache, Loaded, Options, Status};

#[test]
fn each_tier_answers_and_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path(), 1);
    c.put(b"a", b"1", 0).unwrap();
    c.put(b"b", b"2", 0).unwrap(); // evicts a from the 1-entry L1
    let s = c.stats();
    assert_eq!((s.l1_entries, s.l2_entries, s.l1_evictions), (1, 2, 1));

    assert_eq!(get(&c, b"b"), Ok(b"2".to_vec())); // L1
    assert_eq!(get(&c, b"a"), Ok(b"1".to_vec())); // L2, promoted
    assert_eq!(get(&c, b"a"), Ok(b"1".to_vec())); // L1 now
    assert_eq!(get(&c, b"zz"), Err(Status::TC_NOT_FOUND)); // no loader
    c.set_loader(Some(Arc::new(|k: &[u8]| {
        if k == b"load-me" {
            Loaded::Value {
                value: b"loaded".to_vec(),
                ttl_ms: 0,
            }
        } else {
            Loaded::NotFound
        }
    })));
    assert_eq!(get(&c, b"load-me"), Ok(b"loaded".to_vec())); // L3
    assert_eq!(get(&c, b"load-me"), Ok(b"loaded".to_vec())); // stored in L1
    assert_eq!(get(&c, b"nope"), Err(Status::TC_NOT_FOUND)); // loader says no

    let s = c.stats();
    assert_eq!(s.l1_hits, 3, "{s:?}");
    assert_eq!(s.l2_hits, 1, "{s:?}");
    assert_eq!(s.l3_loads, 2, "{s:?}");
    assert_eq!(s.misses, 2, "{s:?}");
    assert_eq!(s.l2_state, 1);
    assert_eq!(s.l2_entries, 3, "the loaded value is written through to L2");
}

#[test]
fn l2_hit_survives_restart_and_promotes() {
    let dir = tempfile::tempdir().unwrap();
    {
        let c = open(dir.path(), 0);
        c.put(b"k", b"v", 0).unwrap();
        c.close().unwrap();
    }
    let c = open(dir.path(), 0);
    assert_eq!(c.stats().l1_entries, 0);
    assert_eq!(get(&c, b"k"), Ok(b"v".to_vec()));
    assert_eq!(get(&c, b"k"), Ok(b"v".to_vec()));
    let s = c.stats();
    assert_eq!((s.l2_hits, s.l1_hits, s.l1_entries), (1, 1, 1));
}

#[test]
fn contains_never_loads_or_promotes() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path(), 1);
    c.put(b"a", b"1", 0).unwrap();
    c.put(b"b", b"2", 0).unwrap();
    c.set_loader(Some(Arc::new(|_: &[u8]| panic!("contains must not call the loader"))));
    assert!(c.contains(b"a").unwrap()); // in L2 only
    assert!(!c.contains(b"x").unwrap());
    let s = c.stats();
    assert_eq!((s.l2_hits, s.l3_loads, s.l1_entries), (0, 0, 1));
    // Still only in L2: the next get is an L2 hit.
    assert_eq!(get(&c, b"a"), Ok(b"1".to_vec()));
    assert_eq!(c.stats().l2_hits, 1);
}

#[test]
fn memory_only_cache_has_no_l2() {
    let c = Cache::open(&Options::new()).unwrap();
    c.put(b"k", b"v", 0).unwrap();
    assert_eq!(get(&c, b"k"), Ok(b"v".to_vec()));
    let s = c.stats();
    assert_eq!((s.l2_state, s.l2_entries, s.l1_entries), (0, 0, 1));
    // A value too big for L1 has nowhere to go.
    let mut o = Options::new();
    o.l1_max_bytes = 1000;
    let small = Cache::open(&o).unwrap();
    assert_eq!(
        small.put(b"k", &[0; 2000], 0).unwrap_err().status(),
        Status::TC_TOO_LARGE
    );
}

#[test]
fn value_too_big_for_l1_is_served_from_l2() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = common::opts(dir.path(), 0);
    o.l1_max_bytes = 1000;
    let c = Cache::open(&o).unwrap();
    let big = vec![9u8; 5000];
    c.put(b"big", &big, 0).unwrap();
    assert_eq!(c.stats().l1_entries, 0);
    assert_eq!(get(&c, b"big"), Ok(big.clone()));
    assert_eq!(get(&c, b"big"), Ok(big));
    assert_eq!(c.stats().l2_hits, 2);
}

#[test]
fn l1_respects_entry_and_byte_bounds() {
    let mut o = Options::new();
    o.l1_max_entries = 100;
    let c = Cache::open(&o).unwrap();
    for i in 0..1000u32 {
        c.put(&i.to_le_bytes(), b"v", 0).unwrap();
    }
    assert!(c.stats().l1_entries <= 100);
    let mut o = Options::new();
    o.l1_max_bytes = 1 << 20;
    let c = Cache::open(&o).unwrap();
    for i in 0..1000u32 {
        c.put(&i.to_le_bytes(), &[0; 4096], 0).unwrap();
    }
    assert!(c.stats().l1_bytes <= 1 << 20);
    assert!(c.stats().l1_evictions > 0);
}

#[test]
fn every_entry_one_insert_pushes_out_is_counted() {
    // Small values, then large ones: each large value pushes several small
    // ones out at once, and each of them counts as one eviction.
    let mut o = Options::new();
    o.l1_max_entries = 0;
    o.l1_max_bytes = 64 << 10;
    let c = Cache::open(&o).unwrap();
    let (small, large) = (1000u32, 40u32);
    for i in 0..small {
        c.put(&i.to_le_bytes(), &[1; 100], 0).unwrap();
    }
    for i in small..small + large {
        c.put(&i.to_le_bytes(), &[2; 1000], 0).unwrap();
    }
    let s = c.stats();
    assert!(s.l1_entries < u64::from(small), "{s:?}");
    assert_eq!(s.l1_evictions + s.l1_entries, u64::from(small + large), "{s:?}");
}
