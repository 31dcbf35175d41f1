//! The L2 index on disk: a memory-mapped table of fixed-size slots (the
//! "slots file", `index.tci`) and a small checksummed description of the
//! state it holds (the "meta file", `index.tcm`).
//!
//! The slots file is an open-addressing hash table with linear probing:
//! slot `i` of a table of `capacity` slots (a power of two) is the home of
//! the key hashes `h` with `h & (capacity - 1) == i`. A slot holds a key hash
//! and a sequence-numbered location, and no process-local pointer, so any
//! process may read it. Each slot carries its own CRC: a lookup trusts only
//! the slots it checks (see `Table::find`), and a page that was never read
//! costs nothing, so opening is O(1) and the table is paged in on demand.
//!
//! The meta file says up to which sequence number (the watermark) the
//! slots file is complete, which record that is (the anchor: its location,
//! number and frame CRC, so that an index of another directory or of a
//! log that lost its tail is refused), and the counts that go with the
//! table (entries, live bytes, dead bytes per segment). It is replaced
//! whole through a temporary file and a rename. While the slots file is
//! changed in place, the undo journal (`undo`) holds what the meta file
//! describes; before a new slots file takes the name, the meta file is
//! deleted: so a meta file is only ever beside the slots file it describes,
//! once the journal is undone. See docs/FORMAT.md for the layouts, byte by
//! byte.
//!
//! This module only encodes, decodes and probes; `index.rs` decides what
//! goes in, `recovery.rs` whether a file is trusted.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::{Mmap, MmapMut, MmapOptions};

use super::fileio;
use super::index::Loc;
use super::undo::{MetaGuard, MetaId};

/// File name of the slots file.
pub const SLOTS_FILE: &str = "index.tci";
/// File name of the meta file.
pub const META_FILE: &str = "index.tcm";

const SLOTS_MAGIC: [u8; 4] = *b"TCXS";
const META_MAGIC: [u8; 4] = *b"TCXM";
/// Format version of both files; another version is rebuilt from the log.
/// Version 2: a slot's checksum is CRC32C (`crc::crc32c_array`), 1's was CRC32.
/// A version 1 file is refused by its header and rebuilt, never read: its
/// slots would all fail the new checksum, each a repair and a rebuild of
/// its own, and (what the header check is for) a slot of one version must
/// never be judged by the other's checksum.
pub const VERSION: u16 = 2;
/// Bytes before the first slot: one page, so that slots never straddle pages.
pub const SLOTS_HEADER: usize = 4096;
/// Bytes of one slot.
pub const SLOT: usize = 32;
/// Bit of a slot's length field: the record has a meta field (tags).
const HAS_META: u32 = 1 << 31;
/// The smallest table.
pub const MIN_CAPACITY: u64 = 1024;
/// The most slots a table has (2^40 slots would be 32 TiB).
const MAX_CAPACITY: u64 = 1 << 36;
/// Bytes of the meta file's fixed part, and of one segment in it.
const META_FIXED: usize = 80;
const META_SEGMENT: usize = 32;
/// More segments than a log can have (ids are 24 bits).
const MAX_SEGMENTS: u64 = 1 << 24;

/// What the index says about one live record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub loc: Loc,
    /// The record's sequence number: a read checks the record has it.
    pub seq: u64,
    /// Bytes of the record's frame (what it counts in live bytes).
    pub len: u32,
    /// The record has a meta field (tags or a dependency).
    pub has_meta: bool,
}

/// What one slot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Empty,
    Full(u64, Entry),
    /// Fails its CRC, or holds a length too large for a frame.
    Bad,
}

pub fn encode_slot(h: u64, e: &Entry) -> [u8; SLOT] {
    let mut s = [0u8; SLOT];
    s[0..8].copy_from_slice(&h.to_le_bytes());
    s[8..16].copy_from_slice(&e.loc.raw().to_le_bytes());
    s[16..24].copy_from_slice(&e.seq.to_le_bytes());
    let len = e.len | if e.has_meta { HAS_META } else { 0 };
    s[24..28].copy_from_slice(&len.to_le_bytes());
    let crc = crate::crc::crc32c_array::<28>(s[0..28].try_into().unwrap());
    s[28..32].copy_from_slice(&crc.to_le_bytes());
    s
}

/// Decodes a slot. All zeros is empty; anything else must pass its CRC.
pub fn decode_slot(s: &[u8]) -> Slot {
    let s: &[u8; SLOT] = match s.try_into() {
        Ok(s) => s,
        Err(_) => return Slot::Bad,
    };
    if s.iter().all(|b| *b == 0) {
        return Slot::Empty;
    }
    check_slot(s)
}

/// Decodes a slot known not to be all zeros (`decode_slot` without the
/// look for an empty one): it must pass its CRC.
fn check_slot(s: &[u8; SLOT]) -> Slot {
    let u64_at = |at: usize| u64::from_le_bytes(s[at..at + 8].try_into().unwrap());
    let crc = u32::from_le_bytes(s[28..32].try_into().unwrap());
    if crate::crc::crc32c_array::<28>(s[0..28].try_into().unwrap()) != crc {
        return Slot::Bad;
    }
    let len = u32::from_le_bytes(s[24..28].try_into().unwrap());
    let seq = u64_at(16);
    if seq == 0 || len & !HAS_META == 0 {
        return Slot::Bad;
    }
    Slot::Full(
        u64_at(0),
        Entry {
            loc: Loc::from_raw(u64_at(8)),
            seq,
            len: len & !HAS_META,
            has_meta: len & HAS_META != 0,
        },
    )
}

