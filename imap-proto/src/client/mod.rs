//! The client side of a session (Sans-IO), the mirror of [`crate::server`].
//!
//! [`ClientSession`] tags and serialises commands, holds back the octets of each synchronizing
//! literal until the server's `+` (RFC 3501 §7.5) and drops the rest of a command the server
//! refuses instead; it frames and parses responses and separates the greeting, untagged data,
//! AUTHENTICATE challenges and tagged completions.
//!
//! It tracks the server's capabilities: from the greeting's `[CAPABILITY ...]`, from
//! `* CAPABILITY` and from `[CAPABILITY ...]` in an OK; it forgets them after STARTTLS and after
//! a login (RFC 3501 §6.2.1 - §6.2.3) unless the server sent the new ones with the login's
//! response, until the server says them again. From them it refuses
//! LOGIN under `LOGINDISABLED`, and sends literals as LITERAL+ (`{n+}`, RFC 7888) or LITERAL-
//! (up to 4096 octets) only when advertised.
//!
//! IDLE (RFC 2177) runs through [`ClientSession::idle`]: the handle's
//! [`ClientSession::idle_done`] sends `DONE` only after the server's `+`. The session re-issues
//! IDLE before the server's 30-minute autologout: when [`ClientConfig::idle_reissue`] has passed
//! it sends `DONE` and, after the tagged OK, a new `IDLE`, reported as [`Event::IdleReissued`].
//!
//! Call order ([`Machine`]): [`Machine::handle_input`] with bytes read from the server;
//! [`Machine::poll_event`] until `None`; [`ClientSession::enqueue`] commands;
//! [`Machine::poll_transmit`] and write what it returns; wait for input or
//! [`Machine::poll_timeout`] and call [`Machine::handle_timeout`] at the deadline.

mod idle;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use mailwright_sansio::{Machine, Timer, UsageError};

pub use idle::IdleHandle;

use crate::encode::{Encode, Encoder};
use crate::framer::{FrameError, Framer, FramerConfig, FramerEvent, FramerSide};
use crate::parse::DecodeError;
use crate::state::SessionState;
use crate::types::command::{AuthData, Command, CommandBody};
use crate::types::core::{Atom, IntoStatic, Tag};
use crate::types::response::{Code, Continue, Data, Response, StatusKind, StatusResponse};

/// The configuration of a [`ClientSession`]. Every field has a documented default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Framing limits for responses (defaults in [`FramerConfig::responses`]: lines up to
    /// 64 KiB, literals up to 64 MiB, responses up to 128 MiB).
    pub framer: FramerConfig,
    /// Prefix of generated tags (`A0001`, `A0002` ...). Default `"A"`.
    pub tag_prefix: String,
    /// How long an IDLE runs before the session re-issues it: RFC 2177 §3 asks clients to end
    /// IDLE at least every 29 minutes, since servers may log out after 30. Default 29 minutes.
    pub idle_reissue: Duration,
    /// Send literals as `{n+}` when the server advertises LITERAL+ (any size) or LITERAL- (up to
    /// 4096 octets, RFC 7888); `false` keeps every literal synchronizing. Without either
    /// capability every literal waits for the server's `+`, whatever its mode. Default `true`.
    pub non_sync_literals: bool,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            framer: FramerConfig::responses(),
            tag_prefix: "A".to_owned(),
            idle_reissue: Duration::from_mins(29),
            non_sync_literals: true,
        }
    }
}

