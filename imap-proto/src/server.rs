//! The server side of a session (Sans-IO): bytes in, events out; responses in, bytes out.
//!
//! [`ServerFlow`] frames commands ([`crate::framer`]), parses them, and enforces the session state
//! (RFC 3501 §3): a command in the wrong state, a malformed one, or one over a limit is answered
//! (`tag BAD` / `NO [TOOBIG]`) by the flow itself and never reaches the application. It answers
//! `+` to accepted synchronizing literals, streams APPEND messages out in chunks, collects
//! AUTHENTICATE continuation lines and IDLE's `DONE`, and discards plaintext buffered before a
//! STARTTLS handshake (RFC 3501 §6.2.1).
//!
//! Commands are handled one at a time: after [`ServerEvent::Command`], the next command is held
//! back until the application enqueues the tagged completion (`tag OK/NO/BAD`) of this one. State
//! changes follow from those completions (`OK` to LOGIN, SELECT, CLOSE, LOGOUT ...).
//!
//! Call order: [`ServerFlow::handle_input`] with bytes read from the client; [`ServerFlow::poll_event`]
//! until `None`; [`ServerFlow::enqueue`] responses; [`ServerFlow::poll_transmit`] and write what it
//! returns.

use bytes::{Bytes, BytesMut};

use crate::encode::{Encode, Encoder};
use crate::framer::{FrameError, Framer, FramerEvent, FramerOptions};
use crate::parse::DecodeError;
use crate::types::command::{AuthData, Command, CommandBody, CommandClass};
use crate::types::core::{IntoStatic, Tag, Text};
use crate::types::datetime::DateTime;
use crate::types::flag::Flag;
use crate::types::mailbox::Mailbox;
use crate::types::response::{Code, Continue, Response, StatusKind, StatusResponse};

/// The session state (RFC 3501 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionState {
    /// Before LOGIN / AUTHENTICATE.
    NotAuthenticated,
    /// Logged in, no mailbox selected.
    Authenticated,
    /// A mailbox is selected.
    Selected,
    /// LOGOUT completed or BYE sent: the connection is to be closed.
    Logout,
}

/// Options of [`ServerFlow`]. Every field has a documented default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOptions {
    /// Framing limits (see [`FramerOptions`]; defaults there).
    pub framer: FramerOptions,
    /// Text of the automatic `+` for accepted literals. Default `"Ready for literal data"`.
    pub literal_continuation_text: String,
    /// Enforce the session state (RFC 3501 §3). Default `true`.
    pub enforce_state: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            framer: FramerOptions::default(),
            literal_continuation_text: "Ready for literal data".to_owned(),
            enforce_state: true,
        }
    }
}

/// What the client asked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A complete command, valid in the current state. Answer it with [`ServerFlow::enqueue`],
    /// ending with the tagged completion.
    Command(Command<'static>),
    /// A streamed APPEND starts (the `+` was sent if needed); [`ServerEvent::AppendChunk`]s follow,
    /// then [`ServerEvent::AppendEnd`].
    AppendStart {
        /// The command's tag.
        tag: Tag<'static>,
        /// Target mailbox.
        mailbox: Mailbox<'static>,
        /// Flags to set.
        flags: Option<Vec<Flag<'static>>>,
        /// Internal date.
        date: Option<DateTime>,
        /// The message size.
        length: u32,
    },
    /// Octets of the APPEND message; `remaining` more follow.
    AppendChunk {
        /// The octets.
        data: Bytes,
        /// Octets still to come.
        remaining: u32,
    },
    /// The APPEND command is complete: store the message and answer `tag OK [APPENDUID ...]`.
    AppendEnd {
        /// The command's tag.
        tag: Tag<'static>,
    },
    /// The APPEND command went wrong after its message (trailing syntax): the flow answered BAD;
    /// discard what was stored.
    AppendAborted {
        /// The command's tag.
        tag: Tag<'static>,
    },
    /// A client response line during AUTHENTICATE (after you sent a `+` challenge).
    AuthenticateData {
        /// The command's tag.
        tag: Tag<'static>,
        /// The data (never [`AuthData::Cancel`]).
        data: AuthData<'static>,
    },
    /// The client cancelled AUTHENTICATE (`*`) or sent invalid base64: the flow answered
    /// `tag BAD` (RFC 3501 §6.2.2); forget the exchange.
    AuthenticateAborted {
        /// The command's tag.
        tag: Tag<'static>,
    },
    /// The client ended IDLE with `DONE` (RFC 2177): answer `tag OK`.
    IdleDone {
        /// The IDLE command's tag.
        tag: Tag<'static>,
    },
    /// The tagged OK to STARTTLS was enqueued: write out [`ServerFlow::poll_transmit`], then run the
    /// TLS handshake. `discarded` octets the client sent before it were dropped (RFC 3501 §6.2.1).
    StartTls {
        /// Plaintext octets dropped.
        discarded: usize,
    },
    /// The tagged OK to COMPRESS was enqueued: write it out, then compress both directions
    /// (RFC 4978).
    CompressionStarted,
    /// The client sent something the flow rejected by itself (logged for the operator).
    Rejected {
        /// The tag, when one could be read.
        tag: Option<Tag<'static>>,
        /// Why.
        reason: RejectReason,
    },
}

