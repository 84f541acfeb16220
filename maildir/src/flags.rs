//! Message flags as stored in the `:2,` info of a Maildir file name.
//!
//! cr.yp.to/proto/maildir.html: "info starting with "2,": Each character after the comma is an
//! independent flag. Flag "P" (passed) ... "R" (replied) ... "S" (seen) ... "T" (trashed) ...
//! "D" (draft) ... "F" (flagged) ... Flags must be stored in ASCII order: e.g., "2,FRS"."
//! Lowercase `a`..`z` are keywords by the Dovecot convention (see `dovecot-keywords`); any other
//! ASCII flag character is kept as it is.

use std::fmt;

/// One of the six standard Maildir flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Flag {
    /// `D`: draft (IMAP `\Draft`).
    Draft,
    /// `F`: flagged (IMAP `\Flagged`).
    Flagged,
    /// `P`: passed, resent or forwarded (no IMAP system flag; Dovecot maps `$Forwarded`).
    Passed,
    /// `R`: replied (IMAP `\Answered`).
    Replied,
    /// `S`: seen (IMAP `\Seen`).
    Seen,
    /// `T`: trashed (IMAP `\Deleted`).
    Trashed,
}

impl Flag {
    /// Every standard flag, in ASCII order.
    pub const ALL: [Flag; 6] = [
        Flag::Draft,
        Flag::Flagged,
        Flag::Passed,
        Flag::Replied,
        Flag::Seen,
        Flag::Trashed,
    ];

    /// The flag's letter in the info string.
    pub const fn char(self) -> char {
        match self {
            Flag::Draft => 'D',
            Flag::Flagged => 'F',
            Flag::Passed => 'P',
            Flag::Replied => 'R',
            Flag::Seen => 'S',
            Flag::Trashed => 'T',
        }
    }

    /// The flag for a letter, if it is one of the six.
    pub const fn from_char(c: char) -> Option<Flag> {
        Some(match c {
            'D' => Flag::Draft,
            'F' => Flag::Flagged,
            'P' => Flag::Passed,
            'R' => Flag::Replied,
            'S' => Flag::Seen,
            'T' => Flag::Trashed,
            _ => return None,
        })
    }
}

/// A set of flag characters: the six standard ones, keywords `a`..`z`, and any other printable
/// ASCII character found in a name (kept so that a rename never loses it).
///
/// Stored as a bit set over ASCII, so it is `Copy` and always formats in ASCII order.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Flags(u128);

impl Flags {
    /// No flags.
    pub const fn empty() -> Flags {
        Flags(0)
    }

    /// Whether `c` may be stored as a flag: printable ASCII other than `,`, `/`, `:`.
    pub const fn is_flag_char(c: char) -> bool {
        c.is_ascii_graphic() && c != ',' && c != '/' && c != ':'
    }

    /// Parses the characters after `2,`; `None` if one is not a flag character.
    /// Repeated characters collapse.
    pub fn parse(chars: &str) -> Option<Flags> {
        let mut f = Flags::empty();
        for c in chars.chars() {
            if !Flags::is_flag_char(c) {
                return None;
            }
            f.0 |= 1u128 << (c as u32);
        }
        Some(f)
    }

    /// Whether no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether the standard flag is set.
    pub const fn contains(self, flag: Flag) -> bool {
        self.contains_char(flag.char())
    }

    /// Whether the flag character is set.
    pub const fn contains_char(self, c: char) -> bool {
        (c as u32) < 128 && self.0 & (1u128 << (c as u32)) != 0
    }

    /// Sets a standard flag.
    pub fn insert(&mut self, flag: Flag) {
        self.0 |= 1u128 << (flag.char() as u32);
    }

    /// Clears a standard flag.
    pub fn remove(&mut self, flag: Flag) {
        self.0 &= !(1u128 << (flag.char() as u32));
    }

    /// Sets a flag character; returns `false` (and changes nothing) if it is not a flag character.
    pub fn insert_char(&mut self, c: char) -> bool {
        if !Flags::is_flag_char(c) {
            return false;
        }
        self.0 |= 1u128 << (c as u32);
        true
    }

