//! Mailbox names: the IMAP view of a Maildir++ store.
//!
//! - The hierarchy delimiter is `/` (RFC 3501 §5.1.1: advertised by `LIST "" ""`). Folder
//!   `.A.B` on disk is the mailbox `A/B`; INBOX is the Maildir root.
//! - Names stay in modified UTF-7 (RFC 3501 §5.1.3) on disk, as Dovecot stores them, so the wire
//!   name maps to the directory name without decoding; a name that is not valid modified UTF-7
//!   is refused.
//! - A component may not hold `.` (the Maildir++ separator), `\`, control characters, or be empty;
//!   so `..`, `/x`, `x//y` and every other path trick are refused before the file system sees them.

use mailwright_imap_proto::types::mailbox::{Mailbox, decode_modified_utf7};

/// The hierarchy delimiter.
pub(crate) const DELIMITER: u8 = b'/';

/// Where a mailbox name points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// The Maildir root.
    Inbox,
    /// A Maildir++ folder (name without the leading `.`, `.`-separated).
    Folder(String),
}

/// The IMAP name of a Maildir++ folder.
pub(crate) fn folder_to_imap(folder: &str) -> String {
    let mut parts = folder.split('.');
    let first = parts.next().unwrap_or_default();
    let mut out = if first.eq_ignore_ascii_case("INBOX") {
        "INBOX".to_owned()
    } else {
        first.to_owned()
    };
    for p in parts {
        out.push('/');
        out.push_str(p);
    }
    out
}

/// Why a name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadName(pub(crate) &'static str);

/// Maps a wire mailbox name to its target, validating it.
pub(crate) fn resolve(mailbox: &Mailbox<'_>) -> Result<Target, BadName> {
    if mailbox.is_inbox() {
        return Ok(Target::Inbox);
    }
    let Ok(wire) = std::str::from_utf8(mailbox.as_bytes()) else {
        return Err(BadName("mailbox name is not modified UTF-7"));
    };
    resolve_str(wire)
}

/// Maps a wire name (modified UTF-7 text) to its target.
pub(crate) fn resolve_str(wire: &str) -> Result<Target, BadName> {
    if wire.eq_ignore_ascii_case("INBOX") {
        return Ok(Target::Inbox);
    }
    if decode_modified_utf7(wire.as_bytes()).is_err() {
        return Err(BadName("mailbox name is not valid modified UTF-7"));
    }
    let wire = wire.strip_suffix('/').unwrap_or(wire);
    let mut parts = Vec::new();
    for (i, p) in wire.split('/').enumerate() {
        if p.is_empty() {
            return Err(BadName("empty hierarchy level in mailbox name"));
        }
        if p.contains(['.', '\\']) || p.chars().any(char::is_control) {
            return Err(BadName(
                "mailbox name holds a character not allowed here (. or \\)",
            ));
        }
        if i == 0 && p.eq_ignore_ascii_case("INBOX") {
            parts.push("INBOX");
        } else {
            parts.push(p);
        }
    }
    let folder = parts.join(".");
    if folder.len() > mailwright_maildir::MAX_FOLDER_NAME {
        return Err(BadName("mailbox name too long"));
    }
    if mailwright_maildir::validate_folder_name(&folder).is_err() {
        return Err(BadName("invalid mailbox name"));
    }
    Ok(Target::Folder(folder))
}

/// Whether `name` matches a LIST pattern (RFC 3501 §6.3.8): `*` matches anything, `%` anything but
/// the delimiter. INBOX matches case-insensitively.
pub(crate) fn matches(pattern: &[u8], name: &[u8]) -> bool {
    let name_owned;
    let name = if name.len() >= 5 && name[..5].eq_ignore_ascii_case(b"INBOX") {
        name_owned = [b"INBOX", &name[5..]].concat();
        &name_owned[..]
    } else {
        name
    };
    let pat_owned;
    let pattern = if pattern.len() >= 5 && pattern[..5].eq_ignore_ascii_case(b"INBOX") {
        pat_owned = [b"INBOX", &pattern[5..]].concat();
        &pat_owned[..]
    } else {
        pattern
    };
    glob(pattern, name)
}

