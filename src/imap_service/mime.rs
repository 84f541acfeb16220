//! MIME structure of a message (RFC 2045, RFC 2046) for FETCH: part boundaries by offset into the
//! CRLF text, BODY[section] extraction (RFC 3501 §6.4.5), ENVELOPE and BODYSTRUCTURE
//! (RFC 3501 §7.4.2).
//!
//! The part tree is found here (boundaries, header/body split) so that every section is an exact
//! byte range of the message as sent; each part's header block is parsed with `mail-parser`
//! (Content-Type with RFC 2231 parameters, addresses, dispositions).

use std::ops::Range;

use mail_parser::{MessageParser, MimeHeaders};
use mailwright_imap_proto::types::body::{
    Address, BodyFields, BodyParams, BodyStructure, DispositionTail, Envelope, Language,
    LanguageTail, MultiPart, SinglePart, SpecificFields,
};
use mailwright_imap_proto::types::command::{Section, SectionText};
use mailwright_imap_proto::{IString, NString, Vec1};

/// Deepest nesting of multiparts and messages followed; deeper content is one opaque part.
const MAX_DEPTH: usize = 32;

/// One MIME entity: its header block (with the blank line that ends it) and its body.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    pub(crate) header: Range<usize>,
    pub(crate) body: Range<usize>,
    pub(crate) kind: Kind,
}

/// What an entity's body holds.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// A single part.
    Leaf,
    /// `multipart/*`: the parts.
    Multi(Vec<Part>),
    /// `message/rfc822`: the encapsulated message.
    Message(Box<Part>),
}

/// Splits `range` of `msg` into header and body at the first empty line.
fn split_entity(msg: &[u8], range: Range<usize>) -> (Range<usize>, Range<usize>) {
    let bytes = &msg[range.clone()];
    if bytes.starts_with(b"\r\n") {
        return (range.start..range.start + 2, range.start + 2..range.end);
    }
    match memfind(bytes, b"\r\n\r\n") {
        Some(p) => (
            range.start..range.start + p + 4,
            range.start + p + 4..range.end,
        ),
        None => (range.clone(), range.end..range.end),
    }
}

fn memfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The content type of a header block, lowercased, with the boundary parameter if any.
fn content_type(header: &[u8], default_message: bool) -> (String, String, Option<String>) {
    let parsed = MessageParser::new().parse_headers(header);
    let ct = parsed.as_ref().and_then(|m| m.root_part().content_type());
    match ct {
        Some(ct) => (
            ct.ctype().to_ascii_lowercase(),
            ct.subtype().unwrap_or_default().to_ascii_lowercase(),
            ct.attribute("boundary").map(str::to_owned),
        ),
        None if default_message => ("message".into(), "rfc822".into(), None),
        None => ("text".into(), "plain".into(), None),
    }
}

/// Parses the structure of a message (CRLF text).
pub(crate) fn parse(msg: &[u8]) -> Part {
    entity(msg, 0..msg.len(), false, 0)
}

fn entity(msg: &[u8], range: Range<usize>, digest_child: bool, depth: usize) -> Part {
    let (header, body) = split_entity(msg, range);
    let (ty, sub, boundary) = content_type(&msg[header.clone()], digest_child);
    let kind = if depth >= MAX_DEPTH {
        Kind::Leaf
    } else if ty == "multipart" {
        match boundary {
            Some(b) if !b.is_empty() => Kind::Multi(
                split_multipart(msg, body.clone(), b.as_bytes())
                    .into_iter()
                    .map(|r| entity(msg, r, sub == "digest", depth + 1))
                    .collect(),
            ),
            _ => Kind::Multi(Vec::new()),
        }
    } else if ty == "message" && (sub == "rfc822" || sub == "global") {
        Kind::Message(Box::new(entity(msg, body.clone(), false, depth + 1)))
    } else {
        Kind::Leaf
    };
    Part { header, body, kind }
}

