//! The client session state machine (Sans-IO): the mirror of [`crate::server`], for fetchers and
//! tests.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use mailwright_sansio::{Machine, Timer, UsageError};

use crate::encode::Encode;
use crate::parse::{self, DecodeError, DotUnstuffer, MultiLine};
use crate::types::{
    Atom, AuthReply, Capability, Command, CommandKind, MessageNumber, Password, PlainCredentials,
    Response, SaslResponse, ScanListing, Secret, Stat, TypeError, Uid, UidListing,
};

/// What a client session allows and how long it waits; every field has a documented default.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Longest status or listing line, CRLF included. Default 4096 (RFC 2449 §4 says 512).
    pub max_response_line: usize,
    /// Most entries in a LIST or UIDL listing. Default 1,000,000.
    pub max_listing_entries: usize,
    /// Most CAPA lines. Default 256.
    pub max_capabilities: usize,
    /// While the greeting or a response is awaited, the session gives up
    /// ([`Event::TimedOut`]) when the server sends nothing for this long. Default 5 minutes (as
    /// fetchmail). `Duration::MAX` waits for ever.
    pub response_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            max_response_line: parse::DEFAULT_MAX_RESPONSE_LINE,
            max_listing_entries: 1_000_000,
            max_capabilities: 256,
            response_timeout: Duration::from_mins(5),
        }
    }
}

/// Why a command could not be queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// An argument is not valid on the wire (a user name with a space, a password with CR ...).
    #[error(transparent)]
    Invalid(#[from] TypeError),
    /// The session cannot send it (it is closed or shutting down).
    #[error(transparent)]
    Usage(#[from] UsageError),
}

/// What the client learns; answers come in the order the commands were issued.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The server's greeting (`+OK`; a `-ERR` greeting closes the session).
    Greeting(Response),
    /// The answer to CAPA.
    Capabilities(Vec<Capability>),
    /// STLS was accepted: run the TLS handshake, then call
    /// [`ClientSession::handle_tls_established`].
    StartTls,
    /// PASS, APOP or AUTH succeeded: TRANSACTION state.
    LoggedIn(Response),
    /// A SASL challenge: answer with [`ClientSession::auth_respond`] or
    /// [`ClientSession::auth_cancel`].
    AuthChallenge(Secret<Vec<u8>>),
    /// The answer to STAT.
    Stat(Stat),
    /// The answer to LIST without argument.
    List(Vec<ScanListing>),
    /// The answer to `LIST n`.
    ListOne(ScanListing),
    /// The answer to UIDL without argument.
    Uidl(Vec<UidListing>),
    /// The answer to `UIDL n`.
    UidlOne(UidListing),
    /// RETR or TOP succeeded: [`Event::MessageData`] chunks follow, then [`Event::MessageEnd`].
    MessageStart {
        /// The message number.
        message: MessageNumber,
    },
    /// A chunk of the message, dot-unstuffed, line ends as the server sent them (CRLF).
    MessageData(Bytes),
    /// The message is complete.
    MessageEnd {
        /// The message number.
        message: MessageNumber,
    },
    /// `+OK` to USER, DELE, NOOP or RSET.
    Done {
        /// The command answered.
        command: CommandKind,
        /// The response.
        response: Response,
    },
    /// `-ERR` to a command.
    Error {
        /// The command answered.
        command: CommandKind,
        /// The response.
        response: Response,
    },
    /// The server sent `-ERR` when no command was waiting for an answer: it is ending the
    /// session (autologout, RFC 1939 §3, or shutdown); the session is closed.
    Disconnected(Response),
    /// The server broke the protocol; the session is closed.
    ProtocolError(String),
    /// The server sent nothing for [`ClientConfig::response_timeout`] while an answer was due; the
    /// session is closed.
    TimedOut,
    /// The session is over (after QUIT, a `-ERR` greeting, a disconnection, a protocol error or a
    /// timeout).
    Closed,
}

