//! One segment file of the L2 log: its header, its bytes on disk and the
//! memory map they are read through.
//!
//! A segment is appended to with plain positioned writes, never through the
//! map, so a full disk is an error from `write`, not a SIGBUS. The map may be
//! longer than the file (the active segment is mapped at its planned size
//! when it is created, and the map doubles past that rather than growing on
//! every write), so only the first `len` bytes are ever read. This
//! module knows nothing about records beyond the header: the log scans them.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::fileio;
use super::verified::Verified;
use crate::value::{Life, Map};

/// Size of the segment header.
pub const HEADER_LEN: u64 = 16;
/// First four bytes of every segment file.
pub const MAGIC: [u8; 4] = *b"TCL2";
/// Format version written in bytes 4..6. Version 2 records carry sequence
/// numbers; version 1 segments (whose records have none) are still read.
pub const VERSION: u16 = 2;
/// The oldest format version this one reads.
pub const OLDEST_READABLE: u16 = 1;
/// The smallest map of an active segment; it doubles from there.
pub(crate) const MIN_MAP: u64 = 1 << 20;
/// The most an append reserves past its end (`Segment::reserve_ahead`).
/// Where reserving costs as much as writing (tmpfs allocates and zeroes
/// the pages: 17.5 ms for 64 MiB, against 0.02–0.26 ms on ext4), one
/// reservation is one wait of every put behind the log's lock; this
/// bounds it (~2 ms there).
const MAX_RESERVE_AHEAD: u64 = 8 << 20;

/// File name of segment `id`.
pub fn file_name(id: u32) -> String {
    format!("{id:010}.tcl")
}

/// The name of segment `id` while compaction writes it
/// (`Segment::create_aside`); a temporary file, deleted by every open.
pub fn aside_name(id: u32) -> String {
    format!("{}.tmp", file_name(id))
}

/// The id in a segment file name, if the name is one. Ids outside
/// 1 ..= `MAX_ID` are never written, and would not fit a location.
pub fn parse_file_name(name: &str) -> Option<u32> {
    let digits = name.strip_suffix(".tcl")?;
    if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|id| (1..=MAX_ID).contains(id))
}

/// The largest segment id (ids share a 64-bit location with a 40-bit offset).
pub const MAX_ID: u32 = (1 << 24) - 1;

fn header(id: u32) -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[0..4].copy_from_slice(&MAGIC);
    h[4..6].copy_from_slice(&VERSION.to_le_bytes());
    h[8..16].copy_from_slice(&u64::from(id).to_le_bytes());
    h
}

/// What the first bytes of a segment file say.
#[derive(Debug, PartialEq, Eq)]
pub enum HeaderCheck {
    Ok,
    /// Shorter than a header: a segment whose creation was cut short.
    Short,
    /// Not a tiercache segment, or not the id its name says.
    Bad,
    /// Written by a newer format version that this one cannot read.
    NewerVersion(u16),
}

pub struct Segment {
    pub id: u32,
    pub path: PathBuf,
    file: Arc<File>,
    /// Shared with the values handed out of it (`crate::value::Value`): a
    /// remap or a deletion replaces or drops this `Arc`, never the map a
    /// value holds.
    map: Option<Arc<Map>>,
    /// Shared by every map of this file (`value::map`): raised when the
    /// segment leaves the log (`leave`), so that L1 lets go of values that
    /// point into it. Its count is 1 + the maps alive (`is_mapped_elsewhere`).
    life: Arc<Life>,
    /// Bytes in the file; all of them are covered by `map`.
    len: u64,
    /// How many of the file's first bytes have disk blocks, written or
    /// reserved ahead of the writes (`reserve_ahead`); at least `len`.
    /// `None` for a file opened from disk, which an earlier handle may
    /// have reserved past its end (a crash before its seal).
    reserved: Option<u64>,
    /// Which of its records gets have checksummed (`verified`): facts about
    /// the bytes below `len`, forgotten when the file is cut.
    verified: Verified,
    /// Bytes of records in this segment that are no longer live.
    pub dead: u64,
    /// Bytes of this segment's hint file (0 if it has none).
    pub hint_bytes: u64,
    /// The format version in its header (`VERSION` for every segment this
    /// version creates).
    pub format: u16,
    /// The sequence number of its first record (`u64::MAX` while it has
    /// none): every record in it is at least this new, since sequence
    /// numbers grow along the log.
    pub first_seq: u64,
    /// Its files already carry their dead names (`Store::condemn`): no open
    /// will read it again, and no rebuild of the index applies its records.
    pub condemned: bool,
}

