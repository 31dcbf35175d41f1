//! The logic of tiercache's fuzz targets, shared by the libFuzzer binaries in
//! `fuzz_targets/` and by the plain `#[test]` that replays `regressions/`
//! (so the regressions run on stable Rust, without cargo-fuzz).
//!
//! Each target takes arbitrary bytes and panics only when the library does
//! something wrong: panics, allocates from a corrupt length, or returns a
//! value that the input does not hold.
//!
//! - [`record_decode`]: one record frame / CBOR payload, and what a record
//!   holds at rest: a packed (compressed) value is unpacked within its
//!   claimed length and never past the limit, the bytes are read as a sealed
//!   record's inner map, and a decoded record is sealed and opened again.
//! - [`open_dir`]: the bytes become a cache directory (segment files and
//!   optionally a hint file, see [`Layout::from_fuzz`]); the directory is
//!   opened, read, verified, closed and opened again.
//! - [`hint_decode`]: the bytes become the hint file of a sealed segment of a
//!   directory written by the real library.
//! - [`index_decode`]: the bytes become, or patch, the index meta file or the
//!   index slots file of a directory written by the real library.
//! - [`frame_decode`]: the bytes are a remote tier frame (plain, signed or
//!   sealed) or invalidation message, read by each framing.
//!
//! `open_dir` and `hint_decode` read their directory in one of four [`Mode`]s
//! picked by a byte of the input: plain, LZ4, encrypted, Zstandard and
//! encrypted (the encrypted ones with a fixed key check file, so that
//! records sealed by the library for it open).

use std::alloc::{GlobalAlloc, Layout as AllocLayout, System};
use std::cell::Cell;
use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::Path;
use std::sync::OnceLock;

use tiercache::record::{self, Frame, Kind, RecordRef};
use tiercache::{Cache, Options, Status};

// ---------------------------------------------------------------------------
// An allocator that watches allocation sizes, to catch an allocation made from
// a corrupt length even without AddressSanitizer's malloc hooks.

struct Watch;

// Counted per thread, so tests running in parallel do not see each other's
// allocations. (Const-initialised thread-locals with no destructor never
// allocate, so the allocator may use them.) Allocations of threads that `f`
// starts itself, such as the cache's maintenance thread, are not counted.
thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Watch {
    unsafe fn alloc(&self, layout: AllocLayout) -> *mut u8 {
        note(layout.size());
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: AllocLayout) -> *mut u8 {
        note(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: AllocLayout, new_size: usize) -> *mut u8 {
        note(new_size);
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: AllocLayout) {
        System.dealloc(ptr, layout)
    }
}

fn note(size: usize) {
    if ARMED.with(Cell::get) {
        ALLOCS.with(|a| a.set(a.get() + 1));
        LARGEST.with(|l| l.set(l.get().max(size)));
    }
}

#[global_allocator]
static GLOBAL: Watch = Watch;

/// Runs `f` and returns (allocations made, largest single allocation) while it
/// ran, on this thread.
fn watch_allocs<R>(f: impl FnOnce() -> R) -> (R, usize, usize) {
    ALLOCS.with(|a| a.set(0));
    LARGEST.with(|l| l.set(0));
    ARMED.with(|a| a.set(true));
    let r = f();
    ARMED.with(|a| a.set(false));
    (r, ALLOCS.with(Cell::get), LARGEST.with(Cell::get))
}

// ---------------------------------------------------------------------------
// An independent reading of the record frame (docs in src/record.rs): what the
// oracle trusts, written without the library's `check_frame`.

const FRAME_HEADER: usize = 8;
const SEGMENT_HEADER: usize = 16;
/// Highest segment id the index can address (`Loc::MAX_SEGMENT`).
const MAX_SEGMENT_ID: u32 = (1 << 24) - 1;

fn crc_of_frame(len_bytes: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(len_bytes);
    h.update(payload);
    h.finalize()
}

/// Total length of a frame at the start of `b` whose length is sane and
/// whose CRC matches.
fn valid_frame_len(b: &[u8]) -> Option<usize> {
    if b.len() < FRAME_HEADER {
        return None;
    }
    let n = u32::from_le_bytes(b[0..4].try_into().unwrap()) as usize;
    if n == 0 || n > record::MAX_PAYLOAD || b.len() - FRAME_HEADER < n {
        return None;
    }
    let want = u32::from_le_bytes(b[4..8].try_into().unwrap());
    (crc_of_frame(&b[0..4], &b[FRAME_HEADER..FRAME_HEADER + n]) == want).then_some(FRAME_HEADER + n)
}

fn within(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    inner.is_empty() || (i >= o && i + inner.len() <= o + outer.len())
}

// ---------------------------------------------------------------------------
// Target 1: record_decode

/// `check_frame`, `payload`, `decode`, `frame_len` and `looks_like_frame` on
/// arbitrary bytes: no panic, answers consistent with an independent reading,
/// and no allocation at all while decoding (the decoder borrows).
pub fn record_decode(data: &[u8]) {
    let (frame, allocs, _) = watch_allocs(|| record::check_frame(data));
    assert_eq!(allocs, 0, "check_frame allocated");
    match frame {
        Frame::Valid { len } => {
            assert_eq!(
                Some(len),
                valid_frame_len(data),
                "check_frame: Valid but the CRC or length is wrong"
            );
            assert_eq!(record::frame_len(data), Some(len));
            let payload = record::payload(&data[..len]);
            assert!(std::ptr::eq(payload.as_ptr(), data[FRAME_HEADER..].as_ptr()));
            assert_eq!(payload.len(), len - FRAME_HEADER);
            check_decode(payload);
        }
        Frame::Truncated => {
            let short = data.len() < FRAME_HEADER || {
                let n = u32::from_le_bytes(data[0..4].try_into().unwrap()) as usize;
                n != 0 && n <= record::MAX_PAYLOAD && data.len() - FRAME_HEADER < n
            };
            assert!(short, "check_frame: Truncated but the whole frame is there");
        }
        Frame::Corrupt => assert_eq!(
            valid_frame_len(data),
            None,
            "check_frame: Corrupt but the frame is valid"
        ),
    }
    check_decode(data);
    if data.len() >= FRAME_HEADER {
        check_decode(&data[FRAME_HEADER..]);
    }
    let _ = record::looks_like_frame(data);
    check_inner(data);
    // The bytes as a packed value of each codec.
    for codec in [tiercache::seal::CODEC_LZ4, tiercache::seal::CODEC_ZSTD] {
        check_unpack(codec, data);
    }
}

/// The limit on unpacked values the checks below use: small, so that an
/// allocation past it is easy to see.
const FUZZ_MAX_VALUE: u64 = 1 << 20;

/// The subkeys the target seals with (fixed, so that seeds made with them
/// reach past authentication: see `examples/seed_corpus.rs`).
pub fn fuzz_sealer() -> &'static tiercache::seal::Sealer {
    static S: OnceLock<tiercache::seal::Sealer> = OnceLock::new();
    S.get_or_init(|| tiercache::seal::Sealer {
        keys: Some(tiercache::seal::Keys::derive(
            &tiercache::EncryptionKey::new(&[0x5a; 32]).unwrap(),
            b"fuzz",
        )),
        max_value_len: FUZZ_MAX_VALUE,
        ..tiercache::seal::Sealer::default()
    })
}

/// Where the target pretends every record it seals or opens lies.
pub fn fuzz_loc() -> tiercache::log::Loc {
    tiercache::log::Loc::new(3, 4096)
}

/// Unpacks `packed` as codec `codec`: no panic, no allocation past the
/// limit or past what the body could unpack to (the claimed length is
/// checked first), and a result of exactly the claimed length.
fn check_unpack(codec: u64, packed: &[u8]) {
    let (out, _, largest) = watch_allocs(|| tiercache::seal::unpack(codec, packed, FUZZ_MAX_VALUE));
    // The formats' own limits, restated here rather than taken from the
    // library: an LZ4 block yields at most 255 bytes per byte, a Zstandard
    // frame at most one 128 KiB block per 4 bytes (a block's header and an
    // RLE block's byte). The 128 KiB of slack is a decompression context.
    let body = packed.len().saturating_sub(4) as u64;
    let most = if codec == tiercache::seal::CODEC_LZ4 {
        255 * body + 255
    } else {
        (body / 4 + 1) * (128 << 10)
    };
    assert!(
        largest as u64 <= FUZZ_MAX_VALUE.min(most) + (1 << 17),
        "unpack allocated {largest} bytes for a {body}-byte body, with a limit of {FUZZ_MAX_VALUE}"
    );
    let claimed = tiercache::seal::packed_len(codec, packed, FUZZ_MAX_VALUE);
    if let Ok(v) = out {
        assert_eq!(Ok(v.len() as u64), claimed, "unpacked to another length than claimed");
    }
}

