//! Replies (RFC 5321 §4.2), enhanced status codes (RFC 3463, RFC 2034) and the EHLO capability list.

use std::borrow::Cow;
use std::fmt;

use super::command::Mechanism;

/// Error building a reply value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// The code is not `%x32-35 %x30-35 %x30-39` (RFC 5321 §4.2).
    #[error("invalid reply code {0}")]
    Code(u16),
    /// The enhanced code is not `class "." subject "." detail` (RFC 3463 §2).
    #[error("invalid enhanced status code")]
    Enhanced,
    /// The text holds CR or LF or another control character.
    #[error("invalid reply text")]
    Text,
}

/// A reply code: `Reply-code = %x32-35 %x30-35 %x30-39` (RFC 5321 §4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplyCode(u16);

impl ReplyCode {
    /// Validates a code.
    pub const fn new(code: u16) -> Result<Self, ReplyError> {
        let (a, b) = (code / 100, (code / 10) % 10);
        if a >= 2 && a <= 5 && b <= 5 {
            Ok(ReplyCode(code))
        } else {
            Err(ReplyError::Code(code))
        }
    }
    /// The numeric value.
    pub const fn get(self) -> u16 {
        self.0
    }
    /// The first digit (2 to 5).
    pub const fn class(self) -> u8 {
        (self.0 / 100) as u8
    }
    /// 2xx.
    pub const fn is_positive(self) -> bool {
        self.0 / 100 == 2
    }
    /// 3xx.
    pub const fn is_intermediate(self) -> bool {
        self.0 / 100 == 3
    }
    /// 4xx.
    pub const fn is_transient(self) -> bool {
        self.0 / 100 == 4
    }
    /// 5xx.
    pub const fn is_permanent(self) -> bool {
        self.0 / 100 == 5
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An enhanced status code `class "." subject "." detail` (RFC 3463 §2): class 2, 4 or 5,
/// subject and detail `1*3digit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EnhancedCode {
    class: u8,
    subject: u16,
    detail: u16,
}

impl EnhancedCode {
    /// Validates an enhanced code.
    pub const fn new(class: u8, subject: u16, detail: u16) -> Result<Self, ReplyError> {
        if (class == 2 || class == 4 || class == 5) && subject <= 999 && detail <= 999 {
            Ok(EnhancedCode {
                class,
                subject,
                detail,
            })
        } else {
            Err(ReplyError::Enhanced)
        }
    }
    /// The class digit.
    pub const fn class(self) -> u8 {
        self.class
    }
    /// The subject.
    pub const fn subject(self) -> u16 {
        self.subject
    }
    /// The detail.
    pub const fn detail(self) -> u16 {
        self.detail
    }
}

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

/// A reply: a code, an optional enhanced code (written at the start of every line), and one or
/// more text lines (RFC 5321 §4.2.1).
///
/// The text is kept as the octets that were sent: RFC 5321 §4.2 allows only printable US-ASCII
/// (`textstring = 1*(%d09 / %d32-126)`) and RFC 6531 adds UTF-8, but deployed servers also send
/// Latin-1 (`550 5.1.1 Empf\xe4nger unbekannt`), so a reply is read whatever its encoding.
/// [`Reply::raw_lines`] gives the octets, [`Reply::lines`] and `Display` a lossy UTF-8 reading.
#[derive(Clone, PartialEq, Eq)]
pub struct Reply {
    code: ReplyCode,
    enhanced: Option<EnhancedCode>,
    lines: Vec<Vec<u8>>,
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reply")
            .field("code", &self.code)
            .field("enhanced", &self.enhanced)
            .field("lines", &self.lines())
            .finish()
    }
}

/// Shorthand used for the crate's own replies; the arguments are constants known to be valid.
pub(crate) fn r(code: u16, enhanced: (u8, u16, u16), text: &str) -> Reply {
    Reply {
        code: ReplyCode(code),
        enhanced: Some(EnhancedCode {
            class: enhanced.0,
            subject: enhanced.1,
            detail: enhanced.2,
        }),
        lines: vec![text.as_bytes().to_vec()],
    }
}

