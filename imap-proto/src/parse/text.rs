//! Values from the text people write (`FromStr`): sequence sets, dates, sections and FETCH
//! attributes, in the syntax of the wire (RFC 3501 §9), through the same parsers as the wire.
//!
//! The parsers here are streaming: a value at the very end of the input may go on ("incomplete").
//! Text is complete, so it is parsed with one space after it, which ends every one of these
//! values, and the space must be all that is left.

use std::str::FromStr;

use super::command::{fetch_att, fetch_items, section};
use super::core::{PResult, date, sequence_set};
use crate::types::ValidationError;
use crate::types::command::{FetchAttribute, FetchItems, Section};
use crate::types::core::IntoStatic;
use crate::types::datetime::Date;
use crate::types::sequence::{SequenceSet, SequenceSetError};

/// Where parsing `text` stopped, when it did not take all of it: the octet offset, and the nom
/// error kind when the parser failed.
enum Stop {
    Failed(usize, nom::error::ErrorKind),
    Rest(usize),
}

/// Runs `p` over `text` and a space; the value when it takes all of `text`.
fn whole<'a, T>(padded: &'a [u8], p: impl FnOnce(&'a [u8]) -> PResult<'a, T>) -> Result<T, Stop> {
    let text_len = padded.len() - 1;
    match p(padded) {
        Ok((b" ", v)) => Ok(v),
        Ok((rest, _)) => Err(Stop::Rest(padded.len() - rest.len())),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(Stop::Failed(
            (padded.len() - e.input.len()).min(text_len),
            e.code,
        )),
        // Cannot happen with the space after the text; reported at its end.
        Err(nom::Err::Incomplete(_)) => Err(Stop::Rest(text_len)),
    }
}

fn padded(s: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len() + 1);
    v.extend_from_slice(s.as_bytes());
    v.push(b' ');
    v
}

/// The [`ValidationError`] for text that is not a `rule`.
fn invalid(rule: &'static str, s: &str) -> ValidationError {
    ValidationError::new(rule, s)
}

impl FromStr for SequenceSet {
    type Err = SequenceSetError;

    /// Parses `sequence-set` as written on the wire: `1`, `1:*`, `1,3:5,7:*`, `*:4`, `$`. No
    /// spaces; ranges may go downwards (`5:3` is `3:5`).
    ///
    /// ```
    /// use mailwright_imap_proto::types::sequence::{SeqItem, SeqNumber, SequenceSet};
    ///
    /// let set: SequenceSet = "1:*".parse().unwrap();
    /// assert_eq!(set, SequenceSet::all());
    /// assert_eq!(set.items(), [SeqItem::Range(SeqNumber::Value(1.try_into().unwrap()), SeqNumber::Largest)]);
    /// assert!("1, 2".parse::<SequenceSet>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, SequenceSetError> {
        if s.is_empty() {
            return Err(SequenceSetError::Empty);
        }
        let input = padded(s);
        whole(&input, sequence_set).map_err(|stop| match stop {
            Stop::Failed(at, nom::error::ErrorKind::Verify) => SequenceSetError::Zero { at },
            Stop::Failed(at, nom::error::ErrorKind::TooLarge) => SequenceSetError::TooLarge { at },
            Stop::Rest(at) if at > 0 && input[at - 1] == b'$' && input[at] == b',' => {
                SequenceSetError::LastResultNotLast { at }
            }
            Stop::Failed(at, _) | Stop::Rest(at) => SequenceSetError::Syntax { at },
        })
    }
}

impl FromStr for Date {
    type Err = ValidationError;

    /// Parses `date` (a SEARCH date): `1-Feb-2026`, month names in any case, optionally in
    /// double quotes.
    ///
    /// ```
    /// use mailwright_imap_proto::types::datetime::Date;
    ///
    /// let date: Date = "1-Feb-2026".parse().unwrap();
    /// assert_eq!((date.year(), date.month(), date.day()), (2026, 2, 1));
    /// assert_eq!(date.to_string(), "1-Feb-2026");
    /// assert!("2026-02-01".parse::<Date>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, ValidationError> {
        whole(&padded(s), date).map_err(|_| invalid("date (d-Mon-yyyy)", s))
    }
}

