//! Keyword names: Dovecot's `dovecot-keywords` for the flag letters `a`..`z`, and our
//! `mailwright-keywords` for the keywords past those 26.
//!
//! `dovecot-keywords` (Dovecot wiki `MailboxFormat/Maildir`): lines `<index> <name>`, index 0 is
//! letter `a`. Replaced only by rename, written while holding the `dovecot-uidlist` lock.
//!
//! A folder's first 26 keywords get letters, which every Maildir reader keeps and Dovecot names.
//! The 27th and later have no letter: their names, and which messages carry them (by unique name,
//! so they survive a renumbering of the folder), are kept in `mailwright-keywords`, written whole
//! (temporary file, rename) under the same lock as `dovecot-keywords`:
//!
//! ```text
//! 1                              version
//! K<index> <name>                a keyword past the letters (index 26 and up)
//! M<index>,<index>... <unique>   the keywords past the letters a message carries
//! ```
//!
//! Dovecot does not read it: there a message shows its letter keywords only.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::error::{Error, Result};
use crate::flags::Flags;

/// The file name.
pub const KEYWORDS_FILE: &str = "dovecot-keywords";

/// Our file of the keywords past the 26 letters (module docs).
pub const EXTRA_KEYWORDS_FILE: &str = "mailwright-keywords";

/// The most keywords a folder can define, letters included; past it a new keyword is refused
/// with [`Error::TooManyKeywords`]. Fixed.
pub const MAX_KEYWORDS: usize = 1024;

/// How many keywords have letters (`a`..`z`).
pub(crate) const LETTERS: u32 = 26;

/// The keyword table of one folder: the names of the letters `a`..`z` (index 0..26, from
/// `dovecot-keywords`), then the keywords past them (index 26 and up, from `mailwright-keywords`).
///
/// The `u8` methods ([`name`](Self::name), [`index_of`](Self::index_of), [`names`](Self::names),
/// [`names_in`](Self::names_in)) speak of letters only; the `u32` ones ([`find`](Self::find),
/// [`name_of`](Self::name_of), [`all_names`](Self::all_names), [`names_of`](Self::names_of))
/// of every keyword.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keywords {
    names: Vec<Option<String>>,
    /// Index 26 + i.
    extra: Vec<Option<String>>,
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
    /// Parses `dovecot-keywords` (the letters only). Malformed lines and indexes ≥ 26 are
    /// skipped.
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
        Keywords {
            names,
            extra: Vec::new(),
        }
    }

    /// Writes `dovecot-keywords` (the letters only).
    pub fn encode(&self) -> String {
        let mut s = String::new();
        for (i, n) in self.names.iter().enumerate() {
            if let Some(n) = n {
                let _ = writeln!(s, "{i} {n}");
            }
        }
        s
    }

    /// The name of keyword letter index `i` (0 = `a`); letters only.
    pub fn name(&self, i: u8) -> Option<&str> {
        self.names.get(usize::from(i)).and_then(|n| n.as_deref())
    }

    /// The letter index of a keyword (case-insensitive, as IMAP keywords compare); `None` for a
    /// keyword past the letters too (see [`find`](Self::find)).
    pub fn index_of(&self, name: &str) -> Option<u8> {
        self.names
            .iter()
            .position(|n| n.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(name)))
            .map(|i| i as u8)
    }

    /// The names of the letters, by index.
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

    /// The index of any keyword, letter (0..26) or not (26 and up), case-insensitive.
    pub fn find(&self, name: &str) -> Option<u32> {
        if let Some(i) = self.index_of(name) {
            return Some(u32::from(i));
        }
        self.extra
            .iter()
            .position(|n| n.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(name)))
            .map(|i| LETTERS + u32::try_from(i).unwrap_or(u32::MAX - LETTERS))
    }

    /// The name of any keyword index (0..26 letters, 26 and up the others).
    pub fn name_of(&self, index: u32) -> Option<&str> {
        match index.checked_sub(LETTERS) {
            None => self.name(u8::try_from(index).ok()?),
            Some(i) => self.extra.get(i as usize).and_then(|n| n.as_deref()),
        }
    }

    /// Every defined keyword with its index: the letters, then the others (for IMAP `FLAGS` and
    /// `PERMANENTFLAGS`).
    pub fn all_names(&self) -> impl Iterator<Item = (u32, &str)> {
        let letters = self.names().map(|(i, n)| (u32::from(i), n));
        let extra = self.extra.iter().enumerate().filter_map(|(i, n)| {
            n.as_deref()
                .map(|n| (LETTERS + u32::try_from(i).unwrap_or(0), n))
        });
        letters.chain(extra)
    }

    /// The names of a message's keywords: the letters set in `flags`, then `extra` (indexes 26
    /// and up, as in [`UidMessage::extra_keywords`](crate::UidMessage::extra_keywords)).
    pub fn names_of(&self, flags: Flags, extra: &[u32]) -> Vec<&str> {
        let mut out = self.names_in(flags);
        out.extend(extra.iter().filter_map(|&i| self.name_of(i)));
        out
    }

    /// How many keywords are defined, letters and others.
    pub fn len(&self) -> usize {
        self.names.iter().flatten().count() + self.extra.iter().flatten().count()
    }

    /// Whether no keyword is defined.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sets the keywords past the letters (index 26 + position).
    pub(crate) fn set_extra(&mut self, extra: Vec<Option<String>>) {
        self.extra = extra;
    }

    /// The keywords past the letters (index 26 + position).
    pub(crate) fn extra(&self) -> &[Option<String>] {
        &self.extra
    }

    /// The index for `name`: its own if defined; else a free letter, else the next index past the
    /// letters. `Ok((index, added))`; [`Error::TooManyKeywords`] past [`MAX_KEYWORDS`].
    pub(crate) fn get_or_add_any(&mut self, name: &str) -> Result<(u32, bool)> {
        if !is_valid_keyword(name) {
            return Err(Error::InvalidKeyword(name.to_owned()));
        }
        if let Some(i) = self.find(name) {
            return Ok((i, false));
        }
        match self.get_or_add(name) {
            Ok((i, added)) => return Ok((u32::from(i), added)),
            Err(Error::TooManyKeywords) => {}
            Err(e) => return Err(e),
        }
        if self.len() >= MAX_KEYWORDS {
            return Err(Error::TooManyKeywords);
        }
        self.extra.push(Some(name.to_owned()));
        Ok((
            LETTERS + u32::try_from(self.extra.len() - 1).unwrap_or(0),
            true,
        ))
    }

    /// The letter index for `name`, adding it at the first free letter; `Ok((index, added))`.
    /// [`Error::TooManyKeywords`] when all 26 letters are taken (the store methods of
    /// [`Maildir`](crate::Maildir) then use an index past the letters).
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

