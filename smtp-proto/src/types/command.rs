//! SMTP commands (RFC 5321 §4.1.1) and their ESMTP parameters.

use std::fmt;

use super::address::{ForwardPath, Host, ReversePath};

/// An SMTP, ESMTP or LMTP command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `EHLO` (RFC 5321 §4.1.1.1).
    Ehlo(Host),
    /// `HELO` (RFC 5321 §4.1.1.1).
    Helo(Host),
    /// `LHLO` (RFC 2033 §4.1).
    Lhlo(Host),
    /// `MAIL FROM:` (RFC 5321 §4.1.1.2).
    Mail {
        /// The reverse path.
        from: ReversePath,
        /// The ESMTP parameters (allocated only when any is given).
        params: Params<MailParameters>,
    },
    /// `RCPT TO:` (RFC 5321 §4.1.1.3).
    Rcpt {
        /// The forward path.
        to: ForwardPath,
        /// The ESMTP parameters (allocated only when any is given).
        params: Params<RcptParameters>,
    },
    /// `DATA` (RFC 5321 §4.1.1.4).
    Data,
    /// `BDAT` (RFC 3030 §2): a chunk of `size` octets follows the line.
    Bdat {
        /// The chunk size in octets.
        size: u64,
        /// Whether `LAST` was given.
        last: bool,
    },
    /// `RSET` (RFC 5321 §4.1.1.5).
    Rset,
    /// `NOOP` with its optional argument (RFC 5321 §4.1.1.9).
    Noop(Option<String>),
    /// `QUIT` (RFC 5321 §4.1.1.10).
    Quit,
    /// `VRFY` (RFC 5321 §4.1.1.6).
    Vrfy(String),
    /// `EXPN` (RFC 5321 §4.1.1.7).
    Expn(String),
    /// `HELP` with its optional argument (RFC 5321 §4.1.1.8).
    Help(Option<String>),
    /// `STARTTLS` (RFC 3207 §4).
    StartTls,
    /// `AUTH` (RFC 4954 §4).
    Auth {
        /// The SASL mechanism.
        mechanism: Mechanism,
        /// The decoded initial response; `Some(empty)` for `=`.
        initial_response: Option<Vec<u8>>,
    },
}

impl Command {
    /// The command verb, upper case.
    pub fn verb(&self) -> &'static str {
        match self {
            Command::Ehlo(_) => "EHLO",
            Command::Helo(_) => "HELO",
            Command::Lhlo(_) => "LHLO",
            Command::Mail { .. } => "MAIL",
            Command::Rcpt { .. } => "RCPT",
            Command::Data => "DATA",
            Command::Bdat { .. } => "BDAT",
            Command::Rset => "RSET",
            Command::Noop(_) => "NOOP",
            Command::Quit => "QUIT",
            Command::Vrfy(_) => "VRFY",
            Command::Expn(_) => "EXPN",
            Command::Help(_) => "HELP",
            Command::StartTls => "STARTTLS",
            Command::Auth { .. } => "AUTH",
        }
    }
}

/// Error building a validated command value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// A SASL mechanism name is not `1*20mech-char` (RFC 4954 §3).
    #[error("invalid SASL mechanism name")]
    Mechanism,
    /// An ESMTP keyword or value does not follow RFC 5321 §4.1.2.
    #[error("invalid ESMTP parameter")]
    Parameter,
}

/// A SASL mechanism name: `sasl-mech = 1*20mech-char`, `mech-char = UPPER-ALPHA / DIGIT / HYPHEN /
/// UNDERSCORE` (RFC 4422 §3.1, as RFC 4954 uses it), stored upper case.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mechanism(String);

