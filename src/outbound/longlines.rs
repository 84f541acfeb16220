//! Lines no longer than RFC 5322 allows in what leaves the host.
//!
//! Mail is taken with lines up to `limits.max_line_length` (64 KiB by default; Postfix takes any
//! length) and stored as it came. What is relayed onward must not have a line over 998 octets
//! (RFC 5322 §2.1.1, RFC 5321 §4.5.3.1.6), so a queued message with a longer line is rewritten
//! before it is signed and queued:
//!
//! - a body part with an identity encoding (none, `7bit`, `8bit`, `binary`) and a long line is
//!   re-encoded as quoted-printable (RFC 2045 §6.7), its `Content-Transfer-Encoding` changed (and
//!   `MIME-Version: 1.0` added to a message that had none): what the recipient reads is the same;
//! - multipart bodies (RFC 2046 §5.1) are walked part by part, and `message/rfc822` parts as
//!   messages, so only the parts with long lines change;
//! - a long header line is folded at whitespace (RFC 5322 §2.2.3);
//! - what cannot be re-encoded (a header line without whitespace to fold at, a multipart preamble,
//!   a part already quoted-printable or base64 but with long lines) is broken the way Postfix's
//!   `smtp_line_length_limit` breaks lines: a line end and a space inserted every 998 octets
//!   (in quoted-printable, a soft line break `=`; in base64 a bare line end, which decoders skip).
//!
//! Messages are LF-terminated here, as in the queue.

use std::borrow::Cow;

/// The longest line RFC 5322 §2.1.1 allows, CRLF excluded.
pub const MAX_LINE: usize = 998;

/// Whether any line of `message` is longer than [`MAX_LINE`].
pub fn has_long_lines(message: &[u8]) -> bool {
    message
        .split(|b| *b == b'\n')
        .any(|l| l.strip_suffix(b"\r").unwrap_or(l).len() > MAX_LINE)
}

/// `message` with no line longer than [`MAX_LINE`] (see the module docs); borrowed when it has
/// none.
pub fn limit_line_length(message: &[u8]) -> Cow<'_, [u8]> {
    if !has_long_lines(message) {
        return Cow::Borrowed(message);
    }
    Cow::Owned(entity(message, true))
}

/// One MIME entity: header section, blank line, body.
fn entity(bytes: &[u8], top: bool) -> Vec<u8> {
    let (head, body) = split_head(bytes);
    let fields = parse_fields(head);
    let content_type = field_value(&fields, "content-type").unwrap_or_default();
    let cte = field_value(&fields, "content-transfer-encoding")
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let (media, params) = media_type(&content_type);
    let mut out_head = fold_head(head);
    let Some(body) = body else {
        return out_head;
    };
    if !has_long_lines(body) {
        out_head.extend_from_slice(b"\n");
        out_head.extend_from_slice(body);
        return out_head;
    }
    let identity = matches!(cte.as_str(), "" | "7bit" | "8bit" | "binary");
    let new_body = if media.starts_with("multipart/")
        && let Some(boundary) = param(&params, "boundary")
    {
        multipart(body, boundary.as_bytes())
    } else if identity && (media == "message/rfc822" || media == "message/global") {
        entity(body, false)
    } else if identity {
        out_head = set_quoted_printable(head, &fields, top);
        quoted_printable(body)
    } else if cte == "quoted-printable" {
        break_lines(body, b"=\n")
    } else if cte == "base64" {
        break_lines(body, b"\n")
    } else {
        break_lines(body, b"\n ")
    };
    out_head.extend_from_slice(b"\n");
    out_head.extend_from_slice(&new_body);
    out_head
}

/// The header section (each line with its LF) and the body after the blank line, if there is one.
fn split_head(bytes: &[u8]) -> (&[u8], Option<&[u8]>) {
    if bytes.first() == Some(&b'\n') {
        return (&[], Some(&bytes[1..]));
    }
    match bytes.windows(2).position(|w| w == b"\n\n") {
        Some(p) => (&bytes[..=p], Some(&bytes[p + 2..])),
        None => (bytes, None),
    }
}

