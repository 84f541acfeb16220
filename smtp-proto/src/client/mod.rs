//! The client session state machine (Sans-IO), for relaying over SMTP and delivering over LMTP.
//!
//! # Call order
//!
//! The contract of [`mailwright_sansio::Machine`], which [`ClientSession`] implements:
//!
//! 1. [`ClientSession::new`]; call [`ClientSession::handle_timeout`] once with the time the
//!    connection was made, so that the wait for the greeting runs from it.
//! 2. Feed everything read from the server to [`ClientSession::handle_input`]`(now, bytes)`; drain
//!    [`ClientSession::poll_event`] and write out [`ClientSession::poll_transmit`] (message data
//!    comes in blocks: ask for the next one only once the last is written).
//! 3. The machine reads the greeting, sends `EHLO` (falling back to `HELO` on a 5xx; `LHLO` in
//!    LMTP), runs `STARTTLS` per [`TlsPolicy`] ([`Event::StartTls`]: flush, handshake, then
//!    [`ClientSession::handle_tls_established`]), authenticates with `PLAIN` or `LOGIN` when given
//!    credentials, then reports [`Event::Ready`].
//! 4. [`ClientSession::send_message`] runs one transaction (pipelined when offered, `BDAT` when
//!    `CHUNKING` is offered, dot-stuffed `DATA` otherwise) and reports [`Event::Sent`] with the
//!    reply to `MAIL`, one per `RCPT`, and the data replies (one per accepted recipient in LMTP).
//!    [`ClientSession::send_message_streamed`] takes the body in pieces instead, so that a large
//!    message never has to be in memory whole: after the `354` the machine reports
//!    [`Event::BodyWanted`]; answer with [`ClientSession::handle_body`]`(piece)` (dot-stuffed
//!    across piece boundaries) and, at the end, [`ClientSession::handle_body_end`]. The next
//!    `BodyWanted` comes once the piece has been handed out by `poll_transmit`, so at most one
//!    piece is held.
//! 5. [`ClientSession::quit`], then [`Event::Closed`].
//!
//! Wait for input or for [`ClientSession::poll_timeout`], whichever comes first, and call
//! [`ClientSession::handle_timeout`]`(now)` at the deadline. The timers are those of RFC 5321
//! §4.5.3.2 ([`Timeouts`]); one that fires ends the session with
//! [`Event::Failed`]`(`[`ClientError::Timeout`]`(stage))`. A call that starts a wait without a
//! `now` (`send_message`, `quit`, `handle_tls_established`, a block of data handed out) makes
//! `poll_timeout` return the last instant the machine saw: call `handle_timeout(now)` at once and
//! the timer runs from that `now`.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use mailwright_smtp_proto::client::{ClientError, Stage};
//! use mailwright_smtp_proto::{ClientConfig, ClientEvent, ClientSession, Host, Mode};
//!
//! let t0 = Instant::now();
//! let mut c = ClientSession::new(ClientConfig::new(Mode::Smtp, Host::try_from("me.example").unwrap()));
//! c.handle_timeout(t0);
//! c.handle_input(t0, b"220 mx.example ESMTP\r\n");
//! assert_eq!(c.poll_transmit().unwrap(), &b"EHLO me.example\r\n"[..]);
//! // No reply to EHLO within five minutes.
//! assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_mins(5)));
//! c.handle_timeout(t0 + Duration::from_mins(5));
//! assert_eq!(c.poll_event(), Some(ClientEvent::Failed(ClientError::Timeout(Stage::Helo))));
//! assert!(c.is_closed());
//! ```

mod config;
mod event;

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use mailwright_sansio::{Machine, Timer, UsageError};

pub use config::{ClientConfig, Credentials, Timeouts, TlsPolicy};
pub use event::{BodyInfo, ClientError, Envelope, Event, Stage, TransactionResult};

