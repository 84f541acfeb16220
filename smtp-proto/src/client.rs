//! The client session state machine (Sans-IO), for relaying over SMTP and delivering over LMTP.
//!
//! # Call order
//!
//! 1. [`ClientSession::new`]; feed everything read from the server to
//!    [`ClientSession::handle_input`]; after each call drain [`ClientSession::poll_event`] and write
//!    out [`ClientSession::poll_transmit`].
//! 2. The machine reads the greeting, sends `EHLO` (falling back to `HELO` on a 5xx; `LHLO` in
//!    LMTP), runs `STARTTLS` per [`TlsPolicy`] ([`ClientEvent::StartTls`]: flush, handshake, then
//!    [`ClientSession::handle_tls_established`]), authenticates with `PLAIN` or `LOGIN` when given
//!    credentials, then reports [`ClientEvent::Ready`].
//! 3. [`ClientSession::send_message`] runs one transaction (pipelined when offered, `BDAT` when
//!    `CHUNKING` is offered, dot-stuffed `DATA` otherwise) and reports [`ClientEvent::Sent`] with the
//!    reply to `MAIL`, one per `RCPT`, and the data replies (one per accepted recipient in LMTP).
//! 4. [`ClientSession::quit`], then [`ClientEvent::Closed`].

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use crate::data::{canonical_line_endings, dot_stuff};
use crate::parse::{ParseError, reply as parse_reply};
use crate::server::Mode;
use crate::types::text::base64_encode;
use crate::types::{
    BodyType, Capability, Command, EhloResponse, ForwardPath, Host, MailParameters, Mechanism,
    RcptParameters, Reply, ReversePath,
};

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

/// Credentials for `AUTH PLAIN` / `AUTH LOGIN`.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name (authentication identity).
    pub username: String,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
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
        }
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
    Protocol(ParseError),
    /// A reply arrived when none was expected.
    #[error("unexpected reply: {0}")]
    Unexpected(Reply),
    /// A message was submitted while the session was not ready.
    #[error("session not ready")]
    NotReady,
}

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

/// What the machine reports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The session is ready for [`ClientSession::send_message`].
    Ready(EhloResponse),
    /// Flush the transmit buffer, run the TLS handshake, then call
    /// [`ClientSession::handle_tls_established`].
    StartTls,
    /// A transaction finished.
    Sent(TransactionResult),
    /// The session failed; close it.
    Failed(ClientError),
    /// The server answered QUIT; close.
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Await {
    Mail,
    Rcpt,
    Data354,
    /// Final data replies still expected (BDAT LAST or after the dot).
    Final,
    Rset,
}

#[derive(Debug)]
struct Txn {
    cmds: VecDeque<Command>,
    awaiting: VecDeque<Await>,
    result: TransactionResult,
    accepted: usize,
    body: Bytes,
    bdat: bool,
    pipelined: bool,
    finals_left: usize,
}

#[derive(Debug)]
enum State {
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    AwaitTls,
    AuthPlain,
    AuthLoginUser,
    AuthLoginPass,
    AuthLoginDone,
    Ready,
    Txn(Box<Txn>),
    Quit,
    Closed,
}

/// One client session. See the [module docs](self) for the call order.
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    state: State,
    input: BytesMut,
    output: BytesMut,
    events: VecDeque<ClientEvent>,
    caps: EhloResponse,
    tls_active: bool,
    tls_declined: bool,
    authenticated: bool,
}

impl ClientSession {
    /// Starts a session; it waits for the greeting.
    pub fn new(config: ClientConfig) -> Self {
        ClientSession {
            tls_active: config.tls_active,
            config,
            state: State::Greeting,
            input: BytesMut::new(),
            output: BytesMut::new(),
            events: VecDeque::new(),
            caps: EhloResponse {
                domain: String::new(),
                greeting: None,
                capabilities: Vec::new(),
            },
            tls_declined: false,
            authenticated: false,
        }
    }

