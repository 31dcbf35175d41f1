//! The L2 index file (`index.tci` and `index.tcm`, docs/FORMAT.md "Index
//! files"): trusted after a clean close and after a tail was appended past
//! its watermark; refused and rebuilt from the log (counted in
//! `l2_index_rebuilds`) when it is truncated, of another version, of another
//! directory, flipped, or claims records the log no longer has; trusted,
//! with the entries in them dropped, when its oldest segments are gone (a
//! retirement a kill cut short); and a slot that points at the wrong record
//! is a miss plus a counted repair, never a wrong value.

mod common;

use std::fs;
use std::path::Path;

use common::get;
use tiercache::meta::Meta;
use tiercache::{Cache, Options, Status};

const SLOTS: &str = "index.tci";
const META: &str = "index.tcm";
const N: u32 = 3000;

fn opts(dir: &Path) -> Options {
    let mut o = Options::with_dir(dir);
    o.l1_max_entries = 1; // every get reads L2
    o.set_segment_bytes(64 * 1024).unwrap();
    o
}

fn key(i: u32) -> Vec<u8> {
    format!("key{i:05}").into_bytes()
}

/// What key `i` holds after `fill(…, round)`: every key is written, every
/// seventh overwritten, every eleventh removed, every thirteenth tagged.
fn want(i: u32, round: u32) -> Option<Vec<u8>> {
    if i.is_multiple_of(11) {
        return None;
    }
    let r = if i.is_multiple_of(7) { round + 1 } else { round };
    Some(format!("value {i} round {r}").repeat(1 + (i % 5) as usize).into_bytes())
}

fn fill(c: &Cache, round: u32) {
    for i in 0..N {
        let v = format!("value {i} round {round}").repeat(1 + (i % 5) as usize);
        let mut m = Meta::default();
        if i % 13 == 0 {
            m.tags = vec![b"thirteen".to_vec().into_boxed_slice()];
        }
        c.put_with(&key(i), v.as_bytes(), 0, m).unwrap();
    }
    for i in (0..N).step_by(7) {
        let v = format!("value {i} round {}", round + 1).repeat(1 + (i % 5) as usize);
        c.put(&key(i), v.as_bytes(), 0).unwrap();
    }
    for i in (0..N).step_by(11) {
        c.remove(&key(i)).unwrap();
    }
}

/// Opens `dir`, checks every key and the counts, and returns the number of
/// index rebuilds and repairs the open and the reads counted.
fn verify(dir: &Path, round: u32) -> (u64, u64) {
    let c = Cache::open(&opts(dir)).unwrap();
    let live = (0..N).filter(|i| want(*i, round).is_some()).count() as u64;
    assert_eq!(c.stats().l2_entries, live);
    for i in 0..N {
        assert_eq!(get(&c, &key(i)).ok(), want(i, round), "key {i}");
    }
    c.check_invariants().unwrap();
    // Tags: the tag index was rebuilt (from the slots' meta bit or the log).
    let tagged = (0..N).filter(|i| i % 13 == 0 && i % 11 != 0 && i % 7 != 0).count() as u64;
    assert_eq!(c.counter("tag_index_entries").unwrap(), tagged);
    let counts = (
        c.counter("l2_index_rebuilds").unwrap(),
        c.counter("l2_index_repairs").unwrap(),
    );
    c.close().unwrap();
    counts
}

fn filled(round: u32) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let c = Cache::open(&opts(dir.path())).unwrap();
    fill(&c, round);
    c.close().unwrap();
    dir
}

#[test]
fn a_clean_close_leaves_an_index_that_the_next_open_trusts() {
    let dir = filled(0);
    assert!(dir.path().join(SLOTS).exists() && dir.path().join(META).exists());
    assert_eq!(verify(dir.path(), 0), (0, 0));
    // And again after more writes (a tail past the watermark, then a close).
    {
        let c = Cache::open(&opts(dir.path())).unwrap();
        fill(&c, 1);
        c.close().unwrap();
    }
    assert_eq!(verify(dir.path(), 1), (0, 0));
}

