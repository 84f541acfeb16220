//! The MTA side: sends commands to a filter and reports its replies and modifications.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mailwright_sansio::{Machine, UsageError};

use crate::error::SessionError;
use crate::types::{Actions, CHUNK_SIZE, Command, OptNeg, Protocol, Response, VERSION};

/// The MTA side's settings; every limit and timer has a documented default.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The modifications offered to the filter. Default: [`Actions::ALL`].
    pub actions: Actions,
    /// The protocol flags offered to the filter. Default: [`Protocol::MTA_OFFER`].
    pub protocol: Protocol,
    /// The longest frame accepted from the filter. Default: 1 MiB and 16 octets (a body chunk
    /// of Sendmail's `SMFIP_MDS_1M` and its framing).
    pub max_frame: usize,
    /// How long to wait for the answer to each command but the end of the message (and for the
    /// option negotiation). Default: 30 s (Postfix's `milter_command_timeout`).
    pub command_timeout: Duration,
    /// How long to wait for the answer to the end of the message. Default: 300 s (Postfix's
    /// `milter_content_timeout`).
    pub eom_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            actions: Actions::ALL,
            protocol: Protocol::MTA_OFFER,
            max_frame: (1 << 20) + 16,
            command_timeout: Duration::from_secs(30),
            eom_timeout: Duration::from_mins(5),
        }
    }
}

/// What the MTA side reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The filter answered the option negotiation; commands may be sent now.
    Negotiated(OptNeg),
    /// A modification (or quarantine) the filter makes, after [`Command::EndOfMessage`] and
    /// before its verdict. Only the modifications it negotiated are reported.
    Modification(Response),
    /// The filter's answer to the command sent last: [`Response::Accept`], `Continue`,
    /// `Reject`, `Tempfail`, `ReplyCode`, `Discard`, `Skip`, `ConnectionFail` or `Shutdown`.
    Reply(Response),
    /// The session failed (a malformed or unexpected frame, a timeout); it is closed.
    Failed(SessionError),
}

/// What [`ClientSession::send`] did with a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// Queued; wait for an [`Event::Reply`] before sending the next command.
    AwaitReply,
    /// Queued; the filter does not answer it (macros, abort, quit, or an `SMFIP_NR_*` step).
    NoReply,
    /// Not sent: the filter asked not to get this step (`SMFIP_NO*`), or the macros are for one.
    Skipped,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Negotiating {
        deadline: Option<Instant>,
    },
    Ready,
    Awaiting {
        eom: bool,
        deadline: Option<Instant>,
    },
    Closed,
}

/// The MTA side of a milter connection.
///
/// Call order (the [`Machine`] contract): `new` queues the option negotiation; call
/// `handle_timeout(now)` once, write out `poll_transmit`, feed the filter's bytes with
/// `handle_input` and drain `poll_event` until [`Event::Negotiated`]. Then, for each step,
/// [`ClientSession::send`] a command, write it out, and when it returned [`Sent::AwaitReply`]
/// read until an [`Event::Reply`] (after [`Command::EndOfMessage`], [`Event::Modification`]s
/// come first). `poll_timeout` is the deadline of the pending answer.
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    state: State,
    negotiated: Option<OptNeg>,
    input: Vec<u8>,
    output: Vec<u8>,
    events: VecDeque<Event>,
}

impl ClientSession {
    /// A session that has queued its option negotiation.
    pub fn new(config: ClientConfig) -> Self {
        let mut output = Vec::new();
        let offer = Command::OptNeg(OptNeg {
            version: VERSION,
            actions: config.actions,
            protocol: config.protocol,
            macros: Vec::new(),
        });
        crate::encode::command(&offer, usize::MAX, &mut output).expect("an offer encodes");
        Self {
            config,
            state: State::Negotiating { deadline: None },
            negotiated: None,
            input: Vec::new(),
            output,
            events: VecDeque::new(),
        }
    }

    /// What the filter chose in the option negotiation, once it has answered.
    pub fn negotiated(&self) -> Option<&OptNeg> {
        self.negotiated.as_ref()
    }

    /// Whether the filter negotiated the modification `action`.
    pub fn may(&self, action: Actions) -> bool {
        self.negotiated
            .as_ref()
            .is_some_and(|n| n.actions.contains(action))
    }

