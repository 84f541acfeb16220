//! Dovecot's `dovecot-uidlist` file: the UID ↔ file name map, parsed and written.
//!
//! Format (Dovecot's `maildir-uidlist.c` and wiki page `MailboxFormat/Maildir`):
//!
//! ```text
//! version 3:  header  3 [<key><value> ...]          keys: V uidvalidity, N next uid, G guid
//!             entry   <uid> [<key><value> ...] :<filename>
//! version 1:  header  1 <uidvalidity> <next uid>    (Courier's courierimapuiddb)
//!             entry   <uid> <filename>
//! ```
//!
//! The file name is "the last known filename" (it may carry an outdated `:2,` info); the key is
//! its base, before `:`. UIDs must increase line by line.

use std::fmt::Write as _;

/// The file name.
pub const UIDLIST: &str = "dovecot-uidlist";

/// Why a `dovecot-uidlist` could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UidListError {
    /// The first line is missing or not a version 1 or 3 header.
    #[error("bad header")]
    BadHeader,
    /// An entry line is malformed; the 1-based line number.
    #[error("line {0}: malformed entry")]
    BadEntry(usize),
    /// UIDs do not strictly increase; the 1-based line number.
    #[error("line {0}: UIDs not ascending")]
    NotAscending(usize),
}

/// One entry: a UID and the last known file name of its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UidRecord {
    /// The UID (> 0).
    pub uid: u32,
    /// Extension fields (`W2481`, `G...`), kept as found.
    pub extensions: Vec<String>,
    /// The last known file name (base, maybe with an outdated info).
    pub file_name: String,
}

impl UidRecord {
    /// The unique base name: the file name before `:`.
    pub fn base(&self) -> &str {
        self.file_name.split(':').next().unwrap_or("")
    }
}

/// A parsed `dovecot-uidlist`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UidList {
    /// The IMAP UIDVALIDITY (`V`).
    pub uid_validity: u32,
    /// The next UID to assign (`N`).
    pub next_uid: u32,
    /// The mailbox GUID (`G`, 32 hex digits), if present.
    pub guid: Option<String>,
    /// Other header fields, kept as found.
    pub header_extensions: Vec<String>,
    /// The entries, UIDs ascending.
    pub records: Vec<UidRecord>,
}

impl UidList {
    /// An empty list.
    pub fn new(uid_validity: u32, guid: Option<String>) -> UidList {
        UidList {
            uid_validity,
            next_uid: 1,
            guid,
            header_extensions: Vec::new(),
            records: Vec::new(),
        }
    }

    /// Parses version 3 (Dovecot ≥ 1.1) or version 1 (Courier-compatible) files. A trailing
    /// partial line (no final LF) is ignored, as a reader racing an appender must.
    pub fn parse(text: &str) -> Result<UidList, UidListError> {
        let complete = match text.rfind('\n') {
            Some(p) => &text[..=p],
            None => text,
        };
        let mut lines = complete.lines();
        let header = lines.next().ok_or(UidListError::BadHeader)?;
        // No control characters anywhere (a CR would not survive `lines()` on re-reading).
        if header.chars().any(char::is_control) {
            return Err(UidListError::BadHeader);
        }
        let mut fields = header.split(' ').filter(|f| !f.is_empty());
        let version = fields.next().ok_or(UidListError::BadHeader)?;
        let mut list = UidList::new(0, None);
        match version {
            "1" => {
                list.uid_validity = num(fields.next()).ok_or(UidListError::BadHeader)?;
                list.next_uid = num(fields.next()).ok_or(UidListError::BadHeader)?;
            }
            "3" => {
                for f in fields {
                    let (key, value) = f.split_at(f.chars().next().map_or(0, char::len_utf8));
                    let number = || num(Some(value)).ok_or(UidListError::BadHeader);
                    match key {
                        "V" => list.uid_validity = number()?,
                        "N" => list.next_uid = number()?,
                        "G" => list.guid = Some(value.to_owned()),
                        _ => list.header_extensions.push(f.to_owned()),
                    }
                }
            }
            _ => return Err(UidListError::BadHeader),
        }
        let mut prev = 0u32;
        for (i, line) in lines.enumerate() {
            let lineno = i + 2;
            if line.is_empty() {
                continue;
            }
            let (uid_str, rest) = line.split_once(' ').ok_or(UidListError::BadEntry(lineno))?;
            let uid: u32 = num(Some(uid_str)).ok_or(UidListError::BadEntry(lineno))?;
            if uid == 0 || uid == u32::MAX {
                return Err(UidListError::BadEntry(lineno));
            }
            if uid <= prev {
                return Err(UidListError::NotAscending(lineno));
            }
            prev = uid;
            let (extensions, file_name) = if version == "3" {
                let colon = rest.find(':').ok_or(UidListError::BadEntry(lineno))?;
                let ext = rest[..colon].split(' ').filter(|e| !e.is_empty());
                (ext.map(str::to_owned).collect(), &rest[colon + 1..])
            } else {
                (Vec::new(), rest)
            };
            let bad = |t: &str| t.chars().any(char::is_control);
            if file_name.is_empty()
                || file_name.contains('/')
                || bad(file_name)
                || extensions.iter().any(|e: &String| bad(e))
            {
                return Err(UidListError::BadEntry(lineno));
            }
            list.records.push(UidRecord {
                uid,
                extensions,
                file_name: file_name.to_owned(),
            });
        }
        // Dovecot keeps N above every UID it has listed.
        if list.next_uid <= prev {
            list.next_uid = prev.saturating_add(1);
        }
        Ok(list)
    }