impl Mechanism {
    /// `PLAIN` (RFC 4616).
    pub fn plain() -> Self {
        Mechanism("PLAIN".into())
    }
    /// `LOGIN` (draft-murchison-sasl-login).
    pub fn login() -> Self {
        Mechanism("LOGIN".into())
    }
    /// The name, upper case.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for Mechanism {
    type Error = ValueError;
    fn try_from(s: &str) -> Result<Self, ValueError> {
        if (1..=20).contains(&s.len())
            && s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        {
            Ok(Mechanism(s.to_ascii_uppercase()))
        } else {
            Err(ValueError::Mechanism)
        }
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `BODY=` (RFC 6152 §2, RFC 3030 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BodyType {
    /// `7BIT`.
    SevenBit,
    /// `8BITMIME`.
    EightBitMime,
    /// `BINARYMIME` (needs BDAT).
    BinaryMime,
}

/// `RET=` of DSN (RFC 3461 §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ret {
    /// `FULL`: return the whole message.
    Full,
    /// `HDRS`: return the headers only.
    Headers,
}

/// `NOTIFY=` of DSN (RFC 3461 §4.1): `"NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" )`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Notify {
    /// `NEVER`.
    Never,
    /// A non-empty set of conditions.
    On {
        /// `SUCCESS`.
        success: bool,
        /// `FAILURE`.
        failure: bool,
        /// `DELAY`.
        delay: bool,
    },
}

/// `ORCPT=` of DSN (RFC 3461 §4.2): `addr-type ";" xtext`, held decoded.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OriginalRecipient {
    /// The address type, e.g. `rfc822` or `utf-8`.
    pub addr_type: String,
    /// The address, xtext-decoded.
    pub address: String,
}

/// `AUTH=` of MAIL (RFC 4954 §5).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MailAuth {
    /// `AUTH=<>`: the submitter is not trusted to be known.
    Unknown,
    /// `AUTH=xtext`, held decoded.
    Mailbox(String),
}

/// An ESMTP parameter this crate does not model: `esmtp-keyword ["=" esmtp-value]`
/// (RFC 5321 §4.1.2), the keyword upper case.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Parameter {
    /// The keyword, upper case.
    pub keyword: String,
    /// The value, when given.
    pub value: Option<String>,
}

/// The parameters of `MAIL FROM:`.
///
/// In a [`Command`] or server event they are held as [`Params<MailParameters>`], boxed only
/// when any is set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MailParameters {
    /// `SIZE=` (RFC 1870 §6).
    pub size: Option<u64>,
    /// `BODY=`.
    pub body: Option<BodyType>,
    /// `SMTPUTF8` (RFC 6531 §3.4).
    pub smtputf8: bool,
    /// `RET=` (RFC 3461).
    pub ret: Option<Ret>,
    /// `ENVID=` (RFC 3461 §4.4), xtext-decoded.
    pub envid: Option<String>,
    /// `AUTH=` (RFC 4954 §5).
    pub auth: Option<MailAuth>,
    /// `REQUIRETLS` (RFC 8689 §4.1).
    pub requiretls: bool,
    /// Any other parameter, in order.
    pub other: Vec<Parameter>,
}

/// No `MAIL` parameter: what an unset [`Params<MailParameters>`] reads as.
static NO_MAIL_PARAMETERS: MailParameters = MailParameters {
    size: None,
    body: None,
    smtputf8: false,
    ret: None,
    envid: None,
    auth: None,
    requiretls: false,
    other: Vec::new(),
};

/// No `RCPT` parameter: what an unset [`Params<RcptParameters>`] reads as.
static NO_RCPT_PARAMETERS: RcptParameters = RcptParameters {
    notify: None,
    orcpt: None,
    other: Vec::new(),
};

impl MailParameters {
    /// Whether no parameter is set.
    pub fn is_empty(&self) -> bool {
        *self == NO_MAIL_PARAMETERS
    }
}

/// The parameters of `RCPT TO:`.
///
/// In a [`Command`] or server event they are held as [`Params<RcptParameters>`], boxed only
/// when any is set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RcptParameters {
    /// `NOTIFY=` (RFC 3461).
    pub notify: Option<Notify>,
    /// `ORCPT=` (RFC 3461).
    pub orcpt: Option<OriginalRecipient>,
    /// Any other parameter, in order.
    pub other: Vec<Parameter>,
}

impl RcptParameters {
    /// Whether no parameter is set.
    pub fn is_empty(&self) -> bool {
        *self == NO_RCPT_PARAMETERS
    }
}

