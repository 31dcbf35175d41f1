//! Writes seed corpora made by the real library:
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example seed_corpus [OUT_DIR]
//! ```
//!
//! OUT_DIR defaults to `fuzz/corpus`; it gets `record_decode/`, `open_dir/`
//! and `hint_decode/` with one file per seed.

use std::fs;
use std::path::{Path, PathBuf};

use tiercache::log::view;
use tiercache::record::{self, Kind, RecordRef};
use tiercache::{Cache, Compression, Options};
use tiercache_fuzz::{flag, sample_dir, Layout, Mode};

/// Records get growing sequence numbers, as the library's writer gives them.
static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn rec(kind: Kind, key: &[u8], value: &[u8], expires_at: u64) -> Vec<u8> {
    let mut out = Vec::new();
    record::encode(
        &mut out,
        &RecordRef {
            kind,
            key,
            value,
            expires_at,
            written_at: 1_700_000_000_000,
            seq: SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            meta: &[],
            codec: 0,
            sealed: &[],
        },
    );
    out
}

/// A put whose value is packed by `c` (or, if `bomb`, claims more than the
/// fuzz target's limit), sealed with the fuzz target's key at its location
/// if `sealed`.
fn at_rest(c: Compression, value: &[u8], sealed: bool) -> Vec<u8> {
    let packed = tiercache::seal::pack(c, value).expect("the value shrinks");
    let r = RecordRef {
        kind: Kind::Put,
        key: b"key",
        value: &packed,
        expires_at: 0,
        written_at: 1_700_000_000_000,
        seq: SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        meta: &[],
        codec: c.id(),
        sealed: &[],
    };
    let mut out = Vec::new();
    if sealed {
        let mut buf = Vec::new();
        let keys = tiercache_fuzz::fuzz_sealer().keys.as_ref().unwrap();
        record::encode(&mut out, &view::seal(&r, tiercache_fuzz::fuzz_loc(), keys, &mut buf));
    } else {
        record::encode(&mut out, &r);
    }
    out
}

fn save(dir: &Path, name: &str, bytes: &[u8]) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(name), bytes).unwrap();
}

/// A directory written through the public API with small segments, in
/// `mode`, as laid out on disk.
fn written(segment_bytes: u64, puts: usize, value_len: usize, with_clear: bool, mode: Mode) -> Layout {
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = Options::with_dir(tmp.path());
    opts.set_segment_bytes(segment_bytes).unwrap();
    mode.prepare(tmp.path());
    mode.apply(&mut opts);
    let cache = Cache::open(&opts).unwrap();
    for i in 0..puts {
        let key = format!("key{}", i % 9);
        if i % 5 == 4 {
            let _ = cache.remove(key.as_bytes());
        } else {
            let ttl = if i % 6 == 1 { 365 * 24 * 3600 * 1000 } else { 0 };
            cache
                .put(key.as_bytes(), &vec![b'a' + (i % 26) as u8; value_len + i % 3], ttl)
                .unwrap();
        }
        if with_clear && i == puts / 2 {
            cache.clear(false).unwrap();
        }
    }
    cache.close().unwrap();
    Layout::read(tmp.path(), mode)
}

/// A directory of `puts` distinct keys (every fifth removed again, so no
/// segment is mostly dead and none is compacted away), in `mode`.
fn written_distinct(puts: usize, value_len: usize, mode: Mode) -> Layout {
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = Options::with_dir(tmp.path());
    opts.set_segment_bytes(4096).unwrap();
    mode.prepare(tmp.path());
    mode.apply(&mut opts);
    let cache = Cache::open(&opts).unwrap();
    for i in 0..puts {
        let key = format!("key{i}");
        cache
            .put(key.as_bytes(), &vec![b'a' + (i % 26) as u8; value_len], 0)
            .unwrap();
        if i % 5 == 4 {
            let _ = cache.remove(format!("key{}", i - 2).as_bytes());
        }
    }
    cache.close().unwrap();
    Layout::read(tmp.path(), mode)
}

