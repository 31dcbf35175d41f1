//! What a put needs to know to find its key's index entry without reading
//! the key's old record: a `Witness`, made by the log when it appends a
//! put, kept by the caller beside the value (the L1 entry of that key), and
//! handed back with the key's next put.
//!
//! The index holds hashes, not keys, so a put over a key had to read the
//! key stored in the record that the index entry of the same hash points
//! at, to tell the key's own entry from a colliding key's (`Store::key_is`).
//! That read is a data miss in the segment's map on nearly every put over
//! an existing key. A witness says "the record at this location is a put
//! of this key", and an index entry pointing at exactly that location then
//! points at the key's record: it is the entry the read would have picked,
//! found without the read.
//!
//! Why that holds (docs/CONSISTENCY.md, "A put finds its key's entry"):
//! - Only the log makes a witness (its field is private, the constructor is
//!   the log's), from the record `Store::append` just appended for that
//!   key, so the record it names is the key's.
//! - A location names the same bytes for the whole life of a handle: a
//!   segment file only grows while the log has it open (the cuts at open
//!   come before any append; a failed append takes back only its own
//!   bytes, and a record whose append failed gets no witness), and segment
//!   ids only grow (`Store::seal_and_start`), so a deleted segment's
//!   locations are never written again. Compaction relies on the same
//!   (it replaces the entry at the very location it copied).
//! - So whatever made an index entry (this handle, a replay, or an index
//!   file of an earlier open that lies after a crash), an entry pointing at
//!   the witnessed location points at this key's record, and comparing keys
//!   would have said "same key" too. The record's sequence number would
//!   add nothing, and alone it would not do: an index file written before
//!   a crash that lost the log's tail names records by numbers that the
//!   next handle gives again, to other records.
//! - A witness does not say the record is live: after the key was written
//!   again, removed, expired, compacted (a copy is at a new location) or
//!   cleared, no index entry points at it any more, and the put falls back
//!   to reading keys, as it does when the caller has no witness (a key not
//!   in L1, or one L1 got from a read of L2).
//!
//! A witness never outlives its handle (L1 is in memory), so nothing here
//! is trusted across a restart.

use std::num::NonZeroU64;

use super::index::{Entry, Loc};

/// Where a log record lies that is a put of the key whose value holds this
/// witness (see the module doc). Copy, 8 bytes; `Option<Witness>` too (no
/// record starts at offset 0 of segment 0, inside a segment header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Witness(NonZeroU64);

impl Witness {
    /// The witness of the put just appended at `loc`.
    pub(super) fn of(loc: Loc) -> Option<Witness> {
        NonZeroU64::new(loc.raw()).map(Witness)
    }

    /// A witness of `n` for unit tests outside the log, which only carry
    /// one (never given to a log: it names no record).
    #[cfg(test)]
    pub(crate) fn for_tests(n: u64) -> Witness {
        Witness(NonZeroU64::new(n).expect("not 0"))
    }

