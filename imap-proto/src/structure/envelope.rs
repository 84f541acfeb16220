//! ENVELOPE (RFC 3501 §7.4.2) from a header block, and the two ways Dovecot 2.3 turns header
//! text into IMAP strings.
//!
//! ```text
//! envelope        = "(" env-date SP env-subject SP env-from SP
//!                   env-sender SP env-reply-to SP env-to SP env-cc SP
//!                   env-bcc SP env-in-reply-to SP env-message-id ")"
//! ```
//! (RFC 3501 §9.)
//!
//! Conventions (RFC 3501 leaves them open; these are Dovecot 2.3's, `imap-envelope.c` and
//! `message-part-data.c`):
//! - when a field occurs more than once, the addresses of all its occurrences are listed, and
//!   of the other fields the last one counts;
//! - values are sent as written: encoded words (RFC 2047) are not decoded, which §7.4.2 allows
//!   ("the fields of the envelope structure are ... as they appear in the message");
//! - env-subject and every addr-name are cleaned "for humans": line breaks and HTAB become
//!   spaces, runs of white space one space, leading and trailing white space go, and NUL
//!   becomes 0x80;
//! - env-date, env-in-reply-to and env-message-id keep their text, line breaks removed (a space
//!   is put in when the next line does not start with white space);
//! - a NUL anywhere else becomes U+FFFD;
//! - env-sender and env-reply-to default to env-from when absent (RFC 3501 §7.4.2).

use crate::types::body::{Address, Envelope};
use crate::types::core::{IString, NString, Vec1};

use super::address::{self, Addr};
use super::header::fields;
use super::lexer::REPLACEMENT;

/// Makes an IMAP string of any octets (NUL becomes U+FFFD, the one octet a string cannot hold).
pub(crate) fn istring(mut v: Vec<u8>) -> IString<'static> {
    if v.contains(&0) {
        v = replace_nul(&v);
    }
    IString::from_bytes(v).unwrap_or_else(|_| IString::from_bytes(&b""[..]).expect("empty string"))
}

/// `nstring` of `v`.
pub(crate) fn nstring(v: Option<Vec<u8>>) -> NString<'static> {
    NString(v.map(istring))
}

/// NUL octets replaced with U+FFFD (Dovecot's `message_header_strdup`).
pub(crate) fn replace_nul(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() + 2);
    for &c in v {
        if c == 0 {
            out.extend_from_slice(REPLACEMENT);
        } else {
            out.push(c);
        }
    }
    out
}

/// Line breaks removed; a space is put in when the next line does not start with white space
/// (Dovecot's `imap_append_nstring_nolf`).
pub(crate) fn without_newlines(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    for (i, &c) in v.iter().enumerate() {
        if c != b'\r' && c != b'\n' {
            out.push(c);
        } else if !matches!(v.get(i + 1), None | Some(b' ' | b'\t' | b'\r' | b'\n')) {
            out.push(b' ');
        }
    }
    out
}

/// Text cleaned for humans (Dovecot's `imap_append_string_for_humans`): CR, LF, HTAB and SP
/// runs become one space, leading and trailing white space is dropped, NUL becomes 0x80.
pub(crate) fn for_humans(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut last_lwsp = true;
    for &c in v {
        match c {
            0 => {
                out.push(0x80);
                last_lwsp = false;
            }
            b'\r' | b'\n' | b'\t' | b' ' => {
                if !last_lwsp {
                    out.push(b' ');
                }
                last_lwsp = true;
            }
            _ => {
                out.push(c);
                last_lwsp = false;
            }
        }
    }
    if last_lwsp && out.last() == Some(&b' ') {
        out.pop();
    }
    out
}

/// The envelope fields of a header block, last occurrence winning.
#[derive(Debug, Default)]
struct Fields {
    date: Option<Vec<u8>>,
    subject: Option<Vec<u8>>,
    from: Option<Vec<Addr>>,
    sender: Option<Vec<Addr>>,
    reply_to: Option<Vec<Addr>>,
    to: Option<Vec<Addr>>,
    cc: Option<Vec<Addr>>,
    bcc: Option<Vec<Addr>>,
    in_reply_to: Option<Vec<u8>>,
    message_id: Option<Vec<u8>>,
}

/// Adds the addresses of one more occurrence of a field.
fn append(list: &mut Option<Vec<Addr>>, value: &[u8]) {
    let more = address::parse(value);
    if !more.is_empty() {
        list.get_or_insert_with(Vec::new).extend(more);
    }
}

fn address_list(list: Option<&Vec<Addr>>) -> Option<Vec1<Address<'static>>> {
    let list = list?;
    Vec1::try_from(
        list.iter()
            .map(|a| Address {
                name: NString(a.name.as_deref().map(|n| istring(for_humans(n)))),
                adl: nstring(a.route.clone()),
                mailbox: nstring(a.mailbox.clone()),
                host: nstring(a.domain.clone()),
            })
            .collect::<Vec<_>>(),
    )
    .ok()
}

/// ENVELOPE of a header block.
pub fn envelope(header: &[u8]) -> Envelope<'static> {
    let mut f = Fields::default();
    for field in fields(header) {
        let v = field.value;
        let n = field.name;
        let eq = |s: &str| n.eq_ignore_ascii_case(s.as_bytes());
        if eq("Date") {
            f.date = Some(replace_nul(v));
        } else if eq("Subject") {
            f.subject = Some(replace_nul(v));
        } else if eq("From") {
            append(&mut f.from, v);
        } else if eq("Sender") {
            append(&mut f.sender, v);
        } else if eq("Reply-To") {
            append(&mut f.reply_to, v);
        } else if eq("To") {
            append(&mut f.to, v);
        } else if eq("Cc") {
            append(&mut f.cc, v);
        } else if eq("Bcc") {
            append(&mut f.bcc, v);
        } else if eq("In-Reply-To") {
            f.in_reply_to = Some(replace_nul(v));
        } else if eq("Message-ID") {
            f.message_id = Some(replace_nul(v));
        }
    }
    Envelope {
        date: nstring(f.date.as_deref().map(without_newlines)),
        subject: NString(f.subject.as_deref().map(|s| istring(for_humans(s)))),
        from: address_list(f.from.as_ref()),
        sender: address_list(f.sender.as_ref().or(f.from.as_ref())),
        reply_to: address_list(f.reply_to.as_ref().or(f.from.as_ref())),
        to: address_list(f.to.as_ref()),
        cc: address_list(f.cc.as_ref()),
        bcc: address_list(f.bcc.as_ref()),
        in_reply_to: nstring(f.in_reply_to.as_deref().map(without_newlines)),
        message_id: nstring(f.message_id.as_deref().map(without_newlines)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humans_and_newlines() {
        assert_eq!(for_humans(b" \t "), b"");
        assert_eq!(for_humans(b"\t \tfoo  \t  \t"), b"foo");
        assert_eq!(for_humans(b"hello\r\nworld\0"), b"hello world\x80");
        assert_eq!(
            without_newlines(b"Mon, 7 Feb 1994\r\n 21:52:25"),
            b"Mon, 7 Feb 1994 21:52:25"
        );
        assert_eq!(without_newlines(b"a\nb"), b"a b");
    }

    #[test]
    fn last_field_wins_and_defaults() {
        let e = envelope(b"Subject: one\r\nSubject: two\r\nFrom: a@b\r\n\r\n");
        assert_eq!(e.subject.as_bytes(), Some(&b"two"[..]));
        assert_eq!(e.sender, e.from);
        assert_eq!(e.reply_to, e.from);
        assert_eq!(e.to, None);
    }
}
