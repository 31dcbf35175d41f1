//! Seeded model test of the remote tier across processes: three caches of
//! one namespace on one `redis-server` (tests/common/redis_server.rs), each
//! behind its own proxy, standing for three processes; one has a directory
//! (L2), another an L1 of two entries (most of its gets read the server).
//! A seeded random walk of puts (some tagged, some with a TTL),
//! removals, touches, gets, batched gets, prefix and tag removals, clears,
//! restarts (a crash, for the one with a directory) and restarts of the
//! server (empty, as without persistence), while the proxies hold a
//! process's invalidations back (its subscription's messages wait: late
//! invalidations) and cut a process off the server and heal it again.
//! Beside a quarter of the steps, a get runs on another thread of a process
//! the step does not restart. Three in four of those beside a write are
//! **slow loads**: a get of a key the step writes, in another process, whose
//! loader reads the source before the step begins and answers only once
//! the step is done, as a load that spans a write does (the model's loads
//! are otherwise too quick to span one); in half of them the process hears
//! nothing of the step until its get returned (else the step's message
//! usually arrives first and cancels the load). Such a load's answer is
//! older than the step's write, and must not outlive it anywhere. With the
//! rule that a loader's answer never replaces a frame of its generation
//! switched off, 20 seeds × 400 steps found nothing without slow loads and
//! the fifth seed failed with them (3 December).
//! `TIERCACHE_REMOTE_MODEL_SLOW=0` turns them off.
//!
//! Even seeds draw the **removal mix** (`Mix`): one step in six a prefix or
//! tag removal, each with a slow load beside it where one can be, so that
//! loads span the removals that leave no tombstone. With the namespace's
//! removal mark switched off (docs/CONSISTENCY.md §9), seed 200 fails in
//! two runs of three (a process reads back, over its own prefix removal, a
//! loader's answer read before it); 30 plain seeds had found nothing. `TIERCACHE_REMOTE_MODEL_MIX=
//! plain|removals` sets one mix for every seed. The removal mix also has
//! the server **evict** a tag's set (and, one time in three, the tag's
//! epoch and the removal mark), as `maxmemory` with an `allkeys-*` policy
//! may: with tag epochs switched off (a reader vouching for every tagged
//! value), seed 306 fails in 3 runs of 3 (at step 204 a quiescent process
//! reads back `b/1`, removed by a `remove_tag` that found its set evicted),
//! while the 12 seeds from 200 pass: evictions are often undone by a
//! clear or a prefix removal before a tag removal needs the set.
//!
//! The model is the truth a real deployment caches: a map the writes update
//! before they reach the cache (a put stands for "write the source, then
//! the cache"; a removal for "delete it"), which every cache's loader
//! reads. The steps are made one at a time, so their history is a total
//! order; what is concurrent is the delivery of invalidations, which the
//! proxies decide, and the gets beside the steps. Checked
//! (docs/CONSISTENCY.md §9 and §5):
//!
//! - **Nothing older comes back.** A get (or a batched get) answers the
//!   key's truth at the last quiescent point or a value written since
//!   (never one replaced before that point), or "not found" only if the key
//!   had no value at that point or was removed since. Invalidation is
//!   asynchronous and a cut-off process answers from its own tiers, so
//!   staleness within that window is allowed; beyond it, never.
//! - **Read your writes.** A get in the process that made the key's latest
//!   put or removal (in the whole fleet) answers exactly it, whatever
//!   invalidations are late, whoever is cut off; a crash of that process
//!   may lose the write (as §5 allows), so it ends the claim. (Not for a
//!   get beside a step, which may race the write, nor after a tag removal.)
//! - **Convergence.** At a quiescent point (every proxy healed and
//!   released, every process's tier back, and every process has heard every
//!   message every other one published: `heard`, as in tests/remote.rs)
//!   every process answers every key's truth exactly. The directory
//!   cache is flushed there, so a later crash loses only later writes.
//! - A write the design allows to be lost (CONSISTENCY.md §9: a process
//!   without a directory that ends while it cannot reach the server takes
//!   its unreconciled writes along) makes its key `lost`: any value it ever
//!   had may be read, until a process that can reach the server writes it.
//!
//! `TIERCACHE_REMOTE_MODEL_TRACE=1` prints every step, what gets answered,
//! and the server's frame of every key after it.
//!
//! Run it (needs `redis-server`, or `TIERCACHE_REDIS_SERVER`):
//!
//! ```text
//! cargo test --test remote_model                          # 3 seeds × 150 steps (well under a minute)
//! TIERCACHE_REMOTE_MODEL=large cargo test --test remote_model  # 40 seeds × 600 steps
//! TIERCACHE_REMOTE_MODEL_SEED=7 cargo test --test remote_model -- --nocapture
//! ```
//!
//! `TIERCACHE_REMOTE_MODEL_SEEDS=<n>` and `TIERCACHE_REMOTE_MODEL_STEPS=<n>`
//! set the size (with `TIERCACHE_REMOTE_MODEL_SEED=<s>` too: the `n` seeds
//! from `s`). The operation list is drawn from the seed alone (never
//! from the caches' answers), and printed step by step with `--nocapture`
//! when a seed fails; the order in which late messages land is the one
//! thing not replayed exactly (it depends on the proxies' threads).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

