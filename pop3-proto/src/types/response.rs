//! POP3 responses: status lines with RFC 2449/3206 response codes, CAPA lines, listings and SASL
//! continuations.

use std::fmt;

use super::{Atom, MessageNumber, Secret, Text, TypeError, Uid};

/// RFC 2449 §9: `status = "+OK" / "-ERR"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// `+OK`.
    Ok,
    /// `-ERR`.
    Err,
}

/// An extended response code (RFC 2449 §8, RFC 3206).
///
/// RFC 2449 §9:
/// ```text
/// resp-code  = "[" resp-level *("/" resp-level) "]"
/// resp-level = 1*rchar
/// rchar      = %x21-2E / %x30-5C / %x5E-7F
///                ;printable ASCII, excluding "/" and "]"
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResponseCode {
    /// `[IN-USE]` (RFC 2449 §8.1.1): the maildrop is locked by another session.
    InUse,
    /// `[LOGIN-DELAY]` (RFC 2449 §8.1.2): the user logged in too recently.
    LoginDelay,
    /// `[SYS/TEMP]` (RFC 3206 §4): a temporary system problem.
    SysTemp,
    /// `[SYS/PERM]` (RFC 3206 §4): a permanent system problem.
    SysPerm,
    /// `[AUTH]` (RFC 3206 §5): the credentials are wrong.
    Auth,
    /// Any other code, validated against the grammar (levels joined by `/`).
    Other(String),
}

impl ResponseCode {
    /// Parses the text between `[` and `]`; known codes compare case-insensitively.
    pub fn new(code: &str) -> Result<Self, TypeError> {
        if code.is_empty() {
            return Err(TypeError::Empty("response code"));
        }
        if code.len() > 100 {
            return Err(TypeError::TooLong {
                what: "response code",
                max: 100,
            });
        }
        for level in code.split('/') {
            if level.is_empty() {
                return Err(TypeError::Empty("response code level"));
            }
            if let Some(&octet) = level
                .as_bytes()
                .iter()
                .find(|&&b| !(0x21..=0x7f).contains(&b) || b == b']')
            {
                return Err(TypeError::ForbiddenOctet {
                    what: "response code",
                    octet,
                });
            }
        }
        Ok(match code.to_ascii_uppercase().as_str() {
            "IN-USE" => Self::InUse,
            "LOGIN-DELAY" => Self::LoginDelay,
            "SYS/TEMP" => Self::SysTemp,
            "SYS/PERM" => Self::SysPerm,
            "AUTH" => Self::Auth,
            _ => Self::Other(code.to_owned()),
        })
    }

    /// The code as sent, without brackets.
    pub fn as_str(&self) -> &str {
        match self {
            Self::InUse => "IN-USE",
            Self::LoginDelay => "LOGIN-DELAY",
            Self::SysTemp => "SYS/TEMP",
            Self::SysPerm => "SYS/PERM",
            Self::Auth => "AUTH",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Debug for ResponseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.as_str())
    }
}

impl fmt::Display for ResponseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.as_str())
    }
}

/// A status line: the greeting, a single-line response, or the first line of a multi-line one.
///
/// RFC 2449 §9:
/// ```text
/// single-line = status [SP text] CRLF      ; 512 octets maximum
/// text        = *schar / resp-code *CHAR
/// greeting    = "+OK" [resp-code] *gchar [timestamp] *gchar CRLF
/// ```
/// (`schar` excludes SP in the RFC's grammar, but every server sends spaces in its text; the
/// parser takes any octet but CR and LF.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// `+OK` or `-ERR`.
    pub status: Status,
    /// The response code, if any.
    pub code: Option<ResponseCode>,
    /// The human-readable text after the status and code.
    pub text: Text,
}

impl Response {
    /// `+OK text`; `text` is made valid with [`Text::lossy`].
    pub fn ok(text: &str) -> Self {
        Self {
            status: Status::Ok,
            code: None,
            text: Text::lossy(text),
        }
    }

    /// `-ERR text`; `text` is made valid with [`Text::lossy`].
    pub fn err(text: &str) -> Self {
        Self {
            status: Status::Err,
            code: None,
            text: Text::lossy(text),
        }
    }

    /// `-ERR [code] text`.
    pub fn err_code(code: ResponseCode, text: &str) -> Self {
        Self {
            status: Status::Err,
            code: Some(code),
            text: Text::lossy(text),
        }
    }

    /// Whether this is `+OK`.
    pub fn is_ok(&self) -> bool {
        self.status == Status::Ok
    }

    /// RFC 1939 §4: the APOP timestamp in a greeting, `<...>` included, if there is one.
    pub fn apop_timestamp(&self) -> Option<&str> {
        let text = self.text.as_str();
        let start = text.find('<')?;
        let end = start + text[start..].find('>')?;
        Some(&text[start..=end])
    }

    /// Reads `nn mm` from the text of a STAT answer.
    pub fn stat(&self) -> Option<Stat> {
        let mut it = self.text.as_str().split(' ');
        let count = it.next()?.parse().ok()?;
        let size = it.next()?.parse().ok()?;
        Some(Stat { count, size })
    }