fn slots_header(capacity: u64, generation: u64) -> [u8; 32] {
    let mut h = [0u8; 32];
    h[0..4].copy_from_slice(&SLOTS_MAGIC);
    h[4..6].copy_from_slice(&VERSION.to_le_bytes());
    h[8..16].copy_from_slice(&capacity.to_le_bytes());
    h[16..24].copy_from_slice(&generation.to_le_bytes());
    let crc = crc32fast::hash(&h[0..24]);
    h[24..28].copy_from_slice(&crc.to_le_bytes());
    h
}

/// The (capacity, generation) a slots file's header claims, if it is sound
/// and the file is exactly as long as that capacity needs.
pub fn decode_slots_header(bytes: &[u8], file_len: u64) -> Option<(u64, u64)> {
    let h = bytes.get(0..32)?;
    let crc = u32::from_le_bytes(h[24..28].try_into().unwrap());
    if h[0..4] != SLOTS_MAGIC || u16::from_le_bytes([h[4], h[5]]) != VERSION || crc32fast::hash(&h[0..24]) != crc {
        return None;
    }
    let capacity = u64::from_le_bytes(h[8..16].try_into().unwrap());
    let generation = u64::from_le_bytes(h[16..24].try_into().unwrap());
    if !capacity.is_power_of_two() || !(MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity) {
        return None;
    }
    (file_len == SLOTS_HEADER as u64 + capacity * SLOT as u64).then_some((capacity, generation))
}

enum Map {
    Rw(MmapMut),
    Ro(Mmap),
}

/// An open slots file.
pub struct Table {
    map: Map,
    /// The file mapped, for `start_write_back_some`, whose caller waits on
    /// it with no lock held.
    file: Arc<File>,
    path: PathBuf,
    capacity: u64,
    pub generation: u64,
    /// How many times a slot was handed out for writing (`slot_mut`, the
    /// one way to them): a copy of the table made a chunk at a time
    /// (`index::Growth`) is of the table as it is only if this has not
    /// moved since the copy began.
    writes: u64,
    /// Set on the table the index uses (the one a meta file may describe):
    /// told of every write before it is made (`slot_mut`), so that the
    /// meta file stays true (`undo`). Tables being filled have none.
    guard: Option<MetaGuard>,
    /// Tests only: the write at which the process "dies" (`stop_at`).
    #[cfg(test)]
    stop: Option<(u64, bool)>,
}

impl Table {
    /// Creates an empty table of `capacity` slots at `path` (replacing any
    /// file there), with its blocks allocated so that writing through the
    /// map cannot meet a full disk.
    pub fn create(path: &Path, capacity: u64, generation: u64) -> io::Result<Table> {
        let _ = fs::remove_file(path);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        let len = SLOTS_HEADER as u64 + capacity * SLOT as u64;
        allocate(&file, len)?;
        // SAFETY: the file is ours (the directory lock keeps other processes
        // from writing it) and stays at this length while mapped.
        let mut map = unsafe { MmapOptions::new().len(len as usize).map_mut(&file)? };
        map[0..32].copy_from_slice(&slots_header(capacity, generation));
        Ok(Table {
            map: Map::Rw(map),
            file: Arc::new(file),
            path: path.to_path_buf(),
            capacity,
            generation,
            writes: 0,
            guard: None,
            #[cfg(test)]
            stop: None,
        })
    }