use common::redis_server::{heard, wait_for, Proxy, RedisServer};
use common::Rng;
use tiercache::{Cache, Loaded, Options, Status};

const NS: &[u8] = b"model-ns";
const KEYS: [&[u8]; 6] = [b"a/0", b"a/1", b"a/2", b"b/0", b"b/1", b"b/2"];
const PREFIXES: [&[u8]; 2] = [b"a/", b"b/"];
/// A tagged value ends with `@` and its tag: the loader gives it back with
/// its tag, as a real source would.
const TAGS: [&[u8]; 2] = [b"t0", b"t1"];
/// Processes; the last one has a directory.
const PROCS: usize = 3;
const HOUR_MS: u64 = 3_600_000;

type Truth = Arc<Mutex<BTreeMap<Vec<u8>, Vec<u8>>>>;

/// One step of the walk, drawn from the seed.
#[derive(Clone, Debug)]
enum Op {
    Get(usize, usize),
    GetMany(usize),
    /// Process, key, TTL, tag.
    Put(usize, usize, u64, Option<usize>),
    Remove(usize, usize),
    Touch(usize, usize, u64),
    RemovePrefix(usize, usize),
    RemoveTag(usize, usize),
    Clear(usize),
    /// Holds a process's invalidations, or lets them through.
    Hold(usize, bool),
    /// Cuts a process off the server, or heals it (waiting until it noticed).
    Cut(usize, bool),
    /// Closes and reopens; `crash`: as `kill -9` would (directory cache).
    Restart(usize, bool),
    /// The server is killed and started again, empty (a new identity).
    ServerRestart,
    /// The server evicts a tag's set and, if `all`, the tag's epoch and the
    /// removal mark too (as `maxmemory` with an `allkeys-*` policy may:
    /// removal mix only).
    Evict(usize, bool),
    Quiesce,
}

/// The mix of steps a seed draws. In the plain mix, prefix and tag
/// removals are 2% of the steps, often made by a cut-off process, and a
/// slow load rarely spans one: with the removal mark switched off
/// (docs/CONSISTENCY.md §9), 30 plain seeds found nothing (3 December). The
/// removal mix makes one step in six a prefix or tag removal, so that slow
/// loads span them.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mix {
    Plain,
    Removals,
}

impl Mix {
    /// `TIERCACHE_REMOTE_MODEL_MIX=plain|removals` for every seed; by
    /// default odd seeds are plain (as every seed was before the mix, 3
    /// December: they replay as they did) and even seeds removals.
    fn of(seed: u64) -> Mix {
        match std::env::var("TIERCACHE_REMOTE_MODEL_MIX").as_deref() {
            Ok("plain") => Mix::Plain,
            Ok("removals") => Mix::Removals,
            Ok(other) => panic!("TIERCACHE_REMOTE_MODEL_MIX={other}: plain or removals"),
            Err(_) if seed % 2 == 1 => Mix::Plain,
            Err(_) => Mix::Removals,
        }
    }
}

fn draw(r: &mut Rng, mix: Mix, held: &mut [bool], cut: &mut [bool]) -> Op {
    let p = r.below(PROCS as u64) as usize;
    let k = r.below(KEYS.len() as u64) as usize;
    // Drawn only in the removal mix, so that a plain seed's stream is the
    // one it always was.
    if mix == Mix::Removals && r.chance(1, 6) {
        return match r.below(5) {
            0 | 1 => Op::RemovePrefix(p, r.below(2) as usize),
            2 | 3 => Op::RemoveTag(p, r.below(2) as usize),
            _ => Op::Evict(r.below(2) as usize, r.chance(1, 3)),
        };
    }
    match r.below(100) {
        0..=30 => Op::Get(p, k),
        31 => Op::ServerRestart,
        32..=36 => Op::GetMany(p),
        37..=58 => Op::Put(
            p,
            k,
            if r.chance(1, 4) { HOUR_MS } else { 0 },
            r.chance(1, 3).then(|| r.below(2) as usize),
        ),
        59..=65 => Op::Remove(p, k),
        66..=72 => Op::Touch(p, k, r.pick(&[0, HOUR_MS, 2 * HOUR_MS])),
        73 => Op::RemovePrefix(p, r.below(2) as usize),
        74 => Op::RemoveTag(p, r.below(2) as usize),
        75 => Op::Clear(p),
        76..=87 => {
            held[p] = !held[p];
            Op::Hold(p, held[p])
        }
        88..=92 => {
            cut[p] = !cut[p];
            if !cut[p] {
                held[p] = false; // a heal lets the held messages through
            }
            Op::Cut(p, cut[p])
        }
        93..=97 => Op::Restart(p, p == PROCS - 1 && r.chance(1, 2)),
        _ => {
            held.iter_mut().for_each(|h| *h = false);
            cut.iter_mut().for_each(|c| *c = false);
            Op::Quiesce
        }
    }
}