use crate::data::{DotStuffer, canonical_line_endings, dot_stuff};
use crate::parse::{DecodeError, reply as parse_reply};
use crate::server::Mode;
use crate::types::text::base64_encode;
use crate::types::{
    BodyType, Capability, Command, EhloResponse, ForwardPath, Mechanism, Reply, ReversePath,
};

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
    /// The body comes in pieces from the application ([`ClientSession::send_message_streamed`]).
    stream: Option<Stream>,
}

/// Where a streamed body stands.
#[derive(Debug)]
struct Stream {
    /// Dot-stuffing state carried from one piece to the next.
    stuffer: DotStuffer,
    /// [`Event::BodyWanted`] was reported and no piece has come since.
    wanted: bool,
    /// [`ClientSession::handle_body_end`] was called.
    ended: bool,
}

impl Txn {
    /// Waiting for the application's next piece of a streamed body.
    fn body_wanted(&self) -> bool {
        self.stream.as_ref().is_some_and(|s| s.wanted)
    }
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

/// What the machine has to write, in order: command text, and message data handed out in blocks.
#[derive(Debug, Default)]
struct Outbox {
    /// Segments ready to hand out; `true` marks message data.
    queue: VecDeque<(Bytes, bool)>,
    /// Command text written after the last queued segment.
    text: BytesMut,
}

impl Outbox {
    fn data(&mut self, data: Bytes) {
        if !self.text.is_empty() {
            self.queue.push_back((self.text.split().freeze(), false));
        }
        if !data.is_empty() {
            self.queue.push_back((data, true));
        }
    }

    fn has_data(&self) -> bool {
        self.queue.iter().any(|(_, data)| *data)
    }

    /// The next piece to write, at most `block` octets of message data; `true` when it is data.
    fn next(&mut self, block: usize) -> Option<(Bytes, bool)> {
        match self.queue.pop_front() {
            Some((mut bytes, true)) if bytes.len() > block => {
                let first = bytes.split_to(block.max(1));
                self.queue.push_front((bytes, true));
                Some((first, true))
            }
            Some(piece) => Some(piece),
            None if self.text.is_empty() => None,
            None => Some((self.text.split().freeze(), false)),
        }
    }

    fn clear(&mut self) {
        self.queue.clear();
        self.text.clear();
    }
}

/// The reply timer: armed afresh at the next instant seen whenever the wait changes.
#[derive(Debug, Default)]
struct Clock {
    timer: Timer,
    stage: Option<Stage>,
    last_now: Option<Instant>,
    /// The wait changed without a `now`: `poll_timeout` reports `last_now`.
    restart: bool,
}

/// One client session. See the [module docs](self) for the call order.
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    state: State,
    input: BytesMut,
    out: Outbox,
    events: VecDeque<Event>,
    caps: EhloResponse,
    tls_active: bool,
    tls_declined: bool,
    authenticated: bool,
    /// [`ClientSession::handle_shutdown`] was called: QUIT once the session is ready.
    shutting_down: bool,
    clock: Clock,
}

impl ClientSession {
    /// Starts a session; it waits for the greeting.
    pub fn new(config: ClientConfig) -> Self {
        ClientSession {
            tls_active: config.tls_active,
            config,
            state: State::Greeting,
            input: BytesMut::new(),
            out: Outbox::default(),
            events: VecDeque::new(),
            caps: EhloResponse {
                domain: String::new(),
                greeting: None,
                capabilities: Vec::new(),
            },
            tls_declined: false,
            authenticated: false,
            shutting_down: false,
            clock: Clock {
                restart: true,
                ..Clock::default()
            },
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
    /// Whether the session is over: write out the last transmit and close.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }
    /// Whether the driver should read: not while a TLS handshake is due, nor after the end.
    #[must_use]
    pub fn wants_input(&self) -> bool {
        !matches!(self.state, State::Closed | State::AwaitTls)
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Bytes to write to the server, if any. Message data comes in blocks of at most
    /// [`ClientConfig::data_block_size`] octets; asking for the next piece tells the machine the
    /// last one was written, and starts the timer of the next block ([`Timeouts::data_block`]) or,
    /// after the last block, of the final reply ([`Timeouts::data_end`]).
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        let (bytes, data) = self.out.next(self.config.data_block_size)?;
        if data {
            self.restart_timer();
            if !self.out.has_data()
                && let State::Txn(txn) = &mut self.state
                && let Some(stream) = &mut txn.stream
                && !stream.ended
            {
                // The piece is out: the next may come (the data-block timer runs meanwhile).
                stream.wanted = true;
                self.events.push_back(Event::BodyWanted);
            }
        }
        Some(bytes)
    }

    /// When [`ClientSession::handle_timeout`] must be called next, or `None` when no reply is
    /// awaited (the session is ready, closed, in a TLS handshake, or has seen no instant yet).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.clock.restart {
            return self.stage().and(self.clock.last_now);
        }
        self.clock.timer.deadline()
    }

