//! The index table's undo journal (`index.tcu`), and `MetaGuard`, the one
//! type that decides, before each write to the slots of the table a meta
//! file describes, how that meta file stays true.
//!
//! The meta file says "the slots file holds the log up to record W". A
//! checkpoint changes the slots in place, through a map, so from its first
//! write until the next meta file the table holds neither W's state nor the
//! next one's. Until session 23 the meta file was deleted before that first
//! write, and a crash anywhere in a checkpoint (which the maintenance
//! thread spreads over many chunks) cost the next open a rebuild of the
//! whole index from the log. Now the meta file stays, and each slot's bytes
//! are copied into the journal before they change. An open that finds a
//! journal naming the meta file on disk writes the old bytes back, last
//! first, and has W's table again, byte for byte; then it replays the log
//! past W as always (`recovery`).
//!
//! Why that is exact after a killed process: the journal and the table are
//! both shared maps of files, so whatever the process stored is in the page
//! cache when it dies, and each entry is stored before the write it undoes
//! (a compiler fence keeps the order). An entry cut short fails its check,
//! and the write after it never happened.
//!
//! After a machine crash the page cache is gone, and the operating system
//! may have written the table's pages back without the journal's. So a
//! journal records the boot it was written in, and one of another boot is
//! never applied: the index is rebuilt, as before. That is enough because
//! the journal's header goes to disk (fsynced, when the log is durable)
//! before the first write it covers: a table page on disk implies a header
//! naming its boot. Without a boot id (not Linux) there is no journal: the
//! meta file is deleted before the first write, the old way.
//!
//! Which meta file a journal undoes back to: every meta file is written with
//! a random nonce, and a journal names it by nonce and CRC (`MetaId`), and
//! the table by generation and capacity. Once a new meta file is written
//! the journal names another and is stale; the next write begins a new
//! epoch, whose entries are checked with the epoch's number, so that those
//! left in the file from the last one are not read as its own.
//! See docs/FORMAT.md, "The undo journal", for the layout.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{compiler_fence, Ordering};
use std::sync::OnceLock;

use memmap2::{MmapMut, MmapOptions};

use super::index_file::{self, Meta, Table, SLOT};

/// File name of the journal.
pub const UNDO_FILE: &str = "index.tcu";
const MAGIC: [u8; 4] = *b"TCXU";
const VERSION: u16 = 1;
/// Bytes before the first entry.
const HEADER: usize = 4096;
/// Bytes of the header that are used (the rest is zeros).
const HEADER_USED: usize = 84;
/// Bytes of one entry: the slot's number, its 32 bytes before the write,
/// a CRC32C of the epoch and both, four zero bytes.
const ENTRY: usize = 48;
/// Bytes of the boot id (`/proc/sys/kernel/random/boot_id`, a UUID's text).
const BOOT_ID: usize = 36;
/// Entries a journal has room for at least: one begun by a write that no
/// `prepare` announced.
const MIN_ROOM: usize = 4096;
/// The most entries a journal holds (256 MiB of file): a checkpoint that
/// would write more slots deletes the meta file instead, as before the
/// journal, rather than double the index's room on disk.
const MAX_ROOM: usize = (256 << 20) / ENTRY;

/// Names one meta file: its nonce and its CRC (`index_file::meta_id`).
pub type MetaId = u64;

/// The table and the meta file a journal undoes back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Base {
    pub generation: u64,
    pub capacity: u64,
    pub meta: MetaId,
}

/// This boot's id, or `None` where there is none to read.
fn boot_id() -> Option<&'static [u8; BOOT_ID]> {
    static ID: OnceLock<Option<[u8; BOOT_ID]>> = OnceLock::new();
    ID.get_or_init(|| {
        let text = fs::read("/proc/sys/kernel/random/boot_id").ok()?;
        text.get(..BOOT_ID)?.try_into().ok()
    })
    .as_ref()
}

