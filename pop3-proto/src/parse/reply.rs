//! Parsers for what a server sends: status lines, CAPA lines, listings, SASL continuations.

use base64::Engine as _;
use nom::{
    Parser,
    branch::alt,
    bytes::complete::{tag, tag_no_case, take_while1},
    combinator::{opt, rest},
};

use super::{DecodeError, MalformedKind, line, malformed};
use crate::types::{
    Atom, AuthReply, Capability, CapabilityTag, MessageNumber, Response, ResponseCode, ScanListing,
    Secret, Status, Text, Uid, UidListing,
};

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The content of a status line (RFC 2449 §9):
/// ```text
/// single-line = status [SP text] CRLF
/// status      = "+OK" / "-ERR"
/// text        = *schar / resp-code *CHAR
/// ```
pub(crate) fn response_content(l: &[u8]) -> Option<Response> {
    let (after, status) = alt((
        tag_no_case::<_, _, nom::error::Error<&[u8]>>("+OK").map(|_| Status::Ok),
        tag_no_case("-ERR").map(|_| Status::Err),
    ))
    .parse(l)
    .ok()?;
    let text = after.strip_prefix(b" ").unwrap_or(after);
    let (code, text) = match resp_code(text) {
        Some((code, rest)) => (Some(code), rest.strip_prefix(b" ").unwrap_or(rest)),
        None => (None, text),
    };
    Some(Response {
        status,
        code,
        text: Text::lossy(&lossy(text)),
    })
}

/// `resp-code = "[" resp-level *("/" resp-level) "]"`
fn resp_code(text: &[u8]) -> Option<(ResponseCode, &[u8])> {
    let inner = text.strip_prefix(b"[")?;
    let close = memchr::memchr(b']', inner)?;
    let code = std::str::from_utf8(&inner[..close]).ok()?;
    let code = ResponseCode::new(code).ok()?;
    Some((code, &inner[close + 1..]))
}

/// Parses one status line (a greeting, a single-line response, or the first line of a multi-line
/// response) of at most `max_line` octets.
pub fn response(input: &[u8], max_line: usize) -> Result<(&[u8], Response), DecodeError> {
    let (l, consumed) = line(input, max_line)?;
    match response_content(l) {
        Some(r) => Ok((&input[consumed..], r)),
        None => Err(malformed(MalformedKind::StatusLine, l, consumed)),
    }
}

/// Parses a server line during an `AUTH` exchange: a continuation (RFC 5034 §4
/// `continue-req = "+" SP [base64] CRLF`) or the final status line.
pub fn auth_reply(input: &[u8], max_line: usize) -> Result<(&[u8], AuthReply), DecodeError> {
    let (l, consumed) = line(input, max_line)?;
    let data = if l == b"+" {
        Some(&b""[..])
    } else {
        l.strip_prefix(b"+ ")
    };
    if let Some(data) = data {
        return match base64::engine::general_purpose::STANDARD.decode(data) {
            Ok(d) => Ok((&input[consumed..], AuthReply::Continue(Secret::new(d)))),
            Err(_) => Err(malformed(MalformedKind::SaslContinuation, l, consumed)),
        };
    }
    match response_content(l) {
        Some(r) => Ok((&input[consumed..], AuthReply::Done(r))),
        None => Err(malformed(MalformedKind::StatusLine, l, consumed)),
    }
}

fn atoms(s: &[u8]) -> Option<Vec<Atom>> {
    s.split(|&b| b == b' ')
        .filter(|p| !p.is_empty())
        .map(|p| std::str::from_utf8(p).ok().and_then(|p| Atom::new(p).ok()))
        .collect()
}

fn capability_content(l: &[u8]) -> Option<Capability> {
    let (args, tag_bytes) = take_while1::<_, _, nom::error::Error<&[u8]>>(|b: u8| b != b' ')
        .parse(l)
        .ok()?;
    // RFC 2449 §9: `capa-tag = 1*cchar`, and cchar excludes "." (see `CapabilityTag`).
    let capa_tag =
        CapabilityTag::new(std::str::from_utf8(tag_bytes).ok()?.to_ascii_uppercase()).ok()?;
    let tag_str = capa_tag.as_str();
    let (params_str, _) = opt(tag::<_, _, nom::error::Error<&[u8]>>(" "))
        .parse(args)
        .ok()?;
    if tag_str == "IMPLEMENTATION" {
        let (_, text) = rest::<_, nom::error::Error<&[u8]>>(params_str).ok()?;
        return Some(Capability::Implementation(Text::lossy(&lossy(text))));
    }
    let params = atoms(params_str)?;
    let p: Vec<&str> = params.iter().map(Atom::as_str).collect();
    let known = match (tag_str, p.as_slice()) {
        ("TOP", []) => Some(Capability::Top),
        ("USER", []) => Some(Capability::User),
        ("SASL", _) => Some(Capability::Sasl(params.clone())),
        ("RESP-CODES", []) => Some(Capability::RespCodes),
        ("PIPELINING", []) => Some(Capability::Pipelining),
        ("UIDL", []) => Some(Capability::Uidl),
        ("STLS", []) => Some(Capability::Stls),
        ("AUTH-RESP-CODE", []) => Some(Capability::AuthRespCode),
        ("LOGIN-DELAY", [n, rest @ ..]) if rest.is_empty() || rest == ["USER"] => {
            n.parse().ok().map(|seconds| Capability::LoginDelay {
                seconds,
                per_user: !rest.is_empty(),
            })
        }
        ("EXPIRE", [n, rest @ ..]) if rest.is_empty() || rest == ["USER"] => {
            let days = if n.eq_ignore_ascii_case("NEVER") {
                Some(None)
            } else {
                n.parse().ok().map(Some)
            };
            days.map(|days| Capability::Expire {
                days,
                per_user: !rest.is_empty(),
            })
        }
        _ => None,
    };
    Some(known.unwrap_or(Capability::Other {
        tag: capa_tag,
        params,
    }))
}

/// Parses one line of a CAPA response body; `None` is the terminating `.` line.
pub fn capability(
    input: &[u8],
    max_line: usize,
) -> Result<(&[u8], Option<Capability>), DecodeError> {
    let (l, consumed) = line(input, max_line)?;
    if l == b"." {
        return Ok((&input[consumed..], None));
    }
    match capability_content(l) {
        Some(c) => Ok((&input[consumed..], Some(c))),
        None => Err(malformed(MalformedKind::Capability, l, consumed)),
    }
}

fn two_fields(l: &[u8]) -> Option<(MessageNumber, &str)> {
    let mut it = l.split(|&b| b == b' ');
    let n = std::str::from_utf8(it.next()?).ok()?;
    if n.is_empty() || n.len() > 10 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = MessageNumber::new(n.parse().ok()?).ok()?;
    let second = std::str::from_utf8(it.next()?).ok()?;
    Some((n, second))
}

/// Parses the content of one scan listing line (RFC 1939 §5): `msg SP size`; anything after the
/// size is ignored, as RFC 1939 allows.
pub fn scan_listing_line(l: &[u8]) -> Option<ScanListing> {
    let (message, size) = two_fields(l)?;
    if size.is_empty() || size.len() > 20 || !size.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(ScanListing {
        message,
        size: size.parse().ok()?,
    })
}

/// Parses the content of one unique-id listing line (RFC 1939 §7): `msg SP unique-id`.
pub fn uid_listing_line(l: &[u8]) -> Option<UidListing> {
    let (message, uid) = two_fields(l)?;
    Some(UidListing {
        message,
        uid: Uid::new(uid).ok()?,
    })
}
