//! What the interpreter asks the application: the user's mailboxes, the vacation record, included
//! scripts, the user's addresses and time zone.

use std::time::SystemTime;

/// The application's side of a run. Every method has a default, so a test or a simple
/// deployment implements only what it has.
pub trait Environment {
    /// Whether the user has a mailbox of this name (RFC 5490 §3.1 `mailboxexists`).
    /// Default: no mailbox exists.
    fn mailbox_exists(&self, name: &str) -> bool {
        let _ = name;
        false
    }

    /// Whether a vacation reply with this key was sent at or after `since` (RFC 5230 §4.2:
    /// "Previous Response Tracking"). The application keeps the record: after it sends a
    /// [`VacationReply`](crate::VacationReply) it notes the reply's
    /// [`key`](crate::VacationReply::key) with the time it was sent. Default: never.
    fn vacation_replied(&self, key: &VacationKey, since: SystemTime) -> bool {
        let _ = (key, since);
        false
    }

    /// The text of the script `include` names (RFC 6609 §3.2), or `None` when there is none.
    /// Default: none.
    fn script(&self, location: ScriptLocation, name: &str) -> Option<String> {
        let _ = (location, name);
        None
    }

    /// The user's own addresses besides the envelope recipient: vacation does not reply to them
    /// and replies only to mail sent to one of them or to the recipient (RFC 5230 §4.5).
    /// Default: none.
    fn user_addresses(&self) -> Vec<String> {
        Vec::new()
    }

    /// The user's time zone at `at`, in minutes east of UTC: the zone of `currentdate` and of
    /// `date` without `:zone` (RFC 5260 §4.1). Default: UTC.
    fn utc_offset(&self, at: SystemTime) -> i32 {
        let _ = at;
        0
    }
}

/// The environment that has nothing: no mailboxes, no record, no scripts, UTC.
#[derive(Clone, Copy, Debug, Default)]
pub struct EmptyEnvironment;

impl Environment for EmptyEnvironment {}

/// Where an included script lives (RFC 6609 §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScriptLocation {
    /// `:personal` (the default): the user's own scripts.
    Personal,
    /// `:global`: scripts the administrator shares with every user.
    Global,
}

/// The key of the "sent-reply record" (RFC 5230 §4.2): one reply per sender and handle within
/// the period. The sender is lower case; the handle is the script's `:handle`, or one made of
/// the reply's reason, subject, from and `:mime` (as Pigeonhole makes it), so that a changed
/// reply goes out again.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VacationKey {
    /// The address replied to (the envelope sender), lower case.
    pub sender: String,
    /// The handle.
    pub handle: String,
}
