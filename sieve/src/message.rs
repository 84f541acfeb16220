//! The message a script looks at: the [`Message`] trait the interpreter reads through, and
//! [`ParsedMessage`], a small reader of RFC 5322 / MIME text that implements it.

use std::borrow::Cow;

/// What the interpreter needs of a message. The application implements it over its own message
/// representation, or uses [`ParsedMessage`].
pub trait Message {
    /// The values of the header fields named `name` (ASCII case-insensitive), in message order,
    /// unfolded (RFC 5322 §2.2.3), leading and trailing white space removed, encoded words left
    /// as they are.
    fn header_raw(&self, name: &str) -> Vec<String>;

    /// The same values with RFC 2047 encoded words decoded: what `header` and `address` compare
    /// (RFC 5228 §5.7). The default decodes [`Message::header_raw`] with [`decode_header`].
    fn header(&self, name: &str) -> Vec<String> {
        self.header_raw(name)
            .iter()
            .map(|v| decode_header(v).into_owned())
            .collect()
    }

    /// The envelope sender (SMTP `MAIL FROM`), without angle brackets; empty for the null
    /// reverse-path `<>`.
    fn envelope_from(&self) -> &str;

    /// The envelope recipient this delivery is for (SMTP `RCPT TO`), without angle brackets.
    fn envelope_to(&self) -> &str;

    /// The size of the message in octets (RFC 5228 §5.9).
    fn size(&self) -> u64;

    /// The body as it is on the wire, after the header's empty line (RFC 5173 `:raw`).
    fn body_raw(&self) -> Cow<'_, [u8]>;

    /// The MIME parts in order, transfer encodings and charsets decoded (RFC 5173 `:content`,
    /// `:text`). A message without MIME structure is one `text/plain` part. Containers are
    /// listed too, with what RFC 5173 §5.2 searches in them: a multipart part as two entries,
    /// its prologue and its epilogue; a `message/rfc822` part as its header.
    fn body_parts(&self) -> Vec<BodyPart>;
}

/// One MIME part, decoded to text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyPart {
    /// `type/subtype`, lower case (`text/plain` when the part has no Content-Type).
    pub content_type: String,
    /// The content, transfer encoding removed and charset converted to UTF-8.
    pub text: String,
}

/// Decodes the RFC 2047 encoded words of a header value (`=?utf-8?q?caf=C3=A9?=`); white space
/// between two encoded words goes (RFC 2047 §6.2). Charsets UTF-8, US-ASCII, ISO-8859-1 and
/// Windows-1252 are decoded; a word in another charset stays as it is.
///
/// ```
/// use mailwright_sieve::decode_header;
/// assert_eq!(decode_header("=?ISO-8859-1?Q?Andr=E9?= =?utf-8?B?UGlyYXJk?= x"), "AndréPirard x");
/// ```
pub fn decode_header(value: &str) -> Cow<'_, str> {
    if !value.contains("=?") {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    let mut pending_space = String::new();
    let mut last_was_word = false;
    loop {
        let Some(start) = rest.find("=?") else {
            out.push_str(&pending_space);
            out.push_str(rest);
            break;
        };
        let (before, candidate) = rest.split_at(start);
        match encoded_word(candidate) {
            Some((decoded, used)) => {
                let blank = before.chars().all(char::is_whitespace);
                if !(last_was_word && blank) {
                    out.push_str(&pending_space);
                    out.push_str(before);
                }
                pending_space.clear();
                out.push_str(&decoded);
                last_was_word = true;
                rest = &candidate[used..];
                // Hold the white space after a word until we know what follows it.
                let ws = rest.len() - rest.trim_start().len();
                pending_space.push_str(&rest[..ws]);
                rest = &rest[ws..];
            }
            None => {
                out.push_str(&pending_space);
                pending_space.clear();
                out.push_str(before);
                out.push_str("=?");
                rest = &candidate[2..];
                last_was_word = false;
            }
        }
    }
    Cow::Owned(out)
}

/// One `=?charset?enc?text?=` at the start of `s`: the decoded text and the octets it used.
fn encoded_word(s: &str) -> Option<(String, usize)> {
    let inner = s.strip_prefix("=?")?;
    let q1 = inner.find('?')?;
    let charset = &inner[..q1];
    let after = &inner[q1 + 1..];
    let q2 = after.find('?')?;
    let encoding = &after[..q2];
    let text_and_rest = &after[q2 + 1..];
    let end = text_and_rest.find("?=")?;
    let text = &text_and_rest[..end];
    if text.contains(char::is_whitespace) {
        return None;
    }
    let bytes = if encoding.eq_ignore_ascii_case("b") {
        base64_decode(text.as_bytes())
    } else if encoding.eq_ignore_ascii_case("q") {
        qp_decode(text.as_bytes(), true)
    } else {
        return None;
    };
    // RFC 2231 §5: a language may follow the charset after "*".
    let charset = charset.split('*').next().unwrap_or_default();
    let decoded = decode_charset(&bytes, charset)?;
    let used = 2 + q1 + 1 + q2 + 1 + end + 2;
    Some((decoded.into_owned(), used))
}

