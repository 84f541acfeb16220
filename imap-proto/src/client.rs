//! The client side of a session (Sans-IO), the mirror of [`crate::server`].
//!
//! [`ClientFlow`] tags and serialises commands, holds back the octets of each synchronizing literal
//! until the server's `+` (RFC 3501 §7.5) and drops the rest of a command the server refuses
//! instead; it frames and parses responses, separates the greeting, untagged data, continuation
//! requests meant for the application (AUTHENTICATE challenges, IDLE's `+`) and tagged completions.
//!
//! Call order: [`ClientFlow::handle_input`] with bytes read from the server;
//! [`ClientFlow::poll_event`] until `None`; [`ClientFlow::enqueue`] commands;
//! [`ClientFlow::poll_transmit`] and write what it returns.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use crate::encode::{Encode, Encoder};
use crate::framer::{FrameError, Framer, FramerEvent, FramerOptions};
use crate::parse::DecodeError;
use crate::server::SessionState;
use crate::types::command::{AuthData, Command, CommandBody};
use crate::types::core::{IntoStatic, Tag};
use crate::types::response::{Continue, Data, Response, StatusKind, StatusResponse};

/// Options of [`ClientFlow`]. Every field has a documented default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// Framing limits for responses. Default [`FramerOptions::for_responses`].
    pub framer: FramerOptions,
    /// Prefix of generated tags (`A0001`, `A0002` ...). Default `"A"`.
    pub tag_prefix: String,
    /// Send literals of at most this size as `{n+}` without waiting for `+`: `Some(u32::MAX)` when
    /// the server announced LITERAL+, `Some(4096)` for LITERAL- (RFC 7888). Default `None`.
    pub non_sync_literals: Option<u32>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            framer: FramerOptions::for_responses(),
            tag_prefix: "A".to_owned(),
            non_sync_literals: None,
        }
    }
}

