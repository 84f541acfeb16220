//! The server session state machine (Sans-IO) for SMTP, submission and LMTP.
//!
//! # Call order
//!
//! The contract of [`mailwright_sansio::Machine`], which [`ServerSession`] implements:
//!
//! 1. [`ServerSession::new`] queues the greeting. Call [`ServerSession::handle_timeout`] once with
//!    the time the connection started: the machine has seen no instant yet, and its first timer
//!    (the wait for the first command) runs from the first one it sees.
//! 2. Feed bytes read from the peer with [`ServerSession::handle_input`]`(now, bytes)`.
//! 3. Drain [`ServerSession::poll_event`]. An event that needs an answer ([`Event::needs_decision`])
//!    stops the machine until you answer with one of the methods the event names
//!    ([`ServerSession::accept`], [`ServerSession::reject`], [`ServerSession::accept_with`],
//!    [`ServerSession::reject_and_close`]; LMTP: [`ServerSession::data_replies`]; SASL:
//!    [`ServerSession::auth_challenge`]); then drain events again. A decision method called when
//!    no such decision is pending returns a [`UsageError`] and changes nothing (so does one that
//!    answers an event queued before the machine closed the session: [`UsageError::Closed`]).
//! 4. When no event is left, write out [`ServerSession::poll_transmit`] (one write per pipelined
//!    group, as RFC 2920 §3.2 asks).
//! 5. Wait for input (while [`ServerSession::wants_input`]) or for
//!    [`ServerSession::poll_timeout`], whichever comes first; at the deadline call
//!    [`ServerSession::handle_timeout`]`(now)`.
//! 6. On [`Event::StartTls`]: write out the pending transmit (the 220), run the TLS handshake, then
//!    call [`ServerSession::handle_tls_established`] and feed decrypted bytes from then on.
//! 7. When [`ServerSession::is_closed`] (after [`Event::Quit`] or [`Event::Closed`]): write out
//!    the last transmit and close.
//!
//! When the server goes down, call [`ServerSession::handle_shutdown`]: the machine answers
//! `421 4.3.2` at the next point the protocol allows and closes.
//!
//! # Timers
//!
//! The machine owns the timers of [`Timeouts`]: the wait for a command, the deadline of one
//! command line from its first octet, the wait between octets of message data and the deadline of
//! a whole transfer. It also holds back replies once the client has made more errors than
//! [`Limits::soft_error_limit`]. Timers are anchored at the `now` of the last `handle_input` or
//! `handle_timeout`; when a decision restarts one, [`ServerSession::poll_timeout`] returns the last
//! instant the machine saw, so the driver calls `handle_timeout(now)` at once and the timer runs
//! from that `now`. No timer runs while a decision is pending.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use mailwright_smtp_proto::{Mode, ServerConfig, ServerSession};
//!
//! let t0 = Instant::now();
//! let mut s = ServerSession::new(ServerConfig::new(Mode::Smtp, "mx.example.org"));
//! s.handle_timeout(t0);
//! assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_mins(5)));
//! s.handle_timeout(t0 + Duration::from_mins(5));
//! let mut out = Vec::new();
//! while let Some(b) = s.poll_transmit() {
//!     out.extend_from_slice(&b);
//! }
//! assert!(out.ends_with(b"421 4.4.2 mx.example.org Error: timeout exceeded\r\n"));
//! assert!(s.is_closed());
//! ```

mod commands;
mod config;
mod event;
mod timers;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use mailwright_sansio::{Machine, Timer, UsageError};

pub use config::{Extensions, Limits, Mode, ServerConfig, Timeouts};
pub use event::{AbortReason, CloseReason, Event, HeloKind, TimeoutKind};

use crate::data::DataDecoder;
use crate::types::reply::r;
use crate::types::text::base64_encode;
use crate::types::{EnhancedCode, Mechanism, Reply};

/// The decision the machine waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    Helo(HeloKind),
    Mail,
    Rcpt,
    DataEnd,
    /// PLAIN or LOGIN credentials: accept or reject.
    AuthCredentials,
    /// Another mechanism: a challenge, accept or reject.
    AuthExchange,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AuthStep {
    PlainResponse,
    LoginUser,
    LoginPassword,
    Generic,
}

