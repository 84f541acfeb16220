//! The application's answers to the events of a server session. Each returns
//! [`UsageError`] when the session waits for no such answer (or the ticket is not the one it
//! issued), and changes nothing then.

use std::io::Read;

use mailwright_sansio::UsageError;

use crate::encode::{Encode, Feed};
use crate::types::{AuthReply, Response, ResponseCode, Secret, Status, Text};

use super::event::{LoginTicket, Maildrop, Refusal, SaslTicket, SessionState, UpdateTicket};
use super::{AUTH_FAILED, CloseReason, Pending, SHUTTING_DOWN, ServerSession};

/// Why [`ServerSession::send_message_from`] stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// No RETR or TOP answer is pending.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// Reading the message failed. The session has already given up on it: `-ERR [SYS/TEMP]` if
    /// nothing was sent yet, otherwise it closes ([`CloseReason::Aborted`]).
    #[error("reading the message: {0}")]
    Read(#[source] std::io::Error),
}

impl ServerSession {
    fn not_pending(&self, expected: &'static str) -> UsageError {
        if self.is_closed() {
            UsageError::Closed
        } else {
            UsageError::NotPending { expected }
        }
    }

    /// After every decision: the timers restart from the next instant the driver passes, and a
    /// shutdown asked for meanwhile takes effect.
    fn decided(&mut self) {
        self.rearm = true;
        if self.shutting_down && self.waits_for_client() {
            self.time_out(CloseReason::Shutdown, SHUTTING_DOWN);
        }
    }

    /// Accepts the login of an [`Event::Login`](super::Event::Login),
    /// [`Event::Apop`](super::Event::Apop) or SASL exchange and installs the maildrop listing: the
    /// session enters the TRANSACTION state (`+OK maildrop has n messages (m octets)`).
    pub fn accept_login(
        &mut self,
        ticket: impl Into<LoginTicket>,
        maildrop: Maildrop,
    ) -> Result<(), UsageError> {
        let id = ticket.into().redeem();
        if !matches!(self.pending, Pending::Login(p) | Pending::SaslStep(p) if p == id) {
            return Err(self.not_pending("login decision"));
        }
        self.pending = Pending::None;
        self.deleted = vec![false; maildrop.entries.len()];
        self.maildrop = maildrop;
        self.state = SessionState::Transaction;
        self.login_timer.disarm();
        self.reply(&Response::ok(&self.stat_line()));
        self.decided();
        Ok(())
    }

    /// Refuses the login of `ticket` with the `-ERR` reply [`Refusal`] names. Refusals for bad
    /// credentials count towards [`ServerLimits::max_failed_logins`](super::ServerLimits), after
    /// which the session closes.
    pub fn refuse_login(
        &mut self,
        ticket: impl Into<LoginTicket>,
        refusal: Refusal,
    ) -> Result<(), UsageError> {
        let id = ticket.into().redeem();
        if !matches!(self.pending, Pending::Login(p) | Pending::SaslStep(p) if p == id) {
            return Err(self.not_pending("login decision"));
        }
        self.pending = Pending::None;
        let (code, text, counts) = match refusal {
            Refusal::BadCredentials => (ResponseCode::Auth, Text::lossy(AUTH_FAILED), true),
            Refusal::TooManyFailures => (
                ResponseCode::SysTemp,
                Text::lossy("Too many failed logins, try again later."),
                true,
            ),
            Refusal::InUse => (
                ResponseCode::InUse,
                Text::lossy("Maildrop is locked by another session."),
                false,
            ),
            Refusal::LoginDelay => (
                ResponseCode::LoginDelay,
                Text::lossy("Logged in too recently."),
                false,
            ),
            Refusal::TemporaryFailure => (
                ResponseCode::SysTemp,
                Text::lossy("Temporary failure, try again later."),
                false,
            ),
            // RFC 3206 §6: with AUTH-RESP-CODE advertised, a credentials failure carries [AUTH].
            Refusal::Other { code, text } => {
                let counts = matches!(code, None | Some(ResponseCode::Auth));
                (code.unwrap_or(ResponseCode::Auth), text, counts)
            }
        };
        self.reply(&Response {
            status: Status::Err,
            code: Some(code),
            text,
        });
        if counts {
            self.login_failed();
        }
        self.decided();
        Ok(())
    }

    /// Sends a SASL challenge (`+ base64`) in an exchange the application runs
    /// ([`Event::Auth`](super::Event::Auth)); the client's answer comes as
    /// [`Event::AuthResponse`](super::Event::AuthResponse).
    pub fn sasl_challenge(&mut self, ticket: SaslTicket, data: &[u8]) -> Result<(), UsageError> {
        let id = ticket.redeem();
        if !matches!(self.pending, Pending::SaslStep(p) if p == id) {
            return Err(self.not_pending("SASL step"));
        }
        AuthReply::Continue(Secret::new(data.to_vec())).encode(&mut self.out);
        self.pending = Pending::SaslInput;
        self.decided();
        Ok(())
    }

