//! What the server machine reports, and why it ends a session.

use bytes::Bytes;
use mailwright_sansio::{Excerpt, Secret};

use crate::data::DataError;
use crate::parse::MalformedKind;
use crate::types::{
    ForwardPath, Host, MailParameters, Mechanism, Params, RcptParameters, ReversePath,
};

/// Which greeting command was used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeloKind {
    /// `HELO`.
    Helo,
    /// `EHLO`.
    Ehlo,
    /// `LHLO`.
    Lhlo,
}

/// Why message data was dropped; the machine has replied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AbortReason {
    /// Bigger than `max_message_size` (replied `552 5.3.4`).
    TooBig,
    /// A line longer than `max_text_line` (replied `550 5.6.0`).
    LineTooLong,
    /// A bare CR or LF under [`crate::BareLineEnding::Reject`] (replied `550 5.5.2`, then closed).
    BareLineEnding(DataError),
    /// [`crate::ServerSession::handle_shutdown`] was called during the transfer (replied
    /// `421 4.3.2`, then closed).
    Shutdown,
}

/// Which server timer fired (see [`crate::server::Timeouts`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// No command began within [`crate::server::Timeouts::idle`].
    Idle,
    /// A command line was not complete within [`crate::server::Timeouts::command`] of its first
    /// octet.
    Command,
    /// Message data stalled for [`crate::server::Timeouts::data_idle`].
    DataIdle,
    /// The message transfer took longer than [`crate::server::Timeouts::data`].
    Data,
}

/// Why the machine ended the session; it has queued a final reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The hard error limit was reached (replied `421 4.7.0`).
    TooManyErrors,
    /// `max_commands_before_data` reached (replied `421 4.7.0`).
    TooManyCommands,
    /// Commands pipelined where RFC 2920 forbids it (replied `554 5.5.0`).
    ImproperPipelining,
    /// A bare CR or LF in DATA (replied `550 5.5.2`).
    BareLineEnding,
    /// A timer fired (replied `421 4.4.2`).
    Timeout(TimeoutKind),
    /// More than `max_buffered_input` octets arrived while a decision was pending (replied
    /// `421 4.7.0`).
    InputOverflow,
    /// [`crate::ServerSession::handle_shutdown`] was called (replied `421 4.3.2`).
    Shutdown,
    /// The application answered with [`crate::ServerSession::reject_and_close`].
    Rejected,
    /// A `BDAT` whose chunk size could not be read (replied `521 5.5.4`, as Postfix does): the
    /// chunk's octets that follow cannot be told from commands.
    MalformedBdat,
}

/// What the server machine reports to its driver.
///
/// An event that needs a decision ([`Event::needs_decision`]) stops the machine until the
/// application calls one of the methods its docs name; the others are for information.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// `HELO`/`EHLO`/`LHLO`. Answer with [`accept`](crate::ServerSession::accept) (the machine
    /// writes the capability list), [`accept_with`](crate::ServerSession::accept_with),
    /// [`reject`](crate::ServerSession::reject) or
    /// [`reject_and_close`](crate::ServerSession::reject_and_close).
    Helo {
        /// The command used.
        kind: HeloKind,
        /// The client's claimed name.
        host: Host,
    },
    /// `MAIL FROM:`, checked against the offered extensions and limits. Answer with
    /// [`accept`](crate::ServerSession::accept) (`250 2.1.0`),
    /// [`accept_with`](crate::ServerSession::accept_with),
    /// [`reject`](crate::ServerSession::reject) or
    /// [`reject_and_close`](crate::ServerSession::reject_and_close).
    Mail {
        /// The reverse path.
        from: ReversePath,
        /// Its parameters.
        params: Params<MailParameters>,
    },
    /// `RCPT TO:`, within the recipient limit. Answer with
    /// [`accept`](crate::ServerSession::accept) (`250 2.1.5`),
    /// [`accept_with`](crate::ServerSession::accept_with),
    /// [`reject`](crate::ServerSession::reject) (counted as an error, unless it is a
    /// `452 4.5.3`) or [`reject_and_close`](crate::ServerSession::reject_and_close).
    Rcpt {
        /// The forward path.
        to: ForwardPath,
        /// Its parameters.
        params: Params<RcptParameters>,
    },
    /// Message data begins (after the 354, or with the first `BDAT`). For information.
    DataStart,
    /// A piece of message content, unstuffed, in order. For information.
    DataChunk(Bytes),
    /// The content is complete. Answer with [`accept`](crate::ServerSession::accept)
    /// (`250 2.0.0`), [`accept_with`](crate::ServerSession::accept_with),
    /// [`reject`](crate::ServerSession::reject), or in LMTP one reply per recipient with
    /// [`data_replies`](crate::ServerSession::data_replies).
    DataEnd,
    /// The content was dropped; the machine replied. The transaction is over. For information.
    DataAborted(AbortReason),
    /// `AUTH PLAIN` or `AUTH LOGIN` completed by the client. Answer with
    /// [`accept`](crate::ServerSession::accept) (`235 2.7.0`),
    /// [`reject`](crate::ServerSession::reject) or
    /// [`reject_and_close`](crate::ServerSession::reject_and_close).
    AuthCredentials {
        /// The mechanism used.
        mechanism: Mechanism,
        /// The authorisation identity (PLAIN only), if not empty.
        authzid: Option<String>,
        /// The user name.
        username: String,
        /// The password (`Debug` prints `***`).
        password: Secret<String>,
    },
    /// `AUTH` with another mechanism. Answer with
    /// [`auth_challenge`](crate::ServerSession::auth_challenge),
    /// [`accept`](crate::ServerSession::accept) or [`reject`](crate::ServerSession::reject).
    AuthStart {
        /// The mechanism.
        mechanism: Mechanism,
        /// The decoded initial response.
        initial_response: Option<Secret<Vec<u8>>>,
    },
    /// The client's decoded answer to a challenge. Answer as [`Event::AuthStart`].
    AuthResponse(Secret<Vec<u8>>),
    /// The client cancelled the exchange with `*`; the machine replied 501. For information.
    AuthCancelled,
    /// The 220 to `STARTTLS` is queued: flush it, run the handshake, then call
    /// [`handle_tls_established`](crate::ServerSession::handle_tls_established).
    StartTls {
        /// Bytes received after the `STARTTLS` line, dropped unread (CVE-2011-0411).
        discarded: usize,
    },
    /// `QUIT`: the 221 is queued; flush and close.
    Quit,
    /// The machine ended the session; flush and close.
    Closed(CloseReason),
    /// A malformed command line was answered with 500/501; for the log.
    Malformed {
        /// What was wrong.
        kind: MalformedKind,
        /// The offending bytes, truncated, AUTH arguments redacted.
        excerpt: Excerpt,
    },
}

impl Event {
    /// Whether the machine waits for an answer to this event.
    pub fn needs_decision(&self) -> bool {
        matches!(
            self,
            Event::Helo { .. }
                | Event::Mail { .. }
                | Event::Rcpt { .. }
                | Event::DataEnd
                | Event::AuthCredentials { .. }
                | Event::AuthStart { .. }
                | Event::AuthResponse(_)
        )
    }
}