#[derive(Debug)]
enum Phase {
    /// Reading command lines.
    Command,
    /// Inside DATA.
    Data(DataDecoder),
    /// Inside a BDAT chunk.
    Bdat {
        remaining: u64,
        last: bool,
        valid: bool,
    },
    /// Reading a SASL response line.
    Auth(AuthStep),
    /// Waiting for the TLS handshake.
    Tls,
    /// Done.
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Txn {
    None,
    Mail,
    /// Recipients accepted; `bdat` when a BDAT chunk was taken already.
    Rcpt {
        bdat: bool,
    },
}

/// The timers of one session (see [`Timeouts`]).
#[derive(Debug, Default)]
struct Timers {
    /// Waiting for a command (or, in DATA/BDAT, for the next octet of content).
    idle: Timer,
    /// The deadline of the command line being read, from its first octet.
    command: Timer,
    /// The deadline of the message transfer.
    transfer: Timer,
    /// When the held replies go out (error delay).
    hold: Timer,
    /// The last instant seen.
    last_now: Option<Instant>,
    /// A timer must be armed but no instant is known yet: `poll_timeout` reports `last_now`.
    unanchored: bool,
}

/// One server session. See the [module docs](self) for the call order.
#[derive(Debug)]
pub struct ServerSession {
    config: ServerConfig,
    input: BytesMut,
    output: BytesMut,
    /// Replies held back by the error delay, in order; they go out when `timers.hold` fires.
    held: BytesMut,
    /// The error delay being served, while replies are held.
    hold: Option<Duration>,
    events: VecDeque<Event>,
    phase: Phase,
    pending: Option<Pending>,
    helo: Option<HeloKind>,
    txn: Txn,
    /// A message transfer (DATA or BDAT) runs: its deadline is armed.
    transferring: bool,
    rcpts: usize,
    body_size: u64,
    body_over: bool,
    tls_active: bool,
    authenticated: bool,
    errors: usize,
    commands: usize,
    discarding_line: bool,
    login_user: String,
    mechanism: Option<Mechanism>,
    /// A refusal session (RFC 5321 §3.1): 503 to everything but QUIT.
    refusing: bool,
    /// [`ServerSession::handle_shutdown`] was called.
    shutdown: bool,
    timers: Timers,
}

/// `UsageError` for a decision method called with nothing of its kind pending.
fn not_pending(expected: &'static str) -> UsageError {
    UsageError::NotPending { expected }
}

/// `UsageError` for a reply of the wrong class.
fn wrong_reply(what: &'static str, why: &'static str) -> UsageError {
    UsageError::NotAllowed { what, why }
}

impl ServerSession {
    /// Starts a session and queues the `220` greeting.
    pub fn new(config: ServerConfig) -> Self {
        let mut s = Self::bare(config);
        let text = format!("{} {}", s.config.hostname, s.config.greeting);
        s.send(
            Reply::new(220, None, text.trim_end()).unwrap_or_else(|_| r(220, (2, 0, 0), "ready")),
        );
        s
    }

