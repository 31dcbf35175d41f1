//! The shared remote tier: Redis or Valkey (standalone or cluster) between
//! L2 and the loader, for a fleet of processes that share one namespace.
//!
//! This module owns everything that talks to the server: the connections
//! (a small pool, each with the configured timeout), the health of the tier
//! (ok, or degraded while the server is unreachable, with the reason), the
//! key layout in Redis, the writes (a Lua script that keeps only the newest
//! version of a key and publishes the invalidation in the same round trip),
//! the fleet-wide load lock, and the namespace generation that makes a clear
//! O(1). It never touches L1 or L2: what an invalidation does to them is
//! `invalidate::Local`'s, and when it is done is the subscriber's
//! (`subscriber`). It never blocks a call for longer than the timeout (plus a
//! connect): while degraded, every operation returns at once without the
//! network, and the subscriber thread reconnects with backoff.
//!
//! Layout in Redis, for a namespace `ns` (hex-encoded in names):
//! - `tc:<ns>:k:<key>`: the framed value (or tombstone) of a key (`frame`);
//! - `tc:<ns>:gen`: the namespace generation (an integer, absent = 0);
//! - `{tc:<ns>:gen}id`: the server's identity when the namespace was last
//!   cleared for a change of it (`identity`; the hash tag keeps it in the
//!   generation's cluster slot, so one script reads and writes both);
//! - `tc:<ns>:l:<key>`: the fleet-wide load lock of a key (`SET NX PX`);
//! - `tc:<ns>:t:<tag>`: a set of the keys written with that tag (members:
//!   `<key>` as it appears in `tc:<ns>:k:<key>`);
//! - channel `tc:<ns>:inv`: invalidations (`Message`).
//!
//! With an encryption key, `<key>` and `<tag>` are keyed hashes
//! (`frame::Sealer::name`), frames and messages are encrypted: no key, tag
//! or value reaches the server in the clear. A prefix then cannot be found
//! by a name pattern: `remove_prefix` reads and decrypts every frame of the
//! namespace instead.

pub mod frame;
mod identity;
mod pending;
pub mod subscriber;
pub mod url;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use redis::{ConnectionLike, RedisResult};

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::meta::Meta;
use crate::stats::Counters;
use frame::{Frame, Sealer};
use url::Target;

/// `remote_state`: no remote tier configured.
pub const REMOTE_NONE: u32 = 0;
/// `remote_state`: connected and subscribed.
pub const REMOTE_OK: u32 = 1;
/// `remote_state`: unreachable or failing; calls go on without it.
pub const REMOTE_DEGRADED: u32 = 2;

/// The default timeout of one remote operation.
pub const DEFAULT_TIMEOUT_MS: u64 = 250;
/// The default lifetime of a fleet-wide load lock.
pub const DEFAULT_LOCK_MS: u64 = 10_000;
/// The default namespace.
pub const DEFAULT_NAMESPACE: &[u8] = b"tiercache";
/// The longest namespace accepted.
pub const MAX_NAMESPACE_LEN: usize = 255;
/// The shortest secret accepted.
pub const MIN_SECRET_LEN: usize = 16;
/// The largest frame written unless the server says otherwise: Redis
/// refuses a bulk string over its `proto-max-bulk-len`, 512 MiB by default
/// (read from the server at each resync when it lets us). A larger value
/// stays local, and its key is removed remotely.
pub const MAX_FRAME_LEN: u64 = 512 << 20;
/// How long a tombstone stays in Redis: longer than any write of the key
/// that it must win against can be in flight.
const TOMBSTONE_MS: u64 = 10 * 60 * 1000;

/// The secret remote values are signed with; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// Checks a namespace (`tc_options_set_remote_namespace`).
pub fn check_namespace(ns: &[u8]) -> Result<()> {
    if ns.is_empty() || ns.len() > MAX_NAMESPACE_LEN {
        return Err(Error::invalid(format!(
            "namespace: {} bytes is outside 1..={MAX_NAMESPACE_LEN}",
            ns.len()
        )));
    }
    Ok(())
}

/// Checks a secret (`tc_options_set_remote_secret`).
pub fn check_secret(secret: &[u8]) -> Result<()> {
    if secret.len() < MIN_SECRET_LEN {
        return Err(Error::invalid(format!(
            "secret: {} bytes is under the minimum of {MIN_SECRET_LEN}",
            secret.len()
        )));
    }
    Ok(())
}

/// A test hook (`Remote::around_ok`): called with `false` just before the
/// tier is marked ok, and with `true` just after.
pub type OkHook = Arc<dyn Fn(bool) + Send + Sync>;

/// Tags and their epochs in the server (`Remote::tag_epochs`).
type Epochs = HashMap<Vec<u8>, u64>;

/// What the remote tier answered for a key.
#[derive(Debug)]
pub enum Fetched {
    /// A checked, live value of the current generation.
    Hit(Frame),
    /// No value (none, a tombstone, expired, an older generation, or one
    /// refused and counted in `remote_errors`).
    Miss,
    /// The tier is degraded or the call failed: nothing is known.
    Unavailable,
}

/// One write of a key for the remote tier, prepared under the key's shard
/// lock (its version orders it against the process's other writes of the
/// key) and sent after the lock is released.
#[derive(Debug, Clone)]
pub struct Write {
    pub key: Box<[u8]>,
    pub version: u64,
    pub expires_at: u64,
    pub written_at: u64,
    /// `None`: remove the key remotely (a tombstone).
    pub value: Option<Arc<[u8]>>,
    pub tags: Vec<Box<[u8]>>,
    /// `Some(known)`: a loader's answer, not a put, whose loader was called
    /// once this process knew `known` (`Remote::known`, read just before the
    /// call). Its frame carries that generation, not a later one learned
    /// while the loader ran: the answer may have been read from the source
    /// before a clear of that later generation and before a put made after
    /// it (see `Remote::generation_for`). And it is not left in the server
    /// if a `remove_prefix` or `remove_tag` began after that (`Known`).
    ///
    /// Written only where the key holds no frame of its generation or a
    /// later one (`PUT_SCRIPT`'s `ARGV[5]`). Whatever such a frame says was
    /// written after this process missed the key (else it would have read
    /// it), so it is newer than the answer: a put, or a removal's
    /// tombstone, from another process while the loader ran. Versions alone
    /// cannot order the two: a version is taken when the write is
    /// prepared, after the loader returned, and from another process's
    /// clock.
    pub loaded_in: Option<Known>,
}

/// What a process knew of its namespace when it called a loader: the
/// generation and the removal mark (`Remote::known`). Both only grow,
/// and neither is ever ahead of the server's, so "the server's mark is past
/// the one the answer carries" means a removal of many keys began after the
/// loader was called.
///
/// Why the mark: `remove_prefix` and `remove_tag` delete the keys they find
/// and leave no tombstone, and a loader's answer is written wherever its
/// key holds nothing. An answer read from the source before such a removal
/// (a program changes the source, then removes the keys from the cache),
/// stored by its process before the removal's message arrived and written
/// after the keys were deleted, was then a value of the whole fleet for
/// good. So every such removal raises the mark before it looks for keys,
/// and an answer that carries an older mark is refused by the write script
/// on one server, or taken back by its writer in a cluster (the mark's key
/// lies in another slot: `Remote::write`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Known {
    pub generation: u64,
    pub removals: u64,
}

impl Write {
    /// Whether it is a loader's answer (`loaded_in`).
    pub fn is_loaded(&self) -> bool {
        self.loaded_in.is_some()
    }
}

/// What a resync found, for the local tiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resynced {
    /// Nothing to drop beyond the reconnect rule (everything, when a
    /// subscription begins: `subscriber`).
    Same,
    /// The server restarted or the cluster failed over, and this resync
    /// cleared the namespace: an invalidation published before the failure
    /// may have been lost with the node, so nothing local can be vouched
    /// for.
    Restarted,
    /// Another process cleared the namespace meanwhile: drop everything.
    Cleared,
}

/// The outcome of asking for a key's fleet-wide load lock.
#[derive(Debug, PartialEq, Eq)]
pub enum Lock {
    /// This process holds it: load, write the value, then `unlock`.
    Mine,
    /// Another process is loading the key.
    Busy,
    /// The tier is degraded: load locally.
    Unavailable,
}

/// An invalidation on the namespace's channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Key(Vec<u8>),
    Prefix(Vec<u8>),
    Tag(Vec<u8>),
    /// The namespace was cleared; its new generation.
    Clear(u64),
}

