//! The systems under test behind one small trait: tiercache (through its C
//! ABI), a bare `lru::LruCache` under one `parking_lot::Mutex`, moka, foyer's
//! HybridCache, SQLite (rusqlite, WAL, prepared statements), LMDB (heed) and
//! redb; and the floors, the least a path can cost: a foldhash map (L1 hit),
//! a memory-mapped log checked by CRC32 (L2 hit), a buffered append (put).
//!
//! Every `get` hands back an owned copy of the value (`Vec<u8>`), because
//! that is what `tc_get` does: the comparison is lookup + copy out for all.

use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;
#[allow(unused_imports)]
use redb::{ReadableDatabase, ReadableTable};
use tiercache::error::tc_status;
use tiercache::ffi::cache::{tc_bytes, tc_bytes_free, tc_get, tc_get_into};

/// A key-value store as the workloads see it. `t` is the calling thread's
/// index (0..threads), for stores that keep a connection per thread.
pub trait Kv: Sync {
    fn get(&self, t: usize, k: &[u8]) -> Option<Vec<u8>>;
    fn put(&self, t: usize, k: &[u8], v: &[u8]);
    /// Gets of every key in `keys` in turn; returns how many hit. Stores with
    /// an async API override this to run the whole loop in one `block_on`.
    fn get_all(&self, t: usize, keys: &[Vec<u8>]) -> u64 {
        keys.iter().map(|k| u64::from(self.get(t, k).is_some())).sum()
    }
    fn put_all(&self, t: usize, keys: &[Vec<u8>], v: &[u8]) {
        for k in keys {
            self.put(t, k, v);
        }
    }
    /// Untimed, before each round of a table of writes (`per_write`): what
    /// the store may do off the clock. Nothing, but for the append floor.
    fn between_rounds(&self) {}
}

// The tiercache handle the criterion benchmarks use too, so both time the
// same C calls.
#[path = "../../benches/support/handle.rs"]
mod handle;
pub use handle::Setup as TcSetup;

/// tiercache through the C ABI (the shared handle; closed on drop).
pub struct Tc {
    pub h: handle::Tc,
    /// Use `tc_get_into` into a thread-local buffer instead of `tc_get`.
    pub into: bool,
}

impl Tc {
    pub fn open(s: TcSetup<'_>) -> Tc {
        Tc::open_with_policy(s, 0)
    }

    /// `open` with L1 policy `l1_policy` (`TC_L1_LRU` 0, `TC_L1_S3FIFO` 1).
    pub fn open_with_policy(s: TcSetup<'_>, l1_policy: u32) -> Tc {
        Tc {
            h: handle::Tc::open_with_policy(s, l1_policy),
            into: false,
        }
    }

    pub fn stats(&self) -> tiercache::stats::tc_stats {
        self.h.stats()
    }
}

thread_local! {
    static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; 1 << 20]);
}

impl Kv for Tc {
    fn get(&self, _t: usize, k: &[u8]) -> Option<Vec<u8>> {
        if self.into {
            return BUF.with(|b| {
                let mut b = b.borrow_mut();
                let mut n = 0;
                let st = unsafe { tc_get_into(self.h.0, k.as_ptr(), k.len(), b.as_mut_ptr(), b.len(), &mut n) };
                // An empty Vec: no allocation, as a caller of tc_get_into has none.
                (st == tc_status::TC_OK).then(Vec::new)
            });
        }
        let mut out = tc_bytes {
            data: std::ptr::null_mut(),
            len: 0,
        };
        let st = unsafe { tc_get(self.h.0, k.as_ptr(), k.len(), &mut out) };
        if st != tc_status::TC_OK {
            return None;
        }
        // The caller of the C ABI reads the bytes in place, then frees them:
        // no second copy.
        let r = Some(Vec::new());
        std::hint::black_box(out.data);
        unsafe { tc_bytes_free(&mut out) };
        r
    }
    fn put(&self, _t: usize, k: &[u8], v: &[u8]) {
        self.h.put(k, v);
    }
}