/// What a get with a slow load tells the walk (`run`).
enum Slow {
    /// The loader has read the source and waits for the step to end.
    Called,
    /// The get returned.
    Done(Result<Vec<u8>, Status>),
}

/// Holds a process's loader, for one key, between reading the source and
/// answering, until the walk lets it go: a slow load (`run`).
#[derive(Default)]
struct Gate {
    armed: Mutex<Option<Armed>>,
}

struct Armed {
    key: Vec<u8>,
    called: Sender<Slow>,
    release: Receiver<()>,
}

impl Gate {
    /// The loader's stop for `key`, once: reports that it read the source
    /// and waits until released.
    fn stop(&self, key: &[u8]) {
        let armed = {
            let mut a = self.armed.lock().unwrap();
            match a.as_ref() {
                Some(x) if x.key == key => a.take(),
                _ => None,
            }
        };
        if let Some(a) = armed {
            let _ = a.called.send(Slow::Called);
            let _ = a.release.recv();
        }
    }
}

/// One process: its proxy, its cache, and its directory if it has one.
struct Proc {
    proxy: Proxy,
    /// Shared with a concurrent get's thread (`run`), joined before the
    /// next step.
    cache: Option<Arc<Cache>>,
    dir: Option<tempfile::TempDir>,
    /// An L1 of 2 entries: most of its gets miss locally and read the
    /// server, also while its own writes are on their way there.
    tiny_l1: bool,
    /// Its loader's stop for a slow load (kept across restarts).
    gate: Arc<Gate>,
}

impl Proc {
    fn cache(&self) -> &Cache {
        self.cache.as_ref().expect("open")
    }

    fn open(&mut self, truth: &Truth) {
        let mut o = Options::new();
        o.set_remote(Some(&self.proxy.url())).unwrap();
        o.set_remote_namespace(NS).unwrap();
        o.set_remote_timeout(200).unwrap();
        o.dir = self.dir.as_ref().map(|d| d.path().to_path_buf());
        if self.tiny_l1 {
            o.l1_max_entries = 2;
        }
        let c = Cache::open(&o).unwrap();
        let truth = truth.clone();
        let gate = self.gate.clone();
        c.set_loader(Some(Arc::new(move |k: &[u8]| {
            let read = truth.lock().unwrap().get(k).cloned();
            gate.stop(k);
            match read {
                Some(v) => Loaded::Entry {
                    meta: meta_of(&v),
                    value: v,
                    ttl_ms: 0,
                },
                None => Loaded::NotFound,
            }
        })));
        self.cache = Some(Arc::new(c));
    }

    fn state(&self) -> u64 {
        self.cache().counter("remote_state").unwrap()
    }
}

/// The fleet and the model.
struct World {
    server: RedisServer,
    procs: Vec<Proc>,
    truth: Truth,
    /// Per key: every value it may answer now (its truth at the last
    /// quiescent point and each write since; `None`: no value).
    allowed: BTreeMap<Vec<u8>, BTreeSet<Option<Vec<u8>>>>,
    /// Per key: the process that made its latest write, while that write
    /// stands (a crash of that process ends the claim).
    writer: BTreeMap<Vec<u8>, usize>,
    writes: u64,
    /// Per process: cut off now (its tier noticed), and the keys whose
    /// truth it changed since its tier was last known ok (a heal, a
    /// quiescent point): those it could not send are reconciled when it is
    /// back, or when it closes if it can reach the server.
    cut: [bool; PROCS],
    /// Per process: its invalidations held by its proxy now.
    held: [bool; PROCS],
    unreconciled: [BTreeSet<Vec<u8>>; PROCS],
    /// Keys whose latest write was lost to the fleet: made by a process
    /// that ended while cut off, so that nobody reconciles it, and the
    /// value it replaced stays in the server (until its TTL, or another
    /// process's write). Any value ever written may be read for them,
    /// until a process that is not cut off writes them.
    lost: BTreeSet<Vec<u8>>,
    /// Per key: every value it ever had.
    ever: BTreeMap<Vec<u8>, BTreeSet<Option<Vec<u8>>>>,
    /// What the run exercised, for the summary line.
    seen: BTreeMap<&'static str, u64>,
}

