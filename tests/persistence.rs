//! What survives close and reopen: write-through and write-back puts, TTLs,
//! removals (tombstones), prefix removal and clear.

mod common;

use std::thread;
use std::time::Duration;

use common::{get, open, opts};
use tiercache::{Cache, Status, WritePolicy};

fn write_back(dir: &std::path::Path, l1_entries: u64) -> Cache {
    let mut o = opts(dir, l1_entries);
    o.write_policy = WritePolicy::TC_WRITE_BACK;
    Cache::open(&o).unwrap()
}

#[test]
fn write_through_keeps_everything_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let n = 5000u32;
    {
        let c = open(dir.path(), 100);
        for i in 0..n {
            c.put(
                format!("key-{i}").as_bytes(),
                &i.to_le_bytes().repeat(i as usize % 7 + 1),
                0,
            )
            .unwrap();
        }
        c.put(b"key-3", b"overwritten", 0).unwrap();
        c.close().unwrap();
    }
    let c = open(dir.path(), 100);
    assert_eq!(c.stats().l2_entries, n as u64);
    for i in 0..n {
        let want = if i == 3 {
            b"overwritten".to_vec()
        } else {
            i.to_le_bytes().repeat(i as usize % 7 + 1)
        };
        assert_eq!(get(&c, format!("key-{i}").as_bytes()), Ok(want), "key-{i}");
    }
}

#[test]
fn dropping_without_close_also_flushes() {
    let dir = tempfile::tempdir().unwrap();
    drop({
        let c = open(dir.path(), 0);
        c.put(b"k", b"v", 0).unwrap();
        c
    });
    assert_eq!(get(&open(dir.path(), 0), b"k"), Ok(b"v".to_vec()));
}

#[test]
fn write_back_writes_on_eviction() {
    let dir = tempfile::tempdir().unwrap();
    let c = write_back(dir.path(), 2);
    c.put(b"a", b"1", 0).unwrap();
    c.put(b"b", b"2", 0).unwrap();
    assert_eq!(c.stats().l2_entries, 0, "nothing on disk before an eviction");
    c.put(b"c", b"3", 0).unwrap(); // evicts a
    assert_eq!(c.stats().l2_entries, 1);
    assert!(c.contains(b"a").unwrap());
    assert_eq!(get(&c, b"a"), Ok(b"1".to_vec()));
}

#[test]
fn write_back_writes_on_flush_and_close() {
    let dir = tempfile::tempdir().unwrap();
    {
        let c = write_back(dir.path(), 0);
        c.put(b"f", b"flushed", 0).unwrap();
        c.flush().unwrap();
        assert_eq!(c.stats().l2_entries, 1);
        c.put(b"c", b"closed", 0).unwrap();
        c.put(b"f", b"flushed twice", 0).unwrap();
        c.close().unwrap();
    }
    let c = open(dir.path(), 0);
    assert_eq!(get(&c, b"f"), Ok(b"flushed twice".to_vec()));
    assert_eq!(get(&c, b"c"), Ok(b"closed".to_vec()));
}

#[test]
fn write_back_clear_memory_only_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let c = write_back(dir.path(), 0);
    c.put(b"dirty", b"v", 0).unwrap();
    c.clear(true).unwrap();
    assert_eq!(c.stats().l1_entries, 0);
    assert_eq!(get(&c, b"dirty"), Ok(b"v".to_vec()));
}

#[test]
fn write_back_expired_overwrite_does_not_resurrect_the_old_value() {
    let dir = tempfile::tempdir().unwrap();
    let c = write_back(dir.path(), 0);
    c.put(b"k", b"old", 0).unwrap();
    c.flush().unwrap(); // "old" is on disk
    c.put(b"k", b"new", 30).unwrap(); // dirty in L1 only
    thread::sleep(Duration::from_millis(60));
    assert_eq!(get(&c, b"k"), Err(Status::TC_NOT_FOUND));
    c.close().unwrap();
    assert_eq!(get(&open(dir.path(), 0), b"k"), Err(Status::TC_NOT_FOUND));
}

