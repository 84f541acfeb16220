//! What a server session offers, its limits and its timers.

use std::time::Duration;

use crate::parse;
use crate::types::{Atom, Text};

/// RFC 1939 §3: "Such a timer MUST be of at least 10 minutes' duration."
pub const MIN_AUTOLOGOUT: Duration = Duration::from_mins(10);

/// Limits a server session enforces; every one has a documented default.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerLimits {
    /// Longest command line, CRLF included. Default 512 (RFC 2449 §4 says 255; clients exceed it).
    pub max_command_line: usize,
    /// Longest client line during an AUTH exchange. Default 16 KiB.
    pub max_sasl_line: usize,
    /// Refused logins (PASS, APOP, AUTH) before the session is closed. Default 3.
    pub max_failed_logins: u32,
    /// Malformed, unknown or out-of-state commands before the session is closed. Default 20.
    pub max_bad_commands: u32,
    /// Most unparsed input octets held (pipelined commands waiting their turn). From half of it
    /// [`wants_input`](super::ServerSession::wants_input) says stop reading; input beyond it closes
    /// the session ([`CloseReason::InputOverflow`](super::CloseReason::InputOverflow)). Default
    /// 64 KiB.
    pub max_buffered_input: usize,
    /// [`send_message_from`](super::ServerSession::send_message_from) stops reading once this many
    /// octets wait in the transmit buffer. Default 64 KiB.
    pub transmit_high_water: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_command_line: parse::DEFAULT_MAX_COMMAND_LINE,
            max_sasl_line: parse::DEFAULT_MAX_SASL_LINE,
            max_failed_logins: 3,
            max_bad_commands: 20,
            max_buffered_input: 64 * 1024,
            transmit_high_water: 64 * 1024,
        }
    }
}

/// What a server session offers, and its timers. Change it during the session with
/// [`ServerSession::config_mut`](super::ServerSession::config_mut) (for instance to offer USER only
/// after TLS).
///
/// The timers run on the instants the driver passes in; each one, when it fires, makes the session
/// answer `-ERR [SYS/TEMP] ...` and close (RFC 1939 §3: a session that ends without QUIT does not
/// enter the UPDATE state, so nothing is deleted). `Duration::MAX` turns a timer off.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Greeting text after `+OK`. Default "POP3 server ready".
    pub greeting: Text,
    /// RFC 1939 §7 APOP timestamp, `<...>` included (such as `<1896.697170952@host>`); when set
    /// the greeting carries it and APOP is accepted. Default none.
    pub apop_timestamp: Option<Text>,
    /// Offer USER/PASS. Default true.
    pub offer_user: bool,
    /// Offer STLS (RFC 2595) while TLS is not active. Default false.
    pub offer_stls: bool,
    /// TLS is already active (implicit TLS, port 995). Default false.
    pub tls_active: bool,
    /// Refuse USER/PASS, APOP and AUTH until TLS is active (RFC 2595 §2.2). Default false.
    pub require_tls_for_login: bool,
    /// SASL mechanisms offered for AUTH (RFC 5034), such as `PLAIN`. The session runs PLAIN
    /// (RFC 4616) itself and reports a [`Login`](super::Event::Login); any other mechanism is the
    /// application's ([`Auth`](super::Event::Auth)). Default none.
    pub sasl_mechanisms: Vec<Atom>,
    /// `IMPLEMENTATION` capability text. Default none.
    pub implementation: Option<Text>,
    /// `LOGIN-DELAY` capability, in seconds (advertised only). Default none.
    pub login_delay: Option<u32>,
    /// `EXPIRE` capability: `Some(None)` is NEVER (advertised only). Default none.
    pub expire: Option<Option<u32>>,
    /// Autologout in the TRANSACTION state: the session closes when no command has been received
    /// for this long while it waits for one (RFC 1939 §3). Default 10 minutes; shorter values are
    /// raised to 10 minutes, the RFC's minimum.
    pub autologout: Duration,
    /// Time allowed to log in, from the connection (the first instant the driver passes) to an
    /// accepted login, whatever the client sends meanwhile. Default 3 minutes, as Dovecot's login
    /// process.
    pub login_timeout: Duration,
    /// A command line must be complete this long after its first octet arrived, so a client that
    /// sends one octet a second cannot hold a session open. Default 60 seconds.
    pub command_timeout: Duration,
    /// Limits.
    pub limits: ServerLimits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            greeting: Text::lossy("POP3 server ready"),
            apop_timestamp: None,
            offer_user: true,
            offer_stls: false,
            tls_active: false,
            require_tls_for_login: false,
            sasl_mechanisms: Vec::new(),
            implementation: None,
            login_delay: None,
            expire: None,
            autologout: MIN_AUTOLOGOUT,
            login_timeout: Duration::from_mins(3),
            command_timeout: Duration::from_mins(1),
            limits: ServerLimits::default(),
        }
    }
}
