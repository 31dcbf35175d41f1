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

use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};

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

/// Stripes of a [`ReadMostly`] lock's reader counts: a write reads every
/// one of them, so few (the machines this runs on have few cores; a read
/// counts itself in one).
const RW_STRIPES: usize = 4;

/// One stripe's count of readers inside, alone on its lines.
#[derive(Default)]
#[repr(align(128))]
struct Readers(AtomicUsize);

/// `ReadMostly::state`: a writer is in or waiting for the readers to leave.
const WRITING: u8 = 1;
/// `ReadMostly::state`: some reader is parked until the writer is done.
const PARKED: u8 = 2;

#[derive(Default)]
#[repr(align(128))]
struct State(AtomicU8);

/// A reader-writer lock whose readers do not share a cache line they
/// write: a read counts itself in its thread's stripe only; a write, which
/// holds the writers' mutex, raises `WRITING` and waits until every
/// stripe's count is zero. For state read on every hit (the log's index)
/// and written by every put: two threads reading it do not bounce one lock
/// word between their cores on every read, and a write costs the mutex and
/// two exchanges of `state` (four locked instructions), not a write lock
/// per stripe (ten, with four stripes, which cost each put ~15 ns more in a
/// test program alone: BENCHMARKS.md, "Puts").
///
/// Why it excludes (the invariant the `Sync` impl rests on; docs/
/// CONSISTENCY.md, "How the code makes them hold"): a reader increments its
/// count and then loads `state`; a writer sets `WRITING` and then loads the
/// counts; all four are `SeqCst`, so in their single total order either the
/// reader's increment comes first (the writer sees it and waits for the
/// matching decrement, a release its acquiring load synchronises with), or
/// the writer's `WRITING` does (the reader sees it, takes its count back and
/// waits). A writer clears `state` with a release that a later reader's load
/// acquires. Only the holder of `writers` sets or clears `WRITING`.
///
/// Like parking_lot's `RwLock` (which this replaced), a writer waiting
/// keeps new readers out: a thread must not take a read while it holds one.
pub struct ReadMostly<T> {
    readers: [Readers; RW_STRIPES],
    state: State,
    /// Held by every writer and by an upgradable reader: so an upgradable
    /// reader keeps writers out while readers go on, and no writer can come
    /// between its read and its upgrade.
    writers: parking_lot::Mutex<()>,
    value: std::cell::UnsafeCell<T>,
}

// SAFETY: the value is only reached through the guards below, which give
// shared access while their thread is counted in a stripe and no writer is
// in, and exclusive access to a writer once every count is zero and
// `WRITING` keeps new readers out (see `ReadMostly`), so they exclude each
// other as one RwLock's guards would.
unsafe impl<T: Send> Send for ReadMostly<T> {}
unsafe impl<T: Send + Sync> Sync for ReadMostly<T> {}

/// A reader's place in a stripe: its count is taken back when dropped.
struct Counted<'a>(&'a AtomicUsize);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        // Release: the reads under the guard happen before the write that
        // acquires this count at zero.
        self.0.fetch_sub(1, Ordering::Release);
    }
}

pub struct ReadGuard<'a, T> {
    _g: Counted<'a>,
    value: &'a T,
}

pub struct WriteGuard<'a, T> {
    _g: Writing<'a>,
    _writer: parking_lot::MutexGuard<'a, ()>,
    value: &'a mut T,
}

/// A writer's `WRITING`, cleared when dropped (before the writers' mutex:
/// field order).
struct Writing<'a>(&'a AtomicU8);

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        // Release: what the writer wrote happens before any read that
        // loads this.
        if self.0.swap(0, Ordering::Release) & PARKED != 0 {
            // SAFETY: the key is this lock's state, on which only
            // `ReadMostly::wait_for_writer` parks.
            unsafe {
                parking_lot_core::unpark_all(
                    self.0 as *const AtomicU8 as usize,
                    parking_lot_core::DEFAULT_UNPARK_TOKEN,
                );
            }
        }
    }
}

/// A read that no write can follow until it is dropped or upgraded.
pub struct UpgradableGuard<'a, T> {
    lock: &'a ReadMostly<T>,
    _g: Counted<'a>,
    writer: parking_lot::MutexGuard<'a, ()>,
    value: &'a T,
}

impl<T> ReadMostly<T> {
    pub fn new(value: T) -> ReadMostly<T> {
        ReadMostly {
            readers: Default::default(),
            state: State::default(),
            writers: parking_lot::Mutex::new(()),
            value: std::cell::UnsafeCell::new(value),
        }
    }

