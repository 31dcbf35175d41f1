//! The array an L1 shard keeps its nodes in (`lru::Lru`, `s3fifo::S3Fifo`):
//! a `Vec`'s buffer while it is small, and from `HUGE` bytes on a mapping of
//! its own, aligned to and advised for the CPU's huge pages.
//!
//! Why: over a large L1 a hit's two loads (the table's bucket, then the
//! node) each miss the TLB as well as the cache, and the page walk is a
//! trip to memory of its own. With the nodes in 2 MiB pages, `tc_get` over
//! 100k keys of 100 B took 201–208 ns against 215–247 through the shared
//! library on the Intel Xeon of 6 December 2026 (BENCHMARKS.md, History,
//! "Session 30"). A `Vec`'s buffer cannot have them: the kernel backs only
//! 2 MiB-aligned ranges of an advised mapping with a huge page, and glibc
//! puts a large buffer 16 bytes into a mapping of its own, so a 2 MiB
//! buffer holds no such range. Here the mapping starts on a 2 MiB boundary
//! and is advised before anything touches it.
//!
//! What it costs: memory for the part of the last huge page past the last
//! node (under 2 MiB a shard, and only for shards past `HUGE`); small caches
//! never map anything. On a system without transparent huge pages, or with
//! them off, the advice is ignored and the mapping is plain memory.
//!
//! The one invariant it keeps: `len` elements, initialised, at the start of
//! a buffer of `cap` (from the allocator while `cap` bytes are under
//! `HUGE`, else mapped), dropped exactly once.

use std::alloc::Layout;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// From this many bytes of buffer on, a mapping of huge pages.
const HUGE: usize = 2 << 20;

pub struct Slab<T> {
    ptr: NonNull<T>,
    len: usize,
    cap: usize,
}

// SAFETY: a `Slab<T>` owns its elements as a `Vec<T>` does.
unsafe impl<T: Send> Send for Slab<T> {}
// SAFETY: as above; `&Slab<T>` gives out only `&T`.
unsafe impl<T: Sync> Sync for Slab<T> {}

impl<T> Default for Slab<T> {
    fn default() -> Slab<T> {
        assert!(size_of::<T>() > 0, "a slab of zero-sized elements");
        Slab {
            ptr: NonNull::dangling(),
            len: 0,
            cap: 0,
        }
    }
}

impl<T> Slab<T> {
    pub fn push(&mut self, v: T) {
        if self.len == self.cap {
            self.grow();
        }
        // SAFETY: `len < cap` now, so the slot is inside the buffer, and it
        // holds no element (only the first `len` do).
        unsafe { self.ptr.as_ptr().add(self.len).write(v) };
        self.len += 1;
    }

    /// Twice the room (4 elements at first), the elements moved over.
    fn grow(&mut self) {
        let cap = (self.cap * 2).max(4);
        let new = Buffer::<T>::new(cap);
        // SAFETY: the first `len` elements are initialised; they are moved
        // (bitwise) into the new buffer, which has room for them and does
        // not overlap the old one, and the old one is freed without
        // dropping them.
        unsafe {
            std::ptr::copy_nonoverlapping(self.ptr.as_ptr(), new.ptr.as_ptr(), self.len);
            self.buffer().free();
        }
        self.ptr = new.ptr;
        self.cap = cap;
    }

    fn buffer(&self) -> Buffer<T> {
        Buffer {
            ptr: self.ptr,
            cap: self.cap,
        }
    }

    /// Whether the buffer is a mapping of huge pages (for tests).
    #[cfg(test)]
    fn mapped(&self) -> bool {
        self.cap > 0 && Buffer::<T>::maps(Buffer::<T>::layout(self.cap))
    }
}

impl<T> Deref for Slab<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: the first `len` elements are initialised (`ptr` is
        // dangling, and well aligned, only when `len` is 0).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> DerefMut for Slab<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as `deref`, and `&mut self` is the only way in.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> Drop for Slab<T> {
    fn drop(&mut self) {
        // SAFETY: the first `len` elements are initialised and dropped here
        // once; then the buffer goes.
        unsafe {
            std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.len));
            self.buffer().free();
        }
    }
}

/// Room for `cap` elements: from the allocator, or mapped (`HUGE`).
struct Buffer<T> {
    ptr: NonNull<T>,
    cap: usize,
}

impl<T> Buffer<T> {
    fn layout(cap: usize) -> Layout {
        Layout::array::<T>(cap).expect("a slab's size fits in memory")
    }

