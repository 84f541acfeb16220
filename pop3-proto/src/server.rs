//! The server session state machine (Sans-IO).
//!
//! RFC 1939 §3: "Once the TCP connection has been opened and the POP3 server has sent the
//! greeting, the session enters the AUTHORIZATION state. ... Once the client has successfully
//! identified itself to the POP3 server ... the session now enters the TRANSACTION state. ... When
//! the client has issued the QUIT command, the session enters the UPDATE state."

use std::collections::VecDeque;
use std::io::Read;

use bytes::{Bytes, BytesMut};

use crate::encode::{DotStuffer, Encode, Feed, end_multiline};
use crate::parse::{self, ParseError};
use crate::types::{
    Atom, AuthReply, Capability, Command, MessageNumber, Response, ResponseCode, SaslResponse,
    ScanListing, Secret, Stat, Text, Uid, UidListing,
};

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
    /// [`ServerSession::wants_input`] says stop reading; input beyond it closes the session
    /// ([`CloseReason::InputOverflow`]). Default 64 KiB.
    pub max_buffered_input: usize,
    /// [`ServerSession::send_message_from`] stops reading once this many octets wait in the
    /// transmit buffer. Default 64 KiB.
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

/// What a server session offers. Change it during the session with [`ServerSession::config_mut`]
/// (for instance to offer USER only after TLS).
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
    /// SASL mechanisms offered for AUTH (RFC 5034), such as `PLAIN`. Default none.
    pub sasl_mechanisms: Vec<Atom>,
    /// `IMPLEMENTATION` capability text. Default none.
    pub implementation: Option<Text>,
    /// `LOGIN-DELAY` capability, in seconds (advertised only). Default none.
    pub login_delay: Option<u32>,
    /// `EXPIRE` capability: `Some(None)` is NEVER (advertised only). Default none.
    pub expire: Option<Option<u32>>,
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
            limits: ServerLimits::default(),
        }
    }
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
    entries: Vec<MaildropEntry>,
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
    /// The client sent more than [`ServerLimits::max_buffered_input`] ahead of the answers.
    InputOverflow,
}

/// Something the application must act on. Each event that asks a question says which method
/// answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// `USER` then `PASS`: check the password, then [`ServerSession::accept_login`] or
    /// [`ServerSession::refuse_login`].
    Pass {
        /// The user name from USER.
        user: Atom,
        /// The password.
        password: Secret,
    },
    /// `APOP`: check `digest` = MD5(timestamp + secret), then accept or refuse the login.
    Apop {
        /// The user name.
        user: Atom,
        /// The hex digest the client sent.
        digest: Atom,
        /// The timestamp from the greeting.
        timestamp: Text,
    },
    /// `AUTH`: run the mechanism; answer with [`ServerSession::sasl_challenge`], or accept or
    /// refuse the login.
    Auth {
        /// The mechanism, upper case, one of those configured.
        mechanism: Atom,
        /// The decoded initial response, if any.
        initial_response: Option<Secret>,
    },
    /// The client's answer to a challenge; answer as for [`ServerEvent::Auth`].
    AuthResponse {
        /// The decoded response.
        data: Secret,
    },
    /// `RETR`: stream the message with [`ServerSession::send_message_chunk`] /
    /// [`ServerSession::send_message_from`] then [`ServerSession::finish_message`], or refuse it
    /// with [`ServerSession::refuse_message`].
    Retr {
        /// The message number.
        message: MessageNumber,
        /// Its unique-id.
        uid: Uid,
        /// Its size from the listing.
        size: u64,
    },
    /// `TOP`: as for RETR; the machine cuts the message after the headers and `lines` body lines
    /// ([`crate::encode::Feed::Done`] says when to stop reading).
    Top {
        /// The message number.
        message: MessageNumber,
        /// Its unique-id.
        uid: Uid,
        /// Body lines wanted.
        lines: u32,
    },
    /// `STLS` was accepted: write out everything from [`ServerSession::poll_transmit`], run the TLS
    /// handshake, then call [`ServerSession::tls_established`]. `discarded` holds the octets the
    /// client sent after STLS in plaintext, which are dropped (they must not be read as
    /// commands).
    StartTls {
        /// Plaintext octets received after the STLS line.
        discarded: Bytes,
    },
    /// `QUIT` in TRANSACTION state (the UPDATE state): expunge `deleted`, then call
    /// [`ServerSession::update_done`].
    Update {
        /// The messages to remove, in message-number order.
        deleted: Vec<Deleted>,
    },
    /// The session is over: write out what remains in the transmit buffer and close.
    Closed(CloseReason),
}