#[derive(Debug)]
enum Reading {
    Greeting,
    Status,
    Capa(Vec<Capability>),
    ScanList(Vec<ScanListing>),
    UidList(Vec<UidListing>),
    Body(MessageNumber, DotUnstuffer),
}

/// A POP3 client session, driven through [`Machine`].
///
/// Call order: issue commands with the methods ([`capa`](Self::capa), [`login`](Self::login),
/// [`retr`](Self::retr) ...), which queue them; call [`handle_timeout`](Self::handle_timeout) with
/// the instant the connection opened (the wait for the greeting starts then); feed octets from the
/// server to [`handle_input`](Self::handle_input); drain [`poll_event`](Self::poll_event) then
/// [`poll_transmit`](Self::poll_transmit); wait for input or [`poll_timeout`](Self::poll_timeout).
/// Nothing is sent before the greeting. Commands are pipelined once CAPA has shown `PIPELINING`
/// (RFC 2449 §6.6), otherwise sent one at a time; STLS and AUTH are never pipelined with what
/// follows them.
///
/// ```
/// use std::time::Instant;
/// use mailwright_pop3_proto::client::{ClientSession, Event};
///
/// let now = Instant::now();
/// let mut c = ClientSession::new(Default::default());
/// c.login("alice", b"secret").unwrap();
/// c.handle_input(now, b"+OK ready\r\n");
/// assert!(matches!(c.poll_event(), Some(Event::Greeting(_))));
/// assert_eq!(&c.poll_transmit().unwrap()[..], b"USER alice\r\n");
/// c.handle_input(now, b"+OK\r\n");
/// assert!(matches!(c.poll_event(), Some(Event::Done { .. })));
/// assert_eq!(&c.poll_transmit().unwrap()[..], b"PASS secret\r\n");
/// ```
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    input: BytesMut,
    out: BytesMut,
    events: VecDeque<Event>,
    queue: VecDeque<Command>,
    in_flight: VecDeque<Command>,
    reading: Reading,
    greeting: Option<Response>,
    capabilities: Vec<Capability>,
    pipelining: bool,
    tls_pending: bool,
    auth_waiting: bool,
    closed: bool,
    shutting_down: bool,
    /// The latest instant the driver passed in.
    now: Option<Instant>,
    /// Restart the response timer at the next instant the driver passes (a command was sent).
    rearm: bool,
    response_timer: Timer,
}

impl ClientSession {
    /// A session waiting for the greeting.
    pub fn new(config: ClientConfig) -> Self {
        Self {
            config,
            input: BytesMut::new(),
            out: BytesMut::new(),
            events: VecDeque::new(),
            queue: VecDeque::new(),
            in_flight: VecDeque::new(),
            reading: Reading::Greeting,
            greeting: None,
            capabilities: Vec::new(),
            pipelining: false,
            tls_pending: false,
            auth_waiting: false,
            closed: false,
            shutting_down: false,
            now: None,
            rearm: true,
            response_timer: Timer::default(),
        }
    }

    /// The greeting, once received.
    pub fn greeting(&self) -> Option<&Response> {
        self.greeting.as_ref()
    }

    /// The capabilities from the last CAPA answer.
    pub fn capabilities(&self) -> &[Capability] {
        &self.capabilities
    }

    /// Whether the session is over.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether the driver should read from the server (the session is open and no TLS handshake
    /// is pending).
    #[must_use]
    pub fn wants_input(&self) -> bool {
        !self.closed && !self.tls_pending
    }

    /// Whether commands are waiting to be sent or answered.
    pub fn is_busy(&self) -> bool {
        !self.queue.is_empty() || !self.in_flight.is_empty()
    }

    /// Queues any command.
    pub fn send(&mut self, command: Command) -> Result<(), UsageError> {
        if self.closed {
            return Err(UsageError::Closed);
        }
        if self.shutting_down {
            return Err(UsageError::NotAllowed {
                what: "a command",
                why: "the session is shutting down",
            });
        }
        self.queue.push_back(command);
        self.flush();
        Ok(())
    }