    /// Opens the slots file at `path` if its header is sound.
    pub fn open(path: &Path, writable: bool) -> io::Result<Option<Table>> {
        let file = OpenOptions::new().read(true).write(writable).open(path)?;
        let len = file.metadata()?.len();
        if len < SLOTS_HEADER as u64 || len > SLOTS_HEADER as u64 + MAX_CAPACITY * SLOT as u64 {
            return Ok(None);
        }
        // SAFETY: as in `create`; a file truncated behind our back by
        // another process would fault, as a segment would.
        let map = unsafe {
            if writable {
                Map::Rw(MmapOptions::new().len(len as usize).map_mut(&file)?)
            } else {
                Map::Ro(MmapOptions::new().len(len as usize).map(&file)?)
            }
        };
        let bytes = match &map {
            Map::Rw(m) => &m[..],
            Map::Ro(m) => &m[..],
        };
        let Some((capacity, generation)) = decode_slots_header(bytes, len) else {
            return Ok(None);
        };
        Ok(Some(Table {
            map,
            file: Arc::new(file),
            path: path.to_path_buf(),
            capacity,
            generation,
            writes: 0,
            guard: None,
            #[cfg(test)]
            stop: None,
        }))
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    fn bytes(&self) -> &[u8] {
        match &self.map {
            Map::Rw(m) => &m[SLOTS_HEADER..],
            Map::Ro(m) => &m[SLOTS_HEADER..],
        }
    }

    /// How many times the slots were written (`writes`).
    pub fn writes(&self) -> u64 {
        self.writes
    }

    /// Slot `i`, to be written: its guard, if it has one, is told first,
    /// with the slot's bytes as they are (`MetaGuard::before_write`); if
    /// the guard says no (its journal or the meta file's removal failed),
    /// the slot is not handed out and the caller's `Corrupt` has the index
    /// rebuilt.
    fn slot_mut(&mut self, i: u64) -> Result<&mut [u8; SLOT], Corrupt> {
        debug_assert!(i < self.capacity);
        self.writes += 1;
        let at = SLOTS_HEADER + (i * SLOT as u64) as usize;
        let Map::Rw(m) = &mut self.map else {
            return Err(Corrupt);
        };
        let slot: &mut [u8; SLOT] = (&mut m[at..at + SLOT]).try_into().unwrap();
        #[cfg(test)]
        let stop = self.stop.filter(|s| s.0 == self.writes);
        #[cfg(test)]
        if stop.is_some_and(|s| !s.1) {
            return Err(Corrupt);
        }
        if let Some(g) = &mut self.guard {
            g.before_write(self.generation, self.capacity, i, slot)
                .map_err(|_| Corrupt)?;
        }
        #[cfg(test)]
        if stop.is_some() {
            return Err(Corrupt);
        }
        Ok(slot)
    }

    /// Tests only: the `n`th write from now fails, as if the process died
    /// there: before its journal entry, or (`journaled`) between the entry
    /// and the write.
    #[cfg(test)]
    pub fn stop_at(&mut self, n: u64, journaled: bool) {
        self.stop = Some((self.writes + n, journaled));
    }

    /// Writes `bytes` into slot `i` as they are: an open undoing a
    /// checkpoint cut short (`undo::restore`).
    pub fn write_back(&mut self, i: u64, bytes: &[u8; SLOT]) -> Result<(), Corrupt> {
        if i >= self.capacity {
            return Err(Corrupt);
        }
        *self.slot_mut(i)? = *bytes;
        Ok(())
    }

    /// Makes `g` this table's guard (`guard`).
    pub fn set_guard(&mut self, g: MetaGuard) {
        self.guard = Some(g);
    }

    /// The table's guard, taken away (a new table takes it over).
    pub fn take_guard(&mut self) -> Option<MetaGuard> {
        self.guard.take()
    }

    pub fn guard_mut(&mut self) -> Option<&mut MetaGuard> {
        self.guard.as_mut()
    }

    pub fn slot(&self, i: u64) -> Slot {
        let at = (i * SLOT as u64) as usize;
        decode_slot(&self.bytes()[at..at + SLOT])
    }

    fn home(&self, h: u64) -> u64 {
        h & (self.capacity - 1)
    }

    /// The entries of hash `h`, in probe order, until `each` says stop; then,
    /// if it has not, `Err` for each bad slot the probe passed (it may have
    /// been one of them).
    ///
    /// A slot that names another hash is passed without its CRC: on a hit
    /// (most lookups) only the slots of `h` are checked, not every slot of
    /// the cluster before them (a CRC each). That skips nothing that could
    /// be served: an entry is used only after its own slot passed its CRC.
    /// What a bad slot among the passed ones could hide (it may be one of
    /// `h`'s, its hash field flipped) matters only if the probe ends without
    /// an answer; then every passed slot is checked as before, and the bad
    /// ones reported, so the caller still marks the index suspect and
    /// rebuilds it instead of calling the key absent.
    pub fn find(&self, h: u64, mut each: impl FnMut(Result<Entry, ()>) -> bool) {
        let home = self.home(h);
        let mut i = home;
        let mut probed = 0;
        while probed < self.capacity {
            let s = self.slot_bytes(i);
            let named = u64::from_le_bytes(s[0..8].try_into().unwrap());
            if named == 0 && s.iter().all(|b| *b == 0) {
                break;
            }
            probed += 1;
            if named == h {
                let stop = match check_slot(s) {
                    Slot::Full(_, e) => each(Ok(e)),
                    // A slot of all zeros is not here; one whose CRC fails
                    // is bad whatever hash it names.
                    Slot::Empty | Slot::Bad => each(Err(())),
                };
                if stop {
                    return;
                }
            }
            i = (i + 1) & (self.capacity - 1);
        }
        // No answer: check the slots passed unchecked.
        let mut i = home;
        for _ in 0..probed {
            let s = self.slot_bytes(i);
            if u64::from_le_bytes(s[0..8].try_into().unwrap()) != h && check_slot(s) == Slot::Bad && each(Err(())) {
                return;
            }
            i = (i + 1) & (self.capacity - 1);
        }
    }

    /// Starts loading the slot a lookup of `h` reads first (`prefetch`).
    pub fn prefetch(&self, h: u64) {
        let at = (self.home(h) * SLOT as u64) as usize;
        if let Some(s) = self.bytes().get(at..) {
            crate::prefetch::line(s.as_ptr());
        }
    }

    /// The bytes of slot `i`.
    fn slot_bytes(&self, i: u64) -> &[u8; SLOT] {
        let at = (i * SLOT as u64) as usize;
        self.bytes()[at..at + SLOT].try_into().unwrap()
    }

    /// Writes `(h, e)` into slot `i`.
    fn write_slot(&mut self, i: u64, h: u64, e: &Entry) -> Result<(), Corrupt> {
        *self.slot_mut(i)? = encode_slot(h, e);
        Ok(())
    }

    /// Every slot that is not empty, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = Slot> + '_ {
        (0..self.capacity).map(|i| self.slot(i)).filter(|s| *s != Slot::Empty)
    }

    /// Puts `(h, e)` in the first free slot from `h`'s home. The caller
    /// keeps the load below one, so there is always one.
    pub fn insert(&mut self, h: u64, e: &Entry) -> Result<(), Corrupt> {
        let mut i = self.home(h);
        for _ in 0..self.capacity {
            match self.slot(i) {
                Slot::Empty => return self.write_slot(i, h, e),
                Slot::Bad => return Err(Corrupt),
                Slot::Full(..) => {}
            }
            i = (i + 1) & (self.capacity - 1);
        }
        Err(Corrupt)
    }