impl FromStr for Section<'static> {
    type Err = ValidationError;

    /// Parses `section` as in `BODY[section]`, with or without the brackets: `[]` or the empty
    /// text (the whole message), `HEADER`, `1.2`, `1.2.MIME`, `HEADER.FIELDS (From Subject)`.
    ///
    /// ```
    /// use mailwright_imap_proto::types::command::Section;
    ///
    /// let section: Section = "1.2.HEADER.FIELDS (From Subject)".parse().unwrap();
    /// assert_eq!(section.part(), [1.try_into().unwrap(), 2.try_into().unwrap()]);
    /// assert_eq!(section.to_string(), "[1.2.HEADER.FIELDS (From Subject)]");
    /// assert_eq!("[]".parse::<Section>().unwrap(), Section::whole());
    /// assert!("MIME".parse::<Section>().is_err()); // MIME needs a part number
    /// ```
    fn from_str(s: &str) -> Result<Self, ValidationError> {
        let input = if s.starts_with('[') {
            padded(s)
        } else {
            padded(&format!("[{s}]"))
        };
        whole(&input, section)
            .map(IntoStatic::into_static)
            .map_err(|_| invalid("section", s))
    }
}

impl FromStr for FetchAttribute<'static> {
    type Err = ValidationError;

    /// Parses one `fetch-att`: `ENVELOPE`, `FLAGS`, `BODY.PEEK[HEADER]<0.1024>`, `MODSEQ` ...
    /// (keywords in any case).
    ///
    /// ```
    /// use mailwright_imap_proto::types::command::FetchAttribute;
    ///
    /// let att: FetchAttribute = "body.peek[1.TEXT]<0.2048>".parse().unwrap();
    /// assert_eq!(att.to_string(), "BODY.PEEK[1.TEXT]<0.2048>");
    /// assert_eq!("rfc822.size".parse::<FetchAttribute>().unwrap(), FetchAttribute::Rfc822Size);
    /// ```
    fn from_str(s: &str) -> Result<Self, ValidationError> {
        whole(&padded(s), fetch_att)
            .map(IntoStatic::into_static)
            .map_err(|_| invalid("fetch-att", s))
    }
}

