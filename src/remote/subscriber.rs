//! The remote tier's background thread: it keeps the subscription to the
//! namespace's invalidation channel, applies what other processes publish
//! to this process's L1 and L2, and owns the tier's recovery.
//!
//! The tier is `REMOTE_OK` only while this thread is subscribed and has
//! resynced (`Remote::resync`). Before a subscription begins, messages may
//! have been lost: since the last one broke, or, before the first, since
//! whatever an earlier run left in L2 was written. So when one begins,
//! every local entry is dropped (L1 and L2), and only then is the tier ok
//! again. Every entry, not only those written before the last instant the
//! old subscription was known alive: an entry stored after it (a loader's
//! answer, or a put, while cut off) may have been replaced by another
//! process later still, and that invalidation was lost too; and an entry
//! read from the remote tier carries its writer's clock, not this one's.
//! Reconnects back off from 50 ms to 5 s.
//!
//! The thread stops with the cache (`Subscriber::stop`, within one tick),
//! and on its way out reconciles the writes this process could not send,
//! if the server can be reached (`reconcile_before_exit`; not when the
//! cache simulates a crash, `Subscriber::abandon`). It does not exist in a
//! child process after `fork()`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::frame::Unread;
use super::{Message, Remote, Resynced};
use crate::invalidate::Local;
use crate::stats::Counters;

/// How often the thread looks up from a quiet subscription (to stop, to
/// check a failure).
const TICK: Duration = Duration::from_millis(50);
/// How often a quiet subscription is checked with a PING.
const PING_EVERY: Duration = Duration::from_secs(1);
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

pub struct Subscriber {
    stop: Arc<AtomicBool>,
    /// Cleared by `abandon`: the thread ends without reconciling.
    reconcile: Arc<AtomicBool>,
    remote: Arc<Remote>,
    thread: Option<JoinHandle<()>>,
}

/// Whether the first connect has been tried (the open waits for it).
type FirstTry = Arc<(Mutex<bool>, Condvar)>;

/// How a subscription ended.
enum Ended {
    Stopped,
    /// Lost: messages may be lost until the next subscription begins.
    Lost,
    /// Never got going (connect, subscribe or resync failed).
    Failed(String),
}

impl Subscriber {
    /// Starts the thread and waits (at most a few timeouts) for its first
    /// connect, so that a cache whose server is up opens with the tier ok.
    pub fn start(remote: Arc<Remote>, local: Local) -> Subscriber {
        let stop = Arc::new(AtomicBool::new(false));
        let reconcile = Arc::new(AtomicBool::new(true));
        let first: FirstTry = Arc::new((Mutex::new(false), Condvar::new()));
        let thread = {
            let (stop, remote, first, reconcile) = (stop.clone(), remote.clone(), first.clone(), reconcile.clone());
            std::thread::Builder::new()
                .name("tiercache-remote".into())
                .spawn(move || {
                    run(&remote, &local, &stop, &first);
                    if reconcile.load(Ordering::Acquire) {
                        reconcile_before_exit(&remote, &local);
                    }
                })
                .expect("spawn the tiercache remote thread")
        };
        let bound = Instant::now() + remote.timeout() * 4 + Duration::from_millis(100);
        let mut tried = first.0.lock();
        while !*tried {
            if first.1.wait_until(&mut tried, bound).timed_out() {
                break;
            }
        }
        drop(tried);
        Subscriber {
            stop,
            reconcile,
            remote,
            thread: Some(thread),
        }
    }

    /// Stops the thread (within one tick) and waits for it.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        {
            let _g = self.remote.wake.0.lock();
            self.remote.wake.1.notify_all();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Stops the thread as a killed process would: what it could not write
    /// is not reconciled (`Cache::simulate_crash`).
    pub fn abandon(&mut self) {
        self.reconcile.store(false, Ordering::Release);
        self.stop();
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.stop();
    }
}

fn tried(first: &FirstTry) {
    *first.0.lock() = true;
    first.1.notify_all();
}

