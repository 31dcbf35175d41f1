//! Replays every input under `fuzz/regressions/<target>/` through the same
//! code the fuzz targets run, and the seed-like smoke inputs below; runs on
//! stable Rust: `cargo test --manifest-path fuzz/Cargo.toml`.

use std::fs;
use std::panic;
use std::path::Path;

const TARGETS: [&str; 7] = [
    "record_decode",
    "open_dir",
    "hint_decode",
    "index_decode",
    "frame_decode",
    "undo_decode",
    "gone_segments",
];

#[test]
fn regressions_replay() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let mut failed = Vec::new();
    let mut ran = 0;
    for target in TARGETS {
        let Ok(rd) = fs::read_dir(root.join(target)) else {
            continue;
        };
        let mut files: Vec<_> = rd.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
        files.sort();
        for path in files {
            if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.') || n == "README.md")
            {
                continue;
            }
            let data = fs::read(&path).unwrap();
            ran += 1;
            if panic::catch_unwind(|| tiercache_fuzz::run(target, &data)).is_err() {
                failed.push(path.display().to_string());
            }
        }
    }
    eprintln!("replayed {ran} regression inputs");
    assert!(
        failed.is_empty(),
        "{} regression inputs fail:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[test]
fn smoke_inputs() {
    tiercache_fuzz::record_decode(b"");
    tiercache_fuzz::record_decode(&[0xff; 64]);
    tiercache_fuzz::open_dir(b"");
    tiercache_fuzz::open_dir(&[0x0b, 0, 1, 2, 3]);
    tiercache_fuzz::hint_decode(&[1]);
    tiercache_fuzz::hint_decode(&[0]);
    tiercache_fuzz::index_decode(&[0]);
    tiercache_fuzz::index_decode(&[1]);
    tiercache_fuzz::index_decode(&[2, 10, 0, 1]);
    tiercache_fuzz::index_decode(&[3, 0x10, 0x10, 0x40]);
    tiercache_fuzz::index_decode(&[0x1c]);
    // The undo journal: entries that fail their checks, a bad header, one
    // naming another meta file, one being written, and forged entries.
    tiercache_fuzz::undo_decode(&[0, 1, 2, 3, 4, 5]);
    tiercache_fuzz::undo_decode(&[2; 60]);
    tiercache_fuzz::undo_decode(&[4; 60]);
    tiercache_fuzz::undo_decode(&[8; 60]);
    tiercache_fuzz::undo_decode(&[1; 200]);
    tiercache_fuzz::undo_decode(&[1, 7, 0, 0, 0, 0, 0, 0, 0, 0xab]);
}

/// The committed inputs of directories and frames written at rest reach past
/// authentication: their records and frames open with the targets' keys.
#[test]
fn at_rest_inputs_are_read() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let mut seen = 0;
    for e in fs::read_dir(root.join("open_dir")).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("at-rest-") {
            let data = fs::read(e.path()).unwrap();
            assert!(tiercache_fuzz::open_dir_keys(&data) > 5, "{name}: no readable record");
            seen += 1;
        }
    }
    for e in fs::read_dir(root.join("frame_decode")).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("frame-") {
            let data = fs::read(e.path()).unwrap();
            let s = tiercache_fuzz::frame_sealer(data[0]);
            assert!(
                s.open(tiercache_fuzz::FRAME_NAME, &data[1..]).is_ok(),
                "{name} does not open"
            );
            seen += 1;
        }
    }
    assert!(seen >= 6, "{seen} at-rest inputs");
}

/// A record as the library's writer encodes it, numbered `seq`.
fn rec(key: &[u8], value: &[u8], seq: u64) -> Vec<u8> {
    let mut out = Vec::new();
    tiercache::record::encode(
        &mut out,
        &tiercache::record::RecordRef {
            kind: tiercache::record::Kind::Put,
            key,
            value,
            expires_at: 0,
            written_at: 1_700_000_000_000,
            seq,
            meta: &[],
            codec: 0,
            sealed: &[],
        },
    );
    out
}

