//! The bytes of the log: its segments, the append buffer, and the entry list
//! of the active segment that becomes its hint file when it is sealed.
//!
//! A `Loc` points into a segment's file or, past its end, into the buffer
//! (records appended but not yet written). `Store` only stores and reads; it
//! keeps no index and decides nothing about liveness (that is `Log`'s job),
//! and it reports I/O errors as they are, for `Log` to count and act on.
//!
//! `Store` is the one place that gives records their sequence numbers:
//! `append` takes a [`Draft`], which has none, and stamps it with the next
//! one. So sequence numbers grow strictly along the log (segment id, then
//! offset), whoever appends — a put, a tombstone, a clear, or a copy made by
//! compaction or readmission, which is a new record with a new number.
//! Recovery checks that they do and trusts nothing that does not.
//!
//! It is also where values at rest are packed and records sealed (`seal`,
//! `view`): `append` takes a draft in the clear and writes it compressed
//! and encrypted as the directory's `Sealer` says, and `record` gives back a
//! `View` in the clear, authenticated against its location.
//!
//! It is also the one place that writes or fsyncs: a store opened read-only
//! refuses every write, and one whose sync policy is `TC_SYNC_NEVER` never
//! calls fsync (`durable` is false).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use super::doomed::Doomed;
use super::fileio;
use super::hint::{self, HintEntry};
use super::index::{KeyHasher, Loc};
use super::scan::{self, Tail};
use super::segment::{self, Segment};
use super::unhinted::{self, Unhinted};
use super::verified::{Trust, Verified};
use super::view::{self, View};
use crate::record::{self, Frame, Kind, RecordRef};
use crate::seal::Sealer;
use crate::value::{spare, Value};

pub mod carry;
pub use carry::Carry;
#[cfg(test)]
pub use carry::CARRIED;

/// Appends collect here until this many bytes are waiting.
pub const BUFFER_BYTES: usize = 64 * 1024;

#[cfg(test)]
thread_local! {
    /// Test builds: the records whose key the write path read on this
    /// thread (`Store::key_at`), for tests of the puts that need not.
    pub static KEY_READS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

pub struct Store {
    pub dir: PathBuf,
    /// Every segment, by id; the last one is the active one.
    pub segments: BTreeMap<u32, Segment>,
    /// Records appended after the end of the active segment's file.
    pub buf: Vec<u8>,
    /// What each record of the active segment from offset
    /// `active_entries_from` on is, for its hint file (see
    /// `complete_active_entries`).
    pub active_entries: Vec<HintEntry>,
    /// Where `active_entries` start: the segment header's end, unless the
    /// open trusted an index file and read only the records after its
    /// watermark; the ones before are read when the hint is needed.
    pub active_entries_from: u64,
    /// Where the record numbered `last_seq()` is (for the index file's anchor).
    pub last_loc: Option<Loc>,
    /// The highest number of a record in the log (`last_seq`): one below
    /// `next_seq`, unless numbers were set aside for a compaction's output
    /// that is not in the log yet (`reserve_side`).
    written_seq: u64,
    /// What `reserve_side` set aside for a compaction's output until its
    /// copies are all in place: not in the log yet (`install_side`), or in
    /// it with the index not yet pointed at every copy (`side_placed`,
    /// `Log::install_copies`). Cleared early by `abandon_side`.
    side: Option<Side>,
    /// Bytes appended since open: the positions group commit waits for.
    pub appended: u64,
    /// The highest segment id of any segment file in the directory, readable
    /// or not: a new segment takes the next one, never a skipped file's.
    pub max_id_seen: u32,
    /// The sequence number the next appended record gets.
    next_seq: u64,
    /// fsync at all (false under `TC_SYNC_NEVER`).
    durable: bool,
    /// The size a segment is sealed at (`LogConfig::segment_bytes`), which
    /// the active one reserves disk blocks towards as it grows
    /// (`Segment::append_parts`); 0 reserves none.
    planned: u64,
    /// Refuse every change to the directory.
    read_only: bool,
    /// How values are packed and records sealed in this directory.
    pub sealer: Arc<Sealer>,
    /// How keys are hashed in this directory (keyed if it is encrypted).
    pub hasher: KeyHasher,
    /// Bytes that packing saved, over the records appended since open.
    pub bytes_saved: u64,
    /// Segments taken out of the log (`delete_segment`) and their files,
    /// renamed to names no open reads (`dead_path`), for `Log::reap` to
    /// drop and unlink off the lock.
    pub doomed: Doomed,
    /// Segments deleted from the log since open (`delete_segment`): the
    /// cache sweeps L1 of their maps when it moves (`Log::departed`).
    pub departed: u64,
    /// Sealed segments whose hint `Log::write_hints` has yet to write, and
    /// their entries (see `unhinted` for why the seal does not write it).
    pub unhinted: Unhinted,
}

/// A record to append: everything but its sequence number, which only
/// `Store::append` gives.
#[derive(Debug, Clone, Copy)]
pub struct Draft<'a> {
    pub kind: Kind,
    pub key: &'a [u8],
    pub value: &'a [u8],
    pub expires_at: u64,
    pub written_at: u64,
    /// A put's tags and dependency (`meta`), empty if none.
    pub meta: &'a [u8],
    /// 0: `value` is the value in the clear, packed by `append` if the
    /// directory's `Sealer` says so; otherwise the codec that already packed
    /// it (a copy made by compaction keeps the packed bytes as they are).
    pub codec: u64,
    /// `key`'s hash by the directory's hasher, if the caller has it: a put
    /// has hashed its key already, and hashing it again for the hint entry
    /// cost a tenth of the appending.
    pub hash: Option<u64>,
}

/// Cache lines of a record `Store::prefetch` asks for one by one (past
/// them, one per page): about as many as a core has misses in flight.
const PREFETCH_LINES: usize = 16;

/// `Store::prefetch` for bytes `located` found: the record's fact in
/// `facts` and its first `len` bytes (a hint) in `b`.
fn prefetch_located(b: &[u8], facts: Option<&Verified>, loc: Loc, len: u32) {
    if let Some(f) = facts {
        f.prefetch(loc.offset());
    }
    crate::prefetch::bytes(&b[..b.len().min(len as usize)], PREFETCH_LINES);
}

/// A compaction's output from `Store::reserve_side` until its copies are
/// all placed (`Store::side_placed`) or it is abandoned.
#[derive(Debug, Clone, Copy)]
struct Side {
    r: Reserved,
    /// In the log (`Store::install_side`), its copies being placed.
    joined: bool,
}

/// What `Store::reserve_side` set aside for a compaction's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reserved {
    /// The output segment's id.
    pub id: u32,
    /// The number of its first record; the rest follow one by one.
    pub first_seq: u64,
    /// How many records it holds.
    pub count: u64,
}

/// A compaction's output `Store::install_side` did not put in the log:
/// abandoned meanwhile (`error` none), or its rename failed.
pub struct Refused {
    pub seg: Box<Segment>,
    pub error: Option<io::Error>,
}

/// Where `append` put a record.
#[derive(Debug, Clone, Copy)]
pub struct Appended {
    pub loc: Loc,
    /// Frame and payload bytes.
    pub len: u64,
    /// The sequence number it was given.
    pub seq: u64,
}