    /// Starts a session that refuses service (RFC 5321 §3.1): it greets with `greeting`, a `554`
    /// reply, then answers `QUIT` with `221` and everything else with
    /// `503 5.5.1 Error: service unavailable`, each counted as an error, so the session closes at
    /// [`Limits::hard_error_limit`] (and slows down past the soft limit). The timers run as in any
    /// session.
    ///
    /// Fails when `greeting` is not a 554, the one code RFC 5321 §3.1 allows in place of the 220.
    ///
    /// ```
    /// use std::time::Instant;
    /// use mailwright_smtp_proto::{EnhancedCode, Mode, Reply, ServerConfig, ServerSession};
    ///
    /// let greeting = Reply::new(554, EnhancedCode::new(5, 7, 1).ok(), "Service unavailable").unwrap();
    /// let mut s = ServerSession::refusing(ServerConfig::new(Mode::Smtp, "mx"), greeting).unwrap();
    /// s.handle_input(Instant::now(), b"EHLO client\r\n");
    /// while s.poll_event().is_some() {}
    /// s.handle_input(Instant::now(), b"QUIT\r\n");
    /// let out: Vec<u8> = std::iter::from_fn(|| s.poll_transmit()).flatten().collect();
    /// assert_eq!(
    ///     out,
    ///     b"554 5.7.1 Service unavailable\r\n503 5.5.1 Error: service unavailable\r\n221 2.0.0 Bye\r\n"
    /// );
    /// assert!(s.is_closed());
    /// ```
    pub fn refusing(config: ServerConfig, greeting: Reply) -> Result<Self, UsageError> {
        if greeting.code().get() != 554 {
            return Err(UsageError::NotAllowed {
                what: "a refusal greeting",
                why: "RFC 5321 §3.1 allows only 554 in place of the 220",
            });
        }
        let mut s = Self::bare(config);
        s.refusing = true;
        s.send(greeting);
        Ok(s)
    }

    /// A session that sends `reply` as its greeting and is closed at once: for a connection
    /// over a limit, `421 4.7.0 ...` (RFC 5321 §3.8), or for a client that talked before the
    /// greeting, a `554` (it does not listen, so waiting for its QUIT as §3.1 asks serves
    /// nothing). Write out [`ServerSession::poll_transmit`] and close.
    ///
    /// Fails when `reply` is not a 421 or a 554.
    ///
    /// ```
    /// use mailwright_smtp_proto::{EnhancedCode, Mode, Reply, ServerConfig, ServerSession};
    ///
    /// let busy = Reply::new(421, EnhancedCode::new(4, 7, 0).ok(), "Too many connections").unwrap();
    /// let mut s = ServerSession::closing(ServerConfig::new(Mode::Smtp, "mx"), busy).unwrap();
    /// assert!(s.is_closed());
    /// assert_eq!(s.poll_transmit().unwrap(), &b"421 4.7.0 Too many connections\r\n"[..]);
    /// ```
    pub fn closing(config: ServerConfig, reply: Reply) -> Result<Self, UsageError> {
        if !matches!(reply.code().get(), 421 | 554) {
            return Err(UsageError::NotAllowed {
                what: "a closing greeting",
                why: "only 421 (RFC 5321 §3.8) or 554 (§3.1) may end a session at its start",
            });
        }
        let mut s = Self::bare(config);
        s.send(reply);
        s.phase = Phase::Closed;
        Ok(s)
    }