/// The body ranges of a multipart's parts (RFC 2046 §5.1.1): a delimiter is `--boundary` at the
/// start of a line; the CRLF before it belongs to the delimiter.
fn split_multipart(msg: &[u8], body: Range<usize>, boundary: &[u8]) -> Vec<Range<usize>> {
    let mut delim = b"--".to_vec();
    delim.extend_from_slice(boundary);
    let bytes = &msg[body.clone()];
    // Offsets (within `bytes`) of line starts that begin with the delimiter.
    let mut marks: Vec<(usize, bool)> = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let line_end = memchr_lf(&bytes[pos..]).map_or(bytes.len(), |i| pos + i + 1);
        let line = &bytes[pos..line_end];
        if line.starts_with(&delim) {
            let rest = &line[delim.len()..];
            let close = rest.starts_with(b"--");
            let rest = if close { &rest[2..] } else { rest };
            if rest
                .iter()
                .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
            {
                marks.push((pos, close));
                if close {
                    break;
                }
            }
        }
        pos = line_end;
    }
    let mut parts = Vec::new();
    for (i, &(start, close)) in marks.iter().enumerate() {
        if close {
            break;
        }
        let line_end = memchr_lf(&bytes[start..]).map_or(bytes.len(), |j| start + j + 1);
        let end = match marks.get(i + 1) {
            Some(&(next, _)) => {
                // The CRLF before the next delimiter belongs to it.
                if next >= 2 && &bytes[next - 2..next] == b"\r\n" {
                    next - 2
                } else {
                    next
                }
            }
            None => bytes.len(),
        }
        .max(line_end);
        parts.push(body.start + line_end..body.start + end);
    }
    parts
}

fn memchr_lf(b: &[u8]) -> Option<usize> {
    b.iter().position(|c| *c == b'\n')
}

/// The entity a part path names (RFC 3501 §6.4.5), or `None`.
fn find<'a>(root: &'a Part, path: &[std::num::NonZeroU32]) -> Option<&'a Part> {
    let mut node = root;
    for (depth, n) in path.iter().enumerate() {
        let i = n.get() as usize - 1;
        let container = match &node.kind {
            Kind::Message(inner) if depth > 0 => inner.as_ref(),
            _ => node,
        };
        node = match &container.kind {
            Kind::Multi(parts) => parts.get(i)?,
            // A single part is its own part 1, except that the top-level body of a single-part
            // message has no part 1.1 (Dovecot's reading of RFC 3501 §6.4.5).
            _ if i == 0 && (depth == 0 || !std::ptr::eq(container, root)) => container,
            _ => return None,
        };
    }
    Some(node)
}

/// The bytes of `BODY[section]` before any partial range; `None` if the part does not exist.
pub(crate) fn section(msg: &[u8], root: &Part, section: &Section<'_>) -> Option<Vec<u8>> {
    let path = section.part();
    let node = find(root, path)?;
    // For HEADER, HEADER.FIELDS and TEXT of a part, the part must be a message/rfc822.
    let message = if path.is_empty() {
        Some(node)
    } else {
        match &node.kind {
            Kind::Message(inner) => Some(inner.as_ref()),
            _ => None,
        }
    };
    Some(match section.text() {
        None if path.is_empty() => msg.to_vec(),
        None => msg[node.body.clone()].to_vec(),
        Some(SectionText::Mime) => msg[node.header.clone()].to_vec(),
        Some(SectionText::Header) => msg[message?.header.clone()].to_vec(),
        Some(SectionText::Text) => msg[message?.body.clone()].to_vec(),
        Some(SectionText::HeaderFields(names)) => {
            header_fields(&msg[message?.header.clone()], names, true)
        }
        Some(SectionText::HeaderFieldsNot(names)) => {
            header_fields(&msg[message?.header.clone()], names, false)
        }
    })
}