/// Header fields: (lower-case name, unfolded value).
fn parse_fields(head: &[u8]) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in head.split(|b| *b == b'\n') {
        let text = String::from_utf8_lossy(line);
        if text.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push_str(&text);
            }
        } else if let Some((name, value)) = text.split_once(':') {
            fields.push((name.trim().to_ascii_lowercase(), value.to_owned()));
        }
    }
    fields
}

fn field_value(fields: &[(String, String)], name: &str) -> Option<String> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

/// `type/subtype` (lower case) and the parameters of a `Content-Type:` value.
fn media_type(value: &str) -> (String, Vec<(String, String)>) {
    let mut parts = value.split(';');
    let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let params = parts
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_owned(),
            ))
        })
        .collect();
    (media, params)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// The header section with long lines folded at whitespace (or broken, when there is none).
fn fold_head(head: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(head.len() + 16);
    for line in head.split_inclusive(|b| *b == b'\n') {
        let (mut text, end) = match line.strip_suffix(b"\n") {
            Some(t) => (t, &b"\n"[..]),
            None => (line, &b""[..]),
        };
        while text.len() > MAX_LINE {
            // The last whitespace that leaves a non-empty first piece: the fold goes before it.
            let cut = text[1..=MAX_LINE]
                .iter()
                .rposition(|b| *b == b' ' || *b == b'\t')
                .map(|p| p + 1)
                .filter(|&p| text[..p].iter().any(|b| *b != b' ' && *b != b'\t'));
            match cut {
                Some(p) => {
                    out.extend_from_slice(&text[..p]);
                    out.push(b'\n');
                    text = &text[p..];
                }
                None => {
                    out.extend_from_slice(&text[..MAX_LINE - 1]);
                    out.extend_from_slice(b"\n ");
                    text = &text[MAX_LINE - 1..];
                }
            }
        }
        out.extend_from_slice(text);
        out.extend_from_slice(end);
    }
    out
}

/// The header section with `Content-Transfer-Encoding: quoted-printable` in place of the old one
/// (and `MIME-Version: 1.0` added to a top-level message without it), long lines folded.
fn set_quoted_printable(head: &[u8], fields: &[(String, String)], top: bool) -> Vec<u8> {
    let mut kept = Vec::with_capacity(head.len() + 64);
    let mut skipping = false;
    for line in head.split_inclusive(|b| *b == b'\n') {
        if line.starts_with(b" ") || line.starts_with(b"\t") {
            if !skipping {
                kept.extend_from_slice(line);
            }
            continue;
        }
        let name = line.split(|b| *b == b':').next().unwrap_or_default();
        skipping = name
            .trim_ascii()
            .eq_ignore_ascii_case(b"content-transfer-encoding");
        if !skipping {
            kept.extend_from_slice(line);
        }
    }
    if !kept.is_empty() && !kept.ends_with(b"\n") {
        kept.push(b'\n');
    }
    let mut out = fold_head(&kept);
    if top && field_value(fields, "mime-version").is_none() {
        out.extend_from_slice(b"MIME-Version: 1.0\n");
    }
    out.extend_from_slice(b"Content-Transfer-Encoding: quoted-printable\n");
    out
}