fn header(base: &Base, epoch: u64, boot: &[u8; BOOT_ID]) -> [u8; HEADER_USED] {
    let mut h = [0u8; HEADER_USED];
    h[0..4].copy_from_slice(&MAGIC);
    h[4..6].copy_from_slice(&VERSION.to_le_bytes());
    h[8..16].copy_from_slice(&base.generation.to_le_bytes());
    h[16..24].copy_from_slice(&base.capacity.to_le_bytes());
    h[24..32].copy_from_slice(&base.meta.to_le_bytes());
    h[32..40].copy_from_slice(&epoch.to_le_bytes());
    h[40..40 + BOOT_ID].copy_from_slice(boot);
    let crc = crc32fast::hash(&h[..HEADER_USED - 4]);
    h[HEADER_USED - 4..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// An entry's check: CRC32C of the epoch, the slot's number and its bytes.
fn entry_crc(epoch: u64, slot: u64, before: &[u8; SLOT]) -> u32 {
    let mut b = [0u8; 16 + SLOT];
    b[0..8].copy_from_slice(&epoch.to_le_bytes());
    b[8..16].copy_from_slice(&slot.to_le_bytes());
    b[16..].copy_from_slice(before);
    crate::crc::crc32c_array(&b)
}

/// What a journal file says, read back (`parse`).
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A journal of another table or meta file: nothing was written to
    /// this table since its meta file.
    Stale,
    /// What the table holds since the meta file cannot be known: the
    /// journal was written in another boot (or this machine has no boot
    /// id), or it is damaged (its header fails its check, an entry names a
    /// slot beyond the table, or entries of its epoch follow one that
    /// fails).
    Unknown,
    /// The slots to write back, in the order they were changed (undo them
    /// last first), each with its bytes before.
    Undo(Vec<(u64, [u8; SLOT])>),
}

/// Reads a journal's bytes: which `base` it undoes to decides whether it
/// applies; `boot` is this boot's id. An entry that fails its check ends
/// the journal (it was cut short by the crash, and the write it was made
/// for never happened), unless an entry of the epoch comes after it.
pub fn parse(bytes: &[u8], base: &Base, boot: Option<&[u8; BOOT_ID]>) -> Parsed {
    // A header cut short or failing its check may be one a crash cut short
    // (no write of its epoch happened yet) or damage to one that named this
    // table: the second cannot be ruled out.
    let Some(h) = bytes.get(..HEADER_USED) else {
        return Parsed::Unknown;
    };
    // The first word is stored last, and cleared first (`Journal::begin`):
    // zero, the header was being written, and no write of its epoch was
    // made. A header that fails its check otherwise is damage.
    if h[0..8] == [0; 8] {
        return Parsed::Stale;
    }
    let u64_at = |at: usize| u64::from_le_bytes(h[at..at + 8].try_into().unwrap());
    let crc = u32::from_le_bytes(h[HEADER_USED - 4..].try_into().unwrap());
    if h[0..4] != MAGIC || u16::from_le_bytes([h[4], h[5]]) != VERSION || crc32fast::hash(&h[..HEADER_USED - 4]) != crc
    {
        return Parsed::Unknown;
    }
    let named = Base {
        generation: u64_at(8),
        capacity: u64_at(16),
        meta: u64_at(24),
    };
    if named != *base {
        return Parsed::Stale;
    }
    if boot.is_none_or(|b| h[40..40 + BOOT_ID] != b[..]) {
        return Parsed::Unknown;
    }
    let epoch = u64_at(32);
    let mut undo = Vec::new();
    let mut ended = false;
    for e in bytes.get(HEADER..).unwrap_or_default().chunks_exact(ENTRY) {
        let slot = u64::from_le_bytes(e[0..8].try_into().unwrap());
        let before: [u8; SLOT] = e[8..8 + SLOT].try_into().unwrap();
        let crc = u32::from_le_bytes(e[8 + SLOT..12 + SLOT].try_into().unwrap());
        match (entry_crc(epoch, slot, &before) == crc, ended) {
            (false, _) => ended = true,
            (true, true) => return Parsed::Unknown,
            (true, false) if slot >= base.capacity => return Parsed::Unknown,
            (true, false) => undo.push((slot, before)),
        }
    }
    Parsed::Undo(undo)
}

/// What an open did with the journal (`restore`).
#[derive(Debug, PartialEq, Eq)]
pub enum Restored {
    /// The table is as the meta file describes it: no journal applied, or
    /// one applied (this many slots written back).
    Table(usize),
    /// The table cannot be trusted: rebuild the index from the log.
    Refused,
}

/// Makes `table`, which the meta file `meta` describes, what that meta file
/// says again: writes back the bytes the journal in `dir` holds for it,
/// last first, syncs the table if `durable`, and deletes the journal.
/// Read-only, a journal with entries is `Refused` (the table cannot be
/// written back).
pub fn restore(dir: &Path, table: &mut Table, meta: MetaId, read_only: bool, durable: bool) -> Restored {
    let base = Base {
        generation: table.generation,
        capacity: table.capacity(),
        meta,
    };
    let undo = match pending(dir, &base) {
        Parsed::Stale => return Restored::Table(0),
        Parsed::Unknown => return Restored::Refused,
        Parsed::Undo(u) if u.is_empty() => return Restored::Table(0),
        Parsed::Undo(_) if read_only => return Restored::Refused,
        Parsed::Undo(u) => u,
    };
    for (slot, before) in undo.iter().rev() {
        if table.write_back(*slot, before).is_err() {
            return Restored::Refused;
        }
    }
    // The old bytes reach the disk before the journal is gone.
    if durable && table.sync().is_err() {
        return Restored::Refused;
    }
    let _ = fs::remove_file(dir.join(UNDO_FILE));
    Restored::Table(undo.len())
}

/// What the journal in `dir` says of the table and meta file `base`
/// (`parse`, with this boot's id; no journal is `Stale`, one that cannot
/// be read `Unknown`). Changes nothing.
///
/// Every open with a trusted index comes here, and the file is kept at
/// the largest size a checkpoint needed (tens of MiB at a bound): its
/// header is read first, and the rest only when the header names `base`
/// in this boot, which is after a crash in a checkpoint alone.
pub fn pending(dir: &Path, base: &Base) -> Parsed {
    let read = || -> io::Result<Parsed> {
        let mut file = File::open(dir.join(UNDO_FILE))?;
        let mut head = Vec::with_capacity(HEADER_USED);
        (&mut file).take(HEADER_USED as u64).read_to_end(&mut head)?;
        // Parsed with no entries: what the header alone says.
        match parse(&head, base, boot_id()) {
            Parsed::Undo(_) => {
                let mut bytes = head;
                file.read_to_end(&mut bytes)?;
                Ok(parse(&bytes, base, boot_id()))
            }
            other => Ok(other),
        }
    };
    match read() {
        Ok(parsed) => parsed,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Parsed::Stale,
        Err(_) => Parsed::Unknown,
    }
}

/// The journal file, mapped: entries of the current epoch go after `len`.
struct Journal {
    map: MmapMut,
    file: File,
    epoch: u64,
    /// Entries written in this epoch.
    len: usize,
}

impl Journal {
    /// Opens (or creates) the journal file of `dir` and maps it, with room
    /// for `room` entries; the caller begins an epoch (`begin`).
    fn open(dir: &Path, room: usize, durable: bool) -> io::Result<Journal> {
        let path = dir.join(UNDO_FILE);
        let created = !path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)?;
        let map = map_file(&file, HEADER + room.clamp(MIN_ROOM, MAX_ROOM) * ENTRY)?;
        if created && durable {
            File::open(dir)?.sync_all()?;
        }
        Ok(Journal {
            map,
            file,
            epoch: 0,
            len: 0,
        })
    }

    /// Begins an epoch undoing to `base`, with room for `room` entries: the
    /// header written (and on disk before this returns, if `durable`). The
    /// map is kept from the last epoch: a new one would fault every page
    /// in again, at every checkpoint.
    fn begin(&mut self, base: &Base, room: usize, boot: &[u8; BOOT_ID], durable: bool) -> io::Result<()> {
        let mut epoch = [0u8; 8];
        getrandom::getrandom(&mut epoch).map_err(|e| io::Error::other(e.to_string()))?;
        self.len = 0;
        self.reserve(room.max(MIN_ROOM))?;
        self.epoch = u64::from_le_bytes(epoch);
        let j = self;
        // A kill may land in the middle of the header: its first word goes
        // last, each store of it whole (an aligned word), so that a header
        // cut short reads as begun, not as damage (`parse`).
        let h = header(base, j.epoch, boot);
        let first = j.map.as_mut_ptr().cast::<u64>();
        // SAFETY: the map is page-aligned and longer than a word.
        unsafe { std::ptr::write_volatile(first, 0) };
        compiler_fence(Ordering::SeqCst);
        j.map[8..HEADER_USED].copy_from_slice(&h[8..]);
        compiler_fence(Ordering::SeqCst);
        // SAFETY: as above.
        unsafe { std::ptr::write_volatile(first, u64::from_le_bytes(h[..8].try_into().unwrap())) };
        if durable {
            j.map.flush_range(0, HEADER)?;
        }
        Ok(())
    }

    /// Makes room for `more` entries past those written (an error past
    /// `MAX_ROOM`).
    fn reserve(&mut self, more: usize) -> io::Result<()> {
        let entries = self.len.saturating_add(more);
        if entries > MAX_ROOM {
            return Err(io::Error::other("the undo journal would outgrow its bound"));
        }
        let want = HEADER + entries * ENTRY;
        if want > self.map.len() {
            self.map = map_file(&self.file, want)?;
        }
        Ok(())
    }

    /// Records slot `slot`'s bytes before a write; false if full.
    fn record(&mut self, slot: u64, before: &[u8; SLOT]) -> bool {
        let at = HEADER + self.len * ENTRY;
        let Some(e) = self.map.get_mut(at..at + ENTRY) else {
            return false;
        };
        e[0..8].copy_from_slice(&slot.to_le_bytes());
        e[8..8 + SLOT].copy_from_slice(before);
        e[8 + SLOT..12 + SLOT].copy_from_slice(&entry_crc(self.epoch, slot, before).to_le_bytes());
        self.len += 1;
        true
    }
}