impl Appended {
    /// The index entry of this record, a put (`has_meta`: it has a meta field).
    pub fn entry(&self, has_meta: bool) -> super::index::Entry {
        super::index::Entry {
            loc: self.loc,
            seq: self.seq,
            len: self.len as u32,
            has_meta,
        }
    }
}

/// A record read for a lookup, and its value's copy if the reader wanted
/// one and the record allowed it (`Store::indexed_as_copying`).
pub type Copied<'a> = (View<'a>, Option<Arc<[u8]>>);

/// Why a location did not yield a record.
#[derive(Debug)]
pub enum Bad {
    /// The bytes there fail their checksum or do not decode.
    Corrupt,
    /// No such segment or offset.
    Missing,
}

impl Store {
    pub fn new(dir: PathBuf, durable: bool, read_only: bool, planned: u64, sealer: Arc<Sealer>) -> Store {
        Store {
            dir,
            segments: BTreeMap::new(),
            buf: Vec::with_capacity(BUFFER_BYTES),
            active_entries: Vec::new(),
            active_entries_from: segment::HEADER_LEN,
            last_loc: None,
            written_seq: 0,
            side: None,
            appended: 0,
            max_id_seen: 0,
            next_seq: 1,
            durable,
            read_only,
            planned,
            hasher: hasher_of(&sealer),
            sealer,
            bytes_saved: 0,
            doomed: Doomed::default(),
            departed: 0,
            unhinted: Unhinted::default(),
        }
    }

    /// After recovery has read records up to `seq`: the next append gets a
    /// higher number. `seq` is at most `MAX_SEQ` (recovery refuses higher
    /// numbers where it reads them).
    pub fn seen_seq(&mut self, seq: u64) {
        debug_assert!(seq <= MAX_SEQ, "a sequence number above MAX_SEQ reached the store");
        self.next_seq = self.next_seq.max(seq.min(MAX_SEQ) + 1);
        self.written_seq = self.written_seq.max(seq.min(MAX_SEQ));
    }

    /// The highest number of a record in the log: the last appended (or
    /// recovered, or installed by `install_side`).
    pub fn last_seq(&self) -> u64 {
        self.written_seq
    }

