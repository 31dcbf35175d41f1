//! The L2 record format: a fixed frame around a CBOR payload.
//!
//! This module owns the bytes of one record and nothing else: it encodes a
//! record into a buffer and checks and decodes one found in a slice. It never
//! does I/O and never trusts what it reads: a length is checked against the
//! bytes available and a hard cap before anything is allocated, the checksum
//! before anything decoded is used, and CBOR nesting is capped. (The one
//! reader that decodes first, `check_frame_copying`'s caller, does so only to
//! learn where the value lies, and verifies the whole frame in the same pass
//! that copies the value out, before it uses any field. A get of a record
//! whose checksum the log verified before, in this open, is not checksummed
//! again: `log::verified` keeps that fact.) `docs/FORMAT.md` describes the
//! same bytes for people.
//!
//! ```text
//! frame:   u32 LE  payload length N (1 ..= MAX_PAYLOAD)
//!          u32 LE  CRC32 (IEEE) of the 4 length bytes followed by the payload
//!          N bytes CBOR payload
//! payload: a definite-length CBOR map with unsigned-integer keys
//!          0: kind        uint  1 put, 2 tombstone, 3 clear   (always first)
//!          1: key         bstr  (absent for clear)
//!          2: value       bstr  (put only)
//!          3: expires_at  uint  ms since the UNIX epoch; absent or 0: never
//!          4: written_at  uint  ms since the UNIX epoch
//!          5: seq         uint  the record's sequence number (format 2 on;
//!                               absent in format 1 records: 0 here)
//!          6: meta        bstr  put only, optional: the entry's tags and file
//!                               dependency, a CBOR map of its own (`meta`)
//!          7: codec       uint  put only, with 8: the codec that packed the
//!                               value (`seal`: 1 LZ4, 2 zstd)
//!          8: packed      bstr  put only, instead of 2: the value packed
//!          9: sealed      bstr  in an encrypted directory, instead of 1, 2,
//!                               6, 7 and 8: nonce, then those fields as a
//!                               CBOR map of their own (`encode_inner`)
//!                               encrypted, then the tag (`seal::Keys`)
//!          other keys: skipped, so later versions may add optional fields
//! ```
//!
//! A packed or sealed record has no field 2 (and a sealed one no field 1),
//! so a reader of format 2 that predates them refuses it (counted corrupt)
//! rather than serving the packed or encrypted bytes as a value.

use ciborium_ll::{Decoder, Header};

mod restamp;
pub use restamp::{restamp, seq_field, seq_fits, Restamp};

use crate::options::{MAX_KEY_LEN, MAX_VALUE_LIMIT};

/// Bytes of the fixed frame before the payload.
pub const FRAME_HEADER: usize = 8;
/// Largest payload a reader accepts: the largest key and value plus room for
/// the map's other fields, a packed value's header and encryption's nonce and tag.
pub const MAX_PAYLOAD: usize = MAX_KEY_LEN + MAX_VALUE_LIMIT as usize + 512;
/// Deepest CBOR nesting accepted inside an unknown field.
const MAX_DEPTH: usize = 8;

const FIELD_KIND: u64 = 0;
const FIELD_KEY: u64 = 1;
const FIELD_VALUE: u64 = 2;
const FIELD_EXPIRES: u64 = 3;
const FIELD_WRITTEN: u64 = 4;
const FIELD_SEQ: u64 = 5;
const FIELD_META: u64 = 6;
const FIELD_CODEC: u64 = 7;
const FIELD_PACKED: u64 = 8;
const FIELD_SEALED: u64 = 9;

/// What a record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The key has this value (until `expires_at`).
    Put = 1,
    /// The key has no value.
    Tombstone = 2,
    /// No key written before this record has a value.
    Clear = 3,
}

/// A decoded record borrowing its key and value from the bytes it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    pub kind: Kind,
    pub key: &'a [u8],
    pub value: &'a [u8],
    pub expires_at: u64,
    pub written_at: u64,
    /// Where the record stands in the directory's history: every record
    /// appended gets the next number, so a higher one is always newer
    /// (see `log::store`). 0 in records of format 1, which had none.
    pub seq: u64,
    /// A put's tags and file dependency, encoded by `meta` (empty: none).
    /// Only checked to be a byte string here; `meta::Meta::decode` reads it.
    pub meta: &'a [u8],
    /// The codec that packed `value` (0: `value` is the value as it is;
    /// otherwise `seal::unpack` gives it back). Unknown ids are kept, so
    /// that such a record still hides older ones; it is never served.
    pub codec: u64,
    /// Non-empty in an encrypted directory: key, value, codec and meta
    /// sealed (`seal::Keys`), all four then empty here.
    pub sealed: &'a [u8],
}

/// What a sealed record holds once decrypted (see `encode_inner`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inner<'a> {
    pub key: &'a [u8],
    pub value: &'a [u8],
    pub codec: u64,
    pub meta: &'a [u8],
}

/// What `check_frame` found at an offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// A whole record whose checksum matches; `len` counts frame and payload.
    Valid { len: usize },
    /// The bytes end before the record does: a torn write at the tail.
    Truncated,
    /// The length is impossible or the checksum does not match.
    Corrupt,
}

/// Appends the framed record to `out`. The caller has checked key and value
/// sizes against the limits.
pub fn encode(out: &mut Vec<u8>, rec: &RecordRef<'_>) {
    encode_framed(out, rec, true);
}

/// `encode` without copying the value: appends to `out` the framed record
/// with the bytes of its value field left out, and returns where they
/// belong (an index into `out`): the record is `out[..at]`, `rec.value`,
/// `out[at..]`, with the length and CRC of the whole. For a plain put
/// (not sealed), so that a large value is written from where it lies
/// (`Store::append`) instead of being copied into the append buffer.
pub fn encode_around(out: &mut Vec<u8>, rec: &RecordRef<'_>) -> usize {
    debug_assert!(
        rec.kind == Kind::Put && rec.sealed.is_empty(),
        "only a plain put has its value outside"
    );
    encode_framed(out, rec, false)
}

