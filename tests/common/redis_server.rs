//! Real `redis-server` processes for the remote tier's tests, each on a
//! loopback port it picks, in a temporary directory, stopped when its guard
//! goes (on a panic too); and a TCP proxy in front of one, which a test can
//! cut (every connection dropped, new ones refused) and heal, to partition
//! one process from the server while the others stay connected, or whose
//! subscriptions it can hold (what the server sends on them waits), to
//! decide when invalidations reach a process.
//!
//! The server binary is `redis-server`, or the one `TIERCACHE_REDIS_SERVER`
//! names (`valkey-server`: the same tests against Valkey).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A free loopback port (the listener is closed again at once).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A free port for a cluster node, whose bus port (10000 above it) is free
/// too. Redis refuses to start a cluster node above port 55535, and the
/// kernel hands out ports up to 60999 (`ip_local_port_range`): about one
/// in five. Found in CI: a node of a cluster that never came up, "gave up
/// waiting for redis-server to accept connections".
pub fn free_cluster_port() -> u16 {
    loop {
        let p = free_port();
        if p <= 55535 && TcpListener::bind(("127.0.0.1", p + 10000)).is_ok() {
            return p;
        }
    }
}

/// The server binary the tests start: `TIERCACHE_REDIS_SERVER`, or
/// `redis-server`.
pub fn server_binary() -> String {
    std::env::var("TIERCACHE_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into())
}

/// Waits, with a bound, for `cond`; panics with `what` if it never holds.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < end, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A running `redis-server`; killed when dropped.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    extra: Vec<String>,
    /// Serves TLS only (`start_tls`).
    tls: bool,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    /// With extra `redis-server` arguments (e.g. `--requirepass x`).
    pub fn start_with(extra: &[&str]) -> RedisServer {
        let cluster = extra.contains(&"--cluster-enabled");
        let mut s = RedisServer {
            child: None,
            port: if cluster { free_cluster_port() } else { free_port() },
            dir: tempfile::tempdir().unwrap(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            tls: false,
        };
        s.spawn();
        s
    }

    /// A server that speaks TLS only, with a certificate for 127.0.0.1
    /// signed by a CA that this makes with openssl; returns the CA's file
    /// (PEM) for the client to trust.
    pub fn start_tls() -> (RedisServer, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(d)
                .output()
                .expect("openssl (scripts/deps.sh installs it)");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=tiercache test CA",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        std::fs::write(d.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ]);
        let path = |f: &str| d.join(f).to_str().unwrap().to_string();
        let port = free_port();
        let extra = vec![
            "--tls-port".into(),
            port.to_string(),
            "--tls-cert-file".into(),
            path("server.crt"),
            "--tls-key-file".into(),
            path("server.key"),
            "--tls-ca-cert-file".into(),
            path("ca.crt"),
            "--tls-auth-clients".into(),
            "no".into(),
        ];
        let mut s = RedisServer {
            child: None,
            port,
            dir,
            extra,
            tls: true,
        };
        s.spawn();
        let ca = s.dir.path().join("ca.crt");
        (s, ca)
    }

    fn spawn(&mut self) {
        let port_arg = if self.tls {
            "0".to_string()
        } else {
            self.port.to_string()
        };
        let child = Command::new(server_binary())
            .args(["--port", &port_arg, "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "start {} (scripts/deps.sh installs redis-server and valkey-server): {e}",
                    server_binary()
                )
            });
        self.child = Some(child);
        let port = self.port;
        if self.tls {
            // (A TLS server cannot be pinged in plain text.)
            wait_for("redis-server to accept TLS connections", || {
                TcpStream::connect(("127.0.0.1", port)).is_ok()
            });
            return;
        }
        let child = self.child.as_mut().unwrap();
        wait_for("redis-server to accept connections", || {
            // Said at once, rather than after the wait's bound.
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "{} on port {port} exited ({status}) before it accepted a connection",
                    server_binary()
                );
            }
            TcpStream::connect(("127.0.0.1", port))
                .and_then(|mut s| {
                    s.write_all(b"PING\r\n")?;
                    let mut buf = [0u8; 64];
                    let n = s.read(&mut buf)?;
                    Ok(n > 0 && (buf.starts_with(b"+PONG") || buf.starts_with(b"-NOAUTH")))
                })
                .unwrap_or(false)
        });
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// A plain client of the server, for reading and writing it directly.
    pub fn client(&self) -> redis::Connection {
        redis::Client::open(self.url()).unwrap().get_connection().unwrap()
    }

    /// Kills the server (its data is gone: no persistence).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers.
    pub fn freeze(&self) {
        self.signal(libc::SIGSTOP);
    }

    pub fn thaw(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, sig: i32) {
        if let Some(c) = &self.child {
            // SAFETY: a signal to our own child process.
            unsafe { libc::kill(c.id() as i32, sig) };
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.thaw();
        self.kill();
    }
}

