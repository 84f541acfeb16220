//! What a server session reports ([`Event`]), the handles its decisions consume, and the values
//! those decisions take.

use bytes::Bytes;
use mailwright_sansio::Secret;

use crate::framer::FrameError;
use crate::parse::DecodeError;
use crate::state::SessionState;
use crate::types::command::CommandBody;
use crate::types::core::{Atom, Tag, Text};
use crate::types::datetime::DateTime;
use crate::types::flag::Flag;
use crate::types::mailbox::Mailbox;
use crate::types::qresync::QresyncParams;
use crate::types::response::{Code, Data, Response, StatusKind, StatusResponse};

/// What the client asked, or what the session did by itself.
///
/// A variant that carries a handle stops the session until the application answers with the
/// decision its docs name; the handle is consumed by that decision.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A command without a session-state change. Send its untagged data with
    /// [`ServerSession::send`](super::ServerSession::send), then end it with
    /// [`ServerSession::complete`](super::ServerSession::complete).
    Command {
        /// The command in progress.
        handle: CommandHandle,
        /// What it asks.
        command: CommandBody<'static>,
    },
    /// `LOGIN`, or `AUTHENTICATE PLAIN` (with or without SASL-IR, RFC 4959) run by the session:
    /// check the credentials and answer [`ServerSession::accept_login`](super::ServerSession::accept_login)
    /// or [`ServerSession::reject_login`](super::ServerSession::reject_login).
    Login {
        /// The login in progress.
        handle: LoginHandle,
        /// The SASL authorization identity, when the client gave one (PLAIN only, RFC 4616).
        authzid: Option<String>,
        /// The user name (the SASL authentication identity).
        username: String,
        /// The password.
        password: Secret<String>,
    },
    /// `AUTHENTICATE` with a mechanism of [`ServerConfig::sasl_mechanisms`](super::ServerConfig::sasl_mechanisms):
    /// the application runs it, sending challenges with
    /// [`ServerSession::sasl_challenge`](super::ServerSession::sasl_challenge) (the client's
    /// answers come as [`Event::AuthenticateData`]) and ending it with `accept_login` or
    /// `reject_login`.
    Authenticate {
        /// The login in progress (kept across challenges).
        handle: LoginHandle,
        /// The mechanism, as the client spelled it.
        mechanism: Atom<'static>,
        /// The decoded SASL-IR initial response (`=` gives an empty one).
        initial_response: Option<Secret<Vec<u8>>>,
    },
    /// The client's decoded answer to a challenge of an application-run mechanism. The handle
    /// of [`Event::Authenticate`] decides again.
    AuthenticateData {
        /// The decoded octets.
        data: Secret<Vec<u8>>,
    },
    /// `SELECT` or `EXAMINE`: open the mailbox, send its untagged data, then
    /// [`ServerSession::accept_select`](super::ServerSession::accept_select) (enters the selected
    /// state) or [`ServerSession::reject`](super::ServerSession::reject) (leaves it, RFC 3501
    /// §6.3.1).
    Select {
        /// The command in progress.
        handle: SelectHandle,
        /// The mailbox.
        mailbox: Mailbox<'static>,
        /// `EXAMINE`.
        read_only: bool,
        /// The `(CONDSTORE)` parameter (RFC 7162 §3.1.8).
        condstore: bool,
        /// The `QRESYNC (...)` parameter (RFC 7162 §3.2.5). Answer `BAD` when QRESYNC was not
        /// enabled on the connection; else send `VANISHED (EARLIER)` and the changed flags
        /// before accepting.
        qresync: Option<QresyncParams>,
    },
    /// `CLOSE` (expunge silently, RFC 3501 §6.4.2) or `UNSELECT` (RFC 3691): answer
    /// [`ServerSession::accept_close`](super::ServerSession::accept_close) (leaves the selected
    /// state).
    Close {
        /// The command in progress.
        handle: CloseHandle,
        /// `CLOSE` (true) or `UNSELECT`.
        expunge: bool,
    },
    /// `LOGOUT`: answer [`ServerSession::accept_logout`](super::ServerSession::accept_logout).
    Logout {
        /// The command in progress.
        handle: LogoutHandle,
    },
    /// `IDLE` (RFC 2177): [`ServerSession::accept_idle`](super::ServerSession::accept_idle) sends
    /// `+ idling`; send updates with `send` until [`Event::IdleDone`].
    Idle {
        /// The command in progress.
        handle: IdleHandle,
    },
    /// The client ended IDLE with `DONE`: answer `complete(handle, Condition::Ok, ..)`.
    IdleDone {
        /// The IDLE command, to complete.
        handle: CommandHandle,
    },
    /// `STARTTLS`: [`ServerSession::accept_starttls`](super::ServerSession::accept_starttls),
    /// write out the OK, run the handshake, then call
    /// [`ServerSession::handle_tls_established`](super::ServerSession::handle_tls_established).
    StartTls {
        /// The command in progress.
        handle: StartTlsHandle,
    },
    /// `COMPRESS` (RFC 4978): [`ServerSession::accept_compress`](super::ServerSession::accept_compress),
    /// write out the OK uncompressed, then compress both directions.
    Compress {
        /// The command in progress.
        handle: CompressHandle,
        /// The algorithm, `DEFLATE`.
        algorithm: Atom<'static>,
    },
    /// A streamed APPEND starts (the `+` was sent if needed); [`Event::AppendChunk`]s follow,
    /// then [`Event::AppendNext`] (MULTIAPPEND), [`Event::AppendEnd`] or [`Event::AppendAborted`].
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
    /// The next message of a MULTIAPPEND (RFC 3502) starts (the `+` was sent if needed): its
    /// [`Event::AppendChunk`]s follow. Keep the messages before it out of sight: at
    /// [`Event::AppendEnd`] all are stored or none (`OK [APPENDUID v uid-set]`); at
    /// [`Event::AppendAborted`] none.
    AppendNext {
        /// Flags to set.
        flags: Option<Vec<Flag<'static>>>,
        /// Internal date.
        date: Option<DateTime>,
        /// The message size.
        length: u32,
    },
    /// The APPEND command is complete: store the message (every message of a MULTIAPPEND, all
    /// or none) and `complete` it (`OK [APPENDUID ...]`).
    AppendEnd {
        /// The APPEND command, to complete.
        handle: CommandHandle,
    },
    /// The APPEND command went wrong after its message (trailing syntax): the session answered
    /// BAD; discard what was stored.
    AppendAborted {
        /// The command's tag.
        tag: Tag<'static>,
    },
    /// The client sent something the session answered by itself (for the log).
    Rejected {
        /// The tag, when one could be read.
        tag: Option<Tag<'static>>,
        /// Why.
        reason: RejectReason,
    },
    /// The session left the selected state by itself: a `SELECT` or `EXAMINE` whose arguments
    /// do not parse was answered `BAD` (an [`Event::Rejected`] comes first), and RFC 3501 §6.3.1
    /// has a failed SELECT leave no mailbox selected (Dovecot does the same). Drop the selected
    /// mailbox; there is nothing to answer.
    Deselected,
    /// The session closed by itself (its goodbye is in the last transmit).
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