fn main() {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/corpus").into()),
    );

    // record_decode: single frames of every kind, and bare payloads.
    let rd = out.join("record_decode");
    let frames = [
        rec(Kind::Put, b"key", b"value", 0),
        rec(Kind::Put, b"k", b"", 1_800_000_000_000),
        rec(Kind::Put, &[0u8; 40], &[7u8; 300], 0),
        rec(Kind::Tombstone, b"key", b"", 0),
        rec(Kind::Clear, b"", b"", 0),
    ];
    for (i, f) in frames.iter().enumerate() {
        save(&rd, &format!("frame-{i}"), f);
        save(&rd, &format!("payload-{i}"), record::payload(f));
    }
    // An unknown field with nesting, between known ones.
    save(
        &rd,
        "payload-unknown-field",
        &[
            0xa5, 0x00, 0x01, 0x01, 0x41, b'k', 0x09, 0x82, 0x01, 0xa1, 0x61, b'a', 0x20, 0x02, 0x41, b'v', 0x04, 0x00,
        ],
    );

    // Values at rest: packed by each codec, sealed, and a bomb (a frame that
    // unpacks to more than the target's limit).
    let text = b"a line of text that repeats; ".repeat(40);
    for (name, f) in [
        ("lz4", at_rest(Compression::TC_COMPRESSION_LZ4, &text, false)),
        ("zstd", at_rest(Compression::TC_COMPRESSION_ZSTD, &text, false)),
        ("sealed", at_rest(Compression::TC_COMPRESSION_LZ4, &text, true)),
        ("zstd-sealed", at_rest(Compression::TC_COMPRESSION_ZSTD, &text, true)),
        (
            "zstd-bomb",
            at_rest(Compression::TC_COMPRESSION_ZSTD, &vec![0u8; 4 << 20], false),
        ),
    ] {
        save(&rd, &format!("frame-{name}"), &f);
    }

    // open_dir: directories written by the library, as fuzz inputs.
    let od = out.join("open_dir");
    let mut n = 0;
    for (layout, what) in [
        (written(4096, 30, 20, false, Mode::Plain), "one-segment"),
        (written(4096, 200, 40, false, Mode::Plain), "sealed-segments-with-hints"),
        (written(4096, 120, 40, true, Mode::Plain), "after-clear"),
        (written(4096, 60, 200, false, Mode::Plain), "bigger-values"),
    ] {
        // Keep at most 4 segments: the last ones.
        let mut l = layout.clone();
        if l.segments.len() > 4 {
            l.segments.drain(..l.segments.len() - 4);
        }
        let first = l.segments[0].0;
        // Renumber from 1 (ids are implicit in the input); headers carry the id.
        for (i, (id, seg)) in l.segments.iter_mut().enumerate() {
            *id = i as u32 + 1;
            seg[8..16].copy_from_slice(&u64::from(*id).to_le_bytes());
        }
        let hint = layout.hints.iter().find(|(id, _)| *id == first).map(|(_, h)| h.clone());
        let mut plain = l.clone();
        plain.hints.clear();
        save(&od, &format!("{n:02}-{what}"), &plain.to_fuzz(0));
        n += 1;
        if let Some(mut h) = hint {
            // The hint of (renumbered) segment 1: fix its id and CRC.
            h[8..16].copy_from_slice(&1u64.to_le_bytes());
            let body = h.len() - 4;
            let crc = crc32fast::hash(&h[..body]);
            h[body..].copy_from_slice(&crc.to_le_bytes());
            let mut hinted = plain.clone();
            hinted.hints.push((1, h));
            save(&od, &format!("{n:02}-{what}-hint"), &hinted.to_fuzz(0));
            n += 1;
        }
        // The same records without their headers, for the HEADER and FIX_CRC flags.
        let mut bare = plain.to_fuzz(0);
        bare[0] |= flag::HEADER | flag::FIX_CRC;
        let stripped: Vec<u8> = {
            let mut v = bare[..2].to_vec();
            for (i, (_, seg)) in plain.segments.iter().enumerate() {
                if i > 0 {
                    v.extend_from_slice(tiercache_fuzz::SEP);
                }
                v.extend_from_slice(&seg[16..]);
            }
            v
        };
        save(&od, &format!("{n:02}-{what}-headerless"), &stripped);
        n += 1;
    }
    // A torn tail and a flipped byte in the active segment.
    let base = written(4096, 20, 20, false, Mode::Plain);
    let mut torn = base.segments[0].1.clone();
    torn.truncate(torn.len() - 5);
    save(
        &od,
        &format!("{n:02}-torn-tail"),
        &Layout {
            segments: vec![(1, torn)],
            hints: vec![],
            mode: Mode::Plain,
        }
        .to_fuzz(0),
    );
    n += 1;
    let mut flipped = base.segments[0].1.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    save(
        &od,
        &format!("{n:02}-flipped-byte"),
        &Layout {
            segments: vec![(1, flipped)],
            hints: vec![],
            mode: Mode::Plain,
        }
        .to_fuzz(0),
    );

    n += 1;
    // Directories written with compression and encryption (ids from 1, as
    // written: a sealed record is bound to its segment id and offset).
    for mode in [Mode::Lz4, Mode::Sealed, Mode::ZstdSealed] {
        for (layout, what) in [
            (written(4096, 30, 40, false, mode), "one-segment"),
            (written_distinct(60, 60, mode), "segments-with-hint"),
        ] {
            let mut l = layout.clone();
            let ids: Vec<u32> = l.segments.iter().map(|s| s.0).collect();
            assert!(
                ids.len() <= 4 && ids[0] == 1,
                "{what}: segments {ids:?} (renumbering would break seals)"
            );
            l.hints.retain(|(id, _)| *id == 1);
            save(&od, &format!("{n:02}-at-rest-{mode:?}-{what}"), &l.to_fuzz(0));
            n += 1;
        }
    }

    // hint_decode: the real hint of the sample directory's first segment,
    // whole (flag 0) and as entries for the fixing mode (flag 1), in every
    // mode (bits 1-2).
    let hd = out.join("hint_decode");
    for mode in Mode::ALL {
        let sample = sample_dir(mode);
        let (id, _) = sample.segments[0];
        let hint = &sample
            .hints
            .iter()
            .find(|(h, _)| *h == id)
            .expect("sample has a hint")
            .1;
        let m = mode.bits() << 1;
        let mut whole = vec![m];
        whole.extend_from_slice(hint);
        save(&hd, &format!("whole-{mode:?}"), &whole);
        let mut entries = vec![m | 1];
        entries.extend_from_slice(&hint[32..hint.len() - 4]);
        save(&hd, &format!("entries-{mode:?}"), &entries);
        save(
            &hd,
            &format!("entries-first-3-{mode:?}"),
            &entries[..1 + 3 * tiercache_fuzz::HINT_ENTRY],
        );
    }

    // frame_decode: remote frames of every framing (byte 0), a value with a
    // tag and its epoch (format version 4), the same without epochs (3),
    // and a tombstone; and invalidation messages.
    let fd = out.join("frame_decode");
    let mut meta = tiercache::meta::Meta::default();
    meta.add_tag(b"tag").unwrap();
    let value = tiercache::remote::frame::Frame {
        generation: 2,
        version: 1 << 40,
        writer: 7,
        expires_at: 0,
        written_at: 1_700_000_000_000,
        value: Some(b"a value that repeats, a value that repeats, a value that repeats".to_vec()),
        meta,
        epochs: vec![0x0123_4567_89ab_cdef],
    };
    let unvouched = tiercache::remote::frame::Frame {
        epochs: Vec::new(),
        ..value.clone()
    };
    let tomb = tiercache::remote::frame::Frame {
        value: None,
        meta: Default::default(),
        epochs: Vec::new(),
        ..value.clone()
    };
    for mode in 0..8u8 {
        let s = tiercache_fuzz::frame_sealer(mode);
        for (what, f) in [("value", &value), ("unvouched", &unvouched), ("tombstone", &tomb)] {
            let mut raw = vec![mode];
            raw.extend_from_slice(&s.encode(tiercache_fuzz::FRAME_NAME, tiercache_fuzz::FRAME_KEY, f));
            save(&fd, &format!("frame-{mode}-{what}"), &raw);
        }
        let m = tiercache::remote::Message::Prefix(b"pre".to_vec());
        let mut raw = vec![mode];
        raw.extend_from_slice(&s.message(7, b"tc:66757a7a2d6e73:inv", &m));
        save(&fd, &format!("message-{mode}"), &raw);
    }
    println!("seeds written under {}", out.display());
}
