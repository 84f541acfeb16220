//! The session state both sides track (RFC 3501 §3).

/// The session state (RFC 3501 §3): where a command is valid, as the server enforces it and as
/// the client follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionState {
    /// Before LOGIN / AUTHENTICATE.
    NotAuthenticated,
    /// Logged in, no mailbox selected.
    Authenticated,
    /// A mailbox is selected.
    Selected,
    /// LOGOUT completed or BYE sent: the connection is to be closed.
    Logout,
}

/// A fresh id for a decision handle, unique in the process, so that a handle of one session is
/// never taken for another's.
pub(crate) fn next_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