    /// Writes the version 3 form.
    pub fn encode(&self) -> String {
        let mut s = String::with_capacity(64 + self.records.len() * 64);
        let _ = write!(s, "3 V{} N{}", self.uid_validity, self.next_uid);
        if let Some(g) = &self.guid {
            let _ = write!(s, " G{g}");
        }
        for e in &self.header_extensions {
            s.push(' ');
            s.push_str(e);
        }
        s.push('\n');
        for r in &self.records {
            let _ = write!(s, "{}", r.uid);
            for e in &r.extensions {
                s.push(' ');
                s.push_str(e);
            }
            s.push_str(" :");
            s.push_str(&r.file_name);
            s.push('\n');
        }
        s
    }
}

fn num(s: Option<&str>) -> Option<u32> {
    let s = s?;
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const WIKI: &str = "3 V1275660208 N25022 G3085f01b7f11094c501100008c4a11c1\n\
25006 :1276528487.M364837P9451.kurkku,S=1355,W=1394:2,\n\
25017 W2481 :1276533073.M242911P3632.kurkku:2,F\n";

    #[test]
    fn wiki_example() {
        let l = UidList::parse(WIKI).unwrap();
        assert_eq!((l.uid_validity, l.next_uid), (1_275_660_208, 25022));
        assert_eq!(l.guid.as_deref(), Some("3085f01b7f11094c501100008c4a11c1"));
        assert_eq!(l.records[1].uid, 25017);
        assert_eq!(l.records[1].extensions, ["W2481"]);
        assert_eq!(l.records[1].base(), "1276533073.M242911P3632.kurkku");
        assert_eq!(l.encode(), WIKI);
    }

    #[test]
    fn version1_and_errors() {
        let l = UidList::parse("1 100 5\n3 abc\n4 def:2,S\n").unwrap();
        assert_eq!(l.records.len(), 2);
        assert_eq!(l.records[1].base(), "def");
        assert_eq!(UidList::parse(""), Err(UidListError::BadHeader));
        assert_eq!(
            UidList::parse("3 V1 N2\n2 :a\n1 :b\n"),
            Err(UidListError::NotAscending(3))
        );
        assert_eq!(
            UidList::parse("3 V1 N2\nx :a\n"),
            Err(UidListError::BadEntry(2))
        );
        assert_eq!(
            UidList::parse("1 100 5\n3 N\r\r\n"),
            Err(UidListError::BadEntry(2))
        );
        // A partial last line (writer still appending) is ignored; N is raised over the UIDs.
        let l = UidList::parse("3 V1 N1\n7 :a\n8 :b").unwrap();
        assert_eq!((l.records.len(), l.next_uid), (1, 8));
    }

    proptest! {
        #[test]
        fn round_trip(v in 1u32.., names in proptest::collection::vec("[0-9a-zA-Z.,=]{1,20}", 0..10)) {
            let mut l = UidList::new(v, Some("00112233445566778899aabbccddeeff".into()));
            for (i, n) in names.iter().enumerate() {
                l.records.push(UidRecord { uid: i as u32 * 2 + 1, extensions: vec![], file_name: n.clone() });
            }
            l.next_uid = names.len() as u32 * 2 + 1;
            let text = l.encode();
            prop_assert_eq!(UidList::parse(&text).unwrap(), l);
        }

        #[test]
        fn never_panics(s in "\\PC{0,200}") {
            let _ = UidList::parse(&s);
        }
    }
}