/// A TCP proxy to a port on loopback, which can be cut and healed, and
/// whose subscriptions can be held.
pub struct Proxy {
    pub port: u16,
    cut: Arc<AtomicBool>,
    hold: Arc<AtomicBool>,
    /// Holds what the server sends on the other connections (answers).
    hold_data: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    pub fn to(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let hold = Arc::new(AtomicBool::new(false));
        let hold_data = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let streams: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let thread = {
            let (cut, hold, hold_data, stop, streams) = (
                cut.clone(),
                hold.clone(),
                hold_data.clone(),
                stop.clone(),
                streams.clone(),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    let Ok((down, _)) = listener.accept() else {
                        std::thread::sleep(Duration::from_millis(2));
                        continue;
                    };
                    if cut.load(Ordering::Acquire) {
                        continue; // dropped: the connection is refused
                    }
                    let _ = down.set_nonblocking(false);
                    let Ok(up) = TcpStream::connect(("127.0.0.1", upstream)) else {
                        continue;
                    };
                    let mut all = streams.lock().unwrap();
                    all.push(down.try_clone().unwrap());
                    all.push(up.try_clone().unwrap());
                    // Set once the client asked this connection to subscribe.
                    let subscribed = Arc::new(AtomicBool::new(false));
                    let (client, server) = (down.try_clone().unwrap(), up.try_clone().unwrap());
                    let (seen, held, held_data) = (subscribed.clone(), hold.clone(), hold_data.clone());
                    std::thread::spawn(move || {
                        pump(client, server, |chunk| {
                            if chunk.windows(9).any(|w| w.eq_ignore_ascii_case(b"SUBSCRIBE")) {
                                seen.store(true, Ordering::Release);
                            }
                        })
                    });
                    std::thread::spawn(move || {
                        pump(up, down, |_| loop {
                            let sub = subscribed.load(Ordering::Acquire);
                            let wait = if sub { &held } else { &held_data };
                            if !wait.load(Ordering::Acquire) {
                                break;
                            }
                            std::thread::sleep(Duration::from_millis(1));
                        })
                    });
                }
            })
        };
        Proxy {
            port,
            cut,
            hold,
            hold_data,
            stop,
            streams,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::Release);
        for s in self.streams.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    pub fn heal(&self) {
        self.cut.store(false, Ordering::Release);
    }

    /// Holds what the server sends on subscribed connections (messages, the
    /// answers to the subscriber's PINGs) until `release`: the processes
    /// behind the proxy hear no invalidation meanwhile, as if it were slow
    /// to arrive. The other connections flow.
    pub fn hold_subscriptions(&self) {
        self.hold.store(true, Ordering::Release);
    }

    pub fn release_subscriptions(&self) {
        self.hold.store(false, Ordering::Release);
    }

    /// Holds what the server sends on the connections that are not
    /// subscribed (the answers to calls: a call then waits, up to its
    /// timeout) until `release_answers`; the server has run the calls.
    pub fn hold_answers(&self) {
        self.hold_data.store(true, Ordering::Release);
    }

    pub fn release_answers(&self) {
        self.hold_data.store(false, Ordering::Release);
    }
}

