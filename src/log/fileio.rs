//! The file layer: every system call the log makes on its files and
//! directory goes through these functions, so that tests can make the Nth
//! write, fsync, set_len, rename, map, create or remove fail with ENOSPC or
//! EIO, once or from then on (`inject`).
//!
//! With no plan injected the only cost is one relaxed atomic load per call,
//! next to a system call. Plans are keyed by directory, so tests running in
//! parallel threads on different directories do not disturb each other.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use memmap2::{Mmap, MmapOptions};
use parking_lot::Mutex;

/// A kind of file operation that can be made to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Write,
    Sync,
    SetLen,
    Rename,
    Map,
    Create,
    Remove,
    /// Reserving disk blocks past a file's end, or letting them go
    /// (`reserve`, `release_reserved`): advice, whose failure the caller
    /// ignores.
    Reserve,
    /// Starting a file's write-back early (`write_back`): advice too.
    WriteBack,
    /// In a plan: every kind above, counted together.
    Any,
}

impl Op {
    pub const ALL: [Op; 9] = [
        Op::Write,
        Op::Sync,
        Op::SetLen,
        Op::Rename,
        Op::Map,
        Op::Create,
        Op::Remove,
        Op::Reserve,
        Op::WriteBack,
    ];
}

/// Makes operations of one kind fail under one directory.
#[derive(Debug, Clone)]
pub struct Plan {
    pub op: Op,
    /// The first call that fails (1: the next one).
    pub nth: u64,
    /// Whether every later call of this kind fails too.
    pub persistent: bool,
    /// The OS error to report, e.g. `libc::ENOSPC` or `libc::EIO`; 0 aborts
    /// the process instead, as a crash at that very step would.
    pub errno: i32,
}

struct Armed {
    dir: PathBuf,
    plan: Plan,
    seen: u64,
}

static ACTIVE: AtomicBool = AtomicBool::new(false);
static PLANS: Mutex<Vec<Armed>> = Mutex::new(Vec::new());

/// Arms `plan` for every file under `dir` (test support; not for production use).
#[doc(hidden)]
pub fn inject(dir: &Path, plan: Plan) {
    let mut plans = PLANS.lock();
    plans.push(Armed {
        dir: dir.to_path_buf(),
        plan,
        seen: 0,
    });
    ACTIVE.store(true, Ordering::Release);
}

/// Disarms every plan under `dir`: the disk "comes back".
#[doc(hidden)]
pub fn heal(dir: &Path) {
    let mut plans = PLANS.lock();
    plans.retain(|a| a.dir != dir);
    ACTIVE.store(!plans.is_empty(), Ordering::Release);
}

/// How many calls of `op` under `dir` the plans armed there for `op`
/// counted (test support: a plan whose `nth` is `u64::MAX` only counts).
#[doc(hidden)]
pub fn seen(dir: &Path, op: Op) -> u64 {
    PLANS
        .lock()
        .iter()
        .filter(|a| a.dir == dir && a.plan.op == op)
        .map(|a| a.seen)
        .sum()
}

/// Counts calls of `op` on `path` and says whether this one must fail.
fn check(path: &Path, op: Op) -> io::Result<()> {
    if !ACTIVE.load(Ordering::Acquire) {
        return Ok(());
    }
    let mut plans = PLANS.lock();
    for a in plans.iter_mut() {
        if (a.plan.op == op || a.plan.op == Op::Any) && path.starts_with(&a.dir) {
            a.seen += 1;
            if a.seen == a.plan.nth || (a.plan.persistent && a.seen > a.plan.nth) {
                if a.plan.errno == 0 {
                    std::process::abort();
                }
                return Err(io::Error::from_raw_os_error(a.plan.errno));
            }
        }
    }
    Ok(())
}

/// One positioned write. An injected failure first writes half the buffer,
/// as a full disk does.
pub fn write_at(file: &File, path: &Path, buf: &[u8], offset: u64) -> io::Result<usize> {
    if let Err(e) = check(path, Op::Write) {
        let _ = file.write_at(&buf[..buf.len() / 2], offset);
        return Err(e);
    }
    file.write_at(buf, offset)
}