/// An answer the session was not waiting for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The method does not answer the question pending (or none is pending).
    #[error("{0} called while the session does not expect it")]
    NotExpected(&'static str),
}

/// RFC 1939 session states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionState {
    /// Before login.
    Authorization,
    /// After login.
    Transaction,
    /// After QUIT in TRANSACTION, until [`ServerSession::update_done`].
    Update,
    /// Over.
    Closed,
}

#[derive(Debug)]
enum Pending {
    None,
    Login,
    SaslStep,
    SaslInput,
    Message {
        stuffer: DotStuffer,
        started: bool,
        size: u64,
    },
    Tls,
    Update,
}

/// A POP3 server session.
///
/// Call order, in a loop, for one connection:
/// 1. [`handle_input`](Self::handle_input) with the octets read from the client;
/// 2. [`poll_event`](Self::poll_event) until `None`, answering each event with the method it
///    names (the machine answers CAPA, USER, STAT, LIST, UIDL, DELE, NOOP, RSET itself);
/// 3. [`poll_transmit`](Self::poll_transmit) until `None`, writing the octets to the client;
/// 4. stop when [`is_closed`](Self::is_closed) (after writing out).
///
/// Commands are taken one at a time: while an answer is pending nothing more is parsed, so
/// pipelined commands (RFC 2449 §6.6) wait their turn in the input buffer.
///
/// ```
/// use mailwright_pop3_proto::server::{Maildrop, ServerConfig, ServerEvent, ServerSession};
/// use mailwright_pop3_proto::Uid;
///
/// let mut s = ServerSession::new(ServerConfig::default());
/// s.handle_input(b"USER alice\r\nPASS secret\r\nSTAT\r\nRETR 1\r\nQUIT\r\n");
/// let mut wire = Vec::new();
/// while !s.is_closed() {
///     let Some(event) = s.poll_event() else { break };
///     match event {
///         ServerEvent::Pass { user, password } => {
///             assert_eq!((user.as_str(), password.expose()), ("alice", &b"secret"[..]));
///             let mut drop = Maildrop::default();
///             drop.push(14, Uid::new("u1").unwrap());
///             s.accept_login(drop).unwrap();
///         }
///         ServerEvent::Retr { .. } => {
///             s.send_message_from(&mut &b"Subject: hi\n\n.\n"[..]).unwrap();
///         }
///         ServerEvent::Update { deleted } => s.update_done(Ok(())).unwrap(),
///         _ => {}
///     }
///     while let Some(b) = s.poll_transmit() {
///         wire.extend_from_slice(&b);
///     }
/// }
/// let wire = String::from_utf8(wire).unwrap();
/// assert!(wire.contains("+OK 1 14\r\n"));
/// assert!(wire.contains("Subject: hi\r\n\r\n..\r\n.\r\n"));
/// ```
#[derive(Debug)]
pub struct ServerSession {
    config: ServerConfig,
    state: SessionState,
    pending: Pending,
    input: BytesMut,
    out: BytesMut,
    events: VecDeque<ServerEvent>,
    discarding: bool,
    user: Option<Atom>,
    maildrop: Maildrop,
    deleted: Vec<bool>,
    failed_logins: u32,
    bad_commands: u32,
}

impl ServerSession {
    /// A new session; the greeting is queued for [`poll_transmit`](Self::poll_transmit).
    pub fn new(config: ServerConfig) -> Self {
        let mut out = BytesMut::with_capacity(1024);
        let text = match &config.apop_timestamp {
            Some(ts) => Text::lossy(&format!("{} {ts}", config.greeting)),
            None => config.greeting.clone(),
        };
        Response {
            status: crate::types::Status::Ok,
            code: None,
            text,
        }
        .encode(&mut out);
        Self {
            config,
            state: SessionState::Authorization,
            pending: Pending::None,
            input: BytesMut::new(),
            out,
            events: VecDeque::new(),
            discarding: false,
            user: None,
            maildrop: Maildrop::default(),
            deleted: Vec::new(),
            failed_logins: 0,
            bad_commands: 0,
        }
    }

