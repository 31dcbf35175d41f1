//! One spare value buffer per thread: the allocation of a value that L1 let
//! go, kept for the thread's next copy of a value read from L2 or put.
//!
//! Why: with a small L1 in front of L2, every L2 hit copies its value into a
//! new `Arc<[u8]>` (L1 keeps it) and pushes another value out. From 1 KiB on
//! such a buffer is over glibc's per-thread cache limit, so each hit pays a
//! malloc and a free that take an arena's lock; and the free is often of
//! another thread's allocation (the thread whose promotion evicts a value
//! is not the one that promoted it), which takes that thread's arena lock:
//! two threads hitting L2 queue on each other's allocator. Kept here, the
//! buffer pushed out is reused by the thread that pushed it out, for its
//! next value of the same length.
//!
//! Only a buffer that nothing else holds is kept (`Arc::get_mut`): a value
//! handed out (`tc_get_value`) still holds its own, so reusing a spare
//! writes memory that no one else can read. At most one buffer, of at most
//! `MAX_SPARE` bytes, per thread; it is freed with the thread.

use std::cell::Cell;
use std::mem::MaybeUninit;
use std::sync::Arc;

/// The largest buffer kept: past this a value's copy costs far more than
/// its allocation, and a thread should not hold on to much memory.
const MAX_SPARE: usize = 64 << 10;

std::thread_local! {
    static SPARE: Cell<Option<Arc<[u8]>>> = const { Cell::new(None) };
}

/// The shortest value worth the spare: below it glibc's per-thread cache
/// serves the allocation and the free without a lock, for less than the
/// thread-local look-ups of the spare and the eviction list cost (a put of
/// 100 B that evicted nothing spent 111 instructions handing back an empty
/// list and 190 in `copy`).
pub(crate) const WORTH_FROM: usize = 1024;

/// A copy of `bytes`, in the thread's spare if it has their length (a put's
/// copy for L1: with L1 full, each put of a large value pushes out another
/// of the same size, whose buffer the next put fills instead of allocating).
pub(crate) fn copy(bytes: &[u8]) -> Arc<[u8]> {
    fill(bytes.len(), |dst| {
        // SAFETY: `dst` is `bytes.len()` bytes (`fill` gives the length
        // asked for), writable, and cannot overlap `bytes`, a shared borrow.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst.as_mut_ptr().cast::<u8>(), bytes.len()) };
        true
    })
    .expect("a fill that returns true hands its buffer out")
}

/// Keeps `v` as the thread's spare if nothing else holds it (else, or if it
/// is empty or large, it is just dropped).
pub fn keep(mut v: Arc<[u8]>) {
    if v.is_empty() || v.len() > MAX_SPARE || Arc::get_mut(&mut v).is_none() {
        return;
    }
    // After the thread's locals are gone, `v` is simply dropped.
    let _ = SPARE.try_with(|s| s.set(Some(v)));
}

/// Where the thread's spare lies, if it has one (for tests).
#[cfg(test)]
pub(crate) fn held() -> Option<*const u8> {
    SPARE.with(|s| {
        let v = s.take();
        let at = v.as_ref().map(|v| v.as_ptr());
        s.set(v);
        at
    })
}

/// The thread's spare, if it is `len` bytes long.
fn take(len: usize) -> Option<Arc<[u8]>> {
    SPARE
        .try_with(|s| {
            let v = s.take()?;
            if v.len() == len {
                return Some(v);
            }
            s.set(Some(v));
            None
        })
        .ok()
        .flatten()
}

/// A buffer of `len` bytes written by `fill`: the thread's spare if it has
/// that length, else a new one. `fill` must write every byte of the slice
/// it is given (with initialised bytes only) when it returns true; if it
/// returns false the buffer is not handed out (`None`).
pub(crate) fn fill(len: usize, fill: impl FnOnce(&mut [MaybeUninit<u8>]) -> bool) -> Option<Arc<[u8]>> {
    if let Some(mut v) = take(len) {
        let bytes = Arc::get_mut(&mut v).expect("a spare is held by nothing else");
        // SAFETY: `u8` and `MaybeUninit<u8>` have the same layout, and `fill`
        // writes only initialised bytes, so the buffer stays initialised.
        let dst = unsafe { &mut *(bytes as *mut [u8] as *mut [MaybeUninit<u8>]) };
        if fill(dst) {
            return Some(v);
        }
        keep(v);
        return None;
    }
    let mut v = Arc::<[u8]>::new_uninit_slice(len);
    if !fill(Arc::get_mut(&mut v).expect("a new Arc is unique")) {
        return None;
    }
    // SAFETY: `fill` returned true, so it wrote every byte.
    Some(unsafe { v.assume_init() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dst: &mut [MaybeUninit<u8>], b: u8) -> bool {
        for d in dst.iter_mut() {
            d.write(b);
        }
        true
    }

    #[test]
    fn a_buffer_let_go_is_reused_for_the_same_length_only() {
        let a = fill(100, |d| write(d, 1)).unwrap();
        let at = a.as_ptr();
        keep(a);
        // Another length: a new buffer, the spare stays.
        let b = fill(50, |d| write(d, 2)).unwrap();
        assert_ne!(b.as_ptr(), at);
        let c = fill(100, |d| write(d, 3)).unwrap();
        assert_eq!(c.as_ptr(), at, "the spare is reused");
        assert!(c.iter().all(|&x| x == 3));
        // Taken: the next one is new.
        let d = fill(100, |d| write(d, 4)).unwrap();
        assert_ne!(d.as_ptr(), at);
        assert!(d.iter().all(|&x| x == 4));
    }

    #[test]
    fn a_buffer_still_held_elsewhere_is_never_kept() {
        let a = fill(100, |d| write(d, 1)).unwrap();
        let held = a.clone();
        keep(a);
        let b = fill(100, |d| write(d, 9)).unwrap();
        assert_ne!(b.as_ptr(), held.as_ptr());
        assert!(held.iter().all(|&x| x == 1), "the held value is untouched");
    }

    #[test]
    fn a_copy_fills_the_spare_of_its_length() {
        let a = fill(5, |d| write(d, 1)).unwrap();
        let at = a.as_ptr();
        keep(a);
        let c = copy(b"hello");
        assert_eq!(c.as_ptr(), at, "the spare is reused");
        assert_eq!(&*c, b"hello");
        assert_eq!(&*copy(b"hello"), b"hello", "no spare: a new buffer");
        assert!(copy(b"").is_empty());
    }

    #[test]
    fn a_refused_fill_hands_out_nothing() {
        assert!(fill(10, |_| false).is_none());
        let a = fill(10, |d| write(d, 1)).unwrap();
        let at = a.as_ptr();
        keep(a);
        assert!(fill(10, |d| !write(d, 2)).is_none());
        // The spare survives a refused fill.
        assert_eq!(fill(10, |d| write(d, 3)).unwrap().as_ptr(), at);
    }
}
