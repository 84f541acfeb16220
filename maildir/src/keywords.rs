//! Dovecot's `dovecot-keywords` file: keyword names for the flag letters `a`..`z`.
//!
//! Format (Dovecot wiki `MailboxFormat/Maildir`): lines `<index> <name>`, index 0 is letter `a`.
//! Replaced only by rename, written while holding the `dovecot-uidlist` lock.

use std::fmt::Write as _;

use crate::error::{Error, Result};
use crate::flags::Flags;

/// The file name.
pub const KEYWORDS_FILE: &str = "dovecot-keywords";

/// The keyword table of one folder: up to 26 names, one per letter `a`..`z`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keywords {
    names: Vec<Option<String>>,
}

/// Whether `name` is an IMAP flag-keyword atom (RFC 3501 §9: `flag-keyword = atom`; atom
/// excludes `(){ %*"\]` controls and space).
pub fn is_valid_keyword(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(&b))
}

impl Keywords {
    /// Parses the file. Malformed lines and indexes ≥ 26 are skipped.
    pub fn parse(text: &str) -> Keywords {
        let mut names = vec![None; 26];
        for line in text.lines() {
            let Some((idx, name)) = line.split_once(' ') else {
                continue;
            };
            if let Ok(i) = idx.parse::<usize>()
                && i < 26
                && is_valid_keyword(name)
            {
                names[i] = Some(name.to_owned());
            }
        }
        while names.last().is_some_and(Option::is_none) {
            names.pop();
        }
        Keywords { names }
    }

    /// Writes the file's form.
    pub fn encode(&self) -> String {
        let mut s = String::new();
        for (i, n) in self.names.iter().enumerate() {
            if let Some(n) = n {
                let _ = writeln!(s, "{i} {n}");
            }
        }
        s
    }

    /// The name of keyword letter index `i` (0 = `a`).
    pub fn name(&self, i: u8) -> Option<&str> {
        self.names.get(usize::from(i)).and_then(|n| n.as_deref())
    }

    /// The index of a keyword (case-insensitive, as IMAP keywords compare).
    pub fn index_of(&self, name: &str) -> Option<u8> {
        self.names
            .iter()
            .position(|n| n.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(name)))
            .map(|i| i as u8)
    }

    /// All defined names, by index.
    pub fn names(&self) -> impl Iterator<Item = (u8, &str)> {
        self.names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_deref().map(|n| (i as u8, n)))
    }

    /// The names of the keyword letters set in `flags`.
    pub fn names_in(&self, flags: Flags) -> Vec<&str> {
        flags
            .keyword_indexes()
            .filter_map(|i| self.name(i))
            .collect()
    }

    /// The index for `name`, adding it at the first free slot; `Ok((index, added))`.
    pub fn get_or_add(&mut self, name: &str) -> Result<(u8, bool)> {
        if !is_valid_keyword(name) {
            return Err(Error::InvalidKeyword(name.to_owned()));
        }
        if let Some(i) = self.index_of(name) {
            return Ok((i, false));
        }
        let free = self
            .names
            .iter()
            .position(Option::is_none)
            .unwrap_or(self.names.len());
        if free >= 26 {
            return Err(Error::TooManyKeywords);
        }
        if free == self.names.len() {
            self.names.push(None);
        }
        self.names[free] = Some(name.to_owned());
        Ok((free as u8, true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_encode() {
        let k = Keywords::parse("0 $Junk\n1 $NonJunk\nbad\n30 x\n");
        assert_eq!(k.name(1), Some("$NonJunk"));
        assert_eq!(k.index_of("$junk"), Some(0));
        assert_eq!(k.encode(), "0 $Junk\n1 $NonJunk\n");
        let mut k = k;
        assert_eq!(k.get_or_add("Work").unwrap(), (2, true));
        assert_eq!(k.get_or_add("work").unwrap(), (2, false));
        assert!(k.get_or_add("a b").is_err());
        let f = Flags::parse("Sbc").unwrap();
        assert_eq!(k.names_in(f), ["$NonJunk", "Work"]);
    }
}