/// Bytes in `charset` to text; `None` for a charset this crate does not know.
pub(crate) fn decode_charset<'a>(bytes: &'a [u8], charset: &str) -> Option<Cow<'a, str>> {
    let cs = charset.trim().trim_matches('"').to_ascii_lowercase();
    match cs.as_str() {
        "" | "utf-8" | "utf8" | "us-ascii" | "ascii" => Some(String::from_utf8_lossy(bytes)),
        "iso-8859-1" | "latin1" | "iso8859-1" | "windows-1252" | "cp1252" => {
            Some(Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect()))
        }
        _ => None,
    }
}

/// Base64 (RFC 2045 §6.8), skipping what is not in the alphabet.
pub(crate) fn base64_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &c in input {
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
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// Quoted-printable (RFC 2045 §6.7); `underscore` for the Q encoding of RFC 2047 §4.2.
pub(crate) fn qp_decode(input: &[u8], underscore: bool) -> Vec<u8> {
    let hex = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let c = input[i];
        if c == b'=' {
            if let (Some(h), Some(l)) = (
                input.get(i + 1).and_then(|&c| hex(c)),
                input.get(i + 2).and_then(|&c| hex(c)),
            ) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
            // A soft line break: "=" at the end of a line.
            let mut j = i + 1;
            while matches!(input.get(j), Some(b' ' | b'\t')) {
                j += 1;
            }
            if input.get(j) == Some(&b'\r') {
                j += 1;
            }
            if input.get(j) == Some(&b'\n') {
                i = j + 1;
                continue;
            }
            out.push(c);
        } else if c == b'_' && underscore {
            out.push(b' ');
        } else {
            out.push(c);
        }
        i += 1;
    }
    out
}

/// A message read from its RFC 5322 text, with its envelope: a ready [`Message`].
///
/// ```
/// use mailwright_sieve::{Message, ParsedMessage};
/// let m = ParsedMessage::new(b"Subject: =?utf-8?q?caf=C3=A9?=\r\n\r\nHello\r\n")
///     .with_envelope("alice@example.org", "bob@example.com");
/// assert_eq!(m.header("subject"), vec!["café".to_owned()]);
/// assert_eq!(m.body_parts()[0].text, "Hello\r\n");
/// ```
#[derive(Clone, Debug, Default)]
pub struct ParsedMessage {
    fields: Vec<(String, String)>,
    body: Vec<u8>,
    size: u64,
    from: String,
    to: String,
}

/// Bound on MIME nesting read by [`ParsedMessage`]; deeper parts are not looked into.
const MAX_MIME_DEPTH: usize = 16;

impl ParsedMessage {
    /// Reads a message. Never fails: what is not a header field ends the header.
    pub fn new(raw: &[u8]) -> Self {
        let (fields, body) = split_message(raw);
        Self {
            fields,
            body: body.to_vec(),
            size: raw.len() as u64,
            from: String::new(),
            to: String::new(),
        }
    }

    /// With the envelope sender (empty for `<>`) and recipient.
    pub fn with_envelope(mut self, from: &str, to: &str) -> Self {
        from.trim_matches(['<', '>']).clone_into(&mut self.from);
        to.trim_matches(['<', '>']).clone_into(&mut self.to);
        self
    }
}

impl Message for ParsedMessage {
    fn header_raw(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn envelope_from(&self) -> &str {
        &self.from
    }

    fn envelope_to(&self) -> &str {
        &self.to
    }

    fn size(&self) -> u64 {
        self.size
    }

    fn body_raw(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.body)
    }

    fn body_parts(&self) -> Vec<BodyPart> {
        let mut out = Vec::new();
        leaf_parts(&self.fields, &self.body, 0, &mut out);
        out
    }
}

/// Header fields (name, unfolded value) and the body.
fn split_message(raw: &[u8]) -> (Vec<(String, String)>, &[u8]) {
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        let end = raw[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |p| i + p + 1);
        let line = &raw[i..end];
        let content = line
            .strip_suffix(b"\n")
            .map_or(line, |l| l.strip_suffix(b"\r").unwrap_or(l));
        if content.is_empty() {
            return (trimmed(fields), &raw[end..]);
        }
        if matches!(content[0], b' ' | b'\t')
            && let Some((_, v)) = fields.last_mut()
        {
            v.push_str(&String::from_utf8_lossy(content));
            i = end;
            continue;
        }
        match content.iter().position(|&b| b == b':') {
            Some(colon) if colon > 0 && content[..colon].iter().all(|b| (33..=126).contains(b)) => {
                fields.push((
                    String::from_utf8_lossy(&content[..colon]).into_owned(),
                    String::from_utf8_lossy(&content[colon + 1..]).into_owned(),
                ));
            }
            // Not a header field: the header ends here and this line is body.
            _ => return (trimmed(fields), &raw[i..]),
        }
        i = end;
    }
    (trimmed(fields), &[])
}

fn trimmed(mut fields: Vec<(String, String)>) -> Vec<(String, String)> {
    for (_, v) in &mut fields {
        *v = v.trim().to_owned();
    }
    fields
}