/// `encode` (`inline`) or `encode_around`: returns where the value's bytes
/// start (or belong), `out.len()` for a record that has none.
fn encode_framed(out: &mut Vec<u8>, rec: &RecordRef<'_>, inline: bool) -> usize {
    let start = out.len();
    // One reservation for the whole record, so the writes below never
    // reallocate: 96 bytes cover the frame, every head and number, and the
    // whole 32 bytes the tail's run of `Heads` copies before it is cut back
    // (a put's front run, heads and numbers before its tail are at most 53
    // bytes; a shortfall would cost a reallocation, never a wrong byte).
    let value_here = if inline { rec.value.len() } else { 0 };
    out.reserve(96 + rec.key.len() + value_here + rec.meta.len() + rec.sealed.len());
    let put = rec.kind == Kind::Put;
    let sealed = !rec.sealed.is_empty();
    let fields = if sealed {
        4 + u64::from(put && rec.expires_at != 0)
    } else {
        match rec.kind {
            Kind::Put => {
                4 + u64::from(rec.expires_at != 0) + 1 + u64::from(!rec.meta.is_empty()) + u64::from(rec.codec != 0)
            }
            Kind::Tombstone => 4,
            Kind::Clear => 3,
        }
    };
    // The frame's length and CRC, zeros for now (filled in at the end).
    let mut front = Heads {
        len: FRAME_HEADER,
        ..Heads::default()
    };
    cbor_head(&mut front, MAJOR_MAP, fields);
    field(&mut front, FIELD_KIND, rec.kind as u64);
    if !sealed && rec.kind != Kind::Clear {
        cbor_head(&mut front, MAJOR_UINT, FIELD_KEY);
        cbor_head(&mut front, MAJOR_BYTES, rec.key.len() as u64);
    }
    front.append_to(out);
    let mut at = None;
    if sealed {
        if put && rec.expires_at != 0 {
            field(out, FIELD_EXPIRES, rec.expires_at);
        }
        field_bytes(out, FIELD_SEALED, rec.sealed);
    } else {
        if rec.kind != Kind::Clear {
            out.extend_from_slice(rec.key);
        }
        at = push_after_key(out, rec.kind, rec.value, rec.codec, &[], inline);
        if put && rec.expires_at != 0 {
            field(out, FIELD_EXPIRES, rec.expires_at);
        }
        if put && !rec.meta.is_empty() {
            field_bytes(out, FIELD_META, rec.meta);
        }
    }
    let mut tail = Heads::default();
    field(&mut tail, FIELD_WRITTEN, rec.written_at);
    field(&mut tail, FIELD_SEQ, rec.seq);
    tail.append_to(out);
    let outside = if inline { 0 } else { rec.value.len() };
    let payload_len = (out.len() - start - FRAME_HEADER + outside) as u32;
    let len_bytes = payload_len.to_le_bytes();
    let mut crc = crate::crc::hasher();
    crc.update(&len_bytes);
    let at = at.unwrap_or(out.len());
    if inline {
        crc.update(&out[start + FRAME_HEADER..]);
    } else {
        crc.update(&out[start + FRAME_HEADER..at]);
        crc.update(rec.value);
        crc.update(&out[at..]);
    }
    let crc = crc.finalize();
    out[start..start + 4].copy_from_slice(&len_bytes);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    at
}

/// Where `cbor_head` and `field` write: the record itself, or `Heads`.
trait Sink {
    fn push(&mut self, b: u8);
    fn extend_from_slice(&mut self, b: &[u8]);
}

impl Sink for Vec<u8> {
    #[inline(always)]
    fn push(&mut self, b: u8) {
        Vec::push(self, b);
    }
    #[inline(always)]
    fn extend_from_slice(&mut self, b: &[u8]) {
        Vec::extend_from_slice(self, b);
    }
}

/// A run of small items (the frame's placeholder, heads, numbers) gathered
/// on the stack and then copied into the record at once: each `Vec` push
/// checks the capacity and stores the length, and a record's front and
/// tail were about ten of them. A run is the front (frame 8, map head 1,
/// kind 2, key field 1 and its length head at most 9: 21 bytes) or the
/// tail (the written and seq fields, at most 10 each), so 32 bytes hold
/// any; a longer one would panic on the index, never write past it.
/// Measured: 33 instructions fewer per 100-byte put (callgrind,
/// BENCHMARKS.md "Puts"); the same with a copy of the run's own length
/// (a call to `memcpy` each) gained nothing, nor did a third run for the
/// value's heads.
#[derive(Default)]
struct Heads {
    buf: [u8; 32],
    len: usize,
}

impl Heads {
    /// Appends the run to `out`: all 32 bytes, a copy of fixed size (two
    /// vector stores, not a call to `memcpy`), then the length cut back.
    #[inline(always)]
    fn append_to(&self, out: &mut Vec<u8>) {
        let n = out.len() + self.len;
        out.extend_from_slice(&self.buf);
        out.truncate(n);
    }
}