impl Segment {
    /// Creates a new, empty segment holding only its header. `planned`:
    /// the size the log will seal it at, which its appends reserve disk
    /// blocks towards (`append_parts`); 0 reserves none.
    pub fn create(dir: &Path, id: u32, planned: u64) -> io::Result<Segment> {
        Segment::create_at(dir.join(file_name(id)), id, planned)
    }

    /// `create`, under a name no open reads (`aside_name`: every open
    /// deletes it): a compaction's output, put in place by
    /// `rename_into_place` once it is whole, so that a crash while it is
    /// written leaves nothing a replay would read.
    pub fn create_aside(dir: &Path, id: u32, planned: u64) -> io::Result<Segment> {
        Segment::create_at(dir.join(aside_name(id)), id, planned)
    }

    /// Gives a segment made by `create_aside` its segment name in `dir`.
    pub fn rename_into_place(&mut self, dir: &Path) -> io::Result<()> {
        let to = dir.join(file_name(self.id));
        fileio::rename(&self.path, &to)?;
        self.path = to;
        Ok(())
    }

    fn create_at(path: PathBuf, id: u32, planned: u64) -> io::Result<Segment> {
        fileio::create(&path)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        let mut seg = Segment {
            id,
            path,
            file: Arc::new(file),
            map: None,
            life: Arc::default(),
            len: 0,
            reserved: Some(0),
            verified: Verified::new(0),
            dead: 0,
            hint_bytes: 0,
            format: VERSION,
            first_seq: u64::MAX,
            condemned: false,
        };
        seg.append_parts(&[&header(id)], planned)?;
        Ok(seg)
    }

    /// Opens an existing segment and maps what it holds; for reading only
    /// unless `writable` (a read-only cache needs no write permission).
    pub fn open(path: &Path, id: u32, writable: bool) -> io::Result<(Segment, HeaderCheck)> {
        let file = OpenOptions::new().read(true).write(writable).open(path)?;
        let len = file.metadata()?.len();
        let mut seg = Segment {
            id,
            path: path.to_path_buf(),
            file: Arc::new(file),
            map: None,
            life: Arc::default(),
            len,
            reserved: None,
            verified: Verified::new(0),
            dead: 0,
            hint_bytes: 0,
            format: VERSION,
            first_seq: u64::MAX,
            condemned: false,
        };
        seg.remap(len)?;
        let check = seg.check_header();
        if check == HeaderCheck::Ok {
            seg.format = u16::from_le_bytes([seg.bytes()[4], seg.bytes()[5]]);
        }
        Ok((seg, check))
    }

    fn check_header(&self) -> HeaderCheck {
        let b = self.bytes();
        if b.len() < HEADER_LEN as usize {
            return HeaderCheck::Short;
        }
        if b[0..4] != MAGIC {
            return HeaderCheck::Bad;
        }
        let version = u16::from_le_bytes([b[4], b[5]]);
        if version > VERSION {
            return HeaderCheck::NewerVersion(version);
        }
        if version < OLDEST_READABLE || b[8..16] != u64::from(self.id).to_le_bytes() {
            return HeaderCheck::Bad;
        }
        HeaderCheck::Ok
    }

    /// Rewrites a segment whose header was cut short as a fresh, empty one.
    pub fn reset(&mut self) -> io::Result<()> {
        self.truncate(0)?;
        self.append(&header(self.id))
    }

