//! L1 values that point into a segment's memory map (values of
//! `tiercache::cache::MAP_FROM` bytes and more, promoted from L2): what L1
//! keeps mapped, that it lets go of a deleted segment's map, that its byte
//! bound counts them, and that a touch never writes damaged bytes again
//! (docs/CONSISTENCY.md §8, "Large values in L1").

mod common;

use std::fs;
use std::path::Path;

use common::{get, segment_files, AtRest};
use tiercache::cache::MAP_FROM;
use tiercache::{Cache, Options, Status};

const BIG: usize = 16 << 10;

fn big(tag: u8) -> Vec<u8> {
    (0..BIG).map(|i| tag ^ (i % 251) as u8).collect()
}

fn key(i: usize) -> Vec<u8> {
    format!("big-{i:03}").into_bytes()
}

/// Whether this process maps the file at `path` (or what it was renamed to
/// in its directory on its way out, `NNNNNNNNNN.tcl.dead.tmp`; live or
/// deleted: the kernel lists a deleted one as "… (deleted)"). The whole
/// path: other tests of this process have segments of the same name.
fn mapped_in_process(path: &Path) -> bool {
    let path = path.to_str().unwrap();
    fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .any(|l| l.contains(path))
}

/// 64 KiB segments: four 16 KiB values each.
fn small_segments(dir: &Path) -> Options {
    let mut o = Options::with_dir(dir);
    o.set_segment_bytes(64 << 10).unwrap();
    o
}

#[test]
fn a_large_value_read_from_l2_is_kept_mapped_and_a_small_one_copied() {
    for at in AtRest::ALL {
        let dir = tempfile::tempdir().unwrap();
        {
            let c = Cache::open(&at.with_dir(dir.path())).unwrap();
            c.put(b"big", &big(1), 0).unwrap();
            c.put(b"edge", &big(2)[..MAP_FROM], 0).unwrap();
            c.put(b"small", &big(3)[..MAP_FROM - 1], 0).unwrap();
            c.close().unwrap();
        }
        let c = Cache::open(&at.with_dir(dir.path())).unwrap();
        for (k, v) in [
            (&b"big"[..], big(1)),
            (b"edge", big(2)[..MAP_FROM].to_vec()),
            (b"small", big(3)[..MAP_FROM - 1].to_vec()),
        ] {
            assert_eq!(get(&c, k), Ok(v.clone()), "{}: the L2 hit", at.name());
            let held = c.get_value(k).unwrap();
            assert_eq!(&*held, &v[..], "{}: the L1 hit", at.name());
            // Packed or sealed values are not the segment's bytes: copied.
            let mapped = k != b"small" && !at.encrypted() && !at.compressed();
            assert_eq!(
                held.is_mapped(),
                mapped,
                "{}: {:?}",
                at.name(),
                String::from_utf8_lossy(k)
            );
        }
        assert_eq!(c.stats().l1_hits, 3);
        // A put over a mapped value of the same length replaces it (it is
        // never written into: the map is read-only).
        c.put(b"big", &big(9), 0).unwrap();
        assert_eq!(get(&c, b"big"), Ok(big(9)));
        assert!(!c.get_value(b"big").unwrap().is_mapped());
    }
}

/// Rule: a segment that compaction deletes is let go of by L1 (its values
/// copied) by the end of the compaction, so its file's space is released.
#[test]
fn a_mapped_value_of_a_compacted_segment_is_copied_and_its_file_let_go() {
    let dir = tempfile::tempdir().unwrap();
    {
        let c = Cache::open(&small_segments(dir.path())).unwrap();
        for i in 0..12 {
            c.put(&key(i), &big(i as u8), 0).unwrap();
        }
        c.close().unwrap();
    }
    let first = segment_files(dir.path())[0].clone();
    let first_name = first.file_name().unwrap().to_str().unwrap().to_owned();
    let c = Cache::open(&small_segments(dir.path())).unwrap();
    // key(0) lives in the first segment; read from L2, kept mapped.
    assert_eq!(get(&c, &key(0)), Ok(big(0)));
    assert!(c.get_value(&key(0)).unwrap().is_mapped());
    assert!(mapped_in_process(&first));
    // The rest of the first segment dies; compaction copies key(0) on and
    // deletes the segment.
    for i in 1..4 {
        c.remove(&key(i)).unwrap();
    }
    c.compact().unwrap();
    assert!(!first.exists(), "compaction deleted {first_name}");
    let held = c.get_value(&key(0)).unwrap();
    assert_eq!(&*held, &big(0)[..]);
    assert!(!held.is_mapped(), "L1 holds a copy of a deleted segment's value");
    drop(held);
    assert!(
        !mapped_in_process(&first),
        "nothing maps the deleted segment: its space is released"
    );
    assert_eq!(c.stats().l1_hits, 2);
    // And the copy in L2 is what a read of L2 finds.
    c.clear(true).unwrap();
    assert_eq!(get(&c, &key(0)), Ok(big(0)));
}