    /// Queues CAPA (RFC 2449 §5).
    pub fn capa(&mut self) -> Result<(), UsageError> {
        self.send(Command::Capa)
    }

    /// Queues STLS (RFC 2595 §4).
    pub fn stls(&mut self) -> Result<(), UsageError> {
        self.send(Command::Stls)
    }

    /// Queues USER and PASS.
    pub fn login(&mut self, user: &str, password: &[u8]) -> Result<(), ClientError> {
        let user = Atom::new(user)?;
        let password = Password::new(password.to_vec())?;
        self.send(Command::User(user))?;
        self.send(Command::Pass(password))?;
        Ok(())
    }

    /// Queues `AUTH mechanism [initial-response]` (RFC 5034).
    pub fn auth(
        &mut self,
        mechanism: &str,
        initial_response: Option<&[u8]>,
    ) -> Result<(), ClientError> {
        let mechanism = Atom::new(mechanism.to_ascii_uppercase())?;
        let initial_response = initial_response.map(|d| Secret::new(d.to_vec()));
        self.send(Command::Auth {
            mechanism,
            initial_response,
        })?;
        Ok(())
    }

    /// Queues AUTH PLAIN (RFC 4616) with the credentials as initial response.
    pub fn auth_plain(&mut self, user: &str, password: &[u8]) -> Result<(), ClientError> {
        let message = PlainCredentials {
            authzid: String::new(),
            authcid: user.to_owned(),
            password: Secret::new(password.to_vec()),
        }
        .encode();
        self.auth("PLAIN", Some(message.expose()))
    }

    /// Answers an [`Event::AuthChallenge`].
    pub fn auth_respond(&mut self, data: &[u8]) -> Result<(), UsageError> {
        self.answer_challenge(&SaslResponse::Data(Secret::new(data.to_vec())))
    }

    /// Cancels the AUTH exchange (`*`) at an [`Event::AuthChallenge`]; the server answers `-ERR`.
    pub fn auth_cancel(&mut self) -> Result<(), UsageError> {
        self.answer_challenge(&SaslResponse::Cancel)
    }

    fn answer_challenge(&mut self, answer: &SaslResponse) -> Result<(), UsageError> {
        if self.closed {
            return Err(UsageError::Closed);
        }
        if !self.auth_waiting {
            return Err(UsageError::NotPending {
                expected: "SASL challenge",
            });
        }
        self.auth_waiting = false;
        answer.encode(&mut self.out);
        self.rearm = true;
        Ok(())
    }

    /// Queues STAT.
    pub fn stat(&mut self) -> Result<(), UsageError> {
        self.send(Command::Stat)
    }

    /// Queues LIST.
    pub fn list(&mut self, message: Option<MessageNumber>) -> Result<(), UsageError> {
        self.send(Command::List(message))
    }

    /// Queues UIDL.
    pub fn uidl(&mut self, message: Option<MessageNumber>) -> Result<(), UsageError> {
        self.send(Command::Uidl(message))
    }

    /// Queues RETR.
    pub fn retr(&mut self, message: MessageNumber) -> Result<(), UsageError> {
        self.send(Command::Retr(message))
    }

    /// Queues TOP.
    pub fn top(&mut self, message: MessageNumber, lines: u32) -> Result<(), UsageError> {
        self.send(Command::Top { message, lines })
    }

    /// Queues DELE.
    pub fn dele(&mut self, message: MessageNumber) -> Result<(), UsageError> {
        self.send(Command::Dele(message))
    }

    /// Queues NOOP.
    pub fn noop(&mut self) -> Result<(), UsageError> {
        self.send(Command::Noop)
    }

    /// Queues RSET.
    pub fn rset(&mut self) -> Result<(), UsageError> {
        self.send(Command::Rset)
    }

    /// Queues QUIT.
    pub fn quit(&mut self) -> Result<(), UsageError> {
        self.send(Command::Quit)
    }