    /// Makes the slots of hash `h` hold exactly `entries` (in any order).
    ///
    /// A checkpoint does this for every hash written since the last one, and
    /// nearly always the table holds one slot of it and the overlay one
    /// entry (a key written again): that slot is rewritten where it is, in
    /// one probe of the cluster. `remove_all` then `insert` probed it four
    /// times, shifting the cluster back and forth, and checksummed every slot
    /// on the way each time. Rewriting a slot of `h` in place keeps it
    /// reachable from `h`'s home, since nothing between them changes. Any
    /// other case (a key added or removed, colliding hashes) takes
    /// `remove_all` and `insert`.
    pub fn replace_all(&mut self, h: u64, entries: &[Entry]) -> Result<(), Corrupt> {
        let mut at = None;
        let mut count = 0usize;
        let mut i = self.home(h);
        for _ in 0..self.capacity {
            match self.slot(i) {
                Slot::Empty => break,
                Slot::Full(x, _) if x == h => {
                    at = Some(i);
                    count += 1;
                }
                Slot::Full(..) => {}
                Slot::Bad => return Err(Corrupt),
            }
            i = (i + 1) & (self.capacity - 1);
        }
        if let ([e], 1, Some(i)) = (entries, count, at) {
            return self.write_slot(i, h, e);
        }
        if count > 0 {
            self.remove_all(h)?;
        }
        entries.iter().try_for_each(|e| self.insert(h, e))
    }

    /// Removes every slot of hash `h`, shifting later slots of the cluster
    /// back so that lookups never need tombstones.
    pub fn remove_all(&mut self, h: u64) -> Result<(), Corrupt> {
        loop {
            let mut at = None;
            let mut i = self.home(h);
            for _ in 0..self.capacity {
                match self.slot(i) {
                    Slot::Empty => break,
                    Slot::Full(x, _) if x == h => {
                        at = Some(i);
                        break;
                    }
                    Slot::Full(..) => {}
                    Slot::Bad => return Err(Corrupt),
                }
                i = (i + 1) & (self.capacity - 1);
            }
            match at {
                Some(i) => self.delete(i)?,
                None => return Ok(()),
            }
        }
    }

    /// Empties slot `hole` and moves back the slots after it that may not
    /// sit between their home and it (backward-shift deletion).
    fn delete(&mut self, mut hole: u64) -> Result<(), Corrupt> {
        let mask = self.capacity - 1;
        let mut j = (hole + 1) & mask;
        loop {
            let (h, _) = match self.slot(j) {
                Slot::Empty => break,
                Slot::Bad => return Err(Corrupt),
                Slot::Full(h, e) => (h, e),
            };
            let home = self.home(h);
            // Distance from home to j, and from home to the hole, going forward.
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.copy_slot(j, hole)?;
                hole = j;
            }
            j = (j + 1) & mask;
        }
        *self.slot_mut(hole)? = [0; SLOT];
        Ok(())
    }

    fn copy_slot(&mut self, from: u64, to: u64) -> Result<(), Corrupt> {
        let bytes = *self.slot_bytes(from);
        *self.slot_mut(to)? = bytes;
        Ok(())
    }

    /// Faults every page of a writable table into the page cache and this
    /// process's page tables, writable, before any slot is written: for a
    /// table being filled by the maintenance thread a chunk at a time under
    /// the log's read lock (`index::Growth`), so that those holds write
    /// into pages already there. Its file's blocks are allocated but hold
    /// no page yet, and copying a chunk of 8192 slots into it took a fault
    /// on nearly every slot: holds of 5, 10, 19, 37 ms as the table doubled
    /// (3M keys, `benchmarks/c/stall.c`), for which every put waited. The
    /// bytes stay zeros. A hint: where the kernel cannot (before Linux
    /// 5.14, or another system), the pages fault in as they are written.
    pub fn populate(&self) {
        // In steps, as a segment's map is: the threads that map or unmap
        // meanwhile wait for each call.
        #[cfg(target_os = "linux")]
        if let Map::Rw(m) = &self.map {
            crate::value::map::in_populate_steps(m.len(), |at, step| {
                m.advise_range(memmap2::Advice::PopulateWrite, at, step)
            });
        }
    }

    /// Starts writing the dirty pages among the file's bytes from `*from`
    /// back, at most `step` bytes of the file, and moves `*from` past them;
    /// `None` once it is at the file's end. What it started is for the
    /// caller to wait for (`WriteBack::wait`), with no lock held: the pages
    /// are cleaned here, under the caller's lock, where nothing reads the
    /// table meanwhile (see `Index::merge_some`).
    pub fn start_write_back_some(&self, from: &mut u64, step: u64) -> Option<WriteBack> {
        let len = match &self.map {
            Map::Rw(m) => m.len() as u64,
            Map::Ro(_) => return None,
        };
        if *from >= len {
            return None;
        }
        let n = (len - *from).min(step);
        // Advice: the wait writes whatever this did not start.
        let _ = fileio::write_back(&self.file, &self.path, *from, n);
        let started = WriteBack {
            file: self.file.clone(),
            path: self.path.clone(),
            from: *from,
            len: n,
        };
        *from += n;
        Some(started)
    }

    /// Writes the table's dirty pages to the file and waits for them. A
    /// failure is reported once: a later sync may succeed over pages the
    /// disk lost, so a caller that wrote the table in place must not vouch
    /// for it after one (`Index::persist`, `Index::merge_some`).
    pub fn sync(&self) -> io::Result<()> {
        match &self.map {
            Map::Rw(m) => fileio::sync_map(m, &self.path),
            Map::Ro(_) => Ok(()),
        }
    }
}

/// A range of a table's file whose write-back was started
/// (`Table::start_write_back_some`), to wait for with no lock held.
pub struct WriteBack {
    file: Arc<File>,
    path: PathBuf,
    from: u64,
    len: u64,
}

