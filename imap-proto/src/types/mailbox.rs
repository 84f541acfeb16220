//! Mailbox names (RFC 3501 §5.1, §9) and their modified UTF-7 form (RFC 3501 §5.1.3).
//!
//! ```text
//! mailbox         = "INBOX" / astring
//!                     ; INBOX is case-insensitive.  All case variants of
//!                     ; INBOX (e.g., "iNbOx") MUST be interpreted as INBOX
//!                     ; not as an astring.
//! list-mailbox    = 1*list-char / string
//! list-char       = ATOM-CHAR / list-wildcards / resp-specials
//! ```

use std::borrow::Cow;

use super::ValidationError;
use super::core::{AString, IString, IntoStatic, ListCharString};

/// `mailbox`: the name as it is on the wire (an `astring`, kept in its form so that it re-serialises as
/// received). Case variants of INBOX are INBOX (see [`Mailbox::is_inbox`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mailbox<'a>(pub AString<'a>);

impl Mailbox<'_> {
    /// `INBOX`.
    pub fn inbox() -> Mailbox<'static> {
        Mailbox(
            AString::from_bytes(&b"INBOX"[..])
                .expect("INBOX is an atom")
                .into_static(),
        )
    }
    /// Whether this is INBOX (any case, RFC 3501 §5.1).
    pub fn is_inbox(&self) -> bool {
        self.0.as_bytes().eq_ignore_ascii_case(b"INBOX")
    }
    /// The wire octets (modified UTF-7 for names that are not ASCII).
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
    /// A name from Unicode text, encoded to modified UTF-7 and carried in the lightest `astring` form.
    pub fn from_utf8(name: &str) -> Result<Mailbox<'static>, ValidationError> {
        let encoded = encode_modified_utf7(name);
        Ok(Mailbox(AString::from_bytes(encoded.into_bytes())?))
    }
    /// The name decoded from modified UTF-7; INBOX in any case gives `"INBOX"`.
    pub fn to_utf8(&self) -> Result<Cow<'_, str>, Utf7Error> {
        if self.is_inbox() {
            return Ok(Cow::Borrowed("INBOX"));
        }
        decode_modified_utf7(self.as_bytes())
    }
}

impl<'a> TryFrom<&'a str> for Mailbox<'a> {
    type Error = ValidationError;
    /// Takes `s` as wire octets (already modified UTF-7); see [`Mailbox::from_utf8`] for Unicode names.
    fn try_from(s: &'a str) -> Result<Self, ValidationError> {
        AString::from_bytes(s.as_bytes()).map(Mailbox)
    }
}

/// What the command builders ([`CommandBody::select`](crate::types::command::CommandBody::select)
/// and the others) take as a mailbox: a [`Mailbox`] as it is, or a name as Unicode text (`&str`,
/// `String`), which is encoded to modified UTF-7 ([`Mailbox::from_utf8`]).
///
/// A name already in modified UTF-7 (as a server lists it) goes through [`Mailbox::try_from`]
/// instead, or it is encoded twice (`&` becomes `&-`).
pub trait IntoMailbox<'a> {
    /// The mailbox.
    fn into_mailbox(self) -> Mailbox<'a>;
}

impl<'a> IntoMailbox<'a> for Mailbox<'a> {
    fn into_mailbox(self) -> Mailbox<'a> {
        self
    }
}

impl<'a> IntoMailbox<'a> for &str {
    fn into_mailbox(self) -> Mailbox<'a> {
        utf8_name(self)
    }
}

impl<'a> IntoMailbox<'a> for String {
    fn into_mailbox(self) -> Mailbox<'a> {
        utf8_name(&self)
    }
}

/// [`Mailbox::from_utf8`], which cannot fail: modified UTF-7 is printable ASCII, which every
/// `astring` form carries.
fn utf8_name(name: &str) -> Mailbox<'static> {
    Mailbox::from_utf8(name).expect("modified UTF-7 is printable ASCII, a valid astring")
}

