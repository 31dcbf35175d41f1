//! The headline: issue 12's table of paths, each naming the tables of this
//! run that hold tiercache's figure, its peers' and its floor's, and the goal
//! the issue sets. `report::headline` prints it from whatever the run
//! measured (a workload not run leaves its rows "not measured").

use crate::report::{At, Goal, Headline};

const fn at(table: &'static str, system: &'static str, label: &'static str) -> At {
    At { table, system, label }
}

const TC_SO_GET: &str = "tiercache tc_get+free (.so)";
const LMDB_SO: At = at("", "LMDB (heed), copy out", "LMDB");

const fn lmdb(table: &'static str) -> At {
    At { table, ..LMDB_SO }
}

pub fn rows() -> Vec<Headline> {
    const L1: [At; 2] = [
        at("l1-100-wide", "lru::LruCache + Mutex", "lru+Mutex"),
        at("l1-100-wide", "quick_cache::sync::Cache", "quick_cache"),
    ];
    const L2_1K: [At; 1] = [lmdb("l2-so-1024")];
    const L2_16K: [At; 1] = [lmdb("l2-so-16384")];
    const PUT_100: [At; 1] = [at("put-so-100", "LMDB (heed, NO_SYNC, txn per put)", "LMDB")];
    const PUT_16K: [At; 1] = [at("put-so-16384", "LMDB (heed, NO_SYNC, txn per put)", "LMDB")];
    const REOPEN: [At; 1] = [at("open-reopen", "LMDB (heed)", "LMDB")];
    const LARGE: [At; 1] = [at("open-large", "LMDB (heed)", "LMDB")];
    const RSS_OPEN: [At; 2] = [
        at("rss-open-memory", "LMDB (heed)", "LMDB"),
        at("rss-open-memory", "redb", "redb"),
    ];
    const RSS_READ: [At; 2] = [
        at("rss-read-memory", "LMDB (heed)", "LMDB"),
        at("rss-read-memory", "redb", "redb"),
    ];
    const PY_GET: [At; 1] = [at("python-get-hit", "diskcache", "diskcache")];
    const PY_SET: [At; 1] = [at("python-set", "diskcache", "diskcache")];
    const GO_GET: [At; 1] = [at("go-get", "ristretto", "ristretto")];
    const GO_PAR: [At; 1] = [at("go-getparallel", "ristretto", "ristretto")];
    let sizes = crate::open::sizes();
    let size = |role: &str| {
        sizes
            .iter()
            .find(|s| s.1 == role)
            .map_or("(size not run)".to_string(), |s| count(s.0))
    };
    vec![
        Headline {
            path: format!(
                "L1 hit, 100 B, `tc_get` via the .so, {} keys",
                count(if crate::quick() { 10_000 } else { 100_000 })
            ),
            tc: at("l1-100-wide", TC_SO_GET, "tiercache"),
            peers: &L1,
            floor: Some(at("l1-100-wide", "floor: foldhash map, copy out", "foldhash map")),
            goal: Goal::Peer(1.1),
            goal_text: "≤ 1.1× the peer",
        },
        Headline {
            path: "L2 hit, 1 KiB, page cache warm, `tc_get` via the .so".into(),
            tc: at("l2-so-1024", TC_SO_GET, "tiercache"),
            peers: &L2_1K,
            floor: Some(at("l2-so-1024", "floor: mmap + CRC32, copy out", "mmap+CRC")),
            goal: Goal::PeerAndFloor(0.8, 1.3),
            goal_text: "≤ 0.8× LMDB, ≤ 1.3× floor",
        },
        Headline {
            path: "L2 hit, 16 KiB, page cache warm".into(),
            tc: at("l2-so-16384", TC_SO_GET, "tiercache"),
            peers: &L2_16K,
            floor: Some(at("l2-so-16384", "floor: mmap + CRC32, copy out", "mmap+CRC")),
            goal: Goal::Peer(1.0),
            goal_text: "≤ 1.0× LMDB",
        },
        Headline {
            path: "put, 100 B, no fsync".into(),
            tc: at("put-so-100", "tiercache tc_put (.so, sync never)", "tiercache"),
            peers: &PUT_100,
            floor: Some(at("put-so-100", "floor: CRC32 + buffered append + map", "append")),
            goal: Goal::Floor(2.0),
            goal_text: "≤ 2× floor",
        },
        Headline {
            path: "put, 16 KiB, no fsync".into(),
            tc: at("put-so-16384", "tiercache tc_put (.so, sync never)", "tiercache"),
            peers: &PUT_16K,
            floor: Some(at("put-so-16384", "floor: CRC32 + buffered append + map", "append")),
            goal: Goal::Peer(1.0),
            goal_text: "≤ 1.0× LMDB",
        },
        Headline {
            path: format!("reopen {} entries → first get", size("reopen")),
            tc: at("open-reopen", "tiercache", "tiercache"),
            peers: &REOPEN,
            floor: None,
            goal: Goal::Peer(5.0),
            goal_text: "≤ 5× LMDB",
        },
        Headline {
            path: format!("reopen {} entries → first get", size("large")),
            tc: at("open-large", "tiercache", "tiercache"),
            peers: &LARGE,
            floor: None,
            goal: Goal::AtMost(10.0),
            goal_text: "≤ 10 ms (10M entries)",
        },
        Headline {
            path: format!("anonymous RSS per disk entry after open ({})", size("memory")),
            tc: at("rss-open-memory", "tiercache", "tiercache"),
            peers: &RSS_OPEN,
            floor: None,
            goal: Goal::AtMost(2.0),
            goal_text: "≤ 2 B",
        },
        Headline {
            path: format!("anonymous RSS per entry after every key was read ({})", size("memory")),
            tc: at("rss-read-memory", "tiercache", "tiercache"),
            peers: &RSS_READ,
            floor: None,
            goal: Goal::AtMost(16.0),
            goal_text: "≤ 16 B",
        },
        Headline {
            path: "Python get (hit), 100 B".into(),
            tc: at("python-get-hit", "tiercache", "tiercache"),
            peers: &PY_GET,
            floor: None,
            goal: Goal::Peer(1.0 / 15.0),
            goal_text: "≥ 15× faster than diskcache (≤ 0.067×)",
        },
        Headline {
            path: "Python set, 100 B".into(),
            tc: at("python-set", "tiercache", "tiercache"),
            peers: &PY_SET,
            floor: None,
            goal: Goal::Peer(1.0 / 60.0),
            goal_text: "≥ 60× faster than diskcache (≤ 0.017×)",
        },
        Headline {
            path: "Go `Get`, 128 B".into(),
            tc: at("go-get", "tiercache", "tiercache"),
            peers: &GO_GET,
            floor: None,
            goal: Goal::Peer(2.0),
            goal_text: "≤ 2× ristretto",
        },
        Headline {
            path: "Go `GetParallel`, 128 B".into(),
            tc: at("go-getparallel", "tiercache", "tiercache"),
            peers: &GO_PAR,
            floor: None,
            goal: Goal::Peer(2.0),
            goal_text: "≤ 2× ristretto",
        },
    ]
}

/// 200000 → "200k", 10000000 → "10M".
fn count(n: u64) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}