    /// Whether index entry `e` is the one of the key this witness was made
    /// for: it points at the witnessed record.
    pub(super) fn names(&self, e: &Entry) -> bool {
        e.loc.raw() == self.0.get()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::{Clock, Now};
    use crate::log::{KeyHasher, Log, LogConfig, Trust};
    use crate::stats::Counters;

    /// A log in `dir` whose keys all hash alike (`KeyHasher::colliding`):
    /// every key's index entry is in one list, and only the rule that tells
    /// a key's own entry keeps them apart.
    fn colliding_log(dir: &std::path::Path) -> Log {
        let config = LogConfig::for_tests();
        let log = Log::open(dir, config, Arc::new(Counters::default())).unwrap();
        log.state.write().store.hasher = KeyHasher::colliding();
        log
    }

    fn put(log: &Log, key: &[u8], value: &[u8], known: Option<Witness>) -> Option<Witness> {
        let h = log.hasher().hash(key);
        let (ticket, w) = log.put_witnessed(key, h, value, 0, 1, None, known);
        assert!(ticket.is_some() && w.is_some());
        w
    }

    fn get(log: &Log, key: &[u8]) -> Option<Vec<u8>> {
        let clock = Clock::system();
        let now = Now::new(&clock);
        let h = log.hasher().hash(key);
        log.get(key, h, &now, Trust::Checksum, |_| true)
            .map(|f| f.value.to_vec())
    }

    /// Two keys with one hash, put over and over with the witnesses the
    /// cache would hand back (the last one, an older one, none, or one of
    /// a removed value): each put replaces its own key's entry and never
    /// the other key's, whichever comes first in the list.
    #[test]
    fn colliding_keys_keep_their_own_entries_whatever_witness_comes() {
        let dir = tempfile::tempdir().unwrap();
        let log = colliding_log(dir.path());
        let check = |k: &[u8], j: &[u8], entries: u64| {
            assert_eq!(get(&log, b"k").as_deref(), Some(k));
            assert_eq!(get(&log, b"j").as_deref(), Some(j));
            assert_eq!(log.sizes().entries, entries);
            log.check_invariants().unwrap();
        };
        let j1 = put(&log, b"j", b"j1", None);
        let k1 = put(&log, b"k", b"k1", None);
        check(b"k1", b"j1", 2);
        // j's entry comes first in the list: k's witness must pass it by.
        let k2 = put(&log, b"k", b"k2", k1);
        check(b"k2", b"j1", 2);
        put(&log, b"j", b"j2", j1);
        check(b"k2", b"j2", 2);
        // Witnesses of records no entry names any more: keys are compared.
        put(&log, b"k", b"k3", k1);
        check(b"k3", b"j2", 2);
        put(&log, b"j", b"j3", j1);
        check(b"k3", b"j3", 2);
        // A removed key's witness names nothing; its next put adds an entry.
        let h = log.hasher().hash(b"k");
        assert!(log.remove(b"k", h, 0).0.is_some());
        assert_eq!(get(&log, b"k"), None);
        let k5 = put(&log, b"k", b"k5", k2);
        check(b"k5", b"j3", 2);
        put(&log, b"k", b"k6", k5);
        check(b"k6", b"j3", 2);
        // No entry was ever found not to match its record.
        assert_eq!(log.state.read().rebuilds(), 0);
    }

    /// An index entry may carry a number that is not its record's: an
    /// index file written before a crash that lost the log's tail names
    /// records by numbers that the next handle gives again (docs/
    /// CONSISTENCY.md §5). Such an entry, of another key, carrying the very
    /// number of the witnessed record, is not taken for the witnessed
    /// key's: a witness names a location. (Trusting the number replaced
    /// j's entry with k's new record: j was lost and k kept two entries.)
    #[test]
    fn an_entry_with_the_witnessed_number_at_another_location_is_not_the_keys() {
        let dir = tempfile::tempdir().unwrap();
        let log = colliding_log(dir.path());
        let h = log.hasher().hash(b"k");
        put(&log, b"j", b"j1", None);
        let k1 = put(&log, b"k", b"k1", None);
        // j's entry, first in the list, now claims k1's number.
        {
            let mut st = log.state.write();
            let j = st.find(h, b"j").unwrap();
            let k = st.find(h, b"k").unwrap();
            let k1_seq = st.find_entry(h, |e| e.loc == k).unwrap().seq;
            let forged = Entry {
                loc: j,
                seq: k1_seq,
                len: st.store.frame_len(j) as u32,
                has_meta: false,
            };
            st.set_live(h, forged, |_, x| x.loc == j);
        }
        put(&log, b"k", b"k2", k1);
        assert_eq!(get(&log, b"k").as_deref(), Some(&b"k2"[..]));
        // The forged entry does not match its record: a read of j repairs
        // the index (it is rebuilt from the log) and still finds j.
        assert_eq!(get(&log, b"j").as_deref(), Some(&b"j1"[..]));
        assert_eq!(log.sizes().entries, 2);
        log.check_invariants().unwrap();
    }

    #[test]
    fn a_witness_names_only_its_own_location() {
        let w = Witness::of(Loc::new(2, 100)).unwrap();
        let e = |seg, off, seq| Entry {
            loc: Loc::new(seg, off),
            seq,
            len: 10,
            has_meta: false,
        };
        assert!(w.names(&e(2, 100, 7)));
        assert!(!w.names(&e(2, 101, 7)), "another location");
        assert!(!w.names(&e(3, 100, 7)), "another segment");
        assert_eq!(Witness::of(Loc::new(0, 0)), None);
        assert_eq!(std::mem::size_of::<Option<Witness>>(), 8);
    }
}