/// The ESMTP parameters of a `MAIL` or `RCPT` command, on the heap only when any is set.
///
/// A [`Command`] is moved once per parsed line, and parameters held inline made it three times
/// larger; boxed always, `MAIL FROM:<a@b>` would allocate for nothing. So an unset `Params`
/// holds no allocation and reads (through `Deref`) as the empty parameter set; the first write
/// through `DerefMut` (`params.size = Some(n)`) allocates. Equality compares the parameters:
/// an allocated but empty set equals an unset one.
#[derive(Clone, Default)]
pub struct Params<T>(Option<Box<T>>);

impl<T> Params<T> {
    /// No parameters (allocates nothing).
    pub const fn none() -> Self {
        Params(None)
    }

    /// Whether the parameters are held on the heap (some were set at some point).
    pub fn is_allocated(&self) -> bool {
        self.0.is_some()
    }
}

macro_rules! params_impls {
    ($t:ty, $empty:ident) => {
        impl From<$t> for Params<$t> {
            /// Boxes `p`, or holds nothing when it is empty.
            fn from(p: $t) -> Self {
                if p.is_empty() {
                    Params(None)
                } else {
                    Params(Some(Box::new(p)))
                }
            }
        }

        impl Params<$t> {
            /// The parameters by value (the empty set when unset).
            pub fn into_inner(self) -> $t {
                self.0.map(|b| *b).unwrap_or_default()
            }
        }

        impl std::ops::Deref for Params<$t> {
            type Target = $t;
            fn deref(&self) -> &$t {
                self.0.as_deref().unwrap_or(&$empty)
            }
        }

        impl std::ops::DerefMut for Params<$t> {
            /// Allocates the (empty) parameters on the first write.
            fn deref_mut(&mut self) -> &mut $t {
                self.0.get_or_insert_with(Box::default)
            }
        }

        impl PartialEq for Params<$t> {
            fn eq(&self, other: &Self) -> bool {
                **self == **other
            }
        }

        impl Eq for Params<$t> {}

        impl fmt::Debug for Params<$t> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                (**self).fmt(f)
            }
        }
    };
}

params_impls!(MailParameters, NO_MAIL_PARAMETERS);
params_impls!(RcptParameters, NO_RCPT_PARAMETERS);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{AddressLiteral, Host, Mailbox};

    /// A `Command` is moved once per parsed line (inside a `Result`): keep it small (it was 168
    /// octets). Parameters and general address literals are boxed for this. `MAIL` holds a
    /// 56-octet path and the 8-octet `Params`, and `RCPT` the same, so the variant tag takes one
    /// more word: 72. 64 would need a 24-octet `Host`, that is every address literal boxed,
    /// `EHLO [192.0.2.1]` included.
    #[test]
    fn command_is_small() {
        let size = std::mem::size_of::<Command>();
        assert!(size <= 72, "size_of::<Command>() = {size}");
        assert!(std::mem::size_of::<Host>() <= 32);
        assert!(std::mem::size_of::<AddressLiteral>() <= 24);
        assert!(std::mem::size_of::<Mailbox>() <= 56);
        assert_eq!(std::mem::size_of::<Params<MailParameters>>(), 8);
    }

    /// Unset parameters allocate nothing and read as the empty set; the first write
    /// allocates; equality compares the values.
    #[test]
    fn params_box_on_write() {
        let mut p: Params<MailParameters> = Params::none();
        assert!(!p.is_allocated());
        assert!(p.is_empty() && p.size.is_none());
        assert_eq!(p, Params::from(MailParameters::default()));
        assert!(!Params::from(MailParameters::default()).is_allocated());
        p.size = Some(10);
        assert!(p.is_allocated());
        assert_eq!(p.clone().into_inner().size, Some(10));
        p.size = None;
        assert_eq!(p, Params::none());
        let r: Params<RcptParameters> = RcptParameters {
            notify: Some(Notify::Never),
            ..RcptParameters::default()
        }
        .into();
        assert!(r.is_allocated());
        assert_eq!(format!("{r:?}"), format!("{:?}", r.clone().into_inner()));
    }
}