impl Sink for Heads {
    #[inline(always)]
    fn push(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }
    #[inline(always)]
    fn extend_from_slice(&mut self, b: &[u8]) {
        self.buf[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
    }
}

const MAJOR_UINT: u8 = 0;
const MAJOR_BYTES: u8 = 2;
const MAJOR_MAP: u8 = 5;

/// Writes the head of a CBOR item (major type `major`, argument `n`) in its
/// shortest form, the form ciborium's encoder writes (a test checks they
/// agree byte for byte). Written by hand and always inlined, for speed:
/// ciborium's `Encoder` cost about 550 instructions per record, a seventh
/// of a 100-byte put through the .so; left to the compiler, these three
/// helpers stayed calls (4 per record), about 110 instructions more.
#[inline(always)]
fn cbor_head(out: &mut impl Sink, major: u8, n: u64) {
    let m = major << 5;
    if n < 24 {
        out.push(m | n as u8);
    } else if n <= u64::from(u8::MAX) {
        out.extend_from_slice(&[m | 24, n as u8]);
    } else if n <= u64::from(u16::MAX) {
        out.push(m | 25);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else if n <= u64::from(u32::MAX) {
        out.push(m | 26);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// A map entry: field number `f`, unsigned value `n`.
#[inline(always)]
fn field(out: &mut impl Sink, f: u64, n: u64) {
    cbor_head(out, MAJOR_UINT, f);
    cbor_head(out, MAJOR_UINT, n);
}

/// A map entry: field number `f`, byte string `b`.
#[inline(always)]
fn field_bytes(out: &mut Vec<u8>, f: u64, b: &[u8]) {
    cbor_head(out, MAJOR_UINT, f);
    cbor_head(out, MAJOR_BYTES, b.len() as u64);
    out.extend_from_slice(b);
}

/// Writes the fields after the key that a sealed record encrypts (value or
/// codec and packed value, meta), as many as the kind has, in the order a
/// plain record has them; the key's field (every kind but a clear) comes
/// before them, written by the caller (`encode_framed` puts its heads in
/// the record's front run, `Heads`). Returns where the value's bytes start
/// in `out` (a put); without `inline` they are left out (`encode_around`).
/// Always inlined: a put calls it once per record, and as a call (seven
/// arguments, the `Vec`'s length reloaded around it) it cost ~34
/// instructions of a 100-byte `tc_put`'s ~1800 (callgrind, `hit.c put`).
#[inline(always)]
fn push_after_key(out: &mut Vec<u8>, kind: Kind, value: &[u8], codec: u64, meta: &[u8], inline: bool) -> Option<usize> {
    if kind != Kind::Put {
        return None;
    }
    if codec != 0 {
        field(out, FIELD_CODEC, codec);
    }
    cbor_head(out, MAJOR_UINT, if codec == 0 { FIELD_VALUE } else { FIELD_PACKED });
    cbor_head(out, MAJOR_BYTES, value.len() as u64);
    let at = out.len();
    if inline {
        out.extend_from_slice(value);
    }
    if !meta.is_empty() {
        field_bytes(out, FIELD_META, meta);
    }
    Some(at)
}

/// Appends the plaintext a sealed record of `kind` encrypts: a CBOR map of
/// the fields 1 (key), 2 (value) or 7 and 8 (codec, packed value), and 6
/// (meta), those that a plain record of that kind would have.
pub fn encode_inner(out: &mut Vec<u8>, kind: Kind, inner: &Inner<'_>) {
    let fields = match kind {
        Kind::Put => 2 + u64::from(inner.codec != 0) + u64::from(!inner.meta.is_empty()),
        Kind::Tombstone => 1,
        Kind::Clear => 0,
    };
    cbor_head(out, MAJOR_MAP, fields);
    if kind != Kind::Clear {
        field_bytes(out, FIELD_KEY, inner.key);
    }
    push_after_key(out, kind, inner.value, inner.codec, inner.meta, true);
}

/// Decodes what `encode_inner` wrote for a record of `kind`, with the rules
/// of a plain record (a key 1 ..= 65536 bytes unless a clear; a put has
/// exactly one of a value and a packed value). Unknown fields are skipped.
pub fn decode_inner(kind: Kind, plain: &[u8]) -> Option<Inner<'_>> {
    let mut cur = Cursor { bytes: plain, pos: 0 };
    let Header::Map(Some(n)) = cur.header()? else {
        return None;
    };
    let mut f = Fields {
        kind: Some(kind),
        ..Fields::default()
    };
    for _ in 0..n {
        match cur.uint()? {
            FIELD_KEY => f.key = Some(cur.bytes()?),
            FIELD_VALUE => f.value = Some(cur.bytes()?),
            FIELD_META => f.meta = Some(cur.bytes()?),
            FIELD_CODEC => f.codec = Some(cur.uint()?),
            FIELD_PACKED => f.packed = Some(cur.bytes()?),
            // The fields kept outside may not hide inside.
            FIELD_KIND | FIELD_EXPIRES | FIELD_WRITTEN | FIELD_SEQ | FIELD_SEALED => return None,
            _ => {
                let h = cur.header()?;
                cur.skip_after(h, 0)?;
            }
        }
    }
    if cur.pos != plain.len() {
        return None;
    }
    let r = finish(f)?;
    Some(Inner {
        key: r.key,
        value: r.value,
        codec: r.codec,
        meta: r.meta,
    })
}

/// The length of the framed record at the start of `bytes`, without checking
/// its checksum: for bytes this process wrote itself.
pub fn frame_len(bytes: &[u8]) -> Option<usize> {
    let header: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
    Some(FRAME_HEADER + u32::from_le_bytes(header) as usize)
}

/// Checks the frame at the start of `bytes`: its length against what is there
/// and against `MAX_PAYLOAD`, then its checksum.
pub fn check_frame(bytes: &[u8]) -> Frame {
    if bytes.len() < FRAME_HEADER {
        return Frame::Truncated;
    }
    let len = u32::from_le_bytes(bytes[0..4].try_into().unwrap()) as usize;
    if len == 0 || len > MAX_PAYLOAD {
        return Frame::Corrupt;
    }
    if bytes.len() - FRAME_HEADER < len {
        return Frame::Truncated;
    }
    if frame_crc(&bytes[0..4], &bytes[FRAME_HEADER..FRAME_HEADER + len]) == stored_crc(bytes) {
        Frame::Valid {
            len: FRAME_HEADER + len,
        }
    } else {
        Frame::Corrupt
    }
}

/// The payload of the frame at the start of `bytes`, its length checked
/// against what is there and against `MAX_PAYLOAD` but its checksum NOT
/// verified: for `check_frame_copying`, which verifies it later in the pass
/// that copies the value (nothing decoded from it may be used before then),
/// and for a record whose checksum the log verified before and remembers
/// (`log::verified`).
pub fn unverified_payload(bytes: &[u8]) -> Option<&[u8]> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    if len == 0 || len > MAX_PAYLOAD {
        return None;
    }
    bytes.get(FRAME_HEADER..FRAME_HEADER + len)
}

/// Bytes checksummed, then copied, at a time by `check_frame_copying`: small
/// enough that a chunk the checksum just read is still in the CPU's cache
/// when it is copied.
const COPY_CHUNK: usize = 4096;

/// Verifies the checksum of the frame at the start of `bytes` (whose length
/// `unverified_payload` accepted) and copies `part`, a slice of that
/// frame's payload, into `dst`, in one pass: each chunk of `part` is
/// checksummed and then copied while it is in the CPU's cache, so a value
/// read from cold memory is read from it once, not once for the checksum
/// and again for the copy. Every byte of `dst` is written; the result says
/// whether the checksum matched (if not, the caller must not hand `dst`
/// out).
///
/// # Panics
/// If `part` is not empty and does not lie within the frame's payload
/// (callers pass a slice they decoded from it), or `dst` is not as long as
/// `part`.
pub fn check_frame_copying(bytes: &[u8], part: &[u8], dst: &mut [std::mem::MaybeUninit<u8>]) -> bool {
    assert_eq!(dst.len(), part.len(), "the copy is as long as the part");
    let Some(payload) = unverified_payload(bytes) else {
        return false;
    };
    if part.is_empty() {
        // Nothing to copy (and an empty value decoded from an absent field
        // need not point into the payload at all).
        return matches!(check_frame(bytes), Frame::Valid { .. });
    }
    let start = (part.as_ptr() as usize)
        .checked_sub(payload.as_ptr() as usize)
        .expect("the part copied lies within the payload");
    let end = start + part.len();
    assert!(end <= payload.len(), "the part copied lies within the payload");
    let want = stored_crc(bytes);
    let mut crc = crate::crc::hasher();
    crc.update(&bytes[0..4]);
    // The payload is checksummed in as few calls as there are chunks (the
    // first takes the fields before the value along, the last those after
    // it): short calls take crc32fast's slow path.
    let mut done = 0;
    let mut at = start;
    for (from, to) in part.chunks(COPY_CHUNK).zip(dst.chunks_mut(COPY_CHUNK)) {
        at += from.len();
        let upto = if at == end { payload.len() } else { at };
        crc.update(&payload[done..upto]);
        done = upto;
        assert_eq!(from.len(), to.len());
        // SAFETY: `to` is `from.len()` bytes of `dst`, a `&mut` borrow,
        // which cannot overlap `bytes`, a shared one.
        unsafe { std::ptr::copy_nonoverlapping(from.as_ptr(), to.as_mut_ptr().cast::<u8>(), from.len()) };
    }
    crc.update(&payload[done..]);
    // Every byte of `dst` was written above: its chunks and `part`'s pair
    // up one to one (the same length, the same chunk size).
    crc.finalize() == want
}

/// Whether a record could plausibly start at the start of `bytes`: a cheap
/// filter used when searching for the next record after a corrupt one, before
/// the checksum is computed. It relies on writers putting the kind field first.
pub fn looks_like_frame(bytes: &[u8]) -> bool {
    if bytes.len() < FRAME_HEADER + 3 {
        return false;
    }
    let p = &bytes[FRAME_HEADER..];
    // Map of 2..=23 entries, first key 0, kind 1..=3.
    (0xa2..=0xb7).contains(&p[0]) && p[1] == 0x00 && (1..=3).contains(&p[2])
}

/// Whether `bytes`, whose frame claims more bytes than there are (where
/// `check_frame` says `Truncated`), are one whole frame whose length field
/// alone was damaged: the checksum matches when the length is taken to be
/// what `bytes` hold. The checksum covers the length bytes, so a
/// frame cut short by a crash matches this way only by a 2^-32 accident,
/// while a bit flipped in the length of a log's last record, which would
/// otherwise read exactly like that crash, is told apart from it
/// (`log::scan`).
pub fn whole_but_for_its_length(bytes: &[u8]) -> bool {
    let Some(held) = bytes.len().checked_sub(FRAME_HEADER) else {
        return false;
    };
    let (Ok(len), Some(stored)) = (u32::try_from(held), bytes.get(0..4)) else {
        return false;
    };
    let claimed = u32::from_le_bytes(stored.try_into().unwrap());
    if held == 0 || held > MAX_PAYLOAD || claimed <= len {
        return false;
    }
    frame_crc(&len.to_le_bytes(), &bytes[FRAME_HEADER..]) == stored_crc(bytes)
}

/// A frame's checksum: of its 4 length bytes followed by its payload (the
/// frame format above). `check_frame` compares it with the stored one, and
/// `whole_but_for_its_length` relies on the length bytes being covered.
#[inline]
fn frame_crc(len_bytes: &[u8], payload: &[u8]) -> u32 {
    let mut crc = crate::crc::hasher();
    crc.update(len_bytes);
    crc.update(payload);
    crc.finalize()
}

/// The checksum stored in the frame at the start of `bytes` (which holds
/// at least `FRAME_HEADER` bytes).
#[inline]
fn stored_crc(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes[4..8].try_into().unwrap())
}

/// The payload of a frame that `check_frame` found valid.
pub fn payload(frame: &[u8]) -> &[u8] {
    let len = u32::from_le_bytes(frame[0..4].try_into().unwrap()) as usize;
    &frame[FRAME_HEADER..FRAME_HEADER + len]
}

/// The key of the framed record at the start of `bytes`, without verifying
/// its checksum: for telling keys apart on the write path, where a record
/// written by this process is compared with the key being written (a read
/// that returns a value always verifies the checksum). Lengths are still
/// checked against the bytes before slicing.
pub fn key_of(bytes: &[u8]) -> Option<&[u8]> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let payload = bytes.get(FRAME_HEADER..FRAME_HEADER.checked_add(len)?)?;
    key_of_known(payload).or_else(|| key_of_general(payload))
}

