//! The application's side of a server session: untagged data, and the decisions that consume
//! the handles of [`Event`](super::Event)s.
//!
//! Every method returns `Err(UsageError)` and changes nothing when it does not apply: the
//! session is closed ([`UsageError::Closed`]), or the handle's command is no longer pending
//! ([`UsageError::NotPending`]: the session timed out or ended the exchange meanwhile), or the
//! call is not allowed now ([`UsageError::NotAllowed`]).

use bytes::Bytes;
use mailwright_sansio::{Machine, UsageError};

use super::event::{
    self, CloseHandle, CommandHandle, CompressHandle, Condition, IdleHandle, LoginHandle,
    LogoutHandle, PendingCommand, Refusal, SelectHandle, StartTlsHandle, Untagged, sealed::Sealed,
};
use super::{Busy, CloseReason, Kind, ServerSession, SessionState};
use crate::types::core::{Atom, Tag, Vec1};
use crate::types::response::{Code, Continue, StatusKind};

impl ServerSession {
    /// Sends untagged data: while a command runs (before its completion), during IDLE, or
    /// between commands (RFC 3501 §7: the server may send untagged data at any time). Not
    /// inside an AUTHENTICATE exchange, nor after STARTTLS was accepted.
    ///
    /// ```
    /// use mailwright_imap_proto::server::{ServerConfig, ServerSession, Untagged};
    /// use mailwright_imap_proto::types::response::{Code, Data};
    /// use mailwright_imap_proto::Machine;
    /// let mut s = ServerSession::new(ServerConfig::default());
    /// let _ = s.poll_transmit();
    /// s.send(Data::Exists(18)).unwrap();
    /// s.send(Untagged::ok(Some(Code::UidNext(4392.try_into().unwrap())), "Predicted next UID")).unwrap();
    /// assert_eq!(&s.poll_transmit().unwrap()[..], b"* 18 EXISTS\r\n* OK [UIDNEXT 4392] Predicted next UID\r\n");
    /// ```
    pub fn send<'a>(&mut self, data: impl Into<Untagged<'a>>) -> Result<(), UsageError> {
        self.usable()?;
        match self.busy {
            Busy::Sasl { .. } => Err(UsageError::NotAllowed {
                what: "untagged data",
                why: "an AUTHENTICATE exchange is in progress",
            }),
            Busy::Tls => Err(UsageError::NotAllowed {
                what: "untagged data",
                why: "STARTTLS was accepted: the next octets are the TLS handshake",
            }),
            _ => {
                self.write(&data.into().into_response());
                Ok(())
            }
        }
    }

    /// Says `* BYE text` and closes: the session cannot go on (the selected mailbox was deleted
    /// under it ...). A pending command's handle is void afterwards.
    pub fn bye(&mut self, text: &str) -> Result<(), UsageError> {
        self.usable()?;
        if self.busy == Busy::Tls {
            return Err(UsageError::NotAllowed {
                what: "BYE",
                why: "STARTTLS was accepted: the next octets are the TLS handshake",
            });
        }
        self.goodbye(None, text);
        Ok(())
    }

    /// Completes a command of [`Event::Command`](super::Event::Command),
    /// [`Event::IdleDone`](super::Event::IdleDone) or [`Event::AppendEnd`](super::Event::AppendEnd):
    /// `tag OK/NO/BAD [code] text`. Text the grammar does not allow (CR, LF, NUL, 8-bit octets)
    /// is sent with `?` in their place.
    pub fn complete(
        &mut self,
        handle: CommandHandle,
        condition: Condition,
        code: Option<Code<'_>>,
        text: &str,
    ) -> Result<(), UsageError> {
        let (tag, _) = self.take(handle.consume(), &[Kind::Command], "command completion")?;
        self.answer(Some(tag), condition.into(), code, text);
        self.finish();
        Ok(())
    }

    /// Refuses any pending command with `NO` or `BAD`; its state change does not happen. A
    /// refused SELECT or EXAMINE leaves the selected state (RFC 3501 §6.3.1); a refused login is
    /// better answered with [`ServerSession::reject_login`], which counts it.
    pub fn reject(
        &mut self,
        handle: impl PendingCommand,
        refusal: Refusal,
        code: Option<Code<'_>>,
        text: &str,
    ) -> Result<(), UsageError> {
        let (tag, kind) = self.take(
            handle.consume(),
            &[
                Kind::Command,
                Kind::Login { sasl: false },
                Kind::Login { sasl: true },
                Kind::Select,
                Kind::Close,
                Kind::Logout,
                Kind::Idle,
                Kind::StartTls,
                Kind::Compress,
            ],
            "command",
        )?;
        if kind == Kind::Select && self.state == SessionState::Selected {
            self.state = SessionState::Authenticated;
        }
        let condition: Condition = refusal.into();
        self.answer(Some(tag), condition.into(), code, text);
        self.finish();
        Ok(())
    }

    /// Accepts a login ([`Event::Login`](super::Event::Login), [`Event::Authenticate`](super::Event::Authenticate)):
    /// `tag OK [CAPABILITY ...] Logged in`, and the session is authenticated. Pass the
    /// capabilities of the authenticated state, so the client need not ask (RFC 3501 §6.2.3).
    pub fn accept_login(
        &mut self,
        handle: LoginHandle,
        capabilities: Option<Vec1<Atom<'_>>>,
    ) -> Result<(), UsageError> {
        let (tag, _) = self.take(
            handle.consume(),
            &[Kind::Login { sasl: false }, Kind::Login { sasl: true }],
            "login decision",
        )?;
        self.state = SessionState::Authenticated;
        self.login_timer.disarm();
        self.answer(
            Some(tag),
            StatusKind::Ok,
            capabilities.map(Code::Capability),
            "Logged in",
        );
        self.finish();
        Ok(())
    }

    /// Refuses a login: `tag NO [code] text`, e.g. `[AUTHENTICATIONFAILED] Authentication
    /// failed.` or `[PRIVACYREQUIRED] ...` (RFC 5530). It counts against
    /// [`ServerConfig::max_bad_commands`](super::ServerConfig::max_bad_commands); at the limit the
    /// session says BYE after the NO and closes.
    pub fn reject_login(
        &mut self,
        handle: LoginHandle,
        code: Option<Code<'_>>,
        text: &str,
    ) -> Result<(), UsageError> {
        let (tag, _) = self.take(
            handle.consume(),
            &[Kind::Login { sasl: false }, Kind::Login { sasl: true }],
            "login decision",
        )?;
        self.answer(Some(tag), StatusKind::No, code, text);
        if !self.count_bad() {
            self.finish();
        }
        Ok(())
    }

    /// Sends a challenge of a mechanism the application runs (`+ base64`, RFC 3501 §6.2.2); the
    /// client's answer comes as [`Event::AuthenticateData`](super::Event::AuthenticateData), and
    /// the same handle decides again. Not for LOGIN and PLAIN, which have no challenges.
    pub fn sasl_challenge(&mut self, handle: &LoginHandle, data: &[u8]) -> Result<(), UsageError> {
        self.usable()?;
        match &self.busy {
            Busy::Deciding {
                id,
                kind: Kind::Login { sasl: true },
                ..
            } if *id == handle.id() => {}
            Busy::Deciding {
                id,
                kind: Kind::Login { sasl: false },
                ..
            } if *id == handle.id() => {
                return Err(UsageError::NotAllowed {
                    what: "a SASL challenge",
                    why: "LOGIN and AUTHENTICATE PLAIN have no challenges",
                });
            }
            _ => {
                return Err(UsageError::NotPending {
                    expected: "login decision",
                });
            }
        }
        self.continuation(Continue::base64(data));
        self.busy = Busy::Sasl {
            tag: handle.tag.clone(),
            app: Some(handle.id()),
        };
        self.rearm = true;
        Ok(())
    }

    /// Completes SELECT or EXAMINE with `tag OK [code] text` (`[READ-WRITE]` or `[READ-ONLY]`,
    /// RFC 3501 §6.3.1) and enters the selected state. Send the mailbox's untagged data first.
    pub fn accept_select(
        &mut self,
        handle: SelectHandle,
        code: Option<Code<'_>>,
        text: &str,
    ) -> Result<(), UsageError> {
        let (tag, _) = self.take(handle.consume(), &[Kind::Select], "SELECT decision")?;
        self.state = SessionState::Selected;
        self.answer(Some(tag), StatusKind::Ok, code, text);
        self.finish();
        Ok(())
    }

    /// Completes CLOSE or UNSELECT with `tag OK text` and leaves the selected state.
    pub fn accept_close(&mut self, handle: CloseHandle, text: &str) -> Result<(), UsageError> {
        let (tag, _) = self.take(handle.consume(), &[Kind::Close], "CLOSE decision")?;
        self.state = SessionState::Authenticated;
        self.answer(Some(tag), StatusKind::Ok, None, text);
        self.finish();
        Ok(())
    }

    /// Completes LOGOUT: `* BYE Logging out`, `tag OK Logout completed.` (RFC 3501 §6.1.3); the
    /// session is closed.
    pub fn accept_logout(&mut self, handle: LogoutHandle) -> Result<(), UsageError> {
        let (tag, _) = self.take(handle.consume(), &[Kind::Logout], "LOGOUT decision")?;
        self.answer(None, StatusKind::Bye, None, "Logging out");
        self.answer(Some(tag), StatusKind::Ok, None, "Logout completed.");
        self.goodbye_quietly();
        Ok(())
    }

    /// Enters IDLE (RFC 2177): `+ idling`. Send updates with [`ServerSession::send`] until
    /// [`Event::IdleDone`](super::Event::IdleDone); the autologout timer runs meanwhile.
    pub fn accept_idle(&mut self, handle: IdleHandle) -> Result<(), UsageError> {
        let (tag, _) = self.take(handle.consume(), &[Kind::Idle], "IDLE decision")?;
        self.continuation(Continue {
            code: None,
            text: event::clean_text("idling"),
        });
        self.busy = Busy::Idling { tag };
        self.finish();
        Ok(())
    }

    /// Accepts STARTTLS: `tag OK Begin TLS negotiation now.` The plaintext the client sent after
    /// the command is dropped (RFC 3501 §6.2.1); returns how many octets. Write out the transmit,
    /// run the handshake, then call [`ServerSession::handle_tls_established`]; until then the
    /// session reads nothing.
    pub fn accept_starttls(&mut self, handle: StartTlsHandle) -> Result<usize, UsageError> {
        let (tag, _) = self.take(handle.consume(), &[Kind::StartTls], "STARTTLS decision")?;
        self.answer(
            Some(tag),
            StatusKind::Ok,
            None,
            "Begin TLS negotiation now.",
        );
        let discarded = self.framer.discard_buffered();
        // A shutdown asked for meanwhile says BYE after the handshake, not in plaintext.
        self.busy = Busy::Tls;
        Ok(discarded)
    }

    /// The TLS handshake after [`ServerSession::accept_starttls`] is done: the session reads
    /// again, now over TLS.
    pub fn handle_tls_established(&mut self) -> Result<(), UsageError> {
        self.usable()?;
        if self.busy != Busy::Tls {
            return Err(UsageError::NotPending {
                expected: "TLS handshake",
            });
        }
        self.busy = Busy::Ready;
        self.finish();
        Ok(())
    }

    /// Accepts COMPRESS (RFC 4978): `tag OK Begin compression.` Write out the transmit
    /// uncompressed, then compress both directions. Returns the octets the client sent after
    /// its command: they are compressed already; inflate them and feed them back.
    pub fn accept_compress(&mut self, handle: CompressHandle) -> Result<Bytes, UsageError> {
        let (tag, _) = self.take(handle.consume(), &[Kind::Compress], "COMPRESS decision")?;
        self.answer(Some(tag), StatusKind::Ok, None, "Begin compression.");
        let rest = self.framer.take_buffered();
        self.finish();
        Ok(rest)
    }

    /// The session is not closed.
    fn usable(&self) -> Result<(), UsageError> {
        if self.is_closed() {
            Err(UsageError::Closed)
        } else {
            Ok(())
        }
    }

    /// Takes the pending decision `id` if it is of one of `kinds`.
    fn take(
        &mut self,
        id: u64,
        kinds: &[Kind],
        expected: &'static str,
    ) -> Result<(Tag<'static>, Kind), UsageError> {
        self.usable()?;
        match &self.busy {
            Busy::Deciding { id: p, kind, .. } if *p == id && kinds.contains(kind) => {}
            _ => return Err(UsageError::NotPending { expected }),
        }
        match std::mem::replace(&mut self.busy, Busy::Ready) {
            Busy::Deciding { tag, kind, .. } => Ok((tag, kind)),
            _ => Err(UsageError::NotPending { expected }),
        }
    }

    /// A decision ended the command: the waiting timers restart (reported by `poll_timeout` as
    /// the last instant seen), and a shutdown asked for meanwhile happens now.
    fn finish(&mut self) {
        if self.is_closed() {
            return;
        }
        self.rearm = true;
        if self.shutdown_requested && !matches!(self.busy, Busy::Deciding { .. }) {
            self.close_with(CloseReason::Shutdown);
        }
    }

    /// Closes after the session's own goodbye (LOGOUT).
    fn goodbye_quietly(&mut self) {
        self.state = SessionState::Logout;
        self.login_timer.disarm();
        self.idle_timer.disarm();
        self.command_timer.disarm();
        self.rearm = false;
    }
}