    /// Bytes in the file.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// The file's bytes, read through the map.
    pub fn bytes(&self) -> &[u8] {
        match &self.map {
            // The map covers at least `len` bytes; bytes past the end of the
            // file are never touched.
            Some(m) => &m[..self.len as usize],
            None => &[],
        }
    }

    /// The map the bytes of `bytes()` are read through, to hand out values
    /// that point into it.
    pub fn map(&self) -> Option<&Arc<Map>> {
        self.map.as_ref()
    }

    /// Marks the segment as gone from the log (`Store::delete_segment`):
    /// every map of it, those that values hold included, says so from now
    /// on (`Map::has_left`).
    pub fn leave(&self) {
        self.life.leave();
    }

    /// Whether a value (L1's, or one handed out) holds a map of this file
    /// other than through this segment: any map but the current one, or
    /// the current one held twice. Exact when it says no, under `&self`:
    /// a new value of this segment is made only from `map` by a reader
    /// that holds the log's lock, which whoever asks holds exclusively.
    fn is_mapped_elsewhere(&self) -> bool {
        let own = usize::from(self.map.is_some());
        Arc::strong_count(&self.life) > 1 + own || self.map.as_ref().is_some_and(|m| Arc::strong_count(m) > 1)
    }

    /// Appends `data` at the end of the file with positioned writes, with
    /// no blocks reserved ahead. On error the file is cut back to its old
    /// length, so no partial record stays.
    pub fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.append_parts(&[data], 0)
    }

    /// `append` of `parts`, one after another, in as few system calls as
    /// the kernel allows (one `pwritev` usually): a record written around
    /// the append buffer goes out without being copied into it first.
    /// Disk blocks are reserved ahead of the write towards `planned`
    /// bytes (`reserve_ahead`).
    pub fn append_parts(&mut self, parts: &[&[u8]], planned: u64) -> io::Result<()> {
        let start = self.len;
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let new_len = start + total as u64;
        self.reserve_ahead(new_len, planned);
        if let Err(e) = self.write_parts_at(parts, start) {
            // Best effort: if this fails too, the partial record is a torn
            // tail that the next open cuts off. The cut frees the blocks
            // past it, reserved ones too.
            let _ = fileio::set_len(&self.file, &self.path, start);
            self.reserved = Some(start);
            return Err(e);
        }
        // The planned size at once: each map replaced is an `mmap` and a
        // `munmap` (of up to 32 MiB) under the log's lock, and its pages
        // must be faulted in again through the new map; doubling from
        // `MIN_MAP` made seven maps of a 64 MiB segment. Past the plan (a
        // record larger than what is left of it) the map doubles.
        let want = new_len.max(MIN_MAP).max(planned).next_power_of_two();
        if self.map.as_ref().map_or(0, |m| m.len() as u64) < new_len {
            self.remap(want)?;
        }
        self.len = new_len;
        Ok(())
    }

    /// Before the file grows to `new_len`: if that passes the blocks it
    /// has, reserves them up to the next power of two (from `MIN_MAP`, as
    /// the map grows), at most `MAX_RESERVE_AHEAD` past `new_len` and
    /// `planned` bytes in all, without changing the file's length
    /// (`fileio::reserve`): a segment of 64 MiB reserves eleven times.
    ///
    /// Why: a write that extends a file into blocks it does not have yet
    /// costs more than one into reserved blocks (on ext4, the delayed
    /// allocation's bookkeeping). Measured on ext4, AMD EPYC family 26,
    /// session 34: a C loop of 16 KiB `pwrite`s to new 64 MiB files took
    /// 5.6–5.9 µs a write, 4.5 with each file reserved first;
    /// `benchmarks/c/put.c 16384 50000 100000`: 13.0–13.5 µs a put
    /// without, 11.4–11.8 with, three alternations; 100 B puts, whose
    /// buffer goes out 64 KiB at a time, did not change.
    ///
    /// The reservation is advice: a file system that refuses it (or a
    /// disk too full for it) leaves the write to allocate as before, and
    /// it is not asked again until the file passes what was asked for.
    /// The length is untouched, so what a reader or an open sees of the
    /// file is exactly what was written. The blocks past the end go when
    /// the segment is sealed (`release_reserved`) or deleted.
    fn reserve_ahead(&mut self, new_len: u64, planned: u64) {
        if new_len <= self.reserved.unwrap_or(self.len) {
            return;
        }
        let to = new_len
            .max(MIN_MAP)
            .next_power_of_two()
            .min(new_len + MAX_RESERVE_AHEAD)
            .min(planned);
        if to > new_len {
            let _ = fileio::reserve(&self.file, &self.path, to);
        }
        self.reserved = Some(to.max(new_len));
    }

    /// Gives back the disk blocks reserved past the end of the file
    /// (`reserve_ahead`), once nothing more will be appended to it: the
    /// seal. Its length and bytes stay as they are; a failure costs only
    /// the space. A file opened from disk is cut to its length whatever
    /// it has: an earlier handle may have reserved past its end.
    pub fn release_reserved(&mut self) {
        if self.reserved.is_none_or(|r| r > self.len) {
            let _ = fileio::release_reserved(&self.file, &self.path);
        }
        self.reserved = Some(self.len);
    }

    /// Writes `parts`, one after another, at `at` in the file, whole (a
    /// short write is continued, an interrupted one retried); the file is
    /// left as the writes left it on an error. What `append_parts` and
    /// `blank` both write with.
    fn write_parts_at(&self, parts: &[&[u8]], at: u64) -> io::Result<()> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let mut done = 0usize;
        while done < total {
            let rest = rest_of(parts, done);
            match fileio::write_vectored_at(&self.file, &self.path, &rest, at + done as u64) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "write returned 0")),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Overwrites the `len` bytes at `offset` with zeros, in place, and
    /// forgets every record verified in the segment: the one write the log
    /// makes below a segment's end. Only recovery calls it, on records that
    /// no replay may apply (`recovery::Recovery::blank_strays`), before any
    /// value is handed out; refused, like `truncate`, while a value of this
    /// handle maps the file. Bytes past the file's end are not written.
    pub fn blank(&mut self, offset: u64, len: u64) -> io::Result<()> {
        if self.is_mapped_elsewhere() {
            return Err(io::Error::other("a value maps the segment"));
        }
        let end = (offset + len).min(self.len);
        if offset >= end {
            return Ok(());
        }
        let zeros = vec![0u8; (end - offset) as usize];
        self.write_parts_at(&[&zeros], offset)?;
        self.verified = Verified::new(self.map.as_ref().map_or(0, |m| m.len() as u64));
        Ok(())
    }

    /// Cuts the file to `len` bytes, forgetting which records were
    /// verified (bytes appended after the cut would be new bytes at the
    /// same offsets).
    ///
    /// Refused while a value of this handle maps the file
    /// (`is_mapped_elsewhere`): pages cut in place vanish under every map
    /// of the file, and reading them is SIGBUS. Only the opening of a
    /// directory cuts (no value exists yet) and, of a file others may map,
    /// it cuts aside (`cut_aside`).
    pub fn truncate(&mut self, len: u64) -> io::Result<()> {
        if self.is_mapped_elsewhere() {
            return Err(io::Error::other(format!(
                "{} is mapped by a value: not cut in place",
                self.path.display()
            )));
        }
        // Forgotten first: even a cut that fails may have cut.
        self.verified = Verified::new(self.map.as_ref().map_or(0, |m| m.len() as u64));
        fileio::set_len(&self.file, &self.path, len)?;
        self.len = self.len.min(len);
        // A cut frees the blocks past it, reserved ones too.
        self.reserved = Some(self.len);
        Ok(())
    }

    /// Cuts the file to `len` bytes without shortening it in place: its
    /// first `len` bytes are written to `NNNNNNNNNN.tcl.cut.tmp`, which is
    /// renamed over it (`fileio::replace`: fsynced first if `durable`), and
    /// the new file is mapped. For a recovery that cuts a torn or damaged
    /// tail. If the copy cannot be made (a full disk), the file is cut in
    /// place after all.
    ///
    /// Why not `truncate`: a value handed out of this file's map (a
    /// `tc_value`, which may outlive the cache that made it, and so an
    /// earlier handle of this directory, in this process or another) maps
    /// the file's inode. Shortened in place, the pages past the cut vanish
    /// under that map, and a read of them is SIGBUS; renamed over, the old
    /// inode stays whole for as long as anything maps it.
    pub fn cut_aside(&mut self, len: u64, durable: bool) -> io::Result<()> {
        let len = len.min(self.len);
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".cut.tmp");
        let tmp = PathBuf::from(tmp);
        let file = match fileio::write_renamed(&tmp, &self.path, &self.bytes()[..len as usize], durable) {
            Ok(file) => file,
            Err(_) => {
                // Nothing changed: the file at `path` is still the old one.
                // A disk too full for the copy (where a crash most often
                // leaves a torn tail) is cut in place all the same: the
                // directory must open.
                self.truncate(len)?;
                return if durable { self.sync() } else { Ok(()) };
            }
        };
        // From here on `path` is the new file, whatever fails next. The old
        // file is unlinked: its maps say their segment left.
        self.verified = Verified::new(0);
        self.life.leave();
        self.life = Arc::default();
        self.file = Arc::new(file);
        self.len = len;
        self.reserved = Some(len);
        self.remap(len)?;
        match (durable, self.path.parent()) {
            (true, Some(dir)) => fileio::sync_dir(dir),
            _ => Ok(()),
        }
    }

    /// Which of its records gets have checksummed (see `verified`).
    pub fn verified(&self) -> &Verified {
        &self.verified
    }

    pub fn sync(&self) -> io::Result<()> {
        fileio::sync_data(&self.file, &self.path)
    }

    /// A shared handle on the file, to fsync it without holding the log's lock.
    pub fn handle(&self) -> Arc<File> {
        self.file.clone()
    }

    /// Bytes of record payload: everything after the header.
    pub fn payload_bytes(&self) -> u64 {
        self.len.saturating_sub(HEADER_LEN)
    }

    /// Maps `map_len` bytes of the file (which may be more than it holds).
    fn remap(&mut self, map_len: u64) -> io::Result<()> {
        if map_len == 0 {
            self.map = None;
            return Ok(());
        }
        self.map = Some(Arc::new(Map::new(
            fileio::map(&self.file, &self.path, map_len)?,
            self.life.clone(),
        )));
        // The same file's bytes below `len`: their facts still hold.
        self.verified = self.verified.grown(map_len);
        Ok(())
    }
}

