//! What an invalidation from the remote tier does to this process's L1 and
//! L2: the keys another process wrote, removed or cleared are dropped here,
//! as a removal would drop them, and any load of them in flight is
//! cancelled (its answer is not stored, `Shard::wrote`), so that a value
//! read before the invalidation cannot land after it.
//!
//! Nothing here talks to the server, and nothing is published: these drops
//! are the echo of a write made elsewhere. The lock order is the cache's
//! (a shard, then the log).

use std::sync::Arc;

use crate::clock::Clock;
use crate::log::{KeyHasher, Log};
use crate::memory::{Evicted, Memory, Resident, ShardGuard};

/// This process's tiers, as the remote tier's subscriber sees them.
pub struct Local {
    /// The cache's key hasher (keyed in an encrypted directory).
    pub hasher: KeyHasher,
    pub memory: Arc<Memory>,
    pub log: Option<Arc<Log>>,
    pub clock: Clock,
}

impl Local {
    /// The cache's clock now (entries' write times are on it).
    pub fn now(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Drops one key from L1 and L2.
    pub fn drop_key(&self, key: &[u8]) {
        let h = self.hasher.hash(key);
        let mut shard = self.memory.lock(h);
        shard.wrote(key);
        let dirty = shard.remove(h, key).is_some_and(|e| e.dirty);
        if let Some(log) = &self.log {
            if dirty {
                // A dirty entry's older value on disk must not come back.
                log.supersede(key, h);
            } else {
                let _ = log.remove(key, h, self.now());
            }
        }
    }

    /// Drops every key under `prefix`.
    pub fn drop_prefix(&self, prefix: &[u8]) {
        self.drop_where(
            |k| k.starts_with(prefix),
            |k, _| k.starts_with(prefix),
            |log, now| drop(log.remove_prefix(prefix, now)),
        );
    }

    /// Drops every entry carrying `tag` (and cancels every load: which keys
    /// will carry the tag is not known before they land).
    pub fn drop_tag(&self, tag: &[u8]) {
        self.drop_where(
            |_| true,
            |_, e| e.meta.as_ref().is_some_and(|m| m.has_tag(tag)),
            |log, now| drop(log.remove_tag(tag, now)),
        );
    }

    /// Drops everything (the namespace was cleared).
    pub fn drop_all(&self) {
        self.drop_where(|_| true, |_, _| true, |log, _| log.clear());
    }

    /// With every shard locked: cancels the loads `loads` picks, drops the
    /// L1 entries `in_memory` picks, and lets `on_disk` drop L2's. A dirty
    /// entry dropped from L1 gets a tombstone on disk, so that an older
    /// value there does not come back in its place.
    fn drop_where(
        &self,
        loads: impl Fn(&[u8]) -> bool,
        in_memory: impl Fn(&[u8], &Resident) -> bool,
        on_disk: impl FnOnce(&Log, u64),
    ) {
        let now = self.now();
        let mut shards: Vec<ShardGuard<'_>> = self.memory.lock_all();
        let mut dirty: Vec<Evicted> = Vec::new();
        for shard in shards.iter_mut() {
            shard.hid();
            for k in shard.loading(&loads) {
                shard.wrote(&k);
            }
            dirty.extend(
                shard
                    .remove_where(|k, e| in_memory(k, e))
                    .into_iter()
                    .filter(|(_, e)| e.dirty),
            );
        }
        if let Some(log) = &self.log {
            on_disk(log, now);
            for (k, _) in dirty {
                log.supersede(&k, self.hasher.hash(&k));
            }
        }
        drop(shards);
    }
}