/// The bytes as the plaintext of a sealed record of each kind: decoding
/// borrows, never allocates, and what it gives re-encodes to itself.
fn check_inner(data: &[u8]) {
    for kind in [Kind::Put, Kind::Tombstone, Kind::Clear] {
        let (inner, allocs, _) = watch_allocs(|| record::decode_inner(kind, data));
        assert_eq!(allocs, 0, "decode_inner allocated");
        let Some(i) = inner else { continue };
        assert!(within(data, i.key) && within(data, i.value) && within(data, i.meta));
        let mut again = Vec::new();
        record::encode_inner(&mut again, kind, &i);
        assert_eq!(
            record::decode_inner(kind, &again),
            Some(i),
            "inner map does not round trip"
        );
    }
}

/// A decoded record through the seal: a plain one is sealed at `fuzz_loc`,
/// framed, decoded and opened back to what it was (and fails to open one
/// byte further on); a sealed one opens only if it authenticates, and then
/// seals again to the same contents.
fn check_sealing(r: &RecordRef<'_>) {
    use tiercache::log::view;
    let s = fuzz_sealer();
    let keys = s.keys.as_ref().unwrap();
    let loc = fuzz_loc();
    let plain = if r.sealed.is_empty() {
        *r
    } else {
        let Ok(v) = view::open(*r, loc, s) else { return };
        // Authentic: it was made with the fuzz key (a seed). Check it as plain.
        let (key, stored, meta) = (v.key.to_vec(), v.stored.to_vec(), v.meta.to_vec());
        let again = RecordRef {
            key: &key,
            value: &stored,
            meta: &meta,
            codec: v.codec,
            sealed: &[],
            ..*r
        };
        return check_sealing(&again);
    };
    let mut sealed = Vec::new();
    let outer = view::seal(&plain, loc, keys, &mut sealed);
    let mut buf = Vec::new();
    record::encode(&mut buf, &outer);
    let raw = record::decode(record::payload(&buf)).expect("a sealed record decodes");
    let v = view::open(raw, loc, s).expect("a sealed record opens where it was sealed");
    assert_eq!(v.kind, plain.kind);
    if plain.kind != Kind::Clear {
        assert_eq!(&*v.key, plain.key);
    }
    if plain.kind == Kind::Put {
        assert_eq!((&*v.stored, v.codec, &*v.meta), (plain.value, plain.codec, plain.meta));
        if plain.codec != 0 {
            let _ = v.value(s);
        }
    }
    let elsewhere = tiercache::log::Loc::new(3, 4097);
    assert!(
        view::open(raw, elsewhere, s).is_err(),
        "a sealed record opened at another place"
    );
}

/// Decodes `payload` watching allocations; checks what it returns.
fn check_decode(payload: &[u8]) {
    let (rec, allocs, largest) = watch_allocs(|| record::decode(payload));
    assert_eq!(
        allocs,
        0,
        "decode allocated ({largest} bytes at most) on a {}-byte payload",
        payload.len()
    );
    let Some(r) = rec else { return };
    assert!(within(payload, r.key), "key not borrowed from the payload");
    assert!(within(payload, r.value), "value not borrowed from the payload");
    assert!(within(payload, r.sealed), "sealed bytes not borrowed from the payload");
    if !r.sealed.is_empty() {
        // A sealed record holds nothing else that it seals.
        assert!(r.key.is_empty() && r.value.is_empty() && r.meta.is_empty() && r.codec == 0);
    } else {
        match r.kind {
            Kind::Put => assert!(!r.key.is_empty() && r.key.len() <= tiercache::options::MAX_KEY_LEN),
            Kind::Tombstone => assert!(!r.key.is_empty() && r.value.is_empty()),
            Kind::Clear => assert!(r.value.is_empty()),
        }
    }
    // What was decoded encodes and decodes to the same record.
    let mut buf = Vec::new();
    record::encode(&mut buf, &r);
    assert_eq!(record::check_frame(&buf), Frame::Valid { len: buf.len() });
    let r2 = record::decode(record::payload(&buf)).expect("a re-encoded record decodes");
    assert_eq!((r2.kind, r2.value, r2.written_at), (r.kind, r.value, r.written_at));
    if r.kind != Kind::Clear {
        assert_eq!(r2.key, r.key);
    }
    if r.kind == Kind::Put {
        assert_eq!(r2.expires_at, r.expires_at);
        assert_eq!((r2.codec, r2.sealed), (r.codec, r.sealed));
    }
    if r.codec != 0 {
        check_unpack(r.codec, r.value);
    }
    check_sealing(&r);
}

// ---------------------------------------------------------------------------
// Directories

/// The files of a cache directory to write.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// Segment files by id (file name `{id:010}.tcl`).
    pub segments: Vec<(u32, Vec<u8>)>,
    /// Hint files by id (file name `{id:010}.hint`).
    pub hints: Vec<(u32, Vec<u8>)>,
    /// How the directory is kept at rest (an encrypted one gets the fixed
    /// key check file, [`keycheck_file`]).
    pub mode: Mode,
}

/// How a directory is opened and kept at rest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Plain,
    Lz4,
    Sealed,
    ZstdSealed,
}

/// The encryption key of the fuzzed encrypted directories.
pub const FUZZ_KEY: [u8; 32] = [0x5a; 32];
/// The salt of their key check file: fixed, so their subkeys are too.
const FUZZ_SALT: [u8; 32] = [0xa5; 32];

impl Mode {
    pub const ALL: [Mode; 4] = [Mode::Plain, Mode::Lz4, Mode::Sealed, Mode::ZstdSealed];

    /// The mode of two bits.
    pub fn from_bits(b: u8) -> Mode {
        Mode::ALL[usize::from(b & 3)]
    }

    pub fn bits(self) -> u8 {
        Mode::ALL.iter().position(|m| *m == self).unwrap() as u8
    }

    pub fn encrypted(self) -> bool {
        matches!(self, Mode::Sealed | Mode::ZstdSealed)
    }

    /// Sets this mode's compression and key on `o`.
    pub fn apply(self, o: &mut Options) {
        use tiercache::Compression;
        match self {
            Mode::Plain => {}
            Mode::Lz4 => o.set_compression(Compression::TC_COMPRESSION_LZ4, 0),
            Mode::Sealed => o.set_encryption_key(&FUZZ_KEY).unwrap(),
            Mode::ZstdSealed => {
                o.set_compression(Compression::TC_COMPRESSION_ZSTD, 0);
                o.set_encryption_key(&FUZZ_KEY).unwrap();
            }
        }
    }

    /// What the library reads this mode's directories with: the subkeys of
    /// [`FUZZ_KEY`] under [`FUZZ_SALT`] if encrypted.
    pub fn sealer(self) -> tiercache::seal::Sealer {
        let key = tiercache::EncryptionKey::new(&FUZZ_KEY).unwrap();
        tiercache::seal::Sealer {
            keys: self
                .encrypted()
                .then(|| tiercache::seal::Keys::derive(&key, &FUZZ_SALT)),
            ..tiercache::seal::Sealer::default()
        }
    }
}

impl Mode {
    /// Makes `dir` ready for the library to write in this mode: an encrypted
    /// one gets the fixed key check file first, so that its records are
    /// sealed with the subkeys the fuzz targets know.
    pub fn prepare(self, dir: &Path) {
        if self.encrypted() {
            fs::write(dir.join("KEYCHECK"), keycheck_file()).unwrap();
        }
    }
}

/// The key check file of an encrypted fuzz directory (`src/log/keycheck.rs`
/// gives the layout): [`FUZZ_KEY`] with the fixed [`FUZZ_SALT`].
pub fn keycheck_file() -> Vec<u8> {
    let mut b = Vec::with_capacity(76);
    b.extend_from_slice(b"TCK1");
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&FUZZ_SALT);
    let keys = Mode::Sealed.sealer().keys.unwrap();
    let check = keys.check_value(&[&b"tiercache key check"[..], &b].concat());
    b.extend_from_slice(&check);
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    b
}

/// Separates the files in an `open_dir` input.
pub const SEP: &[u8] = b"\xfe\xedSEG";

/// Flags in the first byte of an `open_dir` input.
pub mod flag {
    /// Bits 0-1: number of segment files minus one.
    pub const COUNT: u8 = 0b11;
    /// The chunk after the segments is a hint file.
    pub const HINT: u8 = 1 << 2;
    /// Prepend a correct 16-byte segment header to every segment.
    pub const HEADER: u8 = 1 << 3;
    /// Recompute the CRC of every frame the segment's lengths chain through.
    pub const FIX_CRC: u8 = 1 << 4;
    /// Give the hint a correct header (id, segment length, count) and CRC.
    pub const FIX_HINT: u8 = 1 << 5;
    /// Segment ids start near the top of the index's 24-bit range.
    pub const HIGH_IDS: u8 = 1 << 6;
    /// The second segment's id is the first's plus 2^24 (the index keeps 24
    /// bits of a segment id).
    pub const GAPS: u8 = 1 << 7;
}

/// A segment header of format `version` (1: records without sequence
/// numbers; 2: with).
pub fn segment_header(id: u32, version: u16) -> [u8; SEGMENT_HEADER] {
    let mut h = [0u8; SEGMENT_HEADER];
    h[0..4].copy_from_slice(b"TCL2");
    h[4..6].copy_from_slice(&version.to_le_bytes());
    h[8..16].copy_from_slice(&u64::from(id).to_le_bytes());
    h
}