    /// Reads `n size` from the text of a `LIST n` answer.
    pub fn scan_listing(&self) -> Option<ScanListing> {
        let mut it = self.text.as_str().split(' ');
        let message = MessageNumber::new(it.next()?.parse().ok()?).ok()?;
        let size = it.next()?.parse().ok()?;
        Some(ScanListing { message, size })
    }

    /// Reads `n unique-id` from the text of a `UIDL n` answer.
    pub fn uid_listing(&self) -> Option<UidListing> {
        let mut it = self.text.as_str().split(' ');
        let message = MessageNumber::new(it.next()?.parse().ok()?).ok()?;
        let uid = Uid::new(it.next()?).ok()?;
        Some(UidListing { message, uid })
    }
}

/// The answer to STAT: RFC 1939 §5 "the number of messages in the maildrop and the size of the
/// maildrop in octets".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// Messages not marked as deleted.
    pub count: u32,
    /// Their total size in octets.
    pub size: u64,
}

/// A scan listing (RFC 1939 §5 LIST): `msg size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanListing {
    /// The message number.
    pub message: MessageNumber,
    /// Its exact size in octets.
    pub size: u64,
}

/// A unique-id listing (RFC 1939 §7 UIDL): `msg unique-id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UidListing {
    /// The message number.
    pub message: MessageNumber,
    /// Its unique-id.
    pub uid: Uid,
}

/// One line of a CAPA response (RFC 2449 §5, §6).
///
/// RFC 2449 §9:
/// ```text
/// capa-resp  = single-line *capability "." CRLF
/// capability = capa-tag *(SP param) CRLF   ;512 octets maximum
/// capa-tag   = 1*cchar
/// param      = 1*pchar
/// cchar      = %x21-2D / %x2F-7F           ;printable ASCII, excluding "."
/// pchar      = %x21-7F                     ;printable ASCII
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Capability {
    /// `TOP` (RFC 2449 §6.1).
    Top,
    /// `USER` (RFC 2449 §6.2).
    User,
    /// `SASL mech...` (RFC 2449 §6.3).
    Sasl(Vec<Atom>),
    /// `RESP-CODES` (RFC 2449 §6.4).
    RespCodes,
    /// `LOGIN-DELAY seconds [USER]` (RFC 2449 §6.5).
    LoginDelay {
        /// Minimum seconds between logins.
        seconds: u32,
        /// `USER`: the value may differ per user (only before login).
        per_user: bool,
    },
    /// `PIPELINING` (RFC 2449 §6.6).
    Pipelining,
    /// `EXPIRE days|NEVER [USER]` (RFC 2449 §6.7).
    Expire {
        /// Days a message is kept; `None` is `NEVER`.
        days: Option<u32>,
        /// `USER`: the value may differ per user.
        per_user: bool,
    },
    /// `UIDL` (RFC 2449 §6.8).
    Uidl,
    /// `IMPLEMENTATION text` (RFC 2449 §6.9).
    Implementation(Text),
    /// `STLS` (RFC 2595 §4).
    Stls,
    /// `AUTH-RESP-CODE` (RFC 3206 §6).
    AuthRespCode,
    /// Any other capability.
    Other {
        /// The capability tag, upper-cased by the parser.
        tag: CapabilityTag,
        /// Its parameters.
        params: Vec<Atom>,
    },
}

/// The tag of a capability outside RFC 2449 (`X-FOO`, `SASL-IR` ...).
///
/// RFC 2449 §9:
/// ```text
/// capa-tag   = 1*cchar
/// cchar      = %x21-2D / %x2F-7F           ;printable ASCII, excluding "."
/// ```
/// A tag holds no `.`, so a CAPA line never starts with one and is never read as the `.` that ends
/// the list (or needs the dot-stuffing RFC 1939 §3 applies to other multi-line responses). DEL
/// (0x7F) is refused as in every other argument.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CapabilityTag(String);

impl CapabilityTag {
    /// Validates `value` as a capability tag: 1 to 250 octets of printable ASCII without `.`.
    pub fn new(value: impl Into<String>) -> Result<Self, TypeError> {
        let value = value.into();
        if value.is_empty() {
            return Err(TypeError::Empty("capability tag"));
        }
        if value.len() > super::MAX_ARGUMENT {
            return Err(TypeError::TooLong {
                what: "capability tag",
                max: super::MAX_ARGUMENT,
            });
        }
        if let Some(&octet) = value
            .as_bytes()
            .iter()
            .find(|&&b| !(0x21..=0x7e).contains(&b) || b == b'.')
        {
            return Err(TypeError::ForbiddenOctet {
                what: "capability tag",
                octet,
            });
        }
        Ok(Self(value))
    }

    /// The tag.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CapabilityTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for CapabilityTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<&str> for CapabilityTag {
    type Error = TypeError;
    fn try_from(value: &str) -> Result<Self, TypeError> {
        Self::new(value)
    }
}

/// What a server sends while an `AUTH` exchange runs (RFC 5034 §4):
/// ```text
/// continue-req = "+" SP [base64] CRLF
/// ```
/// or the final status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthReply {
    /// A challenge, decoded from base64.
    Continue(Secret<Vec<u8>>),
    /// The outcome of the exchange.
    Done(Response),
}
