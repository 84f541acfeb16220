//! What a server session reports, the tickets its decisions consume, and the values they take.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use crate::types::{Atom, MessageNumber, ResponseCode, Secret, Text, Uid};

/// Something the application must act on. Each event that asks a question says which method
/// answers it; until then the session handles no further input.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A login to check, from `USER` and `PASS` or from `AUTH PLAIN` (RFC 4616, with an initial
    /// response or after the empty challenge, RFC 5034): answer with
    /// [`accept_login`](super::ServerSession::accept_login) or
    /// [`refuse_login`](super::ServerSession::refuse_login), which consume `ticket`.
    Login {
        /// The authorization identity PLAIN asked for, when not empty (the user to act as).
        authzid: Option<String>,
        /// The user name (PLAIN's authentication identity).
        user: String,
        /// The password.
        password: Secret<Vec<u8>>,
        /// How the client logged in.
        method: LoginMethod,
        /// Consumed by the decision.
        ticket: LoginTicket,
    },
    /// `APOP`: check `digest` = MD5(timestamp + secret), then accept or refuse the login.
    Apop {
        /// The user name.
        user: Atom,
        /// The hex digest the client sent.
        digest: Atom,
        /// The timestamp from the greeting.
        timestamp: Text,
        /// Consumed by the decision.
        ticket: LoginTicket,
    },
    /// `AUTH` with a mechanism other than PLAIN: run it, answering with
    /// [`sasl_challenge`](super::ServerSession::sasl_challenge), or accept or refuse the login.
    Auth {
        /// The mechanism, upper case, one of those configured.
        mechanism: Atom,
        /// The decoded initial response, if any.
        initial_response: Option<Secret<Vec<u8>>>,
        /// Consumed by the decision.
        ticket: SaslTicket,
    },
    /// The client's answer to a challenge; answer as for [`Event::Auth`].
    AuthResponse {
        /// The decoded response.
        data: Secret<Vec<u8>>,
        /// Consumed by the decision.
        ticket: SaslTicket,
    },
    /// `RETR`: stream the message with [`send_message_from`](super::ServerSession::send_message_from)
    /// (or [`send_message_chunk`](super::ServerSession::send_message_chunk) then
    /// [`finish_message`](super::ServerSession::finish_message)), or refuse it with
    /// [`refuse_message`](super::ServerSession::refuse_message).
    Retr {
        /// The message number.
        message: MessageNumber,
        /// Its unique-id.
        uid: Uid,
        /// Its size from the listing.
        size: u64,
    },
    /// `TOP`: as for RETR; the session cuts the message after the headers and `lines` body lines
    /// ([`crate::encode::Feed::Done`] says when to stop reading).
    Top {
        /// The message number.
        message: MessageNumber,
        /// Its unique-id.
        uid: Uid,
        /// Body lines wanted.
        lines: u32,
    },
    /// `STLS` was accepted: write out everything from
    /// [`poll_transmit`](super::ServerSession::poll_transmit), run the TLS handshake, then call
    /// [`handle_tls_established`](super::ServerSession::handle_tls_established). `discarded` holds
    /// the octets the client sent after STLS in plaintext, which are dropped (they must not be read
    /// as commands).
    StartTls {
        /// Plaintext octets received after the STLS line.
        discarded: Bytes,
    },
    /// `QUIT` in the TRANSACTION state (the UPDATE state): expunge `deleted`, then call
    /// [`update_done`](super::ServerSession::update_done) or
    /// [`update_failed`](super::ServerSession::update_failed), which consume `ticket`.
    Update {
        /// The messages to remove, in message-number order.
        deleted: Vec<Deleted>,
        /// Consumed by the decision.
        ticket: UpdateTicket,
    },
    /// The session is over: write out what remains in the transmit buffer and close.
    Closed(CloseReason),
}

/// How a client logged in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoginMethod {
    /// `USER` and `PASS` (RFC 1939 §7).
    UserPass,
    /// `AUTH PLAIN` (RFC 5034, RFC 4616).
    Plain,
}

/// Mints ticket numbers unique in the process, so a ticket of one session is refused by another.
static NEXT_TICKET: AtomicU64 = AtomicU64::new(1);

pub(super) fn next_ticket() -> u64 {
    NEXT_TICKET.fetch_add(1, Ordering::Relaxed)
}

/// The right to answer one pending login ([`Event::Login`], [`Event::Apop`], or a SASL exchange):
/// [`accept_login`](super::ServerSession::accept_login) and
/// [`refuse_login`](super::ServerSession::refuse_login) consume it.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "the session waits until the login is accepted or refused"]
pub struct LoginTicket(pub(super) u64);

/// The right to answer one step of a SASL exchange ([`Event::Auth`], [`Event::AuthResponse`]):
/// [`sasl_challenge`](super::ServerSession::sasl_challenge) consumes it, and so do
/// [`accept_login`](super::ServerSession::accept_login) and
/// [`refuse_login`](super::ServerSession::refuse_login) (it converts into a [`LoginTicket`]).
#[derive(Debug, PartialEq, Eq)]
#[must_use = "the session waits until the SASL step is answered"]
pub struct SaslTicket(pub(super) u64);

