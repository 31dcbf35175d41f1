//! Reading a segment's records front to back without its hint: for a
//! rebuild of the index when a segment has no sound hint (the one being
//! written at a crash, or one whose hint was lost), for `tiercache verify`,
//! and for the entries of the active segment before `active_entries_from`.
//!
//! A bad frame is counted and the search for the next valid one goes on
//! after it (`next_valid_frame`), so one damaged record does not hide the
//! segment's later records.

use super::hint::HintEntry;
use super::index::Loc;
use super::segment::{self, Segment};
use super::store::hasher_of;
use super::view;
use crate::record::{self, Frame, Kind};
use crate::seal::Sealer;

/// How the end of a scanned segment may be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// The last segment, which a crash may have left with a write cut
    /// short: a frame that runs past the end of the file, with no unreadable
    /// bytes before it and nothing readable after it, is such a write
    /// (`Scan::torn_at`). A killed process can leave nothing else at the
    /// end: its writes reach the file in order, so the bytes that are there
    /// are the ones it wrote. Except a whole record whose length field was
    /// damaged to claim more than the file holds: its checksum matches with
    /// the length the bytes give (`record::whole_but_for_its_length`), which
    /// a write cut short does not, and it is damage like any other. Read as
    /// a torn write, it would let the older record of its key be live again.
    MayBeTorn,
    /// A sealed segment: it was whole when it was sealed, so unreadable
    /// bytes at its end are damage like any other.
    Sealed,
}