/// tiercache through its Rust API (`Cache::get`), without the C ABI's
/// handle gate: to tell what the C boundary costs, not a way users call it.
pub struct TcRust(pub tiercache::Cache);

impl Kv for TcRust {
    fn get(&self, _t: usize, k: &[u8]) -> Option<Vec<u8>> {
        self.0.get(k).ok().map(|v| v.to_vec())
    }
    fn put(&self, _t: usize, k: &[u8], v: &[u8]) {
        self.0.put(k, v, 0).unwrap();
    }
}

/// The baseline: one `lru::LruCache` under one mutex, bounded by entries.
pub struct MutexLru(pub Mutex<lru::LruCache<Vec<u8>, Vec<u8>>>);

impl MutexLru {
    pub fn new(entries: usize) -> MutexLru {
        MutexLru(Mutex::new(lru::LruCache::new(entries.try_into().unwrap())))
    }
}

impl Kv for MutexLru {
    fn get(&self, _t: usize, k: &[u8]) -> Option<Vec<u8>> {
        self.0.lock().get(k).map(|v| v.to_vec())
    }
    fn put(&self, _t: usize, k: &[u8], v: &[u8]) {
        self.0.lock().put(k.to_vec(), v.to_vec());
    }
}

/// quick_cache's sharded synchronous cache (S3-FIFO-like CLOCK-Pro), bounded
/// by entries.
pub struct QuickCache(pub quick_cache::sync::Cache<Vec<u8>, Arc<[u8]>>);

impl QuickCache {
    pub fn new(entries: usize) -> QuickCache {
        QuickCache(quick_cache::sync::Cache::new(entries))
    }
}

impl Kv for QuickCache {
    fn get(&self, _t: usize, k: &[u8]) -> Option<Vec<u8>> {
        self.0.get(k).map(|v| v.to_vec())
    }
    fn put(&self, _t: usize, k: &[u8], v: &[u8]) {
        self.0.insert(k.to_vec(), Arc::from(v));
    }
}

/// moka's synchronous cache, bounded by key + value bytes.
pub struct Moka(pub moka::sync::Cache<Vec<u8>, Arc<[u8]>>);

impl Moka {
    pub fn new(bytes: u64) -> Moka {
        Moka(
            moka::sync::Cache::builder()
                .weigher(|k: &Vec<u8>, v: &Arc<[u8]>| (k.len() + v.len()).try_into().unwrap_or(u32::MAX))
                .max_capacity(bytes)
                .build(),
        )
    }
}

impl Kv for Moka {
    fn get(&self, _t: usize, k: &[u8]) -> Option<Vec<u8>> {
        self.0.get(k).map(|v| v.to_vec())
    }
    fn put(&self, _t: usize, k: &[u8], v: &[u8]) {
        self.0.insert(k.to_vec(), Arc::from(v));
    }
}

/// foyer's HybridCache: memory in front of a block engine on a file device.
pub struct Foyer {
    pub rt: tokio::runtime::Runtime,
    pub c: foyer::HybridCache<Vec<u8>, Vec<u8>>,
}

impl Foyer {
    /// `dir` None: memory only (no storage).
    pub fn open(dir: Option<&Path>, memory_bytes: usize, disk_bytes: usize) -> Foyer {
        use foyer::{BlockEngineConfig, DeviceBuilder, FsDeviceBuilder, HybridCacheBuilder, HybridCachePolicy};
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let c = rt.block_on(async {
            let b = HybridCacheBuilder::new()
                .with_policy(HybridCachePolicy::WriteOnInsertion)
                .memory(memory_bytes)
                .with_weighter(|k: &Vec<u8>, v: &Vec<u8>| k.len() + v.len())
                .storage();
            let b = match dir {
                Some(dir) => b.with_engine_config(BlockEngineConfig::new(
                    FsDeviceBuilder::new(dir).with_capacity(disk_bytes).build().unwrap(),
                )),
                None => b,
            };
            b.build().await.unwrap()
        });
        Foyer { rt, c }
    }
}

