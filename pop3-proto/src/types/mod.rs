//! Validated value types: commands, responses, capabilities, maildrop listings.

mod command;
mod response;
mod sasl;

pub use command::{Command, CommandKind, SaslResponse};
pub use response::{
    AuthReply, Capability, CapabilityTag, Response, ResponseCode, ScanListing, Stat, Status,
    UidListing,
};
pub use sasl::PlainCredentials;

/// A credential whose `Debug` prints `***` (SASL data, the password of a login).
pub use mailwright_sansio::Secret;

use std::fmt;

/// A value that failed validation when it was built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TypeError {
    /// The value is empty where at least one octet is required.
    #[error("{0} must not be empty")]
    Empty(&'static str),
    /// The value is longer than the protocol allows.
    #[error("{what} is longer than {max} octets")]
    TooLong {
        /// What was being built.
        what: &'static str,
        /// The maximum length in octets.
        max: usize,
    },
    /// The value holds an octet that the protocol forbids there.
    #[error("{what} holds the forbidden octet {octet:#04x}")]
    ForbiddenOctet {
        /// What was being built.
        what: &'static str,
        /// The offending octet.
        octet: u8,
    },
    /// A message number of zero (messages are numbered from 1).
    #[error("message numbers start at 1")]
    ZeroMessageNumber,
}

/// RFC 2449 §4: "Keywords and arguments are each limited to 40 characters" in RFC 1939 was raised:
/// "the maximum length of a command line is 255 octets, including the terminating CRLF". An argument
/// can therefore never exceed 250 octets.
pub const MAX_ARGUMENT: usize = 250;

/// RFC 2449 §4: "The maximum length of the first line of a command response (including the initial
/// greeting) is unchanged at 512 octets (including the terminating CRLF)."
pub const MAX_RESPONSE_LINE: usize = 512;

/// One command argument (a user name, a mechanism name, a capability parameter): 1 to 250 octets,
/// no SP, CR, LF or NUL, no other control characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Atom(String);

impl Atom {
    /// Validates `value` as an argument.
    pub fn new(value: impl Into<String>) -> Result<Self, TypeError> {
        let value = value.into();
        if value.is_empty() {
            return Err(TypeError::Empty("argument"));
        }
        if value.len() > MAX_ARGUMENT {
            return Err(TypeError::TooLong {
                what: "argument",
                max: MAX_ARGUMENT,
            });
        }
        if let Some(&octet) = value.as_bytes().iter().find(|&&b| b <= b' ' || b == 0x7f) {
            return Err(TypeError::ForbiddenOctet {
                what: "argument",
                octet,
            });
        }
        Ok(Self(value))
    }

    /// The argument as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<&str> for Atom {
    type Error = TypeError;
    fn try_from(value: &str) -> Result<Self, TypeError> {
        Self::new(value)
    }
}

impl TryFrom<String> for Atom {
    type Error = TypeError;
    fn try_from(value: String) -> Result<Self, TypeError> {
        Self::new(value)
    }
}

/// Free text on a response line (after the status and any response code): no CR, LF or NUL, at
/// most 500 octets so that the whole line stays within 512.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Text(String);

impl Text {
    /// The longest text that still fits a 512-octet response line.
    pub const MAX: usize = 500;

    /// Validates `value` as response text.
    pub fn new(value: impl Into<String>) -> Result<Self, TypeError> {
        let value = value.into();
        if value.len() > Self::MAX {
            return Err(TypeError::TooLong {
                what: "text",
                max: Self::MAX,
            });
        }
        if let Some(&octet) = value
            .as_bytes()
            .iter()
            .find(|&&b| matches!(b, b'\r' | b'\n' | 0))
        {
            return Err(TypeError::ForbiddenOctet {
                what: "text",
                octet,
            });
        }
        Ok(Self(value))
    }

