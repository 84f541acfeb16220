//! Sequence sets (RFC 3501 §9, RFC 5182 §5).
//!
//! ```text
//! seq-number      = nz-number / "*"
//! seq-range       = seq-number ":" seq-number
//! sequence-set    = (seq-number / seq-range) *("," sequence-set)
//! sequence-set    =/ seq-last-command        ; RFC 5182
//! seq-last-command   = "$"
//! ```
//!
//! A set is parsed from the text people write with [`str::parse`] and written back in the same
//! form with `Display`:
//!
//! ```
//! use mailwright_imap_proto::types::sequence::{SequenceSet, SequenceSetError};
//!
//! let set: SequenceSet = "1,3:5,7:*".parse()?;
//! assert!(set.contains(4, 10) && set.contains(10, 10) && !set.contains(6, 10));
//! assert_eq!(set.to_string(), "1,3:5,7:*");
//! assert_eq!("2:0".parse::<SequenceSet>(), Err(SequenceSetError::Zero { at: 2 }));
//! # Ok::<(), SequenceSetError>(())
//! ```

use std::fmt;
use std::num::NonZeroU32;

use super::ValidationError;
use super::core::{IntoStatic, Vec1};

/// `seq-number = nz-number / "*"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeqNumber {
    /// A message number or UID.
    Value(NonZeroU32),
    /// `*`: the largest number in use.
    Largest,
}

impl SeqNumber {
    /// Resolves `*` against the largest number in use.
    pub fn resolve(self, largest: u32) -> u32 {
        match self {
            SeqNumber::Value(v) => v.get(),
            SeqNumber::Largest => largest,
        }
    }
}

/// One member of a sequence set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeqItem {
    /// `seq-number`.
    Single(SeqNumber),
    /// `seq-range`: both ends included, in either order.
    Range(SeqNumber, SeqNumber),
    /// `$` (RFC 5182): the result of the last SEARCH with `SAVE`.
    LastResult,
}

/// `sequence-set`: a non-empty list where `$` may only come last (RFC 5182 §5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SequenceSet(Vec1<SeqItem>);

impl SequenceSet {
    /// The items in order.
    pub fn items(&self) -> &[SeqItem] {
        &self.0
    }
    /// A set of one number.
    pub fn single(n: NonZeroU32) -> Self {
        Self(Vec1::one(SeqItem::Single(SeqNumber::Value(n))))
    }
    /// `1:*`: every message.
    pub fn all() -> Self {
        Self(Vec1::one(SeqItem::Range(
            SeqNumber::Value(NonZeroU32::MIN),
            SeqNumber::Largest,
        )))
    }
    /// `$`.
    pub fn last_result() -> Self {
        Self(Vec1::one(SeqItem::LastResult))
    }
    /// Whether `n` is in the set, with `*` standing for `largest`. `$` matches nothing here.
    pub fn contains(&self, n: u32, largest: u32) -> bool {
        self.0.iter().any(|item| match *item {
            SeqItem::Single(s) => s.resolve(largest) == n,
            SeqItem::Range(a, b) => {
                let (a, b) = (a.resolve(largest), b.resolve(largest));
                (a.min(b)..=a.max(b)).contains(&n)
            }
            SeqItem::LastResult => false,
        })
    }
    /// Whether the set uses `$`.
    pub fn uses_last_result(&self) -> bool {
        self.0.contains(&SeqItem::LastResult)
    }
}

impl TryFrom<Vec<SeqItem>> for SequenceSet {
    type Error = ValidationError;
    fn try_from(items: Vec<SeqItem>) -> Result<Self, ValidationError> {
        let last = items.iter().position(|i| *i == SeqItem::LastResult);
        if last.is_some_and(|pos| pos + 1 != items.len()) {
            return Err(ValidationError::new(
                "sequence-set (\"$\" must come last)",
                b"$",
            ));
        }
        Ok(Self(Vec1::try_from(items)?))
    }
}

impl From<NonZeroU32> for SequenceSet {
    fn from(n: NonZeroU32) -> Self {
        Self::single(n)
    }
}

impl fmt::Display for SeqNumber {
    /// `*` or the number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeqNumber::Value(n) => n.fmt(f),
            SeqNumber::Largest => f.write_str("*"),
        }
    }
}

impl fmt::Display for SequenceSet {
    /// The wire form: `1,3:5,7:*`, `$`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, item) in self.0.iter().enumerate() {
            if k > 0 {
                f.write_str(",")?;
            }
            match item {
                SeqItem::Single(n) => n.fmt(f)?,
                SeqItem::Range(a, b) => write!(f, "{a}:{b}")?,
                SeqItem::LastResult => f.write_str("$")?,
            }
        }
        Ok(())
    }
}

/// Why text is not a `sequence-set` ([`SequenceSet`]'s `FromStr`). `at` is the octet offset in
/// the text where the problem starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum SequenceSetError {
    /// The text is empty: a set has at least one member.
    #[error("empty sequence set")]
    Empty,
    /// `0`, or a number written with a leading zero: message numbers and UIDs start at 1
    /// (`nz-number = digit-nz *DIGIT`).
    #[error("sequence set: a number at offset {at} is 0 or starts with 0 (numbers start at 1)")]
    Zero {
        /// Where the number starts.
        at: usize,
    },
    /// A number larger than 4294967295 (`nz-number` is 32-bit).
    #[error("sequence set: the number at offset {at} is larger than 4294967295")]
    TooLarge {
        /// Where the number starts.
        at: usize,
    },
    /// `$` before the end of the set (RFC 5182 §5: it may only come last).
    #[error("sequence set: \"$\" must come last (offset {at})")]
    LastResultNotLast {
        /// Where the octet after `$` is.
        at: usize,
    },
    /// An octet that has no place there (a space, a letter, a doubled `,` or `:` ...).
    #[error("sequence set: unexpected octet at offset {at}")]
    Syntax {
        /// Where the octet is.
        at: usize,
    },
}

impl IntoStatic for SequenceSet {
    type Static = SequenceSet;
    fn into_static(self) -> Self {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_resolves_star_and_reversed_ranges() {
        let n = |v| SeqNumber::Value(NonZeroU32::new(v).unwrap());
        let set = SequenceSet::try_from(vec![
            SeqItem::Single(n(2)),
            SeqItem::Range(SeqNumber::Largest, n(12)),
        ])
        .unwrap();
        assert!(set.contains(2, 15) && set.contains(13, 15) && !set.contains(3, 15));
        assert!(SequenceSet::try_from(vec![SeqItem::LastResult, SeqItem::Single(n(1))]).is_err());
        assert!(SequenceSet::try_from(vec![]).is_err());
    }
}
