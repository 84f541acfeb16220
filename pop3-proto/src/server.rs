//! The server session state machine (Sans-IO).
//!
//! RFC 1939 §3: "Once the TCP connection has been opened and the POP3 server has sent the
//! greeting, the session enters the AUTHORIZATION state. ... Once the client has successfully
//! identified itself to the POP3 server ... the session now enters the TRANSACTION state. ... When
//! the client has issued the QUIT command, the session enters the UPDATE state."

mod config;
mod decide;
mod event;
mod transaction;

pub use config::{MIN_AUTOLOGOUT, ServerConfig, ServerLimits};
pub use decide::MessageError;
pub use event::{
    CloseReason, ConnectionRefusal, Deleted, Event, LoginMethod, LoginTicket, Maildrop,
    MaildropEntry, Refusal, SaslTicket, SessionState, UpdateTicket,
};

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use mailwright_sansio::{Machine, Timer};

use crate::encode::{DotStuffer, Encode, end_multiline};
use crate::parse::{self, DecodeError, MalformedKind};
use crate::types::{
    Atom, AuthReply, Capability, Command, PlainCredentials, Response, ResponseCode, SaslResponse,
    Secret, Status, Text,
};

/// RFC 3206 §4 `[SYS/TEMP]` texts, worded as Dovecot 2.3 words them.
const INACTIVITY: &str = "Disconnected for inactivity.";
const SHUTTING_DOWN: &str = "Server shutting down.";
const COMMAND_TOO_SLOW: &str = "Disconnected: command not completed in time.";
/// RFC 3206 §5 `[AUTH]`, as Dovecot words it.
const AUTH_FAILED: &str = "Authentication failed.";

#[derive(Debug)]
enum Pending {
    /// Waiting for the client's next command.
    None,
    /// A login decision; the ticket number.
    Login(u64),
    /// A step of a SASL mechanism the application runs; the ticket number.
    SaslStep(u64),
    /// Waiting for the client's next line of such a mechanism.
    SaslInput,
    /// Waiting for the client's PLAIN response after the empty challenge.
    PlainInput,
    /// A RETR or TOP answer being streamed.
    Message {
        stuffer: DotStuffer,
        started: bool,
        size: u64,
    },
    /// The TLS handshake after STLS.
    Tls,
    /// The UPDATE state; the ticket number.
    Update(u64),
}