/// Content-Type: `type/subtype` (lower case) and its parameters.
fn content_type(fields: &[(String, String)]) -> (String, Vec<(String, String)>) {
    let Some((_, value)) = fields
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    else {
        return ("text/plain".to_owned(), Vec::new());
    };
    let mut pieces = value.split(';');
    let mime = pieces
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let mime = if mime.contains('/') {
        mime
    } else {
        "text/plain".to_owned()
    };
    let params = pieces
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_owned(),
            ))
        })
        .collect();
    (mime, params)
}

fn leaf_parts(fields: &[(String, String)], body: &[u8], depth: usize, out: &mut Vec<BodyPart>) {
    let (mime, params) = content_type(fields);
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if depth < MAX_MIME_DEPTH {
        if mime.starts_with("multipart/") {
            if let Some(boundary) = param("boundary").filter(|b| !b.is_empty()) {
                let split = split_multipart(body, boundary);
                for text in [split.prologue, split.epilogue] {
                    out.push(BodyPart {
                        content_type: mime.clone(),
                        text: String::from_utf8_lossy(text).into_owned(),
                    });
                }
                for part in split.parts {
                    let (f, b) = split_message(part);
                    leaf_parts(&f, b, depth + 1, out);
                }
                return;
            }
        } else if mime == "message/rfc822" {
            let (f, b) = split_message(body);
            let header_len = body.len() - b.len();
            out.push(BodyPart {
                content_type: mime,
                text: String::from_utf8_lossy(&body[..header_len]).into_owned(),
            });
            leaf_parts(&f, b, depth + 1, out);
            return;
        }
    }
    let cte = fields
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-transfer-encoding"))
        .map(|(_, v)| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let decoded: Cow<'_, [u8]> = match cte.as_str() {
        "base64" => Cow::Owned(base64_decode(body)),
        "quoted-printable" => Cow::Owned(qp_decode(body, false)),
        _ => Cow::Borrowed(body),
    };
    let text = decode_charset(&decoded, param("charset").unwrap_or("us-ascii"))
        .unwrap_or_else(|| String::from_utf8_lossy(&decoded))
        .into_owned();
    out.push(BodyPart {
        content_type: mime,
        text,
    });
}

/// A multipart body cut at its `--boundary` lines (RFC 2046 §5.1.1).
struct Multipart<'a> {
    prologue: &'a [u8],
    parts: Vec<&'a [u8]>,
    epilogue: &'a [u8],
}

fn split_multipart<'a>(body: &'a [u8], boundary: &str) -> Multipart<'a> {
    let delimiter = format!("--{boundary}");
    let d = delimiter.as_bytes();
    let mut out = Multipart {
        prologue: body,
        parts: Vec::new(),
        epilogue: &[],
    };
    let mut start: Option<usize> = None;
    let mut i = 0;
    // The line end before a delimiter belongs to the delimiter.
    let before = |e: usize, s: usize| {
        let mut e = e;
        if e > s && body[e - 1] == b'\n' {
            e -= 1;
            if e > s && body[e - 1] == b'\r' {
                e -= 1;
            }
        }
        e
    };
    while i < body.len() {
        let end = body[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(body.len(), |p| i + p + 1);
        let line = &body[i..end];
        if line.starts_with(d) {
            match start {
                Some(s) => out.parts.push(&body[s..before(i, s)]),
                None => out.prologue = &body[..before(i, 0)],
            }
            if line[d.len()..].starts_with(b"--") {
                out.epilogue = &body[end..];
                return out;
            }
            start = Some(end);
        }
        i = end;
    }
    if let Some(s) = start {
        out.parts.push(&body[s..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_unfold_and_decode() {
        let m = ParsedMessage::new(
            b"Subject: a\r\n b\r\nX-Two: 1\r\nx-two: 2\r\nTo: =?utf-8?B?w6k=?= <e@x.example>\r\n\r\nbody",
        );
        assert_eq!(m.header("subject"), vec!["a b"]);
        assert_eq!(m.header_raw("X-TWO"), vec!["1", "2"]);
        assert_eq!(m.header("to"), vec!["é <e@x.example>"]);
        assert_eq!(&*m.body_raw(), b"body");
        assert_eq!(decode_header("=?bogus?x?y?= plain"), "=?bogus?x?y?= plain");
        assert_eq!(decode_header("a =?utf-8?q?b?= c"), "a b c");
    }

    #[test]
    fn multipart_leaves_are_decoded() {
        let raw = b"Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\npreamble\r\n--XX\r\n\
Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
caf=E9 =\r\nau lait\r\n--XX\r\nContent-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--XX--\r\nepilogue\r\n";
        let parts = ParsedMessage::new(raw).body_parts();
        assert_eq!(parts.len(), 4);
        assert_eq!(parts[0].content_type, "multipart/mixed");
        assert_eq!(parts[0].text, "preamble");
        assert_eq!(parts[1].text, "epilogue\r\n");
        assert_eq!(parts[2].content_type, "text/plain");
        assert_eq!(parts[2].text, "café au lait");
        assert_eq!(parts[3].text, "hello");
    }
}