/// What the server said.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The greeting (`* OK`, `* PREAUTH` or `* BYE`).
    Greeting(StatusResponse<'static>),
    /// Untagged data.
    Data(Data<'static>),
    /// An untagged status (`* OK [UIDVALIDITY ...]`, `* NO ...`, `* BYE ...`).
    Status(StatusResponse<'static>),
    /// A continuation request for the application: an AUTHENTICATE challenge (answer with
    /// [`ClientFlow::authenticate_continue`]) or the start of IDLE.
    Continue(Continue<'static>),
    /// The tagged completion of a command.
    Completed {
        /// The command's name (`"UID FETCH"` ...).
        command: &'static str,
        /// The completion.
        status: StatusResponse<'static>,
    },
    /// A response that does not parse or frame; it is skipped.
    Malformed {
        /// The error.
        error: DecodeError,
    },
    /// The tagged OK to STARTTLS arrived: run the TLS handshake now. `discarded` octets the server
    /// sent after the OK were dropped unread (RFC 3501 §6.2.1: they could be injected plaintext).
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
    Select,
    Unselect,
    Logout,
    StartTls,
}

/// The client side of one IMAP connection; see the module docs.
#[derive(Debug)]
pub struct ClientFlow {
    options: ClientOptions,
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
    queued: VecDeque<ClientEvent>,
}

impl ClientFlow {
    /// A flow that waits for the greeting.
    pub fn new(options: ClientOptions) -> Self {
        let framer = Framer::new(FramerOptions {
            responses: true,
            stream_append: false,
            ..options.framer.clone()
        });
        Self {
            options,
            framer,
            out: BytesMut::new(),
            held: VecDeque::new(),
            waiting: None,
            in_flight: Vec::new(),
            greeted: false,
            counter: 0,
            state: SessionState::NotAuthenticated,
            queued: VecDeque::new(),
        }
    }

    /// The session state as far as the client can tell.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// Tags of commands sent and not yet completed, oldest first.
    pub fn in_flight(&self) -> impl Iterator<Item = &Tag<'static>> {
        self.in_flight.iter().map(|p| &p.tag)
    }

    /// Tags and sends `body`; returns the tag.
    pub fn enqueue(&mut self, body: CommandBody<'_>) -> Tag<'static> {
        self.counter += 1;
        let tag = Tag::try_from(format!("{}{:04}", self.options.tag_prefix, self.counter))
            .unwrap_or_else(|_| Tag::try_from(format!("A{:04}", self.counter)).expect("valid tag"));
        self.enqueue_command(&Command {
            tag: tag.clone(),
            body,
        });
        tag
    }

    /// Sends a command with the caller's tag.
    pub fn enqueue_command(&mut self, command: &Command<'_>) {
        let mut e = Encoder::new();
        e.set_non_sync_literals(self.options.non_sync_literals);
        command.encode(&mut e);
        let (bytes, points) = e.into_parts();
        let mut bytes = bytes.freeze();
        let tag = command.tag.clone().into_static();
        let kind = match command.body {
            CommandBody::Login { .. } => Some(PendingKind::Login),
            CommandBody::Select { .. } | CommandBody::Examine { .. } => Some(PendingKind::Select),
            CommandBody::Close | CommandBody::Unselect => Some(PendingKind::Unselect),
            CommandBody::Logout => Some(PendingKind::Logout),
            CommandBody::Authenticate { .. } => Some(PendingKind::Login),
            CommandBody::StartTls => Some(PendingKind::StartTls),
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

    /// Answers an AUTHENTICATE challenge (an empty line for empty data, `*` to cancel).
    pub fn authenticate_continue(&mut self, data: &AuthData<'_>) {
        let mut e = Encoder::with_buffer(std::mem::take(&mut self.out));
        data.encode_line(&mut e);
        self.out = e.into_parts().0;
    }

    /// Ends IDLE (RFC 2177).
    pub fn idle_done(&mut self) {
        self.out.extend_from_slice(b"DONE\r\n");
    }

    /// Feeds bytes read from the server.
    pub fn handle_input(&mut self, data: &[u8]) {
        self.framer.handle_input(data);
    }

    /// Octets to write to the server, if any.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.out.is_empty() {
            None
        } else {
            Some(self.out.split().freeze())
        }
    }

    /// The next event, or `None` when more input is needed.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        loop {
            if let Some(ev) = self.queued.pop_front() {
                return Some(ev);
            }
            match self.framer.poll_event()? {
                FramerEvent::Frame(frame) => {
                    if let Some(ev) = self.on_frame(&frame) {
                        return Some(ev);
                    }
                }
                FramerEvent::Refused { error, .. } => return Some(ClientEvent::TooLarge { error }),
                _ => {}
            }
        }
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

    fn on_frame(&mut self, frame: &[u8]) -> Option<ClientEvent> {
        if !self.greeted {
            self.greeted = true;
            return match StatusResponse::decode_greeting(frame) {
                Ok((_, g)) => {
                    match g.kind {
                        StatusKind::PreAuth => self.state = SessionState::Authenticated,
                        StatusKind::Bye => self.state = SessionState::Logout,
                        _ => {}
                    }
                    Some(ClientEvent::Greeting(g.into_static()))
                }
                Err(error) => Some(ClientEvent::Malformed { error }),
            };
        }
        let response = match Response::decode(frame) {
            Ok((_, r)) => r.into_static(),
            Err(error) => return Some(ClientEvent::Malformed { error }),
        };
        match response {
            Response::Continue(c) => {
                if self.waiting.take().is_some() {
                    // The `+` to a sync literal: send the literal and what follows.
                    self.release();
                    return None;
                }
                Some(ClientEvent::Continue(c))
            }
            Response::Data(d) => Some(ClientEvent::Data(d)),
            Response::Status(s) if s.tag.is_none() => {
                if s.kind == StatusKind::Bye {
                    self.state = SessionState::Logout;
                }
                Some(ClientEvent::Status(s))
            }
            Response::Status(s) => {
                let tag = s
                    .tag
                    .clone()
                    .unwrap_or_else(|| Tag::try_from("*").expect("tag"));
                if self.waiting.as_ref() == Some(&tag) {
                    // The server refused the literal: drop the rest of that command.
                    self.waiting = None;
                    self.held.retain(|(t, _)| *t != tag);
                    self.release();
                }
                let pos = self.in_flight.iter().position(|p| p.tag == tag);
                let pending = pos.map(|p| self.in_flight.remove(p));
                let name = pending.as_ref().map_or("", |p| p.name);
                if s.kind == StatusKind::Ok {
                    match pending.and_then(|p| p.kind) {
                        Some(PendingKind::Login) => self.state = SessionState::Authenticated,
                        Some(PendingKind::Select) => self.state = SessionState::Selected,
                        Some(PendingKind::Unselect) => self.state = SessionState::Authenticated,
                        Some(PendingKind::Logout) => self.state = SessionState::Logout,
                        Some(PendingKind::StartTls) => {
                            let discarded = self.framer.discard_buffered();
                            self.queued.push_back(ClientEvent::StartTls { discarded });
                        }
                        None => {}
                    }
                } else if pending.and_then(|p| p.kind) == Some(PendingKind::Select)
                    && self.state == SessionState::Selected
                {
                    self.state = SessionState::Authenticated;
                }
                Some(ClientEvent::Completed {
                    command: name,
                    status: s,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::arbitrary;
    use crate::server::{ServerEvent, ServerFlow, ServerOptions};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        /// Whatever the client sends (sync literals included) reaches the server as the same
        /// commands, and every command gets exactly one completion, in order.
        #[test]
        fn client_and_server_agree(bodies in proptest::collection::vec(arbitrary::command_body(), 1..6), chunk in 1usize..64) {
            let bodies: Vec<_> = bodies
                .into_iter()
                .filter(|b| !matches!(b, CommandBody::Idle | CommandBody::Authenticate { .. } | CommandBody::StartTls | CommandBody::Logout | CommandBody::Compress { .. }))
                .collect();
            let mut server = ServerFlow::new(ServerOptions { enforce_state: false, ..ServerOptions::default() });
            server.enqueue(&Response::Status(StatusResponse::untagged(StatusKind::Ok, None, "hi").unwrap()));
            let mut client = ClientFlow::new(ClientOptions::default());
            let tags: Vec<_> = bodies.iter().map(|b| client.enqueue(b.clone())).collect();
            let mut received = Vec::new();
            let mut completed = Vec::new();
            for _ in 0..10_000 {
                let mut moved = false;
                while let Some(b) = client.poll_transmit() {
                    moved = true;
                    for piece in b.chunks(chunk) {
                        server.handle_input(piece);
                    }
                }
                while let Some(ev) = server.poll_event() {
                    moved = true;
                    let tag = match ev {
                        ServerEvent::Command(c) => {
                            let t = c.tag.clone();
                            received.push(c.body);
                            t
                        }
                        ServerEvent::AppendStart { tag, .. } => {
                            received.push(CommandBody::Noop);
                            let _ = tag;
                            continue;
                        }
                        ServerEvent::AppendEnd { tag } => tag,
                        _ => continue,
                    };
                    server.enqueue(&Response::Status(StatusResponse::tagged(tag, StatusKind::Ok, None, "ok").unwrap()));
                }
                while let Some(b) = server.poll_transmit() {
                    moved = true;
                    client.handle_input(&b);
                }
                while let Some(ev) = client.poll_event() {
                    moved = true;
                    if let ClientEvent::Completed { status, .. } = ev {
                        completed.push(status.tag.unwrap());
                    }
                }
                if !moved {
                    break;
                }
            }
            prop_assert_eq!(&completed, &tags);
            prop_assert_eq!(received.len(), bodies.len());
            for (got, sent) in received.iter().zip(&bodies) {
                if !matches!(sent, CommandBody::Append { .. }) {
                    prop_assert_eq!(got, sent);
                }
            }
        }
    }
}