/// Copies `from` to `to` until either side closes, calling `each` with a
/// chunk before it is passed on (it may look at it, or wait).
fn pump(mut from: TcpStream, mut to: TcpStream, mut each: impl FnMut(&[u8])) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                each(&buf[..n]);
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A Redis Cluster of three masters, each with `replicas` replicas, each
/// node a `RedisServer`.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
    /// Replicas of each master.
    replicas: usize,
}

impl RedisCluster {
    /// Three masters, no replicas.
    pub fn start() -> RedisCluster {
        RedisCluster::start_with_replicas(0, 2000)
    }

    /// Three masters and `replicas` replicas of each; a node is marked
    /// failed (and its replica promoted) after `node_timeout_ms`.
    pub fn start_with_replicas(replicas: usize, node_timeout_ms: u64) -> RedisCluster {
        let timeout = node_timeout_ms.to_string();
        let nodes: Vec<RedisServer> = (0..3 * (1 + replicas))
            .map(|_| {
                RedisServer::start_with(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    &timeout,
                ])
            })
            .collect();
        let addrs: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .output()
            .expect("redis-cli (it comes with redis-server)");
        assert!(
            out.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let cluster = RedisCluster { nodes, replicas };
        cluster.wait_ok();
        cluster
    }

    /// Waits until every running node says the cluster is ok and knows a
    /// replica of each master for each running one, and every replica's
    /// link to its master is up (so that it can take its place).
    pub fn wait_ok(&self) {
        let running = self.nodes.iter().filter(|n| n.child.is_some()).count();
        let replicas = running.min(3 * (1 + self.replicas)) - 3;
        for n in self.nodes.iter().filter(|n| n.child.is_some()) {
            wait_for("the cluster to be ok", || {
                let Ok(mut c) = redis::Client::open(n.url()).and_then(|c| c.get_connection()) else {
                    return false;
                };
                let ok = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query::<String>(&mut c)
                    .is_ok_and(|i| i.contains("cluster_state:ok"));
                let known = redis::cmd("CLUSTER")
                    .arg("NODES")
                    .query::<String>(&mut c)
                    .is_ok_and(|nodes| {
                        nodes
                            .lines()
                            .filter(|l| l.split(' ').nth(2).is_some_and(|f| f.split(',').any(|f| f == "slave")))
                            .count()
                            >= replicas
                    });
                let linked = redis::cmd("INFO")
                    .arg("replication")
                    .query::<String>(&mut c)
                    .is_ok_and(|i| i.contains("role:master") || i.contains("master_link_status:up"));
                ok && known && linked
            });
        }
    }

    pub fn url(&self) -> String {
        let hosts: Vec<String> = self.nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        format!("redis+cluster://{}", hosts.join(","))
    }