/// The header fields whose names are (or, with `keep == false`, are not) in `names`, followed by
/// the blank line (RFC 3501 §6.4.5).
fn header_fields(
    header: &[u8],
    names: &[mailwright_imap_proto::AString<'_>],
    keep: bool,
) -> Vec<u8> {
    let mut out = Vec::new();
    for field in fields(header) {
        let name = field
            .iter()
            .position(|b| *b == b':')
            .map_or(&field[..0], |i| &field[..i]);
        let name = trim(name);
        let listed = names
            .iter()
            .any(|n| n.as_bytes().eq_ignore_ascii_case(name));
        if listed == keep && (!keep || !name.is_empty()) {
            out.extend_from_slice(field);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The fields of a header block, each with its continuation lines and CRLF; the blank line is
/// left out.
pub(crate) fn fields(header: &[u8]) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = Vec::new();
    let mut start = None;
    let mut pos = 0;
    while pos < header.len() {
        let end = memchr_lf(&header[pos..]).map_or(header.len(), |i| pos + i + 1);
        let line = &header[pos..end];
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        let continuation = matches!(line.first(), Some(b' ' | b'\t'));
        if !continuation {
            if let Some(s) = start {
                out.push(&header[s..pos]);
            }
            start = Some(pos);
        }
        pos = end;
    }
    if let Some(s) = start {
        out.push(&header[s..pos]);
    }
    out
}

fn trim(b: &[u8]) -> &[u8] {
    let b = match b.iter().position(|c| !c.is_ascii_whitespace()) {
        Some(i) => &b[i..],
        None => return &b[..0],
    };
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    &b[..end]
}

/// The unfolded raw value of the first field `name` in a header block.
pub(crate) fn raw_field(header: &[u8], name: &str) -> Option<Vec<u8>> {
    for field in fields(header) {
        let Some(colon) = field.iter().position(|b| *b == b':') else {
            continue;
        };
        if trim(&field[..colon]).eq_ignore_ascii_case(name.as_bytes()) {
            let value: Vec<u8> = field[colon + 1..]
                .iter()
                .copied()
                .filter(|b| *b != b'\r' && *b != b'\n')
                .collect();
            return Some(trim(&value).to_vec());
        }
    }
    None
}

fn nstring(v: Option<Vec<u8>>) -> NString<'static> {
    NString(v.and_then(|b| IString::from_bytes(b).ok()))
}

fn istring(s: &str) -> IString<'static> {
    IString::from_bytes(s.as_bytes().to_vec())
        .unwrap_or_else(|_| IString::from_bytes(&b""[..]).expect("empty string"))
}

/// ENVELOPE of a header block (RFC 3501 §7.4.2): every field as sent (encoded words are not
/// decoded, as Dovecot does); addresses split by [`addresses`].
pub(crate) fn envelope(header: &[u8]) -> Envelope<'static> {
    let addrs = |name: &str| -> Option<Vec1<Address<'static>>> {
        Vec1::try_from(addresses(&raw_field(header, name)?)).ok()
    };
    let from = addrs("From");
    // RFC 3501 §7.4.2: sender and reply-to default to from.
    let sender = addrs("Sender").or_else(|| from.clone());
    let reply_to = addrs("Reply-To").or_else(|| from.clone());
    Envelope {
        date: nstring(raw_field(header, "Date")),
        subject: nstring(raw_field(header, "Subject")),
        from,
        sender,
        reply_to,
        to: addrs("To"),
        cc: addrs("Cc"),
        bcc: addrs("Bcc"),
        in_reply_to: nstring(raw_field(header, "In-Reply-To")),
        message_id: nstring(raw_field(header, "Message-ID")),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(Vec<u8>),
    Special(u8),
}

/// Tokens of an address list (RFC 5322 §3.4): words (atoms with dots, quoted strings unquoted),
/// the specials `, : ; < > @`; comments are dropped.
fn tokens(v: &[u8]) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < v.len() {
        match v[i] {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'(' => {
                let mut depth = 0usize;
                while i < v.len() {
                    match v[i] {
                        b'\\' => i += 1,
                        b'(' => depth += 1,
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                i += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
            }
            b'"' => {
                let mut w = Vec::new();
                i += 1;
                while i < v.len() && v[i] != b'"' {
                    if v[i] == b'\\' && i + 1 < v.len() {
                        i += 1;
                    }
                    w.push(v[i]);
                    i += 1;
                }
                i += 1;
                out.push(Tok::Word(w));
            }
            c @ (b',' | b':' | b';' | b'<' | b'>' | b'@') => {
                out.push(Tok::Special(c));
                i += 1;
            }
            _ => {
                let start = i;
                while i < v.len() && !b" \t\r\n(\",:;<>@".contains(&v[i]) {
                    i += 1;
                }
                out.push(Tok::Word(v[start..i].to_vec()));
            }
        }
    }
    out
}

fn addr(name: Option<Vec<u8>>, spec: &[Tok]) -> Option<Address<'static>> {
    // Drop a source route (`@a,@b:`) inside angle brackets.
    let spec = match spec.iter().rposition(|t| *t == Tok::Special(b':')) {
        Some(p) => &spec[p + 1..],
        None => spec,
    };
    if spec.is_empty() {
        return None;
    }
    let at = spec.iter().position(|t| *t == Tok::Special(b'@'));
    let join = |ts: &[Tok]| -> Vec<u8> {
        ts.iter()
            .filter_map(|t| match t {
                Tok::Word(w) => Some(w.clone()),
                Tok::Special(_) => None,
            })
            .collect::<Vec<_>>()
            .join(&b""[..])
    };
    let (local, host) = match at {
        Some(p) => (join(&spec[..p]), join(&spec[p + 1..])),
        None => (join(spec), Vec::new()),
    };
    Some(Address {
        name: nstring(name),
        adl: NString::NIL,
        mailbox: nstring(Some(if local.is_empty() {
            b"MISSING_MAILBOX".to_vec()
        } else {
            local
        })),
        host: nstring(Some(if host.is_empty() {
            b"MISSING_DOMAIN".to_vec()
        } else {
            host
        })),
    })
}

