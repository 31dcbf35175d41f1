//! The life of a `tc_cache` handle: calls in flight, shutdown, and fork.
//!
//! A garbage-collected wrapper (Go, Python) cannot promise that no other
//! thread is inside a call when its user closes a cache, so the handle itself
//! keeps the rule: every call enters the handle's [`Gate`] and leaves it on
//! return; `tc_cache_shutdown` closes the gate, waits until the calls inside
//! have left, and only then drops the cache (flush, lock, files). Calls that
//! come later get `TC_CLOSED`. The handle's memory lives on until
//! `tc_cache_close`, so a late call reads a closed gate, never freed memory.
//!
//! A handle inherited by a child of `fork()` belongs to the parent: its lock,
//! its files and its threads are the parent's (the threads do not even exist
//! in the child). A fork counter bumped in the child by a `pthread_atfork`
//! handler tells the handle it is in another process; every call there is
//! refused with `TC_CLOSED` before it touches any lock or file, and closing
//! it in the child frees the handle without flushing, unlocking or joining
//! anything of the parent's (the cache's memory is left to the child's exit).

use std::cell::{RefCell, UnsafeCell};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Once;

use crate::cache::Cache;
use crate::error::{Error, Result};
use crate::stripe::{self, Line, STRIPES};
use crate::sync::{thread_local, Condvar, Mutex};

/// Bumped in the child of every `fork()` (see the module doc).
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);
static ATFORK: Once = Once::new();

extern "C" fn in_forked_child() {
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
}

fn fork_generation() -> u64 {
    ATFORK.call_once(|| {
        // SAFETY: registers a handler that only bumps an atomic, which is
        // async-signal-safe as a fork child handler must be.
        unsafe { libc::pthread_atfork(None, None, Some(in_forked_child)) };
    });
    FORK_GENERATION.load(Ordering::Relaxed)
}

thread_local! {
    /// The handles (by `tc_cache::id`) whose user code the calling thread
    /// is running, innermost last: a loader may call back in, and another
    /// handle's loader may run inside it, so there can be several. For
    /// refusing a shutdown that would wait for its own caller (see
    /// `calling_out`).
    static CALLING_OUT: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
    /// The gates whose shutdown the calling thread is running.
    static SHUTTING: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// Counts the calls inside a handle and lets shutdown wait for them.
///
/// The count is striped by thread (`crate::stripe`): every call enters and
/// leaves, so a single counter would be a cache line that every call of every
/// thread writes, which two threads hitting L1 at once queue on. A call
/// enters on its thread's stripe and then looks at `closed`; shutdown sets
/// `closed` and then sums the stripes. Both are sequentially consistent, so
/// either the call sees `closed` (and leaves at once), or shutdown's sum sees
/// the call.
struct Gate {
    calls: [Line; STRIPES],
    closed: AtomicBool,
    /// Guards nothing but the wait for the last call to leave, and whether
    /// the shutdown has finished (for a second shutdown to wait on).
    done: Mutex<bool>,
    left: Condvar,
}

impl Gate {
    fn new() -> Gate {
        Gate {
            calls: Default::default(),
            closed: AtomicBool::new(false),
            done: Mutex::new(false),
            left: Condvar::new(),
        }
    }

    /// Enters unless closed; returns the stripe to leave by.
    #[inline]
    fn enter(&self) -> Option<usize> {
        let i = stripe::mine();
        self.calls[i].0.fetch_add(1, Ordering::SeqCst);
        if self.closed.load(Ordering::SeqCst) {
            self.leave(i);
            return None;
        }
        Some(i)
    }

    // Inlined (every call leaves once; the wake-up, rare, is not).
    #[inline]
    fn leave(&self, i: usize) {
        self.calls[i].0.fetch_sub(1, Ordering::SeqCst);
        if self.closed.load(Ordering::SeqCst) {
            self.wake();
        }
    }

    /// A call leaving a closed gate wakes the shutdown, which counts again.
    /// Taking the mutex orders this after the shutdown's count.
    #[cold]
    #[inline(never)]
    fn wake(&self) {
        let _g = self.done.lock();
        self.left.notify_all();
    }

    /// Calls inside now.
    fn inside(&self) -> u64 {
        self.calls
            .iter()
            .fold(0u64, |s, l| s.wrapping_add(l.0.load(Ordering::SeqCst)))
    }

    /// Closes the gate and waits until no call is inside. Returns whether
    /// this was the first close (the caller then drops the cache and calls
    /// `finished`); a later close waits for that to finish.
    fn close(&self) -> bool {
        let first = !self.closed.swap(true, Ordering::SeqCst);
        let mut done = self.done.lock();
        if !first {
            while !*done {
                self.left.wait(&mut done);
            }
            return false;
        }
        while self.inside() != 0 {
            self.left.wait(&mut done);
        }
        true
    }

    fn finished(&self) {
        *self.done.lock() = true;
        self.left.notify_all();
    }
}

/// An open cache: an opaque handle. Every function taking one is safe to
/// call from many threads at once; `tc_cache_shutdown` too; only
/// `tc_cache_close` must be the last call. Every function taking a handle
/// returns `TC_CLOSED` once `tc_cache_shutdown` has begun, and in a child
/// process that inherited the handle through `fork()`.
#[allow(non_camel_case_types)]
pub struct tc_cache {
    gate: Gate,
    /// The process (fork generation) that opened the handle.
    generation: u64,
    /// `Some` until shutdown. Read only by calls inside the gate; taken only
    /// by the shutdown that closed the gate, once no call is inside.
    cache: UnsafeCell<Option<Cache>>,
}

// SAFETY: `cache` is shared only between calls inside the gate, which take
// `&Cache` (and `Cache` is Sync), and taken by the one shutdown that closed
// the gate after every call left it.
unsafe impl Sync for tc_cache {}
unsafe impl Send for tc_cache {}

/// A call's pass through the gate: derefs to the cache, leaves on drop.
pub struct Inside<'a> {
    handle: &'a tc_cache,
    cache: &'a Cache,
    /// The gate's stripe it entered by.
    stripe: usize,
}

