//! The filter side: reports the MTA's commands and sends the filter's answers.

use std::time::Instant;

use bytes::Bytes;
use mailwright_sansio::{Machine, UsageError};

use crate::error::SessionError;
use crate::types::{Actions, Command, OptNeg, Protocol, Response, Stage, VERSION};

/// The filter side's settings.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The modifications the filter wants; it gets those the MTA offers. Default: none.
    pub actions: Actions,
    /// The protocol flags the filter wants; it gets those the MTA offers. Default: none (every
    /// step is sent and answered).
    pub protocol: Protocol,
    /// The macros the filter asks for per stage (names separated by spaces); sent only when the
    /// MTA offers `SMFIF_SETSYMLIST`. Default: none.
    pub macros: Vec<(Stage, Vec<u8>)>,
    /// The longest frame accepted from the MTA. Default: 1 MiB and 16 octets.
    pub max_frame: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            actions: Actions(0),
            protocol: Protocol(0),
            macros: Vec::new(),
            max_frame: (1 << 20) + 16,
        }
    }
}

/// What the filter side reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The MTA's offer, answered by the session from its [`ServerConfig`]; `chosen` is the
    /// answer.
    Negotiated {
        /// What the MTA offered.
        offer: OptNeg,
        /// What the session answered.
        chosen: OptNeg,
    },
    /// A command. When [`ServerSession::reply_pending`] is true after it, answer with
    /// [`ServerSession::reply`] (after [`Command::EndOfMessage`], modifications first).
    Command(Command),
    /// The session failed; it is closed.
    Failed(SessionError),
}

/// The filter side of a milter connection.
///
/// Call order (the [`Machine`] contract): feed the MTA's bytes with `handle_input`, drain
/// `poll_event`; a command that needs an answer stops the session until
/// [`ServerSession::reply`] gives its verdict; write out `poll_transmit`. The session has no
/// timer.
#[derive(Debug)]
pub struct ServerSession {
    config: ServerConfig,
    negotiated: Option<OptNeg>,
    pending: Option<u8>,
    input: Vec<u8>,
    output: Vec<u8>,
    closed: bool,
}

impl ServerSession {
    /// A session waiting for the MTA's option negotiation.
    pub fn new(config: ServerConfig) -> Self {
        Self {
            config,
            negotiated: None,
            pending: None,
            input: Vec::new(),
            output: Vec::new(),
            closed: false,
        }
    }

    /// Whether the last command reported waits for [`ServerSession::reply`].
    pub fn reply_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Answers the pending command. A modification (or quarantine) answers only
    /// [`Command::EndOfMessage`], needs its action negotiated, and leaves the command pending
    /// for the verdict; any other response is the verdict. Fails, changing nothing, when no
    /// command is pending or the response is not allowed here.
    #[allow(clippy::needless_pass_by_value)] // the verdict is handed over, as to a channel
    pub fn reply(&mut self, response: Response) -> Result<(), UsageError> {
        let Some(code) = self.pending else {
            return Err(UsageError::NotPending {
                expected: "milter reply",
            });
        };
        if matches!(response, Response::OptNeg(_)) {
            return Err(UsageError::NotAllowed {
                what: "an option negotiation",
                why: "the session answers it itself",
            });
        }
        if let Some(action) = response.required_action() {
            if code != b'E' {
                return Err(UsageError::NotAllowed {
                    what: "a modification",
                    why: "only the end of the message is answered with modifications",
                });
            }
            if !self
                .negotiated
                .as_ref()
                .is_some_and(|n| n.actions.contains(action))
            {
                return Err(UsageError::NotAllowed {
                    what: "a modification",
                    why: "its action was not negotiated",
                });
            }
        }
        crate::encode::response(&response, usize::MAX, &mut self.output).map_err(|_| {
            UsageError::NotAllowed {
                what: "a response",
                why: "a text field holds a NUL or the reply code is not 4xx/5xx",
            }
        })?;
        if !response.is_modification() && response != Response::Progress {
            self.pending = None;
        }
        Ok(())
    }

    fn answers(&self, cmd: &Command) -> bool {
        let p = self.negotiated.as_ref().map_or(Protocol(0), |n| n.protocol);
        let nr = match cmd {
            Command::Connect { .. } => Protocol::NR_CONNECT,
            Command::Helo(_) => Protocol::NR_HELO,
            Command::Mail(_) => Protocol::NR_MAIL,
            Command::Rcpt(_) => Protocol::NR_RCPT,
            Command::Data => Protocol::NR_DATA,
            Command::Header { .. } => Protocol::NR_HEADER,
            Command::EndOfHeaders => Protocol::NR_EOH,
            Command::Body(_) => Protocol::NR_BODY,
            Command::Unknown(_) => Protocol::NR_UNKNOWN,
            Command::EndOfMessage => return true,
            Command::OptNeg(_)
            | Command::Macro { .. }
            | Command::Abort
            | Command::Quit
            | Command::QuitNewConnection => return false,
        };
        !p.contains(nr)
    }
}

impl Machine for ServerSession {
    type Event = Event;

    fn handle_input(&mut self, _now: Instant, data: &[u8]) {
        if !self.closed {
            self.input.extend_from_slice(data);
        }
    }

    fn poll_event(&mut self) -> Option<Event> {
        if self.closed || self.pending.is_some() {
            return None;
        }
        let (used, cmd) = match crate::parse::command(&self.input, self.config.max_frame) {
            Ok(ok) => ok,
            Err(e) if e.is_incomplete() => return None,
            Err(e) => {
                self.closed = true;
                self.input.clear();
                return Some(Event::Failed(SessionError::Malformed(e)));
            }
        };
        self.input.drain(..used);
        match (cmd, self.negotiated.is_some()) {
            (Command::OptNeg(offer), false) => {
                let macros = if offer.actions.contains(Actions::SET_SYMLIST) {
                    self.config.macros.clone()
                } else {
                    Vec::new()
                };
                let chosen = OptNeg {
                    version: VERSION.min(offer.version),
                    actions: Actions(self.config.actions.0 & offer.actions.0),
                    protocol: Protocol(self.config.protocol.0 & offer.protocol.0),
                    macros,
                };
                if crate::encode::response(
                    &Response::OptNeg(chosen.clone()),
                    usize::MAX,
                    &mut self.output,
                )
                .is_err()
                {
                    self.closed = true;
                    return Some(Event::Failed(SessionError::Unexpected {
                        what: "macro list with a NUL in the configuration",
                    }));
                }
                self.negotiated = Some(chosen.clone());
                Some(Event::Negotiated { offer, chosen })
            }
            (Command::OptNeg(_), true) | (_, false) => {
                self.closed = true;
                self.input.clear();
                Some(Event::Failed(SessionError::Unexpected {
                    what: "command order",
                }))
            }
            (cmd, true) => {
                if self.answers(&cmd) {
                    self.pending = Some(cmd.code());
                }
                if matches!(cmd, Command::Quit) {
                    self.closed = true;
                }
                Some(Event::Command(cmd))
            }
        }
    }

    fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.output.is_empty() {
            None
        } else {
            Some(Bytes::from(std::mem::take(&mut self.output)))
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn handle_tls_established(&mut self) -> Result<(), UsageError> {
        Err(UsageError::NotPending {
            expected: "TLS upgrade",
        })
    }

    fn handle_shutdown(&mut self) {
        self.closed = true;
    }

    fn wants_input(&self) -> bool {
        !self.closed && (self.pending.is_none() || self.input.len() < self.config.max_frame)
    }

    fn is_closed(&self) -> bool {
        self.closed && self.output.is_empty()
    }
}