/// Why the flow answered a command by itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RejectReason {
    /// The command does not parse.
    #[error("syntax error: {0}")]
    Syntax(DecodeError),
    /// The command is not valid in the current state.
    #[error("command {command} not valid in state {state:?}")]
    WrongState {
        /// The command's name.
        command: &'static str,
        /// The state.
        state: SessionState,
    },
    /// A limit of the framer.
    #[error("{0}")]
    Limit(FrameError),
    /// IDLE was ended by something other than `DONE`.
    #[error("expected DONE")]
    ExpectedDone,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Busy {
    /// Waiting for the next command.
    Idle,
    /// A command was handed out; waiting for its tagged completion.
    Command { tag: Tag<'static>, body: Kind },
    /// AUTHENTICATE: lines from the client are SASL data.
    Authenticate { tag: Tag<'static> },
    /// IDLE: waiting for DONE.
    Idling { tag: Tag<'static> },
    /// APPEND message streaming.
    Append { tag: Tag<'static>, trailer: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Login,
    Select,
    Unselect,
    Logout,
    StartTls,
    Compress,
    Idle,
    Other,
}

/// The server side of one IMAP connection; see the module docs.
#[derive(Debug)]
pub struct ServerFlow {
    options: ServerOptions,
    framer: Framer,
    state: SessionState,
    busy: Busy,
    out: BytesMut,
    events: std::collections::VecDeque<ServerEvent>,
}

impl ServerFlow {
    /// A flow in the not-authenticated state. Enqueue the greeting (`* OK ...`, or `* PREAUTH ...`
    /// which moves to the authenticated state) first.
    pub fn new(options: ServerOptions) -> Self {
        let framer = Framer::new(FramerOptions {
            responses: false,
            ..options.framer.clone()
        });
        Self {
            options,
            framer,
            state: SessionState::NotAuthenticated,
            busy: Busy::Idle,
            out: BytesMut::new(),
            events: std::collections::VecDeque::default(),
        }
    }

    /// The session state.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// Sets the state, for what the flow cannot see (e.g. a mailbox deleted under a session).
    pub fn set_state(&mut self, state: SessionState) {
        self.state = state;
    }

    /// The options in force.
    pub fn options(&self) -> &ServerOptions {
        &self.options
    }

    /// Feeds bytes read from the client.
    pub fn handle_input(&mut self, data: &[u8]) {
        if self.state != SessionState::Logout {
            self.framer.handle_input(data);
        }
    }

    /// Whether the session is over (LOGOUT completed or BYE sent); close after the last transmit.
    pub fn is_closed(&self) -> bool {
        self.state == SessionState::Logout
    }

    /// The next event, or `None` when more input (or a tagged completion) is needed.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        loop {
            if let Some(ev) = self.events.pop_front() {
                return Some(ev);
            }
            if self.state == SessionState::Logout || matches!(self.busy, Busy::Command { .. }) {
                return None;
            }
            let ev = self.framer.poll_event()?;
            self.on_frame(ev);
        }
    }

    /// Serialises a response for the client. A tagged completion of the command in progress ends
    /// it and applies its state change.
    pub fn enqueue(&mut self, response: &Response<'_>) {
        let mut e = Encoder::with_buffer(std::mem::take(&mut self.out));
        response.encode(&mut e);
        self.out = e.into_parts().0;
        match response {
            Response::Status(s) => self.on_status(s),
            Response::Continue(_) => {}
            Response::Data(_) => {}
        }
    }

    /// Octets to write to the client, if any.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.out.is_empty() {
            None
        } else {
            Some(self.out.split().freeze())
        }
    }

    fn on_status(&mut self, s: &StatusResponse<'_>) {
        let Some(tag) = &s.tag else {
            match s.kind {
                StatusKind::PreAuth => self.state = SessionState::Authenticated,
                StatusKind::Bye => self.state = SessionState::Logout,
                _ => {}
            }
            return;
        };
        let ok = s.kind == StatusKind::Ok;
        match std::mem::replace(&mut self.busy, Busy::Idle) {
            Busy::Command { tag: t, body } if t.as_str() == tag.as_str() => match (body, ok) {
                (Kind::Login, true) => self.state = SessionState::Authenticated,
                (Kind::Select, true) => self.state = SessionState::Selected,
                // RFC 3501 §6.3.1: a failed SELECT leaves no mailbox selected.
                (Kind::Select, false) if self.state == SessionState::Selected => {
                    self.state = SessionState::Authenticated;
                }
                (Kind::Unselect, true) => self.state = SessionState::Authenticated,
                (Kind::Logout, true) => self.state = SessionState::Logout,
                (Kind::StartTls, true) => {
                    let discarded = self.framer.discard_buffered();
                    self.events.push_back(ServerEvent::StartTls { discarded });
                }
                (Kind::Compress, true) => self.events.push_back(ServerEvent::CompressionStarted),
                _ => {}
            },
            Busy::Authenticate { tag: t } if t.as_str() == tag.as_str() => {
                if ok {
                    self.state = SessionState::Authenticated;
                }
            }
            Busy::Idling { tag: t } if t.as_str() == tag.as_str() => {}
            Busy::Append { tag: t, .. } if t.as_str() == tag.as_str() => {}
            other => self.busy = other,
        }
    }

    fn answer(
        &mut self,
        tag: Option<Tag<'static>>,
        kind: StatusKind,
        code: Option<Code<'static>>,
        text: &str,
    ) {
        let text = Text::try_from(text.to_owned())
            .unwrap_or_else(|_| Text::try_from("Error").expect("valid text"));
        let r = Response::Status(StatusResponse {
            tag,
            kind,
            code,
            text,
        });
        let mut e = Encoder::with_buffer(std::mem::take(&mut self.out));
        r.encode(&mut e);
        self.out = e.into_parts().0;
    }

    fn continuation(&mut self) {
        let text = Text::try_from(self.options.literal_continuation_text.clone())
            .unwrap_or_else(|_| Text::try_from("Ready").expect("valid"));
        let mut e = Encoder::with_buffer(std::mem::take(&mut self.out));
        Response::Continue(Continue { code: None, text }).encode(&mut e);
        self.out = e.into_parts().0;
    }

    fn reject(&mut self, tag: Option<Tag<'static>>, reason: RejectReason) {
        let (kind, code, text) = match &reason {
            RejectReason::Limit(FrameError::LiteralTooLarge { append: true, .. }) => (
                StatusKind::No,
                Some(Code::TooBig),
                "Message too large".to_owned(),
            ),
            RejectReason::Limit(e) => (StatusKind::Bad, None, format!("{e}")),
            RejectReason::Syntax(_) => (StatusKind::Bad, None, "Syntax error".to_owned()),
            RejectReason::WrongState { command, state } => (
                StatusKind::Bad,
                None,
                format!(
                    "{command} not allowed {}",
                    match state {
                        SessionState::NotAuthenticated => "before authentication",
                        SessionState::Authenticated => "without a selected mailbox",
                        SessionState::Selected => "in the selected state",
                        SessionState::Logout => "after logout",
                    }
                ),
            ),
            RejectReason::ExpectedDone => (StatusKind::Bad, None, "Expected DONE".to_owned()),
        };
        self.answer(tag.clone(), kind, code, &text);
        self.events.push_back(ServerEvent::Rejected { tag, reason });
    }

    fn allowed(&self, class: CommandClass) -> bool {
        if !self.options.enforce_state {
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

    fn on_frame(&mut self, ev: FramerEvent) {
        match ev {
            FramerEvent::Frame(frame) => self.on_line(&frame),
            FramerEvent::ContinuationNeeded { tag, .. } => {
                // RFC 3501 §7.5: reject before the literal when the command so far is already wrong.
                let pending = self.framer.pending_frame();
                let verdict = match Command::decode(pending) {
                    Err(e @ DecodeError::Failed { .. }) => Some(RejectReason::Syntax(e)),
                    _ => match command_class(pending) {
                        Some((command, class)) if !self.allowed(class) => {
                            Some(RejectReason::WrongState {
                                command,
                                state: self.state,
                            })
                        }
                        _ => None,
                    },
                };
                match verdict {
                    Some(r) => {
                        self.framer.reject_literal();
                        self.reject(tag, r);
                    }
                    None => self.continuation(),
                }
            }
            FramerEvent::Refused { tag, error, .. } => self.reject(tag, RejectReason::Limit(error)),
            FramerEvent::LiteralStart {
                prefix,
                length,
                mode,
            } => {
                let parsed = crate::parse::command::append_prefix(&prefix)
                    .ok()
                    .filter(|(rest, _)| rest.is_empty());
                let Some((_, (tag, (mailbox, flags, date)))) = parsed else {
                    self.framer.reject_literal();
                    let tag = crate::parse::core::tag_(&prefix)
                        .ok()
                        .map(|(_, t)| t.into_static());
                    self.reject(tag, RejectReason::Syntax(DecodeError::Incomplete));
                    return;
                };
                let tag = tag.into_static();
                if !self.allowed(CommandClass::Authenticated) {
                    self.framer.reject_literal();
                    let state = self.state;
                    self.reject(
                        Some(tag),
                        RejectReason::WrongState {
                            command: "APPEND",
                            state,
                        },
                    );
                    return;
                }
                if mode == crate::types::core::LiteralMode::Sync {
                    self.continuation();
                }
                self.busy = Busy::Append {
                    tag: tag.clone(),
                    trailer: length == 0,
                };
                self.events.push_back(ServerEvent::AppendStart {
                    tag,
                    mailbox: mailbox.into_static(),
                    flags: flags.into_static(),
                    date,
                    length,
                });
            }
            FramerEvent::LiteralChunk { data, remaining } => {
                if remaining == 0
                    && let Busy::Append { trailer, .. } = &mut self.busy
                {
                    *trailer = true;
                }
                self.events
                    .push_back(ServerEvent::AppendChunk { data, remaining });
            }
        }
    }

    fn on_line(&mut self, frame: &[u8]) {
        match self.busy.clone() {
            Busy::Append { tag, trailer: true } => {
                // What follows the message literal must end the command (MULTIAPPEND is not offered).
                if frame == b"\r\n" {
                    self.busy = Busy::Command {
                        tag: tag.clone(),
                        body: Kind::Other,
                    };
                    self.events.push_back(ServerEvent::AppendEnd { tag });
                } else {
                    self.busy = Busy::Idle;
                    self.events
                        .push_back(ServerEvent::AppendAborted { tag: tag.clone() });
                    self.reject(
                        Some(tag),
                        RejectReason::Syntax(DecodeError::Failed {
                            offset: 0,
                            near: String::from_utf8_lossy(&frame[..frame.len().min(32)])
                                .into_owned(),
                        }),
                    );
                }
            }
            Busy::Authenticate { tag } => match AuthData::decode_line(frame) {
                Ok((_, AuthData::Cancel)) | Err(_) => {
                    self.busy = Busy::Idle;
                    self.answer(
                        Some(tag.clone()),
                        StatusKind::Bad,
                        None,
                        "AUTHENTICATE aborted",
                    );
                    self.events
                        .push_back(ServerEvent::AuthenticateAborted { tag });
                }
                Ok((_, data)) => self.events.push_back(ServerEvent::AuthenticateData {
                    tag,
                    data: data.into_static(),
                }),
            },
            Busy::Idling { tag } => {
                if frame.eq_ignore_ascii_case(b"DONE\r\n") {
                    self.busy = Busy::Command {
                        tag: tag.clone(),
                        body: Kind::Idle,
                    };
                    self.events.push_back(ServerEvent::IdleDone { tag });
                } else {
                    self.busy = Busy::Idle;
                    self.reject(Some(tag), RejectReason::ExpectedDone);
                }
            }
            Busy::Append { .. } | Busy::Command { .. } | Busy::Idle => self.on_command(frame),
        }
    }

    fn on_command(&mut self, frame: &[u8]) {
        let command = match Command::decode(frame) {
            Ok((_, c)) => c.into_static(),
            Err(e) => {
                let tag = crate::parse::core::tag_(frame)
                    .ok()
                    .filter(|(r, _)| r.first() == Some(&b' '))
                    .map(|(_, t)| t.into_static());
                self.reject(tag, RejectReason::Syntax(redact(frame, e)));
                return;
            }
        };
        if !self.allowed(command.body.class()) {
            let state = self.state;
            self.reject(
                Some(command.tag),
                RejectReason::WrongState {
                    command: command.body.name(),
                    state,
                },
            );
            return;
        }
        let tag = command.tag.clone();
        self.busy = match &command.body {
            CommandBody::Authenticate { .. } => Busy::Authenticate { tag },
            CommandBody::Idle => Busy::Idling { tag },
            body => Busy::Command {
                tag,
                body: match body {
                    CommandBody::Login { .. } => Kind::Login,
                    CommandBody::Select { .. } | CommandBody::Examine { .. } => Kind::Select,
                    CommandBody::Close | CommandBody::Unselect => Kind::Unselect,
                    CommandBody::Logout => Kind::Logout,
                    CommandBody::StartTls => Kind::StartTls,
                    CommandBody::Compress { .. } => Kind::Compress,
                    _ => Kind::Other,
                },
            },
        };
        self.events.push_back(ServerEvent::Command(command));
    }
}

/// Hides the octets of a malformed LOGIN or AUTHENTICATE: they may hold a password.
fn redact(frame: &[u8], e: DecodeError) -> DecodeError {
    let secret =
        command_class(frame).is_some_and(|(name, _)| name == "LOGIN" || name == "AUTHENTICATE");
    match e {
        DecodeError::Failed { offset, .. } if secret => DecodeError::Failed {
            offset,
            near: "<redacted>".to_owned(),
        },
        e => e,
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::arbitrary;

    /// Feeds `chunks`, answering every command OK; returns the events with APPEND chunks merged.
    fn run(chunks: &[&[u8]]) -> (Vec<ServerEvent>, Vec<u8>) {
        let mut s = ServerFlow::new(ServerOptions::default());
        let mut events: Vec<ServerEvent> = Vec::new();
        let mut out = Vec::new();
        for c in chunks {
            s.handle_input(c);
            while let Some(ev) = s.poll_event() {
                let tag = match &ev {
                    ServerEvent::Command(c) => Some(c.tag.clone()),
                    ServerEvent::AuthenticateData { tag, .. }
                    | ServerEvent::IdleDone { tag }
                    | ServerEvent::AppendEnd { tag } => Some(tag.clone()),
                    _ => None,
                };
                if let Some(tag) = tag {
                    s.enqueue(&Response::Status(
                        StatusResponse::tagged(tag, StatusKind::Ok, None, "ok").unwrap(),
                    ));
                }
                if let (
                    Some(ServerEvent::AppendChunk {
                        data: prev,
                        remaining: r,
                    }),
                    ServerEvent::AppendChunk { data, remaining },
                ) = (events.last_mut(), &ev)
                {
                    *prev = [&prev[..], &data[..]].concat().into();
                    *r = *remaining;
                    continue;
                }
                events.push(ev);
            }
            while let Some(b) = s.poll_transmit() {
                out.extend_from_slice(&b);
            }
        }
        (events, out)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn split_anywhere_gives_the_same_session(
            commands in proptest::collection::vec(arbitrary::command(), 1..6),
            login in any::<bool>(),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..4),
        ) {
            let mut whole = if login { b"l LOGIN a b\r\n".to_vec() } else { Vec::new() };
            for c in &commands {
                // IDLE, AUTHENTICATE and STARTTLS change how the following bytes are read; keep them last.
                if matches!(c.body, CommandBody::Idle | CommandBody::Authenticate { .. } | CommandBody::StartTls) {
                    continue;
                }
                whole.extend_from_slice(&c.to_bytes());
            }
            let expected = run(&[&whole]);
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(whole.len() + 1)).collect();
            points.sort_unstable();
            let mut chunks = Vec::new();
            let mut last = 0;
            for p in points {
                chunks.push(&whole[last..p]);
                last = p;
            }
            chunks.push(&whole[last..]);
            prop_assert_eq!(run(&chunks), expected);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = run(&[&data]);
            let _ = run(&data.chunks(3).collect::<Vec<_>>());
        }
    }
}
