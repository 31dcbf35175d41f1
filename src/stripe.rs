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

use prim::{Cell, Lot};

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

/// One stripe's count of readers inside, alone on its lines, and where
/// the writer waiting for them parks (nothing outside loom:
/// parking_lot_core's table, keyed by the count's address).
#[derive(Default)]
#[repr(align(128))]
struct Readers(prim::AtomicUsize, Lot);

/// In a stripe's count of readers (`Readers`), beside the number: the
/// writer is parked, or about to park, until the number is zero, and the
/// reader whose leaving makes it zero wakes it (`Counted::drop`). Set and
/// cleared only by the writer (`park_for_readers`), which alone waits for
/// readers.
const DRAINING: usize = 1 << (usize::BITS - 1);

/// `ReadMostly::state`: a writer is in or waiting for the readers to leave
/// (readers stay out). Only ever set with `HELD`.
const WRITING: u8 = 1;
/// `ReadMostly::state`: some thread is parked until `state` is cleared (a
/// reader behind `WRITING`, or a writer behind `HELD`). Only ever set with
/// `HELD`.
const PARKED: u8 = 2;
/// `ReadMostly::state`: the write side is taken, by a writer (with
/// `WRITING`) or by an upgradable reader (alone): other writers and
/// upgradable readers stay out, plain readers do not. Set only by a
/// compare-and-swap from 0, so one thread holds it at a time; cleared,
/// with the other two bits, only by its holder.
const HELD: u8 = 4;

/// How long `ReadMostly::write_yielding` waits for waiting writers, in
/// `prim::back_off` steps: 64 spins, 64 yields, then 50 µs sleeps (40 of
/// them).
const YIELDING_SPINS: u32 = 168;

/// `ReadMostly::state`: the word, and where readers wait on it (nothing
/// outside loom: parking_lot_core's table, keyed by the word's address).
#[derive(Default)]
#[repr(align(128))]
struct State(prim::AtomicU8, Lot);

/// A reader-writer lock whose readers do not share a cache line they
/// write: a read counts itself in its thread's stripe only; a write takes
/// `state` from 0 to `HELD | WRITING` in one compare-and-swap and waits
/// until every stripe's count is zero. For state read on every hit (the
/// log's index, an L1 shard) and written by every put: two threads reading
/// it do not bounce one lock word between their cores on every read, and a
/// write costs a compare-and-swap and an exchange of `state` (two locked
/// instructions), not a write lock per stripe (ten, with four stripes,
/// which cost each put ~15 ns more in a test program alone: BENCHMARKS.md,
/// "Puts"), nor a writers' mutex beside the state word (four, as it was
/// until the `putpath` branch: a put takes two of these locks, its shard's
/// and the log's).
///
/// Why it excludes (the invariant the `Sync` impl rests on; docs/
/// CONSISTENCY.md, "How the code makes them hold"): a reader increments its
/// count and then loads `state`; a writer sets `WRITING` and then loads the
/// counts; all four are `SeqCst`, so in their single total order either the
/// reader's increment comes first (the writer sees it and waits for the
/// matching decrement, a release its acquiring load synchronises with), or
/// the writer's `WRITING` does (the reader sees it, takes its count back and
/// waits). Writers exclude each other by `HELD`: it is set only by a
/// compare-and-swap from 0 (acquire), and only its holder clears `state`
/// (release), so one thread holds it at a time and each holder sees what
/// the one before wrote. An upgradable read holds `HELD` without
/// `WRITING`, so readers go on and writers wait.
///
/// How a writer waits for the readers (`wait_for_readers`): awake for a
/// while (`prim::Wait`), then parked, and the last reader to leave wakes
/// it. The writer sets `DRAINING` in a stripe's count before it parks on
/// it, and a reader takes its count back with the same read-modify-write
/// as always, which hands it the count before: `DRAINING` and this reader
/// alone means it was the last, and it wakes the writer. Both are
/// read-modify-writes of one word, so one comes first: the writer sees
/// the count at zero and does not park, or the reader sees `DRAINING`
/// (`unpark_all` takes the parking lot's bucket lock, under which the
/// writer looks at the count again before it sleeps, so a wake cannot
/// fall between the look and the sleep). A reader's leaving costs what it
/// did, a compare more. Until 7 December the writer slept 50 µs at a time
/// instead, and did not wait awake for more than ~25 µs: a put that
/// waited for compaction's read of a chunk of records (tens of
/// microseconds) came back ~150 µs later (BENCHMARKS.md, History,
/// "Session 36").
///
/// Like parking_lot's `RwLock` (which this replaced), a writer waiting
/// keeps new readers out: a thread must not take a read while it holds one.
pub struct ReadMostly<T> {
    readers: [Readers; RW_STRIPES],
    state: State,
    /// Writers waiting for another to let go (in `hold_slow`): a hint for
    /// `write_yielding`, never part of what excludes.
    writers_waiting: prim::AtomicUsize,
    value: Cell<T>,
}

