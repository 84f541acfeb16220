//! The server side of a session (Sans-IO): bytes and time in, events and bytes out.
//!
//! [`ServerSession`] frames commands ([`crate::framer`]), parses them, and enforces the session
//! state (RFC 3501 §3): a command in the wrong state, a malformed one, or one over a limit is
//! answered (`tag BAD` / `NO [TOOBIG]`) by the session itself and never reaches the application.
//! It answers `+` to accepted synchronizing literals, streams APPEND messages out in chunks, runs
//! LOGIN and AUTHENTICATE PLAIN itself (one [`Event::Login`] with the credentials), reads IDLE's
//! `DONE`, discards plaintext buffered before a STARTTLS handshake (RFC 3501 §6.2.1), counts
//! invalid commands, and owns the timers: autologout (RFC 3501 §5.4), the pre-login timeout and
//! the per-command deadline ([`ServerConfig`]).
//!
//! Commands are handled one at a time. An event with a handle stops the session until the
//! application answers with the decision the event names; the decision consumes the handle, and
//! state changes are decisions of their own: [`ServerSession::accept_login`] enters the
//! authenticated state, [`ServerSession::accept_select`] the selected one,
//! [`ServerSession::accept_close`] leaves it, [`ServerSession::accept_logout`] ends the session.
//! Untagged data goes out with [`ServerSession::send`] at any time but inside an AUTHENTICATE
//! exchange.
//!
//! Call order ([`Machine`]): `new(config)` queues the greeting; [`Machine::handle_input`] with
//! bytes read from the client; [`Machine::poll_event`] until `None`, deciding on what needs a
//! decision; [`Machine::poll_transmit`] until `None`, written in order; then wait for input or
//! [`Machine::poll_timeout`], whichever is first, and call [`Machine::handle_timeout`] at the
//! deadline. The timers start at the first instant the session sees, so call
//! `handle_timeout(now)` once when the connection is accepted: a client that never sends
//! anything is then logged out too. Stop when [`Machine::is_closed`], after the last transmit.
//!
//! ```
//! use std::time::Instant;
//! use mailwright_imap_proto::server::{Condition, Event, ServerConfig, ServerSession};
//! use mailwright_imap_proto::Machine;
//!
//! let mut server = ServerSession::new(ServerConfig::default());
//! let now = Instant::now();
//! server.handle_input(now, b"a1 LOGIN alice s3cret\r\na2 NOOP\r\n");
//! let Some(Event::Login { handle, username, password, .. }) = server.poll_event() else { panic!() };
//! assert_eq!((username.as_str(), password.expose().as_str()), ("alice", "s3cret"));
//! assert_eq!(server.poll_event(), None, "NOOP waits for the LOGIN decision");
//! server.accept_login(handle, None).unwrap();
//! let Some(Event::Command { handle, .. }) = server.poll_event() else { panic!() };
//! server.complete(handle, Condition::Ok, None, "NOOP completed.").unwrap();
//! let mut wire = Vec::new();
//! while let Some(b) = server.poll_transmit() {
//!     wire.extend_from_slice(&b);
//! }
//! assert_eq!(wire, b"* OK IMAP4rev1 server ready.\r\na1 OK Logged in\r\na2 OK NOOP completed.\r\n");
//! ```

mod config;
mod decide;
mod event;
mod sasl;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use mailwright_sansio::{Machine, Secret, Timer};

pub use crate::state::SessionState;
pub use config::{Greeting, ServerConfig};
pub use event::{
    CloseHandle, CloseReason, CommandHandle, CompressHandle, Condition, Event, IdleHandle,
    LoginHandle, LogoutHandle, PendingCommand, Refusal, RejectReason, SelectHandle, StartTlsHandle,
    Untagged,
};

use crate::encode::{Encode, Encoder};
use crate::framer::{FrameError, Framer, FramerEvent, FramerSide};
use crate::parse::DecodeError;
use crate::types::command::{Command, CommandBody, CommandClass};
use crate::types::core::{IntoStatic, LiteralMode, Tag};
use crate::types::response::{Code, Continue, Response, StatusKind, StatusResponse};

