//! L2: the on-disk tier, an append-only log of records in segment files.
//!
//! `Log` owns a cache directory while it is open: the lock, the segments, the
//! user-space append buffer and the in-memory index of live records. All of
//! that state sits behind one `RwLock`: lookups share it, appends take it
//! exclusively (an append is a copy into the buffer, so the write lock is
//! short). The log never calls user code and never touches L1.
//!
//! Recovery is the read path run over every record: open scans the segments in
//! order, checks each frame, cuts a torn tail off the last segment, counts and
//! skips bad records elsewhere, and rebuilds the index. A record whose checksum
//! or key does not match is never returned.

pub mod fileio;
mod index;
mod lock;
mod segment;

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::clock::{is_expired, now_ms};
use crate::error::{Error, Result};
use crate::options::SyncPolicy;
use crate::record::{self, Frame, Kind, RecordRef};
use crate::stats::Counters;

pub use index::key_hash;
use index::{Index, Loc};
use lock::DirLock;
use segment::{HeaderCheck, Segment};

/// Appends collect here until this many bytes are waiting.
const BUFFER_BYTES: usize = 64 * 1024;

/// What the log needs to know from the cache's options.
#[derive(Debug, Clone)]
pub struct LogConfig {
    pub sync: SyncPolicy,
    pub segment_bytes: u64,
}

/// Sizes of the log now.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogSizes {
    /// Live keys.
    pub entries: u64,
    /// Bytes of live records.
    pub live_bytes: u64,
    /// Bytes in segment files plus the append buffer.
    pub file_bytes: u64,
}

/// A live record's key, value and expiry, copied out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub expires_at: u64,
}

pub struct Log {
    dir: PathBuf,
    config: LogConfig,
    counters: Arc<Counters>,
    state: RwLock<State>,
    _lock: DirLock,
}

struct State {
    index: Index,
    store: Store,
    /// Bytes of the records the index points at.
    live_bytes: u64,
}

/// The segments and the append buffer: everything a location can point into.
struct Store {
    dir: PathBuf,
    /// Every segment, by id; the last one is the active one.
    segments: BTreeMap<u32, Segment>,
    /// Records appended after the end of the active segment's file.
    buf: Vec<u8>,
}

/// Why a location did not yield a record.
enum Bad {
    /// The bytes there fail their checksum or do not decode.
    Corrupt,
    /// No such segment or offset (never expected; treated like corrupt).
    Missing,
}

impl Store {
    fn active(&self) -> &Segment {
        self.segments
            .values()
            .next_back()
            .expect("the log always has an active segment")
    }

    fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .values_mut()
            .next_back()
            .expect("the log always has an active segment")
    }

    /// The location the next appended byte will have.
    fn next_loc(&self) -> Loc {
        let a = self.active();
        Loc::new(a.id, a.len() + self.buf.len() as u64)
    }

    /// The bytes from `loc` to the end of what is readable there.
    fn bytes_at(&self, loc: Loc) -> Option<&[u8]> {
        let seg = self.segments.get(&loc.segment())?;
        let off = loc.offset();
        if off < seg.len() {
            return seg.bytes().get(off as usize..);
        }
        if seg.id == self.active().id {
            return self.buf.get((off - seg.len()) as usize..);
        }
        None
    }

    /// The checked, decoded record at `loc`.
    fn record(&self, loc: Loc) -> std::result::Result<RecordRef<'_>, Bad> {
        let bytes = self.bytes_at(loc).ok_or(Bad::Missing)?;
        match record::check_frame(bytes) {
            Frame::Valid { len } => record::decode(record::payload(&bytes[..len])).ok_or(Bad::Corrupt),
            _ => Err(Bad::Corrupt),
        }
    }

    /// Length of the frame at `loc`, trusting our own bytes (0 if unreadable).
    fn frame_len(&self, loc: Loc) -> u64 {
        self.bytes_at(loc).and_then(record::frame_len).unwrap_or(0) as u64
    }

    fn key_is(&self, loc: Loc, key: &[u8]) -> bool {
        matches!(self.record(loc), Ok(r) if r.key == key)
    }

    /// Writes the buffer to the active segment's file.
    fn write_buffer(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let buf = std::mem::take(&mut self.buf);
        let res = self.active_mut().append(&buf);
        self.buf = buf;
        res?;
        self.buf.clear();
        if self.buf.capacity() > 4 * BUFFER_BYTES {
            self.buf.shrink_to(BUFFER_BYTES);
        }
        Ok(())
    }

    /// Seals the active segment and starts segment `id` as the new active one.
    fn start_segment(&mut self, sync: bool) -> Result<()> {
        self.write_buffer().map_err(|e| Error::io("write the log", e))?;
        let old = self.active();
        if sync {
            old.sync()
                .map_err(|e| Error::io(format!("fsync {}", old.path.display()), e))?;
        }
        let id = old.id + 1;
        if id > Loc::MAX_SEGMENT {
            return Err(Error::io("start a segment", io::Error::other("segment ids exhausted")));
        }
        let seg = Segment::create(&self.dir, id)
            .map_err(|e| Error::io(format!("create segment {}", segment::file_name(id)), e))?;
        self.segments.insert(id, seg);
        if sync {
            fileio::sync_dir(&self.dir).map_err(|e| Error::io(format!("fsync {}", self.dir.display()), e))?;
        }
        Ok(())
    }
}