// SAFETY: the value is only reached through the guards below, which give
// shared access while their thread is counted in a stripe and no writer is
// in, and exclusive access to a writer once every count is zero and
// `WRITING` keeps new readers out, while `HELD` keeps other writers out (see
// `ReadMostly`), so they exclude each other as one RwLock's guards would.
unsafe impl<T: Send> Send for ReadMostly<T> {}
unsafe impl<T: Send + Sync> Sync for ReadMostly<T> {}

/// A reader's place in a stripe: its count is taken back when dropped,
/// and the writer waiting for it (if any) woken.
struct Counted<'a>(&'a Readers);

impl Drop for Counted<'_> {
    #[inline]
    fn drop(&mut self) {
        // Release: the reads under the guard happen before the write that
        // acquires this count at zero.
        if self.0 .0.fetch_sub(1, Ordering::Release) == DRAINING | 1 {
            wake_writer(self.0);
        }
    }
}

/// Parks the writer until the last reader of `stripe` leaves, unless none
/// is left by then (`ReadMostly`, "How a writer waits for the readers").
#[cold]
#[inline(never)]
fn park_for_readers(stripe: &Readers) {
    let count = &stripe.0;
    // Acquire, here and in `validate`: a count found at zero is the last
    // reader's release.
    if count.fetch_or(DRAINING, Ordering::Acquire) & !DRAINING != 0 {
        prim::park(count, &stripe.1, || count.load(Ordering::Acquire) & !DRAINING != 0);
    }
    // Readers that leave from now on need not wake anyone; the caller
    // looks at the count again, and sets it again if it parks again.
    count.fetch_and(!DRAINING, Ordering::Relaxed);
}

/// Wakes the writer parked until the last reader of `stripe` leaves
/// (`DRAINING`).
#[cold]
#[inline(never)]
fn wake_writer(stripe: &Readers) {
    prim::unpark_all(&stripe.0, &stripe.1);
}

pub struct ReadGuard<'a, T> {
    // Field order: the value's access ends (under loom, its record of it)
    // before the count is taken back, which a writer may be waiting for.
    value: prim::Shared<'a, T>,
    _g: Counted<'a>,
}

pub struct WriteGuard<'a, T> {
    // Field order: the value's access ends, then `state` is cleared.
    value: prim::Exclusive<'a, T>,
    _g: Held<'a>,
}

/// The write side (`HELD`, and `WRITING` once raised), given back when
/// dropped: `state` goes to 0 and any thread parked on it is woken.
struct Held<'a>(&'a State);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        // Release: what the writer wrote happens before any read that
        // loads this, and before the next writer's compare-and-swap.
        if self.0 .0.swap(0, Ordering::Release) & PARKED != 0 {
            prim::unpark_all(&self.0 .0, &self.0 .1);
        }
    }
}

/// A read that no write can follow until it is dropped or upgraded.
pub struct UpgradableGuard<'a, T> {
    lock: &'a ReadMostly<T>,
    // Field order: the value's access ends before the count is taken back,
    // and that before `HELD` is.
    value: prim::Shared<'a, T>,
    _g: Counted<'a>,
    held: Held<'a>,
}

impl<T> ReadMostly<T> {
    pub fn new(value: T) -> ReadMostly<T> {
        ReadMostly {
            readers: Default::default(),
            state: State::default(),
            writers_waiting: prim::AtomicUsize::new(0),
            value: Cell::new(value),
        }
    }