impl Kv for Foyer {
    fn get(&self, _t: usize, k: &[u8]) -> Option<Vec<u8>> {
        let k = k.to_vec();
        self.rt
            .block_on(async { self.c.get(&k).await.ok().flatten().map(|e| e.value().clone()) })
    }
    fn put(&self, _t: usize, k: &[u8], v: &[u8]) {
        self.c.insert(k.to_vec(), v.to_vec());
    }
    fn get_all(&self, _t: usize, keys: &[Vec<u8>]) -> u64 {
        self.rt.block_on(async {
            let mut hits = 0;
            for k in keys {
                if let Some(e) = self.c.get(k).await.ok().flatten() {
                    std::hint::black_box(e.value().clone());
                    hits += 1;
                }
            }
            hits
        })
    }
}

impl Drop for Foyer {
    fn drop(&mut self) {
        let _ = self.rt.block_on(self.c.close());
    }
}

/// SQLite as a key-value cache table: WAL, `INSERT OR REPLACE`, prepared
/// (cached) statements, one connection per thread.
pub struct Sqlite(pub Vec<Mutex<rusqlite::Connection>>);

impl Sqlite {
    pub fn open(dir: &Path, threads: usize, durable: bool) -> Sqlite {
        let path = dir.join("kv.sqlite");
        let conns = (0..threads.max(1))
            .map(|_| {
                let c = rusqlite::Connection::open(&path).unwrap();
                let _: String = c.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).unwrap();
                c.execute_batch(if durable {
                    "PRAGMA synchronous=FULL;"
                } else {
                    "PRAGMA synchronous=OFF;"
                })
                .unwrap();
                c.busy_timeout(std::time::Duration::from_secs(30)).unwrap();
                c.execute_batch("CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;")
                    .unwrap();
                Mutex::new(c)
            })
            .collect();
        Sqlite(conns)
    }
}

impl Kv for Sqlite {
    fn get(&self, t: usize, k: &[u8]) -> Option<Vec<u8>> {
        use rusqlite::OptionalExtension;
        let c = self.0[t].lock();
        let mut st = c.prepare_cached("SELECT v FROM kv WHERE k = ?1").unwrap();
        st.query_row([k], |r| r.get::<_, Vec<u8>>(0)).optional().unwrap()
    }
    fn put(&self, t: usize, k: &[u8], v: &[u8]) {
        let c = self.0[t].lock();
        let mut st = c
            .prepare_cached("INSERT OR REPLACE INTO kv (k, v) VALUES (?1, ?2)")
            .unwrap();
        st.execute(rusqlite::params![k, v]).unwrap();
    }
}

/// LMDB through heed: one read transaction per get, one write transaction
/// per put (NO_SYNC unless durable).
pub struct Lmdb {
    pub env: heed::Env,
    pub db: heed::Database<heed::types::Bytes, heed::types::Bytes>,
}

impl Lmdb {
    pub fn open(dir: &Path, durable: bool) -> Lmdb {
        let mut o = heed::EnvOpenOptions::new();
        o.map_size(8 << 30).max_dbs(1);
        if !durable {
            unsafe { o.flags(heed::EnvFlags::NO_SYNC) };
        }
        let env = unsafe { o.open(dir) }.unwrap();
        let mut w = env.write_txn().unwrap();
        let db = env.create_database(&mut w, None).unwrap();
        w.commit().unwrap();
        Lmdb { env, db }
    }
}

impl Kv for Lmdb {
    fn get(&self, _t: usize, k: &[u8]) -> Option<Vec<u8>> {
        let r = self.env.read_txn().unwrap();
        self.db.get(&r, k).unwrap().map(|v| v.to_vec())
    }
    fn put(&self, _t: usize, k: &[u8], v: &[u8]) {
        let mut w = self.env.write_txn().unwrap();
        self.db.put(&mut w, k, v).unwrap();
        w.commit().unwrap();
    }
}

pub const REDB_TABLE: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("kv");

/// redb: one read transaction per get, one write transaction per put
/// (`Durability::None` unless durable).
pub struct Redb {
    pub db: redb::Database,
    pub durable: bool,
}

