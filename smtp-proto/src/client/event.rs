//! What goes into a client transaction and what the client machine reports.

use std::fmt;

use crate::parse::DecodeError;
use crate::types::{EhloResponse, ForwardPath, MailParameters, RcptParameters, Reply, ReversePath};

/// A message envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// `MAIL FROM:`.
    pub from: ReversePath,
    /// Extra `MAIL` parameters (SIZE, BODY and SMTPUTF8 are set by the machine).
    pub params: MailParameters,
    /// `RCPT TO:` with parameters.
    pub rcpts: Vec<(ForwardPath, RcptParameters)>,
}

impl Envelope {
    /// An envelope without parameters.
    pub fn new(from: ReversePath, rcpts: impl IntoIterator<Item = ForwardPath>) -> Self {
        Envelope {
            from,
            params: MailParameters::default(),
            rcpts: rcpts
                .into_iter()
                .map(|r| (r, RcptParameters::default()))
                .collect(),
        }
    }
}

/// What the machine must know of a streamed message before its first octet
/// ([`crate::ClientSession::send_message_streamed`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BodyInfo {
    /// Its size in octets, sent as `SIZE=` when the server offers SIZE (RFC 1870 §6: an
    /// estimate will do, such as the size of the file with LF line ends).
    pub size: Option<u64>,
    /// Whether it has octets above 127: `BODY=8BITMIME` when offered (RFC 6152).
    pub eight_bit: bool,
}

/// The outcome of one transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransactionResult {
    /// The reply to `MAIL`.
    pub mail: Option<Reply>,
    /// One reply per `RCPT`, in order (fewer when the transaction stopped early).
    pub rcpts: Vec<Reply>,
    /// The replies to the data: one in SMTP; one per accepted recipient in LMTP, in order.
    pub data: Vec<Reply>,
}

impl TransactionResult {
    /// Whether the message was accepted for at least one recipient.
    pub fn delivered(&self) -> bool {
        self.data.iter().any(Reply::is_positive)
    }
}

/// What the client was waiting for when a timer fired (RFC 5321 §4.5.3.2; see
/// [`crate::client::Timeouts`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stage {
    /// The `220` greeting.
    Greeting,
    /// The reply to `EHLO`, `HELO` or `LHLO`.
    Helo,
    /// The reply to `STARTTLS`.
    StartTls,
    /// A reply during `AUTH`.
    Auth,
    /// The reply to `MAIL`.
    Mail,
    /// The reply to `RCPT`.
    Rcpt,
    /// The `354` to `DATA`.
    DataInit,
    /// The write of a block of message data.
    DataBlock,
    /// The reply to the end of the data.
    DataEnd,
    /// The reply to `RSET`.
    Rset,
    /// The reply to `QUIT`.
    Quit,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Greeting => "the greeting",
            Stage::Helo => "the reply to EHLO",
            Stage::StartTls => "the reply to STARTTLS",
            Stage::Auth => "the reply to AUTH",
            Stage::Mail => "the reply to MAIL",
            Stage::Rcpt => "the reply to RCPT",
            Stage::DataInit => "the reply to DATA",
            Stage::DataBlock => "a block of message data to be written",
            Stage::DataEnd => "the reply to the end of data",
            Stage::Rset => "the reply to RSET",
            Stage::Quit => "the reply to QUIT",
        })
    }
}

/// Why the session cannot go on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The greeting was not 220.
    #[error("greeting refused: {0}")]
    Greeting(Reply),
    /// Both EHLO and HELO (or LHLO) were refused.
    #[error("EHLO/HELO refused: {0}")]
    Helo(Reply),
    /// STARTTLS is required but not offered.
    #[error("STARTTLS required but not offered")]
    TlsNotOffered,
    /// STARTTLS is required and was refused.
    #[error("STARTTLS refused: {0}")]
    StartTls(Reply),
    /// Credentials were given but neither PLAIN nor LOGIN is offered.
    #[error("no usable AUTH mechanism offered")]
    AuthNotOffered,
    /// Authentication failed.
    #[error("authentication failed: {0}")]
    Auth(Reply),
    /// The server closes the session (421).
    #[error("service closing: {0}")]
    ServiceClosing(Reply),
    /// The server sent something that is not a reply.
    #[error("malformed reply: {0}")]
    Protocol(DecodeError),
    /// A reply was longer than [`crate::ClientConfig::max_reply_len`].
    #[error("reply too long")]
    ReplyTooLong,
    /// A reply arrived when none was expected.
    #[error("unexpected reply: {0}")]
    Unexpected(Reply),
    /// A timer fired while the client waited for this stage.
    #[error("timed out waiting for {0}")]
    Timeout(Stage),
}

/// What the client machine reports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The session is ready for [`crate::ClientSession::send_message`] (or
    /// [`crate::ClientSession::quit`]).
    Ready(EhloResponse),
    /// Flush the transmit buffer, run the TLS handshake, then call
    /// [`crate::ClientSession::handle_tls_established`].
    StartTls,
    /// A message started with [`crate::ClientSession::send_message_streamed`] may go on: hand
    /// the machine its next piece with [`crate::ClientSession::handle_body`], or end it with
    /// [`crate::ClientSession::handle_body_end`]. Comes after the server's `354` and again each
    /// time the last piece has been handed out by `poll_transmit`.
    BodyWanted,
    /// A transaction finished; the session is ready for the next
    /// [`crate::ClientSession::send_message`] (or [`crate::ClientSession::quit`]).
    Sent(TransactionResult),
    /// The session failed; close it.
    Failed(ClientError),
    /// The server answered QUIT; close.
    Closed,
}