    /// After [`Event::StartTls`] and a successful handshake: the server's capabilities are
    /// forgotten (RFC 2595 §4: "the client MUST discard cached information about server
    /// capabilities"); issue CAPA again.
    pub fn handle_tls_established(&mut self) -> Result<(), UsageError> {
        if self.closed {
            return Err(UsageError::Closed);
        }
        if !self.tls_pending {
            return Err(UsageError::NotPending {
                expected: "TLS handshake",
            });
        }
        self.tls_pending = false;
        self.capabilities.clear();
        self.pipelining = false;
        self.input.clear();
        self.flush();
        self.rearm = true;
        Ok(())
    }

    /// The application is going down: commands not yet sent are dropped, a pending SASL
    /// challenge is cancelled, and QUIT goes out once the greeting is in and the commands in
    /// flight are answered (QUIT in the TRANSACTION state commits the DELEs the server has
    /// acknowledged, RFC 1939 §6). The session closes at the answer.
    pub fn handle_shutdown(&mut self) {
        if self.closed || self.shutting_down {
            return;
        }
        if self.auth_waiting {
            let _ = self.auth_cancel();
        }
        self.queue.clear();
        if !self.in_flight.iter().any(|c| matches!(c, Command::Quit)) {
            self.queue.push_back(Command::Quit);
        }
        self.shutting_down = true;
        self.flush();
    }

    /// Whether an answer from the server is due: the response timer runs.
    fn awaits_server(&self) -> bool {
        !self.closed
            && !self.tls_pending
            && !self.auth_waiting
            && (self.greeting.is_none() || !self.in_flight.is_empty())
    }

    /// Takes the instant the driver passed; restarts the response timer if a command went out.
    fn see(&mut self, now: Instant) {
        let now = self.now.map_or(now, |t| t.max(now));
        self.now = Some(now);
        if self.rearm {
            self.rearm = false;
            self.response_timer.arm(now, self.config.response_timeout);
        }
    }