impl Redb {
    pub fn open(dir: &Path, durable: bool) -> Redb {
        let db = redb::Database::create(dir.join("kv.redb")).unwrap();
        let w = db.begin_write().unwrap();
        w.open_table(REDB_TABLE).unwrap();
        w.commit().unwrap();
        Redb { db, durable }
    }
}

impl Kv for Redb {
    fn get(&self, _t: usize, k: &[u8]) -> Option<Vec<u8>> {
        let r = self.db.begin_read().unwrap();
        let t = r.open_table(REDB_TABLE).unwrap();
        t.get(k).unwrap().map(|g| g.value().to_vec())
    }
    fn put(&self, _t: usize, k: &[u8], v: &[u8]) {
        let mut w = self.db.begin_write().unwrap();
        if !self.durable {
            w.set_durability(redb::Durability::None).unwrap();
        }
        {
            let mut t = w.open_table(REDB_TABLE).unwrap();
            t.insert(k, v).unwrap();
        }
        w.commit().unwrap();
    }
}

/// The hasher of the floors' maps: foldhash, the fastest general-purpose
/// hash the Rust maps use (hashbrown's default).
type Fold = foldhash::fast::FixedState;

/// Floor of an L1 hit: a foldhash `HashMap` under a read lock, the value
/// copied out. No eviction, no TTL, no C boundary: what a hit cannot go
/// below with a map that several threads may share.
pub struct FoldMap(pub parking_lot::RwLock<std::collections::HashMap<Vec<u8>, Vec<u8>, Fold>>);

impl FoldMap {
    pub fn new() -> FoldMap {
        FoldMap(parking_lot::RwLock::new(std::collections::HashMap::with_hasher(
            Fold::default(),
        )))
    }
}

impl Kv for FoldMap {
    fn get(&self, _t: usize, k: &[u8]) -> Option<Vec<u8>> {
        self.0.read().get(k).map(|v| v.to_vec())
    }
    fn put(&self, _t: usize, k: &[u8], v: &[u8]) {
        self.0.write().insert(k.to_vec(), v.to_vec());
    }
}

/// Bytes of a floor record's header: CRC32, key length, value length (u32 LE each).
const FLOOR_HEADER: usize = 12;

/// A floor record: `crc32(lengths, key, value) | key len | value len | key | value`.
fn floor_record(out: &mut Vec<u8>, k: &[u8], v: &[u8]) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(k.len() as u32).to_le_bytes());
    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    out.extend_from_slice(k);
    out.extend_from_slice(v);
    let crc = crc32fast::hash(&out[start + 4..]);
    out[start..start + 4].copy_from_slice(&crc.to_le_bytes());
}

/// Each key's record offset, and the tail (the end of the last record).
type Offsets = (std::collections::HashMap<Vec<u8>, usize, Fold>, usize);

/// Floor of an L2 hit: records appended to one memory-mapped file, a
/// foldhash map from key to offset; a get looks the offset up, checks the
/// record's CRC32 over the map and copies the value out. What a
/// checksummed log read cannot go below (no sequence numbers, no index on
/// disk, no L1 promotion, no eviction marks).
pub struct MmapCrc {
    /// The mapping's start; records are written under `index`'s write lock.
    map: memmap2::MmapRaw,
    index: parking_lot::RwLock<Offsets>,
}

impl MmapCrc {
    /// A file of `capacity` bytes under `dir`, mapped shared.
    pub fn open(dir: &Path, capacity: usize) -> MmapCrc {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.join("floor.log"))
            .unwrap();
        f.set_len(capacity as u64).unwrap();
        MmapCrc {
            map: memmap2::MmapRaw::map_raw(&f).unwrap(),
            index: parking_lot::RwLock::new((std::collections::HashMap::with_hasher(Fold::default()), 0)),
        }
    }
}