    /// The configuration, to change what is offered from now on.
    pub fn config_mut(&mut self) -> &mut ServerConfig {
        &mut self.config
    }

    /// The RFC 1939 state.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// Whether the session is over (write out the transmit buffer, then close).
    pub fn is_closed(&self) -> bool {
        self.state == SessionState::Closed
    }

    /// Whether the driver should read more from the client (the input buffer is below half of
    /// [`ServerLimits::max_buffered_input`] and no TLS handshake is pending).
    pub fn wants_input(&self) -> bool {
        !self.is_closed()
            && !matches!(self.pending, Pending::Tls)
            && self.input.len() < self.config.limits.max_buffered_input / 2
    }

    /// Whether a RETR/TOP answer is being streamed (keep calling the message methods).
    pub fn is_sending_message(&self) -> bool {
        matches!(self.pending, Pending::Message { .. })
    }

    /// Takes octets received from the client. They are parsed by [`poll_event`](Self::poll_event).
    pub fn handle_input(&mut self, bytes: &[u8]) {
        if self.is_closed() || matches!(self.pending, Pending::Tls) {
            // After STLS the octets belong to the TLS handshake, never to us.
            return;
        }
        if self.input.len() + bytes.len() > self.config.limits.max_buffered_input {
            self.reply(&Response::err_code(
                ResponseCode::SysPerm,
                "too much pipelined input",
            ));
            self.close(CloseReason::InputOverflow);
            return;
        }
        self.input.extend_from_slice(bytes);
    }

