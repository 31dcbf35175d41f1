//! Plain reference models of the two policies (a `VecDeque` per queue,
//! linear searches), and tests that drive a real shard and its model with
//! the same scripted and random sequences and compare what each evicts.
//! The gets go through `Memory::glance` (the shared lock, as a get's hit
//! does) or `Shard::get` (the exclusive path), at random: both count a use
//! the same way.

use std::collections::VecDeque;
use std::sync::Arc;

use super::{Entry, Glance, Lookup, Memory, PolicyKind, S3Params};
use crate::clock::{Clock, Now};

/// What a model does on each operation.
trait Model {
    fn get(&mut self, k: &[u8]) -> bool;
    /// Inserts (or replaces) `k`; returns the keys evicted, in order.
    fn insert(&mut self, k: &[u8]) -> Vec<Vec<u8>>;
    fn remove(&mut self, k: &[u8]) -> bool;
}

/// LRU with lazy promotion (`lru`): a get marks the key, a write moves it to
/// the most recent end unmarked, and eviction moves a marked key at the
/// least recent end to the other end, unmarked, instead of evicting it; an
/// insert into a full cache does that first (`Policy::settle`).
struct LruModel {
    cap: usize,
    /// (key, marked), least recent first.
    order: VecDeque<(Vec<u8>, bool)>,
}

impl LruModel {
    fn settle(&mut self) {
        while self.order.front().is_some_and(|(_, used)| *used) {
            let (x, _) = self.order.pop_front().unwrap();
            self.order.push_back((x, false));
        }
    }
}

impl Model for LruModel {
    fn get(&mut self, k: &[u8]) -> bool {
        match self.order.iter_mut().find(|(x, _)| x == k) {
            Some((_, used)) => {
                *used = true;
                true
            }
            None => false,
        }
    }
    fn insert(&mut self, k: &[u8]) -> Vec<Vec<u8>> {
        if self.order.len() >= self.cap {
            self.settle();
        }
        self.remove(k);
        self.order.push_back((k.to_vec(), false));
        let mut out = Vec::new();
        while self.order.len() > self.cap {
            self.settle();
            out.push(self.order.pop_front().unwrap().0);
        }
        out
    }
    fn remove(&mut self, k: &[u8]) -> bool {
        self.order
            .iter()
            .position(|(x, _)| x == k)
            .map(|i| self.order.remove(i))
            .is_some()
    }
}

/// S3-FIFO as the paper's pseudo-code says it, bounded by entries.
struct S3Model {
    cap: usize,
    small_cap: usize,
    ghost_cap: usize,
    promote_at: u8,
    small: VecDeque<(Vec<u8>, u8)>,
    main: VecDeque<(Vec<u8>, u8)>,
    /// Keys (not hashes: the model has no collisions), oldest first.
    ghost: VecDeque<Vec<u8>>,
}

impl S3Model {
    fn new(cap: usize, p: S3Params) -> S3Model {
        let small_cap = (cap * p.small_percent as usize / 100).max(1);
        S3Model {
            cap,
            small_cap,
            ghost_cap: ((cap - small_cap) * p.ghost_percent as usize / 100).max(1),
            promote_at: p.promote_at,
            small: VecDeque::new(),
            main: VecDeque::new(),
            ghost: VecDeque::new(),
        }
    }

    fn find(&mut self, k: &[u8]) -> Option<&mut (Vec<u8>, u8)> {
        self.small.iter_mut().chain(self.main.iter_mut()).find(|(x, _)| x == k)
    }

    fn evict(&mut self) -> Vec<u8> {
        loop {
            if !self.small.is_empty() && (self.main.is_empty() || self.small.len() >= self.small_cap) {
                let (k, f) = self.small.pop_front().unwrap();
                if f >= self.promote_at {
                    self.main.push_back((k, 0));
                    continue;
                }
                self.ghost.retain(|x| *x != k);
                self.ghost.push_back(k.clone());
                while self.ghost.len() > self.ghost_cap {
                    self.ghost.pop_front();
                }
                return k;
            }
            let (k, f) = self.main.pop_front().unwrap();
            if f > 0 {
                self.main.push_back((k, f - 1));
                continue;
            }
            return k;
        }
    }
}