impl Message {
    /// `sender id (8) | kind (1) | payload` (docs/FORMAT.md).
    pub fn encode(&self, sender: u64) -> Vec<u8> {
        let mut out = sender.to_be_bytes().to_vec();
        match self {
            Message::Key(k) => {
                out.push(b'k');
                out.extend_from_slice(k);
            }
            Message::Prefix(p) => {
                out.push(b'p');
                out.extend_from_slice(p);
            }
            Message::Tag(t) => {
                out.push(b't');
                out.extend_from_slice(t);
            }
            Message::Clear(g) => {
                out.push(b'c');
                out.extend_from_slice(&g.to_be_bytes());
            }
        }
        out
    }

    pub fn decode(raw: &[u8]) -> Option<(u64, Message)> {
        if raw.len() < 9 {
            return None;
        }
        let sender = u64::from_be_bytes(raw[..8].try_into().ok()?);
        let body = raw[9..].to_vec();
        let m = match raw[8] {
            b'k' if !body.is_empty() => Message::Key(body),
            b'p' => Message::Prefix(body),
            b't' if !body.is_empty() => Message::Tag(body),
            b'c' if body.len() == 8 => Message::Clear(u64::from_be_bytes(body.try_into().ok()?)),
            _ => return None,
        };
        Some((sender, m))
    }
}

/// `next_generation(cur, known)` (Lua): the generation a clear sets, and
/// the removal mark a removal raises: past the server's (`cur`), past the
/// newest the caller knows (`known`), and at least the server's clock in
/// ms. The clock is what makes a lost generation harmless: a server back
/// from an old snapshot holds an older generation, and counting on from it
/// would make current again the values of a generation cleared since (a
/// process that opens then knows no newer one); every generation ever set
/// was at most the clock of its time (or a few past it, for clears in one
/// ms), so one set now is past them all, unless the servers' clocks differ
/// by more than the time a restart or failover takes. A macro, so that
/// `PUT_SCRIPT` can be one literal with it (`concat!`): it is sent with
/// every write.
macro_rules! next_generation_lua {
    () => {
        r"
local function next_generation(cur, known)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  return math.max(cur + 1, known + 1, now)
end
"
    };
}

/// Keeps the newest write of a key: writes `ARGV[1]` (a frame) unless the
/// key holds a frame of a later generation, or of the same generation by
/// the same writer (bytes 40..48 of a format version 3 frame) and a later
/// version; then publishes `ARGV[4]` on `ARGV[3]` (other processes drop the
/// key and read again). The generation, version and writer are big-endian
/// at fixed offsets (and in the clear in sealed frames), so comparing the
/// byte strings compares the numbers. A value that is not a frame is
/// overwritten.
///
/// Versions order only the writes of one writer: they follow the order in
/// which it made its writes (taken under the key's shard lock), which may
/// not be the order in which they arrive. Another writer's versions come
/// from its own clock and counter: two puts made one after the other by two
/// processes in the same millisecond can carry them in the opposite order,
/// and the later one was then refused, the whole fleet reading the earlier
/// value while its writer kept its own. Between writers, the one that
/// arrives last wins: a put returns only after its write arrived, so a put
/// made after another one returned arrives after it.
///
/// With `ARGV[5]` = `1` (a loader's answer, `Write::loaded`) any frame of
/// the same generation or a later one is kept, and nothing is published if
/// nothing was written.
///
/// Returns 1 if it wrote, 0 if not; for a put or removal refused because
/// the key holds a frame of a later generation, that frame (`Remote::write`
/// learns the generation from it and writes again).
///
/// On one server (not a cluster, where the generation's key lies in another
/// slot) `KEYS[2]` is the generation's key and `ARGV[6]` the generation the
/// frame carries: a frame older than the namespace's generation is not
/// written. A put or removal is answered with `G` and the generation (it
/// was made after the clear that set it, by a process that had not heard
/// of it yet, and is written again in it); a loader's answer with 0 (it may
/// have been read before the clear). Written in its older generation, the
/// put was refused by every reader, and a loader's answer of the current
/// generation, read from the source before the put, could then replace it
/// for the whole fleet. (In a cluster the writer reads the generation's key
/// itself, before the write: `Remote::generation_for`.)
///
/// On one server `KEYS[3]` is the namespace's removal mark and `ARGV[7]`
/// the mark a loader's answer carries (`Known`): an answer older than the
/// mark is not written, and answered with `R` and the mark. A mark that is
/// gone (evicted under an `allkeys-*` policy, or lost with the server's
/// data) is set again first, as `MARK_SCRIPT` would raise it: past the
/// answer's and at least the server's clock, so past every mark set before
/// (`next_generation_lua`), and the answer is refused. Checked against no mark,
/// an answer read before a removal whose mark was then evicted was written
/// where the removal had deleted the key: the fleet's value until its TTL.
const PUT_SCRIPT: &str = concat!(
    next_generation_lua!(),
    r"
if KEYS[2] then
  local g = redis.call('GET', KEYS[2])
  if g and tonumber(g) > tonumber(ARGV[6]) then
    if ARGV[5] == '1' then
      return 0
    end
    return 'G' .. g
  end
end
if KEYS[3] and ARGV[5] == '1' then
  local m = redis.call('GET', KEYS[3])
  if not m then
    m = string.format('%d', next_generation(0, tonumber(ARGV[7])))
    redis.call('SET', KEYS[3], m)
  end
  if tonumber(m) > tonumber(ARGV[7]) then
    return 'R' .. m
  end
end
local cur = redis.call('GET', KEYS[1])
local new = ARGV[1]
local wrote = 1
local later = false
if cur and string.len(cur) >= 24 and string.sub(cur, 1, 3) == 'TCR' then
  local cg, ng = string.sub(cur, 9, 16), string.sub(new, 9, 16)
  if cg > ng then
    wrote = 0
    later = ARGV[5] ~= '1'
  elseif cg == ng then
    if ARGV[5] == '1' then
      wrote = 0
    elseif string.sub(cur, 4, 4) >= '\3' and string.len(cur) >= 48
        and string.sub(cur, 41, 48) == string.sub(new, 41, 48)
        and string.sub(cur, 17, 24) > string.sub(new, 17, 24) then
      wrote = 0
    end
  end
end
if wrote == 1 then
  if ARGV[2] == '0' then
    redis.call('SET', KEYS[1], new)
  else
    redis.call('SET', KEYS[1], new, 'PX', ARGV[2])
  end
end
if wrote == 1 or ARGV[5] ~= '1' then
  redis.call('PUBLISH', ARGV[3], ARGV[4])
end
if later then
  return cur
end
return wrote
"
);

