//! The actions of a run as they accumulate: duplicates merged (RFC 5228 §2.10.3), conflicts
//! refused (RFC 5429 §2.1), limits counted, the implicit keep decided (RFC 5228 §2.10.2).

use crate::capabilities::Capabilities;
use crate::error::{Limit, Position, RuntimeError, RuntimeErrorKind};
use crate::outcome::{Action, NoReply, Outcome, VacationReply};

type Result<T> = std::result::Result<T, RuntimeError>;

#[derive(Debug, Default)]
pub(super) struct ActionSet {
    list: Vec<(Action, Position)>,
    /// Whether an action cancelled the implicit keep.
    cancelled: bool,
    redirects: usize,
    reject: Option<Position>,
    vacation: Option<Position>,
    declined: Option<NoReply>,
}

fn conflict(pos: Position, message: String) -> RuntimeError {
    RuntimeError::new(pos, RuntimeErrorKind::ActionConflict(message))
}

fn is_inbox(mailbox: &str) -> bool {
    mailbox.eq_ignore_ascii_case("INBOX")
}

/// A second store into the same mailbox is one store, with the flags of the last (as
/// Pigeonhole does).
fn merge_flags(into: &mut Vec<String>, flags: Vec<String>) {
    *into = flags;
}

/// The local part is case-sensitive (RFC 5321 §2.4), the domain is not.
fn same_address(a: &str, b: &str) -> bool {
    match (a.rsplit_once('@'), b.rsplit_once('@')) {
        (Some((la, da)), Some((lb, db))) => la == lb && da.eq_ignore_ascii_case(db),
        _ => a == b,
    }
}

impl ActionSet {
    fn room(&self, pos: Position, caps: &Capabilities) -> Result<()> {
        let max = caps.limits.max_actions;
        if self.list.len() >= max {
            return Err(RuntimeError::new(
                pos,
                RuntimeErrorKind::Limit(Limit::Actions(max)),
            ));
        }
        Ok(())
    }

    /// RFC 5429 §2.1: reject and ereject exclude the actions that deliver the message.
    fn delivers(&self, name: &str, pos: Position) -> Result<()> {
        if let Some(at) = self.reject {
            return Err(conflict(
                pos,
                format!(
                    "{name} action conflicts with other action: the reject action (line {}) \
                     refuses the message",
                    at.line
                ),
            ));
        }
        Ok(())
    }

    pub(super) fn keep(
        &mut self,
        flags: Vec<String>,
        pos: Position,
        caps: &Capabilities,
    ) -> Result<()> {
        self.delivers("keep", pos)?;
        self.cancelled = true;
        for (a, _) in &mut self.list {
            match a {
                Action::Keep { flags: f, .. } => {
                    merge_flags(f, flags);
                    return Ok(());
                }
                Action::FileInto {
                    mailbox,
                    flags: f,
                    copy,
                    ..
                } if is_inbox(mailbox) => {
                    merge_flags(f, flags);
                    *copy = false;
                    return Ok(());
                }
                _ => {}
            }
        }
        self.room(pos, caps)?;
        self.list.push((
            Action::Keep {
                flags,
                implicit: false,
            },
            pos,
        ));
        Ok(())
    }

    pub(super) fn fileinto(
        &mut self,
        mailbox: String,
        flags: Vec<String>,
        copy: bool,
        create: bool,
        pos: Position,
        caps: &Capabilities,
    ) -> Result<()> {
        self.delivers("fileinto", pos)?;
        if !copy {
            self.cancelled = true;
        }
        for (a, _) in &mut self.list {
            match a {
                Action::FileInto {
                    mailbox: m,
                    flags: f,
                    copy: c,
                    create: cr,
                } if *m == mailbox || (is_inbox(m) && is_inbox(&mailbox)) => {
                    merge_flags(f, flags);
                    *c &= copy;
                    *cr |= create;
                    return Ok(());
                }
                Action::Keep { flags: f, .. } if is_inbox(&mailbox) => {
                    merge_flags(f, flags);
                    return Ok(());
                }
                _ => {}
            }
        }
        self.room(pos, caps)?;
        self.list.push((
            Action::FileInto {
                mailbox,
                flags,
                copy,
                create,
            },
            pos,
        ));
        Ok(())
    }