    fn writable(&self) -> io::Result<()> {
        if self.read_only {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the cache was opened read-only",
            ));
        }
        Ok(())
    }

    /// fsyncs the active segment's file, unless the policy never fsyncs.
    pub fn sync_active(&self) -> io::Result<()> {
        if self.durable {
            self.active().sync()?;
        }
        Ok(())
    }

    /// fsyncs the directory, unless the policy never fsyncs.
    pub fn sync_dir(&self) -> io::Result<()> {
        if self.durable {
            fileio::sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// The size a segment is sealed at, which it reserves blocks towards.
    pub fn planned(&self) -> u64 {
        self.planned
    }

    pub fn is_durable(&self) -> bool {
        self.durable
    }

    pub fn active(&self) -> &Segment {
        // `last_key_value` walks the tree's right edge only; an iterator's
        // `next_back` sets up both ends first, and a put asks for the
        // active segment three or four times.
        self.segments
            .last_key_value()
            .map(|(_, s)| s)
            .expect("the log always has an active segment")
    }

    pub fn active_mut(&mut self) -> &mut Segment {
        active_of(&mut self.segments)
    }

    pub fn oldest_id(&self) -> u32 {
        *self
            .segments
            .keys()
            .next()
            .expect("the log always has an active segment")
    }

    /// The location the next appended byte will have.
    pub fn next_loc(&self) -> Loc {
        let a = self.active();
        Loc::new(a.id, a.len() + self.buf.len() as u64)
    }

    /// Bytes of the active segment, written and buffered.
    pub fn active_len(&self) -> u64 {
        self.active().len() + self.buf.len() as u64
    }

    /// Bytes on disk: segment files, their hint files (those still due
    /// too: `Unhinted::bytes`), and the buffer that is about to join them.
    pub fn disk_bytes(&self) -> u64 {
        self.segments.values().map(|s| s.len() + s.hint_bytes).sum::<u64>()
            + self.unhinted.bytes()
            + self.buf.len() as u64
    }

    /// The bytes from `loc` to the end of what is readable there.
    pub fn bytes_at(&self, loc: Loc) -> Option<&[u8]> {
        self.located(loc).map(|(b, _)| b)
    }

    /// `bytes_at`, and the table of verified records of the segment whose
    /// file holds them (`None` for bytes still in the append buffer, which
    /// is never remembered: it is not where the record will stay). The bytes
    /// end at the file's end, so a record that passes its checksum there
    /// lies wholly in the bytes that a fact of the table covers.
    // On every L2 hit's path: see `ffi::boundary::guard`.
    #[inline]
    fn located(&self, loc: Loc) -> Option<(&[u8], Option<&Verified>)> {
        let seg = self.segments.get(&loc.segment())?;
        let off = loc.offset();
        if off < seg.len() {
            return Some((seg.bytes().get(off as usize..)?, Some(seg.verified())));
        }
        if seg.id == self.active().id {
            return Some((self.buf.get((off - seg.len()) as usize..)?, None));
        }
        None
    }

    /// Whether the record at `loc` passed its checksum and its packed value
    /// unpacked before, in this open (`Verified::unpacked`).
    pub fn unpacked_before(&self, loc: Loc) -> bool {
        self.located(loc)
            .and_then(|(_, facts)| facts)
            .is_some_and(|f| f.unpacked(loc.offset()))
    }

    /// The packed value of the record at `loc`, whose checksum passed, has
    /// unpacked to its claimed length (`Verified::insert_unpacked`).
    pub fn note_unpacked(&self, loc: Loc) {
        if let Some((_, Some(f))) = self.located(loc) {
            f.insert_unpacked(loc.offset());
        }
    }

    /// Starts loading the `len` bytes of the record at `loc` (its index
    /// entry's length, trusted only as a hint: `crate::prefetch`), so that
    /// the checksum's pass finds its lines arriving, and on a page
    /// boundary its translation done.
    pub fn prefetch(&self, loc: Loc, len: u32) {
        if let Some((b, facts)) = self.located(loc) {
            prefetch_located(b, facts, loc, len);
        }
    }

    /// `value`, the value of the record at `loc` as `View::value` gave it,
    /// handed out without a copy where it can be: a value stored as it is
    /// lies in its segment's map, and is handed out as a reference into it.
    /// A value still in the append buffer (which changes), or unpacked or
    /// decrypted into memory of its own, is copied.
    pub fn value_at(&self, loc: Loc, value: &[u8]) -> Value {
        if let Some(seg) = self.segments.get(&loc.segment()) {
            if loc.offset() < seg.len() {
                if let Some(map) = seg.map() {
                    let (start, end) = (map.as_ptr() as usize, map.as_ptr() as usize + map.len());
                    let at = value.as_ptr() as usize;
                    if at >= start && at + value.len() <= end {
                        return Value::mapped(map, value);
                    }
                }
            }
        }
        Value::Heap(Arc::from(value))
    }

    /// The checked, decoded record at `loc`, in the clear (authenticated
    /// against `loc` in an encrypted directory).
    pub fn record(&self, loc: Loc) -> Result<View<'_>, Bad> {
        record_in(self.bytes_at(loc).ok_or(Bad::Missing)?, loc, &self.sealer)
    }

    /// `record`, for a get: its checksum is verified only if this segment
    /// has not seen it pass (`verified`), and remembered when it does.
    /// Only gets use the facts: compaction, retirement and scans, which
    /// write records forward or trust what they read to rebuild the index,
    /// checksum every record they read, so damage that a fact hides from
    /// gets is never given a new checksum.
    fn record_for_get(&self, loc: Loc, trust: Trust) -> Result<View<'_>, Bad> {
        let (bytes, facts) = self.located(loc).ok_or(Bad::Missing)?;
        let known = facts.is_some_and(|f| f.spares(loc.offset(), trust));
        let payload = if known {
            record::unverified_payload(bytes).ok_or(Bad::Corrupt)?
        } else {
            match record::check_frame(bytes) {
                Frame::Valid { len } => {
                    if let Some(f) = facts {
                        f.insert(loc.offset());
                    }
                    record::payload(&bytes[..len])
                }
                _ => return Err(Bad::Corrupt),
            }
        };
        let raw = record::decode(payload).ok_or(Bad::Corrupt)?;
        view::open(raw, loc, &self.sealer).map_err(|_| Bad::Corrupt)
    }

    /// The record an index entry `h → loc` points at, checked: a put whose
    /// key hashes to `h`. Entries rebuilt from a hint file that lies (a bug,
    /// or damage that was checksummed again) cannot make the index serve a
    /// tombstone as a value, or one key's old record under another's hash.
    pub fn indexed(&self, h: u64, loc: Loc) -> Result<View<'_>, Bad> {
        let r = self.record(loc)?;
        if r.kind != Kind::Put || self.hasher.hash(&r.key) != h {
            return Err(Bad::Corrupt);
        }
        Ok(r)
    }

    /// `indexed` for a lookup of `key` (whose hash is `h`): `Ok(Some)` if the
    /// record is `key`'s put, `Ok(None)` if it is another key's. A record
    /// holding `key` itself needs no hash check, so a hit hashes nothing.
    ///
    /// A record whose checksum a get verified before (`verified`) is not
    /// checksummed again; one verified here is remembered.
    pub fn indexed_as(&self, h: u64, loc: Loc, key: &[u8], trust: Trust) -> Result<Option<View<'_>>, Bad> {
        let r = self.record_for_get(loc, trust)?;
        if r.kind != Kind::Put {
            return Err(Bad::Corrupt);
        }
        if *r.key == *key {
            return Ok(Some(r));
        }
        if self.hasher.hash(&r.key) != h {
            return Err(Bad::Corrupt);
        }
        Ok(None)
    }

    /// `indexed_as`, for a reader that keeps a copy of the value (L1 will
    /// hold it): if the record at `loc` is `key`'s plain put (neither packed
    /// nor sealed) and `wants(value length)` says so, its checksum is
    /// verified in the same pass that copies the value out
    /// (`record::check_frame_copying`), and the copy comes back beside the
    /// view; one it does not want is checksummed without the copy (and not
    /// decoded a second time). A record whose bytes fail the checksum is
    /// `Bad::Corrupt`, as in `indexed_as`. A record a get verified before
    /// (`verified`) is copied without its checksum; one verified here is
    /// remembered.
    ///
    /// Why: the value is then read from memory once. Verifying first and
    /// copying after reads a value that is not in the CPU's cache twice
    /// (16 KiB is most of a core's L1 data cache), and the page cache's bytes
    /// are cold on nearly every L2 hit.
    ///
    /// Anything else (another key's record, a packed or sealed one, bytes
    /// that do not decode) goes to `indexed_as`, whose checksum-first order
    /// decides what it is: nothing decoded from unverified bytes is acted
    /// on, only whether to take this path.
    ///
    /// The record's fact and its first `len` bytes (a hint: its length in
    /// the index) are prefetched first, with the record's segment looked up
    /// once for the prefetch and the read (a search of `segments`, about 70
    /// instructions, that every L2 hit made twice).
    pub fn indexed_as_copying(
        &self,
        h: u64,
        loc: Loc,
        len: u32,
        key: &[u8],
        trust: Trust,
        wants: impl Fn(usize) -> bool,
    ) -> Result<Option<Copied<'_>>, Bad> {
        let (bytes, facts) = self.located(loc).ok_or(Bad::Missing)?;
        prefetch_located(bytes, facts, loc, len);
        let raw = record::unverified_payload(bytes).and_then(record::decode);
        let Some(raw) = raw.filter(|r| {
            !self.sealer.encrypts() && r.sealed.is_empty() && r.codec == 0 && r.kind == Kind::Put && r.key == key
        }) else {
            return Ok(self.indexed_as(h, loc, key, trust)?.map(|v| (v, None)));
        };
        // Verified by an earlier get (`verified`): the same bytes, so the
        // record decoded above is the one that passed.
        let known = facts.is_some_and(|f| f.spares(loc.offset(), trust));
        let copy = if wants(raw.value.len()) {
            // The copy L1 keeps, in the buffer of a value L1 let go if the
            // thread has one (`value::spare`).
            let copy = spare::fill(raw.value.len(), |dst| {
                if known {
                    assert_eq!(dst.len(), raw.value.len(), "the copy is as long as the value");
                    // SAFETY: `dst` is as long as the value (checked above)
                    // and a `&mut` borrow, which cannot overlap the log's
                    // bytes, a shared one; every byte of it is written.
                    unsafe {
                        std::ptr::copy_nonoverlapping(raw.value.as_ptr(), dst.as_mut_ptr().cast::<u8>(), dst.len())
                    };
                    return true;
                }
                record::check_frame_copying(bytes, raw.value, dst)
            })
            .ok_or(Bad::Corrupt)?;
            Some(copy)
        } else {
            // Not copied: the checksum alone, and the record decoded above
            // is used as `record` would decode it again (same bytes).
            if !known && !matches!(record::check_frame(bytes), Frame::Valid { .. }) {
                return Err(Bad::Corrupt);
            }
            None
        };
        if let Some(f) = facts.filter(|_| !known) {
            // It passed: the checksum above, or the copy's (a failure
            // returned `Bad::Corrupt` before this).
            f.insert(loc.offset());
        }
        let view = view::open(raw, loc, &self.sealer).map_err(|_| Bad::Corrupt)?;
        Ok(Some((view, copy)))
    }

    /// Length of the frame at `loc`, trusting our own bytes (0 if unreadable).
    pub fn frame_len(&self, loc: Loc) -> u64 {
        self.bytes_at(loc).and_then(record::frame_len).unwrap_or(0) as u64
    }

    /// Whether the record at `loc` is `key`'s, for the write path: in a
    /// plain directory its checksum is not verified (see `record::key_of`),
    /// since a put over a large value should not checksum the old one. In an
    /// encrypted one the key is only to be had by opening the record. Reads
    /// use `record`.
    pub fn key_is(&self, loc: Loc, key: &[u8]) -> bool {
        self.key_at(loc).is_some_and(|k| *k == *key)
    }

    /// Whether the records at `a` and `b` have the same key (unverified, as
    /// `key_is`).
    pub fn same_key(&self, a: Loc, b: Loc) -> bool {
        match (self.key_at(a), self.key_at(b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        }
    }

    /// The key of the record at `loc`, as `key_is` reads it.
    fn key_at(&self, loc: Loc) -> Option<Cow<'_, [u8]>> {
        #[cfg(test)]
        KEY_READS.with(|n| n.set(n.get() + 1));
        if self.sealer.encrypts() {
            return self.record(loc).ok().map(|r| r.key);
        }
        self.bytes_at(loc).and_then(record::key_of).map(Cow::Borrowed)
    }

    /// The sequence number of the record at `loc` (checked, like `record`).
    pub fn seq_at(&self, loc: Loc) -> Option<u64> {
        self.record(loc).ok().map(|r| r.seq)
    }

    /// Stamps `draft` with the next sequence number and encodes it into the
    /// buffer, writing the buffer out when it is full. On error nothing of
    /// the record stays in the log and its number is not used.
    pub fn append(&mut self, draft: &Draft<'_>) -> io::Result<Appended> {
        self.writable()?;
        let packed = packed(&self.sealer, draft);
        let rec = stamped(draft, self.next_seq, &packed);
        let loc = self.next_loc();
        let before = self.buf.len();
        let len = match &self.sealer.keys {
            // A value that would fill the buffer would be copied into it
            // only to be written out at once: it goes out from where it
            // lies instead, between the buffer (its record's head at the
            // end) and the rest of its record, in one `pwritev`. No more
            // writes than copying it in; one copy of the value fewer.
            None if rec.kind == Kind::Put && before + rec.value.len() >= BUFFER_BYTES => {
                let at = record::encode_around(&mut self.buf, &rec);
                let len = self.buf.len() - before + rec.value.len();
                let parts = [&self.buf[..at], rec.value, &self.buf[at..]];
                if let Err(e) = append_to_active(&mut self.segments, self.planned, &parts) {
                    self.buf.truncate(before);
                    return Err(e);
                }
                self.buffer_written();
                len
            }
            _ => encode_at(&mut self.buf, &rec, loc, &self.sealer),
        };
        if self.buf.len() >= BUFFER_BYTES {
            if let Err(e) = self.write_buffer() {
                self.buf.truncate(before);
                return Err(e);
            }
        }
        if let Some((_, p)) = &packed {
            self.bytes_saved += (draft.value.len() - p.len()) as u64;
        }
        let e = hint_entry(&rec, draft.hash, &self.hasher, loc.offset(), len);
        Ok(self.numbered(e))
    }

    /// What every append does once its record (`e`, numbered
    /// `self.next_seq`, at `e.offset` of the active segment) is in the
    /// buffer or the file: its hint entry, the byte count group commit
    /// waits on, the next number, where the last record is, and the
    /// segment's first number. `append` and `carry` (the two ways a
    /// record enters the log) both end here, so that the store's
    /// invariants (numbers grow strictly along the log, each record has
    /// its hint entry) are kept in one place.
    // On every put's path: see `ffi::boundary::guard`.
    #[inline]
    fn numbered(&mut self, e: HintEntry) -> Appended {
        debug_assert_eq!(e.seq, self.next_seq, "a record takes the next number");
        let loc = Loc::new(self.active().id, e.offset);
        let (len, seq) = (u64::from(e.len), e.seq);
        self.active_entries.push(e);
        self.appended += len;
        self.next_seq += 1;
        self.written_seq = seq;
        self.last_loc = Some(loc);
        let seg = self.active_mut();
        seg.first_seq = seg.first_seq.min(seq);
        Appended { loc, len, seq }
    }

    /// Writes the buffer to the active segment's file.
    pub fn write_buffer(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.writable()?;
        append_to_active(&mut self.segments, self.planned, &[&self.buf])?;
        self.buffer_written();
        Ok(())
    }

    /// Empties the buffer once its bytes are in the file.
    fn buffer_written(&mut self) {
        self.buf.clear();
        if self.buf.capacity() > 4 * BUFFER_BYTES {
            self.buf.shrink_to(BUFFER_BYTES);
        }
    }

    /// Seals the active segment (fsynced unless the policy never fsyncs)
    /// and starts the next one. The old segment's hint is left due in
    /// `unhinted`, for `Log::write_hints` to write without the lock.
    pub fn seal_and_start(&mut self) -> io::Result<()> {
        self.seal_and_start_past(0)
    }

    /// `seal_and_start`, leaving `skip` unused ids between the old segment
    /// and the new one.
    fn seal_and_start_past(&mut self, skip: u32) -> io::Result<()> {
        self.writable()?;
        self.write_buffer()?;
        self.active_mut().release_reserved();
        self.sync_active()?;
        let old_id = self.active().id;
        let id = u64::from(old_id.max(self.max_id_seen)) + 1 + u64::from(skip);
        if id > u64::from(Loc::MAX_SEGMENT) {
            return Err(io::Error::other("segment ids exhausted"));
        }
        let id = id as u32;
        let seg = Segment::create(&self.dir, id, self.planned)?;
        self.complete_active_entries();
        // The next segment's entries grow to about as many.
        let next = Vec::with_capacity(self.active_entries.len());
        self.unhinted
            .add(old_id, std::mem::replace(&mut self.active_entries, next));
        self.max_id_seen = id;
        self.segments.insert(id, seg);
        self.active_entries_from = segment::HEADER_LEN;
        self.sync_dir()
    }

    /// Sets aside room in the log for `count` records that compaction
    /// writes off the lock (`compact::side`): the active segment is sealed,
    /// and the next one started two ids on, its records numbered `count`
    /// past the last; the id and the numbers between are the output's.
    ///
    /// Why the log's order holds: every record appended from now on is
    /// numbered above the output's, and lies in a later segment, so the
    /// output, once in place (`install_side`), is in the log exactly where
    /// its numbers say, as if it had been appended now. A record the
    /// output copies was its key's newest when this was called (the
    /// caller's check, under the same hold of the lock); whatever changes
    /// that key later is numbered above the copy, and wins, in memory and
    /// in every replay.
    ///
    /// An output that never lands (a crash, a clear, a failure) leaves its
    /// numbers unused: a replay then sees numbers skipped at the next
    /// segment's start, which can only make a gap there hide more
    /// (`HintEntry::gap_hides`), never less.
    pub fn reserve_side(&mut self, count: u64) -> io::Result<Reserved> {
        let first_seq = self.next_seq;
        if count == 0 || first_seq.saturating_add(count) > MAX_SEQ {
            return Err(io::Error::other("no numbers to set aside for a compaction"));
        }
        if self.side.is_some() {
            return Err(io::Error::other("a compaction's output is already set aside"));
        }
        self.seal_and_start_past(1)?;
        self.next_seq += count;
        let r = Reserved {
            id: self.active().id - 1,
            first_seq,
            count,
        };
        self.side = Some(Side { r, joined: false });
        Ok(r)
    }

    /// Whether a compaction's output is set aside (`reserve_side`) and its
    /// copies not all in place (`side_placed`): while it is, no index
    /// checkpoint is written (`State::checkpoint`).
    pub fn side_pending(&self) -> bool {
        self.side.is_some()
    }

    /// Whether a compaction's output is in the log with its copies being
    /// placed in the index (`install_side`, `side_placed`). A deletion
    /// then would have to abandon it half placed, and its checkpoint would
    /// name some keys' originals and, for others, their copies, which are
    /// newer records of the same values: what `verify` reports as stale
    /// slots. `Log::enforce_capacity` waits for the next roll instead.
    pub fn side_joined(&self) -> bool {
        self.side.is_some_and(|s| s.joined)
    }

    /// Whether `r` is the output set aside, and not abandoned since.
    pub fn side_is(&self, r: &Reserved) -> bool {
        self.side.is_some_and(|s| s.r == *r)
    }

    /// The output set aside, if any, will not be in the log, or, if it
    /// joined it already, will not have more of its copies placed: its
    /// numbers stay unused, or the copies not placed stay dead, and
    /// `install_side` will refuse it. Every deletion of a
    /// segment does this first (`condemn`; `Log::delete_emptied` and
    /// `Log::clear_on_disk` before the checkpoint that precedes theirs):
    /// checkpoints are put off while an output is set aside
    /// (`State::checkpoint_begin`), and the meta file on disk must never
    /// list a segment that is gone unless an open can tell why (all dead,
    /// or retired: docs/FORMAT.md, "When an index is trusted"). An output
    /// is written in milliseconds; a deletion meanwhile is rare, and costs
    /// that compaction a retry.
    pub fn abandon_side(&mut self) {
        self.side = None;
    }

    /// Puts compaction's output `seg`, written off the lock with the
    /// numbers and id `reserve_side` set aside (`compact::side`), into the
    /// log as a sealed segment, its hint due: renamed to its segment name
    /// here, under the lock, so that an output abandoned meanwhile
    /// (`abandon_side`) never has one. Refused (the caller removes the
    /// file) if `r` was abandoned, or the rename failed. It stays set
    /// aside, checkpoints put off, until its copies are placed
    /// (`side_placed`).
    pub fn install_side(&mut self, mut seg: Segment, entries: Vec<HintEntry>, r: &Reserved) -> Result<(), Refused> {
        if !self.side_is(r) {
            return Err(Refused {
                seg: Box::new(seg),
                error: None,
            });
        }
        if let Err(e) = seg.rename_into_place(&self.dir) {
            return Err(Refused {
                seg: Box::new(seg),
                error: Some(e),
            });
        }
        debug_assert!(seg.id == r.id && seg.id < self.active().id);
        debug_assert!(entries.len() as u64 == r.count && entries.first().is_some_and(|e| e.seq == r.first_seq));
        self.side = Some(Side { r: *r, joined: true });
        seg.first_seq = r.first_seq;
        if let Some(last) = entries.last() {
            // No record of the active segment yet: the output holds the
            // newest record, which a checkpoint's anchor must name.
            if last.seq > self.written_seq {
                self.written_seq = last.seq;
                self.last_loc = Some(Loc::new(seg.id, last.offset));
            }
        }
        self.unhinted.add(seg.id, entries);
        self.segments.insert(seg.id, seg);
        Ok(())
    }

    /// The output `r` joined the log and its copies are all in place in
    /// the index (`Log::install_copies`): checkpoints begin again.
    pub fn side_placed(&mut self, r: &Reserved) {
        if self.side_is(r) {
            self.side = None;
        }
    }

    /// Puts a hint written for segment `id` from `entries` (`unhinted`) in
    /// place, if the segment still wants it; returns whether it did. On a
    /// failed rename the hint is dropped: a segment without one is scanned
    /// when its records are needed.
    pub fn install_hint(&mut self, id: u32, entries: &unhinted::Entries, staged: hint::Staged) -> io::Result<bool> {
        if !self.unhinted.finish(id, entries) {
            return Ok(false);
        }
        let bytes = staged.install()?;
        if let Some(seg) = self.segments.get_mut(&id) {
            seg.hint_bytes = bytes;
        }
        Ok(true)
    }

    /// Deletes sealed segment `id` and its hint (hint first: a segment
    /// without a hint is merely slower to open).
    ///
    /// Both files are renamed, not unlinked: once renamed (and the
    /// directory fsynced, by the caller, under a durable policy) they are
    /// gone as far as any open is concerned, which deletes them
    /// (`dead_path`). This runs under the log's lock, from the put that
    /// retires a segment or from a compaction that puts wait behind, so the
    /// segment itself and the files wait in `doomed` for `Log::reap`,
    /// which finishes them with no lock held, from the maintenance thread,
    /// a compaction, a flush or close.
    ///
    /// A condemned segment's files went already (`condemn`).
    pub fn delete_segment(&mut self, id: u32) -> io::Result<()> {
        self.writable()?;
        self.condemn(id)?;
        let Some(seg) = self.segments.get(&id) else {
            return Ok(());
        };
        // Before it goes: a promotion that sees the flag (under its
        // shard's lock) keeps a copy, and the cache's next sweep turns L1's
        // values still mapping it into copies (`value::map`).
        seg.leave();
        let seg = self.segments.remove(&id).expect("found above");
        self.doomed.bury(seg);
        self.departed += 1;
        Ok(())
    }

    /// The first half of deleting sealed segment `id` (`delete_segment`):
    /// its hint, then its file, are renamed to their dead names, and a
    /// hint still due is dropped; the segment stays in the log, readable
    /// through its map, until `delete_segment`. From here on no open reads
    /// it (every open deletes dead names) and no rebuild of the index
    /// applies its records (`State::rebuild_index`), so whatever is taken
    /// out of the index meanwhile, a chunk at a time (`Log::retire`), stays
    /// out: with the file still named as a segment, a crash between two
    /// chunks brought back, at the next open, an entry a chunk had dropped
    /// and that a removal then found absent (and so wrote no tombstone
    /// for).
    pub fn condemn(&mut self, id: u32) -> io::Result<()> {
        self.writable()?;
        self.abandon_side();
        if id == self.active().id {
            // Every caller picks a sealed segment; one that picked the
            // active one would leave the log without one.
            return Err(io::Error::other("the active segment is never deleted"));
        }
        let Some(seg) = self.segments.get(&id) else {
            return Ok(());
        };
        if seg.condemned {
            return Ok(());
        }
        let (path, hinted) = (seg.path.clone(), seg.hint_bytes > 0);
        let hint = hint::path(&self.dir, id);
        if hinted || hint.exists() {
            self.bury_file(&hint)?;
        }
        // Its hint, if still due, must never land (`unhinted`).
        if let Some(entries) = self.unhinted.forget(id) {
            self.doomed.bury_entries(entries);
        }
        self.bury_file(&path)?;
        self.segments.get_mut(&id).expect("found above").condemned = true;
        Ok(())
    }

    /// Renames `path` to its dead name and leaves it in `doomed` (a file
    /// already gone is as good as buried).
    fn bury_file(&mut self, path: &std::path::Path) -> io::Result<()> {
        let dead = dead_path(path);
        match fileio::rename(path, &dead) {
            Ok(()) => {
                self.doomed.files.push(dead);
                Ok(())
            }
            Err(e) => ignore_missing(e),
        }
    }

    /// Where `Log::sealed_entries` finds the entries of sealed segment `id`
    /// without the log's lock: in memory (a hint still due), or in its hint
    /// file. `None`: no such sealed segment.
    pub fn entries_source(&self, id: u32) -> Option<EntriesSource> {
        let seg = self.segments.get(&id)?;
        if id == self.active().id {
            return None;
        }
        Some(match self.unhinted.entries(id) {
            Some(entries) => EntriesSource::Memory(entries),
            None => EntriesSource::Hint { seg_len: seg.len() },
        })
    }

    /// What each record of sealed segment `id` is: from its hint if it has a
    /// sound one, else by reading the records.
    pub fn entries_of(&self, id: u32) -> Vec<HintEntry> {
        if id == self.active().id {
            let mut prefix = self.active_prefix();
            prefix.extend_from_slice(&self.active_entries);
            return prefix;
        }
        match self.entries_source(id) {
            Some(source) => source.read(&self.dir, id).unwrap_or_else(|| self.scanned_entries(id)),
            None => Vec::new(),
        }
    }

    /// The entries of sealed segment `id` read from its records (empty if
    /// there is no such segment): for one without a sound hint.
    pub fn scanned_entries(&self, id: u32) -> Vec<HintEntry> {
        match self.segments.get(&id) {
            Some(seg) => scan::scan(seg, &self.sealer, Tail::Sealed).entries,
            None => Vec::new(),
        }
    }
}

