//! POP3 commands (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH).

use super::{Atom, MessageNumber, Password, Secret};

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

impl Command {
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