/// Rewrites the CRC of each frame from the segment header on, following the
/// length fields while they stay inside the file.
pub fn fix_crcs(seg: &mut [u8]) {
    let mut pos = SEGMENT_HEADER;
    while pos + FRAME_HEADER <= seg.len() {
        let n = u32::from_le_bytes(seg[pos..pos + 4].try_into().unwrap()) as usize;
        if n == 0 || seg.len() - pos - FRAME_HEADER < n {
            return;
        }
        let crc = crc_of_frame(&seg[pos..pos + 4], &seg[pos + FRAME_HEADER..pos + FRAME_HEADER + n]);
        seg[pos + 4..pos + 8].copy_from_slice(&crc.to_le_bytes());
        pos += FRAME_HEADER + n;
    }
}

/// Bytes of one hint entry (version 2 hints).
pub const HINT_ENTRY: usize = 37;

/// A hint file for segment `id` of `seg_len` bytes holding `entries` (a
/// multiple of `HINT_ENTRY` bytes is used; the rest is dropped), with a
/// correct CRC.
pub fn make_hint(id: u32, seg_len: u64, entries: &[u8]) -> Vec<u8> {
    let entries = &entries[..entries.len() / HINT_ENTRY * HINT_ENTRY];
    let mut out = Vec::with_capacity(32 + entries.len() + 4);
    out.extend_from_slice(b"TCH1");
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&u64::from(id).to_le_bytes());
    out.extend_from_slice(&seg_len.to_le_bytes());
    out.extend_from_slice(&((entries.len() / HINT_ENTRY) as u64).to_le_bytes());
    out.extend_from_slice(entries);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn split(mut rest: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some(i) = rest.windows(SEP.len()).position(|w| w == SEP) {
        out.push(&rest[..i]);
        rest = &rest[i + SEP.len()..];
    }
    out.push(rest);
    out
}

impl Layout {
    /// Reads an `open_dir` input: byte 0 holds [`flag`]s, byte 1 picks the
    /// segment the hint belongs to (bits 0–4), the [`Mode`] (bits 5–6) and,
    /// with bit 7 set, makes the headers of format 1 rather than 2, and the
    /// rest is split on [`SEP`] into the segment files (in id order) and
    /// then the hint.
    pub fn from_fuzz(data: &[u8]) -> Layout {
        let (flags, pick, rest) = match data {
            [f, p, rest @ ..] => (*f, *p, rest),
            [f] => (*f, 0, &[][..]),
            [] => (0, 0, &[][..]),
        };
        let n = usize::from(flags & flag::COUNT) + 1;
        let chunks = split(rest);
        let base: u32 = if flags & flag::HIGH_IDS != 0 {
            MAX_SEGMENT_ID - 1
        } else {
            1
        };
        let mut layout = Layout {
            mode: Mode::from_bits(pick >> 5),
            ..Layout::default()
        };
        let mut id = base;
        for i in 0..n {
            let chunk = chunks.get(i).copied().unwrap_or(&[]);
            let mut seg = Vec::new();
            if flags & flag::HEADER != 0 {
                let version = if pick & 0x80 != 0 { 1 } else { 2 };
                seg.extend_from_slice(&segment_header(id, version));
            }
            seg.extend_from_slice(chunk);
            if flags & flag::FIX_CRC != 0 {
                fix_crcs(&mut seg);
            }
            layout.segments.push((id, seg));
            id = id.wrapping_add(if flags & flag::GAPS != 0 && i == 0 { 1 << 24 } else { 1 });
        }
        if flags & flag::HINT != 0 {
            let chunk = chunks.get(n).copied().unwrap_or(&[]);
            let (hid, seg) = &layout.segments[usize::from(pick & 0x1f) % n];
            let hint = if flags & flag::FIX_HINT != 0 {
                make_hint(*hid, seg.len() as u64, chunk)
            } else {
                chunk.to_vec()
            };
            layout.hints.push((*hid, hint));
        }
        layout
    }

    /// The inverse of `from_fuzz` for layouts it can express (used by the
    /// seed generator): segment ids consecutive from 1, at most 4 of them, at
    /// most one hint, no separator inside a file.
    pub fn to_fuzz(&self, hint_of: usize) -> Vec<u8> {
        assert!((1..=4).contains(&self.segments.len()) && self.hints.len() <= 1 && hint_of < 4);
        let mut flags = (self.segments.len() - 1) as u8;
        if !self.hints.is_empty() {
            flags |= flag::HINT;
        }
        let mut out = vec![flags, hint_of as u8 | self.mode.bits() << 5];
        for (i, (_, seg)) in self.segments.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(SEP);
            }
            out.extend_from_slice(seg);
        }
        if let Some((_, hint)) = self.hints.first() {
            out.extend_from_slice(SEP);
            out.extend_from_slice(hint);
        }
        out
    }

    pub fn write(&self, dir: &Path) {
        for (id, bytes) in &self.segments {
            fs::write(dir.join(format!("{id:010}.tcl")), bytes).unwrap();
        }
        for (id, bytes) in &self.hints {
            fs::write(dir.join(format!("{id:010}.hint")), bytes).unwrap();
        }
        if self.mode.encrypted() {
            fs::write(dir.join("KEYCHECK"), keycheck_file()).unwrap();
        }
    }

    /// Reads a directory written by the library in `mode` (segments and
    /// hints; an encrypted one must have been written with the fixed key
    /// check file in place: [`Mode::prepare`]).
    pub fn read(dir: &Path, mode: Mode) -> Layout {
        let mut layout = Layout {
            mode,
            ..Layout::default()
        };
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        for name in names {
            let parse = |suffix: &str| name.strip_suffix(suffix).and_then(|d| d.parse::<u32>().ok());
            if let Some(id) = parse(".tcl") {
                layout.segments.push((id, fs::read(dir.join(&name)).unwrap()));
            } else if let Some(id) = parse(".hint") {
                layout.hints.push((id, fs::read(dir.join(&name)).unwrap()));
            }
        }
        layout
    }
}

// ---------------------------------------------------------------------------
// The model: what a directory holds, read independently of the library.

/// What the oracle knows about the input directory.
struct Model {
    /// Every (key, value) of a CRC-valid put record at any offset of any file:
    /// the only values a get may ever return.
    puts: HashSet<(Vec<u8>, Vec<u8>)>,
    /// Every key of a CRC-valid record (capped): the keys the harness asks for.
    keys: Vec<Vec<u8>>,
    /// Keys with a record whose expiry is close to now: left out of the
    /// exact checks, as the clock moves while the test runs.
    uncertain: HashSet<Vec<u8>>,
    /// Some segment is written by a newer format version: open must fail.
    newer: bool,
    /// The directory's mode (the library opens it with the same).
    mode: Mode,
    /// The live values by the log's rules (recovery read front to back,
    /// last record wins; in format 2 a record whose sequence number is not
    /// above the last one read is ignored), when the directory has no hint
    /// file; `None` when hints (which the model does not interpret) take part.
    live: Option<BTreeMap<Vec<u8>, Vec<u8>>>,
}

const MAX_KEYS: usize = 24;

fn looks_like_frame(b: &[u8]) -> bool {
    b.len() >= FRAME_HEADER + 3 && (0xa2..=0xb7).contains(&b[8]) && b[9] == 0 && (1..=3).contains(&b[10])
}

enum HeaderState {
    /// A readable header of this format version.
    Ok(u16),
    Short,
    Bad,
    Newer,
}

fn header_state(id: u32, b: &[u8]) -> HeaderState {
    if b.len() < SEGMENT_HEADER {
        return HeaderState::Short;
    }
    if &b[0..4] != b"TCL2" {
        return HeaderState::Bad;
    }
    let v = u16::from_le_bytes([b[4], b[5]]);
    if v > 2 {
        return HeaderState::Newer;
    }
    if v < 1 || b[8..16] != u64::from(id).to_le_bytes() {
        return HeaderState::Bad;
    }
    HeaderState::Ok(v)
}

