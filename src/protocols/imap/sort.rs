//! SORT and UID SORT (RFC 5256 §3) with SORT=DISPLAY (RFC 5957) and ESORT results (RFC 5267).
//!
//! Strings compare in the `i;unicode-casemap` collation (RFC 5051, module `mime`), which
//! I18NLEVEL=1 asks of SORT (RFC 5256 §1, RFC 5255 §4). Messages equal on every criterion keep
//! their mailbox order (RFC 5256 §3). A message reads what its keys need, once: its header for
//! the header keys (from the store's index; module `keys` keeps what is worked out of it per
//! folder, so that a folder's next SORT reads no header), its INTERNALDATE for ARRIVAL (and
//! for DATE when it has no valid Date:), its size from the store.

use std::cmp::Ordering;

use super::fetch::{internal_date, load};
use super::keys::Keys;
use super::mime::{decode_words, normalize};
use super::selected::Selected;
use crate::store::summary::HeaderKeys;
use mailwright_imap_proto::structure::{self, Field};
use mailwright_imap_proto::types::sort::{SortCriterion, SortKey};

/// The base subject of a Subject: value (RFC 5256 §2.1) in the `i;unicode-casemap` form, and
/// whether it was marked a reply or a forward (the leaders, `(fwd)` and `[fwd: ...]` it lost).
///
/// ```text
/// subj-trailer    = "(fwd)" / WSP
/// subj-fwd-hdr    = "[fwd:"
/// subj-fwd-trl    = "]"
/// subj-blob       = "[" *BLOBCHAR "]" *WSP
/// subj-refwd      = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
/// subj-leader     = (*subj-blob subj-refwd) / WSP
/// BLOBCHAR        = %x01-5a / %x5c / %x5e-ff
/// ```
/// (RFC 5256 §5.)
pub(crate) fn base_subject(raw: &[u8]) -> (String, bool) {
    // §2.1 (1): encoded words decoded, tabs and line breaks made spaces, runs made one space.
    // The collation's form first: it titlecases, so the markers below are upper case.
    let decoded = normalize(decode_words(raw).as_bytes());
    let mut s = String::with_capacity(decoded.len());
    for c in decoded.chars() {
        let c = if matches!(c, '\t' | '\r' | '\n') {
            ' '
        } else {
            c
        };
        if c == ' ' && s.ends_with(' ') {
            continue;
        }
        s.push(c);
    }
    let mut marked = false;
    loop {
        // (2) Trailers.
        loop {
            if s.ends_with(' ') {
                s.pop();
            } else if s.ends_with("(FWD)") {
                s.truncate(s.len() - 5);
                marked = true;
            } else {
                break;
            }
        }
        // (3) to (5): leaders and blobs, as long as either goes.
        loop {
            let before = s.len();
            if let Some(n) = leader(&s) {
                if n > 0 && s.as_bytes()[0] != b' ' {
                    marked = true;
                }
                s.drain(..n);
            }
            if let Some(n) = blob(&s)
                && s[n..].chars().any(|c| c != ' ')
            {
                s.drain(..n);
            }
            if s.len() == before {
                break;
            }
        }
        // (6) A forward wrapper: unwrap and start again at (2).
        if s.len() >= 6 && s.starts_with("[FWD:") && s.ends_with(']') {
            s = s[5..s.len() - 1].to_owned();
            marked = true;
            continue;
        }
        return (s, marked);
    }
}

/// The length of a `subj-blob` at the start of `s`.
fn blob(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if b.first() != Some(&b'[') {
        return None;
    }
    let close = b[1..].iter().position(|&c| c == b'[' || c == b']')? + 1;
    if b[close] != b']' {
        return None;
    }
    let mut n = close + 1;
    while b.get(n) == Some(&b' ') {
        n += 1;
    }
    Some(n)
}

/// The length of a `subj-leader` at the start of `s` (upper case, spaces single).
fn leader(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if b.first() == Some(&b' ') {
        return Some(1);
    }
    let mut n = 0;
    while let Some(k) = blob(&s[n..]) {
        n += k;
    }
    let rest = &b[n..];
    let word = if rest.starts_with(b"RE") {
        2
    } else if rest.starts_with(b"FWD") {
        3
    } else if rest.starts_with(b"FW") {
        2
    } else {
        return None;
    };
    n += word;
    while b.get(n) == Some(&b' ') {
        n += 1;
    }
    if let Some(k) = blob(&s[n..]) {
        n += k;
    }
    (b.get(n) == Some(&b':')).then_some(n + 1)
}

/// One message's value for one criterion.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Value {
    Number(i64),
    Text(String),
}

/// The first field called `name`.
pub(crate) fn field<'f>(fields: &'f [Field<'_>], name: &str) -> Option<&'f Field<'f>> {
    fields
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))
}