/// `mailwright-keywords` parsed (module docs): the names past the letters, and per message
/// (unique name) the indexes past the letters it carries, ascending.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ExtraKeywords {
    /// Index 26 + position.
    pub(crate) names: Vec<Option<String>>,
    pub(crate) by_unique: BTreeMap<String, Vec<u32>>,
}

impl ExtraKeywords {
    /// Parses the file; malformed lines, unknown indexes and a file of another version are
    /// skipped (the file is written whole by rename, so only a hand edit makes them).
    pub(crate) fn parse(text: &str) -> ExtraKeywords {
        let mut out = ExtraKeywords::default();
        let mut lines = text.lines();
        if lines.next() != Some("1") {
            return out;
        }
        let mut messages = Vec::new();
        for line in lines {
            if let Some(rest) = line.strip_prefix('K') {
                let Some((idx, name)) = rest.split_once(' ') else {
                    continue;
                };
                let Some(i) = idx
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| i.checked_sub(LETTERS as usize))
                    .filter(|i| *i < MAX_KEYWORDS)
                else {
                    continue;
                };
                let taken = out
                    .names
                    .iter()
                    .flatten()
                    .any(|n| n.eq_ignore_ascii_case(name));
                if !is_valid_keyword(name) || taken {
                    continue;
                }
                if out.names.len() <= i {
                    out.names.resize(i + 1, None);
                }
                if out.names[i].is_none() {
                    out.names[i] = Some(name.to_owned());
                }
            } else if let Some(rest) = line.strip_prefix('M') {
                let Some((list, unique)) = rest.split_once(' ') else {
                    continue;
                };
                if !crate::name::is_valid_base(unique) || unique.chars().any(char::is_control) {
                    continue;
                }
                let ids: Option<Vec<u32>> = list.split(',').map(|i| i.parse().ok()).collect();
                if let Some(ids) = ids {
                    messages.push((unique.to_owned(), ids));
                }
            }
        }
        for (unique, ids) in messages {
            let ids = out.known(ids);
            if !ids.is_empty() {
                out.by_unique.insert(unique, ids);
            }
        }
        out
    }

    /// `ids` sorted, without repeats and without indexes that name no keyword here.
    fn known(&self, mut ids: Vec<u32>) -> Vec<u32> {
        ids.retain(|&i| {
            i.checked_sub(LETTERS)
                .and_then(|i| self.names.get(i as usize))
                .is_some_and(Option::is_some)
        });
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The file's form.
    pub(crate) fn encode(&self) -> String {
        let mut s = String::from("1\n");
        for (i, n) in self.names.iter().enumerate() {
            if let Some(n) = n {
                let _ = writeln!(s, "K{} {n}", i + LETTERS as usize);
            }
        }
        for (unique, ids) in &self.by_unique {
            if ids.is_empty() {
                continue;
            }
            s.push('M');
            for (k, i) in ids.iter().enumerate() {
                if k > 0 {
                    s.push(',');
                }
                let _ = write!(s, "{i}");
            }
            let _ = writeln!(s, " {unique}");
        }
        s
    }

    /// The indexes past the letters a message carries.
    pub(crate) fn of(&self, unique: &str) -> &[u32] {
        self.by_unique.get(unique).map_or(&[], Vec::as_slice)
    }

    /// Sets a message's indexes past the letters; whether that changed anything.
    pub(crate) fn set(&mut self, unique: &str, ids: Vec<u32>) -> bool {
        let ids = self.known(ids);
        if self.of(unique) == ids.as_slice() {
            return false;
        }
        if ids.is_empty() {
            self.by_unique.remove(unique);
        } else {
            self.by_unique.insert(unique.to_owned(), ids);
        }
        true
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

    #[test]
    fn past_the_letters() {
        let mut k = Keywords::default();
        for i in 0..26 {
            assert_eq!(k.get_or_add_any(&format!("k{i}")).unwrap(), (i, true));
        }
        assert!(matches!(k.get_or_add("k26"), Err(Error::TooManyKeywords)));
        assert_eq!(k.get_or_add_any("k26").unwrap(), (26, true));
        assert_eq!(k.get_or_add_any("K26").unwrap(), (26, false));
        assert_eq!(k.find("k3"), Some(3));
        assert_eq!(k.index_of("k26"), None);
        assert_eq!(k.name_of(26), Some("k26"));
        assert_eq!(k.all_names().count(), 27);
        let f = Flags::parse("ab").unwrap();
        assert_eq!(k.names_of(f, &[26]), ["k0", "k1", "k26"]);
        // The letters' file keeps the letters only.
        assert_eq!(Keywords::parse(&k.encode()).all_names().count(), 26);
    }

    #[test]
    fn extra_file() {
        let text = "1\nK26 $Label\nK27 Work\nK3 low\nK28 bad(\nM26,27,99 1.M1P1.h,S=1\nM27 2.M1P1.h\nMx 3.h\n";
        let x = ExtraKeywords::parse(text);
        assert_eq!(x.names, [Some("$Label".into()), Some("Work".into())]);
        assert_eq!(x.of("1.M1P1.h,S=1"), [26, 27]);
        assert_eq!(x.of("3.h"), [] as [u32; 0]);
        assert_eq!(ExtraKeywords::parse(&x.encode()), x);
        assert_eq!(ExtraKeywords::parse("2\nK26 a\n"), ExtraKeywords::default());
        let mut y = x.clone();
        assert!(!y.set("2.M1P1.h", vec![27, 27]));
        assert!(y.set("2.M1P1.h", vec![]));
        assert_eq!(y.by_unique.len(), 1);
    }

    proptest::proptest! {
        /// Any table and sets survive encode → parse; arbitrary text never panics.
        #[test]
        fn extra_file_round_trips(
            names in proptest::collection::vec("[A-Za-z$][A-Za-z0-9_]{0,8}", 0..8),
            sets in proptest::collection::btree_map("[0-9]{1,4}\\.M[0-9]P[0-9]\\.h", proptest::collection::vec(26u32..40, 0..5), 0..6),
            junk in "\\PC{0,200}",
        ) {
            let mut x = ExtraKeywords::default();
            for n in &names {
                if !x.names.iter().flatten().any(|m| m.eq_ignore_ascii_case(n)) {
                    x.names.push(Some(n.clone()));
                }
            }
            for (u, ids) in sets {
                x.set(&u, ids);
            }
            proptest::prop_assert_eq!(ExtraKeywords::parse(&x.encode()), x);
            let _ = ExtraKeywords::parse(&junk);
            let _ = ExtraKeywords::parse(&format!("1\n{junk}"));
        }
    }
}