impl Model {
    fn of(layout: &Layout, now: u64) -> Model {
        let mut m = Model {
            puts: HashSet::new(),
            keys: Vec::new(),
            uncertain: HashSet::new(),
            newer: false,
            mode: layout.mode,
            live: None,
        };
        let sealer = layout.mode.sealer();
        let mut seen_keys = HashSet::new();
        // Files named with an id outside 1 ..= MAX_SEGMENT_ID are not
        // segments (finding 1, fixed): the library never reads them.
        let segments: Vec<&(u32, Vec<u8>)> = layout
            .segments
            .iter()
            .filter(|(id, _)| (1..=MAX_SEGMENT_ID).contains(id))
            .collect();
        // Every valid frame at every offset.
        for (id, bytes) in segments.iter().copied() {
            for pos in 0..bytes.len() {
                let Some(len) = valid_frame_len(&bytes[pos..]) else {
                    continue;
                };
                let Some(r) = record::decode(&bytes[pos + FRAME_HEADER..pos + len]) else {
                    continue;
                };
                // A sealed record in a directory without a key, a plain one
                // in an encrypted directory, or one that does not
                // authenticate at this place is never read.
                let Some(r) = readable(r, *id, pos, &sealer) else {
                    continue;
                };
                if r.kind == Kind::Clear {
                    continue;
                }
                if r.expires_at != 0 && r.expires_at.abs_diff(now) < 10 * 60 * 1000 {
                    m.uncertain.insert(r.key.to_vec());
                }
                if let (Kind::Put, Some(v)) = (r.kind, servable(&r)) {
                    m.puts.insert((r.key.to_vec(), v));
                }
                if m.keys.len() < MAX_KEYS && seen_keys.insert(r.key.to_vec()) {
                    m.keys.push(r.key.to_vec());
                }
            }
        }
        let mut segs = segments;
        segs.sort_by_key(|(id, _)| *id);
        m.newer = segs
            .iter()
            .any(|(id, b)| matches!(header_state(*id, b), HeaderState::Newer));
        if layout.hints.is_empty() {
            let mut live = BTreeMap::new();
            let mut last_seq = 0u64;
            let last_id = segs.last().map(|(id, _)| *id);
            for (id, bytes) in segs {
                let HeaderState::Ok(version) = header_state(*id, bytes) else {
                    continue;
                };
                let items = model_scan(bytes, *id, &sealer, Some(*id) == last_id);
                // A writable open blanks the records numbered out of order
                // before it applies the segment (finding 10): they read as
                // unreadable bytes, joined with any next to them.
                let items = if version >= 2 {
                    strays_as_gaps(items, last_seq)
                } else {
                    format_1_as_read(items)
                };
                for item in items {
                    let r = match item {
                        Scanned::Record(r) => r,
                        // Unreadable bytes may have held any key's newest
                        // record: they hide everything before them, unless
                        // the numbers on either side are consecutive.
                        Scanned::Gap(seq) => {
                            if seq == 0 || seq > last_seq {
                                live.clear();
                            }
                            continue;
                        }
                    };
                    // A format 1 record is numbered by its place.
                    if version == 1 {
                        last_seq += 1;
                    } else if r.seq > last_seq {
                        last_seq = r.seq;
                    } else {
                        continue;
                    }
                    match r.kind {
                        Kind::Clear => live.clear(),
                        Kind::Put if r.expires_at == 0 || r.expires_at > now => match servable(&r) {
                            Some(v) => {
                                live.insert(r.key.to_vec(), v);
                            }
                            // Packed by an unknown codec, or a bomb: it hides
                            // older values and is never served.
                            None => {
                                live.remove(&*r.key);
                            }
                        },
                        _ => {
                            live.remove(&*r.key);
                        }
                    }
                }
            }
            m.live = Some(live);
        }
        m
    }

    fn exact(&self, key: &[u8]) -> Option<Option<&Vec<u8>>> {
        if self.uncertain.contains(key) {
            return None;
        }
        self.live.as_ref().map(|l| l.get(key))
    }
}

/// A record at `pos` of segment `id` as the library reads it with
/// `sealer`: in the clear, or `None` if it cannot (see `view::open`).
fn readable<'a>(
    r: RecordRef<'a>,
    id: u32,
    pos: usize,
    sealer: &tiercache::seal::Sealer,
) -> Option<tiercache::log::view::View<'a>> {
    let loc = tiercache::log::Loc::new(id, pos as u64);
    tiercache::log::view::open(r, loc, sealer).ok()
}

/// A put's value as the library may serve it: as it is, or unpacked (a
/// packed value claiming more than the default maximum is never served).
fn servable(r: &tiercache::log::view::View<'_>) -> Option<Vec<u8>> {
    if r.codec == 0 {
        return Some(r.stored.to_vec());
    }
    tiercache::seal::unpack(r.codec, &r.stored, tiercache::options::DEFAULT_MAX_VALUE_LEN).ok()
}

/// `items` (a format 1 segment's) as the library reads them: a record that
/// carries a number (format 1 wrote none: damage, or a forgery) is
/// unreadable bytes, and every run of unreadable bytes is a gap of no known
/// number, which hides everything before it (finding 16; before it, such a
/// record was numbered by its place, which an open's deletions change).
fn format_1_as_read(items: Vec<Scanned<'_>>) -> Vec<Scanned<'_>> {
    items
        .into_iter()
        .map(|item| match item {
            Scanned::Record(r) if r.seq == 0 => Scanned::Record(r),
            _ => Scanned::Gap(0),
        })
        .collect()
}

/// `items` (a format 2 segment's, read after the record numbered `last`)
/// with every record whose number does not grow taken for unreadable
/// bytes: a gap where it was, merged with the gaps beside it, numbered
/// after the next record that stays (0 if none does), as the library's scan
/// of the blanked segment finds it (`recovery::strays`).
fn strays_as_gaps(items: Vec<Scanned<'_>>, mut last: u64) -> Vec<Scanned<'_>> {
    let mut out = Vec::new();
    let mut pending = false;
    for item in items {
        match item {
            Scanned::Gap(_) => pending = true,
            Scanned::Record(r) => {
                if r.seq > last && r.seq <= tiercache::log::MAX_SEQ {
                    last = r.seq;
                    if pending {
                        out.push(Scanned::Gap(r.seq - 1));
                        pending = false;
                    }
                    out.push(Scanned::Record(r));
                } else {
                    pending = true;
                }
            }
        }
    }
    if pending {
        out.push(Scanned::Gap(0));
    }
    out
}

/// What the model's scan of a segment finds, in order.
enum Scanned<'a> {
    /// A record the library can read.
    Record(tiercache::log::view::View<'a>),
    /// Unreadable bytes (bad frames, or frames that do not decode or
    /// authenticate) before a readable record numbered one past this (0:
    /// none follows, or a format 1 record).
    Gap(u64),
}

/// The records of segment `id` in the order recovery applies them, and the
/// gaps between them: a valid frame is taken whole; after an invalid one,
/// reading resumes at the next offset holding a frame that looks like
/// tiercache's, is valid and decodes. Unreadable bytes at the end of the
/// `last` segment are no gap if they begin with a frame that runs past the
/// end of the file (a write a crash cut short), nothing unreadable came
/// before them, and they are not a whole frame but for its length.
fn model_scan<'a>(bytes: &'a [u8], id: u32, sealer: &tiercache::seal::Sealer, last: bool) -> Vec<Scanned<'a>> {
    let mut out = Vec::new();
    let mut pos = SEGMENT_HEADER;
    let mut damaged = false;
    while pos < bytes.len() {
        match valid_frame_len(&bytes[pos..]) {
            Some(len) => {
                let r =
                    record::decode(&bytes[pos + FRAME_HEADER..pos + len]).and_then(|r| readable(r, id, pos, sealer));
                match r {
                    Some(r) => {
                        if damaged {
                            out.push(Scanned::Gap(r.seq.saturating_sub(1)));
                            damaged = false;
                        }
                        out.push(Scanned::Record(r));
                    }
                    None => damaged = true,
                }
                pos += len;
            }
            None => {
                match (pos + 1..bytes.len()).find(|&i| {
                    looks_like_frame(&bytes[i..])
                        && valid_frame_len(&bytes[i..])
                            .is_some_and(|len| record::decode(&bytes[i + FRAME_HEADER..i + len]).is_some())
                }) {
                    Some(i) => {
                        damaged = true;
                        pos = i;
                    }
                    None => {
                        let rest = &bytes[pos..];
                        let runs_past_end = rest.len() < FRAME_HEADER || {
                            let n = u32::from_le_bytes(rest[0..4].try_into().unwrap()) as usize;
                            n != 0 && n <= record::MAX_PAYLOAD && rest.len() - FRAME_HEADER < n
                        };
                        // A whole frame whose length field alone is wrong
                        // (its checksum matches the length the bytes give)
                        // is damage, not a write cut short.
                        let whole = rest.len() > FRAME_HEADER && rest.len() - FRAME_HEADER <= record::MAX_PAYLOAD && {
                            let held = ((rest.len() - FRAME_HEADER) as u32).to_le_bytes();
                            let want = u32::from_le_bytes(rest[4..8].try_into().unwrap());
                            crc_of_frame(&held, &rest[FRAME_HEADER..]) == want
                        };
                        damaged |= !(last && runs_past_end && !whole && !damaged);
                        break;
                    }
                }
            }
        }
    }
    if damaged {
        out.push(Scanned::Gap(0));
    }
    out
}

