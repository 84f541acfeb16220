//! Replies (RFC 5321 §4.2, enhanced codes RFC 2034 §4 / RFC 3463 §2):
//!
//! ```text
//! Reply-line     = *( Reply-code "-" [ textstring ] CRLF )
//!                  Reply-code [ SP textstring ] CRLF
//! Reply-code     = %x32-35 %x30-35 %x30-39
//! textstring     = 1*(%d09 / %d32-126) ; HT, SP, Printable US-ASCII
//! status-code ::= class "." subject "." detail      (RFC 3463)
//! ```

use super::{DecodeError, Excerpt, MalformedKind, split_line};
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
fn enhanced_prefix(text: &[u8]) -> Option<EnhancedCode> {
    let end = memchr::memchr(b' ', text).unwrap_or(text.len());
    let mut parts = text[..end].split(|&c| c == b'.');
    let mut num = |max: usize| -> Option<u16> {
        let p = parts.next()?;
        if p.is_empty() || p.len() > max || !p.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(p.iter().fold(0, |n, &d| n * 10 + u16::from(d - b'0')))
    };
    let (c, s, d) = (num(1)?, num(3)?, num(3)?);
    if parts.next().is_some() {
        return None;
    }
    EnhancedCode::new(u8::try_from(c).ok()?, s, d).ok()
}

/// Parses one whole (possibly multi-line) reply from the start of `input`.
///
/// Returns [`DecodeError::Incomplete`] until the last line (`code SP` or bare `code`) has arrived.
/// The text is kept as sent, UTF-8 or not (see [`Reply`]); only control characters other than
/// TAB are refused.
pub fn reply(input: &[u8]) -> Result<(&[u8], Reply), DecodeError> {
    let mut pos = 0;
    let mut code = None;
    let mut raw_lines: Vec<&[u8]> = Vec::new();
    loop {
        let Some((line, used)) = split_line(&input[pos..]) else {
            return Err(DecodeError::Incomplete);
        };
        let end = pos + used;
        let bad = |kind| DecodeError::malformed(kind, end, Excerpt::new(line));
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
        return Err(DecodeError::Incomplete);
    };
    // RFC 2034 §4: the enhanced code starts the text of every line.
    let enhanced = enhanced_prefix(raw_lines[0]).filter(|e| e.class() == code.class());
    let prefix = enhanced.map(|e| e.to_string());
    let lines = raw_lines.into_iter().map(|l| {
        let Some(prefix) = &prefix else {
            return l;
        };
        match l.strip_prefix(prefix.as_bytes()) {
            Some([]) => &[][..],
            Some([b' ', rest @ ..]) => rest,
            _ => l,
        }
    });
    let reply = Reply::from_parts(code, enhanced, lines).map_err(|_| {
        DecodeError::malformed(MalformedKind::Encoding, pos, Excerpt::new(&input[..pos]))
    })?;
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
        assert_eq!(reply(&input[..30]), Err(DecodeError::Incomplete));
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
    fn text_that_is_not_utf8_is_kept() {
        // Latin-1, as some servers send it.
        let wire = b"550 5.1.1 Empf\xe4nger unbekannt\r\n";
        let (rest, r) = reply(wire).unwrap();
        assert!(rest.is_empty());
        assert_eq!(r.code().get(), 550);
        assert_eq!(r.enhanced().unwrap().to_string(), "5.1.1");
        assert_eq!(r.raw_lines(), [b"Empf\xe4nger unbekannt".to_vec()]);
        assert_eq!(r.lines(), ["Empf\u{fffd}nger unbekannt"]);
        assert_eq!(r.to_string(), "550 5.1.1 Empf\u{fffd}nger unbekannt");
        assert_eq!(&r.to_bytes()[..], wire);
        // Controls other than TAB are still refused.
        assert!(matches!(
            reply(b"550 a\x00b\r\n"),
            Err(DecodeError::Malformed {
                kind: MalformedKind::Encoding,
                ..
            })
        ));
    }

    #[test]
    fn malformed() {
        assert!(matches!(
            reply(b"25x ok\r\n"),
            Err(DecodeError::Malformed { skip: 8, .. })
        ));
        assert!(matches!(
            reply(b"250-a\r\n251 b\r\n"),
            Err(DecodeError::Malformed { .. })
        ));
        assert!(matches!(
            reply(b"650 x\r\n"),
            Err(DecodeError::Malformed { .. })
        ));
    }
}