/// What reading a segment's records front to back found.
pub struct Scan {
    /// Every readable record, in order, and in its place among them a gap
    /// (`HintEntry::gap`) for each run of unreadable bytes that is not a
    /// torn write.
    pub entries: Vec<HintEntry>,
    /// Records that failed their checksum or did not decode: where, and why.
    pub bad: Vec<(u64, &'static str)>,
    /// Where a write that a crash cut short begins (only with
    /// `Tail::MayBeTorn`): the bytes from here on are no record, and the
    /// next writer cuts them off.
    pub torn_at: Option<u64>,
    /// A gap reaches the end of the segment: nothing may be appended after
    /// it, as the records appended would lie behind bytes the search for
    /// the next record may not get past (the last segment is sealed).
    pub damaged_end: bool,
}

/// Reads every record of `seg`, skipping corrupt ones: after a bad frame it
/// searches forward for the next valid one. In an encrypted directory every
/// record is opened (authenticated), to hash its key.
pub fn scan(seg: &Segment, sealer: &Sealer, tail: Tail) -> Scan {
    scan_from(seg, segment::HEADER_LEN, sealer, tail)
}

/// `scan`, from byte `start` (where a record begins) on.
///
/// Unreadable bytes may have held records, and a lost record may have been
/// its key's newest: skipping it, an older record of its key would be live
/// again, a superseded or removed value back. Nothing tells which key it
/// was (its key bytes may be what is damaged), so each run of unreadable
/// bytes becomes a gap entry, which the replay takes as hiding every record
/// before it (`HintEntry::gap_hides`). The one exception is a torn write
/// at the end of the last segment (see `Tail`): what a crash loses there is
/// the end of history, so what is before it stands as it was.
pub fn scan_from(seg: &Segment, start: u64, sealer: &Sealer, tail: Tail) -> Scan {
    let hasher = hasher_of(sealer);
    let bytes = seg.bytes();
    let mut out = Scan {
        entries: Vec::new(),
        bad: Vec::new(),
        torn_at: None,
        damaged_end: false,
    };
    // A segment of format 1, whose records carry no numbers (0).
    let format_1 = seg.format < segment::VERSION;
    // Where the run of unreadable bytes that no readable record has ended yet began.
    let mut gap_from: Option<usize> = None;
    let mut pos = start.max(segment::HEADER_LEN) as usize;
    while pos < bytes.len() {
        let here = &bytes[pos..];
        let frame = record::check_frame(here);
        let len = match frame {
            Frame::Valid { len } => len,
            Frame::Truncated | Frame::Corrupt => match next_valid_frame(here) {
                Resync::GaveUp => {
                    out.bad
                        .push((pos as u64, "unreadable bytes; the search for the next record gave up"));
                    out.end_with_gap(*gap_from.get_or_insert(pos), bytes.len());
                    return out;
                }
                Resync::Found(skip) => {
                    let why = if frame == Frame::Corrupt {
                        "bad length or checksum"
                    } else {
                        "bad length"
                    };
                    out.bad.push((pos as u64, why));
                    gap_from.get_or_insert(pos);
                    pos += skip;
                    continue;
                }
                Resync::None => {
                    // A frame running past the end of the last segment is a
                    // write a crash cut short, unless unreadable bytes came
                    // before it or it is a whole record with its length
                    // damaged (see `Tail`); asked once, the answer checksums
                    // the frame.
                    let runs_past_end = tail == Tail::MayBeTorn && frame == Frame::Truncated;
                    let damaged_length = runs_past_end && record::whole_but_for_its_length(here);
                    if runs_past_end && gap_from.is_none() && !damaged_length {
                        out.torn_at = Some(pos as u64);
                        return out;
                    }
                    let why = match (frame, tail) {
                        (Frame::Corrupt, _) => "bad length or checksum, at the end of the segment",
                        _ if damaged_length => {
                            "a whole record whose length field is damaged, at the end of the segment"
                        }
                        (_, Tail::Sealed) => "unreadable bytes at the end of a sealed segment",
                        _ => "a record cut short after unreadable bytes",
                    };
                    out.bad.push((pos as u64, why));
                    out.end_with_gap(*gap_from.get_or_insert(pos), bytes.len());
                    return out;
                }
            },
        };
        let loc = Loc::new(seg.id, pos as u64);
        let why = match record::decode(record::payload(&here[..len])).map(|r| view::open(r, loc, sealer)) {
            // Format 1 wrote no numbers: a record that carries one in a
            // segment of format 1 is damage that passed its checksum (or a
            // forgery). Read as a record, it would be numbered by its place
            // in the log and the gap after it by its own number, and the
            // place changes when an open deletes the segments before it:
            // an open and a later rebuild of the index disagreed on what
            // that gap hides (fuzz finding 16).
            Some(Ok(r)) if format_1 && r.seq != 0 => Some("a record that carries a number in a segment of format 1"),
            Some(Ok(r)) => {
                if let Some(from) = gap_from.take() {
                    // The record after a gap is numbered one past it, so
                    // the gap says which records it can hide (0: not known,
                    // a format 1 record).
                    out.push_gap(from, pos, r.seq.saturating_sub(1));
                }
                out.entries.push(HintEntry {
                    hash: if r.kind == Kind::Clear { 0 } else { hasher.hash(&r.key) },
                    offset: pos as u64,
                    len: len as u32,
                    kind: r.kind,
                    expires_at: r.expires_at,
                    seq: r.seq,
                    has_meta: !r.meta.is_empty(),
                });
                None
            }
            Some(Err(_)) if sealer.encrypts() => Some("the record does not authenticate with this key and location"),
            Some(Err(_)) => Some("an encrypted record in a directory without a key"),
            // The checksum matched but the payload is not a record we can read.
            None => Some("checksum matches but the payload is not a record"),
        };
        if let Some(why) = why {
            out.bad.push((pos as u64, why));
            gap_from.get_or_insert(pos);
        }
        pos += len;
    }
    if let Some(from) = gap_from {
        // Records that frame but do not read, up to the end.
        out.end_with_gap(from, bytes.len());
    }
    out
}

impl Scan {
    /// A gap over bytes `from..to`, numbered `seq` (`HintEntry::gap`). An
    /// entry's length is 32 bits and a segment's may be more, so a longer
    /// run takes several entries, which say the same.
    fn push_gap(&mut self, from: usize, to: usize, seq: u64) {
        let mut at = from as u64;
        while at < to as u64 {
            let len = u32::try_from(to as u64 - at).unwrap_or(u32::MAX);
            self.entries.push(HintEntry::gap(at, len, seq));
            at += u64::from(len);
        }
    }