impl std::ops::Deref for Inside<'_> {
    type Target = Cache;
    fn deref(&self) -> &Cache {
        self.cache
    }
}

impl Inside<'_> {
    /// The calling thread's stripe (`crate::stripe::mine()`), looked up on
    /// entering the gate: a call passes it on rather than look it up again.
    pub fn stripe(&self) -> usize {
        self.stripe
    }
}

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        self.handle.gate.leave(self.stripe);
    }
}

/// Runs `f`, user code that the library calls from inside a call on the
/// handle `handle` (a `tc_cache::id`): a loader, a destructor of user data.
///
/// Only user code can call `tc_cache_shutdown`, so a thread that is inside
/// a call on a handle and calls its shutdown is necessarily running user
/// code that this call (or one nested in it) called: recording the handle
/// around each such call, rather than around every call that enters the
/// gate, is enough for `shutdown` to refuse to wait for itself, and spares
/// every call (an L1 hit above all) the thread-local list. Every place
/// where the library calls user code from inside a call on a handle must
/// go through here.
pub(crate) fn calling_out<R>(handle: usize, f: impl FnOnce() -> R) -> R {
    /// Takes the record away when the user code returns (or unwinds).
    struct Back(usize);
    impl Drop for Back {
        fn drop(&mut self) {
            CALLING_OUT.with(|s| {
                let mut s = s.borrow_mut();
                if let Some(i) = s.iter().rposition(|h| *h == self.0) {
                    s.remove(i);
                }
            });
        }
    }
    CALLING_OUT.with(|s| s.borrow_mut().push(handle));
    let _back = Back(handle);
    f()
}

impl tc_cache {
    pub(crate) fn new(cache: Cache) -> tc_cache {
        tc_cache {
            gate: Gate::new(),
            generation: fork_generation(),
            cache: UnsafeCell::new(Some(cache)),
        }
    }

    /// What names this handle to `calling_out` and `shutdown`.
    pub(crate) fn id(&self) -> usize {
        &self.gate as *const Gate as usize
    }

    fn forked(&self) -> bool {
        FORK_GENERATION.load(Ordering::Relaxed) != self.generation
    }

    /// Enters the handle for one call, or `TC_CLOSED`.
    pub(crate) fn enter(&self) -> Result<Inside<'_>> {
        if self.forked() {
            return Err(Error::closed(
                "the handle was opened by the parent of this process (before fork()); open the cache again here",
            ));
        }
        let Some(stripe) = self.gate.enter() else {
            return Err(Error::closed("the cache was shut down"));
        };
        // SAFETY: inside the gate, the cache is not taken (see `cache`).
        let cache = match unsafe { &*self.cache.get() } {
            Some(c) => c,
            None => {
                self.gate.leave(stripe);
                return Err(Error::closed("the cache was shut down"));
            }
        };
        Ok(Inside {
            handle: self,
            cache,
            stripe,
        })
    }

    /// Closes the gate, waits for the calls inside, and drops the cache:
    /// flush, hint, lock and files released, loader's user data freed.
    /// Idempotent; in a forked child it only closes the gate.
    pub(crate) fn shutdown(&self) -> Result<()> {
        let me = self.id();
        if SHUTTING.with(|s| s.borrow().contains(&me)) {
            // Called by a destructor that this very shutdown is running (the
            // loader's user data): the handle is already on its way down.
            return Ok(());
        }
        // A shutdown from user code that a call on this handle is running
        // (see `calling_out`).
        if CALLING_OUT.with(|s| s.borrow().contains(&me)) {
            return Err(Error::invalid(
                "called from inside a call on the same handle (a loader?): it would wait for itself",
            ));
        }
        if self.forked() {
            self.gate.closed.store(true, Ordering::SeqCst);
            return Ok(());
        }
        if !self.gate.close() {
            return Ok(());
        }
        // SAFETY: the gate is closed and empty, and only the first close
        // gets here: nothing else can read the cache any more.
        let cache = unsafe { (*self.cache.get()).take() };
        // Whatever happens while the cache goes (a panic included), the
        // shutdown finishes, so a later close does not wait for ever.
        struct Finished<'a>(&'a Gate, usize);
        impl Drop for Finished<'_> {
            fn drop(&mut self) {
                SHUTTING.with(|s| s.borrow_mut().retain(|g| *g != self.1));
                self.0.finished();
            }
        }
        SHUTTING.with(|s| s.borrow_mut().push(me));
        let _finished = Finished(&self.gate, me);
        cache.map_or(Ok(()), Cache::close)
    }

    /// Frees a handle: shuts it down first, except in a forked child, where
    /// the parent's cache is leaked rather than flushed and unlocked.
    #[allow(clippy::boxed_local)] // it is the handle's allocation, freed here
    pub(crate) fn close(handle: Box<tc_cache>) -> Result<()> {
        if handle.forked() {
            // SAFETY: the child is the only user of this copy of the handle;
            // the cache stays allocated (and untouched) until the child exits.
            std::mem::forget(unsafe { (*handle.cache.get()).take() });
            return Ok(());
        }
        handle.shutdown()
    }
}