/// Where the entries of a sealed segment are (`Store::entries_source`).
pub enum EntriesSource {
    /// Held in memory until its hint is written (`unhinted`).
    Memory(super::unhinted::Entries),
    /// Its hint file, which must match a segment of `seg_len` bytes.
    Hint { seg_len: u64 },
}

impl EntriesSource {
    /// The entries of segment `id` of the log in `dir`, from here; `None`
    /// if its hint file is missing or not sound (its records must be read).
    /// Needs no lock: a sealed segment's entries never change.
    pub fn read(self, dir: &std::path::Path, id: u32) -> Option<Vec<HintEntry>> {
        match self {
            EntriesSource::Memory(entries) => Some(entries.to_vec()),
            EntriesSource::Hint { seg_len } => hint::read(dir, id, seg_len),
        }
    }
}

/// The active (last) one of `segments`: a function of the segments alone,
/// so that `parts` appended to it may borrow the store's buffer.
fn active_of(segments: &mut BTreeMap<u32, Segment>) -> &mut Segment {
    segments
        .last_entry()
        .map(|e| e.into_mut())
        .expect("the log always has an active segment")
}

/// Appends `parts` to the active segment (see `active_of`).
fn append_to_active(segments: &mut BTreeMap<u32, Segment>, planned: u64, parts: &[&[u8]]) -> io::Result<()> {
    active_of(segments).append_parts(parts, planned)
}

