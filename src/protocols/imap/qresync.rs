//! QRESYNC (RFC 7162 §3.2): what a client that knew the mailbox at some MODSEQ missed since,
//! for SELECT/EXAMINE with the `QRESYNC` parameter (§3.2.5) and `UID FETCH ... (CHANGEDSINCE
//! n VANISHED)` (§3.2.6).
//!
//! `VANISHED (EARLIER)` comes from the store's history of expunges when it reaches back to the
//! client's MODSEQ (exact: only the UIDs expunged since). When it does not, it is every UID the
//! client names that the mailbox does not hold now, less those at or below the highest UID of
//! the client's `seq-match-data` whose message number still matches (no message below it can
//! have gone, RFC 7162 §3.2.5.2). UIDs the session still shows (an expunge it has not
//! announced yet) are left to the plain `VANISHED` that announces it.

use std::num::NonZeroU32;

use mailwright_imap_proto::Vec1;
use mailwright_imap_proto::types::qresync::QresyncParams;
use mailwright_imap_proto::types::response::{Data, FetchItem, Response};
use mailwright_imap_proto::types::sequence::{SeqItem, SequenceSet};

use super::selected::{Selected, imap_flags, nz};

/// How many numbers of `seq-match-data` are looked at (each side).
const MAX_SEQ_MATCH: usize = 4096;

/// Ranges of numbers, both ends included.
type Ranges = Vec<(u32, u32)>;

