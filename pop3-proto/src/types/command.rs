//! POP3 commands (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH).

use super::{Atom, MessageNumber, Password, Secret, TypeError};

/// A command a client sends.
///
/// RFC 1939 §3: "Commands in the POP3 consist of a case-insensitive keyword, possibly followed by
/// one or more arguments. All commands are terminated by a CRLF pair. Keywords and arguments
/// consist of printable ASCII characters. Keywords and arguments are each separated by a single
/// SPACE character."
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// `USER name` (RFC 1939 §7).
    User(Atom),
    /// `PASS string` (RFC 1939 §7); the rest of the line, spaces included.
    Pass(Password),
    /// `APOP name digest` (RFC 1939 §7); `digest` is 32 lower-case hex digits of MD5.
    Apop {
        /// The mailbox name.
        name: Atom,
        /// The MD5 digest of the greeting timestamp followed by the shared secret.
        digest: Atom,
    },
    /// `STAT` (RFC 1939 §5).
    Stat,
    /// `LIST [msg]` (RFC 1939 §5).
    List(Option<MessageNumber>),
    /// `RETR msg` (RFC 1939 §5).
    Retr(MessageNumber),
    /// `DELE msg` (RFC 1939 §5).
    Dele(MessageNumber),
    /// `NOOP` (RFC 1939 §5).
    Noop,
    /// `RSET` (RFC 1939 §5).
    Rset,
    /// `QUIT` (RFC 1939 §4 and §6).
    Quit,
    /// `TOP msg n` (RFC 1939 §7).
    Top {
        /// The message.
        message: MessageNumber,
        /// How many lines of the body to send after the headers.
        lines: u32,
    },
    /// `UIDL [msg]` (RFC 1939 §7).
    Uidl(Option<MessageNumber>),
    /// `CAPA` (RFC 2449 §5).
    Capa,
    /// `STLS` (RFC 2595 §4).
    Stls,
    /// `AUTH mechanism [initial-response]` (RFC 5034 §4); the initial response is decoded from
    /// base64 (`=` is an empty response).
    Auth {
        /// The SASL mechanism name, upper-cased by the parser.
        mechanism: Atom,
        /// The decoded initial response, if the client sent one.
        initial_response: Option<Secret<Vec<u8>>>,
    },
}

/// The keyword of a [`Command`], without its arguments: what a response answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CommandKind {
    /// `USER`.
    User,
    /// `PASS`.
    Pass,
    /// `APOP`.
    Apop,
    /// `STAT`.
    Stat,
    /// `LIST`.
    List,
    /// `RETR`.
    Retr,
    /// `DELE`.
    Dele,
    /// `NOOP`.
    Noop,
    /// `RSET`.
    Rset,
    /// `QUIT`.
    Quit,
    /// `TOP`.
    Top,
    /// `UIDL`.
    Uidl,
    /// `CAPA`.
    Capa,
    /// `STLS`.
    Stls,
    /// `AUTH`.
    Auth,
}

impl CommandKind {
    /// The keyword as sent on the wire.
    pub fn keyword(self) -> &'static str {
        match self {
            Self::User => "USER",
            Self::Pass => "PASS",
            Self::Apop => "APOP",
            Self::Stat => "STAT",
            Self::List => "LIST",
            Self::Retr => "RETR",
            Self::Dele => "DELE",
            Self::Noop => "NOOP",
            Self::Rset => "RSET",
            Self::Quit => "QUIT",
            Self::Top => "TOP",
            Self::Uidl => "UIDL",
            Self::Capa => "CAPA",
            Self::Stls => "STLS",
            Self::Auth => "AUTH",
        }
    }
}

/// Constructors from plain values, checked as the wire requires: arguments without spaces or
/// control characters, message numbers from 1.
///
/// ```
/// use mailwright_pop3_proto::{Command, Encode, TypeError};
///
/// let session = [
///     Command::user("alice")?,
///     Command::pass("correct horse")?,
///     Command::list_all(),
///     Command::top(1, 10)?,
///     Command::retr(2)?,
///     Command::dele(2)?,
///     Command::Quit,
/// ];
/// let wire: Vec<u8> = session.iter().flat_map(Encode::to_bytes).collect();
/// assert_eq!(
///     wire,
///     b"USER alice\r\nPASS correct horse\r\nLIST\r\nTOP 1 10\r\nRETR 2\r\nDELE 2\r\nQUIT\r\n"
/// );
/// assert!(!format!("{:?}", session[1]).contains("horse"));
/// assert_eq!(Command::retr(0), Err(TypeError::ZeroMessageNumber));
/// assert!(Command::user("al ice").is_err());
/// # Ok::<(), TypeError>(())
/// ```
impl Command {
    /// `USER name`.
    pub fn user(name: &str) -> Result<Self, TypeError> {
        Atom::new(name).map(Self::User)
    }