    /// Counts the calling thread in stripe `stripe` (its own, `mine()`),
    /// once no writer is in.
    fn count_in(&self, stripe: usize) -> Counted<'_> {
        loop {
            if let Some(counted) = self.try_count_in(stripe) {
                return counted;
            }
            self.wait_for_writer();
        }
    }

    /// Counts the calling thread in stripe `stripe` if no writer is in or
    /// waiting for the readers to leave; `None` otherwise, having taken the
    /// count back.
    #[inline]
    fn try_count_in(&self, stripe: usize) -> Option<Counted<'_>> {
        let r = &self.readers[stripe % RW_STRIPES];
        r.0.fetch_add(1, Ordering::SeqCst);
        prim::seq_cst_store_load();
        let counted = Counted(r);
        if self.state.0.load(Ordering::SeqCst) & WRITING == 0 {
            return Some(counted);
        }
        // Taken back as any reader leaves: the writer may already be
        // parked, waiting for this count.
        drop(counted);
        None
    }

    /// Parks until the writer in now (if any) clears `WRITING`.
    #[cold]
    fn wait_for_writer(&self) {
        let s = self.state.0.load(Ordering::Relaxed);
        self.wait_while(WRITING, s);
    }

    /// Waits until `bit` (`WRITING` for a reader, `HELD` for a writer) is
    /// clear in `state`, which was `s` when last loaded, and returns what
    /// `state` is then (0 or a later holder's bits without `bit`).
    ///
    /// A write mostly takes a few hundred nanoseconds (a put, an L1
    /// promotion): wait for it awake first (`prim::Wait`), rather than go
    /// to sleep and have the writer wake us. Parking at once cost a
    /// two-thread 90/10 Zipf mix a tenth of its throughput (BENCHMARKS.md,
    /// "Go `GetParallel`").
    fn wait_while(&self, bit: u8, mut s: u8) -> u8 {
        let state = &self.state.0;
        let mut wait = prim::Wait::new();
        while s & bit != 0 && wait.awake() {
            s = state.load(Ordering::Relaxed);
        }
        while s & bit != 0 {
            if s & PARKED == 0 {
                if let Err(x) = state.compare_exchange_weak(s, s | PARKED, Ordering::Relaxed, Ordering::Relaxed) {
                    s = x;
                    continue;
                }
            }
            // Parks only if `PARKED` is still set with `bit` (checked
            // under the parking lot's bucket lock, which the holder's
            // `unpark_all` takes): a holder that cleared `state`, or a
            // next one that set `bit` without `PARKED`, will not wake us,
            // so we look again.
            prim::park(state, &self.state.1, || {
                state.load(Ordering::Relaxed) & (bit | PARKED) == bit | PARKED
            });
            s = state.load(Ordering::Relaxed);
        }
        s
    }

    /// Takes the write side: `state` from 0 to `bits` (`HELD`, with
    /// `WRITING` for a write), waiting while another thread holds it.
    #[inline]
    fn hold(&self, bits: u8) -> Held<'_> {
        // SeqCst: for a write, this is the writer's store of `WRITING`
        // (see `ReadMostly`, "Why it excludes"); acquire in any case, which
        // the last holder's release (`Held::drop`) synchronises with.
        if let Err(s) = self
            .state
            .0
            .compare_exchange(0, bits, Ordering::SeqCst, Ordering::Relaxed)
        {
            self.hold_slow(bits, s);
        }
        Held(&self.state)
    }

    #[cold]
    fn hold_slow(&self, bits: u8, mut s: u8) {
        self.writers_waiting.fetch_add(1, Ordering::Relaxed);
        loop {
            // `HELD` clear means `state` is 0: `WRITING` and `PARKED` are
            // only ever set beside it, and its holder clears all three.
            s = self.wait_while(HELD, s);
            match self
                .state
                .0
                .compare_exchange_weak(s, s | bits, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => {
                    self.writers_waiting.fetch_sub(1, Ordering::Relaxed);
                    return;
                }
                Err(x) => s = x,
            }
        }
    }

    /// A writer's wait, once `WRITING` is raised, for every reader counted
    /// before it to leave: awake (`prim::Wait`; a hit's read is over in
    /// well under a microsecond, compaction's reads of a chunk of records
    /// in tens), then parked until they wake it (`park_for_readers`).
    fn wait_for_readers(&self) {
        prim::seq_cst_store_load();
        let mut wait = prim::Wait::new();
        for r in &self.readers {
            while r.0.load(Ordering::SeqCst) & !DRAINING != 0 {
                if !wait.awake() {
                    park_for_readers(r);
                }
            }
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
            value: unsafe { self.value.shared() },
            _g: g,
        }
    }

    /// `read_on` if it can be had without waiting: `None` while a writer
    /// is in or waiting for the readers to leave. For a caller holding a
    /// lock of its own that other threads wait for (`ffi::made`: Python's
    /// GIL), which must not wait while it holds it.
    pub fn try_read_on(&self, stripe: usize) -> Option<ReadGuard<'_, T>> {
        let g = self.try_count_in(stripe)?;
        // SAFETY: counted in with no writer in (see the Sync impl).
        Some(ReadGuard {
            value: unsafe { self.value.shared() },
            _g: g,
        })
    }

    /// `write` for work done a chunk per hold in a loop (the maintenance
    /// thread's retiring and merging): first lets a writer that
    /// is waiting in, waiting a little at a time while one is (at most
    /// about 2 ms). A writer that waits parks, and wakes when the holder
    /// lets go; a loop that takes the lock again at once found it free
    /// every time, before the woken thread ran, and a put waited through
    /// the whole loop (80-125 ms of a segment's retirement, a chunk at a
    /// time, measured with 2M keys under a 256 MiB bound), not one chunk.
    pub fn write_yielding(&self) -> WriteGuard<'_, T> {
        let mut spins = 0;
        while self.writers_waiting.load(Ordering::Relaxed) > 0 && spins < YIELDING_SPINS {
            prim::back_off(&mut spins);
        }
        self.write()
    }

    // On every put's path: see `ffi::boundary::guard`.
    #[inline]
    pub fn write(&self) -> WriteGuard<'_, T> {
        let g = self.hold(HELD | WRITING);
        self.wait_for_readers();
        // SAFETY: `HELD` and `WRITING` are set and every count was zero
        // after they were: no other guard exists, and none is made until
        // this one is dropped.
        WriteGuard {
            value: unsafe { self.value.exclusive() },
            _g: g,
        }
    }

    /// A read during which readers go on and writers wait, which can become
    /// a write with nothing written in between (`UpgradableGuard::upgrade`).
    pub fn upgradable_read(&self) -> UpgradableGuard<'_, T> {
        self.upgradable_read_on(mine())
    }

    /// `upgradable_read` counted in stripe `stripe` (the loom tests choose
    /// theirs: loom runs its threads on one OS thread, so `mine()` would
    /// give them all the same).
    fn upgradable_read_on(&self, stripe: usize) -> UpgradableGuard<'_, T> {
        let held = self.hold(HELD);
        let g = self.count_in(stripe);
        // SAFETY: counted in with no writer in.
        UpgradableGuard {
            lock: self,
            value: unsafe { self.value.shared() },
            _g: g,
            held,
        }
    }
}