/// Whether `name` would match the pattern if `%` crossed the delimiter like `*`: a subscribed
/// `foo/bar` that `%` stopped at `foo` (RFC 3501 §6.3.9).
pub(crate) fn matches_across(pattern: &[u8], name: &[u8]) -> bool {
    let star: Vec<u8> = pattern
        .iter()
        .map(|&c| if c == b'%' { b'*' } else { c })
        .collect();
    matches(&star, name)
}

fn glob(p: &[u8], n: &[u8]) -> bool {
    // Dynamic programming over (pattern, name) prefixes: O(|p|·|n|), no backtracking blow-up.
    // `ok[j]`: the pattern so far matches `n[..j]`.
    let mut ok = vec![false; n.len() + 1];
    ok[0] = true;
    for &c in p {
        let mut next = vec![false; n.len() + 1];
        match c {
            b'*' | b'%' => {
                let mut reach = false;
                for j in 0..=n.len() {
                    if c == b'%' && j > 0 && n[j - 1] == DELIMITER {
                        reach = false;
                    }
                    reach |= ok[j];
                    next[j] = reach;
                }
            }
            _ => {
                for j in 1..=n.len() {
                    next[j] = ok[j - 1] && n[j - 1] == c;
                }
            }
        }
        ok = next;
    }
    ok[n.len()]
}

/// The SPECIAL-USE attribute of a top-level mailbox (RFC 6154 §2), by its conventional name.
pub(crate) fn special_use(name: &str) -> Option<&'static str> {
    Some(match name {
        "Sent" => "Sent",
        "Drafts" => "Drafts",
        "Trash" => "Trash",
        "Junk" => "Junk",
        "Archive" => "Archive",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_and_traversal_is_refused() {
        assert_eq!(resolve_str("inbox"), Ok(Target::Inbox));
        assert_eq!(resolve_str("A/B"), Ok(Target::Folder("A.B".into())));
        assert_eq!(resolve_str("inbox/x"), Ok(Target::Folder("INBOX.x".into())));
        assert_eq!(
            resolve_str("&ZeVnLIqe-"),
            Ok(Target::Folder("&ZeVnLIqe-".into()))
        );
        for bad in ["..", "a/../b", "/etc", "a//b", "a.b", "a\\b", "&Jjo!", ".x"] {
            assert!(resolve_str(bad).is_err(), "{bad}");
        }
        assert_eq!(folder_to_imap("A.B"), "A/B");
    }

    #[test]
    fn wildcards() {
        assert!(matches(b"*", b"A/B"));
        assert!(!matches(b"%", b"A/B"));
        assert!(matches(b"A/%", b"A/B"));
        assert!(matches(b"inbox", b"INBOX"));
        assert!(matches(b"%", b"INBOX"));
        assert!(!matches(b"A/%", b"A/B/C"));
        assert!(matches(b"A*", b"A/B/C"));
        assert!(matches(b"*B", b"A/B"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// `*` matches every name, a name matches itself, `%` never crosses the delimiter, and
        /// resolving any name either refuses it or gives a folder name the maildir crate accepts.
        #[test]
        fn wildcard_laws(name in "[a-zA-Z0-9/&.%*-]{0,24}") {
            proptest::prop_assert!(matches(b"*", name.as_bytes()));
            if !name.contains(['%', '*']) {
                proptest::prop_assert!(matches(name.as_bytes(), name.as_bytes()));
            }
            proptest::prop_assert_eq!(matches(b"%", name.as_bytes()), !name.contains('/'));
            if let Ok(Target::Folder(f)) = resolve_str(&name) {
                proptest::prop_assert!(mailwright_maildir::validate_folder_name(&f).is_ok());
                proptest::prop_assert!(!f.contains(['/', '\\']) && !f.contains(".."));
            }
        }
    }
}
