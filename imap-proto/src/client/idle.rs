//! IDLE on the client side (RFC 2177): the handle, `DONE` held back until the server's `+`, and
//! the re-issue before the server's autologout.

use mailwright_sansio::UsageError;

use super::{ClientSession, Event};
use crate::types::command::{Command, CommandBody};
use crate::types::core::Tag;
use crate::types::response::{StatusKind, StatusResponse};

/// An IDLE started by [`ClientSession::idle`]; [`ClientSession::idle_done`] consumes it. It
/// stays valid across the session's re-issues of the IDLE command.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "an IDLE runs until idle_done consumes its handle"]
pub struct IdleHandle {
    id: u64,
}

/// Whether the IDLE logic took a response, and what it reports.
#[derive(Debug)]
pub(super) enum Handled {
    /// Not an IDLE's: the caller goes on.
    No,
    /// The IDLE's, with an event for the application or none.
    Yes(Option<Event>),
}

/// Where an IDLE stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// `IDLE` sent; waiting for the `+`.
    Requested,
    /// The `+` came: idling.
    Idling,
    /// `DONE` sent; waiting for the tagged completion.
    Ending,
}

#[derive(Debug)]
pub(super) struct Idle {
    id: u64,
    tag: Tag<'static>,
    phase: Phase,
    /// The application asked for the end (or the session is shutting down): no re-issue, and
    /// `DONE` as soon as the `+` is there.
    stop: bool,
    /// This IDLE replaced an earlier one (no second [`Event::Idling`]).
    reissued: bool,
}

impl ClientSession {
    /// Starts IDLE (RFC 2177): sends `tag IDLE`; [`Event::Idling`] reports the server's `+`,
    /// and untagged updates follow as usual. End it with [`ClientSession::idle_done`]. Refused
    /// when an IDLE is already active, a command runs, or the session is closed.
    pub fn idle(&mut self) -> Result<IdleHandle, UsageError> {
        if self.state == crate::state::SessionState::Logout {
            return Err(UsageError::Closed);
        }
        if self.idle.is_some() {
            return Err(UsageError::NotAllowed {
                what: "IDLE",
                why: "an IDLE is already active",
            });
        }
        let id = crate::state::next_id();
        let _ = self.start_idle(id, false);
        Ok(IdleHandle { id })
    }

    /// Ends the IDLE of `handle`: `DONE` now if the server's `+` came, else as soon as it comes.
    /// The IDLE's completion follows as [`Event::Completed`]. Refused when that IDLE has ended
    /// already (the server refused it, or the session closed).
    #[allow(clippy::needless_pass_by_value)] // Taking the handle ends it: one DONE per IDLE.
    pub fn idle_done(&mut self, handle: IdleHandle) -> Result<(), UsageError> {
        let id = handle.id;
        match &self.idle {
            Some(idle) if idle.id == id => {
                self.end_idle();
                Ok(())
            }
            _ => Err(UsageError::NotPending { expected: "IDLE" }),
        }
    }

    /// Sends `tag IDLE`; returns the tag.
    fn start_idle(&mut self, id: u64, reissued: bool) -> Tag<'static> {
        let tag = self.next_tag();
        self.send_command(&Command {
            tag: tag.clone(),
            body: CommandBody::Idle,
        });
        self.idle = Some(Idle {
            id,
            tag: tag.clone(),
            phase: Phase::Requested,
            stop: false,
            reissued,
        });
        tag
    }

    /// Asks for the end of the IDLE in progress.
    pub(super) fn end_idle(&mut self) {
        let Some(idle) = &mut self.idle else { return };
        idle.stop = true;
        if idle.phase == Phase::Idling {
            idle.phase = Phase::Ending;
            self.idle_timer.disarm();
            self.out.extend_from_slice(b"DONE\r\n");
        }
    }

    /// A `+` while an IDLE may wait for it.
    pub(super) fn idle_continue(&mut self) -> Handled {
        let Some(idle) = self.idle.as_mut().filter(|i| i.phase == Phase::Requested) else {
            return Handled::No;
        };
        idle.phase = Phase::Idling;
        let (tag, reissued, stop) = (idle.tag.clone(), idle.reissued, idle.stop);
        if let Some(now) = self.now {
            self.idle_timer.arm(now, self.config.idle_reissue);
        }
        if stop {
            self.end_idle();
        }
        Handled::Yes((!reissued).then_some(Event::Idling { tag }))
    }

    /// The timer fired: `DONE`, and a new IDLE after the OK.
    pub(super) fn reissue_idle(&mut self) {
        if let Some(idle) = &mut self.idle
            && idle.phase == Phase::Idling
            && !idle.stop
        {
            idle.phase = Phase::Ending;
            self.out.extend_from_slice(b"DONE\r\n");
        }
    }

    /// The completion of an IDLE command: handled here when a re-issue goes on, else for the
    /// application as [`Event::Completed`].
    pub(super) fn idle_completed(&mut self, s: &StatusResponse<'_>) -> Handled {
        let Some(idle) = self.idle.take() else {
            return Handled::No;
        };
        if s.tag.as_ref() != Some(&idle.tag) {
            self.idle = Some(idle);
            return Handled::No;
        }
        self.idle_timer.disarm();
        if s.kind == StatusKind::Ok && !idle.stop && idle.phase == Phase::Ending {
            let tag = self.start_idle(idle.id, true);
            return Handled::Yes(Some(Event::IdleReissued { tag }));
        }
        if self.logout_after_idle {
            self.logout_after_idle = false;
            let _ = self.enqueue(CommandBody::Logout);
        }
        Handled::No
    }
}

impl IdleHandle {
    /// Ends the IDLE: the same as [`ClientSession::idle_done`].
    pub fn done(self, client: &mut ClientSession) -> Result<(), UsageError> {
        client.idle_done(self)
    }
}