impl Reply {
    /// Builds a reply; `text` is split into lines at `\n`. Text may not hold CR or controls other
    /// than TAB (`textstring = 1*(%d09 / %d32-126)`, UTF-8 allowed by RFC 6531).
    pub fn new(code: u16, enhanced: Option<EnhancedCode>, text: &str) -> Result<Self, ReplyError> {
        let code = ReplyCode::new(code)?;
        if let Some(e) = enhanced
            && e.class != code.class()
        {
            return Err(ReplyError::Enhanced);
        }
        Self::from_parts(code, enhanced, text.split('\n'))
    }

    /// Builds a reply from its lines (text or octets). A line may not hold CR, LF or controls
    /// other than TAB; octets above 127 are kept as they are.
    pub fn from_parts<L: Into<Vec<u8>>>(
        code: ReplyCode,
        enhanced: Option<EnhancedCode>,
        lines: impl IntoIterator<Item = L>,
    ) -> Result<Self, ReplyError> {
        let mut lines: Vec<Vec<u8>> = lines.into_iter().map(Into::into).collect();
        let bad = |l: &Vec<u8>| l.iter().any(|&c| (c < 32 && c != b'\t') || c == 127);
        if lines.iter().any(bad) {
            return Err(ReplyError::Text);
        }
        if lines.is_empty() {
            lines.push(Vec::new());
        }
        Ok(Reply {
            code,
            enhanced,
            lines,
        })
    }

    /// `250 2.0.0 OK`.
    pub fn ok() -> Self {
        r(250, (2, 0, 0), "OK")
    }

    /// The code.
    pub fn code(&self) -> ReplyCode {
        self.code
    }
    /// The enhanced code, if any.
    pub fn enhanced(&self) -> Option<EnhancedCode> {
        self.enhanced
    }
    /// The text lines as sent (at least one, maybe empty), without the enhanced code.
    pub fn raw_lines(&self) -> &[Vec<u8>] {
        &self.lines
    }
    /// The text lines as text; octets that are not UTF-8 read as U+FFFD.
    pub fn lines(&self) -> Vec<Cow<'_, str>> {
        self.lines
            .iter()
            .map(|l| String::from_utf8_lossy(l))
            .collect()
    }
    /// The lines joined with `\n`, read as [`Reply::lines`] reads them.
    pub fn text(&self) -> String {
        self.lines().join("\n")
    }
    /// 2xx.
    pub fn is_positive(&self) -> bool {
        self.code.is_positive()
    }
    /// The same reply without its enhanced code (for a server that does not offer
    /// ENHANCEDSTATUSCODES).
    pub(crate) fn without_enhanced(mut self) -> Self {
        self.enhanced = None;
        self
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}",
            String::from_utf8_lossy(&self.to_bytes()).trim_end()
        )
    }
}

/// One EHLO keyword line (RFC 5321 §4.1.1.1: `ehlo-line = ehlo-keyword *( SP ehlo-param )`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Capability {
    /// `SIZE [limit]` (RFC 1870); `None` or `Some(0)` for no fixed limit.
    Size(Option<u64>),
    /// `8BITMIME` (RFC 6152).
    EightBitMime,
    /// `BINARYMIME` (RFC 3030).
    BinaryMime,
    /// `CHUNKING` (RFC 3030).
    Chunking,
    /// `PIPELINING` (RFC 2920).
    Pipelining,
    /// `ENHANCEDSTATUSCODES` (RFC 2034).
    EnhancedStatusCodes,
    /// `DSN` (RFC 3461).
    Dsn,
    /// `SMTPUTF8` (RFC 6531).
    SmtpUtf8,
    /// `STARTTLS` (RFC 3207).
    StartTls,
    /// `AUTH mech...` (RFC 4954).
    Auth(Vec<Mechanism>),
    /// `REQUIRETLS` (RFC 8689).
    RequireTls,
    /// Any other keyword with its parameters.
    Other {
        /// The keyword, upper case.
        keyword: String,
        /// Its parameters.
        params: Vec<String>,
    },
}

/// The positive EHLO reply: `250-Domain [SP ehlo-greet]` then one line per capability
/// (RFC 5321 §4.1.1.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EhloResponse {
    /// The server's name, first word of the first line.
    pub domain: String,
    /// The rest of the first line.
    pub greeting: Option<String>,
    /// The capabilities in order.
    pub capabilities: Vec<Capability>,
}

