//! Replies (RFC 5321 §4.2, enhanced codes RFC 2034 §4 / RFC 3463 §2):
//!
//! ```text
//! Reply-line     = *( Reply-code "-" [ textstring ] CRLF )
//!                  Reply-code [ SP textstring ] CRLF
//! Reply-code     = %x32-35 %x30-35 %x30-39
//! textstring     = 1*(%d09 / %d32-126) ; HT, SP, Printable US-ASCII
//! status-code ::= class "." subject "." detail      (RFC 3463)
//! ```

use super::{Excerpt, MalformedKind, ParseError, split_line};
use crate::types::{EnhancedCode, Reply, ReplyCode};

fn code_of(line: &[u8]) -> Option<ReplyCode> {
    let d = line.get(..3)?;
    if !d.iter().all(u8::is_ascii_digit) {
        return None;
    }
    ReplyCode::new(
        u16::from(d[0] - b'0') * 100 + u16::from(d[1] - b'0') * 10 + u16::from(d[2] - b'0'),
    )
    .ok()
}

/// Reads `class "." subject "." detail` at the start of `text`, followed by SP or the end.
fn enhanced_prefix(text: &str) -> Option<(EnhancedCode, usize)> {
    let end = text.find(' ').unwrap_or(text.len());
    let mut parts = text[..end].split('.');
    let mut num = |max: usize| -> Option<u16> {
        let p = parts.next()?;
        (!p.is_empty() && p.len() <= max && p.bytes().all(|c| c.is_ascii_digit()))
            .then(|| p.parse().ok())?
    };
    let (c, s, d) = (num(1)?, num(3)?, num(3)?);
    if parts.next().is_some() {
        return None;
    }
    let e = EnhancedCode::new(c as u8, s, d).ok()?;
    Some((e, (end + 1).min(text.len())))
}

/// Parses one whole (possibly multi-line) reply from the start of `input`.
///
/// Returns [`ParseError::Incomplete`] until the last line (`code SP` or bare `code`) has arrived.
pub fn reply(input: &[u8]) -> Result<(&[u8], Reply), ParseError> {
    let mut pos = 0;
    let mut code = None;
    let mut raw_lines: Vec<&[u8]> = Vec::new();
    loop {
        let Some((line, used)) = split_line(&input[pos..]) else {
            return Err(ParseError::Incomplete);
        };
        let end = pos + used;
        let bad = |kind| ParseError::Malformed {
            kind,
            consumed: end,
            excerpt: Excerpt::new(line),
        };
        let c = code_of(line).ok_or_else(|| bad(MalformedKind::ReplyCode))?;
        if code.is_some_and(|p| p != c) {
            return Err(bad(MalformedKind::ReplyCode));
        }
        code = Some(c);
        pos = end;
        let last = match line.get(3) {
            None | Some(b' ') => true,
            Some(b'-') => false,
            Some(_) => return Err(bad(MalformedKind::ReplyCode)),
        };
        raw_lines.push(line.get(4..).unwrap_or(&[]));
        if last {
            break;
        }
    }
    let Some(code) = code else {
        return Err(ParseError::Incomplete);
    };
    let malformed = |kind| ParseError::Malformed {
        kind,
        consumed: pos,
        excerpt: Excerpt::new(&input[..pos]),
    };
    let mut lines: Vec<String> = Vec::with_capacity(raw_lines.len());
    for l in raw_lines {
        lines.push(
            std::str::from_utf8(l)
                .map_err(|_| malformed(MalformedKind::Encoding))?
                .to_owned(),
        );
    }
    let enhanced = enhanced_prefix(&lines[0])
        .filter(|(e, _)| e.class() == code.class())
        .map(|(e, _)| e);
    if let Some(e) = enhanced {
        let prefix = e.to_string();
        for l in &mut lines {
            if let Some(rest) = l.strip_prefix(prefix.as_str()) {
                if rest.is_empty() {
                    l.clear();
                } else if let Some(rest) = rest.strip_prefix(' ') {
                    *l = rest.to_owned();
                }
            }
        }
    }
    let reply =
        Reply::from_parts(code, enhanced, lines).map_err(|_| malformed(MalformedKind::Encoding))?;
    Ok((&input[pos..], reply))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line() {
        let input = b"250-mx.example.com Hello\r\n250-SIZE 1000\r\n250 PIPELINING\r\nrest";
        let (rest, r) = reply(input).unwrap();
        assert_eq!(rest, b"rest");
        assert_eq!(r.code().get(), 250);
        assert_eq!(
            r.lines(),
            ["mx.example.com Hello", "SIZE 1000", "PIPELINING"]
        );
        assert_eq!(r.enhanced(), None);
        assert_eq!(reply(&input[..30]), Err(ParseError::Incomplete));
    }

    #[test]
    fn enhanced() {
        let (_, r) = reply(b"550-5.1.1 No such user\r\n550 5.1.1 here\r\n").unwrap();
        assert_eq!(r.enhanced().unwrap().to_string(), "5.1.1");
        assert_eq!(r.lines(), ["No such user", "here"]);
        // Class mismatch: not an enhanced code.
        let (_, r) = reply(b"250 5.1.1 x\r\n").unwrap();
        assert_eq!(r.enhanced(), None);
        let (_, r) = reply(b"220\r\n").unwrap();
        assert_eq!(r.lines(), [""]);
    }

    #[test]
    fn malformed() {
        assert!(matches!(
            reply(b"25x ok\r\n"),
            Err(ParseError::Malformed { consumed: 8, .. })
        ));
        assert!(matches!(
            reply(b"250-a\r\n251 b\r\n"),
            Err(ParseError::Malformed { .. })
        ));
        assert!(matches!(
            reply(b"650 x\r\n"),
            Err(ParseError::Malformed { .. })
        ));
    }
}