/// A POP3 server session: one per connection, driven through [`Machine`].
///
/// Call order (the contract of `mailwright_sansio`):
/// 1. [`new`](Self::new) queues the greeting; call [`handle_timeout`](Self::handle_timeout) with
///    the instant the connection opened, which starts the login timer (the session never reads a
///    clock, so before that it knows no time);
/// 2. [`handle_input`](Self::handle_input)`(now, octets)` with what the client sent;
/// 3. [`poll_event`](Self::poll_event) until `None`, answering each event with the method it
///    names (the session answers CAPA, USER, STAT, LIST, UIDL, DELE, NOOP, RSET, and runs AUTH
///    PLAIN, itself);
/// 4. [`poll_transmit`](Self::poll_transmit) until `None`, writing the octets to the client;
/// 5. wait for input or until [`poll_timeout`](Self::poll_timeout), then call
///    [`handle_timeout`](Self::handle_timeout)`(now)`;
/// 6. stop when [`is_closed`](Self::is_closed) (after writing out).
///
/// Commands are taken one at a time: while an answer is pending nothing more is parsed, so
/// pipelined commands (RFC 2449 §6.6) wait their turn in the input buffer. The timers
/// ([`ServerConfig::autologout`], [`ServerConfig::login_timeout`],
/// [`ServerConfig::command_timeout`]) run only while the session waits for the client; a decision
/// restarts them from the next instant the driver passes, which
/// [`poll_timeout`](Self::poll_timeout) asks for at once.
///
/// ```
/// use std::time::{Duration, Instant};
/// use mailwright_pop3_proto::server::{Event, Maildrop, ServerConfig, ServerSession};
/// use mailwright_pop3_proto::{Machine, Uid};
///
/// let start = Instant::now();
/// let mut s = ServerSession::new(ServerConfig::default());
/// s.handle_timeout(start);
/// s.handle_input(start, b"USER alice\r\nPASS secret\r\nSTAT\r\nRETR 1\r\nQUIT\r\n");
/// let mut wire = Vec::new();
/// while let Some(event) = s.poll_event() {
///     match event {
///         Event::Login { user, password, ticket, .. } => {
///             assert_eq!((user.as_str(), &password.expose()[..]), ("alice", &b"secret"[..]));
///             let mut drop = Maildrop::default();
///             drop.push(14, Uid::new("u1").unwrap());
///             s.accept_login(ticket, drop).unwrap();
///         }
///         Event::Retr { .. } => {
///             s.send_message_from(&mut &b"Subject: hi\n\n.\n"[..]).unwrap();
///         }
///         Event::Update { ticket, .. } => s.update_done(ticket).unwrap(),
///         _ => {}
///     }
///     while let Some(b) = s.poll_transmit() {
///         wire.extend_from_slice(&b);
///     }
/// }
/// let wire = String::from_utf8(wire).unwrap();
/// assert!(wire.contains("+OK 1 14\r\n"));
/// assert!(wire.contains("Subject: hi\r\n\r\n..\r\n.\r\n"));
/// assert!(s.is_closed());
///
/// // Ten idle minutes in the TRANSACTION state end a session (RFC 1939 §3).
/// let mut s = ServerSession::new(ServerConfig::default());
/// s.handle_timeout(start);
/// s.handle_input(start, b"USER alice\r\nPASS secret\r\n");
/// let Some(Event::Login { ticket, .. }) = s.poll_event() else { panic!() };
/// s.accept_login(ticket, Maildrop::default()).unwrap();
/// s.handle_timeout(s.poll_timeout().unwrap()); // the decision restarts the timer
/// let deadline = s.poll_timeout().unwrap();
/// assert_eq!(deadline, start + Duration::from_mins(10));
/// s.handle_timeout(deadline);
/// let wire = s.poll_transmit().unwrap();
/// assert!(wire.ends_with(b"-ERR [SYS/TEMP] Disconnected for inactivity.\r\n"));
/// assert!(s.is_closed());
/// ```
#[derive(Debug)]
pub struct ServerSession {
    config: ServerConfig,
    state: SessionState,
    pending: Pending,
    input: BytesMut,
    out: BytesMut,
    events: VecDeque<Event>,
    discarding: bool,
    user: Option<Atom>,
    maildrop: Maildrop,
    deleted: Vec<bool>,
    failed_logins: u32,
    bad_commands: u32,
    /// The latest instant the driver passed in.
    now: Option<Instant>,
    /// Restart the timers at the next instant the driver passes (after a decision).
    rearm: bool,
    /// The login timer has been started (once per session).
    login_started: bool,
    login_timer: Timer,
    idle_timer: Timer,
    /// When the first octet of the command line being received arrived.
    line_since: Option<Instant>,
    shutting_down: bool,
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
            status: Status::Ok,
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
            now: None,
            rearm: true,
            login_started: false,
            login_timer: Timer::default(),
            idle_timer: Timer::default(),
            line_since: None,
            shutting_down: false,
        }
    }

    /// A session that refuses the connection (over the server's connection limits): its only
    /// transmit is `-ERR [SYS/TEMP] ...` in place of the greeting, and it is closed from the start
    /// ([`CloseReason::Refused`]). Drive it as any other session.
    ///
    /// ```
    /// use mailwright_pop3_proto::server::{ConnectionRefusal, ServerSession};
    /// let mut s = ServerSession::refused(ConnectionRefusal::TooManyFromAddress);
    /// assert!(s.is_closed());
    /// assert_eq!(
    ///     &s.poll_transmit().unwrap()[..],
    ///     b"-ERR [SYS/TEMP] Too many connections from your address, try again later.\r\n"
    /// );
    /// ```
    pub fn refused(why: ConnectionRefusal) -> Self {
        let mut s = Self::new(ServerConfig::default());
        s.out.clear();
        let text = match why {
            ConnectionRefusal::TooManyConnections => "Too many connections, try again later.",
            ConnectionRefusal::TooManyFromAddress => {
                "Too many connections from your address, try again later."
            }
        };
        s.reply(&Response::err_code(ResponseCode::SysTemp, text));
        s.close(CloseReason::Refused(why));
        s
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
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.state == SessionState::Closed
    }

    /// Whether the driver should read more from the client (the input buffer is below half of
    /// [`ServerLimits::max_buffered_input`] and no TLS handshake is pending).
    #[must_use]
    pub fn wants_input(&self) -> bool {
        !self.is_closed()
            && !matches!(self.pending, Pending::Tls)
            && self.input.len() < self.config.limits.max_buffered_input / 2
    }

    /// Whether a RETR/TOP answer is being streamed (keep calling the message methods).
    pub fn is_sending_message(&self) -> bool {
        matches!(self.pending, Pending::Message { .. })
    }

    /// Whether the session waits for the client (no decision of the application pending).
    fn waits_for_client(&self) -> bool {
        !self.is_closed()
            && matches!(
                self.pending,
                Pending::None | Pending::SaslInput | Pending::PlainInput
            )
    }

    /// Takes the instant the driver passed and restarts the timers a decision asked for.
    fn see(&mut self, now: Instant) {
        let now = self.now.map_or(now, |t| t.max(now));
        self.now = Some(now);
        if !self.rearm {
            return;
        }
        self.rearm = false;
        if self.state == SessionState::Authorization && !self.login_started {
            self.login_started = true;
            self.login_timer.arm(now, self.config.login_timeout);
        }
        if self.state == SessionState::Transaction {
            self.idle_timer
                .arm(now, self.config.autologout.max(MIN_AUTOLOGOUT));
        }
        if self.line_since.is_some() {
            self.line_since = Some(now);
        }
    }

    fn command_deadline(&self) -> Option<Instant> {
        self.line_since
            .and_then(|t| t.checked_add(self.config.command_timeout))
    }

    /// Takes octets received from the client at `now`. They are parsed by
    /// [`poll_event`](Self::poll_event).
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        self.see(now);
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
        if self.line_since.is_none() && !bytes.is_empty() {
            // The deadline of a command runs from its first octet, not from the last read.
            self.line_since = Some(now);
        }
        self.input.extend_from_slice(bytes);
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next: the earliest running
    /// timer, or the last instant seen when a decision asks for the timers to restart.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_closed() {
            return None;
        }
        if self.rearm {
            return self.now;
        }
        let login = self.state == SessionState::Authorization;
        if matches!(self.pending, Pending::Tls) {
            // The handshake counts towards the time allowed to log in.
            return self.login_timer.deadline().filter(|_| login);
        }
        if !self.waits_for_client() {
            return None;
        }
        Timer::earliest([
            self.command_deadline(),
            self.login_timer.deadline().filter(|_| login),
            self.idle_timer
                .deadline()
                .filter(|_| self.state == SessionState::Transaction),
        ])
    }

    /// Tells the session that time has reached `now`: a timer whose deadline has passed answers
    /// `-ERR [SYS/TEMP] ...` and closes the session; an early call only restarts the timers a
    /// decision asked for.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.see(now);
        if self.is_closed() {
            return;
        }
        let now = self.now.unwrap_or(now);
        let login = self.state == SessionState::Authorization && self.login_timer.expired(now);
        if matches!(self.pending, Pending::Tls) {
            if login {
                // Mid-handshake: no plaintext reply can reach the client.
                self.close(CloseReason::LoginTimeout);
            }
            return;
        }
        if !self.waits_for_client() {
            return;
        }
        if self.command_deadline().is_some_and(|d| d <= now) {
            self.time_out(CloseReason::CommandTimeout, COMMAND_TOO_SLOW);
        } else if login {
            self.time_out(CloseReason::LoginTimeout, INACTIVITY);
        } else if self.state == SessionState::Transaction && self.idle_timer.expired(now) {
            // RFC 1939 §3: autologout, without entering the UPDATE state.
            self.time_out(CloseReason::Autologout, INACTIVITY);
        }
    }

    fn time_out(&mut self, reason: CloseReason, text: &str) {
        self.reply(&Response::err_code(ResponseCode::SysTemp, text));
        self.close(reason);
    }

    /// The server is going down: the session answers `-ERR [SYS/TEMP] Server shutting down.` and
    /// closes as soon as no decision is pending (at once when it waits for the client; after the
    /// pending login, message or TLS handshake otherwise; a session in the UPDATE state finishes
    /// its update and says goodbye as usual). Pipelined commands are not run.
    pub fn handle_shutdown(&mut self) {
        self.shutting_down = true;
        if self.waits_for_client() {
            self.time_out(CloseReason::Shutdown, SHUTTING_DOWN);
        }
    }

    /// The next event, parsing buffered commands as needed. `None` when more input (or an
    /// answer to a pending event) is needed.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.events.pop_front() {
                return Some(e);
            }
            if !self.waits_for_client() || !self.step() {
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

    /// Drops `n` parsed octets: one line was received.
    fn consume(&mut self, n: usize) {
        let _ = self.input.split_to(n);
        // RFC 1939 §3: "The receipt of any command from the client during that interval should
        // suffice to reset the autologout timer."
        if let Some(now) = self.now
            && self.state == SessionState::Transaction
        {
            self.idle_timer
                .arm(now, self.config.autologout.max(MIN_AUTOLOGOUT));
        }
        self.line_since = if self.input.is_empty() {
            None
        } else {
            // The next line has begun (pipelined); its octets arrived by the latest instant.
            self.now
        };
    }

    /// Drops the buffered part of an over-long line; the rest is discarded as it arrives.
    fn skip_long_line(&mut self, skip: usize) {
        let skip = skip.min(self.input.len());
        self.discarding = !self.input[..skip].ends_with(b"\n");
        let _ = self.input.split_to(skip);
        if !self.discarding {
            self.consume(0);
        }
    }

    /// Parses and handles one line; false when more input is needed.
    fn step(&mut self) -> bool {
        if self.discarding {
            match parse::skip_line(&self.input) {
                Some(n) => {
                    self.discarding = false;
                    self.consume(n);
                }
                None => {
                    // The rest of the over-long line; its deadline still runs.
                    self.input.clear();
                    return false;
                }
            }
        }
        if matches!(self.pending, Pending::SaslInput | Pending::PlainInput) {
            return self.step_sasl();
        }
        let max = self.config.limits.max_command_line;
        let result = parse::command_with_limit(&self.input, max).map(|(rest, c)| (rest.len(), c));
        match result {
            Ok((rest, cmd)) => {
                self.consume(self.input.len() - rest);
                self.dispatch(cmd);
            }
            Err(DecodeError::Malformed {
                kind: MalformedKind::LineTooLong { .. },
                skip,
                ..
            }) => {
                self.skip_long_line(skip);
                self.reply(&Response::err("line too long"));
                self.bad_command();
            }
            Err(DecodeError::Malformed { kind, skip, .. }) => {
                self.consume(skip);
                self.reply(&Response::err(match kind {
                    MalformedKind::UnknownCommand => "unknown command",
                    _ => "invalid arguments",
                }));
                self.bad_command();
            }
            Err(_) => return false,
        }
        true
    }

    /// One client line of an AUTH exchange.
    fn step_sasl(&mut self) -> bool {
        let max = self.config.limits.max_sasl_line;
        let plain = matches!(self.pending, Pending::PlainInput);
        let result = parse::sasl_response(&self.input, max).map(|(rest, r)| (rest.len(), r));
        match result {
            Ok((rest, r)) => {
                self.consume(self.input.len() - rest);
                self.pending = Pending::None;
                match r {
                    // RFC 5034 §4: "If the client cancels ... the server MUST reject the AUTH
                    // command by sending an -ERR reply."
                    SaslResponse::Cancel => self.reply(&Response::err("authentication cancelled")),
                    SaslResponse::Data(data) if plain => self.plain(&data),
                    SaslResponse::Data(data) => {
                        let ticket = event::next_ticket();
                        self.pending = Pending::SaslStep(ticket);
                        self.events.push_back(Event::AuthResponse {
                            data,
                            ticket: SaslTicket(ticket),
                        });
                    }
                }
            }
            Err(DecodeError::Malformed {
                kind: MalformedKind::LineTooLong { .. },
                skip,
                ..
            }) => {
                self.skip_long_line(skip);
                self.pending = Pending::None;
                self.reply(&Response::err("SASL response too long"));
                self.login_failed();
            }
            Err(DecodeError::Malformed { skip, .. }) => {
                self.consume(skip);
                self.pending = Pending::None;
                self.reply(&Response::err("invalid base64 in SASL response"));
                self.login_failed();
            }
            Err(_) => return false,
        }
        true
    }

    /// Decodes a PLAIN message (RFC 4616 §2) into a login to check.
    fn plain(&mut self, message: &Secret<Vec<u8>>) {
        match PlainCredentials::decode(message.expose()) {
            Some(c) => {
                let ticket = event::next_ticket();
                self.pending = Pending::Login(ticket);
                self.events.push_back(Event::Login {
                    authzid: Some(c.authzid).filter(|a| !a.is_empty()),
                    user: c.authcid,
                    password: c.password,
                    method: LoginMethod::Plain,
                    ticket: LoginTicket(ticket),
                });
            }
            None => {
                self.reply(&Response::err_code(ResponseCode::Auth, AUTH_FAILED));
                self.login_failed();
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
        self.line_since = None;
        self.login_timer.disarm();
        self.idle_timer.disarm();
        self.events.push_back(Event::Closed(reason));
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
                self.line_since = None;
                self.user = None;
                self.pending = Pending::Tls;
                self.events.push_back(Event::StartTls { discarded });
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
                    let ticket = event::next_ticket();
                    self.pending = Pending::Login(ticket);
                    self.events.push_back(Event::Login {
                        authzid: None,
                        user: user.as_str().to_owned(),
                        password: password.into_secret(),
                        method: LoginMethod::UserPass,
                        ticket: LoginTicket(ticket),
                    });
                }
                _ => {
                    self.reply(&Response::err("USER first"));
                    self.bad_command();
                }
            },
            Command::Apop { name, digest } => match self.config.apop_timestamp.clone() {
                Some(timestamp) => {
                    let ticket = event::next_ticket();
                    self.pending = Pending::Login(ticket);
                    self.events.push_back(Event::Apop {
                        user: name,
                        digest,
                        timestamp,
                        ticket: LoginTicket(ticket),
                    });
                }
                None => self.wrong_state(),
            },
            Command::Auth {
                mechanism,
                initial_response,
            } => self.auth(mechanism, initial_response),
            _ => self.wrong_state(),
        }
    }

    /// `AUTH` (RFC 5034 §4): PLAIN is run here; other mechanisms go to the application.
    fn auth(&mut self, mechanism: Atom, initial_response: Option<Secret<Vec<u8>>>) {
        let offered = self
            .config
            .sasl_mechanisms
            .iter()
            .any(|m| m.as_str().eq_ignore_ascii_case(mechanism.as_str()));
        if !offered {
            self.reply(&Response::err("unsupported authentication mechanism"));
            self.bad_command();
            return;
        }
        if mechanism.as_str().eq_ignore_ascii_case("PLAIN") {
            match initial_response {
                Some(message) => self.plain(&message),
                None => {
                    // RFC 4616 §2: the server's first (and only) challenge is empty.
                    AuthReply::Continue(Secret::new(Vec::new())).encode(&mut self.out);
                    self.pending = Pending::PlainInput;
                }
            }
            return;
        }
        let ticket = event::next_ticket();
        self.pending = Pending::SaslStep(ticket);
        self.events.push_back(Event::Auth {
            mechanism,
            initial_response,
            ticket: SaslTicket(ticket),
        });
    }
}

impl Machine for ServerSession {
    type Event = Event;

    fn handle_input(&mut self, now: Instant, data: &[u8]) {
        ServerSession::handle_input(self, now, data);
    }

    fn poll_event(&mut self) -> Option<Event> {
        ServerSession::poll_event(self)
    }

    fn poll_transmit(&mut self) -> Option<Bytes> {
        ServerSession::poll_transmit(self)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        ServerSession::poll_timeout(self)
    }

    fn handle_timeout(&mut self, now: Instant) {
        ServerSession::handle_timeout(self, now);
    }

    fn wants_input(&self) -> bool {
        ServerSession::wants_input(self)
    }

    fn is_closed(&self) -> bool {
        ServerSession::is_closed(self)
    }
    fn handle_tls_established(&mut self) -> Result<(), mailwright_sansio::UsageError> {
        Self::handle_tls_established(self)
    }
    fn handle_shutdown(&mut self) {
        Self::handle_shutdown(self);
    }
}

#[cfg(test)]
pub(crate) mod tests;
