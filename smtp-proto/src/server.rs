//! The server session state machine (Sans-IO) for SMTP, submission and LMTP.
//!
//! # Call order
//!
//! 1. [`ServerSession::new`] queues the greeting: write out [`ServerSession::poll_transmit`].
//! 2. Feed bytes read from the peer with [`ServerSession::handle_input`].
//! 3. Drain [`ServerSession::poll_event`]. An event that needs an answer ([`Event::needs_decision`])
//!    stops the machine until you answer with [`ServerSession::accept`], [`ServerSession::reject`],
//!    [`ServerSession::accept_with`] (LMTP: [`ServerSession::data_replies`]; SASL:
//!    [`ServerSession::auth_challenge`]); then drain events again.
//! 4. When no event is left, write out [`ServerSession::poll_transmit`] (one write per pipelined group,
//!    as RFC 2920 §3.2 asks) and read again.
//! 5. On [`Event::StartTls`]: write out the pending transmit (the 220), run the TLS handshake, then call
//!    [`ServerSession::handle_tls_established`] and feed decrypted bytes from then on.
//! 6. On [`Event::Quit`] or [`Event::Closed`]: write out the pending transmit and close.
//!
//! Time is not the machine's business: on an idle timeout call [`ServerSession::handle_timeout`].

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use crate::data::{BareLineEnding, DataDecoder, DataError};
use crate::parse::{Excerpt, MalformedKind, command_line};
use crate::types::reply::r;
use crate::types::text::{base64_decode, base64_encode};
use crate::types::{
    BodyType, Capability, Command, EhloResponse, ForwardPath, Host, MailParameters, Mechanism,
    Params, RcptParameters, Reply, ReversePath,
};

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
    /// Longest command line, CRLF included. Default 512 (RFC 5321 §4.5.3.1.4).
    pub max_command_line: usize,
    /// Longest text line of message data, CRLF included; longer lines get the message rejected.
    /// Default 1000 (RFC 5321 §4.5.3.1.6).
    pub max_text_line: usize,
    /// Longest SASL response line. Default 12288 (RFC 4954 §4).
    pub max_auth_line: usize,
    /// Recipients per transaction; more get `452 4.5.3` (RFC 5321 §4.5.3.1.10). Default 100.
    pub max_recipients: usize,
    /// Largest message in octets, advertised as `SIZE`; `None` for no limit. Default 35 MiB.
    pub max_message_size: Option<u64>,
    /// Error replies before the session is closed with 421. Default 10.
    pub max_errors: usize,
    /// Commands accepted since the session start or the last message before the session is closed
    /// with 421. Default 500.
    pub max_commands_before_data: usize,
    /// Unread input the machine holds while it waits for a decision (pipelined commands); more
    /// closes the session with 421. Default 1 MiB. Use [`ServerSession::wants_input`] to stop
    /// reading before that.
    pub max_buffered_input: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_command_line: 512,
            max_text_line: 1000,
            max_auth_line: 12288,
            max_recipients: 100,
            max_message_size: Some(35 * 1024 * 1024),
            max_errors: 10,
            max_commands_before_data: 500,
            max_buffered_input: 1024 * 1024,
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
            bare_line_ending: BareLineEnding::Reject,
            strict_pipelining: true,
            tls_active: false,
        }
    }
}

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
    /// A bare CR or LF under [`BareLineEnding::Reject`] (replied `550 5.5.2`, then closed).
    BareLineEnding(DataError),
}

/// Why the machine ended the session; it has queued a final reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// `max_errors` reached.
    TooManyErrors,
    /// `max_commands_before_data` reached.
    TooManyCommands,
    /// Commands pipelined where RFC 2920 forbids it.
    ImproperPipelining,
    /// A bare CR or LF in DATA.
    BareLineEnding,
    /// [`ServerSession::handle_timeout`] was called.
    Timeout,
    /// More than `max_buffered_input` octets arrived while a decision was pending.
    InputOverflow,
}

