//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong reading, writing or locking an mbox.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The underlying file or reader failed.
    #[error("mbox I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A lock (dotlock or fcntl) could not be taken before the configured timeout.
    #[error("timed out waiting for the {kind} lock on {path}")]
    LockTimeout {
        /// Which lock: `dotlock` or `fcntl`.
        kind: &'static str,
        /// The mbox (or lock file) path.
        path: PathBuf,
    },
    /// An envelope sender that cannot be written on a `From ` line (empty, or holding whitespace or
    /// control characters).
    #[error("invalid envelope sender {0:?} for a From_ line")]
    InvalidSender(String),
    /// A date outside the range a `From ` line can carry (years 0 to 9999).
    #[error("date out of range for a From_ line")]
    InvalidDate,
    /// A keyword that cannot be stored in `X-Keywords` (empty, or holding whitespace or controls).
    #[error("invalid keyword {0:?}")]
    InvalidKeyword(String),
    /// The Maildir side of a conversion failed.
    #[cfg(feature = "maildir")]
    #[cfg_attr(docsrs, doc(cfg(feature = "maildir")))]
    #[error("maildir: {0}")]
    Maildir(#[from] mailwright_maildir::Error),
    /// The file changed under us in a way that makes the requested operation unsafe.
    #[error("mbox changed unexpectedly: {0}")]
    Changed(&'static str),
}
