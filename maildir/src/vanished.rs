//! The history of expunged UIDs, each with the MODSEQ at which it went, so that IMAP QRESYNC's
//! `VANISHED (EARLIER)` (RFC 7162 §3.2.5.1, §3.2.6) names exactly the messages expunged since
//! the MODSEQ a client knows: [`Maildir::vanished_since`].
//!
//! Every removal the folder's MODSEQ bookkeeping learns of is recorded, in the same locked step
//! that records its MODSEQ (`update_modseq`): an EXPUNGE or MOVE by this crate, and a message
//! another program removed (Dovecot, a file deleted by hand), which the next locked sync
//! notices and gives a MODSEQ of its own. The file, `mailwright-vanished`:
//!
//! ```text
//! 1 V<uidvalidity> F<floor>     header
//! <modseq> <uid-ranges>         UIDs expunged at that MODSEQ, e.g. "57 3:5,9"
//! ```
//!
//! The history is complete above the floor: every UID expunged at a MODSEQ above it has a
//! line. It starts at the HIGHESTMODSEQ of the moment it starts (a new folder, a folder last
//! written by an older version, a MODSEQ file that was lost), and is exact from there on.
//! Lines are appended under the uidlist lock in one write and fsynced before the MODSEQ file
//! is written, so a crash leaves either the line, or a torn last line (which readers skip) and
//! a MODSEQ file that still lists the UIDs, whose next sync records them again.
//!
//! Bounded: past [`VANISHED_MAX_LINES`] lines or [`VANISHED_MAX_RANGES`] UID ranges the file is
//! rewritten with the lines of one MODSEQ merged and, if still too large, the oldest MODSEQs
//! dropped and the floor raised to the last one dropped. A client that knows an older MODSEQ
//! is then answered from what the folder holds now (every UID it names that is not there),
//! which RFC 7162 §3.2.5.2 allows.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;

use crate::atomic::write_atomic;
use crate::error::{Result, io_err};
use crate::store::Maildir;
use crate::uids::read_optional;

/// The history file in each folder (module docs).
pub const VANISHED_FILE: &str = "mailwright-vanished";

/// Lines (MODSEQs) the history keeps at most before it is compacted (module docs).
pub const VANISHED_MAX_LINES: usize = 4096;

/// UID ranges the history keeps at most before it is compacted (module docs).
pub const VANISHED_MAX_RANGES: usize = 65_536;

/// UID ranges, both ends included, ascending and merged.
pub type UidRanges = Vec<(u32, u32)>;

/// The `mailwright-vanished` file, parsed (module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VanishedHistory {
    /// The UIDVALIDITY the UIDs belong to.
    pub uid_validity: u32,
    /// The MODSEQ above which the history is complete.
    pub floor: u64,
    /// UID ranges by the MODSEQ at which they were expunged, in file order (several lines may
    /// share a MODSEQ).
    pub lines: Vec<(u64, UidRanges)>,
}

impl VanishedHistory {
    fn ranges(&self) -> usize {
        self.lines.iter().map(|(_, r)| r.len()).sum()
    }

    /// The file's text: its header, then a line per entry of [`lines`](Self::lines).
    pub fn encode(&self) -> String {
        let mut text = format!("1 V{} F{}\n", self.uid_validity, self.floor);
        for (modseq, ranges) in &self.lines {
            line(&mut text, *modseq, ranges);
        }
        text
    }

    /// Merges the lines of one MODSEQ, then drops the oldest MODSEQs while the history is over
    /// a bound, raising the floor past them.
    fn compact(&mut self) {
        let mut by_modseq: BTreeMap<u64, Vec<(u32, u32)>> = BTreeMap::new();
        for (modseq, ranges) in self.lines.drain(..) {
            by_modseq.entry(modseq).or_default().extend(ranges);
        }
        let mut lines: Vec<(u64, UidRanges)> =
            by_modseq.into_iter().map(|(m, r)| (m, merge(r))).collect();
        let mut total: usize = lines.iter().map(|(_, r)| r.len()).sum();
        let mut drop = 0;
        while drop < lines.len()
            && (lines.len() - drop > VANISHED_MAX_LINES / 2 || total > VANISHED_MAX_RANGES / 2)
        {
            total -= lines[drop].1.len();
            self.floor = self.floor.max(lines[drop].0);
            drop += 1;
        }
        lines.drain(..drop);
        self.lines = lines;
    }
}

