//! Which server holds the namespace, as far as lost data goes: a change of
//! identity means the server may have lost writes it acknowledged, or come
//! back from an old snapshot, so that what it holds can be older than what
//! the fleet was told (the namespace must then be cleared).
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
//! Two memories compare it, because either alone has a gap:
//! - the fleet's, in the server (`FENCE_SCRIPT`, the `…:gen}id` record next
//!   to the generation): the identity under which the namespace was last
//!   cleared. A process that finds another there clears the namespace and
//!   records the new one, in one step, so it does not matter whether any
//!   process was running when the server restarted (a new process reading
//!   a master restarted from an old snapshot finds the old record, or none);
//! - each process's, of its last resync: a connection is used for reads only
//!   if what it reaches still has that identity (`Remote::run_checked`), and
//!   the background thread compares it once a second.
//!
//! The identity is read through the connection that will be used (for a
//! cluster, `INFO` is routed to each master over that connection's own
//! socket to it), so what is compared is what the reads will reach.

use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{ConnectionLike, RedisResult};

use super::Conn;

/// A server's or a cluster's identity (`of`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The masters' node ids, sorted, comma-separated ("" for one server).
    pub masters: String,
    /// Each master's `run_id`, in the order of `masters`.
    pub runs: String,
}

impl Identity {
    /// How the fleet's record in the server spells it (docs/FORMAT.md):
    /// `1 <masters> <runs>` (a format version, then the two lists; neither
    /// holds a space). `FENCE_SCRIPT` appends ` <generation>` to it.
    pub fn record(&self) -> String {
        format!("1 {} {}", self.masters, self.runs)
    }
}

/// The `run_id` line of a node's `INFO server`.
fn run_id(c: &mut dyn ConnectionLike) -> RedisResult<String> {
    let info: String = redis::cmd("INFO").arg("server").query(c)?;
    Ok(run_id_in(&info))
}

/// The `run_id` in an `INFO server` answer ("" if there is none).
fn run_id_in(info: &str) -> String {
    info.lines()
        .find_map(|l| l.strip_prefix("run_id:"))
        .unwrap_or("")
        .trim()
        .to_string()
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

/// The identity of what `conn` reaches. In a cluster, each master that
/// serves slots (one node's `CLUSTER NODES`) is asked its run id over
/// `conn`'s own socket to it (opened now if it had none); a master that
/// cannot be reached fails it. A node that has not yet heard of a failover
/// answers the old set of masters: the check is repeated.
pub fn of(conn: &mut Conn) -> RedisResult<Identity> {
    let c = match conn {
        Conn::Single(c) => {
            return Ok(Identity {
                masters: String::new(),
                runs: run_id(c)?,
            })
        }
        Conn::Cluster(c) => c,
    };
    let nodes: String = redis::cmd("CLUSTER").arg("NODES").query(&mut **c)?;
    let mut each: Vec<(String, String)> = Vec::new();
    for m in masters_in(&nodes) {
        let to = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
            host: m.host,
            port: m.port,
        });
        let info = c.route_command(redis::cmd("INFO").arg("server"), to)?;
        each.push((m.id, run_id_in(&redis::from_redis_value::<String>(&info)?)));
    }
    each.sort();
    let (ids, runs): (Vec<String>, Vec<String>) = each.into_iter().unzip();
    Ok(Identity {
        masters: ids.join(","),
        runs: runs.join(","),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_tells_every_change_apart() {
        let one = Identity {
            masters: String::new(),
            runs: "r1".into(),
        };
        let two = Identity {
            masters: String::new(),
            runs: "r2".into(),
        };
        let cluster = Identity {
            masters: "a,b".into(),
            runs: "r1,r2".into(),
        };
        let moved = Identity {
            masters: "a,c".into(),
            runs: "r1,r2".into(),
        };
        let records = [&one, &two, &cluster, &moved].map(|i| i.record());
        for (i, a) in records.iter().enumerate() {
            for b in &records[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(cluster.record(), "1 a,b r1,r2");
    }

    #[test]
    fn run_ids_are_read_from_info() {
        let info = "# Server\r\nredis_version:7.0.15\r\nrun_id:abc123\r\ntcp_port:6379\r\n";
        assert_eq!(run_id_in(info), "abc123");
        assert_eq!(run_id_in("# Server\r\n"), "");
    }
}