/// The key hasher of a directory whose records `sealer` seals.
pub fn hasher_of(sealer: &Sealer) -> KeyHasher {
    match &sealer.keys {
        Some(k) => KeyHasher::keyed(k.hash_secret()),
        None => KeyHasher::default(),
    }
}

impl Store {
    /// The entries of the active segment before `active_entries_from`:
    /// from the hint the last clean close wrote for exactly that length, or
    /// by reading the records.
    fn active_prefix(&self) -> Vec<HintEntry> {
        let from = self.active_entries_from;
        if from <= segment::HEADER_LEN {
            return Vec::new();
        }
        let seg = self.active();
        hint::read(&self.dir, seg.id, from).unwrap_or_else(|| {
            let mut v = scan::scan(seg, &self.sealer, Tail::MayBeTorn).entries;
            v.retain(|e| e.offset < from);
            v
        })
    }

    /// Makes `active_entries` hold every record of the active segment.
    pub fn complete_active_entries(&mut self) {
        if self.active_entries_from > segment::HEADER_LEN {
            let mut all = self.active_prefix();
            all.append(&mut self.active_entries);
            self.active_entries = all;
            self.active_entries_from = segment::HEADER_LEN;
        }
    }
}

/// The highest sequence number a record may carry. A log numbers its
/// records from 1 up, one per record, and never gets near 2^62 (a record a
/// nanosecond for a century is below 2^62); a number above it read from
/// disk is damage that passed its checksum (or a forgery), and is never
/// applied (`State::replay_in_order`, the index meta file's watermark).
/// Without the bound, a record numbered u64::MAX would make the next number
/// overflow.
pub const MAX_SEQ: u64 = 1 << 62;