#[test]
fn an_older_index_is_trusted_up_to_its_watermark_and_the_tail_replayed() {
    let dir = filled(0);
    let old_meta = fs::read(dir.path().join(META)).unwrap();
    let old_slots = fs::read(dir.path().join(SLOTS)).unwrap();
    {
        // Writes within the active segment only: the old index stays valid
        // for every record up to its watermark.
        let c = Cache::open(&opts(dir.path())).unwrap();
        c.put(&key(1), b"newer", 0).unwrap();
        c.remove(&key(2)).unwrap();
        c.simulate_crash();
    }
    fs::write(dir.path().join(META), &old_meta).unwrap();
    fs::write(dir.path().join(SLOTS), &old_slots).unwrap();
    let c = Cache::open(&opts(dir.path())).unwrap();
    assert_eq!(c.counter("l2_index_rebuilds").unwrap(), 0, "the old index is trusted");
    // The crash lost the buffer (never written), so the old values hold.
    assert_eq!(get(&c, &key(1)).ok(), want(1, 0));
    c.put(&key(1), b"newer", 0).unwrap();
    c.remove(&key(2)).unwrap();
    c.flush().unwrap();
    c.simulate_crash();
    fs::write(dir.path().join(META), &old_meta).unwrap();
    fs::write(dir.path().join(SLOTS), &old_slots).unwrap();
    let c = Cache::open(&opts(dir.path())).unwrap();
    assert_eq!(c.counter("l2_index_rebuilds").unwrap(), 0);
    assert_eq!(get(&c, &key(1)).unwrap(), b"newer", "the tail was replayed");
    assert_eq!(
        get(&c, &key(2)),
        Err(Status::TC_NOT_FOUND),
        "the tail's remove was replayed"
    );
    assert_eq!(get(&c, &key(3)).ok(), want(3, 0));
    c.check_invariants().unwrap();
}

/// Each way of spoiling the index files: the open refuses them, counts one
/// rebuild, answers every key right, and writes a sound index again.
fn spoiled(spoil: impl Fn(&Path)) {
    let dir = filled(0);
    spoil(dir.path());
    assert_eq!(verify(dir.path(), 0).0, 1, "counted as one rebuild");
    assert_eq!(verify(dir.path(), 0), (0, 0), "the rebuilt index is trusted next time");
}

#[test]
fn a_truncated_slots_file_is_rebuilt() {
    spoiled(|d| {
        let f = fs::OpenOptions::new().write(true).open(d.join(SLOTS)).unwrap();
        let len = f.metadata().unwrap().len();
        f.set_len(len - 32).unwrap();
    });
}

#[test]
fn a_truncated_meta_file_is_rebuilt() {
    spoiled(|d| {
        let b = fs::read(d.join(META)).unwrap();
        fs::write(d.join(META), &b[..b.len() - 1]).unwrap();
    });
}

#[test]
fn a_missing_meta_file_is_rebuilt() {
    spoiled(|d| fs::remove_file(d.join(META)).unwrap());
}

/// CRC32C (Castagnoli), the checksum of an index slot since version 2,
/// a bit at a time: written apart from the library's, so that a slot this
/// test seals is sealed as docs/FORMAT.md says, not as the library does.
fn crc32c(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0x82F6_3B78 } else { c >> 1 };
        }
    }
    !c
}