/// `key_of`'s direct path: the kind field first, then the key, as written.
fn key_of_known(p: &[u8]) -> Option<&[u8]> {
    let mut pos = 0;
    let (5, _) = head(p, &mut pos)? else { return None };
    let ((0, FIELD_KIND), (0, _), (0, FIELD_KEY), (2, n)) = (
        head(p, &mut pos)?,
        head(p, &mut pos)?,
        head(p, &mut pos)?,
        head(p, &mut pos)?,
    ) else {
        return None;
    };
    p.get(pos..pos.checked_add(usize::try_from(n).ok()?)?)
}

fn key_of_general(payload: &[u8]) -> Option<&[u8]> {
    let mut cur = Cursor { bytes: payload, pos: 0 };
    let Header::Map(Some(fields)) = cur.header()? else {
        return None;
    };
    for _ in 0..fields {
        match cur.uint()? {
            FIELD_KEY => return cur.bytes(),
            _ => {
                let h = cur.header()?;
                cur.skip_after(h, 0)?;
            }
        }
    }
    None
}

/// Decodes a payload. `None` means it is not a record this version can read.
///
/// A plain put laid out as this version writes it takes the first path
/// (`decode_plain_put`); other records as this version writes them (a map of
/// the known fields with short definite lengths) take a direct path that
/// reads the CBOR heads in place; anything else, such as a record carrying
/// fields added by a later version, goes through the general `ciborium_ll`
/// decoder. They agree on every input the first two accept (see the tests).
pub fn decode(payload: &[u8]) -> Option<RecordRef<'_>> {
    decode_plain_put(payload)
        .or_else(|| decode_known(payload))
        .or_else(|| decode_general(payload))
}

/// The first path of `decode`: a plain put laid out exactly as
/// `encode_framed` writes one (kind, key, value, then expiry and meta if
/// the record has them, then `written_at` and `seq`), read field by field
/// in that order; `None` for anything else, which `decode_known` then reads.
///
/// Why: every L2 hit decodes its record, nearly always a plain put, and
/// `decode_known`'s loop (a head and a match per field, then `finish`'s
/// rules) cost about 320 instructions per hit (callgrind, `hit.c l2 1024`).
/// Reading the fields in their written order needs no dispatch; the rules
/// `finish` applies to a plain put (a key of 1 ..= MAX_KEY_LEN bytes, a
/// value, no codec or packed value: there are none in this layout) are
/// checked here. The three paths agree wherever this one answers (tests).
fn decode_plain_put(p: &[u8]) -> Option<RecordRef<'_>> {
    // The map's head (5 to 7 fields), then kind: put, then field 1.
    let [map @ 0xa5..=0xa7, 0x00, 0x01, 0x01, ..] = *p else {
        return None;
    };
    let mut pos = 4;
    let uint = |pos: &mut usize| uint_at(p, pos);
    let bytes = |pos: &mut usize| bytes_at(p, pos);
    // The field number at `pos`, if it is `f` (all are below 24: one byte).
    let field = |pos: &mut usize, f: u8| {
        let here = p.get(*pos) == Some(&f);
        *pos += usize::from(here);
        here
    };
    let key = bytes(&mut pos)?;
    if key.is_empty() || key.len() > MAX_KEY_LEN || !field(&mut pos, FIELD_VALUE as u8) {
        return None;
    }
    let value = bytes(&mut pos)?;
    let mut fields = 5;
    let mut expires_at = 0;
    if field(&mut pos, FIELD_EXPIRES as u8) {
        expires_at = uint(&mut pos)?;
        fields += 1;
    }
    let mut meta: &[u8] = &[];
    if field(&mut pos, FIELD_META as u8) {
        meta = bytes(&mut pos)?;
        fields += 1;
    }
    if !field(&mut pos, FIELD_WRITTEN as u8) {
        return None;
    }
    let written_at = uint(&mut pos)?;
    if !field(&mut pos, FIELD_SEQ as u8) {
        return None;
    }
    let seq = uint(&mut pos)?;
    if pos != p.len() || map & 0x1f != fields {
        return None;
    }
    Some(RecordRef {
        kind: Kind::Put,
        key,
        value,
        expires_at,
        written_at,
        seq,
        meta,
        codec: 0,
        sealed: &[],
    })
}

/// An unsigned integer at `*pos` (a CBOR head of major type 0).
#[inline(always)]
fn uint_at(p: &[u8], pos: &mut usize) -> Option<u64> {
    match head(p, pos)? {
        (0, n) => Some(n),
        _ => None,
    }
}