/// What an `open_dir` input holds, as the model reads it: each segment's
/// records (offset, number, kind, key, value length) and gaps, and the
/// live value the model expects for each key; then what a first and a
/// second open of the directory answer. For working out a finding
/// (`cargo run --manifest-path fuzz/Cargo.toml --example explain -- FILE`).
pub fn explain_open_dir(data: &[u8]) -> String {
    use std::fmt::Write as _;
    let layout = Layout::from_fuzz(data);
    let sealer = layout.mode.sealer();
    let mut out = String::new();
    let _ = writeln!(out, "mode {:?}, {} hint file(s)", layout.mode, layout.hints.len());
    let last_id = layout.segments.iter().map(|s| s.0).max();
    for (id, bytes) in &layout.segments {
        let state = match header_state(*id, bytes) {
            HeaderState::Ok(v) => format!("format {v}"),
            HeaderState::Short => "short header".into(),
            HeaderState::Bad => "bad header".into(),
            HeaderState::Newer => "newer format".into(),
        };
        let _ = writeln!(out, "segment {id}: {} bytes, {state}", bytes.len());
        if !matches!(header_state(*id, bytes), HeaderState::Ok(_)) || !(1..=MAX_SEGMENT_ID).contains(id) {
            continue; // not read as a segment (ids past the range: finding 1)
        }
        for item in model_scan(bytes, *id, &sealer, Some(*id) == last_id) {
            match item {
                Scanned::Record(r) => {
                    let _ = writeln!(
                        out,
                        "  seq {:>5} {:?} {:?} value {} B expires {}",
                        r.seq,
                        r.kind,
                        String::from_utf8_lossy(&r.key),
                        r.stored.len(),
                        r.expires_at
                    );
                }
                Scanned::Gap(seq) => {
                    let _ = writeln!(out, "  gap (before seq {seq})");
                }
            }
        }
    }
    let now = tiercache::clock::Clock::system().now_ms();
    let model = Model::of(&layout, now);
    let tmp = tempfile::tempdir_in(tmp_root()).expect("temporary directory");
    layout.write(tmp.path());
    let mut opens = Vec::new();
    for _ in 0..2 {
        let mut opts = Options::with_dir(tmp.path());
        opts.l2_max_bytes = 0;
        model.mode.apply(&mut opts);
        let answers = match Cache::open(&opts) {
            Ok(c) => {
                let a = model
                    .keys
                    .iter()
                    .map(|k| c.get(k).ok().map(|v| v.len()))
                    .collect::<Vec<_>>();
                // As the harness does (`open_and_read`): the first open
                // compacts before it closes.
                if opens.is_empty() {
                    let _ = c.compact();
                }
                let _ = c.close();
                a
            }
            Err(e) => {
                let _ = writeln!(out, "open failed: {:?}", e.status());
                vec![None; model.keys.len()]
            }
        };
        opens.push(answers);
    }
    for (i, k) in model.keys.iter().enumerate() {
        let want = model.exact(k).map(|v| v.map(Vec::len));
        let _ = writeln!(
            out,
            "key {:?}: model {want:?}, first open {:?}, second open {:?}",
            String::from_utf8_lossy(k),
            opens[0][i],
            opens[1][i]
        );
    }
    out
}

// ---------------------------------------------------------------------------
// Target 2: open_dir

/// Interprets `data` as a cache directory (see [`Layout::from_fuzz`]) and checks it.
pub fn open_dir(data: &[u8]) {
    check_dir(&Layout::from_fuzz(data));
}

/// How many keys the model finds readable in an `open_dir` input (for the
/// regression test: a seed of an encrypted directory whose records did not
/// authenticate would find none, and test nothing past authentication).
pub fn open_dir_keys(data: &[u8]) -> usize {
    Model::of(&Layout::from_fuzz(data), 0).keys.len()
}

fn tmp_root() -> &'static Path {
    static ROOT: OnceLock<std::path::PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        if shm.is_dir() && tempfile::tempdir_in(shm).is_ok() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        }
    })
}

/// What one open of the directory answered.
#[derive(Debug, PartialEq, Eq)]
struct Answers {
    gets: Vec<Option<Vec<u8>>>,
    listed: BTreeMap<Vec<u8>, Vec<u8>>,
}