/// Output queued beyond this many octets makes [`Machine::wants_input`] false.
const OUTPUT_HIGH_WATER: usize = 4 * 1024 * 1024;

/// Dovecot 2.3's goodbyes, so that clients see the texts they know.
const BYE_INACTIVITY: &str = "Disconnected for inactivity.";
const BYE_INACTIVITY_AUTH: &str = "Disconnected for inactivity during authentication.";
const BYE_BAD_COMMANDS: &str = "Too many invalid IMAP commands.";
const BYE_SHUTDOWN: &str = "Server shutting down.";

/// What the session waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Busy {
    /// The next command.
    Ready,
    /// A decision of the application on the command `tag`.
    Deciding {
        id: u64,
        tag: Tag<'static>,
        kind: Kind,
    },
    /// AUTHENTICATE: the next line is the client's SASL response. `app` is the handle id of a
    /// mechanism the application runs, `None` for PLAIN run here.
    Sasl { tag: Tag<'static>, app: Option<u64> },
    /// IDLE was accepted; the next line must be DONE.
    Idling { tag: Tag<'static> },
    /// An APPEND message streams (its chunks, then the CRLF that ends the command).
    Append { tag: Tag<'static> },
    /// STARTTLS was accepted: nothing is read until the handshake is done.
    Tls,
}

/// Which decision a pending command takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Command,
    /// LOGIN or PLAIN (`sasl` false), or a mechanism the application runs.
    Login {
        sasl: bool,
    },
    Select,
    Close,
    Logout,
    Idle,
    StartTls,
    Compress,
}

/// The server side of one IMAP connection; see the module docs.
#[derive(Debug)]
pub struct ServerSession {
    config: ServerConfig,
    framer: Framer,
    state: SessionState,
    busy: Busy,
    out: BytesMut,
    events: VecDeque<Event>,
    bad_commands: usize,
    shutdown_requested: bool,
    /// The last instant seen (`handle_input`, `handle_timeout`).
    now: Option<Instant>,
    /// A decision ended: the waiting timers restart at the next instant seen.
    rearm: bool,
    login_timer: Timer,
    idle_timer: Timer,
    command_timer: Timer,
}

impl ServerSession {
    /// A session that has queued its greeting ([`ServerConfig::greeting`]): `* OK`, or
    /// `* PREAUTH` which starts in the authenticated state.
    pub fn new(config: ServerConfig) -> Self {
        let greeting = &config.greeting;
        let preauth = greeting.preauth;
        let response = Response::Status(StatusResponse {
            tag: None,
            kind: if preauth {
                StatusKind::PreAuth
            } else {
                StatusKind::Ok
            },
            code: greeting.capabilities.clone().map(Code::Capability),
            text: event::clean_text(&greeting.text),
        });
        let mut session = Self::bare(config);
        session.write(&response);
        if preauth {
            session.state = SessionState::Authenticated;
        }
        session
    }

    /// A session that refuses the connection (a connection limit): it has queued
    /// `* BYE [UNAVAILABLE] text` (RFC 5530) and is closed.
    ///
    /// ```
    /// use mailwright_imap_proto::server::{ServerConfig, ServerSession};
    /// use mailwright_imap_proto::Machine;
    /// let mut s = ServerSession::refused(ServerConfig::default(), "Too many connections.");
    /// assert!(s.is_closed());
    /// assert_eq!(&s.poll_transmit().unwrap()[..], b"* BYE [UNAVAILABLE] Too many connections.\r\n");
    /// ```
    pub fn refused(config: ServerConfig, text: &str) -> Self {
        let mut session = Self::bare(config);
        session.goodbye(
            Some(Code::Other("UNAVAILABLE".try_into().expect("atom"), None)),
            text,
        );
        session
    }

    fn bare(config: ServerConfig) -> Self {
        let framer = Framer::new(FramerSide::Commands, config.framer.clone());
        Self {
            config,
            framer,
            state: SessionState::NotAuthenticated,
            busy: Busy::Ready,
            out: BytesMut::new(),
            events: VecDeque::new(),
            bad_commands: 0,
            shutdown_requested: false,
            now: None,
            rearm: false,
            login_timer: Timer::default(),
            idle_timer: Timer::default(),
            command_timer: Timer::default(),
        }
    }

    /// The session state.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// The configuration in force.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The server is going down: the session says `* BYE Server shutting down.` (Dovecot's text)
    /// and closes, at once or, while the application decides on a command, right after that
    /// decision. [`Event::Closed`] reports it.
    pub fn handle_shutdown(&mut self) {
        if self.is_closed() {
            return;
        }
        if matches!(self.busy, Busy::Deciding { .. }) {
            self.shutdown_requested = true;
        } else {
            self.close_with(CloseReason::Shutdown);
        }
    }

    /// Serialises a response into the output.
    fn write(&mut self, response: &Response<'_>) {
        let mut e = Encoder::with_buffer(std::mem::take(&mut self.out));
        response.encode(&mut e);
        self.out = e.into_parts().0;
    }

    /// `tag kind [code] text`, or `* kind ...` without a tag.
    fn answer(
        &mut self,
        tag: Option<Tag<'static>>,
        kind: StatusKind,
        code: Option<Code<'_>>,
        text: &str,
    ) {
        self.write(&Response::Status(StatusResponse {
            tag,
            kind,
            code,
            text: event::clean_text(text),
        }));
    }

    fn continuation(&mut self, text: Continue<'_>) {
        self.write(&Response::Continue(text));
    }

    /// `* BYE [code] text`; the session is closed.
    fn goodbye(&mut self, code: Option<Code<'_>>, text: &str) {
        self.answer(None, StatusKind::Bye, code, text);
        self.state = SessionState::Logout;
        self.login_timer.disarm();
        self.idle_timer.disarm();
        self.command_timer.disarm();
        self.rearm = false;
    }

    /// Closes with the goodbye of `reason` and reports it.
    fn close_with(&mut self, reason: CloseReason) {
        let text = match reason {
            CloseReason::TooManyBadCommands => BYE_BAD_COMMANDS,
            CloseReason::Shutdown => BYE_SHUTDOWN,
            CloseReason::LoginTimeout | CloseReason::Autologout | CloseReason::CommandTimeout
                if self.in_authentication() =>
            {
                BYE_INACTIVITY_AUTH
            }
            _ => BYE_INACTIVITY,
        };
        self.goodbye(None, text);
        self.events.push_back(Event::Closed { reason });
    }

    fn in_authentication(&self) -> bool {
        matches!(
            self.busy,
            Busy::Sasl { .. }
                | Busy::Deciding {
                    kind: Kind::Login { .. },
                    ..
                }
        )
    }

    /// Starts waiting for a decision on `tag`: the client's timers stop meanwhile.
    fn decide(&mut self, id: u64, tag: Tag<'static>, kind: Kind) {
        self.busy = Busy::Deciding { id, tag, kind };
        self.idle_timer.disarm();
        self.command_timer.disarm();
    }

    /// A refusal by the session itself: `BAD` (or `NO [TOOBIG]`), counted; the one that reaches
    /// the limit is a `BYE` instead.
    fn refuse(&mut self, tag: Option<Tag<'static>>, reason: RejectReason) {
        let counted = reason.counts();
        let (kind, code, text) = match &reason {
            RejectReason::Limit(FrameError::LiteralTooLarge { append: true, .. }) => (
                StatusKind::No,
                Some(Code::TooBig),
                "Message too large".to_owned(),
            ),
            RejectReason::Limit(e) => (StatusKind::Bad, None, format!("{e}")),
            RejectReason::Syntax(DecodeError::Malformed {
                kind: crate::parse::MalformedKind::UnknownCommand,
                ..
            }) => (StatusKind::Bad, None, "Unknown command".to_owned()),
            RejectReason::Syntax(_) => (StatusKind::Bad, None, "Syntax error".to_owned()),
            RejectReason::WrongState { command, state } => {
                (StatusKind::Bad, None, wrong_state_text(command, *state))
            }
            RejectReason::ExpectedDone => (StatusKind::Bad, None, "Expected DONE.".to_owned()),
            RejectReason::AuthenticateCancelled => (
                StatusKind::Bad,
                None,
                "Authentication aborted by client.".to_owned(),
            ),
            RejectReason::MalformedCredentials { why } => {
                (StatusKind::Bad, None, format!("{why}."))
            }
            RejectReason::UnusableCredentials { .. } => (
                StatusKind::No,
                Some(authentication_failed()),
                "Authentication failed.".to_owned(),
            ),
            RejectReason::UnsupportedMechanism(_) => (
                StatusKind::No,
                None,
                "Unsupported authentication mechanism.".to_owned(),
            ),
        };
        self.events.push_back(Event::Rejected {
            tag: tag.clone(),
            reason,
        });
        if counted && self.count_bad() {
            return;
        }
        self.answer(tag, kind, code, &text);
    }

    /// Counts an invalid command or a refused login; at the limit, closes and returns true.
    fn count_bad(&mut self) -> bool {
        self.bad_commands += 1;
        let limit = self.config.max_bad_commands;
        if limit > 0 && self.bad_commands >= limit {
            self.close_with(CloseReason::TooManyBadCommands);
            return true;
        }
        false
    }

    fn allowed(&self, class: CommandClass) -> bool {
        if !self.config.enforce_state {
            return true;
        }
        matches!(
            (self.state, class),
            (_, CommandClass::Any)
                | (
                    SessionState::NotAuthenticated,
                    CommandClass::NotAuthenticated
                )
                | (
                    SessionState::Authenticated | SessionState::Selected,
                    CommandClass::Authenticated
                )
                | (SessionState::Selected, CommandClass::Selected)
        ) && self.state != SessionState::Logout
    }

    /// The command deadline after the framer reported something (`progressed`) or nothing:
    /// off when nothing of a command is buffered; armed again after progress (a line or a
    /// literal header read, literal octets streamed) while something is.
    fn after_progress(&mut self, progressed: bool) {
        if self.framer.at_frame_start() || matches!(self.busy, Busy::Deciding { .. } | Busy::Tls) {
            self.command_timer.disarm();
        } else if progressed && let Some(now) = self.now {
            self.command_timer.arm(now, self.config.command_timeout);
        }
    }

    /// Notes `now`; starts the login timer at the first instant; restarts the waiting timers
    /// after a decision.
    fn touch(&mut self, now: Instant) {
        let first = self.now.is_none();
        self.now = Some(now);
        if self.is_closed() {
            return;
        }
        if first {
            if self.state == SessionState::NotAuthenticated {
                self.login_timer.arm(now, self.config.login_timeout);
            }
            self.rearm = true;
        }
        if self.rearm && !matches!(self.busy, Busy::Deciding { .. }) {
            self.rearm = false;
            self.idle_timer.arm(now, self.config.autologout);
            if self.framer.at_frame_start() || self.busy == Busy::Tls {
                self.command_timer.disarm();
            } else {
                self.command_timer.arm(now, self.config.command_timeout);
            }
        }
    }

    fn on_frame(&mut self, ev: FramerEvent) {
        match (self.busy.clone(), ev) {
            (Busy::Sasl { tag, app }, FramerEvent::Frame(frame)) => {
                self.on_sasl_line(tag, app, &frame);
            }
            (Busy::Sasl { tag, .. }, ev) => {
                self.drop_literal(&ev);
                self.busy = Busy::Ready;
                let why = if matches!(ev, FramerEvent::Refused { .. }) {
                    "Authentication response too long"
                } else {
                    "Literal in an authentication response"
                };
                self.refuse(Some(tag), RejectReason::MalformedCredentials { why });
            }
            (Busy::Idling { tag }, FramerEvent::Frame(frame))
                if frame.eq_ignore_ascii_case(b"DONE\r\n") =>
            {
                let handle = CommandHandle::new(tag.clone());
                self.decide(handle.id, tag, Kind::Command);
                self.events.push_back(Event::IdleDone { handle });
            }
            (Busy::Idling { tag }, ev) => {
                self.drop_literal(&ev);
                self.busy = Busy::Ready;
                self.refuse(Some(tag), RejectReason::ExpectedDone);
            }
            (Busy::Append { .. }, FramerEvent::LiteralChunk { data, remaining }) => {
                self.events
                    .push_back(Event::AppendChunk { data, remaining });
            }
            (
                Busy::Append { tag },
                FramerEvent::LiteralStart {
                    prefix,
                    length,
                    mode,
                },
            ) => self.on_append_next(tag, &prefix, length, mode),
            (Busy::Append { tag }, FramerEvent::Frame(frame)) if &frame[..] == b"\r\n" => {
                let handle = CommandHandle::new(tag.clone());
                self.decide(handle.id, tag, Kind::Command);
                self.events.push_back(Event::AppendEnd { handle });
            }
            (Busy::Append { tag }, FramerEvent::Refused { error, .. }) => {
                // A MULTIAPPEND message over a limit: none of the messages is kept (RFC 3502 §6.3.11).
                self.busy = Busy::Ready;
                self.events
                    .push_back(Event::AppendAborted { tag: tag.clone() });
                self.refuse(Some(tag), RejectReason::Limit(error));
            }
            (Busy::Append { tag }, ev) => {
                self.drop_literal(&ev);
                self.busy = Busy::Ready;
                self.events
                    .push_back(Event::AppendAborted { tag: tag.clone() });
                let excerpt = match &ev {
                    FramerEvent::Frame(f) => mailwright_sansio::Excerpt::new(f),
                    _ => mailwright_sansio::Excerpt::default(),
                };
                self.refuse(
                    Some(tag),
                    RejectReason::Syntax(DecodeError::malformed(
                        crate::parse::MalformedKind::Syntax,
                        0,
                        excerpt,
                    )),
                );
            }
            (_, FramerEvent::Frame(frame)) => self.on_command(&frame),
            (_, FramerEvent::ContinuationNeeded { tag, .. }) => self.on_sync_literal(tag),
            (_, FramerEvent::Refused { tag, error, .. }) => {
                self.refuse(tag, RejectReason::Limit(error));
            }
            (
                _,
                FramerEvent::LiteralStart {
                    prefix,
                    length,
                    mode,
                },
            ) => self.on_append_start(&prefix, length, mode),
            // Chunks of an APPEND that was refused or aborted are dropped by the framer.
            (_, FramerEvent::LiteralChunk { .. }) => {}
        }
    }

    /// Refuses the literal a framer event announced (outside a command that may have one).
    fn drop_literal(&mut self, ev: &FramerEvent) {
        if matches!(
            ev,
            FramerEvent::ContinuationNeeded { .. } | FramerEvent::LiteralStart { .. }
        ) {
            self.framer.reject_literal();
        }
    }

    /// A synchronizing literal was announced: `+`, unless the command so far is already wrong
    /// (RFC 3501 §7.5: refuse before the client sends the octets).
    fn on_sync_literal(&mut self, tag: Option<Tag<'static>>) {
        let pending = self.framer.pending_frame();
        let verdict = match Command::decode(pending) {
            Err(e @ DecodeError::Malformed { .. }) => Some(RejectReason::Syntax(e)),
            _ => match command_class(pending) {
                Some((command, class)) if !self.allowed(class) => Some(RejectReason::WrongState {
                    command,
                    state: self.state,
                }),
                _ => None,
            },
        };
        match verdict {
            Some(r) => {
                self.framer.reject_literal();
                self.refuse(tag, r);
            }
            None => {
                let text = event::clean_text(&self.config.literal_continuation_text);
                self.continuation(Continue { code: None, text });
            }
        }
    }

    fn on_append_start(&mut self, prefix: &[u8], length: u32, mode: LiteralMode) {
        let parsed = crate::parse::command::append_prefix(prefix)
            .ok()
            .filter(|(rest, _)| rest.is_empty());
        let Some((_, (tag, (mailbox, flags, date)))) = parsed else {
            self.framer.reject_literal();
            let tag = crate::parse::core::tag_(prefix)
                .ok()
                .map(|(_, t)| t.into_static());
            let excerpt = mailwright_sansio::Excerpt::new(prefix);
            self.refuse(
                tag,
                RejectReason::Syntax(DecodeError::malformed(
                    crate::parse::MalformedKind::Syntax,
                    prefix.len(),
                    excerpt,
                )),
            );
            return;
        };
        let tag = tag.into_static();
        if !self.allowed(CommandClass::Authenticated) {
            self.framer.reject_literal();
            let state = self.state;
            self.refuse(
                Some(tag),
                RejectReason::WrongState {
                    command: "APPEND",
                    state,
                },
            );
            return;
        }
        if mode == LiteralMode::Sync {
            let text = event::clean_text(&self.config.literal_continuation_text);
            self.continuation(Continue { code: None, text });
        }
        self.busy = Busy::Append { tag: tag.clone() };
        self.events.push_back(Event::AppendStart {
            tag,
            mailbox: mailbox.into_static(),
            flags: flags.into_static(),
            date,
            length,
        });
    }

    /// The next message of a MULTIAPPEND (RFC 3502) is announced by `prefix` (` [flags] [date] `).
    fn on_append_next(&mut self, tag: Tag<'static>, prefix: &[u8], length: u32, mode: LiteralMode) {
        let Some((_, (flags, date))) = crate::parse::command::append_opts(prefix)
            .ok()
            .filter(|(rest, _)| rest.is_empty())
        else {
            self.framer.reject_literal();
            self.busy = Busy::Ready;
            self.events
                .push_back(Event::AppendAborted { tag: tag.clone() });
            let excerpt = mailwright_sansio::Excerpt::new(prefix);
            self.refuse(
                Some(tag),
                RejectReason::Syntax(DecodeError::malformed(
                    crate::parse::MalformedKind::Syntax,
                    prefix.len(),
                    excerpt,
                )),
            );
            return;
        };
        if mode == LiteralMode::Sync {
            let text = event::clean_text(&self.config.literal_continuation_text);
            self.continuation(Continue { code: None, text });
        }
        self.events.push_back(Event::AppendNext {
            flags: flags.into_static(),
            date,
            length,
        });
        self.busy = Busy::Append { tag };
    }

    fn on_command(&mut self, frame: &[u8]) {
        let command = match Command::decode(frame) {
            Ok((_, c)) => c.into_static(),
            Err(e) => {
                let tag = crate::parse::core::tag_(frame)
                    .ok()
                    .filter(|(r, _)| r.first() == Some(&b' '))
                    .map(|(_, t)| t.into_static());
                // RFC 3501 §6.3.1: a SELECT that fails, however it fails, leaves no mailbox
                // selected.
                let deselect = tag.is_some()
                    && self.state == SessionState::Selected
                    && matches!(
                        command_class(frame.strip_suffix(b"\r\n").unwrap_or(frame)),
                        Some(("SELECT" | "EXAMINE", _))
                    );
                if deselect {
                    self.state = SessionState::Authenticated;
                    if self.config.announce_closed {
                        self.answer(
                            None,
                            StatusKind::Ok,
                            Some(Code::Closed),
                            "Previous mailbox closed",
                        );
                    }
                }
                self.refuse(tag, RejectReason::Syntax(e));
                if deselect && self.state == SessionState::Authenticated {
                    self.events.push_back(Event::Deselected);
                }
                return;
            }
        };
        if !self.allowed(command.body.class()) {
            let state = self.state;
            self.refuse(
                Some(command.tag),
                RejectReason::WrongState {
                    command: command.body.name(),
                    state,
                },
            );
            return;
        }
        let tag = command.tag;
        match command.body {
            CommandBody::Login { username, password } => {
                let (Ok(username), Ok(password)) = (
                    String::from_utf8(username.as_bytes().to_vec()),
                    String::from_utf8(password.expose().as_bytes().to_vec()),
                ) else {
                    self.refuse(
                        Some(tag),
                        RejectReason::UnusableCredentials {
                            why: "LOGIN credentials are not UTF-8",
                        },
                    );
                    return;
                };
                self.login_event(tag, None, username, Secret::new(password));
            }
            CommandBody::Authenticate {
                mechanism,
                initial_response,
            } => self.on_authenticate(tag, mechanism, initial_response),
            CommandBody::Select {
                mailbox,
                condstore,
                qresync,
            } => {
                self.select_event(tag, mailbox, false, condstore, qresync);
            }
            CommandBody::Examine {
                mailbox,
                condstore,
                qresync,
            } => {
                self.select_event(tag, mailbox, true, condstore, qresync);
            }
            CommandBody::Close => self.close_event(tag, true),
            CommandBody::Unselect => self.close_event(tag, false),
            CommandBody::Logout => {
                let handle = LogoutHandle::new(tag.clone());
                self.decide(handle.id, tag, Kind::Logout);
                self.events.push_back(Event::Logout { handle });
            }
            CommandBody::Idle => {
                let handle = IdleHandle::new(tag.clone());
                self.decide(handle.id, tag, Kind::Idle);
                self.events.push_back(Event::Idle { handle });
            }
            CommandBody::StartTls => {
                let handle = StartTlsHandle::new(tag.clone());
                self.decide(handle.id, tag, Kind::StartTls);
                self.events.push_back(Event::StartTls { handle });
            }
            CommandBody::Compress { algorithm } => {
                let handle = CompressHandle::new(tag.clone());
                self.decide(handle.id, tag, Kind::Compress);
                self.events.push_back(Event::Compress { handle, algorithm });
            }
            command => {
                let handle = CommandHandle::new(tag.clone());
                self.decide(handle.id, tag, Kind::Command);
                self.events.push_back(Event::Command { handle, command });
            }
        }
    }

    fn select_event(
        &mut self,
        tag: Tag<'static>,
        mailbox: crate::types::mailbox::Mailbox<'static>,
        read_only: bool,
        condstore: bool,
        qresync: Option<crate::types::qresync::QresyncParams>,
    ) {
        let handle = SelectHandle::new(tag.clone());
        self.decide(handle.id, tag, Kind::Select);
        self.events.push_back(Event::Select {
            handle,
            mailbox,
            read_only,
            condstore,
            qresync,
        });
    }

    fn close_event(&mut self, tag: Tag<'static>, expunge: bool) {
        let handle = CloseHandle::new(tag.clone());
        self.decide(handle.id, tag, Kind::Close);
        self.events.push_back(Event::Close { handle, expunge });
    }
}

impl Machine for ServerSession {
    type Event = Event;

    /// Feeds bytes read from the client at `now`. Ignored once the session is closed, and
    /// between [`ServerSession::accept_starttls`] and [`ServerSession::handle_tls_established`]
    /// (plaintext that must not be acted on, RFC 3501 §6.2.1).
    fn handle_input(&mut self, now: Instant, data: &[u8]) {
        self.touch(now);
        if self.is_closed() || self.busy == Busy::Tls || data.is_empty() {
            return;
        }
        if !matches!(self.busy, Busy::Deciding { .. }) {
            self.idle_timer.arm(now, self.config.autologout);
            if self.framer.in_literal() {
                // Literal octets in progress count as progress.
                self.command_timer.arm(now, self.config.command_timeout);
            } else {
                self.command_timer
                    .arm_if_off(now, self.config.command_timeout);
            }
        }
        self.framer.handle_input(data);
    }

    fn poll_event(&mut self) -> Option<Event> {
        loop {
            if let Some(ev) = self.events.pop_front() {
                return Some(ev);
            }
            if self.is_closed() || matches!(self.busy, Busy::Deciding { .. } | Busy::Tls) {
                return None;
            }
            let Some(ev) = self.framer.poll_event() else {
                self.after_progress(false);
                return None;
            };
            self.on_frame(ev);
            self.after_progress(true);
        }
    }

    fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.out.is_empty() {
            None
        } else {
            Some(self.out.split().freeze())
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.is_closed() {
            return None;
        }
        if self.rearm && !matches!(self.busy, Busy::Deciding { .. }) {
            return self.now;
        }
        Timer::earliest([
            self.login_timer.deadline(),
            self.idle_timer.deadline(),
            self.command_timer.deadline(),
        ])
    }

    /// Fires the timers due at `now`: `* BYE Disconnected for inactivity.` (Dovecot's text;
    /// `... during authentication.` inside an AUTHENTICATE exchange) and the session closes.
    fn handle_timeout(&mut self, now: Instant) {
        self.touch(now);
        if self.is_closed() {
            return;
        }
        let reason = if self.login_timer.expired(now) {
            CloseReason::LoginTimeout
        } else if self.command_timer.expired(now) {
            CloseReason::CommandTimeout
        } else if self.idle_timer.expired(now) {
            CloseReason::Autologout
        } else {
            return;
        };
        self.close_with(reason);
    }

    fn wants_input(&self) -> bool {
        !self.is_closed()
            && self.busy != Busy::Tls
            && self.out.len() < OUTPUT_HIGH_WATER
            && (!matches!(self.busy, Busy::Deciding { .. })
                || self.framer.buffered() < self.config.framer.max_line)
    }

    fn is_closed(&self) -> bool {
        self.state == SessionState::Logout
    }
    fn handle_tls_established(&mut self) -> Result<(), mailwright_sansio::UsageError> {
        Self::handle_tls_established(self)
    }
    fn handle_shutdown(&mut self) {
        Self::handle_shutdown(self);
    }
}

/// `AUTHENTICATIONFAILED` (RFC 5530).
fn authentication_failed() -> Code<'static> {
    Code::Other("AUTHENTICATIONFAILED".try_into().expect("atom"), None)
}