    /// Counts the calling thread in stripe `stripe` (its own, `mine()`),
    /// once no writer is in.
    fn count_in(&self, stripe: usize) -> Counted<'_> {
        let c = &self.readers[stripe % RW_STRIPES].0;
        loop {
            c.fetch_add(1, Ordering::SeqCst);
            if self.state.0.load(Ordering::SeqCst) & WRITING == 0 {
                return Counted(c);
            }
            c.fetch_sub(1, Ordering::Release);
            self.wait_for_writer();
        }
    }

    /// Parks until the writer in now (if any) clears `WRITING`.
    #[cold]
    fn wait_for_writer(&self) {
        let state = &self.state.0;
        let mut s = state.load(Ordering::Relaxed);
        while s & WRITING != 0 {
            if s & PARKED == 0 {
                if let Err(x) = state.compare_exchange_weak(s, s | PARKED, Ordering::Relaxed, Ordering::Relaxed) {
                    s = x;
                    continue;
                }
            }
            // Parks only if `PARKED` is still set with `WRITING` (checked
            // under the parking lot's bucket lock, which the writer's
            // `unpark_all` takes): a writer that cleared both, or a next one
            // that set `WRITING` alone, will not wake us, so we look again.
            // SAFETY: the key is this lock's state; no callback panics or
            // parks.
            unsafe {
                parking_lot_core::park(
                    state as *const AtomicU8 as usize,
                    || state.load(Ordering::Relaxed) == WRITING | PARKED,
                    || {},
                    |_, _| {},
                    parking_lot_core::DEFAULT_PARK_TOKEN,
                    None,
                );
            }
            s = state.load(Ordering::Relaxed);
        }
    }

    pub fn read(&self) -> ReadGuard<'_, T> {
        self.read_on(mine())
    }

    /// `read` counted in the stripe of `stripe`, the calling thread's
    /// (`mine()`), for a caller that has it at hand: in the shared library
    /// each thread-local lookup is a call (`__tls_get_addr`). Any stripe is
    /// sound (a writer waits for every count); the thread's own keeps
    /// threads off each other's count.
    pub fn read_on(&self, stripe: usize) -> ReadGuard<'_, T> {
        let g = self.count_in(stripe);
        // SAFETY: counted in with no writer in (see the Sync impl).
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
        // Only the holder of `writers` sets `WRITING` (and a reader sets
        // `PARKED` only beside it), so `state` is zero here.
        self.state.0.store(WRITING, Ordering::SeqCst);
        let g = Writing(&self.state.0);
        for r in &self.readers {
            let mut spins = 0u32;
            while r.0.load(Ordering::SeqCst) != 0 {
                // Readers mostly hold the lock for a lookup or a copy: spin
                // a little, then let them run; a few read for longer (a
                // segment's entries for compaction, `live_keys`), so after
                // that the writer sleeps rather than burn a core.
                spins = spins.saturating_add(1);
                if spins < 64 {
                    std::hint::spin_loop();
                } else if spins < 128 {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(std::time::Duration::from_micros(50));
                }
            }
        }
        // SAFETY: `WRITING` is set and every count was zero after it: no
        // other guard exists, and none is made until this one is dropped.
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
        let g = self.count_in(mine());
        // SAFETY: counted in with no writer in.
        UpgradableGuard {
            lock: self,
            _g: g,
            writer,
            value: unsafe { &*self.value.get() },
        }
    }
}

impl<'a, T> UpgradableGuard<'a, T> {
    /// The write this read was waiting to become: its count is taken back
    /// and the write begun, while the writers' mutex it holds keeps any
    /// other writer from coming first.
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

    /// Writers that hold the lock across a yield, so that readers find
    /// `WRITING` set and park (`wait_for_writer`); and an upgradable read
    /// that upgrades. A read must never see half a write, and every parked
    /// reader must be woken (the test would hang otherwise).
    #[test]
    fn read_mostly_parks_readers_behind_a_writer() {
        let l = ReadMostly::new((0u64, 0u64));
        let seen = AtomicU64::new(0);
        std::thread::scope(|s| {
            for t in 0..4 {
                let (l, seen) = (&l, &seen);
                s.spawn(move || {
                    for i in 0..500 {
                        if t == 0 {
                            let mut w = if i % 2 == 0 {
                                l.write()
                            } else {
                                l.upgradable_read().upgrade()
                            };
                            w.0 += 1;
                            std::thread::yield_now();
                            w.1 += 1;
                        } else {
                            let r = l.read();
                            assert_eq!(r.0, r.1, "a read saw half a write");
                            seen.fetch_max(r.0, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(*l.read(), (500, 500));
        assert!(seen.load(Ordering::Relaxed) <= 500);
    }

    /// An upgradable read lets readers in and keeps writers out until it
    /// is dropped.
    #[test]
    fn an_upgradable_read_lets_readers_in_and_writers_wait() {
        let l = ReadMostly::new(0u64);
        let up = l.upgradable_read();
        std::thread::scope(|s| {
            s.spawn(|| assert_eq!(*l.read(), 0));
        });
        let wrote = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                *l.write() += 1;
                wrote.store(true, Ordering::SeqCst);
            });
            std::thread::sleep(std::time::Duration::from_millis(50));
            assert!(
                !wrote.load(Ordering::SeqCst),
                "a write came in under an upgradable read"
            );
            assert_eq!(*up, 0);
            drop(up);
        });
        assert_eq!(*l.read(), 1);
    }
}