/// Why the session answered a command by itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RejectReason {
    /// The command does not parse (`BAD`).
    #[error("syntax error: {0}")]
    Syntax(DecodeError),
    /// The command is not valid in the current state (`BAD`).
    #[error("command {command} not valid in state {state:?}")]
    WrongState {
        /// The command's name.
        command: &'static str,
        /// The state.
        state: SessionState,
    },
    /// A limit of the framer (`BAD`, or `NO [TOOBIG]` for an APPEND over the limit).
    #[error("{0}")]
    Limit(FrameError),
    /// IDLE was ended by something other than `DONE` (`BAD`).
    #[error("expected DONE")]
    ExpectedDone,
    /// The client cancelled AUTHENTICATE with `*` (`BAD`, RFC 3501 §6.2.2).
    #[error("authentication cancelled by the client")]
    AuthenticateCancelled,
    /// AUTHENTICATE data the session could not read: invalid base64, a literal, an over-long
    /// line (`BAD`, RFC 3501 §6.2.2).
    #[error("malformed authentication data: {why}")]
    MalformedCredentials {
        /// What was wrong (never the data).
        why: &'static str,
    },
    /// Credentials that cannot be checked: a PLAIN message that is not `[authzid] NUL authcid
    /// NUL passwd` in UTF-8 (RFC 4616), LOGIN credentials that are not UTF-8
    /// (`NO [AUTHENTICATIONFAILED]`).
    #[error("unusable credentials: {why}")]
    UnusableCredentials {
        /// What was wrong (never the credentials).
        why: &'static str,
    },
    /// An AUTHENTICATE mechanism neither the session nor the application runs (`NO`).
    #[error("unsupported authentication mechanism {0}")]
    UnsupportedMechanism(Atom<'static>),
}