/// Rule: a segment that puts retire (the L2 bound) is let go of by L1 at
/// the next flush (or maintenance tick), while L1 still serves the value.
#[test]
fn a_mapped_value_of_a_retired_segment_is_copied_by_the_next_flush() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || {
        let mut o = small_segments(dir.path());
        o.l2_max_bytes = 256 << 10;
        o
    };
    {
        let c = Cache::open(&opts()).unwrap();
        for i in 0..8 {
            c.put(&key(i), &big(i as u8), 0).unwrap();
        }
        c.close().unwrap();
    }
    let first = segment_files(dir.path())[0].clone();
    let first_name = first.file_name().unwrap().to_str().unwrap().to_owned();
    let c = Cache::open(&opts()).unwrap();
    assert_eq!(get(&c, &key(0)), Ok(big(0)));
    assert!(c.get_value(&key(0)).unwrap().is_mapped());
    // Enough new values to retire the first segment.
    for i in 100..120 {
        c.put(&key(i), &big(i as u8), 0).unwrap();
    }
    c.flush().unwrap();
    assert!(!first.exists(), "the bound retired {first_name}");
    let held = c.get_value(&key(0)).unwrap();
    assert_eq!(&*held, &big(0)[..], "L1 still serves what it held");
    assert!(!held.is_mapped());
    drop(held);
    assert!(!mapped_in_process(&first));
}

/// Rule: mapped values count against L1's byte bound by their length.
#[test]
fn the_l1_byte_bound_holds_with_mapped_values() {
    let dir = tempfile::tempdir().unwrap();
    let bound = 1u64 << 20;
    let opts = || {
        let mut o = Options::with_dir(dir.path());
        o.l1_max_bytes = bound;
        o
    };
    {
        let c = Cache::open(&opts()).unwrap();
        for i in 0..200 {
            c.put(&key(i), &big(i as u8), 0).unwrap();
        }
        c.close().unwrap();
    }
    let c = Cache::open(&opts()).unwrap();
    let mut mapped = 0;
    for i in 0..200 {
        assert_eq!(get(&c, &key(i)), Ok(big(i as u8)));
        mapped += usize::from(c.get_value(&key(i)).unwrap().is_mapped());
        let s = c.stats();
        assert!(
            s.l1_bytes <= bound,
            "{} bytes in L1 over a bound of {bound}",
            s.l1_bytes
        );
    }
    assert_eq!(mapped, 200, "each was in L1, mapped, right after its read");
    let s = c.stats();
    assert!(s.l1_entries < 64, "{s:?}");
    assert!(s.l1_bytes > bound / 2, "{s:?}");
}

/// Rule: a touch of a value L1 holds mapped checks its record's checksum
/// again before it writes the value with a checksum of its own, so bytes
/// damaged after the read that verified them are never written again.
#[test]
fn a_record_damaged_after_it_was_mapped_into_l1_is_not_written_again_by_a_touch() {
    use std::os::unix::fs::FileExt;
    let dir = tempfile::tempdir().unwrap();
    let value = big(7);
    {
        let c = Cache::open(&Options::with_dir(dir.path())).unwrap();
        c.put(b"victim", &value, 0).unwrap();
        c.close().unwrap();
    }
    let c = Cache::open(&Options::with_dir(dir.path())).unwrap();
    assert_eq!(get(&c, b"victim"), Ok(value.clone()), "verified, mapped into L1");
    assert!(c.get_value(b"victim").unwrap().is_mapped());
    let seg = &segment_files(dir.path())[0];
    let pos = fs::read(seg)
        .unwrap()
        .windows(64)
        .position(|w| w == &value[..64])
        .unwrap()
        + 100;
    // In place, as bit rot would: the file is not rewritten.
    let f = fs::OpenOptions::new().write(true).open(seg).unwrap();
    f.write_all_at(&[value[100] ^ 0x10], pos as u64).unwrap();
    assert_ne!(
        c.get_value(b"victim").unwrap()[100],
        value[100],
        "L1's value is the map: it shows the damage (what §8 gives up)"
    );
    let before = c.stats().corrupt_records;
    assert_eq!(c.touch(b"victim", 0).unwrap_err().status(), Status::TC_NOT_FOUND);
    assert_eq!(c.stats().corrupt_records, before + 1, "the touch checked the record");
    assert_eq!(c.stats().l1_entries, 0, "L1 let the damaged value go");
    c.close().unwrap();
    let c = Cache::open(&Options::with_dir(dir.path())).unwrap();
    assert_eq!(
        get(&c, b"victim"),
        Err(Status::TC_NOT_FOUND),
        "never given a checksum of its own"
    );
    assert!(c.stats().corrupt_records >= 1);
}

/// A touch of an undamaged mapped value writes it again, as a copy.
#[test]
fn a_touch_of_a_mapped_value_rewrites_it() {
    let dir = tempfile::tempdir().unwrap();
    let clock = tiercache::clock::Clock::manual(1_000_000);
    let opts = || {
        let mut o = Options::with_dir(dir.path());
        o.clock = clock.clone();
        o
    };
    {
        let c = Cache::open(&opts()).unwrap();
        c.put(b"k", &big(5), 1000).unwrap();
        c.close().unwrap();
    }
    let c = Cache::open(&opts()).unwrap();
    assert_eq!(get(&c, b"k"), Ok(big(5)));
    assert!(c.get_value(b"k").unwrap().is_mapped());
    c.touch(b"k", 0).unwrap();
    clock.advance(5000);
    assert_eq!(get(&c, b"k"), Ok(big(5)), "the touch gave it no expiry");
    c.close().unwrap();
    let c = Cache::open(&opts()).unwrap();
    assert_eq!(get(&c, b"k"), Ok(big(5)), "the touched record is on disk");
}