/// The addresses of an address-list field, in ENVELOPE form: a group is a start marker (NIL
/// host, mailbox = group name), its members, and an end marker (all NIL), RFC 3501 §7.4.2.
pub(crate) fn addresses(value: &[u8]) -> Vec<Address<'static>> {
    let toks = tokens(value);
    let mut out = Vec::new();
    let mut pending: Vec<Tok> = Vec::new();
    let mut i = 0;
    let marker = |mailbox: Option<Vec<u8>>| Address {
        name: NString::NIL,
        adl: NString::NIL,
        mailbox: nstring(mailbox),
        host: NString::NIL,
    };
    let phrase = |ts: &[Tok]| -> Option<Vec<u8>> {
        let words: Vec<Vec<u8>> = ts
            .iter()
            .filter_map(|t| match t {
                Tok::Word(w) => Some(w.clone()),
                Tok::Special(_) => None,
            })
            .collect();
        (!words.is_empty()).then(|| words.join(&b" "[..]))
    };
    while i < toks.len() {
        match &toks[i] {
            Tok::Special(b'<') => {
                let end = toks[i..]
                    .iter()
                    .position(|t| *t == Tok::Special(b'>'))
                    .map_or(toks.len(), |p| i + p);
                if let Some(a) = addr(phrase(&pending), &toks[i + 1..end]) {
                    out.push(a);
                }
                pending.clear();
                i = end + 1;
                continue;
            }
            Tok::Special(b':') => {
                out.push(marker(phrase(&pending)));
                pending.clear();
            }
            Tok::Special(b';') => {
                if let Some(a) = addr(None, &pending) {
                    out.push(a);
                }
                pending.clear();
                out.push(marker(None));
            }
            Tok::Special(b',') => {
                if let Some(a) = addr(None, &pending) {
                    out.push(a);
                }
                pending.clear();
            }
            t => pending.push(t.clone()),
        }
        i += 1;
    }
    if let Some(a) = addr(None, &pending) {
        out.push(a);
    }
    out
}

/// BODY (`extended == false`) or BODYSTRUCTURE of an entity.
pub(crate) fn structure(msg: &[u8], part: &Part, extended: bool) -> BodyStructure<'static> {
    structure_of(msg, part, extended, false)
}