impl From<SaslTicket> for LoginTicket {
    fn from(t: SaslTicket) -> Self {
        Self(t.redeem())
    }
}

impl LoginTicket {
    /// Uses the ticket up: its number.
    pub(super) fn redeem(self) -> u64 {
        self.0
    }
}

impl SaslTicket {
    /// Uses the ticket up: its number.
    pub(super) fn redeem(self) -> u64 {
        self.0
    }
}

/// The right to report the outcome of the UPDATE state ([`Event::Update`]):
/// [`update_done`](super::ServerSession::update_done) and
/// [`update_failed`](super::ServerSession::update_failed) consume it.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "the session waits until the update is reported"]
pub struct UpdateTicket(pub(super) u64);

impl UpdateTicket {
    /// Uses the ticket up: its number.
    pub(super) fn redeem(self) -> u64 {
        self.0
    }
}

/// Why a login is refused; the session words the `-ERR` reply (RFC 2449 §8, RFC 3206).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// Wrong user name or password: `-ERR [AUTH] Authentication failed.` (RFC 3206 §5). Counts
    /// towards [`ServerLimits::max_failed_logins`](super::ServerLimits::max_failed_logins).
    BadCredentials,
    /// Too many failed logins from the client's address:
    /// `-ERR [SYS/TEMP] Too many failed logins, try again later.` Counts like
    /// [`Refusal::BadCredentials`].
    TooManyFailures,
    /// The maildrop is locked by another session (RFC 2449 §8.1.1):
    /// `-ERR [IN-USE] Maildrop is locked by another session.`
    InUse,
    /// The user logged in too recently (RFC 2449 §8.1.2):
    /// `-ERR [LOGIN-DELAY] Logged in too recently.`
    LoginDelay,
    /// The credentials could not be checked or the maildrop not opened, for now (RFC 3206 §4):
    /// `-ERR [SYS/TEMP] Temporary failure, try again later.`
    TemporaryFailure,
    /// Any other reply: `-ERR [code] text`. Counts as a failed login when `code` is `None` or
    /// [`ResponseCode::Auth`].
    Other {
        /// The response code; `None` sends `[AUTH]` (RFC 3206 §6, as AUTH-RESP-CODE is
        /// advertised).
        code: Option<ResponseCode>,
        /// The text.
        text: Text,
    },
}

/// Why a connection is refused before its session starts
/// ([`ServerSession::refused`](super::ServerSession::refused)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionRefusal {
    /// The server holds as many connections as it allows.
    TooManyConnections,
    /// The client's address holds as many connections as it may.
    TooManyFromAddress,
}

/// One message of the maildrop as the application lists it at login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaildropEntry {
    /// RFC 1939 §5: the exact size in octets as it will be sent (with CRLF line ends, before
    /// dot-stuffing).
    pub size: u64,
    /// The unique-id for UIDL.
    pub uid: Uid,
}

/// The maildrop listing the application installs when it accepts a login; message numbers are
/// positions in it, from 1, fixed for the session (RFC 1939 §5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Maildrop {
    pub(super) entries: Vec<MaildropEntry>,
}

impl Maildrop {
    /// A listing of `entries`, numbered from 1 in order.
    pub fn new(entries: Vec<MaildropEntry>) -> Self {
        Self { entries }
    }

    /// Appends a message.
    pub fn push(&mut self, size: u64, uid: Uid) {
        self.entries.push(MaildropEntry { size, uid });
    }

    /// The messages.
    pub fn entries(&self) -> &[MaildropEntry] {
        &self.entries
    }
}

/// A message marked as deleted, reported at QUIT for the application to expunge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    /// Its message number in this session.
    pub message: MessageNumber,
    /// Its unique-id.
    pub uid: Uid,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client sent QUIT.
    Quit,
    /// Too many refused logins.
    TooManyFailedLogins,
    /// Too many bad commands.
    TooManyBadCommands,
    /// The application aborted a message after streaming had begun.
    Aborted,
    /// The client sent more than
    /// [`ServerLimits::max_buffered_input`](super::ServerLimits::max_buffered_input) ahead of the
    /// answers.
    InputOverflow,
    /// No command for [`ServerConfig::autologout`](super::ServerConfig::autologout) in the
    /// TRANSACTION state.
    Autologout,
    /// No accepted login within [`ServerConfig::login_timeout`](super::ServerConfig::login_timeout).
    LoginTimeout,
    /// A command line not complete within
    /// [`ServerConfig::command_timeout`](super::ServerConfig::command_timeout) of its first octet.
    CommandTimeout,
    /// The server is shutting down ([`handle_shutdown`](super::ServerSession::handle_shutdown)).
    Shutdown,
    /// The connection was refused before the session started
    /// ([`ServerSession::refused`](super::ServerSession::refused)).
    Refused(ConnectionRefusal),
}

/// RFC 1939 session states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionState {
    /// Before login.
    Authorization,
    /// After login.
    Transaction,
    /// After QUIT in TRANSACTION, until the update is reported.
    Update,
    /// Over.
    Closed,
}