impl IntoStatic for Mailbox<'_> {
    type Static = Mailbox<'static>;
    fn into_static(self) -> Mailbox<'static> {
        Mailbox(self.0.into_static())
    }
}

/// `list-mailbox = 1*list-char / string`: a LIST/LSUB pattern with `%` and `*` wildcards.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ListMailbox<'a> {
    /// The bare form.
    Token(ListCharString<'a>),
    /// A quoted string or a literal.
    String(IString<'a>),
}

impl<'a> ListMailbox<'a> {
    /// The pattern's octets.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            ListMailbox::Token(t) => t.as_str().as_bytes(),
            ListMailbox::String(s) => s.as_bytes(),
        }
    }
    /// The lightest form that carries `pattern`.
    pub fn from_bytes(pattern: impl Into<Cow<'a, [u8]>>) -> Result<Self, ValidationError> {
        let p = pattern.into();
        if !p.is_empty() && p.iter().all(|&b| super::core::chars::is_list_char(b)) {
            let s =
                std::str::from_utf8(&p).map_err(|_| ValidationError::new("list-mailbox", &p))?;
            return Ok(ListMailbox::Token(ListCharString::unvalidated(
                s.to_owned(),
            )));
        }
        IString::from_bytes(p).map(ListMailbox::String)
    }
}

impl IntoStatic for ListMailbox<'_> {
    type Static = ListMailbox<'static>;
    fn into_static(self) -> ListMailbox<'static> {
        match self {
            ListMailbox::Token(t) => ListMailbox::Token(t.into_static()),
            ListMailbox::String(s) => ListMailbox::String(s.into_static()),
        }
    }
}

/// A mailbox name is not valid modified UTF-7 (RFC 3501 §5.1.3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Utf7Error {
    /// An octet outside printable US-ASCII appears unencoded.
    #[error("octet {0:#04x} must be encoded")]
    UnencodedOctet(u8),
    /// A `&` shift has no closing `-`.
    #[error("unterminated base64 shift")]
    Unterminated,
    /// A character inside a shift is not modified BASE64.
    #[error("invalid modified base64 octet {0:#04x}")]
    BadBase64(u8),
    /// The shifted bits do not end on a UTF-16 boundary with zero padding.
    #[error("base64 shift has leftover bits")]
    LeftoverBits,
    /// The UTF-16 inside a shift is not valid (lone surrogate).
    #[error("invalid UTF-16 in shift")]
    BadUtf16,
    /// A printable ASCII character was encoded, or two shifts follow each other (superfluous shift).
    #[error("superfluous shift")]
    Superfluous,
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

fn b64_value(b: u8) -> Option<u32> {
    Some(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b',' => 63,
        _ => return None,
    } as u32)
}

fn is_self_representing(c: u32) -> bool {
    (0x20..=0x7e).contains(&c)
}