/// Writes `layout` into a fresh directory, opens it, reads it, closes it,
/// verifies it, and opens it again: no panic, no value the input does not
/// hold, and (when the model can tell) exactly the live values.
pub fn check_dir(layout: &Layout) {
    let tmp = tempfile::tempdir_in(tmp_root()).expect("temporary directory");
    let dir = tmp.path();
    layout.write(dir);
    let now = tiercache::clock::Clock::system().now_ms();
    let model = Model::of(layout, now);
    let input_bytes: usize = layout.segments.iter().map(|s| s.1.len()).sum::<usize>()
        + layout.hints.iter().map(|h| h.1.len()).sum::<usize>();

    let (first, _, largest) = watch_allocs(|| open_and_read(dir, &model, true));
    // The library's own buffers are 64 KiB; anything far above the input's
    // size was sized from a length read from disk.
    let cap = (1 << 20) + 16 * input_bytes;
    assert!(
        largest <= cap,
        "an allocation of {largest} bytes for {input_bytes} bytes of input"
    );
    let Some(first) = first else { return };

    let key = tiercache::EncryptionKey::new(&FUZZ_KEY).unwrap();
    let key = layout.mode.encrypted().then_some(&key);
    let report = tiercache::log::verify::verify(dir, key, |done, total| assert!(done <= total))
        .unwrap_or_else(|e| panic!("verify after a clean close failed: {e:?}"));
    let _ = report.problems();

    // Recovery wrote hints and cut tails: a second open must agree with the first.
    let second = open_and_read(dir, &model, false).expect("the second open failed where the first succeeded");
    for (i, key) in model.keys.iter().enumerate() {
        if !model.uncertain.contains(key) {
            assert_eq!(first.gets[i], second.gets[i], "key {key:x?} changed between two opens");
        }
    }
    let certain = |a: &BTreeMap<Vec<u8>, Vec<u8>>| -> BTreeMap<Vec<u8>, Vec<u8>> {
        a.iter()
            .filter(|(k, _)| !model.uncertain.contains(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    assert_eq!(
        certain(&first.listed),
        certain(&second.listed),
        "the live records changed between two opens"
    );
}

/// Opens `dir` and asks it for every key of the model. `None` if the open
/// failed in a way the model allows.
/// With `compact`, compacts every sealed segment with a dead record
/// (`tc_compact`) after the reads, before the close.
fn open_and_read(dir: &Path, model: &Model, compact: bool) -> Option<Answers> {
    // Unbounded: a bounded log sizes its read marks from the bound (2 MiB
    // for the default 1 GiB, src/log/marks.rs), an allocation the input did
    // not size, which the allocation check would take for one it did. No
    // input here comes near the default bound, so nothing is lost.
    let mut opts = Options::with_dir(dir);
    opts.l2_max_bytes = 0;
    model.mode.apply(&mut opts);
    let cache = match Cache::open(&opts) {
        Ok(c) => c,
        Err(e) => {
            if model.newer && e.status() == Status::TC_CORRUPT {
                return None;
            }
            panic!("open failed: {:?}: {}", e.status(), e.message());
        }
    };
    assert!(
        !model.newer,
        "opened a directory holding a segment of a newer format version"
    );
    let mut gets = Vec::new();
    for key in &model.keys {
        // Asked before the get, which promotes into L1: this answer is L2's
        // (what a reader that does not read the value is told: finding 17).
        let info = cache.info(key).ok().map(|i| i.value_len);
        let got = match cache.get(key) {
            Ok(v) => Some(v.to_vec()),
            Err(e) if e.status() == Status::TC_NOT_FOUND => None,
            Err(e) => panic!("get {key:x?}: {:?}: {}", e.status(), e.message()),
        };
        if let Some(v) = &got {
            assert!(
                model.puts.contains(&(key.clone(), v.clone())),
                "get {key:x?} returned {v:x?}, which no valid put record of the input holds"
            );
        }
        if let Some(want) = model.exact(key) {
            assert_eq!(got.as_ref(), want, "get {key:x?}: not the live value");
        }
        // A second get (now from L1) agrees.
        let again = cache.get(key).ok().map(|v| v.to_vec());
        assert_eq!(again, got, "get {key:x?} changed between two calls");
        if !model.uncertain.contains(key) {
            assert_eq!(
                cache.contains(key).unwrap(),
                got.is_some(),
                "contains {key:x?} disagrees with get"
            );
            assert_eq!(
                info,
                got.as_ref().map(|v| v.len() as u64),
                "info {key:x?} (before the get) disagrees with get"
            );
        }
        gets.push(got);
    }
    let mut listed = BTreeMap::new();
    let log = cache.log().expect("a cache with a directory has a log");
    let sealer = log.sealer();
    log.for_each(|r| {
        // A value that cannot be served (unknown codec, a bomb) is skipped,
        // as `tiercache dump` skips it.
        let Ok(value) = r.value(sealer).map(|v| v.to_vec()) else {
            return;
        };
        assert_eq!(
            r.kind,
            Kind::Put,
            "for_each gave a {:?} record for {:x?}",
            r.kind,
            r.key
        );
        assert!(
            model.puts.contains(&(r.key.to_vec(), value.clone())),
            "for_each gave {:x?} = {:x?}, which no valid put record holds",
            r.key,
            value
        );
        let twice = listed.insert(r.key.to_vec(), value).is_some();
        // Finding 5 (fixed): a hint whose hash is not its key's indexed the key twice.
        assert!(!twice, "for_each gave {:x?} twice", r.key);
    });
    if let Some(live) = &model.live {
        for (k, v) in live {
            if !model.uncertain.contains(k) {
                assert_eq!(listed.get(k), Some(v), "for_each misses the live {k:x?}");
            }
        }
    }
    let _ = cache.stats();
    if compact {
        // What the maintenance thread may do to the directory before it
        // closes (it did, now and then, under load: fuzz finding 12):
        // done here every time, so that the second open checks it.
        let _ = cache.compact();
    }
    cache.close().expect("close");
    Some(Answers { gets, listed })
}

// ---------------------------------------------------------------------------
// Target 3: hint_decode

/// A directory of two sealed segments and an active one, written by the
/// library in `mode` (with segment_bytes at its minimum, 4096).
pub fn sample_dir(mode: Mode) -> &'static Layout {
    static L: [OnceLock<Layout>; 4] = [const { OnceLock::new() }; 4];
    L[usize::from(mode.bits())].get_or_init(|| {
        let tmp = tempfile::tempdir_in(tmp_root()).unwrap();
        let mut opts = Options::with_dir(tmp.path());
        opts.set_segment_bytes(4096).unwrap();
        mode.prepare(tmp.path());
        mode.apply(&mut opts);
        let cache = Cache::open(&opts).unwrap();
        let mut i = 0u32;
        while cache.log().unwrap().sizes().segments < 3 {
            let key = format!("k{}", i % 40);
            match i % 7 {
                3 => {
                    let _ = cache.remove(key.as_bytes());
                }
                5 => cache.put(key.as_bytes(), b"", 0).unwrap(),
                _ => cache
                    .put(key.as_bytes(), format!("value {i} of {key}").repeat(3).as_bytes(), 0)
                    .unwrap(),
            }
            i += 1;
        }
        cache.close().unwrap();
        Layout::read(tmp.path(), mode)
    })
}

/// `data` is the hint file of the first sealed segment of [`sample_dir`]:
/// byte 0 bit 0 set means "give it a correct header and CRC around the
/// entries in the rest"; otherwise the rest is the whole file. Byte 0 bits
/// 1–2 pick the directory's [`Mode`].
pub fn hint_decode(data: &[u8]) {
    let base = sample_dir(Mode::from_bits(data.first().map_or(0, |f| f >> 1)));
    let (first_id, first_seg) = &base.segments[0];
    let hint = match data {
        [f, rest @ ..] if f & 1 != 0 => make_hint(*first_id, first_seg.len() as u64, rest),
        [_, rest @ ..] => rest.to_vec(),
        [] => Vec::new(),
    };
    let mut layout = base.clone();
    layout.hints.retain(|(id, _)| id != first_id);
    layout.hints.push((*first_id, hint));
    check_dir(&layout);
}

/// A directory written by the library, with its index files, and what each
/// of its keys holds; and every value each key was ever given.
pub struct IndexSample {
    pub files: Vec<(String, Vec<u8>)>,
    pub values: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    pub given: std::collections::HashMap<Vec<u8>, HashSet<Vec<u8>>>,
}

pub fn index_sample() -> &'static IndexSample {
    static S: OnceLock<IndexSample> = OnceLock::new();
    S.get_or_init(|| {
        let tmp = tempfile::tempdir_in(tmp_root()).unwrap();
        let mut opts = Options::with_dir(tmp.path());
        opts.set_segment_bytes(4096).unwrap();
        let mut given: std::collections::HashMap<Vec<u8>, HashSet<Vec<u8>>> = Default::default();
        let cache = Cache::open(&opts).unwrap();
        for i in 0..300u32 {
            let key = format!("k{}", i % 40).into_bytes();
            if i % 7 == 3 {
                let _ = cache.remove(&key);
            } else {
                let v = format!("value {i} of {}", i % 40).repeat(3).into_bytes();
                cache.put(&key, &v, 0).unwrap();
                given.entry(key).or_default().insert(v);
            }
        }
        cache.close().unwrap();
        let cache = Cache::open(&opts).unwrap();
        let values = (0..40)
            .map(|k| {
                let key = format!("k{k}").into_bytes();
                let v = cache.get(&key).ok().map(|v| v.to_vec());
                (key, v)
            })
            .collect();
        cache.close().unwrap();
        let files = fs::read_dir(tmp.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name() != "LOCK")
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        IndexSample { files, values, given }
    })
}

/// CRC32C, the checksum of an index slot (docs/FORMAT.md), a bit at a time.
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

/// Makes every checksum of an index file good again after a change, so the
/// change reaches the checks behind the checksums.
fn reseal_index(name: &str, b: &mut [u8]) {
    if name == "index.tcm" {
        if b.len() >= 4 {
            let n = b.len() - 4;
            let crc = crc32fast::hash(&b[..n]);
            b[n..].copy_from_slice(&crc.to_le_bytes());
        }
        return;
    }
    if b.len() >= 28 {
        let crc = crc32fast::hash(&b[0..24]);
        b[24..28].copy_from_slice(&crc.to_le_bytes());
    }
    if b.len() > 4096 {
        for slot in b[4096..].chunks_exact_mut(32) {
            if slot.iter().any(|x| *x != 0) {
                let crc = crc32c(&slot[0..28]);
                slot[28..32].copy_from_slice(&crc.to_le_bytes());
            }
        }
    }
}

/// Reads every key of [`index_sample`] from `cache` (opened for the
/// `round`th time): exactly what the key held, and counts that agree with
/// the records; or, `forged`, a value the key was once given or nothing.
fn check_sample(s: &IndexSample, cache: &Cache, forged: bool, round: usize) {
    for (key, want) in &s.values {
        let got = cache.get(key).ok().map(|v| v.to_vec());
        if forged {
            if let Some(g) = &got {
                assert!(
                    s.given.get(key).is_some_and(|vs| vs.contains(g)),
                    "key {key:x?} answered a value it was never given"
                );
            }
        } else {
            assert_eq!(&got, want, "key {key:x?} (open {round})");
        }
    }
    if !forged {
        cache.check_invariants().unwrap();
    }
}

/// The index files of [`index_sample`], changed by `data`, then the
/// directory opened and read. Byte 0: bit 0 picks the file (0 meta, 1
/// slots); bit 1: the rest is patches (3 bytes each: a u16 offset, a byte
/// XORed in there) rather than the whole file; bit 2: cut the file by
/// (byte 0 >> 4) × 8 bytes; bit 3: make every checksum good again.
///
/// Without bit 3, a change must be caught: every key answers exactly what
/// it held, and the counts agree with the records. With it, the index may
/// lie in ways only a forger can (a slot pointing at an older record of the
/// same key, with that record's sequence number): every key then answers
/// a value it was once given, or nothing — never another key's value or
/// bytes that were never a value — and nothing panics.
pub fn index_decode(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let s = index_sample();
    let name = if flags & 1 == 0 { "index.tcm" } else { "index.tci" };
    let mut files = s.files.clone();
    let file = &mut files
        .iter_mut()
        .find(|f| f.0 == name)
        .expect("the sample has index files")
        .1;
    if flags & 2 != 0 {
        for p in rest.chunks_exact(3) {
            let at = usize::from(u16::from_le_bytes([p[0], p[1]]));
            if at < file.len() {
                file[at] ^= p[2];
            }
        }
    } else {
        *file = rest.to_vec();
    }
    if flags & 4 != 0 {
        let cut = usize::from(flags >> 4) * 8;
        file.truncate(file.len().saturating_sub(cut));
    }
    let forged = flags & 8 != 0;
    if forged {
        reseal_index(name, file);
    }
    let tmp = tempfile::tempdir_in(tmp_root()).expect("temporary directory");
    for (n, b) in &files {
        fs::write(tmp.path().join(n), b).unwrap();
    }
    let mut opts = Options::with_dir(tmp.path());
    opts.set_segment_bytes(4096).unwrap();
    for round in 0..2 {
        let cache = Cache::open(&opts).unwrap_or_else(|e| panic!("open {round} failed: {e:?}"));
        check_sample(s, &cache, forged && round == 0, round);
        cache.close().unwrap();
        if forged {
            // What a forged index claims is kept until something proves it
            // wrong; start the second open from a rebuild.
            let _ = fs::remove_file(tmp.path().join("index.tcm"));
        }
    }
}

// ---------------------------------------------------------------------------
// Target 6: undo_decode

/// The files of [`index_sample`] with an undo journal made from `data`
/// beside them (docs/FORMAT.md "The undo journal"), its header naming the
/// sample's meta file and slots file in this boot, so that its entries are
/// read; then the directory opened and read twice. Byte 0: bit 0, forged:
/// every entry's slot number is taken modulo the table's capacity, and the
/// slot bytes and the entry's check are made good; bit 1: the header's
/// check is made bad; bit 2: the header names another meta file; bit 3:
/// the header's first word is zeros (a header being written). The rest:
/// entries, 48 bytes each as the journal lays them out.
///
/// Unforged, every key answers exactly what it held (entries that fail
/// their checks end the journal; a bad header makes the open rebuild; one
/// naming another meta file, or being written, is passed over). Forged, the
/// journal writes back slots that pass their checks but point anywhere:
/// every key then answers a value it was once given, or nothing, and
/// nothing panics.
pub fn undo_decode(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Some(boot) = fs::read("/proc/sys/kernel/random/boot_id")
        .ok()
        .and_then(|b| b.get(..36).map(<[u8]>::to_vec))
    else {
        return;
    };
    let s = index_sample();
    let file = |name: &str| {
        &s.files
            .iter()
            .find(|f| f.0 == name)
            .expect("the sample has index files")
            .1
    };
    let (meta, slots) = (file("index.tcm"), file("index.tci"));
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let meta_id =
        (u64::from(u32_at(meta, 44)) << 32 | u64::from(u32_at(meta, meta.len() - 4))) ^ u64::from(flags & 4 != 0);
    let capacity = u64::from_le_bytes(slots[8..16].try_into().unwrap());
    let epoch = 0x5eed_u64;
    let mut j = vec![0u8; 4096];
    j[0..4].copy_from_slice(b"TCXU");
    j[4..6].copy_from_slice(&1u16.to_le_bytes());
    j[8..16].copy_from_slice(&slots[16..24]);
    j[16..24].copy_from_slice(&capacity.to_le_bytes());
    j[24..32].copy_from_slice(&meta_id.to_le_bytes());
    j[32..40].copy_from_slice(&epoch.to_le_bytes());
    j[40..76].copy_from_slice(&boot);
    let crc = crc32fast::hash(&j[..80]) ^ u32::from(flags & 2 != 0);
    j[80..84].copy_from_slice(&crc.to_le_bytes());
    if flags & 8 != 0 {
        j[0..8].fill(0);
    }
    let forged = flags & 1 != 0;
    for e in rest.chunks(48) {
        let mut e = e.to_vec();
        e.resize(48, 0);
        if forged {
            let slot = u64::from_le_bytes(e[0..8].try_into().unwrap()) % capacity;
            e[0..8].copy_from_slice(&slot.to_le_bytes());
            if e[8..40].iter().any(|b| *b != 0) {
                let c = crc32c(&e[8..36]);
                e[36..40].copy_from_slice(&c.to_le_bytes());
            }
            let mut checked = epoch.to_le_bytes().to_vec();
            checked.extend_from_slice(&e[0..40]);
            let c = crc32c(&checked);
            e[40..44].copy_from_slice(&c.to_le_bytes());
        }
        j.extend_from_slice(&e);
    }
    let tmp = tempfile::tempdir_in(tmp_root()).expect("temporary directory");
    for (n, b) in &s.files {
        fs::write(tmp.path().join(n), b).unwrap();
    }
    fs::write(tmp.path().join("index.tcu"), &j).unwrap();
    let mut opts = Options::with_dir(tmp.path());
    opts.set_segment_bytes(4096).unwrap();
    for round in 0..2 {
        let cache = Cache::open(&opts).unwrap_or_else(|e| panic!("open {round} failed: {e:?}"));
        if round == 0 && forged && flags & 0b1110 == 0 && rest.len() >= 48 {
            assert_eq!(
                cache.counter("l2_checkpoints_undone"),
                Some(1),
                "a sound journal naming the meta file is undone"
            );
        }
        check_sample(s, &cache, forged, round);
        cache.close().unwrap();
    }
}

// ---------------------------------------------------------------------------
// Target 5: frame_decode

/// The namespace, Redis key name, secret and cache key of the fuzzed remote
/// frames (fixed, so seeds made with them reach past authentication).
pub const FRAME_NS: &[u8] = b"fuzz-ns";
pub const FRAME_NAME: &[u8] = b"tc:66757a7a2d6e73:k:fuzz";
pub const FRAME_SECRET: &[u8] = b"fuzz secret, 16+ bytes";
pub const FRAME_KEY: &[u8] = b"key";

/// The remote framings the target reads with, by the low two bits of byte
/// 0: plain (CRC32), signed (HMAC), sealed, sealed and signed; bit 2 adds
/// LZ4 compression (for the frames it writes back). Unpacking is limited
/// to [`FUZZ_MAX_VALUE`].
pub fn frame_sealer(mode: u8) -> tiercache::remote::frame::Sealer {
    use tiercache::remote::frame::Sealer;
    let secret = (mode & 1 != 0).then_some(FRAME_SECRET);
    let mut s = Sealer::new(FRAME_NS, secret).with_max_value_len(FUZZ_MAX_VALUE);
    if mode & 2 != 0 {
        s = s.with_key(&tiercache::EncryptionKey::new(&FUZZ_KEY).unwrap());
    }
    if mode & 4 != 0 {
        s = s.with_compression(tiercache::Compression::TC_COMPRESSION_LZ4, 0);
    }
    s
}

/// Byte 0 picks the framing ([`frame_sealer`]); the rest is a frame found
/// under [`FRAME_NAME`], then the same bytes as an invalidation message.
/// No panic; no allocation past the input's size and the unpack limit; a
/// frame that is accepted holds its key, re-encodes to one that decodes to
/// the same, and (signed or sealed) is refused under another namespace,
/// and (sealed) under another name; a message that is read re-encodes to
/// one read the same.
pub fn frame_decode(data: &[u8]) {
    let Some((&mode, raw)) = data.split_first() else {
        return;
    };
    let s = frame_sealer(mode);
    let (opened, _, largest) = watch_allocs(|| s.open(FRAME_NAME, raw));
    assert!(
        largest as u64 <= FUZZ_MAX_VALUE + 16 * raw.len() as u64 + (1 << 17),
        "an allocation of {largest} bytes for a {}-byte frame",
        raw.len()
    );
    if let Ok((key, frame)) = opened {
        assert!(!key.is_empty());
        assert_eq!(s.decode(FRAME_NAME, &key, raw), Ok(frame.clone()));
        if key != FRAME_KEY {
            assert!(
                s.decode(FRAME_NAME, FRAME_KEY, raw).is_err(),
                "another key's frame accepted"
            );
        }
        let again = s.encode(FRAME_NAME, &key, &frame);
        assert_eq!(s.decode(FRAME_NAME, &key, &again), Ok(frame.clone()), "no round trip");
        // A frame written by one framing is read by the same framing with
        // the other compression setting.
        let other = frame_sealer(mode ^ 4);
        assert_eq!(other.decode(FRAME_NAME, &key, &again), Ok(frame.clone()));
        if s.encrypts() {
            assert!(
                s.open(b"tc:66757a7a2d6e73:k:moved", raw).is_err(),
                "a sealed frame moved"
            );
        }
        if mode & 3 != 0 {
            let foreign = tiercache::remote::frame::Sealer::new(b"other-ns", (mode & 1 != 0).then_some(FRAME_SECRET))
                .with_max_value_len(FUZZ_MAX_VALUE);
            let foreign = if s.encrypts() {
                foreign.with_key(&tiercache::EncryptionKey::new(&FUZZ_KEY).unwrap())
            } else {
                foreign
            };
            assert!(foreign.open(FRAME_NAME, raw).is_err(), "a frame of another namespace");
        }
    }
    let channel = b"tc:66757a7a2d6e73:inv";
    if let Ok((sender, m)) = s.read_message(channel, raw) {
        let again = s.message(sender, channel, &m);
        assert_eq!(s.read_message(channel, &again), Ok((sender, m)));
    }
}

// ---------------------------------------------------------------------------
// Target 7: gone_segments

/// A copy of a directory's files as the log left them at one moment (what a
/// kill leaves: records still in the log's buffer are not in it), what
/// every key answered from the whole copy, and every value each key had
/// been given by then.
pub struct GoneSnapshot {
    pub files: Vec<(String, Vec<u8>)>,
    /// The names of its segment files, in id order.
    pub segments: Vec<String>,
    pub answers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    pub given: std::collections::HashMap<Vec<u8>, HashSet<Vec<u8>>>,
}

/// Keys of the `gone_segments` script.
const GONE_KEYS: u32 = 320;

fn gone_key(k: u32) -> Vec<u8> {
    format!("k{k}").into_bytes()
}

fn is_segment_name(n: &str) -> bool {
    n.len() == 14 && n.ends_with(".tcl") && n[..10].bytes().all(|b| b.is_ascii_digit())
}

/// Options the snapshots are opened with: no bound (so that nothing is
/// retired while the keys are read), the script's segment size.
fn gone_options(dir: &Path) -> Options {
    let mut opts = Options::with_dir(dir);
    opts.set_segment_bytes(4096).unwrap();
    opts
}

/// Every key's answer from a cache opened on `dir`, after checking that its
/// counts agree with the records.
fn gone_answers(cache: &Cache) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    cache
        .check_invariants()
        .unwrap_or_else(|e| panic!("counts disagree with the records: {e}"));
    (0..GONE_KEYS)
        .map(|k| {
            let key = gone_key(k);
            let v = match cache.get(&key) {
                Ok(v) => Some(v.to_vec()),
                Err(e) if e.status() == Status::TC_NOT_FOUND => None,
                Err(e) => panic!("get {key:x?}: {e:?}"),
            };
            (key, v)
        })
        .collect()
}

