//! L3: the loader, and the single-flight rule that calls it once per key.
//!
//! A `Loader` answers a miss with a value, "not found" or a failure. When many
//! threads miss the same key at once, the first becomes the leader and calls
//! the loader; the others wait on the leader's `Flight` and get the same
//! answer. No lock is held while the loader runs, so it may call back into the
//! cache. A write to a key while its load is in flight marks the flight
//! superseded, so the loaded (older) value is returned to the callers who
//! asked for it but not stored over the newer write.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, ThreadId};

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result};

/// What a loader says about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    /// The key's value, to be cached for `ttl_ms` (0: the cache's default TTL).
    Value { value: Vec<u8>, ttl_ms: u64 },
    /// The key has no value; nothing is cached.
    NotFound,
    /// The loader failed; nothing is cached. The message reaches the caller.
    Failed(String),
}

/// The source a cache falls back to on a miss. It is called from whichever
/// thread missed, possibly from many at once for different keys.
pub trait Loader: Send + Sync {
    fn load(&self, key: &[u8]) -> Loaded;
}

impl<F: Fn(&[u8]) -> Loaded + Send + Sync> Loader for F {
    fn load(&self, key: &[u8]) -> Loaded {
        self(key)
    }
}

/// The answer a flight hands to everyone who waited on it.
pub type Outcome = Result<Arc<[u8]>>;

/// One load in progress.
pub struct Flight {
    owner: ThreadId,
    result: Mutex<Option<Outcome>>,
    done: Condvar,
    superseded: AtomicBool,
}

impl Flight {
    /// Blocks until the leader finishes, then returns its answer.
    pub fn wait(&self) -> Outcome {
        let mut r = self.result.lock();
        while r.is_none() {
            self.done.wait(&mut r);
        }
        r.clone().unwrap()
    }

    /// Whether a write to the key happened while the load ran.
    pub fn superseded(&self) -> bool {
        self.superseded.load(Ordering::Acquire)
    }
}

/// How a caller joins the load of a key.
pub enum Join {
    /// Nobody is loading the key: call the loader, then `Flights::finish`.
    Leader(Arc<Flight>),
    /// Another thread is loading it: `wait` for its answer.
    Follower(Arc<Flight>),
    /// This very thread is loading it (the loader asked for its own key).
    Recursive,
}

/// The loads in progress, by key.
#[derive(Default)]
pub struct Flights {
    map: Mutex<HashMap<Box<[u8]>, Arc<Flight>>>,
    /// `map.len()`, readable without the lock so writes skip it when no load runs.
    active: AtomicUsize,
}

impl Flights {
    pub fn join(&self, key: &[u8]) -> Join {
        let me = thread::current().id();
        let mut map = self.map.lock();
        if let Some(f) = map.get(key) {
            return if f.owner == me {
                Join::Recursive
            } else {
                Join::Follower(f.clone())
            };
        }
        let f = Arc::new(Flight {
            owner: me,
            result: Mutex::new(None),
            done: Condvar::new(),
            superseded: AtomicBool::new(false),
        });
        map.insert(key.into(), f.clone());
        self.active.store(map.len(), Ordering::Release);
        Join::Leader(f)
    }

    /// Publishes the leader's answer and retires the flight.
    pub fn finish(&self, key: &[u8], flight: &Flight, outcome: Outcome) {
        {
            let mut map = self.map.lock();
            map.remove(key);
            self.active.store(map.len(), Ordering::Release);
        }
        *flight.result.lock() = Some(outcome);
        flight.done.notify_all();
    }

    /// Marks every flight whose key `matches` as superseded by a write.
    pub fn supersede(&self, mut matches: impl FnMut(&[u8]) -> bool) {
        if self.active.load(Ordering::Acquire) == 0 {
            return;
        }
        for (k, f) in self.map.lock().iter() {
            if matches(k) {
                f.superseded.store(true, Ordering::Release);
            }
        }
    }
}

/// Turns a loader's answer into the flight's outcome.
pub fn outcome_of(loaded: &Loaded) -> Outcome {
    match loaded {
        Loaded::Value { value, .. } => Ok(Arc::from(value.as_slice())),
        Loaded::NotFound => Err(Error::not_found()),
        Loaded::Failed(msg) => Err(Error::new(crate::error::Status::TC_LOADER_FAILED, msg.clone())),
    }
}