impl WriteBack {
    /// Writes the range back and waits for it (`fileio::write_back_and_wait`:
    /// a failure here is the table's next sync's, which will not report it).
    pub fn wait(self) -> io::Result<()> {
        fileio::write_back_and_wait(&self.file, &self.path, self.from, self.len)
    }
}

/// A slot failed its CRC where the table had to be changed: it cannot be
/// trusted, so the index is rebuilt from the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt;

/// Allocates `len` bytes of `file` (not a sparse file: a store through a
/// map into a hole on a full disk would be SIGBUS, not an error).
fn allocate(file: &File, len: u64) -> io::Result<()> {
    let len_off = libc::off_t::try_from(len).map_err(|_| io::Error::other("index file too large"))?;
    // SAFETY: a plain system call on an open descriptor.
    let r = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len_off) };
    match r {
        0 => Ok(()),
        // A file system without fallocate: fall back to a plain length
        // (sparse; a full disk then faults, as it would for any map).
        libc::EOPNOTSUPP | libc::EINVAL => file.set_len(len),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

/// The capacity for `entries` live entries: a power of two that keeps the
/// load at or below one half, so there is room to grow before the next
/// resize.
pub fn capacity_for(entries: u64) -> u64 {
    entries
        .saturating_mul(2)
        .next_power_of_two()
        .clamp(MIN_CAPACITY, MAX_CAPACITY)
}

/// Whether a table of `capacity` slots holding `entries` must grow (load
/// above three quarters).
pub fn too_full(capacity: u64, entries: u64) -> bool {
    entries.saturating_mul(4) > capacity.saturating_mul(3)
}

/// One segment as the meta file records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentMeta {
    pub id: u32,
    pub format: u16,
    /// Bytes of the file when the index was written.
    pub len: u64,
    pub dead: u64,
    pub first_seq: u64,
}

/// The record with the watermark's sequence number, which must be where
/// the meta file says for the index to be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    pub loc: Loc,
    /// The CRC in its frame header.
    pub crc: u32,
}

/// What the meta file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// The slots file it goes with.
    pub generation: u64,
    pub capacity: u64,
    /// The index holds the effect of every record up to this number, and
    /// of none after it.
    pub watermark: u64,
    /// Where record `watermark` is (none if `watermark` is 0).
    pub anchor: Option<Anchor>,
    pub entries: u64,
    pub live_bytes: u64,
    /// Live entries with a meta field.
    pub tagged: u64,
    pub segments: Vec<SegmentMeta>,
}

impl Meta {
    /// Which of the segments this meta file lists may be gone from the
    /// directory, given which are `present`, and which of those the index
    /// still has entries in; `None` if one is gone that may not be.
    ///
    /// A listed segment may be gone if the meta file says it was all dead
    /// (compaction deleted it after this checkpoint), or if it is among the
    /// oldest: every listed segment before it is gone too, and it is
    /// older than the watermark's record. Those are retired segments: a
    /// kill while the oldest segment was being retired leaves its files
    /// gone (`Store::condemn` takes them first) and a meta file from before
    /// that still lists it. They are returned; an open drops their entries
    /// (`State::kill_all_in`), as the retirement would have. Any other gap
    /// means records the index points at are gone for a reason nothing
    /// explains: not trusted. (A meta file with no anchor, of an empty
    /// log, is never trusted by an open, whatever this says.)
    pub fn retired_segments(&self, present: impl Fn(u32) -> bool) -> Option<Vec<u32>> {
        let anchor_seg = self.anchor.map_or(u32::MAX, |a| a.loc.segment());
        let mut retired = Vec::new();
        let mut oldest = true;
        for s in &self.segments {
            if present(s.id) {
                oldest = false;
            } else if s.id >= anchor_seg {
                return None;
            } else if s.dead + super::segment::HEADER_LEN != s.len {
                if !oldest {
                    return None;
                }
                retired.push(s.id);
            }
        }
        Some(retired)
    }
}

#[cfg(test)]
impl Meta {
    /// Tests' meta file of an empty log, for the table of `generation`
    /// and `capacity`.
    pub fn empty(generation: u64, capacity: u64) -> Meta {
        Meta {
            generation,
            capacity,
            watermark: 0,
            anchor: None,
            entries: 0,
            live_bytes: 0,
            tagged: 0,
            segments: Vec::new(),
        }
    }
}

#[cfg(test)]
pub fn encode_meta(m: &Meta) -> Vec<u8> {
    encode_meta_with_nonce(m, 0)
}