    /// Tells the machine that time has reached `now`: a wait that started without a `now` is
    /// anchored here; a timer whose deadline has passed ends the session with
    /// [`ClientError::Timeout`].
    pub fn handle_timeout(&mut self, now: Instant) {
        if !self.clock.restart
            && self.clock.timer.expired(now)
            && let Some(stage) = self.clock.stage
        {
            // The rest of the data is not written.
            self.out.clear();
            self.fail(ClientError::Timeout(stage));
        }
        self.settle(now);
    }

    /// Feeds bytes read from the server at `now`.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        if !matches!(self.state, State::Closed | State::AwaitTls) {
            self.read_replies(data);
        }
        self.settle(now);
    }

    fn read_replies(&mut self, data: &[u8]) {
        self.input.extend_from_slice(data);
        loop {
            // Only the first `max_reply_len + 1` octets are parsed, so that a reply longer than
            // the limit is refused however the reads cut it (in one read it would otherwise
            // parse whole), and a long buffer is not parsed again at every read.
            let window = self.config.max_reply_len.saturating_add(1);
            let parsed = &self.input[..self.input.len().min(window)];
            match parse_reply(parsed) {
                Ok((rest, _)) if parsed.len() - rest.len() > self.config.max_reply_len => {
                    return self.fail(ClientError::ReplyTooLong);
                }
                Ok((rest, reply)) => {
                    let used = parsed.len() - rest.len();
                    let _ = self.input.split_to(used);
                    self.restart_timer();
                    self.on_reply(reply);
                    if matches!(self.state, State::Closed | State::AwaitTls) {
                        self.input.clear();
                        return;
                    }
                }
                Err(DecodeError::Incomplete) => {
                    if parsed.len() > self.config.max_reply_len {
                        self.fail(ClientError::ReplyTooLong);
                    }
                    return;
                }
                Err(e) => return self.fail(ClientError::Protocol(e)),
            }
        }
    }

    /// The TLS handshake after [`Event::StartTls`] is done: EHLO is sent again
    /// (RFC 3207 §4.2). Fails when no handshake is due.
    pub fn handle_tls_established(&mut self) -> Result<(), UsageError> {
        if self.is_closed() {
            return Err(UsageError::Closed);
        }
        if !matches!(self.state, State::AwaitTls) {
            return Err(UsageError::NotPending {
                expected: "STARTTLS handshake",
            });
        }
        self.tls_active = true;
        self.send_ehlo();
        self.restart_timer();
        Ok(())
    }

    /// Starts a transaction. The body is the message as written to a file (CRLF or LF line
    /// endings); the machine dot-stuffs it or sends it with BDAT. Fails unless the session is
    /// ready ([`Event::Ready`], or [`Event::Sent`] for the transaction before).
    pub fn send_message(
        &mut self,
        envelope: Envelope,
        body: impl Into<Bytes>,
    ) -> Result<(), UsageError> {
        self.check_ready("send_message")?;
        let mut body: Bytes = body.into();
        let info = BodyInfo {
            size: Some(body.len() as u64),
            eight_bit: !body.is_ascii(),
        };
        let bdat = self.config.chunking && self.caps.has(&Capability::Chunking);
        let mut params = self.mail_params(&envelope, info);
        // BDAT sends the body as is, so it must already have CRLF line endings unless it is
        // BINARYMIME (RFC 3030 §3); DATA's dot-stuffer makes them CRLF itself.
        if bdat
            && params.body != Some(BodyType::BinaryMime)
            && let std::borrow::Cow::Owned(fixed) = canonical_line_endings(&body)
        {
            body = Bytes::from(fixed);
            if params.size.is_some() {
                params.size = Some(body.len() as u64);
            }
        }
        self.start_txn(envelope, params, body, bdat, None);
        Ok(())
    }

    /// Starts a transaction whose body the application hands over in pieces, so that it never
    /// has to be in memory whole: after the server's `354` comes [`Event::BodyWanted`], answered
    /// with [`ClientSession::handle_body`] or [`ClientSession::handle_body_end`]. The body goes
    /// with `DATA` (dot-stuffed, line endings made CRLF, as [`ClientSession::send_message`]
    /// does), also when `CHUNKING` is offered. Fails unless the session is ready.
    pub fn send_message_streamed(
        &mut self,
        envelope: Envelope,
        info: BodyInfo,
    ) -> Result<(), UsageError> {
        self.check_ready("send_message_streamed")?;
        let params = self.mail_params(&envelope, info);
        let stream = Stream {
            stuffer: DotStuffer::new(),
            wanted: false,
            ended: false,
        };
        self.start_txn(envelope, params, Bytes::new(), false, Some(stream));
        Ok(())
    }

    /// The next piece of a streamed body, after [`Event::BodyWanted`]. Pieces may split lines,
    /// line endings and leading dots anywhere. Fails when no piece is wanted (call it once per
    /// `BodyWanted`).
    pub fn handle_body(&mut self, piece: &[u8]) -> Result<(), UsageError> {
        let stream = self.wanted_stream()?;
        stream.wanted = false;
        let mut out = BytesMut::with_capacity(piece.len() + piece.len() / 32 + 8);
        stream.stuffer.encode(piece, &mut out);
        if out.is_empty() {
            // Nothing to hand out: ask again at once.
            stream.wanted = true;
            self.events.push_back(Event::BodyWanted);
        } else {
            self.out.data(out.freeze());
        }
        self.restart_timer();
        Ok(())
    }

    /// The streamed body is complete, after [`Event::BodyWanted`]: the end of data goes out and
    /// [`Event::Sent`] follows the server's reply. Fails when no piece is wanted.
    pub fn handle_body_end(&mut self) -> Result<(), UsageError> {
        let lmtp = self.config.mode == Mode::Lmtp;
        let State::Txn(txn) = &mut self.state else {
            return Err(self.not_wanted());
        };
        let Some(stream) = txn.stream.as_mut().filter(|s| s.wanted) else {
            return Err(self.not_wanted());
        };
        stream.wanted = false;
        stream.ended = true;
        let mut out = BytesMut::with_capacity(5);
        std::mem::take(&mut stream.stuffer).finish(&mut out);
        txn.finals_left = if lmtp { txn.accepted.max(1) } else { 1 };
        txn.awaiting.push_back(Await::Final);
        self.out.data(out.freeze());
        self.restart_timer();
        Ok(())
    }

    fn wanted_stream(&mut self) -> Result<&mut Stream, UsageError> {
        let err = self.not_wanted();
        match &mut self.state {
            State::Txn(txn) => txn.stream.as_mut().filter(|s| s.wanted).ok_or(err),
            _ => Err(err),
        }
    }

    fn not_wanted(&self) -> UsageError {
        if self.is_closed() {
            UsageError::Closed
        } else {
            UsageError::NotPending {
                expected: "BodyWanted",
            }
        }
    }

    fn check_ready(&self, what: &'static str) -> Result<(), UsageError> {
        if self.is_closed() {
            return Err(UsageError::Closed);
        }
        if !self.is_ready() {
            return Err(UsageError::NotAllowed {
                what,
                why: "the session is not ready for a transaction",
            });
        }
        Ok(())
    }

    /// The `MAIL` parameters: the envelope's, with BODY, SMTPUTF8 and SIZE as offered.
    fn mail_params(&self, envelope: &Envelope, info: BodyInfo) -> crate::types::MailParameters {
        let caps = &self.caps;
        let mut params = envelope.params.clone();
        if params.body.is_none() && caps.has(&Capability::EightBitMime) && info.eight_bit {
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
        if caps.has(&Capability::Size(None)) {
            params.size = info.size;
        }
        params
    }

    fn start_txn(
        &mut self,
        envelope: Envelope,
        params: crate::types::MailParameters,
        body: Bytes,
        bdat: bool,
        stream: Option<Stream>,
    ) {
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
            pipelined: self.config.pipelining && self.caps.has(&Capability::Pipelining),
            finals_left: 0,
            stream,
        });
        if txn.pipelined {
            while let Some(c) = txn.cmds.pop_front() {
                txn.awaiting
                    .push_back(if matches!(c, Command::Mail { .. }) {
                        Await::Mail
                    } else {
                        Await::Rcpt
                    });
                c.encode(&mut self.out.text);
            }
            self.send_data_command(&mut txn);
        } else {
            self.send_next(&mut txn);
        }
        self.state = State::Txn(txn);
        self.restart_timer();
    }

    /// Sends `QUIT`; [`Event::Closed`] follows the reply. Fails when the session is closed or
    /// QUIT was sent already.
    pub fn quit(&mut self) -> Result<(), UsageError> {
        match self.state {
            State::Closed => Err(UsageError::Closed),
            State::Quit => Err(UsageError::NotAllowed {
                what: "quit",
                why: "QUIT was sent already",
            }),
            _ => {
                self.send_quit();
                Ok(())
            }
        }
    }

    /// The application is going down: QUIT goes out now if the session is between transactions,
    /// otherwise as soon as the greeting and negotiation, or the transaction in progress, end.
    pub fn handle_shutdown(&mut self) {
        match self.state {
            State::Closed | State::Quit => {}
            State::Ready => self.send_quit(),
            _ => self.shutting_down = true,
        }
    }

    fn send_quit(&mut self) {
        Command::Quit.encode(&mut self.out.text);
        self.state = State::Quit;
        self.restart_timer();
    }

    /// The session is between transactions: QUIT if shutdown was asked for meanwhile.
    fn ready(&mut self) {
        self.state = State::Ready;
        if self.shutting_down {
            self.send_quit();
        }
    }

    // ---- internals ----

    /// What the client waits for now, if anything.
    fn stage(&self) -> Option<Stage> {
        Some(match &self.state {
            State::Greeting => Stage::Greeting,
            State::Ehlo | State::Helo => Stage::Helo,
            State::StartTls => Stage::StartTls,
            State::AuthPlain
            | State::AuthLoginUser
            | State::AuthLoginPass
            | State::AuthLoginDone => Stage::Auth,
            State::Quit => Stage::Quit,
            State::Txn(txn) if self.out.has_data() || txn.body_wanted() => Stage::DataBlock,
            State::Txn(txn) => match txn.awaiting.front()? {
                Await::Mail => Stage::Mail,
                Await::Rcpt => Stage::Rcpt,
                Await::Data354 => Stage::DataInit,
                Await::Final => Stage::DataEnd,
                Await::Rset => Stage::Rset,
            },
            State::AwaitTls | State::Ready | State::Closed => return None,
        })
    }

    fn timeout_of(&self, stage: Stage) -> std::time::Duration {
        let t = &self.config.timeouts;
        match stage {
            Stage::Greeting => t.greeting,
            Stage::Mail => t.mail,
            Stage::Rcpt => t.rcpt,
            Stage::DataInit => t.data_init,
            Stage::DataBlock => t.data_block,
            Stage::DataEnd => t.data_end,
            Stage::Helo | Stage::StartTls | Stage::Auth | Stage::Rset | Stage::Quit => t.reply,
        }
    }

    /// A new wait begins: the timer is armed at the next instant seen.
    fn restart_timer(&mut self) {
        self.clock.restart = true;
        self.clock.timer.disarm();
    }

    /// Records `now`; arms the timer for the current wait if it was restarted.
    fn settle(&mut self, now: Instant) {
        self.clock.last_now = Some(now);
        if !self.clock.restart {
            return;
        }
        self.clock.restart = false;
        self.clock.stage = self.stage();
        match self.clock.stage {
            Some(stage) => {
                let after = self.timeout_of(stage);
                self.clock.timer.arm(now, after);
            }
            None => self.clock.timer.disarm(),
        }
    }

    fn fail(&mut self, e: ClientError) {
        self.state = State::Closed;
        self.input.clear();
        self.clock.timer.disarm();
        self.clock.stage = None;
        self.events.push_back(Event::Failed(e));
    }

    fn send(&mut self, c: &Command) {
        c.encode(&mut self.out.text);
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
                c.encode(&mut self.out.text);
            }
            None if txn.accepted > 0 => self.send_data_command(txn),
            None => {
                Command::Rset.encode(&mut self.out.text);
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
            .encode(&mut self.out.text);
            self.out.data(txn.body.clone());
            txn.awaiting.push_back(Await::Final);
            txn.finals_left = 1;
        } else {
            Command::Data.encode(&mut self.out.text);
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
                ir.extend_from_slice(c.password.expose().as_bytes());
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
        self.events.push_back(Event::Ready(self.caps.clone()));
        self.ready();
    }

    fn send_b64_line(&mut self, data: &[u8]) {
        self.out
            .text
            .extend_from_slice(base64_encode(data).as_bytes());
        self.out.text.extend_from_slice(b"\r\n");
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
                self.events.push_back(Event::StartTls);
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
                    .map(|c| c.password.expose().clone())
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
                    self.out.text.extend_from_slice(b"*\r\n");
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
                self.events.push_back(Event::Closed);
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
                let mut data = BytesMut::new();
                if txn.accepted == 0 {
                    // RFC 2920 §3.1: DATA accepted without recipients: send a lone dot (a
                    // streamed body is not asked for).
                    data.extend_from_slice(b".\r\n");
                } else if let Some(stream) = &mut txn.stream {
                    stream.wanted = true;
                    self.events.push_back(Event::BodyWanted);
                    return None;
                } else {
                    dot_stuff(&txn.body, &mut data);
                }
                self.out.data(data.freeze());
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
        self.events
            .push_back(Event::Sent(std::mem::take(&mut txn.result)));
        self.ready();
        Some(())
    }
}

impl Machine for ClientSession {
    type Event = Event;

    fn handle_input(&mut self, now: Instant, data: &[u8]) {
        ClientSession::handle_input(self, now, data);
    }
    fn poll_event(&mut self) -> Option<Event> {
        ClientSession::poll_event(self)
    }
    fn poll_transmit(&mut self) -> Option<Bytes> {
        ClientSession::poll_transmit(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        ClientSession::poll_timeout(self)
    }
    fn handle_timeout(&mut self, now: Instant) {
        ClientSession::handle_timeout(self, now);
    }
    fn wants_input(&self) -> bool {
        ClientSession::wants_input(self)
    }
    fn is_closed(&self) -> bool {
        ClientSession::is_closed(self)
    }
    fn handle_tls_established(&mut self) -> Result<(), UsageError> {
        Self::handle_tls_established(self)
    }
    fn handle_shutdown(&mut self) {
        Self::handle_shutdown(self);
    }
}