/// A plain directory of these segments (ids 1, 2, ...), each a header and
/// the given bytes.
fn layout(segments: &[Vec<u8>]) -> tiercache_fuzz::Layout {
    tiercache_fuzz::Layout {
        segments: segments
            .iter()
            .enumerate()
            .map(|(i, body)| {
                let id = i as u32 + 1;
                let mut seg = tiercache_fuzz::segment_header(id, 2).to_vec();
                seg.extend_from_slice(body);
                (id, seg)
            })
            .collect(),
        hints: Vec::new(),
        mode: tiercache_fuzz::Mode::Plain,
    }
}

/// Unreadable bytes between records hide every record before them unless
/// the numbers on either side are consecutive (docs/CONSISTENCY.md, section
/// 8). `check_dir` holds the library to the model of recovery, which says
/// so independently; each layout is also opened here and its answers
/// checked by hand, so the two cannot agree on a wrong answer.
#[test]
fn unreadable_bytes_hide_what_is_before_them_in_the_library_and_the_model() {
    let flipped = |mut r: Vec<u8>| {
        let at = r.len() - 3;
        r[at] ^= 0x01;
        r
    };
    let new = rec(b"k", b"new value", 3);
    let mut past_end = new.clone();
    past_end[0] = past_end[0].wrapping_add(9); // the length runs past the file
    let cut_short = new[..new.len() - 3].to_vec();
    let cases: Vec<(&str, Vec<Vec<u8>>, [Option<&[u8]>; 3])> = vec![
        (
            "the newest record of k damaged, between records",
            vec![[
                rec(b"k", b"old", 1),
                rec(b"before", b"b", 2),
                flipped(new.clone()),
                rec(b"later", b"l", 4),
            ]
            .concat()],
            [None, None, Some(b"l")],
        ),
        (
            "the newest record of k damaged, at the end of the last segment",
            vec![[rec(b"k", b"old", 1), rec(b"before", b"b", 2), flipped(new.clone())].concat()],
            [None, None, None],
        ),
        (
            "the last record cut short: a torn write",
            vec![[rec(b"k", b"old", 1), rec(b"before", b"b", 2), cut_short].concat()],
            [Some(b"old"), Some(b"b"), None],
        ),
        (
            "the length of the whole last record damaged to run past the end: no torn write",
            vec![[rec(b"k", b"old", 1), rec(b"before", b"b", 2), past_end].concat()],
            [None, None, None],
        ),
        (
            "the newest record of k damaged, at the end of a sealed segment",
            vec![
                [rec(b"k", b"old", 1), rec(b"before", b"b", 2), flipped(new.clone())].concat(),
                rec(b"later", b"l", 4),
            ],
            [None, None, Some(b"l")],
        ),
        (
            "garbage between consecutive numbers hides nothing",
            vec![[
                rec(b"k", b"old", 1),
                rec(b"before", b"b", 2),
                vec![0xff; 5],
                rec(b"later", b"l", 3),
            ]
            .concat()],
            [Some(b"old"), Some(b"b"), Some(b"l")],
        ),
    ];
    for (what, segments, want) in cases {
        let l = layout(&segments);
        tiercache_fuzz::check_dir(&l);
        let dir = tempfile::tempdir().unwrap();
        l.write(dir.path());
        let c = tiercache::Cache::open(&tiercache::Options::with_dir(dir.path())).unwrap();
        for (key, want) in [&b"k"[..], b"before", b"later"].into_iter().zip(want) {
            let got = c.get(key).ok().map(|v| v.to_vec());
            assert_eq!(got.as_deref(), want, "{what}: {}", String::from_utf8_lossy(key));
        }
    }
}

/// `gone_segments` over every snapshot with each prefix of its segments
/// removed, and each single segment removed, with the index files kept,
/// without the meta file, and without any hint.
#[test]
fn gone_segments_prefixes_and_single_holes() {
    let snaps = tiercache_fuzz::gone_snapshots();
    let mut ran = 0;
    for (s, snap) in snaps.iter().enumerate() {
        let n = snap.segments.len().min(8);
        let masks = (0..=n).map(|r| ((1u16 << r) - 1) as u8).chain((0..n).map(|i| 1u8 << i));
        for mask in masks {
            for flags in [0u8, 1, 16, 8] {
                tiercache_fuzz::gone_segments(&[s as u8, mask, flags]);
                ran += 1;
            }
        }
    }
    eprintln!("ran {ran} inputs over {} snapshots", snaps.len());
}