    fn bare(config: ServerConfig) -> Self {
        ServerSession {
            input: BytesMut::new(),
            output: BytesMut::new(),
            held: BytesMut::new(),
            hold: None,
            events: VecDeque::new(),
            phase: Phase::Command,
            pending: None,
            helo: None,
            txn: Txn::None,
            transferring: false,
            rcpts: 0,
            body_size: 0,
            body_over: false,
            tls_active: config.tls_active,
            authenticated: false,
            errors: 0,
            commands: 0,
            discarding_line: false,
            login_user: String::new(),
            mechanism: None,
            refusing: false,
            shutdown: false,
            timers: Timers {
                unanchored: true,
                ..Timers::default()
            },
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }
    /// Whether TLS is active.
    pub fn tls_active(&self) -> bool {
        self.tls_active
    }
    /// Whether `AUTH` succeeded in this session.
    pub fn authenticated(&self) -> bool {
        self.authenticated
    }
    /// Errors counted so far (see [`Limits::soft_error_limit`]).
    pub fn errors(&self) -> usize {
        self.errors
    }
    /// Whether the session is over: write out the last transmit and close.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }
    /// Whether the machine waits for a decision.
    pub fn decision_pending(&self) -> bool {
        self.pending.is_some()
    }
    /// Whether more input is welcome: no decision pending, no reply held back, not closed, not
    /// in a TLS handshake, and less than one line buffered. Use it for back-pressure.
    #[must_use]
    pub fn wants_input(&self) -> bool {
        let limit = match self.phase {
            Phase::Auth(_) => self.config.limits.max_auth_line,
            Phase::Data(_) | Phase::Bdat { .. } => self.config.limits.max_buffered_input,
            _ => self.config.limits.max_command_line,
        };
        self.pending.is_none()
            && self.hold.is_none()
            && !matches!(self.phase, Phase::Closed | Phase::Tls)
            && self.input.len() < limit
    }
    /// Whether STARTTLS is offered now.
    pub fn starttls_offered(&self) -> bool {
        self.config.extensions.starttls && !self.tls_active
    }
    /// Whether AUTH is offered now.
    pub fn auth_offered(&self) -> bool {
        !self.config.extensions.auth.is_empty()
            && (self.tls_active || !self.config.extensions.auth_requires_tls)
    }

    /// Feeds bytes received from the client at `now`.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        if self.is_closed() || matches!(self.phase, Phase::Tls) {
            self.settle(now);
            return;
        }
        if matches!(self.phase, Phase::Data(_) | Phase::Bdat { .. }) && !data.is_empty() {
            // Content arrived: the wait for the next octet starts again.
            self.timers.idle.disarm();
        }
        self.input.extend_from_slice(data);
        self.process();
        if self.input.len() > self.config.limits.max_buffered_input && !self.is_closed() {
            self.input.clear();
            self.send(r(
                421,
                (4, 7, 0),
                &format!("{} Error: too much pipelined input", self.config.hostname),
            ));
            self.close(CloseReason::InputOverflow);
        }
        self.settle(now);
    }

    /// Marks the TLS handshake as done after [`Event::StartTls`]: the session goes back to the
    /// state before EHLO (RFC 3207 §4.2), STARTTLS stops being offered and AUTH may start to be.
    /// Fails when no STARTTLS handshake is pending.
    pub fn handle_tls_established(&mut self) -> Result<(), UsageError> {
        if self.is_closed() {
            return Err(UsageError::Closed);
        }
        if !matches!(self.phase, Phase::Tls) {
            return Err(not_pending("STARTTLS handshake"));
        }
        self.tls_active = true;
        self.phase = Phase::Command;
        self.helo = None;
        self.reset_txn();
        self.authenticated = false;
        self.input.clear();
        self.restart_timers();
        self.process();
        Ok(())
    }

