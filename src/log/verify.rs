//! Checking a cache directory without changing it: every record of every
//! segment is read and its checksum and encoding verified, and every hint
//! file compared with its segment. For operators (`tiercache verify`).
//!
//! The directory's lock is taken for the duration, so a directory in use by
//! another handle gives `TC_LOCKED` rather than a report on moving data.

use std::fs;
use std::path::{Path, PathBuf};

use super::hint;
use super::keycheck;
use super::lock::DirLock;
use super::scan::{self, Tail};
use super::segment::{self, HeaderCheck, Segment};
use super::verify_index::{self, IndexReport, Scanned};
use crate::error::{Error, Result};
use crate::seal::{EncryptionKey, Sealer};

/// What `verify` found in one segment file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentReport {
    pub path: PathBuf,
    pub bytes: u64,
    /// Records that read back whole.
    pub records: u64,
    /// Corrupt records: byte offset in the file, and why.
    pub corrupt: Vec<(u64, &'static str)>,
    /// The file's header is not a readable segment header (nothing else was read).
    pub bad_header: Option<String>,
    /// A torn tail (an interrupted write) starts here; the next open cuts it
    /// off. Not corruption in the last segment.
    pub torn_tail_at: Option<u64>,
    /// Whether the segment has a hint file that matches it.
    pub hint_ok: bool,
    /// Whether this is the last (active) segment.
    pub active: bool,
}

/// What `verify` found in a directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub segments: Vec<SegmentReport>,
    /// The index files, checked against the records (`verify_index`). A
    /// problem there is not lost data: the next open rebuilds the index.
    pub index: IndexReport,
}

impl VerifyReport {
    /// Corrupt records, unreadable segment headers and wrong index slots
    /// (a stale slot would hand out an old value; a slot failing its CRC
    /// costs a rebuild).
    pub fn problems(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| s.corrupt.len() as u64 + u64::from(s.bad_header.is_some()))
            .sum::<u64>()
            + self.index.bad_slots.len() as u64
    }

    pub fn records(&self) -> u64 {
        self.segments.iter().map(|s| s.records).sum()
    }
}

/// Verifies the cache directory `dir`, calling `progress(done, total)` in
/// bytes as it goes. An encrypted directory needs its key (every record is
/// authenticated); a wrong or missing key is an error, as at open.
pub fn verify(dir: &Path, key: Option<&EncryptionKey>, mut progress: impl FnMut(u64, u64)) -> Result<VerifyReport> {
    if !dir.is_dir() {
        return Err(Error::invalid(format!("{} is not a cache directory", dir.display())));
    }
    let _lock = DirLock::acquire(dir, true)?;
    let sealer = Sealer {
        keys: keycheck::keys_for(dir, key, true, false)?,
        ..Sealer::default()
    };
    let mut ids: Vec<u32> = fs::read_dir(dir)
        .map_err(|e| Error::io(format!("list {}", dir.display()), e))?
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(segment::parse_file_name))
        .collect();
    ids.sort_unstable();
    let paths: Vec<PathBuf> = ids.iter().map(|id| dir.join(segment::file_name(*id))).collect();
    let total: u64 = paths.iter().map(|p| fs::metadata(p).map_or(0, |m| m.len())).sum();
    let mut done = 0;
    let mut report = VerifyReport::default();
    // Each segment's readable records, for the index check.
    let mut scanned = Vec::new();
    for (i, (id, path)) in ids.iter().zip(&paths).enumerate() {
        let (seg, check) =
            Segment::open(path, *id, false).map_err(|e| Error::io(format!("open {}", path.display()), e))?;
        let mut r = SegmentReport {
            path: path.clone(),
            bytes: seg.len(),
            records: 0,
            corrupt: Vec::new(),
            bad_header: None,
            torn_tail_at: None,
            hint_ok: false,
            active: i + 1 == ids.len(),
        };
        match check {
            HeaderCheck::Ok => {
                // A sealed segment was whole once: a torn tail there is
                // corruption, and the scan reports it so.
                let tail = if r.active { Tail::MayBeTorn } else { Tail::Sealed };
                let scan = scan::scan(&seg, &sealer, tail);
                r.records = scan.entries.iter().filter(|e| !e.is_gap()).count() as u64;
                r.corrupt = scan.bad;
                r.torn_tail_at = scan.torn_at;
                r.hint_ok = hint::read(dir, *id, seg.len()).is_some_and(|h| h == scan.entries);
                scanned.push((*id, seg.format, scan.entries, r.corrupt.clone()));
            }
            HeaderCheck::Short => r.bad_header = Some("shorter than a segment header".into()),
            HeaderCheck::Bad => r.bad_header = Some("not a tiercache segment, or not the id its name says".into()),
            HeaderCheck::NewerVersion(v) => r.bad_header = Some(format!("written by a newer format version ({v})")),
        }
        done += r.bytes;
        progress(done, total);
        report.segments.push(r);
    }
    let scanned: Vec<Scanned<'_>> = scanned
        .iter()
        .map(|(id, format, entries, corrupt)| Scanned {
            id: *id,
            format: *format,
            entries,
            corrupt,
        })
        .collect();
    report.index = verify_index::check(dir, &scanned);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Cache, Options};

    #[test]
    fn finds_a_flipped_byte_with_its_offset() {
        let dir = tempfile::tempdir().unwrap();
        {
            let c = Cache::open(&Options::with_dir(dir.path())).unwrap();
            for i in 0..10u8 {
                c.put(&[b'k', i], b"some value", 0).unwrap();
            }
            c.close().unwrap();
        }
        let clean = verify(dir.path(), None, |_, _| {}).unwrap();
        assert_eq!((clean.problems(), clean.records()), (0, 10));
        let path = &clean.segments[0].path;
        let mut bytes = fs::read(path).unwrap();
        let at = bytes.windows(4).position(|w| w == b"some").unwrap();
        bytes[at] ^= 1;
        fs::write(path, &bytes).unwrap();
        let mut calls = 0;
        let bad = verify(dir.path(), None, |done, total| {
            calls += 1;
            assert!(done <= total);
        })
        .unwrap();
        assert_eq!(calls, 1);
        assert_eq!(bad.problems(), 1);
        assert_eq!(bad.records(), 9);
        let (off, _) = bad.segments[0].corrupt[0];
        assert!(
            off < at as u64 && at as u64 - off < 40,
            "offset {off} should be the record holding byte {at}"
        );
        // In use by a cache: locked.
        let _c = Cache::open(&Options::with_dir(dir.path())).unwrap();
        assert_eq!(
            verify(dir.path(), None, |_, _| {}).unwrap_err().status(),
            crate::Status::TC_LOCKED
        );
    }
}