fn line(text: &mut String, modseq: u64, ranges: &[(u32, u32)]) {
    let _ = write!(text, "{modseq} ");
    for (k, &(a, b)) in ranges.iter().enumerate() {
        if k > 0 {
            text.push(',');
        }
        if a == b {
            let _ = write!(text, "{a}");
        } else {
            let _ = write!(text, "{a}:{b}");
        }
    }
    text.push('\n');
}

/// Sorts and merges ranges (adjacent ones too).
fn merge(mut ranges: Vec<(u32, u32)>) -> UidRanges {
    ranges.sort_unstable();
    let mut out: UidRanges = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The ranges of a list of UIDs.
fn ranges_of(uids: &[u32]) -> UidRanges {
    merge(uids.iter().map(|&u| (u, u)).collect())
}

impl VanishedHistory {
    /// Parses the file's text; `None` when it is malformed. A last line without its LF (an
    /// append being written, or cut short by a crash) is left out.
    pub fn parse(text: &str) -> Option<VanishedHistory> {
        parse(text)
    }
}

fn parse(text: &str) -> Option<VanishedHistory> {
    let complete = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => return None,
    };
    let mut lines = complete.lines();
    let mut header = lines.next()?.split(' ');
    if header.next()? != "1" {
        return None;
    }
    let uid_validity = header.next()?.strip_prefix('V')?.parse().ok()?;
    let floor = header.next()?.strip_prefix('F')?.parse().ok()?;
    let mut history = VanishedHistory {
        uid_validity,
        floor,
        lines: Vec::new(),
    };
    for l in lines {
        let (modseq, set) = l.split_once(' ')?;
        let mut ranges = Vec::new();
        for part in set.split(',') {
            let (a, b) = part.split_once(':').unwrap_or((part, part));
            let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
            ranges.push((a.min(b), a.max(b)));
        }
        history.lines.push((modseq.parse().ok()?, ranges));
    }
    Some(history)
}

impl Maildir {
    fn load_vanished(&self) -> Result<Option<VanishedHistory>> {
        Ok(read_optional(&self.meta(VANISHED_FILE))?.and_then(|t| parse(&t)))
    }

    fn write_vanished(&self, history: &VanishedHistory) -> Result<()> {
        write_atomic(
            &self.meta(VANISHED_FILE),
            history.encode().as_bytes(),
            self.fsync,
        )
    }

    /// The UIDs expunged from this folder at a MODSEQ above `since` (RFC 7162 `VANISHED
    /// (EARLIER)`), as ranges ascending and merged. `None` when the history does not reach
    /// back that far (`since` below where it starts, or it is missing or belongs to another
    /// UIDVALIDITY): then the caller answers from the UIDs the folder holds now (module docs).
    /// Reads without the lock.
    pub fn vanished_since(&self, uid_validity: u32, since: u64) -> Result<Option<UidRanges>> {
        let Some(history) = self.load_vanished()? else {
            return Ok(None);
        };
        if history.uid_validity != uid_validity || since < history.floor {
            return Ok(None);
        }
        Ok(Some(merge(
            history
                .lines
                .into_iter()
                .filter(|(m, _)| *m > since)
                .flat_map(|(_, r)| r)
                .collect(),
        )))
    }