/// Rewrites the CRC32 trailer of a meta file after an edit.
fn reseal(b: &mut [u8]) {
    let n = b.len() - 4;
    let crc = crc32fast::hash(&b[..n]);
    b[n..].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn an_index_of_another_version_is_rebuilt() {
    spoiled(|d| {
        let mut b = fs::read(d.join(META)).unwrap();
        b[4] = 3;
        reseal(&mut b);
        fs::write(d.join(META), &b).unwrap();
    });
    spoiled(|d| {
        // The slots file's version, with its header CRC made good again.
        let mut b = fs::read(d.join(SLOTS)).unwrap();
        b[4] = 3;
        let crc = crc32fast::hash(&b[0..24]);
        b[24..28].copy_from_slice(&crc.to_le_bytes());
        fs::write(d.join(SLOTS), &b).unwrap();
    });
}

/// Rewrites the index files at `dir` as version 1 wrote them: version 1 in
/// both headers, and every slot sealed with CRC32 (IEEE) instead of CRC32C.
fn as_version_1(dir: &Path) {
    let mut m = fs::read(dir.join(META)).unwrap();
    m[4] = 1;
    reseal(&mut m);
    fs::write(dir.join(META), &m).unwrap();
    let mut b = fs::read(dir.join(SLOTS)).unwrap();
    b[4] = 1;
    let crc = crc32fast::hash(&b[0..24]);
    b[24..28].copy_from_slice(&crc.to_le_bytes());
    for s in b[4096..].chunks_exact_mut(32) {
        if s.iter().any(|x| *x != 0) {
            let crc = crc32fast::hash(&s[0..28]);
            s[28..32].copy_from_slice(&crc.to_le_bytes());
        }
    }
    fs::write(dir.join(SLOTS), &b).unwrap();
}

#[test]
fn an_index_is_of_version_2_and_its_slots_sealed_with_crc32c() {
    let dir = filled(0);
    let m = fs::read(dir.path().join(META)).unwrap();
    let b = fs::read(dir.path().join(SLOTS)).unwrap();
    assert_eq!((&m[0..6], &b[0..6]), (&b"TCXM\x02\x00"[..], &b"TCXS\x02\x00"[..]));
    let mut full = 0;
    for s in b[4096..].chunks_exact(32).filter(|s| s.iter().any(|x| *x != 0)) {
        assert_eq!(u32::from_le_bytes(s[28..32].try_into().unwrap()), crc32c(&s[0..28]));
        full += 1;
    }
    assert!(full > 0);
}

#[test]
fn an_index_of_version_1_is_rebuilt_never_read() {
    // What the library wrote before slots were sealed with CRC32C: the
    // open refuses it by its headers, counts one rebuild, and no lookup
    // ever reads a slot of it (that would be a repair each: a version 1
    // slot fails version 2's checksum).
    let dir = filled(0);
    as_version_1(dir.path());
    assert_eq!(verify(dir.path(), 0), (1, 0), "(rebuilds, repairs)");
    assert_eq!(verify(dir.path(), 0), (0, 0), "the rebuilt index is trusted next time");
}

#[test]
fn an_index_of_another_directory_is_rebuilt() {
    let other = tempfile::tempdir().unwrap();
    {
        let c = Cache::open(&opts(other.path())).unwrap();
        for i in 0..N {
            c.put(&key(i), b"another directory's value", 0).unwrap();
        }
        c.close().unwrap();
    }
    spoiled(|d| {
        for f in [SLOTS, META] {
            fs::copy(other.path().join(f), d.join(f)).unwrap();
        }
    });
}

#[test]
fn a_flipped_byte_in_the_meta_file_is_rebuilt() {
    let len = fs::read(filled(0).path().join(META)).unwrap().len();
    for at in [0, 9, 25, 33, 41, 50, 60, 70, 75, 90, len - 5, len - 1] {
        spoiled(|d| {
            let mut b = fs::read(d.join(META)).unwrap();
            b[at] ^= 0x20;
            fs::write(d.join(META), &b).unwrap();
        });
    }
}

/// The slot of `key` in the slots file at `dir`: its byte offset.
fn slot_of(dir: &Path, key: &[u8]) -> usize {
    let b = fs::read(dir.join(SLOTS)).unwrap();
    let cap = u64::from_le_bytes(b[8..16].try_into().unwrap());
    let h = tiercache::log::key_hash(key);
    let mut i = h & (cap - 1);
    loop {
        let at = 4096 + 32 * i as usize;
        if u64::from_le_bytes(b[at..at + 8].try_into().unwrap()) == h {
            return at;
        }
        assert!(b[at..at + 32].iter().any(|x| *x != 0), "no slot for the key");
        i = (i + 1) & (cap - 1);
    }
}

#[test]
fn a_flipped_byte_in_a_slot_is_a_repair_never_a_wrong_value() {
    let dir = filled(0);
    let at = slot_of(dir.path(), &key(5));
    let mut b = fs::read(dir.path().join(SLOTS)).unwrap();
    b[at + 9] ^= 0x01; // the location's low byte
    fs::write(dir.path().join(SLOTS), &b).unwrap();
    // Opening reads no slot, so it trusts the file; the first read of the
    // bad slot finds it out, and the index is rebuilt before it answers.
    let (rebuilds, repairs) = verify(dir.path(), 0);
    assert_eq!(rebuilds, 1);
    assert_eq!(repairs, 0, "a bad CRC is caught before the record is read");
    assert_eq!(verify(dir.path(), 0), (0, 0));
}

#[test]
fn a_slot_naming_another_sequence_number_is_a_miss_and_a_counted_repair() {
    // What an index written under TC_SYNC_NEVER may claim after a machine
    // crash: a location whose record is not the one the slot names. Made
    // here by editing a slot and sealing it with a good CRC.
    let dir = filled(0);
    let at = slot_of(dir.path(), &key(6));
    let mut b = fs::read(dir.path().join(SLOTS)).unwrap();
    let seq = u64::from_le_bytes(b[at + 16..at + 24].try_into().unwrap());
    b[at + 16..at + 24].copy_from_slice(&(seq + 1).to_le_bytes());
    let crc = crc32c(&b[at..at + 28]);
    b[at + 28..at + 32].copy_from_slice(&crc.to_le_bytes());
    fs::write(dir.path().join(SLOTS), &b).unwrap();
    let c = Cache::open(&opts(dir.path())).unwrap();
    assert_eq!(c.counter("l2_index_rebuilds").unwrap(), 0);
    // The read notices, rebuilds, and asks again: the right value.
    assert_eq!(get(&c, &key(6)).ok(), want(6, 0));
    assert_eq!(c.counter("l2_index_repairs").unwrap(), 1);
    assert_eq!(c.counter("l2_index_rebuilds").unwrap(), 1);
    c.check_invariants().unwrap();
    c.close().unwrap();
    assert_eq!(verify(dir.path(), 0), (0, 0));
}

#[test]
fn an_index_that_claims_records_the_log_lost_is_rebuilt() {
    // The log as it was at one moment, and an index written after more
    // records: as a machine crash under TC_SYNC_NEVER could leave them.
    let dir = filled(0);
    let saved: Vec<(std::path::PathBuf, Vec<u8>)> = fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "tcl"))
        .map(|p| {
            let b = fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    {
        let c = Cache::open(&opts(dir.path())).unwrap();
        for i in 0..20 {
            c.put(&key(i), b"lost with the log's tail", 0).unwrap();
        }
        c.close().unwrap();
    }
    for e in fs::read_dir(dir.path()).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "tcl" || x == "hint") && !saved.iter().any(|(s, _)| *s == p) {
            fs::remove_file(p).unwrap();
        }
    }
    for (p, b) in &saved {
        fs::write(p, b).unwrap();
    }
    let c = Cache::open(&opts(dir.path())).unwrap();
    assert_eq!(c.counter("l2_index_rebuilds").unwrap(), 1);
    for i in 0..20 {
        assert_eq!(get(&c, &key(i)).ok(), want(i, 0), "key {i}");
    }
}