    pub(super) fn redirect(
        &mut self,
        address: String,
        copy: bool,
        pos: Position,
        caps: &Capabilities,
    ) -> Result<()> {
        self.delivers("redirect", pos)?;
        if !copy {
            self.cancelled = true;
        }
        for (a, _) in &mut self.list {
            if let Action::Redirect {
                address: existing,
                copy: c,
            } = a
                && same_address(existing, &address)
            {
                *c &= copy;
                return Ok(());
            }
        }
        let max = caps.limits.max_redirects;
        if self.redirects >= max {
            return Err(RuntimeError::new(
                pos,
                RuntimeErrorKind::Limit(Limit::Redirects(max)),
            ));
        }
        self.room(pos, caps)?;
        self.redirects += 1;
        self.list.push((Action::Redirect { address, copy }, pos));
        Ok(())
    }

    pub(super) fn discard(&mut self, pos: Position, caps: &Capabilities) -> Result<()> {
        self.cancelled = true;
        if self.list.iter().any(|(a, _)| matches!(a, Action::Discard)) {
            return Ok(());
        }
        self.room(pos, caps)?;
        self.list.push((Action::Discard, pos));
        Ok(())
    }

    pub(super) fn reject(
        &mut self,
        reason: String,
        extended: bool,
        pos: Position,
        caps: &Capabilities,
    ) -> Result<()> {
        if let Some(at) = self.reject {
            return Err(conflict(
                pos,
                format!(
                    "duplicate reject/ereject action not allowed (previously triggered one was \
                     here: line {})",
                    at.line
                ),
            ));
        }
        for (a, at) in &self.list {
            let name = match a {
                Action::Keep { .. } => "keep",
                Action::FileInto { .. } => "fileinto",
                Action::Redirect { .. } => "redirect",
                _ => continue,
            };
            return Err(conflict(
                pos,
                format!(
                    "reject/ereject action conflicts with other action: the {name} action \
                     (line {}) tries to deliver the message",
                    at.line
                ),
            ));
        }
        if let Some(at) = self.vacation {
            return Err(conflict(
                pos,
                format!(
                    "reject/ereject action conflicts with other action: the vacation action \
                     (line {}) also sends a response to the sender",
                    at.line
                ),
            ));
        }
        self.room(pos, caps)?;
        self.cancelled = true;
        self.reject = Some(pos);
        self.list.push((Action::Reject { reason, extended }, pos));
        Ok(())
    }

    pub(super) fn vacation(
        &mut self,
        decision: std::result::Result<VacationReply, NoReply>,
        pos: Position,
        caps: &Capabilities,
    ) -> Result<()> {
        if let Some(at) = self.vacation {
            return Err(conflict(
                pos,
                format!(
                    "duplicate vacation action not allowed (previously triggered one was here: \
                     line {})",
                    at.line
                ),
            ));
        }
        if let Some(at) = self.reject {
            return Err(conflict(
                pos,
                format!(
                    "vacation action conflicts with other action: the reject action (line {}) \
                     also sends a response back to the sender",
                    at.line
                ),
            ));
        }
        self.room(pos, caps)?;
        self.vacation = Some(pos);
        match decision {
            Ok(reply) => self.list.push((Action::Vacation(reply), pos)),
            Err(why) => self.declined = Some(why),
        }
        Ok(())
    }

    /// The outcome, with the implicit keep (and the flags of the internal variable) unless an
    /// action cancelled it. A `fileinto :copy` to the default mailbox takes the implicit keep's
    /// place, so the message is stored there once.
    pub(super) fn finish(self, flags: Vec<String>) -> Outcome {
        let mut actions: Vec<Action> = self.list.into_iter().map(|(a, _)| a).collect();
        if !self.cancelled {
            let inbox = actions.iter_mut().find_map(|a| match a {
                Action::FileInto { mailbox, flags, .. } if is_inbox(mailbox) => Some(flags),
                _ => None,
            });
            match inbox {
                Some(f) => merge_flags(f, flags),
                None => actions.push(Action::Keep {
                    flags,
                    implicit: true,
                }),
            }
        }
        Outcome {
            actions,
            vacation_declined: self.declined,
        }
    }
}