impl RejectReason {
    /// Whether the reason counts against [`ServerConfig::max_bad_commands`](super::ServerConfig::max_bad_commands).
    pub(crate) fn counts(&self) -> bool {
        !matches!(
            self,
            RejectReason::AuthenticateCancelled
                | RejectReason::UnsupportedMechanism(_)
                | RejectReason::Limit(FrameError::LiteralTooLarge { append: true, .. })
        )
    }
}

/// Why the session closed by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// No login within [`ServerConfig::login_timeout`](super::ServerConfig::login_timeout).
    LoginTimeout,
    /// No input for [`ServerConfig::autologout`](super::ServerConfig::autologout) (RFC 3501 §5.4).
    Autologout,
    /// A command was not complete within [`ServerConfig::command_timeout`](super::ServerConfig::command_timeout).
    CommandTimeout,
    /// [`ServerConfig::max_bad_commands`](super::ServerConfig::max_bad_commands) was reached.
    TooManyBadCommands,
    /// [`ServerSession::handle_shutdown`](super::ServerSession::handle_shutdown) was called.
    Shutdown,
}

/// The condition of a tagged completion (`resp-cond-state`, RFC 3501 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Condition {
    /// `OK`: the command succeeded.
    Ok,
    /// `NO`: the command failed.
    No,
    /// `BAD`: the command was not acceptable.
    Bad,
}

impl From<Condition> for StatusKind {
    fn from(c: Condition) -> StatusKind {
        match c {
            Condition::Ok => StatusKind::Ok,
            Condition::No => StatusKind::No,
            Condition::Bad => StatusKind::Bad,
        }
    }
}

/// How [`ServerSession::reject`](super::ServerSession::reject) refuses a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// `NO`: the command failed.
    No,
    /// `BAD`: the command was not acceptable.
    Bad,
}

impl From<Refusal> for Condition {
    fn from(r: Refusal) -> Condition {
        match r {
            Refusal::No => Condition::No,
            Refusal::Bad => Condition::Bad,
        }
    }
}

/// Untagged server data: what the application sends while a command runs or during IDLE. Tagged
/// completions, continuation requests and BYE are the session's own, through its decision
/// methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Untagged<'a> {
    /// `* EXISTS`, `* FETCH`, `* LIST` ...
    Data(Data<'a>),
    /// `* OK [code] text`, `* NO ...`, `* BAD ...` (RFC 3501 §7.1).
    Status {
        /// The condition.
        condition: Condition,
        /// The response code.
        code: Option<Code<'a>>,
        /// The text.
        text: Text<'a>,
    },
}

impl<'a> Untagged<'a> {
    /// `* OK [code] text`; text the grammar does not allow is cleaned (see
    /// [`ServerSession::complete`](super::ServerSession::complete)).
    pub fn ok(code: Option<Code<'a>>, text: &str) -> Self {
        Untagged::Status {
            condition: Condition::Ok,
            code,
            text: clean_text(text),
        }
    }

    pub(crate) fn into_response(self) -> Response<'a> {
        match self {
            Untagged::Data(d) => Response::Data(d),
            Untagged::Status {
                condition,
                code,
                text,
            } => Response::Status(StatusResponse {
                tag: None,
                kind: condition.into(),
                code,
                text,
            }),
        }
    }
}

impl<'a> From<Data<'a>> for Untagged<'a> {
    fn from(d: Data<'a>) -> Self {
        Untagged::Data(d)
    }
}