/// One positioned write of several buffers, one after another (`pwritev`):
/// a record written around the append buffer (`Store::append`). Like
/// `write_at`, an injected failure first writes half of the bytes.
pub fn write_vectored_at(file: &File, path: &Path, parts: &[&[u8]], offset: u64) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    if let Err(e) = check(path, Op::Write) {
        let mut half = parts.iter().map(|p| p.len()).sum::<usize>() / 2;
        let mut at = offset;
        for p in parts {
            let n = half.min(p.len());
            let _ = file.write_at(&p[..n], at);
            (half, at) = (half - n, at + n as u64);
        }
        return Err(e);
    }
    let iov: Vec<libc::iovec> = parts
        .iter()
        .map(|p| libc::iovec {
            iov_base: p.as_ptr() as *mut libc::c_void,
            iov_len: p.len(),
        })
        .collect();
    // SAFETY: every iovec points at a live slice of its length, which
    // pwritev only reads; the fd is open for as long as `file` is.
    let n = unsafe {
        libc::pwritev(
            file.as_raw_fd(),
            iov.as_ptr(),
            iov.len() as libc::c_int,
            offset as libc::off_t,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

pub fn sync_data(file: &File, path: &Path) -> io::Result<()> {
    check(path, Op::Sync)?;
    file.sync_data()
}

/// Writes a shared writable map of the file at `path` back and waits for
/// it (msync): the file's fsync, as far as the map's pages go.
pub fn sync_map(map: &memmap2::MmapMut, path: &Path) -> io::Result<()> {
    check(path, Op::Sync)?;
    map.flush()
}

/// Starts writing `len` bytes of `file` from `offset` (`len` 0: to its
/// end) back to the disk, and returns without waiting for them
/// (`sync_file_range` with `SYNC_FILE_RANGE_WRITE`): a later fsync of the
/// file then has less to write. Not an fsync: it makes nothing durable,
/// flushes no disk cache, and reports no write-back error (the next fsync
/// does).
pub fn write_back(file: &File, path: &Path, offset: u64, len: u64) -> io::Result<()> {
    check(path, Op::WriteBack)?;
    sync_file_range(file, offset, len, libc::SYNC_FILE_RANGE_WRITE)
}

/// Writes `len` bytes of `file` from `offset` back to the disk and waits
/// for them (`sync_file_range` with `SYNC_FILE_RANGE_WAIT_BEFORE`, `WRITE`
/// and `WAIT_AFTER`): part of an fsync, done a range at a time, that an
/// fsync must still finish (it flushes the disk's cache and the file's
/// metadata). Unlike `write_back` it reports a write-back error, and takes
/// it away from the fsync that follows: the caller must treat its failure
/// as that fsync's.
pub fn write_back_and_wait(file: &File, path: &Path, offset: u64, len: u64) -> io::Result<()> {
    check(path, Op::Sync)?;
    sync_file_range(
        file,
        offset,
        len,
        libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE | libc::SYNC_FILE_RANGE_WAIT_AFTER,
    )
}

fn sync_file_range(file: &File, offset: u64, len: u64, flags: libc::c_uint) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let off = |n: u64| libc::off64_t::try_from(n).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG));
    // SAFETY: sync_file_range on a descriptor open for as long as `file`
    // is; it touches no memory of this process.
    if unsafe { libc::sync_file_range(file.as_raw_fd(), off(offset)?, off(len)?, flags) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub fn set_len(file: &File, path: &Path, len: u64) -> io::Result<()> {
    check(path, Op::SetLen)?;
    file.set_len(len)
}

/// Reserves disk blocks for the first `len` bytes of `file` without
/// changing its length (`fallocate` with `FALLOC_FL_KEEP_SIZE`): writes
/// into them later find their blocks allocated. Some file systems cannot;
/// the caller goes on without.
pub fn reserve(file: &File, path: &Path, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    check(path, Op::Reserve)?;
    let len = libc::off_t::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    // SAFETY: fallocate on a descriptor open for as long as `file` is; it
    // touches no memory of this process.
    if unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, 0, len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Lets go of the blocks `reserve` took past the end of `file`: cut to the
/// length it has, it keeps every byte. ext4 frees what lies past the end
/// on any cut, even one to the same length (checked: `segment.rs`'s tests
/// assert it where blocks are reserved); a file system that kept them
/// would give them back when the file is deleted.
pub fn release_reserved(file: &File, path: &Path) -> io::Result<()> {
    check(path, Op::Reserve)?;
    file.set_len(file.metadata()?.len())
}

pub fn rename(from: &Path, to: &Path) -> io::Result<()> {
    check(to, Op::Rename)?;
    fs::rename(from, to)
}

pub fn remove(path: &Path) -> io::Result<()> {
    check(path, Op::Remove)?;
    fs::remove_file(path)
}

/// Checks that `path` may be created; the caller opens it.
pub fn create(path: &Path) -> io::Result<()> {
    check(path, Op::Create)
}

/// Maps `len` bytes of `file`, which may be more than it holds.
pub fn map(file: &File, path: &Path, len: u64) -> io::Result<Mmap> {
    check(path, Op::Map)?;
    // SAFETY: the cache directory is locked by this handle and private to
    // its owner, so nothing else truncates the file under the map; callers
    // never read past the file's end (see `Segment::bytes`).
    unsafe { MmapOptions::new().len(len as usize).map(file) }
}

/// fsyncs a directory, so that files created, renamed or deleted in it stay so.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    check(dir, Op::Sync)?;
    File::open(dir)?.sync_all()
}

/// Puts `bytes` at `dest` in `dir` as a whole or not at all: written to
/// `tmp`, fsynced, renamed to `dest`, then the directory fsynced (the fsyncs
/// only if `durable`). The file gets mode 0600. On failure `tmp` is removed
/// and `dest` is as it was.
pub fn replace(dir: &Path, tmp: &Path, dest: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    write_renamed(tmp, dest, bytes, durable)?;
    if durable {
        sync_dir(dir)?;
    }
    Ok(())
}

/// `replace` but for the directory's fsync, which is left to the caller:
/// `bytes` written to a new file `tmp` (mode 0600, fsynced if `durable`)
/// and renamed to `dest`. Returns the new file, open for reading and
/// writing. On failure `tmp` is removed and `dest` is as it was.
pub fn write_renamed(tmp: &Path, dest: &Path, bytes: &[u8], durable: bool) -> io::Result<File> {
    let f = write_new(tmp, bytes, durable)?;
    rename(tmp, dest).inspect_err(|_| {
        let _ = fs::remove_file(tmp);
    })?;
    Ok(f)
}

/// `bytes` written to a new file `path` (mode 0600, replacing any file of
/// that name; fsynced if `durable`). Returns the file, open for reading and
/// writing. On failure `path` is removed.
pub fn write_new(path: &Path, bytes: &[u8], durable: bool) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    create(path)?;
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    let result = (|| {
        let mut done = 0;
        while done < bytes.len() {
            done += write_at(&f, path, &bytes[done..], done as u64)?;
        }
        if durable {
            sync_data(&f, path)?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(f),
        Err(e) => {
            let _ = fs::remove_file(path);
            Err(e)
        }
    }
}
