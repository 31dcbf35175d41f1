//! The writes this process could not send to the server (made while the
//! tier was not ok), which the next resync must reconcile: the keys, or
//! the whole namespace. And, for a cache with a directory, a mark in it
//! that outlives the process.
//!
//! The list is in memory: a process that ends before it can reach the
//! server (killed, or closed while cut off) takes it along, and the values
//! its writes replaced stay in the server for the whole fleet. A cache with
//! a directory leaves a file there (`remote-pending-<crc32 of the
//! namespace, 8 hex digits>`, holding the namespace) from the first write
//! it could not send until a resync has reconciled them all; a later open
//! of the directory that finds it for its namespace reconciles the whole
//! namespace (clears it: which keys were written is not kept, so nothing
//! about them can leak or be read back wrong) before its tier is ok. The
//! file is created with a plain write, no fsync: it survives the process's
//! death, not the machine's (like the log's writes under `TC_SYNC_NEVER`).
//!
//! Until a key is reconciled, the server's copy of it may predate this
//! process's write, and this process would never hear of its replacement
//! (its own reconciling tombstone's invalidation does not reach it): the
//! remote tier is not read for a key the list covers (`covers`), from the
//! write until the end of the resync that reconciled it.

use std::collections::HashSet;
use std::path::PathBuf;

/// Beyond this many keys, the reconnect clears the namespace instead.
const MAX_KEYS: usize = 100_000;

/// What to reconcile at the next resync (`Remote::resync` takes it).
#[derive(Default, Clone)]
pub(super) struct Writes {
    pub keys: HashSet<Box<[u8]>>,
    /// Too many keys, a removal of many, or a mark left by an earlier
    /// process: the resync clears the namespace.
    pub everything: bool,
}

impl Writes {
    pub fn is_empty(&self) -> bool {
        !self.everything && self.keys.is_empty()
    }
}

/// The list, and the mark in the directory while it is not empty.
pub(super) struct Pending {
    writes: Writes,
    /// The mark's path and the namespace it holds (`None`: no directory,
    /// or a read-only open, which never writes there).
    mark: Option<(PathBuf, Vec<u8>)>,
    /// Whether the mark is (believed to be) on disk.
    marked: bool,
    /// What the resync in progress took (`take`), until it ends (`settle`,
    /// `put_back`): still covered.
    reconciling: Writes,
}

impl Pending {
    /// The list for a cache of `namespace` in `dir` (if any): everything,
    /// if an earlier process left its mark there.
    pub fn open(dir: Option<&std::path::Path>, read_only: bool, namespace: &[u8]) -> Pending {
        let mark = dir.filter(|_| !read_only).map(|d| {
            let name = format!("remote-pending-{:08x}", crc32fast::hash(namespace));
            (d.join(name), namespace.to_vec())
        });
        let left = mark
            .as_ref()
            .is_some_and(|(path, ns)| std::fs::read(path).is_ok_and(|held| held == *ns));
        Pending {
            writes: Writes {
                keys: HashSet::new(),
                everything: left,
            },
            mark,
            marked: left,
            reconciling: Writes::default(),
        }
    }

    /// Adds `key` (or, past `MAX_KEYS`, the namespace).
    pub fn key(&mut self, key: &[u8]) {
        if self.writes.keys.len() >= MAX_KEYS {
            self.everything();
        } else if !self.writes.everything {
            self.writes.keys.insert(key.into());
            self.leave_mark();
        }
    }

    pub fn everything(&mut self) {
        self.writes.everything = true;
        self.writes.keys.clear();
        self.leave_mark();
    }

    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Whether the server's copy of `key` may predate a write of this
    /// process that it has not seen: listed, or being reconciled.
    pub fn covers(&self, key: &[u8]) -> bool {
        [&self.writes, &self.reconciling]
            .iter()
            .any(|w| w.everything || w.keys.contains(key))
    }

    /// The list, for a resync to reconcile; the mark stays until `settle`,
    /// and what it took stays covered until then (or until `put_back`).
    pub fn take(&mut self) -> Writes {
        self.reconciling = std::mem::take(&mut self.writes);
        self.reconciling.clone()
    }

