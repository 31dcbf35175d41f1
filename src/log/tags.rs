//! The tag index: for each tag, the hashes of the keys whose records carry
//! it, so that removing a tag reads only the records that may have it.
//!
//! Only tagged entries cost anything here (the key index holds no tags).
//! Hashes are added when a tagged put is appended and, at open, for every
//! live record whose hint entry says it has metadata. They are not taken out
//! when a key is overwritten or removed: a removal of the tag reads each
//! candidate's live record and acts only if that record still carries the
//! tag; the stale hashes go then, or at the next open. The index is guarded
//! by the log's lock, like the key index.

use std::collections::{HashMap, HashSet};

#[derive(Default)]
pub struct TagIndex {
    map: HashMap<Box<[u8]>, HashSet<u64>>,
}

impl TagIndex {
    /// The key with hash `h` was put with `tags`.
    pub fn add(&mut self, tags: &[Box<[u8]>], h: u64) {
        for t in tags {
            self.map.entry(t.clone()).or_default().insert(h);
        }
    }

    /// The hashes of keys that may carry `tag`, forgotten here.
    pub fn take(&mut self, tag: &[u8]) -> HashSet<u64> {
        self.map.remove(tag).unwrap_or_default()
    }

    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// Tags known, and (tag, key) pairs held: for the statistics.
    pub fn sizes(&self) -> (u64, u64) {
        (self.map.len() as u64, self.map.values().map(|s| s.len() as u64).sum())
    }
}