    /// A gap from `from` to the end of the segment (`len` bytes); no record
    /// follows it, so what it can hide is not known from a number (0).
    fn end_with_gap(&mut self, from: usize, len: usize) {
        self.push_gap(from, len, 0);
        self.damaged_end = true;
    }
}

/// What the search for the next record after bad bytes found.
enum Resync {
    /// A valid frame starts this many bytes further on.
    Found(usize),
    /// No valid frame follows.
    None,
    /// The search stopped at its work bound.
    GaveUp,
}

/// Finds the next valid frame after the start of `bytes`. Each candidate
/// costs up to its claimed length (decoding, then the checksum), and bytes
/// crafted to look like a frame every few bytes would make the search
/// quadratic, so the candidates' lengths are bounded in total by sixteen
/// times the bytes searched (at least 1 MiB). Past that bound the rest of the
/// segment is given up: only bytes crafted after a corruption get there.
fn next_valid_frame(bytes: &[u8]) -> Resync {
    let mut budget = bytes.len().saturating_mul(16).max(1 << 20);
    for i in 1..bytes.len() {
        let b = &bytes[i..];
        if !record::looks_like_frame(b) {
            continue;
        }
        let Some(len) = record::frame_len(b).filter(|len| *len <= b.len()) else {
            continue;
        };
        if len > budget {
            return Resync::GaveUp;
        }
        budget -= len;
        // Decoding reads only headers, so it rejects most impostors before
        // the checksum reads them whole.
        if record::decode(record::payload(&b[..len])).is_some() && matches!(record::check_frame(b), Frame::Valid { .. })
        {
            return Resync::Found(i);
        }
    }
    Resync::None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::segment::HeaderCheck;
    use crate::record::RecordRef;

    fn put(key: &[u8], seq: u64) -> Vec<u8> {
        let mut out = Vec::new();
        let rec = RecordRef {
            kind: Kind::Put,
            key,
            value: b"v",
            expires_at: 0,
            written_at: 1,
            seq,
            meta: &[],
            codec: 0,
            sealed: &[],
        };
        record::encode(&mut out, &rec);
        out
    }

    /// Format 1 wrote no numbers, so in a segment of format 1 a record that
    /// carries one (damage that passed its checksum, or a forgery) is
    /// unreadable bytes: a gap of no known number, which hides every record
    /// before it. Read as a record (fuzz finding 16), it was numbered by its
    /// place and the gap after it by its own number, and an open and a
    /// later rebuild of the index, whose places differed, disagreed.
    #[test]
    fn a_numbered_record_in_a_format_1_segment_is_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(segment::file_name(3));
        let mut bytes = b"TCL2\x01\x00\x00\x00".to_vec();
        bytes.extend_from_slice(&3u64.to_le_bytes());
        for (key, seq) in [(b"a", 0), (b"b", 7), (b"c", 0)] {
            bytes.extend(put(key, seq));
        }
        std::fs::write(&path, &bytes).unwrap();
        let (seg, check) = Segment::open(&path, 3, false).unwrap();
        assert_eq!((check, seg.format), (HeaderCheck::Ok, 1));
        let s = scan(&seg, &Sealer::default(), Tail::Sealed);
        let read: Vec<(bool, u64)> = s.entries.iter().map(|e| (e.is_gap(), e.seq)).collect();
        assert_eq!(read, [(false, 0), (true, 0), (false, 0)], "a, a gap where b was, c");
        assert_eq!(s.bad.len(), 1);
    }
}