    /// Puts back what a resync could not reconcile.
    pub fn put_back(&mut self, w: Writes) {
        self.reconciling = Writes::default();
        if w.everything {
            self.everything();
        } else {
            for k in w.keys.iter() {
                self.key(k);
            }
        }
    }

    /// After a resync reconciled what it took: the mark goes if nothing was
    /// added since.
    pub fn settle(&mut self) {
        self.reconciling = Writes::default();
        if self.marked && self.is_empty() {
            if let Some((path, _)) = &self.mark {
                if std::fs::remove_file(path).is_ok() || !path.exists() {
                    self.marked = false;
                }
            }
        }
    }

    fn leave_mark(&mut self) {
        if self.marked {
            return;
        }
        if let Some((path, ns)) = &self.mark {
            // Best effort: a mark that cannot be written leaves the list in
            // memory only, as for a cache without a directory.
            self.marked = std::fs::write(path, ns).is_ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marks(dir: &std::path::Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("remote-pending-"))
            .collect()
    }

    #[test]
    fn the_mark_lives_from_the_first_write_until_a_settle_finds_nothing_left() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = Pending::open(Some(dir.path()), false, b"ns");
        assert!(p.is_empty() && marks(dir.path()).is_empty(), "nothing yet: no mark");
        p.key(b"k");
        assert_eq!(marks(dir.path()).len(), 1);
        let took = p.take();
        assert!(took.keys.contains(&b"k"[..]));
        p.key(b"during"); // a write between the resync's take and its end
        p.settle();
        assert_eq!(marks(dir.path()).len(), 1, "what came meanwhile keeps the mark");
        let _ = p.take();
        p.settle();
        assert!(marks(dir.path()).is_empty(), "all reconciled: the mark goes");
    }

    #[test]
    fn a_mark_left_behind_is_everything_for_its_namespace_only() {
        let dir = tempfile::tempdir().unwrap();
        Pending::open(Some(dir.path()), false, b"ns").key(b"k"); // ends unreconciled
        let again = Pending::open(Some(dir.path()), false, b"ns");
        assert!(again.writes.everything, "the next open reconciles the namespace");
        let other = Pending::open(Some(dir.path()), false, b"other");
        assert!(other.is_empty(), "another namespace's mark is not this one's");
        let read_only = Pending::open(Some(dir.path()), true, b"ns");
        assert!(read_only.is_empty(), "a read-only open never acts on the directory");
        let mut again = again;
        let _ = again.take();
        again.settle();
        assert!(marks(dir.path()).is_empty());
    }

    #[test]
    fn what_a_failed_resync_puts_back_is_kept_and_marked() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = Pending::open(Some(dir.path()), false, b"ns");
        p.key(b"a");
        let took = p.take();
        p.put_back(took);
        p.settle();
        assert!(!p.is_empty());
        assert_eq!(marks(dir.path()).len(), 1);
        p.everything();
        let took = p.take();
        assert!(took.everything && took.keys.is_empty());
        p.put_back(took);
        assert!(p.writes.everything);
    }

    #[test]
    fn a_key_is_covered_from_its_write_until_the_resync_that_reconciled_it_ends() {
        let mut p = Pending::open(None, false, b"ns");
        assert!(!p.covers(b"k"));
        p.key(b"k");
        assert!(p.covers(b"k") && !p.covers(b"other"));
        let took = p.take();
        assert!(p.covers(b"k"), "while the resync reconciles it");
        p.put_back(took);
        assert!(p.covers(b"k"), "a failed resync keeps it");
        let _ = p.take();
        p.key(b"during");
        p.settle();
        assert!(!p.covers(b"k"), "reconciled");
        assert!(p.covers(b"during"), "written while the resync ran: the next one's");
        p.everything();
        assert!(p.covers(b"any"));
        let _ = p.take();
        assert!(p.covers(b"any"));
        p.settle();
        assert!(!p.covers(b"any"));
    }

    #[test]
    fn without_a_directory_nothing_is_written() {
        let mut p = Pending::open(None, false, b"ns");
        p.key(b"k");
        assert!(!p.is_empty());
        assert!(!p.marked);
    }
}
