//! Compaction's copy of a live record: `Store::carry` appends again the
//! record at a location of a sealed segment as its own bytes, with only its
//! sequence number rewritten and its checksum patched (`record::restamp`),
//! instead of decoding it, encoding it anew and checksumming the new
//! record over its whole value (for a 16 KiB value that second checksum was
//! half of what carrying it cost).
//!
//! The old record is still checksummed, once, before its copy counts: in
//! the pass that copies it into the append buffer, each chunk checksummed
//! as it lands there (so the bytes verified are the bytes written, and a
//! value is read from memory once), or, for a record that goes out by
//! `pwritev` from its segment's map, in a pass over the map. Why verify at
//! all, when a patch cannot make damaged bytes pass (`record::restamp`: the
//! copy of a damaged record fails its check as the original did)? Because
//! compaction decides from the record: its index entry and hint entry take
//! the kind, key hash, expiry and meta flag decoded from it, and a live
//! record that turns out damaged must not be copied at all but counted and
//! dropped from the index, and its segment kept while it may hide older
//! records of its key (`compact.rs`, `Fate::Unreadable`): a damaged copy in
//! a new segment, its original deleted, would leave a rebuild of the index
//! nothing to tell which key it hid. Facts of earlier gets (`verified`) are
//! not used, as for every write of a record read from the log: bytes that
//! changed on disk after a get verified them are caught here.

use std::io;
use std::ops::Range;

use super::{append_to_active, Appended, Store, BUFFER_BYTES};
use crate::log::hint::HintEntry;
use crate::log::index::{KeyHasher, Loc};
use crate::options::Compression;
use crate::record::{self, Frame, Kind, Restamp, FRAME_HEADER};
use crate::seal::Sealer;

/// What `Store::carry` did with a record.
#[derive(Debug, Clone, Copy)]
pub enum Carry {
    /// Appended as its own bytes, renumbered; `has_meta`: it has a meta
    /// field (for its index entry).
    Done { appended: Appended, has_meta: bool },
    /// It fails its checksum, does not decode, or is not a put of the
    /// hash asked for (as `Store::indexed` would have refused it) named by
    /// the number asked for (`index::names`, as a get would have refused
    /// it), or is not there: nothing was appended.
    Unreadable,
    /// It cannot be carried byte for byte (an encrypted directory, whose
    /// records are sealed to their location; a value the directory's
    /// compression would pack; a record not laid out as this version
    /// writes them; a number whose head is longer than the old one's, or
    /// a record still in the append buffer): nothing was appended, the
    /// caller encodes it anew (`Store::append`).
    Anew,
}