/// The checked, decoded record that `bytes` (a segment's bytes from
/// `loc` on) begin with, in the clear: `Store::record`, for a reader that
/// holds a sealed segment's map rather than the store.
pub fn record_in<'a>(bytes: &'a [u8], loc: Loc, sealer: &Sealer) -> Result<View<'a>, Bad> {
    let raw = match record::check_frame(bytes) {
        Frame::Valid { len } => record::decode(record::payload(&bytes[..len])).ok_or(Bad::Corrupt)?,
        _ => return Err(Bad::Corrupt),
    };
    view::open(raw, loc, sealer).map_err(|_| Bad::Corrupt)
}

/// `draft`'s value packed, if it is a put the directory packs: (codec,
/// packed bytes).
pub fn packed(sealer: &Sealer, draft: &Draft<'_>) -> Option<(u64, Vec<u8>)> {
    match draft.kind {
        Kind::Put if draft.codec == 0 => sealer.pack(draft.value),
        _ => None,
    }
}

/// The record `draft` becomes, numbered `seq`, its value `packed` if
/// that is `Some` (`packed`).
pub fn stamped<'a>(draft: &Draft<'a>, seq: u64, packed: &'a Option<(u64, Vec<u8>)>) -> RecordRef<'a> {
    let (value, codec) = match packed {
        Some((codec, p)) => (&p[..], *codec),
        None => (draft.value, draft.codec),
    };
    RecordRef {
        kind: draft.kind,
        key: draft.key,
        value,
        expires_at: draft.expires_at,
        written_at: draft.written_at,
        seq,
        meta: draft.meta,
        codec,
        sealed: &[],
    }
}

/// Encodes `rec` whole into `out` as the record at `loc` (sealed to it in
/// an encrypted directory); returns its length.
pub fn encode_at(out: &mut Vec<u8>, rec: &RecordRef<'_>, loc: Loc, sealer: &Sealer) -> usize {
    let before = out.len();
    match &sealer.keys {
        Some(keys) => {
            let mut sealed = Vec::new();
            record::encode(out, &view::seal(rec, loc, keys, &mut sealed));
        }
        None => record::encode(out, rec),
    }
    out.len() - before
}

/// The hint entry of `rec`, `len` bytes at `offset` of its segment; `hash`
/// its key's hash if the caller has it (else hashed here by `hasher`).
pub fn hint_entry(rec: &RecordRef<'_>, hash: Option<u64>, hasher: &KeyHasher, offset: u64, len: usize) -> HintEntry {
    HintEntry {
        hash: match (rec.kind, hash) {
            (Kind::Clear, _) => 0,
            (_, Some(h)) => {
                debug_assert_eq!(h, hasher.hash(rec.key), "a draft's hash is its key's");
                h
            }
            (_, None) => hasher.hash(rec.key),
        },
        offset,
        len: len as u32,
        kind: rec.kind,
        expires_at: rec.expires_at,
        seq: rec.seq,
        has_meta: !rec.meta.is_empty(),
    }
}

/// Whether a record numbered `seq`, read in log order after the record
/// numbered `last`, may be applied: numbers grow along the log, and stay
/// within `MAX_SEQ`. The one rule replay (`State::replay_in_order`) and
/// recovery's search for records to blank (`recovery::strays`) share.
pub fn in_order(seq: u64, last: u64) -> bool {
    seq > last && seq <= MAX_SEQ
}