impl<'a, T> UpgradableGuard<'a, T> {
    /// The write this read was waiting to become: its count is taken back
    /// and `WRITING` raised, while the `HELD` it keeps keeps any other
    /// writer from coming first.
    pub fn upgrade(self) -> WriteGuard<'a, T> {
        let UpgradableGuard { lock, value, _g, held } = self;
        // The read's access to the value ends before its count is taken
        // back (a plain reference here; under loom, loom's record of it).
        #[allow(dropping_references)]
        drop(value);
        drop(_g);
        // SeqCst: the writer's store of `WRITING` ("Why it excludes"). An
        // or, not a store: a writer waiting may set `PARKED` meanwhile.
        lock.state.0.fetch_or(WRITING, Ordering::SeqCst);
        lock.wait_for_readers();
        // SAFETY: as in `write`.
        WriteGuard {
            value: unsafe { lock.value.exclusive() },
            _g: held,
        }
    }
}

impl<T> std::ops::Deref for UpgradableGuard<'_, T> {
    type Target = T;
    // `&`: the field is a plain reference, or under loom a guard (`prim`).
    #[allow(clippy::needless_borrow)]
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> std::ops::Deref for ReadGuard<'_, T> {
    type Target = T;
    // `&`: the field is a plain reference, or under loom a guard (`prim`).
    #[allow(clippy::needless_borrow)]
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> std::ops::Deref for WriteGuard<'_, T> {
    type Target = T;
    // `&`: the field is a plain reference, or under loom a guard (`prim`).
    #[allow(clippy::needless_borrow)]
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> std::ops::DerefMut for WriteGuard<'_, T> {
    #[allow(clippy::needless_borrow)]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

/// What `ReadMostly` is built of: atomics, the cell of the value, parking
/// and the back-off of a thread that waits. In one place so that its
/// loom tests (`loom_tests`, `make loom`) check the very code the library
/// runs: in the unit tests built with `RUSTFLAGS="--cfg loom"` these are
/// loom's, which it schedules and whose accesses to the value it checks
/// for data races; elsewhere they are what the lock always used (std atomics,
/// parking_lot_core, a plain `UnsafeCell` giving out plain references), nothing wrapped that the optimiser does not remove.
/// `src/sync.rs` does the same for shuttle, for other locks; loom is used
/// here because it also explores the orders of atomics, which are this
/// lock's whole algorithm.
#[cfg(not(all(loom, test)))]
mod prim {
    pub use std::sync::atomic::{AtomicU8, AtomicUsize};

    /// Where threads wait on a lock's word: parking_lot_core's global
    /// table.
    #[derive(Default)]
    pub struct Lot;

    /// Parks the calling thread on `word` if `validate`, run under the
    /// table's lock that `unpark_all` takes too, says so.
    #[inline]
    pub fn park<A>(word: &A, _: &Lot, validate: impl FnOnce() -> bool) {
        // SAFETY: the key is a lock's state word or one of its reader
        // counts, on which only `ReadMostly::wait_while` and
        // `park_for_readers` park; no callback panics or parks.
        unsafe {
            parking_lot_core::park(
                word as *const A as usize,
                validate,
                || {},
                |_, _| {},
                parking_lot_core::DEFAULT_PARK_TOKEN,
                None,
            );
        }
    }

    /// Wakes every thread parked on `word`.
    #[inline]
    pub fn unpark_all<A>(word: &A, _: &Lot) {
        // SAFETY: as in `park`.
        unsafe {
            parking_lot_core::unpark_all(word as *const A as usize, parking_lot_core::DEFAULT_UNPARK_TOKEN);
        }
    }