#[test]
fn ttl_holds_in_every_tier_and_after_reopen() {
    // A manual clock: how long opening and closing take does not matter.
    let dir = tempfile::tempdir().unwrap();
    let clock = tiercache::clock::Clock::manual(1_700_000_000_000);
    let open = |dir: &std::path::Path| {
        let mut o = opts(dir, 0);
        o.clock = clock.clone();
        Cache::open(&o).unwrap()
    };
    {
        let c = open(dir.path());
        c.put(b"short", b"v", 50).unwrap();
        c.put(b"long", b"v", 3_600_000).unwrap();
        c.put(b"forever", b"v", 0).unwrap();
        assert_eq!(get(&c, b"short"), Ok(b"v".to_vec()));
        c.close().unwrap();
    }
    {
        // Before expiry, the reopened cache serves it from L2.
        let c = open(dir.path());
        assert_eq!(get(&c, b"short"), Ok(b"v".to_vec()));
        clock.advance(80);
        assert_eq!(get(&c, b"short"), Err(Status::TC_NOT_FOUND), "expired in L1");
        c.clear(true).unwrap();
        assert_eq!(get(&c, b"short"), Err(Status::TC_NOT_FOUND), "expired in L2");
        assert!(!c.contains(b"short").unwrap());
    }
    let c = open(dir.path());
    assert_eq!(get(&c, b"short"), Err(Status::TC_NOT_FOUND), "expired after reopen");
    assert_eq!(get(&c, b"long"), Ok(b"v".to_vec()));
    // An open that trusts the index file reads no record, so the expired
    // one stays indexed (never served) until purged.
    c.purge_expired().unwrap();
    assert_eq!(
        c.stats().l2_entries,
        2,
        "the expired record is dropped by purge_expired"
    );
}

#[test]
fn purge_expired_removes_and_counts_once_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path(), 0);
    o.default_ttl_ms = 40;
    let c = Cache::open(&o).unwrap();
    for i in 0..10u8 {
        c.put(&[b'k', i], b"v", 0).unwrap(); // default TTL
    }
    c.put(b"keep", b"v", 3_600_000).unwrap();
    thread::sleep(Duration::from_millis(80));
    assert_eq!(c.purge_expired().unwrap(), 10);
    assert_eq!(c.purge_expired().unwrap(), 0);
    let s = c.stats();
    assert_eq!((s.l1_entries, s.l2_entries), (1, 1));
}

#[test]
fn remove_persists_and_reports_absence() {
    let dir = tempfile::tempdir().unwrap();
    {
        let c = open(dir.path(), 0);
        c.put(b"k", b"v", 0).unwrap();
        c.remove(b"k").unwrap();
        assert_eq!(c.remove(b"k").unwrap_err().status(), Status::TC_NOT_FOUND);
        assert_eq!(c.remove(b"never").unwrap_err().status(), Status::TC_NOT_FOUND);
        c.close().unwrap();
    }
    let c = open(dir.path(), 0);
    assert_eq!(get(&c, b"k"), Err(Status::TC_NOT_FOUND));
    // And a value put again after the tombstone comes back after another reopen.
    c.put(b"k", b"again", 0).unwrap();
    c.close().unwrap();
    assert_eq!(get(&open(dir.path(), 0), b"k"), Ok(b"again".to_vec()));
}

#[test]
fn remove_prefix_reaches_every_tier_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    {
        let c = open(dir.path(), 3);
        for i in 0..20 {
            c.put(format!("user:{i}").as_bytes(), b"u", 0).unwrap();
            c.put(format!("team:{i}").as_bytes(), b"t", 0).unwrap();
        }
        c.put(b"user:expired", b"x", 1).unwrap();
        thread::sleep(Duration::from_millis(10));
        assert_eq!(c.remove_prefix(b"user:").unwrap(), 20);
        assert_eq!(c.remove_prefix(b"user:").unwrap(), 0);
        assert_eq!(get(&c, b"user:3"), Err(Status::TC_NOT_FOUND));
        c.close().unwrap();
    }
    let c = open(dir.path(), 0);
    assert_eq!(get(&c, b"user:3"), Err(Status::TC_NOT_FOUND));
    assert_eq!(get(&c, b"team:3"), Ok(b"t".to_vec()));
    assert_eq!(c.stats().l2_entries, 20);
    assert_eq!(c.remove_prefix(b"").unwrap(), 20, "the empty prefix matches every key");
}

