//! Which server holds the namespace, as far as lost data goes: a change of
//! identity between two resyncs means the server may have lost writes it
//! acknowledged, or come back from an old snapshot, so that what it holds
//! can be older than what the fleet was told (the resync then clears the
//! namespace).
//!
//! - One server: its `run_id` (new at every start).
//! - A cluster: each master's node id and `run_id`. A failover puts a
//!   replica in its master's place (a new node id): replication is
//!   asynchronous, so writes the old master acknowledged may be missing on
//!   it; a restarted master has a new run id. A manual `CLUSTER FAILOVER`
//!   loses nothing, but cannot be told apart from the outside, and a
//!   reshard that adds or removes a master changes the identity too: both
//!   cost one clear, never a stale value.
//!
//! The masters alone (`masters`, one `CLUSTER NODES`) are cheap enough to
//! check at every new connection and once a second, so that no call reads
//! a promoted replica before the resync has cleared what it may hold.

use std::time::Duration;

use redis::{ConnectionInfo, ConnectionLike, RedisResult};

use super::Conn;

/// A server's or a cluster's identity (`of`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The masters' node ids, sorted, comma-separated ("" for one server).
    pub masters: String,
    /// Each master's `run_id`, in the order of `masters`.
    pub runs: String,
}

/// The `run_id` line of a node's `INFO server`.
fn run_id(c: &mut dyn ConnectionLike) -> RedisResult<String> {
    let info: String = redis::cmd("INFO").arg("server").query(c)?;
    Ok(info
        .lines()
        .find_map(|l| l.strip_prefix("run_id:"))
        .unwrap_or("")
        .trim()
        .to_string())
}

/// A master of a cluster, as `CLUSTER NODES` lists it.
pub struct Master {
    pub id: String,
    pub host: String,
    pub port: u16,
}

/// The masters that serve slots in one node's `CLUSTER NODES` answer,
/// whether or not they are reachable: one marked failed (or suspected) is
/// kept, so that whoever needs every master's keys fails on it rather than
/// skip its slots (its replica, once promoted, holds the same keys).
pub fn masters_in(nodes: &str) -> Vec<Master> {
    nodes
        .lines()
        .filter_map(|line| {
            // id ip:port@cport[,hostname] flags master-id ping pong epoch link slot…
            let f: Vec<&str> = line.split(' ').collect();
            if f.len() < 9 || !f[2].split(',').any(|flag| flag == "master") {
                return None;
            }
            let addr = f[1].split('@').next()?;
            let (host, port) = addr.rsplit_once(':')?;
            Some(Master {
                id: f[0].to_string(),
                host: host.to_string(),
                port: port.parse().ok()?,
            })
        })
        .collect()
}

/// The node ids of the masters that serve slots, sorted, from one node's
/// `CLUSTER NODES`. A node that has not yet heard of a failover answers the
/// old set: the check is repeated.
pub fn masters(c: &mut dyn ConnectionLike) -> RedisResult<String> {
    let nodes: String = redis::cmd("CLUSTER").arg("NODES").query(c)?;
    let mut ids: Vec<String> = masters_in(&nodes).into_iter().map(|m| m.id).collect();
    ids.sort_unstable();
    Ok(ids.join(","))
}

/// The identity of what `conn` reaches: for a cluster, each master is asked
/// its run id on a connection of its own (`seed` gives the credentials and
/// TLS settings); a master that cannot be reached fails it.
pub fn of(conn: &mut Conn, seed: &ConnectionInfo, timeout: Duration) -> RedisResult<Identity> {
    if let Conn::Single(c) = conn {
        return Ok(Identity {
            masters: String::new(),
            runs: run_id(c)?,
        });
    }
    let mut each: Vec<(String, String)> = Vec::new();
    conn.each_master(seed, timeout, |id, node| {
        each.push((id.to_string(), run_id(node)?));
        Ok(())
    })?;
    each.sort();
    let (ids, runs): (Vec<String>, Vec<String>) = each.into_iter().unzip();
    Ok(Identity {
        masters: ids.join(","),
        runs: runs.join(","),
    })
}