#[allow(clippy::too_many_lines)]
fn structure_of(msg: &[u8], part: &Part, extended: bool, digest: bool) -> BodyStructure<'static> {
    let header = &msg[part.header.clone()];
    let parsed = MessageParser::new().parse_headers(header);
    let root = parsed.as_ref().map(mail_parser::Message::root_part);
    let ct = root.and_then(|r| r.content_type());
    let (ty, sub) = match ct {
        Some(ct) => (
            ct.ctype().to_owned(),
            ct.subtype().map_or_else(String::new, str::to_owned),
        ),
        None if digest => ("message".into(), "rfc822".into()),
        None => ("text".into(), "plain".into()),
    };
    let mut params: Vec<(IString<'static>, IString<'static>)> = ct
        .and_then(|c| c.attributes())
        .map(|a| {
            a.iter()
                .map(|at| (istring(&at.name), istring(&at.value)))
                .collect()
        })
        .unwrap_or_default();
    // Dovecot's rendering: a text part always names its charset (us-ascii by default,
    // RFC 2045 §5.2), and the charset value is lowercased.
    if ty.eq_ignore_ascii_case("text") {
        match params
            .iter()
            .position(|(k, _)| k.as_bytes().eq_ignore_ascii_case(b"charset"))
        {
            Some(p) => {
                let v = String::from_utf8_lossy(params[p].1.as_bytes()).to_ascii_lowercase();
                params[p].1 = istring(&v);
            }
            None => params.push((istring("charset"), istring("us-ascii"))),
        }
    }
    let params: BodyParams<'static> = Vec1::try_from(params).ok();
    let tail = || -> Option<DispositionTail<'static>> {
        let disposition = root.and_then(|r| r.content_disposition()).map(|d| {
            let p: BodyParams<'static> = d.attributes().and_then(|a| {
                Vec1::try_from(
                    a.iter()
                        .map(|at| (istring(&at.name), istring(&at.value)))
                        .collect::<Vec<_>>(),
                )
                .ok()
            });
            (istring(d.ctype()), p)
        });
        let language = match raw_field(header, "Content-Language") {
            Some(v) => {
                let tags: Vec<IString<'static>> = String::from_utf8_lossy(&v)
                    .split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(istring)
                    .collect();
                match tags.len() {
                    0 => Language::Single(NString::NIL),
                    1 => Language::Single(NString(tags.into_iter().next())),
                    _ => Language::List(Vec1::try_from(tags).ok()?),
                }
            }
            None => Language::Single(NString::NIL),
        };
        Some(DispositionTail {
            disposition,
            language: Some(LanguageTail {
                language,
                location: Some((nstring(raw_field(header, "Content-Location")), Vec::new())),
            }),
        })
    };
    if let Kind::Multi(parts) = &part.kind {
        let is_digest = sub.eq_ignore_ascii_case("digest");
        let children: Vec<BodyStructure<'static>> = parts
            .iter()
            .map(|p| structure_of(msg, p, extended, is_digest))
            .collect();
        let children = match Vec1::try_from(children) {
            Ok(c) => c,
            // RFC 3501 needs at least one part: an empty multipart shows an empty text part.
            Err(_) => Vec1::one(empty_text_part(extended)),
        };
        return BodyStructure::Multi(MultiPart {
            parts: children,
            subtype: istring(&sub),
            extension: extended.then(|| (params, tail())),
        });
    }
    let body = &msg[part.body.clone()];
    #[allow(clippy::naive_bytecount)]
    let lines = u32::try_from(body.iter().filter(|b| **b == b'\n').count()).unwrap_or(u32::MAX);
    let fields = BodyFields {
        parameters: params,
        id: nstring(raw_field(header, "Content-ID")),
        description: nstring(raw_field(header, "Content-Description")),
        encoding: istring(&raw_field(header, "Content-Transfer-Encoding").map_or_else(
            || "7bit".to_owned(),
            |v| String::from_utf8_lossy(&v).into_owned(),
        )),
        octets: u32::try_from(body.len()).unwrap_or(u32::MAX),
    };
    let specific = match &part.kind {
        Kind::Message(inner) => SpecificFields::Message {
            envelope: Box::new(envelope(&msg[inner.header.clone()])),
            body: Box::new(structure_of(msg, inner, extended, false)),
            lines,
        },
        _ if ty.eq_ignore_ascii_case("text") => SpecificFields::Text { lines },
        _ => SpecificFields::Basic,
    };
    BodyStructure::Single(SinglePart {
        media_type: istring(&ty),
        subtype: istring(&sub),
        fields,
        specific,
        extension: extended.then(|| (nstring(raw_field(header, "Content-MD5")), tail())),
    })
}

fn empty_text_part(extended: bool) -> BodyStructure<'static> {
    BodyStructure::Single(SinglePart {
        media_type: istring("text"),
        subtype: istring("plain"),
        fields: BodyFields {
            parameters: Some(Vec1::one((istring("charset"), istring("us-ascii")))),
            id: NString::NIL,
            description: NString::NIL,
            encoding: istring("7bit"),
            octets: 0,
        },
        specific: SpecificFields::Text { lines: 0 },
        extension: extended.then(|| {
            (
                NString::NIL,
                Some(DispositionTail {
                    disposition: None,
                    language: Some(LanguageTail {
                        language: Language::Single(NString::NIL),
                        location: Some((NString::NIL, Vec::new())),
                    }),
                }),
            )
        }),
    })
}