#[test]
fn compaction_and_clear_keep_the_index_trusted() {
    let dir = filled(0);
    {
        let c = Cache::open(&opts(dir.path())).unwrap();
        fill(&c, 0);
        c.compact().unwrap();
        c.check_invariants().unwrap();
        c.close().unwrap();
    }
    assert_eq!(verify(dir.path(), 0), (0, 0));
    {
        let c = Cache::open(&opts(dir.path())).unwrap();
        c.clear(false).unwrap();
        fill(&c, 2);
        c.close().unwrap();
    }
    assert_eq!(verify(dir.path(), 2), (0, 0));
}

#[test]
fn the_table_grows_as_entries_are_added_and_stays_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let capacity = |d: &Path| {
        let b = fs::read(d.join(SLOTS)).unwrap();
        u64::from_le_bytes(b[8..16].try_into().unwrap())
    };
    let n = 20_000u32;
    {
        let c = Cache::open(&opts(dir.path())).unwrap();
        for i in 0..n {
            c.put(&key(i), format!("grown {i}").as_bytes(), 0).unwrap();
            if i == 1000 {
                c.flush().unwrap();
            }
        }
        c.check_invariants().unwrap();
        // While the cache is open the maintenance thread grows the table,
        // on its own time: the unit test
        // `log::tests::a_table_grown_while_puts_go_on_is_installed_and_trusted`
        // drives that growth itself. A close grows it whatever happened.
        c.close().unwrap();
    }
    let cap = capacity(dir.path());
    assert!(
        u64::from(n) * 4 <= cap * 3,
        "{n} entries in a table of {cap} slots: fuller than three quarters"
    );
    let c = Cache::open(&opts(dir.path())).unwrap();
    assert_eq!(c.counter("l2_index_rebuilds").unwrap(), 0);
    for i in (0..n).step_by(37) {
        assert_eq!(get(&c, &key(i)).unwrap(), format!("grown {i}").into_bytes());
    }
    c.check_invariants().unwrap();
}