impl World {
    fn new() -> World {
        let server = RedisServer::start();
        let truth: Truth = Arc::default();
        let procs = (0..PROCS)
            .map(|i| {
                let mut p = Proc {
                    proxy: Proxy::to(server.port),
                    cache: None,
                    dir: (i == PROCS - 1).then(|| tempfile::tempdir().unwrap()),
                    tiny_l1: i == 1,
                    gate: Arc::default(),
                };
                p.open(&truth);
                p
            })
            .collect();
        let mut w = World {
            server,
            procs,
            truth,
            allowed: BTreeMap::new(),
            writer: BTreeMap::new(),
            writes: 0,
            cut: [false; PROCS],
            held: [false; PROCS],
            unreconciled: Default::default(),
            lost: BTreeSet::new(),
            ever: KEYS.iter().map(|k| (k.to_vec(), BTreeSet::from([None]))).collect(),
            seen: BTreeMap::new(),
        };
        w.quiesce();
        w
    }

    fn truth_of(&self, k: &[u8]) -> Option<Vec<u8>> {
        self.truth.lock().unwrap().get(k).cloned()
    }

    /// Records a write of `k` by process `p`: `v` is its new truth.
    fn wrote(&mut self, p: usize, k: &[u8], v: Option<Vec<u8>>) {
        match &v {
            Some(v) => self.truth.lock().unwrap().insert(k.to_vec(), v.clone()),
            None => self.truth.lock().unwrap().remove(k),
        };
        self.allowed.entry(k.to_vec()).or_default().insert(v.clone());
        self.ever.entry(k.to_vec()).or_default().insert(v);
        self.writer.insert(k.to_vec(), p);
        self.unreconciled[p].insert(k.to_vec());
        if !self.cut[p] && self.lost.remove(k) {
            // No quiescent point has converged on the key since it was lost:
            // a process that has not heard of this write yet may still hold
            // any value it had.
            let ever = self.ever[k].clone();
            self.allowed.entry(k.to_vec()).or_default().extend(ever);
        }
    }

    /// Checks one answer of process `p` for `k`.
    fn check(&self, p: usize, k: &[u8], got: Result<Vec<u8>, Status>) -> Result<(), String> {
        self.check_as(p, k, got, false)
    }

    /// `check`; `concurrent`: the get ran beside another step (`run`), so
    /// it is held only to what may be read (not to read-your-writes: the
    /// step may have been a write it raced).
    fn check_as(&self, p: usize, k: &[u8], got: Result<Vec<u8>, Status>, concurrent: bool) -> Result<(), String> {
        let got = match got {
            Ok(v) => Some(v),
            Err(Status::TC_NOT_FOUND) => None,
            Err(e) => return Err(format!("process {p}, key {}: {e:?}", show(k))),
        };
        if self.lost.contains(k) {
            return match self.ever[k].contains(&got) {
                true => Ok(()),
                false => Err(format!(
                    "process {p} read {} for {}: never written",
                    show_opt(&got),
                    show(k)
                )),
            };
        }
        let truth = self.truth_of(k);
        if !concurrent && self.writer.get(k) == Some(&p) && got != truth {
            return Err(format!(
                "process {p} made {}'s latest write, {}, and read {}",
                show(k),
                show_opt(&truth),
                show_opt(&got)
            ));
        }
        let allowed = &self.allowed[k];
        if !allowed.contains(&got) {
            return Err(format!(
                "process {p} read {} for {}: replaced before the last quiescent point (may answer {})",
                show_opt(&got),
                show(k),
                allowed.iter().map(show_opt).collect::<Vec<_>>().join(", ")
            ));
        }
        Ok(())
    }

    /// The server's frame of each key, for the trace.
    fn server_frames(&self) -> String {
        use redis::Commands;
        let sealer = tiercache::remote::frame::Sealer::new(NS, None);
        let hex: String = NS.iter().map(|b| format!("{b:02x}")).collect();
        let mut r = self.server.client();
        let gen: Option<u64> = r.get(format!("tc:{hex}:gen")).ok();
        let frames: Vec<String> = KEYS
            .iter()
            .map(|k| {
                let name = [format!("tc:{hex}:k:").as_bytes(), k].concat();
                let raw: Option<Vec<u8>> = r.get(&name).unwrap();
                let f = raw.map(|raw| sealer.decode(&name, k, &raw));
                match f {
                    None => format!("{}=-", show(k)),
                    Some(Ok(f)) => format!(
                        "{}={}(g{} w{:x} v{})",
                        show(k),
                        f.value.as_deref().map_or("tomb".into(), show),
                        f.generation,
                        f.writer & 0xfff,
                        f.version & 0xffff
                    ),
                    Some(Err(e)) => format!("{}=?{e:?}", show(k)),
                }
            })
            .collect();
        format!("gen {gen:?} {}", frames.join(" "))
    }