/// Maps `file`, made at least `len` bytes long first, its blocks allocated
/// (a store through a map into a hole on a full disk would be SIGBUS).
fn map_file(file: &File, len: usize) -> io::Result<MmapMut> {
    let have = file.metadata()?.len();
    if have < len as u64 {
        let len_off = libc::off_t::try_from(len).map_err(|_| io::Error::other("undo journal too large"))?;
        // SAFETY: a plain system call on an open descriptor.
        let r = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len_off) };
        if r != 0 {
            return Err(io::Error::from_raw_os_error(r));
        }
    }
    let len = (len as u64).max(have) as usize;
    // SAFETY: the file is ours (the directory lock keeps other processes
    // from writing it) and only grows while mapped.
    unsafe { MmapOptions::new().len(len).map_mut(file) }
}

/// Keeps the rule that the meta file on disk describes the table it goes
/// with, or will once the journal is undone: before any write to the
/// table's slots, either a journal naming that meta file records the
/// slot's bytes, or there is no meta file. The table holds it and calls
/// `before_write` for every slot it writes (`Table::slot_mut`), so the rule
/// holds whatever the caller does; the index says when a meta file is
/// written (`commit`) or must go (`invalidate`), and how much a checkpoint
/// will write (`prepare`).
pub struct MetaGuard {
    dir: PathBuf,
    durable: bool,
    /// The meta file on disk that describes the table, if one does.
    on_disk: Option<MetaId>,
    /// Mapped, and writing entries if `journaling`; kept between
    /// checkpoints so that its file need not be mapped again each time.
    journal: Option<Journal>,
    /// Every write is journaled: the journal's epoch names `on_disk`.
    journaling: bool,
}