/// A byte string at `*pos` (a CBOR head of major type 2 and its bytes).
#[inline(always)]
fn bytes_at<'a>(p: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    match head(p, pos)? {
        (2, n) => {
            let start = *pos;
            let end = start.checked_add(usize::try_from(n).ok()?)?;
            *pos = end;
            p.get(start..end)
        }
        _ => None,
    }
}

/// One CBOR head at `*pos`: (major type, argument). Only definite forms.
/// Inlined: a call for each of a record's dozen heads was a tenth of a
/// get's decode.
#[inline(always)]
fn head(p: &[u8], pos: &mut usize) -> Option<(u8, u64)> {
    let b = *p.get(*pos)?;
    let (major, info) = (b >> 5, b & 0x1f);
    let (arg, len) = match info {
        0..=23 => (u64::from(info), 1),
        24 => (u64::from(*p.get(*pos + 1)?), 2),
        25 => (
            u64::from(u16::from_be_bytes(p.get(*pos + 1..*pos + 3)?.try_into().ok()?)),
            3,
        ),
        26 => (
            u64::from(u32::from_be_bytes(p.get(*pos + 1..*pos + 5)?.try_into().ok()?)),
            5,
        ),
        27 => (u64::from_be_bytes(p.get(*pos + 1..*pos + 9)?.try_into().ok()?), 9),
        _ => return None,
    };
    *pos += len;
    Some((major, arg))
}

/// The direct path of `decode`: `None` for anything it does not handle.
fn decode_known(p: &[u8]) -> Option<RecordRef<'_>> {
    let mut pos = 0;
    let (5, fields) = head(p, &mut pos)? else { return None };
    if fields > 10 {
        return None;
    }
    let mut f = Fields::default();
    let uint = |pos: &mut usize| uint_at(p, pos);
    let bytes = |pos: &mut usize| bytes_at(p, pos);
    for _ in 0..fields {
        match uint(&mut pos)? {
            FIELD_KIND => f.kind = Some(kind_of(uint(&mut pos)?)?),
            FIELD_KEY => f.key = Some(bytes(&mut pos)?),
            FIELD_VALUE => f.value = Some(bytes(&mut pos)?),
            FIELD_EXPIRES => f.expires_at = uint(&mut pos)?,
            FIELD_WRITTEN => f.written_at = uint(&mut pos)?,
            FIELD_SEQ => f.seq = uint(&mut pos)?,
            FIELD_META => f.meta = Some(bytes(&mut pos)?),
            FIELD_CODEC => f.codec = Some(uint(&mut pos)?),
            FIELD_PACKED => f.packed = Some(bytes(&mut pos)?),
            FIELD_SEALED => f.sealed = Some(bytes(&mut pos)?),
            _ => return None,
        }
    }
    if pos != p.len() {
        return None;
    }
    finish(f)
}

fn kind_of(n: u64) -> Option<Kind> {
    match n {
        1 => Some(Kind::Put),
        2 => Some(Kind::Tombstone),
        3 => Some(Kind::Clear),
        _ => None,
    }
}

/// The fields of a payload as read, before `finish` checks them.
#[derive(Default)]
struct Fields<'a> {
    kind: Option<Kind>,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    expires_at: u64,
    written_at: u64,
    seq: u64,
    meta: Option<&'a [u8]>,
    codec: Option<u64>,
    packed: Option<&'a [u8]>,
    sealed: Option<&'a [u8]>,
}

/// The rules both decoding paths end with: which fields each kind needs. A
/// sealed record has none of the fields it seals; a put has a value, or a
/// codec (not 0) and a packed value, never both.
fn finish(f: Fields<'_>) -> Option<RecordRef<'_>> {
    let kind = f.kind?;
    if let Some(sealed) = f.sealed {
        // Nonce and tag at least: an empty one would make the record look
        // plain, with an empty key.
        if sealed.len() < crate::seal::SEAL_OVERHEAD {
            return None;
        }
        if f.key.is_some() || f.value.is_some() || f.meta.is_some() || f.codec.is_some() || f.packed.is_some() {
            return None;
        }
        return Some(RecordRef {
            kind,
            key: &[],
            value: &[],
            expires_at: f.expires_at,
            written_at: f.written_at,
            seq: f.seq,
            meta: &[],
            codec: 0,
            sealed,
        });
    }
    // A clear record names no key: one found there is ignored (no writer
    // puts one, and it would not survive a re-encoding).
    let key = match kind {
        Kind::Clear => &[],
        _ => f.key.filter(|k| !k.is_empty() && k.len() <= MAX_KEY_LEN)?,
    };
    let (value, codec) = match kind {
        Kind::Put => match (f.value, f.codec, f.packed) {
            (Some(v), None, None) => (v, 0),
            (None, Some(c), Some(p)) if c != 0 => (p, c),
            _ => return None,
        },
        _ => (&[][..], 0),
    };
    Some(RecordRef {
        kind,
        key,
        value,
        expires_at: f.expires_at,
        written_at: f.written_at,
        seq: f.seq,
        meta: if kind == Kind::Put { f.meta.unwrap_or(&[]) } else { &[] },
        codec,
        sealed: &[],
    })
}

/// The general path of `decode`, through `ciborium_ll`: skips unknown fields.
fn decode_general(payload: &[u8]) -> Option<RecordRef<'_>> {
    let mut cur = Cursor { bytes: payload, pos: 0 };
    let fields = match cur.header()? {
        Header::Map(Some(n)) => n,
        _ => return None,
    };
    let mut f = Fields::default();
    for _ in 0..fields {
        let field = match cur.header()? {
            Header::Positive(n) => n,
            other => {
                // A key of another type: skip it and its value.
                cur.skip_after(other, 0)?;
                let h = cur.header()?;
                cur.skip_after(h, 0)?;
                continue;
            }
        };
        match field {
            FIELD_KIND => f.kind = Some(kind_of(cur.uint()?)?),
            FIELD_KEY => f.key = Some(cur.bytes()?),
            FIELD_VALUE => f.value = Some(cur.bytes()?),
            FIELD_EXPIRES => f.expires_at = cur.uint()?,
            FIELD_WRITTEN => f.written_at = cur.uint()?,
            FIELD_SEQ => f.seq = cur.uint()?,
            FIELD_META => f.meta = Some(cur.bytes()?),
            FIELD_CODEC => f.codec = Some(cur.uint()?),
            FIELD_PACKED => f.packed = Some(cur.bytes()?),
            FIELD_SEALED => f.sealed = Some(cur.bytes()?),
            _ => {
                let h = cur.header()?;
                cur.skip_after(h, 0)?;
            }
        }
    }
    if cur.pos != payload.len() {
        return None;
    }
    finish(f)
}