    fn step(&mut self, op: &Op) -> Result<(), String> {
        *self.seen.entry(op_name(op)).or_default() += 1;
        let r = self.step_inner(op);
        if std::env::var("TIERCACHE_REMOTE_MODEL_TRACE").is_ok() {
            println!("{op:?} -> {r:?}\n    server: {}", self.server_frames());
        }
        r
    }

    fn step_inner(&mut self, op: &Op) -> Result<(), String> {
        match *op {
            Op::Get(p, k) => {
                let got = common::get(self.procs[p].cache(), KEYS[k]);
                if std::env::var("TIERCACHE_REMOTE_MODEL_TRACE").is_ok() {
                    println!("    got {:?}", got.as_ref().map(|v| show(v)));
                }
                self.check(p, KEYS[k], got)?;
            }
            Op::GetMany(p) => {
                let got = self.procs[p].cache().get_many(&KEYS);
                if std::env::var("TIERCACHE_REMOTE_MODEL_TRACE").is_ok() {
                    let shown: Vec<_> = got
                        .iter()
                        .map(|g| g.as_ref().map(|v| show(v)).map_err(|e| e.status()))
                        .collect();
                    println!("    got {shown:?}");
                }
                for (k, g) in KEYS.iter().zip(got) {
                    self.check(p, k, g.map(|v| v.to_vec()).map_err(|e| e.status()))?;
                }
            }
            Op::Put(p, k, ttl, tag) => {
                self.writes += 1;
                let mut v = format!("{}#{}", show(KEYS[k]), self.writes).into_bytes();
                if let Some(t) = tag {
                    v.extend([b"@", TAGS[t]].concat());
                }
                // The source first, then the cache (a load racing the put
                // reads one or the other; the cache keeps the put).
                self.wrote(p, KEYS[k], Some(v.clone()));
                self.procs[p]
                    .cache()
                    .put_with(KEYS[k], &v, ttl, meta_of(&v))
                    .map_err(|e| format!("put: {e:?}"))?;
            }
            Op::Remove(p, k) => {
                self.wrote(p, KEYS[k], None);
                match self.procs[p].cache().remove(KEYS[k]) {
                    Ok(()) => {}
                    Err(e) if e.status() == Status::TC_NOT_FOUND => {}
                    Err(e) => return Err(format!("remove: {e:?}")),
                }
            }
            Op::Touch(p, k, ttl) => match self.procs[p].cache().touch(KEYS[k], ttl) {
                Ok(()) => {}
                Err(e) if e.status() == Status::TC_NOT_FOUND => {}
                Err(e) => return Err(format!("touch: {e:?}")),
            },
            Op::RemovePrefix(p, i) => {
                for k in KEYS.iter().filter(|k| k.starts_with(PREFIXES[i])) {
                    self.wrote(p, k, None);
                }
                self.procs[p]
                    .cache()
                    .remove_prefix(PREFIXES[i])
                    .map_err(|e| format!("remove_prefix: {e:?}"))?;
            }
            Op::RemoveTag(p, t) => {
                let tagged: Vec<&[u8]> = KEYS
                    .iter()
                    .copied()
                    .filter(|k| self.truth_of(k).is_some_and(|v| meta_of(&v).tags == [TAGS[t].into()]))
                    .collect();
                for k in tagged {
                    self.wrote(p, k, None);
                    // Not a write `p` can be held to reading back: a process
                    // whose copy of the key is older (another tag, or none)
                    // keeps it, rightly by what it knows; the value that
                    // carried the tag may never have reached it.
                    self.writer.remove(k);
                }
                self.procs[p]
                    .cache()
                    .remove_tag(TAGS[t])
                    .map_err(|e| format!("remove_tag: {e:?}"))?;
            }
            Op::Clear(p) => self.procs[p]
                .cache()
                .clear(false)
                .map_err(|e| format!("clear: {e:?}"))?,
            Op::ServerRestart => self.server.restart(),
            Op::Evict(t, all) => {
                use redis::Commands;
                let hex: String = NS.iter().map(|b| format!("{b:02x}")).collect();
                let tag = String::from_utf8_lossy(TAGS[t]);
                let mut names = vec![format!("tc:{hex}:t:{tag}")];
                if all {
                    names.push(format!("{{tc:{hex}:gen}}e:{tag}"));
                    names.push(format!("{{tc:{hex}:gen}}rm"));
                }
                let _: u64 = self.server.client().del(names).map_err(|e| format!("evict: {e}"))?;
            }
            Op::Hold(p, held) => self.hold(p, held),
            Op::Cut(p, true) => self.cut(p),
            Op::Cut(p, false) => self.heal(p),
            Op::Restart(p, crash) => {
                let c = Arc::into_inner(self.procs[p].cache.take().unwrap())
                    .expect("no concurrent get runs on a process being restarted");
                // Its list of writes to reconcile ends with it: reconciled
                // at close if the server can be reached, else lost; never
                // by a crash (which is not told apart from writes that did
                // reach the server: every write since its tier was last
                // known ok counts).
                // A cache with a directory leaves a mark there, and its
                // next open clears the namespace: nothing is lost.
                let lost = std::mem::take(&mut self.unreconciled[p]);
                if (self.cut[p] || crash) && self.procs[p].dir.is_none() {
                    self.lost.extend(lost);
                }
                if crash {
                    c.simulate_crash();
                    // What it wrote since its last flush may be gone (§5).
                    self.writer.retain(|_, w| *w != p);
                } else {
                    c.close().map_err(|e| format!("close: {e:?}"))?;
                }
                let truth = self.truth.clone();
                self.procs[p].open(&truth);
            }
            Op::Quiesce => {
                self.quiesce();
                for p in 0..PROCS {
                    for k in KEYS.iter().filter(|k| !self.lost.contains(**k)) {
                        let got = common::get(self.procs[p].cache(), k);
                        let truth = self.truth_of(k);
                        if got.as_ref().ok() != truth.as_ref() {
                            return Err(format!(
                                "quiescent, process {p} read {:?} for {}, whose truth is {}",
                                got.map(|v| show(&v)),
                                show(k),
                                show_opt(&truth)
                            ));
                        }
                    }
                }
                self.restart_window();
            }
        }
        Ok(())
    }