impl MetaGuard {
    /// The guard of a table in `dir` that the meta file `on_disk` describes
    /// (none: no meta file describes it).
    pub fn new(dir: &Path, durable: bool, on_disk: Option<MetaId>) -> MetaGuard {
        MetaGuard {
            dir: dir.to_path_buf(),
            durable,
            on_disk,
            journal: None,
            journaling: false,
        }
    }

    /// Whether a meta file describes the table.
    pub fn described(&self) -> bool {
        self.on_disk.is_some()
    }

    /// Before the writes of a checkpoint, about `writes` slots, to the table
    /// of `generation` and `capacity`: begins the journal now (under the
    /// log's lock, where the meta file's removal used to be) and makes room.
    pub fn prepare(&mut self, generation: u64, capacity: u64, writes: usize) -> io::Result<()> {
        if self.on_disk.is_none() {
            return Ok(());
        }
        if !self.journaling {
            return self.begin(generation, capacity, writes);
        }
        if let Some(j) = self.journal.as_mut() {
            if j.reserve(writes).is_err() {
                // The journal cannot grow: no meta file then.
                return self.invalidate();
            }
        }
        Ok(())
    }

    /// Before slot `slot` of the table (of `generation` and `capacity`)
    /// changes from `before`. An error means the slot must not be written.
    pub fn before_write(&mut self, generation: u64, capacity: u64, slot: u64, before: &[u8; SLOT]) -> io::Result<()> {
        if self.on_disk.is_none() {
            return Ok(());
        }
        if !self.journaling {
            self.begin(generation, capacity, MIN_ROOM)?;
            if self.on_disk.is_none() {
                return Ok(());
            }
        }
        let j = self.journal.as_mut().expect("a journaling guard has its journal");
        // Full (a checkpoint wrote more than `prepare` said): it doubles,
        // up to its bound; past that, or if the file cannot grow, the meta
        // file goes, as it always did before a write without a journal.
        let recorded = j.record(slot, before) || (j.reserve(j.len.max(MIN_ROOM)).is_ok() && j.record(slot, before));
        if recorded {
            // The entry is stored before the slot is.
            compiler_fence(Ordering::SeqCst);
            return Ok(());
        }
        self.invalidate()
    }

