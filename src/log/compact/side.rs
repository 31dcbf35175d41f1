//! A compaction's output: the segment its copies go into, written with no
//! lock of the log held.
//!
//! Until 7 December compaction appended its copies at the end of the log,
//! under the log's write lock, a chunk at a time: every put waited while a
//! segment's live records were copied (16 KiB values: ~12 ms a segment,
//! a quarter of the mean put in `benchmarks/c/put.c 16384 50000 100000`).
//! Now the log sets aside, under one short hold of its lock, an id and a
//! run of sequence numbers for the copies (`Store::reserve_side`), and the
//! copies are written here, into a file of their own, while puts go on in
//! the next segment. The numbers keep the log's order: the output is a
//! segment between the one sealed for it and the one puts go to, numbered
//! between their records, exactly as if it had been appended in one go at
//! the moment of the reservation.
//!
//! The file is written under a temporary name (`segment::aside_name`, which
//! every open deletes) and fsynced under a durable policy; the log renames
//! it to its segment name as it takes it in, under its lock
//! (`Store::install_side`). A crash before that leaves nothing a replay
//! reads, and the originals are still in place (they go only after the
//! output is in the log, and an index checkpoint says so: `compact.rs`).
//!
//! What it writes, it writes whole: one record per number set aside, in
//! order, so the numbers stay dense (`HintEntry::gap_hides`).

use std::io;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use crate::log::hint::HintEntry;
use crate::log::index::{KeyHasher, Loc};
use crate::log::segment::Segment;
use crate::log::store::{self, Draft, Reserved, BUFFER_BYTES};
use crate::record::{self, Kind, FRAME_HEADER};
use crate::seal::Sealer;

/// See the module doc.
pub struct Side {
    seg: Segment,
    /// Records not yet written to `seg`'s file.
    buf: Vec<u8>,
    /// One per record written, in order: the output's hint entries.
    entries: Vec<HintEntry>,
    reserved: Reserved,
    /// The size the log seals segments at, which the file reserves disk
    /// blocks towards as it grows (`Segment::append_parts`).
    planned: u64,
    sealer: Arc<Sealer>,
    hasher: KeyHasher,
}

impl Side {
    /// An empty output for what `reserved` set aside, in `dir`.
    pub fn create(
        dir: &Path,
        reserved: Reserved,
        planned: u64,
        sealer: Arc<Sealer>,
        hasher: KeyHasher,
    ) -> io::Result<Side> {
        Ok(Side {
            seg: Segment::create_aside(dir, reserved.id, planned)?,
            buf: Vec::with_capacity(BUFFER_BYTES),
            entries: Vec::with_capacity(reserved.count as usize),
            reserved,
            planned,
            sealer,
            hasher,
        })
    }

    /// Where the next record goes, and its number.
    fn next(&self) -> (Loc, u64) {
        (
            Loc::new(self.seg.id, self.seg.len() + self.buf.len() as u64),
            self.reserved.first_seq + self.entries.len() as u64,
        )
    }

    /// Whether every number set aside has its record.
    pub fn is_full(&self) -> bool {
        self.entries.len() as u64 >= self.reserved.count
    }

    /// Appends the put framed in `frame` (verified, its number's head at
    /// `at` of the payload: `store::carry::verdict`, of key hash `h`) as its
    /// own bytes, with the next number and its checksum patched
    /// (`record::restamp`). `None`, with nothing written, if the next
    /// number's head is longer than the old one's: the caller encodes the
    /// record anew (`append`).
    ///
    /// The bytes are read again here, after they were verified: bytes that
    /// changed between are not laundered, since the checksum written is
    /// the old one patched, which they fail (as `Store::carry`'s).
    pub fn carry(
        &mut self,
        frame: &[u8],
        at: Range<usize>,
        h: u64,
        expires_at: u64,
        has_meta: bool,
    ) -> io::Result<Option<HintEntry>> {
        debug_assert!(!self.is_full(), "a record for every number set aside, no more");
        let (loc, seq) = self.next();
        let Some(restamp) = record::restamp(frame, at.clone(), seq) else {
            return Ok(None);
        };
        let mut header = [0u8; FRAME_HEADER];
        header[..4].copy_from_slice(&frame[..4]);
        header[4..].copy_from_slice(&restamp.crc.to_le_bytes());
        // The number is the payload's last field (`record::seq_field`).
        let before = &frame[FRAME_HEADER..FRAME_HEADER + at.start];
        if self.buf.len() + frame.len() >= BUFFER_BYTES {
            // A large record goes out from where it lies, behind the buffer.
            self.seg
                .append_parts(&[&self.buf, &header, before, restamp.head()], self.planned)?;
            self.buf.clear();
        } else {
            self.buf.extend_from_slice(&header);
            self.buf.extend_from_slice(before);
            self.buf.extend_from_slice(restamp.head());
        }
        #[cfg(test)]
        crate::log::store::CARRIED.with(|n| n.set(n.get() + 1));
        Ok(Some(self.written(HintEntry {
            hash: h,
            offset: loc.offset(),
            len: frame.len() as u32,
            kind: Kind::Put,
            expires_at,
            seq,
            has_meta,
        })))
    }

    /// Appends `draft` with the next number, encoded as `Store::append`
    /// encodes it (packed, or sealed to its place, as the directory says).
    pub fn append(&mut self, draft: &Draft<'_>) -> io::Result<HintEntry> {
        debug_assert!(!self.is_full(), "a record for every number set aside, no more");
        let (loc, seq) = self.next();
        let packed = store::packed(&self.sealer, draft);
        let rec = store::stamped(draft, seq, &packed);
        let len = store::encode_at(&mut self.buf, &rec, loc, &self.sealer);
        let e = store::hint_entry(&rec, draft.hash, &self.hasher, loc.offset(), len);
        if self.buf.len() >= BUFFER_BYTES {
            self.write_buffer()?;
        }
        Ok(self.written(e))
    }

    fn written(&mut self, e: HintEntry) -> HintEntry {
        self.entries.push(e);
        e
    }

    fn write_buffer(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.seg.append_parts(&[&self.buf], self.planned)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Writes out what is left, gives back the disk blocks reserved past
    /// the end, and fsyncs the file (if `durable`): the output as a sealed
    /// segment, still under its temporary name, and its hint entries, for
    /// `Store::install_side` (which renames it). On error the file is
    /// removed.
    pub fn finish(mut self, durable: bool) -> io::Result<(Segment, Vec<HintEntry>)> {
        debug_assert!(self.is_full(), "a record for every number set aside");
        let done = (|| {
            self.write_buffer()?;
            self.seg.release_reserved();
            if durable {
                self.seg.sync()?;
            }
            Ok(())
        })();
        match done {
            Ok(()) => Ok((self.seg, self.entries)),
            Err(e) => {
                self.abandon();
                Err(e)
            }
        }
    }

    /// Removes the file, under whichever name it has.
    pub fn abandon(self) {
        remove(&self.seg);
    }
}

/// Removes the file of an output that will not be in the log. One a
/// failure here leaves behind has its temporary name, which every open
/// deletes.
pub fn remove(seg: &Segment) {
    let _ = crate::log::fileio::remove(&seg.path);
}