/// A position in a payload, pulling CBOR items with `ciborium_ll`.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn header(&mut self) -> Option<Header> {
        let rest = self.bytes.get(self.pos..)?;
        let mut dec = Decoder::from(rest);
        let h = dec.pull().ok()?;
        self.pos += dec.offset();
        Some(h)
    }

    fn uint(&mut self) -> Option<u64> {
        match self.header()? {
            Header::Positive(n) => Some(n),
            _ => None,
        }
    }

    /// `n` bytes from here, checked against what is left before slicing.
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        match self.header()? {
            Header::Bytes(Some(n)) => self.take(n),
            _ => None,
        }
    }

    /// Skips the body of an item whose header `h` was just pulled.
    fn skip_after(&mut self, h: Header, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match h {
            Header::Positive(_) | Header::Negative(_) | Header::Float(_) | Header::Simple(_) => Some(()),
            Header::Bytes(Some(n)) | Header::Text(Some(n)) => self.take(n).map(|_| ()),
            Header::Tag(_) => {
                let inner = self.header()?;
                self.skip_after(inner, depth + 1)
            }
            Header::Array(Some(n)) => self.skip_items(n, depth),
            Header::Map(Some(n)) => self.skip_items(n.checked_mul(2)?, depth),
            // Indefinite lengths and stray breaks are never written by tiercache.
            _ => None,
        }
    }

    fn skip_items(&mut self, n: usize, depth: usize) -> Option<()> {
        // Every item takes at least one byte: a count beyond what is left is a lie.
        if n > self.bytes.len() - self.pos {
            return None;
        }
        for _ in 0..n {
            let h = self.header()?;
            self.skip_after(h, depth + 1)?;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record encoded around its value is, with the value put back where
    /// `encode_around` says, the record `encode` writes, frame and CRC
    /// included (packed values and meta too; after other bytes in `out`).
    #[test]
    fn encode_around_is_encode_without_the_copy() {
        for (len, codec, meta, expires_at) in [
            (0usize, 0u64, &b""[..], 0u64),
            (23, 0, b"", 5),
            (300, 1, b"m", 0),
            (70_000, 0, b"tags", u64::MAX),
        ] {
            let value: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let rec = RecordRef {
                kind: Kind::Put,
                key: b"k",
                value: &value,
                expires_at,
                written_at: 99,
                seq: 1 << 40,
                meta,
                codec,
                sealed: &[],
            };
            let mut whole = b"before".to_vec();
            encode(&mut whole, &rec);
            let mut around = b"before".to_vec();
            let at = encode_around(&mut around, &rec);
            around.splice(at..at, value.iter().copied());
            assert_eq!(around, whole, "value of {len} bytes");
            assert!(matches!(check_frame(&whole[6..]), Frame::Valid { .. }));
        }
    }

    /// The hand-written heads are byte for byte what ciborium writes, at
    /// every boundary of every length class, for each major type used.
    #[test]
    fn heads_match_ciborium() {
        let mut ns = vec![
            0u64,
            1,
            23,
            24,
            25,
            255,
            256,
            65535,
            65536,
            u32::MAX as u64,
            1 << 32,
            u64::MAX,
        ];
        ns.extend((0..64).map(|b| 1u64 << b));
        for n in ns {
            for (major, theirs) in [
                (MAJOR_UINT, Header::Positive(n)),
                (MAJOR_MAP, Header::Map(Some(n as usize))),
                (MAJOR_BYTES, Header::Bytes(Some(n as usize))),
            ] {
                let mut ours = Vec::new();
                cbor_head(&mut ours, major, n);
                let mut want = Vec::new();
                ciborium_ll::Encoder::from(&mut want).push(theirs).unwrap();
                assert_eq!(ours, want, "major {major}, n {n}");
            }
        }
    }

    /// A whole record's payload is byte for byte ciborium's encoding of its
    /// map, for every kind, with and without each optional field, and with
    /// lengths and numbers in every head length class: the encoder writes
    /// its front and tail through `Heads` and the rest straight into the
    /// buffer, and a field in the wrong run or order would show here.
    #[test]
    fn whole_records_match_ciborium() {
        use ciborium_ll::Encoder;
        let long = vec![7u8; 70_000];
        let mut n = 0;
        for kind in [Kind::Put, Kind::Tombstone, Kind::Clear] {
            for (key_len, value_len) in [(1, 0), (23, 24), (24, 255), (256, 65_536), (65_536, 70_000)] {
                for number in [0u64, 23, 24, 300, 70_000, 1 << 33] {
                    for (meta, codec, sealed) in [
                        (&b""[..], 0, &b""[..]),
                        (&b"\xa0"[..], 0, &b""[..]),
                        (&b""[..], 2, &b""[..]),
                        (&b"\xa0"[..], 300, &b""[..]),
                        (&b""[..], 0, &b"sealed bytes"[..]),
                    ] {
                        let rec = RecordRef {
                            kind,
                            key: if sealed.is_empty() { &long[..key_len] } else { &[] },
                            value: if sealed.is_empty() { &long[..value_len] } else { &[] },
                            expires_at: number,
                            written_at: number.wrapping_mul(3),
                            seq: number + 1,
                            meta: if kind == Kind::Put { meta } else { &[] },
                            codec: if kind == Kind::Put { codec } else { 0 },
                            sealed,
                        };
                        let put = kind == Kind::Put;
                        let mut fields: Vec<(u64, Result<u64, &[u8]>)> = vec![(FIELD_KIND, Ok(kind as u64))];
                        if !sealed.is_empty() {
                            if put && rec.expires_at != 0 {
                                fields.push((FIELD_EXPIRES, Ok(rec.expires_at)));
                            }
                            fields.push((FIELD_SEALED, Err(sealed)));
                        } else {
                            if kind != Kind::Clear {
                                fields.push((FIELD_KEY, Err(rec.key)));
                            }
                            if put {
                                if rec.codec != 0 {
                                    fields.push((FIELD_CODEC, Ok(rec.codec)));
                                    fields.push((FIELD_PACKED, Err(rec.value)));
                                } else {
                                    fields.push((FIELD_VALUE, Err(rec.value)));
                                }
                                if rec.expires_at != 0 {
                                    fields.push((FIELD_EXPIRES, Ok(rec.expires_at)));
                                }
                                if !rec.meta.is_empty() {
                                    fields.push((FIELD_META, Err(rec.meta)));
                                }
                            }
                        }
                        fields.push((FIELD_WRITTEN, Ok(rec.written_at)));
                        fields.push((FIELD_SEQ, Ok(rec.seq)));
                        let mut want = Vec::new();
                        let mut e = Encoder::from(&mut want);
                        e.push(Header::Map(Some(fields.len()))).unwrap();
                        for (f, v) in fields {
                            e.push(Header::Positive(f)).unwrap();
                            match v {
                                Ok(x) => e.push(Header::Positive(x)).unwrap(),
                                Err(b) => e.bytes(b, None).unwrap(),
                            }
                        }
                        // Behind other bytes, as in the append buffer.
                        let mut out = b"before".to_vec();
                        encode(&mut out, &rec);
                        let framed = &out[6..];
                        assert!(matches!(check_frame(framed), Frame::Valid { .. }));
                        assert_eq!(payload(framed), &want[..], "{kind:?} {key_len} {value_len} {number}");
                        n += 1;
                    }
                }
            }
        }
        assert_eq!(n, 3 * 5 * 6 * 5);
    }

    fn put(key: &[u8], value: &[u8], expires_at: u64) -> Vec<u8> {
        let mut out = Vec::new();
        encode(
            &mut out,
            &RecordRef {
                kind: Kind::Put,
                key,
                value,
                expires_at,
                written_at: 1234,
                seq: 77,
                meta: &[],
                codec: 0,
                sealed: &[],
            },
        );
        out
    }

    #[test]
    fn round_trip() {
        let buf = put(b"key", b"value", 99);
        let Frame::Valid { len } = check_frame(&buf) else {
            panic!("frame not valid")
        };
        assert_eq!(len, buf.len());
        assert_eq!(frame_len(&buf), Some(buf.len()));
        assert!(looks_like_frame(&buf));
        let rec = decode(payload(&buf)).unwrap();
        assert_eq!(key_of(&buf), Some(&b"key"[..]));
        assert_eq!(key_of_known(payload(&buf)), key_of_general(payload(&buf)));
        assert_eq!(key_of(&buf[..10]), None);
        assert_eq!(rec.kind, Kind::Put);
        assert_eq!(rec.key, b"key");
        assert_eq!(rec.value, b"value");
        assert_eq!(rec.expires_at, 99);
        assert_eq!(rec.written_at, 1234);
        assert_eq!(rec.seq, 77);
    }

    #[test]
    fn tombstone_and_clear_round_trip() {
        for kind in [Kind::Tombstone, Kind::Clear] {
            let mut out = Vec::new();
            encode(
                &mut out,
                &RecordRef {
                    kind,
                    key: b"k",
                    value: b"",
                    expires_at: 0,
                    written_at: 5,
                    seq: 1 << 40,
                    meta: &[],
                    codec: 0,
                    sealed: &[],
                },
            );
            assert!(matches!(check_frame(&out), Frame::Valid { .. }));
            let rec = decode(payload(&out)).unwrap();
            assert_eq!(rec.kind, kind);
            assert_eq!(rec.seq, 1 << 40);
        }
    }

    #[test]
    fn every_truncation_is_detected() {
        let buf = put(b"key", b"some value", 0);
        for cut in 0..buf.len() {
            assert_eq!(check_frame(&buf[..cut]), Frame::Truncated, "cut at {cut}");
        }
    }

    /// A frame cut short is never taken for a whole one with a damaged
    /// length; a whole one whose length a flipped bit made claim more than
    /// the bytes hold always is (the log's last record: `log::scan`).
    #[test]
    fn a_damaged_length_is_told_from_a_write_cut_short() {
        let buf = put(b"key", b"some value", 0);
        for cut in 0..buf.len() {
            assert!(!whole_but_for_its_length(&buf[..cut]), "cut at {cut}");
        }
        let mut claiming_more = 0;
        for i in 0..4 {
            for bit in 0..8 {
                let mut bad = buf.clone();
                bad[i] ^= 1 << bit;
                // Claiming more: running past the end (`Truncated`), or past
                // `MAX_PAYLOAD` (`Corrupt` at once, the scan never asks).
                let more = u32::from_le_bytes(bad[0..4].try_into().unwrap())
                    > u32::from_le_bytes(buf[0..4].try_into().unwrap());
                assert_eq!(whole_but_for_its_length(&bad), more, "flip at byte {i} bit {bit}");
                claiming_more += usize::from(more);
            }
        }
        let zeros = u32::from_le_bytes(buf[0..4].try_into().unwrap()).count_zeros();
        assert_eq!(claiming_more, zeros as usize, "each flip of a zero bit claims more");
        assert!(!whole_but_for_its_length(&buf), "a sound frame is no damaged one");
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let buf = put(b"key", b"some value", 7);
        for i in 0..buf.len() {
            for bit in 0..8 {
                let mut bad = buf.clone();
                bad[i] ^= 1 << bit;
                match check_frame(&bad) {
                    Frame::Valid { .. } => panic!("flip at byte {i} bit {bit} passed"),
                    Frame::Corrupt | Frame::Truncated => {}
                }
            }
        }
    }

    /// The copying check answers as `check_frame` does, for values shorter
    /// than a chunk, of exactly one, spanning several, and empty: the copy
    /// is the value when the frame is valid, and there is none after any
    /// flipped bit (whether in the value, a field before or after it, the
    /// length or the checksum).
    #[test]
    fn the_copying_check_copies_exactly_what_check_frame_accepts() {
        for len in [0, 10, COPY_CHUNK, COPY_CHUNK + 1, 3 * COPY_CHUNK + 17] {
            let value: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let buf = put(b"key", &value, 7);
            let rec = decode(unverified_payload(&buf).unwrap()).unwrap();
            assert_eq!(rec.value, &value[..]);
            let mut copy = vec![std::mem::MaybeUninit::new(0u8); len];
            assert!(check_frame_copying(&buf, rec.value, &mut copy), "a valid frame");
            assert!(copy.iter().zip(&value).all(|(c, v)| unsafe { c.assume_init() } == *v));
            // Every bit of short records; a spread of them in long ones.
            let step = if buf.len() > 200 { 97 } else { 1 };
            for i in (0..buf.len()).step_by(step).chain([buf.len() - 1]) {
                for bit in 0..8 {
                    let mut bad = buf.clone();
                    bad[i] ^= 1 << bit;
                    let valid = matches!(check_frame(&bad), Frame::Valid { .. });
                    assert!(!valid, "flip at byte {i} bit {bit} passed check_frame");
                    // The caller decoded `part` from the bad bytes (or, if
                    // they no longer decode, there is nothing to copy).
                    let Some(rec) = unverified_payload(&bad).and_then(decode) else {
                        continue;
                    };
                    let mut copy = vec![std::mem::MaybeUninit::new(0u8); rec.value.len()];
                    assert!(
                        !check_frame_copying(&bad, rec.value, &mut copy),
                        "len {len}: flip at byte {i} bit {bit} was copied out"
                    );
                }
            }
        }
        // A length past what is there, or over the cap: no payload at all.
        let buf = put(b"key", b"value", 0);
        assert_eq!(unverified_payload(&buf[..buf.len() - 1]), None);
        let mut huge = buf.clone();
        huge[0..4].copy_from_slice(&(MAX_PAYLOAD as u32 + 1).to_le_bytes());
        assert_eq!(unverified_payload(&huge), None);
    }

    #[test]
    fn the_direct_path_agrees_with_ciborium_everywhere_it_answers() {
        // Records as written, each byte flipped, and each cut short: wherever
        // the direct path gives an answer, it is the general decoder's.
        let mut samples = Vec::new();
        for (kind, key, value, exp) in [
            (Kind::Put, &b"k"[..], &b"v"[..], 0),
            (Kind::Put, b"key", &[7u8; 300][..], u64::MAX),
            (Kind::Put, &[1u8; 70000][..], b"", 1 << 40),
            (Kind::Tombstone, b"gone", b"", 0),
            (Kind::Clear, b"", b"", 0),
        ] {
            let mut out = Vec::new();
            encode(
                &mut out,
                &RecordRef {
                    kind,
                    key,
                    value,
                    expires_at: exp,
                    written_at: 1 << 33,
                    seq: exp / 3,
                    meta: if kind == Kind::Put && exp > 0 { b"\xa0" } else { &[] },
                    codec: 0,
                    sealed: &[],
                },
            );
            samples.push(payload(&out).to_vec());
        }
        let mut checked = 0;
        let mut puts = 0;
        for s in &samples {
            assert_eq!(decode_known(s), decode_general(s), "{:x?}", &s[..s.len().min(16)]);
            if let Some(put) = decode_plain_put(s) {
                assert_eq!(Some(put), decode_general(s));
            }
            let mut variants = Vec::new();
            for i in 0..s.len().min(64) {
                for mask in [0x01u8, 0x20, 0xff] {
                    let mut v = s.clone();
                    v[i] ^= mask;
                    variants.push(v);
                }
                variants.push(s[..i].to_vec());
            }
            for v in &variants {
                if let Some(fast) = decode_known(v) {
                    assert_eq!(Some(fast), decode_general(v), "{v:x?}");
                    checked += 1;
                }
                if let Some(put) = decode_plain_put(v) {
                    assert_eq!(Some(put), decode_general(v), "{v:x?}");
                    puts += 1;
                }
            }
        }
        assert!(checked > 50, "the direct path answered only {checked} variants");
        assert!(puts > 20, "the plain put's path answered only {puts} variants");
    }

    #[test]
    fn unknown_fields_are_skipped() {
        // {0: 1, 1: h'6b', 12: [1, {"a": -1}], 2: h'76', 4: 0}
        let payload = [
            0xa5, 0x00, 0x01, 0x01, 0x41, b'k', 0x0c, 0x82, 0x01, 0xa1, 0x61, b'a', 0x20, 0x02, 0x41, b'v', 0x04, 0x00,
        ];
        let rec = decode(&payload).unwrap();
        assert_eq!((rec.key, rec.value), (&b"k"[..], &b"v"[..]));
        // A record of format 1 has no sequence number.
        assert_eq!(rec.seq, 0);
    }

    #[test]
    fn packed_and_sealed_records_round_trip_and_hide_their_value_from_old_readers() {
        let base = RecordRef {
            kind: Kind::Put,
            key: b"key",
            value: b"\x05\0\0\0packed",
            expires_at: 9,
            written_at: 1,
            seq: 2,
            meta: b"\xa0",
            codec: 2,
            sealed: &[],
        };
        let sealed = RecordRef {
            key: &[],
            value: &[],
            meta: &[],
            codec: 0,
            sealed: b"24 bytes of nonce, the ciphertext and 16 of tag",
            ..base
        };
        for r in [base, RecordRef { codec: 200, ..base }, sealed] {
            let mut out = Vec::new();
            encode(&mut out, &r);
            let p = payload(&out);
            assert_eq!(decode(p), Some(r));
            assert_eq!(decode_known(p), decode_general(p));
            // No field 2: a format 2 reader that predates fields 7 to 9
            // finds a put without a value and refuses it.
            let mut pos = 1;
            let mut fields = Vec::new();
            while pos < p.len() {
                let (_, f) = head(p, &mut pos).unwrap();
                fields.push(f);
                let h = head(p, &mut pos).unwrap();
                if h.0 == 2 {
                    pos += h.1 as usize;
                }
            }
            assert!(!fields.contains(&FIELD_VALUE), "{fields:?}");
        }
        // Sealed records keep nothing secret outside.
        let mut out = Vec::new();
        encode(&mut out, &sealed);
        assert_eq!(key_of(&out), None);
        // A value and a packed value at once, a packed value without its
        // codec, codec 0, or a sealed record with a key beside it: refused.
        let bad: &[&[u8]] = &[
            &[0xa4, 0x00, 0x01, 0x01, 0x41, b'k', 0x02, 0x41, b'v', 0x08, 0x41, b'p'],
            &[0xa3, 0x00, 0x01, 0x01, 0x41, b'k', 0x08, 0x41, b'p'],
            &[0xa4, 0x00, 0x01, 0x01, 0x41, b'k', 0x07, 0x00, 0x08, 0x41, b'p'],
            &[0xa3, 0x00, 0x01, 0x01, 0x41, b'k', 0x09, 0x41, b's'],
            // A sealed field too short to hold a nonce and a tag (fuzz finding 8).
            &[0xa2, 0x00, 0x02, 0x09, 0x40],
            &[0xa2, 0x00, 0x01, 0x09, 0x41, b's'],
        ];
        for b in bad {
            assert_eq!(decode(b), None, "{b:x?}");
        }
    }

    #[test]
    fn inner_maps_round_trip_per_kind() {
        for (kind, inner) in [
            (
                Kind::Put,
                Inner {
                    key: b"k",
                    value: b"v",
                    codec: 0,
                    meta: b"",
                },
            ),
            (
                Kind::Put,
                Inner {
                    key: b"k",
                    value: b"packed",
                    codec: 1,
                    meta: b"\xa0",
                },
            ),
            (
                Kind::Tombstone,
                Inner {
                    key: b"gone",
                    value: b"",
                    codec: 0,
                    meta: b"",
                },
            ),
            (
                Kind::Clear,
                Inner {
                    key: b"",
                    value: b"",
                    codec: 0,
                    meta: b"",
                },
            ),
        ] {
            let mut out = Vec::new();
            encode_inner(&mut out, kind, &inner);
            assert_eq!(decode_inner(kind, &out), Some(inner));
            for cut in 0..out.len() {
                assert_eq!(decode_inner(kind, &out[..cut]), None);
            }
        }
        // The clear fields may not hide inside: {1: h'6b', 2: h'76', 5: 3}.
        let smuggled = [0xa3, 0x01, 0x41, b'k', 0x02, 0x41, b'v', 0x05, 0x03];
        assert_eq!(decode_inner(Kind::Put, &smuggled), None);
    }

    #[test]
    fn hostile_payloads_are_rejected() {
        let cases: &[&[u8]] = &[
            &[],
            &[0xa1],
            &[0xa1, 0x00, 0x09],                                                 // unknown kind
            &[0xa2, 0x00, 0x01, 0x01, 0x5a, 0xff, 0xff, 0xff, 0xff],             // key longer than payload
            &[0xa1, 0x0c, 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // huge array
            &[0xa2, 0x00, 0x01, 0x01, 0x40],                                     // empty key
            &[0xa1, 0x00, 0x01],                                                 // put without key
            &[0xa2, 0x00, 0x01, 0x01, 0x41, b'k'],                               // put without value
            &[0xa1, 0x00, 0x02, 0x00],                                           // trailing byte
        ];
        for c in cases {
            assert_eq!(decode(c), None, "{c:x?}");
        }
        // Deep nesting in an unknown field.
        let mut deep = vec![0xa2, 0x00, 0x03, 0x0c];
        deep.extend(std::iter::repeat_n(0x81, 100));
        deep.push(0x00);
        assert_eq!(decode(&deep), None);
    }

    #[test]
    fn impossible_lengths_are_corrupt_not_allocated() {
        let mut buf = vec![0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        buf.extend_from_slice(&[0; 16]);
        assert_eq!(check_frame(&buf), Frame::Corrupt);
        buf[0..4].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(check_frame(&buf), Frame::Corrupt);
    }
}
