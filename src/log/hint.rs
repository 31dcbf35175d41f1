//! Hint files: a compact summary of a sealed segment, so that opening a
//! directory reads a few bytes per record instead of every record.
//!
//! Since the index is a file (`index_file`), an open that trusts it reads no
//! hint. Hints stay because two things still list a sealed segment's
//! records: rebuilding the index from the log (no index file, or one not
//! trusted), which should not have to read every record, and compaction and
//! retirement, which walk the segment they empty. They cost about 37 bytes
//! of disk per record, and no memory once written.
//!
//! A hint is written once, soon after its segment is sealed and without
//! the log's lock (`unhinted` says why and how), through a temporary
//! file that is fsynced and renamed into place (then the directory is
//! fsynced; under `TC_SYNC_NEVER` nothing is fsynced, and a hint that a
//! crash leaves short or stale fails its checks and is rebuilt). It is checksummed as a whole and names the segment and its
//! length: a hint that is short, damaged, or describes another length is
//! ignored (the segment is scanned instead) and written afresh.
//!
//! ```text
//! header  (32 bytes): "TCH1", u16 version (2), u16 0, u64 segment id,
//!                     u64 segment length, u64 entry count
//! entry   (37 bytes): u64 key hash, u64 offset, u32 frame length,
//!                     u8 kind (1 put, 2 tombstone, 3 clear; bit 7 set: the
//!                     record has a meta field), u64 expires_at,
//!                     u64 seq (0 for the records of a format 1 segment)
//!                     (a gap: kind 3, hash 2^64-1, the unreadable bytes'
//!                     offset and length, seq as `HintEntry::gap` says)
//! trailer  (4 bytes): CRC32 of everything before it
//! ```
//! All integers little-endian.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::fileio;
use super::segment;
use crate::record::Kind;

const MAGIC: [u8; 4] = *b"TCH1";
/// Version 1 hints had no sequence numbers: they are ignored (the segment
/// is scanned and the hint written again).
const VERSION: u16 = 2;
const HEADER: usize = 32;
const ENTRY: usize = 37;
/// Bit of an entry's kind byte: the record has a meta field.
const HAS_META: u8 = 0x80;

/// What a hint says about one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HintEntry {
    pub hash: u64,
    pub offset: u64,
    pub len: u32,
    pub kind: Kind,
    pub expires_at: u64,
    pub seq: u64,
    /// The record carries tags or a dependency (read at open for the tag index).
    pub has_meta: bool,
}

impl HintEntry {
    /// The hash of a gap entry. A clear record's entry has hash 0, so a
    /// gap is told from a clear by its hash alone, and a reader that does
    /// not know gaps (an older release) takes one for a clear: safe, as a
    /// gap hides at most what a clear hides.
    const GAP_HASH: u64 = u64::MAX;

    /// A gap: `len` bytes at `offset` that a scan could not read, where
    /// records may have been lost (`scan::scan_from`). It stands in the
    /// log's order as a clear of every record before it, unless its number
    /// shows that no record was lost in it (`gap_hides`). `seq` is one less
    /// than the number of the readable record after it, or 0 if that is
    /// not known (nothing readable follows, or format 1 records).
    pub fn gap(offset: u64, len: u32, seq: u64) -> HintEntry {
        HintEntry {
            hash: Self::GAP_HASH,
            offset,
            len,
            kind: Kind::Clear,
            expires_at: 0,
            seq,
            has_meta: false,
        }
    }

    /// Whether this is a gap entry (`gap`), not a record.
    pub fn is_gap(&self) -> bool {
        self.kind == Kind::Clear && self.hash == Self::GAP_HASH
    }

    /// Whether a gap that comes right after the record numbered `last` (in
    /// the log's order) may have held records: unless the record after it
    /// is numbered `last + 1`, some numbers are missing, and one of them
    /// may have been the newest of any key. Sequence numbers are handed out
    /// one by one along the log (`Store::append`), so consecutive numbers
    /// on either side prove nothing was lost.
    pub fn gap_hides(&self, last: u64) -> bool {
        debug_assert!(self.is_gap());
        self.seq == 0 || self.seq > last
    }
}