    /// What a slow load beside `op` (drawn as `drawn`) loads, and where: a
    /// key the step may write that has a value now (a load of nothing
    /// stores nothing), in a process other than the step's (a process's
    /// own write cancels its loads). `None` if there is no such key.
    fn slow_load(&self, op: &Op, drawn: (usize, usize), r: &mut Rng) -> Option<(usize, usize)> {
        let (by, keys) = writes_of(op);
        let keys: Vec<usize> = match *op {
            Op::RemoveTag(_, t) => (0..KEYS.len())
                .filter(|&k| {
                    self.truth_of(KEYS[k])
                        .is_some_and(|v| meta_of(&v).tags == [TAGS[t].into()])
                })
                .collect(),
            _ if keys.is_empty() => (0..KEYS.len()).collect(),
            _ => keys,
        };
        let keys: Vec<usize> = keys.into_iter().filter(|&k| self.truth_of(KEYS[k]).is_some()).collect();
        let k = *keys.get(r.below(keys.len().max(1) as u64) as usize)?;
        let q = match by {
            Some(p) if p == drawn.0 => (p + 1 + r.below(PROCS as u64 - 1) as usize) % PROCS,
            _ => drawn.0,
        };
        Some((q, k))
    }

    /// Holds `p`'s invalidations back, or lets them through.
    fn hold(&mut self, p: usize, held: bool) {
        self.held[p] = held;
        match held {
            true => self.procs[p].proxy.hold_subscriptions(),
            false => self.procs[p].proxy.release_subscriptions(),
        }
    }

    /// Cuts `p` off and waits until it has noticed (its tier degraded).
    fn cut(&mut self, p: usize) {
        self.cut[p] = true;
        let proc = &self.procs[p];
        proc.proxy.cut();
        wait_for("the cache to see the partition", || {
            let _ = proc.cache().get(b"probe");
            proc.state() == 2
        });
    }

    /// Heals `p`'s proxy (and lets its messages through) and waits until its
    /// tier is ok again: a subscription whose answers are held never begins.
    fn heal(&mut self, p: usize) {
        self.cut[p] = false;
        self.held[p] = false;
        self.unreconciled[p].clear();
        let proc = &self.procs[p];
        proc.proxy.release_subscriptions();
        proc.proxy.heal();
        wait_for("the cache to reconnect", || proc.state() == 1);
    }

    /// Heals and releases every proxy, waits until every tier is ok and
    /// every process has heard every other's messages, and flushes the
    /// directory cache.
    fn quiesce(&mut self) {
        for p in 0..PROCS {
            self.heal(p);
        }
        for _pass in 0..2 {
            for from in 0..PROCS {
                for to in (0..PROCS).filter(|&to| to != from) {
                    let marker = format!("marker/{from}/{to}").into_bytes();
                    heard(self.procs[from].cache(), self.procs[to].cache(), &marker);
                }
            }
        }
        // Each process is subscribed (one whose subscription broke during
        // the passes dropped everything when it came back).
        for p in &self.procs {
            wait_for("the tier to be ok", || p.state() == 1);
        }
        self.procs[PROCS - 1].cache().flush().unwrap();
        self.unreconciled.iter_mut().for_each(BTreeSet::clear);
        self.restart_window();
    }

    /// A quiescent point: what may be read from now on is each key's truth
    /// and what is written later.
    fn restart_window(&mut self) {
        self.allowed = KEYS
            .iter()
            .map(|k| (k.to_vec(), BTreeSet::from([self.truth_of(k)])))
            .collect();
    }
}