    /// Clears a flag character.
    pub fn remove_char(&mut self, c: char) {
        if (c as u32) < 128 {
            self.0 &= !(1u128 << (c as u32));
        }
    }

    /// With a standard flag set (builder style).
    #[must_use]
    pub fn with(mut self, flag: Flag) -> Flags {
        self.insert(flag);
        self
    }

    /// The union of two sets.
    #[must_use]
    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// The flags of `self` that are not in `other`.
    #[must_use]
    pub const fn difference(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }

    /// The flag characters, in ASCII order.
    pub fn chars(self) -> impl Iterator<Item = char> {
        (0u8..128)
            .filter(move |i| self.0 & (1u128 << i) != 0)
            .map(char::from)
    }

    /// The keyword indexes set (`a` = 0 .. `z` = 25), the Dovecot convention.
    pub fn keyword_indexes(self) -> impl Iterator<Item = u8> {
        (0u8..26).filter(move |i| self.0 & (1u128 << (b'a' + i)) != 0)
    }

    /// Sets the keyword with this index (0..26); `false` if out of range.
    pub fn insert_keyword_index(&mut self, index: u8) -> bool {
        if index >= 26 {
            return false;
        }
        self.0 |= 1u128 << (b'a' + index);
        true
    }

    /// Only the keyword characters `a`..`z`.
    #[must_use]
    pub fn keywords_only(self) -> Flags {
        let mask: u128 = ((1u128 << 26) - 1) << b'a';
        Flags(self.0 & mask)
    }
}

impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.chars() {
            fmt::Write::write_char(f, c)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flags({self})")
    }
}

impl FromIterator<Flag> for Flags {
    fn from_iter<I: IntoIterator<Item = Flag>>(iter: I) -> Flags {
        let mut f = Flags::empty();
        for flag in iter {
            f.insert(flag);
        }
        f
    }
}

/// How to change a message's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagUpdate {
    /// Set these flags, keep the others (IMAP `+FLAGS`).
    Add(Flags),
    /// Clear these flags, keep the others (IMAP `-FLAGS`).
    Remove(Flags),
    /// Replace all flags (IMAP `FLAGS`).
    Replace(Flags),
}

impl FlagUpdate {
    /// The flags after applying this update to `current`.
    #[must_use]
    pub const fn apply(self, current: Flags) -> Flags {
        match self {
            FlagUpdate::Add(f) => current.union(f),
            FlagUpdate::Remove(f) => current.difference(f),
            FlagUpdate::Replace(f) => f,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sorted_output() {
        let f = Flags::parse("TSRa").unwrap();
        assert_eq!(f.to_string(), "RSTa");
        assert!(f.contains(Flag::Seen));
        assert!(!f.contains(Flag::Draft));
        assert_eq!(f.keyword_indexes().collect::<Vec<_>>(), vec![0]);
        assert!(Flags::parse("S,").is_none());
        assert!(Flags::parse("é").is_none());
    }

    #[test]
    fn updates() {
        let cur = Flags::parse("FS").unwrap();
        assert_eq!(
            FlagUpdate::Add(Flags::parse("R").unwrap())
                .apply(cur)
                .to_string(),
            "FRS"
        );
        assert_eq!(
            FlagUpdate::Remove(Flags::parse("F").unwrap())
                .apply(cur)
                .to_string(),
            "S"
        );
        assert_eq!(
            FlagUpdate::Replace(Flags::empty()).apply(cur).to_string(),
            ""
        );
    }

    proptest! {
        #[test]
        fn round_trip(s in "[!-~]{0,20}") {
            match Flags::parse(&s) {
                Some(f) => {
                    let out = f.to_string();
                    prop_assert_eq!(Flags::parse(&out), Some(f));
                    let mut sorted: Vec<char> = s.chars().collect();
                    sorted.sort_unstable();
                    sorted.dedup();
                    prop_assert_eq!(out, sorted.into_iter().collect::<String>());
                }
                None => prop_assert!(s.contains([',', '/', ':'])),
            }
        }
    }
}