#[test]
fn clear_persists_and_memory_only_clear_keeps_disk() {
    let dir = tempfile::tempdir().unwrap();
    {
        let c = open(dir.path(), 0);
        c.put(b"a", b"1", 0).unwrap();
        c.clear(true).unwrap();
        assert_eq!(c.stats().l1_entries, 0);
        assert_eq!(get(&c, b"a"), Ok(b"1".to_vec()), "L2 still has it");
        c.clear(false).unwrap();
        assert_eq!(get(&c, b"a"), Err(Status::TC_NOT_FOUND));
        c.put(b"b", b"after clear", 0).unwrap();
        c.close().unwrap();
    }
    let c = open(dir.path(), 0);
    assert_eq!(get(&c, b"a"), Err(Status::TC_NOT_FOUND));
    assert_eq!(get(&c, b"b"), Ok(b"after clear".to_vec()));
    let segments = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".tcl"))
        .count();
    assert_eq!(segments, 1, "clear deletes the old segments");
}

#[test]
fn sync_policies_all_persist() {
    use tiercache::options::tc_sync_policy::*;
    for (policy, interval) in [
        (TC_SYNC_NEVER, 0),
        (TC_SYNC_ON_FLUSH, 0),
        (TC_SYNC_ALWAYS, 0),
        (TC_SYNC_INTERVAL, 5),
    ] {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut o = opts(dir.path(), 0);
            o.set_sync_policy(policy, interval).unwrap();
            let c = Cache::open(&o).unwrap();
            for i in 0..100u32 {
                c.put(&i.to_be_bytes(), b"v", 0).unwrap();
            }
            if policy == TC_SYNC_INTERVAL {
                thread::sleep(Duration::from_millis(30));
            }
            c.close().unwrap();
        }
        assert_eq!(open(dir.path(), 0).stats().l2_entries, 100, "{policy:?}");
    }
}

#[test]
fn segments_roll_and_all_are_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path(), 10);
    o.set_segment_bytes(64 * 1024).unwrap();
    {
        let c = Cache::open(&o).unwrap();
        for i in 0..2000u32 {
            c.put(&i.to_be_bytes(), &[i as u8; 200], 0).unwrap();
        }
        c.close().unwrap();
    }
    let n = std::fs::read_dir(dir.path()).unwrap().count();
    assert!(n > 5, "expected several segments, found {n} files");
    let c = Cache::open(&o).unwrap();
    for i in (0..2000u32).step_by(37) {
        assert_eq!(get(&c, &i.to_be_bytes()), Ok(vec![i as u8; 200]));
    }
}

#[test]
fn write_back_expired_overwrite_hides_the_old_value_everywhere() {
    // Found by the C suite: contains, remove and remove_prefix let the older
    // disk value through when the newer in-memory one had expired.
    let dir = tempfile::tempdir().unwrap();
    let c = write_back(dir.path(), 0);
    for k in [&b"p:a"[..], b"p:b", b"p:c"] {
        c.put(k, b"old", 0).unwrap();
    }
    c.flush().unwrap();
    for k in [&b"p:a"[..], b"p:b", b"p:c"] {
        c.put(k, b"new", 30).unwrap();
    }
    thread::sleep(Duration::from_millis(60));
    assert!(!c.contains(b"p:a").unwrap());
    assert_eq!(c.remove(b"p:b").unwrap_err().status(), Status::TC_NOT_FOUND);
    assert_eq!(c.remove_prefix(b"p:").unwrap(), 0);
    for k in [&b"p:a"[..], b"p:b", b"p:c"] {
        assert_eq!(get(&c, k), Err(Status::TC_NOT_FOUND));
    }
    c.close().unwrap();
    let c = open(dir.path(), 0);
    for k in [&b"p:a"[..], b"p:b", b"p:c"] {
        assert_eq!(get(&c, k), Err(Status::TC_NOT_FOUND), "{k:?} came back after reopen");
    }
}
