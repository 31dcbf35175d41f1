//! The locks of the in-memory coordination, behind one facade, so that
//! `tests/schedules.rs` can run the real code paths under `shuttle`.
//!
//! What it owns: the primitives through which threads of one cache
//! coordinate in memory — the L1 shard locks (`memory`, reader-writer
//! locks: hits are served under the shared side; `stripe::ReadMostly`,
//! whose readers write no shared word), which are each key's
//! serialisation point and where loads are registered; a load's
//! `Flight` (`loader`); the loader slot (`cache`); and a handle's gate
//! (`ffi::handle`), with the thread-locals the gate reads and the identity
//! of the calling thread (a flight's leader). The API is parking_lot's, the
//! subset the code uses: `Mutex::lock` returns the guard, `Condvar::wait`
//! takes `&mut MutexGuard`.
//!
//! Why: shuttle (feature `shuttle`, tests only) explores thread schedules
//! deterministically, but it can only switch threads at operations it
//! controls. With the feature, this module wraps `shuttle::sync` and
//! `shuttle::thread`; without it, it is nothing but re-exports of
//! parking_lot and std, so a build that ships pays nothing for it.
//!
//! What it leaves alone, and why that is sound under shuttle:
//! - The log's locks (`src/log/`) stay parking_lot's. Each is taken either
//!   while a shard lock is held (a write of a key, a clear, a
//!   `remove_prefix`) or by the log alone (a get's L2 read, a wait for
//!   durability, maintenance), and none is held across an operation of this
//!   module: the log never calls back into memory, the loader or a flight.
//!   The same goes for the one wait in the log, group commit's
//!   (`log::commit`): a caller leads an fsync from `wait_turn` to `led`
//!   without an operation of this module in between. Shuttle switches
//!   threads only at those operations, and runs its threads one at a time on
//!   one OS thread, so no shuttle thread ever finds a log lock held, or a
//!   leader's fsync under way, by another; it never blocks on a primitive
//!   that shuttle cannot see (if one ever did, the run would hang, not pass
//!   wrongly). `tests/schedules.rs` uses memory-only caches in any case,
//!   which have no log and no maintenance thread.
//! - The maintenance thread (`cache::Maintenance`) is a real OS thread with
//!   parking_lot locks: shuttle cannot schedule it, and memory-only caches
//!   do not start it.
//! - Atomics stay std atomics (shuttle has its own, but swapping them buys
//!   little): shuttle does not switch threads at them, so an atomic runs in
//!   one step with the code around it, up to the thread's next operation of
//!   this module. The counters (`stats`) and the clock coordinate nothing.
//!   The gate's count does, and each of its changes sits next to the gate's
//!   mutex (`leave` takes it to wake a shutdown, `close` checks the count
//!   under it), so the orders that matter are still explored, at that
//!   coarser grain.
//!
//! A cache built with the feature can only be used from inside a shuttle
//! test (`shuttle::check_*`): its locks panic anywhere else.

#[cfg(not(feature = "shuttle"))]
mod imp {
    pub use crate::stripe::{ReadMostly, WriteGuard as ReadMostlyWriteGuard};
    pub use parking_lot::{Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
    pub use std::thread::ThreadId;

    /// The calling thread's id.
    pub fn current_thread_id() -> ThreadId {
        std::thread::current().id()
    }

    pub use std::thread_local;
}

#[cfg(feature = "shuttle")]
mod imp {
    use std::ops::{Deref, DerefMut};
    use std::sync::PoisonError;

    pub use shuttle::sync::{RwLockReadGuard, RwLockWriteGuard};
    pub use shuttle::thread::ThreadId;

    /// The calling shuttle thread's id. Every shuttle thread runs on the
    /// same OS thread, so `std::thread::current().id()` cannot tell them
    /// apart.
    pub fn current_thread_id() -> ThreadId {
        shuttle::thread::current().id()
    }

    /// One value per shuttle thread, for the same reason.
    pub use shuttle::thread_local;

    /// A shuttle mutex with parking_lot's API: no poisoning (a panic while
    /// the lock was held leaves the data as it was, as parking_lot does).
    #[derive(Default)]
    pub struct Mutex<T>(shuttle::sync::Mutex<T>);

    /// Holds the inner guard in an `Option` so that `Condvar::wait`, which
    /// in shuttle takes the guard by value, can swap it through `&mut`.
    pub struct MutexGuard<'a, T>(Option<shuttle::sync::MutexGuard<'a, T>>);

    impl<T> Mutex<T> {
        pub fn new(value: T) -> Mutex<T> {
            Mutex(shuttle::sync::Mutex::new(value))
        }

        pub fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(Some(self.0.lock().unwrap_or_else(PoisonError::into_inner)))
        }
    }

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.0.as_ref().expect("a guard is only empty inside Condvar::wait")
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.0.as_mut().expect("a guard is only empty inside Condvar::wait")
        }
    }

    #[derive(Default)]
    pub struct Condvar(shuttle::sync::Condvar);

    impl Condvar {
        pub fn new() -> Condvar {
            Condvar(shuttle::sync::Condvar::new())
        }

        /// Releases the guard's lock, waits for a notification, takes the
        /// lock again.
        pub fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            let inner = guard.0.take().expect("a guard is only empty inside Condvar::wait");
            guard.0 = Some(self.0.wait(inner).unwrap_or_else(PoisonError::into_inner));
        }

        pub fn notify_all(&self) {
            self.0.notify_all();
        }
    }

    #[derive(Default)]
    pub struct RwLock<T>(shuttle::sync::RwLock<T>);

    impl<T> RwLock<T> {
        pub fn new(value: T) -> RwLock<T> {
            RwLock(shuttle::sync::RwLock::new(value))
        }

        pub fn read(&self) -> RwLockReadGuard<'_, T> {
            self.0.read().unwrap_or_else(PoisonError::into_inner)
        }

        pub fn write(&self) -> RwLockWriteGuard<'_, T> {
            self.0.write().unwrap_or_else(PoisonError::into_inner)
        }
    }

    /// `stripe::ReadMostly`'s API over shuttle's `RwLock`: a read counted
    /// in a stripe is a plain shared read here (shuttle runs one thread at
    /// a time: there is no cache line to keep threads off).
    #[derive(Default)]
    pub struct ReadMostly<T>(RwLock<T>);

    pub type ReadMostlyWriteGuard<'a, T> = RwLockWriteGuard<'a, T>;

    impl<T> ReadMostly<T> {
        pub fn new(value: T) -> ReadMostly<T> {
            ReadMostly(RwLock::new(value))
        }

        pub fn read_on(&self, _stripe: usize) -> RwLockReadGuard<'_, T> {
            self.0.read()
        }

        /// `read_on` unless a writer holds the lock.
        pub fn try_read_on(&self, _stripe: usize) -> Option<RwLockReadGuard<'_, T>> {
            match self.0 .0.try_read() {
                Ok(g) => Some(g),
                Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
                Err(std::sync::TryLockError::WouldBlock) => None,
            }
        }

        pub fn write(&self) -> RwLockWriteGuard<'_, T> {
            self.0.write()
        }

        /// `write`: shuttle schedules the waiting writers itself.
        pub fn write_yielding(&self) -> RwLockWriteGuard<'_, T> {
            self.0.write()
        }
    }
}

pub use imp::*;
