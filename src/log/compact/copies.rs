//! What a compaction writes for the records of the segment it empties
//! (`Copy`), decided with no write lock held, and the check of a live
//! put's bytes before it is copied (`check`), made with no lock at all.

use std::ops::Range;

use crate::log::hint::HintEntry;
use crate::log::index::{self, KeyHasher, Loc};
use crate::log::store::{self, carry::Verdict};
use crate::record::{self, Frame, Kind, FRAME_HEADER};
use crate::seal::Sealer;

/// One record the output holds, in the output's order. Its key lies in
/// the plan's `Keys` at `key` (every copy needs it: a tombstone is written
/// for it, and so is one for a put that turns out unreadable when it is
/// written, so that every number set aside is used).
#[derive(Debug)]
pub enum Copy {
    /// The key's live put, again: its index entry names it by number
    /// `named`; `how` it is written (`check`).
    Put {
        e: HintEntry,
        named: u64,
        how: How,
        key: Range<usize>,
    },
    /// A tombstone for the key, in place of its record `e`: a tombstone,
    /// or an expired put, that may hide older records of the key.
    /// `expired`: `e` was the key's live put, which leaves the index.
    Tombstone {
        e: HintEntry,
        key: Range<usize>,
        expired: bool,
    },
}

impl Copy {
    pub fn entry(&self) -> &HintEntry {
        match self {
            Copy::Put { e, .. } | Copy::Tombstone { e, .. } => e,
        }
    }

    pub fn key<'a>(&self, keys: &'a Keys) -> &'a [u8] {
        match self {
            Copy::Put { key, .. } | Copy::Tombstone { key, .. } => &keys.0[key.clone()],
        }
    }
}

/// The keys of a plan's copies, back to back (one allocation, not one a
/// copy: a segment of small records has tens of thousands).
#[derive(Debug, Default)]
pub struct Keys(Vec<u8>);

impl Keys {
    /// Keeps `key`; where it lies.
    pub fn keep(&mut self, key: &[u8]) -> Range<usize> {
        let start = self.0.len();
        self.0.extend_from_slice(key);
        start..self.0.len()
    }
}

/// How a live put is copied, as its bytes were found (`check`).
#[derive(Debug)]
pub enum How {
    /// Byte for byte, renumbered: its frame is `len` bytes, its number's
    /// head at `at` of the payload.
    Carry {
        len: usize,
        at: Range<usize>,
        expires_at: u64,
        has_meta: bool,
    },
    /// Decoded and encoded anew (`store::carry::Verdict::Anew`).
    Anew,
}

/// What the bytes of a live put of key hash `h` at `from` say, `bytes`
/// being its segment's from there on, and its key: `None` if it is
/// unreadable (fails its checksum or authentication, does not decode, is
/// not a put of `h`, or is not the record number `named` names), as a get
/// would refuse it. Reads only the segment's map: no lock is needed for a
/// sealed segment.
pub fn check(
    bytes: &[u8],
    from: Loc,
    h: u64,
    named: u64,
    hasher: &KeyHasher,
    sealer: &Sealer,
) -> Option<(How, Vec<u8>)> {
    if sealer.encrypts() {
        // Sealed to its place: only encoded anew (`Store::carry`).
        let v = store::record_in(bytes, from, sealer).ok()?;
        let ok = v.kind == Kind::Put && hasher.hash(&v.key) == h && index::names(named, v.seq);
        return ok.then(|| (How::Anew, v.key.into_owned()));
    }
    let len = FRAME_HEADER + record::unverified_payload(bytes)?.len();
    let frame = &bytes[..len];
    let sound = matches!(record::check_frame(frame), Frame::Valid { .. });
    let how = match store::carry::verdict(frame, sound, h, named, hasher, sealer) {
        Verdict::Carry {
            at,
            expires_at,
            has_meta,
        } => How::Carry {
            len,
            at,
            expires_at,
            has_meta,
        },
        Verdict::Anew => How::Anew,
        Verdict::Unreadable => return None,
    };
    // Sound (the verdict said so): decoded again for its key alone.
    let key = record::decode(record::payload(frame))?.key.to_vec();
    Some((how, key))
}
