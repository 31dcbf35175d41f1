//! Per-thread stripes for the state that every call touches: the handle's
//! count of calls inside (`ffi::handle`), the hit and miss counters
//! (`stats`; L1 hits only where they are taken under a shard's shared lock,
//! `memory`), and the lock of the log's index (`ReadMostly`, `log`).
//!
//! One atomic that every call of every thread increments is one cache line
//! that every core writes: with two threads hitting L1 it moves between the
//! cores on every call, and the calls queue on it as on a lock. Striped, each
//! thread writes its own line (threads are given stripes round robin, so
//! up to `STRIPES` threads never share one), and only the rare reader (a
//! statistics snapshot, a shutdown) reads them all.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Stripes per striped value.
pub const STRIPES: usize = 16;

/// One stripe, alone on its cache line (two lines: the adjacent-line
/// prefetcher pairs them).
#[derive(Default)]
#[repr(align(128))]
pub struct Line(pub AtomicU64);

static NEXT: AtomicUsize = AtomicUsize::new(0);

std::thread_local! {
    /// `usize::MAX` until the thread's first call (a const initialiser: no
    /// lazy-initialisation state to check on every access).
    static MINE: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
}

/// The calling thread's stripe (fixed for the thread's life).
pub fn mine() -> usize {
    MINE.try_with(|m| {
        let i = m.get();
        if i != usize::MAX {
            return i;
        }
        let i = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
        m.set(i);
        i
    })
    .unwrap_or(0)
}

/// A counter for statistics: relaxed, striped, summed when read.
#[derive(Default)]
pub struct Counter {
    lines: [Line; STRIPES],
}

impl Counter {
    pub fn bump(&self) {
        self.bump_at(mine());
    }

    /// `bump` on stripe `i`, the calling thread's (`mine()`), for a caller
    /// that has it already: in a shared library each `mine()` is a call to
    /// `__tls_get_addr`.
    #[inline]
    pub fn bump_at(&self, i: usize) {
        self.lines[i % STRIPES].0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.lines
            .iter()
            .fold(0u64, |s, l| s.wrapping_add(l.0.load(Ordering::Relaxed)))
    }
}

impl std::fmt::Debug for Counter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.get())
    }
}

/// Stripes of a [`ReadMostly`] lock: a write takes every one of them, so
/// few (the machines this runs on have few cores; a read takes one).
const RW_STRIPES: usize = 4;

#[derive(Default)]
#[repr(align(128))]
struct RwLine(parking_lot::RwLock<()>);

/// A reader-writer lock whose readers do not share a cache line: a read
/// takes the read lock of its thread's stripe only, a write takes the write
/// lock of every stripe, in order. For state read on every hit (the log's
/// index) and written by appends: two threads reading it no longer bounce
/// the one lock word between their cores on every read.
pub struct ReadMostly<T> {
    stripes: [RwLine; RW_STRIPES],
    /// Held by every writer and by an upgradable reader, before the stripes:
    /// so an upgradable reader keeps writers out while readers go on, and
    /// no writer can come between its read and its upgrade.
    writers: parking_lot::Mutex<()>,
    value: std::cell::UnsafeCell<T>,
}

// SAFETY: the value is only reached through the guards below, which give
// shared access under a read lock of some stripe and exclusive access under
// the write locks of all of them, so they exclude each other as one RwLock's
// guards would.
unsafe impl<T: Send> Send for ReadMostly<T> {}
unsafe impl<T: Send + Sync> Sync for ReadMostly<T> {}

pub struct ReadGuard<'a, T> {
    _g: parking_lot::RwLockReadGuard<'a, ()>,
    value: &'a T,
}

pub struct WriteGuard<'a, T> {
    _g: [parking_lot::RwLockWriteGuard<'a, ()>; RW_STRIPES],
    _writer: parking_lot::MutexGuard<'a, ()>,
    value: &'a mut T,
}

/// A read that no write can follow until it is dropped or upgraded.
pub struct UpgradableGuard<'a, T> {
    lock: &'a ReadMostly<T>,
    _g: parking_lot::RwLockReadGuard<'a, ()>,
    writer: parking_lot::MutexGuard<'a, ()>,
    value: &'a T,
}

impl<T> ReadMostly<T> {
    pub fn new(value: T) -> ReadMostly<T> {
        ReadMostly {
            stripes: Default::default(),
            writers: parking_lot::Mutex::new(()),
            value: std::cell::UnsafeCell::new(value),
        }
    }

    pub fn read(&self) -> ReadGuard<'_, T> {
        self.read_on(mine())
    }

    /// `read` on the stripe of `stripe`, the calling thread's (`mine()`)
    /// for a caller that has it at hand: in the shared library each
    /// thread-local lookup is a call (`__tls_get_addr`). Any stripe is
    /// sound (a writer takes them all); the thread's own keeps threads
    /// off each other's lock word.
    pub fn read_on(&self, stripe: usize) -> ReadGuard<'_, T> {
        let g = self.stripes[stripe % RW_STRIPES].0.read();
        // SAFETY: a read lock is held: no write guard exists (see the Sync impl).
        ReadGuard {
            _g: g,
            value: unsafe { &*self.value.get() },
        }
    }

    pub fn write(&self) -> WriteGuard<'_, T> {
        let writer = self.writers.lock();
        self.write_with(writer)
    }

    fn write_with<'a>(&'a self, writer: parking_lot::MutexGuard<'a, ()>) -> WriteGuard<'a, T> {
        let g = std::array::from_fn(|i| self.stripes[i].0.write());
        // SAFETY: every stripe's write lock is held: no other guard exists.
        WriteGuard {
            _g: g,
            _writer: writer,
            value: unsafe { &mut *self.value.get() },
        }
    }

    /// A read during which readers go on and writers wait, which can become
    /// a write with nothing written in between (`UpgradableGuard::upgrade`).
    pub fn upgradable_read(&self) -> UpgradableGuard<'_, T> {
        let writer = self.writers.lock();
        let g = self.stripes[mine() % RW_STRIPES].0.read();
        // SAFETY: a read lock is held: no write guard exists.
        UpgradableGuard {
            lock: self,
            _g: g,
            writer,
            value: unsafe { &*self.value.get() },
        }
    }
}

impl<'a, T> UpgradableGuard<'a, T> {
    /// The write this read was waiting to become: its stripe's read lock is
    /// let go and every write lock taken, while the writers' mutex it holds
    /// keeps any other writer from coming first.
    pub fn upgrade(self) -> WriteGuard<'a, T> {
        let UpgradableGuard { lock, _g, writer, .. } = self;
        drop(_g);
        lock.write_with(writer)
    }
}

impl<T> std::ops::Deref for UpgradableGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value
    }
}

impl<T> std::ops::Deref for ReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value
    }
}

impl<T> std::ops::Deref for WriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value
    }
}

impl<T> std::ops::DerefMut for WriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counter_sums_its_threads() {
        let c = Counter::default();
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        c.bump();
                    }
                });
            }
        });
        assert_eq!(c.get(), 8000);
        assert!(mine() < STRIPES);
    }

    #[test]
    fn read_mostly_excludes_writers() {
        let l = ReadMostly::new((0u64, 0u64));
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..2000 {
                        let mut w = l.write();
                        w.0 += 1;
                        w.1 += 1;
                        drop(w);
                        let r = l.read();
                        assert_eq!(r.0, r.1, "a read saw half a write");
                    }
                });
            }
        });
        assert_eq!(*l.read(), (8000, 8000));
    }
}