/// Gives a key's frame a new expiry (`Remote::touch`): writes `ARGV[2]` (the
/// frame read, `ARGV[1]`, with the new expiry) only if the key still holds
/// exactly `ARGV[1]`, with the expiry `ARGV[3]` in ms (0: none), then
/// publishes `ARGV[5]` on `ARGV[4]`. Whole frames are compared: two
/// processes can give two writes the same version.
const TOUCH_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if ARGV[3] == '0' then
  redis.call('SET', KEYS[1], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
";

/// The `PX` of a frame that expires at `expires_at` (0: never), read at `now`.
fn px_until(expires_at: u64, now: u64) -> u64 {
    if expires_at == 0 {
        0
    } else {
        expires_at.saturating_sub(now).max(1)
    }
}

/// Releases a load lock only if it is still this process's.
const UNLOCK_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// Raises the namespace's removal mark (`Known`; after `NEXT_GENERATION`,
/// whose rule it follows: past the server's, past the newest the caller
/// knows, `ARGV[1]`, and at least the server's clock in ms, so a mark lost
/// with a restart is not counted again from below), and returns it.
const MARK_SCRIPT: &str = r"
local m = next_generation(cur, tonumber(ARGV[1]))
redis.call('SET', KEYS[1], string.format('%d', m))
return m
";

/// Reads the namespace's removal mark, and sets it first if it is gone
/// (by `MARK_SCRIPT`'s rule, `ARGV[1]` the newest the caller knows: past
/// every mark set before), in one step: of two processes that find it gone
/// at once, the second reads the first's. Read and set apart, the second
/// raised it past the mark the first had just learned, and the first
/// process's next loader's answer was refused for it (found as a second
/// load of a key in `fleet_single_flight`, on a busy machine).
const ENSURE_MARK_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  return cur
end
local m = next_generation(cur, tonumber(ARGV[1]))
redis.call('SET', KEYS[1], string.format('%d', m))
return m
";

/// Deletes `KEYS[1]` only if it holds exactly `ARGV[1]` (a loader's answer
/// this process wrote), and then publishes `ARGV[3]` on `ARGV[2]`.
const UNWRITE_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0
";

/// The epochs of tags (`Remote::tag_epochs`): for each `KEYS[i]`, a tag's
/// epoch key, what it holds, or if it holds nothing (a tag never removed or
/// written with yet, or its epoch evicted) `ARGV[i]`, a fresh random number
/// the caller drew, set there first. Numbers stay strings: Lua's are
/// doubles, which do not hold 64 bits.
const EPOCH_SCRIPT: &str = r"
local out = {}
for i, k in ipairs(KEYS) do
  local e = redis.call('GET', k)
  if not e then
    e = ARGV[i]
    redis.call('SET', k, e)
  end
  out[i] = e
end
return out
";

/// The head of `CLEAR_SCRIPT`, `FENCE_SCRIPT`, `MARK_SCRIPT` and `ENSURE_MARK_SCRIPT`:
/// `next_generation` (`next_generation_lua`), and `cur`, the number
/// `KEYS[1]` holds (0 if none).
const NEXT_GENERATION: &str = concat!(
    next_generation_lua!(),
    r"local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
"
);

/// Clears the namespace: a new generation (`NEXT_GENERATION`, `ARGV[1]` the
/// newest the caller knows), returned.
const CLEAR_SCRIPT: &str = r"
local g = next_generation(cur, tonumber(ARGV[1]))
redis.call('SET', KEYS[1], string.format('%d', g))
return g
";

/// Clears the namespace unless the server's identity (`ARGV[1]`, as
/// `Identity::record` spells it) is the one recorded at the last clear
/// (`KEYS[2]`, `<identity> <generation>`), and the generation is neither
/// behind the one recorded with it nor behind the newest the caller knows
/// (`ARGV[2]`): either means the server lost a clear (an old snapshot, or
/// `maxmemory` evicted the generation). Then records it. In one step, so
/// that of the processes that find the server changed, one clears, and the
/// record is never ahead of the clear it stands for. Returns `{cleared,
/// generation before, after}`.
const FENCE_SCRIPT: &str = r"
local known = tonumber(ARGV[2])
local rec = redis.call('GET', KEYS[2])
if rec then
  local id, at = string.match(rec, '^(.*) (%d+)$')
  if id == ARGV[1] and cur >= tonumber(at) and cur >= known then
    return {0, cur, cur}
  end
end
local g = next_generation(cur, known)
redis.call('SET', KEYS[1], string.format('%d', g))
redis.call('SET', KEYS[2], ARGV[1] .. ' ' .. string.format('%d', g))
return {1, cur, g}
";

/// A live connection to the server or the cluster.
enum Conn {
    Single(redis::Connection),
    // Boxed: a cluster connection is several times a single one's size.
    Cluster(Box<redis::cluster::ClusterConnection>),
}

impl Conn {
    fn like(&mut self) -> &mut dyn ConnectionLike {
        match self {
            Conn::Single(c) => c,
            Conn::Cluster(c) => c,
        }
    }

    /// Runs `cmds` in one round trip (per node of a cluster: a cluster
    /// pipeline sends each node its keys' commands together).
    fn pipeline<T: redis::FromRedisValue>(&mut self, cmds: Vec<redis::Cmd>) -> RedisResult<T> {
        match self {
            Conn::Single(c) => {
                let mut p = redis::pipe();
                for cmd in cmds {
                    p.add_command(cmd);
                }
                p.query(c)
            }
            Conn::Cluster(c) => {
                let mut p = redis::cluster::cluster_pipe();
                for cmd in cmds {
                    p.add_command(cmd);
                }
                p.query(c)
            }
        }
    }

    /// Runs `f` on a connection to each master that holds keys (with its
    /// node id): the one server (id ""), or every master of the cluster
    /// (`identity::masters_in`), for commands that see one node's keys only
    /// (`SCAN`). A master that cannot be reached fails the whole call.
    fn each_master(
        &mut self,
        seed: &redis::ConnectionInfo,
        timeout: Duration,
        mut f: impl FnMut(&str, &mut dyn ConnectionLike) -> RedisResult<()>,
    ) -> RedisResult<()> {
        match self {
            Conn::Single(c) => f("", c),
            Conn::Cluster(c) => {
                let nodes: String = redis::cmd("CLUSTER").arg("NODES").query(c)?;
                for m in identity::masters_in(&nodes) {
                    let mut info = seed.clone();
                    info.addr = match &seed.addr {
                        redis::ConnectionAddr::TcpTls {
                            insecure, tls_params, ..
                        } => redis::ConnectionAddr::TcpTls {
                            host: m.host,
                            port: m.port,
                            insecure: *insecure,
                            tls_params: tls_params.clone(),
                        },
                        _ => redis::ConnectionAddr::Tcp(m.host, m.port),
                    };
                    let mut node = redis::Client::open(info)?.get_connection_with_timeout(timeout)?;
                    node.set_read_timeout(Some(timeout))?;
                    node.set_write_timeout(Some(timeout))?;
                    f(&m.id, &mut node)?;
                }
                Ok(())
            }
        }
    }
}

/// Counters of the remote tier (`tc_stats_get_counter` names).
#[derive(Debug, Default)]
pub struct RemoteCounters {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    /// Failed calls and refused values (forged, truncated, foreign).
    pub errors: AtomicU64,
    pub invalidations_received: AtomicU64,
    /// Values larger than Redis accepts, kept local only.
    pub too_large: AtomicU64,
    /// Loads that waited for another process's load of the key.
    pub lock_waits: AtomicU64,
}

/// The remote tier of one cache.
pub struct Remote {
    target: Target,
    sealer: Sealer,
    timeout: Duration,
    lock_ms: u64,
    /// Identifies this cache's messages (its own are not invalidations).
    id: u64,
    prefix: Vec<u8>,
    gen_key: Vec<u8>,
    /// The fleet's record of the server's identity (`FENCE_SCRIPT`).
    id_key: Vec<u8>,
    /// The namespace's removal mark (`MARK_SCRIPT`).
    removals_key: Vec<u8>,
    channel: Vec<u8>,
    pool: Mutex<Vec<Conn>>,
    cluster: Option<redis::cluster::ClusterClient>,
    state: AtomicU32,
    reason: Mutex<String>,
    /// A test hook run around marking the tier ok (`around_ok`).
    around_ok: Mutex<Option<OkHook>>,
    /// Set by a failing call: the subscriber checks the server and resyncs.
    failed: AtomicBool,
    /// The namespace generation as this process last learned it (from the
    /// server, a message, or a frame of a later one): values of older ones
    /// are refused.
    generation: AtomicU64,
    /// The namespace's removal mark as this process last learned it (from
    /// its own `remove_prefix` or `remove_tag`, or from a refused or
    /// checked loader's answer): never ahead of the server's.
    removals: AtomicU64,
    /// The newest generation whose clear this process has applied to its
    /// own tiers (dropped everything for, or made itself): a clear message
    /// of it or an older one is no news (`clear_is_news`). Behind
    /// `generation` while the message of a clear learned from a frame is on
    /// its way.
    applied: AtomicU64,
    /// The largest frame the server accepts (`proto-max-bulk-len`).
    max_frame: AtomicU64,
    /// The last version handed out (`next_version`).
    last_version: AtomicU64,
    pending: Mutex<pending::Pending>,
    /// The server's identity at the last resync (`identity`): a change
    /// means it restarted or, in a cluster, failed over.
    identity: Mutex<Option<identity::Identity>>,
    /// Wakes the subscriber (a failure, shutdown).
    pub(crate) wake: (Mutex<bool>, Condvar),
    clock: Clock,
    pub counters: RemoteCounters,
}

/// `tags` once each (in byte order): what one round trip for their epochs
/// asks for.
fn distinct<'a>(tags: impl Iterator<Item = &'a [u8]>) -> Vec<&'a [u8]> {
    let mut tags: Vec<&[u8]> = tags.collect();
    tags.sort_unstable();
    tags.dedup();
    tags
}