pub fn file_name(id: u32) -> String {
    format!("{id:010}.hint")
}

pub fn path(dir: &Path, id: u32) -> PathBuf {
    dir.join(file_name(id))
}

/// The size of the hint file of a segment of `entries` records.
pub fn file_len(entries: usize) -> u64 {
    (HEADER + entries * ENTRY + 4) as u64
}

fn encode(id: u32, seg_len: u64, entries: &[HintEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(file_len(entries.len()) as usize);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&u64::from(id).to_le_bytes());
    out.extend_from_slice(&seg_len.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    for e in entries {
        out.extend_from_slice(&e.hash.to_le_bytes());
        out.extend_from_slice(&e.offset.to_le_bytes());
        out.extend_from_slice(&e.len.to_le_bytes());
        out.push(e.kind as u8 | if e.has_meta { HAS_META } else { 0 });
        out.extend_from_slice(&e.expires_at.to_le_bytes());
        out.extend_from_slice(&e.seq.to_le_bytes());
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Writes the hint of segment `id` (of `seg_len` bytes): temp file, fsync,
/// rename, fsync the directory (the fsyncs only if `durable`). Returns the
/// hint file's size.
pub fn write(dir: &Path, id: u32, seg_len: u64, entries: &[HintEntry], durable: bool) -> io::Result<u64> {
    let bytes = encode(id, seg_len, entries);
    fileio::replace(dir, &tmp_path(dir, id), &path(dir, id), &bytes, durable)?;
    Ok(bytes.len() as u64)
}

/// Where the hint of segment `id` is written before it is renamed into place.
fn tmp_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("{}.tmp", file_name(id)))
}

/// A hint written in full under its temporary name, not yet in place: the
/// slow part of `write` (encoding, writing, the file's fsync), which
/// `Log::write_hints` does without the log's lock (`unhinted`). Dropped
/// without `install`, it removes its file.
pub struct Staged {
    tmp: PathBuf,
    dest: PathBuf,
    bytes: u64,
}

/// Writes the hint of segment `id` under a temporary name (fsynced if
/// `durable`); `Staged::install` puts it in place.
pub fn stage(dir: &Path, id: u32, seg_len: u64, entries: &[HintEntry], durable: bool) -> io::Result<Staged> {
    let bytes = encode(id, seg_len, entries);
    let tmp = tmp_path(dir, id);
    fileio::write_new(&tmp, &bytes, durable)?;
    Ok(Staged {
        tmp,
        dest: path(dir, id),
        bytes: bytes.len() as u64,
    })
}

impl Staged {
    /// Renames the hint into place (the directory's fsync is the caller's);
    /// returns its size.
    pub fn install(mut self) -> io::Result<u64> {
        let tmp = std::mem::take(&mut self.tmp);
        fileio::rename(&tmp, &self.dest).inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })?;
        Ok(self.bytes)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Reads the hint of segment `id`, if there is a sound one for a segment of
/// exactly `seg_len` bytes.
pub fn read(dir: &Path, id: u32, seg_len: u64) -> Option<Vec<HintEntry>> {
    let bytes = fs::read(path(dir, id)).ok()?;
    decode(&bytes, id, seg_len)
}

fn decode(bytes: &[u8], id: u32, seg_len: u64) -> Option<Vec<HintEntry>> {
    if bytes.len() < HEADER + 4 {
        return None;
    }
    let (body, trailer) = bytes.split_at(bytes.len() - 4);
    if crc32fast::hash(body).to_le_bytes() != trailer {
        return None;
    }
    let u64_at = |at: usize| u64::from_le_bytes(body[at..at + 8].try_into().unwrap());
    if body[0..4] != MAGIC
        || u16::from_le_bytes([body[4], body[5]]) != VERSION
        || u64_at(8) != u64::from(id)
        || u64_at(16) != seg_len
    {
        return None;
    }
    let count = u64_at(24);
    if (body.len() - HEADER) as u64 != count.checked_mul(ENTRY as u64)? {
        return None;
    }
    let entries: Option<Vec<HintEntry>> = body[HEADER..]
        .chunks_exact(ENTRY)
        .map(|e| {
            let kind = match e[20] & !HAS_META {
                1 => Kind::Put,
                2 => Kind::Tombstone,
                3 => Kind::Clear,
                _ => return None,
            };
            let entry = HintEntry {
                hash: u64::from_le_bytes(e[0..8].try_into().unwrap()),
                offset: u64::from_le_bytes(e[8..16].try_into().unwrap()),
                len: u32::from_le_bytes(e[16..20].try_into().unwrap()),
                kind,
                expires_at: u64::from_le_bytes(e[21..29].try_into().unwrap()),
                seq: u64::from_le_bytes(e[29..37].try_into().unwrap()),
                has_meta: e[20] & HAS_META != 0,
            };
            // Every record must lie inside the segment it describes.
            (entry.offset.checked_add(u64::from(entry.len))? <= seg_len).then_some(entry)
        })
        .collect();
    let entries = entries?;
    // The entries of a hint the library wrote tile the segment: each
    // begins where the last ended, from the header to the segment's end
    // (unreadable bytes are entries too, gaps). One that does not was not
    // written from this segment's records, though its checksum passes (fuzz
    // finding 15: a hint listing half the segment, one entry moved into the
    // next record, served a value two writes old, and compaction then
    // dropped the live record the hint did not list). Not used: the
    // segment is read record by record instead.
    let mut at = segment::HEADER_LEN;
    for e in &entries {
        if e.offset != at {
            return None;
        }
        at = e.offset + u64::from(e.len);
    }
    (at == seg_len).then_some(())?;
    Some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<HintEntry> {
        vec![
            HintEntry {
                hash: 1,
                offset: 16,
                len: 30,
                kind: Kind::Put,
                expires_at: 0,
                seq: 3,
                has_meta: true,
            },
            HintEntry {
                hash: 2,
                offset: 46,
                len: 20,
                kind: Kind::Tombstone,
                expires_at: 9,
                seq: 4,
                has_meta: false,
            },
        ]
    }

    #[test]
    fn round_trip_and_rejects_mismatches() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), 7, 66, &sample(), true).unwrap();
        assert_eq!(read(dir.path(), 7, 66), Some(sample()));
        assert_eq!(read(dir.path(), 7, 67), None, "another segment length");
        assert_eq!(read(dir.path(), 8, 66), None, "no such file");
        let bytes = fs::read(path(dir.path(), 7)).unwrap();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            assert_eq!(decode(&bad, 7, 66), None, "flip at {i}");
        }
        for cut in 0..bytes.len() {
            assert_eq!(decode(&bytes[..cut], 7, 66), None, "cut at {cut}");
        }
    }

    #[test]
    fn an_entry_outside_the_segment_is_refused() {
        let mut e = sample();
        e[1].offset = 60;
        let bytes = encode(3, 66, &e);
        assert_eq!(decode(&bytes, 3, 66), None);
    }

    /// A hint whose checksum passes but whose entries do not tile its
    /// segment from the header to the end was not written from that
    /// segment's records (fuzz finding 15): refused, so that the segment is
    /// read record by record. Each change below fails without the check.
    #[test]
    fn entries_that_do_not_tile_the_segment_are_refused() {
        let good = sample();
        assert_eq!(decode(&encode(3, 66, &good), 3, 66), Some(good.clone()));
        let moved = {
            let mut e = good.clone();
            e[1].offset = 40;
            e
        };
        let overlapping_first = {
            let mut e = good.clone();
            e[0].offset = 20;
            e[0].len = 26;
            e
        };
        let cases = [
            ("an entry moved into the one before it", moved, 66),
            ("the first entry after the header's end", overlapping_first, 66),
            ("the last record left out", good[..1].to_vec(), 66),
            ("entries out of order", vec![good[1], good[0]], 66),
            ("a segment longer than its entries", good.clone(), 70),
        ];
        for (what, entries, seg_len) in cases {
            assert_eq!(decode(&encode(3, seg_len, &entries), 3, seg_len), None, "{what}");
        }
        // An empty segment's hint lists nothing.
        assert_eq!(decode(&encode(3, 16, &[]), 3, 16), Some(Vec::new()));
    }
}
