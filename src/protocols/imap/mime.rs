//! The decoded text SEARCH matches (RFC 3501 §6.4.4), as Dovecot 2.3 decodes it.
//!
//! RFC 3501 asks for case-insensitive substring matching and leaves the rest to the server. So
//! that a mailbox answers the same sets from us as from Dovecot, the rules are Dovecot's
//! (`message-search.c`, `message-decoder.c`, `message-header-decode.c`, `index-search.c`):
//! - text is compared after the `i;unicode-casemap` normalisation of RFC 5051: every character
//!   titlecased, then decomposed (NFKD); invalid UTF-8 is U+FFFD; the key gets the same;
//! - header values are unfolded, their RFC 2047 encoded words decoded (white space between two
//!   encoded words dropped), unencoded octets taken as UTF-8;
//! - a body is decoded from its Content-Transfer-Encoding (base64, quoted-printable) and its
//!   charset; only parts whose type is `text/*` or `message/*` (or that have no Content-Type)
//!   are searched, never the preamble or epilogue of a multipart;
//! - BODY looks at those bodies; TEXT at every part's header and body, each part one text;
//!   SUBJECT at the Subject fields with white space runs made one space; FROM, TO, CC and BCC at
//!   the addresses parsed and written back (`Name <user@domain>`); HEADER at the raw value.
//!   An empty key for a header only asks that the field exists; BODY "" and TEXT "" match all.

use icu_normalizer::DecomposingNormalizerBorrowed;
use mail_parser::decoders::charsets::map::charset_decoder;
use mailwright_imap_proto::structure::{self, Field, Message, Part, fields};