    /// The role of node `i` as it says itself: "master" or "slave".
    pub fn role(&self, i: usize) -> String {
        let mut c = self.nodes[i].client();
        let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut c).unwrap();
        match &role[0] {
            redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            redis::Value::SimpleString(s) => s.clone(),
            other => panic!("ROLE: {other:?}"),
        }
    }

    /// The index of the node that serves `key`'s slot now (`key` as Redis
    /// sees it: the cache's key with the namespace's prefix) (asked of node
    /// `ask`, which must be running).
    pub fn master_of(&self, ask: usize, key: &[u8]) -> usize {
        let mut c = self.nodes[ask].client();
        let slot: u16 = redis::cmd("CLUSTER").arg("KEYSLOT").arg(key).query(&mut c).unwrap();
        let slots: Vec<redis::Value> = redis::cmd("CLUSTER").arg("SLOTS").query(&mut c).unwrap();
        for range in slots {
            let redis::Value::Array(r) = range else { continue };
            let (redis::Value::Int(lo), redis::Value::Int(hi)) = (&r[0], &r[1]) else {
                continue;
            };
            if (*lo..=*hi).contains(&(slot as i64)) {
                let redis::Value::Array(m) = &r[2] else { continue };
                let redis::Value::Int(port) = m[1] else { continue };
                return self.nodes.iter().position(|n| n.port == port as u16).unwrap();
            }
        }
        panic!("no node serves slot {slot}");
    }

    /// The index of a replica of master `m`.
    pub fn replica_of(&self, m: usize) -> usize {
        let mut c = self.nodes[m].client();
        let id: String = redis::cmd("CLUSTER").arg("MYID").query(&mut c).unwrap();
        let replicas: Vec<String> = redis::cmd("CLUSTER").arg("REPLICAS").arg(&id).query(&mut c).unwrap();
        let line = replicas.first().expect("the master has a replica");
        let port: u16 = line
            .split(' ')
            .nth(1)
            .unwrap()
            .split('@')
            .next()
            .unwrap()
            .rsplit_once(':')
            .unwrap()
            .1
            .parse()
            .unwrap();
        self.nodes.iter().position(|n| n.port == port).unwrap()
    }

    /// Kills node `i` (SIGKILL: no goodbye to the cluster).
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].kill();
    }

    /// Starts node `i` again: it rejoins (from its nodes.conf) as a replica
    /// of whoever took its slots.
    pub fn restart(&mut self, i: usize) {
        self.nodes[i].spawn();
    }

    /// Runs `CLUSTER FAILOVER` on replica `r`: it takes its master's place
    /// once it has caught up (nothing acknowledged is lost).
    pub fn failover(&self, r: usize) {
        let mut c = self.nodes[r].client();
        redis::cmd("CLUSTER").arg("FAILOVER").exec(&mut c).unwrap();
    }
}

/// Waits until every invalidation `from` published so far has reached `to`:
/// `to` holds `marker`, `from` writes it, and `to` drops its copy on that
/// message, which arrives after `from`'s earlier ones (messages from one
/// publisher arrive in order).
///
/// A late message from a third process (a clear's, released just before)
/// may drop `to`'s copy too: its put is retried until it holds (the model
/// test's `quiesce` makes two passes, so that such a message has arrived by
/// the second). `to`'s copy may also go without `from`'s put ever reaching
/// the server: a subscription that was held long enough for its PING to
/// time out breaks just after the heal, and `from`'s put, made while it
/// resubscribes, is reconciled as a removal (published after its earlier
/// messages too). So the end is `to` no longer holding `to`'s value.
pub fn heard(from: &tiercache::Cache, to: &tiercache::Cache, marker: &[u8]) {
    wait_for("the marker to stay in the process that put it", || {
        to.put(marker, b"old", 0).unwrap();
        super::get(to, marker).as_deref() == Ok(b"old")
    });
    from.put(marker, b"new", 0).unwrap();
    wait_for("the marker's invalidation", || {
        super::get(to, marker).as_deref() != Ok(b"old")
    });
}

/// Runs `write` on another thread of `a` and stops it between the write's
/// local half and its round trip to the server; `between` runs there, and
/// then the write goes on. Returns what `write` returned.
pub fn between_halves<T: Send + 'static>(
    a: &std::sync::Arc<tiercache::Cache>,
    write: impl FnOnce(&tiercache::Cache) -> T + Send + 'static,
    between: impl FnOnce(),
) -> T {
    let (paused, at_pause) = std::sync::mpsc::channel();
    let (go, on_go) = std::sync::mpsc::channel::<()>();
    let on_go = std::sync::Mutex::new(on_go);
    a.before_remote_writes(Some(std::sync::Arc::new(move || {
        let _ = paused.send(());
        let _ = on_go.lock().unwrap().recv();
    })));
    let writer = {
        let a = a.clone();
        std::thread::spawn(move || write(&a))
    };
    at_pause.recv().unwrap();
    a.before_remote_writes(None);
    between();
    go.send(()).unwrap();
    writer.join().unwrap()
}