    /// Takes octets received from the server at `now`.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        self.see(now);
        if !self.closed && !self.tls_pending {
            if !bytes.is_empty() {
                self.response_timer.arm(now, self.config.response_timeout);
            }
            self.input.extend_from_slice(bytes);
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next: the response deadline
    /// while an answer is due, or the last instant seen when a command has just gone out.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.awaits_server() {
            return None;
        }
        if self.rearm {
            return self.now;
        }
        self.response_timer.deadline()
    }

    /// Tells the session that time has reached `now`: when an answer is overdue it reports
    /// [`Event::TimedOut`] and closes.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.see(now);
        if self.awaits_server() && self.response_timer.expired(now) {
            self.events.push_back(Event::TimedOut);
            self.close();
        }
    }

    /// The next event; `None` when more input is needed.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.events.pop_front() {
                return Some(e);
            }
            if self.closed || self.tls_pending || self.auth_waiting || !self.step() {
                return self.events.pop_front();
            }
        }
    }

    /// Octets to send to the server, if any.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.out.is_empty() {
            None
        } else {
            Some(self.out.split().freeze())
        }
    }

    fn is_barrier(c: &Command) -> bool {
        matches!(c, Command::Stls | Command::Auth { .. } | Command::Quit)
    }

    fn flush(&mut self) {
        if self.greeting.is_none() || self.tls_pending || self.closed {
            return;
        }
        while let Some(next) = self.queue.front() {
            if let Some(last) = self.in_flight.back()
                && (!self.pipelining || Self::is_barrier(next) || Self::is_barrier(last))
            {
                break;
            }
            let Some(cmd) = self.queue.pop_front() else {
                break;
            };
            cmd.encode(&mut self.out);
            self.in_flight.push_back(cmd);
            self.rearm = true;
        }
    }

    fn fail(&mut self, reason: String) {
        self.events.push_back(Event::ProtocolError(reason));
        self.close();
    }

    fn close(&mut self) {
        self.closed = true;
        self.queue.clear();
        self.in_flight.clear();
        self.input.clear();
        self.events.push_back(Event::Closed);
    }

    fn consume(&mut self, used: usize) {
        let _ = self.input.split_to(used);
    }

    /// Handles what the buffered input allows; false when more input is needed.
    fn step(&mut self) -> bool {
        let max = self.config.max_response_line;
        if let Reading::Body(message, unstuffer) = &mut self.reading {
            if self.input.is_empty() {
                return false;
            }
            let mut data = BytesMut::new();
            let used = unstuffer.decode(&self.input, &mut data);
            let done = unstuffer.is_done();
            let message = *message;
            self.consume(used);
            if !data.is_empty() {
                self.events.push_back(Event::MessageData(data.freeze()));
            }
            if done {
                self.events.push_back(Event::MessageEnd { message });
                self.finish_command();
            }
            return true;
        }
        if matches!(
            self.reading,
            Reading::Capa(_) | Reading::ScanList(_) | Reading::UidList(_)
        ) {
            let line = match parse::multiline_line(&self.input, max) {
                Ok((rest, l)) => {
                    let used = self.input.len() - rest.len();
                    (used, l.into_owned_line())
                }
                Err(DecodeError::Incomplete) => return false,
                Err(e) => {
                    self.fail(format!("listing: {e}"));
                    return true;
                }
            };
            self.consume(line.0);
            self.listing_line(line.1);
            return true;
        }
        let auth = matches!(self.in_flight.front(), Some(Command::Auth { .. }));
        let parsed = if auth {
            parse::auth_reply(&self.input, max).map(|(rest, r)| (rest.len(), r))
        } else {
            parse::response(&self.input, max).map(|(rest, r)| (rest.len(), AuthReply::Done(r)))
        };
        match parsed {
            Ok((rest, reply)) => {
                let used = self.input.len() - rest;
                self.consume(used);
                match reply {
                    AuthReply::Continue(data) => {
                        self.auth_waiting = true;
                        self.events.push_back(Event::AuthChallenge(data));
                    }
                    AuthReply::Done(r) => self.status(r),
                }
                true
            }
            Err(DecodeError::Incomplete) => false,
            Err(e) => {
                self.fail(format!("status line: {e}"));
                true
            }
        }
    }

    fn listing_line(&mut self, line: Option<Vec<u8>>) {
        let limits = self.config.clone();
        let reading = std::mem::replace(&mut self.reading, Reading::Status);
        let next = match (reading, line) {
            (Reading::Capa(caps), None) => {
                self.pipelining = caps.contains(&Capability::Pipelining);
                self.capabilities.clone_from(&caps);
                self.events.push_back(Event::Capabilities(caps));
                self.finish_command();
                return;
            }
            (Reading::ScanList(v), None) => {
                self.events.push_back(Event::List(v));
                self.finish_command();
                return;
            }
            (Reading::UidList(v), None) => {
                self.events.push_back(Event::Uidl(v));
                self.finish_command();
                return;
            }
            (Reading::Capa(mut caps), Some(l)) => {
                let mut framed = l;
                framed.extend_from_slice(b"\r\n");
                match parse::capability(&framed, usize::MAX) {
                    Ok((_, Some(c))) if caps.len() < limits.max_capabilities => {
                        caps.push(c);
                        Reading::Capa(caps)
                    }
                    // Unknown junk in CAPA is skipped rather than fatal.
                    Ok(_) | Err(_) => Reading::Capa(caps),
                }
            }
            (Reading::ScanList(mut v), Some(l)) => match parse::scan_listing_line(&l) {
                Some(s) if v.len() < limits.max_listing_entries => {
                    v.push(s);
                    Reading::ScanList(v)
                }
                _ => return self.fail("bad or too many scan listings".to_owned()),
            },
            (Reading::UidList(mut v), Some(l)) => match parse::uid_listing_line(&l) {
                Some(u) if v.len() < limits.max_listing_entries => {
                    v.push(u);
                    Reading::UidList(v)
                }
                _ => return self.fail("bad or too many unique-id listings".to_owned()),
            },
            (other, _) => other,
        };
        self.reading = next;
    }

    fn finish_command(&mut self) {
        self.reading = Reading::Status;
        self.in_flight.pop_front();
        self.flush();
    }

    fn status(&mut self, r: Response) {
        if matches!(self.reading, Reading::Greeting) {
            self.reading = Reading::Status;
            let ok = r.is_ok();
            self.greeting = Some(r.clone());
            self.events.push_back(Event::Greeting(r));
            if ok {
                self.flush();
            } else {
                self.close();
            }
            return;
        }
        let Some(cmd) = self.in_flight.front().cloned() else {
            if r.is_ok() {
                return self.fail("response without a command".to_owned());
            }
            // An -ERR nothing asked for: the server is ending the session (autologout, shutdown).
            self.events.push_back(Event::Disconnected(r));
            return self.close();
        };
        let kind = cmd.kind();
        if !r.is_ok() {
            self.events.push_back(Event::Error {
                command: kind,
                response: r,
            });
            // Without pipelining a refused USER makes the queued PASS pointless.
            if kind == CommandKind::User && matches!(self.queue.front(), Some(Command::Pass(_))) {
                self.queue.pop_front();
            }
            if kind == CommandKind::Quit {
                self.in_flight.clear();
                self.close();
                return;
            }
            return self.finish_command();
        }
        match cmd {
            Command::Capa => {
                self.reading = Reading::Capa(Vec::new());
                return;
            }
            Command::List(None) => {
                self.reading = Reading::ScanList(Vec::new());
                return;
            }
            Command::Uidl(None) => {
                self.reading = Reading::UidList(Vec::new());
                return;
            }
            Command::Retr(n) | Command::Top { message: n, .. } => {
                self.events.push_back(Event::MessageStart { message: n });
                self.reading = Reading::Body(n, DotUnstuffer::new());
                return;
            }
            Command::Stls => {
                self.in_flight.pop_front();
                self.tls_pending = true;
                // Nothing the server sent in plaintext after +OK may be trusted.
                self.input.clear();
                self.events.push_back(Event::StartTls);
                return;
            }
            Command::Quit => {
                self.in_flight.clear();
                self.events.push_back(Event::Done {
                    command: kind,
                    response: r,
                });
                self.close();
                return;
            }
            Command::Pass(_) | Command::Apop { .. } | Command::Auth { .. } => {
                self.events.push_back(Event::LoggedIn(r));
            }
            Command::Stat => match r.stat() {
                Some(s) => self.events.push_back(Event::Stat(s)),
                None => return self.fail("bad STAT answer".to_owned()),
            },
            Command::List(Some(_)) => match r.scan_listing() {
                Some(s) => self.events.push_back(Event::ListOne(s)),
                None => return self.fail("bad LIST answer".to_owned()),
            },
            Command::Uidl(Some(_)) => match r.uid_listing() {
                Some(u) => self.events.push_back(Event::UidlOne(u)),
                None => return self.fail("bad UIDL answer".to_owned()),
            },
            _ => self.events.push_back(Event::Done {
                command: kind,
                response: r,
            }),
        }
        self.finish_command();
    }
}

trait IntoOwnedLine {
    fn into_owned_line(self) -> Option<Vec<u8>>;
}

impl IntoOwnedLine for MultiLine<'_> {
    fn into_owned_line(self) -> Option<Vec<u8>> {
        match self {
            MultiLine::Line(l) => Some(l.to_vec()),
            MultiLine::End => None,
        }
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

/// UIDL-based sync (RFC 1939 §7): the messages of a UIDL listing whose unique-id is not in
/// `seen`, in message order.
pub fn unseen<'a, S: std::hash::BuildHasher>(
    listing: &'a [UidListing],
    seen: &'a std::collections::HashSet<Uid, S>,
) -> impl Iterator<Item = &'a UidListing> + 'a {
    listing.iter().filter(move |u| !seen.contains(&u.uid))
}

#[cfg(test)]
mod tests;