fn write_files(dir: &Path, files: &[(String, Vec<u8>)]) {
    for (n, b) in files {
        fs::write(dir.join(n), b).unwrap();
    }
}

/// Snapshots of one directory written by the log alone (no maintenance
/// thread: the same files in every process), under a bound of nine 4 KiB
/// segments, so that the oldest segments are retired as it goes, with
/// removals, compactions, hints written for some sealed segments and not
/// others, checkpoints merged at some snapshots and under way at others,
/// and the log's buffer written out before every other snapshot (lost
/// with the kill before the others). The first 16 are taken every 125
/// operations; the rest (15) between two chunks of a retirement (every
/// other retirement asked for goes four records a chunk), where the oldest
/// segment is condemned, part of its entries dropped and the meta file
/// still lists it.
pub fn gone_snapshots() -> &'static [GoneSnapshot] {
    static S: OnceLock<Vec<GoneSnapshot>> = OnceLock::new();
    S.get_or_init(|| {
        use tiercache::log::{Log, LogConfig};
        let tmp = tempfile::tempdir_in(tmp_root()).unwrap();
        let config = LogConfig {
            sync: tiercache::SyncPolicy::TC_SYNC_NEVER,
            segment_bytes: 4096,
            max_bytes: 9 * 4096,
            read_only: false,
            clock: tiercache::clock::Clock::system(),
            compression: tiercache::Compression::TC_COMPRESSION_NONE,
            min_compress_len: 0,
            max_value_len: FUZZ_MAX_VALUE,
            encryption_key: None,
        };
        let log = Log::open(tmp.path(), config, Default::default()).unwrap();
        let mut given: std::collections::HashMap<Vec<u8>, HashSet<Vec<u8>>> = Default::default();
        let mut snapshots = Vec::new();
        let mut midway = Vec::new();
        for i in 0..2000u32 {
            let key = gone_key((i * 7) % GONE_KEYS);
            let h = log.hasher().hash(&key);
            if i % 9 == 4 {
                let _ = log.remove(&key, h, 1);
            } else {
                let v = format!("value {i} of {} ", key.len())
                    .repeat(2 + (i % 5) as usize)
                    .into_bytes();
                log.put(&key, h, &v, 0, 1, None).expect("put");
                given.entry(key).or_default().insert(v);
            }
            if i % 37 == 36 {
                // Every other retirement asked for here goes four records
                // a chunk and takes a snapshot between two of its chunks:
                // the segment condemned (its files under their dead
                // names), part of its entries dropped, the meta file still
                // listing it (what a kill in the middle of retiring leaves).
                if i % 74 == 36 {
                    let pick = (i / 74) % 4 * 2;
                    let mut chunk = 0;
                    log.retire_in_chunks(4, || {
                        if chunk == pick {
                            midway.push(gone_snapshot(tmp.path(), &given));
                        }
                        chunk += 1;
                    });
                } else {
                    log.retire();
                }
            }
            if i % 53 == 52 {
                log.merge_index();
            }
            if i % 499 == 498 {
                log.compact(false).unwrap();
            }
            if i % 61 == 60 {
                log.write_hints();
            }
            if i % 250 == 124 {
                log.flush().unwrap();
            }
            if i % 125 == 124 {
                snapshots.push(gone_snapshot(tmp.path(), &given));
            }
        }
        // Each of these is what it says: a segment condemned and not yet
        // deleted (a file under its dead name).
        for m in &midway {
            assert!(
                m.files.iter().any(|(n, _)| n.ends_with(".tcl.dead.tmp")),
                "a snapshot between a retirement's chunks holds a condemned segment"
            );
        }
        assert!(midway.len() >= 10, "{} snapshots between chunks", midway.len());
        // After the 16 taken every 125 operations: byte 0 of an input
        // picks one of those below 16 as it did before these existed (not
        // the same files: the chunked retirements changed what followed).
        snapshots.extend(midway);
        snapshots
    })
}