    /// Queues `cmd`. Fails, changing nothing, before the negotiation, while an answer is
    /// pending, after the session closed, for a second option negotiation, for a body chunk
    /// longer than [`CHUNK_SIZE`] and for text holding a NUL.
    ///
    /// Macros ([`Command::Macro`]) are cut to the names the filter asked for at that stage,
    /// when it asked (`SMFIF_SETSYMLIST`).
    pub fn send(&mut self, now: Instant, cmd: Command) -> Result<Sent, UsageError> {
        match self.state {
            State::Closed => return Err(UsageError::Closed),
            State::Negotiating { .. } => {
                return Err(UsageError::NotAllowed {
                    what: "a command",
                    why: "the option negotiation is not answered yet",
                });
            }
            State::Awaiting { .. } => {
                return Err(UsageError::NotAllowed {
                    what: "a command",
                    why: "the filter has not answered the last one",
                });
            }
            State::Ready => {}
        }
        let protocol = self.negotiated.as_ref().map_or(Protocol(0), |n| n.protocol);
        let (skip_flag, no_reply_flag) = match &cmd {
            Command::OptNeg(_) => {
                return Err(UsageError::NotAllowed {
                    what: "an option negotiation",
                    why: "the session negotiated already",
                });
            }
            Command::Body(chunk) if chunk.len() > CHUNK_SIZE => {
                return Err(UsageError::NotAllowed {
                    what: "a body chunk",
                    why: "it is longer than CHUNK_SIZE",
                });
            }
            Command::Macro { code, .. } => (skip_flag_of(*code), None),
            Command::Connect { .. } => (Some(Protocol::NO_CONNECT), Some(Protocol::NR_CONNECT)),
            Command::Helo(_) => (Some(Protocol::NO_HELO), Some(Protocol::NR_HELO)),
            Command::Mail(_) => (Some(Protocol::NO_MAIL), Some(Protocol::NR_MAIL)),
            Command::Rcpt(_) => (Some(Protocol::NO_RCPT), Some(Protocol::NR_RCPT)),
            Command::Data => (Some(Protocol::NO_DATA), Some(Protocol::NR_DATA)),
            Command::Header { .. } => (Some(Protocol::NO_HEADERS), Some(Protocol::NR_HEADER)),
            Command::EndOfHeaders => (Some(Protocol::NO_EOH), Some(Protocol::NR_EOH)),
            Command::Body(_) => (Some(Protocol::NO_BODY), Some(Protocol::NR_BODY)),
            Command::Unknown(_) => (Some(Protocol::NO_UNKNOWN), Some(Protocol::NR_UNKNOWN)),
            Command::EndOfMessage => (None, Some(Protocol(0))),
            Command::Abort | Command::Quit | Command::QuitNewConnection => (None, None),
        };
        if skip_flag.is_some_and(|f| protocol.contains(f)) {
            return Ok(Sent::Skipped);
        }
        let cmd = match cmd {
            Command::Macro { code, macros } => {
                let wanted = self.negotiated.as_ref().and_then(|n| {
                    n.macros
                        .iter()
                        .find(|(stage, _)| stage.command_code() == code)
                        .map(|(_, names)| names.clone())
                });
                let macros = match wanted {
                    Some(names) => macros
                        .into_iter()
                        .filter(|(name, _)| names.split(|&b| b == b' ').any(|n| n == name))
                        .collect(),
                    None => macros,
                };
                if macros.is_empty() {
                    return Ok(Sent::Skipped);
                }
                Command::Macro { code, macros }
            }
            other => other,
        };
        crate::encode::command(&cmd, usize::MAX, &mut self.output).map_err(|_| {
            UsageError::NotAllowed {
                what: "a command",
                why: "a text field holds a NUL octet",
            }
        })?;
        match no_reply_flag {
            Some(f) if f.0 == 0 || !protocol.contains(f) => {
                let eom = matches!(cmd, Command::EndOfMessage);
                let timeout = if eom {
                    self.config.eom_timeout
                } else {
                    self.config.command_timeout
                };
                self.state = State::Awaiting {
                    eom,
                    deadline: Some(now + timeout),
                };
                Ok(Sent::AwaitReply)
            }
            _ => {
                if matches!(cmd, Command::Quit) {
                    self.state = State::Closed;
                }
                Ok(Sent::NoReply)
            }
        }
    }

    fn fail(&mut self, error: SessionError) {
        self.events.push_back(Event::Failed(error));
        self.state = State::Closed;
        self.input.clear();
    }