/// What the server said.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The greeting (`* OK`, `* PREAUTH` or `* BYE`).
    Greeting(StatusResponse<'static>),
    /// Untagged data (unknown kinds as [`Data::Other`]).
    Data(Data<'static>),
    /// An untagged status (`* OK [UIDVALIDITY ...]`, `* NO ...`, `* BYE ...`).
    Status(StatusResponse<'static>),
    /// A continuation request for the application: an AUTHENTICATE challenge (answer with
    /// [`ClientSession::authenticate_continue`]), or one the session did not expect.
    Continue(Continue<'static>),
    /// The server accepted the IDLE of [`ClientSession::idle`] (its `+` arrived).
    Idling {
        /// The IDLE command's tag.
        tag: Tag<'static>,
    },
    /// The IDLE ran for [`ClientConfig::idle_reissue`]: the session ended it and sent a new one.
    IdleReissued {
        /// The new IDLE command's tag.
        tag: Tag<'static>,
    },
    /// The tagged completion of a command.
    Completed {
        /// The command's name (`"UID FETCH"` ...).
        command: &'static str,
        /// The completion.
        status: StatusResponse<'static>,
    },
    /// A response that does not parse; it is skipped.
    Malformed {
        /// The error.
        error: DecodeError,
    },
    /// The tagged OK to STARTTLS arrived: run the TLS handshake now, then call
    /// [`ClientSession::handle_tls_established`]. `discarded` octets the server sent after the
    /// OK were dropped unread (RFC 3501 §6.2.1: they could be injected plaintext).
    StartTls {
        /// Plaintext octets dropped.
        discarded: usize,
    },
    /// A response over a framing limit; it is skipped.
    TooLarge {
        /// The limit.
        error: FrameError,
    },
}

#[derive(Debug)]
struct Pending {
    tag: Tag<'static>,
    name: &'static str,
    kind: Option<PendingKind>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PendingKind {
    Login,
    Authenticate,
    Select,
    Unselect,
    Logout,
    StartTls,
    Idle,
}

/// The client side of one IMAP connection; see the module docs.
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    framer: Framer,
    out: BytesMut,
    /// Segments held back until a `+`: (tag, octets) in order.
    held: VecDeque<(Tag<'static>, Bytes)>,
    /// The tag whose sync literal awaits a `+`.
    waiting: Option<Tag<'static>>,
    in_flight: Vec<Pending>,
    greeted: bool,
    counter: u32,
    state: SessionState,
    queued: VecDeque<Event>,
    /// The server's capabilities, when known.
    capabilities: Option<Vec<Atom<'static>>>,
    /// They came in `* CAPABILITY` while a login was the oldest command in flight (Dovecot
    /// sends them so): they are the authenticated state's, to keep after the OK.
    capabilities_of_login: bool,
    /// The AUTHENTICATE whose challenge awaits the application's answer.
    challenge: Option<Tag<'static>>,
    idle: Option<idle::Idle>,
    idle_timer: Timer,
    /// The last instant seen.
    now: Option<Instant>,
    /// The STARTTLS OK arrived; the handshake is not done yet.
    tls_pending: bool,
    /// LOGOUT goes out once the IDLE in progress has ended.
    logout_after_idle: bool,
}

impl ClientSession {
    /// A session that waits for the greeting.
    pub fn new(config: ClientConfig) -> Self {
        let framer = Framer::new(FramerSide::Responses, config.framer.clone());
        Self {
            config,
            framer,
            out: BytesMut::new(),
            held: VecDeque::new(),
            waiting: None,
            in_flight: Vec::new(),
            greeted: false,
            counter: 0,
            state: SessionState::NotAuthenticated,
            queued: VecDeque::new(),
            capabilities: None,
            capabilities_of_login: false,
            challenge: None,
            idle: None,
            idle_timer: Timer::default(),
            now: None,
            tls_pending: false,
            logout_after_idle: false,
        }
    }

    /// The session state as far as the client can tell.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// The configuration in force.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The server's capabilities, when known (see the module docs for when they are forgotten).
    pub fn capabilities(&self) -> Option<&[Atom<'static>]> {
        self.capabilities.as_deref()
    }

    /// Whether the server is known to advertise `name` (case-insensitive).
    pub fn has_capability(&self, name: &str) -> bool {
        self.capabilities
            .iter()
            .flatten()
            .any(|c| c.as_str().eq_ignore_ascii_case(name))
    }

    /// Tags of commands sent and not yet completed, oldest first.
    pub fn in_flight(&self) -> impl Iterator<Item = &Tag<'static>> {
        self.in_flight.iter().map(|p| &p.tag)
    }

    /// Tags and sends `body`; returns the tag. Refused (`UsageError`, nothing sent) after the
    /// session closed, while an IDLE is active (RFC 2177: only DONE may follow), for IDLE itself
    /// (use [`ClientSession::idle`]), and for LOGIN when the server advertises `LOGINDISABLED`
    /// (RFC 3501 §6.2.3).
    pub fn enqueue(&mut self, body: CommandBody<'_>) -> Result<Tag<'static>, UsageError> {
        self.check(&body)?;
        let tag = self.next_tag();
        self.send_command(&Command {
            tag: tag.clone(),
            body,
        });
        Ok(tag)
    }

    /// Sends a command with the caller's tag, refused as [`ClientSession::enqueue`] refuses.
    pub fn enqueue_command(&mut self, command: &Command<'_>) -> Result<(), UsageError> {
        self.check(&command.body)?;
        self.send_command(command);
        Ok(())
    }

    /// Answers an AUTHENTICATE challenge ([`Event::Continue`]): an empty line for empty data,
    /// `*` to cancel. Refused when no challenge waits for an answer.
    pub fn authenticate_continue(&mut self, data: &AuthData<'_>) -> Result<(), UsageError> {
        if self.challenge.take().is_none() {
            return Err(UsageError::NotPending {
                expected: "AUTHENTICATE challenge",
            });
        }
        let mut e = Encoder::with_buffer(std::mem::take(&mut self.out));
        data.encode_line(&mut e);
        self.out = e.into_parts().0;
        Ok(())
    }

    /// The STARTTLS handshake after [`Event::StartTls`] is done: the session reads again.
    pub fn handle_tls_established(&mut self) -> Result<(), UsageError> {
        if !std::mem::take(&mut self.tls_pending) {
            return Err(UsageError::NotPending {
                expected: "TLS handshake",
            });
        }
        Ok(())
    }

    /// The application is going down: the session ends an IDLE (`DONE`) and logs out.
    pub fn handle_shutdown(&mut self) {
        if self.state == SessionState::Logout
            || self
                .in_flight
                .iter()
                .any(|p| p.kind == Some(PendingKind::Logout))
        {
            return;
        }
        if self.idle.is_some() {
            self.logout_after_idle = true;
            self.end_idle();
        } else {
            let _ = self.enqueue(CommandBody::Logout);
        }
    }

    fn check(&self, body: &CommandBody<'_>) -> Result<(), UsageError> {
        if self.state == SessionState::Logout {
            return Err(UsageError::Closed);
        }
        if self.idle.is_some() {
            return Err(UsageError::NotAllowed {
                what: "a command",
                why: "IDLE is active: end it with idle_done first",
            });
        }
        match body {
            CommandBody::Idle => Err(UsageError::NotAllowed {
                what: "IDLE",
                why: "IDLE runs through ClientSession::idle",
            }),
            CommandBody::Login { .. } if self.has_capability("LOGINDISABLED") => {
                Err(UsageError::NotAllowed {
                    what: "LOGIN",
                    why: "the server advertises LOGINDISABLED",
                })
            }
            _ => Ok(()),
        }
    }

    fn next_tag(&mut self) -> Tag<'static> {
        self.counter += 1;
        Tag::try_from(format!("{}{:04}", self.config.tag_prefix, self.counter))
            .unwrap_or_else(|_| Tag::try_from(format!("A{:04}", self.counter)).expect("valid tag"))
    }

    /// Literals of at most this size go as `{n+}`: LITERAL+ any, LITERAL- up to 4096 octets
    /// (RFC 7888 §4), none without either.
    fn non_sync_literals(&self) -> Option<u32> {
        if !self.config.non_sync_literals {
            None
        } else if self.has_capability("LITERAL+") {
            Some(u32::MAX)
        } else if self.has_capability("LITERAL-") {
            Some(4096)
        } else {
            None
        }
    }

    fn send_command(&mut self, command: &Command<'_>) {
        let mut e = Encoder::new();
        e.set_literal_limit(self.non_sync_literals());
        command.encode(&mut e);
        let (bytes, points) = e.into_parts();
        let mut bytes = bytes.freeze();
        let tag = command.tag.clone().into_static();
        let kind = match command.body {
            CommandBody::Login { .. } => Some(PendingKind::Login),
            CommandBody::Authenticate { .. } => Some(PendingKind::Authenticate),
            CommandBody::Select { .. } | CommandBody::Examine { .. } => Some(PendingKind::Select),
            CommandBody::Close | CommandBody::Unselect => Some(PendingKind::Unselect),
            CommandBody::Logout => Some(PendingKind::Logout),
            CommandBody::StartTls => Some(PendingKind::StartTls),
            CommandBody::Idle => Some(PendingKind::Idle),
            _ => None,
        };
        self.in_flight.push(Pending {
            tag: tag.clone(),
            name: command.body.name(),
            kind,
        });
        let mut last = 0;
        for p in points {
            self.held.push_back((tag.clone(), bytes.split_to(p - last)));
            last = p;
        }
        self.held.push_back((tag, bytes));
        self.release();
    }

    /// Moves held segments to the output until one ends in a sync literal header.
    fn release(&mut self) {
        if self.waiting.is_some() {
            return;
        }
        while let Some((tag, seg)) = self.held.pop_front() {
            self.out.extend_from_slice(&seg);
            let ends_in_sync_header = self.held.front().is_some_and(|(t, _)| *t == tag);
            if ends_in_sync_header {
                self.waiting = Some(tag);
                return;
            }
        }
    }

    /// Notes capabilities carried by a response code.
    fn learn(&mut self, code: Option<&Code<'_>>) {
        if let Some(Code::Capability(caps)) = code {
            self.capabilities = Some(caps.iter().map(|a| a.clone().into_static()).collect());
        }
    }

    fn on_frame(&mut self, frame: &[u8]) -> Option<Event> {
        if !self.greeted {
            self.greeted = true;
            return match StatusResponse::decode_greeting(frame) {
                Ok((_, g)) => {
                    match g.kind {
                        StatusKind::PreAuth => self.state = SessionState::Authenticated,
                        StatusKind::Bye => self.state = SessionState::Logout,
                        _ => {}
                    }
                    self.learn(g.code.as_ref());
                    Some(Event::Greeting(g.into_static()))
                }
                Err(error) => Some(Event::Malformed { error }),
            };
        }
        let response = match Response::decode(frame) {
            Ok((_, r)) => r.into_static(),
            Err(error) => return Some(Event::Malformed { error }),
        };
        match response {
            Response::Continue(c) => self.on_continue(c),
            Response::Data(d) => {
                if let Data::Capability(caps) = &d {
                    self.capabilities = Some(caps.iter().cloned().collect());
                    self.capabilities_of_login = self.in_flight.first().is_some_and(|p| {
                        matches!(p.kind, Some(PendingKind::Login | PendingKind::Authenticate))
                    });
                }
                Some(Event::Data(d))
            }
            Response::Status(s) if s.tag.is_none() => {
                if s.kind == StatusKind::Bye {
                    self.state = SessionState::Logout;
                    self.idle_timer.disarm();
                }
                if s.kind == StatusKind::Ok {
                    self.learn(s.code.as_ref());
                }
                Some(Event::Status(s))
            }
            Response::Status(s) => self.on_completion(s),
        }
    }

    fn on_continue(&mut self, c: Continue<'static>) -> Option<Event> {
        if self.waiting.take().is_some() {
            // The `+` to a sync literal: send the literal and what follows.
            self.release();
            return None;
        }
        if let idle::Handled::Yes(ev) = self.idle_continue() {
            return ev;
        }
        if let Some(p) = self
            .in_flight
            .iter()
            .find(|p| p.kind == Some(PendingKind::Authenticate))
        {
            self.challenge = Some(p.tag.clone());
        }
        Some(Event::Continue(c))
    }

    fn on_completion(&mut self, s: StatusResponse<'static>) -> Option<Event> {
        let tag = s.tag.clone()?;
        if self.waiting.as_ref() == Some(&tag) {
            // The server refused the literal: drop the rest of that command.
            self.waiting = None;
            self.held.retain(|(t, _)| *t != tag);
            self.release();
        }
        if self.challenge.as_ref() == Some(&tag) {
            self.challenge = None;
        }
        let pos = self.in_flight.iter().position(|p| p.tag == tag);
        let pending = pos.map(|p| self.in_flight.remove(p));
        let name = pending.as_ref().map_or("", |p| p.name);
        let kind = pending.and_then(|p| p.kind);
        if kind == Some(PendingKind::Idle)
            && let idle::Handled::Yes(ev) = self.idle_completed(&s)
        {
            return ev;
        }
        let ok = s.kind == StatusKind::Ok;
        match kind {
            Some(PendingKind::Login | PendingKind::Authenticate) if ok => {
                // RFC 3501 §6.2.2, §6.2.3: capabilities may change with the login; keep only
                // those sent with it (in the OK, or just before it).
                if !std::mem::take(&mut self.capabilities_of_login) {
                    self.capabilities = None;
                }
                self.state = SessionState::Authenticated;
            }
            Some(PendingKind::Select) if ok => self.state = SessionState::Selected,
            // RFC 3501 §6.3.1: a failed SELECT leaves no mailbox selected.
            Some(PendingKind::Select) if self.state == SessionState::Selected => {
                self.state = SessionState::Authenticated;
            }
            Some(PendingKind::Unselect) if ok => self.state = SessionState::Authenticated,
            Some(PendingKind::Logout) if ok => self.state = SessionState::Logout,
            Some(PendingKind::StartTls) if ok => {
                // RFC 3501 §6.2.1: forget what was learnt in plaintext.
                self.capabilities = None;
                self.tls_pending = true;
                let discarded = self.framer.discard_buffered();
                self.queued.push_back(Event::StartTls { discarded });
            }
            _ => {}
        }
        if ok && kind != Some(PendingKind::StartTls) {
            self.learn(s.code.as_ref());
        }
        Some(Event::Completed {
            command: name,
            status: s,
        })
    }
}

impl Machine for ClientSession {
    type Event = Event;

    fn handle_input(&mut self, now: Instant, data: &[u8]) {
        self.now = Some(now);
        if !self.tls_pending {
            self.framer.handle_input(data);
        }
    }

    fn poll_event(&mut self) -> Option<Event> {
        loop {
            if let Some(ev) = self.queued.pop_front() {
                return Some(ev);
            }
            if self.tls_pending {
                return None;
            }
            match self.framer.poll_event()? {
                FramerEvent::Frame(frame) => {
                    if let Some(ev) = self.on_frame(&frame) {
                        return Some(ev);
                    }
                }
                FramerEvent::Refused { error, .. } => return Some(Event::TooLarge { error }),
                _ => {}
            }
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
        self.idle_timer.deadline()
    }

    /// Re-issues an IDLE that has run for [`ClientConfig::idle_reissue`].
    fn handle_timeout(&mut self, now: Instant) {
        self.now = Some(now);
        if self.idle_timer.expired(now) {
            self.idle_timer.disarm();
            self.reissue_idle();
        }
    }

    fn wants_input(&self) -> bool {
        self.state != SessionState::Logout && !self.tls_pending
    }

    fn is_closed(&self) -> bool {
        self.state == SessionState::Logout
    }
    fn handle_tls_established(&mut self) -> Result<(), UsageError> {
        Self::handle_tls_established(self)
    }
    fn handle_shutdown(&mut self) {
        Self::handle_shutdown(self);
    }
}