    /// Streams one chunk of the message asked for by [`Event::Retr`](super::Event::Retr) or
    /// [`Event::Top`](super::Event::Top) (the `+OK` line goes first). Chunks may split the message
    /// anywhere; bare LF line ends become CRLF. [`Feed::Done`] means TOP has what it needs: stop
    /// reading and call [`finish_message`](Self::finish_message).
    pub fn send_message_chunk(&mut self, chunk: &[u8]) -> Result<Feed, UsageError> {
        let Pending::Message {
            stuffer,
            started,
            size,
        } = &mut self.pending
        else {
            return Err(self.not_pending("message"));
        };
        if !*started {
            *started = true;
            Response::ok(&format!("{size} octets")).encode(&mut self.out);
        }
        Ok(stuffer.feed(chunk, &mut self.out))
    }

    /// Ends the message being streamed (the `.` line); the next pipelined command is then parsed.
    pub fn finish_message(&mut self) -> Result<(), UsageError> {
        let Pending::Message {
            stuffer,
            started,
            size,
        } = &mut self.pending
        else {
            return Err(self.not_pending("message"));
        };
        if !*started {
            Response::ok(&format!("{size} octets")).encode(&mut self.out);
        }
        stuffer.finish(&mut self.out);
        self.pending = Pending::None;
        self.decided();
        Ok(())
    }

    /// Reads the message from `reader` and streams it, until the transmit buffer holds
    /// [`ServerLimits::transmit_high_water`](super::ServerLimits::transmit_high_water) octets
    /// (returns `Ok(false)`: write out [`poll_transmit`](Self::poll_transmit) and call again) or
    /// the message is complete (returns `Ok(true)`, the `.` line included). The message is never
    /// held whole.
    pub fn send_message_from<R: Read + ?Sized>(
        &mut self,
        reader: &mut R,
    ) -> Result<bool, MessageError> {
        if !self.is_sending_message() {
            return Err(self.not_pending("message").into());
        }
        let mut buf = [0u8; 16 * 1024];
        loop {
            if self.out.len() >= self.config.limits.transmit_high_water {
                return Ok(false);
            }
            let n = match reader.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.abort_message();
                    return Err(MessageError::Read(e));
                }
            };
            let feed = if n == 0 {
                Feed::Done
            } else {
                self.send_message_chunk(&buf[..n])?
            };
            if feed == Feed::Done {
                self.finish_message()?;
                return Ok(true);
            }
        }
    }

    /// Refuses the RETR/TOP pending with `-ERR [SYS/TEMP] message is no longer available` (the
    /// message file has gone). After streaming has begun there is no honest way to fail but to
    /// drop the connection: the session closes ([`CloseReason::Aborted`]).
    pub fn refuse_message(&mut self) -> Result<(), UsageError> {
        if !self.is_sending_message() {
            return Err(self.not_pending("message"));
        }
        self.abort_message();
        Ok(())
    }

    fn abort_message(&mut self) {
        if let Pending::Message { started: true, .. } = self.pending {
            self.close(CloseReason::Aborted);
            return;
        }
        self.pending = Pending::None;
        self.reply(&Response::err_code(
            ResponseCode::SysTemp,
            "message is no longer available",
        ));
        self.decided();
    }

    /// Reports that the UPDATE state removed every message of
    /// [`Event::Update`](super::Event::Update): `+OK bye (n messages left)`; the session closes.
    pub fn update_done(&mut self, ticket: UpdateTicket) -> Result<(), UsageError> {
        let id = ticket.redeem();
        if !matches!(self.pending, Pending::Update(p) if p == id) {
            return Err(self.not_pending("update"));
        }
        let left = self.deleted.iter().filter(|d| !**d).count();
        self.reply(&Response::ok(&format!("bye ({left} messages left)")));
        self.close(CloseReason::Quit);
        Ok(())
    }

    /// Reports that the UPDATE state failed: `-ERR [SYS/TEMP] some deleted messages not removed`
    /// (RFC 1939 §6); the session closes.
    pub fn update_failed(&mut self, ticket: UpdateTicket) -> Result<(), UsageError> {
        let id = ticket.redeem();
        if !matches!(self.pending, Pending::Update(p) if p == id) {
            return Err(self.not_pending("update"));
        }
        self.reply(&Response::err_code(
            ResponseCode::SysTemp,
            "some deleted messages not removed",
        ));
        self.close(CloseReason::Quit);
        Ok(())
    }

    /// Tells the session that the TLS handshake after STLS succeeded: commands are read again
    /// (from the TLS stream), STLS is no longer offered, and the client starts over in the
    /// AUTHORIZATION state.
    pub fn handle_tls_established(&mut self) -> Result<(), UsageError> {
        if !matches!(self.pending, Pending::Tls) {
            return Err(self.not_pending("TLS handshake"));
        }
        self.pending = Pending::None;
        self.config.tls_active = true;
        self.input.clear();
        self.decided();
        Ok(())
    }
}
