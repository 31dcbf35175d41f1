//! The remote tier's URL: which server(s), how to reach them, as whom.
//!
//! Parsed once, when `tc_options_set_remote` is called, so that a bad URL is
//! `TC_INVALID_ARGUMENT` with its reason there, not a surprise at open. The
//! forms (README.md, "Many processes, many machines"):
//!
//! - `redis://[user:password@]host[:port][/db]` (and `valkey://`),
//! - `rediss://…` for TLS (rustls; the server's certificate is checked
//!   against the system's roots, or those of the file `SSL_CERT_FILE` names),
//! - `redis+cluster://[user:password@]host:port[,host:port…]` (and
//!   `rediss+cluster://`): the seed nodes of a Redis Cluster.

use redis::{ConnectionInfo, IntoConnectionInfo};

use crate::error::{Error, Result};

/// Where the remote tier lives.
#[derive(Clone)]
pub enum Target {
    /// One server (or a proxy in front of several).
    Single(ConnectionInfo),
    /// The seed nodes of a Redis Cluster: the rest are learned from them.
    Cluster(Vec<ConnectionInfo>),
}

// Addresses only: the connection infos hold passwords.
impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let addrs: Vec<String> = self.nodes().iter().map(|n| n.addr.to_string()).collect();
        match self {
            Target::Single(_) => write!(f, "Single({})", addrs[0]),
            Target::Cluster(_) => write!(f, "Cluster({})", addrs.join(",")),
        }
    }
}

impl Target {
    /// The first node given (credentials and all).
    pub fn first(&self) -> &ConnectionInfo {
        &self.nodes()[0]
    }

    /// The nodes given: a subscriber connects to one of them (a message
    /// published on any node of a cluster reaches the subscribers of every
    /// node), the next one when it fails.
    pub fn nodes(&self) -> &[ConnectionInfo] {
        match self {
            Target::Single(i) => std::slice::from_ref(i),
            Target::Cluster(nodes) => nodes,
        }
    }
}

/// Parses a remote URL; the error says what is wrong with it.
pub fn parse(url: &str) -> Result<Target> {
    let bad = |why: &str| Error::invalid(format!("url: {why}"));
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(bad(
            "not a URL (expected redis://host:port, rediss://… or redis+cluster://…)",
        ));
    };
    let (base, cluster) = match scheme {
        "redis" | "rediss" | "valkey" | "valkeys" => (scheme, false),
        "redis+cluster" => ("redis", true),
        "rediss+cluster" => ("rediss", true),
        other => {
            return Err(bad(&format!(
                "unknown scheme {other:?} (expected redis, rediss, valkey, valkeys, redis+cluster or rediss+cluster)"
            )))
        }
    };
    if !cluster {
        return Ok(Target::Single(node(url)?));
    }
    // redis+cluster://user:pass@h1:p1,h2:p2/…: every node gets the credentials.
    let (auth, hosts) = match rest.rsplit_once('@') {
        Some((auth, hosts)) => (format!("{auth}@"), hosts),
        None => (String::new(), rest),
    };
    let hosts = hosts.split('/').next().unwrap_or("");
    let mut nodes = Vec::new();
    for h in hosts.split(',') {
        if h.is_empty() {
            return Err(bad("an empty host in the cluster's host list"));
        }
        if !h.contains(':') {
            return Err(bad(&format!("cluster node {h:?} has no port")));
        }
        nodes.push(node(&format!("{base}://{auth}{h}"))?);
    }
    Ok(Target::Cluster(nodes))
}

/// One server's URL, checked by the redis crate and then by us (a host).
fn node(url: &str) -> Result<ConnectionInfo> {
    let parsed = url::Url::parse(url).map_err(|e| Error::invalid(format!("url: {e}")))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(Error::invalid("url: no host"));
    }
    url.into_connection_info()
        .map_err(|e| Error::invalid(format!("url: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert!(matches!(parse("redis://127.0.0.1:6379"), Ok(Target::Single(_))));
        assert!(
            matches!(parse("redis://u:p@localhost:1/2"), Ok(Target::Single(i)) if i.redis.db == 2
            && i.redis.username.as_deref() == Some("u") && i.redis.password.as_deref() == Some("p"))
        );
        match parse("redis+cluster://u:p@a:1,b:2") {
            Ok(Target::Cluster(n)) => {
                assert_eq!(n.len(), 2);
                assert_eq!(n[1].redis.password.as_deref(), Some("p"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_urls_say_why() {
        for (url, why) in [
            ("localhost:6379", "not a URL"),
            ("http://localhost", "unknown scheme"),
            ("redis://", "no host"),
            ("redis://h:notaport", "url:"),
            ("redis+cluster://a:1,,b:2", "empty host"),
            ("redis+cluster://a", "no port"),
        ] {
            let e = parse(url).unwrap_err();
            assert_eq!(e.status(), crate::error::Status::TC_INVALID_ARGUMENT);
            assert!(e.message().contains(why), "{url}: {}", e.message());
        }
    }
}

#[cfg(test)]
mod debug_tests {
    #[test]
    fn debug_output_has_no_password() {
        let t = super::parse("redis+cluster://u:hunter2@a:1,b:2").unwrap();
        let s = format!("{t:?}");
        assert!(!s.contains("hunter2") && s.contains("a:1"), "{s}");
        let mut o = crate::Options::new();
        o.set_remote(Some("redis://:hunter2@h:1")).unwrap();
        o.set_remote_secret(b"hunter2-hunter2-hunter2").unwrap();
        assert!(!format!("{o:?}").contains("hunter2"));
    }
}