/// The name a deleted segment file (or its hint) waits under until it is
/// unlinked (`Store::delete_segment`): `NNNNNNNNNN.tcl.dead.tmp`, which no
/// open reads as a segment and every open deletes with the other `*.tmp`
/// files.
pub fn dead_path(segment: &std::path::Path) -> PathBuf {
    let mut name = segment.as_os_str().to_owned();
    name.push(".dead.tmp");
    PathBuf::from(name)
}

/// `Ok` for a file that was not there (already gone is as good as removed).
pub(crate) fn ignore_missing(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &std::path::Path) -> Store {
        let mut s = Store::new(dir.to_path_buf(), false, false, 0, Arc::new(Sealer::default()));
        s.segments.insert(1, Segment::create(dir, 1, 0).unwrap());
        s
    }

    fn put<'a>(key: &'a [u8], value: &'a [u8]) -> Draft<'a> {
        Draft {
            kind: Kind::Put,
            key,
            value,
            expires_at: 0,
            written_at: 7,
            meta: &[],
            codec: 0,
            hash: None,
        }
    }

    /// What `record` reads at `loc`: key and value.
    fn read(s: &Store, loc: Loc) -> (Vec<u8>, Vec<u8>) {
        let r = s.record(loc).expect("a readable record");
        (r.key.to_vec(), r.value(&s.sealer).unwrap().to_vec())
    }

    /// The active segment reserves disk blocks towards the size it will be
    /// sealed at (`Segment::append_parts`); the seal gives back what it
    /// did not use, and the next segment reserves again.
    #[test]
    fn the_seal_gives_back_the_blocks_its_segment_reserved() {
        use super::super::segment::tests::{fs_blocks, reserves_blocks};
        let dir = tempfile::tempdir().unwrap();
        let planned = 8 * segment::MIN_MAP;
        let mut s = Store::new(
            dir.path().to_path_buf(),
            false,
            false,
            planned,
            Arc::new(Sealer::default()),
        );
        s.segments.insert(1, Segment::create(dir.path(), 1, planned).unwrap());
        let value = vec![3u8; 100 << 10];
        let mut last = None;
        for i in 0..30u32 {
            last = Some(s.append(&put(&i.to_le_bytes(), &value)).unwrap());
        }
        s.write_buffer().unwrap();
        let len = s.active().len();
        assert!(len > 2 * segment::MIN_MAP && len < planned / 2, "{len}");
        let reserving = reserves_blocks(dir.path());
        if reserving {
            assert!(fs_blocks(s.active()) >= len.next_power_of_two(), "reserved ahead");
        }
        s.seal_and_start().unwrap();
        let sealed = &s.segments[&1];
        assert_eq!(sealed.len(), len);
        assert!(
            fs_blocks(sealed) < len + (64 << 10),
            "{} of {len}: the seal gave the rest back",
            fs_blocks(sealed)
        );
        if reserving {
            assert!(fs_blocks(s.active()) >= segment::MIN_MAP, "the next segment reserves");
        }
        assert_eq!(read(&s, last.unwrap().loc), (29u32.to_le_bytes().to_vec(), value));
    }

    /// `prefetch` trusts the index entry's length only as a hint: a length
    /// past the segment's end, or a location the log does not have, loads
    /// nothing and the record reads back as before.
    #[test]
    fn a_prefetch_with_a_wrong_length_or_place_is_harmless() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        let a = s.append(&put(b"a", b"value a")).unwrap();
        let big: Vec<u8> = (0..BUFFER_BYTES + 10).map(|i| (i % 251) as u8).collect();
        let b = s.append(&put(b"b", &big)).unwrap();
        for loc in [a.loc, b.loc, Loc::new(1, 1 << 30), Loc::new(9, 0)] {
            for len in [0, 1, a.len as u32, b.len as u32, u32::MAX] {
                s.prefetch(loc, len);
            }
        }
        assert_eq!(read(&s, a.loc), (b"a".to_vec(), b"value a".to_vec()));
        assert_eq!(read(&s, b.loc), (b"b".to_vec(), big));
    }

    /// A value that would fill the buffer goes to the file at once, with
    /// the records buffered before it, and every one of them reads back
    /// (small ones before and after, a value larger than the buffer).
    #[test]
    fn a_value_that_fills_the_buffer_is_written_around_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        let small = s.append(&put(b"a", b"small")).unwrap();
        assert!(!s.buf.is_empty(), "a small record waits in the buffer");
        let big_value: Vec<u8> = (0..BUFFER_BYTES + 10).map(|i| (i % 251) as u8).collect();
        let big = s.append(&put(b"big", &big_value)).unwrap();
        assert!(s.buf.is_empty(), "the buffer went out with the big value");
        assert_eq!(
            s.active().len(),
            big.loc.offset() + big.len,
            "both records are in the file"
        );
        let after = s.append(&put(b"z", b"after")).unwrap();
        assert_eq!(read(&s, small.loc), (b"a".to_vec(), b"small".to_vec()));
        assert_eq!(read(&s, big.loc), (b"big".to_vec(), big_value.clone()));
        assert_eq!(read(&s, after.loc), (b"z".to_vec(), b"after".to_vec()));
        assert_eq!(after.seq, big.seq + 1);
        s.write_buffer().unwrap();
        let scanned = scan::scan(s.active(), &s.sealer, scan::Tail::MayBeTorn);
        assert!(scanned.bad.is_empty(), "{:?}", scanned.bad);
        assert_eq!(scanned.entries.len(), 3);
    }

    /// Flips one byte of segment 1's file in place (through the file: the
    /// map shows it at once, as it would show any outside change).
    fn flip(dir: &std::path::Path, at: u64) {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(dir.join(segment::file_name(1)))
            .unwrap();
        let mut b = [0u8];
        f.read_exact_at(&mut b, at).unwrap();
        f.write_all_at(&[b[0] ^ 0x01], at).unwrap();
    }

    /// A get remembers the records of a segment's file that passed their
    /// checksum, and only those: one in the buffer, one never read and
    /// one that fails are not remembered, and the failing one fails again
    /// on every read.
    #[test]
    fn a_get_remembers_exactly_the_records_that_passed() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        let (good, bad, unread) = (
            s.append(&put(b"good", b"good value")).unwrap(),
            s.append(&put(b"bad", b"bad value")).unwrap(),
            s.append(&put(b"unread", b"unread value")).unwrap(),
        );
        let hasher = s.hasher;
        let hash = |k: &[u8]| hasher.hash(k);
        let (hg, hb) = (hash(b"good"), hash(b"bad"));
        // In the buffer: read, checksummed, not remembered.
        assert!(s
            .indexed_as_copying(hg, good.loc, 0, b"good", Trust::Facts, |_| true)
            .unwrap()
            .is_some());
        s.write_buffer().unwrap();
        let facts = |s: &Store, l: Loc| s.segments[&1].verified().contains(l.offset());
        assert!(!facts(&s, good.loc), "a record read from the buffer is not remembered");
        let (v, copy) = s
            .indexed_as_copying(hg, good.loc, 0, b"good", Trust::Facts, |_| true)
            .unwrap()
            .unwrap();
        assert_eq!((&*v.key, copy.as_deref()), (&b"good"[..], Some(&b"good value"[..])));
        assert!(facts(&s, good.loc));
        // The value's last byte (the fields after it, written_at and seq,
        // take 2 bytes each here): the frame still decodes, the CRC fails.
        flip(dir.path(), bad.loc.offset() + bad.len - 5);
        for _ in 0..2 {
            assert!(matches!(
                s.indexed_as_copying(hb, bad.loc, 0, b"bad", Trust::Facts, |_| true),
                Err(Bad::Corrupt)
            ));
            assert!(matches!(
                s.indexed_as(hb, bad.loc, b"bad", Trust::Facts),
                Err(Bad::Corrupt)
            ));
            assert!(!facts(&s, bad.loc), "a record that failed is not remembered");
        }
        assert!(!facts(&s, unread.loc));
        // The path without a copy remembers too, and answers the same.
        assert!(s
            .indexed_as(hash(b"unread"), unread.loc, b"unread", Trust::Facts)
            .unwrap()
            .is_some());
        assert!(facts(&s, unread.loc));
        let (v, _) = s
            .indexed_as_copying(hash(b"unread"), unread.loc, 0, b"unread", Trust::Facts, |_| true)
            .unwrap()
            .unwrap();
        assert_eq!(v.value(&s.sealer).unwrap(), &b"unread value"[..]);
    }

    /// A record a get verified is not checksummed again by gets (that is
    /// the point), but every other reader still checks it: compaction and
    /// scans never take damage a fact hides for a record to copy forward.
    /// And cutting the file forgets every fact of the segment.
    #[test]
    fn facts_serve_gets_only_and_a_cut_forgets_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        let a = s.append(&put(b"a", b"value a")).unwrap();
        s.write_buffer().unwrap();
        let h = s.hasher.hash(b"a");
        assert!(s
            .indexed_as_copying(h, a.loc, 0, b"a", Trust::Facts, |_| true)
            .unwrap()
            .is_some());
        flip(dir.path(), a.loc.offset() + a.len - 5);
        // A get trusts the fact (the flip is behind the library's back).
        assert!(s
            .indexed_as_copying(h, a.loc, 0, b"a", Trust::Facts, |_| true)
            .unwrap()
            .is_some());
        // Everything else checks the bytes: a read for a touch, which
        // writes the value again,
        assert!(matches!(
            s.indexed_as_copying(h, a.loc, 0, b"a", Trust::Checksum, |_| true),
            Err(Bad::Corrupt)
        ));
        assert!(matches!(
            s.indexed_as(h, a.loc, b"a", Trust::Checksum),
            Err(Bad::Corrupt)
        ));
        // and every reader other than a get.
        assert!(matches!(s.record(a.loc), Err(Bad::Corrupt)));
        assert!(matches!(s.indexed(h, a.loc), Err(Bad::Corrupt)));
        assert_eq!(scan::scan(s.active(), &s.sealer, scan::Tail::MayBeTorn).bad.len(), 1);
        // A cut forgets: the get checks again (and fails).
        let len = s.active().len();
        s.active_mut().truncate(len).unwrap();
        assert!(!s.segments[&1].verified().contains(a.loc.offset()));
        assert!(matches!(
            s.indexed_as_copying(h, a.loc, 0, b"a", Trust::Facts, |_| true),
            Err(Bad::Corrupt)
        ));
    }

    /// A deleted segment's file and hint are renamed out of the way, not
    /// unlinked under the lock: no longer a segment file or a hint, they
    /// wait in `doomed` for `Log::reap`, with the segment itself (its map
    /// still readable through a value that holds it), until `finish`.
    #[test]
    fn a_deleted_segment_waits_under_its_dead_name() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        let a = s.append(&put(b"a", b"one")).unwrap();
        s.seal_and_start().unwrap();
        let held = {
            let r = s.record(a.loc).unwrap();
            s.value_at(a.loc, &r.stored)
        };
        assert!(held.is_mapped());
        let old = s.segments[&1].path.clone();
        let hint = hint::path(dir.path(), 1);
        std::fs::write(&hint, b"a hint").unwrap();
        s.delete_segment(1).unwrap();
        assert!(!s.segments.contains_key(&1));
        assert!(!old.exists(), "no segment file by its name");
        assert!(!hint.exists(), "no hint by its name");
        assert_eq!(s.doomed.files, vec![dead_path(&hint), dead_path(&old)]);
        assert!(dead_path(&old).exists() && dead_path(&hint).exists());
        assert!(dead_path(&old).to_string_lossy().ends_with(".tcl.dead.tmp"));
        assert_eq!(segment::parse_file_name("0000000001.tcl.dead.tmp"), None);
        assert_eq!(s.doomed.segments(), 1, "dropped by reap, not under the lock");

        assert_eq!(std::mem::take(&mut s.doomed).finish(), 0);
        assert!(!dead_path(&old).exists() && !dead_path(&hint).exists());
        assert_eq!(&*held, b"one", "a value holding the map outlives the segment");
    }

    /// A deletion whose hint cannot be renamed out of the way does nothing
    /// else: the segment, its file and its hint stay as they were, and
    /// nothing waits for the reap; once the disk is back it goes whole.
    #[test]
    fn a_deletion_whose_hint_cannot_be_moved_leaves_the_segment_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        s.append(&put(b"a", b"one")).unwrap();
        s.seal_and_start().unwrap();
        let old = s.segments[&1].path.clone();
        let hint = hint::path(dir.path(), 1);
        std::fs::write(&hint, b"a hint").unwrap();
        fileio::inject(
            dir.path(),
            fileio::Plan {
                op: fileio::Op::Rename,
                nth: 1,
                persistent: false,
                errno: libc::EIO,
            },
        );
        assert!(s.delete_segment(1).is_err());
        fileio::heal(dir.path());
        assert!(s.segments.contains_key(&1) && old.exists() && hint.exists());
        assert!(s.doomed.is_empty());
        assert_eq!(s.departed, 0);

        s.delete_segment(1).unwrap();
        assert!(!s.segments.contains_key(&1) && !old.exists() && !hint.exists());
        assert_eq!(s.doomed.segments(), 1);
    }

    /// A write around the buffer that fails leaves the file as it was and
    /// the buffer as it was before the record: nothing of the record stays,
    /// its number is not used, and the records buffered before it still go
    /// out once the disk is back.
    #[test]
    fn a_failed_write_around_the_buffer_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        let small = s.append(&put(b"a", b"small")).unwrap();
        let (file_len, buffered) = (s.active().len(), s.buf.clone());
        fileio::inject(
            dir.path(),
            fileio::Plan {
                op: fileio::Op::Write,
                nth: 1,
                persistent: false,
                errno: libc::ENOSPC,
            },
        );
        let big_value = vec![3u8; BUFFER_BYTES];
        assert!(s.append(&put(b"big", &big_value)).is_err());
        fileio::heal(dir.path());
        let on_disk = std::fs::metadata(&s.active().path).unwrap().len();
        assert_eq!(
            (s.active().len(), on_disk),
            (file_len, file_len),
            "the half-written bytes were cut off"
        );
        assert_eq!(s.buf, buffered);
        let next = s.append(&put(b"b", b"next")).unwrap();
        assert_eq!(next.seq, small.seq + 1, "the failed record's number was not used");
        s.write_buffer().unwrap();
        assert_eq!(read(&s, small.loc), (b"a".to_vec(), b"small".to_vec()));
        assert_eq!(read(&s, next.loc), (b"b".to_vec(), b"next".to_vec()));
        assert_eq!(
            scan::scan(s.active(), &s.sealer, scan::Tail::MayBeTorn).entries.len(),
            2
        );
    }
}