/// A new epoch for a tag (`Frame::epochs`): random, so that an epoch set
/// after a removal, or after an eviction, is none a frame written before
/// it carries (but for a chance of one in 2^64). A number counted on from
/// the old one could not be: the old one may be gone (evicted).
fn fresh_epoch() -> u64 {
    let mut b = [0u8; 8];
    getrandom::getrandom(&mut b).expect("the operating system gives no random bytes");
    u64::from_be_bytes(b)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Remote {
    /// The remote tier described by `opts`; nothing is connected yet (the
    /// subscriber does that).
    pub fn new(target: &Target, opts: &crate::options::Options) -> Result<Remote> {
        let base = format!("tc:{}:", hex(&opts.remote_namespace)).into_bytes();
        let timeout = Duration::from_millis(opts.remote_timeout_ms.max(1));
        let cluster = match target {
            Target::Cluster(nodes) => Some(
                redis::cluster::ClusterClientBuilder::new(nodes.clone())
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .retries(0)
                    .build()
                    .map_err(|e| Error::invalid(format!("url: {e}")))?,
            ),
            Target::Single(_) => None,
        };
        // Random enough to tell processes (and caches in one) apart.
        let id = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u32(std::process::id());
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_nanos(),
            );
            h.finish()
        };
        Ok(Remote {
            target: target.clone(),
            sealer: Sealer::of(opts),
            timeout,
            lock_ms: opts.remote_lock_ms.max(1),
            id,
            gen_key: [&base[..], b"gen"].concat(),
            // The generation's name, whole, as the hash tag: the same slot.
            id_key: [b"{", &base[..], b"gen}id"].concat(),
            removals_key: [b"{", &base[..], b"gen}rm"].concat(),
            channel: [&base[..], b"inv"].concat(),
            prefix: base,
            pool: Mutex::new(Vec::new()),
            cluster,
            state: AtomicU32::new(REMOTE_DEGRADED),
            reason: Mutex::new("not connected yet".into()),
            around_ok: Mutex::new(None),
            failed: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            removals: AtomicU64::new(0),
            applied: AtomicU64::new(0),
            last_version: AtomicU64::new(0),
            max_frame: AtomicU64::new(MAX_FRAME_LEN),
            pending: Mutex::new(pending::Pending::open(
                opts.dir.as_deref(),
                opts.read_only,
                &opts.remote_namespace,
            )),
            identity: Mutex::new(None),
            wake: (Mutex::new(false), Condvar::new()),
            clock: opts.clock.clone(),
            counters: RemoteCounters::default(),
        })
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn lock_ms(&self) -> u64 {
        self.lock_ms
    }

    pub fn channel(&self) -> &[u8] {
        &self.channel
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// `remote_state`: `REMOTE_OK` or `REMOTE_DEGRADED`.
    pub fn state(&self) -> u32 {
        self.state.load(Ordering::Acquire)
    }

    /// Why the tier is degraded ("" while it is ok).
    pub fn reason(&self) -> String {
        if self.state() == REMOTE_OK {
            return String::new();
        }
        self.reason.lock().clone()
    }

    fn usable(&self) -> bool {
        self.state() == REMOTE_OK
    }

    /// Marks the tier degraded for `why` and wakes the subscriber, which
    /// reconnects and resyncs before the tier is used again.
    pub(crate) fn degrade(&self, why: String) {
        *self.reason.lock() = why;
        self.state.store(REMOTE_DEGRADED, Ordering::Release);
        self.failed.store(true, Ordering::Release);
        Counters::bump(&self.counters.errors);
        self.wake.1.notify_all();
    }

    pub(crate) fn set_ok(&self) {
        let hook = self.around_ok.lock().clone();
        if let Some(hook) = &hook {
            hook(false);
        }
        self.failed.store(false, Ordering::Release);
        self.state.store(REMOTE_OK, Ordering::Release);
        if let Some(hook) = &hook {
            hook(true);
        }
    }

    /// Runs `hook` on the subscriber's thread after every resync, just
    /// before and just after the tier is marked ok: for tests that act in
    /// between (the subscriber does nothing else meanwhile).
    pub(crate) fn around_ok(&self, hook: Option<OkHook>) {
        *self.around_ok.lock() = hook;
    }

    pub(crate) fn take_failed(&self) -> bool {
        self.failed.swap(false, Ordering::AcqRel)
    }

    /// What this process knows of the namespace, read just before a loader
    /// is called (`Write::loaded_in`).
    pub fn known(&self) -> Known {
        Known {
            generation: self.generation.load(Ordering::Acquire),
            removals: self.removals.load(Ordering::Acquire),
        }
    }

    /// A version for a write of a key, taken under the key's shard lock: a
    /// hybrid clock (ms since the epoch shifted left 16 bits, plus a count),
    /// so versions grow within a process and roughly with time across them.
    pub fn next_version(&self) -> u64 {
        let now = self.clock.now_ms() << 16;
        let mut last = self.last_version.load(Ordering::Relaxed);
        loop {
            let v = now.max(last + 1);
            match self
                .last_version
                .compare_exchange_weak(last, v, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return v,
                Err(l) => last = l,
            }
        }
    }

    /// How `key` appears in Redis names (and in tag sets).
    fn key_name(&self, key: &[u8]) -> Vec<u8> {
        self.sealer.name(b'k', key)
    }

    fn data_key(&self, key: &[u8]) -> Vec<u8> {
        [&self.prefix[..], b"k:", &self.key_name(key)].concat()
    }

    fn lock_key(&self, key: &[u8]) -> Vec<u8> {
        [&self.prefix[..], b"l:", &self.key_name(key)].concat()
    }

    fn tag_key(&self, tag: &[u8]) -> Vec<u8> {
        [&self.prefix[..], b"t:", &self.sealer.name(b't', tag)].concat()
    }

    /// The name of a tag's epoch (`Frame::epochs`): in the generation's hash
    /// slot, so that one script or MGET reaches the epochs of any tags.
    fn epoch_key(&self, tag: &[u8]) -> Vec<u8> {
        [b"{", &self.prefix[..], b"gen}e:", &self.sealer.name(b't', tag)].concat()
    }

    /// The epoch of each tag of `tags`, as the server holds it now; a tag
    /// without one is given a fresh one (`EPOCH_SCRIPT`).
    fn tag_epochs(&self, c: &mut Conn, tags: &[&[u8]]) -> RedisResult<Vec<u64>> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(EPOCH_SCRIPT).arg(tags.len());
        for t in tags {
            cmd.arg(self.epoch_key(t));
        }
        for _ in tags {
            cmd.arg(fresh_epoch().to_string());
        }
        let epochs: Vec<String> = cmd.query(c.like())?;
        epochs
            .iter()
            .map(|e| e.parse::<u64>())
            .collect::<std::result::Result<Vec<u64>, _>>()
            .map_err(|_| redis::RedisError::from((redis::ErrorKind::TypeError, "a tag epoch that is not a number")))
    }

    /// An invalidation as published by this cache.
    fn message(&self, m: &Message) -> Vec<u8> {
        self.sealer.message(self.id, &self.channel, m)
    }

    /// Reads a message published on the namespace's channel.
    pub(crate) fn read_message(&self, raw: &[u8]) -> std::result::Result<(u64, Message), frame::Unread> {
        self.sealer.read_message(&self.channel, raw)
    }

    /// A new connection, with the timeout on every read and write.
    fn connect(&self) -> RedisResult<Conn> {
        match (&self.target, &self.cluster) {
            (_, Some(cluster)) => {
                let c = cluster.get_connection()?;
                Ok(Conn::Cluster(Box::new(c)))
            }
            (Target::Single(info), None) => {
                let c = redis::Client::open(info.clone())?.get_connection_with_timeout(self.timeout)?;
                c.set_read_timeout(Some(self.timeout))?;
                c.set_write_timeout(Some(self.timeout))?;
                Ok(Conn::Single(c))
            }
            (Target::Cluster(_), None) => unreachable!("a cluster target has a cluster client"),
        }
    }

    /// Runs `f` on a pooled connection, whatever the tier's state (for the
    /// subscriber's checks). A connection that failed is dropped.
    fn run_always<T>(&self, f: impl FnOnce(&mut Conn) -> RedisResult<T>) -> RedisResult<T> {
        let pooled = self.pool.lock().pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => self.connect()?,
        };
        let r = f(&mut conn);
        self.finish(r, conn)
    }

    /// Puts `conn` back in the pool if `r` is a success.
    fn finish<T>(&self, r: RedisResult<T>, conn: Conn) -> RedisResult<T> {
        if r.is_ok() {
            self.pool.lock().push(conn);
        }
        r
    }

    /// As `run_always`, for the data path: a new connection is used only if
    /// what it reaches has the identity of the last resync (`identity`): a
    /// server restarted from an old snapshot, or a promoted replica, is
    /// never read before a resync has cleared what it may hold, even by a
    /// thread that took up the tier just before another noticed the change.
    ///
    /// A connection that fails a call is dropped (`finish`), with whatever
    /// sockets the `redis` crate opened during that call: a pooled one only
    /// ever reaches what was checked. (A cluster pipeline that meets a
    /// `MOVED` or `CLUSTERDOWN` reply makes the crate reconnect nodes whose
    /// socket died and retry there; so reads never use a cluster pipeline:
    /// `get_many` and `poll` send plain commands, which fail instead.)
    fn run_checked<T>(&self, f: impl FnOnce(&mut Conn) -> RedisResult<T>) -> RedisResult<T> {
        let pooled = self.pool.lock().pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => {
                let mut c = self.connect()?;
                self.check_identity_on(&mut c)?;
                c
            }
        };
        let r = f(&mut conn);
        self.finish(r, conn)
    }

    /// Fails unless what `c` reaches has the identity of the last resync.
    fn check_identity_on(&self, c: &mut Conn) -> RedisResult<()> {
        let now = identity::of(c)?;
        match &*self.identity.lock() {
            Some(known) if *known == now => Ok(()),
            Some(known) if known.masters != now.masters => Err(redis::RedisError::from((
                redis::ErrorKind::ClientError,
                "the cluster's masters changed (a failover or a reshard)",
            ))),
            Some(_) => Err(redis::RedisError::from((
                redis::ErrorKind::ClientError,
                "the server restarted (its run id changed)",
            ))),
            None => Err(redis::RedisError::from((
                redis::ErrorKind::ClientError,
                "no resync yet",
            ))),
        }
    }

    /// The subscriber's periodic look at a cluster (once a second): a
    /// failover or a master restarted in place that no call of this process
    /// ran into still degrades the tier, and the resync clears what the
    /// promoted replica or the old snapshot may hold. (A call never reads
    /// such a node meanwhile: a pooled connection's socket to the old node
    /// died with it, and a new connection is checked, `run_checked`.)
    pub(crate) fn check_cluster(&self) {
        if self.cluster.is_none() || !self.usable() {
            return;
        }
        if let Err(e) = self.run_always(|c| self.check_identity_on(c)) {
            self.degrade(format!("cluster check: {e}"));
        }
    }

    /// Runs `f` if the tier is usable; a failure degrades it. `None`: not run
    /// or failed.
    fn run<T>(&self, what: &str, f: impl FnOnce(&mut Conn) -> RedisResult<T>) -> Option<T> {
        if !self.usable() {
            return None;
        }
        match self.run_checked(f) {
            Ok(v) => Some(v),
            Err(e) => {
                self.degrade(format!("{what}: {e}"));
                None
            }
        }
    }

    /// Reads a frame: a live value of the current generation, or a miss.
    /// Unavailable for a key this process wrote while the server could not
    /// be told, until that write is reconciled (`pending`): the server's
    /// copy may predate it, and once stored here it would stay for good.
    /// A hit is not counted yet: `vouch` decides it.
    fn check(&self, name: &[u8], key: &[u8], raw: Option<Vec<u8>>, now: u64) -> Fetched {
        if self.pending.lock().covers(key) {
            return Fetched::Unavailable;
        }
        let Some(raw) = raw else {
            Counters::bump(&self.counters.misses);
            return Fetched::Miss;
        };
        match self.live(name, key, &raw, now) {
            Err(_) => {
                Counters::bump(&self.counters.errors);
                Counters::bump(&self.counters.misses);
                Fetched::Miss
            }
            Ok(None) => {
                Counters::bump(&self.counters.misses);
                Fetched::Miss
            }
            Ok(Some(f)) => Fetched::Hit(f),
        }
    }

    /// Vouches for the hits among `got`, and counts them: each of a value's
    /// tags must still have, in the server, the epoch its frame carries
    /// (one MGET for them all; none if no hit has tags). `remove_tag` gives
    /// its tag a new epoch before it looks for the tag's keys, so a value
    /// it removed is refused here even where the removal did not find it:
    /// the tag's set was evicted under an `allkeys-*` policy, and the value
    /// stayed in the server, for every process that read it there again,
    /// until its TTL. An epoch gone from the server (evicted) vouches for
    /// nothing, and a tagged frame of a format before version 4 carries
    /// none: a miss, never a removed value. If the epochs cannot be read,
    /// a tagged value is unavailable.
    fn vouch(&self, got: &mut [Fetched]) {
        let now = {
            let hits = got.iter().filter_map(|g| match g {
                Fetched::Hit(f) => Some(f),
                _ => None,
            });
            let tags = distinct(hits.flat_map(|f| f.meta.tags.iter().map(|t| &t[..])));
            self.epochs_now(&tags)
        };
        for g in got.iter_mut() {
            let Fetched::Hit(f) = g else { continue };
            let tags = &f.meta.tags;
            let good = if tags.is_empty() {
                true
            } else if let Some(now) = &now {
                f.epochs.len() == tags.len() && tags.iter().zip(&f.epochs).all(|(t, e)| now.get(&t[..]) == Some(e))
            } else {
                *g = Fetched::Unavailable;
                continue;
            };
            if good {
                Counters::bump(&self.counters.hits);
            } else {
                Counters::bump(&self.counters.misses);
                *g = Fetched::Miss;
            }
        }
    }

    /// The epochs `tags` have in the server now (one MGET; none if `tags`
    /// is empty): a tag without one is missing from the map. `None` if they
    /// could not be read.
    fn epochs_now(&self, tags: &[&[u8]]) -> Option<Epochs> {
        if tags.is_empty() {
            return Some(Epochs::new());
        }
        let names: Vec<Vec<u8>> = tags.iter().map(|t| self.epoch_key(t)).collect();
        let epochs = self.run("MGET", |c| {
            redis::cmd("MGET").arg(&names).query::<Vec<Option<String>>>(c.like())
        })?;
        Some(
            tags.iter()
                .zip(epochs)
                .filter_map(|(t, e)| Some((t.to_vec(), e?.parse().ok()?)))
                .collect(),
        )
    }

    /// The frame `raw` if it holds a live value of the current generation
    /// (`None`: a tombstone, expired, or an older generation); an error if
    /// it is not a frame of this key and namespace that this cache can read.
    fn live(
        &self,
        name: &[u8],
        key: &[u8],
        raw: &[u8],
        now: u64,
    ) -> std::result::Result<Option<Frame>, frame::Refused> {
        let f = self.sealer.decode(name, key, raw)?;
        let gen = self.generation.load(Ordering::Acquire);
        // A later generation: a clear this process has not heard of
        // yet (its message is on its way); the value is newer than it.
        if f.generation > gen {
            self.generation.fetch_max(f.generation, Ordering::AcqRel);
        }
        if f.generation < gen || f.value.is_none() || crate::clock::is_expired(f.expires_at, now) {
            return Ok(None);
        }
        Ok(Some(f))
    }

    /// The key's value in the remote tier.
    pub fn get(&self, key: &[u8]) -> Fetched {
        let dk = self.data_key(key);
        let Some(raw) = self.get_raw(&dk) else {
            return Fetched::Unavailable;
        };
        self.vouched(self.check(&dk, key, raw, self.clock.now_ms()))
    }

    /// `vouch` for one answer.
    fn vouched(&self, got: Fetched) -> Fetched {
        let mut got = [got];
        self.vouch(&mut got);
        let [got] = got;
        got
    }

    /// What the server holds under `name`, unchecked (`None`: the call failed).
    fn get_raw(&self, name: &[u8]) -> Option<Option<Vec<u8>>> {
        self.run("GET", |c| {
            redis::cmd("GET").arg(name).query::<Option<Vec<u8>>>(c.like())
        })
    }

    /// The values of many keys: one MGET. On one server that is one round
    /// trip; in a cluster the `redis` crate splits it into one MGET per hash
    /// slot, sent one after another (a cluster pipeline would be one round
    /// trip per node, but may retry on a node it reconnected to unchecked:
    /// see `run_checked`).
    pub fn get_many(&self, keys: &[&[u8]]) -> Vec<Fetched> {
        let names: Vec<Vec<u8>> = keys.iter().map(|k| self.data_key(k)).collect();
        let got = self.run("MGET", |c| {
            redis::cmd("MGET").arg(&names).query::<Vec<Option<Vec<u8>>>>(c.like())
        });
        match got {
            Some(raws) if raws.len() == keys.len() => {
                let now = self.clock.now_ms();
                let mut got: Vec<Fetched> = keys
                    .iter()
                    .zip(names.iter().zip(raws))
                    .map(|(k, (n, raw))| self.check(n, k, raw, now))
                    .collect();
                self.vouch(&mut got);
                got
            }
            _ => keys.iter().map(|_| Fetched::Unavailable).collect(),
        }
    }

    /// Remembers a key whose remote copy may now be out of date.
    fn remember(&self, key: &[u8]) {
        self.pending.lock().key(key);
    }

    /// Whether writes are remembered for the reconnect.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.lock().is_empty()
    }

    /// Remembers that the whole namespace may be out of date.
    fn remember_everything(&self) {
        self.pending.lock().everything();
    }

    /// The script invocation of one write (a tombstone in its place if its
    /// frame is too large for Redis).
    fn write_cmd(&self, w: &Write) -> redis::Cmd {
        self.write_cmd_in(w, self.generation.load(Ordering::Acquire), &Epochs::new())
            .0
    }

    /// `write_cmd`, in generation `gen`, and the frame it writes; a value's
    /// tags carry their epochs from `epochs` (a tag missing there leaves
    /// the frame without epochs, which no reader vouches for).
    fn write_cmd_in(&self, w: &Write, gen: u64, epochs: &Epochs) -> (redis::Cmd, Vec<u8>) {
        let now = self.clock.now_ms();
        let mut frame = Frame {
            generation: gen,
            version: w.version,
            writer: self.id,
            expires_at: w.expires_at,
            written_at: w.written_at,
            value: w.value.as_ref().map(|v| v.to_vec()),
            meta: Meta {
                tags: w.tags.clone(),
                dependency: None,
            },
            epochs: match &w.value {
                Some(_) => w
                    .tags
                    .iter()
                    .map(|t| epochs.get(&t[..]).copied())
                    .collect::<Option<Vec<u64>>>()
                    .unwrap_or_default(),
                None => Vec::new(),
            },
        };
        let mut px = if frame.value.is_none() {
            TOMBSTONE_MS
        } else {
            px_until(w.expires_at, now)
        };
        let name = self.data_key(&w.key);
        let mut raw = self.sealer.encode(&name, &w.key, &frame);
        // Room for the command around the frame.
        if raw.len() as u64 + 1024 > self.max_frame.load(Ordering::Relaxed) {
            Counters::bump(&self.counters.too_large);
            frame.value = None;
            frame.meta = Meta::default();
            frame.epochs = Vec::new();
            px = TOMBSTONE_MS;
            raw = self.sealer.encode(&name, &w.key, &frame);
        }
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(PUT_SCRIPT);
        match self.cluster {
            None => cmd.arg(3).arg(name).arg(&self.gen_key).arg(&self.removals_key),
            Some(_) => cmd.arg(1).arg(name),
        };
        cmd.arg(&raw)
            .arg(px)
            .arg(&self.channel)
            .arg(self.message(&Message::Key(w.key.to_vec())))
            .arg(if w.is_loaded() { "1" } else { "0" })
            .arg(gen)
            .arg(w.loaded_in.map_or(0, |k| k.removals));
        (cmd, raw)
    }

    /// Writes values and tombstones in one round trip. A write that cannot
    /// reach the server is remembered for the reconnect; the local write
    /// stands either way.
    ///
    /// A put or removal refused because the key holds a frame of a later
    /// generation was made after a clear this process has not heard of yet
    /// (its message is on its way): the server ran the clear first, so the
    /// write is the later one, and it is written again in the generation
    /// that frame proves (verified first: the server's bytes are untrusted).
    /// Refused, it was lost: the others kept, or read again, the value it
    /// replaced, written after the clear but before it (found by
    /// `tests/remote_model.rs`). A loader's answer is not written again: it
    /// may have been read before the clear.
    pub fn write(&self, writes: &[Write]) {
        let mut writes: Vec<&Write> = writes.iter().collect();
        // The epochs of the values' tags, read after the writes' local
        // halves: a `remove_tag` that returned before this write began set
        // the epoch read here (or a later one), so the value outlives it;
        // a value whose tag is removed meanwhile is dead for every reader.
        let Some(epochs) = self.epochs_of(&writes) else {
            self.remember_unsent(&writes);
            return;
        };
        // Each round learns a later generation; a few cover clears that
        // race this write, and then the write is left as refused.
        for _round in 0..3 {
            if writes.is_empty() {
                return;
            }
            let mut cmds = Vec::new();
            // The generation the frames carry: a refusal is judged against
            // it, not against what this process knows when the answer
            // comes (a clear's message may have arrived meanwhile, and
            // the write must be made again all the same).
            let Some(gen) = self.generation_for(&writes) else {
                self.remember_unsent(&writes);
                return;
            };
            // Each write's frame and where its answer is in the pipeline's.
            let mut sent = Vec::with_capacity(writes.len());
            for w in &writes {
                // The tag's set before the value: a `remove_tag` raises the
                // mark before it reads the set, so one that the script
                // below did not see (the mark was not raised yet) reads a
                // set that names the key, and deletes the value.
                if w.value.is_some() {
                    for t in &w.tags {
                        cmds.push(
                            redis::cmd("SADD")
                                .arg(self.tag_key(t))
                                .arg(self.key_name(&w.key))
                                .clone(),
                        );
                    }
                }
                let gen = w.loaded_in.map_or(gen, |k| k.generation);
                let (cmd, raw) = self.write_cmd_in(w, gen, &epochs);
                sent.push((cmds.len(), raw));
                cmds.push(cmd);
            }
            let Some(answers) = self.run("write", |c| c.pipeline::<Vec<redis::Value>>(cmds)) else {
                self.remember_unsent(&writes);
                return;
            };
            if self.cluster.is_some() {
                let written: Vec<(&Write, &[u8])> = writes
                    .iter()
                    .zip(&sent)
                    .filter(|(w, (i, _))| w.is_loaded() && matches!(answers.get(*i), Some(redis::Value::Int(1))))
                    .map(|(w, (_, raw))| (*w, &raw[..]))
                    .collect();
                self.take_back_if_removed(&written);
            }
            writes = writes
                .into_iter()
                .zip(sent)
                .filter(|(w, (i, _))| match answers.get(*i) {
                    Some(redis::Value::BulkString(later)) => self.learn_from(&w.key, later, gen),
                    _ => false,
                })
                .map(|(w, _)| w)
                .collect();
        }
    }

    /// The epochs of the tags of the values in `writes` (`tag_epochs`; no
    /// round trip if none has tags), `None` if they could not be read.
    fn epochs_of(&self, writes: &[&Write]) -> Option<Epochs> {
        let tags = distinct(
            writes
                .iter()
                .filter(|w| w.value.is_some())
                .flat_map(|w| w.tags.iter().map(|t| &t[..])),
        );
        if tags.is_empty() {
            return Some(Epochs::new());
        }
        let epochs = self.run("tag epochs", |c| self.tag_epochs(c, &tags))?;
        Some(tags.iter().map(|t| t.to_vec()).zip(epochs).collect())
    }

    /// In a cluster, where the write script cannot read the removal mark
    /// (another slot): reads it after loader's answers were written, and
    /// deletes again each answer that carries an older mark, if the server
    /// still holds exactly it (published, so that a process that read it
    /// meanwhile drops it). A removal that raised the mark after this read
    /// began after the answers were written, and finds them (`remove_tag`'s
    /// set was added to before). If the mark cannot be read, or the answers
    /// it condemns cannot be deleted, the keys are remembered for the
    /// reconnect, as an unsent write is: their answers cannot be vouched
    /// for.
    fn take_back_if_removed(&self, written: &[(&Write, &[u8])]) {
        if written.is_empty() {
            return;
        }
        // Gone (evicted, or lost with the server's data): set again, past
        // every mark set before it, so every answer just written is taken
        // back (as `PUT_SCRIPT` refuses them on one server).
        let vouched = self.run("removal mark", |c| self.removal_mark(c)).and_then(|mark| {
            let stale: Vec<redis::Cmd> = written
                .iter()
                .filter(|(w, _)| w.loaded_in.is_some_and(|k| k.removals < mark))
                .map(|(w, raw)| {
                    redis::cmd("EVAL")
                        .arg(UNWRITE_SCRIPT)
                        .arg(1)
                        .arg(self.data_key(&w.key))
                        .arg(*raw)
                        .arg(&self.channel)
                        .arg(self.message(&Message::Key(w.key.to_vec())))
                        .clone()
                })
                .collect();
            if stale.is_empty() {
                return Some(());
            }
            self.run("take back", |c| c.pipeline::<Vec<redis::Value>>(stale))
                .map(|_| ())
        });
        if vouched.is_none() {
            for (w, _) in written {
                self.remember(&w.key);
            }
        }
    }

    /// Remembers the puts and removals of `writes`, which could not be
    /// sent, for the reconnect. A loader's answer is written only where the
    /// server holds nothing (`Write::loaded_in`): not writing it leaves
    /// nothing to reconcile, and a tombstone for it on reconnect would
    /// remove what another process put meanwhile.
    fn remember_unsent(&self, writes: &[&Write]) {
        for w in writes.iter().filter(|w| !w.is_loaded()) {
            self.remember(&w.key);
        }
    }

    /// The generation the puts and removals of `writes` are framed in:
    /// at least the namespace's, as the server holds it now, after the
    /// writes' local halves (`None` if it could not be read).
    ///
    /// On one server, `PUT_SCRIPT` compares each frame with the
    /// generation's key itself, so what this process knows will do. In a
    /// cluster that key lies in another slot, so it is read first, in its
    /// own round trip: a put made after a clear by a process that had not
    /// heard of it would otherwise be framed in the generation the clear
    /// ended, refused by every reader, and replaced for the whole fleet by
    /// a loader's answer read from the source before the put (a race no
    /// frame could order: CONSISTENCY.md §9). Read after the put's source
    /// write, the generation is at least that of any loader's answer read
    /// before it (`Write::loaded_in`), so such an answer finds a frame of
    /// its own generation or a later one, and is not written.
    fn generation_for(&self, writes: &[&Write]) -> Option<u64> {
        if self.cluster.is_some() && writes.iter().any(|w| !w.is_loaded()) {
            let key = &self.gen_key;
            let server = self.run("generation", |c| {
                redis::cmd("GET").arg(key).query::<Option<u64>>(c.like())
            })?;
            self.generation.fetch_max(server.unwrap_or(0), Ordering::AcqRel);
        }
        Some(self.generation.load(Ordering::Acquire))
    }

    /// Learns the generation of `raw`, the frame of `key` a write made in
    /// generation `sent` was refused for, if it verifies (or, `G` and a
    /// number, the namespace's generation the script read): whether it is
    /// later than `sent` (the write is then to be made again, in the
    /// generation this process now knows, which is at least that one).
    ///
    /// On one server the script reads the generation's key first and
    /// answers `G` for any write of an older generation (no frame is of a
    /// later generation than that key says), so the frame answer is, in
    /// practice, reached only in a cluster, where that key may be in
    /// another slot and the script cannot read it (CONSISTENCY.md §9).
    ///
    /// `R` and a number: a loader's answer refused for the removal mark
    /// (`Known`), learned; never written again.
    fn learn_from(&self, key: &[u8], raw: &[u8], sent: u64) -> bool {
        if let Some(m) = raw.strip_prefix(b"R") {
            match std::str::from_utf8(m).ok().and_then(|m| m.parse::<u64>().ok()) {
                Some(m) => {
                    self.removals.fetch_max(m, Ordering::AcqRel);
                }
                None => Counters::bump(&self.counters.errors),
            }
            return false;
        }
        // The namespace's generation, from the script's own read of it.
        if let Some(g) = raw.strip_prefix(b"G") {
            let Some(g) = std::str::from_utf8(g).ok().and_then(|g| g.parse::<u64>().ok()) else {
                Counters::bump(&self.counters.errors);
                return false;
            };
            self.generation.fetch_max(g, Ordering::AcqRel);
            return g > sent;
        }
        let Ok(f) = self.sealer.decode(&self.data_key(key), key, raw) else {
            Counters::bump(&self.counters.errors);
            return false;
        };
        self.generation.fetch_max(f.generation, Ordering::AcqRel);
        f.generation > sent
    }

    /// Gives `key`'s value in the server the expiry `expires_at` (after a
    /// local touch), and publishes the key if it did. The server's frame is
    /// read, given the new expiry, and written back only if the key still
    /// holds exactly what was read (`TOUCH_SCRIPT`), with its value,
    /// generation and version unchanged. Never this process's own copy: it
    /// may be older than the server's, written by another process whose
    /// invalidation has not arrived yet, and a touch would then have put
    /// the older value back for the whole fleet. The version is kept so
    /// that the touch orders against other writes as the write it extends
    /// does (a write of this process still on its way replaces it as it
    /// would have replaced the frame read). Nothing live in the server:
    /// nothing to extend. A touch that cannot reach the server is
    /// remembered for the reconnect like a write (the server's copy would
    /// outlive a shortened expiry).
    pub fn touch(&self, key: &[u8], expires_at: u64) {
        let name = self.data_key(key);
        let Some(raw) = self.get_raw(&name) else {
            self.remember(key);
            return;
        };
        let now = self.clock.now_ms();
        // Nothing live in the server: nothing to extend.
        let Some(raw) = raw else { return };
        let Ok(Some(mut f)) = self.live(&name, key, &raw, now) else {
            return;
        };
        f.expires_at = expires_at;
        let touched = self.sealer.encode(&name, key, &f);
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(TOUCH_SCRIPT)
            .arg(1)
            .arg(&name)
            .arg(raw)
            .arg(touched)
            .arg(px_until(expires_at, now))
            .arg(&self.channel)
            .arg(self.message(&Message::Key(key.to_vec())));
        if self.run("touch", |c| cmd.query::<i64>(c.like())).is_none() {
            self.remember(key);
        }
    }

    /// Removes every key under `prefix` in the namespace, then publishes the
    /// prefix; raises the removal mark first (`Known`). Without encryption the keys are found by name: `SCAN MATCH`
    /// on `tc:<ns>:k:<prefix>*` (every master of a cluster). With
    /// encryption names are keyed hashes, so every frame of the namespace is
    /// scanned, read (one pipelined round trip per `SCAN` batch of up to
    /// 1000) and decrypted, and those whose key has the prefix deleted: a
    /// cost in proportion to the namespace, not to the keys removed. Frames
    /// this cache cannot read are left alone (no reader trusts them).
    pub fn remove_prefix(&self, prefix: &[u8]) {
        let all = [&self.prefix[..], b"k:"].concat();
        let mut pattern = all.clone();
        if !self.sealer.encrypts() {
            for &b in prefix {
                if matches!(b, b'*' | b'?' | b'[' | b']' | b'\\') {
                    pattern.push(b'\\');
                }
                pattern.push(b);
            }
        }
        pattern.push(b'*');
        let msg = self.message(&Message::Prefix(prefix.to_vec()));
        let seed = self.target.first().clone();
        let done = self.run("remove_prefix", |c| {
            self.raise_removal_mark(c)?;
            c.each_master(&seed, self.timeout, |_, node| {
                let mut cursor = 0u64;
                loop {
                    let (next, mut names): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .query(node)?;
                    if self.sealer.encrypts() && !names.is_empty() {
                        // A GET each, pipelined: in a cluster, keys of one
                        // node may be in different slots (no MGET).
                        let mut p = redis::pipe();
                        for n in &names {
                            p.cmd("GET").arg(n);
                        }
                        let raws: Vec<Option<Vec<u8>>> = p.query(node)?;
                        names = names
                            .into_iter()
                            .zip(raws)
                            .filter(|(n, raw)| {
                                raw.as_ref()
                                    .and_then(|r| self.sealer.open(n, r).ok())
                                    .is_some_and(|(k, _)| k.starts_with(prefix))
                            })
                            .map(|(n, _)| n)
                            .collect();
                    }
                    // One DEL per key: in a cluster, keys of one node may
                    // still be in different slots.
                    if !names.is_empty() {
                        let mut p = redis::pipe();
                        for k in &names {
                            p.cmd("DEL").arg(k).ignore();
                        }
                        p.exec(node)?;
                    }
                    cursor = next;
                    if cursor == 0 {
                        return Ok(());
                    }
                }
            })?;
            redis::cmd("PUBLISH").arg(&self.channel).arg(&msg).exec(c.like())
        });
        if done.is_none() {
            self.remember_everything();
        }
    }

    /// Raises the namespace's removal mark (`Known`), before a removal of
    /// many keys looks for them: a loader's answer written after it, from a
    /// load begun before it, is refused or taken back.
    fn raise_removal_mark(&self, c: &mut Conn) -> RedisResult<u64> {
        self.run_mark_script(c, MARK_SCRIPT)
    }

    /// The namespace's removal mark, set first if it is gone
    /// (`ENSURE_MARK_SCRIPT`), and learned.
    fn removal_mark(&self, c: &mut Conn) -> RedisResult<u64> {
        self.run_mark_script(c, ENSURE_MARK_SCRIPT)
    }

    /// Runs `script` (after `NEXT_GENERATION`) on the removal mark, with the
    /// newest mark this process knows, and learns the mark it answers.
    fn run_mark_script(&self, c: &mut Conn, script: &str) -> RedisResult<u64> {
        let m: u64 = redis::cmd("EVAL")
            .arg([NEXT_GENERATION, script].concat())
            .arg(1)
            .arg(&self.removals_key)
            .arg(self.removals.load(Ordering::Acquire))
            .query(c.like())?;
        self.removals.fetch_max(m, Ordering::AcqRel);
        Ok(m)
    }

    /// Removes every key written with `tag`: raises the removal mark
    /// (`Known`), gives the tag a fresh epoch (so that no reader vouches
    /// for a value written with it before, found below or not: `vouch`),
    /// deletes the members of its set, then the set; the tag is published.
    pub fn remove_tag(&self, tag: &[u8]) {
        let set = self.tag_key(tag);
        let msg = self.message(&Message::Tag(tag.to_vec()));
        let done = self.run("remove_tag", |c| {
            self.raise_removal_mark(c)?;
            // From here on no reader vouches for a value written with the
            // tag before (`vouch`): the set below may have been evicted, or
            // miss a put that races this removal, and deleting its members
            // only gives their memory back.
            redis::cmd("SET")
                .arg(self.epoch_key(tag))
                .arg(fresh_epoch().to_string())
                .exec(c.like())?;
            let names: Vec<Vec<u8>> = redis::cmd("SMEMBERS").arg(&set).query(c.like())?;
            let mut cmds: Vec<redis::Cmd> = names
                .iter()
                .map(|n| redis::cmd("DEL").arg([&self.prefix[..], b"k:", n].concat()).clone())
                .collect();
            cmds.push(redis::cmd("DEL").arg(&set).clone());
            c.pipeline::<Vec<redis::Value>>(cmds)?;
            redis::cmd("PUBLISH").arg(&self.channel).arg(&msg).exec(c.like())
        });
        if done.is_none() {
            self.remember_everything();
        }
    }

    /// Clears the namespace in O(1): a new generation, published. Values of
    /// older generations are refused from then on and left to expire.
    pub fn clear(&self) {
        if self.bump_generation().is_none() {
            self.remember_everything();
        }
    }

    fn bump_generation(&self) -> Option<u64> {
        let gen = self.run("clear", |c| self.bump_generation_on(c.like()))?;
        Some(gen)
    }

    fn bump_generation_on(&self, c: &mut dyn ConnectionLike) -> RedisResult<u64> {
        let gen: u64 = redis::cmd("EVAL")
            .arg([NEXT_GENERATION, CLEAR_SCRIPT].concat())
            .arg(1)
            .arg(&self.gen_key)
            .arg(self.newest_known())
            .query(c)?;
        self.generation.fetch_max(gen, Ordering::AcqRel);
        // This process's own clear: the caller drops what it must.
        self.applied.fetch_max(gen, Ordering::AcqRel);
        redis::cmd("PUBLISH")
            .arg(&self.channel)
            .arg(self.message(&Message::Clear(gen)))
            .exec(c)?;
        Ok(gen)
    }

    /// Learns of a clear another process made.
    pub fn cleared(&self, gen: u64) {
        self.generation.fetch_max(gen, Ordering::AcqRel);
    }

    /// The newest generation this process knows of, applied or not: a clear
    /// must go past it (`NEXT_GENERATION`).
    fn newest_known(&self) -> u64 {
        let known = self.generation.load(Ordering::Acquire);
        known.max(self.applied.load(Ordering::Acquire))
    }

    /// Whether a clear message of generation `gen` calls for dropping the
    /// local tiers: not if this process already did for it or a later one
    /// (its resync found it, or made it). Without this, every process that
    /// opens while another clears for a change of server would drop what it
    /// began with, and a load in flight would be thrown away and redone.
    pub(crate) fn clear_is_news(&self, gen: u64) -> bool {
        self.applied.fetch_max(gen, Ordering::AcqRel) < gen
    }

    /// Asks for the fleet-wide load lock of `key`.
    pub fn lock(&self, key: &[u8]) -> Lock {
        let lk = self.lock_key(key);
        let got = self.run("lock", |c| {
            redis::cmd("SET")
                .arg(&lk)
                .arg(self.id)
                .arg("NX")
                .arg("PX")
                .arg(self.lock_ms)
                .query::<Option<String>>(c.like())
        });
        match got {
            Some(Some(_)) => Lock::Mine,
            Some(None) => Lock::Busy,
            None => Lock::Unavailable,
        }
    }

    /// Releases the load lock of `key` if this process still holds it.
    pub fn unlock(&self, key: &[u8]) {
        let lk = self.lock_key(key);
        self.run("unlock", |c| {
            redis::cmd("EVAL")
                .arg(UNLOCK_SCRIPT)
                .arg(1)
                .arg(&lk)
                .arg(self.id)
                .exec(c.like())
        });
    }

    /// While another process loads `key`: its value if it is there now, and
    /// whether the lock is still held (one round trip on one server, two in
    /// a cluster: reads are never pipelined there, see `run_checked`).
    pub fn poll(&self, key: &[u8]) -> (Fetched, bool) {
        let got = self.run("GET", |c| match c {
            Conn::Single(_) => c.pipeline::<(Option<Vec<u8>>, bool)>(vec![
                redis::cmd("GET").arg(self.data_key(key)).clone(),
                redis::cmd("EXISTS").arg(self.lock_key(key)).clone(),
            ]),
            // The lock first: a loader writes the value before it unlocks,
            // so a lock seen free means the value read after it is there.
            Conn::Cluster(_) => {
                let locked = redis::cmd("EXISTS").arg(self.lock_key(key)).query(c.like())?;
                let raw = redis::cmd("GET").arg(self.data_key(key)).query(c.like())?;
                Ok((raw, locked))
            }
        });
        match got {
            Some((raw, locked)) => {
                let got = self.check(&self.data_key(key), key, raw, self.clock.now_ms());
                (self.vouched(got), locked)
            }
            None => (Fetched::Unavailable, false),
        }
    }

    /// `resync`, once more on a new connection if it failed: for the last
    /// try, at close, which has no later one, and when a subscription has
    /// just begun (the server is reachable). The pool's connections may
    /// all have died with a server that restarted since they were used
    /// (this process had not noticed: its subscription was down), and a
    /// failure drops only the connection it used; the second try finds
    /// the pool emptied and connects afresh.
    pub(crate) fn resync_afresh(&self) -> RedisResult<Resynced> {
        self.resync().or_else(|_| {
            self.pool.lock().clear();
            self.resync()
        })
    }

    /// After a (re)connect: learns the generation, clears the namespace if
    /// the server is not the one it was last cleared for (`identity`: it
    /// may have lost acknowledged writes or come back from an old snapshot;
    /// the record of it is in the server, `FENCE_SCRIPT`, so a process that
    /// starts after the change clears too), and invalidates remotely what
    /// this process wrote while it could not. Says what the local tiers must
    /// drop (`Resynced`).
    pub(crate) fn resync(&self) -> RedisResult<Resynced> {
        self.run_always(|conn| {
            let now = identity::of(conn)?;
            // Learned only once the clear it calls for is done.
            let restarted = self.identity.lock().as_ref().is_some_and(|k| *k != now);
            // The server's limit on one argument, if it lets us read it (an
            // ACL user may not: then Redis's default).
            if let Ok(v) = redis::cmd("CONFIG")
                .arg("GET")
                .arg("proto-max-bulk-len")
                .query::<Vec<String>>(conn.like())
            {
                if let Some(n) = v.get(1).and_then(|n| n.parse::<u64>().ok()) {
                    self.max_frame.store(n, Ordering::Relaxed);
                }
            }
            // Whoever finds the server changed clears (once for the fleet);
            // a process that noticed the change itself but finds it already
            // cleared for does not clear again (`Cleared` below drops its
            // tiers all the same).
            let (fenced, before, after): (bool, u64, u64) = redis::cmd("EVAL")
                .arg([NEXT_GENERATION, FENCE_SCRIPT].concat())
                .arg(2)
                .arg(&self.gen_key)
                .arg(&self.id_key)
                .arg(now.record())
                .arg(self.newest_known())
                .query(conn.like())?;
            // The server's word, even if older than what this process knew
            // (a server that lost its data starts again at 0; `fenced` then).
            self.generation.store(after, Ordering::Release);
            // So that this process's first loader's answer after a removal
            // of many keys elsewhere is not refused for want of it (`Known`).
            // None yet (a new namespace, or the mark evicted): set now, or
            // the first answer would be refused (`PUT_SCRIPT` sets a mark
            // it finds gone, and refuses the answer).
            self.removal_mark(conn)?;
            if fenced {
                redis::cmd("PUBLISH")
                    .arg(&self.channel)
                    .arg(self.message(&Message::Clear(after)))
                    .exec(conn.like())?;
            }
            let pending = self.pending.lock().take();
            if fenced {
                // The clear covers whatever this process could not write.
            } else if pending.everything {
                if let Err(e) = self.bump_generation_on(conn.like()) {
                    self.pending.lock().put_back(pending);
                    return Err(e);
                }
            } else if !pending.keys.is_empty() {
                let writes: Vec<Write> = pending
                    .keys
                    .iter()
                    .map(|k| Write {
                        key: k.clone(),
                        version: self.next_version(),
                        expires_at: 0,
                        written_at: 0,
                        value: None,
                        tags: Vec::new(),
                        loaded_in: None,
                    })
                    .collect();
                let cmds = writes.iter().map(|w| self.write_cmd(w)).collect();
                if let Err(e) = conn.pipeline::<Vec<redis::Value>>(cmds) {
                    // Keep them for the next try.
                    self.pending.lock().put_back(pending);
                    return Err(e);
                }
            }
            self.pending.lock().settle();
            *self.identity.lock() = Some(now);
            // A clear this process has not applied: drop everything. (A
            // generation behind the newest this process knew is the server's
            // loss, not a clear: the fence has just cleared for it.)
            let changed = restarted || fenced;
            let r = if before > self.applied.load(Ordering::Acquire) {
                Resynced::Cleared
            } else if changed {
                Resynced::Restarted
            } else {
                Resynced::Same
            };
            if r != Resynced::Same {
                self.applied.fetch_max(after, Ordering::AcqRel);
            }
            Ok(r)
        })
    }
}