impl Model for S3Model {
    fn get(&mut self, k: &[u8]) -> bool {
        match self.find(k) {
            Some((_, f)) => {
                *f = (*f + 1).min(3);
                true
            }
            None => false,
        }
    }
    fn insert(&mut self, k: &[u8]) -> Vec<Vec<u8>> {
        if !self.get(k) {
            match self.ghost.iter().position(|x| x == k) {
                Some(i) => {
                    self.ghost.remove(i);
                    self.main.push_back((k.to_vec(), 0));
                }
                None => self.small.push_back((k.to_vec(), 0)),
            }
        }
        let mut out = Vec::new();
        while self.small.len() + self.main.len() > self.cap {
            out.push(self.evict());
        }
        out
    }
    fn remove(&mut self, k: &[u8]) -> bool {
        let before = self.small.len() + self.main.len();
        self.small.retain(|(x, _)| x != k);
        self.main.retain(|(x, _)| x != k);
        before != self.small.len() + self.main.len()
    }
}

/// The cache's hash of `k`.
fn h(k: &[u8]) -> u64 {
    crate::log::key_hash(k)
}

fn entry() -> Entry {
    Entry::new(Arc::from(&b"v"[..]), 0, 0, None)
}

/// Runs `ops` (0: get, 1: insert, 2: remove, on key `k`) on a one-shard
/// memory tier and on `model`, checking that every get, eviction and
/// removal agrees. About every other get (by the parity of the step and
/// the key) is a glance, under the shard's shared lock.
fn agree(kind: PolicyKind, cap: u64, model: &mut dyn Model, ops: &[(u8, u32)]) {
    let m = Memory::with_shards(1, cap, 0, kind);
    assert_eq!(m.shards.len(), 1, "the models are of one shard");
    let clock = Clock::manual(1);
    let now = Now::new(&clock);
    for (step, &(op, k)) in ops.iter().enumerate() {
        let key = format!("k{k}").into_bytes();
        if op == 0 && (step + k as usize).is_multiple_of(2) {
            let hit = matches!(m.glance(h(&key), &key, &now, &mut ()), Glance::Hit(_));
            assert_eq!(hit, model.get(&key), "step {step}: glance {k}");
            continue;
        }
        let mut s = m.lock(0);
        match op {
            0 => {
                let hit = matches!(s.get(h(&key), &key, &now), Lookup::Hit(_));
                assert_eq!(hit, model.get(&key), "step {step}: get {k}");
            }
            1 => {
                let mut ev = Vec::new();
                s.insert(h(&key), &key, entry(), &mut ev);
                let ev: Vec<Vec<u8>> = ev.into_iter().map(|(k, _)| k.to_vec()).collect();
                assert_eq!(ev, model.insert(&key), "step {step}: insert {k} evicted");
            }
            _ => assert_eq!(
                s.remove(h(&key), &key).is_some(),
                model.remove(&key),
                "step {step}: remove {k}"
            ),
        }
    }
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A random sequence over `keys` keys: gets and inserts, skewed towards low
/// keys, with a few removals.
fn random_ops(seed: u64, len: usize, keys: u64) -> Vec<(u8, u32)> {
    let mut r = Rng(seed);
    (0..len)
        .map(|_| {
            let op = match r.below(20) {
                0 => 2,
                1..=9 => 0,
                _ => 1,
            };
            // Half the time a key among the first eighth: a hot set.
            let k = if r.below(2) == 0 {
                r.below(keys / 8 + 1)
            } else {
                r.below(keys)
            };
            (op, k as u32)
        })
        .collect()
}

#[test]
fn lru_evicts_as_the_model_does() {
    for seed in 1..=20 {
        let cap = 5 + seed * 3;
        let mut model = LruModel {
            cap: cap as usize,
            order: VecDeque::new(),
        };
        agree(PolicyKind::Lru, cap, &mut model, &random_ops(seed, 3000, cap * 3));
    }
}

#[test]
fn s3fifo_evicts_as_the_model_does() {
    let variants = [
        S3Params::default(),
        S3Params {
            small_percent: 25,
            ghost_percent: 50,
            promote_at: 1,
        },
    ];
    for p in variants {
        for seed in 1..=20 {
            let cap = 5 + seed * 3;
            let mut model = S3Model::new(cap as usize, p);
            agree(PolicyKind::S3Fifo(p), cap, &mut model, &random_ops(seed, 3000, cap * 3));
        }
    }
}

#[test]
fn s3fifo_scripted_eviction_order() {
    // Ten entries: a small queue of one, a main queue of nine, a ghost of nine.
    let m = Memory::new(10, 0, PolicyKind::S3Fifo(S3Params::default()));
    let clock = Clock::manual(1);
    let now = Now::new(&clock);
    let mut s = m.lock(0);
    let mut ev = Vec::new();
    let put = |s: &mut super::Shard, k: &str, ev: &mut Vec<super::Evicted>| {
        s.insert(h(k.as_bytes()), k.as_bytes(), entry(), ev)
    };
    for k in ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"] {
        put(&mut s, k, &mut ev);
    }
    // a and c are hit twice while in the small queue; j once, which is
    // not enough to move it to main.
    for k in [b"a", b"c", b"a", b"c", b"j"] {
        assert!(matches!(s.get(h(k), k, &now), Lookup::Hit(_)));
    }
    // k comes in: the small queue is over its share; a moves to main, b
    // (never hit) is evicted.
    put(&mut s, "k", &mut ev);
    assert_eq!(&*ev.pop().unwrap().0, b"b");
    // c moves to main, d is evicted.
    put(&mut s, "l", &mut ev);
    assert_eq!(&*ev.pop().unwrap().0, b"d");
    // b comes back: it is in the ghost, so it goes to main at once; the
    // small queue's oldest unhit entry (e) makes room.
    put(&mut s, "b", &mut ev);
    assert_eq!(&*ev.pop().unwrap().0, b"e");
    assert!(ev.is_empty());
    // A scan of 20 new keys evicts only keys seen once: a, b and c stay.
    for i in 0..20 {
        put(&mut s, &format!("scan{i}"), &mut ev);
    }
    for k in [&b"a"[..], b"b", b"c"] {
        assert!(s.peek(h(k), k).is_some(), "{}", String::from_utf8_lossy(k));
    }
    assert!(ev.iter().all(|(k, _)| k.starts_with(b"scan") || k.len() == 1));
}

