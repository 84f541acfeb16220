//! Standard base64 (RFC 4648 §4) for SASL data (RFC 3501 §9 `base64`).
//!
//! ```text
//! base64          = *(4base64-char) [base64-terminal]
//! base64-char     = ALPHA / DIGIT / "+" / "/"
//!                     ; Case-sensitive
//! base64-terminal = (2base64-char "==") / (3base64-char "=")
//! ```

use super::ValidationError;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Whether `s` matches the `base64` rule (empty included).
pub fn is_base64(s: &[u8]) -> bool {
    if !s.len().is_multiple_of(4) {
        return false;
    }
    let pad = s.iter().rev().take_while(|&&b| b == b'=').count();
    pad <= 2 && s[..s.len() - pad].iter().all(|b| ALPHABET.contains(b))
}

/// Encodes octets.
pub fn encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes strictly (padding required, no whitespace).
pub fn decode(s: &[u8]) -> Result<Vec<u8>, ValidationError> {
    if !is_base64(s) {
        return Err(ValidationError::new("base64", s));
    }
    let val = |b: u8| ALPHABET.iter().position(|&a| a == b).unwrap_or(0) as u32;
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for chunk in s.chunks(4) {
        let pad = chunk.iter().rev().take_while(|&&b| b == b'=').count();
        let n = chunk.iter().fold(0u32, |acc, &b| {
            (acc << 6) | if b == b'=' { 0 } else { val(b) }
        });
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_answers() {
        assert_eq!(encode(b"\0user\0pass"), "AHVzZXIAcGFzcw==");
        assert_eq!(decode(b"AHVzZXIAcGFzcw==").unwrap(), b"\0user\0pass");
        assert!(decode(b"abc").is_err());
    }

    proptest! {
        #[test]
        fn round_trip(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            prop_assert_eq!(decode(encode(&data).as_bytes()).unwrap(), data);
        }
    }
}