#[cfg(test)]
thread_local! {
    /// Test builds: the records `Store::carry` carried as their own bytes
    /// on this thread (tests tell them from copies encoded anew, which have
    /// the same bytes).
    pub static CARRIED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Bytes copied, then checksummed, at a time: small enough that a chunk is
/// still in the CPU's cache when the checksum reads it.
const CHUNK: usize = 4096;

/// What the verified bytes of a record to carry said.
enum Judged {
    Carry {
        /// Where its number's head lies in the payload (`record::seq_field`).
        at: Range<usize>,
        restamp: Restamp,
        expires_at: u64,
        has_meta: bool,
    },
    Unreadable,
    Anew,
}

impl Store {
    /// Appends again the record at `from`, a put of key hash `h` in a sealed
    /// segment's file that its index entry numbers `seq`, as its own bytes
    /// numbered afresh (module doc), if its checksum holds and it is the
    /// record that number names. On error nothing of the copy stays in the log and
    /// its number is not used (as `append`).
    ///
    /// It enters the log as every record does, through `numbered` (its
    /// number, its hint entry): `Store` is the one type that keeps the
    /// log's numbering and hint entries, whichever way a record is
    /// appended. The caller points the index at the copy, as for a copy
    /// made by `append`.
    pub fn carry(&mut self, from: Loc, h: u64, seq: u64) -> io::Result<Carry> {
        self.writable()?;
        if self.sealer.encrypts() {
            return Ok(Carry::Anew);
        }
        let Some(seg) = self.segments.get(&from.segment()) else {
            return Ok(Carry::Unreadable);
        };
        if seg.id == self.active().id || from.offset() >= seg.len() {
            return Ok(Carry::Anew);
        }
        // A handle on the map, so that its bytes can be read while the
        // buffer and the active segment change.
        let Some(map) = seg.map().cloned() else {
            return Ok(Carry::Unreadable);
        };
        let Some(bytes) = map.get(from.offset() as usize..seg.len() as usize) else {
            return Ok(Carry::Unreadable);
        };
        // The frame as its length says (checked against the bytes there
        // and the cap, not yet against the checksum).
        let Some(n) = record::unverified_payload(bytes).map(|p| FRAME_HEADER + p.len()) else {
            return Ok(Carry::Unreadable);
        };
        let frame = &bytes[..n];
        if !self.worth_copying(record::payload(frame)) {
            return Ok(Carry::Anew);
        }
        let start = self.buf.len();
        let offset = self.next_loc().offset();
        // As `append` does with a put: a record that would fill the buffer
        // goes out from where it lies, behind the buffer, in one `pwritev`.
        let judged = if start + n >= BUFFER_BYTES {
            self.carry_direct(frame, h, seq)?
        } else {
            self.carry_buffered(frame, h, seq)?
        };
        let Judged::Carry {
            expires_at, has_meta, ..
        } = judged
        else {
            return Ok(match judged {
                Judged::Unreadable => Carry::Unreadable,
                _ => Carry::Anew,
            });
        };
        let appended = self.numbered(HintEntry {
            hash: h,
            offset,
            len: n as u32,
            kind: Kind::Put,
            expires_at,
            seq: self.next_seq,
            has_meta,
        });
        #[cfg(test)]
        CARRIED.with(|n| n.set(n.get() + 1));
        Ok(Carry::Done { appended, has_meta })
    }

    /// `carry` by the buffer: each chunk of `frame` copied into it, then
    /// checksummed there; the copy renumbered in place if it passed, taken
    /// back otherwise.
    fn carry_buffered(&mut self, frame: &[u8], h: u64, seq: u64) -> io::Result<Judged> {
        let start = self.buf.len();
        self.buf.reserve(frame.len());
        self.buf.extend_from_slice(&frame[..FRAME_HEADER]);
        let mut crc = crate::crc::hasher();
        crc.update(&self.buf[start..start + 4]);
        for part in frame[FRAME_HEADER..].chunks(CHUNK) {
            let at = self.buf.len();
            self.buf.extend_from_slice(part);
            crc.update(&self.buf[at..]);
        }
        let frame = &self.buf[start..];
        let sound = crc.finalize() == u32::from_le_bytes(frame[4..8].try_into().unwrap());
        let judged = self.judge(frame, sound, h, seq);
        let Judged::Carry { at, restamp, .. } = &judged else {
            self.buf.truncate(start);
            return Ok(judged);
        };
        let payload = start + FRAME_HEADER;
        self.buf[payload + at.start..payload + at.end].copy_from_slice(restamp.head());
        self.buf[start + 4..start + 8].copy_from_slice(&restamp.crc.to_le_bytes());
        if self.buf.len() >= BUFFER_BYTES {
            if let Err(e) = self.write_buffer() {
                self.buf.truncate(start);
                return Err(e);
            }
        }
        Ok(judged)
    }

    /// `carry` by `pwritev`: `frame` checksummed where it lies, then written
    /// from there behind the buffer, with its new header and number from
    /// here. The kernel reads the map again to write it; bytes changed in
    /// between are not laundered: the checksum written is the old one
    /// patched, which the changed bytes fail (`record::restamp`).
    fn carry_direct(&mut self, frame: &[u8], h: u64, seq: u64) -> io::Result<Judged> {
        let sound = matches!(record::check_frame(frame), Frame::Valid { .. });
        let judged = self.judge(frame, sound, h, seq);
        let Judged::Carry { at, restamp, .. } = &judged else {
            return Ok(judged);
        };
        let start = self.buf.len();
        self.buf.extend_from_slice(&frame[..4]);
        self.buf.extend_from_slice(&restamp.crc.to_le_bytes());
        let parts = [
            &self.buf[..],
            &frame[FRAME_HEADER..FRAME_HEADER + at.start],
            restamp.head(),
        ];
        if let Err(e) = append_to_active(&mut self.segments, self.planned, &parts) {
            self.buf.truncate(start);
            return Err(e);
        }
        self.buffer_written();
        Ok(judged)
    }

    /// Whether the payload of a record to carry, not verified yet, looks
    /// like one `judge` will let through: only which way it goes is decided
    /// from it (`judge` decides again over the verified bytes), so that a
    /// record to be encoded anew is not first copied and checksummed for
    /// nothing. That was every record numbered below 2^16 (or 256, or
    /// 2^32) carried once the log's numbers passed it: at the crossing,
    /// about half of a compaction's records in `hit.c put 16384 20000
    /// 40000` under callgrind.
    fn worth_copying(&self, payload: &[u8]) -> bool {
        let fits = record::seq_field(payload).is_some_and(|at| record::seq_fits(&at, self.next_seq));
        fits && (self.sealer.compression == Compression::TC_COMPRESSION_NONE
            || record::decode(payload).is_some_and(|r| !packs(&self.sealer, &r)))
    }

    /// What the record `frame` allows, `sound` if its checksum holds over
    /// its bytes (`verdict`), renumbered `self.next_seq`.
    fn judge(&self, frame: &[u8], sound: bool, h: u64, seq: u64) -> Judged {
        match verdict(frame, sound, h, seq, &self.hasher, &self.sealer) {
            Verdict::Carry {
                at,
                expires_at,
                has_meta,
            } => match record::restamp(frame, at.clone(), self.next_seq) {
                Some(restamp) => Judged::Carry {
                    at,
                    restamp,
                    expires_at,
                    has_meta,
                },
                None => Judged::Anew,
            },
            Verdict::Unreadable => Judged::Unreadable,
            Verdict::Anew => Judged::Anew,
        }
    }
}

/// What a record to carry allows, whatever number it is to get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A carry byte for byte: its number's head lies at `at` of the
    /// payload (`record::seq_field`).
    Carry {
        at: Range<usize>,
        expires_at: u64,
        has_meta: bool,
    },
    Unreadable,
    Anew,
}

