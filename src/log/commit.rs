//! Durability and health of the log: group commit for `TC_SYNC_ALWAYS`, and
//! the degraded state the log enters when its disk fails.
//!
//! Group commit: a writer appends its record under the log's lock and
//! receives a ticket (its end position in the log). It then waits, without
//! the log's lock, until some fsync has covered that position. The first
//! waiter becomes the leader: it writes the buffer out, fsyncs, and wakes
//! everyone its fsync covered, so concurrent writers share one fsync.
//!
//! Health: the first failed write or fsync puts the log in the degraded
//! state. While degraded, the log touches the disk only to probe it, at most
//! once per backoff period (doubling from 50 ms up to 5 s).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

const FIRST_RETRY: Duration = Duration::from_millis(50);
const MAX_RETRY: Duration = Duration::from_secs(5);

/// Where the log stands with stable storage.
pub struct Commit {
    synced: Mutex<Synced>,
    wake: Condvar,
    degraded: AtomicBool,
    retry: Mutex<Retry>,
}

struct Synced {
    /// Every byte appended before this position is on stable storage.
    upto: u64,
    /// Whether a leader is writing and fsyncing right now.
    leader: bool,
}

struct Retry {
    next: Instant,
    delay: Duration,
}

impl Default for Commit {
    fn default() -> Commit {
        Commit {
            synced: Mutex::new(Synced { upto: 0, leader: false }),
            wake: Condvar::new(),
            degraded: AtomicBool::new(false),
            retry: Mutex::new(Retry {
                next: Instant::now(),
                delay: FIRST_RETRY,
            }),
        }
    }
}

/// What a waiter should do next.
pub enum Turn {
    /// The position is durable.
    Done,
    /// This caller is the leader: sync, then call `Commit::led`.
    Lead,
}

impl Commit {
    /// Waits until `pos` is durable or this caller must lead an fsync.
    pub fn wait_turn(&self, pos: u64) -> Turn {
        let mut s = self.synced.lock();
        loop {
            if s.upto >= pos {
                return Turn::Done;
            }
            if !s.leader {
                s.leader = true;
                return Turn::Lead;
            }
            self.wake.wait(&mut s);
        }
    }

    /// The leader reports: `Some(pos)` if everything before `pos` is now
    /// durable, `None` if its sync failed.
    pub fn led(&self, synced: Option<u64>) {
        let mut s = self.synced.lock();
        s.leader = false;
        if let Some(p) = synced {
            s.upto = s.upto.max(p);
        }
        drop(s);
        self.wake.notify_all();
    }

    /// How far the log is known to be durable: every byte before this.
    pub fn synced(&self) -> u64 {
        self.synced.lock().upto
    }

    /// Records that everything before `pos` is durable (a flush fsynced it).
    pub fn synced_upto(&self, pos: u64) {
        let mut s = self.synced.lock();
        s.upto = s.upto.max(pos);
    }

    pub fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Acquire)
    }

    /// Enters (or stays in) the degraded state and schedules the next probe.
    pub fn degrade(&self) {
        self.degrade_at(Instant::now());
    }

    /// `degrade` at the time `now` (tests give theirs).
    fn degrade_at(&self, now: Instant) {
        let mut r = self.retry.lock();
        if self.degraded.swap(true, Ordering::AcqRel) {
            r.delay = (r.delay * 2).min(MAX_RETRY);
        } else {
            r.delay = FIRST_RETRY;
        }
        r.next = now + r.delay;
    }

    /// Whether a degraded log should probe its disk now. Reads the clock
    /// only when degraded: every put asks.
    pub fn probe_due(&self) -> bool {
        self.is_degraded() && self.probe_due_at(Instant::now())
    }

    /// `probe_due` at the time `now`.
    fn probe_due_at(&self, now: Instant) -> bool {
        self.is_degraded() && now >= self.retry.lock().next
    }

    pub fn recovered(&self) {
        self.degraded.store(false, Ordering::Release);
        self.retry.lock().delay = FIRST_RETRY;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_leader_at_a_time_and_waiters_see_its_sync() {
        let c = Commit::default();
        assert!(matches!(c.wait_turn(10), Turn::Lead), "the first caller leads");
        assert!(c.synced.lock().leader);
        c.led(Some(20));
        assert!(matches!(c.wait_turn(15), Turn::Done));
        assert!(matches!(c.wait_turn(21), Turn::Lead));
    }

    /// Times are the test's own: no sleep, nothing a slow machine moves.
    #[test]
    fn degrade_backs_off_and_recovers() {
        let c = Commit::default();
        let t0 = Instant::now();
        assert!(!c.probe_due_at(t0));
        c.degrade_at(t0);
        assert!(c.is_degraded());
        assert!(
            !c.probe_due_at(t0 + FIRST_RETRY - Duration::from_millis(1)),
            "not before the first delay"
        );
        let t1 = t0 + FIRST_RETRY;
        assert!(c.probe_due_at(t1));
        c.degrade_at(t1);
        assert_eq!(c.retry.lock().delay, FIRST_RETRY * 2);
        assert!(!c.probe_due_at(t1 + FIRST_RETRY), "the delay doubled");
        assert!(c.probe_due_at(t1 + FIRST_RETRY * 2));
        c.recovered();
        assert!(!c.is_degraded() && !c.probe_due_at(t1 + MAX_RETRY));
    }
}