#[test]
fn a_read_only_open_trusts_a_sound_index_and_rebuilds_a_bad_one_in_memory_only() {
    let dir = filled(0);
    let read_only = |d: &Path| {
        let mut o = opts(d);
        o.read_only = true;
        let c = Cache::open(&o).unwrap();
        for i in 0..N {
            assert_eq!(get(&c, &key(i)).ok(), want(i, 0), "key {i}");
        }
        c.counter("l2_index_rebuilds").unwrap()
    };
    let before = common::dir_files(dir.path());
    assert_eq!(read_only(dir.path()), 0);
    let mut b = fs::read(dir.path().join(META)).unwrap();
    b[30] ^= 1;
    fs::write(dir.path().join(META), &b).unwrap();
    let spoiled = common::dir_files(dir.path());
    assert_ne!(before, spoiled);
    assert_eq!(read_only(dir.path()), 1);
    assert_eq!(
        common::dir_files(dir.path()),
        spoiled,
        "a read-only open changed the directory"
    );
}

/// The names of the segment files in `dir`, oldest first.
fn segment_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tcl"))
        .collect();
    names.sort();
    names
}

/// A copy of `from` without its `gone` oldest segments (and their hints),
/// and without the meta file if `rebuild`.
fn without_oldest(from: &Path, gone: usize, rebuild: bool) -> tempfile::TempDir {
    let segments = segment_names(from);
    let skip: Vec<&str> = segments[..gone].iter().map(|n| n.trim_end_matches(".tcl")).collect();
    let to = tempfile::tempdir().unwrap();
    for e in fs::read_dir(from).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let stem = name.split('.').next().unwrap_or_default();
        if skip.contains(&stem) || name == "LOCK" || (rebuild && name == META) {
            continue;
        }
        fs::copy(e.path(), to.path().join(&name)).unwrap();
    }
    to
}

/// The oldest segments gone while the meta file still lists them, as a
/// kill while retiring leaves them (docs/FORMAT.md "When an index is
/// trusted"): the open trusts the index, drops the entries in them, and
/// answers exactly what a rebuild from the segments that are left answers:
/// each key its newest value or nothing, never an older one. A segment
/// gone from among the others is not explained, and the open rebuilds.
#[test]
fn the_oldest_segments_gone_are_retired_at_open_as_a_rebuild_would() {
    // Every third key written again: its older values lie in the oldest
    // segments, beside the only values of other keys.
    let again = |i: u32| format!("value {i} again").into_bytes();
    let newest = |i: u32| {
        if i.is_multiple_of(3) {
            Some(again(i))
        } else {
            want(i, 0)
        }
    };
    let dir = filled(0);
    {
        let c = Cache::open(&opts(dir.path())).unwrap();
        for i in (0..N).step_by(3) {
            c.put(&key(i), &again(i), 0).unwrap();
        }
        c.close().unwrap();
    }
    let segments = segment_names(dir.path()).len();
    assert!(segments >= 4, "{segments} segments");
    for gone in [1, segments / 2, segments - 1] {
        let trusted = without_oldest(dir.path(), gone, false);
        let report = tiercache::log::verify::verify(trusted.path(), None, |_, _| {})
            .unwrap()
            .index;
        assert!(report.untrusted.is_none() && report.bad_slots.is_empty(), "{report:?}");
        let rebuilt = without_oldest(dir.path(), gone, true);
        let t = Cache::open(&opts(trusted.path())).unwrap();
        let r = Cache::open(&opts(rebuilt.path())).unwrap();
        assert_eq!(t.counter("l2_index_rebuilds").unwrap(), 0, "{gone} gone: trusted");
        assert_eq!(r.counter("l2_index_rebuilds").unwrap(), 1, "{gone} gone: rebuilt");
        assert_eq!(t.stats().l2_evictions, report.retired, "{gone} gone");
        let mut kept = 0;
        for i in 0..N {
            let found = get(&t, &key(i)).ok();
            assert_eq!(found, get(&r, &key(i)).ok(), "{gone} gone: key {i}");
            assert!(found.is_none() || found == newest(i), "{gone} gone: key {i}");
            kept += u32::from(found.is_some());
        }
        let live = (0..N).filter(|i| newest(*i).is_some()).count() as u32;
        assert!(kept > 0 && kept < live, "{gone} gone: {kept} of {live} keys kept");
        assert_eq!(t.stats().l2_entries, r.stats().l2_entries);
        t.check_invariants().unwrap();
        r.check_invariants().unwrap();
    }
    // A hole: the second segment gone, the first still there.
    let hole = without_oldest(dir.path(), 0, false);
    fs::remove_file(hole.path().join(&segment_names(hole.path())[1])).unwrap();
    let c = Cache::open(&opts(hole.path())).unwrap();
    assert_eq!(c.counter("l2_index_rebuilds").unwrap(), 1, "a hole: rebuilt");
}