/// What the record `frame` allows, `sound` if its checksum holds over its
/// bytes: a carry byte for byte only if it is sound and a plain put of key
/// hash `h` (by `hasher`), named by number `seq`, laid out as this version
/// writes it, of a value `sealer` would not pack. Nothing decoded is used
/// unless it is sound. (Whether the new number's head fits the old one's
/// is the caller's to ask: `record::restamp`.)
pub fn verdict(frame: &[u8], sound: bool, h: u64, seq: u64, hasher: &KeyHasher, sealer: &Sealer) -> Verdict {
    if !sound {
        return Verdict::Unreadable;
    }
    let payload = record::payload(frame);
    let Some(rec) = record::decode(payload) else {
        return Verdict::Unreadable;
    };
    // A get's checks: a put (a sealed record in a plain directory is
    // refused by `view::open`), of the key the index has, that the
    // index entry names by its number.
    if rec.kind != Kind::Put
        || !rec.sealed.is_empty()
        || hasher.hash(rec.key) != h
        || !crate::log::index::names(seq, rec.seq)
    {
        return Verdict::Unreadable;
    }
    // A value stored as it is where the directory packs values of its
    // length: `append` packs it (as it did before carries were raw).
    if packs(sealer, &rec) {
        return Verdict::Anew;
    }
    match record::seq_field(payload) {
        Some(at) => Verdict::Carry {
            at,
            expires_at: rec.expires_at,
            has_meta: !rec.meta.is_empty(),
        },
        None => Verdict::Anew,
    }
}

/// Whether `append` would pack the value of `rec` (a plain put): stored
/// as it is, of a length the directory packs now.
fn packs(sealer: &Sealer, rec: &record::RecordRef<'_>) -> bool {
    sealer.compression != Compression::TC_COMPRESSION_NONE && rec.codec == 0 && rec.value.len() as u64 >= sealer.min_len
}