impl FromStr for FetchItems<'static> {
    type Err = ValidationError;

    /// Parses what FETCH asks for: `ALL`, `FAST`, `FULL`, one attribute, or a parenthesised list
    /// (`(FLAGS UID BODY.PEEK[HEADER])`).
    ///
    /// ```
    /// use mailwright_imap_proto::types::command::{FetchAttribute, FetchItems};
    ///
    /// let items: FetchItems = "(UID FLAGS)".parse().unwrap();
    /// assert_eq!(items.expand(), [FetchAttribute::Uid, FetchAttribute::Flags]);
    /// assert_eq!(items.to_string(), "(UID FLAGS)");
    /// assert_eq!("fast".parse::<FetchItems>().unwrap(), FetchItems::Fast);
    /// ```
    fn from_str(s: &str) -> Result<Self, ValidationError> {
        whole(&padded(s), fetch_items)
            .map(IntoStatic::into_static)
            .map_err(|_| invalid("fetch items", s))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::arbitrary;
    use crate::encode::Encode;
    use crate::types::sequence::{SeqItem, SeqNumber};

    /// `Display` is the wire form, and `FromStr` reads it back (when it is text: a literal of
    /// octets that are not UTF-8 has no faithful `Display`).
    fn text_round_trip<T>(value: &T) -> Result<(), TestCaseError>
    where
        T: Encode + std::fmt::Display + FromStr + PartialEq + std::fmt::Debug,
        T::Err: std::fmt::Debug,
    {
        let wire = value.to_bytes();
        if let Ok(text) = std::str::from_utf8(&wire) {
            prop_assert_eq!(value.to_string(), text);
            prop_assert_eq!(&text.parse::<T>().unwrap(), value);
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn display_and_from_str_round_trip(
            set in arbitrary::sequence_set(),
            date in arbitrary::date(),
            section in arbitrary::section(),
            att in arbitrary::fetch_att(),
        ) {
            text_round_trip(&set)?;
            text_round_trip(&date)?;
            text_round_trip(&section)?;
            text_round_trip(&att)?;
        }

        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,40}", t in "[0-9,:*$ ]{0,12}") {
            for s in [&s, &t] {
                let _ = s.parse::<SequenceSet>();
                let _ = s.parse::<Date>();
                let _ = s.parse::<Section>();
                let _ = s.parse::<FetchAttribute>();
                let _ = s.parse::<FetchItems>();
            }
        }
    }

    fn n(v: u32) -> SeqNumber {
        SeqNumber::Value(v.try_into().unwrap())
    }

    #[test]
    fn sequence_sets_parse_as_on_the_wire() {
        let set: SequenceSet = "1,3:5,7:*".parse().unwrap();
        assert_eq!(
            set.items(),
            [
                SeqItem::Single(n(1)),
                SeqItem::Range(n(3), n(5)),
                SeqItem::Range(n(7), SeqNumber::Largest)
            ]
        );
        assert_eq!("*".parse::<SequenceSet>().unwrap().to_string(), "*");
        assert_eq!("5:3".parse::<SequenceSet>().unwrap().to_string(), "5:3");
        assert_eq!("4,$".parse::<SequenceSet>().unwrap().to_string(), "4,$");
        assert_eq!(
            "4294967295".parse::<SequenceSet>().unwrap().to_string(),
            "4294967295"
        );
    }

    #[test]
    fn sequence_set_errors_say_what_and_where() {
        let err = |s: &str| s.parse::<SequenceSet>().unwrap_err();
        assert_eq!(err(""), SequenceSetError::Empty);
        assert_eq!(err("0"), SequenceSetError::Zero { at: 0 });
        assert_eq!(err("1:07"), SequenceSetError::Zero { at: 2 });
        assert_eq!(err("4294967296"), SequenceSetError::TooLarge { at: 0 });
        assert_eq!(err("$,1"), SequenceSetError::LastResultNotLast { at: 1 });
        assert_eq!(err("1, 2"), SequenceSetError::Syntax { at: 2 });
        assert_eq!(err("1:*x"), SequenceSetError::Syntax { at: 3 });
        assert_eq!(err("1,,2"), SequenceSetError::Syntax { at: 2 });
        assert_eq!(err("1:"), SequenceSetError::Syntax { at: 2 });
        assert_eq!(err(" 1"), SequenceSetError::Syntax { at: 0 });
        assert_eq!(err("1 "), SequenceSetError::Syntax { at: 1 });
        assert_eq!(err("a"), SequenceSetError::Syntax { at: 0 });
        assert_eq!(
            err("$,1").to_string(),
            "sequence set: \"$\" must come last (offset 1)"
        );
    }

    #[test]
    fn sections_and_attributes_parse_as_on_the_wire() {
        for s in [
            "[]",
            "[HEADER]",
            "[TEXT]",
            "[1]",
            "[1.2.3]",
            "[1.MIME]",
            "[2.HEADER.FIELDS (From To)]",
            "[HEADER.FIELDS.NOT (\"X Y\")]",
        ] {
            assert_eq!(s.parse::<Section>().unwrap().to_string(), s);
        }
        assert!("[1.]".parse::<Section>().is_err());
        assert!("[0]".parse::<Section>().is_err());
        assert!("[HEADER] ".parse::<Section>().is_err());
        for s in [
            "ENVELOPE",
            "BODY",
            "BODYSTRUCTURE",
            "BODY[]",
            "BODY.PEEK[HEADER.FIELDS (Subject)]<10.20>",
            "MODSEQ",
        ] {
            assert_eq!(s.parse::<FetchAttribute>().unwrap().to_string(), s);
        }
        assert!("BODY.PEEK".parse::<FetchAttribute>().is_err());
        assert!("ENVELOPE FLAGS".parse::<FetchAttribute>().is_err());
        assert!("".parse::<FetchAttribute>().is_err());
        assert_eq!(
            "\"1-Feb-2026\"".parse::<Date>().unwrap(),
            Date::new(2026, 2, 1).unwrap()
        );
        assert!("31-Foo-2026".parse::<Date>().is_err());
        assert!("1-Feb-2026x".parse::<Date>().is_err());
    }
}