impl Log {
    /// Opens (creating if need be) the log in `dir`, taking its lock and
    /// rebuilding the index from the segments.
    pub fn open(dir: &Path, config: LogConfig, counters: Arc<Counters>) -> Result<Log> {
        if !dir.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| Error::io(format!("create cache directory {}", dir.display()), e))?;
        }
        if !dir.is_dir() {
            return Err(Error::invalid(format!("{} is not a directory", dir.display())));
        }
        let lock = DirLock::acquire(dir)?;
        let mut ids = Vec::new();
        for ent in fs::read_dir(dir).map_err(|e| Error::io(format!("list {}", dir.display()), e))? {
            let ent = ent.map_err(|e| Error::io(format!("list {}", dir.display()), e))?;
            if let Some(id) = ent.file_name().to_str().and_then(segment::parse_file_name) {
                ids.push(id);
            }
        }
        ids.sort_unstable();

        let mut state = State {
            index: Index::default(),
            store: Store {
                dir: dir.to_path_buf(),
                segments: BTreeMap::new(),
                buf: Vec::with_capacity(BUFFER_BYTES),
            },
            live_bytes: 0,
        };
        let last = ids.last().copied();
        for id in ids {
            let path = dir.join(segment::file_name(id));
            let (mut seg, check) =
                Segment::open(&path, id).map_err(|e| Error::io(format!("open segment {}", path.display()), e))?;
            match check {
                HeaderCheck::Ok => {}
                HeaderCheck::NewerVersion(v) => {
                    return Err(Error::corrupt(format!(
                        "{} was written by a newer tiercache (format version {v})",
                        path.display()
                    )))
                }
                HeaderCheck::Short if Some(id) == last => {
                    // Its creation was cut short by a crash: start it afresh.
                    seg.reset()
                        .map_err(|e| Error::io(format!("rewrite {}", path.display()), e))?;
                }
                HeaderCheck::Short | HeaderCheck::Bad => {
                    // Not ours to delete, not ours to read: count it and leave it.
                    counters.corrupt_records.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            }
            state.store.segments.insert(id, seg);
            let cut = state.scan_segment(id, &counters);
            if let Some(at) = cut {
                if Some(id) == last {
                    let seg = state.store.segments.get_mut(&id).unwrap();
                    seg.truncate(at)
                        .and_then(|_| seg.sync())
                        .map_err(|e| Error::io(format!("cut the torn tail of {}", path.display()), e))?;
                }
            }
        }
        if state.store.segments.is_empty() {
            let seg = Segment::create(dir, 1)
                .map_err(|e| Error::io(format!("create the first segment in {}", dir.display()), e))?;
            state.store.segments.insert(1, seg);
            fileio::sync_dir(dir).map_err(|e| Error::io(format!("fsync {}", dir.display()), e))?;
        } else if Some(state.store.active().id) != last {
            // The last file was unreadable: append to a fresh one after it.
            state.store.start_segment(true)?;
        }
        Ok(Log {
            dir: dir.to_path_buf(),
            config,
            counters,
            state: RwLock::new(state),
            _lock: lock,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The live, unexpired value of `key`, checked against its checksum and key.
    pub fn get(&self, key: &[u8], h: u64, now: u64) -> Option<(Arc<[u8]>, u64)> {
        let st = self.state.read();
        let mut found = None;
        st.index.get(h, |loc| match st.store.record(loc) {
            Ok(r) if r.key == key => {
                found = Some(r);
                true
            }
            Ok(_) => false,
            Err(_) => {
                self.counters.corrupt_records.fetch_add(1, Ordering::Relaxed);
                false
            }
        });
        let r = found?;
        if is_expired(r.expires_at, now) {
            return None;
        }
        Some((Arc::from(r.value), r.expires_at))
    }

    /// Whether `key` has a live, unexpired value.
    pub fn contains(&self, key: &[u8], h: u64, now: u64) -> bool {
        let st = self.state.read();
        let mut found = None;
        st.index.get(h, |loc| match st.store.record(loc) {
            Ok(r) if r.key == key => {
                found = Some(r.expires_at);
                true
            }
            _ => false,
        });
        found.is_some_and(|exp| !is_expired(exp, now))
    }

    /// Appends a put of `key` and points the index at it.
    pub fn put(&self, key: &[u8], h: u64, value: &[u8], expires_at: u64) -> Result<()> {
        let rec = RecordRef {
            kind: Kind::Put,
            key,
            value,
            expires_at,
            written_at: now_ms(),
        };
        let mut st = self.state.write();
        let loc = self.append(&mut st.store, &rec)?;
        let len = st.store.frame_len(loc);
        let State {
            index,
            store,
            live_bytes,
        } = &mut *st;
        if let Some(old) = index.insert(h, loc, |l| store.key_is(l, key)) {
            self.mark_dead(store, live_bytes, old);
        }
        *live_bytes += len;
        self.after_append(&mut st.store)
    }

    /// Appends a tombstone for `key` if it has a record; says whether it had an
    /// unexpired one.
    pub fn remove(&self, key: &[u8], h: u64, now: u64) -> Result<bool> {
        let mut st = self.state.write();
        let State { index, store, .. } = &mut *st;
        let Some(loc) = index.get(h, |l| store.key_is(l, key)) else {
            return Ok(false);
        };
        let live = store
            .record(loc)
            .map(|r| !is_expired(r.expires_at, now))
            .unwrap_or(false);
        self.tombstone(&mut st, key, h)?;
        self.after_append(&mut st.store)?;
        Ok(live)
    }

    /// Appends tombstones for every live key that starts with `prefix`; returns
    /// the unexpired keys removed.
    pub fn remove_prefix(&self, prefix: &[u8], now: u64) -> Result<Vec<Vec<u8>>> {
        let mut st = self.state.write();
        let mut doomed = Vec::new();
        for (h, loc) in st.index.iter() {
            if let Ok(r) = st.store.record(loc) {
                if r.key.starts_with(prefix) {
                    doomed.push((h, r.key.to_vec(), !is_expired(r.expires_at, now)));
                }
            }
        }
        let mut removed = Vec::new();
        for (h, key, live) in doomed {
            self.tombstone(&mut st, &key, h)?;
            if live {
                removed.push(key);
            }
        }
        self.after_append(&mut st.store)?;
        Ok(removed)
    }

    /// Forgets every expired record (no tombstone is needed: an expired record
    /// stays expired after a restart); returns the keys forgotten.
    pub fn purge_expired(&self, now: u64) -> Vec<Vec<u8>> {
        let mut st = self.state.write();
        let mut doomed = Vec::new();
        for (h, loc) in st.index.iter() {
            if let Ok(r) = st.store.record(loc) {
                if is_expired(r.expires_at, now) {
                    doomed.push((h, loc, r.key.to_vec()));
                }
            }
        }
        let State {
            index,
            store,
            live_bytes,
        } = &mut *st;
        for (h, loc, _) in &doomed {
            if index.remove(*h, |l| l == *loc).is_some() {
                self.mark_dead(store, live_bytes, *loc);
            }
        }
        doomed.into_iter().map(|(_, _, k)| k).collect()
    }

    /// Drops every record: a clear record goes first in a new segment, then
    /// every older segment is deleted. A crash in between leaves the clear
    /// record to hide what was not deleted yet.
    pub fn clear(&self) -> Result<()> {
        let mut st = self.state.write();
        let sync = self.config.sync != SyncPolicy::TC_SYNC_NEVER;
        st.store.start_segment(sync)?;
        let rec = RecordRef {
            kind: Kind::Clear,
            key: &[],
            value: &[],
            expires_at: 0,
            written_at: now_ms(),
        };
        self.append(&mut st.store, &rec)?;
        st.store.write_buffer().map_err(|e| self.io_error("write the log", e))?;
        if sync {
            st.store
                .active()
                .sync()
                .map_err(|e| self.io_error("fsync the log", e))?;
        }
        let active = st.store.active().id;
        let old: Vec<u32> = st.store.segments.keys().copied().filter(|id| *id != active).collect();
        st.index.clear();
        st.live_bytes = 0;
        for id in old {
            let seg = st.store.segments.remove(&id).unwrap();
            fileio::remove(&seg.path).map_err(|e| self.io_error(format!("delete {}", seg.path.display()), e))?;
        }
        if sync {
            fileio::sync_dir(&self.dir).map_err(|e| self.io_error(format!("fsync {}", self.dir.display()), e))?;
        }
        let len = st.store.active().len() - segment::HEADER_LEN;
        st.store.active_mut().dead = len;
        Ok(())
    }

    /// Writes the append buffer out, and fsyncs unless the policy is NEVER.
    pub fn flush(&self) -> Result<()> {
        let mut st = self.state.write();
        st.store.write_buffer().map_err(|e| self.io_error("write the log", e))?;
        if self.config.sync != SyncPolicy::TC_SYNC_NEVER {
            let seg = st.store.active();
            seg.sync()
                .map_err(|e| self.io_error(format!("fsync {}", seg.path.display()), e))?;
        }
        Ok(())
    }

    pub fn sizes(&self) -> LogSizes {
        let st = self.state.read();
        LogSizes {
            entries: st.index.len() as u64,
            live_bytes: st.live_bytes,
            file_bytes: st.store.segments.values().map(|s| s.len()).sum::<u64>() + st.store.buf.len() as u64,
        }
    }

    /// Calls `f` with every live record (expired ones included), in no order.
    pub fn for_each(&self, mut f: impl FnMut(&RecordRef<'_>)) {
        let st = self.state.read();
        for (_, loc) in st.index.iter() {
            if let Ok(r) = st.store.record(loc) {
                f(&r);
            }
        }
    }

    /// Encodes `rec` into the buffer (writing it out when full) and returns its
    /// location. On error nothing of `rec` stays in the log.
    fn append(&self, store: &mut Store, rec: &RecordRef<'_>) -> Result<Loc> {
        let loc = store.next_loc();
        let before = store.buf.len();
        record::encode(&mut store.buf, rec);
        if store.buf.len() >= BUFFER_BYTES {
            if let Err(e) = store.write_buffer() {
                store.buf.truncate(before);
                return Err(self.io_error("write the log", e));
            }
        }
        Ok(loc)
    }

    /// What every append does after the index is updated: honour SYNC_ALWAYS
    /// and roll the segment when it is full.
    fn after_append(&self, store: &mut Store) -> Result<()> {
        let sync = self.config.sync;
        if sync == SyncPolicy::TC_SYNC_ALWAYS {
            store.write_buffer().map_err(|e| self.io_error("write the log", e))?;
            let seg = store.active();
            seg.sync()
                .map_err(|e| self.io_error(format!("fsync {}", seg.path.display()), e))?;
        }
        let active = store.active();
        if active.len() + store.buf.len() as u64 >= self.config.segment_bytes {
            store
                .start_segment(sync != SyncPolicy::TC_SYNC_NEVER)
                .inspect_err(|_| {
                    self.counters.io_errors.fetch_add(1, Ordering::Relaxed);
                })?;
        }
        Ok(())
    }

    /// Appends a tombstone for `key` and removes it from the index.
    fn tombstone(&self, st: &mut State, key: &[u8], h: u64) -> Result<()> {
        let rec = RecordRef {
            kind: Kind::Tombstone,
            key,
            value: &[],
            expires_at: 0,
            written_at: now_ms(),
        };
        let loc = self.append(&mut st.store, &rec)?;
        let State {
            index,
            store,
            live_bytes,
        } = st;
        if let Some(old) = index.remove(h, |l| store.key_is(l, key)) {
            self.mark_dead(store, live_bytes, old);
        }
        // The tombstone itself is dead weight as soon as it is written.
        let len = store.frame_len(loc);
        if let Some(seg) = store.segments.get_mut(&loc.segment()) {
            seg.dead += len;
        }
        Ok(())
    }

    fn mark_dead(&self, store: &mut Store, live_bytes: &mut u64, loc: Loc) {
        let len = store.frame_len(loc);
        *live_bytes = live_bytes.saturating_sub(len);
        if let Some(seg) = store.segments.get_mut(&loc.segment()) {
            seg.dead += len;
        }
    }

    fn io_error(&self, what: impl std::fmt::Display, e: io::Error) -> Error {
        self.counters.io_errors.fetch_add(1, Ordering::Relaxed);
        Error::io(format!("{what} in {}", self.dir.display()), e)
    }
}

impl State {
    /// Applies every record of segment `id` to the index, in order. Returns
    /// where the segment's readable records end if something after that point
    /// is unreadable (a torn tail, or garbage with no record after it).
    fn scan_segment(&mut self, id: u32, counters: &Counters) -> Option<u64> {
        let now = now_ms();
        let seg_len = self.store.segments[&id].len();
        let mut pos = segment::HEADER_LEN;
        while pos < seg_len {
            let bytes = &self.store.segments[&id].bytes()[pos as usize..];
            let frame = record::check_frame(bytes);
            let len = match frame {
                Frame::Valid { len } => len,
                Frame::Truncated | Frame::Corrupt => match next_valid_frame(bytes) {
                    Some(skip) => {
                        counters.corrupt_records.fetch_add(1, Ordering::Relaxed);
                        pos += skip as u64;
                        continue;
                    }
                    None => {
                        if frame == Frame::Corrupt {
                            counters.corrupt_records.fetch_add(1, Ordering::Relaxed);
                        }
                        return Some(pos);
                    }
                },
            };
            let loc = Loc::new(id, pos);
            self.apply(loc, len as u64, now, counters);
            pos += len as u64;
        }
        None
    }

    fn apply(&mut self, loc: Loc, len: u64, now: u64, counters: &Counters) {
        let State {
            index,
            store,
            live_bytes,
        } = self;
        let Ok(rec) = store.record(loc) else {
            // The checksum matched but the payload is not a record we can read.
            counters.corrupt_records.fetch_add(1, Ordering::Relaxed);
            store.segments.get_mut(&loc.segment()).unwrap().dead += len;
            return;
        };
        if rec.kind == Kind::Clear {
            index.clear();
            *live_bytes = 0;
            for seg in store.segments.values_mut() {
                seg.dead = if seg.id == loc.segment() {
                    loc.offset() + len - segment::HEADER_LEN
                } else {
                    seg.len() - segment::HEADER_LEN
                };
            }
            return;
        }
        let key = rec.key.to_vec();
        let h = key_hash(&key);
        // An expired put hides older versions just as a tombstone does.
        let live = rec.kind == Kind::Put && !is_expired(rec.expires_at, now);
        let old = if live {
            index.insert(h, loc, |l| store.key_is(l, &key))
        } else {
            index.remove(h, |l| store.key_is(l, &key))
        };
        if let Some(old) = old {
            let old_len = store.frame_len(old);
            *live_bytes -= old_len;
            store.segments.get_mut(&old.segment()).unwrap().dead += old_len;
        }
        if live {
            *live_bytes += len;
        } else {
            store.segments.get_mut(&loc.segment()).unwrap().dead += len;
        }
    }
}

/// The distance from the start of `bytes` to the next valid frame after it.
fn next_valid_frame(bytes: &[u8]) -> Option<usize> {
    (1..bytes.len()).find(|&i| {
        let b = &bytes[i..];
        record::looks_like_frame(b) && matches!(record::check_frame(b), Frame::Valid { .. })
    })
}