    /// Records `removed` as expunged at `modseq`, under the uidlist lock, before the MODSEQ
    /// file records it (module docs). `old_highest` is the HIGHESTMODSEQ of the MODSEQ file
    /// this change is made on, `None` when there is none for this UIDVALIDITY (a new folder,
    /// or a file lost): then nothing before is known and the history starts again at
    /// `modseq`. Nothing is read or written for a change that removes nothing.
    pub(crate) fn record_vanished(
        &self,
        uid_validity: u32,
        old_highest: Option<u64>,
        modseq: u64,
        removed: &[u32],
    ) -> Result<()> {
        let Some(old_highest) = old_highest else {
            return self.write_vanished(&VanishedHistory {
                uid_validity,
                floor: modseq,
                lines: Vec::new(),
            });
        };
        if removed.is_empty() {
            return Ok(());
        }
        let ranges = ranges_of(removed);
        let history = self
            .load_vanished()?
            .filter(|h| h.uid_validity == uid_validity);
        let Some(mut history) = history else {
            // The first expunge since this version keeps the folder, or the file was lost:
            // complete from the MODSEQ before this change on.
            return self.write_vanished(&VanishedHistory {
                uid_validity,
                floor: old_highest.min(modseq.saturating_sub(1)),
                lines: vec![(modseq, ranges)],
            });
        };
        let path = self.meta(VANISHED_FILE);
        let raw_len = fs::metadata(&path).map_or(0, |m| m.len());
        history.lines.push((modseq, ranges.clone()));
        let encoded_len = history.encode().len() as u64;
        // Rewrite when over a bound, or when the file holds a torn line to drop.
        if history.lines.len() > VANISHED_MAX_LINES
            || history.ranges() > VANISHED_MAX_RANGES
            || raw_len + line_len(modseq, &ranges) != encoded_len
        {
            history.compact();
            return self.write_vanished(&history);
        }
        let mut text = String::new();
        line(&mut text, modseq, &ranges);
        let mut file = fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io_err("open", &path))?;
        // One write: a reader sees the lines so far, or a torn last line it skips.
        file.write_all(text.as_bytes())
            .map_err(io_err("write", &path))?;
        if self.fsync {
            file.sync_data().map_err(io_err("fsync", &path))?;
        }
        Ok(())
    }
}

fn line_len(modseq: u64, ranges: &[(u32, u32)]) -> u64 {
    let mut text = String::new();
    line(&mut text, modseq, ranges);
    text.len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_what_it_writes_and_skips_a_torn_line() {
        let h = VanishedHistory {
            uid_validity: 7,
            floor: 3,
            lines: vec![(5, vec![(1, 1), (3, 9)]), (8, vec![(12, 12)])],
        };
        let text = h.encode();
        assert_eq!(text, "1 V7 F3\n5 1,3:9\n8 12\n");
        assert_eq!(parse(&text), Some(h));
        let torn = format!("{text}9 1");
        assert_eq!(parse(&torn).unwrap().lines.len(), 2);
        assert!(parse("1 V7 F3\nx y\n").is_none());
        assert!(parse("").is_none());
    }

    #[test]
    fn compaction_merges_then_drops_the_oldest() {
        let mut h = VanishedHistory {
            uid_validity: 1,
            floor: 0,
            lines: vec![(5, vec![(1, 1)]), (5, vec![(2, 3)]), (6, vec![(9, 9)])],
        };
        h.compact();
        assert_eq!(h.lines, vec![(5, vec![(1, 3)]), (6, vec![(9, 9)])]);
        assert_eq!(h.floor, 0);
        let mut big = VanishedHistory {
            uid_validity: 1,
            floor: 0,
            lines: (1..=VANISHED_MAX_LINES as u64 + 1)
                .map(|m| {
                    (
                        m,
                        vec![(u32::try_from(m * 2).unwrap(), u32::try_from(m * 2).unwrap())],
                    )
                })
                .collect(),
        };
        big.compact();
        assert_eq!(big.lines.len(), VANISHED_MAX_LINES / 2);
        assert_eq!(big.floor, (VANISHED_MAX_LINES / 2 + 1) as u64);
        assert!(big.lines.iter().all(|(m, _)| *m > big.floor));
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,200}") {
            let _ = parse(&s);
        }

        #[test]
        fn merge_covers_exactly(uids in proptest::collection::vec(1u32..200, 0..60)) {
            let r = ranges_of(&uids);
            for w in r.windows(2) {
                prop_assert!(w[0].1 + 1 < w[1].0);
            }
            for u in 1u32..200 {
                prop_assert_eq!(uids.contains(&u), r.iter().any(|&(a, b)| (a..=b).contains(&u)));
            }
        }
    }
}
