//! What the write side of the log's lock costs a put, alone: the old
//! `stripe::ReadMostly` (the writers' mutex plus a parking_lot write lock per
//! stripe, four or fewer stripes) against the handshake that replaced it (the
//! mutex, `WRITING` raised and cleared, the readers' counts read) and the
//! mutex alone, in one thread, with uncontended locks.
//!
//!   cargo build --release -p tiercache-benchmarks --example lockcost
//!   target/release/examples/lockcost 300 10000 2
//!
//! Arguments: rounds, writes per batch, random cache lines written before
//! and inside each write (a put's L1 node and value, the index's bucket: the
//! stores a locked instruction waits for). Each round times one batch of each
//! variant by the thread's CPU time, in a rotating order; prints each
//! variant's median ns per write and its median ratio to the four-stripe
//! lock over the rounds. Nothing here asserts on time.

use parking_lot::{Mutex, RwLock};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[repr(align(128))]
#[derive(Default)]
struct Stripe(RwLock<()>);

#[repr(align(128))]
#[derive(Default)]
struct Count(AtomicUsize);

#[repr(align(128))]
#[derive(Default)]
struct Flag(AtomicBool);

#[derive(Default)]
struct Locks {
    stripes: [Stripe; 4],
    writers: Mutex<()>,
    counts: [Count; 4],
    writing: Flag,
}

fn cpu_ns() -> u64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

type Write = fn(&Locks, &mut dyn FnMut());

#[inline(never)]
fn stripes4(l: &Locks, f: &mut dyn FnMut()) {
    let _m = l.writers.lock();
    let _g: [_; 4] = std::array::from_fn(|i| l.stripes[i].0.write());
    f();
}

#[inline(never)]
fn stripes2(l: &Locks, f: &mut dyn FnMut()) {
    let _m = l.writers.lock();
    let _g: [_; 2] = std::array::from_fn(|i| l.stripes[i].0.write());
    f();
}

#[inline(never)]
fn stripes1(l: &Locks, f: &mut dyn FnMut()) {
    let _m = l.writers.lock();
    let _g = l.stripes[0].0.write();
    f();
}

/// The handshake (`stripe::ReadMostly::write`), without the parking.
#[inline(never)]
fn handshake(l: &Locks, f: &mut dyn FnMut()) {
    let _m = l.writers.lock();
    l.writing.0.swap(true, Ordering::SeqCst);
    for c in &l.counts {
        while c.0.load(Ordering::SeqCst) != 0 {
            std::hint::spin_loop();
        }
    }
    f();
    l.writing.0.swap(false, Ordering::Release);
}

#[inline(never)]
fn mutex_only(l: &Locks, f: &mut dyn FnMut()) {
    let _m = l.writers.lock();
    f();
}

/// Writes `lines` random words of `big` (xorshift from `x`).
fn touch(big: &mut [u64], x: &mut u64, lines: usize) {
    for _ in 0..lines {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        let i = (*x as usize) % big.len();
        big[i] = big[i].wrapping_add(*x);
    }
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("a number")).collect();
    let [rounds, batch, lines] = args[..] else {
        eprintln!("usage: lockcost rounds writes_per_batch lines_written");
        std::process::exit(2);
    };
    let locks = Locks::default();
    // 32 MiB: larger than this host's L2, so the stores miss.
    let mut big = vec![0u64; 4 << 20];
    let mut buf = vec![0u8; 65536];
    let mut at = 0usize;
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let variants: [(&str, Write); 5] = [
        ("four stripes (before)", stripes4),
        ("two stripes", stripes2),
        ("one stripe", stripes1),
        ("handshake (now)", handshake),
        ("writers' mutex alone", mutex_only),
    ];
    let mut ns = vec![Vec::new(); variants.len()];
    for r in 0..rounds {
        for k in 0..variants.len() {
            let v = (k + r) % variants.len();
            let t0 = cpu_ns();
            for _ in 0..batch {
                touch(&mut big, &mut x, lines);
                variants[v].1(&locks, &mut || {
                    touch(&mut big, &mut x, lines);
                    // A record's bytes into the log's buffer.
                    if at + 150 > buf.len() {
                        at = 0;
                    }
                    buf[at..at + 150].fill(x as u8);
                    at += 150;
                });
            }
            ns[v].push((cpu_ns() - t0) as f64 / batch as f64);
        }
    }
    let median = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(|a, b| a.total_cmp(b));
        s[s.len() / 2]
    };
    for (k, (name, _)) in variants.iter().enumerate() {
        let ratios: Vec<f64> = (0..rounds).map(|r| ns[k][r] / ns[0][r]).collect();
        println!(
            "{name:24} {:6.1} ns per write, {:.3} x four stripes (median of {rounds} rounds)",
            median(&ns[k]),
            median(&ratios)
        );
    }
    std::hint::black_box((&big, &buf));
}