/// The titlecase of `c` (Unicode's simple mapping, approximated by a one-character uppercase).
fn titlecase(c: char) -> char {
    match c {
        // The digraphs whose titlecase is not their uppercase.
        '\u{1c4}'..='\u{1c6}' => '\u{1c5}',
        '\u{1c7}'..='\u{1c9}' => '\u{1c8}',
        '\u{1ca}'..='\u{1cc}' => '\u{1cb}',
        '\u{1f1}'..='\u{1f3}' => '\u{1f2}',
        _ => {
            let mut up = c.to_uppercase();
            match (up.next(), up.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        }
    }
}

/// RFC 5051 `i;unicode-casemap` form of `bytes` (UTF-8, invalid sequences U+FFFD).
pub(crate) fn normalize(bytes: &[u8]) -> String {
    let nfkd = DecomposingNormalizerBorrowed::new_nfkd();
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    let mut one = String::new();
    for c in text.chars() {
        if c == '\u{fffd}' && out.ends_with('\u{fffd}') {
            continue;
        }
        one.clear();
        one.push(titlecase(c));
        out.push_str(&nfkd.normalize(&one));
    }
    out
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Base64 with everything outside the alphabet skipped (RFC 2045 §6.8 asks decoders to ignore
/// it); decoding stops at "=".
pub(crate) fn base64(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() * 3 / 4);
    let mut acc = 0u32;
    let mut n = 0;
    for &c in data {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        n += 1;
        if n == 4 {
            out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            acc = 0;
            n = 0;
        }
    }
    match n {
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => {}
    }
    out
}

/// Quoted-printable (RFC 2045 §6.7): `=XX`, soft line breaks, trailing white space of a line
/// dropped; a malformed "=" stays as it is. With `q`, the encoded-word form (RFC 2047 §4.2:
/// "_" is a space).
pub(crate) fn quoted_printable(data: &[u8], q: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        let c = data[i];
        match c {
            b'=' => {
                if let (Some(a), Some(b)) = (
                    data.get(i + 1).copied().and_then(hex),
                    data.get(i + 2).copied().and_then(hex),
                ) {
                    out.push(a << 4 | b);
                    i += 3;
                    continue;
                }
                // A soft line break: "=" and white space up to the line end.
                let mut j = i + 1;
                while matches!(data.get(j), Some(b' ' | b'\t')) {
                    j += 1;
                }
                match (data.get(j), data.get(j + 1)) {
                    (Some(b'\r'), Some(b'\n')) => i = j + 2,
                    (Some(b'\n'), _) => i = j + 1,
                    (None, _) => i = j,
                    _ => {
                        out.push(c);
                        i += 1;
                    }
                }
            }
            b'_' if q => {
                out.push(b' ');
                i += 1;
            }
            b' ' | b'\t' if !q => {
                let mut j = i;
                while matches!(data.get(j), Some(b' ' | b'\t')) {
                    j += 1;
                }
                if !matches!(data.get(j), None | Some(b'\r' | b'\n')) {
                    out.extend_from_slice(&data[i..j]);
                }
                i = j;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// `data` in `charset`, as UTF-8 (unknown charsets are taken as UTF-8).
fn to_utf8(data: &[u8], charset: Option<&[u8]>) -> String {
    match charset.and_then(|c| {
        let c = c.split(|&b| b == b'*').next().unwrap_or(c);
        if c.eq_ignore_ascii_case(b"utf-8") || c.eq_ignore_ascii_case(b"us-ascii") {
            None
        } else {
            charset_decoder(c)
        }
    }) {
        Some(decode) => decode(data),
        None => String::from_utf8_lossy(data).into_owned(),
    }
}

/// A header value with its RFC 2047 encoded words decoded (RFC 2047 §6.2: white space between
/// adjacent encoded words is dropped), as UTF-8.
pub(crate) fn decode_words(data: &[u8]) -> String {
    let mut out = String::new();
    let mut start = 0;
    let mut pos = 0;
    while pos + 1 < data.len() {
        if data[pos] != b'=' || data[pos + 1] != b'?' {
            pos += 1;
            continue;
        }
        let gap = &data[start..pos];
        let rest = &data[pos + 2..];
        // "charset?encoding?text?="
        let mut marks = Vec::with_capacity(3);
        for (i, &c) in rest.iter().enumerate() {
            if c == b'?' {
                marks.push(i);
                if marks.len() == 3 {
                    break;
                }
            }
        }
        let word = match marks.as_slice() {
            [m0, m1, m2] if rest.get(m2 + 1) == Some(&b'=') => {
                let charset = &rest[..*m0];
                let text = &rest[m1 + 1..*m2];
                let decoded = match rest.get(m0 + 1) {
                    Some(b'q' | b'Q') => Some(quoted_printable(text, true)),
                    Some(b'b' | b'B') => Some(base64(text)),
                    _ => None,
                };
                decoded.map(|d| (to_utf8(&d, Some(charset)), m2 + 2))
            }
            _ => None,
        };
        match word {
            Some((text, used)) => {
                if !gap
                    .iter()
                    .all(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
                {
                    out.push_str(&String::from_utf8_lossy(gap));
                }
                out.push_str(&text);
                pos += 2 + used;
                start = pos;
            }
            None => pos += 2,
        }
    }
    out.push_str(&String::from_utf8_lossy(&data[start..]));
    out
}

/// Whether a Content-Type value makes a body searchable: `text/*`, `message/*`, or no
/// Content-Type at all.
fn searchable(content_type: Option<&[u8]>) -> bool {
    content_type.is_none_or(|v| {
        let (ct, _) = structure::content_type(v);
        (ct.len() >= 5 && ct[..5].eq_ignore_ascii_case(b"text/"))
            || (ct.len() >= 8 && ct[..8].eq_ignore_ascii_case(b"message/"))
    })
}

/// The decoded body of a leaf part, as UTF-8, if it is searched.
fn body_text(data: &[u8], part: &Part) -> Option<String> {
    if part.is_multipart() || part.is_message() {
        return None;
    }
    let header = &data[part.header()];
    let mut content_type = None;
    let mut encoding = None;
    for f in fields(header) {
        if f.name.eq_ignore_ascii_case(b"Content-Type") {
            content_type = Some(f.value);
        } else if f.name.eq_ignore_ascii_case(b"Content-Transfer-Encoding") && encoding.is_none() {
            encoding = Some(f.value);
        }
    }
    if !searchable(content_type) {
        return None;
    }
    let raw = &data[part.body()];
    let enc = encoding.map(|e| {
        let e = String::from_utf8_lossy(e);
        e.split(|c: char| c.is_ascii_whitespace() || c == '(' || c == ';')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase()
    });
    let decoded = match enc.as_deref() {
        Some("base64") => base64(raw),
        Some("quoted-printable") => quoted_printable(raw, false),
        _ => raw.to_vec(),
    };
    let charset = content_type.and_then(|v| {
        structure::content_type(v)
            .1
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(b"charset"))
            .map(|(_, v)| v)
    });
    Some(to_utf8(&decoded, charset.as_deref()))
}

/// The text of a part's header as TEXT searches it: every field unfolded and decoded, each
/// line ended with CRLF, then the empty line.
fn header_text(data: &[u8], part: &Part) -> String {
    let mut s = String::new();
    for f in fields(&data[part.header()]) {
        s.push_str(&String::from_utf8_lossy(f.name));
        s.push_str(&String::from_utf8_lossy(f.middle));
        s.push_str(&decode_words(&f.unfolded()));
        s.push_str("\r\n");
    }
    if part.header_ends_with_empty_line() {
        s.push_str("\r\n");
    }
    s
}

fn part_contains(data: &[u8], part: &Part, key: &str, headers: bool) -> bool {
    let mut text = if headers {
        header_text(data, part)
    } else {
        String::new()
    };
    if let Some(b) = body_text(data, part) {
        text.push_str(&b);
    }
    if !text.is_empty() && normalize(text.as_bytes()).contains(key) {
        return true;
    }
    part.children()
        .iter()
        .any(|c| part_contains(data, c, key, headers))
}

/// BODY (`headers == false`) or TEXT: whether the message holds `key` (already normalised).
pub(crate) fn message_contains(msg: &Message<'_>, key: &str, headers: bool) -> bool {
    part_contains(msg.data(), msg.root(), key, headers)
}

/// How a header key compares a field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderMatch {
    /// HEADER: the value as it is.
    Raw,
    /// SUBJECT: white space runs made one space.
    CompressSpace,
    /// FROM, TO, CC, BCC: the addresses, parsed and written back.
    Address,
}

/// Whether a field `name` of a header holds `key` (already normalised; empty: the field exists).
pub(crate) fn header_contains(
    fields: &[Field<'_>],
    name: &str,
    key: &str,
    how: HeaderMatch,
) -> bool {
    fields
        .iter()
        .filter(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))
        .any(|f| key.is_empty() || field_value(f, how).contains(key))
}

/// A field's value as header keys compare it (with [`header_contains`]): decoded and collated,
/// spaces compressed or addresses rewritten as `how` says.
pub(crate) fn field_value(f: &Field<'_>, how: HeaderMatch) -> String {
    let unfolded = f.unfolded();
    let value = match how {
        HeaderMatch::Raw => unfolded,
        HeaderMatch::CompressSpace => {
            let mut out = Vec::with_capacity(unfolded.len());
            let mut prev_space = true;
            for &c in &unfolded {
                if matches!(c, b' ' | b'\t') {
                    if !prev_space {
                        out.push(b' ');
                    }
                    prev_space = true;
                } else {
                    out.push(c);
                    prev_space = false;
                }
            }
            out
        }
        HeaderMatch::Address => structure::address::write(&structure::address::parse(&unfolded)),
    };
    normalize(decode_words(&value).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casemap() {
        assert_eq!(normalize("Café".as_bytes()), "CAFE\u{301}");
        assert!(normalize("café crème".as_bytes()).contains(&normalize(b"cafe")));
        assert!(!normalize("crème".as_bytes()).contains(&normalize(b"creme")));
        assert_eq!(normalize(b"stra\xdfe"), "STRA\u{fffd}E");
    }

    #[test]
    fn encoded_words() {
        assert_eq!(
            decode_words(b"=?utf-8?q?caf=C3=A9?= =?utf-8?b?Y3LDqG1l?="),
            "cafécrème"
        );
        assert_eq!(decode_words(b"a =?ISO-8859-1?Q?Andr=E9?= b"), "a André b");
        assert_eq!(decode_words(b"=?bogus"), "=?bogus");
    }

    #[test]
    fn transfer_encodings() {
        assert_eq!(base64(b"Y2Fm\r\nw6k="), "café".as_bytes());
        assert_eq!(
            quoted_printable(b"caf=C3=A9 =\r\nplain  \r\nx", false),
            b"caf\xc3\xa9 plain\r\nx"
        );
    }

    #[test]
    fn text_and_body() {
        let raw = b"Subject: =?utf-8?q?caf=C3=A9?=\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\npreamble word\r\n--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nAndr=E9\r\n--b\r\nContent-Type: image/png\r\n\r\nhidden\r\n--b--\r\n";
        let m = Message::parse(raw);
        let has = |k: &str, h| message_contains(&m, &normalize(k.as_bytes()), h);
        assert!(has("andré", false));
        assert!(!has("preamble", false));
        assert!(!has("hidden", false));
        assert!(!has("café", false));
        assert!(has("café", true));
        assert!(has("subject: caf", true));
        let header: Vec<Field<'_>> = fields(&m.data()[m.root().header()]).collect();
        assert!(header_contains(
            &header,
            "Subject",
            &normalize(b"CAFE"),
            HeaderMatch::CompressSpace
        ));
    }
}
