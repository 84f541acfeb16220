//! Byte-text encodings the protocol needs: base64 for SASL (RFC 4954 §4) and xtext for DSN and
//! `AUTH=` (RFC 3461 §4).

use std::fmt::Write as _;

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub(crate) fn base64_encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn b64_value(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Decodes standard base64; padding is required to be correct when present, and may be omitted.
pub(crate) fn base64_decode(input: &[u8]) -> Option<Vec<u8>> {
    let trimmed = input
        .strip_suffix(b"==")
        .or_else(|| input.strip_suffix(b"="))
        .unwrap_or(input);
    if input.len() != trimmed.len() && !input.len().is_multiple_of(4) {
        return None;
    }
    if trimmed.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    for chunk in trimmed.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= b64_value(c)? << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

/// `xtext = *( xchar / hexchar )`, `xchar` = `!`..=`~` except `+` and `=`, `hexchar = "+" 2HEXDIG`
/// (RFC 3461 §4).
pub(crate) fn xtext_encode(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for &c in input.as_bytes() {
        if (33..=126).contains(&c) && c != b'+' && c != b'=' {
            out.push(c as char);
        } else {
            let _ = write!(out, "+{c:02X}");
        }
    }
    out
}

/// Decodes xtext into UTF-8 text; `None` when malformed.
pub(crate) fn xtext_decode(input: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let c = input[i];
        if c == b'+' {
            let hex = input.get(i + 1..i + 3)?;
            let s = std::str::from_utf8(hex).ok()?;
            // RFC 3461 §4: upper-case hex only, but lower case is common enough to accept.
            out.push(u8::from_str_radix(s, 16).ok()?);
            i += 3;
        } else if (33..=126).contains(&c) && c != b'=' {
            out.push(c);
            i += 1;
        } else {
            return None;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_base64() {
        assert_eq!(base64_encode(b"\0user\0pass"), "AHVzZXIAcGFzcw==");
        assert_eq!(base64_decode(b"AHVzZXIAcGFzcw==").unwrap(), b"\0user\0pass");
        assert_eq!(base64_decode(b"").unwrap(), b"");
        assert!(base64_decode(b"A").is_none());
        assert!(base64_decode(b"AB*=").is_none());
    }

    proptest! {
        #[test]
        fn base64_round_trip(v in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(base64_decode(base64_encode(&v).as_bytes()).unwrap(), v);
        }
        #[test]
        fn xtext_round_trip(s in "\\PC{0,20}") {
            prop_assert_eq!(xtext_decode(xtext_encode(&s).as_bytes()).unwrap(), s);
        }
    }
}