impl<'a> TryFrom<Response<'a>> for Untagged<'a> {
    /// A tagged response, a continuation request, `BYE` or `PREAUTH`, handed back.
    type Error = Response<'a>;

    fn try_from(r: Response<'a>) -> Result<Self, Response<'a>> {
        match r {
            Response::Data(d) => Ok(Untagged::Data(d)),
            Response::Status(StatusResponse {
                tag: None,
                kind,
                code,
                text,
            }) if matches!(kind, StatusKind::Ok | StatusKind::No | StatusKind::Bad) => {
                Ok(Untagged::Status {
                    condition: match kind {
                        StatusKind::Ok => Condition::Ok,
                        StatusKind::No => Condition::No,
                        _ => Condition::Bad,
                    },
                    code,
                    text,
                })
            }
            other => Err(other),
        }
    }
}

/// `text` as response text: CR, LF, NUL and 8-bit octets (which `text` does not allow, RFC 3501
/// §9) become `?`.
pub(crate) fn clean_text(text: &str) -> Text<'static> {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii() && crate::types::core::chars::is_text_char(c as u8) {
                c
            } else {
                '?'
            }
        })
        .collect();
    Text::try_from(cleaned).unwrap_or_else(|_| Text::unvalidated(String::new()))
}

pub(crate) mod sealed {
    /// What every handle has inside.
    pub trait Sealed {
        /// The decision's id.
        fn id(&self) -> u64;
        /// Uses the handle up: its id.
        fn consume(self) -> u64;
    }
}

/// A command in progress whose handle any refusal may consume
/// ([`ServerSession::reject`](super::ServerSession::reject)).
pub trait PendingCommand: sealed::Sealed {
    /// The command's tag.
    fn tag(&self) -> &Tag<'static>;
}

macro_rules! handle {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// Not `Clone`: exactly one decision consumes it. A decision given a handle of a command
        /// that is no longer pending (the session closed meanwhile, or the exchange ended)
        /// returns a [`UsageError`](mailwright_sansio::UsageError).
        #[derive(Debug, PartialEq, Eq)]
        #[must_use = "the session waits until a decision consumes the handle"]
        pub struct $name {
            pub(crate) id: u64,
            pub(crate) tag: Tag<'static>,
        }

        impl $name {
            pub(crate) fn new(tag: Tag<'static>) -> Self {
                Self {
                    id: crate::state::next_id(),
                    tag,
                }
            }

            /// The command's tag.
            pub fn tag(&self) -> &Tag<'static> {
                &self.tag
            }
        }

        impl sealed::Sealed for $name {
            fn id(&self) -> u64 {
                self.id
            }
            fn consume(self) -> u64 {
                self.id
            }
        }

        impl PendingCommand for $name {
            fn tag(&self) -> &Tag<'static> {
                &self.tag
            }
        }
    };
}

handle!(
    /// A command without a state change, ended by [`ServerSession::complete`](super::ServerSession::complete).
    CommandHandle
);
handle!(
    /// A login (LOGIN, AUTHENTICATE), ended by [`ServerSession::accept_login`](super::ServerSession::accept_login)
    /// or [`ServerSession::reject_login`](super::ServerSession::reject_login).
    LoginHandle
);
handle!(
    /// SELECT or EXAMINE, ended by [`ServerSession::accept_select`](super::ServerSession::accept_select)
    /// or [`ServerSession::reject`](super::ServerSession::reject).
    SelectHandle
);
handle!(
    /// CLOSE or UNSELECT, ended by [`ServerSession::accept_close`](super::ServerSession::accept_close).
    CloseHandle
);
handle!(
    /// LOGOUT, ended by [`ServerSession::accept_logout`](super::ServerSession::accept_logout).
    LogoutHandle
);
handle!(
    /// IDLE before its `+`, answered by [`ServerSession::accept_idle`](super::ServerSession::accept_idle).
    IdleHandle
);
handle!(
    /// STARTTLS, answered by [`ServerSession::accept_starttls`](super::ServerSession::accept_starttls).
    StartTlsHandle
);
handle!(
    /// COMPRESS, answered by [`ServerSession::accept_compress`](super::ServerSession::accept_compress).
    CompressHandle
);
