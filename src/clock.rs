//! Wall-clock time in milliseconds since the UNIX epoch.
//!
//! Expiry times are absolute wall-clock milliseconds so that they mean the same
//! thing after a restart; this module is the one place that reads the clock.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the UNIX epoch (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The absolute expiry of an entry written `now` with `ttl_ms` (0: never).
pub fn expiry(now: u64, ttl_ms: u64) -> u64 {
    if ttl_ms == 0 {
        0
    } else {
        now.saturating_add(ttl_ms)
    }
}

/// The time of one operation, read from the clock at most once and only if
/// asked: most entries never expire, and a hit on one should not pay for a
/// clock read.
#[derive(Default)]
pub struct Now(Cell<u64>);

impl Now {
    pub fn new() -> Now {
        Now(Cell::new(0))
    }

    /// A time fixed at `ms` (for tests and for operations that have read the clock).
    pub fn at(ms: u64) -> Now {
        Now(Cell::new(ms.max(1)))
    }

    pub fn get(&self) -> u64 {
        if self.0.get() == 0 {
            self.0.set(now_ms().max(1));
        }
        self.0.get()
    }

    /// Whether an entry with absolute expiry `expires_at` (0: never) is expired.
    pub fn expired(&self, expires_at: u64) -> bool {
        expires_at != 0 && expires_at <= self.get()
    }
}

/// Whether an entry with absolute expiry `expires_at` (0: never) is expired at `now`.
pub fn is_expired(expires_at: u64, now: u64) -> bool {
    expires_at != 0 && expires_at <= now
}