    /// `PASS password`: the rest of the line, spaces allowed (no CR, LF or NUL).
    pub fn pass(password: impl Into<Vec<u8>>) -> Result<Self, TypeError> {
        Password::new(password).map(Self::Pass)
    }

    /// `APOP name digest`: `digest` is the MD5 of the greeting's timestamp and the shared
    /// secret, in lower-case hex (RFC 1939 §7).
    pub fn apop(name: &str, digest: &str) -> Result<Self, TypeError> {
        Ok(Self::Apop {
            name: Atom::new(name)?,
            digest: Atom::new(digest)?,
        })
    }

    /// `LIST`: the size of every message.
    pub fn list_all() -> Self {
        Self::List(None)
    }

    /// `LIST msg`: the size of one message.
    pub fn list(message: u32) -> Result<Self, TypeError> {
        MessageNumber::new(message).map(|n| Self::List(Some(n)))
    }

    /// `UIDL`: the unique id of every message.
    pub fn uidl_all() -> Self {
        Self::Uidl(None)
    }

    /// `UIDL msg`: the unique id of one message.
    pub fn uidl(message: u32) -> Result<Self, TypeError> {
        MessageNumber::new(message).map(|n| Self::Uidl(Some(n)))
    }

    /// `RETR msg`.
    pub fn retr(message: u32) -> Result<Self, TypeError> {
        MessageNumber::new(message).map(Self::Retr)
    }

    /// `DELE msg`.
    pub fn dele(message: u32) -> Result<Self, TypeError> {
        MessageNumber::new(message).map(Self::Dele)
    }

    /// `TOP msg n`: the headers and the first `lines` lines of the body.
    pub fn top(message: u32, lines: u32) -> Result<Self, TypeError> {
        Ok(Self::Top {
            message: MessageNumber::new(message)?,
            lines,
        })
    }

    /// `AUTH mechanism [initial-response]` (RFC 5034): `initial_response` is sent in base64
    /// (`=` when empty).
    ///
    /// ```
    /// use mailwright_pop3_proto::{Command, Encode};
    ///
    /// let auth = Command::auth("PLAIN", Some(b"\0alice\0pw"))?;
    /// assert_eq!(auth.to_bytes(), b"AUTH PLAIN AGFsaWNlAHB3\r\n");
    /// # Ok::<(), mailwright_pop3_proto::TypeError>(())
    /// ```
    pub fn auth(mechanism: &str, initial_response: Option<&[u8]>) -> Result<Self, TypeError> {
        Ok(Self::Auth {
            mechanism: Atom::new(mechanism.to_ascii_uppercase())?,
            initial_response: initial_response.map(|r| Secret::new(r.to_vec())),
        })
    }

    /// The keyword of this command.
    pub fn kind(&self) -> CommandKind {
        match self {
            Self::User(_) => CommandKind::User,
            Self::Pass(_) => CommandKind::Pass,
            Self::Apop { .. } => CommandKind::Apop,
            Self::Stat => CommandKind::Stat,
            Self::List(_) => CommandKind::List,
            Self::Retr(_) => CommandKind::Retr,
            Self::Dele(_) => CommandKind::Dele,
            Self::Noop => CommandKind::Noop,
            Self::Rset => CommandKind::Rset,
            Self::Quit => CommandKind::Quit,
            Self::Top { .. } => CommandKind::Top,
            Self::Uidl(_) => CommandKind::Uidl,
            Self::Capa => CommandKind::Capa,
            Self::Stls => CommandKind::Stls,
            Self::Auth { .. } => CommandKind::Auth,
        }
    }

    /// Whether the server answers this command with a multi-line response when it succeeds
    /// (RFC 1939: LIST and UIDL without argument, RETR, TOP; RFC 2449: CAPA).
    pub fn is_multiline(&self) -> bool {
        matches!(
            self,
            Self::List(None) | Self::Uidl(None) | Self::Retr(_) | Self::Top { .. } | Self::Capa
        )
    }
}

/// A client's answer to a SASL continuation during `AUTH` (RFC 5034 §4): base64 data or `*` to
/// cancel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslResponse {
    /// The decoded response data.
    Data(Secret<Vec<u8>>),
    /// `*`: the client cancels the exchange.
    Cancel,
}
