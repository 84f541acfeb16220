//! Mailboxes, domains and paths of RFC 5321 §4.1.2 and §4.1.3 (with the UTF-8 forms of RFC 6531).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use smol_str::SmolStr;

use crate::parse::address as p;

/// Error building an address value from a string that does not follow the grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// The domain is not `sub-domain *("." sub-domain)` (RFC 5321 §4.1.2).
    #[error("invalid domain")]
    Domain,
    /// The local part holds a control character or is not valid UTF-8.
    #[error("invalid local part")]
    LocalPart,
    /// The mailbox is not `Local-part "@" ( Domain / address-literal )`.
    #[error("invalid mailbox")]
    Mailbox,
    /// The path is not `"<" Mailbox ">"` (a bracket missing, or text after `>`).
    #[error("invalid path")]
    Path,
}

/// `FromStr` through the type's `TryFrom<&str>`.
macro_rules! from_str_via_try_from {
    ($($t:ty),*) => {$(
        impl std::str::FromStr for $t {
            type Err = AddressError;
            fn from_str(s: &str) -> Result<Self, AddressError> {
                Self::try_from(s)
            }
        }
    )*};
}

from_str_via_try_from!(Domain, Host, Mailbox, ReversePath, ForwardPath);

/// A path as people write it: `<mailbox>` (a source route dropped, RFC 5321 §4.1.1.3) or a bare
/// mailbox; `parse_path` reads the bracketed form.
fn path_or_mailbox<T>(
    s: &str,
    parse_path: impl Fn(&[u8]) -> nom::IResult<&[u8], T>,
    bare: impl Fn(Mailbox) -> T,
) -> Result<T, AddressError> {
    let Some(inner) = s.strip_prefix('<') else {
        return Mailbox::try_from(s).map(bare);
    };
    if let Ok(([], v)) = parse_path(s.as_bytes()) {
        return Ok(v);
    }
    // Say what is wrong: the mailbox, or the brackets around a good one.
    let inner = inner.strip_suffix('>').unwrap_or(inner);
    if inner.contains(['<', '>']) {
        return Err(AddressError::Path);
    }
    match Mailbox::try_from(inner) {
        Ok(_) => Err(AddressError::Path),
        Err(e) => Err(e),
    }
}

/// `s` inline when it fits, by `SmolStr::new_inline` on a slice of constant length (one
/// match arm per length): with the length unknown, its copy loop becomes a `memcpy` call into a
/// stack buffer with narrow stores, read back at once with wide loads (a store-forwarding stall,
/// ~8% of the time of parsing a pipelined transaction); with a constant length the compiler
/// builds the buffer in registers.
#[inline]
fn small(s: &str) -> SmolStr {
    macro_rules! fixed {
        ($($n:literal)*) => {
            match s.len() {
                $($n => SmolStr::new_inline(&s[..$n]),)*
                _ => SmolStr::new(s),
            }
        };
    }
    fixed!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23)
}

/// A domain name: `Domain = sub-domain *("." sub-domain)` (RFC 5321 §4.1.2), U-labels allowed
/// (RFC 6531 §3.3). Underscores are tolerated, as deployed resolvers do.
///
/// Held inline when no longer than 23 octets (no heap allocation), as most are.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Domain(SmolStr);

impl Domain {
    /// The domain as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn new_unchecked(s: &str) -> Self {
        Domain(small(s))
    }
}