    /// Begins an epoch naming the meta file on disk, or, if there can be
    /// no journal (no boot id, or its file fails), removes the meta file.
    fn begin(&mut self, generation: u64, capacity: u64, room: usize) -> io::Result<()> {
        let (Some(meta), Some(boot)) = (self.on_disk, boot_id()) else {
            return self.invalidate();
        };
        if room > MAX_ROOM {
            return self.invalidate();
        }
        let base = Base {
            generation,
            capacity,
            meta,
        };
        let begun = match self.journal.as_mut() {
            Some(j) => j.begin(&base, room, boot, self.durable),
            None => Journal::open(&self.dir, room, self.durable).and_then(|mut j| {
                j.begin(&base, room, boot, self.durable)?;
                self.journal = Some(j);
                Ok(())
            }),
        };
        match begun {
            Ok(()) => {
                self.journaling = true;
                Ok(())
            }
            Err(_) => {
                self.journal = None;
                self.invalidate()
            }
        }
    }

    /// Writes `meta`, the state the table now holds, as the meta file: the
    /// journal, which names the last one, is stale from then on. On an
    /// error the meta file is removed if it can be (no meta file describes
    /// the table then), and the error returned.
    pub fn commit(&mut self, meta: &Meta) -> io::Result<()> {
        match index_file::write_meta(&self.dir, meta, self.durable) {
            Ok(id) => {
                self.on_disk = Some(id);
                self.journaling = false;
                Ok(())
            }
            Err(e) => {
                let _ = self.invalidate();
                Err(e)
            }
        }
    }

