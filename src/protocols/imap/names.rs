//! Mailbox names as IMAP spells them (RFC 3501 §5.1): the hierarchy delimiter is `/` (advertised
//! by `LIST "" ""`), names are modified UTF-7 (RFC 3501 §5.1.3) and stay so in the store's
//! [`MailboxName`]; INBOX is INBOX in any case. A name that is not valid modified UTF-7 or has an
//! empty level is refused here; what else the store cannot hold, it refuses itself.

use mailwright_imap_proto::types::mailbox::{Mailbox, decode_modified_utf7};

use crate::store::{MailboxName, StoreError};

/// The hierarchy delimiter.
pub(crate) const DELIMITER: u8 = b'/';

/// Why a name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadName(pub(crate) &'static str);

/// The store's name of a wire mailbox name.
pub(crate) fn resolve(mailbox: &Mailbox<'_>) -> Result<MailboxName, BadName> {
    if mailbox.is_inbox() {
        return Ok(MailboxName::inbox());
    }
    let Ok(wire) = std::str::from_utf8(mailbox.as_bytes()) else {
        return Err(BadName("mailbox name is not modified UTF-7"));
    };
    resolve_str(wire)
}

/// The store's name of a wire name (modified UTF-7 text); a trailing delimiter is dropped
/// (RFC 3501 §6.3.3: `CREATE a/` creates `a`).
pub(crate) fn resolve_str(wire: &str) -> Result<MailboxName, BadName> {
    if wire.eq_ignore_ascii_case("INBOX") {
        return Ok(MailboxName::inbox());
    }
    if decode_modified_utf7(wire.as_bytes()).is_err() {
        return Err(BadName("mailbox name is not valid modified UTF-7"));
    }
    let wire = wire.strip_suffix('/').unwrap_or(wire);
    MailboxName::new(wire).map_err(|e| match e {
        StoreError::InvalidName(why) => BadName(why),
        _ => BadName("invalid mailbox name"),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_and_bad_ones_are_refused() {
        let name = |s: &str| resolve_str(s).map(|n| n.as_str().to_owned());
        assert_eq!(name("inbox"), Ok("INBOX".into()));
        assert_eq!(name("A/B"), Ok("A/B".into()));
        assert_eq!(name("A/B/"), Ok("A/B".into()));
        assert_eq!(name("inbox/x"), Ok("INBOX/x".into()));
        assert_eq!(name("&ZeVnLIqe-"), Ok("&ZeVnLIqe-".into()));
        for bad in ["/etc", "a//b", "&Jjo!", "/"] {
            assert!(resolve_str(bad).is_err(), "{bad}");
        }
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
        /// a name that resolves keeps its levels.
        #[test]
        fn wildcard_laws(name in "[a-zA-Z0-9/&.%*-]{0,24}") {
            proptest::prop_assert!(matches(b"*", name.as_bytes()));
            if !name.contains(['%', '*']) {
                proptest::prop_assert!(matches(name.as_bytes(), name.as_bytes()));
            }
            proptest::prop_assert_eq!(matches(b"%", name.as_bytes()), !name.contains('/'));
            if let Ok(n) = resolve_str(&name) {
                proptest::prop_assert!(n.levels().all(|l| !l.is_empty()));
            }
        }
    }
}