    /// How long a thread waits for a lock awake before it parks
    /// (`Wait`). About what a sleep and a wake-up cost, so that waiting
    /// awake never costs more than twice what parking at once would: on
    /// the 2-core virtual machines of BENCHMARKS.md a thread that sleeps
    /// for 1 µs comes back after 69-105 µs (`usleep(1)`), 117-126 µs for a
    /// 50 µs sleep, a core waking from idle. Compaction holds the log's
    /// lock for tens of microseconds at a time (a chunk of records read,
    /// an index merge's chunk written); a put that parked behind each such
    /// hold lost ~150 µs to it: 135-332 puts of 600k in
    /// `benchmarks/c/put.c 100 50000 600000` took 0.1-1 ms, 18-64 when
    /// they waited awake (History, "Session 36").
    const PATIENCE: std::time::Duration = std::time::Duration::from_micros(100);

    /// A thread's wait for a lock, before it parks: it spins a little (a
    /// put holds the log's lock for a few hundred nanoseconds), then lets
    /// other threads run while it waits, until `PATIENCE` has passed.
    pub struct Wait {
        spins: u32,
        since: Option<std::time::Instant>,
    }

    impl Wait {
        pub fn new() -> Wait {
            Wait { spins: 0, since: None }
        }

        /// One round of waiting awake; false once the thread should park
        /// instead.
        #[inline]
        pub fn awake(&mut self) -> bool {
            if self.spins < 64 {
                self.spins += 1;
                std::hint::spin_loop();
                return true;
            }
            let since = *self.since.get_or_insert_with(std::time::Instant::now);
            if since.elapsed() >= PATIENCE {
                return false;
            }
            std::thread::yield_now();
            true
        }
    }

    /// One round of `ReadMostly::write_yielding`'s wait for waiting
    /// writers: spin a little, then let the others run, then sleep.
    #[inline]
    pub fn back_off(spins: &mut u32) {
        *spins = spins.saturating_add(1);
        if *spins < 64 {
            std::hint::spin_loop();
        } else if *spins < 128 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(std::time::Duration::from_micros(50));
        }
    }

    /// Nothing: the `SeqCst` store (or increment) before it and `SeqCst`
    /// load after it are ordered by themselves (see the loom `prim`).
    #[inline(always)]
    pub fn seq_cst_store_load() {}

    /// The value's cell.
    pub struct Cell<T>(std::cell::UnsafeCell<T>);

    pub type Shared<'a, T> = &'a T;
    pub type Exclusive<'a, T> = &'a mut T;

    impl<T> Cell<T> {
        pub fn new(value: T) -> Cell<T> {
            Cell(std::cell::UnsafeCell::new(value))
        }

        /// # Safety
        /// No `exclusive` access lives as long as the result does.
        #[inline]
        pub unsafe fn shared(&self) -> Shared<'_, T> {
            unsafe { &*self.0.get() }
        }

        /// # Safety
        /// No other access lives as long as the result does.
        #[inline]
        #[allow(clippy::mut_from_ref)]
        pub unsafe fn exclusive(&self) -> Exclusive<'_, T> {
            unsafe { &mut *self.0.get() }
        }
    }
}

/// Under loom: see the other `prim`. Only in the library's own test build
/// (`cargo test --lib`): loom is a dev-dependency.
#[cfg(all(loom, test))]
mod prim {
    use std::marker::PhantomData;
    use std::ops::{Deref, DerefMut};

    pub use loom::sync::atomic::{AtomicU8, AtomicUsize};

    /// parking_lot_core's bucket, as loom sees it: its lock, and the count
    /// of `unpark_all` calls (a parked thread waits for it to change, as a
    /// thread in a bucket's queue waits to be taken off it).
    #[derive(Default)]
    pub struct Lot(loom::sync::Mutex<u64>, loom::sync::Condvar);

    pub fn park<A>(_: &A, lot: &Lot, validate: impl FnOnce() -> bool) {
        let mut g = lot.0.lock().unwrap();
        if !validate() {
            return;
        }
        let woken = *g;
        while *g == woken {
            g = lot.1.wait(g).unwrap();
        }
    }

    pub fn unpark_all<A>(_: &A, lot: &Lot) {
        *lot.0.lock().unwrap() += 1;
        lot.1.notify_all();
    }

    /// Loom must be told that a thread waits for another (else it explores
    /// the spin forever).
    pub fn back_off(spins: &mut u32) {
        *spins = spins.saturating_add(1);
        loom::thread::yield_now();
    }

    /// One look before parking, not the library's `PATIENCE`: each look
    /// is a yield loom explores, and one is enough for the schedules where
    /// the holder leaves meanwhile and where it does not.
    pub struct Wait(bool);

    impl Wait {
        pub fn new() -> Wait {
            Wait(false)
        }

        pub fn awake(&mut self) -> bool {
            if self.0 {
                return false;
            }
            self.0 = true;
            loom::thread::yield_now();
            true
        }
    }

