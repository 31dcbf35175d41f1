//! Per-thread stripes for the state that every call touches: the handle's
//! count of calls inside (`ffi::handle`) and the hit counters (`stats`).
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
    static MINE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
}

/// The calling thread's stripe (fixed for the thread's life).
pub fn mine() -> usize {
    MINE.try_with(|m| *m).unwrap_or(0)
}

/// A counter for statistics: relaxed, striped, summed when read.
#[derive(Default)]
pub struct Counter {
    lines: [Line; STRIPES],
}

impl Counter {
    pub fn bump(&self) {
        self.lines[mine()].0.fetch_add(1, Ordering::Relaxed);
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
}
