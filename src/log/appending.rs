//! A put in two steps: its record appended under the log's lock
//! (`Log::append_put`), then made its key's live record once the caller
//! knows the witness of the key's last record (`Appending::settle`), the
//! lock held from the first step to the end of the second.
//!
//! Why two steps: the witness comes from L1's node for the key, and over a
//! working set larger than the CPU's caches that node is a trip to memory,
//! as is the index's bucket for the key. Asked for the witness first, a put
//! waited for the node, then for the index (whose lines load while the
//! record is encoded). Now L1 starts loading the node (a prefetch, which
//! no lock's atomic instruction waits for), the record is appended, and the
//! node is read only then (`Shard::overwrite_logged`): the two trips
//! overlap. Measured in `benchmarks/c/put.c` (BENCHMARKS.md, History,
//! "Session 33").
//!
//! The order of a key's writes is the one `put_witnessed` gave: both steps
//! run under the shard's lock of the key, which the caller holds, and the
//! witness is read under it.

use super::store::{Appended, Draft};
use super::{Log, State, Ticket, Witness};
use crate::meta::Meta;
use crate::record::Kind;
use crate::stripe::WriteGuard;

/// A put whose record is appended (or, degraded or failing, whose key is
/// forgotten on disk instead), holding the log's lock until `settle`.
#[must_use = "the record is not its key's live record until settled"]
pub struct Appending<'a> {
    log: &'a Log,
    st: WriteGuard<'a, State>,
    key: &'a [u8],
    h: u64,
    meta: Option<&'a Meta>,
    /// `None` if nothing was appended (the key was forgotten instead).
    appended: Option<(Appended, bool)>,
}

impl Log {
    /// Appends a put of `key`, not yet its live record (`Appending`):
    /// `put_witnessed`'s first step.
    #[inline]
    pub fn append_put<'a>(
        &'a self,
        key: &'a [u8],
        h: u64,
        value: &[u8],
        expires_at: u64,
        written_at: u64,
        meta: Option<&'a Meta>,
    ) -> Appending<'a> {
        self.maybe_recover();
        let encoded = meta.map(Meta::encode).unwrap_or_default();
        // Written out rather than `..self.draft(..)`: that reads the clock
        // for a `written_at` replaced at once, and a put reads it once.
        let draft = Draft {
            kind: Kind::Put,
            key,
            value,
            expires_at,
            written_at,
            meta: &encoded,
            codec: 0,
            hash: Some(h),
        };
        let mut st = self.state.write();
        // The index's lines for `h` load while the record is encoded.
        st.warm(h);
        // The key's read mark is left as it is: marks are per hash bucket,
        // not per key, and clearing the bucket on every write took the marks
        // of hot keys that share it (they were then dropped at retirement).
        // A key read before this write may be readmitted once more: disk,
        // never a value.
        let appended = if self.commit.is_degraded() {
            self.forget(&mut st, key, h);
            None
        } else {
            match st.store.append(&draft) {
                Ok(a) => Some((a, !encoded.is_empty())),
                Err(e) => {
                    self.fail("write the log", e);
                    self.forget(&mut st, key, h);
                    None
                }
            }
        };
        Appending {
            log: self,
            st,
            key,
            h,
            meta,
            appended,
        }
    }
}

impl Appending<'_> {
    /// Makes the record its key's live record, given the witness of a
    /// record of the key that the caller kept from an earlier put (`known`),
    /// and lets the log's lock go: `put_witnessed`'s second step. Returns
    /// the ticket and the new record's witness (`None`, `None` if nothing
    /// was appended).
    #[inline]
    pub fn settle(self, known: Option<Witness>) -> (Ticket, Option<Witness>) {
        let Appending {
            log,
            mut st,
            key,
            h,
            meta,
            appended,
        } = self;
        let Some((a, has_meta)) = appended else {
            return (None, None);
        };
        st.set_live(h, a.entry(has_meta), |s, x| {
            known.is_some_and(|w| w.names(x)) || s.key_is(x.loc, key)
        });
        if let Some(m) = meta {
            st.tags.add(&m.tags, h);
        }
        let ticket = st.store.appended;
        log.after_append(&mut st);
        (Some(ticket), Witness::of(a.loc))
    }
}