    fn process(&mut self, now: Instant) {
        while self.state != State::Closed && !self.input.is_empty() {
            let (used, resp) = match crate::parse::response(&self.input, self.config.max_frame) {
                Ok(ok) => ok,
                Err(e) if e.is_incomplete() => return,
                Err(e) => return self.fail(SessionError::Malformed(e)),
            };
            self.input.drain(..used);
            match (self.state, resp) {
                (State::Negotiating { .. }, Response::OptNeg(o)) => {
                    if !(2..=VERSION).contains(&o.version) {
                        return self.fail(SessionError::NotOffered { what: "version" });
                    }
                    if !self.config.actions.contains(o.actions) {
                        return self.fail(SessionError::NotOffered { what: "actions" });
                    }
                    if !self.config.protocol.contains(o.protocol) {
                        return self.fail(SessionError::NotOffered { what: "protocol" });
                    }
                    self.negotiated = Some(o.clone());
                    self.state = State::Ready;
                    self.events.push_back(Event::Negotiated(o));
                }
                (State::Awaiting { eom, .. }, Response::Progress) => {
                    let timeout = if eom {
                        self.config.eom_timeout
                    } else {
                        self.config.command_timeout
                    };
                    self.state = State::Awaiting {
                        eom,
                        deadline: Some(now + timeout),
                    };
                }
                (State::Awaiting { eom: true, .. }, m) if m.is_modification() => {
                    if !m.required_action().is_some_and(|a| self.may(a)) {
                        return self.fail(SessionError::NotNegotiated);
                    }
                    self.events.push_back(Event::Modification(m));
                }
                (State::Awaiting { .. }, m) if m.is_modification() => {
                    return self.fail(SessionError::Unexpected {
                        what: "modification before the end of the message",
                    });
                }
                (_, Response::OptNeg(_)) => {
                    return self.fail(SessionError::Unexpected {
                        what: "option negotiation",
                    });
                }
                (State::Awaiting { .. }, verdict) => {
                    self.state = State::Ready;
                    self.events.push_back(Event::Reply(verdict));
                }
                _ => {
                    return self.fail(SessionError::Unexpected {
                        what: "response when none was asked for",
                    });
                }
            }
        }
    }
}

/// The `SMFIP_NO*` flag of the command whose macros carry `code`.
fn skip_flag_of(code: u8) -> Option<Protocol> {
    Some(match code {
        b'C' => Protocol::NO_CONNECT,
        b'H' => Protocol::NO_HELO,
        b'M' => Protocol::NO_MAIL,
        b'R' => Protocol::NO_RCPT,
        b'T' => Protocol::NO_DATA,
        b'L' => Protocol::NO_HEADERS,
        b'N' => Protocol::NO_EOH,
        b'B' => Protocol::NO_BODY,
        _ => return None,
    })
}

impl Machine for ClientSession {
    type Event = Event;

    fn handle_input(&mut self, now: Instant, data: &[u8]) {
        if self.state == State::Closed {
            return;
        }
        self.input.extend_from_slice(data);
        self.process(now);
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.output.is_empty() {
            None
        } else {
            Some(Bytes::from(std::mem::take(&mut self.output)))
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Negotiating { deadline } | State::Awaiting { deadline, .. } => deadline,
            State::Ready | State::Closed => None,
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            // The negotiation's timer runs from the connection's start.
            State::Negotiating { deadline: None } => {
                self.state = State::Negotiating {
                    deadline: Some(now + self.config.command_timeout),
                };
            }
            State::Negotiating { deadline: Some(d) }
            | State::Awaiting {
                deadline: Some(d), ..
            } if d <= now => {
                self.fail(SessionError::Timeout);
            }
            _ => {}
        }
    }

    fn handle_tls_established(&mut self) -> Result<(), UsageError> {
        Err(UsageError::NotPending {
            expected: "TLS upgrade",
        })
    }

    fn handle_shutdown(&mut self) {
        if self.state == State::Ready {
            crate::encode::command(&Command::Quit, usize::MAX, &mut self.output)
                .expect("QUIT encodes");
        }
        self.state = State::Closed;
    }

    fn wants_input(&self) -> bool {
        self.state != State::Closed
    }

    fn is_closed(&self) -> bool {
        self.state == State::Closed
    }
}