impl TryFrom<&str> for Domain {
    type Error = AddressError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        match p::domain(s.as_bytes()) {
            Ok(([], d)) => Ok(d),
            _ => Err(AddressError::Domain),
        }
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An address literal (RFC 5321 §4.1.3), the text between `[` and `]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AddressLiteral {
    /// `IPv4-address-literal = Snum 3("."  Snum)`.
    Ipv4(Ipv4Addr),
    /// `IPv6-address-literal = "IPv6:" IPv6-addr`.
    Ipv6(Ipv6Addr),
    /// `General-address-literal = Standardized-tag ":" 1*dcontent`, boxed: it is rare, and
    /// held inline it would make every [`Host`] (and so every [`Command`](crate::Command))
    /// larger.
    General(Box<GeneralLiteral>),
}

/// `General-address-literal = Standardized-tag ":" 1*dcontent` (RFC 5321 §4.1.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GeneralLiteral {
    /// The `Standardized-tag`.
    pub tag: String,
    /// The `1*dcontent` after the colon.
    pub content: String,
}

impl AddressLiteral {
    /// A general address literal `[tag:content]`, unchecked (the encoder writes it as given).
    pub fn general(tag: impl Into<String>, content: impl Into<String>) -> Self {
        AddressLiteral::General(Box::new(GeneralLiteral {
            tag: tag.into(),
            content: content.into(),
        }))
    }
}

impl fmt::Display for AddressLiteral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressLiteral::Ipv4(a) => write!(f, "[{a}]"),
            AddressLiteral::Ipv6(a) => write!(f, "[IPv6:{a}]"),
            AddressLiteral::General(g) => write!(f, "[{}:{}]", g.tag, g.content),
        }
    }
}

/// A host: a domain or an address literal, as in `Mailbox` and in `EHLO` (RFC 5321 §4.1.1.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// A domain name.
    Domain(Domain),
    /// An address literal in brackets.
    Literal(AddressLiteral),
}

impl TryFrom<&str> for Host {
    type Error = AddressError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        match p::host(s.as_bytes()) {
            Ok(([], h)) => Ok(h),
            _ => Err(AddressError::Domain),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => d.fmt(f),
            Host::Literal(l) => l.fmt(f),
        }
    }
}

/// The local part of a mailbox, held unquoted. It is written as a `Dot-string` when it is one and
/// as a `Quoted-string` otherwise (RFC 5321 §4.1.2), so any value round-trips.
///
/// Held inline when no longer than 23 octets (no heap allocation), as most are.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LocalPart(SmolStr);

impl LocalPart {
    /// The unquoted value.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the value is a `Dot-string` and needs no quoting.
    pub fn is_dot_string(&self) -> bool {
        let b = self.0.as_bytes();
        !b.is_empty()
            && b.split(|&c| c == b'.')
                .all(|atom| !atom.is_empty() && atom.iter().all(|&c| p::is_atext(c)))
    }

    pub(crate) fn new_unchecked(s: &str) -> Self {
        LocalPart(small(s))
    }
}

impl TryFrom<&str> for LocalPart {
    type Error = AddressError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        // qtextSMTP and quoted-pairSMTP cover %d32-126; RFC 6531 adds UTF8-non-ascii.
        if s.bytes().all(|c| (32..=126).contains(&c) || c >= 0x80) {
            Ok(LocalPart(SmolStr::new(s)))
        } else {
            Err(AddressError::LocalPart)
        }
    }
}

impl fmt::Display for LocalPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_dot_string() {
            return f.write_str(&self.0);
        }
        f.write_str("\"")?;
        for c in self.0.chars() {
            if c == '"' || c == '\\' {
                f.write_str("\\")?;
            }
            write!(f, "{c}")?;
        }
        f.write_str("\"")
    }
}

/// `Mailbox = Local-part "@" ( Domain / address-literal )` (RFC 5321 §4.1.2).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mailbox {
    /// The part before `@`.
    pub local_part: LocalPart,
    /// The part after `@`.
    pub host: Host,
}

impl Mailbox {
    /// Whether any part needs SMTPUTF8 (RFC 6531) to be sent.
    pub fn is_utf8(&self) -> bool {
        !self.local_part.as_str().is_ascii()
            || matches!(&self.host, Host::Domain(d) if !d.as_str().is_ascii())
    }
}

impl TryFrom<&str> for Mailbox {
    type Error = AddressError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        match p::mailbox(s.as_bytes()) {
            Ok(([], m)) => Ok(m),
            _ => Err(AddressError::Mailbox),
        }
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local_part, self.host)
    }
}

/// The argument of `MAIL FROM:`: `Reverse-path = Path / "<>"` (RFC 5321 §4.1.2). A source route
/// (`A-d-l`) is accepted and dropped (§4.1.1.3 says to ignore it).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ReversePath {
    /// `<>`: the null reverse path of bounces.
    Null,
    /// A sender mailbox.
    Mailbox(Mailbox),
}

impl TryFrom<&str> for ReversePath {
    type Error = AddressError;
    /// `<>` (or the empty text) is the null path; otherwise `<mailbox>` or a bare mailbox.
    ///
    /// ```
    /// use mailwright_smtp_proto::ReversePath;
    ///
    /// assert_eq!("<>".parse::<ReversePath>()?, ReversePath::Null);
    /// let sender: ReversePath = "alice@example.org".parse()?;
    /// assert_eq!(sender.to_string(), "<alice@example.org>");
    /// assert_eq!(sender, "<alice@example.org>".parse()?);
    /// # Ok::<(), mailwright_smtp_proto::AddressError>(())
    /// ```
    fn try_from(s: &str) -> Result<Self, AddressError> {
        if s.is_empty() || s == "<>" {
            return Ok(ReversePath::Null);
        }
        path_or_mailbox(s, p::reverse_path, ReversePath::Mailbox)
    }
}

impl fmt::Display for ReversePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReversePath::Null => f.write_str("<>"),
            ReversePath::Mailbox(m) => write!(f, "<{m}>"),
        }
    }
}

/// The argument of `RCPT TO:`: `"<Postmaster>" / Forward-path` (RFC 5321 §4.1.1.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ForwardPath {
    /// `<Postmaster>` without a domain (case-insensitive).
    Postmaster,
    /// A recipient mailbox.
    Mailbox(Mailbox),
}

impl TryFrom<&str> for ForwardPath {
    type Error = AddressError;
    /// `<mailbox>` or a bare mailbox; `<Postmaster>` or `Postmaster` (any case) is
    /// [`ForwardPath::Postmaster`].
    ///
    /// ```
    /// use mailwright_smtp_proto::{AddressError, ForwardPath};
    ///
    /// let rcpt: ForwardPath = "bob@example.net".parse()?;
    /// assert_eq!(rcpt.to_string(), "<bob@example.net>");
    /// assert_eq!("postmaster".parse::<ForwardPath>()?, ForwardPath::Postmaster);
    /// assert_eq!("<bob@example.net".parse::<ForwardPath>(), Err(AddressError::Path));
    /// assert_eq!("bob".parse::<ForwardPath>(), Err(AddressError::Mailbox));
    /// # Ok::<(), AddressError>(())
    /// ```
    fn try_from(s: &str) -> Result<Self, AddressError> {
        if s.eq_ignore_ascii_case("postmaster") {
            return Ok(ForwardPath::Postmaster);
        }
        path_or_mailbox(s, p::forward_path, ForwardPath::Mailbox)
    }
}

impl fmt::Display for ForwardPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForwardPath::Postmaster => f.write_str("<Postmaster>"),
            ForwardPath::Mailbox(m) => write!(f, "<{m}>"),
        }
    }
}