/// A stored message (LF line ends, possibly mixed) as the CRLF text IMAP presents.
pub(crate) fn to_crlf(stored: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(stored.len() + stored.len() / 32);
    let mut prev = 0u8;
    for &b in stored {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

    fn sec(path: &[u32], text: Option<SectionText<'static>>) -> Section<'static> {
        Section::new(
            path.iter().map(|n| NonZeroU32::new(*n).unwrap()).collect(),
            text,
        )
        .unwrap()
    }

    const NESTED: &[u8] = b"Subject: top\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\npreamble\r\n--XX\r\nContent-Type: text/plain\r\n\r\nfirst\r\n--XX\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: multipart/alternative; boundary=YY\r\n\r\n--YY\r\n\r\ninner one\r\n--YY\r\nContent-Type: text/html\r\n\r\n<b>two</b>\r\n--YY--\r\n\r\n--XX--\r\nepilogue\r\n";

    #[test]
    fn sections_of_a_nested_message() {
        let root = parse(NESTED);
        let s = |p: &[u32], t| {
            section(NESTED, &root, &sec(p, t)).map(|v| String::from_utf8(v).unwrap())
        };
        assert_eq!(s(&[1], None).unwrap(), "first");
        assert_eq!(
            s(&[1], Some(SectionText::Mime)).unwrap(),
            "Content-Type: text/plain\r\n\r\n"
        );
        assert_eq!(s(&[2, 1], None).unwrap(), "inner one");
        assert_eq!(s(&[2, 2], None).unwrap(), "<b>two</b>");
        assert!(
            s(&[2], Some(SectionText::Header))
                .unwrap()
                .starts_with("Subject: inner\r\n")
        );
        assert!(s(&[3], None).is_none());
        assert_eq!(
            s(
                &[],
                Some(SectionText::HeaderFields(Vec1::one(
                    "SUBJECT".try_into().unwrap()
                )))
            )
            .unwrap(),
            "Subject: top\r\n\r\n"
        );
        let single = b"Subject: x\r\n\r\nbody\r\n";
        let r = parse(single);
        assert_eq!(section(single, &r, &sec(&[1], None)).unwrap(), b"body\r\n");
        assert_eq!(
            section(single, &r, &sec(&[], Some(SectionText::Text))).unwrap(),
            b"body\r\n"
        );
    }

    #[test]
    fn structure_and_envelope() {
        let root = parse(NESTED);
        let BodyStructure::Multi(m) = structure(NESTED, &root, true) else {
            panic!()
        };
        assert_eq!(m.parts.len(), 2);
        assert_eq!(m.subtype.as_bytes(), b"mixed");
        let env = envelope(b"From: \"A B\" <a@b.c>\r\nSubject: hi\r\nTo: x@y, z@w\r\n\r\n");
        assert_eq!(env.subject.as_bytes(), Some(&b"hi"[..]));
        assert_eq!(env.to.unwrap().len(), 2);
        assert_eq!(env.sender.unwrap()[0].host.as_bytes(), Some(&b"b.c"[..]));
    }

    #[test]
    fn line_ends() {
        assert_eq!(to_crlf(b"a\nb\r\nc"), b"a\r\nb\r\nc");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Any bytes parse; every section and both structures come out without panicking, and
        /// every range stays inside the message.
        #[test]
        fn arbitrary_messages_never_panic(
            head in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            path in proptest::collection::vec(1u32..4, 0..4),
        ) {
            let mut msg = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n".to_vec();
            msg.extend_from_slice(&head);
            msg.extend_from_slice(b"\r\n--b--\r\n");
            for m in [&head[..], &msg[..]] {
                let root = parse(m);
                let _ = structure(m, &root, true);
                let _ = envelope(&m[root.header.clone()]);
                for text in [None, Some(SectionText::Mime), Some(SectionText::Header), Some(SectionText::Text)] {
                    if path.is_empty() && text == Some(SectionText::Mime) {
                        continue;
                    }
                    if let Some(out) = section(m, &root, &sec(&path, text)) {
                        proptest::prop_assert!(out.len() <= m.len());
                    }
                }
            }
        }

        /// Address lists of any shape split without panicking.
        #[test]
        fn arbitrary_address_lists_never_panic(v in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..120)) {
            let _ = addresses(&v);
        }
    }
}