/// The files of `dir` as a kill now would leave them (the log's buffer
/// not in them), with what an open of a copy answers.
fn gone_snapshot(dir: &Path, given: &std::collections::HashMap<Vec<u8>, HashSet<Vec<u8>>>) -> GoneSnapshot {
    let files: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(n, _)| n != "LOCK")
        .map(|(n, p)| (n, fs::read(p).unwrap()))
        .collect();
    let mut segments: Vec<String> = files
        .iter()
        .map(|f| f.0.clone())
        .filter(|n| is_segment_name(n))
        .collect();
    segments.sort();
    let copy = tempfile::tempdir_in(tmp_root()).unwrap();
    write_files(copy.path(), &files);
    let cache = Cache::open(&gone_options(copy.path())).unwrap();
    let answers = gone_answers(&cache);
    cache.close().unwrap();
    GoneSnapshot {
        files,
        segments,
        answers,
        given: given.clone(),
    }
}

/// One of [`gone_snapshots`] with segment files removed and index files,
/// hints or a segment's tail taken away as `data` says, then opened and
/// read. Byte 0 picks the snapshot; byte 1 is a mask over its segment
/// files in id order (bit i: the i-th is removed); byte 2: bit 0 removes
/// the meta file, bit 1 the slots file, bit 2 the undo journal, bit 3 the
/// hints of the removed segments, bit 4 every hint, bit 5 cuts segment
/// (byte 3 mod their number) to (bytes 4-5, a u16, mod its length).
///
/// Whatever is gone, the open succeeds and:
/// - it answers exactly as an open of the same files without the index
///   files (a rebuild from the log) does: the index file is trusted only
///   where that changes no answer (the oldest segments gone, as after a
///   kill in the middle of retiring one: their entries are dropped);
/// - every value is one the key was given, and its counts agree with its
///   records;
/// - with only the oldest segments removed and nothing cut, every key
///   answers what the whole copy answered, or nothing (never an older
///   value);
/// - a second open answers as the first.
pub fn gone_segments(data: &[u8]) {
    let snaps = gone_snapshots();
    let byte = |i: usize| data.get(i).copied().unwrap_or(0);
    let snap = &snaps[usize::from(byte(0)) % snaps.len()];
    let (mask, flags) = (byte(1), byte(2));
    let gone: Vec<&String> = snap
        .segments
        .iter()
        .enumerate()
        .filter(|(i, _)| *i < 8 && mask & (1 << i) != 0)
        .map(|(_, n)| n)
        .collect();
    let oldest_only = gone.iter().zip(&snap.segments).all(|(g, s)| *g == s);
    let mut files: Vec<(String, Vec<u8>)> = snap
        .files
        .iter()
        .filter(|(n, _)| !gone.contains(&n))
        .filter(|(n, _)| !(flags & 1 != 0 && n == "index.tcm"))
        .filter(|(n, _)| !(flags & 2 != 0 && n == "index.tci"))
        .filter(|(n, _)| !(flags & 4 != 0 && n == "index.tcu"))
        .filter(|(n, _)| !(flags & 16 != 0 && n.ends_with(".hint")))
        .filter(|(n, _)| flags & 8 == 0 || !gone.iter().any(|g| n.strip_suffix(".hint") == g.strip_suffix(".tcl")))
        .cloned()
        .collect();
    let cut = flags & 32 != 0 && !snap.segments.is_empty();
    if cut {
        let name = &snap.segments[usize::from(byte(3)) % snap.segments.len()];
        if let Some(f) = files.iter_mut().find(|f| &f.0 == name) {
            let at = usize::from(u16::from_le_bytes([byte(4), byte(5)])) % f.1.len().max(1);
            f.1.truncate(at);
        }
    }
    let tmp = tempfile::tempdir_in(tmp_root()).expect("temporary directory");
    write_files(tmp.path(), &files);
    let rebuilt = {
        let other = tempfile::tempdir_in(tmp_root()).expect("temporary directory");
        let without_index: Vec<_> = files
            .iter()
            .filter(|(n, _)| !n.starts_with("index."))
            .cloned()
            .collect();
        write_files(other.path(), &without_index);
        let cache = Cache::open(&gone_options(other.path())).unwrap_or_else(|e| panic!("rebuild open: {e:?}"));
        let a = gone_answers(&cache);
        cache.close().unwrap();
        a
    };
    let mut first = None;
    for round in 0..2 {
        let cache = Cache::open(&gone_options(tmp.path())).unwrap_or_else(|e| panic!("open {round}: {e:?}"));
        let answers = gone_answers(&cache);
        cache.close().unwrap();
        for ((key, got), (_, want)) in answers.iter().zip(&rebuilt) {
            assert_eq!(got, want, "key {key:x?}, open {round}: not what a rebuild answers");
            if let Some(g) = got {
                assert!(
                    snap.given.get(key).is_some_and(|vs| vs.contains(g)),
                    "key {key:x?} answered a value it was never given"
                );
            }
        }
        if oldest_only && !cut {
            for ((key, got), (_, whole)) in answers.iter().zip(&snap.answers) {
                assert!(
                    got.is_none() || got == whole,
                    "key {key:x?}: {got:x?}, older than {whole:x?}, with only the oldest segments gone"
                );
            }
        }
        match &first {
            None => first = Some(answers),
            Some(f) => assert_eq!(f, &answers, "the second open answers otherwise"),
        }
    }
}

/// Runs the target named `target` on `data` (for the regression test).
pub fn run(target: &str, data: &[u8]) {
    match target {
        "record_decode" => record_decode(data),
        "open_dir" => open_dir(data),
        "hint_decode" => hint_decode(data),
        "index_decode" => index_decode(data),
        "frame_decode" => frame_decode(data),
        "undo_decode" => undo_decode(data),
        "gone_segments" => gone_segments(data),
        other => panic!("no fuzz target {other}"),
    }
}