fn op_name(op: &Op) -> &'static str {
    match op {
        Op::Get(..) => "get",
        Op::GetMany(..) => "get_many",
        Op::Put(..) => "put",
        Op::Remove(..) => "remove",
        Op::Touch(..) => "touch",
        Op::RemovePrefix(..) => "remove_prefix",
        Op::RemoveTag(..) => "remove_tag",
        Op::Clear(..) => "clear",
        Op::Hold(..) => "hold/release",
        Op::Cut(..) => "cut/heal",
        Op::Restart(_, false) => "restart",
        Op::Restart(_, true) => "crash",
        Op::ServerRestart => "server restart",
        Op::Evict(..) => "eviction",
        Op::Quiesce => "quiesce",
    }
}

/// Whether a slow load may span `op`: a step that reads nothing (a get
/// in the loading process would wait for the load, which waits for the
/// step) and restarts nobody.
fn a_write(op: &Op) -> bool {
    !matches!(
        op,
        Op::Get(..) | Op::GetMany(..) | Op::Restart(..) | Op::Quiesce | Op::Evict(..)
    )
}

/// A removal of many keys: what the removal mix (`Mix`) puts a slow load
/// beside whenever one can be.
fn a_removal(op: &Op) -> bool {
    matches!(op, Op::RemovePrefix(..) | Op::RemoveTag(..))
}

/// The process that makes `op`, if one does, and the keys it may write
/// (a tag's: any; `World::slow_load` picks those the truth tags).
fn writes_of(op: &Op) -> (Option<usize>, Vec<usize>) {
    let all = || (0..KEYS.len()).collect::<Vec<_>>();
    match *op {
        Op::Put(p, k, ..) | Op::Remove(p, k) | Op::Touch(p, k, _) => (Some(p), vec![k]),
        Op::RemovePrefix(p, i) => (
            Some(p),
            (0..KEYS.len()).filter(|&k| KEYS[k].starts_with(PREFIXES[i])).collect(),
        ),
        Op::RemoveTag(p, _) | Op::Clear(p) => (Some(p), all()),
        _ => (None, Vec::new()),
    }
}

/// `TIERCACHE_REMOTE_MODEL_SLOW=0`: no slow loads (a seed then runs as it
/// did before they were added, 3 December, session 12).
fn slow_on() -> bool {
    std::env::var("TIERCACHE_REMOTE_MODEL_SLOW").as_deref() != Ok("0")
}

/// The tags of a value the model wrote (`TAGS`).
fn meta_of(v: &[u8]) -> tiercache::meta::Meta {
    let tags = match v.iter().rposition(|&b| b == b'@') {
        Some(at) => vec![v[at + 1..].into()],
        None => Vec::new(),
    };
    tiercache::meta::Meta { tags, dependency: None }
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn show_opt(v: &Option<Vec<u8>>) -> String {
    v.as_deref().map_or("(none)".into(), show)
}

/// `TIERCACHE_REMOTE_MODEL_BESIDE=0`: no get beside the steps (a seed then
/// runs as it did before they were added, 3 December).
fn beside_on() -> bool {
    std::env::var("TIERCACHE_REMOTE_MODEL_BESIDE").as_deref() != Ok("0")
}

fn env(name: &str) -> Option<u64> {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name}={v}")))
}