/// What the machine reports to its driver.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// `HELO`/`EHLO`/`LHLO`. Needs a decision.
    Helo {
        /// The command used.
        kind: HeloKind,
        /// The client's claimed name.
        host: Host,
    },
    /// `MAIL FROM:`, checked against the offered extensions and limits. Needs a decision.
    Mail {
        /// The reverse path.
        from: ReversePath,
        /// Its parameters.
        params: Params<MailParameters>,
    },
    /// `RCPT TO:`, within the recipient limit. Needs a decision.
    Rcpt {
        /// The forward path.
        to: ForwardPath,
        /// Its parameters.
        params: Params<RcptParameters>,
    },
    /// Message data begins (after the 354, or with the first `BDAT`).
    DataStart,
    /// A piece of message content, unstuffed, in order.
    DataChunk(Bytes),
    /// The content is complete. Needs a decision (LMTP: [`ServerSession::data_replies`]).
    DataEnd,
    /// The content was dropped; the machine replied. The transaction is over.
    DataAborted(AbortReason),
    /// `AUTH PLAIN` or `AUTH LOGIN` completed by the client. Needs a decision.
    AuthCredentials {
        /// The mechanism used.
        mechanism: Mechanism,
        /// The authorisation identity (PLAIN only), if not empty.
        authzid: Option<String>,
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
    /// `AUTH` with another mechanism. Needs a decision or [`ServerSession::auth_challenge`].
    AuthStart {
        /// The mechanism.
        mechanism: Mechanism,
        /// The decoded initial response.
        initial_response: Option<Vec<u8>>,
    },
    /// The client's decoded answer to a challenge. Needs a decision or another challenge.
    AuthResponse(Vec<u8>),
    /// The client cancelled the exchange with `*`; the machine replied 501.
    AuthCancelled,
    /// The 220 to `STARTTLS` is queued: flush it, run the handshake, then call
    /// [`ServerSession::handle_tls_established`].
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    Helo(HeloKind),
    Mail,
    Rcpt,
    DataEnd,
    Auth,
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

/// One server session. See the [module docs](self) for the call order.
#[derive(Debug)]
pub struct ServerSession {
    config: ServerConfig,
    input: BytesMut,
    output: BytesMut,
    events: VecDeque<Event>,
    phase: Phase,
    pending: Option<Pending>,
    helo: Option<HeloKind>,
    txn: Txn,
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
}

fn reply_bdat_ok(n: u64) -> Reply {
    r(250, (2, 0, 0), &format!("{n} octets received"))
}

impl ServerSession {
    /// Starts a session and queues the `220` greeting.
    pub fn new(config: ServerConfig) -> Self {
        let tls_active = config.tls_active;
        let mut s = ServerSession {
            input: BytesMut::new(),
            output: BytesMut::new(),
            events: VecDeque::new(),
            phase: Phase::Command,
            pending: None,
            helo: None,
            txn: Txn::None,
            rcpts: 0,
            body_size: 0,
            body_over: false,
            tls_active,
            authenticated: false,
            errors: 0,
            commands: 0,
            discarding_line: false,
            login_user: String::new(),
            mechanism: None,
            config,
        };
        let text = format!("{} {}", s.config.hostname, s.config.greeting);
        s.send(
            Reply::new(220, None, text.trim_end()).unwrap_or_else(|_| r(220, (2, 0, 0), "ready")),
        );
        s
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
    /// Whether the session is over (flush the transmit buffer and close).
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }
    /// Whether the machine waits for a decision.
    pub fn decision_pending(&self) -> bool {
        self.pending.is_some()
    }
    /// Whether more input is welcome: no decision pending, not closed, and less than one command
    /// line buffered. Use it for backpressure.
    pub fn wants_input(&self) -> bool {
        self.pending.is_none()
            && !self.is_closed()
            && self.input.len() < self.config.limits.max_command_line
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

    /// Feeds bytes received from the client.
    pub fn handle_input(&mut self, data: &[u8]) {
        if self.is_closed() {
            return;
        }
        if matches!(self.phase, Phase::Tls) {
            return;
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
    }

    /// Marks the TLS handshake as done after [`Event::StartTls`]: the session goes back to the
    /// state before EHLO (RFC 3207 §4.2), STARTTLS stops being offered and AUTH may start to be.
    pub fn handle_tls_established(&mut self) {
        if !matches!(self.phase, Phase::Tls) {
            return;
        }
        self.tls_active = true;
        self.phase = Phase::Command;
        self.helo = None;
        self.reset_txn();
        self.authenticated = false;
        self.input.clear();
    }

    /// The idle timer of the driver fired: queues `421 4.4.2` and closes.
    pub fn handle_timeout(&mut self) {
        if !self.is_closed() {
            self.send(r(
                421,
                (4, 4, 2),
                &format!("{} Error: timeout exceeded", self.config.hostname),
            ));
            self.close(CloseReason::Timeout);
        }
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Bytes to write to the client, if any.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.output.is_empty() {
            None
        } else {
            Some(self.output.split().freeze())
        }
    }

    /// Accepts the pending event with the default positive reply (LMTP `DataEnd`: 250 for every
    /// recipient).
    pub fn accept(&mut self) {
        let Some(p) = self.pending else { return };
        let reply = match p {
            Pending::Helo(kind) => self.helo_reply(kind),
            Pending::Mail => r(250, (2, 1, 0), "Sender OK"),
            Pending::Rcpt => r(250, (2, 1, 5), "Recipient OK"),
            Pending::DataEnd => r(250, (2, 0, 0), "Message accepted"),
            Pending::Auth => r(235, (2, 7, 0), "Authentication successful"),
        };
        if p == Pending::DataEnd && self.config.mode == Mode::Lmtp {
            let n = self.rcpts;
            self.data_replies(vec![reply; n]);
            return;
        }
        self.decide(reply);
    }

    /// Accepts the pending event with a reply of your own (it should be 2xx; a 4xx/5xx reply
    /// rejects). For EHLO the capability list is still the machine's; in LMTP, at `DataEnd`, the
    /// reply is given for every recipient.
    pub fn accept_with(&mut self, reply: Reply) {
        if self.pending == Some(Pending::DataEnd) && self.config.mode == Mode::Lmtp {
            let n = self.rcpts;
            return self.data_replies(vec![reply; n]);
        }
        if let Some(Pending::Helo(kind)) = self.pending
            && reply.is_positive()
        {
            let caps = self.helo_reply(kind);
            return self.decide(caps);
        }
        self.decide(reply);
    }

    /// Rejects the pending event with `reply` (4xx or 5xx; in LMTP, at `DataEnd`, the reply is
    /// given for every recipient).
    pub fn reject(&mut self, reply: Reply) {
        if self.pending == Some(Pending::DataEnd) && self.config.mode == Mode::Lmtp {
            let n = self.rcpts;
            return self.data_replies(vec![reply; n]);
        }
        self.decide(reply);
    }

    /// LMTP `DataEnd`: one reply per accepted recipient, in `RCPT` order (RFC 2033 §4.2). Missing
    /// replies are filled with `451 4.3.0`; extra ones are dropped. In SMTP mode the first reply
    /// is used.
    pub fn data_replies(&mut self, replies: Vec<Reply>) {
        if self.pending != Some(Pending::DataEnd) {
            return;
        }
        if self.config.mode != Mode::Lmtp {
            let first = replies
                .into_iter()
                .next()
                .unwrap_or_else(|| r(451, (4, 3, 0), "Error"));
            return self.decide(first);
        }
        let n = self.rcpts;
        let mut replies = replies;
        replies.resize_with(n, || r(451, (4, 3, 0), "No reply for this recipient"));
        replies.truncate(n);
        for reply in replies {
            self.send(reply);
        }
        self.pending = None;
        self.end_message();
        self.process();
    }

    /// Answers a pending SASL step with a challenge (`334` + base64).
    pub fn auth_challenge(&mut self, challenge: &[u8]) {
        if self.pending != Some(Pending::Auth) {
            return;
        }
        self.pending = None;
        let text = base64_encode(challenge);
        self.send_raw_334(&text);
        self.phase = Phase::Auth(AuthStep::Generic);
        self.process();
    }

    // ---- internals ----

    fn send(&mut self, mut reply: Reply) {
        if !self.config.extensions.enhanced_status_codes && reply.enhanced().is_some() {
            reply = Reply::from_parts(reply.code(), None, reply.lines().to_vec()).unwrap_or(reply);
        }
        reply.encode(&mut self.output);
    }

    fn send_raw_334(&mut self, text: &str) {
        self.output.extend_from_slice(b"334 ");
        self.output.extend_from_slice(text.as_bytes());
        self.output.extend_from_slice(b"\r\n");
    }

    fn close(&mut self, reason: CloseReason) {
        self.phase = Phase::Closed;
        self.pending = None;
        self.input.clear();
        self.events.push_back(Event::Closed(reason));
    }

    /// A failure reply to a command: counted toward `max_errors`.
    fn fail(&mut self, reply: Reply) {
        self.send(reply);
        self.errors += 1;
        if self.errors >= self.config.limits.max_errors {
            self.send(r(
                421,
                (4, 7, 0),
                &format!("{} Error: too many errors", self.config.hostname),
            ));
            self.close(CloseReason::TooManyErrors);
        }
    }

    fn reset_txn(&mut self) {
        self.txn = Txn::None;
        self.rcpts = 0;
        self.body_size = 0;
        self.body_over = false;
    }

    fn end_message(&mut self) {
        self.reset_txn();
        self.commands = 0;
        self.phase = Phase::Command;
    }

    fn decide(&mut self, reply: Reply) {
        let Some(p) = self.pending.take() else { return };
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
                self.send(reply);
                self.end_message();
                self.process();
                return;
            }
            Pending::Auth => {
                self.phase = Phase::Command;
                if ok {
                    self.authenticated = true;
                }
            }
        }
        if ok {
            self.send(reply);
        } else {
            self.fail(reply);
        }
        self.process();
    }

    fn helo_reply(&self, kind: HeloKind) -> Reply {
        let name = &self.config.hostname;
        if kind == HeloKind::Helo {
            return Reply::new(250, None, name).unwrap_or_else(|_| Reply::ok());
        }
        let x = &self.config.extensions;
        let mut caps = Vec::new();
        if x.pipelining {
            caps.push(Capability::Pipelining);
        }
        caps.push(Capability::Size(
            self.config.limits.max_message_size.or(Some(0)),
        ));
        if x.eight_bit_mime {
            caps.push(Capability::EightBitMime);
        }
        if x.chunking {
            caps.push(Capability::Chunking);
            if x.binary_mime {
                caps.push(Capability::BinaryMime);
            }
        }
        if x.smtputf8 {
            caps.push(Capability::SmtpUtf8);
        }
        if x.enhanced_status_codes {
            caps.push(Capability::EnhancedStatusCodes);
        }
        if x.dsn {
            caps.push(Capability::Dsn);
        }
        if self.starttls_offered() {
            caps.push(Capability::StartTls);
        }
        if self.auth_offered() && !self.authenticated {
            caps.push(Capability::Auth(x.auth.clone()));
        }
        if x.requiretls && self.tls_active {
            caps.push(Capability::RequireTls);
        }
        EhloResponse {
            domain: name.clone(),
            greeting: None,
            capabilities: caps,
        }
        .to_reply()
    }

    fn process(&mut self) {
        while self.pending.is_none() {
            let progressed = match self.phase {
                Phase::Closed | Phase::Tls => false,
                Phase::Data(_) => self.process_data(),
                Phase::Bdat { .. } => self.process_bdat(),
                Phase::Auth(step) => self.process_auth(step),
                Phase::Command => self.process_command(),
            };
            if !progressed {
                break;
            }
        }
    }

    fn process_data(&mut self) -> bool {
        if self.input.is_empty() {
            return false;
        }
        let Phase::Data(dec) = &mut self.phase else {
            return false;
        };
        // The content is a slice of `input` when nothing was unstuffed (no copy).
        let res = dec.decode_chunk(&mut self.input);
        let too_long = dec.line_too_long();
        match res {
            Err(e) => {
                self.events
                    .push_back(Event::DataAborted(AbortReason::BareLineEnding(e)));
                self.send(r(550, (5, 5, 2), &format!("Error: {e}; message rejected")));
                self.close(CloseReason::BareLineEnding);
                false
            }
            Ok((d, content)) => {
                self.body_chunk(content);
                if d.end {
                    self.finish_body(too_long);
                }
                true
            }
        }
    }

    fn body_chunk(&mut self, chunk: Bytes) {
        self.body_size += chunk.len() as u64;
        if self
            .config
            .limits
            .max_message_size
            .is_some_and(|m| self.body_size > m)
        {
            self.body_over = true;
        }
        if !self.body_over && !chunk.is_empty() {
            self.events.push_back(Event::DataChunk(chunk));
        }
    }

    fn finish_body(&mut self, too_long: bool) {
        if self.body_over {
            self.events
                .push_back(Event::DataAborted(AbortReason::TooBig));
            self.send(r(
                552,
                (5, 3, 4),
                "Error: message exceeds fixed maximum message size",
            ));
            self.end_message();
        } else if too_long {
            self.events
                .push_back(Event::DataAborted(AbortReason::LineTooLong));
            self.send(r(
                550,
                (5, 6, 0),
                "Error: message has a line longer than allowed",
            ));
            self.end_message();
        } else {
            self.events.push_back(Event::DataEnd);
            self.pending = Some(Pending::DataEnd);
        }
    }

    fn process_bdat(&mut self) -> bool {
        let Phase::Bdat {
            remaining,
            last,
            valid,
        } = self.phase
        else {
            return false;
        };
        if remaining > 0 && self.input.is_empty() {
            return false;
        }
        let take = remaining.min(self.input.len() as u64) as usize;
        let chunk = self.input.split_to(take).freeze();
        let remaining = remaining - take as u64;
        self.phase = Phase::Bdat {
            remaining,
            last,
            valid,
        };
        if valid {
            self.body_chunk(chunk);
        }
        if remaining > 0 {
            return true;
        }
        self.phase = Phase::Command;
        if !valid {
            return true;
        }
        if self.body_over {
            // RFC 3030 §2: the chunk is read, then the failure is reported; the transaction ends.
            self.events
                .push_back(Event::DataAborted(AbortReason::TooBig));
            self.fail(r(
                552,
                (5, 3, 4),
                "Error: message exceeds fixed maximum message size",
            ));
            self.end_message();
        } else if last {
            self.finish_body(false);
        } else {
            let size = self.body_size;
            self.send(reply_bdat_ok(size));
        }
        true
    }

    fn take_line(&mut self, max: usize) -> Option<Result<BytesMut, ()>> {
        if self.discarding_line {
            match memchr::memchr(b'\n', &self.input) {
                None => {
                    self.input.clear();
                    return None;
                }
                Some(p) => {
                    let _ = self.input.split_to(p + 1);
                    self.discarding_line = false;
                    return Some(Err(()));
                }
            }
        }
        match memchr::memchr(b'\n', &self.input) {
            None => {
                if self.input.len() >= max {
                    self.discarding_line = true;
                    self.input.clear();
                }
                None
            }
            Some(p) if p + 1 > max => {
                let _ = self.input.split_to(p + 1);
                Some(Err(()))
            }
            Some(p) => {
                let mut line = self.input.split_to(p + 1);
                line.truncate(p);
                if line.last() == Some(&b'\r') {
                    line.truncate(p - 1);
                }
                Some(Ok(line))
            }
        }
    }

    fn process_auth(&mut self, step: AuthStep) -> bool {
        let line = match self.take_line(self.config.limits.max_auth_line) {
            None => return false,
            Some(Err(())) => {
                self.phase = Phase::Command;
                self.fail(r(500, (5, 5, 6), "Error: authentication line too long"));
                return true;
            }
            Some(Ok(line)) => line,
        };
        // RFC 4954 §4: "*" cancels the exchange with a 501.
        if &line[..] == b"*" {
            self.phase = Phase::Command;
            self.events.push_back(Event::AuthCancelled);
            self.fail(r(501, (5, 7, 0), "Authentication cancelled"));
            return true;
        }
        let Some(data) = base64_decode(&line) else {
            self.phase = Phase::Command;
            self.fail(r(501, (5, 5, 2), "Error: invalid base64 data"));
            return true;
        };
        self.auth_data(step, data);
        true
    }

    fn auth_data(&mut self, step: AuthStep, data: Vec<u8>) {
        let mechanism = self.mechanism.clone().unwrap_or_else(Mechanism::plain);
        match step {
            AuthStep::PlainResponse => {
                // RFC 4616 §2: message = [authzid] UTF8NUL authcid UTF8NUL passwd
                let mut parts = data.split(|&c| c == 0);
                let (Some(z), Some(u), Some(p), None) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    self.phase = Phase::Command;
                    return self.fail(r(501, (5, 5, 2), "Error: malformed PLAIN response"));
                };
                let (Ok(z), Ok(u), Ok(p)) = (
                    std::str::from_utf8(z),
                    std::str::from_utf8(u),
                    std::str::from_utf8(p),
                ) else {
                    self.phase = Phase::Command;
                    return self.fail(r(501, (5, 5, 2), "Error: PLAIN response is not UTF-8"));
                };
                self.events.push_back(Event::AuthCredentials {
                    mechanism,
                    authzid: (!z.is_empty()).then(|| z.to_owned()),
                    username: u.to_owned(),
                    password: p.to_owned(),
                });
                self.pending = Some(Pending::Auth);
            }
            AuthStep::LoginUser => {
                self.login_user = String::from_utf8_lossy(&data).into_owned();
                self.send_raw_334("UGFzc3dvcmQ6");
                self.phase = Phase::Auth(AuthStep::LoginPassword);
            }
            AuthStep::LoginPassword => {
                self.events.push_back(Event::AuthCredentials {
                    mechanism,
                    authzid: None,
                    username: std::mem::take(&mut self.login_user),
                    password: String::from_utf8_lossy(&data).into_owned(),
                });
                self.pending = Some(Pending::Auth);
            }
            AuthStep::Generic => {
                self.events.push_back(Event::AuthResponse(data));
                self.pending = Some(Pending::Auth);
            }
        }
    }

    fn process_command(&mut self) -> bool {
        let max = self.config.limits.max_command_line;
        let line = match self.take_line(max) {
            None => return false,
            Some(Err(())) => {
                self.fail(r(500, (5, 5, 2), "Error: line too long"));
                return true;
            }
            Some(Ok(line)) => line,
        };
        let more_buffered = !self.input.is_empty();
        let parsed = command_line(&line);
        if let Err(kind) = parsed {
            self.events.push_back(Event::Malformed {
                kind,
                excerpt: Excerpt::new(&line),
            });
        }
        match parsed {
            Ok(cmd) => self.command(cmd, more_buffered),
            Err(MalformedKind::UnknownCommand) => {
                self.fail(r(500, (5, 5, 2), "Error: command not recognized"));
            }
            Err(MalformedKind::Parameter) => {
                self.fail(r(501, (5, 5, 4), "Error: bad parameter syntax"));
            }
            Err(_) => self.fail(r(501, (5, 5, 4), "Error: syntax error in arguments")),
        }
        true
    }

    fn improper_pipelining(&mut self, verb: &str) {
        self.send(r(
            554,
            (5, 5, 0),
            &format!("Error: improper command pipelining after {verb}"),
        ));
        self.close(CloseReason::ImproperPipelining);
    }

    fn command(&mut self, cmd: Command, more_buffered: bool) {
        self.commands += 1;
        if self.commands > self.config.limits.max_commands_before_data {
            self.send(r(
                421,
                (4, 7, 0),
                &format!("{} Error: too many commands", self.config.hostname),
            ));
            return self.close(CloseReason::TooManyCommands);
        }
        let lmtp = self.config.mode == Mode::Lmtp;
        // RFC 2920 §3.1: EHLO and DATA end a group; anything sent after them unread is improper.
        let group_end = matches!(
            cmd,
            Command::Ehlo(_) | Command::Helo(_) | Command::Lhlo(_) | Command::Data
        );
        if self.config.strict_pipelining && group_end && more_buffered {
            return self.improper_pipelining(cmd.verb());
        }
        match cmd {
            Command::Ehlo(host) if !lmtp => self.helo_event(HeloKind::Ehlo, host),
            Command::Helo(host) if !lmtp => self.helo_event(HeloKind::Helo, host),
            Command::Lhlo(host) if lmtp => self.helo_event(HeloKind::Lhlo, host),
            Command::Ehlo(_) | Command::Helo(_) => self.fail(r(500, (5, 5, 1), "Error: use LHLO")),
            Command::Lhlo(_) => self.fail(r(500, (5, 5, 2), "Error: command not recognized")),
            Command::Mail { from, params } => self.mail(from, params),
            Command::Rcpt { to, params } => self.rcpt(to, params),
            Command::Data => self.data(),
            Command::Bdat { size, last } => self.bdat(size, last),
            Command::Rset => {
                self.reset_txn();
                self.send(r(250, (2, 0, 0), "OK"));
            }
            Command::Noop(_) => self.send(r(250, (2, 0, 0), "OK")),
            Command::Quit => {
                self.send(r(221, (2, 0, 0), "Bye"));
                self.phase = Phase::Closed;
                self.input.clear();
                self.events.push_back(Event::Quit);
            }
            // RFC 5321 §3.5.3: 252 when the server will not verify but will accept.
            Command::Vrfy(_) => self.send(r(
                252,
                (2, 5, 2),
                "Cannot VRFY user, but will accept message",
            )),
            Command::Expn(_) => self.fail(r(502, (5, 5, 1), "Error: EXPN not available")),
            Command::Help(_) => self.send(r(214, (2, 0, 0), "See RFC 5321")),
            Command::StartTls => self.starttls(),
            Command::Auth {
                mechanism,
                initial_response,
            } => self.auth(mechanism, initial_response),
        }
    }

    fn bad_sequence(&mut self, text: &str) {
        self.fail(r(503, (5, 5, 1), text));
    }

    fn helo_event(&mut self, kind: HeloKind, host: Host) {
        self.events.push_back(Event::Helo { kind, host });
        self.pending = Some(Pending::Helo(kind));
    }

    fn mail(&mut self, from: ReversePath, params: Params<MailParameters>) {
        if self.helo.is_none() {
            return self.bad_sequence("Error: send HELO/EHLO first");
        }
        if self.txn != Txn::None {
            return self.bad_sequence("Error: nested MAIL command");
        }
        if self.config.mode == Mode::Submission && !self.authenticated {
            return self.fail(r(530, (5, 7, 0), "Authentication required"));
        }
        let x = &self.config.extensions;
        let esmtp = self.helo != Some(HeloKind::Helo);
        let unsupported = !params.other.is_empty()
            || (!esmtp && !params.is_empty())
            || (params.smtputf8 && !x.smtputf8)
            || (params.body == Some(BodyType::EightBitMime) && !x.eight_bit_mime)
            || (params.body == Some(BodyType::BinaryMime) && !(x.binary_mime && x.chunking))
            || ((params.ret.is_some() || params.envid.is_some()) && !x.dsn)
            || (params.requiretls && !(x.requiretls && self.tls_active))
            || (params.auth.is_some() && !self.auth_offered());
        if unsupported {
            return self.fail(r(555, (5, 5, 4), "Error: unsupported MAIL parameter"));
        }
        // RFC 1870 §6.2: refuse early when the announced size is over the limit.
        if let (Some(size), Some(max)) = (params.size, self.config.limits.max_message_size)
            && size > max
        {
            return self.fail(r(
                552,
                (5, 3, 4),
                "Error: message size exceeds fixed maximum message size",
            ));
        }
        // RFC 6531 §3.4: UTF-8 addresses need the SMTPUTF8 parameter.
        if matches!(&from, ReversePath::Mailbox(m) if m.is_utf8()) && !params.smtputf8 {
            return self.fail(r(553, (5, 6, 7), "Error: UTF-8 address without SMTPUTF8"));
        }
        self.events.push_back(Event::Mail { from, params });
        self.pending = Some(Pending::Mail);
    }

    fn rcpt(&mut self, to: ForwardPath, params: Params<RcptParameters>) {
        if self.txn == Txn::None {
            return self.bad_sequence("Error: need MAIL command");
        }
        if self.rcpts >= self.config.limits.max_recipients {
            return self.fail(r(452, (4, 5, 3), "Error: too many recipients"));
        }
        let x = &self.config.extensions;
        if !params.other.is_empty()
            || ((params.notify.is_some() || params.orcpt.is_some()) && !x.dsn)
        {
            return self.fail(r(555, (5, 5, 4), "Error: unsupported RCPT parameter"));
        }
        if matches!(&to, ForwardPath::Mailbox(m) if m.is_utf8()) && !x.smtputf8 {
            return self.fail(r(553, (5, 6, 7), "Error: UTF-8 address not supported"));
        }
        self.events.push_back(Event::Rcpt { to, params });
        self.pending = Some(Pending::Rcpt);
    }

    fn data(&mut self) {
        match self.txn {
            Txn::None => self.bad_sequence("Error: need MAIL command"),
            Txn::Mail => self.fail(r(554, (5, 5, 1), "Error: no valid recipients")),
            Txn::Rcpt { bdat: true } => self.bad_sequence("Error: DATA after BDAT"),
            Txn::Rcpt { bdat: false } => {
                self.send(
                    Reply::new(354, None, "End data with <CR><LF>.<CR><LF>")
                        .unwrap_or_else(|_| Reply::ok()),
                );
                self.events.push_back(Event::DataStart);
                let l = &self.config.limits;
                self.phase = Phase::Data(DataDecoder::new(
                    self.config.bare_line_ending,
                    l.max_text_line,
                ));
            }
        }
    }

    fn bdat(&mut self, size: u64, last: bool) {
        // RFC 3030 §2: the chunk is always read, even when the command fails.
        let valid = match self.txn {
            Txn::Rcpt { .. } if self.config.extensions.chunking => true,
            Txn::Rcpt { .. } => {
                self.fail(r(502, (5, 5, 1), "Error: CHUNKING not offered"));
                false
            }
            Txn::None => {
                self.bad_sequence("Error: need MAIL command");
                false
            }
            Txn::Mail => {
                self.fail(r(554, (5, 5, 1), "Error: no valid recipients"));
                false
            }
        };
        if valid {
            if self.txn == (Txn::Rcpt { bdat: false }) {
                self.events.push_back(Event::DataStart);
            }
            self.txn = Txn::Rcpt { bdat: true };
        }
        self.phase = Phase::Bdat {
            remaining: size,
            last,
            valid,
        };
    }

    fn starttls(&mut self) {
        if self.tls_active {
            return self.bad_sequence("Error: TLS already active");
        }
        if !self.config.extensions.starttls {
            return self.fail(r(502, (5, 5, 1), "Error: STARTTLS not offered"));
        }
        self.send(r(220, (2, 0, 0), "Ready to start TLS"));
        // RFC 3207 §5 and CVE-2011-0411: nothing received before the handshake may be used.
        let discarded = self.input.len();
        self.input.clear();
        self.phase = Phase::Tls;
        self.events.push_back(Event::StartTls { discarded });
    }

    fn auth(&mut self, mechanism: Mechanism, initial: Option<Vec<u8>>) {
        if !self.auth_offered() {
            if self.config.extensions.auth.is_empty() {
                return self.fail(r(502, (5, 5, 1), "Error: authentication not enabled"));
            }
            return self.fail(r(538, (5, 7, 11), "Error: authentication requires TLS"));
        }
        if self.helo.is_none() {
            return self.bad_sequence("Error: send HELO/EHLO first");
        }
        if self.authenticated {
            return self.bad_sequence("Error: already authenticated");
        }
        if self.txn != Txn::None {
            return self.bad_sequence("Error: AUTH not allowed during a mail transaction");
        }
        if !self.config.extensions.auth.contains(&mechanism) {
            return self.fail(r(
                504,
                (5, 5, 4),
                "Error: unsupported authentication mechanism",
            ));
        }
        self.mechanism = Some(mechanism.clone());
        match (mechanism.as_str(), initial) {
            ("PLAIN", Some(data)) => self.auth_data(AuthStep::PlainResponse, data),
            ("PLAIN", None) => {
                self.send_raw_334("");
                self.phase = Phase::Auth(AuthStep::PlainResponse);
            }
            ("LOGIN", Some(user)) => self.auth_data(AuthStep::LoginUser, user),
            ("LOGIN", None) => {
                self.send_raw_334("VXNlcm5hbWU6");
                self.phase = Phase::Auth(AuthStep::LoginUser);
            }
            (_, initial_response) => {
                self.events.push_back(Event::AuthStart {
                    mechanism,
                    initial_response,
                });
                self.pending = Some(Pending::Auth);
            }
        }
    }
}