    /// Whether a buffer of `layout` is mapped (else from the allocator):
    /// the one rule `new` and `free` both follow.
    fn maps(layout: Layout) -> bool {
        layout.size() >= HUGE
    }

    fn new(cap: usize) -> Buffer<T> {
        let layout = Self::layout(cap);
        let ptr = if Self::maps(layout) {
            map_huge(layout)
        } else {
            // SAFETY: the layout's size is not zero (`cap` > 0 and `T` is
            // not zero-sized).
            unsafe { std::alloc::alloc(layout) }
        };
        match NonNull::new(ptr.cast::<T>()) {
            Some(ptr) => Buffer { ptr, cap },
            None => std::alloc::handle_alloc_error(layout),
        }
    }

    /// Gives the buffer back. It must be this one's (`cap` as made), its
    /// elements already moved out or dropped.
    unsafe fn free(self) {
        if self.cap == 0 {
            return;
        }
        let layout = Self::layout(self.cap);
        if Self::maps(layout) {
            // SAFETY: the caller's: a mapping `map_huge` made for `layout`.
            unsafe { unmap_huge(self.ptr.as_ptr().cast(), layout) };
        } else {
            // SAFETY: the caller's: allocated with `layout`.
            unsafe { std::alloc::dealloc(self.ptr.as_ptr().cast(), layout) };
        }
    }
}

/// The length of a mapping for `layout`: whole huge pages.
fn mapped_len(layout: Layout) -> usize {
    layout.size().next_multiple_of(HUGE)
}

/// A mapping of `layout.size()` bytes or more starting on a `HUGE`
/// boundary, advised for huge pages before anything touched it; null if
/// the system has no memory for it.
fn map_huge(layout: Layout) -> *mut u8 {
    assert!(layout.align() <= HUGE);
    let len = mapped_len(layout);
    // One huge page more than needed, so that an aligned start lies in it;
    // what lies before and after that start is unmapped again.
    let over = len + HUGE;
    // SAFETY: a new anonymous private mapping, at no address of ours.
    let at = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            over,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if at == libc::MAP_FAILED {
        return std::ptr::null_mut();
    }
    let head = (at as usize).next_multiple_of(HUGE) - at as usize;
    let start = at.cast::<u8>().wrapping_add(head);
    // SAFETY: both ranges lie inside the mapping just made, which nothing
    // else knows of, and neither overlaps [start, start + len).
    unsafe {
        if head > 0 {
            libc::munmap(at, head);
        }
        if over - head > len {
            libc::munmap(start.add(len).cast(), over - head - len);
        }
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    // SAFETY: advice on the mapping just made; ignored (an error we do not
    // need) where transparent huge pages are off or absent.
    unsafe {
        libc::madvise(start.cast(), len, libc::MADV_HUGEPAGE);
    }
    start
}

/// Unmaps what `map_huge(layout)` returned.
unsafe fn unmap_huge(at: *mut u8, layout: Layout) {
    // SAFETY: the caller's: `at` is `map_huge(layout)`'s, unmapped once.
    unsafe { libc::munmap(at.cast(), mapped_len(layout)) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    /// 256 bytes, as `lru::Node`, and counts its drops through the `Rc`.
    #[repr(align(256))]
    struct Big(#[allow(dead_code)] Rc<()>);

    #[test]
    fn elements_move_across_the_switch_to_huge_pages_and_drop_once() {
        let counter = Rc::new(());
        let mut s = Slab::default();
        let n = 3 * HUGE / size_of::<Big>() + 5;
        for i in 0..n {
            s.push((Big(counter.clone()), i));
            if i == 100 {
                assert!(!s.mapped(), "small: from the allocator");
            }
        }
        assert!(s.mapped());
        assert_eq!(s.as_ptr() as usize % HUGE, 0, "mapped on a huge page boundary");
        assert_eq!(s.len(), n);
        assert!(
            s.iter().enumerate().all(|(i, (_, j))| i == *j),
            "every element in its place"
        );
        assert_eq!(Rc::strong_count(&counter), n + 1, "none dropped by the moves");
        s[7].1 = 70;
        assert_eq!(s[7].1, 70);
        drop(s);
        assert_eq!(Rc::strong_count(&counter), 1, "each dropped once");
    }

    #[test]
    fn an_empty_slab_holds_nothing() {
        let s: Slab<u64> = Slab::default();
        assert!(s.is_empty());
        assert!(!s.mapped());
    }
}