    /// The server is going down: the machine answers `421 4.3.2 <host> Service shutting down`
    /// and closes at the next point the protocol allows (RFC 5321 §3.8): at once while it waits
    /// for a command, or for message data (§3.8 lets the 421 come "asynchronously from command
    /// receipt"; the message is dropped with [`AbortReason::Shutdown`]); while the application
    /// holds a decision (a delivery in flight), right after the reply to it; after a TLS
    /// handshake, once [`ServerSession::handle_tls_established`] is called.
    pub fn handle_shutdown(&mut self) {
        self.shutdown = true;
        self.process();
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Bytes to write to the client, if any (replies held back by the error delay come out when
    /// [`ServerSession::handle_timeout`] releases them).
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.output.is_empty() {
            None
        } else {
            Some(self.output.split().freeze())
        }
    }

    /// Accepts the pending event with its default positive reply (LMTP `DataEnd`: 250 for every
    /// recipient). Fails when no decision is pending.
    pub fn accept(&mut self) -> Result<(), UsageError> {
        let p = self.pending_decision()?;
        let reply = match p {
            Pending::Helo(kind) => self.helo_reply(kind),
            Pending::Mail => r(250, (2, 1, 0), "Sender OK"),
            Pending::Rcpt => r(250, (2, 1, 5), "Recipient OK"),
            Pending::DataEnd => r(250, (2, 0, 0), "Message accepted"),
            Pending::AuthCredentials | Pending::AuthExchange => {
                r(235, (2, 7, 0), "Authentication successful")
            }
        };
        self.answer(reply);
        Ok(())
    }

    /// Accepts the pending event with a 2xx reply of your own. For EHLO the capability list is
    /// still the machine's; in LMTP, at `DataEnd`, the reply is given for every recipient.
    /// Fails when no decision is pending or `reply` is not 2xx (use [`ServerSession::reject`]).
    pub fn accept_with(&mut self, reply: Reply) -> Result<(), UsageError> {
        let p = self.pending_decision()?;
        if !reply.is_positive() {
            return Err(wrong_reply("accept_with", "the reply is not 2xx"));
        }
        match p {
            Pending::Helo(kind) => {
                let caps = self.helo_reply(kind);
                self.answer(caps);
            }
            _ => self.answer(reply),
        }
        Ok(())
    }

    /// Rejects the pending event with a 4xx or 5xx `reply` (in LMTP, at `DataEnd`, the reply is
    /// given for every recipient). A refused HELO, MAIL, RCPT or AUTH counts as an error (a
    /// `452 4.5.3` to RCPT does not). Fails when no decision is pending or `reply` is not 4xx/5xx.
    pub fn reject(&mut self, reply: Reply) -> Result<(), UsageError> {
        self.pending_decision()?;
        if !(reply.code().is_transient() || reply.code().is_permanent()) {
            return Err(wrong_reply("reject", "the reply is not 4xx or 5xx"));
        }
        self.answer(reply);
        Ok(())
    }

    /// Answers the pending event with `reply` (a `421`, RFC 5321 §3.8) and ends the session:
    /// for a client the application will not serve any more (too many failed logins ...).
    /// Fails when no decision is pending or `reply` is not 4xx/5xx.
    pub fn reject_and_close(&mut self, reply: Reply) -> Result<(), UsageError> {
        self.pending_decision()?;
        if !(reply.code().is_transient() || reply.code().is_permanent()) {
            return Err(wrong_reply(
                "reject_and_close",
                "the reply is not 4xx or 5xx",
            ));
        }
        self.pending = None;
        self.send(reply);
        self.close(CloseReason::Rejected);
        Ok(())
    }

    /// LMTP `DataEnd`: one reply per accepted recipient, in `RCPT` order (RFC 2033 §4.2). Missing
    /// replies are filled with `451 4.3.0`; extra ones are dropped. In SMTP mode the first reply
    /// is used. Fails unless [`Event::DataEnd`] is pending.
    pub fn data_replies(&mut self, replies: Vec<Reply>) -> Result<(), UsageError> {
        if self.pending_decision()? != Pending::DataEnd {
            return Err(not_pending("end of message data"));
        }
        if self.config.mode != Mode::Lmtp {
            let first = replies
                .into_iter()
                .next()
                .unwrap_or_else(|| r(451, (4, 3, 0), "Error"));
            self.decide(first);
            return Ok(());
        }
        let n = self.rcpts;
        let mut replies = replies;
        replies.resize_with(n, || r(451, (4, 3, 0), "No reply for this recipient"));
        replies.truncate(n);
        if replies.iter().any(Reply::is_positive) {
            self.errors = 0;
        }
        for reply in replies {
            self.send(reply);
        }
        self.pending = None;
        self.end_message();
        self.restart_timers();
        self.process();
        Ok(())
    }

    /// Answers a pending SASL step of a mechanism the machine does not run ([`Event::AuthStart`],
    /// [`Event::AuthResponse`]) with a challenge (`334` + base64). Fails otherwise.
    pub fn auth_challenge(&mut self, challenge: &[u8]) -> Result<(), UsageError> {
        if self.pending_decision()? != Pending::AuthExchange {
            return Err(not_pending("SASL exchange"));
        }
        self.pending = None;
        let text = base64_encode(challenge);
        self.send_raw_334(&text);
        self.phase = Phase::Auth(AuthStep::Generic);
        self.restart_timers();
        self.process();
        Ok(())
    }

    // ---- internals ----

    /// The decision waited for; an error when there is none (or the session ended meanwhile).
    fn pending_decision(&self) -> Result<Pending, UsageError> {
        if self.is_closed() {
            return Err(UsageError::Closed);
        }
        self.pending.ok_or_else(|| not_pending("decision"))
    }

    /// Answers the pending decision: in LMTP at `DataEnd`, the same reply for every recipient.
    fn answer(&mut self, reply: Reply) {
        if self.pending == Some(Pending::DataEnd) && self.config.mode == Mode::Lmtp {
            let n = self.rcpts;
            let _ = self.data_replies(vec![reply; n]);
            return;
        }
        self.decide(reply);
    }

    /// Where a reply goes: held back while the error delay runs, out otherwise.
    fn reply_buffer(&mut self) -> &mut BytesMut {
        if self.hold.is_none()
            && let Some(delay) = self.error_delay()
        {
            self.hold = Some(delay);
            self.timers.hold.disarm();
        }
        if self.hold.is_some() {
            &mut self.held
        } else {
            &mut self.output
        }
    }

    fn send(&mut self, reply: Reply) {
        let reply = if self.config.extensions.enhanced_status_codes {
            reply
        } else {
            reply.without_enhanced()
        };
        reply.encode(self.reply_buffer());
    }

    fn send_raw_334(&mut self, text: &str) {
        let out = self.reply_buffer();
        out.extend_from_slice(b"334 ");
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(b"\r\n");
    }

    /// Ends the session; `reason` when the machine ended it (not for QUIT).
    fn close(&mut self, reason: impl Into<Option<CloseReason>>) {
        // The last replies go out now: nothing is held back from a closing session.
        let held = self.held.split();
        self.output.extend_from_slice(&held);
        self.hold = None;
        self.phase = Phase::Closed;
        self.pending = None;
        self.input.clear();
        if let Some(reason) = reason.into() {
            self.events.push_back(Event::Closed(reason));
        }
    }

    /// A failure reply to a command, counted as an error; at the hard limit the session closes.
    fn fail(&mut self, reply: Reply) {
        self.errors += 1;
        if self.errors >= self.config.limits.hard_error_limit {
            self.send(reply);
            self.send(r(
                421,
                (4, 7, 0),
                &format!("{} Error: too many errors", self.config.hostname),
            ));
            return self.close(CloseReason::TooManyErrors);
        }
        self.send(reply);
    }

    fn reset_txn(&mut self) {
        self.txn = Txn::None;
        self.rcpts = 0;
        self.body_size = 0;
        self.body_over = false;
        self.transferring = false;
        self.timers.transfer.disarm();
    }

    fn end_message(&mut self) {
        self.reset_txn();
        self.commands = 0;
        self.phase = Phase::Command;
    }

    fn decide(&mut self, reply: Reply) {
        let Some(p) = self.pending.take() else { return };
        self.restart_timers();
        let ok = reply.is_positive();
        match p {
            Pending::Helo(kind) => {
                if ok {
                    // RFC 5321 §4.1.4: EHLO/HELO also resets the transaction.
                    self.helo = Some(kind);
                    self.reset_txn();
                }
            }
            Pending::Mail => {
                if ok {
                    self.txn = Txn::Mail;
                }
            }
            Pending::Rcpt => {
                if ok {
                    self.rcpts += 1;
                    if self.txn == Txn::Mail {
                        self.txn = Txn::Rcpt { bdat: false };
                    }
                }
            }
            Pending::DataEnd => {
                if ok {
                    // Postfix counts errors "without delivering mail".
                    self.errors = 0;
                }
                self.send(reply);
                self.end_message();
                self.process();
                return;
            }
            Pending::AuthCredentials | Pending::AuthExchange => {
                self.phase = Phase::Command;
                if ok {
                    self.authenticated = true;
                }
            }
        }
        // RFC 5321 §4.5.3.1.10: too many recipients is not an error.
        let too_many_rcpts =
            reply.code().get() == 452 && reply.enhanced() == EnhancedCode::new(4, 5, 3).ok();
        if ok || too_many_rcpts {
            self.send(reply);
        } else {
            self.fail(reply);
        }
        self.process();
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
    fn handle_tls_established(&mut self) -> Result<(), UsageError> {
        Self::handle_tls_established(self)
    }
    fn handle_shutdown(&mut self) {
        Self::handle_shutdown(self);
    }
}