    /// Between a `SeqCst` store (the reader's increment, the writer's
    /// `WRITING`) and the same thread's `SeqCst` load of the other side's
    /// word. The lock rests on those four accesses' single total order
    /// (`ReadMostly`, "Why it excludes"): the C++ and Rust memory model
    /// forbids both loads to miss the other thread's store. Loom does not
    /// model that order for `SeqCst` loads and stores, only for `SeqCst`
    /// fences (it treats the accesses as `AcqRel`: loom's README,
    /// "Unsupported features", and tokio-rs/loom#180), and without this
    /// reports a read racing a write in the one schedule it wrongly allows.
    /// A fence here gives loom that order, so it checks everything else the
    /// lock does; what it cannot check is the orders of these four
    /// accesses: weakening one of them to `AcqRel` or less is a bug loom
    /// would not find.
    pub fn seq_cst_store_load() {
        loom::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
    }

    pub struct Cell<T>(loom::cell::UnsafeCell<T>);

    /// Loom's record of a shared access, which lasts as long as this does.
    pub struct Shared<'a, T>(loom::cell::ConstPtr<T>, PhantomData<&'a T>);
    /// Loom's record of an exclusive access, which lasts as long as this
    /// does.
    pub struct Exclusive<'a, T>(loom::cell::MutPtr<T>, PhantomData<&'a mut T>);

    impl<T> Cell<T> {
        pub fn new(value: T) -> Cell<T> {
            Cell(loom::cell::UnsafeCell::new(value))
        }

        /// # Safety
        /// As in the other `prim`; loom panics if it is broken.
        pub unsafe fn shared(&self) -> Shared<'_, T> {
            Shared(self.0.get(), PhantomData)
        }

        /// # Safety
        /// As in the other `prim`; loom panics if it is broken.
        pub unsafe fn exclusive(&self) -> Exclusive<'_, T> {
            Exclusive(self.0.get_mut(), PhantomData)
        }
    }

    impl<T> Deref for Shared<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            // SAFETY: loom checks that no exclusive access overlaps this one.
            unsafe { self.0.deref() }
        }
    }

    impl<T> Deref for Exclusive<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            // SAFETY: loom checks that no other access overlaps this one.
            unsafe { self.0.deref() }
        }
    }

    impl<T> DerefMut for Exclusive<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            // SAFETY: as in `deref`.
            unsafe { self.0.deref() }
        }
    }
}

#[cfg(all(test, not(loom)))]
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

    #[test]
    fn a_try_read_never_waits_for_a_writer() {
        let l = ReadMostly::new(0u64);
        assert_eq!(l.try_read_on(1).map(|r| *r), Some(0));
        let mut w = l.write();
        *w = 1;
        assert!(l.try_read_on(1).is_none(), "a try-read came in under a write");
        assert!(l.try_read_on(2).is_none(), "a try-read came in under a write");
        drop(w);
        let (a, b) = (
            l.try_read_on(1).expect("no writer"),
            l.try_read_on(1).expect("readers share"),
        );
        assert_eq!((*a, *b), (1, 1));
        drop((a, b));
        // The counts the failed tries took back are gone: a write gets in.
        *l.write() = 2;
        assert_eq!(*l.read(), 2);
    }

    /// Two writers that hold the lock across a yield, so that readers find
    /// `WRITING` set and park, and the other writer finds `HELD` set and
    /// parks (`wait_while`); and upgradable reads that upgrade. A read must
    /// never see half a write, no write may be lost, and every parked
    /// thread must be woken (the test would hang otherwise).
    #[test]
    fn read_mostly_parks_readers_behind_a_writer() {
        let l = ReadMostly::new((0u64, 0u64));
        let seen = AtomicU64::new(0);
        std::thread::scope(|s| {
            for t in 0..4 {
                let (l, seen) = (&l, &seen);
                s.spawn(move || {
                    for i in 0..500 {
                        if t < 2 {
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
        assert_eq!(*l.read(), (1000, 1000));
        assert!(seen.load(Ordering::Relaxed) <= 1000);
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

    /// A writer waiting for the lock is counted while it waits and not
    /// after (`write_yielding` waits on that count), and a yielding write
    /// excludes like any other.
    #[test]
    fn a_waiting_writer_is_counted_until_it_holds_the_lock() {
        let l = ReadMostly::new(0u64);
        let held = l.write();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| *l.write() += 1);
            // Bounded only so that a broken count fails instead of hanging.
            let since = std::time::Instant::now();
            while l.writers_waiting.load(Ordering::Relaxed) == 0 {
                assert!(since.elapsed().as_secs() < 60, "a waiting writer was never counted");
                std::thread::yield_now();
            }
            drop(held);
            waiter.join().unwrap();
        });
        assert_eq!(l.writers_waiting.load(Ordering::Relaxed), 0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for i in 0..2000 {
                        let mut w = if i % 2 == 0 { l.write() } else { l.write_yielding() };
                        *w += 1;
                    }
                });
            }
        });
        assert_eq!(*l.read(), 8001);
        assert_eq!(l.writers_waiting.load(Ordering::Relaxed), 0);
    }
}