    /// Removes the meta file: no meta file describes the table from now on.
    pub fn invalidate(&mut self) -> io::Result<()> {
        index_file::invalidate(&self.dir, self.durable)?;
        self.on_disk = None;
        self.journaling = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_of_another_epoch_or_cut_short_end_the_journal() {
        let base = Base {
            generation: 7,
            capacity: 1024,
            meta: 99,
        };
        let boot = [b'b'; BOOT_ID];
        let mut bytes = vec![0u8; HEADER + 3 * ENTRY];
        bytes[..HEADER_USED].copy_from_slice(&header(&base, 5, &boot));
        let put = |bytes: &mut Vec<u8>, n: usize, epoch: u64, slot: u64| {
            let at = HEADER + n * ENTRY;
            let before = [n as u8 + 1; SLOT];
            bytes[at..at + 8].copy_from_slice(&slot.to_le_bytes());
            bytes[at + 8..at + 8 + SLOT].copy_from_slice(&before);
            bytes[at + 8 + SLOT..at + 12 + SLOT].copy_from_slice(&entry_crc(epoch, slot, &before).to_le_bytes());
        };
        put(&mut bytes, 0, 5, 3);
        put(&mut bytes, 1, 5, 4);
        put(&mut bytes, 2, 4, 5);
        let Parsed::Undo(u) = parse(&bytes, &base, Some(&boot)) else {
            panic!("not read");
        };
        assert_eq!(
            u.iter().map(|e| e.0).collect::<Vec<_>>(),
            vec![3, 4],
            "an entry of epoch 4 read in epoch 5"
        );
        // Cut inside the second entry.
        let Parsed::Undo(u) = parse(&bytes[..HEADER + ENTRY + 20], &base, Some(&boot)) else {
            panic!("not read");
        };
        assert_eq!(u.len(), 1);
        assert_eq!(parse(&bytes, &base, Some(&[b'c'; BOOT_ID])), Parsed::Unknown);
        assert_eq!(parse(&bytes, &base, None), Parsed::Unknown);
        let other = Base { meta: 98, ..base };
        assert_eq!(parse(&bytes, &other, Some(&boot)), Parsed::Stale);
        for i in 0..HEADER_USED {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            assert_eq!(parse(&bad, &base, Some(&boot)), Parsed::Unknown, "flip at {i}");
        }
        assert_eq!(parse(&bytes[..HEADER_USED - 1], &base, Some(&boot)), Parsed::Unknown);
        // A header whose first word is not yet written: begun, nothing of
        // its epoch written.
        let mut begun = bytes.clone();
        begun[0..8].fill(0);
        assert_eq!(parse(&begun, &base, Some(&boot)), Parsed::Stale);
        // A flip in the first entry: the second, of the epoch, comes after
        // it, so this is damage, not an end.
        let mut bad = bytes.clone();
        bad[HEADER + 9] ^= 1;
        assert_eq!(parse(&bad, &base, Some(&boot)), Parsed::Unknown);
        // A slot past the table, with a good check: damage, not a journal.
        put(&mut bytes, 1, 5, 1024);
        assert_eq!(parse(&bytes, &base, Some(&boot)), Parsed::Unknown);
    }

    /// A checkpoint cut at any write, before or after that write's entry,
    /// in the middle of shifting a cluster back or not, is undone to the
    /// table the meta file describes, byte for byte; and a journal whose
    /// meta file was replaced is not applied.
    #[test]
    fn a_checkpoint_cut_at_any_write_is_undone_to_the_meta_files_table() {
        use super::super::index::Loc;
        use super::super::index_file::{Entry, MIN_CAPACITY, SLOTS_FILE};
        let meta = Meta::empty(1, MIN_CAPACITY);
        let snapshot = |path: &Path| fs::read(path).unwrap();
        let mut undone = 0;
        for seed in 1..=200u64 {
            let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let mut next = move || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(SLOTS_FILE);
            let mut t = Table::create(&path, MIN_CAPACITY, 1).unwrap();
            // Hashes over few home slots: long clusters to shift back.
            let hash = |n: u64| (n % 97) * 7 + (n << 20);
            let entry = |n: u64| Entry {
                loc: Loc::new(1, 64 + n),
                seq: n + 1,
                len: 40,
                has_meta: false,
            };
            for n in 0..600 {
                t.insert(hash(next() % 2000), &entry(n)).unwrap();
            }
            let id = index_file::write_meta(dir.path(), &meta, false).unwrap();
            let before = snapshot(&path);
            t.set_guard(MetaGuard::new(dir.path(), false, Some(id)));
            let journaled = seed % 2 == 0;
            t.stop_at(1 + next() % 400, journaled);
            let mut n = 1000;
            loop {
                let h = hash(next() % 2000);
                n += 1;
                let done = match next() % 3 {
                    0 => t.remove_all(h),
                    1 => t.replace_all(h, &[entry(n)]),
                    _ => t.replace_all(h, &[entry(n), entry(n + 5000)]),
                };
                if done.is_err() {
                    break;
                }
            }
            drop(t);
            let mut t = Table::open(&path, true).unwrap().unwrap();
            match restore(dir.path(), &mut t, id, false, false) {
                Restored::Table(n) => undone += n,
                Restored::Refused => panic!("seed {seed}: refused"),
            }
            drop(t);
            assert!(snapshot(&path) == before, "seed {seed}: not the meta file's table");
            assert!(!dir.path().join(UNDO_FILE).exists(), "the journal stays after its undo");
        }
        assert!(undone > 10_000, "{undone} slots written back");
    }

    /// Once the meta file of the table as written is on disk (`commit`),
    /// the journal is stale: an open undoes nothing.
    #[test]
    fn a_committed_checkpoint_is_not_undone() {
        use super::super::index::Loc;
        use super::super::index_file::{Entry, MIN_CAPACITY, SLOTS_FILE};
        let meta = Meta::empty(1, MIN_CAPACITY);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SLOTS_FILE);
        let mut t = Table::create(&path, MIN_CAPACITY, 1).unwrap();
        let id = index_file::write_meta(dir.path(), &meta, false).unwrap();
        let mut g = MetaGuard::new(dir.path(), false, Some(id));
        g.prepare(1, MIN_CAPACITY, 10).unwrap();
        t.set_guard(g);
        let e = Entry {
            loc: Loc::new(1, 64),
            seq: 1,
            len: 40,
            has_meta: false,
        };
        t.insert(7, &e).unwrap();
        t.guard_mut().unwrap().commit(&meta).unwrap();
        let written = fs::read(&path).unwrap();
        drop(t);
        let bytes = index_file::read_meta(dir.path()).unwrap().unwrap();
        let mut t = Table::open(&path, true).unwrap().unwrap();
        let new_id = index_file::meta_id(&bytes);
        assert_ne!(new_id, id, "two meta files of the same state are told apart");
        assert_eq!(restore(dir.path(), &mut t, new_id, false, false), Restored::Table(0));
        drop(t);
        assert!(fs::read(&path).unwrap() == written);
        // The old meta file's journal, had the new one not been written,
        // would have undone the insert.
        let mut t = Table::open(&path, true).unwrap().unwrap();
        assert_eq!(restore(dir.path(), &mut t, id, false, false), Restored::Table(1));
    }

    /// A checkpoint that would write more slots than a journal may hold
    /// removes the meta file instead of journaling them.
    #[test]
    fn a_checkpoint_past_the_journals_bound_removes_the_meta_file() {
        use super::super::index_file::MIN_CAPACITY;
        let dir = tempfile::tempdir().unwrap();
        let id = index_file::write_meta(dir.path(), &Meta::empty(1, MIN_CAPACITY), false).unwrap();
        let mut g = MetaGuard::new(dir.path(), false, Some(id));
        g.prepare(1, MIN_CAPACITY, 100).unwrap();
        assert!(g.described() && dir.path().join(index_file::META_FILE).exists());
        g.prepare(1, MIN_CAPACITY, MAX_ROOM + 1).unwrap();
        assert!(!g.described(), "described past the bound");
        assert!(!dir.path().join(index_file::META_FILE).exists());
        let len = fs::metadata(dir.path().join(UNDO_FILE)).unwrap().len();
        assert!(len < 1 << 20, "the journal grew to {len} bytes");
    }
}
