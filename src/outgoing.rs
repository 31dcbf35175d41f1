//! Remote writes on their way to the server, and the rule that keeps a
//! process from storing what it read from the remote tier while one of its
//! own writes of the same shard is on its way.
//!
//! A write's local half (L1, L2) is made under its shard's lock; its remote
//! half is sent after the lock is let go, one round trip later. In between,
//! a get of the key on another thread of the process may miss locally (a
//! removal left nothing there; a put's value was evicted) and read the
//! server's copy from before the write. Stored in L1, that copy would stay
//! for good: a process never hears the invalidation of its own write. The
//! shard's write counter (`Shard::seq`) cannot see this, because the local
//! half was made before the miss.
//!
//! So the write is an `Outgoing`, begun under the shard's lock together with
//! the local half (the shard counts it: `Shard::sending`), and ended when the
//! round trip is back, failed or not (`Shard::sent`, which refuses every
//! remote answer read before it and cancels the loads that may be reading
//! one). While any is on its way, the shard stores no answer read from the
//! remote tier (`Shard::takes_remote`); the caller still gets it, since the
//! write has not returned and the get may take effect before it. A whole-
//! cache removal (`remove_prefix`, `remove_tag`, `clear`) is outgoing in
//! every shard.
//!
//! This type keeps the count: it is begun only with the shard locked (it
//! takes the shard), and it ends exactly once, when it is dropped. It must
//! be dropped with no shard lock held (`Cache::send` does). A panic between
//! its beginning and its end leaves the count up (ending it would lock a
//! shard the unwinding thread may hold): the shard then stores no remote
//! answer again, which costs hits, never a stale value.

use crate::memory::{Memory, Shard};
use crate::remote::Write;

/// Remote writes begun under their shards' locks, and the shards to tell
/// when they are back.
#[must_use = "dropping it ends the writes: send them first (Cache::send)"]
pub struct Outgoing<'a> {
    memory: &'a Memory,
    writes: Vec<Write>,
    ends: Vec<End>,
}

/// What a write's end tells: the shard of one key, or every shard.
enum End {
    Key(u64, Box<[u8]>),
    All,
}

impl<'a> Outgoing<'a> {
    /// Nothing on its way (no remote tier, or nothing to send).
    pub fn none(memory: &'a Memory) -> Outgoing<'a> {
        Outgoing {
            memory,
            writes: Vec::new(),
            ends: Vec::new(),
        }
    }

    /// A remote write of `key` (hash `h`), begun under its shard's lock with
    /// the write's local half. `write` is `None` for a remote change sent by
    /// other means (a touch). Nothing begins without a remote tier: the
    /// caller passes `remote` as whether there is one.
    pub fn key(memory: &'a Memory, shard: &mut Shard, h: u64, key: &[u8], write: Option<Write>, remote: bool) -> Self {
        let mut out = Outgoing::none(memory);
        if remote {
            shard.sending();
            out.ends.push(End::Key(h, key.into()));
            out.writes.extend(write);
        }
        out
    }

    /// A remote removal of many keys, begun with every shard locked.
    pub fn all(memory: &'a Memory, shards: &mut [crate::memory::ShardGuard<'_>], remote: bool) -> Self {
        let mut out = Outgoing::none(memory);
        if remote {
            for shard in shards.iter_mut() {
                shard.sending();
            }
            out.ends.push(End::All);
        }
        out
    }

    /// Takes `other`'s writes along, to be sent in the same round trip.
    pub fn absorb(&mut self, mut other: Outgoing<'a>) {
        self.writes.append(&mut other.writes);
        self.ends.append(&mut other.ends);
    }

    /// The writes to send.
    pub fn writes(&self) -> &[Write] {
        &self.writes
    }

    /// Changes the writes before they are sent (a put whose local half
    /// failed is sent as a removal).
    pub fn writes_mut(&mut self) -> &mut [Write] {
        &mut self.writes
    }
}

impl Drop for Outgoing<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        for end in self.ends.drain(..) {
            match end {
                End::Key(h, key) => self.memory.lock(h).sent(Some(&key)),
                End::All => self.memory.for_each_shard(|s| s.sent(None)),
            }
        }
    }
}