/// The first address of an address field; a group's start marker (its name in `mailbox`) too,
/// as Dovecot takes it.
fn first_address(fields: &[Field<'_>], name: &str) -> Option<structure::address::Addr> {
    let f = field(fields, name)?;
    structure::address::parse(f.value).into_iter().next()
}

/// FROM, TO, CC: the first address's `addr-mailbox` (RFC 5256 §3).
pub(crate) fn mailbox_key(fields: &[Field<'_>], name: &str) -> String {
    first_address(fields, name)
        .and_then(|a| a.mailbox)
        .map(|m| normalize(&m))
        .unwrap_or_default()
}

/// DISPLAYFROM, DISPLAYTO: the first address's decoded display name, or when it has none its
/// `mailbox@host` (RFC 5957 §3).
pub(crate) fn display_key(fields: &[Field<'_>], name: &str) -> String {
    let Some(a) = first_address(fields, name) else {
        return String::new();
    };
    if let Some(n) = a.name.as_deref().map(decode_words)
        && !n.is_empty()
    {
        return normalize(n.as_bytes());
    }
    match (a.mailbox, a.domain) {
        (Some(m), Some(d)) => {
            let mut v = m;
            v.push(b'@');
            v.extend_from_slice(&d);
            normalize(&v)
        }
        (Some(m), None) => normalize(&m),
        _ => String::new(),
    }
}

/// The sent date in seconds: the (last) Date: field; `None` when it has no valid one, and the
/// INTERNALDATE is used (RFC 5256 §3, DATE).
pub(crate) fn sent_date_of(fields: &[Field<'_>]) -> Option<i64> {
    fields
        .iter()
        .rev()
        .find(|f| f.name.eq_ignore_ascii_case(b"Date"))
        .and_then(|f| mail_parser::DateTime::parse_rfc822(&String::from_utf8_lossy(&f.unfolded())))
        .filter(mail_parser::DateTime::is_valid)
        .map(|d| d.to_timestamp())
}

/// The values of message `i` for `criteria`.
fn values(sel: &Selected, keys: &Keys<'_>, i: usize, criteria: &[SortCriterion]) -> Vec<Value> {
    let uid = sel.msgs[i].uid;
    let needs_header = criteria
        .iter()
        .any(|c| !matches!(c.key, SortKey::Arrival | SortKey::Size));
    let header = needs_header.then(|| keys.get(i));
    let text = |pick: fn(&HeaderKeys) -> &str| {
        Value::Text(header.as_deref().map(pick).unwrap_or_default().to_owned())
    };
    let internal = || internal_date(&*sel.mailbox, uid).unwrap_or(0);
    criteria
        .iter()
        .map(|c| match c.key {
            SortKey::Arrival => Value::Number(internal()),
            SortKey::Date => Value::Number(
                header
                    .as_ref()
                    .and_then(|h| h.sent_date)
                    .unwrap_or_else(internal),
            ),
            SortKey::Size => Value::Number(
                i64::try_from(sel.msgs[i].size.unwrap_or_else(|| {
                    load(&*sel.mailbox, uid).map_or(0, |l| l.text.len() as u64)
                }))
                .unwrap_or(i64::MAX),
            ),
            SortKey::Subject => text(|h| &h.subject),
            SortKey::From => text(|h| &h.from),
            SortKey::To => text(|h| &h.to),
            SortKey::Cc => text(|h| &h.cc),
            SortKey::DisplayFrom => text(|h| &h.display_from),
            SortKey::DisplayTo => text(|h| &h.display_to),
        })
        .collect()
}

/// The indexes of `hits` in the order `criteria` asks.
pub(crate) fn sort(sel: &Selected, hits: &[usize], criteria: &[SortCriterion]) -> Vec<usize> {
    let keys = Keys::new(sel);
    let mut keyed: Vec<(Vec<Value>, usize)> = hits
        .iter()
        .map(|&i| (values(sel, &keys, i, criteria), i))
        .collect();
    keyed.sort_by(|(a, i), (b, j)| {
        for ((x, y), c) in a.iter().zip(b).zip(criteria) {
            let o = x.cmp(y);
            if o != Ordering::Equal {
                return if c.reverse { o.reverse() } else { o };
            }
        }
        i.cmp(j)
    });
    keyed.into_iter().map(|(_, i)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::base_subject;

    fn base(s: &str) -> (String, bool) {
        base_subject(s.as_bytes())
    }

    #[test]
    fn base_subjects_per_rfc5256() {
        for (raw, want, marked) in [
            ("afternoon meeting", "AFTERNOON MEETING", false),
            ("Re: afternoon meeting", "AFTERNOON MEETING", true),
            (
                "RE:  Re: re:afternoon   meeting ",
                "AFTERNOON MEETING",
                true,
            ),
            ("Fwd: afternoon meeting (fwd)", "AFTERNOON MEETING", true),
            ("Fw: x", "X", true),
            ("[list] Re: [other] x", "X", true),
            ("Re [list]: x", "X", true),
            ("[Fwd: Re: x]", "X", true),
            ("[Fwd: [list] x] (fwd)", "X", true),
            // A blob alone is the subject; a blob before text goes.
            ("[list]", "[LIST]", false),
            ("[list] x", "X", false),
            ("[a][b] x", "X", false),
            ("\t  x\t y  ", "X Y", false),
            ("", "", false),
            ("Re:", "", true),
            ("Reply: x", "REPLY: X", false),
            ("=?utf-8?q?Re:_caf=C3=A9?=", "CAFE\u{301}", true),
            ("Résumé", "RE\u{301}SUME\u{301}", false),
            ("[fwd: x", "[FWD: X", false),
        ] {
            assert_eq!(base(raw), (want.to_owned(), marked), "{raw:?}");
        }
    }
}