    /// The server's capabilities from the last EHLO/LHLO (empty after a HELO fallback).
    pub fn capabilities(&self) -> &EhloResponse {
        &self.caps
    }
    /// Whether TLS is active.
    pub fn tls_active(&self) -> bool {
        self.tls_active
    }
    /// Whether a message can be sent now.
    pub fn is_ready(&self) -> bool {
        matches!(self.state, State::Ready)
    }
    /// Whether the session is over.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Bytes to write to the server, if any.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.output.is_empty() {
            None
        } else {
            Some(self.output.split().freeze())
        }
    }

    /// Feeds bytes read from the server.
    pub fn handle_input(&mut self, data: &[u8]) {
        if matches!(self.state, State::Closed | State::AwaitTls) {
            return;
        }
        self.input.extend_from_slice(data);
        loop {
            match parse_reply(&self.input) {
                Ok((rest, reply)) => {
                    let used = self.input.len() - rest.len();
                    let _ = self.input.split_to(used);
                    self.on_reply(reply);
                    if matches!(self.state, State::Closed | State::AwaitTls) {
                        self.input.clear();
                        return;
                    }
                }
                Err(ParseError::Incomplete) => {
                    if self.input.len() > self.config.max_reply_len {
                        self.fail(ClientError::Protocol(ParseError::Incomplete));
                    }
                    return;
                }
                Err(e) => return self.fail(ClientError::Protocol(e)),
            }
        }
    }

    /// The TLS handshake after [`ClientEvent::StartTls`] is done: EHLO is sent again
    /// (RFC 3207 §4.2).
    pub fn handle_tls_established(&mut self) {
        if matches!(self.state, State::AwaitTls) {
            self.tls_active = true;
            self.send_ehlo();
        }
    }

    /// Starts a transaction. The body is the message as written to a file (CRLF or LF line
    /// endings); the machine dot-stuffs it or sends it with BDAT.
    pub fn send_message(
        &mut self,
        envelope: Envelope,
        body: impl Into<Bytes>,
    ) -> Result<(), ClientError> {
        if !self.is_ready() {
            return Err(ClientError::NotReady);
        }
        let mut body: Bytes = body.into();
        let caps = &self.caps;
        let mut params = envelope.params;
        if params.body.is_none() && caps.has(&Capability::EightBitMime) && !body.is_ascii() {
            params.body = Some(BodyType::EightBitMime);
        }
        let utf8 = matches!(&envelope.from, ReversePath::Mailbox(m) if m.is_utf8())
            || envelope
                .rcpts
                .iter()
                .any(|(r, _)| matches!(r, ForwardPath::Mailbox(m) if m.is_utf8()));
        if utf8 && caps.has(&Capability::SmtpUtf8) {
            params.smtputf8 = true;
        }
        let bdat = self.config.chunking && caps.has(&Capability::Chunking);
        // BDAT sends the body as is, so it must already have CRLF line endings unless it is
        // BINARYMIME (RFC 3030 §3); DATA's dot-stuffer makes them CRLF itself.
        if bdat
            && params.body != Some(BodyType::BinaryMime)
            && let std::borrow::Cow::Owned(fixed) = canonical_line_endings(&body)
        {
            body = Bytes::from(fixed);
        }
        if caps.has(&Capability::Size(None)) {
            params.size = Some(body.len() as u64);
        }
        let mut cmds = VecDeque::new();
        cmds.push_back(Command::Mail {
            from: envelope.from,
            params: params.into(),
        });
        for (to, params) in envelope.rcpts {
            cmds.push_back(Command::Rcpt {
                to,
                params: params.into(),
            });
        }
        let mut txn = Box::new(Txn {
            cmds,
            awaiting: VecDeque::new(),
            result: TransactionResult::default(),
            accepted: 0,
            body,
            bdat,
            pipelined: self.config.pipelining && caps.has(&Capability::Pipelining),
            finals_left: 0,
        });
        if txn.pipelined {
            while let Some(c) = txn.cmds.pop_front() {
                txn.awaiting
                    .push_back(if matches!(c, Command::Mail { .. }) {
                        Await::Mail
                    } else {
                        Await::Rcpt
                    });
                c.encode(&mut self.output);
            }
            self.send_data_command(&mut txn);
        } else {
            self.send_next(&mut txn);
        }
        self.state = State::Txn(txn);
        Ok(())
    }

    /// Sends `QUIT`; [`ClientEvent::Closed`] follows the reply.
    pub fn quit(&mut self) {
        if !matches!(self.state, State::Closed | State::Quit) {
            Command::Quit.encode(&mut self.output);
            self.state = State::Quit;
        }
    }

    // ---- internals ----

    fn fail(&mut self, e: ClientError) {
        self.state = State::Closed;
        self.input.clear();
        self.events.push_back(ClientEvent::Failed(e));
    }

    fn send(&mut self, c: &Command) {
        c.encode(&mut self.output);
    }

    fn send_ehlo(&mut self) {
        let h = self.config.helo_name.clone();
        if self.config.mode == Mode::Lmtp {
            self.send(&Command::Lhlo(h));
        } else {
            self.send(&Command::Ehlo(h));
        }
        self.state = State::Ehlo;
    }

    fn send_next(&mut self, txn: &mut Txn) {
        match txn.cmds.pop_front() {
            Some(c) => {
                txn.awaiting
                    .push_back(if matches!(c, Command::Mail { .. }) {
                        Await::Mail
                    } else {
                        Await::Rcpt
                    });
                c.encode(&mut self.output);
            }
            None if txn.accepted > 0 => self.send_data_command(txn),
            None => {
                Command::Rset.encode(&mut self.output);
                txn.awaiting.push_back(Await::Rset);
            }
        }
    }

    fn send_data_command(&mut self, txn: &mut Txn) {
        if txn.bdat {
            Command::Bdat {
                size: txn.body.len() as u64,
                last: true,
            }
            .encode(&mut self.output);
            self.output.extend_from_slice(&txn.body);
            txn.awaiting.push_back(Await::Final);
            txn.finals_left = 1;
        } else {
            Command::Data.encode(&mut self.output);
            txn.awaiting.push_back(Await::Data354);
        }
    }

    fn next_setup(&mut self) {
        let offered = self.caps.has(&Capability::StartTls);
        if !self.tls_active
            && self.config.starttls != TlsPolicy::Never
            && offered
            && !self.tls_declined
        {
            self.send(&Command::StartTls);
            self.state = State::StartTls;
            return;
        }
        if !self.tls_active && self.config.starttls == TlsPolicy::Required {
            return self.fail(ClientError::TlsNotOffered);
        }
        if let (Some(c), false) = (&self.config.credentials, self.authenticated) {
            let mechs = self.caps.auth_mechanisms();
            if mechs.contains(&Mechanism::plain()) {
                // RFC 4616 §2: [authzid] NUL authcid NUL passwd
                let mut ir = vec![0];
                ir.extend_from_slice(c.username.as_bytes());
                ir.push(0);
                ir.extend_from_slice(c.password.as_bytes());
                self.send(&Command::Auth {
                    mechanism: Mechanism::plain(),
                    initial_response: Some(ir),
                });
                self.state = State::AuthPlain;
            } else if mechs.contains(&Mechanism::login()) {
                self.send(&Command::Auth {
                    mechanism: Mechanism::login(),
                    initial_response: None,
                });
                self.state = State::AuthLoginUser;
            } else {
                self.fail(ClientError::AuthNotOffered);
            }
            return;
        }
        self.state = State::Ready;
        self.events.push_back(ClientEvent::Ready(self.caps.clone()));
    }

    fn send_b64_line(&mut self, data: &[u8]) {
        self.output
            .extend_from_slice(base64_encode(data).as_bytes());
        self.output.extend_from_slice(b"\r\n");
    }

    fn on_reply(&mut self, reply: Reply) {
        let code = reply.code().get();
        if code == 421 && !matches!(self.state, State::Quit) {
            return self.fail(ClientError::ServiceClosing(reply));
        }
        let state = std::mem::replace(&mut self.state, State::Closed);
        match state {
            State::Greeting if code == 220 => self.send_ehlo(),
            State::Greeting => self.fail(ClientError::Greeting(reply)),
            State::Ehlo if code == 250 => {
                self.caps = EhloResponse::from_reply(&reply).unwrap_or(self.caps.clone());
                self.next_setup();
            }
            // RFC 5321 §3.2: a client falls back to HELO when EHLO is not understood.
            State::Ehlo if reply.code().is_permanent() && self.config.mode != Mode::Lmtp => {
                self.send(&Command::Helo(self.config.helo_name.clone()));
                self.state = State::Helo;
            }
            State::Ehlo => self.fail(ClientError::Helo(reply)),
            State::Helo if code != 250 => self.fail(ClientError::Helo(reply)),
            State::Helo => {
                self.caps = EhloResponse {
                    domain: String::new(),
                    greeting: None,
                    capabilities: vec![],
                };
                self.next_setup();
            }
            State::StartTls if code == 220 => {
                self.state = State::AwaitTls;
                self.events.push_back(ClientEvent::StartTls);
            }
            State::StartTls if self.config.starttls == TlsPolicy::Required => {
                self.fail(ClientError::StartTls(reply));
            }
            State::StartTls => {
                self.tls_declined = true;
                self.next_setup();
            }
            State::AuthPlain | State::AuthLoginDone if code == 235 => {
                self.authenticated = true;
                self.next_setup();
            }
            State::AuthLoginUser if code == 334 => {
                let u = self
                    .config
                    .credentials
                    .as_ref()
                    .map(|c| c.username.clone())
                    .unwrap_or_default();
                self.send_b64_line(u.as_bytes());
                self.state = State::AuthLoginPass;
            }
            State::AuthLoginPass if code == 334 => {
                let p = self
                    .config
                    .credentials
                    .as_ref()
                    .map(|c| c.password.clone())
                    .unwrap_or_default();
                self.send_b64_line(p.as_bytes());
                self.state = State::AuthLoginDone;
            }
            State::AuthPlain
            | State::AuthLoginUser
            | State::AuthLoginPass
            | State::AuthLoginDone => {
                if code == 334 {
                    // An unexpected challenge: cancel (RFC 4954 §4).
                    self.output.extend_from_slice(b"*\r\n");
                    self.state = State::AuthLoginDone;
                } else {
                    self.fail(ClientError::Auth(reply));
                }
            }
            State::Txn(mut txn) => self
                .txn_reply(&mut txn, reply)
                .unwrap_or_else(|| self.state = State::Txn(txn)),
            State::Quit => {
                self.state = State::Closed;
                self.events.push_back(ClientEvent::Closed);
            }
            State::Ready | State::AwaitTls | State::Closed => {
                self.fail(ClientError::Unexpected(reply));
            }
        }
    }

    /// Handles a reply within a transaction; `Some(())` when the transaction is over.
    fn txn_reply(&mut self, txn: &mut Txn, reply: Reply) -> Option<()> {
        let Some(what) = txn.awaiting.pop_front() else {
            self.fail(ClientError::Unexpected(reply));
            return Some(());
        };
        let ok = reply.is_positive();
        let lmtp = self.config.mode == Mode::Lmtp;
        match what {
            Await::Mail => {
                txn.result.mail = Some(reply);
                if !txn.pipelined {
                    if !ok {
                        return self.finish(txn);
                    }
                    self.send_next(txn);
                }
            }
            Await::Rcpt => {
                txn.result.rcpts.push(reply);
                if ok {
                    txn.accepted += 1;
                }
                if !txn.pipelined {
                    self.send_next(txn);
                }
            }
            Await::Data354 => {
                if reply.code().get() != 354 {
                    txn.result.data.push(reply);
                    return self.finish(txn);
                }
                if txn.accepted == 0 {
                    // RFC 2920 §3.1: DATA accepted without recipients: send a lone dot.
                    self.output.extend_from_slice(b".\r\n");
                } else {
                    dot_stuff(&txn.body, &mut self.output);
                }
                txn.finals_left = if lmtp { txn.accepted.max(1) } else { 1 };
                txn.awaiting.push_back(Await::Final);
            }
            Await::Final => {
                // After BDAT LAST the reply count is known only now; an error to BDAT itself (no
                // recipients) is a single reply.
                if txn.bdat && txn.result.data.is_empty() {
                    txn.finals_left = if lmtp { txn.accepted.max(1) } else { 1 };
                }
                txn.result.data.push(reply);
                txn.finals_left = txn.finals_left.saturating_sub(1);
                if txn.finals_left > 0 {
                    txn.awaiting.push_front(Await::Final);
                } else {
                    return self.finish(txn);
                }
            }
            Await::Rset => return self.finish(txn),
        }
        None
    }

    // Returns `Some` so that `txn_reply` can end with `return self.finish(txn)`.
    #[allow(clippy::unnecessary_wraps)]
    fn finish(&mut self, txn: &mut Txn) -> Option<()> {
        self.state = State::Ready;
        self.events
            .push_back(ClientEvent::Sent(std::mem::take(&mut txn.result)));
        Some(())
    }
}