impl Kv for MmapCrc {
    fn get(&self, _t: usize, k: &[u8]) -> Option<Vec<u8>> {
        let g = self.index.read();
        let off = *g.0.get(k)?;
        // SAFETY: records below the tail are never written again, and the
        // read lock keeps the tail from moving while it is read.
        let m = unsafe { std::slice::from_raw_parts(self.map.as_ptr(), g.1) };
        let h = &m[off..];
        let kl = u32::from_le_bytes(h[4..8].try_into().unwrap()) as usize;
        let vl = u32::from_le_bytes(h[8..12].try_into().unwrap()) as usize;
        let rec = &h[4..FLOOR_HEADER + kl + vl];
        let crc = u32::from_le_bytes(h[..4].try_into().unwrap());
        assert_eq!(crc32fast::hash(rec), crc, "a floor record's checksum");
        Some(h[FLOOR_HEADER + kl..FLOOR_HEADER + kl + vl].to_vec())
    }
    fn put(&self, _t: usize, k: &[u8], v: &[u8]) {
        let mut rec = Vec::with_capacity(FLOOR_HEADER + k.len() + v.len());
        floor_record(&mut rec, k, v);
        let mut g = self.index.write();
        let tail = g.1;
        assert!(tail + rec.len() <= self.map.len(), "the floor's file is full");
        // SAFETY: [tail, tail + len) is inside the mapping and no reader
        // looks past the tail, which moves only under this write lock.
        unsafe { std::ptr::copy_nonoverlapping(rec.as_ptr(), self.map.as_mut_ptr().add(tail), rec.len()) };
        g.0.insert(k.to_vec(), tail);
        g.1 = tail + rec.len();
    }
}

/// Floor of a put without fsync: the record (CRC32 and lengths, as
/// `MmapCrc` writes it) appended to a 64 KiB user-space buffer that goes to
/// the file with one `write` when full, and the key's offset set in a
/// foldhash map. What a checksummed log-structured store's put cannot go
/// below (no L1 copy, no sequence number, no compaction).
pub struct Append(pub Mutex<AppendState>);

pub struct AppendState {
    file: std::io::BufWriter<std::fs::File>,
    index: std::collections::HashMap<Vec<u8>, u64, Fold>,
    tail: u64,
    rec: Vec<u8>,
}

impl Append {
    pub fn open(dir: &Path) -> Append {
        let f = std::fs::File::create(dir.join("append.log")).unwrap();
        Append(Mutex::new(AppendState {
            file: std::io::BufWriter::with_capacity(64 << 10, f),
            index: std::collections::HashMap::with_hasher(Fold::default()),
            tail: 0,
            rec: Vec::new(),
        }))
    }
}

impl Kv for Append {
    fn get(&self, _t: usize, _k: &[u8]) -> Option<Vec<u8>> {
        unreachable!("the append floor is only written")
    }
    /// Empties the file (the map keeps its keys, so a round updates them as
    /// before): a log that reclaims its space for free, as a floor may.
    ///
    /// Why: the file is never read, and grown by every round (~4.5 GB over
    /// a 16 KiB table), it took memory the page cache had to find anew. On
    /// the virtual machines these figures come from, a page the guest has
    /// not used lately costs the host's fault (`dd` into a growing file:
    /// 6.2 GB/s for the first GB, ~450 MB/s for each after it), so the last
    /// rounds of the table, the floor's and those of the systems after it,
    /// ran 2-6x slower than the first.
    fn between_rounds(&self) {
        use std::io::{Seek, Write};
        let mut g = self.0.lock();
        g.file.flush().unwrap();
        g.file.get_ref().set_len(0).unwrap();
        g.file.seek(std::io::SeekFrom::Start(0)).unwrap();
        g.tail = 0;
    }
    fn put(&self, _t: usize, k: &[u8], v: &[u8]) {
        use std::io::Write;
        let mut g = self.0.lock();
        let s = &mut *g;
        s.rec.clear();
        floor_record(&mut s.rec, k, v);
        s.file.write_all(&s.rec).unwrap();
        let at = s.tail;
        s.tail += s.rec.len() as u64;
        match s.index.get_mut(k) {
            Some(o) => *o = at,
            None => {
                s.index.insert(k.to_vec(), at);
            }
        }
    }
}