    /// Builds text from a string known to be valid; anything invalid (CR, LF, NUL) becomes a space
    /// and the text is cut at [`Text::MAX`] octets.
    pub fn lossy(value: &str) -> Self {
        let mut out: String = value
            .chars()
            .map(|c| {
                if matches!(c, '\r' | '\n' | '\0') {
                    ' '
                } else {
                    c
                }
            })
            .collect();
        if out.len() > Self::MAX {
            let mut cut = Self::MAX;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
        }
        Self(out)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<&str> for Text {
    type Error = TypeError;
    fn try_from(value: &str) -> Result<Self, TypeError> {
        Self::new(value)
    }
}

/// The argument of PASS: any octets but CR, LF and NUL, at most [`MAX_ARGUMENT`] octets, held as a
/// [`Secret`] so that its `Debug` output (`***`) never reaches a log.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Password(Secret<Vec<u8>>);

impl Password {
    /// Validates `value` as the argument of a PASS line.
    pub fn new(value: impl Into<Vec<u8>>) -> Result<Self, TypeError> {
        let value = value.into();
        if value.len() > MAX_ARGUMENT {
            return Err(TypeError::TooLong {
                what: "password",
                max: MAX_ARGUMENT,
            });
        }
        if let Some(&octet) = value.iter().find(|&&b| matches!(b, b'\r' | b'\n' | 0)) {
            return Err(TypeError::ForbiddenOctet {
                what: "password",
                octet,
            });
        }
        Ok(Self(Secret::new(value)))
    }

    /// The password octets.
    pub fn expose(&self) -> &[u8] {
        self.0.expose()
    }

    /// The password as a plain [`Secret`].
    pub fn into_secret(self) -> Secret<Vec<u8>> {
        self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl TryFrom<&[u8]> for Password {
    type Error = TypeError;
    fn try_from(value: &[u8]) -> Result<Self, TypeError> {
        Self::new(value)
    }
}

/// RFC 1939 §7 (UIDL): "The unique-id of a message is an arbitrary server-determined string,
/// consisting of one to 70 characters in the range 0x21 to 0x7E".
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uid(String);

impl Uid {
    /// The longest unique-id RFC 1939 allows.
    pub const MAX: usize = 70;

    /// Validates `value` as a unique-id.
    pub fn new(value: impl Into<String>) -> Result<Self, TypeError> {
        let value = value.into();
        if value.is_empty() {
            return Err(TypeError::Empty("unique-id"));
        }
        if value.len() > Self::MAX {
            return Err(TypeError::TooLong {
                what: "unique-id",
                max: Self::MAX,
            });
        }
        if let Some(&octet) = value
            .as_bytes()
            .iter()
            .find(|&&b| !(0x21..=0x7e).contains(&b))
        {
            return Err(TypeError::ForbiddenOctet {
                what: "unique-id",
                octet,
            });
        }
        Ok(Self(value))
    }

    /// The unique-id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<&str> for Uid {
    type Error = TypeError;
    fn try_from(value: &str) -> Result<Self, TypeError> {
        Self::new(value)
    }
}

/// A message number: RFC 1939 §3 numbers messages in the maildrop from 1.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageNumber(u32);

impl MessageNumber {
    /// Validates `n` (it must not be zero).
    pub fn new(n: u32) -> Result<Self, TypeError> {
        if n == 0 {
            Err(TypeError::ZeroMessageNumber)
        } else {
            Ok(Self(n))
        }
    }

    /// The number, from 1.
    pub fn get(self) -> u32 {
        self.0
    }

    /// The zero-based index into a listing.
    pub fn index(self) -> usize {
        self.0 as usize - 1
    }
}

impl fmt::Debug for MessageNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for MessageNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl TryFrom<u32> for MessageNumber {
    type Error = TypeError;
    fn try_from(value: u32) -> Result<Self, TypeError> {
        Self::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoms_refuse_space_and_controls() {
        assert!(Atom::new("alice").is_ok());
        assert!(Atom::new("").is_err());
        assert!(Atom::new("a b").is_err());
        assert!(Atom::new("a\r").is_err());
        assert!(Atom::new("x".repeat(251)).is_err());
    }

    #[test]
    fn uids_follow_rfc1939() {
        assert!(Uid::new("QhdPYR:00WBw1Ph7x7").is_ok());
        assert!(Uid::new("a b").is_err());
        assert!(Uid::new("x".repeat(71)).is_err());
        assert!(Uid::new("").is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        let s = Password::new(b"hunter 2".to_vec()).unwrap();
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(s.expose(), b"hunter 2");
        assert!(Password::new(b"a\nb".to_vec()).is_err());
        assert!(Password::new(vec![b'x'; 251]).is_err());
    }

    #[test]
    fn lossy_text_is_valid() {
        let t = Text::lossy("a\r\nb");
        assert_eq!(t.as_str(), "a  b");
        assert!(Text::lossy(&"é".repeat(400)).as_str().len() <= Text::MAX);
    }
}