impl EhloResponse {
    /// Whether a capability of this kind is present (parameters ignored).
    pub fn has(&self, cap: &Capability) -> bool {
        self.capabilities
            .iter()
            .any(|c| std::mem::discriminant(c) == std::mem::discriminant(cap))
    }
    /// The `SIZE` limit, when one is advertised and not zero.
    pub fn size(&self) -> Option<u64> {
        self.capabilities.iter().find_map(|c| match c {
            Capability::Size(Some(n)) if *n > 0 => Some(*n),
            _ => None,
        })
    }
    /// The advertised SASL mechanisms.
    pub fn auth_mechanisms(&self) -> &[Mechanism] {
        self.capabilities
            .iter()
            .find_map(|c| match c {
                Capability::Auth(m) => Some(m.as_slice()),
                _ => None,
            })
            .unwrap_or(&[])
    }

    /// Reads an EHLO reply; `None` unless it is a 250.
    pub fn from_reply(reply: &Reply) -> Option<Self> {
        if reply.code.get() != 250 {
            return None;
        }
        let lines = reply.lines();
        let mut lines = lines.iter();
        let first = lines.next()?;
        let (domain, greeting) = match first.split_once(' ') {
            Some((d, g)) => (d.to_owned(), Some(g.to_owned())),
            None => (first.clone().into_owned(), None),
        };
        let capabilities = lines.filter_map(|l| Capability::parse(l)).collect();
        Some(EhloResponse {
            domain,
            greeting,
            capabilities,
        })
    }

    /// Builds the 250 reply (no enhanced code, as RFC 2034 §3 leaves EHLO lines bare).
    pub fn to_reply(&self) -> Reply {
        let mut first = self.domain.clone();
        if let Some(g) = &self.greeting {
            first.push(' ');
            first.push_str(g);
        }
        let mut lines = vec![first.into_bytes()];
        lines.extend(self.capabilities.iter().map(|c| c.to_string().into_bytes()));
        Reply {
            code: ReplyCode(250),
            enhanced: None,
            lines,
        }
    }
}

impl Capability {
    fn parse(line: &str) -> Option<Self> {
        let mut words = line.split(' ').filter(|w| !w.is_empty());
        let keyword = words.next()?.to_ascii_uppercase();
        let params: Vec<&str> = words.collect();
        Some(match keyword.as_str() {
            "SIZE" => Capability::Size(params.first().and_then(|p| p.parse().ok())),
            "8BITMIME" => Capability::EightBitMime,
            "BINARYMIME" => Capability::BinaryMime,
            "CHUNKING" => Capability::Chunking,
            "PIPELINING" => Capability::Pipelining,
            "ENHANCEDSTATUSCODES" => Capability::EnhancedStatusCodes,
            "DSN" => Capability::Dsn,
            "SMTPUTF8" => Capability::SmtpUtf8,
            "STARTTLS" => Capability::StartTls,
            "REQUIRETLS" => Capability::RequireTls,
            "AUTH" => Capability::Auth(
                params
                    .iter()
                    .filter_map(|m| Mechanism::try_from(*m).ok())
                    .collect(),
            ),
            _ => Capability::Other {
                keyword,
                params: params.into_iter().map(str::to_owned).collect(),
            },
        })
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Capability::Size(None) => f.write_str("SIZE"),
            Capability::Size(Some(n)) => write!(f, "SIZE {n}"),
            Capability::EightBitMime => f.write_str("8BITMIME"),
            Capability::BinaryMime => f.write_str("BINARYMIME"),
            Capability::Chunking => f.write_str("CHUNKING"),
            Capability::Pipelining => f.write_str("PIPELINING"),
            Capability::EnhancedStatusCodes => f.write_str("ENHANCEDSTATUSCODES"),
            Capability::Dsn => f.write_str("DSN"),
            Capability::SmtpUtf8 => f.write_str("SMTPUTF8"),
            Capability::StartTls => f.write_str("STARTTLS"),
            Capability::RequireTls => f.write_str("REQUIRETLS"),
            Capability::Auth(m) => {
                f.write_str("AUTH")?;
                for m in m {
                    write!(f, " {m}")?;
                }
                Ok(())
            }
            Capability::Other { keyword, params } => {
                f.write_str(keyword)?;
                for p in params {
                    write!(f, " {p}")?;
                }
                Ok(())
            }
        }
    }
}