/// The answer to a command in the wrong state.
fn wrong_state_text(command: &str, state: SessionState) -> String {
    match state {
        SessionState::NotAuthenticated => format!("{command} not allowed before authentication"),
        // Dovecot 2.3 answers a pre-login command after login as one it does not know.
        SessionState::Authenticated | SessionState::Selected
            if matches!(command, "LOGIN" | "AUTHENTICATE" | "STARTTLS") =>
        {
            format!("Error in IMAP command {command}: Unknown command.")
        }
        SessionState::Authenticated => "No mailbox selected.".to_owned(),
        SessionState::Selected => format!("{command} not allowed in the selected state"),
        SessionState::Logout => format!("{command} not allowed after logout"),
    }
}

/// The name and class of the command a frame starts, from its name alone (to refuse a literal of
/// a command that is not valid in the current state before the client sends it).
fn command_class(frame: &[u8]) -> Option<(&'static str, CommandClass)> {
    let mut words = frame.split(|&b| b == b' ').skip(1);
    let mut name = words.next()?;
    let uid = name.eq_ignore_ascii_case(b"UID");
    if uid {
        name = words.next()?;
    }
    const TABLE: &[(&str, CommandClass)] = &[
        ("LOGIN", CommandClass::NotAuthenticated),
        ("AUTHENTICATE", CommandClass::NotAuthenticated),
        ("SELECT", CommandClass::Authenticated),
        ("EXAMINE", CommandClass::Authenticated),
        ("CREATE", CommandClass::Authenticated),
        ("DELETE", CommandClass::Authenticated),
        ("RENAME", CommandClass::Authenticated),
        ("SUBSCRIBE", CommandClass::Authenticated),
        ("UNSUBSCRIBE", CommandClass::Authenticated),
        ("LIST", CommandClass::Authenticated),
        ("LSUB", CommandClass::Authenticated),
        ("STATUS", CommandClass::Authenticated),
        ("APPEND", CommandClass::Authenticated),
        ("SEARCH", CommandClass::Selected),
        ("FETCH", CommandClass::Selected),
        ("STORE", CommandClass::Selected),
        ("COPY", CommandClass::Selected),
        ("MOVE", CommandClass::Selected),
    ];
    TABLE
        .iter()
        .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
        .map(|&(n, c)| (n, c))
}