/// `encode_meta` with `nonce` in its reserved word, which no two meta files
/// of a directory share (`write_meta`): what a journal names a meta file by
/// (`meta_id`).
fn encode_meta_with_nonce(m: &Meta, nonce: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(META_FIXED + m.segments.len() * META_SEGMENT + 4);
    out.extend_from_slice(&META_MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&m.generation.to_le_bytes());
    out.extend_from_slice(&m.capacity.to_le_bytes());
    out.extend_from_slice(&m.watermark.to_le_bytes());
    let (loc, crc) = m.anchor.map_or((0, 0), |a| (a.loc.raw(), a.crc));
    out.extend_from_slice(&loc.to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&nonce.to_le_bytes());
    out.extend_from_slice(&m.entries.to_le_bytes());
    out.extend_from_slice(&m.live_bytes.to_le_bytes());
    out.extend_from_slice(&m.tagged.to_le_bytes());
    out.extend_from_slice(&(m.segments.len() as u64).to_le_bytes());
    debug_assert_eq!(out.len(), META_FIXED);
    for s in &m.segments {
        out.extend_from_slice(&s.id.to_le_bytes());
        out.extend_from_slice(&s.format.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&s.len.to_le_bytes());
        out.extend_from_slice(&s.dead.to_le_bytes());
        out.extend_from_slice(&s.first_seq.to_le_bytes());
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes a meta file: `None` unless the magic, version and CRC match and
/// every field is within its range.
pub fn decode_meta(bytes: &[u8]) -> Option<Meta> {
    if bytes.len() < META_FIXED + 4 {
        return None;
    }
    let (body, trailer) = bytes.split_at(bytes.len() - 4);
    if crc32fast::hash(body).to_le_bytes() != trailer {
        return None;
    }
    let u64_at = |at: usize| u64::from_le_bytes(body[at..at + 8].try_into().unwrap());
    let u32_at = |at: usize| u32::from_le_bytes(body[at..at + 4].try_into().unwrap());
    if body[0..4] != META_MAGIC || u16::from_le_bytes([body[4], body[5]]) != VERSION {
        return None;
    }
    let count = u64_at(72);
    if count > MAX_SEGMENTS || (body.len() - META_FIXED) as u64 != count * META_SEGMENT as u64 {
        return None;
    }
    let watermark = u64_at(24);
    let anchor_loc = u64_at(32);
    let anchor = match (watermark, anchor_loc) {
        (0, 0) => None,
        (0, _) | (_, 0) => return None,
        (_, raw) => Some(Anchor {
            loc: Loc::from_raw(raw),
            crc: u32_at(40),
        }),
    };
    let capacity = u64_at(16);
    if !capacity.is_power_of_two() || !(MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity) {
        return None;
    }
    let entries = u64_at(48);
    if entries > capacity {
        return None;
    }
    let mut segments = Vec::with_capacity(count as usize);
    for s in body[META_FIXED..].chunks_exact(META_SEGMENT) {
        let seg = SegmentMeta {
            id: u32::from_le_bytes(s[0..4].try_into().unwrap()),
            format: u16::from_le_bytes([s[4], s[5]]),
            len: u64::from_le_bytes(s[8..16].try_into().unwrap()),
            dead: u64::from_le_bytes(s[16..24].try_into().unwrap()),
            first_seq: u64::from_le_bytes(s[24..32].try_into().unwrap()),
        };
        // Strictly increasing ids, and no more dead bytes than the file has.
        if segments.last().is_some_and(|p: &SegmentMeta| p.id >= seg.id) || seg.dead > seg.len {
            return None;
        }
        segments.push(seg);
    }
    Some(Meta {
        generation: u64_at(8),
        capacity,
        watermark,
        anchor,
        entries,
        live_bytes: u64_at(56),
        tagged: u64_at(64),
        segments,
    })
}

/// What names the meta file of `bytes` (a sound one: `decode_meta`) to an
/// undo journal: its nonce and its CRC.
pub fn meta_id(bytes: &[u8]) -> MetaId {
    let word = |at: usize| {
        bytes
            .get(at..at + 4)
            .map_or(0, |b| u32::from_le_bytes(b.try_into().unwrap()))
    };
    u64::from(word(44)) << 32 | u64::from(word(bytes.len().saturating_sub(4)))
}

pub fn meta_path(dir: &Path) -> PathBuf {
    dir.join(META_FILE)
}

pub fn slots_path(dir: &Path) -> PathBuf {
    dir.join(SLOTS_FILE)
}

/// Reads the meta file of `dir`: `Ok(None)` if there is none.
pub fn read_meta(dir: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(meta_path(dir)) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replaces the meta file: temporary file, fsync, rename, fsync the
/// directory (the fsyncs only if `durable`). Returns what names it
/// (`meta_id`): a random nonce goes in.
pub fn write_meta(dir: &Path, m: &Meta, durable: bool) -> io::Result<MetaId> {
    let mut nonce = [0u8; 4];
    getrandom::getrandom(&mut nonce).map_err(|e| io::Error::other(e.to_string()))?;
    let bytes = encode_meta_with_nonce(m, u32::from_le_bytes(nonce));
    let tmp = dir.join(format!("{META_FILE}.tmp"));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&bytes)?;
        if durable {
            f.sync_data()?;
        }
        fs::rename(&tmp, meta_path(dir))?;
        if durable {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map(|()| meta_id(&bytes))
}

/// Deletes the meta file (and fsyncs the directory if `durable`), so that
/// the slots file can be changed: until a new meta file is written, the
/// next open rebuilds the index.
pub fn invalidate(dir: &Path, durable: bool) -> io::Result<()> {
    match fs::remove_file(meta_path(dir)) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    if durable {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seg: u32, off: u64, seq: u64) -> Entry {
        Entry {
            loc: Loc::new(seg, off),
            seq,
            len: 40,
            has_meta: seq.is_multiple_of(2),
        }
    }

    /// Which gone segments a meta file explains: all dead ones anywhere
    /// before the anchor's, and the oldest ones (retired); any other gap,
    /// or the anchor's segment, is not explained.
    #[test]
    fn only_the_oldest_or_all_dead_segments_may_be_gone() {
        let seg = |id: u32, dead: u64| SegmentMeta {
            id,
            format: 2,
            len: 1000,
            dead,
            first_seq: 0,
        };
        let all_dead = 1000 - crate::log::segment::HEADER_LEN;
        let mut m = Meta::empty(1, MIN_CAPACITY);
        m.watermark = 9;
        m.anchor = Some(Anchor {
            loc: Loc::new(5, 100),
            crc: 0,
        });
        m.segments = vec![seg(1, 0), seg(2, all_dead), seg(3, 10), seg(4, 0), seg(5, 0)];
        let with = |present: &'static [u32]| m.retired_segments(|id| present.contains(&id));
        assert_eq!(with(&[1, 2, 3, 4, 5]), Some(vec![]));
        assert_eq!(with(&[3, 4, 5]), Some(vec![1]), "1 retired, 2 all dead");
        assert_eq!(with(&[4, 5]), Some(vec![1, 3]));
        assert_eq!(with(&[1, 3, 4, 5]), Some(vec![]), "2 was all dead");
        assert_eq!(with(&[1, 2, 4, 5]), None, "3 is not among the oldest");
        assert_eq!(with(&[5]), Some(vec![1, 3, 4]));
        assert_eq!(with(&[1, 2, 3, 4]), None, "the anchor's segment");
        assert_eq!(with(&[]), None);
    }

    #[test]
    fn slots_round_trip_and_flips_are_caught() {
        let e = entry(3, 99, 12);
        let s = encode_slot(77, &e);
        assert_eq!(decode_slot(&s), Slot::Full(77, e));
        assert_eq!(decode_slot(&[0; SLOT]), Slot::Empty);
        for i in 0..SLOT {
            for bit in 0..8 {
                let mut bad = s;
                bad[i] ^= 1 << bit;
                assert_eq!(decode_slot(&bad), Slot::Bad, "flip of bit {bit} of byte {i}");
            }
        }
    }

    /// What `Table::populate` is for: a new table (a growth's, filled a
    /// chunk per hold of the log's lock) has its file's blocks but none of
    /// its pages in this process's page tables, so the first write to each
    /// faulted under the lock; populated, every page is mapped, and every
    /// slot still reads empty. Fails if `populate` does nothing.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_populated_table_is_mapped_whole_and_still_empty() {
        let dir = tempfile::tempdir().unwrap();
        let t = Table::create(&dir.path().join(SLOTS_FILE), 1 << 16, 1).unwrap();
        let Map::Rw(m) = &t.map else {
            unreachable!("created writable")
        };
        if m.advise_range(memmap2::Advice::PopulateWrite, 0, 4096).is_err() {
            // Before Linux 5.14 populating is a hint that does nothing.
            eprintln!("skipped: this kernel cannot populate a map");
            return;
        }
        let pages = m.len().div_ceil(4096);
        let before = crate::log::mapped_pages(m);
        assert!(
            before <= 2,
            "only the header's page is written at creation: {before} of {pages}"
        );
        t.populate();
        assert_eq!(crate::log::mapped_pages(m), pages, "every page is mapped");
        assert!((0..t.capacity()).all(|i| t.slot(i) == Slot::Empty), "and still empty");
    }

    #[test]
    fn a_table_finds_inserts_and_removes_across_wraparound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SLOTS_FILE);
        let mut t = Table::create(&path, MIN_CAPACITY, 5).unwrap();
        let cap = t.capacity();
        // Hashes whose homes are the last slots, so clusters wrap around.
        let hs: Vec<u64> = (0..40).map(|i| (cap - 3 + (i % 5)) | (i << 32)).collect();
        for (i, h) in hs.iter().enumerate() {
            t.insert(*h, &entry(1, i as u64 + 16, i as u64 + 1)).unwrap();
        }
        let find = |t: &Table, h: u64| {
            let mut v = Vec::new();
            t.find(h, |e| {
                v.push(e.unwrap().seq);
                false
            });
            v
        };
        for (i, h) in hs.iter().enumerate() {
            assert_eq!(find(&t, *h), vec![i as u64 + 1]);
        }
        for h in hs.iter().step_by(3) {
            t.remove_all(*h).unwrap();
        }
        for (i, h) in hs.iter().enumerate() {
            let want = if i % 3 == 0 { vec![] } else { vec![i as u64 + 1] };
            assert_eq!(find(&t, *h), want, "hash {i}");
        }
        assert_eq!(t.iter().count(), hs.len() - hs.len().div_ceil(3));
        drop(t);
        let t = Table::open(&path, false).unwrap().unwrap();
        assert_eq!((t.capacity(), t.generation), (cap, 5));
        assert_eq!(find(&t, hs[1]), vec![2]);
    }

    /// `replace_all`, against a model (hash → the multiset of its entries),
    /// over seeded random lists on hashes that share a few homes near the
    /// end of the table (clusters that collide and wrap around): after every
    /// step each hash finds exactly the model's entries, and the table
    /// holds no other slot. Lists of one entry replacing one slot take the
    /// in-place path; the rest take `remove_all` and `insert`.
    #[test]
    fn replace_all_leaves_each_hash_exactly_its_entries() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = Table::create(&dir.path().join(SLOTS_FILE), MIN_CAPACITY, 1).unwrap();
        let cap = t.capacity();
        let hs: Vec<u64> = (0..24).map(|i| ((cap - 2 + (i % 4)) % cap) | (i << 32)).collect();
        let mut model: std::collections::HashMap<u64, Vec<u64>> = Default::default();
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut seq = 0;
        for step in 0..4000 {
            let h = hs[(next() % hs.len() as u64) as usize];
            // Mostly one entry (a key written again), sometimes none or two.
            let n = [1, 1, 1, 1, 0, 2][(next() % 6) as usize];
            let list: Vec<Entry> = (0..n)
                .map(|_| {
                    seq += 1;
                    entry(1, 16 + seq, seq)
                })
                .collect();
            t.replace_all(h, &list).unwrap();
            model.insert(h, list.iter().map(|e| e.seq).collect());
            for h in &hs {
                let mut found = Vec::new();
                t.find(*h, |e| {
                    found.push(e.unwrap().seq);
                    false
                });
                found.sort_unstable();
                let mut want = model.get(h).cloned().unwrap_or_default();
                want.sort_unstable();
                assert_eq!(found, want, "hash {h:#x} after step {step}");
            }
            let slots: usize = model.values().map(Vec::len).sum();
            assert_eq!(t.iter().count(), slots, "after step {step}");
        }
    }

    #[test]
    fn a_probe_checks_its_own_slots_and_reports_the_bad_ones_it_passed_when_it_ends_empty() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = Table::create(&dir.path().join(SLOTS_FILE), MIN_CAPACITY, 1).unwrap();
        let cap = t.capacity();
        // One cluster from slot 5: another hash, then two entries of `h`
        // (two keys whose hashes collide), then the entry of a third hash.
        let (other, h, third) = (5 | (1 << 40), 5 | (2 << 40), 5 | (3 << 40));
        t.insert(other, &entry(1, 16, 1)).unwrap();
        t.insert(h, &entry(1, 32, 2)).unwrap();
        t.insert(h, &entry(1, 48, 3)).unwrap();
        t.insert(third, &entry(1, 64, 4)).unwrap();
        let flip = |t: &mut Table, slot: u64, byte: usize| t.slot_mut(slot).unwrap()[byte] ^= 1;
        // What `find` reports, stopping at the entry numbered `stop_at`.
        let probe = |t: &Table, h: u64, stop_at: u64| {
            let mut seen = Vec::new();
            t.find(h, |r| {
                seen.push(r.map(|e| e.seq));
                r == Ok(entry(1, 16 * stop_at, stop_at))
            });
            seen
        };
        assert_eq!(probe(&t, h, 3), vec![Ok(2), Ok(3)]);
        // The slot of another hash, damaged: a hit of `h` goes on past it;
        // a probe that ends without an answer reports it.
        flip(&mut t, 5, 20);
        assert_eq!(probe(&t, h, 3), vec![Ok(2), Ok(3)]);
        assert_eq!(probe(&t, h, 0), vec![Ok(2), Ok(3), Err(())]);
        flip(&mut t, 5, 20);
        // An entry of `h` whose CRC fails is never an entry.
        flip(&mut t, 6, 12);
        assert_eq!(probe(&t, h, 3), vec![Err(()), Ok(3)]);
        flip(&mut t, 6, 12);
        // An entry of `h` whose hash field was flipped: `h`'s probe passes it
        // as another hash's, and reports it once the probe ends empty-handed.
        flip(&mut t, 7, 0);
        assert_eq!(probe(&t, h, 3), vec![Ok(2), Err(())]);
        flip(&mut t, 7, 0);
        assert_eq!(probe(&t, third, 4), vec![Ok(4)]);
        assert_eq!(
            probe(&t, 6 | (9 << 40), 0),
            vec![],
            "nothing of a hash that is not there"
        );
        assert!(cap > 9);
    }

    #[test]
    fn a_slots_file_of_another_length_or_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SLOTS_FILE);
        drop(Table::create(&path, MIN_CAPACITY, 1).unwrap());
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(SLOTS_HEADER as u64 + MIN_CAPACITY * SLOT as u64 - 1).unwrap();
        assert!(Table::open(&path, false).unwrap().is_none(), "truncated");
        let mut bytes = fs::read(&path).unwrap();
        bytes.push(0);
        fs::write(&path, &bytes).unwrap();
        assert!(Table::open(&path, false).unwrap().is_some(), "whole again");
        // Version 1 (CRC32 slots), its header's checksum made good.
        bytes[4] = 1;
        let crc = crc32fast::hash(&bytes[0..24]);
        bytes[24..28].copy_from_slice(&crc.to_le_bytes());
        fs::write(&path, &bytes).unwrap();
        assert!(Table::open(&path, false).unwrap().is_none(), "another version");
    }

    fn sample_meta() -> Meta {
        Meta {
            generation: 9,
            capacity: 2048,
            watermark: 500,
            anchor: Some(Anchor {
                loc: Loc::new(4, 1234),
                crc: 0xdead_beef,
            }),
            entries: 300,
            live_bytes: 30_000,
            tagged: 7,
            segments: vec![
                SegmentMeta {
                    id: 3,
                    format: 2,
                    len: 9000,
                    dead: 100,
                    first_seq: 1,
                },
                SegmentMeta {
                    id: 4,
                    format: 2,
                    len: 5000,
                    dead: 0,
                    first_seq: 200,
                },
            ],
        }
    }

    #[test]
    fn meta_round_trips_and_refuses_every_flip_and_cut() {
        let m = sample_meta();
        let bytes = encode_meta(&m);
        assert_eq!(decode_meta(&bytes), Some(m));
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x04;
            assert_eq!(decode_meta(&bad), None, "flip at {i}");
        }
        for cut in 0..bytes.len() {
            assert_eq!(decode_meta(&bytes[..cut]), None, "cut at {cut}");
        }
    }

    #[test]
    fn meta_with_fields_out_of_range_is_refused_even_with_a_good_crc() {
        let reseal = |m: &Meta| encode_meta(m);
        let mut m = sample_meta();
        m.capacity = 3000;
        assert_eq!(decode_meta(&reseal(&m)), None, "capacity not a power of two");
        let mut m = sample_meta();
        m.segments[1].id = 3;
        assert_eq!(decode_meta(&reseal(&m)), None, "ids out of order");
        let mut m = sample_meta();
        m.segments[0].dead = 9001;
        assert_eq!(decode_meta(&reseal(&m)), None, "more dead than the file");
        let mut m = sample_meta();
        m.entries = 5000;
        assert_eq!(decode_meta(&reseal(&m)), None, "more entries than slots");
    }
}
