//! What a server session is configured with: the protocol, the offered extensions, the limits and
//! the timers, each with a documented default.

use std::time::Duration;

use crate::data::BareLineEnding;
use crate::types::Mechanism;

/// Which protocol the session speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// SMTP relay/MX (RFC 5321).
    #[default]
    Smtp,
    /// Message submission (RFC 6409): `AUTH` required before `MAIL`.
    Submission,
    /// LMTP (RFC 2033): `LHLO`, one reply per accepted recipient after the data.
    Lmtp,
}

/// Limits; every one has a documented default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest command line, CRLF included. Default 2048, Postfix's `line_length_limit`: RFC
    /// 5321 §4.5.3.1.4's 512 grows with every extension offered (RFC 1870 §6 +26 for SIZE, RFC
    /// 3461 §4 +100 for RET and ENVID and +500 for NOTIFY and ORCPT, RFC 4954 §5 +500 for AUTH=,
    /// RFC 6531 §3.4 +10 for SMTPUTF8), so a MAIL FROM with all of them may need over 1100.
    pub max_command_line: usize,
    /// Longest text line of message data, CRLF included; longer lines get the message rejected.
    /// Default 1000 (RFC 5321 §4.5.3.1.6).
    pub max_text_line: usize,
    /// Longest SASL response line. Default 12288 (RFC 4954 §4).
    pub max_auth_line: usize,
    /// Recipients per transaction; more get `452 4.5.3`, which does not count as an error
    /// (RFC 5321 §4.5.3.1.10). Default 100.
    pub max_recipients: usize,
    /// Largest message in octets, advertised as `SIZE`; `None` for no limit. Default 35 MiB.
    pub max_message_size: Option<u64>,
    /// Errors after which every reply is delayed (Postfix `smtpd_soft_error_limit`). Errors are
    /// refused commands (500, 501, 503 ...) and refused `HELO`, `MAIL`, `RCPT` and `AUTH`, but
    /// not the `452 4.5.3` of too many recipients; the count starts again after a message is
    /// accepted. Default 10.
    pub soft_error_limit: usize,
    /// Errors at which the session is closed with `421 4.7.0 <host> Error: too many errors`
    /// (Postfix `smtpd_hard_error_limit`). Default 20.
    pub hard_error_limit: usize,
    /// Past [`Limits::soft_error_limit`], each reply is held for this delay times the number of
    /// errors over the limit (1 s, 2 s, 3 s ...; Postfix `smtpd_error_sleep_time`). The machine
    /// holds the reply itself: [`crate::ServerSession::poll_timeout`] says when to release it.
    /// Default 1 s.
    pub error_delay: Duration,
    /// Commands accepted since the session start or the last message before the session is closed
    /// with 421. Default 500.
    pub max_commands_before_data: usize,
    /// Unread input the machine holds while it waits for a decision (pipelined commands); more
    /// closes the session with 421. Default 1 MiB. Use [`crate::ServerSession::wants_input`] to
    /// stop reading before that.
    pub max_buffered_input: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_command_line: 2048,
            max_text_line: 1000,
            max_auth_line: 12288,
            max_recipients: 100,
            max_message_size: Some(35 * 1024 * 1024),
            soft_error_limit: 10,
            hard_error_limit: 20,
            error_delay: Duration::from_secs(1),
            max_commands_before_data: 500,
            max_buffered_input: 1024 * 1024,
        }
    }
}

/// The server's timers. When one fires the machine answers
/// `421 4.4.2 <host> Error: timeout exceeded` and closes. No timer runs while the application
/// holds a decision or while the driver runs a TLS handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Wait for the next command, from the last reply to the command's first octet (also for a
    /// SASL response line). Default 5 minutes (RFC 5321 §4.5.3.2.7).
    pub idle: Duration,
    /// Deadline of one command line, from its first octet to its line end, however the octets
    /// trickle in: a client sending one octet a second cannot keep a line open past it.
    /// Default 5 minutes (as Postfix's `smtpd_timeout` under `smtpd_per_request_deadline`).
    pub command: Duration,
    /// Wait between octets of message data (inside `DATA` or a `BDAT` chunk). Default 5 minutes.
    pub data_idle: Duration,
    /// Deadline of a whole message transfer, from the `354` (or the first `BDAT`) to the end of
    /// the data. Default 10 minutes: the default [`Limits::max_message_size`] of 35 MiB then needs
    /// about 60 KiB/s; raise it with the size limit.
    pub data: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            idle: Duration::from_mins(5),
            command: Duration::from_mins(5),
            data_idle: Duration::from_mins(5),
            data: Duration::from_mins(10),
        }
    }
}

/// The ESMTP extensions the server offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extensions {
    /// `PIPELINING` (RFC 2920). Default on.
    pub pipelining: bool,
    /// `8BITMIME` (RFC 6152). Default on.
    pub eight_bit_mime: bool,
    /// `CHUNKING` (RFC 3030). Default on.
    pub chunking: bool,
    /// `BINARYMIME` (RFC 3030), only with `chunking`. Default on.
    pub binary_mime: bool,
    /// `SMTPUTF8` (RFC 6531). Default on.
    pub smtputf8: bool,
    /// `ENHANCEDSTATUSCODES` (RFC 2034); when off, replies carry none. Default on.
    pub enhanced_status_codes: bool,
    /// `DSN` (RFC 3461). Default off.
    pub dsn: bool,
    /// `STARTTLS` (RFC 3207), offered while TLS is not active. Default off.
    pub starttls: bool,
    /// SASL mechanisms for `AUTH` (RFC 4954); `PLAIN` and `LOGIN` are run by the machine, others
    /// are passed through. Default none.
    pub auth: Vec<Mechanism>,
    /// Offer `AUTH` only once TLS is active. Default on.
    pub auth_requires_tls: bool,
    /// `REQUIRETLS` (RFC 8689), offered only under TLS. Default off.
    pub requiretls: bool,
}

impl Default for Extensions {
    fn default() -> Self {
        Extensions {
            pipelining: true,
            eight_bit_mime: true,
            chunking: true,
            binary_mime: true,
            smtputf8: true,
            enhanced_status_codes: true,
            dsn: false,
            starttls: false,
            auth: Vec::new(),
            auth_requires_tls: true,
            requiretls: false,
        }
    }
}

/// Configuration of one server session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// SMTP, submission or LMTP.
    pub mode: Mode,
    /// Our host name, first word of the greeting and of the EHLO reply.
    pub hostname: String,
    /// Text after the host name in the greeting. Default `ESMTP` (`LMTP` in LMTP mode).
    pub greeting: String,
    /// Offered extensions.
    pub extensions: Extensions,
    /// Limits.
    pub limits: Limits,
    /// Timers.
    pub timeouts: Timeouts,
    /// Bare CR/LF in DATA: reject (default) or normalise.
    pub bare_line_ending: BareLineEnding,
    /// Close with `554 5.5.0` when a client pipelines past EHLO/HELO/LHLO or DATA
    /// (RFC 2920 §3.1). Default on.
    pub strict_pipelining: bool,
    /// The connection is TLS from the start (port 465). Default off.
    pub tls_active: bool,
}

impl ServerConfig {
    /// A configuration with the defaults for `mode`.
    pub fn new(mode: Mode, hostname: impl Into<String>) -> Self {
        ServerConfig {
            mode,
            hostname: hostname.into(),
            greeting: if mode == Mode::Lmtp {
                "LMTP".into()
            } else {
                "ESMTP".into()
            },
            extensions: Extensions::default(),
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            bare_line_ending: BareLineEnding::Reject,
            strict_pipelining: true,
            tls_active: false,
        }
    }
}
