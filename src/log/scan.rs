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

/// What reading a segment's records front to back found.
pub struct Scan {
    /// Every readable record, in order.
    pub entries: Vec<HintEntry>,
    /// Records that failed their checksum or did not decode: where, and why.
    pub bad: Vec<(u64, &'static str)>,
    /// Where the readable records end, if unreadable bytes follow them with
    /// no record after (a torn tail, or garbage).
    pub cut_at: Option<u64>,
    /// The search for a record after bad bytes hit its work bound, so valid
    /// records may lie after `cut_at`: the segment must not be cut there.
    pub gave_up: bool,
}

/// Reads every record of `seg`, skipping corrupt ones: after a bad frame it
/// searches forward for the next valid one. In an encrypted directory every
/// record is opened (authenticated), to hash its key.
pub fn scan(seg: &Segment, sealer: &Sealer) -> Scan {
    scan_from(seg, segment::HEADER_LEN, sealer)
}

/// `scan`, from byte `start` (where a record begins) on.
pub fn scan_from(seg: &Segment, start: u64, sealer: &Sealer) -> Scan {
    let hasher = hasher_of(sealer);
    let bytes = seg.bytes();
    let mut out = Scan {
        entries: Vec::new(),
        bad: Vec::new(),
        cut_at: None,
        gave_up: false,
    };
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
                    out.cut_at = Some(pos as u64);
                    out.gave_up = true;
                    return out;
                }
                Resync::Found(skip) => {
                    let why = if frame == Frame::Corrupt {
                        "bad length or checksum"
                    } else {
                        "bad length"
                    };
                    out.bad.push((pos as u64, why));
                    pos += skip;
                    continue;
                }
                Resync::None => {
                    if frame == Frame::Corrupt {
                        out.bad
                            .push((pos as u64, "bad length or checksum, at the end of the segment"));
                    }
                    out.cut_at = Some(pos as u64);
                    return out;
                }
            },
        };
        let loc = Loc::new(seg.id, pos as u64);
        match record::decode(record::payload(&here[..len])).map(|r| view::open(r, loc, sealer)) {
            Some(Ok(r)) => out.entries.push(HintEntry {
                hash: if r.kind == Kind::Clear { 0 } else { hasher.hash(&r.key) },
                offset: pos as u64,
                len: len as u32,
                kind: r.kind,
                expires_at: r.expires_at,
                seq: r.seq,
                has_meta: !r.meta.is_empty(),
            }),
            Some(Err(_)) if sealer.encrypts() => out.bad.push((
                pos as u64,
                "the record does not authenticate with this key and location",
            )),
            Some(Err(_)) => out
                .bad
                .push((pos as u64, "an encrypted record in a directory without a key")),
            // The checksum matched but the payload is not a record we can read.
            None => out
                .bad
                .push((pos as u64, "checksum matches but the payload is not a record")),
        }
        pos += len;
    }
    out
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
