//! QRESYNC (RFC 7162 §3.2): the SELECT/EXAMINE parameter. The rest of the extension lives with
//! the other commands and responses: the `VANISHED` UID FETCH modifier
//! ([`CommandBody::Fetch`](super::command::CommandBody::Fetch)'s `vanished`), the `VANISHED`
//! response ([`Data::Vanished`](super::response::Data::Vanished)) and the `CLOSED` response
//! code ([`Code::Closed`](super::response::Code::Closed)).
//!
//! RFC 7162 §7:
//!
//! ```text
//! select-param        =  "QRESYNC" SP "(" uidvalidity SP
//!                        mod-sequence-value [SP known-uids]
//!                        [SP seq-match-data] ")"
//! seq-match-data      =  "(" known-sequence-set SP known-uid-set ")"
//! uidvalidity         =  nz-number
//! known-uids          =  sequence-set
//!                        ;; sequence of UIDs, "*" is not allowed
//! known-sequence-set  =  sequence-set
//! known-uid-set       =  sequence-set
//! expunged-resp       =  "VANISHED" [SP "(EARLIER)"] SP known-uids
//! rexpunges-fetch-mod =  "VANISHED"
//! resp-text-code      =/ "CLOSED"
//! ```

use std::num::NonZeroU32;

use super::sequence::{SeqItem, SeqNumber, SequenceSet};

/// `QRESYNC (uidvalidity modseq [known-uids] [(known-sequence-set known-uid-set)])`: what the
/// client knew of the mailbox when it last had it open (RFC 7162 §3.2.5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QresyncParams {
    /// The mailbox's UIDVALIDITY the client knows; nothing is resynchronised when it changed.
    pub uid_validity: NonZeroU32,
    /// The last HIGHESTMODSEQ the client knows.
    pub modseq: u64,
    /// The UIDs the client knows (no `*`, no `$`); all UIDs when absent.
    pub known_uids: Option<SequenceSet>,
    /// Message numbers and the UIDs they had for the client, to narrow down the VANISHED
    /// answer when the server does not remember expunges back to `modseq`.
    pub seq_match: Option<SeqMatch>,
}

/// `seq-match-data`: message numbers and the UIDs the client had for them, both ascending and
/// of the same length (RFC 7162 §3.2.5.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SeqMatch {
    /// `known-sequence-set`.
    pub seqs: SequenceSet,
    /// `known-uid-set`.
    pub uids: SequenceSet,
}

impl SeqMatch {
    /// Whether both sets name as many numbers: a server refuses the parameter otherwise
    /// (Dovecot answers `BAD ... Invalid QRESYNC sets`).
    pub fn is_consistent(&self) -> bool {
        self.seqs.count(0) == self.uids.count(0)
    }
}

impl SequenceSet {
    /// Whether the set is only numbers and ranges of numbers (no `*`, no `$`): what
    /// `known-uids` and `seq-match-data` may hold (RFC 7162 §7).
    pub fn is_explicit(&self) -> bool {
        self.items().iter().all(|item| {
            matches!(
                item,
                SeqItem::Single(SeqNumber::Value(_))
                    | SeqItem::Range(SeqNumber::Value(_), SeqNumber::Value(_))
            )
        })
    }

    /// The numbers of an explicit set ([`is_explicit`](Self::is_explicit)) in the order
    /// written, ranges expanded (in either direction, RFC 3501 §9), at most `limit` of them;
    /// `*` stands for `largest` and `$` is skipped.
    pub fn numbers(&self, largest: u32, limit: usize) -> Vec<u32> {
        let mut out = Vec::new();
        for item in self.items() {
            let (a, b) = match *item {
                SeqItem::Single(n) => (n.resolve(largest), n.resolve(largest)),
                SeqItem::Range(a, b) => (a.resolve(largest), b.resolve(largest)),
                SeqItem::LastResult => continue,
            };
            let (lo, hi) = (a.min(b), a.max(b));
            let mut n = lo;
            loop {
                if out.len() >= limit {
                    return out;
                }
                out.push(n);
                if n == hi {
                    break;
                }
                n += 1;
            }
        }
        out
    }

    /// How many numbers the set names, `*` standing for `largest` (ranges counted, not
    /// expanded; `$` counts nothing).
    pub fn count(&self, largest: u32) -> u64 {
        self.items()
            .iter()
            .map(|item| match *item {
                SeqItem::Single(_) => 1,
                SeqItem::Range(a, b) => {
                    u64::from(a.resolve(largest).abs_diff(b.resolve(largest))) + 1
                }
                SeqItem::LastResult => 0,
            })
            .sum()
    }

    /// The compact set of these numbers (sorted and merged into ranges): `None` when there are
    /// none. Zeros are skipped.
    pub fn from_numbers(numbers: impl IntoIterator<Item = u32>) -> Option<SequenceSet> {
        let mut v: Vec<u32> = numbers.into_iter().filter(|&n| n != 0).collect();
        v.sort_unstable();
        v.dedup();
        let mut items = Vec::new();
        let mut i = 0;
        while i < v.len() {
            let start = v[i];
            let mut end = start;
            while i + 1 < v.len() && v[i + 1] == end + 1 {
                i += 1;
                end = v[i];
            }
            let n = |x: u32| SeqNumber::Value(NonZeroU32::new(x).unwrap_or(NonZeroU32::MIN));
            items.push(if start == end {
                SeqItem::Single(n(start))
            } else {
                SeqItem::Range(n(start), n(end))
            });
            i += 1;
        }
        SequenceSet::try_from(items).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_back() {
        let s: SequenceSet = "41,43:45,50:48".parse().unwrap();
        assert!(s.is_explicit());
        assert_eq!(s.numbers(0, 100), [41, 43, 44, 45, 48, 49, 50]);
        assert_eq!(s.numbers(0, 3), [41, 43, 44]);
        let back = SequenceSet::from_numbers(s.numbers(0, 100)).unwrap();
        assert_eq!(back.to_string(), "41,43:45,48:50");
        assert!(SequenceSet::from_numbers([]).is_none());
        assert_eq!(s.count(0), 7);
        assert_eq!("1:*".parse::<SequenceSet>().unwrap().count(9), 9);
        let m = SeqMatch {
            seqs: "1:3".parse().unwrap(),
            uids: "1,5,9".parse().unwrap(),
        };
        assert!(m.is_consistent());
        let m = SeqMatch {
            seqs: "1:3".parse().unwrap(),
            uids: "1:2".parse().unwrap(),
        };
        assert!(!m.is_consistent());
        assert!(!"1:*".parse::<SequenceSet>().unwrap().is_explicit());
        assert!(!"1,$".parse::<SequenceSet>().unwrap().is_explicit());
    }
}
