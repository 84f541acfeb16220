//! The server's timers and the error delay: which deadline runs in which state, how a timer is
//! anchored when a decision restarts it, and what happens when one fires.

use std::time::{Duration, Instant};

use mailwright_sansio::Timer;

use super::{CloseReason, Phase, ServerSession, TimeoutKind};
use crate::types::reply::r;

impl ServerSession {
    /// When [`ServerSession::handle_timeout`] must be called next, or `None` when no timer runs
    /// (a decision is pending, a TLS handshake runs, the session is closed, or no instant has been
    /// seen yet). After a decision restarted a timer this is the last instant the machine saw:
    /// call `handle_timeout(now)` at once and the timer runs from that `now`.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_closed() || self.pending.is_some() || matches!(self.phase, Phase::Tls) {
            return None;
        }
        let t = &self.timers;
        if t.unanchored {
            return t.last_now;
        }
        if self.hold.is_some() {
            return t.hold.deadline();
        }
        Timer::earliest([
            t.idle.deadline(),
            t.command.deadline(),
            t.transfer.deadline(),
        ])
    }

    /// Tells the machine that time has reached `now`. Anchors a timer a decision restarted; a
    /// timer whose deadline has passed fires: held replies go out, or the machine answers
    /// `421 4.4.2 <host> Error: timeout exceeded` and closes. An early call changes nothing else.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_closed() || self.pending.is_some() {
            self.settle(now);
            return;
        }
        if self.timers.unanchored {
            // A timer restarted without a `now`: it runs from this one.
            self.settle(now);
        }
        if self.hold.is_some() {
            if self.timers.hold.expired(now) {
                self.release_held();
                self.process();
            }
            self.settle(now);
            return;
        }
        let data = matches!(self.phase, Phase::Data(_) | Phase::Bdat { .. });
        let t = &self.timers;
        let fired = if t.transfer.expired(now) {
            Some(TimeoutKind::Data)
        } else if t.command.expired(now) {
            Some(TimeoutKind::Command)
        } else if t.idle.expired(now) {
            Some(if data {
                TimeoutKind::DataIdle
            } else {
                TimeoutKind::Idle
            })
        } else {
            None
        };
        if let Some(kind) = fired {
            self.send(r(
                421,
                (4, 4, 2),
                &format!("{} Error: timeout exceeded", self.config.hostname),
            ));
            self.close(CloseReason::Timeout(kind));
        }
        self.settle(now);
    }

    /// The delay a reply is held for now: past the soft error limit, the error delay times the
    /// errors over it; none at the hard limit (the session closes).
    pub(super) fn error_delay(&self) -> Option<Duration> {
        let l = &self.config.limits;
        if self.errors <= l.soft_error_limit || self.errors >= l.hard_error_limit {
            return None;
        }
        let over = u32::try_from(self.errors - l.soft_error_limit).unwrap_or(u32::MAX);
        Some(l.error_delay.saturating_mul(over)).filter(|d| !d.is_zero())
    }

    /// Sends the held replies out.
    fn release_held(&mut self) {
        let held = self.held.split();
        self.output.extend_from_slice(&held);
        self.hold = None;
        self.timers.hold.disarm();
    }

    /// The state changed without a `now` (a decision, the end of a TLS handshake): the waits
    /// start again from the next instant the machine sees.
    pub(super) fn restart_timers(&mut self) {
        self.timers.idle.disarm();
        self.timers.command.disarm();
        self.timers.unanchored = true;
    }

    /// A command line was taken whole: its deadline ends, and the wait for the next begins.
    pub(super) fn line_taken(&mut self) {
        self.timers.idle.disarm();
        self.timers.command.disarm();
    }

    /// Records `now` and arms the timers the current state needs.
    pub(super) fn settle(&mut self, now: Instant) {
        if self.is_closed() {
            self.timers = super::Timers {
                last_now: Some(now),
                ..super::Timers::default()
            };
            return;
        }
        let t = &mut self.timers;
        t.last_now = Some(now);
        t.unanchored = false;
        let to = &self.config.timeouts;
        if self.transferring {
            t.transfer.arm_if_off(now, to.data);
        }
        if let Some(delay) = self.hold {
            t.hold.arm_if_off(now, delay);
            t.idle.disarm();
            t.command.disarm();
            return;
        }
        if self.pending.is_some() {
            t.idle.disarm();
            t.command.disarm();
            return;
        }
        match self.phase {
            Phase::Command | Phase::Auth(_) => {
                if self.input.is_empty() && !self.discarding_line {
                    t.command.disarm();
                    t.idle.arm_if_off(now, to.idle);
                } else {
                    // RFC 5321 §4.5.3.2.7 bounds the wait; the line's deadline runs from its
                    // first octet, however slowly the rest comes.
                    t.idle.disarm();
                    t.command.arm_if_off(now, to.command);
                }
            }
            Phase::Data(_) | Phase::Bdat { .. } => {
                t.command.disarm();
                t.idle.arm_if_off(now, to.data_idle);
            }
            Phase::Tls | Phase::Closed => {
                t.idle.disarm();
                t.command.disarm();
            }
        }
    }
}