fn run(remote: &Remote, local: &Local, stop: &AtomicBool, first: &FirstTry) {
    let mut backoff = BACKOFF_MIN;
    let nodes = remote.target().nodes();
    let mut node = 0;
    while !stop.load(Ordering::Acquire) {
        match session(remote, &nodes[node % nodes.len()], local, stop, first, &mut backoff) {
            Ended::Stopped => break,
            Ended::Lost => remote.degrade("the subscription to the invalidation channel was lost".into()),
            Ended::Failed(why) => remote.degrade(why),
        }
        node += 1;
        tried(first);
        let mut g = remote.wake.0.lock();
        if !stop.load(Ordering::Acquire) {
            remote.wake.1.wait_for(&mut g, backoff);
        }
        drop(g);
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
    tried(first);
}

/// The writes this process could not send (made while the tier was not ok:
/// cut off, or before its subscription began) are reconciled at close if
/// the server can be reached, or never: the list ends with the process, and
/// the values those writes replaced would stay in the server for every
/// other process, with no bound but their TTL (`tests/remote_model.rs`
/// found it: a process that put a key just after it opened, and closed
/// before its subscription began, left the older value to the fleet).
fn reconcile_before_exit(remote: &Remote, local: &Local) {
    if !remote.has_pending() {
        return;
    }
    match remote.resync_afresh() {
        // Whatever this process holds may be stale: the next open drops it
        // too, but not a read-only one, nor one without the remote tier.
        Ok(Resynced::Cleared | Resynced::Restarted) => local.drop_all(),
        Ok(Resynced::Same) => {}
        // Unreachable: nothing more can be done from here.
        Err(_) => Counters::bump(&remote.counters.errors),
    }
}

/// One subscription, from connect to its end.
fn session(
    remote: &Remote,
    node: &redis::ConnectionInfo,
    local: &Local,
    stop: &AtomicBool,
    first: &FirstTry,
    backoff: &mut Duration,
) -> Ended {
    let fail = |what: &str, e: redis::RedisError| Ended::Failed(format!("{what}: {e}"));
    let client = match redis::Client::open(node.clone()) {
        Ok(c) => c,
        Err(e) => return fail("connect", e),
    };
    let mut con = match client.get_connection_with_timeout(remote.timeout()) {
        Ok(c) => c,
        Err(e) => return fail("connect", e),
    };
    let mut ps = con.as_pubsub();
    if let Err(e) = ps.set_read_timeout(Some(remote.timeout())) {
        return fail("connect", e);
    }
    if let Err(e) = ps.subscribe(remote.channel()) {
        return fail("subscribe", e);
    }
    // Subscribed: from here on no message is lost. What came before may
    // have been, so nothing stored before can be vouched for (the module's
    // comment says why everything).
    // The subscription just reached the server: a failure here is most
    // likely a pooled connection that died with a server restart.
    match remote.resync_afresh() {
        Ok(_) => local.drop_all(),
        Err(e) => return fail("resync", e),
    }
    remote.set_ok();
    tried(first);
    *backoff = BACKOFF_MIN;
    let mut last_ping = Instant::now();
    let mut retry_at: Option<Instant> = None;
    let _ = ps.set_read_timeout(Some(TICK));
    loop {
        if stop.load(Ordering::Acquire) {
            return Ended::Stopped;
        }
        let quiet = match ps.get_message() {
            Ok(msg) => {
                apply(remote, local, msg.get_payload_bytes());
                false
            }
            Err(e) if e.is_timeout() => true,
            Err(_) => return Ended::Lost,
        };
        // After every message as well as every quiet tick: while other
        // processes write, messages come faster than the tick, and a tier
        // this process degraded must still be resynced (a MOVED after a
        // cluster failover left it degraded for as long as the fleet wrote).
        // A call failed: the subscription is fine (messages were not
        // lost), the data path is not; check it, resync, go on.
        // Writes remembered for the reconnect (`Remote::remember`) after
        // the last resync took them, e.g. made between it and `set_ok`:
        // reconciled now, not at the next failure, which may never come.
        if remote.take_failed() || (retry_at.is_none() && remote.has_pending()) {
            retry_at = Some(Instant::now());
        }
        if retry_at.is_some_and(|t| Instant::now() >= t) {
            match remote.resync() {
                Ok(r) => {
                    match r {
                        // The subscription held, but a message published
                        // on the node that failed may not have reached
                        // it: everything, as when a subscription begins.
                        Resynced::Cleared | Resynced::Restarted => local.drop_all(),
                        Resynced::Same => {}
                    }
                    remote.set_ok();
                    retry_at = None;
                    *backoff = BACKOFF_MIN;
                }
                Err(e) => {
                    remote.degrade(format!("resync: {e}"));
                    let _ = remote.take_failed();
                    retry_at = Some(Instant::now() + *backoff);
                    *backoff = (*backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
        if last_ping.elapsed() >= PING_EVERY {
            remote.check_cluster();
            // A busy subscription shows it is alive by its messages; a
            // ping is sent only between them (its answer must not be
            // read in place of one).
            if !quiet {
                last_ping = Instant::now();
                continue;
            }
            let _ = ps.set_read_timeout(Some(remote.timeout()));
            if ps.ping::<redis::Value>().is_err() {
                return Ended::Lost;
            }
            last_ping = Instant::now();
            let _ = ps.set_read_timeout(Some(TICK));
        }
    }
}

/// Applies one message from another process. One this cache cannot
/// authenticate (another key, or encrypted where this cache expects plain
/// or the reverse) may have been an invalidation it needed: everything is
/// dropped (a stale value is worse than a miss).
fn apply(remote: &Remote, local: &Local, payload: &[u8]) {
    let (sender, msg) = match remote.read_message(payload) {
        Ok(m) => m,
        Err(Unread::Malformed) => {
            Counters::bump(&remote.counters.errors);
            return;
        }
        Err(Unread::Unauthentic(sender)) => {
            if sender != remote.id() {
                Counters::bump(&remote.counters.errors);
                local.drop_all();
            }
            return;
        }
    };
    if sender == remote.id() {
        return;
    }
    match msg {
        Message::Key(k) => local.drop_key(&k),
        Message::Prefix(p) => local.drop_prefix(&p),
        Message::Tag(t) => local.drop_tag(&t),
        Message::Clear(gen) => {
            remote.cleared(gen);
            if remote.clear_is_news(gen) {
                local.drop_all();
            }
        }
    }
    // Counted once applied: whoever sees the count has the drop behind it
    // (counted first, a test that waited for the count could still read the
    // value from L1: `writes_removals_and_clears_invalidate_the_other_caches`
    // failed about once in 25 runs that way).
    Counters::bump(&remote.counters.invalidations_received);
}
