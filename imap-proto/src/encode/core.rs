//! Serialisers for the lexical core (RFC 3501 §9).

use std::num::{NonZeroU32, NonZeroU64};

use super::{Encode, Encoder};
use crate::types::core::{
    AString, Atom, AtomExt, IString, ListCharString, Literal, NString, Quoted, Tag, Text,
};
use crate::types::datetime::{Date, DateTime, MONTHS};
use crate::types::flag::{Flag, FlagFetch, FlagPerm};
use crate::types::mailbox::{ListMailbox, Mailbox};
use crate::types::sequence::{SeqItem, SeqNumber, SequenceSet};

macro_rules! encode_as_str {
    ($($t:ident),*) => {$(
        impl Encode for $t<'_> {
            fn encode(&self, e: &mut Encoder) {
                e.raw(self.as_str().as_bytes());
            }
        }
    )*};
}
encode_as_str!(Atom, AtomExt, Tag, Text, ListCharString);

impl Encode for u32 {
    fn encode(&self, e: &mut Encoder) {
        e.number(u64::from(*self));
    }
}

impl Encode for u64 {
    fn encode(&self, e: &mut Encoder) {
        e.number(*self);
    }
}

impl Encode for NonZeroU32 {
    fn encode(&self, e: &mut Encoder) {
        e.number(u64::from(self.get()));
    }
}

impl Encode for NonZeroU64 {
    fn encode(&self, e: &mut Encoder) {
        e.number(self.get());
    }
}

impl Encode for Quoted<'_> {
    fn encode(&self, e: &mut Encoder) {
        e.raw(b"\"");
        let s = self.as_str().as_bytes();
        let mut start = 0;
        for (k, &b) in s.iter().enumerate() {
            if b == b'"' || b == b'\\' {
                e.raw(&s[start..k]);
                e.raw(b"\\");
                start = k;
            }
        }
        e.raw(&s[start..]);
        e.raw(b"\"");
    }
}

impl Encode for Literal<'_> {
    fn encode(&self, e: &mut Encoder) {
        e.literal(self.data(), self.mode());
    }
}

impl Encode for IString<'_> {
    fn encode(&self, e: &mut Encoder) {
        match self {
            IString::Quoted(q) => q.encode(e),
            IString::Literal(l) => l.encode(e),
        }
    }
}

impl Encode for AString<'_> {
    fn encode(&self, e: &mut Encoder) {
        match self {
            AString::Atom(a) => a.encode(e),
            AString::String(s) => s.encode(e),
        }
    }
}

impl Encode for NString<'_> {
    fn encode(&self, e: &mut Encoder) {
        match &self.0 {
            Some(s) => s.encode(e),
            None => e.raw(b"NIL"),
        }
    }
}

impl Encode for SeqNumber {
    fn encode(&self, e: &mut Encoder) {
        match self {
            SeqNumber::Value(n) => n.encode(e),
            SeqNumber::Largest => e.raw(b"*"),
        }
    }
}

impl Encode for SequenceSet {
    fn encode(&self, e: &mut Encoder) {
        for (k, item) in self.items().iter().enumerate() {
            if k > 0 {
                e.raw(b",");
            }
            match item {
                SeqItem::Single(n) => n.encode(e),
                SeqItem::Range(a, b) => {
                    a.encode(e);
                    e.raw(b":");
                    b.encode(e);
                }
                SeqItem::LastResult => e.raw(b"$"),
            }
        }
    }
}

impl Encode for Flag<'_> {
    fn encode(&self, e: &mut Encoder) {
        match self {
            Flag::Answered => e.raw(b"\\Answered"),
            Flag::Flagged => e.raw(b"\\Flagged"),
            Flag::Deleted => e.raw(b"\\Deleted"),
            Flag::Seen => e.raw(b"\\Seen"),
            Flag::Draft => e.raw(b"\\Draft"),
            Flag::Keyword(a) => a.encode(e),
            Flag::Extension(a) => {
                e.raw(b"\\");
                a.encode(e);
            }
        }
    }
}

impl Encode for FlagFetch<'_> {
    fn encode(&self, e: &mut Encoder) {
        match self {
            FlagFetch::Flag(f) => f.encode(e),
            FlagFetch::Recent => e.raw(b"\\Recent"),
        }
    }
}

impl Encode for FlagPerm<'_> {
    fn encode(&self, e: &mut Encoder) {
        match self {
            FlagPerm::Flag(f) => f.encode(e),
            FlagPerm::Asterisk => e.raw(b"\\*"),
        }
    }
}

impl Encode for Mailbox<'_> {
    fn encode(&self, e: &mut Encoder) {
        self.0.encode(e);
    }
}

impl Encode for ListMailbox<'_> {
    fn encode(&self, e: &mut Encoder) {
        match self {
            ListMailbox::Token(t) => t.encode(e),
            ListMailbox::String(s) => s.encode(e),
        }
    }
}

fn two(e: &mut Encoder, n: u8) {
    e.raw(&[b'0' + n / 10 % 10, b'0' + n % 10]);
}

impl Encode for Date {
    /// `date-text`, unquoted.
    fn encode(&self, e: &mut Encoder) {
        e.number(u64::from(self.day()));
        e.raw(b"-");
        e.raw(MONTHS[usize::from(self.month() - 1)].as_bytes());
        e.raw(b"-");
        e.raw(format!("{:04}", self.year()).as_bytes());
    }
}

impl Encode for DateTime {
    /// `date-time`, with a two-digit day.
    fn encode(&self, e: &mut Encoder) {
        let d = self.date();
        let (h, m, s) = self.time();
        e.raw(b"\"");
        two(e, d.day());
        e.raw(b"-");
        e.raw(MONTHS[usize::from(d.month() - 1)].as_bytes());
        e.raw(b"-");
        e.raw(format!("{:04}", d.year()).as_bytes());
        e.sp();
        two(e, h);
        e.raw(b":");
        two(e, m);
        e.raw(b":");
        two(e, s);
        let z = self.zone_minutes();
        e.raw(if z < 0 { b" -" } else { b" +" });
        let z = z.unsigned_abs();
        two(e, (z / 60) as u8);
        two(e, (z % 60) as u8);
        e.raw(b"\"");
    }
}
