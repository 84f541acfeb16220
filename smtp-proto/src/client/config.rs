//! What a client session is configured with: the protocol, TLS and credentials, and the timers
//! of RFC 5321 §4.5.3.2, each with a documented default.

use std::time::Duration;

use mailwright_sansio::Secret;

use crate::server::Mode;
use crate::types::Host;

/// When to use STARTTLS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TlsPolicy {
    /// Never.
    Never,
    /// When the server offers it. The default.
    #[default]
    IfOffered,
    /// Always; fail when it is not offered.
    Required,
}

/// Credentials for `AUTH PLAIN` / `AUTH LOGIN`. `Debug` does not show the password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// The user name (authentication identity).
    pub username: String,
    /// The password (`Debug` prints `***`).
    pub password: Secret<String>,
}

impl Credentials {
    /// Credentials for `username` with `password`.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials {
            username: username.into(),
            password: Secret::new(password.into()),
        }
    }
}

/// The client's timers (RFC 5321 §4.5.3.2: "a timer is set for each SMTP command and for each
/// buffer of the data transfer"). When one fires the session ends with
/// [`crate::client::ClientError::Timeout`] naming the [`crate::client::Stage`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Wait for the `220` greeting. Default 5 minutes (RFC 5321 §4.5.3.2.1).
    pub greeting: Duration,
    /// Wait for the reply to `MAIL`. Default 5 minutes (RFC 5321 §4.5.3.2.2).
    pub mail: Duration,
    /// Wait for the reply to each `RCPT`. Default 5 minutes (RFC 5321 §4.5.3.2.3).
    pub rcpt: Duration,
    /// Wait for the `354` to `DATA`. Default 2 minutes (RFC 5321 §4.5.3.2.4).
    pub data_init: Duration,
    /// Writing one block of message data: the body is handed out by
    /// [`crate::ClientSession::poll_transmit`] in blocks of at most
    /// [`crate::ClientConfig::data_block_size`] octets, and each block must be written (the driver
    /// asks for the next one) within this time. Default 3 minutes (RFC 5321 §4.5.3.2.5).
    pub data_block: Duration,
    /// Wait for the reply to the end of the data (the final dot, or `BDAT ... LAST`), from the
    /// moment the last block was handed out. Default 10 minutes (RFC 5321 §4.5.3.2.6).
    pub data_end: Duration,
    /// Wait for the reply to the other commands (`EHLO`, `STARTTLS`, `AUTH`, `RSET`, `QUIT`), for
    /// which RFC 5321 gives no value. Default 5 minutes, as for `MAIL`.
    pub reply: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            greeting: Duration::from_mins(5),
            mail: Duration::from_mins(5),
            rcpt: Duration::from_mins(5),
            data_init: Duration::from_mins(2),
            data_block: Duration::from_mins(3),
            data_end: Duration::from_mins(10),
            reply: Duration::from_mins(5),
        }
    }
}

impl Timeouts {
    /// Every timer capped at `max` (for a driver with one "reply timeout" setting).
    #[must_use]
    pub fn capped(self, max: Duration) -> Self {
        Timeouts {
            greeting: self.greeting.min(max),
            mail: self.mail.min(max),
            rcpt: self.rcpt.min(max),
            data_init: self.data_init.min(max),
            data_block: self.data_block.min(max),
            data_end: self.data_end.min(max),
            reply: self.reply.min(max),
        }
    }
}

/// Configuration of one client session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// SMTP or LMTP ([`Mode::Submission`] behaves as SMTP).
    pub mode: Mode,
    /// Our name for `EHLO`/`LHLO`.
    pub helo_name: Host,
    /// STARTTLS use. Default [`TlsPolicy::IfOffered`].
    pub starttls: TlsPolicy,
    /// The connection is TLS from the start. Default off.
    pub tls_active: bool,
    /// Credentials to authenticate with. Default none.
    pub credentials: Option<Credentials>,
    /// Pipeline `MAIL`/`RCPT`/`DATA` when offered (RFC 2920). Default on.
    pub pipelining: bool,
    /// Use `BDAT` when `CHUNKING` is offered (RFC 3030). Default on.
    pub chunking: bool,
    /// Longest reply accepted, all lines together. Default 65536.
    pub max_reply_len: usize,
    /// Largest block of message data one [`crate::ClientSession::poll_transmit`] hands out (see
    /// [`Timeouts::data_block`]). Default 64 KiB.
    pub data_block_size: usize,
    /// Timers.
    pub timeouts: Timeouts,
}

impl ClientConfig {
    /// A configuration with the defaults.
    pub fn new(mode: Mode, helo_name: Host) -> Self {
        ClientConfig {
            mode,
            helo_name,
            starttls: TlsPolicy::IfOffered,
            tls_active: false,
            credentials: None,
            pipelining: true,
            chunking: true,
            max_reply_len: 65536,
            data_block_size: 64 * 1024,
            timeouts: Timeouts::default(),
        }
    }
}