/// The ranges of a set, sorted and merged, clipped to `1..=largest` (`*` is `largest`; `$`
/// names nothing here).
fn ranges(set: &SequenceSet, largest: u32) -> Ranges {
    let mut v: Ranges = set
        .items()
        .iter()
        .filter_map(|item| match *item {
            SeqItem::Single(n) => Some((n.resolve(largest), n.resolve(largest))),
            SeqItem::Range(a, b) => {
                let (a, b) = (a.resolve(largest), b.resolve(largest));
                Some((a.min(b), a.max(b)))
            }
            SeqItem::LastResult => None,
        })
        .filter(|&(a, _)| a <= largest)
        .map(|(a, b)| (a, b.min(largest)))
        .collect();
    v.sort_unstable();
    let mut out: Ranges = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// `a ∩ b`, both sorted and merged.
fn intersect(a: &[(u32, u32)], b: &[(u32, u32)]) -> Ranges {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        let lo = a[i].0.max(b[j].0);
        let hi = a[i].1.min(b[j].1);
        if lo <= hi {
            out.push((lo, hi));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// `a` without the numbers of `present` (ascending).
fn minus(a: &[(u32, u32)], present: &[u32]) -> Ranges {
    let mut out = Vec::new();
    let mut k = 0;
    for &(lo, hi) in a {
        // In u64, so that the number after u32::MAX does not wrap or saturate.
        let mut start = u64::from(lo);
        while k < present.len() && present[k] < lo {
            k += 1;
        }
        while k < present.len() && present[k] <= hi {
            let p = u64::from(present[k]);
            if p > start {
                out.push((start as u32, present[k] - 1));
            }
            start = start.max(p + 1);
            k += 1;
        }
        if start <= u64::from(hi) {
            out.push((start as u32, hi));
        }
    }
    out
}

/// The set of ranges; `None` when empty.
fn set_of(ranges: &[(u32, u32)]) -> Option<SequenceSet> {
    let v = |n: u32| {
        mailwright_imap_proto::types::sequence::SeqNumber::Value(
            NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN),
        )
    };
    let items: Vec<SeqItem> = ranges
        .iter()
        .map(|&(a, b)| {
            if a == b {
                SeqItem::Single(v(a))
            } else {
                SeqItem::Range(v(a), v(b))
            }
        })
        .collect();
    SequenceSet::try_from(items).ok()
}

impl Selected {
    /// The UIDs among `within` expunged since `modseq` (module docs), leaving out those at or
    /// below `matched` when the store's history does not reach back that far.
    fn vanished_earlier(
        &self,
        modseq: u64,
        within: &[(u32, u32)],
        matched: u32,
    ) -> Option<SequenceSet> {
        let present: Vec<u32> = self.msgs.iter().map(|m| m.uid).collect();
        // A history that cannot be read is one that does not reach back: the answer from the
        // mailbox is still right, only longer.
        let history = self.mailbox.vanished_since(modseq).unwrap_or_else(|e| {
            tracing::warn!("imap: reading the history of expunges: {e}");
            None
        });
        let gone = match history {
            Some(history) => minus(&intersect(&history, within), &present),
            None => {
                let above = [(matched.saturating_add(1), u32::MAX)];
                minus(&intersect(within, &above), &present)
            }
        };
        set_of(&gone)
    }

    /// SELECT/EXAMINE with QRESYNC (RFC 7162 §3.2.5.1), after the usual untagged data and only
    /// when the client's UIDVALIDITY is the mailbox's: `VANISHED (EARLIER)` with the known UIDs
    /// expunged since the client's MODSEQ, then the flags of those changed since.
    pub(crate) fn resync(&self, p: &QresyncParams, out: &mut Vec<Response<'static>>) {
        if p.uid_validity.get() != self.uid_validity {
            return;
        }
        let largest = self.uid_next.saturating_sub(1);
        let known = match &p.known_uids {
            Some(set) => ranges(set, largest),
            None => vec![(1, largest)],
        };
        let known = if largest == 0 { Vec::new() } else { known };
        // §3.2.5.2: the highest pair whose message number still holds that UID.
        let matched = p.seq_match.as_ref().map_or(0, |m| {
            let seqs = m.seqs.numbers(0, MAX_SEQ_MATCH);
            let uids = m.uids.numbers(0, MAX_SEQ_MATCH);
            if seqs.len() != uids.len() {
                return 0;
            }
            seqs.iter()
                .zip(&uids)
                .filter(|&(&s, &u)| {
                    s.checked_sub(1)
                        .and_then(|i| self.msgs.get(i as usize))
                        .is_some_and(|m| m.uid == u)
                })
                .map(|(_, &u)| u)
                .max()
                .unwrap_or(0)
        });
        if let Some(uids) = self.vanished_earlier(p.modseq, &known, matched) {
            out.push(Response::Data(Data::Vanished {
                earlier: true,
                uids,
            }));
        }
        // Sorted and disjoint: the last range starting at or below the UID decides.
        let in_known = |uid: u32| {
            p.known_uids.is_none()
                || known
                    .partition_point(|&(a, _)| a <= uid)
                    .checked_sub(1)
                    .is_some_and(|i| uid <= known[i].1)
        };
        for (i, m) in self.msgs.iter().enumerate() {
            if m.modseq > p.modseq && in_known(m.uid) {
                let items = vec![
                    FetchItem::Uid(nz(m.uid as usize)),
                    FetchItem::Flags(imap_flags(m, self.recent.contains(&m.uid))),
                    FetchItem::ModSeq(m.modseq),
                ];
                out.push(Response::Data(Data::Fetch {
                    seq: nz(i + 1),
                    items: Vec1::try_from(items).expect("non-empty"),
                }));
            }
        }
    }

    /// `UID FETCH set ... (CHANGEDSINCE modseq VANISHED)` (RFC 7162 §3.2.6): `VANISHED
    /// (EARLIER)` with the UIDs of `set` expunged since `modseq`, before the FETCH responses.
    pub(crate) fn vanished_fetch(
        &self,
        set: &SequenceSet,
        modseq: u64,
        out: &mut Vec<Response<'static>>,
    ) {
        let largest = self.uid_next.saturating_sub(1);
        if largest == 0 {
            return;
        }
        if let Some(uids) = self.vanished_earlier(modseq, &ranges(set, largest), 0) {
            out.push(Response::Data(Data::Vanished {
                earlier: true,
                uids,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_arithmetic() {
        let s: SequenceSet = "9,1:3,5,2:4,20:*".parse().unwrap();
        assert_eq!(ranges(&s, 22), [(1, 5), (9, 9), (20, 22)]);
        assert_eq!(ranges(&s, 4), [(1, 4)]);
        assert_eq!(intersect(&[(1, 5), (9, 12)], &[(4, 10)]), [(4, 5), (9, 10)]);
        assert_eq!(
            minus(&[(1, 5), (9, 12)], &[2, 3, 9, 12, 40]),
            [(1, 1), (4, 5), (10, 11)]
        );
        assert_eq!(minus(&[(1, u32::MAX)], &[u32::MAX]), [(1, u32::MAX - 1)]);
        assert_eq!(set_of(&[(1, 1), (4, 5)]).unwrap().to_string(), "1,4:5");
        assert!(set_of(&[]).is_none());
    }
}
