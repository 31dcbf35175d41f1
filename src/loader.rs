//! L3: the loader, and the flight that makes one load serve every caller
//! who missed the same key at once.
//!
//! A `Loader` answers a miss with a value, "not found" or a failure. When many
//! threads miss the same key at once, the first becomes the leader and calls
//! the loader; the others wait on the leader's `Flight` and get the same
//! answer. No lock is held while the loader runs, so it may call back into the
//! cache.
//!
//! Flights are registered in the L1 shard of their key, under that shard's
//! lock (`memory::Shard::join`), and every write of the key deregisters its
//! flight under the same lock. So a leader's answer is stored only if its
//! flight is still registered when it comes back — that is, only if no write
//! of the key completed after the miss that started the load — and a caller
//! who misses after such a write starts a new flight instead of joining the
//! old one. The rule holds by construction, not by a flag that each writer
//! must remember to set.

use std::sync::Arc;

use crate::error::Result;
use crate::sync::{current_thread_id, Condvar, Mutex, ThreadId};

/// What a loader says about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    /// The key's value, to be cached for `ttl_ms` (0: the cache's default TTL).
    Value { value: Vec<u8>, ttl_ms: u64 },
    /// The key's value with tags or a file dependency (`tc_sink_put_with`).
    Entry {
        value: Vec<u8>,
        ttl_ms: u64,
        meta: crate::meta::Meta,
    },
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
}

impl Flight {
    /// A flight led by the calling thread.
    pub fn new() -> Arc<Flight> {
        Arc::new(Flight {
            owner: current_thread_id(),
            result: Mutex::new(None),
            done: Condvar::new(),
        })
    }

    /// Whether the calling thread leads it (a loader asking for its own key).
    pub fn led_by_me(&self) -> bool {
        self.owner == current_thread_id()
    }

    /// Blocks until the leader publishes, then returns its answer.
    pub fn wait(&self) -> Outcome {
        let mut r = self.result.lock();
        while r.is_none() {
            self.done.wait(&mut r);
        }
        r.clone().unwrap()
    }

    /// Hands the leader's answer to every waiter.
    pub fn publish(&self, outcome: Outcome) {
        *self.result.lock() = Some(outcome);
        self.done.notify_all();
    }
}

/// How a caller joins the load of a key.
pub enum Join {
    /// Nobody is loading the key: call the loader, store the answer if the
    /// flight is still registered, then publish.
    Leader(Arc<Flight>),
    /// Another thread is loading it: `wait` for its answer.
    Follower(Arc<Flight>),
    /// This very thread is loading it (the loader asked for its own key).
    Recursive,
}

/// Calls `loader`, turning a panic into a failure.
pub fn run_loader(loader: &dyn Loader, key: &[u8]) -> Loaded {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| loader.load(key)))
        .unwrap_or_else(|_| Loaded::Failed("the loader panicked".into()))
}

/// Turns a loader's answer into the flight's outcome.
pub fn outcome_of(loaded: &Loaded) -> Outcome {
    match loaded {
        Loaded::Value { value, .. } | Loaded::Entry { value, .. } => Ok(Arc::from(value.as_slice())),
        Loaded::NotFound => Err(crate::error::Error::not_found()),
        Loaded::Failed(msg) => Err(crate::error::Error::new(
            crate::error::Status::TC_LOADER_FAILED,
            msg.clone(),
        )),
    }
}