/// `ReadMostly` under loom, which runs each test in every schedule (every
/// interleaving of the atomics, mutexes and parking in `prim`, and every
/// value a load may read under the memory orders used), and panics if a
/// write to the value overlaps any other access to it (loom's `UnsafeCell`)
/// or if every thread is blocked (a lost wakeup). `make loom` runs them:
/// `RUSTFLAGS="--cfg loom" cargo test --lib --release stripe::loom_tests`.
///
/// That they can fail, checked by breaking the lock on purpose (and
/// restoring it), with the preemption bound below:
/// - the writer looking at the counts before it stores `WRITING`:
///   `half_a_write_is_never_seen` and the upgrade test fail, loom
///   reporting "Causality violation: Concurrent read and write accesses to
///   `UnsafeCell`";
/// - the reader loading `state` before its increment: the same two fail
///   the same way;
/// - a reader taking its count back with `Relaxed` instead of `Release`
///   (`Counted::drop`): the same two fail the same way (the writer's
///   access is not ordered after the read);
/// - `Writing::drop` clearing `state` without waking parked readers:
///   `a_reader_behind_a_writer_is_woken` fails, loom reporting "deadlock"
///   with the readers blocked;
/// - `upgrade` keeping its read count: the upgrade test fails, loom
///   reporting "Model exceeded maximum number of branches" (the writer
///   waits forever for its own count);
/// - a writer taking `HELD` by an or instead of a compare-and-swap from
///   0 (writers no longer exclude each other):
///   `two_writers_and_a_parked_reader` fails, loom reporting "Causality
///   violation: Concurrent write accesses to `UnsafeCell`";
/// - a writer that finds `HELD` parking without raising `PARKED` (so the
///   holder does not wake it): `two_writers_and_a_parked_reader` and the
///   upgrade test fail, loom reporting "deadlock".
/// - a reader that leaves last not waking the writer parked on its count
///   (`Counted::drop`), or a reader that finds `WRITING` taking its count
///   back without that wake (in `count_in`): `a_writer_behind_readers_is_woken`
///   fails, loom reporting "deadlock";
/// - the writer parking without setting `DRAINING` first
///   (`park_for_readers`): the same.
/// - a try-read that finds `WRITING` taking its count back without the
///   wake (`try_count_in`): `a_try_read_sees_no_half_write_and_strands_no_writer`
///   fails, loom reporting "deadlock" with the writer blocked.
///
/// Loom cannot check that the reader's increment and load and the
/// writer's store and load are `SeqCst` (`prim::seq_cst_store_load`).
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::atomic::AtomicUsize;
    use loom::sync::Arc;
    use loom::thread;

    /// `loom::model` with at most three preemptions per schedule (a switch
    /// away from a thread that could go on; switches where a thread blocks
    /// or yields are not counted). Unbounded, the writer's wait for each of
    /// four stripes, the readers' retries and the upgrade's two handshakes
    /// make too many schedules: the two three-thread tests ran for more than
    /// seven minutes each without finishing. Bounded, each runs in seconds,
    /// and the schedules that break the lock when it is broken on purpose
    /// (below) need one or two preemptions.
    fn model(f: impl Fn() + Sync + Send + 'static) {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(f);
    }

    /// A pair that writers increment in two steps, with a point between
    /// them where loom may switch threads (the atomic): a read that saw the
    /// pair unequal would have seen half a write.
    fn bump(w: &mut (u64, u64), between: &AtomicUsize) {
        w.0 += 1;
        between.fetch_add(1, Ordering::Relaxed);
        w.1 += 1;
    }

    /// A thread that writes the pair once.
    fn spawn_writer(l: &Arc<ReadMostly<(u64, u64)>>, between: &Arc<AtomicUsize>) -> thread::JoinHandle<()> {
        let (l, between) = (l.clone(), between.clone());
        thread::spawn(move || bump(&mut l.write(), &between))
    }

    /// A thread that reads the pair once (stripe 1), which must be whole
    /// and written at least `writes` times.
    fn spawn_reader(l: &Arc<ReadMostly<(u64, u64)>>, writes: u64) -> thread::JoinHandle<()> {
        let l = l.clone();
        thread::spawn(move || {
            let r = l.read_on(1);
            assert_eq!(r.0, r.1, "a read saw half a write");
            assert!(r.0 >= writes, "a read came in under a write");
        })
    }

    /// One writer, two readers on different stripes.
    #[test]
    fn half_a_write_is_never_seen() {
        model(|| {
            let l = Arc::new(ReadMostly::new((0u64, 0u64)));
            let between = Arc::new(AtomicUsize::new(0));
            let readers: Vec<_> = (0..2)
                .map(|stripe| {
                    let l = l.clone();
                    thread::spawn(move || {
                        let r = l.read_on(stripe);
                        assert_eq!(r.0, r.1, "a read saw half a write");
                        r.0
                    })
                })
                .collect();
            bump(&mut l.write(), &between);
            for r in readers {
                assert!(r.join().unwrap() <= 1);
            }
            assert_eq!(*l.read_on(0), (1, 1));
        });
    }

    /// An upgradable read that upgrades, racing a reader (another stripe)
    /// and a writer: nothing is written between the upgradable read and
    /// its write, and no read sees half a write.
    #[test]
    fn an_upgrade_races_a_reader_and_a_writer() {
        model(|| {
            let l = Arc::new(ReadMostly::new((0u64, 0u64)));
            let between = Arc::new(AtomicUsize::new(0));
            let up = {
                let (l, between) = (l.clone(), between.clone());
                thread::spawn(move || {
                    let u = l.upgradable_read_on(0);
                    let seen = *u;
                    let mut w = u.upgrade();
                    assert_eq!(*w, seen, "a write came between a read and its upgrade");
                    bump(&mut w, &between);
                })
            };
            let reader = {
                let l = l.clone();
                thread::spawn(move || {
                    let r = l.read_on(1);
                    assert_eq!(r.0, r.1, "a read saw half a write");
                })
            };
            bump(&mut l.write(), &between);
            up.join().unwrap();
            reader.join().unwrap();
            assert_eq!(*l.read_on(2), (2, 2));
        });
    }

    /// A try-read racing a writer: it either reads a whole pair or gives
    /// up, and one that gives up while the writer waits for its stripe
    /// (parked, or about to park) takes its count back with the wake, as a
    /// reader leaving does (loom reports a deadlock otherwise).
    #[test]
    fn a_try_read_sees_no_half_write_and_strands_no_writer() {
        model(|| {
            let l = Arc::new(ReadMostly::new((0u64, 0u64)));
            let between = Arc::new(AtomicUsize::new(0));
            let tries: Vec<_> = (0..2)
                .map(|stripe| {
                    let l = l.clone();
                    thread::spawn(move || {
                        if let Some(r) = l.try_read_on(stripe) {
                            assert_eq!(r.0, r.1, "a try-read saw half a write");
                        }
                    })
                })
                .collect();
            bump(&mut l.write(), &between);
            for t in tries {
                t.join().unwrap();
            }
            assert_eq!(*l.read_on(0), (1, 1));
        });
    }

    /// Readers that find `WRITING` set (the writer takes the lock before
    /// they start) and park until the writer clears it: each must be woken
    /// (loom reports a deadlock if some schedule leaves one parked).
    #[test]
    fn a_reader_behind_a_writer_is_woken() {
        model(|| {
            let l = Arc::new(ReadMostly::new((0u64, 0u64)));
            let between = Arc::new(AtomicUsize::new(0));
            let mut w = l.write();
            let readers: Vec<_> = (0..2)
                .map(|stripe| {
                    let l = l.clone();
                    thread::spawn(move || {
                        let r = l.read_on(stripe);
                        assert_eq!(*r, (1, 1), "a read came in under the write");
                    })
                })
                .collect();
            bump(&mut w, &between);
            drop(w);
            for r in readers {
                r.join().unwrap();
            }
        });
    }

    /// A writer behind a read (the main thread's, taken before it starts)
    /// parks after its one look (`prim::Wait`) until the read is dropped;
    /// a second reader either comes in before the writer (which then waits
    /// for it too) or finds `WRITING`, takes its count back and parks
    /// behind the write. Every parked thread must be woken, the writer by
    /// the reader that leaves last, whichever way it leaves (loom reports
    /// a deadlock if some schedule leaves one asleep), and no read may see
    /// half a write.
    #[test]
    fn a_writer_behind_readers_is_woken() {
        model(|| {
            let l = Arc::new(ReadMostly::new((0u64, 0u64)));
            let between = Arc::new(AtomicUsize::new(0));
            let r = l.read_on(0);
            let writer = spawn_writer(&l, &between);
            let reader = spawn_reader(&l, 0);
            assert_eq!(*r, (0, 0), "a write came in under a read");
            drop(r);
            writer.join().unwrap();
            reader.join().unwrap();
            assert_eq!(*l.read_on(2), (1, 1));
        });
    }

    /// Two writers and a reader, the first writer in before the others
    /// start: the second writer waits on `HELD` (parking after its one
    /// look), the reader on `WRITING`. Writers must exclude each other (a
    /// write overlapping a write is a race loom's cell reports, and a lost
    /// increment shows in the final pair), no read may see half a write,
    /// and neither the parked writer nor the parked reader may be left
    /// asleep (loom reports a deadlock).
    #[test]
    fn two_writers_and_a_parked_reader() {
        model(|| {
            let l = Arc::new(ReadMostly::new((0u64, 0u64)));
            let between = Arc::new(AtomicUsize::new(0));
            let mut w = l.write();
            let writer = spawn_writer(&l, &between);
            let reader = spawn_reader(&l, 1);
            bump(&mut w, &between);
            drop(w);
            writer.join().unwrap();
            reader.join().unwrap();
            assert_eq!(*l.read_on(0), (2, 2));
        });
    }
}
