//! [`ServerConfig`]: every limit and timer of a server session, with its default.

use std::time::Duration;

use crate::framer::FramerConfig;
use crate::types::core::{Atom, Vec1};

/// The configuration of a [`ServerSession`](super::ServerSession). Every field has a documented
/// default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Framing limits (defaults in [`FramerConfig::commands`]): command lines up to 64 KiB,
    /// APPEND messages up to `max_append_literal` (advertise it as `APPENDLIMIT`, RFC 7889).
    pub framer: FramerConfig,
    /// The greeting queued by [`ServerSession::new`](super::ServerSession::new).
    pub greeting: Greeting,
    /// Text of the automatic `+` for accepted literals. Default `"Ready for literal data"`.
    pub literal_continuation_text: String,
    /// Enforce the session state (RFC 3501 §3): a command in the wrong state is answered `BAD`
    /// by the session. Default `true`.
    pub enforce_state: bool,
    /// The autologout timer (RFC 3501 §5.4: at least 30 minutes): the session says
    /// `* BYE Disconnected for inactivity.` and closes after this long without input while it
    /// waits for the client, IDLE included (RFC 2177). It does not run while the application
    /// decides on a command. Default 30 minutes.
    pub autologout: Duration,
    /// How long a client may take from connecting to logging in, whatever it sends meanwhile
    /// (Dovecot's login process allows 3 minutes). Default 3 minutes.
    pub login_timeout: Duration,
    /// The per-command deadline. A command line must be complete within this long of its first
    /// octet, however slowly it trickles in. A literal in progress counts as progress: the
    /// deadline is armed again at each literal header and whenever literal octets arrive, so an
    /// APPEND over a slow link lives as long as some of its octets come within each deadline.
    /// Default 60 seconds.
    pub command_timeout: Duration,
    /// Invalid commands (answered `BAD`: syntax, wrong state, a limit, IDLE not ended by DONE,
    /// malformed AUTHENTICATE data) and refused logins a session may send: the one that reaches
    /// the limit is answered `* BYE Too many invalid IMAP commands.` instead, and the session
    /// closes (Dovecot's text). `0` turns the limit off. Default 20 (Dovecot's).
    pub max_bad_commands: usize,
    /// SASL mechanisms other than PLAIN that the application runs itself
    /// ([`Event::Authenticate`](super::Event::Authenticate)); any other mechanism is answered
    /// `NO`. PLAIN is always run by the session. Default none.
    pub sasl_mechanisms: Vec<String>,
    /// Send `* OK [CLOSED]` when the session itself leaves the selected state (a `SELECT` or
    /// `EXAMINE` whose arguments do not parse, [`Event::Deselected`](super::Event::Deselected)).
    /// RFC 7162 §3.2.11 has a server that offers CONDSTORE or QRESYNC mark every implicit close
    /// this way: set it when advertising either. Default `false`.
    pub announce_closed: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            framer: FramerConfig::commands(),
            greeting: Greeting::default(),
            literal_continuation_text: "Ready for literal data".to_owned(),
            enforce_state: true,
            autologout: Duration::from_mins(30),
            login_timeout: Duration::from_mins(3),
            command_timeout: Duration::from_mins(1),
            max_bad_commands: 20,
            sasl_mechanisms: Vec::new(),
            announce_closed: false,
        }
    }
}

/// The greeting (RFC 3501 §7.1): `* OK [CAPABILITY ...] text`, or `* PREAUTH ...` for a session
/// that starts authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    /// Send `PREAUTH` (the session starts in the authenticated state). Default `false`.
    pub preauth: bool,
    /// Capabilities sent as a `[CAPABILITY ...]` code, sparing the client a CAPABILITY command.
    /// Default none.
    pub capabilities: Option<Vec1<Atom<'static>>>,
    /// The text. Default `"IMAP4rev1 server ready."`.
    pub text: String,
}

impl Default for Greeting {
    fn default() -> Self {
        Self {
            preauth: false,
            capabilities: None,
            text: "IMAP4rev1 server ready.".to_owned(),
        }
    }
}