/// A multipart body: each part between the boundary lines rewritten as an entity.
fn multipart(body: &[u8], boundary: &[u8]) -> Vec<u8> {
    let mut delimiter = b"--".to_vec();
    delimiter.extend_from_slice(boundary);
    let mut out = Vec::with_capacity(body.len() + 1024);
    let mut part_start: Option<usize> = None;
    let mut pos = 0;
    let mut closed = false;
    // The preamble and the epilogue: lines broken where needed.
    let mut plain_start = 0;
    while pos < body.len() {
        let end = body[pos..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(body.len(), |p| pos + p + 1);
        let line = &body[pos..end];
        let bare = line.strip_suffix(b"\n").unwrap_or(line);
        let bare = bare.strip_suffix(b"\r").unwrap_or(bare);
        if !closed && bare.starts_with(&delimiter) {
            let rest = &bare[delimiter.len()..];
            let is_close = rest.starts_with(b"--");
            let rest = if is_close { &rest[2..] } else { rest };
            if rest.iter().all(|b| *b == b' ' || *b == b'\t') {
                // The CRLF before a delimiter belongs to it (RFC 2046 §5.1.1).
                match part_start {
                    Some(start) => {
                        let part_end = pos.saturating_sub(1).max(start);
                        out.extend_from_slice(&entity(&body[start..part_end], false));
                        out.extend_from_slice(&body[part_end..pos]);
                    }
                    None => out.extend_from_slice(&break_lines(&body[plain_start..pos], b"\n ")),
                }
                out.extend_from_slice(&break_lines(line, b"\n "));
                if is_close {
                    closed = true;
                    part_start = None;
                    plain_start = end;
                } else {
                    part_start = Some(end);
                }
                pos = end;
                continue;
            }
        }
        pos = end;
    }
    match part_start {
        // An unterminated last part.
        Some(start) => out.extend_from_slice(&entity(&body[start..], false)),
        None => out.extend_from_slice(&break_lines(&body[plain_start..], b"\n ")),
    }
    out
}

/// Quoted-printable (RFC 2045 §6.7) of a body with LF line ends: line ends stay line ends, lines
/// are at most 76 characters with soft line breaks.
pub fn quoted_printable(body: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(body.len() + body.len() / 8);
    let mut lines = body.split(|b| *b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let last = lines.peek().is_none();
        let mut width = 0;
        for (i, &b) in line.iter().enumerate() {
            let at_end = i + 1 == line.len();
            let literal =
                (b'!'..=b'~').contains(&b) && b != b'=' || (matches!(b, b' ' | b'\t') && !at_end);
            let n = if literal { 1 } else { 3 };
            // Room for the `=` of a soft line break.
            if width + n > 75 {
                out.extend_from_slice(b"=\n");
                width = 0;
            }
            if literal {
                out.push(b);
            } else {
                out.extend_from_slice(&[b'=', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
            }
            width += n;
        }
        if !last {
            out.push(b'\n');
        }
    }
    out
}

/// Breaks every line longer than [`MAX_LINE`] by inserting `sep` (which ends with what starts the
/// next piece) every `MAX_LINE - 1` octets.
fn break_lines(body: &[u8], sep: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 64);
    for line in body.split_inclusive(|b| *b == b'\n') {
        let (mut text, end) = match line.strip_suffix(b"\n") {
            Some(t) => (t, &b"\n"[..]),
            None => (line, &b""[..]),
        };
        while text.len() > MAX_LINE {
            let mut cut = MAX_LINE - 1;
            // Never inside a quoted-printable `=XX`.
            if sep == b"=\n" {
                if text[cut - 1] == b'=' {
                    cut -= 1;
                } else if cut >= 2 && text[cut - 2] == b'=' {
                    cut -= 2;
                }
            }
            out.extend_from_slice(&text[..cut]);
            out.extend_from_slice(sep);
            text = &text[cut..];
        }
        out.extend_from_slice(text);
        out.extend_from_slice(end);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qp_decode(text: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < text.len() {
            match text[i] {
                b'=' if text.get(i + 1) == Some(&b'\n') => i += 2,
                b'=' => {
                    let hex = std::str::from_utf8(&text[i + 1..i + 3]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 3;
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        out
    }

    fn body_of(message: &[u8]) -> &[u8] {
        let p = message.windows(2).position(|w| w == b"\n\n").unwrap();
        &message[p + 2..]
    }

    #[test]
    fn short_lines_are_left_alone() {
        let m = b"Subject: x\n\nshort\n";
        assert!(matches!(limit_line_length(m), Cow::Borrowed(_)));
    }

    #[test]
    fn a_plain_message_is_re_encoded_as_quoted_printable() {
        let long = format!("{}=end \u{e9}", "word ".repeat(400));
        let m = format!("Subject: x\nFrom: a@b.test\n\nfirst\n{long}\nlast line \n");
        let out = limit_line_length(m.as_bytes()).into_owned();
        assert!(!has_long_lines(&out));
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("Subject: x\nFrom: a@b.test\nMIME-Version: 1.0\nContent-Transfer-Encoding: quoted-printable\n\n"), "{text}");
        assert_eq!(
            qp_decode(body_of(&out)),
            format!("first\n{long}\nlast line \n").as_bytes()
        );
        assert!(
            text.contains("last line=20\n"),
            "trailing space encoded: {text}"
        );
    }

    #[test]
    fn only_the_multipart_part_with_long_lines_changes() {
        let long = "x".repeat(2000);
        let m = format!(
            "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\npreamble\n--b1\nContent-Type: text/plain\n\nshort part\n--b1\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{long}\n--b1--\nepilogue\n"
        );
        let out = limit_line_length(m.as_bytes()).into_owned();
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(!has_long_lines(&out));
        assert!(
            text.contains("--b1\nContent-Type: text/plain\n\nshort part\n--b1\n"),
            "{text}"
        );
        assert!(text.contains("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"), "{text}");
        assert!(!text.contains("8bit"), "{text}");
        assert!(text.ends_with("\n--b1--\nepilogue\n"), "{text}");
        let start = text.find("quoted-printable\n\n").unwrap() + "quoted-printable\n\n".len();
        let end = text.find("\n--b1--").unwrap();
        assert_eq!(qp_decode(&out[start..end]), long.as_bytes());
    }

    #[test]
    fn long_header_lines_are_folded_at_whitespace() {
        let to = (0..200)
            .map(|i| format!("u{i}@example.org"))
            .collect::<Vec<_>>()
            .join(", ");
        let m = format!("To: {to}\nSubject: s\n\nbody\n");
        let out = limit_line_length(m.as_bytes()).into_owned();
        assert!(!has_long_lines(&out));
        let text = String::from_utf8(out).unwrap();
        // Unfolding (RFC 5322 §2.2.3) gives the field back.
        let unfolded = text.replace("\n ", " ");
        assert!(
            unfolded.starts_with(&format!("To: {to}\nSubject: s\n\nbody\n")),
            "{text}"
        );
    }

    #[test]
    fn quoted_printable_and_base64_parts_get_neutral_breaks() {
        let qp = "a".repeat(1500);
        let m = format!("Content-Transfer-Encoding: quoted-printable\n\n{qp}\n");
        let out = limit_line_length(m.as_bytes()).into_owned();
        assert!(!has_long_lines(&out));
        assert_eq!(qp_decode(body_of(&out)), format!("{qp}\n").as_bytes());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Whatever the octets, the result has no line over 998 and never panics.
        #[test]
        fn any_message_comes_out_within_the_limit(
            head in "(Content-Type: multipart/mixed; boundary=b\n|Content-Transfer-Encoding: (base64|quoted-printable|8bit)\n|X: [a-z ]{0,40}\n){0,3}",
            parts in proptest::collection::vec((0usize..1500, proptest::num::u8::ANY, proptest::bool::ANY), 0..6),
        ) {
            let mut m = head.into_bytes();
            m.push(b'\n');
            for (len, byte, delimiter) in parts {
                if delimiter {
                    m.extend_from_slice(b"--b\n");
                }
                m.extend(std::iter::repeat_n(byte, len));
                m.push(b'\n');
            }
            let out = limit_line_length(&m);
            proptest::prop_assert!(!has_long_lines(&out));
        }
    }
}