#[test]
fn lru_loses_the_hot_keys_to_a_scan_that_s3fifo_survives() {
    for (kind, survives) in [
        (PolicyKind::Lru, false),
        (PolicyKind::S3Fifo(S3Params::default()), true),
    ] {
        let m = Memory::with_shards(1, 20, 0, kind);
        let clock = Clock::manual(1);
        let now = Now::new(&clock);
        let mut s = m.lock(0);
        let mut ev = Vec::new();
        for i in 0..10 {
            let k = format!("hot{i}").into_bytes();
            s.insert(h(&k), &k, entry(), &mut ev);
        }
        for _ in 0..2 {
            for i in 0..10 {
                let k = format!("hot{i}").into_bytes();
                assert!(matches!(s.get(h(&k), &k, &now), Lookup::Hit(_)));
            }
        }
        for i in 0..100 {
            let k = format!("scan{i}").into_bytes();
            s.insert(h(&k), &k, entry(), &mut ev);
        }
        let kept = (0..10)
            .filter(|i| {
                let k = format!("hot{i}").into_bytes();
                s.peek(h(&k), &k).is_some()
            })
            .count();
        assert_eq!(kept == 10, survives, "{kind:?}: {kept} hot keys kept");
    }
}

#[test]
fn both_policies_keep_the_byte_bound() {
    for kind in [PolicyKind::Lru, PolicyKind::S3Fifo(S3Params::default())] {
        let m = Memory::new(0, 1000, kind);
        let mut s = m.lock(0);
        let mut ev = Vec::new();
        let mut r = Rng(7);
        for i in 0..2000u64 {
            let len = r.below(60) as usize;
            let key = format!("k{}", r.below(300)).into_bytes();
            s.insert(
                h(&key),
                &key,
                Entry::new(Arc::from(vec![0u8; len]), 0, 0, None),
                &mut ev,
            );
            let held: u64 = s.policy.iter().map(|(_, k, e)| super::entry_size(k, &e.value)).sum();
            assert_eq!(held, s.bytes, "{kind:?} step {i}");
            assert!(s.bytes <= 1000, "{kind:?} step {i}: {} bytes", s.bytes);
            if i % 7 == 0 {
                let _ = s.remove(h(&key), &key);
            }
        }
    }
}