/// Runs `seed` for `steps`; the first failed check, with the steps so far.
fn run(seed: u64, steps: u64) -> Result<BTreeMap<&'static str, u64>, String> {
    let mut r = Rng::new(seed, 1);
    let mix = Mix::of(seed);
    let (mut held, mut cut) = ([false; PROCS], [false; PROCS]);
    let ops: Vec<Op> = (0..steps)
        .map(|_| draw(&mut r, mix, &mut held, &mut cut))
        .chain([Op::Quiesce])
        .collect();
    // A get on another thread beside some steps, in a process the step
    // does not restart: what a process's other threads see while it writes,
    // loads and hears invalidations.
    let mut rb = Rng::new(seed, 2);
    let beside: Vec<Option<(usize, usize)>> = ops
        .iter()
        .map(|op| {
            let q = rb.below(PROCS as u64) as usize;
            let k = rb.below(KEYS.len() as u64) as usize;
            let busy = matches!(op, Op::Restart(p, _) if *p == q) || matches!(op, Op::Quiesce);
            let drawn = rb.chance(1, 4) || (mix == Mix::Removals && a_removal(op));
            (drawn && !busy && beside_on()).then_some((q, k))
        })
        .collect();
    // Which of the gets beside a write have a slow load (of a key the step
    // writes that has a value now, in another process than the step's:
    // `slow_load`).
    let mut rs = Rng::new(seed, 3);
    let slow: Vec<bool> = ops
        .iter()
        .zip(&beside)
        .map(|(op, b)| {
            let drawn = rs.chance(3, 4) || (mix == Mix::Removals && a_removal(op));
            drawn && b.is_some() && a_write(op) && slow_on()
        })
        .collect();
    let mut w = World::new();
    for (i, op) in ops.iter().enumerate() {
        let (beside, slow) = match beside[i] {
            Some(b) if slow[i] => match w.slow_load(op, b, &mut rs) {
                Some(b) => (Some(b), true),
                None => (Some(b), false),
            },
            b => (b, false),
        };
        let racing = beside.map(|(q, k)| {
            let c = w.procs[q].cache.clone().unwrap();
            let (tx, rx) = channel();
            let release = slow.then(|| {
                let (go, release) = channel();
                *w.procs[q].gate.armed.lock().unwrap() = Some(Armed {
                    key: KEYS[k].to_vec(),
                    called: tx.clone(),
                    release,
                });
                go
            });
            let t = std::thread::spawn(move || {
                let _ = tx.send(Slow::Done(common::get(&c, KEYS[k])));
            });
            // A slow load has read the source before the step begins (or
            // the get did not load at all: then nothing is held).
            let mut early = None;
            if release.is_some() {
                match rx.recv().unwrap() {
                    Slow::Called => {}
                    Slow::Done(got) => {
                        w.procs[q].gate.armed.lock().unwrap().take();
                        early = Some(got);
                    }
                }
            }
            (q, k, t, rx, release, early)
        });
        // Half the slow loads are made deaf: their process hears nothing of
        // the step until the load has returned (else its write's message
        // usually arrives first, and cancels the load).
        // The coin is drawn whether or not it is used: whether the get
        // returned early is the machine's timing, and the seed, not the
        // timing, must decide every later draw.
        let deaf_coin = rs.chance(1, 2);
        let mut deaf = None;
        if let Some((q, k, _, _, Some(_), None)) = &racing {
            *w.seen.entry("slow load").or_default() += 1;
            let touches_q = matches!(op, Op::Hold(p, _) | Op::Cut(p, _) if p == q);
            if deaf_coin && !w.held[*q] && !touches_q {
                w.procs[*q].proxy.hold_subscriptions();
                deaf = Some(*q);
            }
            if std::env::var("TIERCACHE_REMOTE_MODEL_TRACE").is_ok() {
                let how = if deaf.is_some() { ", deaf" } else { "" };
                println!("    a slow load of {} in process {q} spans it{how}", show(KEYS[*k]));
            }
        }
        let mut r = w.step(op);
        if let Some((q, k, t, rx, release, early)) = racing {
            drop(release);
            let got = match early {
                Some(got) => got,
                None => loop {
                    if let Slow::Done(got) = rx.recv().unwrap() {
                        break got;
                    }
                },
            };
            t.join().unwrap();
            if let Some(q) = deaf {
                w.procs[q].proxy.release_subscriptions();
            }
            if std::env::var("TIERCACHE_REMOTE_MODEL_TRACE").is_ok() {
                println!(
                    "    beside it, process {q} got {:?} for {}",
                    got.as_ref().map(|v| show(v)),
                    show(KEYS[k])
                );
            }
            if r.is_ok() {
                r = w
                    .check_as(q, KEYS[k], got, true)
                    .map_err(|e| format!("a get beside it: {e}"));
            }
        }
        if let Err(e) = r {
            let trail: Vec<String> = ops[..=i]
                .iter()
                .enumerate()
                .map(|(n, op)| format!("  {n}: {op:?}"))
                .collect();
            return Err(format!("seed {seed}, step {i} ({op:?}): {e}\n{}", trail.join("\n")));
        }
    }
    Ok(w.seen)
}

#[test]
fn the_fleet_never_serves_a_replaced_value_and_converges() {
    let large = std::env::var("TIERCACHE_REMOTE_MODEL").as_deref() == Ok("large");
    let count = env("TIERCACHE_REMOTE_MODEL_SEEDS").unwrap_or(if large { 40 } else { 3 });
    let seeds: Vec<u64> = match env("TIERCACHE_REMOTE_MODEL_SEED") {
        Some(s) if std::env::var("TIERCACHE_REMOTE_MODEL_SEEDS").is_ok() => (s..s + count).collect(),
        Some(s) => vec![s],
        None => (1..=count).collect(),
    };
    let steps = env("TIERCACHE_REMOTE_MODEL_STEPS").unwrap_or(if large { 600 } else { 150 });
    let mut total: BTreeMap<&'static str, u64> = BTreeMap::new();
    for seed in seeds {
        println!("seed {seed} ({:?} mix)", Mix::of(seed));
        match run(seed, steps) {
            Ok(seen) => seen.into_iter().for_each(|(k, n)| *total.entry(k).or_default() += n),
            Err(e) => panic!("{e}"),
        }
    }
    println!("exercised: {total:?}");
}