/// Encodes a Unicode mailbox name to modified UTF-7 (RFC 3501 §5.1.3): printable ASCII stands for
/// itself, `&` becomes `&-`, everything else is modified BASE64 of UTF-16 between `&` and `-`.
pub fn encode_modified_utf7(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        out.push('&');
        let (mut acc, mut bits) = (0u32, 0u32);
        for unit in pending.drain(..) {
            acc = (acc << 16) | u32::from(unit);
            bits += 16;
            while bits >= 6 {
                bits -= 6;
                out.push(B64[((acc >> bits) & 63) as usize] as char);
            }
            acc &= (1 << bits) - 1;
        }
        if bits > 0 {
            out.push(B64[((acc << (6 - bits)) & 63) as usize] as char);
        }
        out.push('-');
    };
    for c in name.chars() {
        if is_self_representing(c as u32) {
            flush(&mut pending, &mut out);
            out.push(c);
            if c == '&' {
                out.push('-');
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// Decodes a modified UTF-7 mailbox name (RFC 3501 §5.1.3), strictly: no superfluous shifts, no
/// encoded printable ASCII, zero padding bits. Borrows when nothing is encoded.
pub fn decode_modified_utf7(wire: &[u8]) -> Result<Cow<'_, str>, Utf7Error> {
    if let Some(&b) = wire.iter().find(|&&b| !is_self_representing(u32::from(b))) {
        return Err(Utf7Error::UnencodedOctet(b));
    }
    if !wire.contains(&b'&') {
        // Printable ASCII only, hence UTF-8.
        return Ok(Cow::Borrowed(
            std::str::from_utf8(wire).map_err(|_| Utf7Error::UnencodedOctet(0x80))?,
        ));
    }
    let mut out = String::with_capacity(wire.len());
    let mut i = 0;
    let mut last_was_shift = false;
    while i < wire.len() {
        let b = wire[i];
        if b != b'&' {
            out.push(b as char);
            i += 1;
            last_was_shift = false;
            continue;
        }
        let end = wire[i + 1..]
            .iter()
            .position(|&c| c == b'-')
            .ok_or(Utf7Error::Unterminated)?
            + i
            + 1;
        if end == i + 1 {
            out.push('&');
            i = end + 1;
            last_was_shift = false;
            continue;
        }
        if last_was_shift {
            return Err(Utf7Error::Superfluous);
        }
        let (mut acc, mut bits) = (0u32, 0u32);
        let mut units = Vec::new();
        for &c in &wire[i + 1..end] {
            let v = b64_value(c).ok_or(Utf7Error::BadBase64(c))?;
            acc = (acc << 6) | v;
            bits += 6;
            if bits >= 16 {
                bits -= 16;
                units.push(((acc >> bits) & 0xffff) as u16);
                acc &= (1 << bits) - 1;
            }
        }
        if bits >= 6 || acc != 0 || units.is_empty() {
            return Err(Utf7Error::LeftoverBits);
        }
        for c in char::decode_utf16(units) {
            let c = c.map_err(|_| Utf7Error::BadUtf16)?;
            if is_self_representing(c as u32) {
                return Err(Utf7Error::Superfluous);
            }
            out.push(c);
        }
        i = end + 1;
        last_was_shift = true;
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc3501_examples() {
        // RFC 3501 §5.1.3: "~peter/mail/台北/日本語".
        let name = "~peter/mail/\u{53f0}\u{5317}/\u{65e5}\u{672c}\u{8a9e}";
        assert_eq!(
            encode_modified_utf7(name),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
        assert_eq!(
            decode_modified_utf7(b"~peter/mail/&U,BTFw-/&ZeVnLIqe-").unwrap(),
            name
        );
        // "&U,BTFw-&ZeVnLIqe-" is not permitted because it contains a superfluous shift.
        assert_eq!(
            decode_modified_utf7(b"&U,BTFw-&ZeVnLIqe-"),
            Err(Utf7Error::Superfluous)
        );
        // "&Jjo!" is not valid because it has no closing "-".
        assert_eq!(decode_modified_utf7(b"&Jjo!"), Err(Utf7Error::Unterminated));
        assert_eq!(encode_modified_utf7("a&b"), "a&-b");
        assert_eq!(decode_modified_utf7(b"a&-b").unwrap(), "a&b");
        // "A" encoded is a superfluous shift.
        assert_eq!(decode_modified_utf7(b"&AEE-"), Err(Utf7Error::Superfluous));
        assert!(Mailbox::try_from("iNbOx").unwrap().is_inbox());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn utf7_round_trips(s in "\\PC{0,12}") {
            let enc = encode_modified_utf7(&s);
            prop_assert_eq!(decode_modified_utf7(enc.as_bytes()).unwrap(), s);
        }
        #[test]
        fn utf7_decode_never_panics(b in proptest::collection::vec(any::<u8>(), 0..24)) {
            if let Ok(s) = decode_modified_utf7(&b) {
                let enc = encode_modified_utf7(&s);
                prop_assert_eq!(enc.as_bytes(), &b[..]);
            }
        }
    }
}
