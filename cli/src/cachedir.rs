//! Opening a cache directory from the command line.
//!
//! Every command but `put` works on a directory that already is a cache
//! directory: it must exist and hold a `LOCK` file or a segment file
//! (`NNNNNNNNNN.tcl`), so that a mistyped path is reported instead of being
//! turned into an empty cache (which is what `Cache::open` would do).
//!
//! Commands that only look (`stats`, `dump`, `get`) open the directory
//! read-only, which changes nothing in it: no torn tail is cut, no hint
//! rewritten, no background compaction. Commands that write open it the way
//! an application does, with one difference: no bound on L2 (the tool does
//! not know the bound the owning application uses, and opening with a
//! smaller one would retire segments). Either way the directory's lock is
//! taken, so a directory in use by a running application is refused with one
//! line saying so.

use std::fs;
use std::path::Path;

use tiercache::{Cache, Options};

use crate::failure::Failure;

/// Whether the directory may be created if it is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    No,
    IfMissing,
}

/// The options the tool opens a directory with to change it.
/// With the encryption key and codec given (`atrest`).
pub fn options(dir: &Path) -> Options {
    let mut opts = Options::with_dir(dir);
    opts.l2_max_bytes = 0;
    crate::atrest::apply(&mut opts);
    opts
}

/// Opens the cache in `dir` to change it (see the module's doc for the checks).
pub fn open(dir: &Path, create: Create) -> Result<Cache, Failure> {
    if create == Create::No || dir.exists() {
        check_existing(dir, create)?;
    }
    Ok(Cache::open(&options(dir))?)
}

/// Opens the cache in `dir` only to look inside: nothing in it changes.
pub fn open_read_only(dir: &Path) -> Result<Cache, Failure> {
    open_read_only_with(dir, |_| Ok(()))
}

/// `open_read_only`, with more options set by `more` (a remote tier).
pub fn open_read_only_with(
    dir: &Path,
    more: impl FnOnce(&mut tiercache::Options) -> tiercache::Result<()>,
) -> Result<Cache, Failure> {
    check_existing(dir, Create::No)?;
    let mut opts = options(dir);
    opts.read_only = true;
    more(&mut opts)?;
    Ok(Cache::open(&opts)?)
}

/// Fails unless `dir` exists and, unless it may be made a cache, looks like
/// a cache directory.
pub fn check_existing(dir: &Path, create: Create) -> Result<(), Failure> {
    let meta = match fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Failure::error(format!("{}: no such directory", dir.display())))
        }
        Err(e) => return Err(Failure::io(dir.display(), e)),
    };
    if !meta.is_dir() {
        return Err(Failure::error(format!("{}: not a directory", dir.display())));
    }
    if create == Create::IfMissing {
        return Ok(());
    }
    let entries = fs::read_dir(dir).map_err(|e| Failure::io(format!("list {}", dir.display()), e))?;
    let is_cache_file = |name: &str| name == "LOCK" || name == tiercache::log::KEYCHECK_FILE || is_segment_name(name);
    if entries
        .flatten()
        .any(|e| e.file_name().to_str().is_some_and(is_cache_file))
    {
        Ok(())
    } else {
        Err(Failure::error(format!(
            "{}: not a tiercache directory (no LOCK or segment files); `tiercache put` creates one",
            dir.display()
        )))
    }
}

/// Segment files are named by a ten-digit id: `0000000001.tcl`.
fn is_segment_name(name: &str) -> bool {
    name.strip_suffix(".tcl")
        .is_some_and(|id| id.len() == 10 && id.bytes().all(|b| b.is_ascii_digit()))
}