/// The bytes of `parts` from byte `done` of their concatenation on.
fn rest_of<'a>(parts: &[&'a [u8]], mut done: usize) -> Vec<&'a [u8]> {
    let mut rest = Vec::with_capacity(parts.len());
    for p in parts {
        if done >= p.len() {
            done -= p.len();
        } else {
            rest.push(&p[done..]);
            done = 0;
        }
    }
    rest
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(file_name(42), "0000000042.tcl");
        assert_eq!(parse_file_name("0000000042.tcl"), Some(42));
        assert_eq!(parse_file_name("42.tcl"), None);
        assert_eq!(parse_file_name("000000004x.tcl"), None);
        assert_eq!(parse_file_name("0000000042.tmp"), None);
        assert_eq!(parse_file_name("0000000000.tcl"), None);
        assert_eq!(parse_file_name("0016777215.tcl"), Some(MAX_ID));
        assert_eq!(parse_file_name("0016777216.tcl"), None, "past 2^24 - 1");
    }

    #[test]
    fn append_grows_map_and_reopen_sees_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Segment::create(dir.path(), 3, 0).unwrap();
        assert_eq!(s.len(), HEADER_LEN);
        let big = vec![7u8; 3 << 20];
        s.append(&big).unwrap();
        assert_eq!(s.bytes().len() as u64, HEADER_LEN + big.len() as u64);
        assert_eq!(s.bytes()[HEADER_LEN as usize + 5], 7);
        drop(s);
        let (s, check) = Segment::open(&dir.path().join(file_name(3)), 3, false).unwrap();
        assert_eq!(check, HeaderCheck::Ok);
        assert_eq!(s.len(), HEADER_LEN + big.len() as u64);
        let (_, check) = Segment::open(&dir.path().join(file_name(3)), 4, false).unwrap();
        assert_eq!(check, HeaderCheck::Bad);
    }

    /// An active segment is mapped once, at its planned size, and its map
    /// is replaced only past the plan. Fails if the map grows from
    /// `MIN_MAP` again (seven maps of a 64 MiB segment, each an `mmap` and
    /// a `munmap` under the log's lock).
    #[test]
    fn an_active_segment_is_mapped_once_at_its_planned_size() {
        let dir = tempfile::tempdir().unwrap();
        let planned = 8 * MIN_MAP;
        let mut s = Segment::create(dir.path(), 3, planned).unwrap();
        let first = s.map().unwrap().clone();
        assert_eq!(first.len() as u64, planned);
        while s.len() + (64 << 10) <= planned {
            s.append_parts(&[&[5u8; 64 << 10]], planned).unwrap();
            assert!(Arc::ptr_eq(&first, s.map().unwrap()), "mapped again at {}", s.len());
        }
        s.append_parts(&[&[6u8; 128 << 10]], planned).unwrap();
        assert_eq!(s.map().unwrap().len() as u64, 2 * planned, "past the plan, it doubles");
        assert_eq!(s.bytes()[s.len() as usize - 1], 6);
    }

    #[test]
    fn a_file_a_value_maps_is_not_cut_in_place() {
        use crate::value::Value;
        let dir = tempfile::tempdir().unwrap();
        let mut s = Segment::create(dir.path(), 5, 0).unwrap();
        s.append(&[9u8; 100]).unwrap();
        let v = Value::mapped(s.map().unwrap(), &s.bytes()[20..40]);
        assert!(s.truncate(HEADER_LEN).is_err(), "a value maps the file");
        assert_eq!(s.len(), HEADER_LEN + 100);
        assert_eq!(fs_len(&s), HEADER_LEN + 100, "the file is as it was");
        // A map the segment replaced, still held by a value, counts too.
        s.append(&vec![8u8; 2 << 20]).unwrap();
        let old = s.map().unwrap().clone();
        s.append(&vec![7u8; 2 << 20]).unwrap();
        drop(v);
        assert!(!Arc::ptr_eq(&old, s.map().unwrap()), "remapped");
        let w = Value::mapped(&old, &old[20..40]);
        drop(old);
        assert!(s.truncate(HEADER_LEN).is_err(), "an older map of the file is held");
        assert!(!w.maps_a_departed_segment());
        s.leave();
        assert!(w.maps_a_departed_segment(), "every map of the segment says it left");
        drop(w);
        s.truncate(HEADER_LEN).unwrap();
        assert_eq!(fs_len(&s), HEADER_LEN);
    }

    /// Disk bytes the segment's file has (`st_blocks`), reserved ones too.
    pub(crate) fn fs_blocks(s: &Segment) -> u64 {
        blocks_at(&s.path)
    }

    fn blocks_at(path: &Path) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).unwrap().blocks() * 512
    }

    /// Whether the file system of `dir` reserves blocks at all (ext4 and
    /// tmpfs do), tried on a file of its own.
    pub(crate) fn reserves_blocks(dir: &Path) -> bool {
        let probe = dir.join("reserve-probe");
        let f = File::create(&probe).unwrap();
        let yes = fileio::reserve(&f, &probe, MIN_MAP).is_ok() && blocks_at(&probe) >= MIN_MAP;
        std::fs::remove_file(&probe).unwrap();
        yes
    }

    #[test]
    fn appends_reserve_blocks_ahead_up_to_the_plan_and_the_seal_gives_them_back() {
        let dir = tempfile::tempdir().unwrap();
        let reserving = reserves_blocks(dir.path());
        if !reserving {
            eprintln!("this file system does not reserve blocks (fallocate): only the lengths are checked");
        }
        // The blocks the rule of `reserve_ahead` says the file has: a model
        // of it, kept beside the segment.
        struct Model {
            planned: u64,
            written: u64,
            reserved: u64,
        }
        let append = |s: &mut Segment, m: &mut Model, n: usize, byte: u8| {
            s.append_parts(&[&vec![byte; n]], m.planned).unwrap();
            m.written += n as u64;
            if m.written > m.reserved {
                let pow2 = m.written.max(MIN_MAP).next_power_of_two();
                m.reserved = pow2.min(m.written + MAX_RESERVE_AHEAD).min(m.planned).max(m.written);
            }
            // Whatever the file system did with the advice, the file holds
            // exactly what was written.
            assert_eq!(fs_len(s), m.written, "the length is what was written");
            if reserving {
                let has = fs_blocks(s);
                assert!(
                    has >= m.reserved,
                    "{has} bytes of blocks at {}: reserved to {}",
                    m.written,
                    m.reserved
                );
            }
            assert!(
                fs_blocks(s) < m.reserved + (64 << 10),
                "never past the next power of two, the step or the plan"
            );
            m.written
        };
        let planned = 4 * MIN_MAP;
        let mut s = Segment::create(dir.path(), 6, planned).unwrap();
        let mut m = Model {
            planned,
            written: HEADER_LEN,
            reserved: MIN_MAP,
        };
        append(&mut s, &mut m, 1000, 5);
        while append(&mut s, &mut m, 300 << 10, 6) < 3 * MIN_MAP {}
        s.release_reserved();
        m.reserved = m.written;
        assert_eq!(fs_len(&s), m.written);
        assert!(fs_blocks(&s) < m.written + (64 << 10), "the seal gave the rest back");
        // Past the plan (a value larger than a segment): nothing reserved.
        while append(&mut s, &mut m, 300 << 10, 7) < planned + MIN_MAP {}
        let written = m.written;
        let at = 2 * MIN_MAP as usize + 7;
        assert_eq!(s.bytes()[at], 6);
        drop(s);
        let (s, check) = Segment::open(&dir.path().join(file_name(6)), 6, false).unwrap();
        assert_eq!(check, HeaderCheck::Ok);
        let tail = written as usize - 1;
        assert_eq!(
            (s.len(), s.bytes()[HEADER_LEN as usize], s.bytes()[at], s.bytes()[tail]),
            (written, 5, 6, 7)
        );

        // A large plan: never more than `MAX_RESERVE_AHEAD` past the end.
        let mut s = Segment::create(dir.path(), 8, 64 << 20).unwrap();
        let mut m = Model {
            planned: 64 << 20,
            written: HEADER_LEN,
            reserved: MIN_MAP,
        };
        while append(&mut s, &mut m, 3 << 20, 9) < 30 << 20 {}
        drop(s);

        // A segment left with blocks reserved past its end (a crash before
        // its seal), opened again: its seal gives them back too.
        let mut s = Segment::create(dir.path(), 7, planned).unwrap();
        s.append_parts(&[&[1u8; 1000]], planned).unwrap();
        if reserving {
            assert!(fs_blocks(&s) >= MIN_MAP);
        }
        drop(s);
        let (mut s, _) = Segment::open(&dir.path().join(file_name(7)), 7, true).unwrap();
        s.release_reserved();
        assert_eq!(fs_len(&s), HEADER_LEN + 1000);
        assert!(fs_blocks(&s) < 64 << 10, "{}", fs_blocks(&s));
    }

    fn fs_len(s: &Segment) -> u64 {
        std::fs::metadata(&s.path).unwrap().len()
    }
}