    /// The next event, parsing buffered commands as needed. `None` when more input (or an
    /// answer to a pending event) is needed.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        loop {
            if let Some(e) = self.events.pop_front() {
                return Some(e);
            }
            if self.is_closed() || !matches!(self.pending, Pending::None | Pending::SaslInput) {
                return None;
            }
            if !self.step() {
                return self.events.pop_front();
            }
        }
    }

    /// Octets to send to the client, if any.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.out.is_empty() {
            None
        } else {
            Some(self.out.split().freeze())
        }
    }

    /// Parses and handles one line; false when more input is needed.
    fn step(&mut self) -> bool {
        if self.discarding {
            match parse::skip_line(&self.input) {
                Some(n) => {
                    let _ = self.input.split_to(n);
                    self.discarding = false;
                }
                None => {
                    self.input.clear();
                    return false;
                }
            }
        }
        if matches!(self.pending, Pending::SaslInput) {
            let max = self.config.limits.max_sasl_line;
            let result = parse::sasl_response(&self.input, max).map(|(rest, r)| (rest.len(), r));
            return match result {
                Ok((rest, r)) => {
                    let used = self.input.len() - rest;
                    let _ = self.input.split_to(used);
                    match r {
                        SaslResponse::Cancel => {
                            self.pending = Pending::None;
                            // RFC 5034 §4: "If the client cancels ... the server MUST reject the
                            // AUTH command by sending an -ERR reply."
                            self.reply(&Response::err("authentication cancelled"));
                        }
                        SaslResponse::Data(data) => {
                            self.pending = Pending::SaslStep;
                            self.events.push_back(ServerEvent::AuthResponse { data });
                        }
                    }
                    true
                }
                Err(ParseError::Incomplete) => false,
                Err(ParseError::LineTooLong { .. }) => {
                    self.discarding = true;
                    self.pending = Pending::None;
                    self.reply(&Response::err("SASL response too long"));
                    self.login_failed();
                    true
                }
                Err(ParseError::Malformed { consumed, .. }) => {
                    let _ = self.input.split_to(consumed);
                    self.pending = Pending::None;
                    self.reply(&Response::err("invalid base64 in SASL response"));
                    self.login_failed();
                    true
                }
            };
        }
        let max = self.config.limits.max_command_line;
        let result = parse::command_with_limit(&self.input, max).map(|(rest, c)| (rest.len(), c));
        match result {
            Ok((rest, cmd)) => {
                let used = self.input.len() - rest;
                let _ = self.input.split_to(used);
                self.dispatch(cmd);
                true
            }
            Err(ParseError::Incomplete) => false,
            Err(ParseError::LineTooLong { .. }) => {
                self.discarding = true;
                self.reply(&Response::err("line too long"));
                self.bad_command();
                true
            }
            Err(ParseError::Malformed { consumed, .. }) => {
                let _ = self.input.split_to(consumed);
                self.reply(&Response::err("unknown command or invalid arguments"));
                self.bad_command();
                true
            }
        }
    }

    fn reply(&mut self, r: &Response) {
        r.encode(&mut self.out);
    }

    fn close(&mut self, reason: CloseReason) {
        self.state = SessionState::Closed;
        self.pending = Pending::None;
        self.input.clear();
        self.events.push_back(ServerEvent::Closed(reason));
    }

    fn bad_command(&mut self) {
        self.bad_commands += 1;
        if self.bad_commands >= self.config.limits.max_bad_commands {
            self.reply(&Response::err("too many bad commands, closing"));
            self.close(CloseReason::TooManyBadCommands);
        }
    }

    fn login_failed(&mut self) {
        self.failed_logins += 1;
        if self.failed_logins >= self.config.limits.max_failed_logins {
            self.close(CloseReason::TooManyFailedLogins);
        }
    }

    fn wrong_state(&mut self) {
        self.reply(&Response::err("command not valid in this state"));
        self.bad_command();
    }

    fn login_allowed(&self) -> bool {
        !self.config.require_tls_for_login || self.config.tls_active
    }

    fn user_offered(&self) -> bool {
        self.config.offer_user && self.login_allowed()
    }

    fn stls_offered(&self) -> bool {
        self.config.offer_stls && !self.config.tls_active
    }

    /// The CAPA list for the current state (RFC 2449 §5).
    pub fn capabilities(&self) -> Vec<Capability> {
        let mut caps = vec![
            Capability::Top,
            Capability::Uidl,
            Capability::RespCodes,
            Capability::AuthRespCode,
            Capability::Pipelining,
        ];
        if self.state == SessionState::Authorization {
            if self.user_offered() {
                caps.push(Capability::User);
            }
            if !self.config.sasl_mechanisms.is_empty() && self.login_allowed() {
                caps.push(Capability::Sasl(self.config.sasl_mechanisms.clone()));
            }
            if self.stls_offered() {
                caps.push(Capability::Stls);
            }
        }
        if let Some(seconds) = self.config.login_delay {
            caps.push(Capability::LoginDelay {
                seconds,
                per_user: false,
            });
        }
        if let Some(days) = self.config.expire {
            caps.push(Capability::Expire {
                days,
                per_user: false,
            });
        }
        if let Some(t) = &self.config.implementation {
            caps.push(Capability::Implementation(t.clone()));
        }
        caps
    }

    fn dispatch(&mut self, cmd: Command) {
        if let Command::Capa = cmd {
            self.reply(&Response::ok("Capability list follows"));
            for c in self.capabilities() {
                c.encode(&mut self.out);
            }
            end_multiline(&mut self.out);
            return;
        }
        match self.state {
            SessionState::Authorization => self.dispatch_authorization(cmd),
            SessionState::Transaction => self.dispatch_transaction(&cmd),
            SessionState::Update | SessionState::Closed => {}
        }
    }

    fn dispatch_authorization(&mut self, cmd: Command) {
        match cmd {
            Command::Quit => {
                self.reply(&Response::ok("bye"));
                self.close(CloseReason::Quit);
            }
            Command::Stls if self.stls_offered() => {
                self.reply(&Response::ok("Begin TLS negotiation now"));
                // RFC 2595 §4 and the STARTTLS command-injection class (CVE-2011-0411): nothing
                // the client sent in plaintext after STLS may be read as a command.
                let discarded = self.input.split().freeze();
                self.user = None;
                self.pending = Pending::Tls;
                self.events.push_back(ServerEvent::StartTls { discarded });
            }
            Command::User(name) if self.user_offered() => {
                self.user = Some(name);
                self.reply(&Response::ok("send PASS"));
            }
            Command::User(_) | Command::Pass(_) | Command::Apop { .. } | Command::Auth { .. }
                if !self.login_allowed() =>
            {
                // RFC 2595 §2.2: no credentials in the clear when policy says so.
                self.reply(&Response::err_code(
                    ResponseCode::Auth,
                    "login needs TLS first (STLS)",
                ));
            }
            Command::Pass(password) => match self.user.take() {
                Some(user) if self.user_offered() => {
                    self.pending = Pending::Login;
                    self.events.push_back(ServerEvent::Pass { user, password });
                }
                _ => {
                    self.reply(&Response::err("USER first"));
                    self.bad_command();
                }
            },
            Command::Apop { name, digest } if self.login_allowed() => {
                match self.config.apop_timestamp.clone() {
                    Some(timestamp) => {
                        self.pending = Pending::Login;
                        self.events.push_back(ServerEvent::Apop {
                            user: name,
                            digest,
                            timestamp,
                        });
                    }
                    None => self.wrong_state(),
                }
            }
            Command::Auth {
                mechanism,
                initial_response,
            } if self.login_allowed() => {
                let offered = self
                    .config
                    .sasl_mechanisms
                    .iter()
                    .any(|m| m.as_str().eq_ignore_ascii_case(mechanism.as_str()));
                if offered {
                    self.pending = Pending::SaslStep;
                    self.events.push_back(ServerEvent::Auth {
                        mechanism,
                        initial_response,
                    });
                } else {
                    self.reply(&Response::err("unsupported authentication mechanism"));
                    self.bad_command();
                }
            }
            _ => self.wrong_state(),
        }
    }

    fn message(&self, n: MessageNumber) -> Option<&MaildropEntry> {
        let i = n.index();
        if self.deleted.get(i).copied().unwrap_or(true) {
            None
        } else {
            self.maildrop.entries.get(i)
        }
    }

    fn no_such_message(&mut self, n: MessageNumber) {
        let text = if self.deleted.get(n.index()).copied().unwrap_or(false) {
            format!("message {n} already deleted")
        } else {
            format!(
                "no such message, only {} messages in maildrop",
                self.maildrop.entries.len()
            )
        };
        self.reply(&Response::err(&text));
    }

    fn stat(&self) -> Stat {
        let mut count = 0;
        let mut size = 0;
        for (e, _) in self
            .maildrop
            .entries
            .iter()
            .zip(&self.deleted)
            .filter(|(_, d)| !**d)
        {
            count += 1;
            size += e.size;
        }
        Stat { count, size }
    }

    fn live(&self) -> impl Iterator<Item = (MessageNumber, &MaildropEntry)> {
        self.maildrop
            .entries
            .iter()
            .zip(&self.deleted)
            .enumerate()
            .filter(|(_, (_, d))| !**d)
            .filter_map(|(i, (e, _))| {
                let n = u32::try_from(i + 1).ok()?;
                Some((MessageNumber::new(n).ok()?, e))
            })
    }

    fn dispatch_transaction(&mut self, cmd: &Command) {
        match *cmd {
            Command::Stat => self.stat().encode(&mut self.out),
            Command::List(None) => {
                let s = self.stat();
                self.reply(&Response::ok(&format!(
                    "{} messages ({} octets)",
                    s.count, s.size
                )));
                let mut out = std::mem::take(&mut self.out);
                for (message, e) in self.live() {
                    ScanListing {
                        message,
                        size: e.size,
                    }
                    .encode(&mut out);
                }
                end_multiline(&mut out);
                self.out = out;
            }
            Command::Uidl(None) => {
                self.reply(&Response::ok("unique-id listing follows"));
                let mut out = std::mem::take(&mut self.out);
                for (message, e) in self.live() {
                    UidListing {
                        message,
                        uid: e.uid.clone(),
                    }
                    .encode(&mut out);
                }
                end_multiline(&mut out);
                self.out = out;
            }
            Command::List(Some(n)) => match self.message(n) {
                Some(e) => self.reply(&Response::ok(&format!("{n} {}", e.size))),
                None => self.no_such_message(n),
            },
            Command::Uidl(Some(n)) => match self.message(n) {
                Some(e) => self.reply(&Response::ok(&format!("{n} {}", e.uid))),
                None => self.no_such_message(n),
            },
            Command::Retr(n) => match self.message(n) {
                Some(e) => {
                    let (uid, size) = (e.uid.clone(), e.size);
                    self.pending = Pending::Message {
                        stuffer: DotStuffer::new(),
                        started: false,
                        size,
                    };
                    self.events.push_back(ServerEvent::Retr {
                        message: n,
                        uid,
                        size,
                    });
                }
                None => self.no_such_message(n),
            },
            Command::Top { message, lines } => match self.message(message) {
                Some(e) => {
                    let (uid, size) = (e.uid.clone(), e.size);
                    self.pending = Pending::Message {
                        stuffer: DotStuffer::top(lines),
                        started: false,
                        size,
                    };
                    self.events.push_back(ServerEvent::Top {
                        message,
                        uid,
                        lines,
                    });
                }
                None => self.no_such_message(message),
            },
            Command::Dele(n) => match self.message(n) {
                Some(_) => {
                    self.deleted[n.index()] = true;
                    self.reply(&Response::ok(&format!("message {n} deleted")));
                }
                None => self.no_such_message(n),
            },
            Command::Noop => self.reply(&Response::ok("")),
            Command::Rset => {
                self.deleted.iter_mut().for_each(|d| *d = false);
                let s = self.stat();
                self.reply(&Response::ok(&format!(
                    "maildrop has {} messages ({} octets)",
                    s.count, s.size
                )));
            }
            Command::Quit => {
                // RFC 1939 §6: the UPDATE state removes the messages marked as deleted.
                let deleted = self
                    .maildrop
                    .entries
                    .iter()
                    .zip(&self.deleted)
                    .enumerate()
                    .filter(|(_, (_, d))| **d)
                    .filter_map(|(i, (e, _))| {
                        let n = MessageNumber::new(u32::try_from(i + 1).ok()?).ok()?;
                        Some(Deleted {
                            message: n,
                            uid: e.uid.clone(),
                        })
                    })
                    .collect();
                self.state = SessionState::Update;
                self.pending = Pending::Update;
                self.events.push_back(ServerEvent::Update { deleted });
            }
            _ => self.wrong_state(),
        }
    }

    /// Accepts the login pending after [`ServerEvent::Pass`], [`ServerEvent::Apop`] or a SASL
    /// exchange and installs the maildrop listing: the session enters TRANSACTION state.
    pub fn accept_login(&mut self, maildrop: Maildrop) -> Result<(), ServerError> {
        if !matches!(self.pending, Pending::Login | Pending::SaslStep) {
            return Err(ServerError::NotExpected("accept_login"));
        }
        self.pending = Pending::None;
        self.deleted = vec![false; maildrop.entries.len()];
        self.maildrop = maildrop;
        self.state = SessionState::Transaction;
        let s = self.stat();
        self.reply(&Response::ok(&format!(
            "maildrop has {} messages ({} octets)",
            s.count, s.size
        )));
        Ok(())
    }

    /// Refuses the pending login with `-ERR [code] text`: use [`ResponseCode::Auth`] for bad
    /// credentials (RFC 3206 §5), [`ResponseCode::InUse`] for a locked maildrop (RFC 2449 §8.1.1),
    /// [`ResponseCode::SysTemp`] for a passing fault; `None` means `[AUTH]` (RFC 3206 §6, as
    /// AUTH-RESP-CODE is advertised). Refusals with no code or `[AUTH]` count towards
    /// [`ServerLimits::max_failed_logins`].
    pub fn refuse_login(
        &mut self,
        code: Option<ResponseCode>,
        text: &str,
    ) -> Result<(), ServerError> {
        if !matches!(self.pending, Pending::Login | Pending::SaslStep) {
            return Err(ServerError::NotExpected("refuse_login"));
        }
        self.pending = Pending::None;
        let counts = matches!(code, None | Some(ResponseCode::Auth));
        // RFC 3206 §6: with AUTH-RESP-CODE advertised, a credentials failure carries [AUTH].
        let code = Some(code.unwrap_or(ResponseCode::Auth));
        self.reply(&Response {
            status: crate::types::Status::Err,
            code,
            text: Text::lossy(text),
        });
        if counts {
            self.login_failed();
        }
        Ok(())
    }

    /// Sends a SASL challenge (`+ base64`) during an AUTH exchange; the client's answer comes as
    /// [`ServerEvent::AuthResponse`].
    pub fn sasl_challenge(&mut self, data: &[u8]) -> Result<(), ServerError> {
        if !matches!(self.pending, Pending::SaslStep) {
            return Err(ServerError::NotExpected("sasl_challenge"));
        }
        AuthReply::Continue(Secret::binary(data.to_vec())).encode(&mut self.out);
        self.pending = Pending::SaslInput;
        Ok(())
    }

    /// Streams one chunk of the message asked for by [`ServerEvent::Retr`] or [`ServerEvent::Top`]
    /// (the `+OK` line goes first). Chunks may split the message anywhere; bare LF line ends
    /// become CRLF. [`Feed::Done`] means TOP has what it needs: stop reading and call
    /// [`finish_message`](Self::finish_message).
    pub fn send_message_chunk(&mut self, chunk: &[u8]) -> Result<Feed, ServerError> {
        let Pending::Message {
            stuffer,
            started,
            size,
        } = &mut self.pending
        else {
            return Err(ServerError::NotExpected("send_message_chunk"));
        };
        if !*started {
            *started = true;
            Response::ok(&format!("{size} octets")).encode(&mut self.out);
        }
        Ok(stuffer.feed(chunk, &mut self.out))
    }

    /// Ends the message being streamed (the `.` line); the next pipelined command is then parsed.
    pub fn finish_message(&mut self) -> Result<(), ServerError> {
        let Pending::Message {
            stuffer,
            started,
            size,
        } = &mut self.pending
        else {
            return Err(ServerError::NotExpected("finish_message"));
        };
        if !*started {
            Response::ok(&format!("{size} octets")).encode(&mut self.out);
        }
        stuffer.finish(&mut self.out);
        self.pending = Pending::None;
        Ok(())
    }

    /// Reads the message from `reader` and streams it, until the transmit buffer holds
    /// [`ServerLimits::transmit_high_water`] octets (returns `Ok(false)`: write out
    /// [`poll_transmit`](Self::poll_transmit) and call again) or the message is complete (returns
    /// `Ok(true)`, the `.` line included). The message is never held whole.
    pub fn send_message_from<R: Read + ?Sized>(&mut self, reader: &mut R) -> std::io::Result<bool> {
        let mut buf = [0u8; 16 * 1024];
        loop {
            if self.out.len() >= self.config.limits.transmit_high_water {
                return Ok(false);
            }
            let n = match reader.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let feed = if n == 0 {
                Feed::Done
            } else {
                self.send_message_chunk(&buf[..n])
                    .map_err(std::io::Error::other)?
            };
            if feed == Feed::Done {
                self.finish_message().map_err(std::io::Error::other)?;
                return Ok(true);
            }
        }
    }

    /// Refuses the RETR/TOP pending (`-ERR [code] text`), for instance when the message file has
    /// gone. After streaming has begun there is no honest way to fail but to drop the connection:
    /// the session closes ([`CloseReason::Aborted`]).
    pub fn refuse_message(
        &mut self,
        code: Option<ResponseCode>,
        text: &str,
    ) -> Result<(), ServerError> {
        let Pending::Message { started, .. } = &self.pending else {
            return Err(ServerError::NotExpected("refuse_message"));
        };
        if *started {
            self.close(CloseReason::Aborted);
        } else {
            self.pending = Pending::None;
            self.reply(&Response {
                status: crate::types::Status::Err,
                code,
                text: Text::lossy(text),
            });
        }
        Ok(())
    }

    /// Reports how the UPDATE state went: `Ok` sends `+OK`, `Err(text)` sends
    /// `-ERR [SYS/TEMP] text` (RFC 1939 §6: "some deleted messages not removed"). The session
    /// closes either way.
    pub fn update_done(&mut self, result: Result<(), &str>) -> Result<(), ServerError> {
        if !matches!(self.pending, Pending::Update) {
            return Err(ServerError::NotExpected("update_done"));
        }
        match result {
            Ok(()) => {
                let left = self.deleted.iter().filter(|d| !**d).count();
                self.reply(&Response::ok(&format!("bye ({left} messages left)")));
            }
            Err(text) => self.reply(&Response::err_code(ResponseCode::SysTemp, text)),
        }
        self.close(CloseReason::Quit);
        Ok(())
    }

    /// Tells the session that the TLS handshake after STLS succeeded: commands are read again
    /// (from the TLS stream), STLS is no longer offered, and the client starts over in the
    /// AUTHORIZATION state.
    pub fn tls_established(&mut self) -> Result<(), ServerError> {
        if !matches!(self.pending, Pending::Tls) {
            return Err(ServerError::NotExpected("tls_established"));
        }
        self.pending = Pending::None;
        self.config.tls_active = true;
        self.input.clear();
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests;
